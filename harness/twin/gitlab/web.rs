//! The browser-facing part of the GitLab twin: Devise sign-in with `_gitlab_session` and CSRF
//! tokens, Doorkeeper's authorization endpoint (sign-in redirect, consent page, approve/deny,
//! trusted-application redirect, error page) and the admin area's applications pages.
//!
//! Owns: session lifecycle (a new CSRF token and session id after sign-in), the stored return URL,
//! Doorkeeper's pre-authorization checks in Doorkeeper's order, and issuing authorization codes.

use std::time::Instant;

use axum::http::{Method, StatusCode};
use axum::response::Response;

use crate::config::version::Profile;

use super::model::{
    AccessGrant, DEFAULT_SCOPE, OAuthApplication, WebSession, random_hex, server_scopes,
};
use super::pages::{self, AuthorizationFields};
use super::request::{
    GitlabRequest, SESSION_COOKIE, append_query, html, redirect, with_session_cookie,
};
use super::twin::GitlabTwin;

pub const INVALID_CLIENT: &str = "Client authentication failed due to unknown client, no client \
     authentication included, or unsupported authentication method.";
pub const INVALID_REDIRECT_URI: &str = "The redirect URI included is not valid.";
pub const INVALID_REQUEST: &str = "The request is missing a required parameter, includes an \
     unsupported parameter value, or is otherwise malformed.";
pub const UNSUPPORTED_RESPONSE_TYPE: &str =
    "The authorization server does not support this response type.";
pub const INVALID_SCOPE: &str = "The requested scope is invalid, unknown, or malformed.";
/// Doorkeeper 5.8's `invalid_code_challenge_method` (gem config/locales/en.yml, `other:` with the
/// two default methods joined by ", ", lib/doorkeeper/errors.rb); GitLab's locale has no override.
pub const INVALID_CODE_CHALLENGE_METHOD: &str =
    "The code_challenge_method must be one of plain, S256.";
pub const ACCESS_DENIED: &str = "The resource owner or authorization server denied the request.";

/// The browser session of one request: found by cookie, or new.
struct SessionContext {
    id: String,
    session: WebSession,
    /// The response must set the cookie (new or rotated session).
    set_cookie: bool,
}

impl SessionContext {
    /// A new anonymous session under a new id; the response sets its cookie.
    fn fresh() -> SessionContext {
        SessionContext {
            id: random_hex(16),
            session: new_session(),
            set_cookie: true,
        }
    }
}

fn new_session() -> WebSession {
    WebSession {
        user_id: None,
        csrf_token: new_csrf_token(),
        return_to: None,
        fresh_secrets: Vec::new(),
    }
}

fn new_csrf_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn load_session(twin: &GitlabTwin, req: &GitlabRequest) -> SessionContext {
    let store = twin.store();
    if let Some(id) = req.cookie(SESSION_COOKIE)
        && let Some(session) = store.sessions.get(&id)
    {
        return SessionContext {
            id,
            session: session.clone(),
            set_cookie: false,
        };
    }
    SessionContext::fresh()
}

/// Store the session and attach the cookie when needed.
fn finish(twin: &GitlabTwin, ctx: SessionContext, resp: Response) -> Response {
    twin.store().sessions.insert(ctx.id.clone(), ctx.session);
    if ctx.set_cookie {
        with_session_cookie(resp, &ctx.id, twin.is_https())
    } else {
        resp
    }
}

fn csrf_ok(ctx: &SessionContext, req: &GitlabRequest) -> bool {
    let sent = req
        .form_param("authenticity_token")
        .or_else(|| req.header("x-csrf-token"));
    matches!(sent, Some(t) if !ctx.set_cookie && t == ctx.session.csrf_token)
}

fn rejected() -> Response {
    html(StatusCode::UNPROCESSABLE_ENTITY, pages::unprocessable())
}

fn current_username(twin: &GitlabTwin, ctx: &SessionContext) -> Option<String> {
    let id = ctx.session.user_id?;
    twin.store().user(id).map(|u| u.user.username.clone())
}

