//! GitLab SSO, Mattermost's side: the login/signup redirects to GitLab's authorize endpoint and the
//! OAuth callbacks, with the token and user requests made over real HTTP(S) to whatever endpoints
//! the settings name.
//!
//! Owns, for Mattermost 10.11 (server/channels/web/oauth.go, app/oauth.go,
//! app/oauthproviders/gitlab/gitlab.go):
//! - `GET /oauth/{service}/login|signup` → 302 to `AuthEndpoint?response_type=code&client_id=..
//!   &redirect_uri=<SiteURL>/signup/gitlab/complete&state=..[&scope=..]`, cookie `MMOAUTH`
//!   (Max-Age 1800, HttpOnly, Secure on https) and a stored state token whose extra is
//!   `<email>:<action>:<cookie>`; state = standard base64 of the sorted-key JSON of the state props.
//! - `GET /oauth/{service}/complete`, `/signup/{service}/complete`, `/login/{service}/complete`,
//!   `/api/v3/oauth/{service}/complete`: `?error=access_denied` → 307 to the signed `/error` URL;
//!   no code → 307 `oauth_missing_code`; state/cookie check; the token request (form, `Accept:
//!   application/json`, no Basic auth, timeout); `token_type` bearer and `access_token` checks; the
//!   user request with `Authorization: Bearer`; user parsing; log in or create; session cookies and
//!   307 to the site. Errors render with `RenderWebAppError` (an HTML page with the error's status
//!   pointing at `/error?message=...&s=...`).
//!
//! And for Mattermost 3.4 (inferred from the wire notes and the 3.x sources as remembered; see
//! docs/twin-mattermost.md): routes under `/api/v3/oauth/...`
//! plus `/signup|login/{service}/complete`; the state carries a bcrypt hash of the GitLab Id and no
//! cookie; the token and user replies are not status-checked (a 401 JSON from Doorkeeper reads as
//! "Bad token type.", a 410 from `/api/v3/user` as a parse error); errors redirect to the 3.x
//! `/error?title=&message=&details=&link=&linkmessage=` page (307 for 500s).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::Value;

use super::api4::{attach_session_cookies, cookie_expires};
use super::error::{
    AppError, go_query_escape, redirect, render_web_app_error, render_web_error,
    render_web_error_v3,
};
use super::outbound::error_chain;
use super::store::{BCRYPT_COST, StateToken, User, new_id, now_millis, random_string};
use super::twin::{MattermostTwin, cookie, protocol};
use crate::config::model::GitLabSettings;
use crate::config::version::Profile;

type Twin = State<Arc<MattermostTwin>>;
type Params = Query<BTreeMap<String, String>>;

/// Routes of Mattermost 10.11.
pub fn routes_v4() -> Router<Arc<MattermostTwin>> {
    Router::new()
        .route("/oauth/{service}/login", get(login_v4))
        .route("/oauth/{service}/signup", get(signup_v4))
        .route("/oauth/{service}/complete", get(complete_v4))
        .route("/signup/{service}/complete", get(complete_v4))
        .route("/login/{service}/complete", get(complete_v4))
        .route("/api/v3/oauth/{service}/complete", get(complete_v4))
}

/// Routes of Mattermost 3.4.
pub fn routes_v3() -> Router<Arc<MattermostTwin>> {
    Router::new()
        .route("/api/v3/oauth/{service}/login", get(login_v3))
        .route("/api/v3/oauth/{service}/signup", get(signup_v3))
        .route("/api/v3/oauth/{service}/complete", get(complete_v3))
        .route("/signup/{service}/complete", get(complete_v3))
        .route("/login/{service}/complete", get(complete_v3))
        .route("/{service}/complete", get(complete_v3))
}

fn unsupported(service: &str) -> AppError {
    AppError::new(
        "api.user.authorize_oauth_user.unsupported.app_error",
        format!("{service} SSO through OAuth 2.0 not available on this server."),
        501,
    )
    .with_detail(format!("service={service}"))
}

fn invalid_state() -> AppError {
    AppError::new(
        "api.user.authorize_oauth_user.invalid_state.app_error",
        "Invalid state",
        400,
    )
}

/// `getSSOProvider`: only GitLab exists in the twin, and only when enabled.
fn provider(twin: &MattermostTwin, service: &str) -> Result<GitLabSettings, AppError> {
    let gitlab = twin.settings().gitlab;
    if service != "gitlab" || !gitlab.enable {
        return Err(unsupported(service));
    }
    Ok(gitlab)
}

/// What 10.x `utils.RenderWebError` puts before `/error`: `path.Join(subpath, "error")`, the
/// subpath being the path of `SiteURL` (`utils.GetSubpathFromConfig`), so the destination is
/// relative to the server — `/error?...` — never the site's scheme and host
/// (server/channels/utils/api.go, every copy from v5 to the monorepo).
fn error_base(twin: &MattermostTwin) -> String {
    let site_url = twin.settings().service.site_url;
    url::Url::parse(site_url.trim())
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default()
}

fn web_error(twin: &MattermostTwin, err: &AppError) -> Response {
    let site = error_base(twin);
    match &twin.signer {
        Some(signer) => render_web_app_error(&site, err, signer),
        None => redirect(StatusCode::TEMPORARY_REDIRECT, &format!("{site}/error")),
    }
}

