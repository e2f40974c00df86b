//! The typed, effective configuration of one omnibus host: what it runs, and the Mattermost settings
//! Mattermost would load there (config.json after omnibus rendered it, plus `MM_*` overrides).
//!
//! Owns: the contract between the configuration model (which computes these values from a gitlab.rb
//! for a given GitLab version) and everything that consumes them: the twin, the stack targets, the
//! drivers and the doctor. Field names follow Mattermost's config.json (`GitLabSettings.UserAPIEndpoint`
//! is `gitlab.user_api_endpoint`). Values are kept as Mattermost would hold them, unvalidated
//! (e.g. `email.connection_security` may be `"SSL"`): validating them the way Mattermost does is the
//! consumer's job, so a misconfiguration reaches the twin exactly as it reaches the real server.
//!
//! Secrets are [`Secret`]s: their `Debug`, `Display` and `Serialize` print a redaction marker, so no
//! printer can leak them by accident; `expose()` is the one way to the value.

use std::fmt;

use serde::{Serialize, Serializer};

use super::version::{Profile, Version};

/// The marker every printer shows instead of a secret (Mattermost's own API uses 32 `*`).
pub const REDACTED: &str = "********************************";

/// A secret value (OAuth secret, SMTP password, token). Printing it in any form shows [`REDACTED`].
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The real value. Call only where the value goes on the wire, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(\"\")")
        } else {
            write!(f, "Secret({REDACTED})")
        }
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            f.write_str(REDACTED)
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            s.serialize_str("")
        } else {
            s.serialize_str(REDACTED)
        }
    }
}

/// `text` with the password of every URL userinfo (`scheme://user:password@host`) replaced by
/// [`REDACTED`]: a `service_site_url` or `external_url` may carry one, and printing it would leak it.
pub fn redact_userinfo(text: &str) -> std::borrow::Cow<'_, str> {
    let spans = super::gitlab_rb::url_password_spans(text, 0);
    if spans.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in spans {
        out.push_str(&text[at..s.start]);
        out.push_str(REDACTED);
        at = s.end;
    }
    out.push_str(&text[at..]);
    std::borrow::Cow::Owned(out)
}

fn ser_url<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_userinfo(v))
}

fn ser_opt_url<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&*redact_userinfo(v)),
        None => s.serialize_none(),
    }
}

/// Everything the stack needs to know about one omnibus host (one gitlab.rb).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostSettings {
    /// The GitLab version this gitlab.rb is read for.
    pub gitlab_version: Version,
    /// The twin profile playing that version.
    pub profile: Profile,
    /// `external_url`: GitLab's own URL, if set.
    #[serde(serialize_with = "ser_opt_url")]
    pub external_url: Option<String>,
    /// `gitlab_rails['enable']` (default true). False on the seed's split Mattermost server.
    pub gitlab_rails_enabled: bool,
    /// `mattermost_external_url`, if set. Bundled Mattermost runs only when this is set
    /// (or `mattermost['enable'] = true`).
    #[serde(serialize_with = "ser_opt_url")]
    pub mattermost_external_url: Option<String>,
    /// Whether bundled Mattermost runs on this host.
    pub mattermost_enabled: bool,
    /// `mattermost['register_as_oauth_app']` (default true): whether reconfigure auto-authorises
    /// Mattermost with GitLab, which it does only when GitLab Rails also runs on this host.
    pub register_as_oauth_app: bool,
    /// `nginx[...]` for GitLab's virtual host.
    pub gitlab_nginx: NginxSettings,
    /// `mattermost_nginx[...]` for Mattermost's virtual host.
    pub mattermost_nginx: NginxSettings,
    /// The Mattermost configuration omnibus produces on this host.
    pub mattermost: MattermostSettings,
}

