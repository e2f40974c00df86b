//! The mailbox over HTTP: a JSON API shaped like Mailpit's, so tools written for Mailpit work
//! against the sink, plus two plain HTML pages for a person.
//!
//! Owns: [`router`]. Routes (Mailpit's `server/apiv1` names and field names):
//! - `GET /api/v1/messages?start=&limit=` → `{total, unread, count, messages_count,
//!   messages_unread, start, tags, messages: [MessageSummary]}`, newest first;
//! - `GET /api/v1/message/{ID}` (`latest` allowed) → `Message` (`ID`, `MessageID`, `From`, `To`,
//!   `Cc`, `Bcc`, `ReplyTo`, `ReturnPath`, `Subject`, `ListUnsubscribe`, `Date`, `Tags`,
//!   `Username`, `Text`, `HTML`, `Size`, `Inline`, `Attachments`), marking it read; the sink's
//!   own additions ride along under `Envelope`, `Transport`, `Links`, `Parts`, `Problems`;
//! - `GET /api/v1/message/{ID}/raw`, `GET /api/v1/message/{ID}/headers`;
//! - `DELETE /api/v1/messages` (body `{"IDs": [...]}` or none = all) → `ok`;
//! - `GET /api/v1/sessions` (the sink's addition): every SMTP session with its transport facts;
//! - `GET /` lists messages with their transport facts; `GET /view/{ID}` shows one, its links
//!   clickable (http and https only). Every value is HTML-escaped.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

use super::mailbox::{Mailbox, SinkMessage};
use super::mime::{self, MailAddress};

