//! Twin performance: start-up of the whole stack (target < 50 ms) and one full GitLab SSO sign-up
//! round trip on loopback with a plain HTTP client (target < 5 ms median).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mm_harness::config::version::Profile;
use mm_harness::twin::bringup::{Twin, TwinOptions};

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

criterion_group!(benches, startup);
criterion_main!(benches);
