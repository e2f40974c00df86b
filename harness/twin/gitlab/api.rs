//! GitLab's REST API as the twin serves it: `/api/v4/user`, `/api/v4/version`, the admin
//! applications API (18.x), and `/api/v3/user` on 8.x.
//!
//! Owns: API authentication (OAuth `Authorization: Bearer`, `PRIVATE-TOKEN` header,
//! `private_token`/`access_token` parameters), Grape's 401/403/404 shapes, scope checks, and the
//! user entity per release.

use std::time::{Instant, SystemTime};

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json as j};

use crate::config::version::Profile;

use super::model::{StoredUser, server_scopes};
use super::request::{GitlabRequest, json};
use super::twin::GitlabTwin;
use super::web::is_absolute_uri;

/// Who a request is, with the scopes of the token used.
struct ApiCaller {
    user: StoredUser,
    scopes: Vec<String>,
}

enum AuthFailure {
    /// No token, or one nobody issued.
    Missing,
    Expired,
    Revoked,
}

fn unauthorized() -> Response {
    json(
        StatusCode::UNAUTHORIZED,
        j!({"message": "401 Unauthorized"}),
    )
}

fn forbidden() -> Response {
    json(StatusCode::FORBIDDEN, j!({"message": "403 Forbidden"}))
}

fn not_found(what: &str) -> Response {
    json(
        StatusCode::NOT_FOUND,
        j!({"message": format!("404 {what}")}),
    )
}

fn route_not_found() -> Response {
    json(StatusCode::NOT_FOUND, j!({"error": "404 Not Found"}))
}

fn bad_request(message: Value) -> Response {
    json(StatusCode::BAD_REQUEST, j!({"message": message}))
}

fn auth_failure_response(f: AuthFailure) -> Response {
    match f {
        AuthFailure::Missing => unauthorized(),
        AuthFailure::Expired => json(
            StatusCode::UNAUTHORIZED,
            j!({"error": "invalid_token",
                "error_description": "Token is expired. You can either do re-authorization or token refresh."}),
        ),
        AuthFailure::Revoked => json(
            StatusCode::UNAUTHORIZED,
            j!({"error": "invalid_token", "error_description": "Token was revoked. You have to re-authorize from the user."}),
        ),
    }
}

fn authenticate(twin: &GitlabTwin, req: &GitlabRequest) -> Result<ApiCaller, AuthFailure> {
    let bearer = req
        .header("authorization")
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string())
        .or_else(|| req.query_param("access_token").map(str::to_string));
    let private = req
        .header("private-token")
        .map(str::to_string)
        .or_else(|| req.query_param("private_token").map(str::to_string));
    let store = twin.store();
    if twin.profile() == Profile::Gitlab8_12
        && let Some(token) = private.as_deref()
        && let Some(user) = store
            .users
            .iter()
            .find(|u| u.private_token.expose() == token)
    {
        // GitLab 8.x: every user's private token has full API access.
        return Ok(ApiCaller {
            user: user.clone(),
            scopes: vec!["api".to_string()],
        });
    }
    if let Some(token) = private.as_deref().or(bearer.as_deref())
        && let Some(pat) = store
            .personal_tokens
            .iter()
            .find(|p| p.token.expose() == token)
    {
        let user = store
            .user(pat.user_id)
            .cloned()
            .ok_or(AuthFailure::Missing)?;
        return Ok(ApiCaller {
            user,
            scopes: pat.scopes.clone(),
        });
    }
    if let Some(token) = bearer.as_deref()
        && let Some(t) = store.tokens.iter().find(|t| t.token == token)
    {
        if t.revoked {
            return Err(AuthFailure::Revoked);
        }
        // GitLab 8.12's tokens never expire (`access_token_expires_in nil`).
        if twin.profile() == Profile::Gitlab18_11 && t.expired(Instant::now()) {
            return Err(AuthFailure::Expired);
        }
        let user = store.user(t.user_id).cloned().ok_or(AuthFailure::Missing)?;
        return Ok(ApiCaller {
            user,
            scopes: t.scopes.split_whitespace().map(str::to_string).collect(),
        });
    }
    Err(AuthFailure::Missing)
}

fn insufficient_scope(needed: &[&str]) -> Response {
    json(
        StatusCode::FORBIDDEN,
        j!({"error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
            "scope": needed.join(" ")}),
    )
}

