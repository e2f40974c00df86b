//! Email verification: the link the welcome mail carries when `RequireEmailVerification` is on,
//! the API the web app posts it to, and the twin's no-JavaScript page for it.
//!
//! - 10.x (server/channels/app/email.go `SendWelcomeEmail`, `CreateVerifyEmailToken`): the link
//!   is `{SiteURL}/do_verify_email?token=T&email=E` with a 64-character token; the web app
//!   (`components/do_verify_email`) posts `{"token": T}` to `POST /api/v4/users/email/verify`
//!   (api4/user.go `verifyUserEmail`: a token not 64 characters long is an invalid body
//!   parameter, an unknown one `api.user.verify_email.bad_link.app_error` 400; success
//!   `{"status":"OK"}`, the token is used up) and then opens `/login?extra=verified&email=E`.
//! - 3.4 (utils/mail.go `SendVerifyEmail`, api/user.go `verifyEmail`): the link is
//!   `{SiteURL}/do_verify_email?uid=U&hid=H&email=E`; the web app posts `{"uid", "hid"}` to
//!   `POST /api/v3/users/verify_email` (a uid not 26 characters or an empty hid is
//!   `api.context.invalid_param.app_error` 400, a wrong hid `bad_link` 400, success an empty
//!   200). The real `hid` is a bcrypt hash of uid + InviteSalt; the twin's is a stored random
//!   token, equally opaque to a client.
//! - `GET /do_verify_email` (both): the twin draws on the server what the web app's script does
//!   in the browser: it verifies and redirects to `/login?extra=verified&email=E`, or shows the
//!   failure.
//! - A log-in of an unverified account while verification is required is refused
//!   (`api.user.login.not_verified.app_error`, 401) — see [`check_verified`].

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::error::AppError;
use super::store::{EmailToken, User, now_millis, random_string};
use super::twin::MattermostTwin;
use crate::config::version::Profile;

type Twin = State<Arc<MattermostTwin>>;

/// `model.TokenSize`.
const TOKEN_SIZE: usize = 64;
/// `model.MaxTokenExpireTime`-style validity of a verification token (10.x: 48 hours).
const TOKEN_VALID_MS: i64 = 48 * 60 * 60 * 1000;

/// The routes: the API of the profile and the page.
pub fn routes(profile: Profile) -> Router<Arc<MattermostTwin>> {
    let api = match profile {
        Profile::Gitlab18_11 => Router::new().route("/api/v4/users/email/verify", post(verify_v4)),
        Profile::Gitlab8_12 => Router::new().route("/api/v3/users/verify_email", post(verify_v3)),
    };
    api.route("/do_verify_email", get(verify_page))
}

/// A new verification link for `user` at `site_url` (the token is stored).
pub(crate) fn verification_link(twin: &MattermostTwin, user: &User, site_url: &str) -> String {
    let token = random_string(TOKEN_SIZE);
    twin.store().email_tokens.insert(
        token.clone(),
        EmailToken {
            user_id: user.id.clone(),
            email: user.email.clone(),
            create_at: now_millis(),
        },
    );
    let email = super::error::go_query_escape(&user.email);
    let site = site_url.trim_end_matches('/');
    match twin.profile {
        Profile::Gitlab18_11 => format!("{site}/do_verify_email?token={token}&email={email}"),
        Profile::Gitlab8_12 => format!(
            "{site}/do_verify_email?uid={}&hid={token}&email={email}",
            user.id
        ),
    }
}

/// Refuse the log-in of an account whose address is not verified while verification is required.
pub(crate) fn check_verified(twin: &MattermostTwin, user: &User) -> Result<(), AppError> {
    if !user.email_verified && twin.settings().email.require_email_verification {
        return Err(AppError::new(
            "api.user.login.not_verified.app_error",
            "Login failed because email address has not been verified",
            401,
        ));
    }
    Ok(())
}

fn bad_link() -> AppError {
    AppError::new(
        "api.user.verify_email.bad_link.app_error",
        "Bad verify email link.",
        400,
    )
}

/// Mark the token's user verified; 10.x uses the token up, 3.4's hash stays valid.
fn verify_token(twin: &MattermostTwin, token: &str, uid: Option<&str>) -> Result<String, AppError> {
    let mut store = twin.store();
    let record = store
        .email_tokens
        .get(token)
        .cloned()
        .ok_or_else(bad_link)?;
    if uid.is_some_and(|u| u != record.user_id) {
        return Err(bad_link());
    }
    if uid.is_none() {
        store.email_tokens.remove(token);
        if now_millis() - record.create_at > TOKEN_VALID_MS {
            return Err(AppError::new(
                "api.user.verify_email.link_expired.app_error",
                "The email verification link has expired.",
                400,
            ));
        }
    }
    let user = store
        .users
        .iter_mut()
        .find(|u| u.id == record.user_id && u.email == record.email)
        .ok_or_else(bad_link)?;
    user.email_verified = true;
    user.update_at = now_millis();
    Ok(record.email)
}

fn body_field(body: &Bytes, key: &str) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get(key)?.as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn verify_v4(State(twin): Twin, body: Bytes) -> Result<Response, AppError> {
    let token = body_field(&body, "token");
    if token.len() != TOKEN_SIZE {
        return Err(super::api4::invalid_body("token"));
    }
    verify_token(&twin, &token, None)?;
    Ok((
        StatusCode::OK,
        axum::Json(serde_json::json!({"status": "OK"})),
    )
        .into_response())
}

fn invalid_param_v3(name: &str) -> AppError {
    AppError::new(
        "api.context.invalid_param.app_error",
        format!("Invalid {name} parameter"),
        400,
    )
}

async fn verify_v3(State(twin): Twin, body: Bytes) -> Result<Response, AppError> {
    let uid = body_field(&body, "uid");
    if uid.len() != 26 {
        return Err(invalid_param_v3("uid"));
    }
    let hid = body_field(&body, "hid");
    if hid.is_empty() {
        return Err(invalid_param_v3("hid"));
    }
    verify_token(&twin, &hid, Some(&uid))?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /do_verify_email`: what the web app's page does, drawn on the server.
async fn verify_page(State(twin): Twin, RawQuery(query): RawQuery) -> Response {
    let q: BTreeMap<String, String> = query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let result = match (q.get("token"), q.get("uid"), q.get("hid")) {
        (Some(token), _, _) if twin.profile == Profile::Gitlab18_11 => {
            verify_token(&twin, token, None)
        }
        (_, Some(uid), Some(hid)) if twin.profile == Profile::Gitlab8_12 => {
            verify_token(&twin, hid, Some(uid))
        }
        _ => Err(bad_link()),
    };
    match result {
        Ok(email) => {
            let target = format!(
                "/login?extra=verified&email={}",
                super::error::go_query_escape(&email)
            );
            super::error::redirect(StatusCode::FOUND, &target)
        }
        Err(e) => {
            let site_name = twin.settings().team.site_name;
            let body = format!(
                "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
                 <title>Email Verification - {}</title>\n</head>\n<body>\n<div id=\"root\">\n\
                 <h1>Email Verification</h1>\n<p class=\"error\" id=\"verify-error\">{}</p>\n\
                 <p><a href=\"/login\">Back to the login page</a></p>\n</div>\n</body>\n</html>\n",
                super::pages::esc(&site_name),
                super::pages::esc(&e.message)
            );
            (e.status_code(), Html(body)).into_response()
        }
    }
}