fn web_error_params(twin: &MattermostTwin, status: u16, params: &[(&str, String)]) -> Response {
    let site = error_base(twin);
    match &twin.signer {
        Some(signer) => render_web_error(&site, status, params, signer),
        None => redirect(StatusCode::TEMPORARY_REDIRECT, &format!("{site}/error")),
    }
}

/// Mattermost's `utils.URLEncode` (3.4 `utils.UrlEncode`, utils/urlencode.go v3.4.0; the same in
/// 10.x): each space-separated word through `url.QueryEscape`, joined by `%20` — so a scope list
/// reads `read_user%20openid`, never `+`.
fn mattermost_url_encode(s: &str) -> String {
    s.split(' ')
        .map(go_query_escape)
        .collect::<Vec<_>>()
        .join("%20")
}

/// Go's `strings.Title` for a service name.
fn title(service: &str) -> String {
    let mut c = service.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `GetAuthorizationCode`: the authorize URL, the `MMOAUTH` cookie and the state token.
fn authorization_redirect(
    twin: &MattermostTwin,
    headers: &HeaderMap,
    gitlab: &GitLabSettings,
    mut props: BTreeMap<String, String>,
    login_hint: Option<&str>,
) -> Response {
    let cookie_value = new_id();
    let extra = format!(
        "{}:{}:{cookie_value}",
        props.get("email").map(String::as_str).unwrap_or(""),
        props.get("action").map(String::as_str).unwrap_or("")
    );
    let token = random_string(64);
    twin.store().state_tokens.insert(
        token.clone(),
        StateToken {
            extra,
            create_at: now_millis(),
        },
    );
    props.insert("token".into(), token);
    let state_json = serde_json::to_string(&props).unwrap_or_default();
    let state = base64::engine::general_purpose::STANDARD.encode(state_json);
    let site = twin.site_url(headers);
    let redirect_uri = format!("{site}/signup/gitlab/complete");
    let mut url = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&state={}",
        gitlab.auth_endpoint,
        gitlab.id,
        go_query_escape(&redirect_uri),
        go_query_escape(&state)
    );
    if !gitlab.scope.is_empty() {
        url.push_str(&format!("&scope={}", mattermost_url_encode(&gitlab.scope)));
    }
    if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
        url.push_str(&format!("&login_hint={}", mattermost_url_encode(hint)));
    }
    let mut resp = redirect(StatusCode::FOUND, &url);
    let secure = if protocol(headers) == "https" {
        "; Secure"
    } else {
        ""
    };
    let expires = cookie_expires(1800);
    let set = format!(
        "MMOAUTH={cookie_value}; Path=/; Expires={expires}; Max-Age=1800; HttpOnly{secure}"
    );
    if let Ok(v) = HeaderValue::from_str(&set) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn login_v4(
    State(twin): Twin,
    headers: HeaderMap,
    Path(service): Path<String>,
    Query(q): Params,
) -> Response {
    // loginWithOAuth checks redirect_to before it asks for the provider (web/oauth.go).
    let redirect_to = q.get("redirect_to").filter(|r| !r.is_empty());
    if let Some(r) = redirect_to
        && !valid_web_auth_redirect_url(&twin.settings().service.site_url, r)
    {
        let e = AppError::new("api.invalid_redirect_url", "Invalid redirect URL", 400);
        return web_error(&twin, &e);
    }
    let gitlab = match provider(&twin, &service) {
        Ok(g) => g,
        Err(e) => return web_error(&twin, &e),
    };
    let mut props = BTreeMap::new();
    props.insert("action".to_string(), "login".to_string());
    props.insert("isMobile".to_string(), "false".to_string());
    if let Some(r) = redirect_to {
        props.insert("redirect_to".to_string(), r.clone());
    }
    authorization_redirect(
        &twin,
        &headers,
        &gitlab,
        props,
        q.get("login_hint").map(String::as_str),
    )
}

/// `utils.IsValidWebAuthRedirectURL` (10.x-era server/channels/utils/url.go): a value without an
/// http/https scheme is accepted as is; an absolute one must start with `SiteURL`
/// (case-insensitive).
pub(crate) fn valid_web_auth_redirect_url(site_url: &str, redirect: &str) -> bool {
    match url::Url::parse(redirect) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {
            let site = site_url.to_ascii_lowercase();
            !site.is_empty() && redirect.to_ascii_lowercase().starts_with(&site)
        }
        _ => true,
    }
}

/// `fullyQualifiedRedirectURL(siteURLPrefix, targetURL)` (web/oauth.go): an absolute target on
/// the same scheme and host under the prefix's path is kept, any other absolute one falls back
/// to the prefix, a relative one is joined to the prefix (with a `/` added when missing), and
/// anything escaping the prefix's path falls back to the prefix.
pub(crate) fn fully_qualified_redirect_url(prefix: &str, target: &str) -> String {
    let Ok(base) = url::Url::parse(prefix) else {
        return prefix.to_string();
    };
    let base_path = base.path().trim_end_matches('/').to_string();
    if let Ok(t) = url::Url::parse(target) {
        let same = t.scheme() == base.scheme()
            && t.host_str() == base.host_str()
            && t.port() == base.port()
            && t.path().starts_with(&base_path);
        return if same {
            target.to_string()
        } else {
            prefix.to_string()
        };
    }
    if target.is_empty() || target.starts_with("//") || target.split('/').any(|seg| seg == "..") {
        return prefix.to_string();
    }
    let relative = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("/{target}")
    };
    format!("{}{relative}", prefix.trim_end_matches('/'))
}

