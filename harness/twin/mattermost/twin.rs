//! The twin's Mattermost server: its configuration, state, router and the request plumbing every
//! route shares (request ids, `X-Version-Id`, session lookup with Mattermost's token rules, the
//! site URL, profile dispatch).
//!
//! Owns: [`MattermostTwinConfig`], [`MattermostAdmin`], [`MattermostTwin`] (the contract with
//! bring-up), and [`Caller`] (the session extractor of API routes). The routes themselves live in `api4`, `api3`, `sso` and
//! `webhook`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use rustls_pki_types::CertificateDer;

use super::error::{AppError, ErrorSigner};
use super::store::{BCRYPT_COST, Session, Store, User};
use crate::config::model::{MattermostSettings, Secret};
use crate::config::version::Profile;
use crate::net::AddressBook;
use crate::twin::clock::ProductClock;

/// The seeded system admin (omnibus has none; a harness needs one to drive the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MattermostAdmin {
    pub username: String,
    pub email: String,
    pub password: Secret,
}

impl Default for MattermostAdmin {
    fn default() -> Self {
        MattermostAdmin {
            username: "sysadmin".to_string(),
            email: "sysadmin@example.com".to_string(),
            password: Secret::new("Sys-Admin-Passw0rd!"),
        }
    }
}

/// Everything the twin's Mattermost is started with.
#[derive(Debug, Clone)]
pub struct MattermostTwinConfig {
    /// Gitlab8_12 plays Mattermost 3.4, Gitlab18_11 plays Mattermost 10.11.
    pub profile: Profile,
    /// The effective settings (config.json + `MM_*` overrides, as omnibus renders them).
    pub settings: MattermostSettings,
    /// Where GitLab and the SMTP server really are (outbound requests resolve through it).
    pub address_book: AddressBook,
    /// The CAs this Mattermost trusts (omnibus `/etc/gitlab/trusted-certs`); no system roots.
    pub trusted_roots: Vec<CertificateDer<'static>>,
    /// The seeded system admin.
    pub admin: MattermostAdmin,
    /// Timeout of the token and user requests (Mattermost 10.x: 30 s; Mattermost 3.4 has none and
    /// ignores it).
    pub outbound_timeout: Duration,
    /// Settings that came from `MM_*` environment variables, as `Section.Field` paths
    /// (`GitLabSettings.Id`): listed by `GET /api/v4/config/environment` and not changeable
    /// through `PUT /api/v4/config`.
    pub env_overrides: Vec<String>,
    /// How long Mattermost's own timeouts (`SMTPServerTimeout`) last in real time.
    pub clock: ProductClock,
}

impl Default for MattermostTwinConfig {
    fn default() -> Self {
        MattermostTwinConfig {
            profile: Profile::Gitlab18_11,
            settings: MattermostSettings::defaults(Profile::Gitlab18_11),
            address_book: AddressBook::new(),
            trusted_roots: Vec::new(),
            admin: MattermostAdmin::default(),
            outbound_timeout: Duration::from_secs(30),
            env_overrides: Vec::new(),
            clock: ProductClock::REAL,
        }
    }
}

/// One email the server tried to send, and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAttempt {
    /// Why it was sent: `welcome`, `verify`, `test`, `mention`.
    pub kind: String,
    pub to: String,
    pub subject: String,
    /// `None` when the SMTP server accepted it, else the error text.
    pub error: Option<String>,
}

/// The twin's Mattermost.
pub struct MattermostTwin {
    pub(crate) profile: Profile,
    pub(crate) settings: RwLock<MattermostSettings>,
    /// `X-Version-Id` of the current settings, recomputed when they change (every reply
    /// carries it, so it is not hashed per request).
    version_id: RwLock<String>,
    pub(crate) address_book: AddressBook,
    pub(crate) trusted_roots: Vec<CertificateDer<'static>>,
    pub(crate) outbound_timeout: Duration,
    pub(crate) env_overrides: Vec<String>,
    pub(crate) clock: ProductClock,
    pub(crate) store: Mutex<Store>,
    pub(crate) signer: Option<ErrorSigner>,
    pub(crate) mail_log: Mutex<Vec<MailAttempt>>,
    pub(crate) admin_id: String,
    /// Outbound HTTP clients by (scheme://host:port, insecure): kept like Go's shared
    /// transport, so connections to GitLab are pooled and reused.
    pub(crate) outbound_clients: Mutex<std::collections::HashMap<(String, bool), reqwest::Client>>,
    /// The database schema and the release on it (`upgrade`): Mattermost 3.4's fresh install
    /// unless a scenario's GitLab bundled an older release.
    pub(crate) schema: Mutex<super::upgrade::SchemaState>,
}

