//! The pages a person meets when opening the twin's Mattermost in a browser, without JavaScript.
//!
//! Real Mattermost serves a single-page web app for every non-API path and draws these pages in
//! the browser; the twin draws the same entry points on the server, so `twin up` can be used by
//! hand and a real browser can be tested against it:
//! - `GET /login`: the login page (10.x `components/login/login.tsx`, 3.4
//!   `webapp/components/login/login_controller.jsx`): the GitLab button when GitLab SSO is on,
//!   linking to the real entry route (`/oauth/gitlab/login` on 10.x, `/api/v3/oauth/gitlab/login`
//!   on 3.4, with the page's query string), and a sign-in form when sign-in by email or username
//!   is on.
//! - `POST /login`: the twin's stand-in for what the web app's script does with that form (it
//!   posts JSON to `/api/v4/users/login` or `/api/v3/users/login`): the same credential checks as
//!   the API ([`super::api4::authenticate`]), the same session cookies, then 302 to the site (or a
//!   `/`-relative `redirect_to`). The real server has no such route; it exists so the form works
//!   without JavaScript.
//! - `GET /signup_user_complete`: the sign-up page with the GitLab sign-up button
//!   (`/oauth/gitlab/signup`, 3.4 `/api/v3/oauth/gitlab/signup`) and, when email sign-up is on
//!   (`EnableSignUpWithEmail` and `EnableUserCreation`), the email form (10.x
//!   `components/signup/signup.tsx`: email, username, password).
//! - `POST /signup_user_complete`: the twin's stand-in for the script that posts that form to
//!   `POST /api/v4/users` (3.4 `/api/v3/users/create`): the same checks
//!   ([`super::api4::check_email_sign_up_allowed`], [`super::api4::insert_email_user`]) and
//!   the same welcome mail; then, with `RequireEmailVerification`, 302 to
//!   `/should_verify_email?email=` (the web app's "check your inbox" page), else signed in and
//!   302 to `/`.
//! - `GET /login?extra=verified&email=`: where the verification link ends (see
//!   [`super::verify`]): the "Email Verified" notice and the address filled in.
//! - `GET /error`: the error page (10.x `components/error_page/*`: the `type`-specific title and
//!   text, `title`/`message`/`service` trusted only when the `s=` signature verifies; 3.4
//!   `webapp/components/error_page.jsx`: `title`, `message`, `link`, `linkmessage` as given).
//! - `GET /`: who is signed in, or the login page.
//!
//! Owns: markup only, every value HTML-escaped here.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::twin::{MattermostTwin, protocol};
use crate::config::version::Profile;

type Twin = State<Arc<MattermostTwin>>;

/// The page routes (both profiles).
pub fn routes() -> Router<Arc<MattermostTwin>> {
    Router::new()
        .route("/", get(root))
        .route("/login", get(login_page).post(login_form))
        .route("/signup_user_complete", get(signup_page).post(signup_form))
        .route("/should_verify_email", get(should_verify_page))
        .route("/error", get(error_page))
}

/// HTML-escape text for element content and quoted attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(site_name: &str, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{} - {}</title>\n</head>\n<body>\n<div id=\"root\">\n{body}\n</div>\n</body>\n</html>\n",
        esc(title),
        esc(site_name)
    )
}

fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (status, Html(body)).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, max-age=31556926, public"),
    );
    resp
}