async fn signup_v4(
    State(twin): Twin,
    headers: HeaderMap,
    Path(service): Path<String>,
    Query(q): Params,
) -> Response {
    if !twin.settings().team.enable_user_creation {
        return web_error_params(
            &twin,
            400,
            &[("message", "User sign-up is disabled.".to_string())],
        );
    }
    let gitlab = match provider(&twin, &service) {
        Ok(g) => g,
        Err(e) => return web_error(&twin, &e),
    };
    let mut props = BTreeMap::new();
    props.insert("action".to_string(), "signup".to_string());
    if let Some(t) = q.get("team_id").filter(|t| !t.is_empty()) {
        props.insert("team_id".to_string(), t.clone());
    }
    authorization_redirect(&twin, &headers, &gitlab, props, None)
}

/// What the OAuth provider said about the user.
struct ProviderReply {
    body: Vec<u8>,
}

/// The token and user requests (`AuthorizeOAuthUser` after the state check).
async fn token_and_user(
    twin: &MattermostTwin,
    gitlab: &GitLabSettings,
    code: &str,
    redirect_uri: &str,
    check_status: bool,
) -> Result<ProviderReply, AppError> {
    let token_failed = |detail: String| {
        AppError::new(
            "api.user.authorize_oauth_user.token_failed.app_error",
            "Token request failed.",
            500,
        )
        .with_detail(detail)
    };
    let client = twin
        .outbound_client(&gitlab.token_endpoint)
        .map_err(|e| token_failed(e.to_string()))?;
    let form = [
        ("client_id", gitlab.id.as_str()),
        ("client_secret", gitlab.secret.expose()),
        ("code", code),
        ("grant_type", "authorization_code"),
        ("redirect_uri", redirect_uri),
    ];
    let form_body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let resp = client
        .post(&gitlab.token_endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(form_body)
        .send()
        .await
        .map_err(|e| token_failed(error_chain(&e)))?;
    let status = resp.status().as_u16();
    let body = resp
        .bytes()
        .await
        .map_err(|e| token_failed(error_chain(&e)))?;
    let bad_response = || {
        AppError::new(
            "api.user.authorize_oauth_user.bad_response.app_error",
            "Bad response from token request.",
            500,
        )
        .with_detail(format!("status_code={status}"))
    };
    // json.NewDecoder(...).Decode(&ar): the first JSON value of the body.
    let access: Value = serde_json::Deserializer::from_slice(&body)
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .ok_or_else(bad_response)?;
    if check_status && status != 200 {
        return Err(bad_response());
    }
    let Value::Object(access) = access else {
        return Err(bad_response());
    };
    let token_type = access
        .get("token_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(AppError::new(
            "api.user.authorize_oauth_user.bad_token.app_error",
            "Bad token type.",
            500,
        )
        .with_detail(format!("token_type={token_type}")));
    }
    let access_token = access
        .get("access_token")
        .and_then(Value::as_str)
        .unwrap_or("");
    if access_token.is_empty() {
        return Err(AppError::new(
            "api.user.authorize_oauth_user.missing.app_error",
            "Missing access token.",
            500,
        ));
    }
    let service_failed = |detail: String| {
        AppError::new(
            "api.user.authorize_oauth_user.service.app_error",
            "Token request to gitlab failed.",
            500,
        )
        .with_detail(detail)
    };
    let client = twin
        .outbound_client(&gitlab.user_api_endpoint)
        .map_err(|e| service_failed(e.to_string()))?;
    let resp = client
        .get(&gitlab.user_api_endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {access_token}"))
        .send()
        .await
        .map_err(|e| service_failed(error_chain(&e)))?;
    let status = resp.status().as_u16();
    let body = resp
        .bytes()
        .await
        .map_err(|e| service_failed(error_chain(&e)))?;
    if check_status && status != 200 {
        let text = String::from_utf8_lossy(&body);
        if status == 403 && text.contains("Terms of Service") {
            // app/oauth.go: `map[string]any{"URL": url.Hostname()}` of UserAPIEndpoint.
            let host = url::Url::parse(&gitlab.user_api_endpoint)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            return Err(AppError::new(
                "oauth.gitlab.tos.error",
                format!(
                    "GitLab's Terms of Service have updated. Please go to {host} to accept them and then try logging into Mattermost again."
                ),
                400,
            ));
        }
        return Err(AppError::new(
            "api.user.authorize_oauth_user.response.app_error",
            "Received invalid response from OAuth service provider.",
            500,
        )
        .with_detail(format!("response_body={text}")));
    }
    Ok(ProviderReply {
        body: body.to_vec(),
    })
}

