//! Incoming webhooks: `POST /hooks/{id}` as Mattermost's web/webhook.go + app/webhook.go (10.11)
//! and api/webhook.go (3.4) handle it.
//!
//! Owns: body decoding per era (JSON with the control-character second chance; form
//! `payload=<json>`, which GitLab's integration sends; on 10.11 multipart fields decoded the way
//! gorilla/schema does, on the Go field names `Text`, `Username`, `IconURL`, `ChannelName`, `Type`,
//! `IconEmoji` matched case-insensitively, so `channel`, `icon_url` and `icon_emoji` are refused),
//! the Slack-compatible request fields, channel resolution (`name`, `#name`, `@user` → direct
//! channel), the posts it creates (app/slack.go `ProcessSlackText` / `ProcessSlackAttachments`,
//! `CreateWebhookPost`, `SplitWebhookPost`), and every error with its real id, message and status.
//! Errors are JSON (`IsWebhookCall`), never the HTML error page.
//!
//! 10.11: the web layer decodes first (`parse_form`, `parse_multipart`, `decode` errors carry the
//! hook id and media type), then every `HandleIncomingWebhook` error is wrapped as
//! `web.incoming_webhook.general.app_error` with the inner status (mattermost PR #28846, in every
//! release since 10.4). 3.4: disabled is checked first (501), every other error is a 500 with the
//! 3.4 English text, no multipart decoding, no `webhook_display_name`, no hook defaults, `@user`
//! posts only into an existing direct channel.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use regex::Regex;
use serde_json::{Map, Value};

use super::error::AppError;
use super::store::{Channel, Store};
use super::twin::MattermostTwin;
use crate::config::version::Profile;

/// The `/hooks/{id}` route.
pub fn routes() -> Router<Arc<MattermostTwin>> {
    Router::new().route("/hooks/{id}", post(incoming_webhook))
}

/// `model.PostMessageMaxRunesV2`: the split size of a long webhook text (10.11).
pub const MAX_POST_RUNES: usize = 16383;
/// `model.PostPropsMaxUserRunes` (800000 - 40000).
pub const PROPS_MAX_USER_RUNES: usize = 760_000;
/// 3.4 `Post.IsValid`: message and props limits (runes).
const V3_MAX_MESSAGE_RUNES: usize = 4000;
const V3_MAX_PROPS_RUNES: usize = 8000;
/// Body limit of the twin (Go's `ParseForm` stops at 10 MB; JSON bodies are unbounded there).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// `model.IncomingWebhookRequest`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct WebhookRequest {
    pub text: String,
    pub username: String,
    pub icon_url: String,
    pub channel: String,
    pub props: Map<String, Value>,
    /// `None` = Go's nil slice (no key, `null`, or, on 10.11, no non-null element).
    pub attachments: Option<Vec<Value>>,
    pub post_type: String,
    pub icon_emoji: String,
}

/// Which Mattermost decodes: 3.4 (`interface{}` attachments, kept raw) or 10.11 (typed
/// `[]*SlackAttachment`, normalised to the Go struct's fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Era {
    V3_4,
    V10_11,
}

impl Era {
    fn of(profile: Profile) -> Era {
        match profile {
            Profile::Gitlab8_12 => Era::V3_4,
            Profile::Gitlab18_11 => Era::V10_11,
        }
    }
}

/// Go's `encoding/json` field matching: exact name, else case-insensitive.
fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn type_error(v: &Value, place: &str, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field {place} of type {go_type}",
        json_kind(v)
    )
}

