//! Incoming webhooks: `POST /hooks/{id}` as Mattermost's web/webhook.go + app/webhook.go handle
//! it.
//!
//! Owns: body decoding (JSON; form `payload=<json>`, which GitLab's Mattermost integration sends;
//! multipart form fields), the Slack-compatible request fields, channel resolution (`name`,
//! `#name`, `@user` → direct channel), the post it creates (props `from_webhook`,
//! `webhook_display_name`, overrides only when enabled, attachments → `slack_attachment`,
//! Slack `<url|text>` links → Markdown), and every error with its real id and status. Errors are
//! JSON (`IsWebhookCall`), never the HTML error page. The checks run in the real order: disabled,
//! parse, empty text, unknown hook, channel, lock, permissions.
//!
//! Mattermost 3.4 differences: no multipart decoding (the body is read as JSON), parse errors are
//! `web.incoming_webhook.parse.app_error`, errors carry the v3 JSON shape.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value};

use super::error::AppError;
use super::twin::MattermostTwin;
use crate::config::version::Profile;

/// The `/hooks/{id}` route.
pub fn routes() -> Router<Arc<MattermostTwin>> {
    Router::new().route("/hooks/{id}", post(incoming_webhook))
}

/// `model.IncomingWebhookRequest`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct WebhookRequest {
    pub text: String,
    pub username: String,
    pub icon_url: String,
    pub channel: String,
    pub props: Map<String, Value>,
    /// `None` = no `attachments` key (Go's nil slice).
    pub attachments: Option<Vec<Value>>,
    pub post_type: String,
    pub icon_emoji: String,
}

/// Go's `encoding/json` field matching: exact name, else case-insensitive.
fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn string_field(m: &Map<String, Value>, name: &str) -> Result<String, String> {
    match field(m, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go struct field IncomingWebhookRequest.{name} of type string",
            json_kind(other)
        )),
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

/// `model.IncomingWebhookRequestFromJSON`.
pub(crate) fn decode_json(payload: &[u8]) -> Result<WebhookRequest, String> {
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
    let props = match field(&m, "props") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(other) => {
            return Err(format!(
                "json: cannot unmarshal {} into Go struct field IncomingWebhookRequest.props of type model.StringInterface",
                json_kind(other)
            ));
        }
    };
    let attachments = match field(&m, "attachments") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::Object(a) => {
                        if let Some(fields) = a.get("fields")
                            && !fields.is_array()
                            && !fields.is_null()
                        {
                            return Err(format!(
                                "json: cannot unmarshal {} into Go struct field SlackAttachment.attachments.fields of type []*model.SlackAttachmentField",
                                json_kind(fields)
                            ));
                        }
                    }
                    Value::Null => {}
                    other => {
                        return Err(format!(
                            "json: cannot unmarshal {} into Go struct field IncomingWebhookRequest.attachments of type model.SlackAttachment",
                            json_kind(other)
                        ));
                    }
                }
            }
            Some(items.iter().filter(|v| !v.is_null()).cloned().collect())
        }
        Some(other) => {
            return Err(format!(
                "json: cannot unmarshal {} into Go struct field IncomingWebhookRequest.attachments of type []*model.SlackAttachment",
                json_kind(other)
            ));
        }
    };
    Ok(WebhookRequest {
        text: string_field(&m, "text")?,
        username: string_field(&m, "username")?,
        icon_url: string_field(&m, "icon_url")?,
        channel: string_field(&m, "channel")?,
        props,
        attachments,
        post_type: string_field(&m, "type")?,
        icon_emoji: string_field(&m, "icon_emoji")?,
    })
}

