//! The transcript of a run: every exchange the drivers made, in order, as plain records. Drivers
//! append; `check` normalises and redacts it into snapshot text. Secret values met on the way
//! (tokens, session cookies, passwords, OAuth secrets) are registered here so the redactor can
//! remove them wherever they appear, whatever field carried them.

use std::fmt::Write as _;

use serde::Serialize;

/// One HTTP request and its answer, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpRecord {
    pub method: String,
    pub url: String,
    /// Names of the form or JSON fields sent (values are not kept: they hold credentials).
    pub sent_fields: Vec<String>,
    pub status: u16,
    pub location: Option<String>,
    /// Names of the cookies set by the answer.
    pub set_cookies: Vec<String>,
    pub content_type: Option<String>,
    /// What the driver made of the answer ("sign-in form", "consent page", an error id...).
    pub note: Option<String>,
}

/// One entry of a transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// A step begins.
    Step {
        number: usize,
        label: String,
    },
    Http(HttpRecord),
    /// A fact a driver established (an outcome, a certificate field, a post read back).
    Fact {
        key: String,
        value: String,
    },
}

/// The ordered records of one scenario run, plus the secrets met on the way.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    pub records: Vec<Record>,
    secrets: Vec<String>,
}

impl Transcript {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn step(&mut self, number: usize, label: impl Into<String>) {
        self.records.push(Record::Step {
            number,
            label: label.into(),
        });
    }

    pub fn http(&mut self, r: HttpRecord) {
        self.records.push(Record::Http(r));
    }

    pub fn fact(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.records.push(Record::Fact {
            key: key.into(),
            value: value.into(),
        });
    }

    /// Remember a secret value so that no rendering of this transcript can show it.
    pub fn secret(&mut self, value: &str) {
        // Very short values would redact innocent text; real secrets here are long.
        if value.len() >= 6 && !self.secrets.iter().any(|s| s == value) {
            self.secrets.push(value.to_string());
        }
    }

    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// The records as text, before normalisation (never shown as is: see `check::normalise`).
    pub fn raw_text(&self) -> String {
        let mut out = String::new();
        for r in &self.records {
            match r {
                Record::Step { number, label } => {
                    let _ = writeln!(out, "== step {number}: {label}");
                }
                Record::Http(h) => {
                    let _ = write!(out, "{} {}", h.method, h.url);
                    if !h.sent_fields.is_empty() {
                        let _ = write!(out, " [{}]", h.sent_fields.join(", "));
                    }
                    out.push('\n');
                    let _ = write!(out, "  -> {}", h.status);
                    if let Some(ct) = &h.content_type {
                        let _ = write!(out, " {ct}");
                    }
                    out.push('\n');
                    if let Some(l) = &h.location {
                        let _ = writeln!(out, "  location: {l}");
                    }
                    if !h.set_cookies.is_empty() {
                        let _ = writeln!(out, "  set-cookie: {}", h.set_cookies.join(", "));
                    }
                    if let Some(n) = &h.note {
                        let _ = writeln!(out, "  seen: {n}");
                    }
                }
                Record::Fact { key, value } => {
                    let _ = writeln!(out, "  {key}: {value}");
                }
            }
        }
        out
    }
}
