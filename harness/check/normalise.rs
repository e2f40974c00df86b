//! Transcript → snapshot text: volatile values (OAuth state and codes, client ids, Mattermost ids,
//! CSRF tokens, loopback ports, timestamps, certificate dates, git SHAs in compare and commit links)
//! become stable numbered placeholders, and every secret the run met is removed by value, wherever
//! it appears. Redaction happens before the text is compared, stored or printed.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::drive::Transcript;

/// What a removed secret reads as.
pub const SECRET_MARK: &str = "[secret]";

struct Rule {
    re: Regex,
    /// Placeholder family; values get `[family-N]` by first appearance.
    family: &'static str,
    /// Capture group holding the volatile value (the rest of the match is kept).
    group: usize,
    /// Whether distinct values get distinct numbers (`[id-1]`, `[id-2]`). Clock readings do
    /// not: two mails a second apart must not make two snapshots differ, so every date reads
    /// `[date]`.
    numbered: bool,
}

fn rule(re: &str, family: &'static str, group: usize) -> Rule {
    Rule {
        re: Regex::new(re).expect("normalisation regexes are valid"),
        family,
        group,
        numbered: true,
    }
}

/// A rule whose values all read `[family]`, unnumbered.
fn clock_rule(re: &str, family: &'static str) -> Rule {
    Rule {
        numbered: false,
        ..rule(re, family, 1)
    }
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        // Mail: RFC 5322 dates, message ids, MIME boundaries, verification tokens (3.x: the
        // `hid` hash), and the "on December 1, 2026" of notification subjects.
        clock_rule(
            r"((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4})",
            "date",
        ),
        rule(r"(?i)message-id: <([^>\s]+)>", "message-id", 1),
        rule(r#"(?i)boundary="?([^";\s]+)"#, "boundary", 1),
        rule(r"[?&](?:amp;)?token=([^&\s\x22<]+)", "token", 1),
        rule(r"[?&](?:amp;)?hid=([^&\s\x22<]+)", "hash", 1),
        clock_rule(
            r"\b((?:January|February|March|April|May|June|July|August|September|October|November|December) \d{1,2}, \d{4})\b",
            "day",
        ),
        // OAuth and CSRF values in URLs and pages.
        rule(r"[?&]state=([^&\s]+)", "state", 1),
        rule(r"[?&]code=([^&\s]+)", "code", 1),
        rule(r"[?&]client_id=([^&\s]+)", "client-id", 1),
        rule(r"[?&]s=([^&\s]+)", "signature", 1),
        rule(r"[?&]authenticity_token=([^&\s]+)", "csrf", 1),
        // Incoming webhook URLs.
        rule(r"/hooks/([A-Za-z0-9]{20,})", "hook", 1),
        // Git commit SHAs in GitLab's compare and commit links (40 hex: they would read as
        // tokens; the push payloads are deterministic, the placeholders keep them apart).
        rule(r"/compare/([0-9a-f]{40})\.\.\.", "sha", 1),
        rule(r"\.\.\.([0-9a-f]{40})\b", "sha", 1),
        rule(r"/commit/([0-9a-f]{40})\b", "sha", 1),
        // Admin area record ids.
        rule(r"/applications/([0-9]+)", "app-record", 1),
        // Timestamps.
        rule(
            r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))",
            "time",
            1,
        ),
        // Unix times (seconds or milliseconds), e.g. in certificate validity errors.
        rule(r"\b(1[0-9]{9}(?:[0-9]{3})?)\b", "unix-time", 1),
        // Certificate ages in rustls' validity errors.
        rule(r"\(([0-9]+) seconds (?:ago|from now)\)", "seconds", 1),
        // Loopback ports (the documented names never carry them, but error texts may).
        rule(r"127\.0\.0\.1:(\d+)", "port", 1),
        // Mattermost ids: 26 lower-case base32 characters.
        rule(r"\b([a-z0-9]{26})\b", "id", 1),
    ]
});

/// Normalise and redact a transcript into snapshot text.
pub fn normalise(tr: &Transcript) -> String {
    normalise_text(&tr.raw_text(), tr.secrets())
}