/// Slack `<url|text>` → Markdown `[text](url)` (`CreateWebhookPost`, `ParseSlackLinksToMarkdown`).
pub(crate) fn slack_links_to_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        match inner.split_once('|') {
            Some((url, label))
                if !url.is_empty()
                    && !label.is_empty()
                    && !url.contains(['\n', '<'])
                    && !label.contains('\n') =>
            {
                out.push_str(&format!("[{label}]({url})"));
            }
            _ => {
                out.push('<');
                out.push_str(inner);
                out.push('>');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `ProcessSlackText`: Slack's special mentions become Mattermost's.
fn process_slack_text(text: &str) -> String {
    text.replace("<!channel>", "@channel")
        .replace("<!here>", "@here")
        .replace("<!everyone>", "@all")
}

fn process_attachments(attachments: &[Value]) -> Vec<Value> {
    attachments
        .iter()
        .map(|a| {
            let mut a = a.clone();
            if let Value::Object(m) = &mut a {
                for key in ["text", "pretext"] {
                    if let Some(Value::String(s)) = m.get(key) {
                        let converted = slack_links_to_markdown(&process_slack_text(s));
                        m.insert(key.to_string(), Value::String(converted));
                    }
                }
                if let Some(Value::Array(fields)) = m.get_mut("fields") {
                    for f in fields.iter_mut() {
                        if let Some(Value::String(v)) = f.get("value").cloned() {
                            f["value"] = Value::String(slack_links_to_markdown(&v));
                        }
                    }
                }
            }
            a
        })
        .collect()
}

fn err(id: &'static str, msg: &str, status: u16) -> AppError {
    AppError::new(id, msg, status)
}

async fn incoming_webhook(
    State(twin): State<Arc<MattermostTwin>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    match handle(&twin, &id, req, &headers).await {
        Ok(()) => {
            let mut resp = (StatusCode::OK, "ok").into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn decode_request(twin: &MattermostTwin, req: Request) -> Result<WebhookRequest, AppError> {
    let v3 = twin.profile == Profile::Gitlab8_12;
    let decode_err = |detail: String| {
        if v3 {
            err(
                "web.incoming_webhook.parse.app_error",
                "Unable to parse the incoming data",
                400,
            )
            .with_detail(detail)
        } else {
            err(
                "web.incoming_webhook.decode.app_error",
                "Unable to decode the multipart payload of incoming webhook.",
                400,
            )
            .with_detail(detail)
        }
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let query = req.uri().query().unwrap_or("").to_string();
    if media_type == "multipart/form-data" && !v3 {
        let multipart_err = |detail: String| {
            err(
                "web.incoming_webhook.parse_multipart.app_error",
                "Unable to parse the multipart payload of incoming webhook.",
                400,
            )
            .with_detail(detail)
        };
        let mut multipart = axum::extract::Multipart::from_request(req, &())
            .await
            .map_err(|e| multipart_err(e.to_string()))?;
        let mut out = WebhookRequest::default();
        loop {
            let next = multipart
                .next_field()
                .await
                .map_err(|e| multipart_err(e.to_string()))?;
            let Some(f) = next else { break };
            let name = f.name().unwrap_or("").to_ascii_lowercase();
            let value = f.text().await.map_err(|e| decode_err(e.to_string()))?;
            match name.as_str() {
                "text" => out.text = value,
                "username" => out.username = value,
                "icon_url" | "iconurl" => out.icon_url = value,
                "channel" | "channelname" => out.channel = value,
                "type" => out.post_type = value,
                "icon_emoji" | "iconemoji" => out.icon_emoji = value,
                other => {
                    return Err(decode_err(format!("schema: invalid path \"{other}\"")));
                }
            }
        }
        return Ok(out);
    }
    let body: Bytes = axum::body::to_bytes(req.into_body(), 4 * 1024 * 1024)
        .await
        .map_err(|e| {
            err(
                "web.incoming_webhook.parse_form.app_error",
                "Unable to parse the form of incoming webhook.",
                400,
            )
            .with_detail(e.to_string())
        })?;
    if media_type == "application/x-www-form-urlencoded" {
        // r.FormValue("payload"): body first, then the query string.
        let payload = url::form_urlencoded::parse(&body)
            .chain(url::form_urlencoded::parse(query.as_bytes()))
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        return decode_json(payload.as_bytes()).map_err(decode_err);
    }
    decode_json(&body).map_err(decode_err)
}

async fn handle(
    twin: &Arc<MattermostTwin>,
    hook_id: &str,
    req: Request,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    // The decode happens in the web layer, before HandleIncomingWebhook's checks.
    let request = decode_request(twin, req).await?;
    let settings = twin.settings();
    if !settings.service.enable_incoming_webhooks {
        return Err(err(
            "web.incoming_webhook.disabled.app_error",
            "Incoming webhooks have been disabled by the system admin.",
            501,
        ));
    }
    if request.text.is_empty() && request.attachments.is_none() {
        return Err(err(
            "web.incoming_webhook.text.app_error",
            "No text specified.",
            400,
        ));
    }
    let mut store = twin.store();
    let hook = store.hook(hook_id).cloned().ok_or_else(|| {
        err(
            "web.incoming_webhook.invalid.app_error",
            "Invalid webhook.",
            400,
        )
    })?;
    let channel = match request.channel.as_str() {
        "" => store.channel(&hook.channel_id).cloned(),
        name if name.starts_with('@') => {
            let target = store.user_by_username(&name[1..]).cloned().ok_or_else(|| {
                err(
                    "web.incoming_webhook.user.app_error",
                    "Couldn't find the user.",
                    400,
                )
            })?;
            Some(store.direct_channel(&hook.user_id, &target.id))
        }
        name => {
            let name = name.strip_prefix('#').unwrap_or(name);
            store.channel_by_name(&hook.team_id, name).cloned()
        }
    };
    let channel = channel.ok_or_else(|| {
        err(
            "web.incoming_webhook.channel.app_error",
            "Couldn't find the channel.",
            404,
        )
    })?;
    if hook.channel_locked && channel.id != hook.channel_id {
        return Err(err(
            "web.incoming_webhook.channel_locked.app_error",
            "This webhook is not permitted to post to the requested channel.",
            403,
        ));
    }
    let creator_is_admin = store
        .user(&hook.user_id)
        .is_some_and(|u| u.is_system_admin());
    if channel.channel_type != "O" && !creator_is_admin && !channel.members.contains(&hook.user_id)
    {
        return Err(err(
            "web.incoming_webhook.permissions.app_error",
            "Inappropriate channel permissions.",
            403,
        ));
    }
    if request.post_type.starts_with("system_") {
        return Err(AppError::new(
            "api.context.invalid_param.app_error",
            "Invalid post.type parameter.",
            400,
        ));
    }

    let override_username = if !hook.username.is_empty() && request.username.is_empty() {
        hook.username.clone()
    } else {
        request.username.clone()
    };
    let override_icon = if !hook.icon_url.is_empty() && request.icon_url.is_empty() {
        hook.icon_url.clone()
    } else {
        request.icon_url.clone()
    };
    let text = slack_links_to_markdown(&process_slack_text(&request.text));
    let mut post_type = request.post_type.clone();
    let mut props = Map::new();
    props.insert("from_webhook".into(), Value::String("true".into()));
    props.insert(
        "webhook_display_name".into(),
        Value::String(hook.display_name.clone()),
    );
    if let Some(attachments) = &request.attachments
        && !attachments.is_empty()
    {
        props.insert(
            "attachments".into(),
            Value::Array(process_attachments(attachments)),
        );
        post_type = "slack_attachment".to_string();
    }
    let creator_name = store
        .user(&hook.user_id)
        .map(|u| u.username.clone())
        .unwrap_or_default();
    let mut sender_name = creator_name;
    if settings.service.enable_post_username_override {
        let name = if override_username.is_empty() {
            "webhook".to_string()
        } else {
            override_username
        };
        sender_name = name.clone();
        props.insert("override_username".into(), Value::String(name));
    }
    if settings.service.enable_post_icon_override {
        if !override_icon.is_empty() {
            props.insert("override_icon_url".into(), Value::String(override_icon));
        }
        if !request.icon_emoji.is_empty() {
            props.insert(
                "override_icon_emoji".into(),
                Value::String(request.icon_emoji.clone()),
            );
        }
    }
    for (k, v) in &request.props {
        if !matches!(
            k.as_str(),
            "attachments" | "override_icon_url" | "override_username" | "from_webhook"
        ) {
            props.insert(k.clone(), v.clone());
        }
    }
    let post = store.insert_post(&hook.user_id, &channel.id, &text, &post_type, props);
    drop(store);
    super::email::send_mention_emails(twin, &post, &channel, &sender_name, headers);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_links_become_markdown() {
        assert_eq!(
            slack_links_to_markdown("see <http://x.example/a|the diff> and <http://y>"),
            "see [the diff](http://x.example/a) and <http://y>"
        );
    }

    #[test]
    fn decoding_follows_go_json_rules() {
        let r = decode_json(br##"{"Text":"hi","channel":"#dev","props":{"a":1}}"##).unwrap();
        assert_eq!(r.text, "hi");
        assert_eq!(r.channel, "#dev");
        assert!(r.attachments.is_none());
        assert!(decode_json(br#"{"text":5}"#).is_err());
        assert!(decode_json(br#"{"attachments":[{"fields":{"a":1}}]}"#).is_err());
        let r = decode_json(b"{\"text\":\"line1\nline2\"}").unwrap();
        assert_eq!(r.text, "line1\nline2");
    }
}