/// The HTTP routes over `mailbox`.
pub fn router(mailbox: Arc<Mailbox>) -> Router {
    Router::new()
        .route("/", get(index_page))
        .route("/view/{id}", get(message_page))
        .route(
            "/api/v1/messages",
            get(list_messages).delete(delete_messages),
        )
        .route("/api/v1/message/{id}", get(get_message))
        .route("/api/v1/message/{id}/raw", get(get_raw))
        .route("/api/v1/message/{id}/headers", get(get_headers))
        .route("/api/v1/sessions", get(list_sessions))
        .with_state(mailbox)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn addresses(list: &[MailAddress]) -> Value {
    json!(list)
}

fn attachments(m: &SinkMessage) -> Vec<Value> {
    m.parsed
        .parts
        .iter()
        .filter(|p| p.disposition.as_deref() == Some("attachment") || p.filename.is_some())
        .map(|p| {
            json!({
                "PartID": p.part_id,
                "FileName": p.filename.clone().unwrap_or_default(),
                "ContentType": p.content_type,
                "ContentID": "",
                "Size": p.size,
            })
        })
        .collect()
}

fn summary(m: &SinkMessage, read: bool) -> Value {
    json!({
        "ID": m.id,
        "MessageID": m.parsed.message_id,
        "Read": read,
        "From": m.parsed.from,
        "To": addresses(&m.parsed.to),
        "Cc": addresses(&m.parsed.cc),
        "Bcc": [],
        "ReplyTo": addresses(&m.parsed.reply_to),
        "Subject": m.parsed.subject,
        "Created": rfc3339(m.received),
        "Username": m.transport.auth_identity.clone().unwrap_or_default(),
        "Tags": [],
        "Size": m.raw.len(),
        "Attachments": attachments(m).len(),
        "Snippet": mime::snippet(&m.parsed, 250),
        "Transport": m.transport,
    })
}

fn full(m: &SinkMessage) -> Value {
    let date = m
        .parsed
        .date
        .as_deref()
        .and_then(|d| OffsetDateTime::parse(d, &Rfc2822).ok())
        .unwrap_or(m.received);
    json!({
        "ID": m.id,
        "MessageID": m.parsed.message_id,
        "From": m.parsed.from,
        "To": addresses(&m.parsed.to),
        "Cc": addresses(&m.parsed.cc),
        "Bcc": [],
        "ReplyTo": addresses(&m.parsed.reply_to),
        "ReturnPath": m.envelope_from,
        "Subject": m.parsed.subject,
        "ListUnsubscribe": {"Header": "", "Links": [], "Errors": "", "HeaderPost": ""},
        "Date": rfc3339(date),
        "Tags": [],
        "Username": m.transport.auth_identity.clone().unwrap_or_default(),
        "Text": m.parsed.text,
        "HTML": m.parsed.html,
        "Size": m.raw.len(),
        "Inline": [],
        "Attachments": attachments(m),
        "Envelope": {"From": m.envelope_from, "To": m.envelope_to},
        "Transport": m.transport,
        "Links": m.parsed.links,
        "Parts": m.parsed.parts,
        "Problems": m.parsed.problems,
    })
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Not found",
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct Page {
    start: Option<usize>,
    limit: Option<usize>,
}

async fn list_messages(State(mb): State<Arc<Mailbox>>, Query(page): Query<Page>) -> Response {
    let start = page.start.unwrap_or(0);
    let limit = page.limit.unwrap_or(50).min(1000);
    let all = mb.messages();
    let total = all.len();
    let messages: Vec<Value> = all
        .iter()
        .rev()
        .skip(start)
        .take(limit)
        .map(|m| summary(m, mb.is_read(&m.id)))
        .collect();
    let unread = mb.unread();
    axum::Json(json!({
        "total": total,
        "unread": unread,
        "count": messages.len(),
        "messages_count": total,
        "messages_unread": unread,
        "start": start,
        "tags": [],
        "messages": messages,
    }))
    .into_response()
}

async fn delete_messages(State(mb): State<Arc<Mailbox>>, body: axum::body::Bytes) -> Response {
    #[derive(Deserialize)]
    struct Ids {
        #[serde(rename = "IDs", default)]
        ids: Vec<String>,
    }
    match serde_json::from_slice::<Ids>(&body) {
        Ok(Ids { ids }) if !ids.is_empty() => {
            mb.delete(&ids);
        }
        _ => mb.clear(),
    }
    ([(header::CONTENT_TYPE, "text/plain")], "ok").into_response()
}

async fn get_message(State(mb): State<Arc<Mailbox>>, Path(id): Path<String>) -> Response {
    let Some(m) = mb.get(&id) else {
        return not_found();
    };
    mb.mark_read(&m.id);
    axum::Json(full(&m)).into_response()
}

async fn get_raw(State(mb): State<Arc<Mailbox>>, Path(id): Path<String>) -> Response {
    let Some(m) = mb.get(&id) else {
        return not_found();
    };
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        m.raw.clone(),
    )
        .into_response()
}

async fn get_headers(State(mb): State<Arc<Mailbox>>, Path(id): Path<String>) -> Response {
    let Some(m) = mb.get(&id) else {
        return not_found();
    };
    // Go's mail.Header: canonical names, each with its values in order.
    let mut map = serde_json::Map::new();
    for (k, v) in &m.parsed.headers {
        let name = canonical_header(k);
        let entry = map.entry(name).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.push(Value::String(v.clone()));
        }
    }
    axum::Json(Value::Object(map)).into_response()
}

async fn list_sessions(State(mb): State<Arc<Mailbox>>) -> Response {
    axum::Json(
        json!({ "sessions": mb.sessions().iter().map(|s| (**s).clone()).collect::<Vec<_>>() }),
    )
    .into_response()
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `content-type` → `Content-Type`.
fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        upper = c == '-';
    }
    out
}

