//! Benchmarks of the twin's Mattermost side and mail on loopback: starting a Mattermost twin
//! (state, router, listener), one GitLab SSO round trip through it (login redirect + callback with
//! the real token and user requests to a minimal GitLab stand-in), and one email through
//! `send_mail` into the harness's mail sink. The whole-stack figures are in `benches/twin.rs`.

use std::net::SocketAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use mm_harness::config::model::{MattermostSettings, Secret};
use mm_harness::config::version::Profile;
use mm_harness::mailsink::{ListenerMode, ListenerSpec, MailSink, SinkOptions};
use mm_harness::net::AddressBook;
use mm_harness::twin::mail::{OutgoingMail, send_mail};
use mm_harness::twin::mattermost::{MattermostTwin, MattermostTwinConfig};
use serde_json::json;

const SITE: &str = "http://mattermost.example.com";

async fn serve(router: axum::Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, task)
}

fn gitlab_stand_in() -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(
            "/oauth/token",
            post(|| async {
                axum::Json(json!({"access_token": "tok", "token_type": "Bearer", "expires_in": 7200}))
            }),
        )
        .route(
            "/api/v4/user",
            get(|| async {
                axum::Json(json!({"id": 42, "username": "alice", "email": "alice@example.com", "name": "Alice L"}))
            }),
        )
}

fn settings(gitlab: &str) -> MattermostSettings {
    let mut s = MattermostSettings::defaults(Profile::Gitlab18_11);
    s.service.site_url = SITE.into();
    s.gitlab.enable = true;
    s.gitlab.id = "uid".into();
    s.gitlab.secret = Secret::new("secret");
    s.gitlab.auth_endpoint = format!("{gitlab}/oauth/authorize");
    s.gitlab.token_endpoint = format!("{gitlab}/oauth/token");
    s.gitlab.user_api_endpoint = format!("{gitlab}/api/v4/user");
    s
}

fn benches(c: &mut Criterion) {
    mm_harness::crypto::install_default_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    c.bench_function("mattermost_twin_start", |b| {
        b.iter(|| {
            rt.block_on(async {
                let twin = MattermostTwin::new(MattermostTwinConfig {
                    settings: settings("http://gitlab.example.com"),
                    ..Default::default()
                });
                let (_, task) = serve(twin.router()).await;
                task.abort();
            })
        })
    });

    let (browser, _twin) = rt.block_on(async {
        let (gitlab_addr, _) = serve(gitlab_stand_in()).await;
        let mut book = AddressBook::new();
        book.insert("http", "gitlab.example.com", 80, gitlab_addr);
        let twin = MattermostTwin::new(MattermostTwinConfig {
            settings: settings("http://gitlab.example.com"),
            address_book: book,
            ..Default::default()
        });
        let (mm_addr, _) = serve(twin.router()).await;
        let browser = reqwest::Client::builder()
            .resolve("mattermost.example.com", mm_addr)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        (browser, twin)
    });
    c.bench_function("mattermost_sso_round_trip", |b| {
        b.iter(|| {
            rt.block_on(async {
                let resp = browser
                    .get(format!("{SITE}/oauth/gitlab/login"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 302);
                let location = resp.headers()["location"].to_str().unwrap().to_string();
                let state = url::Url::parse(&location)
                    .unwrap()
                    .query_pairs()
                    .find(|(k, _)| k == "state")
                    .map(|(_, v)| v.into_owned())
                    .unwrap();
                let resp = browser
                    .get(format!("{SITE}/login/gitlab/complete"))
                    .query(&[("code", "c"), ("state", state.as_str())])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 307);
            })
        })
    });

    let (server, email, book) = rt.block_on(async {
        let mut opts = SinkOptions::new("smtp.example.com")
            .with_listener(ListenerSpec::loopback("smtp", ListenerMode::Plain));
        opts.http_bind = None;
        // Thousands of iterations: keep only the newest messages.
        opts.limits.max_messages = 100;
        let server = MailSink::start(opts).await.unwrap();
        let mut book = AddressBook::new();
        book.insert(
            "smtp",
            "smtp.example.com",
            25,
            server.addr(ListenerMode::Plain).unwrap(),
        );
        let mut email = MattermostSettings::defaults(Profile::Gitlab18_11).email;
        email.smtp_server = "smtp.example.com".into();
        email.smtp_port = "25".into();
        (server, email, book)
    });
    let msg = OutgoingMail {
        to: "alice@example.com".into(),
        subject: "Test email".into(),
        html_body: "<p>It appears your Mattermost email is setup correctly!</p>".into(),
    };
    c.bench_function("mattermost_send_mail_plain", |b| {
        b.iter(|| {
            rt.block_on(async {
                send_mail(&email, SITE, &book, &[], &msg).await.unwrap();
            })
        })
    });
    drop(server);
}

criterion_group!(twin_mattermost, benches);
criterion_main!(twin_mattermost);
