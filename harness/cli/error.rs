//! [`CliError`]: the one error type every subcommand returns (nextest's `ExpectedError`). It
//! carries its exit code ([`CliError::exit`]) and renders itself for stderr ([`CliError::render`]),
//! so `run`, `config`, `twin`, `scenarios` — and `doctor` and `upgrade-plan` when they arrive —
//! fail the same way: diagnostics first (a file's errors with carets), then one `error:` line, then
//! a `help:` line when there is something to do. Server text in a message is escaped for the
//! terminal when rendered.

use std::fmt::Write as _;

use super::exit::Exit;
use crate::report::escape;

/// Why a subcommand did not succeed; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliErrorKind {
    /// The installation misbehaves: a scenario failed (exit 1).
    Failed,
    /// Bad input: flags, files, names, missing configuration (exit 2).
    BadInput,
    /// The environment broke: target unreachable, a file that cannot be written (exit 3).
    Environment,
    /// A bug in mm-harness: a panic caught while running (exit 101).
    HarnessBug,
    /// Stopped by SIGINT or SIGTERM (exit 130).
    Interrupted,
}

impl CliErrorKind {
    pub fn exit(self) -> Exit {
        match self {
            CliErrorKind::Failed => Exit::Failed,
            CliErrorKind::BadInput => Exit::BadInput,
            CliErrorKind::Environment => Exit::Environment,
            CliErrorKind::HarnessBug => Exit::HarnessBug,
            CliErrorKind::Interrupted => Exit::Interrupted,
        }
    }
}

/// A subcommand's failure: kind (exit code), a one-line lower-case message, diagnostics already
/// rendered by the stage that found them, and an optional hint.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub kind: CliErrorKind,
    /// One line, lower-case; empty when the subcommand has printed everything already.
    pub message: String,
    /// Rendered diagnostics (a file's errors with position and caret), printed before `message`.
    pub details: Vec<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(kind: CliErrorKind, message: impl Into<String>) -> Self {
        CliError {
            kind,
            message: message.into(),
            details: Vec::new(),
            hint: None,
        }
    }
    /// Exit 2.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(CliErrorKind::BadInput, message)
    }
    /// Exit 3.
    pub fn environment(message: impl Into<String>) -> Self {
        Self::new(CliErrorKind::Environment, message)
    }
    /// Exit 1.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(CliErrorKind::Failed, message)
    }
    /// A subcommand that printed its own diagnostics and only needs the exit code (nothing more
    /// is rendered). `Exit::Ok` is not an error: callers map it to `Ok(())` first.
    pub fn reported(exit: Exit) -> Self {
        let kind = match exit {
            Exit::Ok | Exit::Failed => CliErrorKind::Failed,
            Exit::BadInput => CliErrorKind::BadInput,
            Exit::Environment => CliErrorKind::Environment,
            Exit::HarnessBug => CliErrorKind::HarnessBug,
            Exit::Interrupted => CliErrorKind::Interrupted,
        };
        Self::new(kind, "")
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }

    /// The process exit code.
    pub fn exit(&self) -> Exit {
        self.kind.exit()
    }

    /// The text for stderr: details, `error: message`, `  = help: hint`; control characters
    /// escaped.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.details {
            out.push_str(&escape::terminal(d));
            if !d.ends_with('\n') {
                out.push('\n');
            }
        }
        if !self.message.is_empty() {
            let _ = writeln!(out, "error: {}", escape::terminal(&self.message));
        }
        if let Some(h) = &self.hint {
            let _ = writeln!(out, "  = help: {}", escape::terminal(h));
        }
        out
    }
}

/// Whether an exit code is a success; the one conversion from a legacy `Exit` to a result.
pub fn from_exit(exit: Exit) -> Result<(), CliError> {
    match exit {
        Exit::Ok => Ok(()),
        other => Err(CliError::reported(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_details_message_and_hint_with_escapes() {
        let e = CliError::bad_input("the server said \u{1b}[31mno")
            .with_details(vec!["x.toml:1:1: bad\n  ^".into()])
            .with_hint("fix it");
        assert_eq!(e.exit(), Exit::BadInput);
        assert_eq!(
            e.render(),
            "x.toml:1:1: bad\n  ^\nerror: the server said \\u{1b}[31mno\n  = help: fix it\n"
        );
        assert_eq!(CliError::reported(Exit::Environment).render(), "");
        assert_eq!(
            from_exit(Exit::Environment).unwrap_err().exit(),
            Exit::Environment
        );
        assert!(from_exit(Exit::Ok).is_ok());
    }
}
