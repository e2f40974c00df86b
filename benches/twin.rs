//! Twin performance: start-up of the whole stack (target < 50 ms) and one full GitLab SSO sign-up
//! round trip on loopback with a plain HTTP client (target < 5 ms median): Mattermost's GitLab
//! button, GitLab sign-in, consent, callback, token and user requests, user creation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mm_harness::config::model::Secret;
use mm_harness::config::version::Profile;
use mm_harness::twin::bringup::{Twin, TwinHandle, TwinOptions};
use mm_harness::twin::gitlab::GitlabUser;
use reqwest::cookie::Jar;
use scraper::{Html, Selector};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn startup(c: &mut Criterion) {
    mm_harness::crypto::install_default_provider();
    let rt = runtime();
    let mut group = c.benchmark_group("twin_startup");
    group.measurement_time(Duration::from_secs(5));
    for (name, opts) in [
        ("http", TwinOptions::single_server(Profile::Gitlab18_11)),
        (
            "https",
            TwinOptions::single_server_https(Profile::Gitlab18_11),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let handle = Twin::start(opts.clone()).await.expect("twin starts");
                    handle.shutdown().await;
                })
            })
        });
    }
    group.finish();
}

fn client(handle: &TwinHandle, jar: Arc<Jar>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar)
        .timeout(Duration::from_secs(10))
        .no_proxy();
    for e in handle.address_book().for_scheme("http") {
        b = b.resolve(&e.host, e.addr);
    }
    b.build().expect("client")
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()["location"]
        .to_str()
        .expect("ascii location")
        .to_string()
}

fn form(html: &str, selector: &str) -> Vec<(String, String)> {
    let doc = Html::parse_document(html);
    let form = doc
        .select(&Selector::parse(selector).expect("selector"))
        .next()
        .expect("form present");
    form.select(&Selector::parse("input").expect("selector"))
        .filter(|i| i.value().attr("type") != Some("checkbox"))
        .filter_map(|i| {
            Some((
                i.value().attr("name")?.to_string(),
                i.value().attr("value").unwrap_or("").to_string(),
            ))
        })
        .collect()
}

/// One sign-up of a fresh GitLab user through Mattermost with a fresh browser (`http`, its own
/// cookie jar); returns the callback status.
async fn sign_up(http: &reqwest::Client, username: &str, password: &str) -> u16 {
    let gitlab = "http://gitlab.example.com";
    let resp = http
        .get("http://mattermost.example.com/oauth/gitlab/signup")
        .send()
        .await
        .expect("signup");
    let authorize = location(&resp);
    let resp = http.get(&authorize).send().await.expect("authorize");
    assert_eq!(resp.status(), 302);
    let page = http
        .get(format!("{gitlab}/users/sign_in"))
        .send()
        .await
        .expect("sign-in form")
        .text()
        .await
        .expect("body");
    let mut fields = form(&page, "form#new_user");
    fields.retain(|(k, _)| k != "user[login]" && k != "user[password]");
    fields.push(("user[login]".into(), username.into()));
    fields.push(("user[password]".into(), password.into()));
    let resp = http
        .post(format!("{gitlab}/users/sign_in"))
        .form(&fields)
        .send()
        .await
        .expect("sign in");
    let consent = http
        .get(location(&resp))
        .send()
        .await
        .expect("consent")
        .text()
        .await
        .expect("body");
    let approve = form(&consent, "form:not(:has(input[name=_method]))");
    let resp = http
        .post(format!("{gitlab}/oauth/authorize"))
        .form(&approve)
        .send()
        .await
        .expect("approve");
    let callback = location(&resp);
    let resp = http.get(&callback).send().await.expect("callback");
    resp.status().as_u16()
}

fn sso_round_trip(c: &mut Criterion) {
    mm_harness::crypto::install_default_provider();
    let rt = runtime();
    let handle = rt
        .block_on(Twin::start(TwinOptions::single_server(
            Profile::Gitlab18_11,
        )))
        .expect("twin");
    let gitlab = handle.gitlab().expect("gitlab").twin;
    let next = AtomicU64::new(1000);
    let mut group = c.benchmark_group("twin_sso");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("sign_up_round_trip_18_11", |b| {
        b.iter_batched(
            // Untimed: a new GitLab account, so every round trip signs up a new Mattermost user,
            // and a new browser (client + empty cookie jar).
            || {
                let id = next.fetch_add(1, Ordering::Relaxed);
                let created = gitlab.create_user(GitlabUser {
                    id,
                    username: format!("user{id}"),
                    name: format!("User {id}"),
                    email: format!("user{id}@example.com"),
                    password: Secret::new("Bench-pass-1"),
                    admin: false,
                });
                assert!(created);
                (
                    format!("user{id}"),
                    client(&handle, Arc::new(Jar::default())),
                )
            },
            |(username, http)| {
                let status = rt.block_on(sign_up(&http, &username, "Bench-pass-1"));
                assert_eq!(status, 307, "callback status");
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, startup, sso_round_trip);
criterion_main!(benches);
