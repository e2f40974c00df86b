//! The end-to-end webhook probe (`--allow-writes`, off by default: without it the doctor changes
//! nothing). With a Mattermost token and `--probe-channel TEAM/CHANNEL` it creates a temporary
//! incoming webhook in that channel (`POST /api/v4/hooks/incoming`), posts a uniquely marked
//! message through it (`POST /hooks/{id}`, what GitLab's integration does), reads the post back
//! (`GET /api/v4/channels/{id}/posts`), and removes what it made: the post
//! (`DELETE /api/v4/posts/{id}`, when the server offers it) and the webhook
//! (`DELETE /api/v4/hooks/incoming/{id}`) — also when a step failed.
//!
//! Owns: [`check`]. The work steps get half of the check's deadline; the clean-up always gets
//! the rest, so a slow or failing server still has its webhook removed, and a webhook that could
//! not be removed is named in the finding (`webhooks.probe-failed`) for the operator to delete.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use url::Url;

use super::finding::{Finding, FindingKind, bound};
use super::probe::Probe;
use crate::drive::http::{Body, Page, Request};

/// The display name of the probe's webhook (also how an operator recognises a left-over one).
pub const PROBE_HOOK_NAME: &str = "mm-doctor probe (temporary)";

fn failed(subject: &str, evidence: String) -> Vec<Finding> {
    vec![Finding::new(
        FindingKind::WebhooksProbeFailed,
        subject.to_string(),
        evidence,
    )]
}

/// A server answer in one line: status and (bounded, escaped) body.
fn answer(page: &Page) -> String {
    let body = crate::report::escape::terminal_line(page.body.trim()).into_owned();
    bound(format!("{} {}", page.status, body), 300)
}

struct Api<'a> {
    probe: &'a Probe,
    base: Url,
    auth: String,
}

impl Api<'_> {
    fn url(&self, path: &str) -> Result<Url, String> {
        Probe::join(&self.base, path).ok_or_else(|| format!("cannot join {path} to the URL"))
    }

    async fn send(&self, req: Request) -> Result<Page, String> {
        let req = req.header("Authorization", &self.auth);
        self.probe.send(req).await.map_err(|e| e.message)
    }

    async fn get_json(&self, path: &str) -> Result<Value, String> {
        let page = self.send(Request::get(self.url(path)?)).await?;
        if page.status != 200 {
            return Err(format!("GET {path}: {}", answer(&page)));
        }
        serde_json::from_str(&page.body).map_err(|e| format!("GET {path}: not JSON: {e}"))
    }
}

/// What the work phase made, for the clean-up.
#[derive(Default)]
struct Made {
    hook_id: Option<String>,
    post_id: Option<String>,
}

pub async fn check(probe: &Probe) -> Vec<Finding> {
    let inputs = &probe.prepared.inputs;
    let Some(base) = inputs.mattermost.clone() else {
        return Vec::new();
    };
    let Some(token) = &inputs.mattermost_token else {
        return failed(
            "--allow-writes",
            "the webhook probe needs a Mattermost token (--mattermost-token) to create and remove its webhook".into(),
        );
    };
    let Some((team, channel)) = inputs.probe_channel.clone() else {
        return failed(
            "--allow-writes",
            "the webhook probe needs --probe-channel TEAM/CHANNEL: the channel its temporary post goes to".into(),
        );
    };
    let api = Api {
        probe,
        base,
        auth: format!("Bearer {}", token.expose()),
    };
    let started = Instant::now();
    let budget = inputs.timeout / 2;
    let mut made = Made::default();
    let work = tokio::time::timeout(budget, work(&api, &team, &channel, &mut made)).await;
    let outcome: Result<String, String> = match work {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {:.1}s (half the deadline; the rest is kept for removing the webhook)",
            budget.as_secs_f64()
        )),
    };
    let remaining = inputs
        .timeout
        .saturating_sub(started.elapsed())
        .saturating_sub(Duration::from_millis(100))
        .max(Duration::from_millis(50));
    let cleanup = tokio::time::timeout(remaining, clean_up(&api, &made))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer while removing it within {:.1}s",
                remaining.as_secs_f64()
            ))
        });
    let subject = format!("{team}/{channel}");
    match (outcome, cleanup) {
        (Ok(done), Ok(removed)) => vec![Finding::new(
            FindingKind::WebhooksProbeOk,
            subject,
            format!("{done}; {removed}"),
        )],
        (Err(e), Ok(removed)) => failed(&subject, format!("{e}; {removed}")),
        (Ok(done), Err(e)) | (Err(done), Err(e)) => failed(
            &subject,
            format!(
                "{done}; LEFT BEHIND: webhook {} ({PROBE_HOOK_NAME:?}) — {e}: delete it in Integrations > Incoming Webhooks",
                made.hook_id.as_deref().unwrap_or("?")
            ),
        ),
    }
}

