//! omnibus-gitlab software definitions (`config/software/NAME.rb`): the version a package
//! bundles.
//!
//! Owns: reading `default_version` out of a definition's text, in every form omnibus used
//! between 2015 and 2026: `default_version "v0.7.1"` (2015-16, GitHub release names with a
//! `v`), `default_version "3.4.0"` (double quotes, to 8.x), `default_version '4.9.1'` (single
//! quotes, 9.0 on), with or without comment lines and blank lines around it. A commented-out
//! line is not a definition; two live definitions are an error. No I/O.

use serde::Serialize;

use super::source::{HistoryError, HistoryErrorKind};
use crate::config::Version;

/// How the literal was written (kept in the table so a reader can check the source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LiteralForm {
    /// `default_version "3.4.0"`
    DoubleQuoted,
    /// `default_version '4.9.1'`
    SingleQuoted,
    /// `default_version "v2.1.0"`: a GitHub release name, the version after the `v`.
    DoubleQuotedV,
    /// `default_version 'v2.1.0'`
    SingleQuotedV,
}

/// A `default_version` found in a software definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefaultVersion {
    pub version: Version,
    /// The literal's text without quotes, as written (`v0.7.1`, `10.11.13`).
    pub literal: String,
    pub form: LiteralForm,
    /// 1-based line of the definition in the file.
    pub line: usize,
}

/// The `default_version` of a software definition. `origin` names the file for errors
/// (`18.11.0+ce.0:config/software/mattermost.rb`).
pub fn default_version(text: &str, origin: &str) -> Result<DefaultVersion, HistoryError> {
    let mut found: Option<DefaultVersion> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        let Some(rest) = line.strip_prefix("default_version") else {
            continue;
        };
        // `default_version_foo` or a method call with parentheses is not the DSL statement.
        if !rest.starts_with([' ', '\t']) {
            continue;
        }
        let parsed = literal(rest.trim()).ok_or_else(|| {
            HistoryError::new(
                HistoryErrorKind::Parse,
                format!(
                    "{origin}:{}: default_version is not a plain string literal: {}",
                    i + 1,
                    raw.trim()
                ),
            )
        })?;
        let (text, quote) = parsed;
        let (digits, v) = match text.strip_prefix('v') {
            Some(d) => (d, true),
            None => (text, false),
        };
        let version = strict_version(digits).ok_or_else(|| {
            HistoryError::new(
                HistoryErrorKind::Parse,
                format!(
                    "{origin}:{}: default_version {text:?} is not MAJOR.MINOR.PATCH",
                    i + 1
                ),
            )
        })?;
        let form = match (quote, v) {
            ('"', false) => LiteralForm::DoubleQuoted,
            ('"', true) => LiteralForm::DoubleQuotedV,
            (_, false) => LiteralForm::SingleQuoted,
            (_, true) => LiteralForm::SingleQuotedV,
        };
        if let Some(prev) = &found {
            return Err(HistoryError::new(
                HistoryErrorKind::Parse,
                format!(
                    "{origin}:{}: a second default_version (the first is on line {})",
                    i + 1,
                    prev.line
                ),
            ));
        }
        found = Some(DefaultVersion {
            version,
            literal: text.to_string(),
            form,
            line: i + 1,
        });
    }
    found.ok_or_else(|| {
        HistoryError::new(
            HistoryErrorKind::Parse,
            format!("{origin}: no default_version"),
        )
    })
}

/// `"…"` or `'…'` followed only by spaces or a `# comment`; no interpolation, no escapes.
fn literal(s: &str) -> Option<(&str, char)> {
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &s[1..];
    let end = body.find(quote)?;
    let inner = &body[..end];
    let after = body[end + 1..].trim();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    if inner.contains(['\\', '#', '{']) {
        return None;
    }
    Some((inner, quote))
}

/// Exactly `N.N.N` with decimal parts.
fn strict_version(s: &str) -> Option<Version> {
    let mut it = s.split('.');
    let mut part = || -> Option<u32> {
        let p = it.next()?;
        if p.is_empty() || p.len() > 6 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let v = Version::new(part()?, part()?, part()?);
    it.next().is_none().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dv(text: &str) -> Result<DefaultVersion, HistoryError> {
        default_version(text, "t:config/software/mattermost.rb")
    }

    #[test]
    fn reads_every_historical_form() {
        let cases = [
            (
                "name \"mattermost\"\ndefault_version \"v0.7.1\"\n",
                "0.7.1",
                LiteralForm::DoubleQuotedV,
                2,
            ),
            (
                "name \"mattermost\"\ndefault_version \"3.4.0\"\n",
                "3.4.0",
                LiteralForm::DoubleQuoted,
                2,
            ),
            (
                "name 'mattermost'\ndefault_version '4.9.1'\n",
                "4.9.1",
                LiteralForm::SingleQuoted,
                2,
            ),
            (
                "name 'mattermost'\n\ndefault_version '10.11.13'\n",
                "10.11.13",
                LiteralForm::SingleQuoted,
                3,
            ),
            (
                "name 'mattermost'\n# TODO: Remove special handling of `bundlestats.json` when version below is upgraded\ndefault_version '5.1.1'\n",
                "5.1.1",
                LiteralForm::SingleQuoted,
                3,
            ),
        ];
        for (text, v, form, line) in cases {
            let d = dv(text).unwrap();
            assert_eq!(d.version.to_string(), v);
            assert_eq!(d.form, form);
            assert_eq!(d.line, line);
        }
    }

    #[test]
    fn ignores_comments_and_refuses_what_it_cannot_read() {
        let d = dv("# default_version '1.0.0'\ndefault_version '2.0.0' # pinned\n").unwrap();
        assert_eq!(d.version, Version::new(2, 0, 0));
        for bad in [
            "name 'x'\n",
            "default_version ENV['MM_VERSION']\n",
            "default_version \"#{v}\"\n",
            "default_version '1.2'\n",
            "default_version '1.2.3' + x\n",
            "default_version '1.0.0'\ndefault_version '2.0.0'\n",
        ] {
            let e = dv(bad).unwrap_err();
            assert_eq!(e.kind, HistoryErrorKind::Parse, "{bad}");
            assert!(e.message.starts_with("t:config/software/mattermost.rb"));
        }
    }
}
