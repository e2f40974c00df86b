//! Posting to Mattermost incoming webhooks: as GitLab's Mattermost/Slack integration does (form
//! field `payload=<json>`, Slack-format push text with `<url|text>` links and a commits
//! attachment, as gitlab-org/gitlab `ChatMessage::PushMessage` builds it), and as a plain client
//! (JSON, form or multipart).

use serde::Serialize;
use url::Url;

use crate::vocab::{PushSpec, WebhookFormat};

use super::error::{DriveError, bounded};
use super::http::{Body, Browser, Request};
use super::transcript::Transcript;

/// The color GitLab gives push attachments.
pub const PUSH_ATTACHMENT_COLOR: &str = "#345";

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

/// Slack's `<url|text>` link.
fn link(url: &str, text: &str) -> String {
    format!("<{url}|{text}>")
}

/// The Slack payload GitLab posts for a push (`ChatMessage::PushMessage`, non-markdown variant):
/// text `NAME (USER) pushed to branch <BRANCH> of <PROJECT> (<Compare changes>)` and one attachment
/// holding every commit line `<URL|SHORT>: title - author` joined by blank lines, color `#345`;
/// a new branch (0 commits) reads `pushed new branch` and has no attachments.
pub fn gitlab_push_payload(gitlab_url: &Url, push: &PushSpec) -> serde_json::Value {
    let base = gitlab_url.as_str().trim_end_matches('/');
    let project_url = format!("{base}/{}", push.project);
    let project_name = push
        .project
        .split('/')
        .map(|s| {
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" / ");
    let user_name = {
        let mut c = push.user.chars();
        match c.next() {
            Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
            None => String::new(),
        }
    };
    let who = format!("{user_name} ({})", push.user);
    let branch_link = link(
        &format!("{project_url}/-/commits/{}", push.branch),
        &push.branch,
    );
    let project_link = link(&project_url, &project_name);
    if push.commits == 0 {
        let text = format!("{who} pushed new branch {branch_link} to {project_link}");
        return serde_json::json!({ "text": text, "attachments": [] });
    }
    let before = sha(&push.project, 0);
    let after = sha(&push.project, push.commits);
    let compare = link(
        &format!("{project_url}/-/compare/{}...{}", &before[..8], &after[..8]),
        "Compare changes",
    );
    let text = format!("{who} pushed to branch {branch_link} of {project_link} ({compare})");
    let lines: Vec<String> = (1..=push.commits)
        .map(|n| {
            let id = sha(&push.project, n);
            format!(
                "{}: Commit number {n} - {user_name}",
                link(&format!("{project_url}/-/commit/{id}"), &id[..8])
            )
        })
        .collect();
    serde_json::json!({
        "text": text,
        "attachments": [{ "text": lines.join("\n\n"), "color": PUSH_ATTACHMENT_COLOR }],
    })
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
        WebhookFormat::Multipart => Body::Multipart(vec![("payload".into(), payload.to_string())]),
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

    #[test]
    fn push_payload_reads_like_gitlab() {
        let gitlab = Url::parse("http://gitlab.example.com").unwrap();
        let push = PushSpec {
            project: "group/project".into(),
            branch: "main".into(),
            commits: 2,
            user: "alice".into(),
        };
        let p = gitlab_push_payload(&gitlab, &push);
        let text = p["text"].as_str().unwrap();
        assert!(text.starts_with("Alice (alice) pushed to branch <http://gitlab.example.com/group/project/-/commits/main|main> of <http://gitlab.example.com/group/project|Group / Project> (<http://gitlab.example.com/group/project/-/compare/"), "{text}");
        assert!(text.ends_with("|Compare changes>)"));
        let atts = p["attachments"].as_array().unwrap();
        assert_eq!(atts.len(), 1);
        assert_eq!(atts[0]["color"], "#345");
        let body = atts[0]["text"].as_str().unwrap();
        assert_eq!(body.matches(": Commit number").count(), 2);
        assert!(body.contains("\n\n"));
        assert_eq!(gitlab_push_payload(&gitlab, &push), p, "deterministic");
        let new_branch = PushSpec { commits: 0, ..push };
        let p = gitlab_push_payload(&gitlab, &new_branch);
        assert!(p["text"].as_str().unwrap().contains("pushed new branch"));
        assert_eq!(p["attachments"].as_array().unwrap().len(), 0);
    }
}