/// Create the webhook, post through it, read the post back.
async fn work(api: &Api<'_>, team: &str, channel: &str, made: &mut Made) -> Result<String, String> {
    let team_doc = api.get_json(&format!("/api/v4/teams/name/{team}")).await?;
    let team_id = team_doc
        .get("id")
        .and_then(Value::as_str)
        .ok_or("the team has no id")?
        .to_string();
    let channel_doc = api
        .get_json(&format!("/api/v4/teams/{team_id}/channels/name/{channel}"))
        .await?;
    let channel_id = channel_doc
        .get("id")
        .and_then(Value::as_str)
        .ok_or("the channel has no id")?
        .to_string();
    // 1. The webhook.
    let create = api
        .send(Request::post(
            api.url("/api/v4/hooks/incoming")?,
            Body::Json(json!({
                "channel_id": channel_id,
                "display_name": PROBE_HOOK_NAME,
                "description": "created and removed by mm-doctor --allow-writes",
            })),
        ))
        .await
        .map_err(|e| format!("creating the webhook: {e}"))?;
    if create.status != 201 && create.status != 200 {
        return Err(format!(
            "creating the webhook: the server answered {}",
            answer(&create)
        ));
    }
    let hook_id = create
        .json()
        .ok()
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
        .ok_or_else(|| format!("creating the webhook: no id in {}", answer(&create)))?;
    made.hook_id = Some(hook_id.clone());
    // 2. A post through it, as GitLab sends one.
    let marker = format!("mm-doctor webhook probe {:016x}", rand::random::<u64>());
    let posted = api
        .probe
        .send(Request::post(
            api.url(&format!("/hooks/{hook_id}"))?,
            Body::Json(json!({ "text": marker })),
        ))
        .await
        .map_err(|e| format!("posting through the webhook: {}", e.message))?;
    if posted.status != 200 {
        return Err(format!(
            "posting through the webhook: the server answered {}",
            answer(&posted)
        ));
    }
    // 3. The post, read back.
    let list = api
        .get_json(&format!("/api/v4/channels/{channel_id}/posts"))
        .await?;
    let post_id = list
        .get("posts")
        .and_then(Value::as_object)
        .and_then(|posts| {
            posts.iter().find_map(|(id, p)| {
                (p.get("message").and_then(Value::as_str) == Some(marker.as_str()))
                    .then(|| id.clone())
            })
        })
        .ok_or_else(|| {
            format!("the webhook answered 200 but no post with {marker:?} is in {team}/{channel}")
        })?;
    made.post_id = Some(post_id.clone());
    Ok(format!(
        "webhook created, post {post_id} delivered to {team}/{channel} and read back"
    ))
}

/// Remove the post (when the server offers it) and the webhook.
async fn clean_up(api: &Api<'_>, made: &Made) -> Result<String, String> {
    let mut notes = Vec::new();
    if let Some(post) = &made.post_id {
        match api
            .send(Request::delete(api.url(&format!("/api/v4/posts/{post}"))?))
            .await
        {
            Ok(p) if p.status == 200 => notes.push("post deleted".to_string()),
            Ok(p) => notes.push(format!("the post stays (DELETE answered {})", p.status)),
            Err(e) => notes.push(format!("the post stays ({e})")),
        }
    }
    let Some(hook) = &made.hook_id else {
        notes.push("nothing was created".into());
        return Ok(notes.join(", "));
    };
    let page = api
        .send(Request::delete(
            api.url(&format!("/api/v4/hooks/incoming/{hook}"))?,
        ))
        .await?;
    if page.status != 200 {
        return Err(format!("DELETE of the webhook answered {}", answer(&page)));
    }
    notes.push("webhook removed".into());
    Ok(notes.join(", "))
}
