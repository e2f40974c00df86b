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
///
/// Positions are computed in time independent of the line's length (a character-count checkpoint
/// every [`CHAR_BLOCK`] bytes), so a one-line file of a megabyte with thousands of diagnostics
/// stays linear. Byte ranges may be *masked* ([`SourceFile::with_masks`]): every character inside
/// them shows as `*` in the source lines of diagnostics (secret values, a URL's password), without
/// moving any column.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: Arc<str>,
    text: Arc<str>,
    line_starts: Arc<[usize]>,
    /// `char_marks[k]`: characters in `text[..k * CHAR_BLOCK]`.
    char_marks: Arc<[usize]>,
    /// Sorted, non-overlapping byte ranges shown as `*`.
    masks: Arc<[Span]>,
}

/// Bytes between two character-count checkpoints of a [`SourceFile`].
pub const CHAR_BLOCK: usize = 1024;

/// The most characters of a source line shown under a diagnostic: a longer line is shown as a
/// window around the caret, with `…` where it was cut.
pub const LINE_WINDOW: usize = 120;
/// Characters of context kept before the caret in a windowed line.
const WINDOW_BEFORE: usize = 40;
/// The longest message, label or hint a rendered diagnostic shows (then `…`).
pub const MAX_TEXT_CHARS: usize = 2000;

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Characters a source line must not show as they are (they move the cursor, recolour the
/// terminal or reorder text): controls other than tab, bidirectional and zero-width marks. They
/// show as U+FFFD, one column each, so the caret stays under the right character.
fn hides_text(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn is_char_start(b: u8) -> bool {
    (b & 0xC0) != 0x80
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text: String = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut char_marks = Vec::with_capacity(text.len() / CHAR_BLOCK + 1);
        let mut count = 0usize;
        for (k, chunk) in text.as_bytes().chunks(CHAR_BLOCK).enumerate() {
            if k == 0 {
                char_marks.push(0);
            }
            count += chunk.iter().filter(|b| is_char_start(**b)).count();
            char_marks.push(count);
        }
        if char_marks.is_empty() {
            char_marks.push(0);
        }
        SourceFile {
            name: Arc::from(name.into()),
            text: Arc::from(text),
            line_starts: Arc::from(line_starts),
            char_marks: Arc::from(char_marks),
            masks: Arc::from(Vec::new()),
        }
    }

    /// A file from raw bytes: valid UTF-8, or an error placed at the line and column of the first
    /// invalid byte sequence (`code` and `hint` name the kind of file).
    pub fn from_bytes(
        name: impl Into<String>,
        bytes: Vec<u8>,
        code: &str,
        hint: &str,
    ) -> Result<SourceFile, Box<Diagnostic>> {
        let name = name.into();
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(name, text)),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let bad_len = e.utf8_error().error_len().unwrap_or(1);
                let shown: Vec<String> = e.as_bytes()[at..(at + bad_len).min(e.as_bytes().len())]
                    .iter()
                    .map(|b| format!("\\x{b:02X}"))
                    .collect();
                // The valid prefix is unchanged by the lossy copy, so `at` is the same offset.
                let file =
                    SourceFile::new(name, String::from_utf8_lossy(e.as_bytes()).into_owned());
                let end = file.text()[at..]
                    .chars()
                    .next()
                    .map(|c| at + c.len_utf8())
                    .unwrap_or(at);
                Err(Box::new(
                    Diagnostic::error(
                        code,
                        format!(
                            "the file is not valid UTF-8: invalid byte sequence {}",
                            shown.join("")
                        ),
                    )
                    .at(&file, Span::new(at, end))
                    .with_label("not UTF-8")
                    .with_hint(hint),
                ))
            }
        }
    }

    /// The same file with `masks` (byte ranges) shown as `*` in diagnostics' source lines.
    pub fn with_masks(&self, mut masks: Vec<Span>) -> SourceFile {
        masks.retain(|m| !m.is_empty());
        masks.sort_by_key(|m| m.start);
        let mut merged: Vec<Span> = Vec::with_capacity(masks.len());
        for m in masks {
            match merged.last_mut() {
                Some(last) if m.start <= last.end => last.end = last.end.max(m.end),
                _ => merged.push(m),
            }
        }
        SourceFile {
            masks: Arc::from(merged),
            ..self.clone()
        }
    }

    /// The masked byte ranges.
    pub fn masks(&self) -> &[Span] {
        &self.masks
    }

    /// Whether the byte at `offset` is masked.
    pub fn is_masked(&self, offset: usize) -> bool {
        let i = self.masks.partition_point(|m| m.end <= offset);
        self.masks.get(i).is_some_and(|m| m.start <= offset)
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

    /// The text a span covers with masked characters as `*` (for quoting the file in a message).
    pub fn masked_slice(&self, span: Span) -> String {
        let text = self.slice(span);
        if self.masks.is_empty() {
            return text.to_string();
        }
        text.char_indices()
            .map(|(i, c)| {
                if self.is_masked(span.start + i) {
                    '*'
                } else {
                    c
                }
            })
            .collect()
    }

    /// Characters in `text[..offset]` (`offset` on a char boundary).
    fn chars_before(&self, offset: usize) -> usize {
        let block = offset / CHAR_BLOCK;
        let base = self.char_marks.get(block).copied().unwrap_or(0);
        base + self.text.as_bytes()[block * CHAR_BLOCK..offset]
            .iter()
            .filter(|b| is_char_start(**b))
            .count()
    }

    fn floor_boundary(&self, mut offset: usize) -> usize {
        offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    fn line_index(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// Position of a byte offset (clamped to the text).
    pub fn position(&self, offset: usize) -> Position {
        let offset = self.floor_boundary(offset);
        let line_idx = self.line_index(offset);
        let start = self.line_starts[line_idx];
        Position {
            line: line_idx + 1,
            column: self.chars_before(offset) - self.chars_before(start) + 1,
        }
    }

    /// The byte offset of a 1-based position (clamped to its line).
    pub fn offset_of(&self, pos: Position) -> usize {
        if pos.line == 0 || pos.line > self.line_starts.len() {
            return self.text.len();
        }
        let start = self.line_starts[pos.line - 1];
        let end = start + self.line_text(pos.line).len();
        self.text[start..end]
            .char_indices()
            .nth(pos.column.saturating_sub(1))
            .map(|(i, _)| start + i)
            .unwrap_or(end)
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

    /// A [`Location`] for a span in this file. The source line kept is at most [`LINE_WINDOW`]
    /// characters around the span's start, masked ranges as `*`, control characters as U+FFFD.
    pub fn locate(&self, span: Span) -> Location {
        let start_off = self.floor_boundary(span.start);
        let start = self.position(start_off);
        let end = self.position(span.end.max(span.start));
        let line_start = self.line_starts[start.line - 1];
        let line_end = line_start + self.line_text(start.line).len();
        let bytes = self.text.as_bytes();
        let caret = start_off.clamp(line_start, line_end);
        let line_chars = self.chars_before(line_end) - self.chars_before(line_start);
        let (w_start, w_end) = if line_chars <= LINE_WINDOW {
            (line_start, line_end)
        } else {
            // Back up to WINDOW_BEFORE characters before the caret, then forward LINE_WINDOW.
            let mut ws = caret;
            let mut n = 0;
            while ws > line_start && n < WINDOW_BEFORE {
                ws -= 1;
                if is_char_start(bytes[ws]) {
                    n += 1;
                }
            }
            let mut we = ws;
            let mut m = 0;
            while we < line_end && m < LINE_WINDOW {
                we += 1;
                while we < line_end && !is_char_start(bytes[we]) {
                    we += 1;
                }
                m += 1;
            }
            // At the end of the line: widen to the left instead.
            while we == line_end && ws > line_start && m < LINE_WINDOW {
                ws -= 1;
                if is_char_start(bytes[ws]) {
                    m += 1;
                }
            }
            (ws, we)
        };
        let source_line: String = self.text[w_start..w_end]
            .char_indices()
            .map(|(i, c)| {
                if self.is_masked(w_start + i) {
                    '*'
                } else if hides_text(c) {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect();
        Location {
            file: self.name.to_string(),
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            source_line,
            line_offset: self.chars_before(w_start) - self.chars_before(line_start),
            line_cut: w_end < line_end,
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
    /// The source line (or, for a long line, a window of it around the column) as shown.
    #[serde(skip)]
    pub source_line: String,
    /// Characters of the line cut before `source_line` (0: it starts the line).
    #[serde(skip)]
    pub line_offset: usize,
    /// Whether the line goes on after `source_line`.
    #[serde(skip)]
    pub line_cut: bool,
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
    /// The span [`Diagnostic::at`] was given, to locate it again in a masked copy of its file.
    #[serde(skip)]
    pub span: Option<Span>,
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
            span: None,
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
        self.span = Some(span);
        self
    }
    /// Locate again in `file` (the same text, e.g. with masks added), if placed by a span.
    pub fn relocate(&mut self, file: &SourceFile) {
        if let Some(span) = self.span {
            self.location = Some(file.locate(span));
        }
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
        let _ = writeln!(
            out,
            "{}: {}",
            self.severity,
            clip(&self.message, MAX_TEXT_CHARS)
        );
        if let Some(loc) = &self.location {
            let gutter = loc.line.to_string().len();
            let pad = " ".repeat(gutter);
            let _ = writeln!(out, "{pad}--> {loc}");
            let _ = writeln!(out, "{pad} |");
            // A long line (or a window of one) is cut to LINE_WINDOW characters around the caret.
            let chars: Vec<char> = loc.source_line.chars().collect();
            let caret = loc
                .column
                .saturating_sub(1)
                .saturating_sub(loc.line_offset)
                .min(chars.len());
            let (from, to) = if chars.len() <= LINE_WINDOW {
                (0, chars.len())
            } else {
                let from = caret.saturating_sub(WINDOW_BEFORE);
                let to = (from + LINE_WINDOW).min(chars.len());
                (to.saturating_sub(LINE_WINDOW), to)
            };
            let cut_before = loc.line_offset > 0 || from > 0;
            let cut_after = loc.line_cut || to < chars.len();
            let shown: String = chars[from..to].iter().collect();
            let _ = writeln!(
                out,
                "{} | {}{shown}{}",
                loc.line,
                if cut_before { "…" } else { "" },
                if cut_after { "…" } else { "" }
            );
            let caret_in = caret - from;
            let room = (to - from).saturating_sub(caret_in);
            let width = if loc.end_line == loc.line && loc.end_column > loc.column {
                (loc.end_column - loc.column).min(room.max(1))
            } else {
                (room + 1).max(1)
            };
            let mut prefix: String = if cut_before {
                " ".into()
            } else {
                String::new()
            };
            prefix.extend(
                chars[from..from + caret_in]
                    .iter()
                    .map(|c| if *c == '\t' { '\t' } else { ' ' }),
            );
            let _ = write!(out, "{pad} | {prefix}{}", "^".repeat(width.max(1)));
            if let Some(label) = &self.label {
                let _ = write!(out, " {}", clip(label, MAX_TEXT_CHARS));
            }
            out.push('\n');
        } else if let Some(label) = &self.label {
            let _ = writeln!(out, "  = {}", clip(label, MAX_TEXT_CHARS));
        }
        if let Some(hint) = &self.hint {
            let pad = self
                .location
                .as_ref()
                .map(|l| " ".repeat(l.line.to_string().len()))
                .unwrap_or_default();
            let _ = writeln!(out, "{pad} = help: {}", clip(hint, MAX_TEXT_CHARS));
        }
        out
    }
}

/// `text` cut to `max` characters (then ` …`).
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((i, _)) => std::borrow::Cow::Owned(format!("{} …", &text[..i])),
    }
}

/// The most diagnostics of one class (errors; warnings and notes) one stage keeps for one file;
/// the rest are counted, not built (a file of 100 KB of `]` would otherwise give one per byte,
/// each locating itself on a 100 KB line). Errors have their own quota, so a file full of
/// warnings still shows the error that makes it unreadable.
pub const MAX_DIAGNOSTICS: usize = 50;

/// A capped list of diagnostics: at most [`MAX_DIAGNOSTICS`] errors and as many warnings/notes
/// kept, the rest counted by severity. Build a diagnostic through [`Diagnostics::push_with`] so
/// nothing is built once its class is full.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    kept: Vec<Diagnostic>,
    kept_errors: usize,
    /// Diagnostics found but not kept, by severity.
    pub omitted_errors: usize,
    pub omitted_warnings: usize,
    pub omitted_notes: usize,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }
    /// Whether another diagnostic of this severity would be kept.
    pub fn has_room(&self, severity: Severity) -> bool {
        match severity {
            Severity::Error => self.kept_errors < MAX_DIAGNOSTICS,
            _ => self.kept.len() - self.kept_errors < MAX_DIAGNOSTICS,
        }
    }
    /// Count a diagnostic of `severity` without keeping it.
    pub fn count_omitted(&mut self, severity: Severity) {
        match severity {
            Severity::Error => self.omitted_errors += 1,
            Severity::Warning => self.omitted_warnings += 1,
            Severity::Note => self.omitted_notes += 1,
        }
    }
    fn keep(&mut self, d: Diagnostic) {
        if d.severity == Severity::Error {
            self.kept_errors += 1;
        }
        self.kept.push(d);
    }
    /// Keep `d`, or count it when its class is full.
    pub fn push(&mut self, d: Diagnostic) {
        if self.has_room(d.severity) {
            self.keep(d);
        } else {
            self.count_omitted(d.severity);
        }
    }
    /// Build and keep a diagnostic of `severity` only if there is room; count it otherwise.
    pub fn push_with(&mut self, severity: Severity, build: impl FnOnce() -> Diagnostic) {
        if self.has_room(severity) {
            self.keep(build());
        } else {
            self.count_omitted(severity);
        }
    }
    /// Add another list (its omitted counts too), keep the first [`MAX_DIAGNOSTICS`] of each
    /// class in file order and count the rest. When each list holds the first ones its stage
    /// found, the result holds the first ones of all.
    pub fn merge(&mut self, other: Diagnostics) {
        self.omitted_errors += other.omitted_errors;
        self.omitted_warnings += other.omitted_warnings;
        self.omitted_notes += other.omitted_notes;
        self.kept.extend(other.kept);
        self.sort_and_cap();
    }
    /// Sort by position and drop (counting) everything past each class's cap.
    pub fn sort_and_cap(&mut self) {
        self.kept
            .sort_by_key(|d| d.location.as_ref().map(|l| (l.line, l.column)));
        let all = std::mem::take(&mut self.kept);
        self.kept_errors = 0;
        for d in all {
            self.push(d);
        }
    }
    pub fn as_slice(&self) -> &[Diagnostic] {
        &self.kept
    }
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Diagnostic> {
        self.kept.iter_mut()
    }
    /// How many were found but not kept.
    pub fn omitted(&self) -> usize {
        self.omitted_errors + self.omitted_warnings + self.omitted_notes
    }
    /// Whether any error was found, kept or not.
    pub fn has_errors(&self) -> bool {
        self.omitted_errors > 0 || self.kept.iter().any(|d| d.severity == Severity::Error)
    }
    /// Errors found, kept or not.
    pub fn error_count(&self) -> usize {
        self.omitted_errors
            + self
                .kept
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count()
    }
    /// The line a renderer prints after the kept ones, if some were left out.
    pub fn omitted_line(&self) -> Option<String> {
        let n = self.omitted();
        (n > 0).then(|| {
            format!(
                "note: {n} more diagnostic(s) not shown ({} error(s), {} warning(s)); only the first {MAX_DIAGNOSTICS} errors and {MAX_DIAGNOSTICS} warnings of a file are kept",
                self.omitted_errors,
                self.omitted_warnings + self.omitted_notes
            )
        })
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