fn string_field(m: &Map<String, Value>, name: &str, place: &str) -> Result<String, String> {
    match field(m, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(type_error(other, &format!("{place}.{name}"), "string")),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Escape raw control characters inside JSON string literals (`escapeControlCharsFromPayload`:
/// the second chance the real server gives a payload with literal newlines in `text`).
fn escape_control_chars(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in payload {
        if in_string {
            if escaped {
                escaped = false;
                out.push(b);
                continue;
            }
            match b {
                b'\\' => {
                    escaped = true;
                    out.push(b);
                }
                b'"' => {
                    in_string = false;
                    out.push(b);
                }
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                _ => out.push(b),
            }
        } else {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
    out
}

/// The string keys of `model.SlackAttachment`, in struct order around `id`, `fields`, `ts`.
const ATTACHMENT_STRINGS_HEAD: [&str; 9] = [
    "fallback",
    "color",
    "pretext",
    "author_name",
    "author_link",
    "author_icon",
    "title",
    "title_link",
    "text",
];
const ATTACHMENT_STRINGS_TAIL: [&str; 4] = ["image_url", "thumb_url", "footer", "footer_icon"];

/// Go's `fmt.Sprintf("%v", v)` for a JSON-decoded `any` (`StringifySlackFieldValue`).
fn go_sprint(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            Some(f) => f.to_string(),
            None => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// One element of `attachments` decoded into `model.SlackAttachment` and encoded back: unknown
/// keys dropped, every struct field present, field values stringified, nil fields dropped.
fn typed_attachment(a: &Map<String, Value>) -> Result<Value, String> {
    let place = "IncomingWebhookRequest.attachments";
    let mut out = Map::new();
    let id = match field(a, "id") {
        None | Some(Value::Null) => Value::from(0),
        Some(Value::Number(n)) if n.is_i64() => Value::Number(n.clone()),
        Some(other) => return Err(type_error(other, &format!("{place}.id"), "int64")),
    };
    out.insert("id".into(), id);
    for key in ATTACHMENT_STRINGS_HEAD {
        out.insert(key.into(), Value::String(string_field(a, key, place)?));
    }
    let fields = match field(a, "fields") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Array(items)) => {
            let mut kept = Vec::new();
            for item in items {
                match item {
                    Value::Null => {}
                    Value::Object(f) => {
                        let fplace = format!("{place}.fields");
                        let short = match field(f, "short") {
                            None | Some(Value::Null) => false,
                            Some(Value::Bool(b)) => *b,
                            Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
                            Some(other) => {
                                return Err(type_error(
                                    other,
                                    &format!("{fplace}.short"),
                                    "model.SlackCompatibleBool",
                                ));
                            }
                        };
                        let value = match field(f, "value") {
                            None | Some(Value::Null) => Value::Null,
                            Some(v) => Value::String(go_sprint(v)),
                        };
                        let mut typed = Map::new();
                        typed.insert("title".into(), string_field(f, "title", &fplace)?.into());
                        typed.insert("value".into(), value);
                        typed.insert("short".into(), Value::Bool(short));
                        kept.push(Value::Object(typed));
                    }
                    other => {
                        return Err(type_error(
                            other,
                            &format!("{place}.fields"),
                            "model.SlackAttachmentField",
                        ));
                    }
                }
            }
            if kept.is_empty() {
                Value::Null
            } else {
                Value::Array(kept)
            }
        }
        Some(other) => {
            return Err(type_error(
                other,
                &format!("{place}.fields"),
                "[]*model.SlackAttachmentField",
            ));
        }
    };
    out.insert("fields".into(), fields);
    for key in ATTACHMENT_STRINGS_TAIL {
        out.insert(key.into(), Value::String(string_field(a, key, place)?));
    }
    out.insert("ts".into(), field(a, "ts").cloned().unwrap_or(Value::Null));
    if let Some(actions) = field(a, "actions")
        && !actions.is_null()
    {
        out.insert("actions".into(), actions.clone());
    }
    Ok(Value::Object(out))
}

/// `model.IncomingWebhookRequestFromJSON` (10.11) / `IncomingWebhookRequestFromJson` (3.4): the
/// error is Go's decoder text (kept for the twin's log; the wire blanks `detailed_error`).
pub(crate) fn decode_json(payload: &[u8], era: Era) -> Result<WebhookRequest, String> {
    let value: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(first) => {
            serde_json::from_slice(&escape_control_chars(payload)).map_err(|_| first.to_string())?
        }
    };
    let Value::Object(m) = value else {
        return Err(format!(
            "json: cannot unmarshal {} into Go value of type model.IncomingWebhookRequest",
            json_kind(&value)
        ));
    };
    let place = "IncomingWebhookRequest";
    let props = match field(&m, "props") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(other) => {
            return Err(type_error(
                other,
                "IncomingWebhookRequest.props",
                "model.StringInterface",
            ));
        }
    };
    let attachments = match (era, field(&m, "attachments")) {
        (_, None | Some(Value::Null)) => None,
        // 3.4: `interface{}`; anything but a list makes 3.4's expandAnnouncements panic (the
        // twin refuses it as unparsable instead of dropping the connection).
        (Era::V3_4, Some(Value::Array(items))) => Some(items.clone()),
        (Era::V3_4, Some(other)) => {
            return Err(format!(
                "attachments is a JSON {}, not a list: Mattermost 3.4 panics on it",
                json_kind(other)
            ));
        }
        (Era::V10_11, Some(Value::Array(items))) => {
            let mut kept = Vec::new();
            for item in items {
                match item {
                    Value::Null => {}
                    Value::Object(a) => kept.push(typed_attachment(a)?),
                    other => {
                        return Err(type_error(
                            other,
                            "IncomingWebhookRequest.attachments",
                            "model.SlackAttachment",
                        ));
                    }
                }
            }
            // StringifySlackFieldValue: no non-nil element leaves Go's nil slice.
            (!kept.is_empty()).then_some(kept)
        }
        (Era::V10_11, Some(other)) => {
            return Err(type_error(
                other,
                "IncomingWebhookRequest.attachments",
                "[]*model.SlackAttachment",
            ));
        }
    };
    let icon_emoji = match era {
        Era::V3_4 => String::new(),
        Era::V10_11 => string_field(&m, "icon_emoji", place)?,
    };
    Ok(WebhookRequest {
        text: string_field(&m, "text", place)?,
        username: string_field(&m, "username", place)?,
        icon_url: string_field(&m, "icon_url", place)?,
        channel: string_field(&m, "channel", place)?,
        props,
        attachments,
        post_type: string_field(&m, "type", place)?,
        icon_emoji,
    })
}

/// Where a multipart field goes: gorilla/schema matches the form key against the Go field names
/// of `model.IncomingWebhookRequest` (it has no `schema` tags), case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemaField {
    Text,
    Username,
    IconUrl,
    ChannelName,
    Type,
    IconEmoji,
}

/// `schema.Decoder.Decode` for one form key: `Ok(field)` or the gorilla/schema error text.
fn schema_field(key: &str) -> Result<SchemaField, String> {
    const FIELDS: [(&str, SchemaField); 6] = [
        ("Text", SchemaField::Text),
        ("Username", SchemaField::Username),
        ("IconURL", SchemaField::IconUrl),
        ("ChannelName", SchemaField::ChannelName),
        ("Type", SchemaField::Type),
        ("IconEmoji", SchemaField::IconEmoji),
    ];
    if let Some((_, f)) = FIELDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(key)) {
        return Ok(*f);
    }
    // Props (a map), Attachments (pointers to structs) and Priority (a struct) have no
    // converter for a plain form value.
    if ["Props", "Attachments", "Priority"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(key))
    {
        return Err(format!("schema: error converting value for {key:?}"));
    }
    Err(format!("schema: invalid path {key:?}"))
}

