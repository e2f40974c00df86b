//! The twin's request log: every request its GitLab and Mattermost listeners answered (host,
//! method, path and query, status), in arrival order, for tests that must prove what a client
//! did — the doctor's read-only promise (no request that changes state), the webhook probe's
//! clean-up. Bounded: past [`MAX_ENTRIES`] requests are counted, not kept.
//!
//! Owns: [`RequestLog`] (shared by every listener of one twin) and its axum layer.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;

/// Requests kept; a twin serving more keeps the first ones.
pub const MAX_ENTRIES: usize = 100_000;

/// One request as the twin answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The `Host` header (the twin serves several names).
    pub host: String,
    pub method: String,
    /// Path and query.
    pub target: String,
    pub status: u16,
}

impl LoggedRequest {
    /// Whether the method may change state (anything but GET, HEAD, OPTIONS).
    pub fn writes(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }
}

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<LoggedRequest>,
    dropped: usize,
}

/// Shared by every listener of one twin.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Inner>>);

impl RequestLog {
    /// `router` with every answered request recorded here.
    pub fn layer(&self, router: Router) -> Router {
        let log = self.clone();
        router.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let log = log.clone();
                async move {
                    let host = req
                        .headers()
                        .get(axum::http::header::HOST)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let method = req.method().to_string();
                    let target = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    let resp = next.run(req).await;
                    log.push(LoggedRequest {
                        host,
                        method,
                        target,
                        status: resp.status().as_u16(),
                    });
                    resp
                }
            },
        ))
    }

    fn push(&self, r: LoggedRequest) {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if inner.entries.len() < MAX_ENTRIES {
            inner.entries.push(r);
        } else {
            inner.dropped += 1;
        }
    }

    /// Every request kept so far.
    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .clone()
    }

    /// How many entries there are now (a mark to read the requests after it).
    pub fn len(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The requests after `mark` (a [`RequestLog::len`] taken earlier).
    pub fn since(&self, mark: usize) -> Vec<LoggedRequest> {
        let inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        inner.entries.get(mark..).unwrap_or_default().to_vec()
    }
}
