//! The twin's GitLab side tested from the outside with a plain HTTP client (reqwest + scraper),
//! written from shared/wire/gitlab.md: sign-in, Doorkeeper authorize/consent/token, API v4/v3,
//! the applications API and admin pages, omnibus auto-registration, per profile.

use crate::support::*;
use mm_harness::config::model::HostSettings;
use mm_harness::config::version::Profile;
use mm_harness::twin::bringup::{Twin, TwinHandle, TwinOptions};
use mm_harness::twin::gitlab::OAuthApplication;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const GITLAB: &str = "http://gitlab.example.com";
const MM: &str = "http://mattermost.example.com";
const SIGNUP_CB: &str = "http://mattermost.example.com/signup/gitlab/complete";

/// How an API request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Anonymous,
    Bearer(&'a str),
    PrivateToken(&'a str),
}

/// A plain HTTP client for the twin's GitLab API.
struct Api(reqwest::Client);

impl Api {
    fn new(handle: &TwinHandle) -> Api {
        Api(client_for(handle.address_book(), "http", None, None, false))
    }

    fn request(&self, method: Method, path: &str, auth: Auth<'_>) -> reqwest::RequestBuilder {
        let req = self.0.request(method, format!("{GITLAB}{path}"));
        match auth {
            Auth::Anonymous => req,
            Auth::Bearer(token) => req.bearer_auth(token),
            Auth::PrivateToken(token) => req.header("PRIVATE-TOKEN", token),
        }
    }

    async fn send(&self, method: Method, path: &str, auth: Auth<'_>) -> reqwest::Response {
        self.request(method, path, auth).send().await.unwrap()
    }

    async fn post_form(
        &self,
        path: &str,
        auth: Auth<'_>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let req = self.request(Method::POST, path, auth).form(form);
        req.send().await.unwrap()
    }

    async fn get(&self, path: &str, auth: Auth<'_>) -> reqwest::Response {
        self.send(Method::GET, path, auth).await
    }
}

async fn start(profile: Profile) -> TwinHandle {
    Twin::start(TwinOptions::single_server(profile))
        .await
        .unwrap()
}

/// A twin of `profile`, the application omnibus registered, and a fresh browser.
async fn start_with_app(profile: Profile) -> (TwinHandle, OAuthApplication, Browser) {
    let h = start(profile).await;
    let app = app(&h);
    let b = Browser::new(h.address_book(), None);
    (h, app, b)
}

fn app(handle: &TwinHandle) -> OAuthApplication {
    handle
        .mattermost_plan()
        .and_then(|p| p.registered_application.clone())
        .expect("omnibus registered GitLab Mattermost")
}

fn authorize_url(app: &OAuthApplication, redirect_uri: &str, state: &str) -> String {
    crate::support::authorize_url(GITLAB, &app.uid, redirect_uri, state)
}

/// Signed in as alice, consent page for the app; returns the page HTML.
async fn consent_page(b: &Browser, app: &OAuthApplication, state: &str) -> String {
    let resp = b.sign_in(GITLAB, "alice", "Twin-alice-pass1").await;
    assert_status(&resp, StatusCode::FOUND);
    let resp = b.get(&authorize_url(app, SIGNUP_CB, state)).await;
    assert_status(&resp, StatusCode::OK);
    resp.text().await.unwrap()
}

/// Approve the consent page; returns the callback URL GitLab redirected to.
async fn approve(b: &Browser, page: &str) -> String {
    let resp = b.approve_consent(GITLAB, page).await;
    assert_status(&resp, StatusCode::FOUND);
    location(&resp)
}

async fn exchange(
    handle: &TwinHandle,
    fields: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let c = Api::new(handle);
    let mut req = c
        .request(Method::POST, "/oauth/token", Auth::Anonymous)
        .form(fields);
    if let Some((u, p)) = basic {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

/// Exchange `code` for a token as the registered Mattermost does: the sign-up callback, with
/// `client_id`/`client_secret` in the body.
async fn exchange_code(
    handle: &TwinHandle,
    app: &OAuthApplication,
    code: &str,
) -> (StatusCode, Value) {
    exchange(
        handle,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", SIGNUP_CB),
            ("client_id", &app.uid),
            ("client_secret", app.secret.expose()),
        ],
        None,
    )
    .await
}

/// Exchange `refresh` for a new token with the application's credentials in the body.
async fn exchange_refresh(
    handle: &TwinHandle,
    app: &OAuthApplication,
    refresh: &str,
) -> (StatusCode, Value) {
    exchange(
        handle,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &app.uid),
            ("client_secret", app.secret.expose()),
        ],
        None,
    )
    .await
}

/// A token endpoint answer is Doorkeeper's error JSON `error` with `status`.
fn assert_oauth_error((got, body): (StatusCode, Value), status: StatusCode, error: &str) {
    assert_eq!(
        (got, body["error"].as_str()),
        (status, Some(error)),
        "{body}"
    );
}

