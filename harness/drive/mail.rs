//! Mail, client side: what a person and an administrator do that makes Mattermost send mail, and
//! how the harness reads a message back from the stack's mail sink.
//!
//! Owns: [`MailView`] (a received message as expectations see it: recipients, `From`, subject,
//! decoded body, links, transport facts), [`MailOutcome`], the System Console's test email
//! ([`send_test_email`]: `POST /api/v4/email/test`, 3.x `POST /api/v3/admin/test_email`), the web
//! app's email verification ([`verify_email`]: the link's `token`, or 3.x's `uid` + `hid`), a
//! log-in with email and password ([`log_in_with_email`]), and the transcript lines of a message
//! ([`record_message`]: envelope, transport, headers, decoded parts, links — normalised and
//! redacted later by `check::normalise`). The sink is the harness's instrument (`crate::mailsink`),
//! not the twin: a docker or live target's sink yields the same [`MailView`].

use serde::Serialize;
use url::Url;

use crate::config::Secret;
use crate::mailsink::{ListenerMode, SinkMessage, TlsMode};

use super::http::{Body, Request};
use super::{Browser, DriveError, Transcript};

/// At most this many characters of a decoded body part go into the transcript.
const MAX_PART_CHARS: usize = 4000;
/// At most this many links of a message go into the transcript.
const MAX_LINKS: usize = 20;
/// At most this many header fields, each cut at `MAX_HEADER_CHARS`, go into the transcript.
const MAX_HEADERS: usize = 60;
const MAX_HEADER_CHARS: usize = 500;

/// `text` cut at `max` characters, marked when cut.
fn bounded(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if out.len() < text.len() {
        out.push_str(" [...]");
    }
    out
}

/// A received message, as the `mail` expectation reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailView {
    pub id: String,
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    /// The `From` header as `Name <address>` (or the bare address).
    pub from: String,
    /// `To` header addresses.
    pub to: Vec<String>,
    pub subject: String,
    /// The decoded text part and the decoded HTML part, joined.
    pub body: String,
    pub links: Vec<String>,
    /// `none`, `starttls` or `implicit`.
    pub tls: String,
    /// The accepted AUTH mechanism (`PLAIN`, `LOGIN`), if any.
    pub auth: Option<String>,
    /// Credentials crossed without TLS.
    pub credentials_in_clear: bool,
    /// The message crossed in plaintext on a STARTTLS (587-style) listener: the client asked for
    /// a secure submission port and went on without TLS.
    pub downgraded: bool,
    pub starttls_offered: bool,
    pub listener: String,
    pub ehlo_name: String,
}

impl MailView {
    pub fn from_sink(m: &SinkMessage) -> MailView {
        let t = &m.transport;
        let from = match &m.parsed.from {
            Some(a) if !a.name.is_empty() => format!("{} <{}>", a.name, a.address),
            Some(a) => a.address.clone(),
            None => String::new(),
        };
        let body = [m.parsed.text.as_str(), m.parsed.html.as_str()]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        MailView {
            id: m.id.clone(),
            envelope_from: m.envelope_from.clone(),
            envelope_to: m.envelope_to.clone(),
            from,
            to: m.parsed.to.iter().map(|a| a.address.clone()).collect(),
            subject: m.subject().to_string(),
            body,
            links: m.parsed.links.clone(),
            tls: t.tls.name().to_string(),
            auth: t.auth_mechanism.map(|a| a.name().to_string()),
            credentials_in_clear: t.auth_in_plaintext,
            downgraded: t.listener_mode == ListenerMode::StartTls && t.tls == TlsMode::None,
            starttls_offered: t.starttls_offered,
            listener: t.listener.clone(),
            ehlo_name: t.ehlo_name.clone(),
        }
    }

    /// Whether the message is addressed to `address` (envelope or `To`), case-insensitively.
    pub fn is_to(&self, address: &str) -> bool {
        self.envelope_to
            .iter()
            .chain(self.to.iter())
            .any(|a| a.eq_ignore_ascii_case(address))
    }

    /// The first link starting with `prefix`.
    pub fn link_starting(&self, prefix: &str) -> Option<&str> {
        self.links
            .iter()
            .find(|l| l.starts_with(prefix))
            .map(String::as_str)
    }
}

/// Mattermost's answer when it refused to send (the test email's error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailRefusal {
    pub status: u16,
    pub id: Option<String>,
    pub message: String,
}

