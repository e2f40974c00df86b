//! The scenario stage's error type: a file that cannot be read, or one that does not validate
//! (with every diagnostic of the file, rendered with its line and caret).

use std::path::PathBuf;

use crate::diag::Diagnostic;

/// What went wrong with a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioErrorKind {
    /// The file or directory could not be read.
    Io,
    /// The file is not a valid scenario (syntax, unknown keys, steps, placeholders...).
    Invalid,
    /// A scenario name or path given on the command line matches nothing.
    NotFound,
}

/// A scenario file problem. `diagnostics` holds every error found in the file, not just the first.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ScenarioError {
    pub kind: ScenarioErrorKind,
    pub path: PathBuf,
    pub message: String,
    pub diagnostics: Vec<Diagnostic>,
    /// Errors found beyond the ones kept in `diagnostics` (a file gives at most
    /// [`super::fields::MAX_DIAGNOSTICS`]).
    pub omitted: usize,
}

impl ScenarioError {
    pub fn io(path: PathBuf, err: &std::io::Error) -> Self {
        ScenarioError {
            kind: ScenarioErrorKind::Io,
            message: format!("failed to read {}: {err}", path.display()),
            path,
            diagnostics: Vec::new(),
            omitted: 0,
        }
    }

    pub fn invalid(path: PathBuf, diagnostics: Vec<Diagnostic>) -> Self {
        Self::invalid_with_omitted(path, diagnostics, 0)
    }

    /// Invalid, with `omitted` more errors found than `diagnostics` holds.
    pub fn invalid_with_omitted(
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
        omitted: usize,
    ) -> Self {
        let n = diagnostics.len() + omitted;
        ScenarioError {
            kind: ScenarioErrorKind::Invalid,
            message: format!(
                "{} is not a valid scenario ({n} error{})",
                path.display(),
                if n == 1 { "" } else { "s" }
            ),
            path,
            diagnostics,
            omitted,
        }
    }

    /// The scenario directory named with `--scenario-dir` cannot be listed.
    pub fn directory(path: PathBuf, err: &std::io::Error) -> Self {
        ScenarioError {
            kind: ScenarioErrorKind::Io,
            message: format!(
                "cannot read the scenario directory `{}` (--scenario-dir): {err}; the shipped scenarios need no directory",
                path.display()
            ),
            path,
            diagnostics: Vec::new(),
            omitted: 0,
        }
    }

    /// A `--tag` that no scenario of the directory carries.
    pub fn unknown_tag(tag: &str, hint: Option<&str>) -> Self {
        Self::nothing_matches(format!("no scenario is tagged {tag:?}"), tag, hint)
    }

    pub fn not_found(what: &str, hint: Option<&str>) -> Self {
        Self::nothing_matches(format!("no scenario named or at {what:?}"), what, hint)
    }

    /// A scenario name that is neither a file nor a scenario of the directory, and is not close to
    /// one: the error lists what the directory holds.
    pub fn unknown_name(what: &str, available: &[String]) -> Self {
        let mut e = Self::not_found(what, None);
        if available.is_empty() {
            e.message
                .push_str(" (the scenario directory holds no scenarios)");
        } else {
            e.message
                .push_str(&format!("; known scenarios: {}", available.join(", ")));
        }
        e
    }

    fn nothing_matches(mut message: String, what: &str, hint: Option<&str>) -> Self {
        if let Some(h) = hint {
            message.push_str(&format!(" (did you mean `{h}`?)"));
        }
        ScenarioError {
            kind: ScenarioErrorKind::NotFound,
            path: PathBuf::from(what),
            message,
            diagnostics: Vec::new(),
            omitted: 0,
        }
    }

    /// Every diagnostic rendered with its source line and caret, then the summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&d.render());
            out.push('\n');
        }
        if self.omitted > 0 {
            out.push_str(&format!(
                "note: {} more error{} not shown\n\n",
                self.omitted,
                if self.omitted == 1 { "" } else { "s" }
            ));
        }
        out.push_str("error: ");
        out.push_str(&self.message);
        out.push('\n');
        out
    }
}
