//! The GitLab twin's configuration and stored records: users, OAuth applications (Doorkeeper's
//! `oauth_applications`), access grants (authorization codes), access tokens, personal access
//! tokens and web sessions.
//!
//! Owns: the data and the rules that are properties of the data (code expiry, token expiry,
//! single use, redirect URI membership, scope sets). The HTTP handlers in `web`, `token` and `api`
//! read and change these records through [`GitlabStore`].

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use crate::config::model::Secret;
use crate::config::version::Profile;

/// How long an authorization code may be exchanged (Doorkeeper default: 10 minutes).
pub const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// How long an OAuth access token lives (GitLab: 7200 s).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(7200);
/// The scope Doorkeeper grants when the client asks for none (GitLab's `default_scopes`).
pub const DEFAULT_SCOPE: &str = "api";

/// What the twin needs to play one GitLab instance.
#[derive(Debug, Clone)]
pub struct GitlabTwinConfig {
    /// Which GitLab release to play.
    pub profile: Profile,
    /// `external_url`: every absolute URL GitLab generates starts with it.
    pub external_url: url::Url,
    /// Seeded accounts (the first admin among them is "root").
    pub users: Vec<GitlabUser>,
    /// Hold the token endpoint and the API this long before answering (fault "slow endpoint").
    pub slow: Option<Duration>,
}

/// A seeded GitLab account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabUser {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub email: String,
    pub password: Secret,
    pub admin: bool,
}

impl GitlabUser {
    /// The default accounts: `root` (admin), `alice` and `bob`, with fixed passwords.
    pub fn defaults() -> Vec<GitlabUser> {
        vec![
            GitlabUser {
                id: 1,
                username: "root".to_string(),
                name: "Administrator".to_string(),
                email: "admin@example.com".to_string(),
                password: Secret::new("Twin-root-pass1"),
                admin: true,
            },
            GitlabUser {
                id: 2,
                username: "alice".to_string(),
                name: "Alice Liddell".to_string(),
                email: "alice@example.com".to_string(),
                password: Secret::new("Twin-alice-pass1"),
                admin: false,
            },
            GitlabUser {
                id: 3,
                username: "bob".to_string(),
                name: "Bob Builder".to_string(),
                email: "bob@example.com".to_string(),
                password: Secret::new("Twin-bob-pass1"),
                admin: false,
            },
            // A GitLab username longer than Mattermost's 22-character sign-up form allows: the
            // server keeps it (model.IsValidUsername accepts 1-64 characters on 3.4 and 10.x).
            GitlabUser {
                id: 4,
                username: "dora-the-explorer-of-long-usernames".to_string(),
                name: "Dora Explorer".to_string(),
                email: "dora@example.com".to_string(),
                password: Secret::new("Twin-dora-pass1"),
                admin: false,
            },
            // A GitLab user whose username is already a Mattermost account's (the twin's seeded
            // Mattermost admin `sysadmin`, another address): CreateOAuthUser appends a counter.
            GitlabUser {
                id: 5,
                username: "sysadmin".to_string(),
                name: "Sam Sysadmin".to_string(),
                email: "sam@example.com".to_string(),
                password: Secret::new("Twin-sysadmin-pass1"),
                admin: false,
            },
        ]
    }
}

/// A Doorkeeper OAuth application as GitLab stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthApplication {
    /// Database id (`/admin/applications/:id`, `DELETE /api/v4/applications/:id`).
    pub id: u64,
    /// The public client id (`uid`, shown as "Application ID").
    pub uid: String,
    /// The client secret.
    pub secret: Secret,
    pub name: String,
    /// Registered callback URLs, in order.
    pub redirect_uris: Vec<String>,
    /// Space-separated scopes; blank means "any scope the server knows".
    pub scopes: String,
    /// Trusted applications skip the consent page.
    pub trusted: bool,
    pub confidential: bool,
}

impl OAuthApplication {
    /// Whether `uri` may be used with this application at the authorize endpoint: Doorkeeper's
    /// `URIChecker.valid_for_authorization?(uri, client.redirect_uri)`, each version's way
    /// ([`redirect_uri_matches`]).
    pub fn accepts_redirect_uri(&self, profile: Profile, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|r| redirect_uri_matches(profile, uri, r))
    }

    /// The callbacks as the applications API shows them (newline separated).
    pub fn callback_url(&self) -> String {
        self.redirect_uris.join("\n")
    }
}