/// HTML-escape text (element content and quoted attribute values).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn transport_line(m: &SinkMessage) -> String {
    let t = &m.transport;
    let mut parts = vec![format!("{} ({})", t.listener, t.listener_mode.name())];
    parts.push(format!("TLS {}", t.tls.name()));
    if let Some(v) = &t.tls_version {
        parts.push(v.clone());
    }
    if let Some(sni) = &t.sni {
        parts.push(format!("SNI {sni}"));
    }
    parts.push(format!(
        "STARTTLS {}",
        match (t.starttls_offered, t.starttls_used) {
            (_, true) => "used",
            (true, false) => "offered, not used",
            (false, false) => "not offered",
        }
    ));
    match (&t.auth_mechanism, &t.auth_identity) {
        (Some(mech), Some(id)) => parts.push(format!("AUTH {} as {id}", mech.name())),
        _ => parts.push("no AUTH".to_string()),
    }
    if t.auth_in_plaintext {
        parts.push("credentials sent in plaintext".to_string());
    }
    parts.push(format!("EHLO {}", t.ehlo_name));
    escape(&parts.join(" · "))
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}.warn{color:#a00}";

async fn index_page(State(mb): State<Arc<Mailbox>>) -> Html<String> {
    let mut rows = String::new();
    for m in mb.messages().iter().rev() {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"/view/{}\">{}</a></td><td>{}</td></tr>\n",
            escape(&rfc3339(m.received)),
            escape(&m.envelope_from),
            escape(&m.envelope_to.join(", ")),
            escape(&m.id),
            escape(if m.parsed.subject.is_empty() { "(no subject)" } else { &m.parsed.subject }),
            transport_line(m),
        ));
    }
    let body = if rows.is_empty() {
        "<p>No mail yet. This page does not refresh itself: reload it.</p>".to_string()
    } else {
        format!(
            "<table><tr><th>received</th><th>from (envelope)</th><th>to (envelope)</th><th>subject</th><th>transport</th></tr>\n{rows}</table>"
        )
    };
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mm-harness mailbox</title><style>{STYLE}</style></head>\
         <body><h1>Mailbox</h1><p>{} message(s). JSON: <a href=\"/api/v1/messages\">/api/v1/messages</a></p>{body}</body></html>",
        mb.len()
    ))
}

async fn message_page(State(mb): State<Arc<Mailbox>>, Path(id): Path<String>) -> Response {
    let Some(m) = mb.get(&id) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<!DOCTYPE html><html><body><p>No such message. <a href=\"/\">Mailbox</a></p></body></html>".to_string()),
        )
            .into_response();
    };
    mb.mark_read(&m.id);
    let links: String = m
        .parsed
        .links
        .iter()
        .map(|l| {
            let safe = l.starts_with("http://") || l.starts_with("https://");
            if safe {
                format!("<li><a href=\"{0}\">{0}</a></li>", escape(l))
            } else {
                format!("<li>{}</li>", escape(l))
            }
        })
        .collect();
    let headers: String = m
        .parsed
        .headers
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v)))
        .collect();
    let problems: String = m
        .parsed
        .problems
        .iter()
        .map(|p| format!("<li class=\"warn\">{}</li>", escape(p)))
        .collect();
    let parts: String = m
        .parsed
        .parts
        .iter()
        .map(|p| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&p.part_id),
                escape(&p.content_type),
                escape(p.charset.as_deref().unwrap_or("")),
                escape(&p.transfer_encoding),
                p.size
            )
        })
        .collect();
    let page = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{subject}</title><style>{STYLE}</style></head><body>\
         <p><a href=\"/\">← Mailbox</a></p><h1>{subject}</h1>\
         <table><tr><th>envelope from</th><td>{from}</td></tr><tr><th>envelope to</th><td>{to}</td></tr>\
         <tr><th>transport</th><td>{transport}</td></tr></table>\
         <h2>Links</h2><ul id=\"links\">{links}</ul>\
         <h2>Text</h2><pre>{text}</pre>\
         <h2>HTML source</h2><pre>{html}</pre>\
         <h2>Parts</h2><table><tr><th>part</th><th>type</th><th>charset</th><th>encoding</th><th>bytes</th></tr>{parts}</table>\
         {problems_block}\
         <h2>Headers</h2><table>{headers}</table>\
         <p><a href=\"/api/v1/message/{id}\">JSON</a> · <a href=\"/api/v1/message/{id}/raw\">source</a></p></body></html>",
        subject = escape(if m.parsed.subject.is_empty() {
            "(no subject)"
        } else {
            &m.parsed.subject
        }),
        from = escape(&m.envelope_from),
        to = escape(&m.envelope_to.join(", ")),
        transport = transport_line(&m),
        text = escape(&m.parsed.text),
        html = escape(&m.parsed.html),
        problems_block = if problems.is_empty() {
            String::new()
        } else {
            format!("<h2>Problems</h2><ul>{problems}</ul>")
        },
        id = escape(&m.id),
    );
    Html(page).into_response()
}
