//! Placeholders in a host's gitlab.rb text: `{{ NAME.FIELD }}` stands for a value the run creates
//! (the OAuth application's id and secret). A [`Template`] keeps the text and where each placeholder
//! is in the scenario file; [`Template::fill`] substitutes the [`Bindings`] known so far.

use std::collections::BTreeMap;

use regex::Regex;
use std::sync::LazyLock;

use crate::config::Secret;
use crate::diag::Span;

/// The fields a binding offers, per kind of thing bound.
pub const APP_FIELDS: [&str; 2] = ["id", "secret"];

static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\s*([^{}]*?)\s*\}\}").expect("placeholder regex is valid"));

/// One `{{ binding.field }}` occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The whole text between the braces, trimmed (`app.id`).
    pub expr: String,
    pub binding: String,
    pub field: String,
    /// Where it is in the scenario file.
    pub span: Span,
}

/// A text with placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub text: String,
    pub placeholders: Vec<Placeholder>,
    /// Malformed `{{ ... }}` occurrences (no `binding.field` shape), with their spans.
    pub malformed: Vec<(String, Span)>,
    /// `{{` with no `}}` to close it: the text after it on its line, and the span from the `{{`
    /// to the end of that line.
    pub unclosed: Vec<(String, Span)>,
}

impl Template {
    /// Scan `text` (the decoded string) for placeholders. `raw` is the value as written in the file
    /// starting at byte `raw_start`; positions are taken from it so each placeholder points at its
    /// place in the file even when the string has escapes elsewhere.
    pub fn scan(text: &str, raw: &str, raw_start: usize) -> Template {
        let raw_hits: Vec<Span> = PLACEHOLDER
            .find_iter(raw)
            .map(|m| Span::new(raw_start + m.start(), raw_start + m.end()))
            .collect();
        let mut placeholders = Vec::new();
        let mut malformed = Vec::new();
        let raw_unclosed = unclosed_openings(raw);
        let unclosed = unclosed_openings(text)
            .into_iter()
            .enumerate()
            .map(|(i, at)| {
                let rest = &text[at + 2..];
                let rest = rest.split(['\n', '\r']).next().unwrap_or(rest);
                let rest = rest.split("{{").next().unwrap_or(rest).trim_end();
                let span = match raw_unclosed.get(i) {
                    Some(&raw_at) => {
                        let line = &raw[raw_at..];
                        let len = line.find(['\n', '\r']).unwrap_or(line.len());
                        Span::new(raw_start + raw_at, raw_start + raw_at + len)
                    }
                    None => Span::new(raw_start, raw_start + raw.len()),
                };
                (rest.to_string(), span)
            })
            .collect();
        for (i, caps) in PLACEHOLDER.captures_iter(text).enumerate() {
            let expr = caps.get(1).map(|m| m.as_str()).unwrap_or("").to_string();
            let span = raw_hits
                .get(i)
                .copied()
                .unwrap_or(Span::new(raw_start, raw_start + raw.len()));
            let shape = expr
                .split_once('.')
                .filter(|(b, f)| !b.is_empty() && !f.is_empty() && is_ident(b) && is_ident(f));
            if let Some((b, f)) = shape {
                placeholders.push(Placeholder {
                    binding: b.to_string(),
                    field: f.to_string(),
                    expr,
                    span,
                });
            } else {
                malformed.push((expr, span));
            }
        }
        Template {
            text: text.to_string(),
            placeholders,
            malformed,
            unclosed,
        }
    }

    /// The text with every placeholder whose binding is known replaced by its value, and unknown
    /// ones by the empty string (a host brought up before the application exists has blank ids, as
    /// on a real server before the administrator authorises it).
    pub fn fill(&self, bindings: &Bindings) -> String {
        PLACEHOLDER
            .replace_all(&self.text, |caps: &regex::Captures<'_>| {
                let expr = caps.get(1).map(|m| m.as_str()).unwrap_or("");
                match expr.split_once('.') {
                    Some((b, f)) => bindings
                        .get(b, f)
                        .map(|v| ruby_escape(v.expose()))
                        .unwrap_or_default(),
                    None => String::new(),
                }
            })
            .into_owned()
    }
}

