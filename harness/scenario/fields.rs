//! Reading one TOML table of a scenario file key by key, with spans: typed getters that record a
//! diagnostic for a wrong type or a missing key, and a final check that reports every key nobody
//! asked for as unknown, with a did-you-mean. Also the [`Sink`] that collects a file's diagnostics
//! (at most [`MAX_DIAGNOSTICS`], then a count) and the hints that name what was expected
//! ([`choice_hint`]: a did-you-mean, or the list of choices — never an empty one).

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::{Diagnostic, SourceFile, Span, did_you_mean};

/// A spanned TOML value borrowed from the document.
pub type Value<'a, 'i> = &'a Spanned<DeValue<'i>>;

/// The most diagnostics kept for one file; the rest are counted (a garbage file would otherwise
/// give one per byte, each with its source line).
pub const MAX_DIAGNOSTICS: usize = 50;

/// The most text (messages, source lines, hints) the kept diagnostics of one file may hold: past
/// it, later diagnostics are counted instead (a one-line file of 1 MiB would otherwise repeat its
/// line in each). The first diagnostic is always kept.
pub const MAX_DIAGNOSTIC_BYTES: usize = 256 * 1024;

/// The longest piece of the user's text quoted back in a message.
const MAX_QUOTED_CHARS: usize = 80;

/// Collects diagnostics for one file.
#[derive(Debug)]
pub struct Sink<'f> {
    pub file: &'f SourceFile,
    pub diagnostics: Vec<Diagnostic>,
    /// Diagnostics found beyond [`MAX_DIAGNOSTICS`] or [`MAX_DIAGNOSTIC_BYTES`], counted, not
    /// kept.
    pub omitted: usize,
    /// The text the kept diagnostics hold.
    kept_bytes: usize,
    /// Set once a diagnostic did not fit: nothing more is kept.
    full: bool,
}

impl<'f> Sink<'f> {
    pub fn new(file: &'f SourceFile) -> Self {
        Sink {
            file,
            diagnostics: Vec::new(),
            omitted: 0,
            kept_bytes: 0,
            full: false,
        }
    }

    /// Whether another diagnostic may be kept (check before building an expensive one).
    pub fn has_room(&self) -> bool {
        !self.full && self.diagnostics.len() < MAX_DIAGNOSTICS
    }

    /// Keep `d`, or count it when the sink is full.
    pub fn push(&mut self, d: Diagnostic) {
        let size = d.message.len()
            + d.hint.as_ref().map_or(0, String::len)
            + d.label.as_ref().map_or(0, String::len)
            + d.location.as_ref().map_or(0, |l| l.source_line.len());
        let fits = self.diagnostics.is_empty() || self.kept_bytes + size <= MAX_DIAGNOSTIC_BYTES;
        if self.has_room() && fits {
            self.kept_bytes += size;
            self.diagnostics.push(d);
        } else {
            self.full = self.full || !fits;
            self.omitted += 1;
        }
    }

    /// How many diagnostics were found so far, kept or not.
    pub fn found(&self) -> usize {
        self.diagnostics.len() + self.omitted
    }

    pub fn error(&mut self, code: &str, span: Span, message: String, hint: Option<String>) {
        if !self.has_room() {
            self.omitted += 1;
            return;
        }
        let mut d = Diagnostic::error(code, message).at(self.file, span);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.push(d);
    }

    pub fn type_error(&mut self, key: &str, expected: &str, v: Value<'_, '_>) {
        self.error(
            "scenario.type",
            span_of(v),
            format!(
                "`{key}` must be {expected}, found {}",
                v.get_ref().type_str()
            ),
            None,
        );
    }
}

pub fn span_of<T>(v: &Spanned<T>) -> Span {
    let r = v.span();
    Span::new(r.start, r.end)
}

/// One table being read: which keys were consumed, so the rest can be reported.
pub struct Fields<'a, 'i> {
    table: &'a DeTable<'i>,
    /// Span of the whole table (for "missing key" errors).
    span: Span,
    /// Dotted path of this table, for messages (`steps[2].sso.sign_up`).
    path: String,
    known: Vec<&'static str>,
}

impl<'a, 'i> Fields<'a, 'i> {
    pub fn new(table: &'a DeTable<'i>, span: Span, path: impl Into<String>) -> Self {
        Fields {
            table,
            span,
            path: path.into(),
            known: Vec::new(),
        }
    }

    pub fn span(&self) -> Span {
        self.span
    }