/// The parts of an omnibus nginx virtual host the harness acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NginxSettings {
    /// `['enable']` (default true).
    pub enable: bool,
    /// `['redirect_http_to_https']`: an HTTP listener answers 301 to the https URL.
    pub redirect_http_to_https: bool,
    /// `['ssl_certificate']` (default `/etc/gitlab/ssl/<host>.crt`).
    pub ssl_certificate: Option<String>,
    /// `['ssl_certificate_key']` (default `/etc/gitlab/ssl/<host>.key`).
    pub ssl_certificate_key: Option<String>,
    /// `['listen_port']`, when set.
    pub listen_port: Option<u16>,
}

impl Default for NginxSettings {
    fn default() -> Self {
        NginxSettings {
            enable: true,
            redirect_http_to_https: false,
            ssl_certificate: None,
            ssl_certificate_key: None,
            listen_port: None,
        }
    }
}

/// Mattermost's effective configuration (the config.json sections the harness acts on).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MattermostSettings {
    /// The Mattermost version these settings are for.
    pub version: Version,
    pub service: ServiceSettings,
    pub team: TeamSettings,
    pub gitlab: GitLabSettings,
    pub email: EmailSettings,
}

/// `ServiceSettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceSettings {
    /// `SiteURL` (omnibus: from `mattermost_external_url`). Empty means "derive from the request".
    #[serde(serialize_with = "ser_url")]
    pub site_url: String,
    /// `ListenAddress` (omnibus: `service_address:service_port`, `127.0.0.1:8065`).
    pub listen_address: String,
    /// `EnableIncomingWebhooks`.
    pub enable_incoming_webhooks: bool,
    /// `EnableOutgoingWebhooks`.
    pub enable_outgoing_webhooks: bool,
    /// `EnablePostUsernameOverride`.
    pub enable_post_username_override: bool,
    /// `EnablePostIconOverride`.
    pub enable_post_icon_override: bool,
    /// `ConnectionSecurity` of Mattermost's own listener (`""` or `"TLS"`); omnibus terminates TLS
    /// in nginx, so this stays `""` behind it.
    pub connection_security: String,
    /// `EnableInsecureOutgoingConnections`: skip certificate checks on outgoing HTTPS (token and
    /// user requests to GitLab).
    pub enable_insecure_outgoing_connections: bool,
    /// `AllowedUntrustedInternalConnections`.
    pub allowed_untrusted_internal_connections: String,
}

/// `TeamSettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamSettings {
    /// `SiteName` (omnibus default "GitLab Mattermost").
    pub site_name: String,
    /// `EnableUserCreation`.
    pub enable_user_creation: bool,
    /// `EnableTeamCreation`.
    pub enable_team_creation: bool,
    /// `EnableOpenServer` (default false): whether anyone may sign up without an invitation once
    /// the first account exists.
    pub enable_open_server: bool,
}

/// `GitLabSettings`: GitLab as the OAuth2 SSO provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitLabSettings {
    /// `Enable`.
    pub enable: bool,
    /// `Id`: the OAuth application id.
    pub id: String,
    /// `Secret`: the OAuth application secret.
    pub secret: Secret,
    /// `Scope` (blank by default; omnibus leaves it blank).
    pub scope: String,
    /// `AuthEndpoint`, e.g. `http://gitlab.example.com/oauth/authorize`.
    #[serde(serialize_with = "ser_url")]
    pub auth_endpoint: String,
    /// `TokenEndpoint`, e.g. `http://gitlab.example.com/oauth/token`.
    #[serde(serialize_with = "ser_url")]
    pub token_endpoint: String,
    /// `UserAPIEndpoint` (older files: `UserApiEndpoint`), e.g. `http://gitlab.example.com/api/v4/user`.
    #[serde(serialize_with = "ser_url")]
    pub user_api_endpoint: String,
}