/// Decode multipart form values (last value wins, as gorilla/schema sets a string field).
fn decode_schema(values: &[(String, String)]) -> Result<WebhookRequest, String> {
    let mut out = WebhookRequest::default();
    for (key, value) in values {
        let slot = match schema_field(key)? {
            SchemaField::Text => &mut out.text,
            SchemaField::Username => &mut out.username,
            SchemaField::IconUrl => &mut out.icon_url,
            SchemaField::ChannelName => &mut out.channel,
            SchemaField::Type => &mut out.post_type,
            SchemaField::IconEmoji => &mut out.icon_emoji,
        };
        *slot = value.clone();
    }
    Ok(out)
}

/// Go's `mime.ParseMediaType` as `ParseForm` runs it: the lower-cased media type, or an error
/// for a malformed type or parameter.
fn parse_media_type(content_type: &str) -> Result<String, String> {
    let is_token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii() && !c.is_ascii_control() && !" ()<>@,;:\\\"/[]?=".contains(c))
    };
    let mut parts = content_type.split(';');
    let base = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let (typ, sub) = match base.split_once('/') {
        Some((t, s)) => (t, Some(s)),
        None => (base.as_str(), None),
    };
    if typ.is_empty() {
        return Err("mime: no media type".into());
    }
    if !is_token(typ) {
        return Err("mime: expected slash after first token".into());
    }
    if let Some(sub) = sub
        && !is_token(sub)
    {
        return Err("mime: expected token after slash".into());
    }
    let params: Vec<&str> = parts.collect();
    for (i, p) in params.iter().enumerate() {
        let p = p.trim();
        if p.is_empty() && i + 1 == params.len() {
            break; // a trailing semicolon is ignored
        }
        let ok = p
            .split_once('=')
            .is_some_and(|(k, v)| is_token(k.trim()) && !v.trim().is_empty());
        if !ok {
            return Err("mime: invalid media parameter".into());
        }
    }
    Ok(base)
}

/// Go's `url.ParseQuery` errors (what makes `ParseForm` fail on a form body).
fn check_go_query(body: &str) -> Result<(), String> {
    for pair in body.split('&') {
        if pair.contains(';') {
            return Err("invalid semicolon separator in query".into());
        }
        let bytes = pair.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let ok = bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
                if !ok {
                    let end = (i + 3).min(bytes.len());
                    return Err(format!(
                        "invalid URL escape {:?}",
                        String::from_utf8_lossy(&bytes[i..end])
                    ));
                }
                i += 3;
            } else {
                i += 1;
            }
        }
    }
    Ok(())
}

/// app/webhook.go `linkWithTextRegex` (10.11, the post text).
static APP_LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<([^\n<|>]+)\|([^|\n>]+)>").expect("static regex"));
/// model/slack_attachment.go `linkWithTextRegex` (10.11 attachments) and 3.4's api/post.go one.
static MODEL_LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<([^<|]+)\|([^>]+)>").expect("static regex"));
/// app/slack.go `replaceUserIds`.
static USER_ID_MENTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<@([a-zA-Z0-9]+)>").expect("static regex"));

/// Slack `<url|text>` → Markdown `[text](url)` as `CreateWebhookPost` does to the text (10.11).
pub(crate) fn slack_links_to_markdown(text: &str) -> String {
    APP_LINK.replace_all(text, "[${2}](${1})").into_owned()
}

/// `ParseSlackLinksToMarkdown` (10.11 attachments) and 3.4's `CreateWebhookPost`.
fn model_links_to_markdown(text: &str) -> String {
    MODEL_LINK.replace_all(text, "[${2}](${1})").into_owned()
}

/// `expandAnnouncement`: 10.11 `<!channel>`, `<!here>`, `<!all>`; 3.4 only `<!channel>`.
fn expand_announcement(text: &str, era: Era) -> String {
    match era {
        Era::V3_4 => text.replace("<!channel>", "@channel"),
        Era::V10_11 => text
            .replace("<!channel>", "@channel")
            .replace("<!here>", "@here")
            .replace("<!all>", "@all"),
    }
}