/// Byte offsets of every `{{` that no placeholder match covers: an opening never closed.
fn unclosed_openings(s: &str) -> Vec<usize> {
    // Both lists are in text order: one pass over each.
    let mut matched = PLACEHOLDER.find_iter(s).map(|m| m.range()).peekable();
    let mut out = Vec::new();
    for (at, _) in s.match_indices("{{") {
        while matched.peek().is_some_and(|r| r.end <= at) {
            matched.next();
        }
        if !matched.peek().is_some_and(|r| r.contains(&at)) {
            out.push(at);
        }
    }
    out
}

fn is_ident(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Escape a value for use inside a Ruby string literal of either quote style.
fn ruby_escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\'', "\\'")
}

/// Values created during a run, by binding name and field. Every value is a [`Secret`] so a
/// binding can never be printed by accident.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    values: BTreeMap<(String, String), Secret>,
}

impl Bindings {
    pub fn set(&mut self, binding: &str, field: &str, value: Secret) {
        self.values
            .insert((binding.to_string(), field.to_string()), value);
    }
    pub fn get(&self, binding: &str, field: &str) -> Option<&Secret> {
        self.values.get(&(binding.to_string(), field.to_string()))
    }
    pub fn remove_binding(&mut self, binding: &str) {
        self.values.retain(|(b, _), _| b != binding);
    }
    /// Every bound value.
    pub fn values(&self) -> impl Iterator<Item = &Secret> {
        self.values.values()
    }

    /// The bound values that are secrets (`*.secret`), for redaction of transcripts; ids are
    /// normalised like any other volatile value instead.
    pub fn secret_values(&self) -> impl Iterator<Item = &Secret> {
        self.values
            .iter()
            .filter(|((_, field), _)| field == "secret")
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_placeholders_with_file_positions() {
        let raw = "'''\nid = \"{{ app.id }}\"\nx = \"{{app.secret}}\" {{ bad }}'''";
        let text = "id = \"{{ app.id }}\"\nx = \"{{app.secret}}\" {{ bad }}";
        let t = Template::scan(text, raw, 100);
        assert_eq!(t.placeholders.len(), 2);
        assert_eq!(t.placeholders[0].binding, "app");
        assert_eq!(t.placeholders[0].field, "id");
        assert_eq!(
            t.placeholders[0].span.start,
            100 + raw.find("{{ app.id").unwrap()
        );
        assert_eq!(t.placeholders[1].field, "secret");
        assert_eq!(t.malformed.len(), 1);
        assert_eq!(t.malformed[0].0, "bad");
        assert!(t.unclosed.is_empty());
    }

    #[test]
    fn an_opening_without_closing_braces_is_unclosed() {
        let raw = "\"id = '{{ app.id ' x = '{{ app.secret }}'\"";
        let text = "id = '{{ app.id ' x = '{{ app.secret }}'";
        let t = Template::scan(text, raw, 10);
        assert_eq!(t.placeholders.len(), 1);
        assert_eq!(t.unclosed.len(), 1);
        assert_eq!(t.unclosed[0].0, " app.id ' x = '");
        assert_eq!(t.unclosed[0].1.start, 10 + raw.find("{{ app.id").unwrap());
    }

    #[test]
    fn fills_known_bindings_and_blanks_unknown_ones() {
        let t = Template::scan("a = \"{{ app.id }}\" b = \"{{ app.secret }}\"", "", 0);
        let mut b = Bindings::default();
        assert_eq!(t.fill(&b), "a = \"\" b = \"\"");
        b.set("app", "id", Secret::new("42"));
        b.set("app", "secret", Secret::new("s\"q"));
        assert_eq!(t.fill(&b), "a = \"42\" b = \"s\\\"q\"");
    }
}