/// Doorkeeper's `URIChecker.valid_for_authorization?(requested, registered)` for one registered
/// URI: `valid?` then `matches?`.
///
/// - Doorkeeper 5.8 (GitLab 18.11, lib/doorkeeper/oauth/helpers/uri_checker.rb v5.8.2): valid =
///   parses, has a scheme other than `localhost`, a host for http(s), no fragment, not opaque
///   (the out-of-band URN is valid as is); matches = when the registered URI has a query, the
///   requested one must have the same `&`-separated pairs in any order; otherwise the requested
///   query is ignored; two loopback IP URIs ignore their ports (RFC 8252 7.3); the rest is
///   Ruby's `URI#==` (scheme and host compared case-insensitively, `http://h` = `http://h/`).
/// - Doorkeeper 4.2 (GitLab 8.12, v4.2.0): valid = parses, has scheme and host, no fragment;
///   matches = the requested query is dropped and the rest must equal the registered URI
///   (a registered query therefore never matches).
pub fn redirect_uri_matches(profile: Profile, requested: &str, registered: &str) -> bool {
    const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";
    let (Ok(mut url), Ok(mut client)) = (url::Url::parse(requested), url::Url::parse(registered))
    else {
        return false;
    };
    if url.fragment().is_some() {
        return false;
    }
    match profile {
        Profile::Gitlab8_12 => {
            if !url.has_host() {
                return false;
            }
            url.set_query(None);
            url == client
        }
        Profile::Gitlab18_11 => {
            let valid =
                requested == OOB || (url.scheme() != "localhost" && !url.cannot_be_a_base());
            if !valid {
                return false;
            }
            if let Some(client_query) = client.query() {
                let sorted = |q: &str| {
                    let mut v: Vec<String> = q.split('&').map(str::to_string).collect();
                    v.sort();
                    v
                };
                let ok = match url.query() {
                    _ if client_query.is_empty() && url.query().is_none_or(str::is_empty) => true,
                    None => false,
                    Some(q) => sorted(q) == sorted(client_query),
                };
                if !ok {
                    return false;
                }
                client.set_query(None);
            }
            let loopback = |u: &url::Url| match u.host() {
                Some(url::Host::Ipv4(a)) => a.is_loopback(),
                Some(url::Host::Ipv6(a)) => a.is_loopback(),
                _ => false,
            };
            if loopback(&url) && loopback(&client) {
                let _ = url.set_port(None);
                let _ = client.set_port(None);
            }
            url.set_query(None);
            url == client
        }
    }
}

/// A signed-in (or anonymous) browser session behind a `_gitlab_session` cookie.
#[derive(Clone)]
pub struct WebSession {
    pub user_id: Option<u64>,
    /// The CSRF token forms must carry as `authenticity_token`.
    pub csrf_token: String,
    /// Where to go after signing in (Devise's stored location).
    pub return_to: Option<String>,
    /// Applications whose secret this session may still see once (18.x shows it once).
    pub fresh_secrets: Vec<u64>,
}

impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSession")
            .field("user_id", &self.user_id)
            .field("csrf_token", &crate::config::model::REDACTED)
            .field("return_to", &self.return_to)
            .finish()
    }
}

/// An authorization code (Doorkeeper's access grant).
#[derive(Debug, Clone)]
pub struct AccessGrant {
    pub application_id: u64,
    pub user_id: u64,
    pub redirect_uri: String,
    pub scopes: String,
    pub issued_at: Instant,
    pub used: bool,
    /// PKCE (Doorkeeper 5.8's `oauth_access_grants.code_challenge[_method]`; empty without PKCE
    /// and always on GitLab 8.12, whose Doorkeeper 4.2 has none).
    pub code_challenge: String,
    pub code_challenge_method: String,
}