/// `ProcessSlackText` (10.11): announcements, then `<@USERID>` → `@username` for users that
/// exist.
fn process_slack_text(store: &Store, text: &str) -> String {
    let mut text = expand_announcement(text, Era::V10_11);
    let ids: Vec<String> = USER_ID_MENTION
        .captures_iter(&text)
        .map(|c| c[1].to_string())
        .collect();
    for id in ids {
        if let Some(user) = store.user(&id) {
            text = text.replace(&format!("<@{id}>"), &format!("@{}", user.username));
        }
    }
    text
}

/// Apply `f` to an attachment's string keys `keys` and to its field values.
fn map_attachment(a: &mut Value, keys: &[&str], f: &dyn Fn(&str) -> String) {
    let Value::Object(m) = a else { return };
    for key in keys {
        if let Some(Value::String(s)) = m.get(*key) {
            let mapped = f(s);
            m.insert((*key).to_string(), Value::String(mapped));
        }
    }
    if let Some(Value::Array(fields)) = m.get_mut("fields") {
        for fl in fields.iter_mut() {
            if let Some(Value::String(v)) = fl.get("value").cloned() {
                fl["value"] = Value::String(f(&v));
            }
        }
    }
}

/// 10.11: `ProcessSlackAttachments` (pretext, text, title, field values through
/// `ProcessSlackText`), then `ParseSlackAttachment` (links in text, pretext, field values).
fn process_attachments(store: &Store, attachments: &[Value]) -> Vec<Value> {
    attachments
        .iter()
        .map(|a| {
            let mut a = a.clone();
            map_attachment(&mut a, &["pretext", "text", "title"], &|s| {
                process_slack_text(store, s)
            });
            map_attachment(&mut a, &["text", "pretext"], &model_links_to_markdown);
            a
        })
        .collect()
}

/// 3.4: `expandAnnouncements` (pretext, text, title, field values) at decode, then
/// `CreateWebhookPost`'s link conversion (text, pretext, field values).
fn process_attachments_v3(attachments: &[Value]) -> Vec<Value> {
    attachments
        .iter()
        .map(|a| {
            let mut a = a.clone();
            map_attachment(&mut a, &["pretext", "text", "title"], &|s| {
                expand_announcement(s, Era::V3_4)
            });
            map_attachment(&mut a, &["text", "pretext"], &model_links_to_markdown);
            a
        })
        .collect()
}

fn rune_len(s: &str) -> usize {
    s.chars().count()
}

fn props_runes(props: &Map<String, Value>) -> usize {
    rune_len(&Value::Object(props.clone()).to_string())
}

/// One post `SplitWebhookPost` makes: message and props.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Split {
    pub message: String,
    pub props: Map<String, Value>,
}

/// `SplitWebhookPost` (10.11): the text cut into `max_runes`-rune posts carrying the props
/// without `attachments`; the attachments appended to the last post while the props stay under
/// [`PROPS_MAX_USER_RUNES`], a new empty post when they do not fit, the text of a lone attachment
/// truncated as a last resort; 400 `split_props_length` when even that cannot fit.
pub(crate) fn split_webhook_post(
    message: &str,
    props: &Map<String, Value>,
    max_runes: usize,
    max_props: usize,
) -> Result<Vec<Split>, AppError> {
    let too_long = || {
        AppError::new(
            "web.incoming_webhook.split_props_length.app_error",
            format!("Unable to split webhook props into {max_props} character parts."),
            400,
        )
    };
    let mut base = props.clone();
    let attachments = base.remove("attachments");
    if props_runes(&base) > max_props {
        return Err(too_long());
    }
    let mut splits = Vec::new();
    let mut remaining = message;
    while rune_len(remaining) > max_runes {
        let cut = remaining
            .char_indices()
            .nth(max_runes)
            .map(|(i, _)| i)
            .unwrap_or(remaining.len());
        splits.push(Split {
            message: remaining[..cut].to_string(),
            props: base.clone(),
        });
        remaining = &remaining[cut..];
    }
    splits.push(Split {
        message: remaining.to_string(),
        props: base.clone(),
    });
    let Some(Value::Array(attachments)) = attachments else {
        return Ok(splits);
    };
    for attachment in attachments {
        let mut attachment = attachment;
        loop {
            let last = splits.last_mut().expect("at least one split");
            let mut new_props = last.props.clone();
            let mut list = match new_props.get("attachments") {
                Some(Value::Array(l)) => l.clone(),
                _ => Vec::new(),
            };
            let had = !list.is_empty();
            list.push(attachment.clone());
            new_props.insert("attachments".into(), Value::Array(list));
            let runes = props_runes(&new_props);
            if runes <= max_props {
                last.props = new_props;
                break;
            }
            if had {
                splits.push(Split {
                    message: String::new(),
                    props: base.clone(),
                });
                continue;
            }
            let needed = runes - max_props;
            let text = attachment["text"].as_str().unwrap_or("").to_string();
            let text_runes = rune_len(&text);
            if text_runes < needed {
                return Err(too_long());
            }
            let keep: String = text.chars().take(text_runes - needed).collect();
            attachment["text"] = Value::String(keep);
            let mut list = match last.props.get("attachments") {
                Some(Value::Array(l)) => l.clone(),
                _ => Vec::new(),
            };
            list.push(attachment.clone());
            last.props.insert("attachments".into(), Value::Array(list));
            break;
        }
    }
    Ok(splits)
}

