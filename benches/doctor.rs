//! Doctor wall time (docs/doctor.md, "Performance"): a full diagnosis of a healthy twin stack on
//! loopback (goal < 200 ms), and of a Mattermost host that accepts connections and never answers
//! (a blackholed port) with `--timeout 2` (goal < 2.5 s: every check runs concurrently under its
//! own deadline, so the dead host costs one timeout, not the sum).
//!
//! Run briefly: `cargo bench --bench doctor -- --measurement-time 5`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mm_harness::config::Secret;
use mm_harness::config::version::Profile;
use mm_harness::doctor::{DoctorInputs, Prepared, diagnose};
use mm_harness::net::AddressBook;
use mm_harness::twin::bringup::{Twin, TwinHandle, TwinOptions};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A Mattermost admin token from the twin (POST /api/v4/users/login).
async fn mattermost_token(h: &TwinHandle) -> String {
    let mm = h.mattermost().expect("mattermost");
    let mut b = reqwest::Client::builder().no_proxy();
    for e in h.address_book().for_scheme("http") {
        b = b.resolve(&e.host, e.addr);
    }
    let resp = b
        .build()
        .expect("client")
        .post(format!("{}/api/v4/users/login", mm.url))
        .json(&serde_json::json!({"login_id": mm.admin_username, "password": mm.admin_password.expose()}))
        .send()
        .await
        .expect("login");
    resp.headers()
        .get("token")
        .and_then(|v| v.to_str().ok())
        .expect("token header")
        .to_string()
}

fn healthy(c: &mut Criterion) {
    mm_harness::crypto::install_default_provider();
    let rt = runtime();
    let (handle, inputs) = rt.block_on(async {
        let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
            .await
            .expect("twin starts");
        let mut i = DoctorInputs::new();
        i.mattermost = Some(h.mattermost().unwrap().url.parse().unwrap());
        i.gitlab = Some(h.gitlab().unwrap().url.parse().unwrap());
        i.book = h.address_book().clone();
        i.roots = vec![h.ca_der()];
        i.gitlab_token = Some(h.gitlab().unwrap().admin_token);
        i.mattermost_token = Some(Secret::new(mattermost_token(&h).await));
        i.timeout = Duration::from_secs(5);
        (h, i)
    });
    let mut group = c.benchmark_group("doctor");
    group.sample_size(20);
    group.bench_function("healthy-twin", |b| {
        b.iter(|| {
            let p = Prepared::new(inputs.clone()).expect("inputs");
            let report = rt.block_on(diagnose(p));
            assert_eq!(report.exit().code(), 0);
        })
    });
    group.finish();
    rt.block_on(handle.shutdown());
}

fn blackholed(c: &mut Criterion) {
    mm_harness::crypto::install_default_provider();
    let rt = runtime();
    // Accept every connection and never answer; keep the sockets open.
    let addr = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        addr
    });
    let mut book = AddressBook::new();
    for scheme in ["http", "https"] {
        book.insert(scheme, "mattermost.example.com", 80, addr);
        book.insert(scheme, "gitlab.example.com", 80, addr);
    }
    let mut inputs = DoctorInputs::new();
    inputs.mattermost = Some("http://mattermost.example.com".parse().unwrap());
    inputs.gitlab = Some("http://gitlab.example.com".parse().unwrap());
    inputs.book = book;
    inputs.timeout = Duration::from_secs(2);
    let mut group = c.benchmark_group("doctor");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(25));
    group.bench_function("blackholed-timeout-2s", |b| {
        b.iter(|| {
            let p = Prepared::new(inputs.clone()).expect("inputs");
            let report = rt.block_on(diagnose(p));
            assert_eq!(report.exit().code(), 3);
        })
    });
    group.finish();
}

criterion_group!(benches, healthy, blackholed);
criterion_main!(benches);
