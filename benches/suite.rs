//! Wall time of the conformance suite on the twin: the shipped suite (the scenarios compiled into
//! the binary) with `--jobs 1`, `--jobs 2` and the twin's default (`default_jobs`: 4 per core), the
//! `mm-harness run` process itself (default `--jobs`) started from an empty directory (what a user
//! or CI job waits for), and each scenario alone. Run with
//! `cargo bench --bench suite` (add `--profile dev` to skip the release build, and
//! `-- --warm-up-time 1 --measurement-time 5` for a short run). Snapshots are written to a
//! temporary directory so the figure measures the run, not a snapshot mismatch.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mm_harness::check::SnapshotMode;
use mm_harness::run::{RunOptions, no_events, run};
use mm_harness::scenario::{Scenario, Selection, Suite, select_suite};

fn scenarios() -> Vec<Scenario> {
    select_suite(&Suite::shipped(), &Selection::default())
        .unwrap_or_else(|errs| panic!("{}", errs.iter().map(|e| e.render()).collect::<String>()))
}

/// `mm-harness run` from `cwd` (an empty directory: the shipped suite and snapshots).
fn run_binary(cwd: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_mm-harness"))
        .args(["run", "--format", "json"])
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mm-harness");
    assert!(
        o.status.success(),
        "the suite must pass to be measured: {}",
        String::from_utf8_lossy(&o.stderr)
    );
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
    let jobs = mm_harness::cli::run_cmd::default_jobs(mm_harness::scenario::TargetKind::Twin);
    group.bench_function(format!("all scenarios, --jobs {jobs} (default)"), |b| {
        b.iter(|| run_suite(&rt, &all, jobs, &dir))
    });
    let empty = tempfile::tempdir().expect("temp dir");
    group.bench_function("mm-harness run (process, default --jobs)", |b| {
        b.iter(|| run_binary(empty.path()))
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
