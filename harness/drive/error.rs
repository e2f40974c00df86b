//! The drivers' error type: a request that could not be made or answered, or a page that is not
//! what a person (or GitLab's integration) would expect at that point. Also owns how a server's
//! own text (a body, a header, a message) is quoted in a failure: secrets met on the way redacted,
//! control characters escaped, at most [`MAX_SERVER_TEXT`] characters ([`server_text`]).

/// What went wrong while driving the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveErrorKind {
    /// The HTTP client could not be built (bad CA roots, TLS settings).
    Setup,
    /// Connecting, TLS, or reading the answer failed (or timed out).
    Network,
    /// The answer is not what the protocol says comes next (missing form, bad JSON, wrong status).
    Protocol,
    /// The stack does not offer what the step needs (unknown user, no admin token, no host).
    Unavailable,
}

/// A driver failure, with a lower-case message naming the URL or page concerned.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DriveError {
    pub kind: DriveErrorKind,
    pub message: String,
    /// When an API refused the request: its HTTP status and error id (Mattermost's `id`).
    pub refusal: Option<(u16, Option<String>)>,
}

impl DriveError {
    pub fn new(kind: DriveErrorKind, message: impl Into<String>) -> Self {
        DriveError {
            kind,
            message: message.into(),
            refusal: None,
        }
    }
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(DriveErrorKind::Protocol, message)
    }
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(DriveErrorKind::Network, message)
    }
    /// An API answered with an error status (and perhaps an error id).
    pub fn refused(status: u16, id: Option<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new(DriveErrorKind::Protocol, message);
        e.refusal = Some((status, id));
        e
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(DriveErrorKind::Unavailable, message)
    }
}

/// The full chain of an error's sources as one line ("error sending request: ...: connection refused").
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// At most this many characters of a server's own text (a body, a `Location`, an error message)
/// go into one failure message; the rest is counted, not shown.
pub const MAX_SERVER_TEXT: usize = 512;

/// At most this many characters of a server's text are kept as data ([`bounded`]): an error
/// message an expectation compares (Mattermost 3.4's longest is about 700 characters), a webhook's
/// answer.
pub const MAX_SERVER_DATA: usize = 8192;

/// What replaces a secret in server text quoted by a failure: the mark the run's redaction and
/// the transcript normalisation use too (`check::normalise::SECRET_MARK`), so a report reads one
/// mark whichever layer caught the secret.
pub const REDACTED: &str = "[secret]";

/// A server's text made fit for a failure message: every value of `secrets` replaced by
/// [`REDACTED`] (a server may echo a posted password), control characters, newlines and the
/// invisible Unicode controls escaped on one line (`report::escape::terminal_line`), and at most
/// [`MAX_SERVER_TEXT`] characters kept, followed by how many were left out.
pub fn server_text(text: &str, secrets: &[String]) -> String {
    let mut redacted = std::borrow::Cow::Borrowed(text);
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if redacted.contains(s.as_str()) {
            redacted = std::borrow::Cow::Owned(redacted.replace(s.as_str(), REDACTED));
        }
    }
    let total = redacted.chars().count();
    let kept: String = redacted.chars().take(MAX_SERVER_TEXT).collect();
    let mut out = crate::report::escape::terminal_line(&kept).into_owned();
    if total > MAX_SERVER_TEXT {
        out.push_str(&format!("… ({} more characters)", total - MAX_SERVER_TEXT));
    }
    out
}

/// A server's text kept as data (an error message an outcome reports, a page title): secrets
/// redacted and at most [`MAX_SERVER_DATA`] characters, not escaped (the report escapes what it
/// prints; expectations compare the text itself).
pub fn bounded(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    match out.char_indices().nth(MAX_SERVER_DATA) {
        Some((at, _)) => {
            out.truncate(at);
            out.push('…');
            out
        }
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_redacted_escaped_and_bounded() {
        let secrets = vec!["hunter2-secret".to_string()];
        let t = server_text(
            "bad login user[password]=hunter2-secret\u{1b}[2J\r\x07",
            &secrets,
        );
        assert!(!t.contains("hunter2-secret"), "{t}");
        assert!(t.contains(REDACTED), "{t}");
        assert!(!t.chars().any(|c| c.is_control()), "{t:?}");
        let long = "x".repeat(10_000);
        let t = server_text(&long, &[]);
        assert!(t.chars().count() < MAX_SERVER_TEXT + 40, "{}", t.len());
        assert!(t.ends_with("(9488 more characters)"), "{t}");
    }

    #[test]
    fn one_redaction_mark_for_every_layer() {
        assert_eq!(REDACTED, crate::check::normalise::SECRET_MARK);
    }
}
