//! The sink's error type: one struct with a kind enum (the project's rule for every area).
//!
//! Owns: [`SinkError`], [`SinkErrorKind`]. Only start-up can fail; a misbehaving SMTP or HTTP
//! client never produces a `SinkError` (it gets an SMTP or HTTP error and the sink carries on).

use std::net::SocketAddr;

/// Why a sink could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the mail sink: {kind}")]
pub struct SinkError {
    #[source]
    pub kind: SinkErrorKind,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum SinkErrorKind {
    #[error("cannot listen on {addr}: {source} (is the address in use, or not on this machine?)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "listener {listener:?} speaks TLS but the sink has no certificate issuer (set SinkOptions::certificates)"
    )]
    NoCertificates { listener: String },
    #[error("cannot issue the {cert} certificate for {host:?}: {message}")]
    Certificate {
        host: String,
        cert: &'static str,
        message: String,
    },
    #[error("the sink needs at least one SMTP listener")]
    NoListeners,
    #[error("two listeners are named {0:?}; names must be unique")]
    DuplicateListener(String),
    #[error("limit {name} must be at least {min}, got {value}")]
    Limit {
        name: &'static str,
        min: usize,
        value: usize,
    },
}

impl From<SinkErrorKind> for SinkError {
    fn from(kind: SinkErrorKind) -> Self {
        SinkError { kind }
    }
}