/// `GitLabUser` as Mattermost reads it: `id` an integer, `email`, `username` (fallback `login`),
/// `name`.
struct GitlabUser {
    id: i64,
    username: String,
    email: String,
    first_name: String,
    last_name: String,
}

/// Why a GitLab user reply gave no user.
#[derive(Debug)]
enum UserParseError {
    /// `json.Decoder.Decode` failed (not JSON, not an object, a field of the wrong type): 3.4's
    /// `gitLabUserFromJson` returns nil and the caller dereferences it (a panic).
    Decode(String),
    /// Decoded, but `IsValid` is false (no id, no email).
    Invalid(String),
}

impl std::fmt::Display for UserParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserParseError::Decode(e) | UserParseError::Invalid(e) => f.write_str(e),
        }
    }
}

fn parse_gitlab_user(profile: Profile, body: &[u8]) -> Result<GitlabUser, UserParseError> {
    use UserParseError::{Decode, Invalid};
    let v: Value = serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next()
        .ok_or_else(|| Decode("EOF".to_string()))?
        .map_err(|e| Decode(e.to_string()))?;
    // Go decodes `null` into the zero struct without an error.
    let m = match v {
        Value::Object(m) => m,
        Value::Null => serde_json::Map::new(),
        _ => {
            return Err(Decode(
                "json: cannot unmarshal into Go value of type gitlab.GitLabUser".into(),
            ));
        }
    };
    let get_str = |k: &str| -> Result<String, UserParseError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(Decode(format!(
                "json: cannot unmarshal into Go struct field GitLabUser.{k} of type string"
            ))),
        }
    };
    let id = match m.get("id") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
            Decode(
                "json: cannot unmarshal number into Go struct field GitLabUser.id of type int64"
                    .to_string(),
            )
        })?,
        Some(_) => {
            return Err(Decode(
                "json: cannot unmarshal string into Go struct field GitLabUser.id of type int64"
                    .into(),
            ));
        }
    };
    let email = get_str("email")?;
    let mut username = get_str("username")?;
    if username.is_empty() {
        username = get_str("login")?;
    }
    let name = get_str("name")?;
    if id == 0 {
        return Err(Invalid("user id can't be 0".into()));
    }
    if email.is_empty() {
        return Err(Invalid("user e-mail should not be empty".into()));
    }
    let parts: Vec<&str> = name.split(' ').collect();
    let (first_name, last_name) = if parts.len() >= 2 {
        (parts[0].to_string(), parts[1..].join(" "))
    } else {
        (name.clone(), String::new())
    };
    Ok(GitlabUser {
        id,
        username: clean_username(profile, &username),
        email: email.to_lowercase(),
        first_name,
        last_name,
    })
}

/// `reservedName`, the names `CleanUsername` blanks: Mattermost 3.4 `model/utils.go`
/// (platform v3.4.0:229-248); Mattermost 10.x `server/public/model/utils.go` (newest stored copy,
/// the v10.11 tag not pinned).
fn reserved_names(profile: Profile) -> &'static [&'static str] {
    match profile {
        Profile::Gitlab8_12 => &[
            "www",
            "web",
            "admin",
            "support",
            "notify",
            "test",
            "demo",
            "mail",
            "team",
            "channel",
            "internal",
            "localhost",
            "dockerhost",
            "stag",
            "post",
            "cluster",
            "api",
            "oauth",
        ],
        Profile::Gitlab18_11 => &[
            "admin",
            "api",
            "channel",
            "claim",
            "error",
            "files",
            "help",
            "landing",
            "login",
            "mfa",
            "oauth",
            "plug",
            "plugins",
            "post",
            "signup",
            "boards",
            "playbooks",
        ],
    }
}

/// `model.IsValidUsername`: 1 to 64 of `[a-z0-9.\-_]`, not a restricted name (3.4
/// `model/user.go` v3.4.0:437-459: all, channel, matterbot; 10.x `server/public/model/user.go`:
/// `UserNameMinLength = 1`, `UserNameMaxLength = 64`, plus `system`). No leading-letter rule and
/// no 22-character limit: those belong to the web app's sign-up form, not the server.
pub(crate) fn valid_sso_username(profile: Profile, name: &str) -> bool {
    let restricted: &[&str] = match profile {
        Profile::Gitlab8_12 => &["all", "channel", "matterbot"],
        Profile::Gitlab18_11 => &["all", "channel", "matterbot", "system"],
    };
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
        && !restricted.contains(&name)
}

/// `model.CleanUsername`: lower-case with spaces as `-`, an exact reserved name blanked, every
/// other invalid character `-`, `-` trimmed, and `a<id>` when what is left is not valid.
fn clean_username(profile: Profile, username: &str) -> String {
    let mut s = username.replace(' ', "-").to_lowercase();
    if reserved_names(profile).contains(&s.as_str()) {
        s.clear();
    }
    let s: String = s
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if valid_sso_username(profile, &s) {
        s
    } else {
        format!("a{}", new_id())
    }
}

fn already_attached(service: &str, auth: &str) -> AppError {
    AppError::new(
        "api.user.create_oauth_user.already_attached.app_error",
        format!(
            "There is already an account associated with that email address using a sign in method other than {service}. Please sign in using {auth}."
        ),
        400,
    )
}