/// `GET /`: the dashboard, or the sign-in page when signed out.
pub fn root(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    let ctx = load_session(twin, req);
    let resp = match current_username(twin, &ctx) {
        Some(name) => html(
            StatusCode::OK,
            pages::dashboard(&ctx.session.csrf_token, &name),
        ),
        None => redirect(&twin.url("/users/sign_in")),
    };
    finish(twin, ctx, resp)
}

/// `GET /users/sign_in`.
pub fn sign_in_form(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    let ctx = load_session(twin, req);
    if ctx.session.user_id.is_some() {
        // Devise: already signed in → to the root.
        let resp = redirect(&twin.url("/"));
        return finish(twin, ctx, resp);
    }
    let page = pages::sign_in(twin.profile(), &ctx.session.csrf_token, None);
    finish(twin, ctx, html(StatusCode::OK, page))
}

/// `POST /users/sign_in`.
pub fn sign_in(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    let mut ctx = load_session(twin, req);
    if !csrf_ok(&ctx, req) {
        return finish(twin, ctx, rejected());
    }
    let login = req.form_param("user[login]").unwrap_or("");
    let password = req.form_param("user[password]").unwrap_or("");
    let user_id = {
        let store = twin.store();
        store
            .user_by_login(login)
            .filter(|u| u.encrypted_password.verify(password))
            .map(|u| u.user.id)
    };
    let Some(user_id) = user_id else {
        let page = pages::sign_in(
            twin.profile(),
            &ctx.session.csrf_token,
            Some("Invalid login or password."),
        );
        return finish(twin, ctx, html(StatusCode::OK, page));
    };
    // Warden renews the session on sign-in: new id, new CSRF token; the stored location survives.
    let return_to = ctx.session.return_to.take();
    twin.store().sessions.remove(&ctx.id);
    ctx = SessionContext::fresh();
    ctx.session.user_id = Some(user_id);
    let target = return_to
        .map(|path| twin.url(&path))
        .unwrap_or_else(|| twin.url("/"));
    finish(twin, ctx, redirect(&target))
}

/// `DELETE /users/sign_out`.
pub fn sign_out(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    let ctx = load_session(twin, req);
    if !csrf_ok(&ctx, req) {
        return finish(twin, ctx, rejected());
    }
    twin.store().sessions.remove(&ctx.id);
    finish(
        twin,
        SessionContext::fresh(),
        redirect(&twin.url("/users/sign_in")),
    )
}

