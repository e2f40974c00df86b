//! The one redaction every reported string goes through. A result leaves the runner (as an event
//! or in the summary) only after [`Redactor::result`] has removed, by value, every secret known
//! to the run: the environment's credentials (`MM_HARNESS_*_PASSWORD`, `MM_HARNESS_*_TOKEN`), the
//! stack's accounts and tokens, the OAuth secrets the run created, the SMTP password and OAuth
//! secret of every host's gitlab.rb. So a server that echoes a posted password into an error
//! page cannot put it into the human, JSON or JUnit report. Transcripts are redacted the same way
//! before normalisation (`check::normalise`); this covers everything else: failure messages,
//! expected/actual values, skip reasons, snapshot diffs, gitlab.rb warnings.
//!
//! Each secret is also removed in the forms it takes on the wire: form- and percent-encoded,
//! JSON-escaped and HTML-escaped.
//!
//! The same boundary bounds what a server can make a report print: a failure message or a reason
//! longer than [`MAX_MESSAGE`] characters is cut there, saying how much was left out (transcripts
//! and diffs are bounded by the drivers' body cap and are what snapshots compare, so they are
//! kept whole).

use std::borrow::Cow;

use crate::check::SnapshotOutcome;
use crate::check::normalise::SECRET_MARK;

use super::outcome::{Failure, ScenarioResult, ScenarioStatus, StepStatus};

/// Secrets shorter than this are not searched for: they would blank innocent text, and no real
/// credential is this short.
const MIN_LEN: usize = 4;

/// The longest failure message or reason a report shows, in characters.
pub const MAX_MESSAGE: usize = 4096;

/// Cut `s` to [`MAX_MESSAGE`] characters, saying how many were left out.
fn bound(s: &mut String) {
    if let Some((at, _)) = s.char_indices().nth(MAX_MESSAGE) {
        let left = s[at..].chars().count();
        s.truncate(at);
        s.push_str(&format!(" … ({left} more characters not shown)"));
    }
}

/// [`bound`] every string of a JSON value (iteratively).
fn bound_json(v: &mut serde_json::Value) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::String(s) => bound(s),
            serde_json::Value::Array(items) => stack.extend(items.iter_mut()),
            serde_json::Value::Object(map) => stack.extend(map.values_mut()),
            serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {
            }
        }
    }
}

/// Removes known secrets from text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Every form of every secret, longest first.
    needles: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values (empty and very short ones are ignored).
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Redactor {
        let mut needles: Vec<String> = Vec::new();
        for s in secrets {
            let s = s.as_ref();
            if s.chars().count() < MIN_LEN {
                continue;
            }
            for form in wire_forms(s) {
                if !needles.contains(&form) {
                    needles.push(form);
                }
            }
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Redactor { needles }
    }

    /// `text` without any secret.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.needles.iter().any(|n| text.contains(n.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), SECRET_MARK);
            }
        }
        Cow::Owned(out)
    }

    /// Redact a string in place.
    pub fn string(&self, s: &mut String) {
        if let Cow::Owned(clean) = self.text(s) {
            *s = clean;
        }
    }

    /// Redact every string (keys too) of a JSON value in place.
    pub fn json(&self, v: &mut serde_json::Value) {
        // Iterative, so a deeply nested value cannot exhaust the stack.
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::String(s) => self.string(s),
                serde_json::Value::Array(items) => stack.extend(items.iter_mut()),
                serde_json::Value::Object(map) => {
                    if map.keys().any(|k| matches!(self.text(k), Cow::Owned(_))) {
                        let old = std::mem::take(map);
                        for (k, val) in old {
                            map.insert(self.text(&k).into_owned(), val);
                        }
                    }
                    stack.extend(map.values_mut());
                }
                serde_json::Value::Null
                | serde_json::Value::Bool(_)
                | serde_json::Value::Number(_) => {}
            }
        }
    }

    fn failure(&self, f: &mut Failure) {
        self.string(f.message_mut());
        bound(f.message_mut());
        if let Failure::Expectation {
            expected, actual, ..
        } = f
        {
            for v in [expected, actual] {
                self.json(v);
                bound_json(v);
            }
        }
    }

    /// Redact every string of a scenario's result in place, and bound its messages.
    pub fn result(&self, r: &mut ScenarioResult) {
        self.string(&mut r.name);
        self.string(&mut r.file);
        self.string(&mut r.seed);
        match &mut r.status {
            ScenarioStatus::Passed | ScenarioStatus::Failed => {}
            ScenarioStatus::Skipped { reason } | ScenarioStatus::Cancelled { reason } => {
                self.string(reason);
                bound(reason);
            }
            ScenarioStatus::Error { failure } => self.failure(failure),
        }
        for step in &mut r.steps {
            self.string(&mut step.label);
            match &mut step.status {
                StepStatus::Failed { failure } => self.failure(failure),
                StepStatus::Passed | StepStatus::NotRun | StepStatus::Cancelled => {}
            }
        }
        match &mut r.snapshot {
            Some(SnapshotOutcome::Mismatch { diff, .. }) => self.string(diff),
            Some(SnapshotOutcome::Matched | SnapshotOutcome::Missing { .. }) | None => {}
        }
        for w in &mut r.config_warnings {
            self.string(w);
            bound(w);
        }
        self.string(&mut r.transcript);
    }
}

/// The forms a secret takes on the wire and in pages: as is, form-encoded (`+` for space),
/// percent-encoded, JSON-escaped and HTML-escaped.
fn wire_forms(s: &str) -> Vec<String> {
    let form: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
    let percent = form.replace('+', "%20");
    let json = serde_json::to_string(s)
        .map(|q| q[1..q.len() - 1].to_string())
        .unwrap_or_else(|_| s.to_string());
    let html = s
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    let mut out = vec![s.to_string()];
    for f in [form, percent, json, html] {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_in_every_wire_form_and_short_ones_are_kept() {
        let r = Redactor::new(["Alice pass/1\"<x>", "abc", ""]);
        let text = "plain Alice pass/1\"<x> form Alice+pass%2F1%22%3Cx%3E json Alice pass/1\\\"<x> \
                    html Alice pass/1&quot;&lt;x&gt; short abc";
        assert_eq!(
            r.text(text),
            "plain [secret] form [secret] json [secret] html [secret] short abc"
        );
        assert!(matches!(r.text("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn long_messages_are_cut_with_a_count() {
        let mut s = "é".repeat(MAX_MESSAGE + 10);
        bound(&mut s);
        assert!(s.ends_with(" … (10 more characters not shown)"), "{s}");
        assert_eq!(s.chars().filter(|c| *c == 'é').count(), MAX_MESSAGE);
        let mut short = "short".to_string();
        bound(&mut short);
        assert_eq!(short, "short");
        let mut v = serde_json::json!({"body": "x".repeat(MAX_MESSAGE * 2), "n": 1});
        bound_json(&mut v);
        assert!(v["body"].as_str().unwrap_or_default().len() < MAX_MESSAGE + 64);
    }

    #[test]
    fn json_values_are_redacted_deeply_and_iteratively() {
        let r = Redactor::new(["hunter22"]);
        let mut v = serde_json::json!({"a": ["x hunter22 y", {"hunter22": 1}], "b": 2});
        for _ in 0..1_000 {
            v = serde_json::json!([v]);
        }
        r.json(&mut v);
        let text = serde_json::to_string(&v).unwrap_or_default();
        assert!(!text.contains("hunter22"));
        assert!(text.contains("x [secret] y"));
        assert!(text.contains("{\"[secret]\":1}"), "keys too");
    }
}