impl MattermostTwin {
    /// A running-ready server with the admin seeded.
    pub fn new(cfg: MattermostTwinConfig) -> Arc<MattermostTwin> {
        let mut store = Store::default();
        let hash = bcrypt::hash(cfg.admin.password.expose(), BCRYPT_COST).unwrap_or_default();
        let admin = store.insert_user(
            &cfg.admin.username,
            &cfg.admin.email,
            hash,
            "",
            "",
            "",
            "",
            "system_admin system_user",
            true,
        );
        let schema = super::upgrade::SchemaState::installed_by(super::schema::Release::V3_4);
        Self::build(cfg, store, admin.id, schema)
    }

    /// A server started on a database read back from disk (`twin serve` on its volumes): the
    /// store, the seeded admin and the schema as they were written. The schema's release is the
    /// one that last ran; the caller restarts the current release on it
    /// ([`MattermostTwin::restart_on`]) to replay the start-up migrations.
    pub fn restored(
        cfg: MattermostTwinConfig,
        state: &super::persist::MattermostState,
    ) -> Result<Arc<MattermostTwin>, String> {
        let store = state.to_store()?;
        let schema = state.schema.to_schema()?;
        Ok(Self::build(cfg, store, state.admin_id.clone(), schema))
    }

    /// The database as `twin serve` writes it to disk.
    pub fn state(&self) -> super::persist::MattermostState {
        let schema = self.schema().clone();
        let config = super::config_json::to_json(&self.settings(), false);
        super::persist::MattermostState::capture(&self.store(), &self.admin_id, &schema, config)
    }

    pub(crate) fn build(
        cfg: MattermostTwinConfig,
        store: Store,
        admin_id: String,
        schema: super::upgrade::SchemaState,
    ) -> Arc<MattermostTwin> {
        // The outbound HTTP client needs the process-wide rustls provider.
        crate::crypto::install_default_provider();
        Arc::new(MattermostTwin {
            profile: cfg.profile,
            version_id: RwLock::new(version_id_of(&cfg.settings)),
            settings: RwLock::new(cfg.settings),
            address_book: cfg.address_book,
            trusted_roots: cfg.trusted_roots,
            outbound_timeout: cfg.outbound_timeout,
            env_overrides: cfg.env_overrides,
            clock: cfg.clock,
            store: Mutex::new(store),
            signer: ErrorSigner::generate(),
            mail_log: Mutex::new(Vec::new()),
            admin_id,
            outbound_clients: Mutex::new(std::collections::HashMap::new()),
            schema: Mutex::new(schema),
        })
    }