/// `CreateOAuthUser`. 10.x refuses when `EnableUserCreation` is off and returns the existing user
/// for a known AuthData; 3.4 (api/user.go v3.4.0:279-347) checks neither creation setting (only
/// `signupWithOAuth` does, before the redirect) and refuses a known AuthData with
/// `already_used` ("This gitlab account has already been used to sign up").
fn create_oauth_user(twin: &MattermostTwin, gl: &GitlabUser) -> Result<User, AppError> {
    let v3 = twin.profile == Profile::Gitlab8_12;
    if !v3 && !twin.settings().team.enable_user_creation {
        return Err(AppError::new(
            "api.user.create_user.disabled.app_error",
            "User creation is disabled.",
            501,
        ));
    }
    let auth_data = gl.id.to_string();
    let mut store = twin.store();
    let mut username = gl.username.clone();
    let mut count = 0;
    while store.user_by_username(&username).is_some() {
        username = format!("{username}{count}");
        count += 1;
    }
    if let Some(u) = store.user_by_auth("gitlab", &auth_data) {
        if v3 {
            return Err(AppError::new(
                "api.user.create_oauth_user.already_used.app_error",
                "This gitlab account has already been used to sign up",
                500,
            )
            .with_detail(format!("email={}", gl.email)));
        }
        return Ok(u.clone());
    }
    if let Some(existing) = store.user_by_email(&gl.email) {
        let auth = if existing.auth_service.is_empty() {
            "email".to_string()
        } else {
            existing.auth_service.clone()
        };
        return Err(already_attached("gitlab", &auth));
    }
    Ok(store.insert_user(
        &username,
        &gl.email,
        String::new(),
        "gitlab",
        &auth_data,
        &gl.first_name,
        &gl.last_name,
        "system_user",
        true,
    ))
}

/// `CompleteOAuth` for the login and signup actions, given the parsed user reply.
fn complete_user(
    twin: &MattermostTwin,
    action: &str,
    parsed: Result<GitlabUser, UserParseError>,
) -> Result<User, AppError> {
    if action == "signup" {
        let gl = parsed.map_err(|e| {
            AppError::new(
                "api.user.create_oauth_user.create.app_error",
                "Could not create user out of gitlab user object.",
                500,
            )
            .with_detail(e.to_string())
        })?;
        return create_oauth_user(twin, &gl);
    }
    let gl = parsed.map_err(|e| {
        AppError::new(
            "api.user.login_by_oauth.parse.app_error",
            "Could not parse auth data out of gitlab user object.",
            400,
        )
        .with_detail(e.to_string())
    })?;
    let existing = twin
        .store()
        .user_by_auth("gitlab", &gl.id.to_string())
        .cloned();
    match existing {
        // Mattermost 3.4's LoginByOAuth logs the user in as stored (api/user.go v3.4.0:547-557).
        Some(user) if twin.profile == Profile::Gitlab8_12 => Ok(user),
        Some(user) => {
            // 10.x UpdateOAuthUserAttrs (app/user.go): the GitLab username when nobody else has
            // it, the names, the email when no other account has it, and a deactivated account
            // is reactivated.
            let mut store = twin.store();
            let username_taken = store
                .users
                .iter()
                .any(|u| u.id != user.id && u.username == gl.username);
            let email_taken = store
                .users
                .iter()
                .any(|u| u.id != user.id && u.email == gl.email);
            let updated = store.users.iter_mut().find(|u| u.id == user.id).map(|u| {
                if !username_taken {
                    u.username = gl.username.clone();
                }
                if !email_taken {
                    u.email = gl.email.clone();
                }
                u.first_name = gl.first_name.clone();
                u.last_name = gl.last_name.clone();
                u.delete_at = 0;
                u.clone()
            });
            Ok(updated.unwrap_or(user))
        }
        None => create_oauth_user(twin, &gl),
    }
}

