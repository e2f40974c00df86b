//! The stack stage's error type: a target that cannot be brought up, reached or changed.

/// What went wrong with a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackErrorKind {
    /// The target is not built yet (docker).
    NotAvailable,
    /// The target could not be started or reached (exit 3).
    Environment,
    /// The scenario's configuration cannot be applied (gitlab.rb errors, unsupported topology).
    Configuration,
    /// The target refuses the operation (live: reconfigure, writes without `--allow-writes`).
    Refused,
}

/// A stack failure with a lower-case message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StackError {
    pub kind: StackErrorKind,
    pub message: String,
}

impl StackError {
    pub fn new(kind: StackErrorKind, message: impl Into<String>) -> Self {
        StackError {
            kind,
            message: message.into(),
        }
    }
}
