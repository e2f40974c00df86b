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
use axum::response::Response;
use axum::routing::get;
use base64::Engine as _;
use serde_json::Value;

use super::api4::{attach_session_cookies, cookie_expires, valid_username};
use super::error::{
    AppError, go_query_escape, redirect, render_web_app_error, render_web_error,
    render_web_error_v3,
};
use super::outbound::error_chain;
use super::store::{BCRYPT_COST, StateToken, User, new_id, now_millis, random_string};
use super::twin::{MattermostTwin, cookie, protocol};
use crate::config::model::GitLabSettings;

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

/// `*config.ServiceSettings.SiteURL` as `RenderWebError` prefixes it: the configured value
/// (blank = a relative `/error` URL), never the request's host.
fn error_base(twin: &MattermostTwin) -> String {
    twin.settings()
        .service
        .site_url
        .trim()
        .trim_end_matches('/')
        .to_string()
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
        url.push_str(&format!("&scope={}", go_query_escape(&gitlab.scope)));
    }
    if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
        url.push_str(&format!("&login_hint={}", go_query_escape(hint)));
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
    let gitlab = match provider(&twin, &service) {
        Ok(g) => g,
        Err(e) => return web_error(&twin, &e),
    };
    let mut props = BTreeMap::new();
    props.insert("action".to_string(), "login".to_string());
    props.insert("isMobile".to_string(), "false".to_string());
    if let Some(r) = q.get("redirect_to").filter(|r| !r.is_empty()) {
        if !r.starts_with('/') || r.starts_with("//") {
            let e = AppError::new("api.invalid_redirect_url", "Invalid redirect URL", 400);
            return web_error(&twin, &e);
        }
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
            return Err(AppError::new(
                "oauth.gitlab.tos.error",
                "GitLab's Terms of Service have updated. Please go to gitlab.com to accept them and then try logging into Mattermost again.",
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

fn parse_gitlab_user(body: &[u8]) -> Result<GitlabUser, String> {
    let v: Value = serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next()
        .ok_or_else(|| "EOF".to_string())?
        .map_err(|e| e.to_string())?;
    let Value::Object(m) = v else {
        return Err("json: cannot unmarshal into Go value of type gitlab.GitLabUser".into());
    };
    let get_str = |k: &str| -> Result<String, String> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!(
                "json: cannot unmarshal into Go struct field GitLabUser.{k} of type string"
            )),
        }
    };
    let id = match m.get("id") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
            "json: cannot unmarshal number into Go struct field GitLabUser.id of type int64"
                .to_string()
        })?,
        Some(_) => {
            return Err(
                "json: cannot unmarshal string into Go struct field GitLabUser.id of type int64"
                    .into(),
            );
        }
    };
    let email = get_str("email")?;
    if id == 0 {
        return Err("user id can't be 0".into());
    }
    if email.is_empty() {
        return Err("user e-mail should not be empty".into());
    }
    let mut username = get_str("username")?;
    if username.is_empty() {
        username = get_str("login")?;
    }
    let name = get_str("name")?;
    let parts: Vec<&str> = name.split(' ').collect();
    let (first_name, last_name) = if parts.len() >= 2 {
        (parts[0].to_string(), parts[1..].join(" "))
    } else {
        (name.clone(), String::new())
    };
    Ok(GitlabUser {
        id,
        username: clean_username(&username),
        email: email.to_lowercase(),
        first_name,
        last_name,
    })
}

