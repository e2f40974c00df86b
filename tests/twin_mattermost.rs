//! The twin Mattermost tested from the outside with plain HTTP (reqwest, a cookie jar, scraper),
//! never through the harness drivers: the API v4 subset (and v3 on the 8.12 profile), and GitLab
//! SSO against a small GitLab stand-in written here from wire/gitlab.md (token and user endpoints
//! on 127.0.0.1:0, plain or TLS with an rcgen CA), covering every error of the SSO table.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mm_harness::config::model::{MattermostSettings, Secret};
use mm_harness::config::version::Profile;
use mm_harness::net::AddressBook;
use mm_harness::twin::mattermost::{MattermostAdmin, MattermostTwin, MattermostTwinConfig};
use rustls_pki_types::CertificateDer;
use serde_json::{Value, json};

use crate::support::mattermost as mm_support;

use mm_support::{MM_SITE as SITE, MmApi, assert_app_error, serve, test_certs};

async fn serve_tls(router: axum::Router, cfg: Arc<rustls::ServerConfig>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(router);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

// ---- A GitLab stand-in: Doorkeeper's token endpoint and the user API, from wire/gitlab.md ----

/// One token request: its form, whether it carried an Authorization header, its Accept header.
type TokenRequest = (HashMap<String, String>, bool, String);

/// A settings change that injects one SSO failure.
type SettingsTweak = Box<dyn FnOnce(&mut MattermostSettings)>;

#[derive(Default)]
struct FakeGitlab {
    /// Token requests seen: (form, had Authorization header, Accept header).
    token_requests: Mutex<Vec<TokenRequest>>,
    /// Users by authorization code.
    users: HashMap<String, Value>,
}

const CLIENT_ID: &str = "app-uid-123";
const CLIENT_SECRET: &str = "app-secret-456";

async fn fake_token(
    State(gl): State<Arc<FakeGitlab>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let accept = headers
        .get("accept")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    gl.token_requests.lock().unwrap().push((
        form.clone(),
        headers.contains_key("authorization"),
        accept,
    ));
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."})),
        )
            .into_response();
    }
    let code = form.get("code").cloned().unwrap_or_default();
    match code.as_str() {
        "token-type-mac" => {
            axum::Json(json!({"access_token": "t", "token_type": "mac"})).into_response()
        }
        "token-empty" => {
            axum::Json(json!({"access_token": "", "token_type": "Bearer"})).into_response()
        }
        _ => axum::Json(json!({
            "access_token": format!("tok-{code}"), "token_type": "Bearer", "expires_in": 7200,
            "refresh_token": "r", "scope": "", "created_at": 1
        }))
        .into_response(),
    }
}

async fn fake_token_html() -> Response {
    (
        StatusCode::OK,
        [("content-type", "text/html")],
        "<!DOCTYPE html><html><body>Sign in</body></html>",
    )
        .into_response()
}

async fn fake_user(State(gl): State<Arc<FakeGitlab>>, headers: HeaderMap) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(code) = auth.strip_prefix("Bearer tok-") else {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "401 Unauthorized"})),
        )
            .into_response();
    };
    match gl.users.get(code) {
        Some(u) => axum::Json(u.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "404 Not Found"})),
        )
            .into_response(),
    }
}

async fn fake_user_v3_gone() -> Response {
    (
        StatusCode::GONE,
        axum::Json(json!({"error": "API V3 is no longer supported. Use API V4 instead."})),
    )
        .into_response()
}

fn fake_gitlab() -> (Arc<FakeGitlab>, axum::Router) {
    let mut users = HashMap::new();
    users.insert("alice".into(), json!({"id": 42, "username": "alice", "email": "Alice@Example.com", "name": "Alice Pleasance Liddell", "state": "active"}));
    users.insert("alice2".into(), json!({"id": 43, "username": "alice", "email": "other-alice@example.com", "name": "Alice Two"}));
    users.insert(
        "root".into(),
        json!({"id": 1, "username": "gitroot", "email": "root@example.com", "name": "Root"}),
    );
    users.insert(
        "noid".into(),
        json!({"username": "ghost", "email": "ghost@example.com"}),
    );
    users.insert("noemail".into(), json!({"id": 9, "username": "ghost"}));
    let gl = Arc::new(FakeGitlab {
        users,
        ..Default::default()
    });
    let router = axum::Router::new()
        .route("/oauth/token", post(fake_token))
        .route("/oauth/token-html", post(fake_token_html))
        .route("/api/v4/user", get(fake_user))
        .route("/api/v3/user", get(fake_user_v3_gone))
        .with_state(gl.clone());
    (gl, router)
}

// ---- The Mattermost under test ----

struct Stack {
    twin: Arc<MattermostTwin>,
    gitlab: Arc<FakeGitlab>,
    /// A browser: cookie jar, no automatic redirects.
    browser: reqwest::Client,
    mm_addr: SocketAddr,
}

