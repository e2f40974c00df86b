//! Posting to Mattermost incoming webhooks: as GitLab's Mattermost/Slack integration does (form
//! field `payload=<json>`, Slack-format push text with `<url|text>` links and a commits
//! attachment), in the shape of the scenario's GitLab version, and as a plain client (JSON, form,
//! or multipart with one part per field).
//!
//! Push text per version (read from gitlabhq/gitlabhq):
//! - GitLab 8.x, `SlackService::PushMessage` (app/models/project_services/slack_service/
//!   push_message.rb, base_message.rb, slack_service.rb): `NAME pushed to branch <…/commits/REF|REF>
//!   of <URL|Group/Project> (<…/compare/BEFORE...AFTER|Compare changes>)`, the project's
//!   `name_with_namespace` without whitespace, commit lines `<URL|SHORT>: MESSAGE - AUTHOR` joined by
//!   `"\n"`, colour `#345`; keys `attachments`, `text`.
//! - GitLab 13+ (18.11), `Integrations::ChatMessage::PushMessage` (app/models/integrations/
//!   chat_message/push_message.rb, base_message.rb, concerns/integrations/
//!   slack_mattermost_notifier.rb): the pusher as `user_combined_name`, which for push data (no
//!   `user_full_name`) is the full name alone; `/-/commits/`, `/-/compare/`, project `full_name`
//!   (`Group / Project`), commit lines `<URL|SHORT>: TITLE - AUTHOR` joined by `"\n\n"`, colour
//!   `#334455`; keys `attachments`, `fallback` (the text again), `text`.
//!
//! Both compare URLs carry the full 40-hex SHAs of `before` and `after`; a new branch (0 commits)
//! reads `pushed new branch` and has an empty attachment list.

use serde::Serialize;
use url::Url;

use crate::config::version::Version;
use crate::vocab::{PushSpec, WebhookFormat};

use super::error::{DriveError, bounded};
use super::http::{Body, Browser, Request};
use super::transcript::Transcript;

/// Which push message a GitLab version builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushStyle {
    /// GitLab 8.x `SlackService::PushMessage`.
    Slack8,
    /// GitLab 13+ `Integrations::ChatMessage::PushMessage`.
    ChatMessage,
}

impl PushStyle {
    /// The style of a GitLab version (the harness plays 8.12 and 18.11).
    pub fn of(gitlab: Version) -> PushStyle {
        if gitlab.major <= 8 {
            PushStyle::Slack8
        } else {
            PushStyle::ChatMessage
        }
    }

    /// The colour of the commits attachment.
    pub fn attachment_color(self) -> &'static str {
        match self {
            PushStyle::Slack8 => "#345",
            PushStyle::ChatMessage => "#334455",
        }
    }
}

/// What the hook answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookAnswer {
    pub status: u16,
    /// The body (`ok` on success, an API error JSON otherwise).
    pub body: String,
    /// The error id, when the answer is an API error.
    pub error_id: Option<String>,
}

/// A deterministic 40-hex commit sha for commit `n` of a push (the payload must not vary between
/// runs, or snapshots would).
fn sha(seed: &str, n: u32) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::new();
    for round in 0..3u32 {
        for b in seed
            .bytes()
            .chain(n.to_le_bytes())
            .chain(round.to_le_bytes())
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(40);
    out
}