async fn code_for(b: &Browser, app: &OAuthApplication) -> String {
    let page = consent_page(b, app, "st").await;
    let cb = approve(b, &page).await;
    field(&query(&cb), "code").unwrap().to_string()
}

#[tokio::test]
async fn sign_in_form_has_session_cookie_and_csrf_token() {
    let h = start(Profile::Gitlab18_11).await;
    let b = Browser::new(h.address_book(), None);
    let resp = b.get(&format!("{GITLAB}/users/sign_in")).await;
    assert_status(&resp, StatusCode::OK);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("_gitlab_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"));
    let page = resp.text().await.unwrap();
    let fields = form_fields(&page, "form[action='/users/sign_in']");
    let token = field(&fields, "authenticity_token").unwrap();
    assert!(!token.is_empty());
    assert_eq!(
        attr_of(&page, "meta[name=csrf-token]", "content").as_deref(),
        Some(token)
    );
    assert!(field(&fields, "user[login]").is_some());
    assert!(field(&fields, "user[password]").is_some());
    assert_eq!(field(&fields, "user[remember_me]"), Some("0"));
}

#[tokio::test]
async fn wrong_password_shows_invalid_login_or_password() {
    let h = start(Profile::Gitlab18_11).await;
    let b = Browser::new(h.address_book(), None);
    let resp = b.sign_in(GITLAB, "alice", "not-her-password").await;
    assert_status(&resp, StatusCode::OK);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Invalid login or password."), "{page}");
    let resp = b.sign_in(GITLAB, "nobody", "x").await;
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Invalid login or password.")
    );
}

