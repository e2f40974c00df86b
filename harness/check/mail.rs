//! The mail expectations: `mail` (a message reached the sink with these recipients, sender,
//! subject, body, links and transport), `mail_error` (Mattermost refused to send, asserted on its
//! error) and `no_mail` (Mattermost said it sent, nothing arrived), checked against a
//! [`MailOutcome`].

use serde::Serialize;

use crate::drive::mail::{MailOutcome, MailView};

/// What a `mail` expectation asks of the message (each field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MailWanted {
    pub to: Option<String>,
    /// `Name <address>`, as the `From` header reads.
    pub from: Option<String>,
    pub subject: Option<String>,
    pub subject_contains: Option<String>,
    pub body_contains: Option<String>,
    pub link_prefix: Option<String>,
    /// `none`, `starttls` or `implicit`.
    pub tls: Option<String>,
    /// `PLAIN`, `LOGIN` or `none`.
    pub auth: Option<String>,
    pub downgraded: Option<bool>,
    pub credentials_in_clear: Option<bool>,
}

/// The TLS modes a `mail` expectation may name.
pub const TLS_NAMES: &[&str] = &["none", "starttls", "implicit"];
/// The AUTH values a `mail` expectation may name.
pub const AUTH_NAMES: &[&str] = &["PLAIN", "LOGIN", "none"];

/// The default expectation of a mail step: a message arrived.
pub fn check_delivered(o: &MailOutcome) -> Result<(), String> {
    if let Some(r) = &o.refused {
        return Err(format!(
            "Mattermost refused to send: {} {}: {}",
            r.status,
            r.id.as_deref().unwrap_or("(no error id)"),
            r.message
        ));
    }
    match &o.message {
        Some(_) => Ok(()),
        None => Err(format!(
            "no message reached the mail sink ({} SMTP session(s) during the step)",
            o.sessions
        )),
    }
}

fn eq(what: &str, want: &Option<String>, got: &str) -> Result<(), String> {
    match want {
        Some(w) if w != got => Err(format!("expected {what} {w:?}, got {got:?}")),
        _ => Ok(()),
    }
}

fn flag(what: &str, want: Option<bool>, got: bool) -> Result<(), String> {
    match want {
        Some(w) if w != got => Err(format!("expected {what} = {w}, the message has {got}")),
        _ => Ok(()),
    }
}

/// `mail = { ... }`.
pub fn check_mail(o: &MailOutcome, want: &MailWanted) -> Result<(), String> {
    check_delivered(o)?;
    let Some(m) = &o.message else {
        return Err("no message reached the mail sink".into());
    };
    check_view(m, want)
}

fn check_view(m: &MailView, want: &MailWanted) -> Result<(), String> {
    if let Some(to) = &want.to
        && !m.is_to(to)
    {
        return Err(format!(
            "expected a message to {to:?}, it went to {:?}",
            m.envelope_to
        ));
    }
    eq("From", &want.from, &m.from)?;
    eq("subject", &want.subject, &m.subject)?;
    if let Some(s) = &want.subject_contains
        && !m.subject.contains(s.as_str())
    {
        return Err(format!(
            "the subject {:?} does not contain {s:?}",
            m.subject
        ));
    }
    if let Some(b) = &want.body_contains
        && !m.body.contains(b.as_str())
    {
        let shown: String = m.body.chars().take(300).collect();
        return Err(format!("the body does not contain {b:?}: {shown:?}"));
    }
    if let Some(p) = &want.link_prefix
        && m.link_starting(p).is_none()
    {
        return Err(format!(
            "no link starts with {p:?}; links: {:?}",
            m.links.iter().take(10).collect::<Vec<_>>()
        ));
    }
    eq("TLS", &want.tls, &m.tls)?;
    eq("AUTH", &want.auth, m.auth.as_deref().unwrap_or("none"))?;
    flag("downgraded", want.downgraded, m.downgraded)?;
    flag(
        "credentials_in_clear",
        want.credentials_in_clear,
        m.credentials_in_clear,
    )
}

/// What a `mail_error` expectation asks.
pub struct MailErrorWanted<'a> {
    pub status: Option<u16>,
    pub id: Option<&'a str>,
    pub message_contains: Option<&'a str>,
    pub session_end_contains: Option<&'a str>,
}

/// `mail_error = { status, id, message_contains, session_end_contains }`.
pub fn check_mail_error(o: &MailOutcome, want: MailErrorWanted<'_>) -> Result<(), String> {
    let MailErrorWanted {
        status,
        id,
        message_contains,
        session_end_contains,
    } = want;
    let Some(r) = &o.refused else {
        return Err(match &o.message {
            Some(m) => format!(
                "expected Mattermost to refuse to send, but a message reached the sink (tls={}, subject {:?})",
                m.tls, m.subject
            ),
            None => "expected Mattermost to refuse to send, but it answered success".into(),
        });
    };
    if let Some(s) = status
        && r.status != s
    {
        return Err(format!(
            "expected status {s}, Mattermost answered {}: {}",
            r.status, r.message
        ));
    }
    if let Some(i) = id
        && r.id.as_deref() != Some(i)
    {
        return Err(format!(
            "expected error id {i}, got {:?}: {}",
            r.id, r.message
        ));
    }
    if let Some(t) = message_contains
        && !r.message.contains(t)
    {
        return Err(format!(
            "Mattermost's error {:?} does not contain {t:?}",
            r.message
        ));
    }
    if let Some(t) = session_end_contains
        && !o.session_ends.iter().any(|e| e.contains(t))
    {
        return Err(format!(
            "no SMTP session at the sink ended with {t:?}; the sink saw {:?}",
            o.session_ends
        ));
    }
    Ok(())
}

/// `no_mail = true`.
pub fn check_no_mail(o: &MailOutcome) -> Result<(), String> {
    if let Some(r) = &o.refused {
        return Err(format!(
            "expected Mattermost to answer success, it refused: {} {}",
            r.status, r.message
        ));
    }
    if let Some(m) = &o.message {
        return Err(format!(
            "expected no mail, but a message reached the sink: {:?}",
            m.subject
        ));
    }
    if o.sessions > 0 {
        return Err(format!(
            "expected no mail, and no message arrived, but {} SMTP session(s) reached the sink",
            o.sessions
        ));
    }
    Ok(())
}