/// Slack's `<url|text>` link (what `LinkFormatter` makes of `[text](url)`).
fn link(url: &str, text: &str) -> String {
    format!("<{url}|{text}>")
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// The Slack payload GitLab posts for a push, in `style` (see the module doc). The pusher's and
/// commit author's full name is the capitalised login; the project's display names are its
/// capitalised path segments.
pub fn gitlab_push_payload(
    gitlab_url: &Url,
    push: &PushSpec,
    style: PushStyle,
) -> serde_json::Value {
    let base = gitlab_url.as_str().trim_end_matches('/');
    let project_url = format!("{base}/{}", push.project);
    let segments: Vec<String> = push.project.split('/').map(capitalised).collect();
    let user_name = capitalised(&push.user);
    let (project_name, dash, joiner) = match style {
        // name_with_namespace.gsub(/\s/, '')
        PushStyle::Slack8 => (segments.join("/"), "", "\n"),
        PushStyle::ChatMessage => (segments.join(" / "), "/-", "\n\n"),
    };
    let branch_link = link(
        &format!("{project_url}{dash}/commits/{}", push.branch),
        &push.branch,
    );
    let project_link = link(&project_url, &project_name);
    let (text, attachments) = if push.commits == 0 {
        (
            format!("{user_name} pushed new branch {branch_link} to {project_link}"),
            serde_json::json!([]),
        )
    } else {
        let before = sha(&push.project, 0);
        let after = sha(&push.project, push.commits);
        let compare = link(
            &format!("{project_url}{dash}/compare/{before}...{after}"),
            "Compare changes",
        );
        let lines: Vec<String> = (1..=push.commits)
            .map(|n| {
                let id = sha(&push.project, n);
                format!(
                    "{}: Commit number {n} - {user_name}",
                    link(&format!("{project_url}{dash}/commit/{id}"), &id[..8])
                )
            })
            .collect();
        (
            format!("{user_name} pushed to branch {branch_link} of {project_link} ({compare})"),
            serde_json::json!([{ "text": lines.join(joiner), "color": style.attachment_color() }]),
        )
    };
    match style {
        PushStyle::Slack8 => serde_json::json!({ "attachments": attachments, "text": text }),
        PushStyle::ChatMessage => {
            serde_json::json!({ "attachments": attachments, "fallback": text, "text": text })
        }
    }
}

/// The multipart parts of a payload: one per top-level field, named as the payload's keys (what
/// `curl -F key=value` sends); non-string values are sent as their JSON text.
fn multipart_parts(payload: &serde_json::Value) -> Vec<(String, String)> {
    payload
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let value = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Post a payload to `hook_url` in a given format.
pub async fn post(
    browser: &Browser,
    hook_url: Url,
    payload: &serde_json::Value,
    format: WebhookFormat,
    tr: &mut Transcript,
) -> Result<HookAnswer, DriveError> {
    let body = match format {
        WebhookFormat::Json => Body::Json(payload.clone()),
        WebhookFormat::Form => Body::Form(vec![("payload".into(), payload.to_string())]),
        WebhookFormat::Multipart => Body::Multipart(multipart_parts(payload)),
    };
    let page = browser
        .send(Request::post(hook_url, body), Some("webhook"), tr)
        .await?;
    let error_id = serde_json::from_str::<serde_json::Value>(&page.body)
        .ok()
        .and_then(|v| {
            v.get("id")
                .and_then(|i| i.as_str())
                .map(|i| bounded(i, tr.secrets()))
        });
    if let Some(id) = &error_id {
        tr.fact("webhook error", format!("{} {id}", page.status));
    }
    Ok(HookAnswer {
        status: page.status,
        body: bounded(&page.body, tr.secrets()),
        error_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(commits: u32) -> PushSpec {
        PushSpec {
            project: "group/project".into(),
            branch: "main".into(),
            commits,
            user: "alice".into(),
        }
    }

    #[test]
    fn gitlab_18_push_reads_like_chat_message_push_message() {
        let gitlab = Url::parse("http://gitlab.example.com").unwrap();
        let style = PushStyle::of(Version::new(18, 11, 0));
        assert_eq!(style, PushStyle::ChatMessage);
        let p = gitlab_push_payload(&gitlab, &push(2), style);
        let text = p["text"].as_str().unwrap();
        let before = sha("group/project", 0);
        let after = sha("group/project", 2);
        assert_eq!(
            text,
            format!(
                "Alice pushed to branch <http://gitlab.example.com/group/project/-/commits/main|main> of \
                 <http://gitlab.example.com/group/project|Group / Project> \
                 (<http://gitlab.example.com/group/project/-/compare/{before}...{after}|Compare changes>)"
            )
        );
        assert_eq!(before.len(), 40);
        assert_eq!(p["fallback"], p["text"]);
        let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["attachments", "fallback", "text"]);
        let atts = p["attachments"].as_array().unwrap();
        assert_eq!(atts.len(), 1);
        assert_eq!(atts[0]["color"], "#334455");
        let body = atts[0]["text"].as_str().unwrap();
        let lines: Vec<&str> = body.split("\n\n").collect();
        assert_eq!(lines.len(), 2);
        let c1 = sha("group/project", 1);
        assert_eq!(
            lines[0],
            format!(
                "<http://gitlab.example.com/group/project/-/commit/{c1}|{}>: Commit number 1 - Alice",
                &c1[..8]
            )
        );
        assert_eq!(
            gitlab_push_payload(&gitlab, &push(2), style),
            p,
            "deterministic"
        );
        let p = gitlab_push_payload(&gitlab, &push(0), style);
        assert_eq!(
            p["text"],
            "Alice pushed new branch <http://gitlab.example.com/group/project/-/commits/main|main> \
             to <http://gitlab.example.com/group/project|Group / Project>"
        );
        assert_eq!(p["attachments"], serde_json::json!([]));
    }

    #[test]
    fn gitlab_8_push_reads_like_slack_service_push_message() {
        let gitlab = Url::parse("http://gitlab.example.com/").unwrap();
        let style = PushStyle::of(Version::new(8, 12, 0));
        assert_eq!(style, PushStyle::Slack8);
        let p = gitlab_push_payload(&gitlab, &push(3), style);
        let before = sha("group/project", 0);
        let after = sha("group/project", 3);
        assert_eq!(
            p["text"],
            format!(
                "Alice pushed to branch <http://gitlab.example.com/group/project/commits/main|main> of \
                 <http://gitlab.example.com/group/project|Group/Project> \
                 (<http://gitlab.example.com/group/project/compare/{before}...{after}|Compare changes>)"
            )
        );
        assert!(p.get("fallback").is_none(), "8.12 sends no fallback");
        let att = &p["attachments"][0];
        assert_eq!(att["color"], "#345");
        let body = att["text"].as_str().unwrap();
        assert_eq!(body.lines().count(), 3);
        assert!(!body.contains("\n\n"));
        assert!(!body.contains("/-/"));
    }

    #[test]
    fn multipart_sends_one_part_per_field() {
        let parts = multipart_parts(&serde_json::json!({"text": "hi", "channel": "dev", "n": 1}));
        assert_eq!(
            parts,
            vec![
                ("text".to_string(), "hi".to_string()),
                ("channel".to_string(), "dev".to_string()),
                ("n".to_string(), "1".to_string())
            ]
        );
    }
}