impl AccessGrant {
    /// Doorkeeper 5.8 `AuthorizationCodeRequest#validate_code_verifier`
    /// (lib/doorkeeper/oauth/authorization_code_request.rb v5.8.2): without a verifier the grant
    /// must have no challenge; `S256` compares the unpadded URL-safe base64 of the verifier's
    /// SHA-256 (`AccessGrantMixin.generate_code_challenge`), `plain` the verifier itself.
    pub fn verifier_matches(&self, verifier: &str) -> bool {
        use base64::Engine as _;
        if verifier.is_empty() {
            return self.code_challenge.is_empty();
        }
        match self.code_challenge_method.as_str() {
            "S256" => {
                let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
                    == self.code_challenge
            }
            "plain" => self.code_challenge == verifier,
            _ => false,
        }
    }
}

/// An OAuth access token with its refresh token.
#[derive(Clone)]
pub struct AccessToken {
    pub token: String,
    pub refresh_token: String,
    pub application_id: u64,
    pub user_id: u64,
    pub scopes: String,
    pub issued_at: Instant,
    pub created_at: SystemTime,
    pub revoked: bool,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &crate::config::model::REDACTED)
            .field("refresh_token", &crate::config::model::REDACTED)
            .field("application_id", &self.application_id)
            .field("user_id", &self.user_id)
            .field("scopes", &self.scopes)
            .field("revoked", &self.revoked)
            .finish()
    }
}

impl AccessToken {
    pub fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.issued_at) >= TOKEN_LIFETIME
    }
}

/// A personal access token (`PRIVATE-TOKEN`).
#[derive(Debug, Clone)]
pub struct PersonalAccessToken {
    pub token: Secret,
    pub user_id: u64,
    pub scopes: Vec<String>,
}

/// A password as the twin stores it: PBKDF2-HMAC-SHA256 with a random salt. GitLab (Devise) uses
/// bcrypt; the twin uses a cheap iteration count because every SSO round trip signs in, and the
/// hash never appears on the wire.
#[derive(Clone)]
pub struct PasswordHash {
    salt: [u8; 16],
    hash: [u8; 32],
}

const PBKDF2_ITERATIONS: u32 = 100;

impl PasswordHash {
    pub fn new(password: &str) -> PasswordHash {
        use rand::RngCore;
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let mut hash = [0u8; 32];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            std::num::NonZeroU32::new(PBKDF2_ITERATIONS).unwrap_or(std::num::NonZeroU32::MIN),
            &salt,
            password.as_bytes(),
            &mut hash,
        );
        PasswordHash { salt, hash }
    }

    /// Salt and hash, for the state file (`twin::gitlab::persist`).
    pub fn parts(&self) -> (&[u8; 16], &[u8; 32]) {
        (&self.salt, &self.hash)
    }

    /// A hash read back from the state file.
    pub fn from_parts(salt: [u8; 16], hash: [u8; 32]) -> PasswordHash {
        PasswordHash { salt, hash }
    }

    /// Constant-time check of a candidate password.
    pub fn verify(&self, password: &str) -> bool {
        ring::pbkdf2::verify(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            std::num::NonZeroU32::new(PBKDF2_ITERATIONS).unwrap_or(std::num::NonZeroU32::MIN),
            &self.salt,
            password.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(pbkdf2-sha256)")
    }
}

/// A user plus the password hash GitLab keeps instead of the password.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub user: GitlabUser,
    pub encrypted_password: PasswordHash,
    /// The account's private token (GitLab 8.x `authentication_token`, shown by `/api/v3/user`).
    pub private_token: Secret,
    pub created_at: SystemTime,
}

/// Everything GitLab's database holds for the twin.
#[derive(Default)]
pub struct GitlabStore {
    pub users: Vec<StoredUser>,
    pub applications: Vec<OAuthApplication>,
    pub next_application_id: u64,
    pub sessions: HashMap<String, WebSession>,
    pub grants: HashMap<String, AccessGrant>,
    pub tokens: Vec<AccessToken>,
    pub personal_tokens: Vec<PersonalAccessToken>,
}

impl std::fmt::Debug for GitlabStore {
    /// Counts only: session ids, codes and tokens are credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitlabStore")
            .field("users", &self.users.len())
            .field("applications", &self.applications)
            .field("sessions", &self.sessions.len())
            .field("grants", &self.grants.len())
            .field("tokens", &self.tokens.len())
            .field("personal_tokens", &self.personal_tokens.len())
            .finish()
    }
}