/// What a mail step produced: Mattermost's refusal, or the message that reached the sink (none:
/// Mattermost said it sent, yet nothing arrived), and how many SMTP sessions reached the sink
/// during the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailOutcome {
    pub refused: Option<MailRefusal>,
    pub message: Option<MailView>,
    pub sessions: usize,
    /// When Mattermost refused: how each SMTP session of the step ended at the sink, as
    /// `LISTENER: END` (`smtps: TLS handshake failed: ...`, `smtp: QUIT`).
    pub session_ends: Vec<String>,
}

/// Write a received message into the transcript: envelope and transport facts, every header
/// (dates, message ids and boundaries are normalised later), decoded parts (bounded), links.
pub fn record_message(m: &SinkMessage, tr: &mut Transcript) {
    let t = &m.transport;
    tr.fact(
        "mail",
        format!(
            "MAIL FROM:<{}> RCPT TO:{}",
            m.envelope_from,
            m.envelope_to
                .iter()
                .map(|a| format!("<{a}>"))
                .collect::<Vec<_>>()
                .join(",")
        ),
    );
    tr.fact(
        "transport",
        format!(
            "listener={} tls={}{} starttls_offered={} starttls_used={} auth={}{} ehlo={}",
            t.listener,
            t.tls.name(),
            t.tls_version
                .as_ref()
                .map(|v| format!(" ({v})"))
                .unwrap_or_default(),
            t.starttls_offered,
            t.starttls_used,
            t.auth_mechanism.map(|a| a.name()).unwrap_or("none"),
            if t.auth_in_plaintext {
                " in the clear"
            } else {
                ""
            },
            t.ehlo_name
        ),
    );
    for (name, value) in m.parsed.headers.iter().take(MAX_HEADERS) {
        tr.fact(
            "header",
            bounded(&format!("{name}: {value}"), MAX_HEADER_CHARS),
        );
    }
    if m.parsed.headers.len() > MAX_HEADERS {
        tr.fact(
            "header",
            format!(
                "[{} more header fields]",
                m.parsed.headers.len() - MAX_HEADERS
            ),
        );
    }
    for p in &m.parsed.parts {
        let Some(text) = &p.text else {
            tr.fact(
                "part",
                format!("{} {} ({} bytes)", p.part_id, p.content_type, p.size),
            );
            continue;
        };
        let shown = bounded(text, MAX_PART_CHARS);
        tr.fact(
            "part",
            format!(
                "{} {} {}: {}",
                p.part_id,
                p.content_type,
                p.transfer_encoding,
                shown
                    .replace("\r\n", "\n")
                    .trim_end()
                    .replace('\n', "\n    ")
            ),
        );
    }
    for l in m.parsed.links.iter().take(MAX_LINKS) {
        tr.fact("link", bounded(l, MAX_HEADER_CHARS));
    }
    for p in &m.parsed.problems {
        tr.fact("mail problem", p.clone());
    }
}

fn api_url(base: &Url, path: &str) -> Result<Url, DriveError> {
    base.join(path)
        .map_err(|e| DriveError::protocol(format!("bad Mattermost URL: {e}")))
}

/// Mattermost's `{id, message, detailed_error}` error body.
fn refusal(status: u16, body: &str) -> MailRefusal {
    let json = serde_json::from_str::<serde_json::Value>(body).ok();
    let field = |k: &str| {
        json.as_ref()
            .and_then(|v| v.get(k)?.as_str().map(str::to_string))
    };
    let mut message = field("message").unwrap_or_else(|| body.chars().take(300).collect());
    if let Some(d) = field("detailed_error").filter(|d| !d.is_empty()) {
        message = format!("{message} ({d})");
    }
    MailRefusal {
        status,
        id: field("id"),
        message,
    }
}

