//! The drivers' error type: a request that could not be made or answered, or a page that is not
//! what a person (or GitLab's integration) would expect at that point.

/// What went wrong while driving the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveErrorKind {
    /// The HTTP client could not be built (bad CA roots, TLS settings).
    Setup,
    /// Connecting, TLS, or reading the answer failed (or timed out).
    Network,
    /// The answer is not what the protocol says comes next (missing form, bad JSON, wrong status).
    Protocol,
    /// The stack does not offer what the step needs (unknown user, no admin token, no host).
    Unavailable,
}

/// A driver failure, with a lower-case message naming the URL or page concerned.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DriveError {
    pub kind: DriveErrorKind,
    pub message: String,
    /// When an API refused the request: its HTTP status and error id (Mattermost's `id`).
    pub refusal: Option<(u16, Option<String>)>,
}

impl DriveError {
    pub fn new(kind: DriveErrorKind, message: impl Into<String>) -> Self {
        DriveError {
            kind,
            message: message.into(),
            refusal: None,
        }
    }
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(DriveErrorKind::Protocol, message)
    }
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(DriveErrorKind::Network, message)
    }
    /// An API answered with an error status (and perhaps an error id).
    pub fn refused(status: u16, id: Option<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new(DriveErrorKind::Protocol, message);
        e.refusal = Some((status, id));
        e
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(DriveErrorKind::Unavailable, message)
    }
}

/// The full chain of an error's sources as one line ("error sending request: ...: connection refused").
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}