/// Normalise and redact any text, given the secrets to remove.
pub fn normalise_text(text: &str, secrets: &[String]) -> String {
    // Secrets first, longest first, so a secret that contains a volatile-looking part is removed
    // whole before any rule could split it.
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in &secrets {
        out = out.replace(s.as_str(), SECRET_MARK);
        // URL-encoded forms of the secret, as they appear in query strings.
        let encoded: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
        if encoded != **s {
            out = out.replace(&encoded, SECRET_MARK);
        }
    }
    let mut seen: HashMap<(&'static str, String), usize> = HashMap::new();
    let mut counters: HashMap<&'static str, usize> = HashMap::new();
    for r in RULES.iter() {
        out =
            r.re.replace_all(&out, |caps: &Captures<'_>| {
                let whole = caps.get(0).map(|m| m.as_str()).unwrap_or("");
                let Some(val) = caps.get(r.group) else {
                    return whole.to_string();
                };
                if val.as_str() == SECRET_MARK || val.as_str().starts_with('[') {
                    return whole.to_string();
                }
                let start = caps.get(0).map(|m| m.start()).unwrap_or(0);
                let prefix = &whole[..val.start() - start];
                let suffix = &whole[val.end() - start..];
                if !r.numbered {
                    return format!("{prefix}[{}]{suffix}", r.family);
                }
                let key = (r.family, val.as_str().to_string());
                let n = match seen.get(&key) {
                    Some(n) => *n,
                    None => {
                        let c = counters.entry(r.family).or_insert(0);
                        *c += 1;
                        seen.insert(key, *c);
                        *c
                    }
                };
                format!("{prefix}[{}-{n}]{suffix}", r.family)
            })
            .into_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_shas_in_compare_and_commit_links_get_placeholders() {
        let a = "2faba9b1d1eabf929bbf3868120a6f6ef21ed9c4";
        let b = "f1b61b9fbc0c2b500cee0d1a0978e5cadbeac260";
        let text = format!("(http://g/p/-/compare/{a}...{b}) <http://g/p/-/commit/{b}|f1b61b9f>");
        let n = normalise_text(&text, &[]);
        assert_eq!(
            n,
            "(http://g/p/-/compare/[sha-1]...[sha-2]) <http://g/p/-/commit/[sha-2]|f1b61b9f>"
        );
    }

    #[test]
    fn volatile_values_get_stable_numbered_placeholders() {
        let text = "GET http://gitlab.example.com/oauth/authorize?client_id=abc&state=xyz&response_type=code\n\
                    GET http://mattermost.example.com/signup/gitlab/complete?code=c1&state=xyz\n\
                    post id 8x7k3m9q2w4e6r8t1y3u5i7o9p at 2026-11-24T22:00:01.5Z via 127.0.0.1:41234\n";
        let n = normalise_text(text, &[]);
        assert!(
            n.contains("client_id=[client-id-1]&state=[state-1]&response_type=code"),
            "{n}"
        );
        assert!(n.contains("?code=[code-1]&state=[state-1]"), "{n}");
        assert!(
            n.contains("post id [id-1] at [time-1] via 127.0.0.1:[port-1]"),
            "{n}"
        );
    }

    #[test]
    fn mail_dates_ids_boundaries_and_tokens_are_normalised() {
        let text = "header Date: Tue, 01 Dec 2026 19:28:56 +0000\n\
                    header Date: Tue, 01 Dec 2026 19:28:57 +0000\n\
                    header Message-ID: <AbC123xyz@mattermost.example.com>\n\
                    header Content-Type: multipart/alternative; boundary=Q1w2E3r4\n\
                    link http://mattermost.example.com/do_verify_email?token=T0k3n&email=a%40b\n\
                    header Subject: [Mattermost] Notification in Dev on December 1, 2026\n";
        let n = normalise_text(text, &[]);
        assert_eq!(n.matches("Date: [date]\n").count(), 2, "{n}");
        assert!(n.contains("Message-ID: <[message-id-1]>"), "{n}");
        assert!(n.contains("boundary=[boundary-1]"), "{n}");
        assert!(n.contains("?token=[token-1]&email="), "{n}");
        assert!(n.contains("Dev on [day]"), "{n}");
    }

    #[test]
    fn secrets_are_removed_by_value_even_url_encoded() {
        let secret = "s3cr3t/value+x".to_string();
        let text = format!("a {secret} b s3cr3t%2Fvalue%2Bx c");
        let n = normalise_text(&text, &[secret]);
        assert_eq!(n, "a [secret] b [secret] c");
    }
}