impl GitlabStore {
    pub fn user(&self, id: u64) -> Option<&StoredUser> {
        self.users.iter().find(|u| u.user.id == id)
    }

    /// Devise's `user[login]`: username or email, case-insensitive.
    pub fn user_by_login(&self, login: &str) -> Option<&StoredUser> {
        let login = login.trim();
        self.users.iter().find(|u| {
            u.user.username.eq_ignore_ascii_case(login) || u.user.email.eq_ignore_ascii_case(login)
        })
    }

    pub fn application_by_uid(&self, uid: &str) -> Option<&OAuthApplication> {
        self.applications.iter().find(|a| a.uid == uid)
    }

    pub fn application(&self, id: u64) -> Option<&OAuthApplication> {
        self.applications.iter().find(|a| a.id == id)
    }

    /// Remove an application with its grants and tokens (revoking it in the admin area).
    pub fn delete_application(&mut self, id: u64) -> bool {
        let before = self.applications.len();
        self.applications.retain(|a| a.id != id);
        self.grants.retain(|_, g| g.application_id != id);
        self.tokens.retain(|t| t.application_id != id);
        before != self.applications.len()
    }

    /// Whether the user already holds a usable token of this application covering `scopes`
    /// (Doorkeeper then skips the consent page).
    /// Doorkeeper's `matching_token?`: a token of this application and user, not revoked, with
    /// the same scopes. Expired tokens count: Doorkeeper 5.8 `matching_token_for(...,
    /// include_expired: true)` (lib/doorkeeper/models/access_token_mixin.rb v5.8.2), Doorkeeper 4.2
    /// `last_authorized_token_for` filters on `revoked_at: nil` only.
    pub fn has_matching_token(&self, application_id: u64, user_id: u64, scopes: &str) -> bool {
        let wanted = scope_set(scopes);
        self.tokens.iter().any(|t| {
            t.application_id == application_id
                && t.user_id == user_id
                && !t.revoked
                && scope_set(&t.scopes) == wanted
        })
    }

    /// Move every access token `by` into the past (tests of expiry without waiting).
    pub fn age_tokens(&mut self, by: Duration) {
        for t in &mut self.tokens {
            if let Some(earlier) = t.issued_at.checked_sub(by) {
                t.issued_at = earlier;
            }
        }
    }
}