fn gitlab_settings(s: &mut MattermostSettings, base: &str) {
    s.gitlab.enable = true;
    s.gitlab.id = CLIENT_ID.into();
    s.gitlab.secret = Secret::new(CLIENT_SECRET);
    s.gitlab.auth_endpoint = format!("{base}/oauth/authorize");
    s.gitlab.token_endpoint = format!("{base}/oauth/token");
    s.gitlab.user_api_endpoint = format!("{base}/api/v4/user");
}

struct Options {
    profile: Profile,
    gitlab_tls: Option<(Arc<rustls::ServerConfig>, Vec<CertificateDer<'static>>)>,
    tweak: Box<dyn FnOnce(&mut MattermostSettings)>,
    timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: Profile::Gitlab18_11,
            gitlab_tls: None,
            tweak: Box::new(|_| {}),
            timeout: Duration::from_secs(5),
        }
    }
}

async fn stack(opts: Options) -> Stack {
    mm_harness::crypto::install_default_provider();
    let (gitlab, router) = fake_gitlab();
    let mut book = AddressBook::new();
    let mut roots = Vec::new();
    let scheme = match opts.gitlab_tls {
        Some((cfg, trusted)) => {
            let addr = serve_tls(router, cfg).await;
            book.insert("https", "gitlab.example.com", 443, addr);
            roots = trusted;
            "https"
        }
        None => {
            let addr = serve(router).await;
            book.insert("http", "gitlab.example.com", 80, addr);
            "http"
        }
    };
    let mut settings = MattermostSettings::defaults(opts.profile);
    settings.service.site_url = SITE.into();
    gitlab_settings(&mut settings, &format!("{scheme}://gitlab.example.com"));
    (opts.tweak)(&mut settings);
    let twin = MattermostTwin::new(MattermostTwinConfig {
        profile: opts.profile,
        settings,
        address_book: book,
        trusted_roots: roots,
        admin: MattermostAdmin {
            username: "sysadmin".into(),
            email: "sysadmin@example.com".into(),
            password: Secret::new("Sys-Admin-Passw0rd!"),
        },
        outbound_timeout: opts.timeout,
        env_overrides: vec!["GitLabSettings.Id".into(), "GitLabSettings.Secret".into()],
        ..Default::default()
    });
    let mm_addr = serve(twin.router()).await;
    let browser = reqwest::Client::builder()
        .resolve("mattermost.example.com", mm_addr)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Stack {
        twin,
        gitlab,
        browser,
        mm_addr,
    }
}