/// The System Console's **Test Connection**: the administrator (signed in with `token`) posts the
/// current config — read with `GET /api/v4/config` (3.x `GET /api/v3/admin/config`) — to the
/// test-email endpoint. `Ok(None)`: Mattermost says it sent; `Ok(Some(refusal))`: it refused.
pub async fn send_test_email(
    browser: &Browser,
    base: &Url,
    token: &Secret,
    v3: bool,
    tr: &mut Transcript,
) -> Result<Option<MailRefusal>, DriveError> {
    let (config_path, test_path) = if v3 {
        ("/api/v3/admin/config", "/api/v3/admin/test_email")
    } else {
        ("/api/v4/config", "/api/v4/email/test")
    };
    let bearer = format!("Bearer {}", token.expose());
    let page = browser
        .send(
            Request::get(api_url(base, config_path)?).header("Authorization", &bearer),
            Some("System Console config"),
            tr,
        )
        .await?;
    if page.status != 200 {
        return Err(DriveError::refused(
            page.status,
            None,
            format!("reading the config: {} answered {}", page.url, page.status),
        ));
    }
    let config = page.json()?;
    let page = browser
        .send(
            Request::post(api_url(base, test_path)?, Body::Json(config))
                .header("Authorization", &bearer),
            Some("test email"),
            tr,
        )
        .await?;
    if page.status == 200 {
        return Ok(None);
    }
    let r = refusal(page.status, &page.body);
    tr.fact(
        "mail refused",
        format!(
            "{} {}: {}",
            r.status,
            r.id.as_deref().unwrap_or("(no id)"),
            r.message
        ),
    );
    Ok(Some(r))
}

/// Follow a verification link as Mattermost's web app does: `/do_verify_email?token=T` posts
/// `{"token": T}` to `POST /api/v4/users/email/verify` (webapp `do_verify_email.tsx`);
/// Mattermost 3.x's `?uid=U&hid=H` posts `{"uid", "hid"}` to `POST /api/v3/users/verify_email`.
pub async fn verify_email(
    browser: &Browser,
    base: &Url,
    link: &str,
    tr: &mut Transcript,
) -> Result<(), DriveError> {
    let url = Url::parse(link)
        .map_err(|e| DriveError::protocol(format!("the verification link {link:?}: {e}")))?;
    let query = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let (path, body) = if let Some(token) = query("token") {
        tr.secret(&token);
        (
            "/api/v4/users/email/verify",
            serde_json::json!({ "token": token }),
        )
    } else if let (Some(uid), Some(hid)) = (query("uid"), query("hid")) {
        tr.secret(&hid);
        (
            "/api/v3/users/verify_email",
            serde_json::json!({ "uid": uid, "hid": hid }),
        )
    } else {
        return Err(DriveError::protocol(format!(
            "the verification link {link:?} carries neither `token` nor `uid` + `hid`"
        )));
    };
    let page = browser
        .send(
            Request::post(api_url(base, path)?, Body::Json(body)),
            Some("verify email"),
            tr,
        )
        .await?;
    if page.status != 200 {
        let r = refusal(page.status, &page.body);
        return Err(DriveError::refused(
            r.status,
            r.id.clone(),
            format!("verifying the email address: {}", r.message),
        ));
    }
    Ok(())
}

/// `POST /api/v4/users/login` (3.x `/api/v3/users/login`) with an email address and password.
/// `Err` with a refusal when Mattermost refuses (sign-in with email off, not verified).
pub async fn log_in_with_email(
    browser: &Browser,
    base: &Url,
    email: &str,
    password: &Secret,
    v3: bool,
    tr: &mut Transcript,
) -> Result<(), DriveError> {
    tr.secret(password.expose());
    let path = if v3 {
        "/api/v3/users/login"
    } else {
        "/api/v4/users/login"
    };
    let page = browser
        .send(
            Request::post(
                api_url(base, path)?,
                Body::Json(serde_json::json!({"login_id": email, "password": password.expose()})),
            ),
            Some("email log-in"),
            tr,
        )
        .await?;
    if let Some(t) = page.header("token") {
        tr.secret(t);
    }
    if page.status != 200 {
        let r = refusal(page.status, &page.body);
        return Err(DriveError::refused(
            r.status,
            r.id.clone(),
            format!("logging in with email: {} {}", r.status, r.message),
        ));
    }
    let who = page.json()?;
    tr.fact(
        "signed in",
        format!(
            "{} <{}>",
            who.get("username").and_then(|v| v.as_str()).unwrap_or("?"),
            who.get("email").and_then(|v| v.as_str()).unwrap_or("?")
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_lines_are_bounded_by_characters_not_bytes() {
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded("ééééé", 3), "ééé [...]");
        let long = "x".repeat(10_000);
        assert_eq!(bounded(&long, MAX_HEADER_CHARS).len(), MAX_HEADER_CHARS + 6);
    }
}