    fn qualified(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The raw value of `key`, marking it as known.
    pub fn raw(&mut self, key: &'static str) -> Option<Value<'a, 'i>> {
        self.known.push(key);
        self.table.get(key)
    }

    /// A required key's value (records "missing key" otherwise).
    pub fn required(&mut self, sink: &mut Sink<'_>, key: &'static str) -> Option<Value<'a, 'i>> {
        let v = self.raw(key);
        if v.is_none() {
            sink.error(
                "scenario.missing-key",
                self.span,
                format!("missing key `{}`", self.qualified(key)),
                Some(format!(
                    "add `{key} = ...` to this table (docs/scenarios.md lists every key)"
                )),
            );
        }
        v
    }

    pub fn opt_str(&mut self, sink: &mut Sink<'_>, key: &'static str) -> Option<(String, Span)> {
        let v = self.raw(key)?;
        match v.get_ref().as_str() {
            Some(s) => Some((s.to_string(), span_of(v))),
            None => {
                sink.type_error(&self.qualified(key), "a string", v);
                None
            }
        }
    }

    pub fn req_str(&mut self, sink: &mut Sink<'_>, key: &'static str) -> Option<(String, Span)> {
        let v = self.required(sink, key)?;
        match v.get_ref().as_str() {
            Some(s) => Some((s.to_string(), span_of(v))),
            None => {
                sink.type_error(&self.qualified(key), "a string", v);
                None
            }
        }
    }

    pub fn opt_bool(&mut self, sink: &mut Sink<'_>, key: &'static str) -> Option<bool> {
        let v = self.raw(key)?;
        match v.get_ref().as_bool() {
            Some(b) => Some(b),
            None => {
                sink.type_error(&self.qualified(key), "true or false", v);
                None
            }
        }
    }

    /// A required non-negative integer that fits `max`.
    pub fn req_uint(&mut self, sink: &mut Sink<'_>, key: &'static str, max: u64) -> Option<u64> {
        self.required(sink, key)?;
        self.opt_uint(sink, key, max)
    }

    /// A non-negative integer that fits `max`.
    pub fn opt_uint(&mut self, sink: &mut Sink<'_>, key: &'static str, max: u64) -> Option<u64> {
        let v = self.raw(key)?;
        let parsed = v
            .get_ref()
            .as_integer()
            .and_then(|i| {
                let radix = i.radix();
                u64::from_str_radix(&i.as_str().replace('_', ""), radix).ok()
            })
            .filter(|n| *n <= max);
        if parsed.is_none() {
            sink.type_error(
                &self.qualified(key),
                &format!("an integer from 0 to {max}"),
                v,
            );
        }
        parsed
    }

    pub fn opt_str_list(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Option<Vec<(String, Span)>> {
        let v = self.raw(key)?;
        let Some(arr) = v.get_ref().as_array() else {
            sink.type_error(&self.qualified(key), "an array of strings", v);
            return None;
        };
        let mut out = Vec::new();
        for item in arr.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push((s.to_string(), span_of(item))),
                None => sink.type_error(&self.qualified(key), "an array of strings", item),
            }
        }
        Some(out)
    }

    /// Report every key of the table that no getter asked for.
    pub fn finish(self, sink: &mut Sink<'_>) {
        for (k, _) in self.table.iter() {
            let name: &str = k.get_ref();
            if !self.known.contains(&name) {
                let hint = choice_hint(name, self.known.iter().copied()).unwrap_or_else(|| {
                    format!("`{}` takes no keys: write `{{}}`", self.path_or_top())
                });
                sink.error(
                    "scenario.unknown-key",
                    span_of(k),
                    format!("unknown key `{}`", quoted(&self.qualified(name))),
                    Some(hint),
                );
            }
        }
    }

    fn path_or_top(&self) -> &str {
        if self.path.is_empty() {
            "the file"
        } else {
            &self.path
        }
    }
}

/// The table inside a value, or a type error.
pub fn as_table<'a, 'i>(
    sink: &mut Sink<'_>,
    key: &str,
    v: Value<'a, 'i>,
) -> Option<&'a DeTable<'i>> {
    match v.get_ref().as_table() {
        Some(t) => Some(t),
        None => {
            sink.type_error(key, "a table", v);
            None
        }
    }
}

/// What to suggest for an unknown `input` among `choices`: "did you mean `x`?" for a likely typo,
/// else "expected one of: `a`, `b`"; `None` when there is nothing to choose from, so no hint ever
/// lists nothing.
pub fn choice_hint<'a>(
    input: &str,
    choices: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<String> {
    // A name longer than any choice by this much is no typo (and comparing it would cost its
    // length times theirs).
    if input.chars().count() <= MAX_QUOTED_CHARS
        && let Some(s) = did_you_mean(input, choices.clone())
    {
        return Some(format!("did you mean `{s}`?"));
    }
    let list: Vec<String> = choices.into_iter().map(|c| format!("`{c}`")).collect();
    if list.is_empty() {
        None
    } else {
        Some(format!("expected one of: {}", list.join(", ")))
    }
}

/// The user's text as quoted back in a message: at most [`MAX_QUOTED_CHARS`] characters, then `…`.
pub fn quoted(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..cut])),
    }
}