fn has_scope(caller: &ApiCaller, allowed: &[&str]) -> bool {
    caller.scopes.iter().any(|s| allowed.contains(&s.as_str()))
}

fn rfc3339(t: SystemTime) -> String {
    let odt = time::OffsetDateTime::from(t);
    odt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The current-user entity (`Entities::UserPublic` / `UserWithAdmin` on 18.x).
fn user_v4(twin: &GitlabTwin, u: &StoredUser) -> Value {
    let created = rfc3339(u.created_at);
    let mut v = j!({
        "id": u.user.id,
        "username": u.user.username,
        "public_email": "",
        "name": u.user.name,
        "state": "active",
        "locked": false,
        "avatar_url": format!("https://secure.gravatar.com/avatar/{}?s=80&d=identicon", u.user.id),
        "web_url": twin.url(&format!("/{}", u.user.username)),
        "created_at": created,
        "bio": "",
        "location": "",
        "linkedin": "",
        "twitter": "",
        "discord": "",
        "website_url": "",
        "organization": "",
        "job_title": "",
        "pronouns": null,
        "bot": false,
        "work_information": null,
        "local_time": null,
        "last_sign_in_at": created,
        "confirmed_at": created,
        "last_activity_on": null,
        "email": u.user.email,
        "theme_id": 3,
        "color_scheme_id": 1,
        "projects_limit": 100000,
        "current_sign_in_at": created,
        "identities": [],
        "can_create_group": true,
        "can_create_project": true,
        "two_factor_enabled": false,
        "external": false,
        "private_profile": false,
        "commit_email": u.user.email,
    });
    if u.user.admin
        && let Some(map) = v.as_object_mut()
    {
        map.insert("is_admin".to_string(), Value::Bool(true));
        map.insert("note".to_string(), Value::Null);
    }
    v
}

/// The v3 current-user entity of GitLab 8.12: `present @current_user, with: Entities::UserFull`
/// (gitlab-ce v8.12.11 lib/api/users.rb, `resource :user`). `UserFull` has no `private_token`;
/// only `UserLogin`, which `POST /session` presents, carries it.
fn user_v3(twin: &GitlabTwin, u: &StoredUser) -> Value {
    let created = rfc3339(u.created_at);
    j!({
        "name": u.user.name,
        "username": u.user.username,
        "id": u.user.id,
        "state": "active",
        "avatar_url": format!("http://www.gravatar.com/avatar/{}?s=80&d=identicon", u.user.id),
        "web_url": twin.url(&format!("/u/{}", u.user.username)),
        "created_at": created,
        "is_admin": u.user.admin,
        "bio": null,
        "location": null,
        "skype": "",
        "linkedin": "",
        "twitter": "",
        "website_url": "",
        "last_sign_in_at": created,
        "confirmed_at": created,
        "email": u.user.email,
        "theme_id": 2,
        "color_scheme_id": 1,
        "projects_limit": 10,
        "current_sign_in_at": created,
        "identities": [],
        "can_create_group": true,
        "can_create_project": true,
        "two_factor_enabled": false,
        "external": false,
    })
}

/// `/api/v3/*` on GitLab 8.x.
pub fn v3(twin: &GitlabTwin, req: &GitlabRequest, rest: &[&str]) -> Response {
    match (&req.method, rest) {
        (&Method::GET, ["user"]) => match authenticate(twin, req) {
            Ok(caller) => json(StatusCode::OK, user_v3(twin, &caller.user)),
            Err(f) => auth_failure_response(f),
        },
        _ => route_not_found(),
    }
}

/// `/api/v4/*` on 18.x.
pub fn v4(twin: &GitlabTwin, req: &GitlabRequest, rest: &[&str]) -> Response {
    match (&req.method, rest) {
        (&Method::GET, ["user"]) => match authenticate(twin, req) {
            Ok(caller) if has_scope(&caller, &["api", "read_api", "read_user"]) => {
                json(StatusCode::OK, user_v4(twin, &caller.user))
            }
            Ok(_) => insufficient_scope(&["api", "read_user"]),
            Err(f) => auth_failure_response(f),
        },
        (&Method::GET, ["version"]) => match authenticate(twin, req) {
            Ok(caller) if has_scope(&caller, &["api", "read_api", "read_user"]) => json(
                StatusCode::OK,
                j!({"version": twin.profile().gitlab_version().to_string(),
                    "revision": "6d2a5d9c1e4",
                    "kas": {"enabled": false, "externalUrl": null, "externalK8sProxyUrl": null, "version": null},
                    "enterprise": false}),
            ),
            Ok(_) => insufficient_scope(&["api", "read_api", "read_user"]),
            Err(f) => auth_failure_response(f),
        },
        (_, ["applications", ..]) => applications(twin, req, &rest[1..]),
        _ => route_not_found(),
    }
}

/// `API::Entities::Application` (+ `ApplicationWithSecret`): id, application_id,
/// application_name, callback_url, confidential and `scopes` as an array (`application.scopes.to_a`;
/// newest stored lib/api/entities/application.rb @3919ad72 and the current applications API docs —
/// the 18.11 tag itself could not be read, see docs/twin.md).
fn application_json(app: &super::model::OAuthApplication, with_secret: bool) -> Value {
    let scopes: Vec<&str> = app.scopes.split_whitespace().collect();
    let mut v = j!({
        "id": app.id,
        "application_id": app.uid,
        "application_name": app.name,
        "callback_url": app.callback_url(),
        "confidential": app.confidential,
        "scopes": scopes,
    });
    if with_secret && let Some(map) = v.as_object_mut() {
        map.insert(
            "secret".to_string(),
            Value::String(app.secret.expose().to_string()),
        );
    }
    v
}

/// `/api/v4/applications[...]` (admin only).
fn applications(twin: &GitlabTwin, req: &GitlabRequest, rest: &[&str]) -> Response {
    let caller = match authenticate(twin, req) {
        Ok(c) => c,
        Err(f) => return auth_failure_response(f),
    };
    if !has_scope(&caller, &["api"]) {
        return insufficient_scope(&["api"]);
    }
    if !caller.user.user.admin {
        return forbidden();
    }
    match (&req.method, rest) {
        (&Method::GET, []) => {
            let list: Vec<Value> = twin
                .applications()
                .iter()
                .map(|a| application_json(a, false))
                .collect();
            json(StatusCode::OK, Value::Array(list))
        }
        (&Method::POST, []) => create_application(twin, req),
        (&Method::DELETE, [id]) => match id.parse::<u64>() {
            Ok(id) if twin.delete_application(id) => {
                axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT)
            }
            _ => not_found("Application Not Found"),
        },
        (&Method::POST, [id, "renew-secret"]) => {
            let secret = twin.new_client_secret();
            let renewed = id.parse::<u64>().ok().and_then(|id| {
                let mut store = twin.store();
                let app = store.applications.iter_mut().find(|a| a.id == id)?;
                app.secret = crate::config::model::Secret::new(secret);
                Some(app.clone())
            });
            match renewed {
                Some(app) => json(StatusCode::CREATED, application_json(&app, true)),
                None => not_found("Application Not Found"),
            }
        }
        _ => route_not_found(),
    }
}