    /// The HTTP router of this server (serve it plain or behind TLS).
    pub fn router(self: &Arc<Self>) -> Router {
        let routes = match self.profile {
            Profile::Gitlab18_11 => super::api4::routes()
                .merge(super::moveout::routes_v4())
                .merge(super::sso::routes_v4())
                .merge(super::webhook::routes())
                .merge(super::pages::routes())
                .merge(super::verify::routes(self.profile)),
            Profile::Gitlab8_12 => super::api3::routes()
                .merge(super::sso::routes_v3())
                .merge(super::upgrade::routes_v3())
                .merge(super::webhook::routes())
                .merge(super::pages::routes())
                .merge(super::verify::routes(self.profile)),
        };
        routes
            .fallback(fallback)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                request_plumbing,
            ))
            .with_state(self.clone())
    }

    /// The current settings (after System Console / API edits).
    pub fn settings(&self) -> MattermostSettings {
        match self.settings.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Change the settings in place (omnibus writing the GitLab id/secret, a test flipping a switch).
    pub fn update_settings(&self, f: impl FnOnce(&mut MattermostSettings)) {
        let mut settings = self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut settings);
        let id = version_id_of(&settings);
        *self
            .version_id
            .write()
            .unwrap_or_else(PoisonError::into_inner) = id;
    }

    /// The id of the seeded system admin.
    pub fn admin_user_id(&self) -> &str {
        &self.admin_id
    }

    /// The profile this server plays.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Every email this server tried to send, oldest first.
    pub fn mail_attempts(&self) -> Vec<MailAttempt> {
        match self.mail_log.lock() {
            Ok(l) => l.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Users as the admin API would list them (username, email, auth service, auth data).
    pub fn users(&self) -> Vec<User> {
        self.store().users.clone()
    }

    /// Every post, oldest first.
    pub fn posts(&self) -> Vec<super::store::Post> {
        self.store().posts.clone()
    }

    /// One channel by id (direct channels included).
    pub fn channel(&self, id: &str) -> Option<super::store::Channel> {
        self.store().channel(id).cloned()
    }

    /// The public half of the key that signs `/error?...&s=` URLs (uncompressed P-256 point).
    pub fn error_signing_public_key(&self) -> Option<Vec<u8>> {
        self.signer.as_ref().map(|s| s.public_key())
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        match self.store.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    /// The outbound client for requests to `url` (built once per origin and TLS mode).
    pub(crate) fn outbound_client(
        &self,
        url: &str,
    ) -> Result<reqwest::Client, super::outbound::OutboundError> {
        let insecure = self.settings().service.enable_insecure_outgoing_connections;
        let origin = url::Url::parse(url)
            .map(|u| u.origin().ascii_serialization())
            .map_err(|_| super::outbound::OutboundError::BadUrl(url.to_string()))?;
        let key = (origin, insecure);
        let mut cache = match self.outbound_clients.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let client = super::outbound::client_for(
            url,
            &self.address_book,
            &self.trusted_roots,
            insecure,
            // Mattermost 3.4's AuthorizeOAuthUser builds `&http.Client{Transport: tr}` without a
            // Timeout (api/oauth.go v3.4.0:770-773): it waits for GitLab as long as GitLab takes.
            match self.profile {
                Profile::Gitlab8_12 => None,
                Profile::Gitlab18_11 => Some(self.outbound_timeout),
            },
        )?;
        cache.insert(key, client.clone());
        Ok(client)
    }

    pub(crate) fn record_mail(&self, attempt: MailAttempt) {
        match self.mail_log.lock() {
            Ok(mut l) => l.push(attempt),
            Err(p) => p.into_inner().push(attempt),
        }
    }

    /// `X-Version-Id` of the current settings.
    pub(crate) fn version_id(&self) -> String {
        self.version_id
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The site URL as the server uses it: `SiteURL` without a trailing slash, else the request's
    /// protocol and `Host` (`GetProtocol(r) + "://" + r.Host`).
    pub(crate) fn site_url(&self, headers: &HeaderMap) -> String {
        let configured = self.settings().service.site_url;
        let configured = configured.trim().trim_end_matches('/');
        if !configured.is_empty() {
            return configured.to_string();
        }
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("{}://{host}", protocol(headers))
    }
}

/// `X-Version-Id`: `<version>.<build number>.<config hash>.<licensed>`.
fn version_id_of(settings: &MattermostSettings) -> String {
    let json = serde_json::to_string(settings).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, json.as_bytes());
    let hash: String = digest
        .as_ref()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let v = &settings.version;
    format!("{v}.{v}.{hash}.false")
}

/// `GetProtocol(r)`: https when `X-Forwarded-Proto: https` (what omnibus nginx and the twin's TLS
/// listener send), else http.
pub(crate) fn protocol(headers: &HeaderMap) -> &'static str {
    match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

/// Where the session token of a request came from (`app.TokenLocation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenLocation {
    Cookie,
    Header,
    QueryString,
}

/// `app.ParseAuthTokenFromRequest`: cookie first, then `Authorization: Bearer|Token`, then
/// `?access_token=`.
pub(crate) fn parse_auth_token(
    headers: &HeaderMap,
    query: Option<&str>,
) -> Option<(String, TokenLocation)> {
    if let Some(token) = cookie(headers, "MMAUTHTOKEN") {
        return Some((token, TokenLocation::Cookie));
    }
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        if auth.len() > 6 && auth[..6].eq_ignore_ascii_case("bearer") {
            return Some((auth[7..].to_string(), TokenLocation::Header));
        }
        if auth.len() > 5 && auth[..5].eq_ignore_ascii_case("token") {
            return Some((auth[6..].to_string(), TokenLocation::Header));
        }
    }
    let query = query?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "access_token")
        .filter(|(_, v)| !v.is_empty())
        .map(|(_, v)| (v.into_owned(), TokenLocation::QueryString))
}

/// The value of one request cookie.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub(crate) fn session_expired(detail: &str) -> AppError {
    AppError::new(
        "api.context.session_expired.app_error",
        "Invalid or expired session, please login again.",
        401,
    )
    .with_detail(detail.to_string())
}

