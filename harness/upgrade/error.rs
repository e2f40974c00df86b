//! The upgrade area's one error type: a kind, a message, and a hint for the user.

use std::fmt;

/// What kind of input `upgrade-plan` refused. Every kind is bad input (exit 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeErrorKind {
    /// Not a version number at all.
    BadVersion,
    /// A well-formed version omnibus never tagged.
    UnknownRelease,
    /// `--to` before `--from`.
    Downgrade,
    /// A gitlab.rb or config.json that could not be read or parsed.
    Input,
}

/// An error of the upgrade area.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UpgradeError {
    pub kind: UpgradeErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

impl UpgradeError {
    pub fn new(kind: UpgradeErrorKind, message: impl Into<String>) -> Self {
        UpgradeError {
            kind,
            message: message.into(),
            hint: None,
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}