/// The query string as the web app appends it to the SSO links (`location.search`).
fn search(query: &Option<String>) -> String {
    match query.as_deref() {
        Some(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    }
}

fn query_map(query: &Option<String>) -> BTreeMap<String, String> {
    query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// The login page, with an error line when a sign-in just failed.
fn login_html(twin: &MattermostTwin, query: &Option<String>, error: Option<&str>) -> String {
    let settings = twin.settings();
    let v3 = twin.profile == Profile::Gitlab8_12;
    let by_email = settings.email.enable_sign_in_with_email;
    let by_username = settings.email.enable_sign_in_with_username;
    let gitlab = settings.gitlab.enable;
    let mut body = format!("<h1>{}</h1>\n", esc(&settings.team.site_name));
    if let Some(e) = error {
        body.push_str(&format!(
            "<div class=\"form-group has-error\"><p class=\"error\" id=\"login-error\">{}</p></div>\n",
            esc(e)
        ));
    }
    let params = query_map(query);
    if params.get("extra").map(String::as_str) == Some("verified") {
        // 10.x login.tsx `login.verified` / 3.4 login_controller `verified`.
        body.push_str(
            "<div class=\"alert alert-success\" id=\"login-verified\">Email Verified</div>\n",
        );
    }
    let prefill = params.get("email").cloned().unwrap_or_default();
    if by_email || by_username {
        // 3.4 createLoginPlaceholder / 10.x: "Email or Username", "Email", "Username".
        let placeholder = match (by_email, by_username) {
            (true, true) => "Email or Username",
            (true, false) => "Email",
            (false, true) => "Username",
            (false, false) => "",
        };
        let redirect_to = query_map(query).remove("redirect_to").unwrap_or_default();
        let button = if v3 { "Sign in" } else { "Log in" };
        body.push_str(&format!(
            "<form id=\"login-form\" action=\"/login\" method=\"post\" accept-charset=\"UTF-8\">\n\
             <input type=\"hidden\" name=\"redirect_to\" value=\"{}\">\n\
             <label for=\"input_loginId\">{placeholder}</label>\n\
             <input id=\"input_loginId\" class=\"form-control\" type=\"text\" name=\"login_id\" placeholder=\"{placeholder}\" \
             value=\"{}\" autocomplete=\"username\" spellcheck=\"false\" autocapitalize=\"off\">\n\
             <label for=\"input_password-input\">Password</label>\n\
             <input id=\"input_password-input\" class=\"form-control\" type=\"password\" name=\"password\" \
             placeholder=\"Password\" autocomplete=\"current-password\">\n\
             <button id=\"saveSetting\" type=\"submit\" class=\"btn btn-primary\">{button}</button>\n</form>\n",
            esc(&redirect_to),
            esc(&prefill)
        ));
    }
    if gitlab {
        let (href, intro) = if v3 {
            ("/api/v3/oauth/gitlab/login", "Sign in with:")
        } else {
            ("/oauth/gitlab/login", "Or log in with")
        };
        if by_email || by_username {
            body.push_str(&format!("<p class=\"or-text\">{intro}</p>\n"));
        }
        body.push_str(&format!(
            "<a id=\"gitlab\" class=\"btn btn-custom-login gitlab\" href=\"{}\"><span>GitLab</span></a>\n",
            esc(&format!("{href}{}", search(query)))
        ));
    }
    if !(by_email || by_username || gitlab) {
        body.push_str(
            "<p>No sign-in methods are enabled. Please contact your System Administrator.</p>\n",
        );
    }
    if settings.team.enable_user_creation {
        body.push_str(&format!(
            "<p class=\"signup\">Don't have an account? <a id=\"signup\" href=\"{}\">Create one now</a></p>\n",
            esc(&format!("/signup_user_complete{}", search(query)))
        ));
    }
    page(&settings.team.site_name, "Log in", &body)
}

async fn login_page(State(twin): Twin, RawQuery(query): RawQuery) -> Response {
    html(StatusCode::OK, login_html(&twin, &query, None))
}

/// `POST /login`: the form of the login page (the twin's own route, see the module docs).
async fn login_form(State(twin): Twin, headers: HeaderMap, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let login_id = field("login_id");
    let user = super::api4::authenticate(&twin, login_id.trim(), &field("password"));
    let user = match user {
        Ok(u) => u,
        Err(e) => {
            let query = Some(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("redirect_to", &field("redirect_to"))
                    .finish(),
            );
            let status = e.status_code();
            return html(status, login_html(&twin, &query, Some(&e.message)));
        }
    };
    let session = twin.store().create_session(&user.id);
    let redirect_to = field("redirect_to");
    let target = if redirect_to.starts_with('/') && !redirect_to.starts_with("//") {
        redirect_to
    } else {
        "/".to_string()
    };
    let mut resp = super::error::redirect(StatusCode::FOUND, &target);
    attach_cookies(&twin, &mut resp, &session, protocol(&headers) == "https");
    resp
}

/// The email sign-up form (with an error line after a refused attempt).
fn signup_form_html(query: &Option<String>, error: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(e) = error {
        out.push_str(&format!(
            "<div class=\"form-group has-error\"><p class=\"error\" id=\"signup-error\">{}</p></div>\n",
            esc(e)
        ));
    }
    out.push_str(&format!(
        "<form id=\"signup-form\" action=\"{}\" method=\"post\" accept-charset=\"UTF-8\">\n\
         <label for=\"input_email\">What's your email address?</label>\n\
         <input id=\"input_email\" class=\"form-control\" type=\"email\" name=\"email\" autocomplete=\"email\">\n\
         <label for=\"input_name\">Choose a Username</label>\n\
         <input id=\"input_name\" class=\"form-control\" type=\"text\" name=\"username\" autocomplete=\"username\" spellcheck=\"false\" autocapitalize=\"off\">\n\
         <label for=\"input_password-input\">Choose a Password</label>\n\
         <input id=\"input_password-input\" class=\"form-control\" type=\"password\" name=\"password\" autocomplete=\"new-password\">\n\
         <button id=\"saveSetting\" type=\"submit\" class=\"btn btn-primary\">Create Account</button>\n</form>\n",
        esc(&format!("/signup_user_complete{}", search(query)))
    ));
    out
}

/// `POST /signup_user_complete`: the email form (the twin's own route, see the module docs).
async fn signup_form(
    State(twin): Twin,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut props = serde_json::Map::new();
    for k in ["email", "username", "password"] {
        props.insert(
            k.to_string(),
            serde_json::Value::String(form.get(k).cloned().unwrap_or_default().trim().to_string()),
        );
    }
    let created = super::api4::check_email_sign_up_allowed(&twin)
        .and_then(|()| super::api4::check_open_server(&twin))
        .and_then(|()| super::api4::insert_email_user(&twin, &props));
    let user = match created {
        Ok(u) => u,
        Err(e) => {
            let site_name = twin.settings().team.site_name;
            let body = format!(
                "<h1>{}</h1>\n{}",
                esc(&site_name),
                signup_form_html(&query, Some(&e.message))
            );
            return html(e.status_code(), page(&site_name, "Sign up", &body));
        }
    };
    super::email::send_welcome_email(&twin, &user, &headers);
    if twin.settings().email.require_email_verification {
        let target = format!(
            "/should_verify_email?email={}",
            super::error::go_query_escape(&user.email)
        );
        return super::error::redirect(StatusCode::FOUND, &target);
    }
    let session = twin.store().create_session(&user.id);
    let mut resp = super::error::redirect(StatusCode::FOUND, "/");
    attach_cookies(&twin, &mut resp, &session, protocol(&headers) == "https");
    resp
}

/// The session cookies of a page sign-in, per profile.
fn attach_cookies(
    twin: &MattermostTwin,
    resp: &mut Response,
    session: &super::store::Session,
    secure: bool,
) {
    match twin.profile {
        Profile::Gitlab18_11 => {
            super::api4::attach_session_cookies(resp.headers_mut(), session, secure)
        }
        Profile::Gitlab8_12 => {
            let cookie = super::sso::session_cookie_v3(&session.token, secure);
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
    }
}

/// `GET /should_verify_email?email=`: 10.x `components/should_verify_email` ("You're almost
/// done!"), 3.4 `should_verify_email.jsx`.
async fn should_verify_page(State(twin): Twin, RawQuery(query): RawQuery) -> Response {
    let email = query_map(&query).remove("email").unwrap_or_default();
    let site_name = twin.settings().team.site_name;
    let body = format!(
        "<h1>{}</h1>\n<h3>You're almost done!</h3>\n<p id=\"should-verify\">Please verify your email \
         address. Check your inbox for an email (<span id=\"verify-email\">{}</span>).</p>\n\
         <p><a id=\"login\" href=\"/login\">Back to the login page</a></p>\n",
        esc(&site_name),
        esc(&email)
    );
    html(
        StatusCode::OK,
        page(&site_name, "Email Verification", &body),
    )
}

async fn signup_page(State(twin): Twin, RawQuery(query): RawQuery) -> Response {
    let settings = twin.settings();
    let v3 = twin.profile == Profile::Gitlab8_12;
    let mut body = format!("<h1>{}</h1>\n", esc(&settings.team.site_name));
    // 10.x shows the GitLab option when EnableUserCreation and GitLab SSO are on; 3.4 on
    // EnableSignUpWithGitLab alone (its server refuses later when creation is off).
    let gitlab = settings.gitlab.enable && (v3 || settings.team.enable_user_creation);
    if gitlab {
        let (href, label, intro) = if v3 {
            (
                "/api/v3/oauth/gitlab/signup",
                "GitLab Single-Sign-On",
                "Create an account with:",
            )
        } else {
            (
                "/oauth/gitlab/signup",
                "GitLab",
                "Create your account with one of the following:",
            )
        };
        body.push_str(&format!(
            "<p>{intro}</p>\n<a id=\"gitlab\" class=\"btn btn-custom-login gitlab\" href=\"{}\"><span>{label}</span></a>\n",
            esc(&format!("{href}{}", search(&query)))
        ));
    }
    let by_email = settings.email.enable_sign_up_with_email && settings.team.enable_user_creation;
    if by_email {
        body.push_str(&signup_form_html(&query, None));
    }
    if !gitlab && !by_email {
        body.push_str(
            "<p>No user creation method has been enabled. Please contact an administrator for access.</p>\n",
        );
    }
    body.push_str(&format!(
        "<p>Already have an account? <a id=\"login\" href=\"{}\">Click here to sign in.</a></p>\n",
        esc(&format!("/login{}", search(&query)))
    ));
    html(
        StatusCode::OK,
        page(&settings.team.site_name, "Sign up", &body),
    )
}

/// What the error page shows.
struct ErrorView {
    title: String,
    paragraphs: Vec<String>,
    link: Option<(String, String)>,
}

/// 10.x `ErrorPage`, `ErrorTitle`, `ErrorMessage` (webapp/channels/src/components/error_page/,
/// newest stored copies).
fn error_view_v4(twin: &MattermostTwin, raw_query: &str) -> ErrorView {
    let site_name = twin.settings().team.site_name;
    let params = query_map(&Some(raw_query.to_string()));
    // The server signs "/error?" + the query before `&s=`.
    let trusted = match raw_query.rsplit_once("&s=") {
        Some((unsigned, sig)) => twin
            .signer
            .as_ref()
            .is_some_and(|s| s.verify(format!("/error?{unsigned}").as_bytes(), sig)),
        None => false,
    };
    let get = |k: &str| {
        if trusted {
            params.get(k).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let service = get("service");
    let back_to_login = Some(("/".to_string(), "Back to Login Page".to_string()));
    let back_to_site = Some(("/".to_string(), format!("Back to {site_name}")));
    match params.get("type").map(String::as_str) {
        Some("oauth_access_denied") => ErrorView {
            title: "Authorization Error".into(),
            paragraphs: vec![format!(
                "You must authorize Mattermost to log in with {service}."
            )],
            link: back_to_login,
        },
        Some("oauth_missing_code") => ErrorView {
            title: "Mattermost Needs Your Help".into(),
            paragraphs: vec![
                format!(
                    "The service provider {service} did not provide an authorization code in the redirect URL."
                ),
                "For GitLab please make sure you followed the setup instructions.".into(),
            ],
            link: back_to_login,
        },
        Some("oauth_invalid_param" | "oauth_invalid_redirect_url") => ErrorView {
            title: "OAuth Parameter Error".into(),
            paragraphs: vec![get("message")],
            link: None,
        },
        Some(_) => ErrorView {
            title: "Page Not Found".into(),
            paragraphs: vec!["The page you were trying to reach does not exist".into()],
            link: back_to_site,
        },
        None => {
            let title = get("title");
            let message = get("message");
            ErrorView {
                title: if title.is_empty() {
                    "Error".into()
                } else {
                    title
                },
                paragraphs: vec![if message.is_empty() {
                    "An error has occurred.".into()
                } else {
                    message
                }],
                link: back_to_site,
            }
        }
    }
}

/// 3.4 `ErrorPage`: title (default "Error"), message (default "An error has occoured.", sic),
/// link (default `/`) and its text (default "Back to Mattermost"); `details` is not shown.
fn error_view_v3(raw_query: &str) -> ErrorView {
    let params = query_map(&Some(raw_query.to_string()));
    let non_empty = |k: &str, default: &str| {
        params
            .get(k)
            .filter(|v| !v.is_empty())
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    // The web app's Link accepts any target; the twin keeps links on the site.
    let mut link = non_empty("link", "/");
    if !link.starts_with('/') || link.starts_with("//") {
        link = "/".into();
    }
    ErrorView {
        title: non_empty("title", "Error"),
        paragraphs: non_empty("message", "An error has occoured.")
            .split("\n\n")
            .map(str::to_string)
            .collect(),
        link: Some((link, non_empty("linkmessage", "Back to Mattermost"))),
    }
}

async fn error_page(State(twin): Twin, RawQuery(query): RawQuery) -> Response {
    let raw = query.unwrap_or_default();
    let view = match twin.profile {
        Profile::Gitlab18_11 => error_view_v4(&twin, &raw),
        Profile::Gitlab8_12 => error_view_v3(&raw),
    };
    let paragraphs: String = view
        .paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>\n", esc(p)))
        .collect();
    let link = view
        .link
        .map(|(href, text)| {
            format!(
                "<a id=\"error-link\" href=\"{}\">{}</a>\n",
                esc(&href),
                esc(&text)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<div class=\"error__container\">\n<h2 data-testid=\"errorMessageTitle\">{}</h2>\n\
         <div id=\"error-message\">\n{paragraphs}</div>\n{link}</div>",
        esc(&view.title)
    );
    html(
        StatusCode::OK,
        page(&twin.settings().team.site_name, &view.title, &body),
    )
}

/// `GET /`: who is signed in (by the session cookie), else the login page.
async fn root(State(twin): Twin, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let Ok((_, user)) = twin.session(&Method::GET, &headers, None) else {
        return html(StatusCode::OK, login_html(&twin, &query, None));
    };
    let site_name = twin.settings().team.site_name;
    let body = format!(
        "<h1>{}</h1>\n<p id=\"signed-in\">Signed in as <strong id=\"username\">@{}</strong> \
         (<span id=\"email\">{}</span>{}).</p>\n",
        esc(&site_name),
        esc(&user.username),
        esc(&user.email),
        if user.auth_service.is_empty() {
            String::new()
        } else {
            format!(
                ", signed in with <span id=\"auth-service\">{}</span>",
                esc(&user.auth_service)
            )
        }
    );
    html(StatusCode::OK, page(&site_name, "Signed in", &body))
}
