//! Watch mode (`mm-doctor serve --listen 127.0.0.1:PORT`), as goss serve does for hosts: the
//! checks re-run on an interval and the last diagnosis is served over HTTP — `/healthz` answers
//! 200 when nothing fails and 503 otherwise (or before the first diagnosis finished), `/metrics`
//! in Prometheus' text format: one gauge per finding id (the count of that finding in the last
//! diagnosis, every catalogue id listed so alerts can match on zero), each check's duration, and
//! run counters.
//!
//! Owns: [`Watcher`] (the loop and the last report) and [`metrics_text`].

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::RwLock;

use super::finding::FindingKind;
use super::inputs::Prepared;
use super::run::{DoctorReport, diagnose};

/// The loop's state: the last report and how many diagnoses ran.
#[derive(Default)]
pub struct Watcher {
    last: RwLock<Option<DoctorReport>>,
    runs: AtomicU64,
}

impl Watcher {
    /// Diagnose once and keep the report.
    pub async fn run_once(&self, prepared: &Prepared) {
        let report = diagnose(prepared.clone()).await;
        *self.last.write().await = Some(report);
        self.runs.fetch_add(1, Ordering::Relaxed);
    }

    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }
}

/// The Prometheus exposition of the last report.
pub fn metrics_text(report: Option<&DoctorReport>, runs: u64) -> String {
    let mut out = String::new();
    out.push_str("# HELP mm_doctor_finding How many times each finding was reported by the last diagnosis.\n");
    out.push_str("# TYPE mm_doctor_finding gauge\n");
    for k in FindingKind::ALL {
        let n = report
            .map(|r| r.findings().filter(|(_, f)| f.kind == k).count())
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "mm_doctor_finding{{id=\"{}\",severity=\"{}\"}} {n}",
            k.id(),
            k.severity().name()
        );
    }
    out.push_str(
        "# HELP mm_doctor_check_duration_seconds How long each check of the last diagnosis took.\n",
    );
    out.push_str("# TYPE mm_doctor_check_duration_seconds gauge\n");
    if let Some(r) = report {
        for c in &r.checks {
            let _ = writeln!(
                out,
                "mm_doctor_check_duration_seconds{{check=\"{}\"}} {:.6}",
                c.check.name(),
                c.duration.as_secs_f64()
            );
        }
        out.push_str("# HELP mm_doctor_duration_seconds Wall time of the last diagnosis.\n");
        out.push_str("# TYPE mm_doctor_duration_seconds gauge\n");
        let _ = writeln!(
            out,
            "mm_doctor_duration_seconds {:.6}",
            r.duration.as_secs_f64()
        );
    }
    out.push_str("# HELP mm_doctor_healthy 1 when the last diagnosis found no failure.\n");
    out.push_str("# TYPE mm_doctor_healthy gauge\n");
    let healthy = report.is_some_and(|r| r.exit().code() == 0);
    let _ = writeln!(out, "mm_doctor_healthy {}", u8::from(healthy));
    out.push_str("# HELP mm_doctor_runs_total Diagnoses run since start.\n");
    out.push_str("# TYPE mm_doctor_runs_total counter\n");
    let _ = writeln!(out, "mm_doctor_runs_total {runs}");
    out
}

async fn healthz(State(w): State<Arc<Watcher>>) -> Response {
    let last = w.last.read().await;
    match last.as_ref() {
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: no diagnosis yet\n",
        )
            .into_response(),
        Some(r) if r.exit().code() == 0 => (
            StatusCode::OK,
            format!("ok: {}\n", crate::report::doctor::summary_line(r)),
        )
            .into_response(),
        Some(r) => {
            let failing: Vec<&str> = r
                .findings()
                .filter(|(_, f)| f.severity() == super::finding::Severity::Fail)
                .map(|(_, f)| f.kind.id())
                .collect();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "failing: {}\n{}\n",
                    failing.join(", "),
                    crate::report::doctor::summary_line(r)
                ),
            )
                .into_response()
        }
    }
}

async fn metrics(State(w): State<Arc<Watcher>>) -> Response {
    let last = w.last.read().await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics_text(last.as_ref(), w.runs()),
    )
        .into_response()
}

/// The HTTP side.
pub fn router(w: Arc<Watcher>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(w)
}

/// A bound watch server: where it listens, and its state.
pub struct Serving {
    pub addr: SocketAddr,
    pub watcher: Arc<Watcher>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Serving {
    /// Stop the loop and the listener.
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Bind `listen`, start the diagnosis loop (every `interval`) and serve.
pub async fn start(
    prepared: Prepared,
    listen: SocketAddr,
    interval: Duration,
) -> std::io::Result<Serving> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let watcher = Arc::new(Watcher::default());
    let w = watcher.clone();
    let looping = tokio::spawn(async move {
        loop {
            w.run_once(&prepared).await;
            tokio::time::sleep(interval).await;
        }
    });
    let app = router(watcher.clone());
    let serving = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Serving {
        addr,
        watcher,
        tasks: vec![looping, serving],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_finding_id_is_a_gauge_even_at_zero() {
        let text = metrics_text(None, 0);
        for k in FindingKind::ALL {
            assert!(text.contains(&format!("mm_doctor_finding{{id=\"{}\"", k.id())));
        }
        assert!(text.contains("mm_doctor_healthy 0"));
    }
}
