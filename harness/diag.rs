//! Diagnostics for user input: source files, byte spans, `file:line:column` positions, and the
//! rendering of an error with its source line and a caret, plus did-you-mean suggestions.
//!
//! Owns: how every stage that reads a user's file (gitlab.rb, config.json, scenario TOML) reports a
//! problem in it. Stages build [`Diagnostic`]s; reporters and the CLI render them. Nothing here
//! does I/O.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde::Serialize;

/// A half-open byte range `start..end` into a [`SourceFile`]'s text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<std::ops::Range<usize>> for Span {
    fn from(r: std::ops::Range<usize>) -> Self {
        Span::new(r.start, r.end)
    }
}

/// A named text a user gave us, with a line index for turning byte offsets into positions.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: Arc<str>,
    text: Arc<str>,
    line_starts: Arc<[usize]>,
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text: String = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: Arc::from(name.into()),
            text: Arc::from(text),
            line_starts: Arc::from(line_starts),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text a span covers (empty if the span is out of range or not on char boundaries).
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }

    /// Position of a byte offset (clamped to the text).
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line_idx];
        let mut end = offset;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let column = self.text[start..end].chars().count() + 1;
        Position {
            line: line_idx + 1,
            column,
        }
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        if line == 0 || line > self.line_starts.len() {
            return "";
        }
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// A [`Location`] for a span in this file.
    pub fn locate(&self, span: Span) -> Location {
        let start = self.position(span.start);
        let end = self.position(span.end.max(span.start));
        Location {
            file: self.name.to_string(),
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            source_line: self.line_text(start.line).to_string(),
        }
    }
}

/// Where in a file something is, with the source line kept for rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    #[serde(skip)]
    pub source_line: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem in a user's file: message, where, an optional label under the caret, and a hint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable machine-readable code, e.g. `rb.unevaluated` or `scenario.unknown-key`.
    pub code: String,
    /// Lower-case sentence fragment: "unknown key `mattermost['email_smtp_user']`".
    pub message: String,
    pub location: Option<Location>,
    /// Short text shown under the caret.
    pub label: Option<String>,
    /// What to do about it ("did you mean `email_smtp_username`?").
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code: code.into(),
            message: message.into(),
            location: None,
            label: None,
            hint: None,
        }
    }
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }
    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }
    pub fn at(mut self, file: &SourceFile, span: Span) -> Self {
        self.location = Some(file.locate(span));
        self
    }
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Render like rustc/hurl:
    /// ```text
    /// error: unknown key `email_smtp_user`
    ///   --> gitlab.rb:3:12
    ///    |
    ///  3 | mattermost['email_smtp_user'] = "x"
    ///    |            ^^^^^^^^^^^^^^^^^ not a Mattermost key in GitLab 10.8
    ///    = help: did you mean `email_smtp_username`?
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}: {}", self.severity, self.message);
        if let Some(loc) = &self.location {
            let gutter = loc.line.to_string().len();
            let pad = " ".repeat(gutter);
            let _ = writeln!(out, "{pad}--> {loc}");
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {}", loc.line, loc.source_line);
            let line_chars = loc.source_line.chars().count();
            let width = if loc.end_line == loc.line && loc.end_column > loc.column {
                loc.end_column - loc.column
            } else {
                (line_chars + 1).saturating_sub(loc.column).max(1)
            };
            let prefix: String = loc
                .source_line
                .chars()
                .take(loc.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = write!(out, "{pad} | {prefix}{}", "^".repeat(width.max(1)));
            if let Some(label) = &self.label {
                let _ = write!(out, " {label}");
            }
            out.push('\n');
        } else if let Some(label) = &self.label {
            let _ = writeln!(out, "  = {label}");
        }
        if let Some(hint) = &self.hint {
            let pad = self
                .location
                .as_ref()
                .map(|l| " ".repeat(l.line.to_string().len()))
                .unwrap_or_default();
            let _ = writeln!(out, "{pad} = help: {hint}");
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// The closest of `candidates` to `input`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (c, strsim::jaro_winkler(&lower, &c.to_ascii_lowercase())))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_chars() {
        let f = SourceFile::new("a.rb", "ab\nçd = 1\n");
        assert_eq!(f.position(0), Position { line: 1, column: 1 });
        assert_eq!(f.position(3), Position { line: 2, column: 1 });
        // 'ç' is two bytes: byte 5 is the 'd', column 2.
        assert_eq!(f.position(5), Position { line: 2, column: 2 });
        assert_eq!(f.line_text(2), "çd = 1");
        assert_eq!(f.line_text(9), "");
    }

    #[test]
    fn renders_source_line_and_caret() {
        let f = SourceFile::new(
            "gitlab.rb",
            "x = 1\nmattermost['email_smtp_user'] = \"u\"\n",
        );
        let start = f.text().find("'email").unwrap();
        let d = Diagnostic::warning("rb.unknown-key", "unknown key `email_smtp_user`")
            .at(&f, Span::new(start, start + 17))
            .with_label("not a Mattermost key")
            .with_hint("did you mean `email_smtp_username`?");
        let text = d.render();
        assert!(text.contains("--> gitlab.rb:2:12"), "{text}");
        assert!(text.contains("2 | mattermost['email_smtp_user'] = \"u\""));
        assert!(text.contains("  |            ^^^^^^^^^^^^^^^^^ not a Mattermost key"));
        assert!(text.contains("= help: did you mean `email_smtp_username`?"));
    }

    #[test]
    fn suggests_close_names_only() {
        let keys = [
            "email_smtp_username",
            "email_smtp_password",
            "gitlab_enable",
        ];
        assert_eq!(
            did_you_mean("email_smtp_user", keys),
            Some("email_smtp_username")
        );
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