fn create_application(twin: &GitlabTwin, req: &GitlabRequest) -> Response {
    if req.malformed_body {
        return json(
            StatusCode::BAD_REQUEST,
            j!({"error": "The provided content-type 'application/json' is not supported or the body is malformed."}),
        );
    }
    let missing: Vec<String> = ["name", "redirect_uri", "scopes"]
        .iter()
        .filter(|k| req.param(k).is_none_or(|v| v.trim().is_empty()))
        .map(|k| format!("{k} is missing"))
        .collect();
    if !missing.is_empty() {
        return json(StatusCode::BAD_REQUEST, j!({"error": missing.join(", ")}));
    }
    let name = req.param("name").unwrap_or("").trim().to_string();
    let redirect_uris: Vec<String> = req
        .param("redirect_uri")
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let scopes = req.param("scopes").unwrap_or("").to_string();
    let confidential = match req.param("confidential") {
        None => true,
        Some(v) => matches!(v, "true" | "1" | "yes" | "t"),
    };
    if redirect_uris.iter().any(|u| !is_absolute_uri(u)) {
        return bad_request(j!({"redirect_uri": ["must be an absolute URI."]}));
    }
    let known = server_scopes(Profile::Gitlab18_11);
    if scopes.split_whitespace().any(|s| !known.contains(&s)) {
        return bad_request(j!({"scopes": ["doesn't match configured on the server."]}));
    }
    let app = twin.register_application(&name, &redirect_uris, &scopes, false, confidential);
    json(StatusCode::CREATED, application_json(&app, true))
}