async fn incoming_webhook(
    State(twin): State<Arc<MattermostTwin>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let result = match Era::of(twin.profile) {
        Era::V10_11 => handle_v10(&twin, &id, req, &headers).await,
        Era::V3_4 => handle_v3(&twin, &id, req, &headers).await,
    };
    match result {
        Ok(()) => {
            let mut resp = (StatusCode::OK, "ok").into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn read_body(req: Request) -> Result<Bytes, String> {
    axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| e.to_string())
}

/// `r.FormValue("payload")`: the form body first, then the query string.
fn form_payload(body: &[u8], query: &str) -> String {
    url::form_urlencoded::parse(body)
        .chain(url::form_urlencoded::parse(query.as_bytes()))
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// 10.11 web/webhook.go `incomingWebhook`: `ParseForm`, media type, decode by media type (each
/// failure its own id, message naming the hook and media type), then `HandleIncomingWebhook`
/// with every error wrapped as `web.incoming_webhook.general.app_error`.
async fn handle_v10(
    twin: &Arc<MattermostTwin>,
    hook_id: &str,
    req: Request,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let query = req.uri().query().unwrap_or("").to_string();
    let parse_form = |detail: String| {
        AppError::new(
            "web.incoming_webhook.parse_form.app_error",
            format!("Failed to parse form for webhook {hook_id}."),
            400,
        )
        .with_detail(detail)
    };
    // ParseForm: the media type of the body (an empty header reads application/octet-stream).
    let media_type = if content_type.is_empty() {
        String::new()
    } else {
        parse_media_type(&content_type).map_err(parse_form)?
    };
    let decode_err = |detail: String| {
        AppError::new(
            "web.incoming_webhook.decode.app_error",
            format!(
                "Failed to decode the payload of media type {media_type} for incoming webhook {hook_id}."
            ),
            400,
        )
        .with_detail(detail)
    };
    let request = match media_type.as_str() {
        "application/x-www-form-urlencoded" => {
            let body = read_body(req).await.map_err(parse_form)?;
            check_go_query(&String::from_utf8_lossy(&body)).map_err(parse_form)?;
            decode_json(form_payload(&body, &query).as_bytes(), Era::V10_11).map_err(decode_err)?
        }
        "multipart/form-data" => {
            let parse_multipart = |detail: String| {
                AppError::new(
                    "web.incoming_webhook.parse_multipart.app_error",
                    format!("Failed to parse multipart form for webhook {hook_id}."),
                    400,
                )
                .with_detail(detail)
            };
            let mut multipart = axum::extract::Multipart::from_request(req, &())
                .await
                .map_err(|e| parse_multipart(e.to_string()))?;
            let mut values = Vec::new();
            while let Some(f) = multipart
                .next_field()
                .await
                .map_err(|e| parse_multipart(e.to_string()))?
            {
                // File parts go to MultipartForm.File, not PostForm: the decoder never sees them.
                if f.file_name().is_some() {
                    continue;
                }
                let name = f.name().unwrap_or("").to_string();
                let value = f.text().await.map_err(|e| parse_multipart(e.to_string()))?;
                values.push((name, value));
            }
            decode_schema(&values).map_err(decode_err)?
        }
        _ => {
            let body = read_body(req).await.map_err(decode_err)?;
            decode_json(&body, Era::V10_11).map_err(decode_err)?
        }
    };
    handle_incoming_webhook(twin, hook_id, request, headers).map_err(|inner| {
        AppError::new(
            "web.incoming_webhook.general.app_error",
            format!(
                "Failed to handle the payload of media type {media_type} for incoming webhook {hook_id}."
            ),
            inner.status,
        )
        .with_detail(inner.to_string())
    })
}

/// 10.11 app/webhook.go `HandleIncomingWebhook` + `CreateWebhookPost`; the error is the inner
/// one (the web layer wraps it).
fn handle_incoming_webhook(
    twin: &Arc<MattermostTwin>,
    hook_id: &str,
    request: WebhookRequest,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    let settings = twin.settings();
    if !settings.service.enable_incoming_webhooks {
        return Err(AppError::new(
            "web.incoming_webhook.disabled.app_error",
            "Incoming webhooks have been disabled by the system admin.",
            501,
        ));
    }
    if request.text.is_empty() && request.attachments.is_none() {
        return Err(AppError::new(
            "web.incoming_webhook.text.app_error",
            "No text specified.",
            400,
        ));
    }
    let mut store = twin.store();
    let hook = store.hook(hook_id).cloned().ok_or_else(|| {
        AppError::new(
            "web.incoming_webhook.invalid.app_error",
            "Invalid webhook.",
            400,
        )
    })?;
    let mut props = request.props.clone();
    props.insert(
        "webhook_display_name".into(),
        Value::String(hook.display_name.clone()),
    );
    let text = process_slack_text(&store, &request.text);
    let mut post_type = request.post_type.clone();
    let attachments = request
        .attachments
        .as_deref()
        .map(|a| process_attachments(&store, a));
    if let Some(a) = &attachments {
        props.insert("attachments".into(), Value::Array(a.clone()));
        post_type = "slack_attachment".to_string();
    }
    let channel = match request.channel.as_str() {
        "" => store.channel(&hook.channel_id).cloned().ok_or_else(|| {
            AppError::new(
                "app.channel.get.existing.app_error",
                "Unable to find the existing channel.",
                404,
            )
        })?,
        name if name.starts_with('@') => {
            let target = store.user_by_username(&name[1..]).cloned().ok_or_else(|| {
                AppError::new(
                    "web.incoming_webhook.user.app_error",
                    "Couldn't find the user <no value>",
                    400,
                )
            })?;
            store.direct_channel(&hook.user_id, &target.id)
        }
        name => {
            let name = name.strip_prefix('#').unwrap_or(name);
            store
                .channel_by_name(&hook.team_id, name)
                .cloned()
                .ok_or_else(|| {
                    AppError::new(
                        "web.incoming_webhook.channel.app_error",
                        "Couldn't find the channel.",
                        404,
                    )
                })?
        }
    };
    if hook.channel_locked && channel.id != hook.channel_id {
        return Err(AppError::new(
            "web.incoming_webhook.channel_locked.app_error",
            format!(
                "This webhook is not permitted to post to the requested channel {}",
                hook.channel_id
            ),
            403,
        ));
    }
    let Some(creator) = store.user(&hook.user_id).cloned() else {
        return Err(AppError::new(
            "web.incoming_webhook.user.app_error",
            "Couldn't find the user <no value>",
            403,
        ));
    };
    if channel.channel_type != "O"
        && !creator.is_system_admin()
        && !channel.members.contains(&hook.user_id)
    {
        return Err(AppError::new(
            "web.incoming_webhook.permissions.app_error",
            "User <no value> does not have appropriate permissions to channel <no value>",
            403,
        ));
    }
    let override_username = if request.username.is_empty() {
        hook.username.clone()
    } else {
        request.username.clone()
    };
    let override_icon = if request.icon_url.is_empty() {
        hook.icon_url.clone()
    } else {
        request.icon_url.clone()
    };

    // CreateWebhookPost.
    let text = slack_links_to_markdown(&text);
    if post_type.starts_with("system_") {
        return Err(AppError::new(
            "api.context.invalid_param.app_error",
            "Invalid post.type parameter.",
            400,
        ));
    }
    let mut post_props = Map::new();
    post_props.insert("from_webhook".into(), Value::String("true".into()));
    let mut sender_name = creator.username.clone();
    if settings.service.enable_post_username_override {
        let name = if override_username.is_empty() {
            "webhook".to_string()
        } else {
            override_username
        };
        sender_name = name.clone();
        post_props.insert("override_username".into(), Value::String(name));
    }
    if settings.service.enable_post_icon_override {
        if !override_icon.is_empty() {
            post_props.insert("override_icon_url".into(), Value::String(override_icon));
        }
        if !request.icon_emoji.is_empty() {
            post_props.insert(
                "override_icon_emoji".into(),
                Value::String(request.icon_emoji.clone()),
            );
        }
    }
    for (k, v) in &props {
        match k.as_str() {
            // ParseSlackAttachment keeps only a typed list: the processed attachments.
            "attachments" => {
                if let Some(a) = &attachments {
                    post_props.insert(k.clone(), Value::Array(a.clone()));
                }
            }
            "override_icon_url" | "override_username" | "from_webhook" => {}
            _ => {
                post_props.insert(k.clone(), v.clone());
            }
        }
    }
    let splits = split_webhook_post(&text, &post_props, MAX_POST_RUNES, PROPS_MAX_USER_RUNES)?;
    let posts: Vec<_> = splits
        .into_iter()
        .map(|s| store.insert_post(&hook.user_id, &channel.id, &s.message, &post_type, s.props))
        .collect();
    drop(store);
    for post in &posts {
        super::email::send_mention_emails(twin, post, &channel, &sender_name, headers);
    }
    Ok(())
}

/// A 3.4 error: `NewLocAppError` gives status 500 unless the handler sets another.
fn v3_err(id: &'static str, message: &str) -> AppError {
    AppError::new(id, message, 500)
}

/// The 3.4 direct channel `GetDMNameFromIds(a, b)`, if it exists (3.4 never creates one here).
fn existing_direct_channel(store: &Store, a: &str, b: &str) -> Option<Channel> {
    let (first, second) = if a > b { (b, a) } else { (a, b) };
    let name = format!("{first}__{second}");
    store
        .channels
        .iter()
        .find(|c| c.name == name && c.delete_at == 0)
        .cloned()
}

/// Mattermost 3.4 api/webhook.go `incomingWebhook` + api/post.go `CreateWebhookPost`, in its
/// order: disabled (501), parse, text, hook, user / channel, permissions, post validity — every
/// error but the first a 500.
async fn handle_v3(
    twin: &Arc<MattermostTwin>,
    hook_id: &str,
    req: Request,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    let settings = twin.settings();
    if !settings.service.enable_incoming_webhooks {
        return Err(AppError::new(
            "web.incoming_webhook.disabled.app_error",
            "Incoming webhooks have been disabled by the system admin.",
            501,
        ));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let query = req.uri().query().unwrap_or("").to_string();
    let parse_err = |detail: String| {
        v3_err(
            "web.incoming_webhook.parse.app_error",
            "Unable to parse incoming data",
        )
        .with_detail(detail)
    };
    let body = read_body(req).await.map_err(parse_err)?;
    // strings.Split(contentType, "; ")[0] == "application/x-www-form-urlencoded"
    let request = if content_type.split("; ").next() == Some("application/x-www-form-urlencoded") {
        decode_json(form_payload(&body, &query).as_bytes(), Era::V3_4)
    } else {
        decode_json(&body, Era::V3_4)
    }
    .map_err(parse_err)?;
    let text = expand_announcement(&request.text, Era::V3_4);
    if text.is_empty() && request.attachments.is_none() {
        return Err(v3_err(
            "web.incoming_webhook.text.app_error",
            "No text specified",
        ));
    }
    let mut props = request.props.clone();
    let mut post_type = request.post_type.clone();
    if let Some(a) = &request.attachments {
        props.insert(
            "attachments".into(),
            Value::Array(process_attachments_v3(a)),
        );
        post_type = "slack_attachment".to_string();
    }
    let mut store = twin.store();
    let hook = store
        .hook(hook_id)
        .cloned()
        .ok_or_else(|| v3_err("web.incoming_webhook.invalid.app_error", "Invalid webhook"))?;
    let channel_err = || {
        v3_err(
            "web.incoming_webhook.channel.app_error",
            "Couldn't find the channel",
        )
    };
    let channel = match request.channel.as_str() {
        "" => store.channel(&hook.channel_id).cloned(),
        name if name.starts_with('@') => {
            let target = store.user_by_username(&name[1..]).cloned().ok_or_else(|| {
                v3_err(
                    "web.incoming_webhook.user.app_error",
                    "Couldn't find the user",
                )
            })?;
            existing_direct_channel(&store, &target.id, &hook.user_id)
        }
        name => {
            let name = name.strip_prefix('#').unwrap_or(name);
            // (TeamId = :TeamId OR TeamId = '') AND Name = :Name
            store
                .channels
                .iter()
                .find(|c| {
                    (c.team_id == hook.team_id || c.team_id.is_empty())
                        && c.name == name
                        && c.delete_at == 0
                })
                .cloned()
        }
    }
    .ok_or_else(channel_err)?;
    // CheckPermissionsTo counts the creator's membership; open channels pass regardless.
    if channel.channel_type != "O" && !channel.members.contains(&hook.user_id) {
        return Err(v3_err(
            "web.incoming_webhook.permissions.app_error",
            "Inappropriate channel permissions",
        ));
    }
    let text = model_links_to_markdown(&text);
    let mut post_props = Map::new();
    post_props.insert("from_webhook".into(), Value::String("true".into()));
    let mut sender_name = store
        .user(&hook.user_id)
        .map(|u| u.username.clone())
        .unwrap_or_default();
    if settings.service.enable_post_username_override {
        let name = if request.username.is_empty() {
            "webhook".to_string()
        } else {
            request.username.clone()
        };
        sender_name = name.clone();
        post_props.insert("override_username".into(), Value::String(name));
    }
    if settings.service.enable_post_icon_override && !request.icon_url.is_empty() {
        post_props.insert(
            "override_icon_url".into(),
            Value::String(request.icon_url.clone()),
        );
    }
    for (k, v) in &props {
        let dropped = matches!(
            k.as_str(),
            "override_icon_url" | "override_username" | "from_webhook"
        );
        // Only a list survives as `attachments` (3.4 adds the prop when the cast succeeds).
        if !dropped && (k != "attachments" || v.is_array()) {
            post_props.insert(k.clone(), v.clone());
        }
    }
    // Post.IsValid: the 3.4 post types, message and props sizes.
    let valid_type = matches!(
        post_type.as_str(),
        "" | "system_join_leave"
            | "system_add_remove"
            | "slack_attachment"
            | "system_header_change"
    );
    if !valid_type
        || rune_len(&text) > V3_MAX_MESSAGE_RUNES
        || props_runes(&post_props) > V3_MAX_PROPS_RUNES
    {
        return Err(v3_err(
            "api.post.create_webhook_post.creating.app_error",
            "Error creating post",
        ));
    }
    let post = store.insert_post(&hook.user_id, &channel.id, &text, &post_type, post_props);
    drop(store);
    super::email::send_mention_emails(twin, &post, &channel, &sender_name, headers);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_links_become_markdown_with_each_regex() {
        assert_eq!(
            slack_links_to_markdown("see <http://x.example/a|the diff> and <http://y>"),
            "see [the diff](http://x.example/a) and <http://y>"
        );
        // The post-text regex refuses a newline inside; the attachment one does not.
        assert_eq!(
            slack_links_to_markdown("<http://a\nb|x>"),
            "<http://a\nb|x>"
        );
        assert_eq!(
            model_links_to_markdown("<http://a\nb|x>"),
            "[x](http://a\nb)"
        );
    }

    #[test]
    fn decoding_follows_go_json_rules() {
        let r = decode_json(
            br##"{"Text":"hi","channel":"#dev","props":{"a":1}}"##,
            Era::V10_11,
        )
        .unwrap();
        assert_eq!(r.text, "hi");
        assert_eq!(r.channel, "#dev");
        assert!(r.attachments.is_none());
        assert!(decode_json(br#"{"text":5}"#, Era::V10_11).is_err());
        assert!(decode_json(br#"{"attachments":[{"fields":{"a":1}}]}"#, Era::V10_11).is_err());
        let r = decode_json(b"{\"text\":\"line1\nline2\"}", Era::V10_11).unwrap();
        assert_eq!(r.text, "line1\nline2");
        // An empty or all-null list is Go's nil slice on 10.11, a list on 3.4.
        let r = decode_json(br#"{"attachments":[null]}"#, Era::V10_11).unwrap();
        assert!(r.attachments.is_none());
        let r = decode_json(br#"{"attachments":[]}"#, Era::V3_4).unwrap();
        assert_eq!(r.attachments, Some(vec![]));
        // icon_emoji did not exist in 3.4.
        let r = decode_json(br#"{"text":"t","icon_emoji":":x:"}"#, Era::V3_4).unwrap();
        assert_eq!(r.icon_emoji, "");
    }

    #[test]
    fn attachments_take_the_go_struct_shape() {
        let r = decode_json(
            br#"{"attachments":[{"text":"t","extra":1,"fields":[null,{"title":"n","value":5}]}]}"#,
            Era::V10_11,
        )
        .unwrap();
        let a = &r.attachments.unwrap()[0];
        assert_eq!(a["id"], 0);
        assert_eq!(a["fallback"], "");
        assert!(a.get("extra").is_none());
        assert_eq!(
            a["fields"],
            serde_json::json!([{"title":"n","value":"5","short":false}])
        );
        assert!(a["ts"].is_null());
    }

    #[test]
    fn schema_decodes_go_field_names_only() {
        let ok = decode_schema(&[
            ("text".into(), "a".into()),
            ("TEXT".into(), "b".into()),
            ("channelname".into(), "dev".into()),
            ("IconURL".into(), "http://i".into()),
            ("iconemoji".into(), ":x:".into()),
        ])
        .unwrap();
        assert_eq!(ok.text, "b", "the last value wins");
        assert_eq!(ok.channel, "dev");
        assert_eq!(ok.icon_url, "http://i");
        assert_eq!(ok.icon_emoji, ":x:");
        for bad in ["channel", "icon_url", "icon_emoji", "payload"] {
            let e = decode_schema(&[(bad.into(), "x".into())]).unwrap_err();
            assert_eq!(e, format!("schema: invalid path {bad:?}"));
        }
        assert!(decode_schema(&[("props".into(), "x".into())]).is_err());
    }

    #[test]
    fn media_types_parse_as_go_does() {
        assert_eq!(
            parse_media_type("Application/JSON; charset=utf-8").unwrap(),
            "application/json"
        );
        assert_eq!(parse_media_type("text;").unwrap(), "text");
        assert!(parse_media_type("/json").is_err());
        assert!(parse_media_type("application/").is_err());
        assert!(parse_media_type("application/json; charset").is_err());
        assert!(check_go_query("payload=%7B%7D&a=b").is_ok());
        assert!(check_go_query("payload=%zz").is_err());
        assert!(check_go_query("a=1;b=2").is_err());
    }

    #[test]
    fn mattermost_3_4_finds_only_an_existing_direct_channel() {
        let mut store = Store::default();
        let (a, b) = ("bbbbbbbbbbbbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert!(existing_direct_channel(&store, a, b).is_none());
        assert!(store.channels.is_empty(), "looking never creates");
        let dm = store.direct_channel(a, b);
        // GetDMNameFromIds orders the ids.
        assert_eq!(dm.name, format!("{b}__{a}"));
        assert_eq!(
            existing_direct_channel(&store, b, a).map(|c| c.id),
            Some(dm.id)
        );
    }

    #[test]
    fn long_text_is_split_and_props_stay_under_the_limit() {
        let mut props = Map::new();
        props.insert("from_webhook".into(), Value::String("true".into()));
        let text = "é".repeat(25);
        let splits = split_webhook_post(&text, &props, 10, 1000).unwrap();
        let lens: Vec<usize> = splits.iter().map(|s| s.message.chars().count()).collect();
        assert_eq!(lens, vec![10, 10, 5]);
        assert!(splits.iter().all(|s| s.props == props));
        // Two attachments that do not fit together: the second goes to a new, empty post.
        let big = |n| serde_json::json!({"text": "x".repeat(n)});
        props.insert("attachments".into(), serde_json::json!([big(60), big(60)]));
        let splits = split_webhook_post("hi", &props, 10, 120).unwrap();
        assert_eq!(splits.len(), 2);
        assert_eq!(splits[1].message, "");
        assert_eq!(splits[1].props["attachments"].as_array().unwrap().len(), 1);
        // A lone attachment too big is truncated; props too big alone are refused.
        props.insert("attachments".into(), serde_json::json!([big(200)]));
        let splits = split_webhook_post("hi", &props, 10, 120).unwrap();
        let runes = props_runes(&splits[0].props);
        assert!(runes <= 120, "{runes}");
        props.insert("huge".into(), Value::String("y".repeat(200)));
        let e = split_webhook_post("hi", &props, 10, 120).unwrap_err();
        assert_eq!(e.id, "web.incoming_webhook.split_props_length.app_error");
        assert_eq!(e.status, 400);
    }
}