fn query_of(url: &str) -> HashMap<String, String> {
    let u = url::Url::parse(SITE).unwrap().join(url).unwrap();
    u.query_pairs().into_owned().collect()
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

impl Stack {
    /// Start SSO (`/oauth/gitlab/<action>` or a 3.4 path) and return the authorize URL.
    async fn start_sso(&self, path: &str) -> String {
        let resp = self
            .browser
            .get(format!("{SITE}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302, "{path}");
        resp.headers()["location"].to_str().unwrap().to_string()
    }

    /// GitLab sends the browser back with `code` and the state from the authorize URL.
    async fn callback(&self, path: &str, code: &str, authorize_url: &str) -> reqwest::Response {
        let q = query_of(authorize_url);
        let state = q.get("state").cloned().unwrap_or_default();
        self.browser
            .get(format!("{SITE}{path}"))
            .query(&[("code", code), ("state", state.as_str())])
            .send()
            .await
            .unwrap()
    }

    async fn sign_up(&self, code: &str) -> reqwest::Response {
        let authorize = self.start_sso("/oauth/gitlab/signup").await;
        self.callback("/signup/gitlab/complete", code, &authorize)
            .await
    }
}

/// The `/error` URL an error page points at, and its `message`.
async fn error_page(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    if let Some(loc) = resp.headers().get("location") {
        let loc = loc.to_str().unwrap().to_string();
        let msg = query_of(&loc).get("message").cloned().unwrap_or_default();
        return (status, loc, msg);
    }
    let html = resp.text().await.unwrap();
    let doc = scraper::Html::parse_document(&html);
    let a = scraper::Selector::parse("a").unwrap();
    let href = doc
        .select(&a)
        .next()
        .and_then(|e| e.value().attr("href"))
        .unwrap_or_default()
        .to_string();
    let msg = query_of(&href).get("message").cloned().unwrap_or_default();
    (status, href, msg)
}

#[tokio::test]
async fn sso_sign_up_creates_a_gitlab_user_and_logs_in() {
    let st = stack(Options::default()).await;
    let authorize = st.start_sso("/oauth/gitlab/signup").await;
    assert!(authorize.starts_with("http://gitlab.example.com/oauth/authorize?response_type=code&client_id=app-uid-123&redirect_uri="));
    let q = query_of(&authorize);
    assert_eq!(
        q["redirect_uri"],
        "http://mattermost.example.com/signup/gitlab/complete"
    );
    assert!(!q.contains_key("scope"), "blank scope is not sent");
    let state =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &q["state"]).unwrap();
    let state: Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(state["action"], "signup");
    assert_eq!(state["token"].as_str().unwrap().len(), 64);

    let resp = st
        .callback("/signup/gitlab/complete", "alice", &authorize)
        .await;
    assert_eq!(resp.status(), 307);
    assert_eq!(resp.headers()["location"], "http://mattermost.example.com");
    let cookies = set_cookies(&resp);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("MMAUTHTOKEN=") && c.contains("HttpOnly"))
    );
    assert!(cookies.iter().any(|c| c.starts_with("MMUSERID=")));
    assert!(cookies.iter().any(|c| c.starts_with("MMCSRF=")));

    // The token request Mattermost made: a form, JSON accepted, no Basic auth.
    let reqs = st.gitlab.token_requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1);
    let (form, had_auth, accept) = &reqs[0];
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "alice");
    assert_eq!(
        form["redirect_uri"],
        "http://mattermost.example.com/signup/gitlab/complete"
    );
    assert!(!had_auth);
    assert_eq!(accept, "application/json");

    // The browser is signed in (cookie session on a GET needs no CSRF header).
    let me: Value = st
        .browser
        .get(format!("{SITE}/api/v4/users/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["auth_service"], "gitlab");
    assert_eq!(me["auth_data"], "42");
    assert_eq!(me["first_name"], "Alice");
    assert_eq!(me["last_name"], "Pleasance Liddell");
    assert_eq!(me["email_verified"], true);

    // Signing in again through /login finds the same account.
    let authorize = st.start_sso("/oauth/gitlab/login").await;
    let resp = st
        .callback("/login/gitlab/complete", "alice", &authorize)
        .await;
    assert_eq!(resp.status(), 307);
    let gitlab_users: Vec<_> = st
        .twin
        .users()
        .into_iter()
        .filter(|u| u.auth_service == "gitlab")
        .collect();
    assert_eq!(gitlab_users.len(), 1);
}

#[tokio::test]
async fn username_collisions_get_a_number_and_attached_emails_are_refused() {
    let st = stack(Options::default()).await;
    assert_eq!(st.sign_up("alice").await.status(), 307);
    // A second GitLab user named alice: Mattermost appends a counter.
    assert_eq!(st.sign_up("alice2").await.status(), 307);
    let names: Vec<String> = st.twin.users().into_iter().map(|u| u.username).collect();
    assert!(names.contains(&"alice0".to_string()), "{names:?}");
    // A GitLab user whose email is free signs up under its own name.
    assert_eq!(st.sign_up("root").await.status(), 307);
    assert!(
        st.twin
            .users()
            .iter()
            .any(|u| u.username == "gitroot" && u.auth_data == "1")
    );
}

#[tokio::test]
async fn an_email_already_used_by_a_password_account_is_refused() {
    let st = stack(Options::default()).await;
    // Create an email account with alice's address first (admin API).
    let login = st
        .browser
        .post(format!("{SITE}/api/v4/users/login"))
        .json(&json!({"login_id": "sysadmin", "password": "Sys-Admin-Passw0rd!"}))
        .send()
        .await
        .unwrap();
    let token = login.headers()["token"].to_str().unwrap().to_string();
    let created = reqwest::Client::builder()
        .resolve("mattermost.example.com", st.mm_addr)
        .build()
        .unwrap()
        .post(format!("{SITE}/api/v4/users"))
        .bearer_auth(&token)
        .json(&json!({"username": "alice-email", "email": "alice@example.com", "password": "Alice-Passw0rd!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let (status, url, message) = error_page(st.sign_up("alice").await).await;
    assert_eq!(status, 400);
    assert!(
        // M1: RenderWebError's destination is `path.Join(subpath, "error")`, relative.
        url.starts_with("/error?message="),
        "{url}"
    );
    assert!(url.contains("&s="), "signed: {url}");
    assert_eq!(
        message,
        "There is already an account associated with that email address using a sign in method other than gitlab. Please sign in using email."
    );
}

/// Run one SSO sign-up whose settings are changed by `tweak`; return status and error message.
async fn sso_error(
    tweak: impl FnOnce(&mut MattermostSettings) + 'static,
    code: &str,
    action: &str,
) -> (u16, String) {
    let st = stack(Options {
        tweak: Box::new(tweak),
        ..Default::default()
    })
    .await;
    let authorize = st.start_sso(&format!("/oauth/gitlab/{action}")).await;
    let resp = st
        .callback("/signup/gitlab/complete", code, &authorize)
        .await;
    let (status, _, message) = error_page(resp).await;
    (status, message)
}

#[tokio::test]
async fn every_sso_error_of_the_wire_table() {
    let cases: Vec<(SettingsTweak, &str, &str, u16, &str)> = vec![
        (
            Box::new(|s| s.gitlab.secret = Secret::new("wrong")),
            "alice",
            "signup",
            500,
            "Bad response from token request.",
        ),
        (
            Box::new(|s| {
                s.gitlab.token_endpoint = "http://gitlab.example.com/oauth/token-html".into()
            }),
            "alice",
            "signup",
            500,
            "Bad response from token request.",
        ),
        (
            Box::new(|s| s.gitlab.token_endpoint = "http://nowhere.example.com/oauth/token".into()),
            "alice",
            "signup",
            500,
            "Token request failed.",
        ),
        (
            Box::new(|s| {
                s.gitlab.user_api_endpoint = "http://gitlab.example.com/api/v3/user".into()
            }),
            "alice",
            "signup",
            500,
            "Received invalid response from OAuth service provider.",
        ),
    ];
    // Failures the stand-in's reply to one authorization code causes, settings unchanged.
    let by_code: Vec<(&str, &str, u16, &str)> = vec![
        ("token-type-mac", "signup", 500, "Bad token type."),
        ("token-empty", "signup", 500, "Missing access token."),
        (
            "unknown-user",
            "login",
            500,
            "Received invalid response from OAuth service provider.",
        ),
        (
            "noid",
            "login",
            400,
            "Could not parse auth data out of gitlab user object.",
        ),
        (
            "noemail",
            "login",
            400,
            "Could not parse auth data out of gitlab user object.",
        ),
        (
            "noid",
            "signup",
            500,
            "Could not create user out of gitlab user object.",
        ),
    ];
    let cases = cases.into_iter().chain(by_code.into_iter().map(
        |(code, action, status, message)| -> (SettingsTweak, &str, &str, u16, &str) {
            (Box::new(|_| {}), code, action, status, message)
        },
    ));
    for (tweak, code, action, status, message) in cases {
        let got = sso_error(tweak, code, action).await;
        assert_eq!(
            got,
            (status, message.to_string()),
            "code {code} action {action}"
        );
    }
}

#[tokio::test]
async fn a_closed_token_port_fails_as_token_request_failed() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let st = stack(Options::default()).await;
    // Point the token endpoint at a port nobody listens on.
    st.twin.update_settings(|s| {
        s.gitlab.token_endpoint = format!("http://127.0.0.1:{}/oauth/token", closed.port())
    });
    let (status, _, message) = error_page(st.sign_up("alice").await).await;
    assert_eq!((status, message.as_str()), (500, "Token request failed."));
}

#[tokio::test]
async fn state_and_cookie_mechanics() {
    let st = stack(Options::default()).await;
    let authorize = st.start_sso("/oauth/gitlab/signup").await;
    // A second browser without the MMOAUTH cookie cannot complete it.
    let stranger = reqwest::Client::builder()
        .resolve("mattermost.example.com", st.mm_addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let state = query_of(&authorize)["state"].clone();
    let resp = stranger
        .get(format!("{SITE}/signup/gitlab/complete"))
        .query(&[("code", "alice"), ("state", state.as_str())])
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_page(resp).await;
    assert_eq!((status, message.as_str()), (400, "Invalid state"));
    // Garbage state.
    let resp = stranger
        .get(format!("{SITE}/signup/gitlab/complete?code=x&state=%%%"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_page(resp).await.0, 400);
    // The rightful browser completes once; the state token is single-use.
    assert_eq!(
        st.callback("/signup/gitlab/complete", "alice", &authorize)
            .await
            .status(),
        307
    );
    let (status, _, message) = error_page(
        st.callback("/signup/gitlab/complete", "alice", &authorize)
            .await,
    )
    .await;
    assert_eq!((status, message.as_str()), (400, "Invalid state token."));
    // access_denied and a missing code redirect to the signed error URL.
    let resp = st
        .browser
        .get(format!("{SITE}/signup/gitlab/complete?error=access_denied"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 307);
    let loc = resp.headers()["location"].to_str().unwrap();
    assert!(
        loc.starts_with("/error?service=Gitlab&type=oauth_access_denied&s="),
        "{loc}"
    );
    let resp = st
        .browser
        .get(format!("{SITE}/oauth/gitlab/complete"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 307);
    assert!(
        resp.headers()["location"]
            .to_str()
            .unwrap()
            .contains("type=oauth_missing_code")
    );
}

#[tokio::test]
async fn disabled_gitlab_sso_is_501_and_sign_up_needs_user_creation() {
    let st = stack(Options {
        tweak: Box::new(|s| s.gitlab.enable = false),
        ..Default::default()
    })
    .await;
    let resp = st
        .browser
        .get(format!("{SITE}/oauth/gitlab/login"))
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_page(resp).await;
    assert_eq!(
        (status, message.as_str()),
        (
            501,
            "gitlab SSO through OAuth 2.0 not available on this server."
        )
    );
    st.twin.update_settings(|s| {
        s.gitlab.enable = true;
        s.team.enable_user_creation = false;
    });
    let resp = st
        .browser
        .get(format!("{SITE}/oauth/gitlab/signup"))
        .send()
        .await
        .unwrap();
    let (status, _, message) = error_page(resp).await;
    assert_eq!(
        (status, message.as_str()),
        (400, "User sign-up is disabled.")
    );
    let resp = st
        .browser
        .get(format!("{SITE}/oauth/gitlab/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "login still starts");
}

#[tokio::test]
async fn https_gitlab_is_trusted_only_through_the_configured_roots() {
    let mm_support::TestCerts {
        ca, server: cfg, ..
    } = test_certs("gitlab.example.com", false);
    let st = stack(Options {
        gitlab_tls: Some((cfg.clone(), vec![ca.clone()])),
        ..Default::default()
    })
    .await;
    assert_eq!(st.sign_up("alice").await.status(), 307, "trusted CA");

    let st = stack(Options {
        gitlab_tls: Some((cfg.clone(), vec![])),
        ..Default::default()
    })
    .await;
    let (status, _, message) = error_page(st.sign_up("alice").await).await;
    assert_eq!(
        (status, message.as_str()),
        (500, "Token request failed."),
        "untrusted CA"
    );
    // EnableInsecureOutgoingConnections skips the check.
    st.twin
        .update_settings(|s| s.service.enable_insecure_outgoing_connections = true);
    assert_eq!(st.sign_up("alice").await.status(), 307);

    let mm_support::TestCerts {
        ca,
        server: wrong_host,
        ..
    } = test_certs("other.example.com", false);
    let st = stack(Options {
        gitlab_tls: Some((wrong_host, vec![ca])),
        ..Default::default()
    })
    .await;
    let (status, _, message) = error_page(st.sign_up("alice").await).await;
    assert_eq!(
        (status, message.as_str()),
        (500, "Token request failed."),
        "wrong host"
    );
}

#[tokio::test]
async fn a_slow_token_endpoint_hits_the_outbound_timeout() {
    mm_harness::crypto::install_default_provider();
    let slow = axum::Router::new().route(
        "/oauth/token",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "{}"
        }),
    );
    let addr = serve(slow).await;
    let st = stack(Options {
        timeout: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    st.twin.update_settings(|s| {
        s.gitlab.token_endpoint = format!("http://127.0.0.1:{}/oauth/token", addr.port())
    });
    let started = std::time::Instant::now();
    let (status, _, message) = error_page(st.sign_up("alice").await).await;
    assert_eq!((status, message.as_str()), (500, "Token request failed."));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn mattermost_3_4_sso_uses_api_v3_routes_a_hashed_state_and_no_status_checks() {
    let st = stack(Options {
        profile: Profile::Gitlab8_12,
        ..Default::default()
    })
    .await;
    assert_eq!(
        st.browser
            .get(format!("{SITE}/oauth/gitlab/signup"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "10.x route absent: the web app answers"
    );
    let authorize = st.start_sso("/api/v3/oauth/gitlab/signup").await;
    let q = query_of(&authorize);
    assert_eq!(
        q["redirect_uri"],
        "http://mattermost.example.com/signup/gitlab/complete"
    );
    let state =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &q["state"]).unwrap();
    let state: Value = serde_json::from_slice(&state).unwrap();
    assert!(bcrypt::verify(CLIENT_ID, state["hash"].as_str().unwrap()).unwrap());
    let resp = st
        .callback("/signup/gitlab/complete", "alice", &authorize)
        .await;
    assert_eq!(resp.status(), 307);
    assert!(
        set_cookies(&resp)
            .iter()
            .any(|c| c.starts_with("MMAUTHTOKEN="))
    );
    assert!(
        st.twin
            .users()
            .iter()
            .any(|u| u.auth_service == "gitlab" && u.auth_data == "42")
    );

    // Wrong secret: Doorkeeper's 401 JSON is read as a token reply → 3.4's "Bad token type"
    // (no period, i18n/en.json v3.4.0:1880), rendered as the 3.x error redirect (307 for a 500),
    // `details` blank (EnableDeveloper off, api/context.go).
    st.twin
        .update_settings(|s| s.gitlab.secret = Secret::new("wrong"));
    let authorize = st.start_sso("/api/v3/oauth/gitlab/login").await;
    let resp = st
        .callback("/login/gitlab/complete", "alice", &authorize)
        .await;
    assert_eq!(resp.status(), 307);
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("/error?title="), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q["message"], "Bad token type");
    assert_eq!(q["title"], "GitLab Mattermost needs your help:");
    assert_eq!(q["details"], "");

    // The v3 user API answering 410 is parsed as a user: no id → parse error.
    st.twin.update_settings(|s| {
        s.gitlab.secret = Secret::new(CLIENT_SECRET);
        s.gitlab.user_api_endpoint = "http://gitlab.example.com/api/v3/user".into();
    });
    let authorize = st.start_sso("/api/v3/oauth/gitlab/login").await;
    let resp = st
        .callback("/login/gitlab/complete", "alice", &authorize)
        .await;
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        query_of(&loc)["message"],
        "Could not parse auth data out of gitlab user object"
    );
    // The oldest callback path (`/gitlab/complete`) is still routed.
    st.twin.update_settings(|s| {
        s.gitlab.user_api_endpoint = "http://gitlab.example.com/api/v4/user".into();
    });
    let authorize = st.start_sso("/api/v3/oauth/gitlab/login").await;
    let resp = st.callback("/gitlab/complete", "alice", &authorize).await;
    assert_eq!(resp.status(), 307);
    assert_eq!(resp.headers()["location"], "http://mattermost.example.com");
    // A state whose hash does not match the Id.
    let resp = st
        .browser
        .get(format!(
            "{SITE}/signup/gitlab/complete?code=alice&state=e30%3D"
        ))
        .send()
        .await
        .unwrap();
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(query_of(&loc)["message"], "Invalid state");
}

// ---- API v4 ----

/// The twin's API v4 signed in with the `Token` authorization scheme.
async fn api_login(st: &Stack, login_id: &str, password: &str) -> Result<MmApi, (u16, Value)> {
    Ok(MmApi::login(st.mm_addr, "v4", login_id, password)
        .await?
        .with_scheme("Token"))
}

#[tokio::test]
async fn ping_version_header_and_request_ids() {
    let st = stack(Options::default()).await;
    let resp = st
        .browser
        .get(format!("{SITE}/api/v4/system/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let version = resp.headers()["x-version-id"].to_str().unwrap().to_string();
    assert!(version.starts_with("10.11.0.10.11.0."), "{version}");
    assert!(version.ends_with(".false"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "OK");
    assert!(body.get("database_status").is_none());
    let body: Value = st
        .browser
        .get(format!("{SITE}/api/v4/system/ping?get_server_status=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["database_status"], "OK");
    assert_eq!(body["filestore_status"], "OK");

    let resp = st
        .browser
        .get(format!("{SITE}/api/v4/users/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["id"], "api.context.session_expired.app_error");
    assert_eq!(err["request_id"], rid.as_str());
    assert_eq!(err["detailed_error"], "");
    let resp = st
        .browser
        .get(format!("{SITE}/api/v4/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn login_users_and_the_sign_up_rules() {
    let st = stack(Options::default()).await;
    let err = api_login(&st, "sysadmin", "wrong").await.err().unwrap();
    assert_eq!(err.0, 401);
    assert_eq!(
        err.1["id"],
        "api.user.login.invalid_credentials_email_username"
    );
    let admin = api_login(&st, "sysadmin@example.com", "Sys-Admin-Passw0rd!")
        .await
        .ok()
        .unwrap();
    let (s, me) = admin
        .call(reqwest::Method::GET, "/api/v4/users/me", None)
        .await;
    assert_eq!(
        (s, me["roles"].as_str()),
        (200, Some("system_admin system_user"))
    );

    // Anonymous email sign-up: the open-server rule, then the email sign-up switch.
    let anon = reqwest::Client::builder()
        .resolve("mattermost.example.com", st.mm_addr)
        .build()
        .unwrap();
    let body =
        json!({"username": "carol", "email": "carol@example.com", "password": "Carol-Passw0rd!"});
    let resp = anon
        .post(format!("{SITE}/api/v4/users"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["id"],
        "api.user.create_user.no_open_server"
    );
    st.twin
        .update_settings(|s| s.email.enable_sign_up_with_email = false);
    let resp = anon
        .post(format!("{SITE}/api/v4/users"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["id"],
        "api.user.create_user.signup_email_disabled.app_error"
    );

    let (s, carol) = admin
        .call(reqwest::Method::POST, "/api/v4/users", Some(body.clone()))
        .await;
    assert_eq!(s, 201, "{carol}");
    assert_eq!(carol["auth_service"], "");
    let (s, err) = admin
        .call(reqwest::Method::POST, "/api/v4/users", Some(body))
        .await;
    assert_app_error(s, &err, 400, "app.user.save.username_exists.app_error");
    let (s, found) = admin
        .call(reqwest::Method::GET, "/api/v4/users/username/carol", None)
        .await;
    assert_eq!(
        (s, found["email"].as_str()),
        (200, Some("carol@example.com"))
    );
    let (s, err) = admin
        .call(reqwest::Method::GET, "/api/v4/users/username/nobody", None)
        .await;
    assert_app_error(s, &err, 404, "app.user.get_by_username.app_error");

    // A GitLab SSO account cannot sign in with a password.
    assert_eq!(st.sign_up("alice").await.status(), 307);
    let err = api_login(&st, "alice@example.com", "whatever")
        .await
        .err()
        .unwrap();
    assert_eq!(
        (err.0, err.1["id"].as_str()),
        (400, Some("api.user.login.use_auth_service.app_error"))
    );
}

#[tokio::test]
async fn teams_members_and_channels() {
    let st = stack(Options::default()).await;
    let admin = api_login(&st, "sysadmin", "Sys-Admin-Passw0rd!")
        .await
        .ok()
        .unwrap();
    let (s, team) = admin
        .call(
            reqwest::Method::POST,
            "/api/v4/teams",
            Some(json!({"name": "dev", "display_name": "Dev", "type": "O"})),
        )
        .await;
    assert_eq!(s, 201);
    let team_id = team["id"].as_str().unwrap().to_string();
    let (s, err) = admin
        .call(
            reqwest::Method::POST,
            "/api/v4/teams",
            Some(json!({"name": "dev", "display_name": "Dev", "type": "O"})),
        )
        .await;
    assert_app_error(s, &err, 400, "app.team.save.existing.app_error");
    let (s, err) = admin
        .call(
            reqwest::Method::POST,
            "/api/v4/teams",
            Some(json!({"name": "D", "display_name": "Dev", "type": "O"})),
        )
        .await;
    assert_app_error(s, &err, 400, "model.team.is_valid.characters.app_error");
    let (s, got) = admin
        .call(reqwest::Method::GET, "/api/v4/teams/name/dev", None)
        .await;
    assert_eq!((s, got["id"].as_str()), (200, Some(team_id.as_str())));
    let (s, err) = admin
        .call(reqwest::Method::GET, "/api/v4/teams/name/none", None)
        .await;
    assert_app_error(s, &err, 404, "app.team.get_by_name.missing.app_error");

    let (s, ch) = admin
        .call(reqwest::Method::POST, "/api/v4/channels", Some(json!({"team_id": team_id, "name": "builds", "display_name": "Builds", "type": "O"})))
        .await;
    assert_eq!(s, 201);
    assert_eq!(ch["team_id"], team_id.as_str());
    let (s, err) = admin
        .call(reqwest::Method::POST, "/api/v4/channels", Some(json!({"team_id": team_id, "name": "builds", "display_name": "Builds", "type": "O"})))
        .await;
    assert_app_error(
        s,
        &err,
        400,
        "store.sql_channel.save_channel.exists.app_error",
    );
    let (s, err) = admin
        .call(
            reqwest::Method::GET,
            &format!("/api/v4/teams/{team_id}/channels/name/nope"),
            None,
        )
        .await;
    assert_app_error(s, &err, 404, "app.channel.get_by_name.missing.app_error");

    // A GitLab user joins the team and may then read its channels.
    let signed_up = st.sign_up("alice").await;
    assert_eq!(signed_up.status(), 307);
    let csrf = set_cookies(&signed_up)
        .iter()
        .find_map(|c| c.strip_prefix("MMCSRF="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let alice_id = st
        .twin
        .users()
        .into_iter()
        .find(|u| u.username == "alice")
        .unwrap()
        .id;
    let resp = st
        .browser
        .get(format!(
            "{SITE}/api/v4/teams/{team_id}/channels/name/builds"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "not a member yet");
    let (s, member) = admin
        .call(
            reqwest::Method::POST,
            &format!("/api/v4/teams/{team_id}/members"),
            Some(json!({"team_id": team_id, "user_id": alice_id})),
        )
        .await;
    assert_eq!((s, member["roles"].as_str()), (201, Some("team_user")));
    let resp = st
        .browser
        .get(format!(
            "{SITE}/api/v4/teams/{team_id}/channels/name/builds"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Cookie sessions: a write needs the CSRF token (or the legacy XMLHttpRequest header).
    let body =
        json!({"team_id": team_id, "name": "alices", "display_name": "Alice's", "type": "O"});
    let resp = st
        .browser
        .post(format!("{SITE}/api/v4/channels"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = st
        .browser
        .post(format!("{SITE}/api/v4/channels"))
        .header("X-Requested-With", "XMLHttpRequest")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    // The MMCSRF cookie's value as X-CSRF-Token passes too; a wrong one does not.
    let mut body = body;
    body["name"] = json!("alices-2");
    let resp = st
        .browser
        .post(format!("{SITE}/api/v4/channels"))
        .header("X-CSRF-Token", "not-the-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = st
        .browser
        .post(format!("{SITE}/api/v4/channels"))
        .header("X-CSRF-Token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn config_is_redacted_editable_and_env_overrides_stick() {
    let st = stack(Options::default()).await;
    let admin = api_login(&st, "sysadmin", "Sys-Admin-Passw0rd!")
        .await
        .ok()
        .unwrap();
    let (s, cfg) = admin
        .call(reqwest::Method::GET, "/api/v4/config", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        cfg["GitLabSettings"]["Secret"],
        "********************************"
    );
    assert_eq!(cfg["GitLabSettings"]["Id"], CLIENT_ID);
    assert!(!cfg.to_string().contains(CLIENT_SECRET));
    let (s, env) = admin
        .call(reqwest::Method::GET, "/api/v4/config/environment", None)
        .await;
    assert_eq!(
        (s, env),
        (200, json!({"GitLabSettings": {"Id": true, "Secret": true}}))
    );

    let mut edited = cfg.clone();
    edited["GitLabSettings"]["Id"] = json!("changed-in-console");
    edited["ServiceSettings"]["EnablePostUsernameOverride"] = json!(true);
    let (s, saved) = admin
        .call(reqwest::Method::PUT, "/api/v4/config", Some(edited))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        saved["GitLabSettings"]["Id"], CLIENT_ID,
        "env override wins"
    );
    assert_eq!(saved["ServiceSettings"]["EnablePostUsernameOverride"], true);
    assert_eq!(st.twin.settings().gitlab.secret.expose(), CLIENT_SECRET);

    let mut bad = cfg.clone();
    bad["EmailSettings"]["ConnectionSecurity"] = json!("SSL");
    let (s, err) = admin
        .call(reqwest::Method::PUT, "/api/v4/config", Some(bad))
        .await;
    assert_app_error(
        s,
        &err,
        400,
        "model.config.is_valid.email_security.app_error",
    );

    assert_eq!(st.sign_up("alice").await.status(), 307);
    let resp = st
        .browser
        .get(format!("{SITE}/api/v4/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn test_email_reports_connection_failures_like_mattermost() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let st = stack(Options {
        tweak: Box::new(move |s| {
            s.email.smtp_server = "127.0.0.1".into();
            s.email.smtp_port = closed.port().to_string();
        }),
        ..Default::default()
    })
    .await;
    let admin = api_login(&st, "sysadmin", "Sys-Admin-Passw0rd!")
        .await
        .ok()
        .unwrap();
    let (s, err) = admin
        .call(reqwest::Method::POST, "/api/v4/email/test", None)
        .await;
    assert_eq!(s, 500);
    assert_eq!(err["id"], "app.admin.test_email.failure");
    let msg = err["message"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "Connection unsuccessful: unable to connect to the SMTP server: dial tcp 127.0.0.1:"
        ),
        "{msg}"
    );
    assert!(msg.ends_with("connection refused"), "{msg}");
    st.twin
        .update_settings(|s| s.email.smtp_server = String::new());
    let (s, err) = admin
        .call(reqwest::Method::POST, "/api/v4/email/test", None)
        .await;
    assert_app_error(s, &err, 400, "api.admin.test_email.missing_server");
}

#[tokio::test]
async fn mattermost_3_4_has_api_v3_and_no_api_v4() {
    let st = stack(Options {
        profile: Profile::Gitlab8_12,
        ..Default::default()
    })
    .await;
    let resp = st
        .browser
        .get(format!("{SITE}/api/v4/system/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["id"], "api.context.404.app_error");
    let resp = st
        .browser
        .get(format!("{SITE}/api/v3/general/ping"))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["x-version-id"]
            .to_str()
            .unwrap()
            .starts_with("3.4.0.")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["version"], "3.4.0");
    // Omnibus 8.12: sign-in with username off, with email on.
    let resp = st
        .browser
        .post(format!("{SITE}/api/v3/users/login"))
        .json(&json!({"login_id": "sysadmin", "password": "Sys-Admin-Passw0rd!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = st
        .browser
        .post(format!("{SITE}/api/v3/users/login"))
        .json(&json!({"login_id": "sysadmin@example.com", "password": "Sys-Admin-Passw0rd!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("token"));
}

#[tokio::test]
async fn a_blank_site_url_is_taken_from_the_request() {
    let st = stack(Options {
        tweak: Box::new(|s| s.service.site_url = String::new()),
        ..Default::default()
    })
    .await;
    let resp = st
        .browser
        .get(format!("{SITE}/oauth/gitlab/login"))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let cookies = set_cookies(&resp);
    assert!(
        cookies.iter().any(|c| c.starts_with("MMOAUTH=")
            && c.contains("Secure")
            && c.contains("Max-Age=1800")),
        "{cookies:?}"
    );
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        query_of(&location)["redirect_uri"],
        "https://mattermost.example.com/signup/gitlab/complete"
    );
    // Errors point at a relative /error URL (RenderWebError prefixes the configured SiteURL).
    let resp = st
        .browser
        .get(format!("{SITE}/login/gitlab/complete?error=access_denied"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 307);
    assert!(
        resp.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/error?service=Gitlab&type=oauth_access_denied&s=")
    );
}