#[tokio::test]
async fn sign_in_without_authenticity_token_is_rejected() {
    let h = start(Profile::Gitlab18_11).await;
    let b = Browser::new(h.address_book(), None);
    let _ = b.get(&format!("{GITLAB}/users/sign_in")).await;
    let fields = vec![
        ("user[login]".to_string(), "alice".to_string()),
        ("user[password]".to_string(), "Twin-alice-pass1".to_string()),
        ("authenticity_token".to_string(), "forged".to_string()),
    ];
    let resp = b
        .post_form(&format!("{GITLAB}/users/sign_in"), &fields)
        .await;
    assert_status(&resp, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn sign_in_by_email_renews_session_and_csrf_token() {
    let h = start(Profile::Gitlab18_11).await;
    let b = Browser::new(h.address_book(), None);
    let before = b.get(&format!("{GITLAB}/users/sign_in")).await;
    let old_cookie = before.headers()["set-cookie"].to_str().unwrap().to_string();
    let old_token = field(
        &form_fields(&before.text().await.unwrap(), "form#new_user"),
        "authenticity_token",
    )
    .unwrap()
    .to_string();
    let resp = b
        .sign_in(GITLAB, "ALICE@example.com", "Twin-alice-pass1")
        .await;
    assert_status(&resp, StatusCode::FOUND);
    assert_eq!(location(&resp), format!("{GITLAB}/"));
    let new_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert_ne!(old_cookie, new_cookie, "session id is renewed on sign-in");
    let dash = b.page(&format!("{GITLAB}/")).await;
    assert!(dash.contains("data-username=\"alice\""), "{dash}");
    let new_token = attr_of(&dash, "meta[name=csrf-token]", "content").unwrap();
    assert_ne!(old_token, new_token);
}

#[tokio::test]
async fn authorize_signed_out_goes_to_sign_in_and_comes_back() {
    let (_h, app, b) = start_with_app(Profile::Gitlab18_11).await;
    let url = authorize_url(&app, SIGNUP_CB, "xyz");
    let resp = b.get(&url).await;
    assert_status(&resp, StatusCode::FOUND);
    assert_eq!(location(&resp), format!("{GITLAB}/users/sign_in"));
    let resp = b.sign_in(GITLAB, "alice", "Twin-alice-pass1").await;
    assert_status(&resp, StatusCode::FOUND);
    assert_eq!(location(&resp), url, "stored return URL");
}

#[tokio::test]
async fn consent_page_carries_doorkeeper_fields_on_18() {
    let (_h, app, b) = start_with_app(Profile::Gitlab18_11).await;
    let page = consent_page(&b, &app, "s1").await;
    // M11: the newest stored new.html.haml (@36408c40): heading, approve form first.
    assert!(
        page.contains(
            "<strong>GitLab Mattermost</strong> is requesting access to your account on GitLab."
        ),
        "{page}"
    );
    assert!(
        page.contains("Make sure you trust <strong>GitLab Mattermost</strong> before authorizing.")
    );
    assert!(page.contains(
        "You will be redirected to <strong>mattermost.example.com</strong> after authorizing."
    ));
    let forms = all_forms(&page);
    assert_eq!(forms.len(), 2);
    for name in [
        "authenticity_token",
        "client_id",
        "redirect_uri",
        "state",
        "response_type",
        "scope",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ] {
        assert!(
            field(&forms[0], name).is_some(),
            "approve form lacks {name}"
        );
    }
    assert_eq!(field(&forms[0], "_method"), None, "approve form first");
    assert_eq!(field(&forms[1], "_method"), Some("delete"));
    assert_eq!(field(&forms[0], "scope"), Some("api"), "default scope");
    assert_eq!(field(&forms[0], "state"), Some("s1"));
}

#[tokio::test]
async fn consent_page_of_8_12_has_no_pkce_fields() {
    let (_h, app, b) = start_with_app(Profile::Gitlab8_12).await;
    let page = consent_page(&b, &app, "s1").await;
    let forms = all_forms(&page);
    assert!(field(&forms[1], "nonce").is_none());
    assert!(field(&forms[1], "code_challenge").is_none());
    assert_eq!(field(&forms[1], "utf8"), Some("✓"));
}

#[tokio::test]
async fn approve_then_exchange_code_for_token_and_read_user() {
    let (h, app, b) = start_with_app(Profile::Gitlab18_11).await;
    let page = consent_page(&b, &app, "st8").await;
    let cb = approve(&b, &page).await;
    assert!(cb.starts_with(SIGNUP_CB), "{cb}");
    let q = query(&cb);
    assert_eq!(field(&q, "state"), Some("st8"));
    let code = field(&q, "code").unwrap().to_string();
    let (status, body) = exchange_code(&h, &app, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 7200);
    assert_eq!(body["scope"], "api");
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(body["created_at"].as_u64().is_some());
    let token = body["access_token"].as_str().unwrap();
    let c = Api::new(&h);
    let user: Value = c
        .get("/api/v4/user", Auth::Bearer(token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["id"], 2);
    assert_eq!(user["state"], "active");
    assert!(user.get("is_admin").is_none(), "only admins see is_admin");
    // Code is single use.
    let (status, body) = exchange_code(&h, &app, &code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn token_errors_follow_doorkeeper() {
    let (h, app, b) = start_with_app(Profile::Gitlab18_11).await;
    let code = code_for(&b, &app).await;
    let base = |code: &str, redirect: &str, secret: &str| {
        vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".to_string(), code.to_string()),
            ("redirect_uri".to_string(), redirect.to_string()),
            ("client_id".to_string(), app.uid.clone()),
            ("client_secret".to_string(), secret.to_string()),
        ]
    };
    let send = |fields: Vec<(String, String)>| {
        let h = &h;
        async move {
            let pairs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            exchange(h, &pairs, None).await
        }
    };
    // Wrong secret: 401 invalid_client (the code survives).
    let (s, body) = send(base(&code, SIGNUP_CB, "wrong")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Client authentication failed")
    );
    // Redirect URI differs from the authorize one: invalid_grant.
    let login_cb = "http://mattermost.example.com/login/gitlab/complete";
    let (s, body) = send(base(&code, login_cb, app.secret.expose())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    // Unknown code.
    assert_oauth_error(
        send(base("nope", SIGNUP_CB, app.secret.expose())).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    // Missing grant type, unknown grant type.
    assert_oauth_error(
        exchange(&h, &[("code", "x")], None).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_oauth_error(
        exchange(&h, &[("grant_type", "magic")], None).await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
}

#[tokio::test]
async fn client_credentials_by_http_basic_and_refresh_grant() {
    let (h, app, b) = start_with_app(Profile::Gitlab18_11).await;
    let code = code_for(&b, &app).await;
    let (s, body) = exchange(
        &h,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", SIGNUP_CB),
        ],
        Some((&app.uid, app.secret.expose())),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let old_access = body["access_token"].as_str().unwrap().to_string();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    let (s, body) = exchange_refresh(&h, &app, &refresh).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_ne!(body["access_token"].as_str().unwrap(), old_access);
    // The refreshed-away token is revoked; the refresh token is single use.
    let c = Api::new(&h);
    let resp = c.get("/api/v4/user", Auth::Bearer(&old_access)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_oauth_error(
        exchange_refresh(&h, &app, &refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
}

#[tokio::test]
async fn deny_sends_access_denied_to_the_client() {
    let (_h, app, b) = start_with_app(Profile::Gitlab18_11).await;
    let page = consent_page(&b, &app, "d1").await;
    let forms = all_forms(&page);
    let deny = forms
        .iter()
        .find(|f| field(f, "_method") == Some("delete"))
        .unwrap();
    let resp = b
        .post_form(&format!("{GITLAB}/oauth/authorize"), deny)
        .await;
    assert_status(&resp, StatusCode::FOUND);
    let cb = location(&resp);
    assert!(cb.starts_with(SIGNUP_CB));
    let q = query(&cb);
    assert_eq!(field(&q, "error"), Some("access_denied"));
    assert_eq!(field(&q, "state"), Some("d1"));
}

#[tokio::test]
async fn unknown_client_and_unregistered_redirect_get_the_error_page() {
    for profile in Profile::ALL {
        let (_h, app, b) = start_with_app(profile).await;
        b.sign_in(GITLAB, "alice", "Twin-alice-pass1").await;
        let resp = b
            .get(&authorize_url(&app, "http://evil.example.com/cb", "s"))
            .await;
        assert_status(&resp, StatusCode::OK);
        let page = resp.text().await.unwrap();
        assert!(page.contains("An error has occurred"), "{page}");
        assert_eq!(
            text_of(&page, "pre").as_deref(),
            Some("The redirect URI included is not valid.")
        );
        let mut unknown = app.clone();
        unknown.uid = "0000".to_string();
        let page = b.page(&authorize_url(&unknown, SIGNUP_CB, "s")).await;
        assert!(
            text_of(&page, "pre").unwrap().contains("unknown client"),
            "{page}"
        );
    }
}

#[tokio::test]
async fn unsupported_response_type_and_bad_scope_get_the_error_page() {
    let (_h, app, b) = start_with_app(Profile::Gitlab18_11).await;
    b.sign_in(GITLAB, "alice", "Twin-alice-pass1").await;
    let url =
        authorize_url(&app, SIGNUP_CB, "s").replace("response_type=code", "response_type=token");
    let resp = b.get(&url).await;
    assert_status(&resp, StatusCode::OK);
    let page = resp.text().await.unwrap();
    assert_eq!(
        text_of(&page, "pre").as_deref(),
        Some("The authorization server does not support this response type.")
    );
    let url = format!(
        "{}&scope=launch_missiles",
        authorize_url(&app, SIGNUP_CB, "s")
    );
    let page = b.page(&url).await;
    assert_eq!(
        text_of(&page, "pre").as_deref(),
        Some("The requested scope is invalid, unknown, or malformed.")
    );
}

#[tokio::test]
async fn trusted_application_skips_consent_per_profile() {
    for profile in Profile::ALL {
        let h = start(profile).await;
        let gitlab = h.gitlab().unwrap();
        let trusted =
            gitlab
                .twin
                .register_application("Trusted", &[format!("{MM}/cb")], "", true, true);
        let b = Browser::new(h.address_book(), None);
        b.sign_in(GITLAB, "bob", "Twin-bob-pass1").await;
        let resp = b
            .get(&authorize_url(&trusted, &format!("{MM}/cb"), "t"))
            .await;
        let callback = match profile {
            Profile::Gitlab8_12 => {
                assert_status(&resp, StatusCode::FOUND);
                location(&resp)
            }
            Profile::Gitlab18_11 => {
                assert_status(&resp, StatusCode::OK);
                let page = resp.text().await.unwrap();
                attr_of(&page, "a", "href").expect("redirect link")
            }
        };
        assert!(
            callback.starts_with(&format!("{MM}/cb?code=")),
            "{callback}"
        );
        assert_eq!(field(&query(&callback), "state"), Some("t"));
    }
}

#[tokio::test]
async fn second_authorization_with_a_live_token_skips_consent() {
    let (h, app, b) = start_with_app(Profile::Gitlab18_11).await;
    let code = code_for(&b, &app).await;
    let (s, _) = exchange_code(&h, &app, &code).await;
    assert_eq!(s, StatusCode::OK);
    let resp = b.get(&authorize_url(&app, SIGNUP_CB, "again")).await;
    assert_status(&resp, StatusCode::OK);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Redirecting"), "{page}");
    assert!(!page.contains("is requesting access"));
}

#[tokio::test]
async fn api_authentication_failures_have_grape_shapes() {
    let h = start(Profile::Gitlab18_11).await;
    let gitlab = h.gitlab().unwrap();
    let c = Api::new(&h);
    let resp = c.get("/api/v4/user", Auth::Anonymous).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["message"],
        "401 Unauthorized"
    );
    let resp = c.get("/api/v4/user", Auth::Bearer("garbage")).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let weak = gitlab
        .twin
        .create_personal_access_token("alice", &["read_repository"])
        .unwrap();
    let resp = c
        .get("/api/v4/user", Auth::PrivateToken(weak.expose()))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "insufficient_scope"
    );
    let resp = c
        .get(
            "/api/v4/user",
            Auth::PrivateToken(gitlab.admin_token.expose()),
        )
        .await;
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["username"], "root");
    assert_eq!(me["is_admin"], true);
}

#[tokio::test]
async fn version_needs_authentication() {
    let h = start(Profile::Gitlab18_11).await;
    let gitlab = h.gitlab().unwrap();
    let c = Api::new(&h);
    let resp = c.get("/api/v4/version", Auth::Anonymous).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let v: Value = c
        .get("/api/v4/version", Auth::Bearer(gitlab.admin_token.expose()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["version"], "18.11.0");
    assert!(v["revision"].as_str().is_some());
}

#[tokio::test]
async fn api_v3_is_gone_on_18_and_v4_absent_on_8_12() {
    let h = start(Profile::Gitlab18_11).await;
    let c = Api::new(&h);
    for path in ["/api/v3/user", "/api/v3/projects", "/api/v3/whatever/else"] {
        let resp = c.get(path, Auth::Anonymous).await;
        assert_eq!(resp.status(), StatusCode::GONE, "{path}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["error"],
            "API V3 is no longer supported. Use API V4 instead."
        );
    }
    let h = start(Profile::Gitlab8_12).await;
    let gitlab = h.gitlab().unwrap();
    let c = Api::new(&h);
    let resp = c
        .get("/api/v4/user", Auth::Bearer(gitlab.admin_token.expose()))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = c
        .get(
            "/api/v3/user",
            Auth::PrivateToken(gitlab.admin_token.expose()),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["username"], "root");
    assert_eq!(me["is_admin"], true);
    // H6: GitLab 8.12's `GET /user` presents `Entities::UserFull`, which has no private_token
    // (gitlab-ce v8.12.11 lib/api/users.rb `resource :user`, lib/api/entities.rb; only
    // `UserLogin`, for `POST /session`, carries it). The token still authenticates as a param.
    assert!(me.get("private_token").is_none(), "{me}");
    assert_eq!(me["email"], "admin@example.com");
    let again = c
        .get(
            &format!("/api/v3/user?private_token={}", gitlab.admin_token.expose()),
            Auth::Anonymous,
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let resp = c.get("/api/v3/user", Auth::Anonymous).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn applications_api_create_list_renew_delete() {
    let h = start(Profile::Gitlab18_11).await;
    let gitlab = h.gitlab().unwrap();
    let c = Api::new(&h);
    let admin = gitlab.admin_token.expose().to_string();
    let resp = c.post_form("/api/v4/applications", Auth::PrivateToken(&admin), &[
            ("name", "Split Mattermost"),
            (
                "redirect_uri",
                "http://mm2.example.com/signup/gitlab/complete\nhttp://mm2.example.com/login/gitlab/complete",
            ),
            ("scopes", "read_user"),
        ]).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["application_name"], "Split Mattermost");
    assert_eq!(created["confidential"], true);
    assert!(created["secret"].as_str().unwrap().starts_with("gloas-"));
    assert_eq!(created["callback_url"].as_str().unwrap().lines().count(), 2);
    let id = created["id"].as_u64().unwrap();
    let list: Value = c
        .get("/api/v4/applications", Auth::Bearer(&admin))
        .await
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "omnibus's GitLab Mattermost + the new one");
    assert!(list.iter().all(|a| a.get("secret").is_none()));
    let renewed: Value = c
        .send(
            Method::POST,
            &format!("/api/v4/applications/{id}/renew-secret"),
            Auth::Bearer(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(renewed["secret"], created["secret"]);
    assert_eq!(renewed["application_id"], created["application_id"]);
    let resp = c
        .send(
            Method::DELETE,
            &format!("/api/v4/applications/{id}"),
            Auth::Bearer(&admin),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = c
        .send(
            Method::DELETE,
            &format!("/api/v4/applications/{id}"),
            Auth::Bearer(&admin),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn applications_api_refuses_non_admins_and_bad_input() {
    let h = start(Profile::Gitlab18_11).await;
    let gitlab = h.gitlab().unwrap();
    let c = Api::new(&h);
    let alice = gitlab
        .twin
        .create_personal_access_token("alice", &["api"])
        .unwrap();
    let resp = c
        .get("/api/v4/applications", Auth::PrivateToken(alice.expose()))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = c.get("/api/v4/applications", Auth::Anonymous).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let admin = gitlab.admin_token.expose().to_string();
    let resp = c
        .post_form(
            "/api/v4/applications",
            Auth::PrivateToken(&admin),
            &[("name", "x")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "redirect_uri is missing, scopes is missing");
    let resp = c
        .post_form(
            "/api/v4/applications",
            Auth::PrivateToken(&admin),
            &[
                ("name", "x"),
                ("redirect_uri", "not a uri"),
                ("scopes", "api"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["message"]["redirect_uri"][0],
        "must be an absolute URI."
    );
}

#[tokio::test]
async fn applications_api_does_not_exist_on_8_12() {
    let h = start(Profile::Gitlab8_12).await;
    let gitlab = h.gitlab().unwrap();
    let c = Api::new(&h);
    for path in ["/api/v4/applications", "/api/v3/applications"] {
        let resp = c
            .get(path, Auth::PrivateToken(gitlab.admin_token.expose()))
            .await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

/// The seed's "Authorise GitLab Mattermost" by hand, through the admin area, on both profiles.
#[tokio::test]
async fn admin_area_creates_shows_and_revokes_an_application() {
    for profile in Profile::ALL {
        let h = start(profile).await;
        let b = Browser::new(h.address_book(), None);
        let resp = b.sign_in(GITLAB, "root", "Twin-root-pass1").await;
        assert_status(&resp, StatusCode::FOUND);
        let form_page = b.page(&format!("{GITLAB}/admin/applications/new")).await;
        let mut fields = form_fields(&form_page, "form#new_doorkeeper_application");
        set(
            &mut fields,
            "doorkeeper_application[name]",
            "GitLab Mattermost 2",
        );
        set(
            &mut fields,
            "doorkeeper_application[redirect_uri]",
            &format!("{SIGNUP_CB}\r\n{MM}/login/gitlab/complete"),
        );
        fields.push(("doorkeeper_application[scopes][]".into(), "api".into()));
        let resp = b
            .post_form(&format!("{GITLAB}/admin/applications"), &fields)
            .await;
        assert_status(&resp, StatusCode::FOUND);
        let show_url = location(&resp);
        assert!(show_url.starts_with(&format!("{GITLAB}/admin/applications/")));
        let show = b.page(&show_url).await;
        // 18.x: read-only inputs; 8.12 (show.html.haml v8.12.11): `%code#application_id`,
        // `%code#secret`.
        let shown = |page: &str, id: &str| {
            attr_of(page, &format!("input#{id}"), "value")
                .or_else(|| text_of(page, &format!("code#{id}")))
        };
        let uid = shown(&show, "application_id").unwrap();
        let secret = shown(&show, "secret").expect("secret shown after creation");
        assert_eq!(uid.len(), 64);
        assert!(!secret.is_empty());
        assert!(show.contains("Application I") && show.contains("Secret"));
        let again = b.page(&show_url).await;
        assert_eq!(
            shown(&again, "secret").is_some(),
            profile == Profile::Gitlab8_12,
            "18.x shows the secret once, 8.x always"
        );
        let listed = h.gitlab().unwrap().twin.applications();
        let app = listed.iter().find(|a| a.uid == uid).unwrap();
        assert_eq!(app.redirect_uris.len(), 2);
        assert!(!app.trusted);
        // Revoke ("Destroy"), as the seed's "Reauthorise" asks.
        let destroy = form_fields(
            &again,
            &format!("form[action='/admin/applications/{}']", app.id),
        );
        let resp = b.post_form(&show_url, &destroy).await;
        assert_status(&resp, StatusCode::FOUND);
        assert!(
            h.gitlab()
                .unwrap()
                .twin
                .applications()
                .iter()
                .all(|a| a.uid != uid)
        );
    }
}

#[tokio::test]
async fn admin_area_validates_and_hides_from_non_admins() {
    let h = start(Profile::Gitlab18_11).await;
    let b = Browser::new(h.address_book(), None);
    let resp = b.get(&format!("{GITLAB}/admin/applications")).await;
    assert_status(&resp, StatusCode::FOUND);
    b.sign_in(GITLAB, "root", "Twin-root-pass1").await;
    let form_page = b.page(&format!("{GITLAB}/admin/applications/new")).await;
    let mut fields = form_fields(&form_page, "form#new_doorkeeper_application");
    set(
        &mut fields,
        "doorkeeper_application[redirect_uri]",
        "relative/path",
    );
    let page = b
        .post_form(&format!("{GITLAB}/admin/applications"), &fields)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Name can&#39;t be blank"), "{page}");
    assert!(page.contains("Redirect URI must be an absolute URI."));
    let alice = Browser::new(h.address_book(), None);
    alice.sign_in(GITLAB, "alice", "Twin-alice-pass1").await;
    let resp = alice.get(&format!("{GITLAB}/admin/applications")).await;
    assert_status(&resp, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn omnibus_registers_gitlab_mattermost_and_fills_settings() {
    for profile in Profile::ALL {
        let h = start(profile).await;
        let plan = h.mattermost_plan().unwrap();
        let app = plan.registered_application.clone().unwrap();
        assert_eq!(app.name, "GitLab Mattermost");
        assert_eq!(
            app.redirect_uris,
            vec![
                SIGNUP_CB.to_string(),
                "http://mattermost.example.com/login/gitlab/complete".to_string()
            ]
        );
        assert!(!app.trusted);
        assert_eq!(app.scopes, "");
        let g = &plan.settings.gitlab;
        assert!(g.enable);
        assert_eq!(g.id, app.uid);
        assert_eq!(g.secret, app.secret);
        assert_eq!(g.scope, "");
        assert_eq!(g.auth_endpoint, format!("{GITLAB}/oauth/authorize"));
        assert_eq!(g.token_endpoint, format!("{GITLAB}/oauth/token"));
        let api = if profile == Profile::Gitlab8_12 {
            "v3"
        } else {
            "v4"
        };
        assert_eq!(g.user_api_endpoint, format!("{GITLAB}/api/{api}/user"));
        assert_eq!(h.gitlab().unwrap().twin.applications().len(), 1);
    }
}

#[tokio::test]
async fn split_mattermost_host_registers_nothing() {
    let mut gitlab_host = HostSettings::defaults(Profile::Gitlab18_11);
    gitlab_host.external_url = Some(GITLAB.to_string());
    let mut mm_host = HostSettings::defaults(Profile::Gitlab18_11);
    mm_host.gitlab_rails_enabled = false;
    mm_host.mattermost_enabled = true;
    mm_host.mattermost_external_url = Some(MM.to_string());
    let mut opts = TwinOptions::single_server(Profile::Gitlab18_11);
    opts.hosts = vec![gitlab_host, mm_host];
    let h = Twin::start(opts).await.unwrap();
    let plan = h.mattermost_plan().unwrap();
    assert!(plan.registered_application.is_none());
    assert!(!plan.settings.gitlab.enable);
    assert!(plan.settings.gitlab.id.is_empty());
    assert!(h.gitlab().unwrap().twin.applications().is_empty());
}

#[tokio::test]
async fn gitlab_only_host_serves_without_mattermost() {
    let mut host = HostSettings::defaults(Profile::Gitlab18_11);
    host.external_url = Some("http://gitlab.example.com/".to_string());
    let mut opts = TwinOptions::single_server(Profile::Gitlab18_11);
    opts.hosts = vec![host];
    let h = Twin::start(opts).await.unwrap();
    assert!(h.mattermost_plan().is_none());
    let b = Browser::new(h.address_book(), None);
    let resp = b.get("http://gitlab.example.com/users/sign_in").await;
    assert_status(&resp, StatusCode::OK);
    assert!(
        h.address_book()
            .lookup("http", "gitlab.example.com", 80)
            .is_some()
    );
    assert_eq!(
        h.gitlab().unwrap().url,
        GITLAB,
        "external_url without its trailing slash"
    );
}

#[tokio::test]
async fn nothing_configured_is_an_error() {
    let mut opts = TwinOptions::single_server(Profile::Gitlab18_11);
    opts.hosts = vec![HostSettings::defaults(Profile::Gitlab18_11)];
    let err = Twin::start(opts).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("no host runs GitLab or Mattermost"),
        "{err}"
    );
}

#[tokio::test]
async fn public_application_asks_again_despite_a_live_token_on_18() {
    let h = start(Profile::Gitlab18_11).await;
    let gitlab = h.gitlab().unwrap();
    let cb = format!("{MM}/public-cb");
    let public =
        gitlab
            .twin
            .register_application("Public", std::slice::from_ref(&cb), "", false, false);
    let b = Browser::new(h.address_book(), None);
    b.sign_in(GITLAB, "alice", "Twin-alice-pass1").await;
    let page = b.page(&authorize_url(&public, &cb, "p")).await;
    let cb_url = approve(&b, &page).await;
    let code = field(&query(&cb_url), "code").unwrap().to_string();
    // A public client exchanges its code without a secret.
    let (s, body) = exchange(
        &h,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &cb),
            ("client_id", &public.uid),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let page = b.page(&authorize_url(&public, &cb, "p2")).await;
    assert!(page.contains("is requesting access"), "{page}");
}

#[tokio::test]
async fn register_as_oauth_app_false_registers_nothing_but_derives_endpoints() {
    let mut opts = TwinOptions::single_server(Profile::Gitlab18_11);
    opts.hosts[0].register_as_oauth_app = false;
    let h = Twin::start(opts).await.unwrap();
    let plan = h.mattermost_plan().unwrap();
    assert!(plan.registered_application.is_none());
    assert!(!plan.settings.gitlab.enable);
    assert_eq!(
        plan.settings.gitlab.token_endpoint,
        format!("{GITLAB}/oauth/token")
    );
    assert!(h.gitlab().unwrap().twin.applications().is_empty());
}

#[tokio::test]
async fn given_endpoints_are_kept_as_omnibus_does() {
    let mut opts = TwinOptions::single_server(Profile::Gitlab18_11);
    opts.hosts[0].mattermost.gitlab.user_api_endpoint = format!("{GITLAB}/api/v3/user");
    let h = Twin::start(opts).await.unwrap();
    let plan = h.mattermost_plan().unwrap();
    assert_eq!(
        plan.settings.gitlab.user_api_endpoint,
        format!("{GITLAB}/api/v3/user")
    );
    assert_eq!(
        plan.settings.gitlab.auth_endpoint,
        format!("{GITLAB}/oauth/authorize")
    );
}

#[tokio::test]
async fn token_type_is_lower_case_on_8_12() {
    let (h, app, b) = start_with_app(Profile::Gitlab8_12).await;
    let code = code_for(&b, &app).await;
    let (s, body) = exchange_code(&h, &app, &code).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "bearer");
    // M10: GitLab 8.12 `access_token_expires_in nil` (config/initializers/doorkeeper.rb v8.12.11)
    // and Doorkeeper 4.2's TokenResponse drops blank values: no expires_in.
    assert!(body.get("expires_in").is_none(), "{body}");
    // M9: Doorkeeper 4.2.0 ErrorResponse#status is :unauthorized for every error, with
    // WWW-Authenticate (lib/doorkeeper/oauth/error_response.rb): a used code is 401 invalid_grant.
    let (reused, error) = exchange_code(&h, &app, &code).await;
    assert_eq!(reused, StatusCode::UNAUTHORIZED, "{error}");
    assert_eq!(error["error"], "invalid_grant");
    // The token reads the v3 user, as Mattermost 3.4 does with omnibus 8.12's endpoint.
    let c = Api::new(&h);
    let me: Value = c
        .get(
            "/api/v3/user",
            Auth::Bearer(body["access_token"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["is_admin"], false);
}

#[tokio::test]
async fn password_grant_issues_a_token_for_valid_credentials_only() {
    let h = start(Profile::Gitlab18_11).await;
    let (s, body) = exchange(
        &h,
        &[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "Twin-bob-pass1"),
        ],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "api");
    assert_oauth_error(
        exchange(
            &h,
            &[
                ("grant_type", "password"),
                ("username", "bob"),
                ("password", "wrong"),
            ],
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let h = start(Profile::Gitlab18_11).await;
    let b = Browser::new(h.address_book(), None);
    b.sign_in(GITLAB, "alice", "Twin-alice-pass1").await;
    let resp = b.get(&format!("{GITLAB}/users/sign_in")).await;
    assert_status(&resp, StatusCode::FOUND);
    assert_eq!(
        location(&resp),
        format!("{GITLAB}/"),
        "signed in: sign-in page sends home"
    );
    let dash = b.page(&format!("{GITLAB}/")).await;
    let out = form_fields(&dash, "form[action='/users/sign_out']");
    assert_eq!(field(&out, "_method"), Some("delete"));
    let resp = b.post_form(&format!("{GITLAB}/users/sign_out"), &out).await;
    assert_status(&resp, StatusCode::FOUND);
    assert_eq!(location(&resp), format!("{GITLAB}/users/sign_in"));
    let resp = b.get(&format!("{GITLAB}/")).await;
    assert_status(&resp, StatusCode::FOUND);
    assert_eq!(location(&resp), format!("{GITLAB}/users/sign_in"));
}

#[tokio::test]
async fn admin_area_renews_a_secret_on_18() {
    let (h, app, b) = start_with_app(Profile::Gitlab18_11).await;
    b.sign_in(GITLAB, "root", "Twin-root-pass1").await;
    let show_url = format!("{GITLAB}/admin/applications/{}", app.id);
    let page = b.page(&show_url).await;
    assert!(
        attr_of(&page, "input#secret", "value").is_none(),
        "hidden after creation"
    );
    assert!(page.contains("Renew secret"));
    let token = attr_of(&page, "meta[name=csrf-token]", "content").unwrap();
    let resp = b
        .post_form(
            &format!("{show_url}/renew"),
            &[("authenticity_token".to_string(), token)],
        )
        .await;
    assert_status(&resp, StatusCode::FOUND);
    let page = b.page(&show_url).await;
    let secret = attr_of(&page, "input#secret", "value").expect("shown once after renewal");
    assert_ne!(secret, app.secret.expose());
    let now = h.gitlab().unwrap().twin.applications();
    assert_eq!(now[0].secret.expose(), secret);
}

#[tokio::test]
async fn given_gitlab_id_and_secret_create_the_application_with_them() {
    let mut opts = TwinOptions::single_server(Profile::Gitlab18_11);
    opts.hosts[0].mattermost.gitlab.id = "12345656".to_string();
    opts.hosts[0].mattermost.gitlab.secret = mm_harness::config::model::Secret::new("123456789");
    let h = Twin::start(opts).await.unwrap();
    let plan = h.mattermost_plan().unwrap();
    let app = plan.registered_application.clone().unwrap();
    assert_eq!(app.uid, "12345656");
    assert_eq!(app.secret.expose(), "123456789");
    assert_eq!(plan.settings.gitlab.id, "12345656");
    assert!(plan.settings.gitlab.enable);
    assert_eq!(h.gitlab().unwrap().twin.applications().len(), 1);
    // The application works with those credentials.
    let b = Browser::new(h.address_book(), None);
    let code = code_for(&b, &app).await;
    let (s, body) = exchange_code(&h, &app, &code).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}