impl MattermostTwin {
    /// The session of a request, with Mattermost's rules: an unknown token is 401; a session
    /// token in the query string is refused; a cookie session on a non-GET request needs
    /// `X-CSRF-Token` equal to the session's CSRF token or (the legacy pass, strict enforcement
    /// off) `X-Requested-With: XMLHttpRequest`.
    pub(crate) fn session(
        &self,
        method: &Method,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<(Session, User), AppError> {
        let Some((token, location)) = parse_auth_token(headers, query) else {
            return Err(session_expired("UserRequired"));
        };
        let store = self.store();
        let session = store
            .sessions
            .get(&token)
            .cloned()
            .ok_or_else(|| session_expired("token not found"))?;
        if location == TokenLocation::QueryString {
            return Err(AppError::new(
                "api.context.token_provided.app_error",
                "Session is not OAuth but token was provided in the query string",
                401,
            ));
        }
        if location == TokenLocation::Cookie && method != Method::GET {
            let csrf_ok = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == session.csrf);
            let legacy_ok = headers
                .get("x-requested-with")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == "XMLHttpRequest");
            if !csrf_ok && !legacy_ok {
                return Err(session_expired("Appears to be a CSRF attempt"));
            }
        }
        let user = store
            .user(&session.user_id)
            .cloned()
            .ok_or_else(|| session_expired("user not found"))?;
        Ok((session, user))
    }

    /// Verify a password against a stored bcrypt hash.
    pub(crate) fn password_matches(user: &User, password: &str) -> bool {
        !user.password_hash.is_empty()
            && bcrypt::verify(password, user.password_hash.expose()).unwrap_or(false)
    }
}

/// The signed-in user of an API request ([`MattermostTwin::session`]); a request without a valid
/// session is refused with the session error before the handler runs.
pub(crate) struct Caller(pub User);

impl axum::extract::FromRequestParts<Arc<MattermostTwin>> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        twin: &Arc<MattermostTwin>,
    ) -> Result<Caller, AppError> {
        let (_, user) = twin.session(&parts.method, &parts.headers, parts.uri.query())?;
        Ok(Caller(user))
    }
}

/// The signed-in user of a request to a route open to anonymous callers, if any.
pub(crate) struct MaybeCaller(pub Option<User>);

impl axum::extract::FromRequestParts<Arc<MattermostTwin>> for MaybeCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        twin: &Arc<MattermostTwin>,
    ) -> Result<MaybeCaller, Self::Rejection> {
        let session = twin.session(&parts.method, &parts.headers, parts.uri.query());
        Ok(MaybeCaller(session.ok().map(|(_, user)| user)))
    }
}

pub(crate) fn permission_denied() -> AppError {
    AppError::new(
        "api.context.permissions.app_error",
        "You do not have the appropriate permissions.",
        403,
    )
}

/// Adds `X-Request-Id` and `X-Version-Id` to every reply and renders a handler's `AppError` as
/// the profile's API JSON.
async fn request_plumbing(
    State(twin): State<Arc<MattermostTwin>>,
    req: Request,
    next: Next,
) -> Response {
    // A release that halted at start leaves nginx without an upstream.
    if twin.profile == Profile::Gitlab8_12 && twin.halted().is_some() {
        return super::upgrade::bad_gateway();
    }
    let request_id = super::store::new_id();
    let mut resp = next.run(req).await;
    if let Some(err) = resp.extensions_mut().remove::<AppError>() {
        let v3 = twin.profile == Profile::Gitlab8_12;
        resp = err.api_response(&request_id, v3);
    }
    let headers = resp.headers_mut();
    if !headers.contains_key("x-request-id")
        && let Ok(v) = HeaderValue::from_str(&request_id)
    {
        headers.insert("x-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&twin.version_id()) {
        headers.insert("x-version-id", v);
    }
    resp
}

/// Unknown paths: API paths answer Mattermost's JSON 404, everything else the web app's page
/// (the single-page app serves every other path with 200).
async fn fallback(State(twin): State<Arc<MattermostTwin>>, uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return AppError::new(
            "api.context.404.app_error",
            "Sorry, we could not find the page.",
            404,
        )
        .with_detail(format!(
            "There doesn't appear to be an api call for the url='{}'",
            uri.path()
        ))
        .into_response();
    }
    let site_name = twin.settings().team.site_name;
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body><noscript>To use Mattermost, please enable JavaScript.</noscript><div id=\"root\"></div></body></html>",
        html_text(&site_name)
    ))
    .into_response()
}

pub(crate) fn html_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