/// Scopes as a sorted set of words.
pub fn scope_set(scopes: &str) -> Vec<&str> {
    let mut v: Vec<&str> = scopes.split_whitespace().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The scopes a GitLab release knows (`Gitlab::Auth` scopes offered to OAuth applications).
pub fn server_scopes(profile: Profile) -> &'static [&'static str] {
    match profile {
        Profile::Gitlab8_12 => &["api"],
        Profile::Gitlab18_11 => &[
            "api",
            "read_api",
            "read_user",
            "create_runner",
            "manage_runner",
            "k8s_proxy",
            "read_repository",
            "write_repository",
            "read_registry",
            "write_registry",
            "read_virtual_registry",
            "write_virtual_registry",
            "read_observability",
            "write_observability",
            "ai_features",
            "sudo",
            "admin_mode",
            "read_service_ping",
            "openid",
            "profile",
            "email",
        ],
    }
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random token from the URL-safe alphabet GitLab uses for personal access tokens.
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly() {
        let app = OAuthApplication {
            id: 1,
            uid: "u".into(),
            secret: Secret::new("s"),
            name: "GitLab Mattermost".into(),
            redirect_uris: vec![
                "http://mattermost.example.com/signup/gitlab/complete".into(),
                "http://mattermost.example.com/login/gitlab/complete".into(),
            ],
            scopes: String::new(),
            trusted: false,
            confidential: true,
        };
        for p in Profile::ALL {
            let ok = |u: &str| app.accepts_redirect_uri(p, u);
            assert!(ok("http://mattermost.example.com/login/gitlab/complete"));
            assert!(!ok("https://mattermost.example.com/login/gitlab/complete"));
            assert!(!ok("http://mattermost.example.com/login/gitlab/complete/"));
            // Both versions drop the requested query when the registered URI has none.
            assert!(ok(
                "http://mattermost.example.com/login/gitlab/complete?x=1"
            ));
            assert!(!ok("http://mattermost.example.com/login/gitlab/complete#f"));
            // URI#== compares scheme and host case-insensitively.
            assert!(ok("HTTP://Mattermost.Example.com/login/gitlab/complete"));
        }
        assert_eq!(app.callback_url().lines().count(), 2);
    }

    #[test]
    fn registered_queries_and_loopback_ports_follow_each_doorkeeper() {
        let m = redirect_uri_matches;
        let (old, new) = (Profile::Gitlab8_12, Profile::Gitlab18_11);
        let reg = "http://m.example/cb?a=1&b=2";
        assert!(m(new, "http://m.example/cb?b=2&a=1", reg));
        assert!(!m(new, "http://m.example/cb?a=1", reg));
        assert!(!m(old, "http://m.example/cb?a=1&b=2", reg));
        assert!(m(
            new,
            "http://127.0.0.1:4567/cb",
            "http://127.0.0.1:1234/cb"
        ));
        assert!(!m(
            old,
            "http://127.0.0.1:4567/cb",
            "http://127.0.0.1:1234/cb"
        ));
        assert!(!m(
            new,
            "http://localhost:4567/cb",
            "http://localhost:1234/cb"
        ));
        assert!(!m(new, "not a uri", "not a uri"));
    }

    #[test]
    fn debug_output_never_shows_credentials() {
        let mut store = GitlabStore::default();
        store.sessions.insert(
            "session-id-123".into(),
            WebSession {
                user_id: Some(1),
                csrf_token: "csrf-abc".into(),
                return_to: None,
                fresh_secrets: Vec::new(),
            },
        );
        store.grants.insert(
            "code-xyz".into(),
            AccessGrant {
                application_id: 1,
                user_id: 1,
                redirect_uri: "http://m/cb".into(),
                scopes: "api".into(),
                issued_at: Instant::now(),
                used: false,
                code_challenge: String::new(),
                code_challenge_method: String::new(),
            },
        );
        let token = AccessToken {
            token: "tok-1".into(),
            refresh_token: "ref-1".into(),
            application_id: 1,
            user_id: 1,
            scopes: "api".into(),
            issued_at: Instant::now(),
            created_at: SystemTime::now(),
            revoked: false,
        };
        store.tokens.push(token.clone());
        let text = format!("{store:?} {token:?} {:?}", store.sessions["session-id-123"]);
        for secret in ["session-id-123", "csrf-abc", "code-xyz", "tok-1", "ref-1"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn password_hashes_verify_only_the_password() {
        let h = PasswordHash::new("Twin-alice-pass1");
        assert!(h.verify("Twin-alice-pass1"));
        assert!(!h.verify("twin-alice-pass1"));
        assert!(!h.verify(""));
        let other = PasswordHash::new("Twin-alice-pass1");
        assert_ne!(h.salt, other.salt, "salted");
        assert!(!format!("{h:?}").contains("Twin"));
    }

    #[test]
    fn scope_sets_ignore_order_and_repeats() {
        assert_eq!(scope_set("read_user api api"), scope_set("api read_user"));
        assert!(scope_set("  ").is_empty());
    }

    #[test]
    fn random_values_have_the_requested_shape() {
        let h = random_hex(32);
        assert_eq!(h.len(), 64);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(random_hex(32), h);
        assert_eq!(random_token(20).len(), 20);
    }

    #[test]
    fn pkce_verifiers_are_checked_like_doorkeeper() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let grant = |challenge: &str, method: &str| AccessGrant {
            application_id: 1,
            user_id: 1,
            redirect_uri: String::new(),
            scopes: String::new(),
            issued_at: Instant::now(),
            used: false,
            code_challenge: challenge.into(),
            code_challenge_method: method.into(),
        };
        let s256 = grant("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256");
        assert!(s256.verifier_matches(verifier));
        assert!(!s256.verifier_matches("other"));
        assert!(!s256.verifier_matches(""));
        assert!(grant("abc", "plain").verifier_matches("abc"));
        assert!(grant("", "").verifier_matches(""));
    }
}
