//! Doorkeeper's token endpoint, `POST /oauth/token`: the authorization_code, refresh_token and
//! password grants, client authentication in the body or by HTTP Basic, and Doorkeeper's error
//! JSON with its statuses (Doorkeeper 5: `invalid_client` 401, the rest 400; Doorkeeper 4.2 on
//! GitLab 8.12: all 401, and tokens without `expires_in`).
//!
//! Owns: exchanging codes (single use, 10 minutes, same client, same redirect URI) and refresh
//! tokens (the old token is revoked) for access tokens.

use std::sync::MutexGuard;
use std::time::{Instant, SystemTime};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;

use crate::config::version::Profile;

use super::model::{
    AccessToken, CODE_LIFETIME, DEFAULT_SCOPE, GitlabStore, OAuthApplication, TOKEN_LIFETIME,
    random_hex, redirect_uri_matches,
};
use super::request::{GitlabRequest, json};
use super::twin::GitlabTwin;
use super::web::INVALID_REQUEST;

const INVALID_GRANT: &str = "The provided authorization grant is invalid, expired, revoked, does \
     not match the redirection URI used in the authorization request, or was issued to another client.";
const UNSUPPORTED_GRANT_TYPE: &str =
    "The authorization grant type is not supported by the authorization server.";

/// Doorkeeper's error answer. Doorkeeper 5 (current GitLab): `invalid_client` 401 with
/// `WWW-Authenticate`, the others 400. Doorkeeper 4.2.0 (GitLab 8.12): `ErrorResponse#status` is
/// `:unauthorized` for every error and `headers` always carry `WWW-Authenticate`
/// (lib/doorkeeper/oauth/error_response.rb v4.2.0).
fn error(profile: Profile, status: StatusCode, error: &str, description: &str) -> Response {
    let status = match profile {
        Profile::Gitlab8_12 => StatusCode::UNAUTHORIZED,
        Profile::Gitlab18_11 => status,
    };
    let mut resp = json(
        status,
        serde_json::json!({"error": error, "error_description": description}),
    );
    if status == StatusCode::UNAUTHORIZED {
        let value = format!(
            "Bearer realm=\"Doorkeeper\", error=\"{error}\", error_description=\"{description}\""
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    no_store(resp)
}

fn invalid_client(p: Profile) -> Response {
    error(
        p,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        super::web::INVALID_CLIENT,
    )
}

fn invalid_grant(p: Profile) -> Response {
    error(p, StatusCode::BAD_REQUEST, "invalid_grant", INVALID_GRANT)
}

fn invalid_request(p: Profile) -> Response {
    error(
        p,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        INVALID_REQUEST,
    )
}

/// Client credentials from HTTP Basic, else from the body.
fn client_credentials(req: &GitlabRequest) -> Option<(String, String)> {
    if let Some(auth) = req.header("authorization")
        && let Some(encoded) = auth
            .strip_prefix("Basic ")
            .or_else(|| auth.strip_prefix("basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return Some((decode(id), decode(secret)));
    }
    let id = req.form_param("client_id")?;
    Some((
        id.to_string(),
        req.form_param("client_secret").unwrap_or("").to_string(),
    ))
}

fn authenticate_client(twin: &GitlabTwin, req: &GitlabRequest) -> Option<OAuthApplication> {
    let (id, secret) = client_credentials(req)?;
    let store = twin.store();
    let app = store.application_by_uid(&id)?;
    // A public (non-confidential) client may omit the secret; a given secret must still match.
    let ok = if secret.is_empty() {
        !app.confidential
    } else {
        secret == app.secret.expose()
    };
    ok.then(|| app.clone())
}

/// `POST /oauth/token`.
pub fn token(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    if req.malformed_body {
        return invalid_request(twin.profile());
    }
    let grant_type = req.form_param("grant_type").unwrap_or("");
    match grant_type {
        "" => invalid_request(twin.profile()),
        "authorization_code" => authorization_code(twin, req),
        "refresh_token" => refresh_token(twin, req),
        "password" => password(twin, req),
        _ => error(
            twin.profile(),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            UNSUPPORTED_GRANT_TYPE,
        ),
    }
}

/// The authorization_code grant, in Doorkeeper's order (AuthorizationCodeRequest, v5.8.2 and
/// v4.2.0 alike): a missing `code` (`MissingRequiredParameter`) and a blank `redirect_uri`
/// (`validate :params` / `:attributes`) are invalid_request before the client is looked at; then
/// the client, the grant, and the redirect URI against the grant's — Doorkeeper 5.8 with
/// `URIChecker.valid_for_authorization?` (query and loopback rules), 4.2 by string equality — and on
/// 5.8 the PKCE verifier (a challenged grant without `code_verifier` is invalid_request, a wrong
/// one invalid_grant).
fn authorization_code(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    let Some(code) = req.form_param("code").filter(|c| !c.is_empty()) else {
        return invalid_request(twin.profile());
    };
    let redirect_uri = req.form_param("redirect_uri").unwrap_or("");
    let verifier = match twin.profile() {
        Profile::Gitlab8_12 => "",
        Profile::Gitlab18_11 => req.form_param("code_verifier").unwrap_or(""),
    };
    // Doorkeeper 5.8 validate_params: a grant with a PKCE challenge needs `code_verifier`.
    let needs_verifier = twin
        .store()
        .grants
        .get(code)
        .is_some_and(|g| !g.code_challenge.is_empty());
    if redirect_uri.is_empty() || (needs_verifier && verifier.is_empty()) {
        return invalid_request(twin.profile());
    }
    let Some(app) = authenticate_client(twin, req) else {
        return invalid_client(twin.profile());
    };
    let mut store = twin.store();
    let Some(grant) = store.grants.get_mut(code) else {
        return invalid_grant(twin.profile());
    };
    let expired = grant.issued_at.elapsed() >= CODE_LIFETIME;
    if grant.used || expired || grant.application_id != app.id {
        return invalid_grant(twin.profile());
    }
    let redirect_ok = match twin.profile() {
        Profile::Gitlab8_12 => grant.redirect_uri == redirect_uri,
        Profile::Gitlab18_11 => {
            redirect_uri_matches(Profile::Gitlab18_11, redirect_uri, &grant.redirect_uri)
        }
    };
    if !redirect_ok || !grant.verifier_matches(verifier) {
        return invalid_grant(twin.profile());
    }
    grant.used = true;
    let (user_id, scopes) = (grant.user_id, grant.scopes.clone());
    issue_token(twin, store, app.id, user_id, scopes)
}

fn refresh_token(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    let Some(refresh) = req.form_param("refresh_token").filter(|c| !c.is_empty()) else {
        return invalid_request(twin.profile());
    };
    let Some(app) = authenticate_client(twin, req) else {
        return invalid_client(twin.profile());
    };
    let mut store = twin.store();
    let Some(old) = store
        .tokens
        .iter_mut()
        .find(|t| t.refresh_token == refresh && t.application_id == app.id && !t.revoked)
    else {
        return invalid_grant(twin.profile());
    };
    old.revoked = true;
    let (user_id, scopes) = (old.user_id, old.scopes.clone());
    issue_token(twin, store, app.id, user_id, scopes)
}

fn password(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    let (Some(login), Some(password)) = (req.form_param("username"), req.form_param("password"))
    else {
        return invalid_request(twin.profile());
    };
    let app_id = match client_credentials(req) {
        Some(_) => match authenticate_client(twin, req) {
            Some(app) => app.id,
            None => return invalid_client(twin.profile()),
        },
        None => 0,
    };
    let store = twin.store();
    let user_id = store
        .user_by_login(login)
        .filter(|u| u.encrypted_password.verify(password))
        .map(|u| u.user.id);
    let Some(user_id) = user_id else {
        return invalid_grant(twin.profile());
    };
    let scope = req
        .form_param("scope")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(DEFAULT_SCOPE)
        .to_string();
    issue_token(twin, store, app_id, user_id, scope)
}

/// Store a fresh access token (with its refresh token) and answer with it.
fn issue_token(
    twin: &GitlabTwin,
    mut store: MutexGuard<'_, GitlabStore>,
    application_id: u64,
    user_id: u64,
    scopes: String,
) -> Response {
    let token = AccessToken {
        token: random_hex(32),
        refresh_token: random_hex(32),
        application_id,
        user_id,
        scopes,
        issued_at: Instant::now(),
        created_at: SystemTime::now(),
        revoked: false,
    };
    store.tokens.push(token.clone());
    drop(store);
    token_response(twin.profile(), &token)
}

fn token_response(profile: Profile, token: &AccessToken) -> Response {
    let created_at = token
        .created_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Doorkeeper 4 (GitLab 8.x) spelled the type in lower case; Doorkeeper 5 capitalises it.
    let token_type = match profile {
        Profile::Gitlab8_12 => "bearer",
        Profile::Gitlab18_11 => "Bearer",
    };
    let mut body = serde_json::json!({
        "access_token": token.token,
        "token_type": token_type,
        "expires_in": TOKEN_LIFETIME.as_secs(),
        "refresh_token": token.refresh_token,
        "scope": token.scopes,
        "created_at": created_at,
    });
    // GitLab 8.12 sets `access_token_expires_in nil` (config/initializers/doorkeeper.rb v8.12.11)
    // and Doorkeeper 4.2's TokenResponse#body drops blank values: no `expires_in`.
    if profile == Profile::Gitlab8_12
        && let Some(m) = body.as_object_mut()
    {
        m.remove("expires_in");
    }
    no_store(json(StatusCode::OK, body))
}

/// Doorkeeper's cache headers on every token endpoint answer.
fn no_store(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}
