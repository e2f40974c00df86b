//! Wall time of the conformance suite on the twin: the whole suite with `--jobs 1` and `--jobs 2`,
//! and each scenario alone. Run with `cargo bench --bench suite`. Snapshots are written to a
//! temporary directory so the figure measures the run, not a snapshot mismatch.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mm_harness::check::SnapshotMode;
use mm_harness::run::{RunOptions, no_events, run};
use mm_harness::scenario::{Scenario, Selection, select};

fn scenarios() -> Vec<Scenario> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    select(&dir, &Selection::default())
        .unwrap_or_else(|errs| panic!("{}", errs.iter().map(|e| e.render()).collect::<String>()))
}

fn run_suite(rt: &tokio::runtime::Runtime, scenarios: &[Scenario], jobs: usize, dir: &Path) {
    let mut opts = RunOptions::twin(dir.to_path_buf());
    opts.jobs = jobs;
    opts.snapshots = SnapshotMode::Update;
    let summary = rt.block_on(run(scenarios.to_vec(), opts, no_events()));
    assert!(
        summary.all_passed(),
        "the suite must pass to be measured: {} failed, {} errors",
        summary.failed,
        summary.errors
    );
}

fn suite(c: &mut Criterion) {
    mm_harness::crypto::install_default_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let all = scenarios();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_path_buf();

    let mut group = c.benchmark_group("suite");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("all scenarios, --jobs 1", |b| {
        b.iter(|| run_suite(&rt, &all, 1, &dir))
    });
    group.bench_function("all scenarios, --jobs 2", |b| {
        b.iter(|| run_suite(&rt, &all, 2, &dir))
    });
    group.finish();

    let mut group = c.benchmark_group("scenario");
    group.sample_size(10);
    for s in &all {
        let one = vec![s.clone()];
        group.bench_function(s.name.clone(), |b| b.iter(|| run_suite(&rt, &one, 1, &dir)));
    }
    group.finish();
}

criterion_group!(benches, suite);
criterion_main!(benches);