async fn complete_v4(
    State(twin): Twin,
    headers: HeaderMap,
    Path(service): Path<String>,
    Query(q): Params,
) -> Response {
    if q.get("error").map(String::as_str) == Some("access_denied") {
        return web_error_params(
            &twin,
            307,
            &[
                ("type", "oauth_access_denied".to_string()),
                ("service", title(&service)),
            ],
        );
    }
    let code = q.get("code").cloned().unwrap_or_default();
    if code.is_empty() {
        return web_error_params(
            &twin,
            307,
            &[
                ("type", "oauth_missing_code".to_string()),
                ("service", title(&service)),
            ],
        );
    }
    let state = q.get("state").cloned().unwrap_or_default();
    // completeOAuth: `uri := c.GetSiteURLHeader() + "/signup/" + service + "/complete"` — the
    // request's protocol and Host, not SiteURL (web/oauth.go, web/handlers.go). Behind a proxy
    // that does not send X-Forwarded-Proto an https site sends an http:// redirect_uri here,
    // which GitLab refuses (invalid_grant).
    let site = site_url_header(&twin, &headers);
    let redirect_uri = format!("{site}/signup/{service}/complete");
    let result = complete_v4_inner(&twin, &headers, &service, &code, &state, &redirect_uri).await;
    match result {
        Ok((user, props, clear_cookie)) => {
            let session = twin.store().create_session(&user.id);
            let target = fully_qualified_redirect_url(
                &site,
                props.get("redirect_to").map(String::as_str).unwrap_or(""),
            );
            let mut resp = redirect(StatusCode::TEMPORARY_REDIRECT, &target);
            if let Some(c) = clear_cookie {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            attach_session_cookies(resp.headers_mut(), &session, protocol(&headers) == "https");
            resp
        }
        Err((e, clear_cookie)) => {
            let mut resp = web_error(&twin, &e);
            if let Some(c) = clear_cookie {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
    }
}

/// `c.GetSiteURLHeader()` of 10.x: `app.GetProtocol(r) + "://" + r.Host + subpath`
/// (web/handlers.go; only a Cloud licence substitutes SiteURL).
fn site_url_header(twin: &MattermostTwin, headers: &HeaderMap) -> String {
    format!(
        "{}://{}{}",
        protocol(headers),
        host(headers),
        error_base(twin)
    )
}

type Completed = (User, BTreeMap<String, String>, Option<HeaderValue>);

async fn complete_v4_inner(
    twin: &MattermostTwin,
    headers: &HeaderMap,
    service: &str,
    code: &str,
    state: &str,
    redirect_uri: &str,
) -> Result<Completed, (AppError, Option<HeaderValue>)> {
    let gitlab = provider(twin, service).map_err(|e| (e, None))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(state)
        .map_err(|e| (invalid_state().with_detail(e.to_string()), None))?;
    let props: BTreeMap<String, String> = serde_json::from_slice::<Value>(&decoded)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|m| {
            m.into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let token_key = props.get("token").cloned().unwrap_or_default();
    let stored = twin.store().state_tokens.get(&token_key).cloned();
    let Some(stored) = stored else {
        return Err((
            AppError::new(
                "api.oauth.invalid_state_token.app_error",
                "Invalid state token.",
                400,
            ),
            None,
        ));
    };
    let Some(oauth_cookie) = cookie(headers, "MMOAUTH") else {
        return Err((invalid_state(), None));
    };
    let expected = format!(
        "{}:{}:{oauth_cookie}",
        props.get("email").map(String::as_str).unwrap_or(""),
        props.get("action").map(String::as_str).unwrap_or("")
    );
    if expected != stored.extra {
        return Err((invalid_state(), None));
    }
    twin.store().state_tokens.remove(&token_key);
    let clear = HeaderValue::from_static("MMOAUTH=; Path=/; Max-Age=0; HttpOnly");
    let reply = token_and_user(twin, &gitlab, code, redirect_uri, true)
        .await
        .map_err(|e| (e, Some(clear.clone())))?;
    let action = props.get("action").cloned().unwrap_or_default();
    let parsed = parse_gitlab_user(twin.profile, &reply.body);
    let user = complete_user(twin, &action, parsed).map_err(|e| (e, Some(clear.clone())))?;
    Ok((user, props, Some(clear)))
}

// ---- Mattermost 3.4 ----

fn web_error_v3(twin: &MattermostTwin, err: &AppError) -> Response {
    render_web_error_v3(&twin.settings().team.site_name, err)
}

fn provider_v3(twin: &MattermostTwin, service: &str) -> Result<GitLabSettings, AppError> {
    let gitlab = twin.settings().gitlab;
    if service != "gitlab" || !gitlab.enable {
        // NewLocAppError: status 500, so RenderWebError answers 307 (api/oauth.go v3.4.0).
        return Err(AppError::new(
            "api.user.get_authorization_code.unsupported.app_error",
            "Unsupported OAuth service provider",
            500,
        )
        .with_detail(format!("service={service}")));
    }
    Ok(gitlab)
}

fn authorization_redirect_v3(
    twin: &MattermostTwin,
    headers: &HeaderMap,
    gitlab: &GitLabSettings,
    mut props: BTreeMap<String, String>,
    login_hint: Option<&str>,
) -> Response {
    let hash = bcrypt::hash(&gitlab.id, BCRYPT_COST).unwrap_or_default();
    props.insert("hash".to_string(), hash);
    let state_json = serde_json::to_string(&props).unwrap_or_default();
    let state = base64::engine::general_purpose::STANDARD.encode(state_json);
    let site = twin.site_url(headers);
    let mut url = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&state={}",
        gitlab.auth_endpoint,
        gitlab.id,
        go_query_escape(&format!("{site}/signup/gitlab/complete")),
        go_query_escape(&state)
    );
    if !gitlab.scope.is_empty() {
        url.push_str(&format!("&scope={}", mattermost_url_encode(&gitlab.scope)));
    }
    if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
        url.push_str(&format!("&login_hint={}", mattermost_url_encode(hint)));
    }
    redirect(StatusCode::FOUND, &url)
}

async fn login_v3(
    State(twin): Twin,
    headers: HeaderMap,
    Path(service): Path<String>,
    Query(q): Params,
) -> Response {
    let gitlab = match provider_v3(&twin, &service) {
        Ok(g) => g,
        Err(e) => return web_error_v3(&twin, &e),
    };
    let mut props = BTreeMap::new();
    props.insert("action".to_string(), "login".to_string());
    if let Some(r) = q.get("redirect_to").filter(|r| !r.is_empty()) {
        props.insert("redirect_to".to_string(), r.clone());
    }
    authorization_redirect_v3(
        &twin,
        &headers,
        &gitlab,
        props,
        q.get("login_hint").map(String::as_str),
    )
}

async fn signup_v3(State(twin): Twin, headers: HeaderMap, Path(service): Path<String>) -> Response {
    if !twin.settings().team.enable_user_creation {
        let e = AppError::new(
            "api.oauth.singup_with_oauth.disabled.app_error",
            "User sign-up is disabled.",
            501,
        );
        return web_error_v3(&twin, &e);
    }
    let gitlab = match provider_v3(&twin, &service) {
        Ok(g) => g,
        Err(e) => return web_error_v3(&twin, &e),
    };
    let mut props = BTreeMap::new();
    props.insert("action".to_string(), "signup".to_string());
    authorization_redirect_v3(&twin, &headers, &gitlab, props, None)
}

/// Mattermost 3.4's English text for an error the SSO path shares with 10.x: 3.4's
/// `i18n/en.json` (platform v3.4.0:1875-1944, 2063) has no trailing periods and names the
/// service as given (`gitlab`).
fn mattermost3_message(id: &str) -> Option<&'static str> {
    Some(match id {
        "api.user.authorize_oauth_user.bad_response.app_error" => "Bad response from token request",
        "api.user.authorize_oauth_user.bad_token.app_error" => "Bad token type",
        "api.user.authorize_oauth_user.missing.app_error" => "Missing access token",
        "api.user.authorize_oauth_user.service.app_error" => "Token request to gitlab failed",
        "api.user.authorize_oauth_user.token_failed.app_error" => "Token request failed",
        "api.user.create_oauth_user.create.app_error" => {
            "Could not create user out of gitlab user object"
        }
        "api.user.login_by_oauth.parse.app_error" => {
            "Could not parse auth data out of gitlab user object"
        }
        _ => return None,
    })
}

/// `api.oauth.complete_oauth.missing_code.app_error` of 3.4 (i18n/en.json v3.4.0:1042).
const MISSING_CODE_V3: &str = "The service provider Gitlab did not provide an authorization code in the redirect URL.\n\nFor [Google Apps](https://docs.mattermost.com/deployment/sso-google.html) make sure your administrator enabled the Google+ API.\n\nFor [Office 365](https://docs.mattermost.com/deployment/sso-office.html) make sure the administrator of your Microsoft organization has enabled the Mattermost app.\n\nFor [GitLab](https://docs.mattermost.com/deployment/sso-gitlab.html) please make sure you followed the setup instructions.\n\nIf you reviewed the above and are still having trouble with configuration, you may post in our [Troubleshooting forum](https://forum.mattermost.org/c/general/trouble-shoot) where we'll be happy to help with issues during setup.";

/// How a 3.4 completion ends when it does not sign anyone in.
enum V3Failure {
    /// `c.Err`, rendered by `RenderWebError`.
    Error(AppError),
    /// A panic caught by gorilla's `RecoveryHandler` (api/server.go v3.4.0:77): a bare 500.
    Panic,
}

impl From<AppError> for V3Failure {
    fn from(e: AppError) -> Self {
        V3Failure::Error(e)
    }
}

/// Mattermost 3.4 `completeOAuth` (api/oauth.go v3.4.0:288-352) with `AuthorizeOAuthUser`
/// (:742-817), `LoginByOAuth` and `CreateOAuthUser` (api/user.go).
async fn complete_v3(
    State(twin): Twin,
    headers: HeaderMap,
    Path(service): Path<String>,
    Query(q): Params,
) -> Response {
    let site = twin.site_url(&headers);
    let result: Result<(User, BTreeMap<String, String>), V3Failure> = async {
        // The missing-code check comes first; 3.4 has no `error=access_denied` branch, so a
        // person who denies consent on GitLab 8.12 ends here too.
        let code = q.get("code").cloned().unwrap_or_default();
        if code.is_empty() {
            return Err(AppError::new(
                "api.oauth.complete_oauth.missing_code.app_error",
                MISSING_CODE_V3,
                500,
            )
            .with_detail(format!("URL: /signup/{service}/complete"))
            .into());
        }
        let gitlab = provider_v3(&twin, &service).map_err(|_| {
            AppError::new(
                "api.user.authorize_oauth_user.unsupported.app_error",
                "Unsupported OAuth service provider",
                500,
            )
        })?;
        let state = q.get("state").cloned().unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&state)
            .map_err(|e| invalid_state_v3().with_detail(e.to_string()))?;
        let props: BTreeMap<String, String> = serde_json::from_slice::<Value>(&decoded)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .map(|m| {
                m.into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let hash = props.get("hash").cloned().unwrap_or_default();
        if !bcrypt::verify(&gitlab.id, &hash).unwrap_or(false) {
            return Err(invalid_state_v3().into());
        }
        // `c.GetSiteURL()`: SiteURL when set, else the request's protocol and Host — the same
        // value the authorize redirect used, so 3.4 has no redirect_uri mismatch.
        let redirect_uri = format!("{site}/signup/{service}/complete");
        let reply = token_and_user(&twin, &gitlab, &code, &redirect_uri, false)
            .await
            .map_err(|mut e| {
                // 3.x errors were all NewLocAppError: status 500.
                e.status = 500;
                e
            })?;
        let parsed = parse_gitlab_user(twin.profile, &reply.body);
        // gitLabUserFromJson returns nil on a decode error and IsValid dereferences it.
        if matches!(parsed, Err(UserParseError::Decode(_))) {
            return Err(V3Failure::Panic);
        }
        let action = props.get("action").cloned().unwrap_or_default();
        // A sign-up whose user decodes but is not valid (no id or no email): GetUserFromJson
        // returns `&model.User{}` (model/gitlab/gitlab.go v3.4.0:88-95), CreateOAuthUser carries
        // on, PreSave gives the empty user an id and a username, and the store's IsValid stops at
        // the empty email (model/user.go v3.4.0:74): "Invalid email".
        if action == "signup" && matches!(parsed, Err(UserParseError::Invalid(_))) {
            return Err(
                AppError::new("model.user.is_valid.email.app_error", "Invalid email", 500).into(),
            );
        }
        let user = complete_user(&twin, &action, parsed).map_err(|mut e| {
            e.status = 500;
            e
        })?;
        Ok((user, props))
    }
    .await;
    match result {
        Ok((user, props)) => {
            let session = twin.store().create_session(&user.id);
            let request_site = format!("{}://{}", protocol(&headers), host(&headers));
            // A login with redirect_to goes to `c.GetSiteURL()+val`, whatever val is; sign-up and
            // every other login to the request's own protocol and Host.
            let target = match props.get("redirect_to") {
                Some(r) if props.get("action").map(String::as_str) == Some("login") => {
                    format!("{site}{r}")
                }
                _ => request_site,
            };
            let mut resp = redirect(StatusCode::TEMPORARY_REDIRECT, &target);
            if let Ok(v) = HeaderValue::from_str(&session.token) {
                resp.headers_mut().insert("token", v);
            }
            let cookie = session_cookie_v3(&session.token, protocol(&headers) == "https");
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(V3Failure::Panic) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Err(V3Failure::Error(mut e)) => {
            if let Some(text) = mattermost3_message(e.id) {
                e.message = text.to_string();
            }
            web_error_v3(&twin, &e)
        }
    }
}

/// Mattermost 3.4 `doLogin`'s cookie (api/user.go v3.4.0:628-645): `MMAUTHTOKEN`, `Path=/`,
/// `Max-Age` and `Expires` from `SessionLengthWebInDays` (30), `HttpOnly`, `Secure` when
/// `GetProtocol(r)` (only `X-Forwarded-Proto`) says https.
pub(crate) fn session_cookie_v3(token: &str, secure: bool) -> String {
    let max_age = 30 * 24 * 60 * 60;
    let expires = cookie_expires(max_age);
    let secure = if secure { "; Secure" } else { "" };
    format!("MMAUTHTOKEN={token}; Path=/; Expires={expires}; Max-Age={max_age}; HttpOnly{secure}")
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}

fn invalid_state_v3() -> AppError {
    AppError::new(
        "api.user.authorize_oauth_user.invalid_state.app_error",
        "Invalid state",
        500,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_hints_are_encoded_with_percent_20() {
        assert_eq!(
            mattermost_url_encode("read_user openid"),
            "read_user%20openid"
        );
        assert_eq!(mattermost_url_encode("a+b c&d"), "a%2Bb%20c%26d");
        assert_eq!(mattermost_url_encode(""), "");
    }

    #[test]
    fn gitlab_users_parse_like_mattermost() {
        let p = Profile::Gitlab18_11;
        let u = parse_gitlab_user(
            p,
            br#"{"id":7,"username":"Alice Smith","email":"Alice@Example.com","name":"Alice B Smith"}"#,
        )
        .unwrap();
        assert_eq!(u.id, 7);
        assert_eq!(u.username, "alice-smith");
        assert_eq!(u.email, "alice@example.com");
        assert_eq!(
            (u.first_name.as_str(), u.last_name.as_str()),
            ("Alice", "B Smith")
        );
        let u = parse_gitlab_user(
            p,
            br#"{"id":8,"login":"bob","email":"b@x.org","name":"Bob"}"#,
        )
        .unwrap();
        assert_eq!(u.username, "bob");
        let invalid = |b: &[u8]| matches!(parse_gitlab_user(p, b), Err(UserParseError::Invalid(_)));
        let undecodable =
            |b: &[u8]| matches!(parse_gitlab_user(p, b), Err(UserParseError::Decode(_)));
        assert!(invalid(br#"{"id":0,"email":"a@b"}"#));
        assert!(invalid(br#"{"id":3}"#));
        assert!(invalid(b"null"));
        assert!(undecodable(br#"{"id":"3","email":"a@b"}"#));
        assert!(undecodable(b"<html>"));
        assert!(undecodable(b"[]"));
        assert!(undecodable(b""));
    }
}