/// `model.CleanUsername`.
fn clean_username(username: &str) -> String {
    let s = username.replace(' ', "-").to_lowercase();
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
    if valid_username(&s) {
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

/// `CreateOAuthUser`.
fn create_oauth_user(twin: &MattermostTwin, gl: &GitlabUser) -> Result<User, AppError> {
    if !twin.settings().team.enable_user_creation {
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

/// `CompleteOAuth` for the login and signup actions.
fn complete_user(twin: &MattermostTwin, action: &str, body: &[u8]) -> Result<User, AppError> {
    let parsed = parse_gitlab_user(body);
    if action == "signup" {
        let gl = parsed.map_err(|e| {
            AppError::new(
                "api.user.create_oauth_user.create.app_error",
                "Could not create user out of gitlab user object.",
                500,
            )
            .with_detail(e)
        })?;
        return create_oauth_user(twin, &gl);
    }
    let gl = parsed.map_err(|e| {
        AppError::new(
            "api.user.login_by_oauth.parse.app_error",
            "Could not parse auth data out of gitlab user object.",
            400,
        )
        .with_detail(e)
    })?;
    let existing = twin
        .store()
        .user_by_auth("gitlab", &gl.id.to_string())
        .cloned();
    match existing {
        Some(user) => {
            // UpdateOAuthUserAttrs: keep email and names in step with GitLab (the email only
            // when no other account has it).
            let mut store = twin.store();
            let email_taken = store
                .users
                .iter()
                .any(|u| u.id != user.id && u.email == gl.email);
            let updated = store.users.iter_mut().find(|u| u.id == user.id).map(|u| {
                if !email_taken {
                    u.email = gl.email.clone();
                }
                u.first_name = gl.first_name.clone();
                u.last_name = gl.last_name.clone();
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
    let site = twin.site_url(&headers);
    let redirect_uri = format!("{site}/signup/{service}/complete");
    let result = complete_v4_inner(&twin, &headers, &service, &code, &state, &redirect_uri).await;
    match result {
        Ok((user, props, clear_cookie)) => {
            let session = twin.store().create_session(&user.id);
            let target = match props.get("redirect_to").filter(|r| r.starts_with('/')) {
                Some(r) => format!("{site}{r}"),
                None => site.clone(),
            };
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
    let user = complete_user(twin, &action, &reply.body).map_err(|e| (e, Some(clear.clone())))?;
    Ok((user, props, Some(clear)))
}

// ---- Mattermost 3.4 ----

fn web_error_v3(twin: &MattermostTwin, err: &AppError) -> Response {
    render_web_error_v3(&twin.settings().team.site_name, err)
}

fn provider_v3(twin: &MattermostTwin, service: &str) -> Result<GitLabSettings, AppError> {
    let gitlab = twin.settings().gitlab;
    if service != "gitlab" || !gitlab.enable {
        return Err(AppError::new(
            "api.user.get_authorization_code.unsupported.app_error",
            "Unsupported OAuth service provider",
            501,
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
        url.push_str(&format!("&scope={}", go_query_escape(&gitlab.scope)));
    }
    if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
        url.push_str(&format!("&login_hint={}", go_query_escape(hint)));
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
            "web.singup_with_oauth.disabled.app_error",
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

async fn complete_v3(
    State(twin): Twin,
    headers: HeaderMap,
    Path(service): Path<String>,
    Query(q): Params,
) -> Response {
    let site = twin.site_url(&headers);
    let result = async {
        // 3.x does not check for a code: an empty one goes to the token endpoint as is.
        let code = q.get("code").cloned().unwrap_or_default();
        let gitlab = provider_v3(&twin, &service).map_err(|e| {
            AppError::new(
                "api.user.authorize_oauth_user.unsupported.app_error",
                "Unsupported OAuth service provider",
                e.status,
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
            return Err(invalid_state_v3());
        }
        let redirect_uri = format!("{site}/signup/{service}/complete");
        let reply = token_and_user(&twin, &gitlab, &code, &redirect_uri, false)
            .await
            .map_err(|mut e| {
                // 3.x errors were all NewLocAppError: status 500.
                e.status = 500;
                e
            })?;
        let action = props.get("action").cloned().unwrap_or_default();
        let user = complete_user(&twin, &action, &reply.body).map_err(|mut e| {
            if e.id == "api.user.login_by_oauth.parse.app_error" {
                e.status = 500;
            }
            e
        })?;
        Ok((user, props))
    }
    .await;
    match result {
        Ok((user, props)) => {
            let session = twin.store().create_session(&user.id);
            let target = match props.get("redirect_to") {
                Some(r) if r.starts_with('/') => format!("{site}{r}"),
                _ => format!("{}://{}", protocol(&headers), host(&headers)),
            };
            let mut resp = redirect(StatusCode::TEMPORARY_REDIRECT, &target);
            let set = format!(
                "MMAUTHTOKEN={}; Path=/; Max-Age={}; HttpOnly",
                session.token,
                30 * 24 * 60 * 60
            );
            if let Ok(v) = HeaderValue::from_str(&set) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => web_error_v3(&twin, &e),
    }
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
    fn gitlab_users_parse_like_mattermost() {
        let u = parse_gitlab_user(
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
        let u =
            parse_gitlab_user(br#"{"id":8,"login":"bob","email":"b@x.org","name":"Bob"}"#).unwrap();
        assert_eq!(u.username, "bob");
        assert!(parse_gitlab_user(br#"{"id":0,"email":"a@b"}"#).is_err());
        assert!(parse_gitlab_user(br#"{"id":3}"#).is_err());
        assert!(parse_gitlab_user(br#"{"id":"3","email":"a@b"}"#).is_err());
        assert!(parse_gitlab_user(b"<html>").is_err());
    }
}