/// `EmailSettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailSettings {
    /// `EnableSignUpWithEmail` (default true; the seed: false for GitLab-only sign-up).
    pub enable_sign_up_with_email: bool,
    /// `EnableSignInWithEmail`.
    pub enable_sign_in_with_email: bool,
    /// `EnableSignInWithUsername`.
    pub enable_sign_in_with_username: bool,
    /// `SendEmailNotifications`.
    pub send_email_notifications: bool,
    /// `RequireEmailVerification`.
    pub require_email_verification: bool,
    /// `FeedbackName`: the sender's display name.
    pub feedback_name: String,
    /// `FeedbackEmail`: the envelope and header sender.
    pub feedback_email: String,
    /// `ReplyToAddress`.
    pub reply_to_address: String,
    /// `EnableSMTPAuth`.
    pub enable_smtp_auth: bool,
    /// `SMTPUsername`.
    pub smtp_username: String,
    /// `SMTPPassword`.
    pub smtp_password: Secret,
    /// `SMTPServer` (host name only).
    pub smtp_server: String,
    /// `SMTPPort`: a string in Mattermost's config.
    pub smtp_port: String,
    /// `SMTPServerTimeout`, seconds.
    pub smtp_server_timeout: u64,
    /// `ConnectionSecurity` as configured: `""`, `"TLS"`, `"STARTTLS"` or `"PLAIN"` (read as `""`);
    /// anything else is a Mattermost config validation error.
    pub connection_security: String,
    /// `SkipServerCertificateVerification`.
    pub skip_server_certificate_verification: bool,
}

impl MattermostSettings {
    /// The settings Mattermost runs with on a fresh omnibus host of this profile before any
    /// gitlab.rb key is applied: omnibus attribute defaults where omnibus renders the setting
    /// (8.12: shared/data/mattermost-attributes-8.12.rb), Mattermost's own defaults elsewhere.
    pub fn defaults(profile: Profile) -> MattermostSettings {
        let omnibus_8 = profile == Profile::Gitlab8_12;
        MattermostSettings {
            version: profile.mattermost_version(),
            service: ServiceSettings {
                site_url: String::new(),
                listen_address: "127.0.0.1:8065".to_string(),
                enable_incoming_webhooks: !omnibus_8,
                enable_outgoing_webhooks: !omnibus_8,
                enable_post_username_override: false,
                enable_post_icon_override: false,
                connection_security: String::new(),
                enable_insecure_outgoing_connections: false,
                allowed_untrusted_internal_connections: String::new(),
            },
            team: TeamSettings {
                site_name: "GitLab Mattermost".to_string(),
                enable_user_creation: true,
                enable_team_creation: true,
                enable_open_server: false,
            },
            gitlab: GitLabSettings {
                enable: false,
                id: String::new(),
                secret: Secret::default(),
                scope: String::new(),
                auth_endpoint: String::new(),
                token_endpoint: String::new(),
                user_api_endpoint: String::new(),
            },
            email: EmailSettings {
                enable_sign_up_with_email: !omnibus_8,
                enable_sign_in_with_email: true,
                enable_sign_in_with_username: !omnibus_8,
                send_email_notifications: !omnibus_8,
                require_email_verification: false,
                feedback_name: String::new(),
                feedback_email: if omnibus_8 {
                    String::new()
                } else {
                    "test@example.com".to_string()
                },
                reply_to_address: if omnibus_8 {
                    String::new()
                } else {
                    "test@example.com".to_string()
                },
                enable_smtp_auth: false,
                smtp_username: String::new(),
                smtp_password: Secret::default(),
                smtp_server: if omnibus_8 {
                    String::new()
                } else {
                    "localhost".to_string()
                },
                smtp_port: if omnibus_8 {
                    String::new()
                } else {
                    "10025".to_string()
                },
                smtp_server_timeout: 10,
                connection_security: String::new(),
                skip_server_certificate_verification: false,
            },
        }
    }
}

impl HostSettings {
    /// A host with nothing configured: GitLab Rails on, Mattermost off, every default in place.
    pub fn defaults(profile: Profile) -> HostSettings {
        HostSettings {
            gitlab_version: profile.gitlab_version(),
            profile,
            external_url: None,
            gitlab_rails_enabled: true,
            mattermost_external_url: None,
            mattermost_enabled: false,
            register_as_oauth_app: true,
            gitlab_nginx: NginxSettings::default(),
            mattermost_nginx: NginxSettings::default(),
            mattermost: MattermostSettings::defaults(profile),
        }
    }
}