/// The outcome of Doorkeeper's pre-authorization checks.
enum PreAuth {
    Valid {
        app: Box<OAuthApplication>,
        fields: Box<AuthorizationFields>,
    },
    /// Render the error page with this description.
    ErrorPage(&'static str),
}

fn pre_authorize(twin: &GitlabTwin, req: &GitlabRequest) -> PreAuth {
    let p = |name: &str| req.param(name).unwrap_or("").to_string();
    let mut fields = AuthorizationFields {
        client_id: p("client_id"),
        redirect_uri: p("redirect_uri"),
        state: p("state"),
        response_type: p("response_type"),
        scope: p("scope"),
        nonce: p("nonce"),
        code_challenge: p("code_challenge"),
        code_challenge_method: p("code_challenge_method"),
    };
    let profile = twin.profile();
    let known = server_scopes(profile);
    let scopes_ok = |app: &OAuthApplication, scope: &str| {
        let app_scopes: Vec<&str> = app.scopes.split_whitespace().collect();
        scope
            .split_whitespace()
            .all(|s| known.contains(&s) && (app_scopes.is_empty() || app_scopes.contains(&s)))
    };
    let find_app = || twin.store().application_by_uid(&fields.client_id).cloned();
    // GitLab's controller renders the error page for every pre-authorization error, including
    // the ones Doorkeeper itself could send back to the client. The order of the checks decides
    // which error a request with several faults gets, and it differs between the versions.
    let app = match profile {
        // Doorkeeper 5.8 PreAuthorization (lib/doorkeeper/oauth/pre_authorization.rb v5.8.2):
        // client_id present (InvalidRequest) → client → redirect_uri (blank or not registered:
        // InvalidRedirectUri) → params (blank response_type: InvalidRequest) → response_type →
        // scopes.
        Profile::Gitlab18_11 => {
            if fields.client_id.is_empty() {
                return PreAuth::ErrorPage(INVALID_REQUEST);
            }
            let Some(app) = find_app() else {
                return PreAuth::ErrorPage(INVALID_CLIENT);
            };
            if fields.redirect_uri.is_empty()
                || !app.accepts_redirect_uri(profile, &fields.redirect_uri)
            {
                return PreAuth::ErrorPage(INVALID_REDIRECT_URI);
            }
            if fields.response_type.is_empty() {
                return PreAuth::ErrorPage(INVALID_REQUEST);
            }
            if fields.response_type != "code" {
                return PreAuth::ErrorPage(UNSUPPORTED_RESPONSE_TYPE);
            }
            if fields.scope.trim().is_empty() {
                fields.scope = DEFAULT_SCOPE.to_string();
            }
            if !scopes_ok(&app, &fields.scope) {
                return PreAuth::ErrorPage(INVALID_SCOPE);
            }
            // validate_code_challenge_method: a challenge needs a supported method (Doorkeeper's
            // default `pkce_code_challenge_methods` plain and S256).
            if !fields.code_challenge.is_empty()
                && !matches!(fields.code_challenge_method.as_str(), "plain" | "S256")
            {
                return PreAuth::ErrorPage(INVALID_CODE_CHALLENGE_METHOD);
            }
            app
        }
        // Doorkeeper 4.2 PreAuthorization (v4.2.0): response_type → client → scopes (only when
        // given; blank takes the default) → redirect_uri.
        Profile::Gitlab8_12 => {
            // Doorkeeper 4.2 has no PKCE: the parameters are not read.
            fields.code_challenge.clear();
            fields.code_challenge_method.clear();
            if fields.response_type != "code" {
                return PreAuth::ErrorPage(UNSUPPORTED_RESPONSE_TYPE);
            }
            let Some(app) = find_app() else {
                return PreAuth::ErrorPage(INVALID_CLIENT);
            };
            if fields.scope.trim().is_empty() {
                fields.scope = DEFAULT_SCOPE.to_string();
            } else if !scopes_ok(&app, &fields.scope) {
                return PreAuth::ErrorPage(INVALID_SCOPE);
            }
            if fields.redirect_uri.is_empty()
                || !app.accepts_redirect_uri(profile, &fields.redirect_uri)
            {
                return PreAuth::ErrorPage(INVALID_REDIRECT_URI);
            }
            app
        }
    };
    PreAuth::Valid {
        app: Box::new(app),
        fields: Box::new(fields),
    }
}

fn issue_code(
    twin: &GitlabTwin,
    app: &OAuthApplication,
    user_id: u64,
    f: &AuthorizationFields,
) -> String {
    let code = random_hex(32);
    twin.store().grants.insert(
        code.clone(),
        AccessGrant {
            application_id: app.id,
            user_id,
            redirect_uri: f.redirect_uri.clone(),
            scopes: f.scope.clone(),
            issued_at: Instant::now(),
            used: false,
            code_challenge: f.code_challenge.clone(),
            code_challenge_method: f.code_challenge_method.clone(),
        },
    );
    let mut pairs = vec![("code", code.as_str())];
    if !f.state.is_empty() {
        pairs.push(("state", f.state.as_str()));
    }
    append_query(&f.redirect_uri, &pairs)
}

/// `GET /oauth/authorize`.
pub fn authorize(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    let mut ctx = load_session(twin, req);
    let Some(user_id) = ctx.session.user_id else {
        // Doorkeeper's authenticate_resource_owner! runs first: store the URL, go sign in.
        ctx.session.return_to = Some(req.fullpath());
        let resp = redirect(&twin.url("/users/sign_in"));
        return finish(twin, ctx, resp);
    };
    let resp = match pre_authorize(twin, req) {
        PreAuth::ErrorPage(description) => {
            html(StatusCode::OK, pages::authorization_error(description))
        }
        PreAuth::Valid { app, fields } => {
            let matching = twin
                .store()
                .has_matching_token(app.id, user_id, &fields.scope);
            // Since the Doorkeeper fix for public clients (GitLab 16.x), a matching token skips
            // consent only for confidential applications.
            let approved = app.trusted
                || (matching && (app.confidential || twin.profile() == Profile::Gitlab8_12));
            if approved {
                let callback = issue_code(twin, &app, user_id, &fields);
                match twin.profile() {
                    // Doorkeeper 4 (GitLab 8.x) redirected straight to the client.
                    Profile::Gitlab8_12 => redirect(&callback),
                    Profile::Gitlab18_11 => html(StatusCode::OK, pages::redirect_page(&callback)),
                }
            } else {
                let user = twin.store().user(user_id).map(|u| u.user.clone());
                let (username, name, admin) = user
                    .map(|u| (u.username, u.name, u.admin))
                    .unwrap_or_default();
                html(
                    StatusCode::OK,
                    pages::consent(
                        twin.profile(),
                        &ctx.session.csrf_token,
                        &app,
                        pages::ConsentUser {
                            username: &username,
                            name: &name,
                            admin,
                        },
                        &fields,
                    ),
                )
            }
        }
    };
    finish(twin, ctx, resp)
}

/// `POST /oauth/authorize`: the user approved.
pub fn approve(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    decide(twin, req, true)
}

/// `DELETE /oauth/authorize`: the user denied.
pub fn deny(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    decide(twin, req, false)
}

fn decide(twin: &GitlabTwin, req: &GitlabRequest, approved: bool) -> Response {
    let ctx = load_session(twin, req);
    if !csrf_ok(&ctx, req) {
        return finish(twin, ctx, rejected());
    }
    let Some(user_id) = ctx.session.user_id else {
        let resp = redirect(&twin.url("/users/sign_in"));
        return finish(twin, ctx, resp);
    };
    let resp = match pre_authorize(twin, req) {
        PreAuth::ErrorPage(description) => {
            html(StatusCode::OK, pages::authorization_error(description))
        }
        PreAuth::Valid { app, fields } if approved => {
            redirect(&issue_code(twin, &app, user_id, &fields))
        }
        PreAuth::Valid { fields, .. } => {
            let mut pairs = vec![
                ("error", "access_denied"),
                ("error_description", ACCESS_DENIED),
            ];
            if !fields.state.is_empty() {
                pairs.push(("state", fields.state.as_str()));
            }
            redirect(&append_query(&fields.redirect_uri, &pairs))
        }
    };
    finish(twin, ctx, resp)
}

/// `/admin/applications[/...]`: the admin area's OAuth applications (both profiles).
pub fn admin_applications(twin: &GitlabTwin, req: &GitlabRequest, rest: &[&str]) -> Response {
    let mut ctx = load_session(twin, req);
    let Some(user_id) = ctx.session.user_id else {
        ctx.session.return_to = Some(req.fullpath());
        let resp = redirect(&twin.url("/users/sign_in"));
        return finish(twin, ctx, resp);
    };
    let is_admin = twin.store().user(user_id).is_some_and(|u| u.user.admin);
    if !is_admin {
        return finish(twin, ctx, html(StatusCode::NOT_FOUND, pages::not_found()));
    }
    if req.method != Method::GET && !csrf_ok(&ctx, req) {
        return finish(twin, ctx, rejected());
    }
    let csrf = ctx.session.csrf_token.clone();
    let resp = match (&req.method, rest) {
        (&Method::GET, []) => html(
            StatusCode::OK,
            pages::admin_applications(&csrf, &twin.applications()),
        ),
        (&Method::GET, ["new"]) => html(
            StatusCode::OK,
            pages::admin_application_form(twin.profile(), &csrf, &[], "", ""),
        ),
        (&Method::POST, []) => create_application(twin, req, &mut ctx),
        (&Method::GET, [id]) => match id
            .parse::<u64>()
            .ok()
            .and_then(|id| twin.store().application(id).cloned())
        {
            Some(app) => {
                let fresh = ctx.session.fresh_secrets.contains(&app.id);
                ctx.session.fresh_secrets.retain(|i| *i != app.id);
                // GitLab 8.x always showed the secret; recent releases show it once.
                let show = fresh || twin.profile() == Profile::Gitlab8_12;
                html(
                    StatusCode::OK,
                    pages::admin_application(twin.profile(), &csrf, &app, show),
                )
            }
            None => html(StatusCode::NOT_FOUND, pages::not_found()),
        },
        (&Method::DELETE, [id]) => {
            let deleted = id
                .parse::<u64>()
                .map(|id| twin.delete_application(id))
                .unwrap_or(false);
            if deleted {
                redirect(&twin.url("/admin/applications"))
            } else {
                html(StatusCode::NOT_FOUND, pages::not_found())
            }
        }
        (&Method::POST, [id, "renew"]) if twin.profile() == Profile::Gitlab18_11 => {
            let renewed = id.parse::<u64>().ok().and_then(|id| {
                let secret = twin.new_client_secret();
                let mut store = twin.store();
                let app = store.applications.iter_mut().find(|a| a.id == id)?;
                app.secret = crate::config::model::Secret::new(secret);
                Some(id)
            });
            match renewed {
                Some(id) => {
                    ctx.session.fresh_secrets.push(id);
                    redirect(&twin.url(&format!("/admin/applications/{id}")))
                }
                None => html(StatusCode::NOT_FOUND, pages::not_found()),
            }
        }
        _ => html(StatusCode::NOT_FOUND, pages::not_found()),
    };
    finish(twin, ctx, resp)
}

fn create_application(
    twin: &GitlabTwin,
    req: &GitlabRequest,
    ctx: &mut SessionContext,
) -> Response {
    let name = req
        .form_param("doorkeeper_application[name]")
        .unwrap_or("")
        .trim();
    let redirect_text = req
        .form_param("doorkeeper_application[redirect_uri]")
        .unwrap_or("");
    let mut scopes: Vec<&str> = req
        .form
        .iter()
        .filter(|(k, _)| k == "doorkeeper_application[scopes][]")
        .map(|(_, v)| v.as_str())
        .collect();
    if let Some(s) = req.form_param("doorkeeper_application[scopes]") {
        scopes.extend(s.split_whitespace());
    }
    let flag = |key: &str, default: bool| match req
        .form
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
    {
        Some("1") | Some("true") => true,
        Some(_) => false,
        None => default,
    };
    // GitLab 8.12 `Admin::ApplicationsController#application_params` permits only name and
    // redirect_uri (app/controllers/admin/applications_controller.rb v8.12.11): scopes, trusted
    // and confidential sent anyway are dropped.
    if twin.profile() == Profile::Gitlab8_12 {
        scopes.clear();
    }
    let current = twin.profile() == Profile::Gitlab18_11;
    let trusted = current && flag("doorkeeper_application[trusted]", false);
    let confidential = !current || flag("doorkeeper_application[confidential]", true);
    let redirect_uris: Vec<String> = redirect_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push("Name can't be blank".to_string());
    }
    if redirect_uris.is_empty() {
        errors.push("Redirect URI can't be blank".to_string());
    } else if redirect_uris.iter().any(|u| !is_absolute_uri(u)) {
        errors.push("Redirect URI must be an absolute URI.".to_string());
    }
    let known = server_scopes(twin.profile());
    if scopes.iter().any(|s| !known.contains(s)) {
        errors.push("Scopes doesn't match configured on the server.".to_string());
    } else if scopes.is_empty() && twin.profile() == Profile::Gitlab18_11 {
        errors.push("Scopes can't be blank".to_string());
    }
    if !errors.is_empty() {
        return html(
            StatusCode::OK,
            pages::admin_application_form(
                twin.profile(),
                &ctx.session.csrf_token,
                &errors,
                name,
                redirect_text,
            ),
        );
    }
    let app = twin.register_application(
        name,
        &redirect_uris,
        &scopes.join(" "),
        trusted,
        confidential,
    );
    ctx.session.fresh_secrets.push(app.id);
    redirect(&twin.url(&format!("/admin/applications/{}", app.id)))
}

/// Doorkeeper's redirect URI validation: absolute, no fragment.
pub fn is_absolute_uri(uri: &str) -> bool {
    match url::Url::parse(uri) {
        Ok(u) => u.fragment().is_none() && (u.has_host() || u.scheme() == "urn"),
        Err(_) => false,
    }
}
