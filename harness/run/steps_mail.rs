//! The `mail.*` steps and `mattermost.log_in_with_email`: making Mattermost send (the System
//! Console's test email, an email sign-up, a mention) and reading what reached the stack's mail
//! sink, woken on every arrival and bounded by a deadline (never sleep-polling). Every message a
//! step shows goes into the transcript (normalised and redacted later) and is remembered, so a
//! later `mail.wait` looks only at messages no step has shown.
//!
//! A child of `run::steps` (declared there) so it shares the run state and helpers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::check::StepOutput;
use crate::config::Secret;
use crate::drive::mail::{self, MailOutcome, MailView};
use crate::drive::mattermost_admin;
use crate::drive::{DriveError, Transcript, webhook};
use crate::mailsink::{Mailbox, SinkMessage};
use crate::stack::{Stack, StackInfo};
use crate::vocab::WebhookFormat;

use super::{RunState, browser, fail, mattermost_api, need};

/// How long a step waits for a message Mattermost sends in the background (welcome, mention).
const BACKGROUND_MAIL_WAIT: Duration = Duration::from_secs(10);
/// How long a refused test email waits for the relay's record of the attempt (none comes when
/// Mattermost never connected).
const SESSION_END_WAIT: Duration = Duration::from_secs(1);
/// How long a step waits for the test email after Mattermost answered success (it sends
/// synchronously, so the message is normally there already).
const TEST_MAIL_WAIT: Duration = Duration::from_secs(2);

/// What the mail steps remember between steps.
#[derive(Debug, Default)]
pub(super) struct MailState {
    /// Ids of the messages a step has shown.
    shown: BTreeSet<String>,
}

/// The password the harness gives an account it signs up with email (deterministic, registered
/// as a secret in the transcript whenever used).
pub(super) fn email_password(username: &str) -> Secret {
    Secret::new(format!("Email-{username}-pass1"))
}

/// The address the harness gives an account it creates.
pub(super) fn email_of(username: &str) -> String {
    format!("{username}@example.com")
}

fn mailbox_of(stack: &Stack) -> Option<Arc<Mailbox>> {
    stack.mail_sink_mailbox()
}

fn require_mailbox(stack: &Stack) -> Result<Arc<Mailbox>, DriveError> {
    mailbox_of(stack).ok_or_else(|| {
        fail(
            "the stack has no mail sink the harness can read: name an SMTP server in Mattermost's \
             settings (mattermost['email_smtp_server'] on GitLab < 11, \
             mattermost['env'] MM_EMAILSETTINGS_SMTPSERVER since) — the twin starts its sink for it",
        )
    })
}

fn deadline(d: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + d
}

/// Remember and record a message, and make it the step's view.
fn show(state: &mut RunState, m: &SinkMessage, tr: &mut Transcript) -> MailView {
    state.mail.shown.insert(m.id.clone());
    mail::record_message(m, tr);
    MailView::from_sink(m)
}

/// Wait for a message not shown before that `matches`.
async fn wait_new(
    state: &RunState,
    mailbox: &Mailbox,
    within: Duration,
    what: &str,
    matches: impl Fn(&SinkMessage) -> bool,
) -> Result<Arc<SinkMessage>, DriveError> {
    let shown = &state.mail.shown;
    mailbox
        .wait_for(deadline(within), |m| !shown.contains(&m.id) && matches(m))
        .await
        .map_err(|_| {
            fail(format!(
                "no {what} reached the mail sink within {} ms ({} message(s) there, {} session(s))",
                within.as_millis(),
                mailbox.len(),
                mailbox.sessions().len()
            ))
        })
}

fn is_to(m: &SinkMessage, address: &str) -> bool {
    m.envelope_to
        .iter()
        .any(|a| a.eq_ignore_ascii_case(address))
}

/// `mail.send_test_email`.
pub(super) async fn send_test_email(
    info: &StackInfo,
    stack: &Stack,
    state: &mut RunState,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let mailbox = mailbox_of(stack);
    let sessions_before = mailbox.as_ref().map_or(0, |m| m.sessions().len());
    let url = need(&info.mattermost_url, "Mattermost")?.clone();
    let refused = {
        let (b, api) = mattermost_api(state, info, tr).await?;
        mail::send_test_email(b, &url, api.token(), api.is_v3(), tr).await?
    };
    let mut outcome = MailOutcome {
        refused,
        message: None,
        sessions: 0,
        session_ends: Vec::new(),
    };
    if let Some(mailbox) = &mailbox {
        if outcome.refused.is_some() {
            // What the relay saw of the failed attempt: its session ends when the client or
            // the relay gives up, shortly after Mattermost answered.
            let ended = mailbox
                .wait_until(deadline(SESSION_END_WAIT), |_, sessions| {
                    (sessions.len() > sessions_before).then(|| sessions[sessions_before..].to_vec())
                })
                .await
                .unwrap_or_default();
            for s in ended {
                let end = format!("{}: {}", s.transport.listener, s.end);
                tr.fact("relay session", end.clone());
                outcome.session_ends.push(end);
            }
        } else {
            // Mattermost answers after the relay accepted the message; a message that is not
            // there by now is a message Mattermost never sent (3.x: notifications off).
            let sent = mailbox.sessions().len() > sessions_before || !mailbox.is_empty();
            let within = if sent { TEST_MAIL_WAIT } else { Duration::ZERO };
            if let Ok(m) = wait_new(state, mailbox, within, "test email", |_| true).await {
                outcome.message = Some(show(state, &m, tr));
            }
        }
        outcome.sessions = mailbox.sessions().len().saturating_sub(sessions_before);
    }
    if outcome.refused.is_none() && outcome.message.is_none() {
        tr.fact(
            "mail",
            format!(
                "none: Mattermost answered success; {} SMTP session(s) reached the sink",
                outcome.sessions
            ),
        );
    }
    Ok(StepOutput::Mail(outcome))
}

/// `mail.sign_up_and_verify`.
pub(super) async fn sign_up_and_verify(
    info: &StackInfo,
    stack: &Stack,
    state: &mut RunState,
    username: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let mailbox = require_mailbox(stack)?;
    let url = need(&info.mattermost_url, "Mattermost")?.clone();
    let email = email_of(username);
    let password = email_password(username);
    let b = browser(&state.reach)?;
    mattermost_admin::sign_up_with_email(&b, &url, username, &email, &password, tr).await?;
    let m = wait_new(
        state,
        &mailbox,
        BACKGROUND_MAIL_WAIT,
        &format!("mail to {email}"),
        |m| is_to(m, &email),
    )
    .await?;
    let view = show(state, &m, tr);
    let link = view
        .links
        .iter()
        .find(|l| l.contains("/do_verify_email"))
        .cloned()
        .ok_or_else(|| {
            fail(format!(
                "the mail to {email} ({:?}) has no verification link: is \
                 EmailSettings.RequireEmailVerification on?",
                view.subject
            ))
        })?;
    // A person clicks the link: the web app at the link's own origin verifies.
    let link_base = Url::parse(&link)
        .and_then(|u| u.join("/"))
        .map_err(|e| fail(format!("the verification link {link:?}: {e}")))?;
    mail::verify_email(&b, &link_base, &link, tr).await?;
    let v3 = info.mattermost_version.major < 4;
    mail::log_in_with_email(&b, &url, &email, &password, v3, tr).await?;
    Ok(StepOutput::Mail(MailOutcome {
        refused: None,
        message: Some(view),
        sessions: mailbox.sessions().len(),
        session_ends: Vec::new(),
    }))
}

/// `mattermost.log_in_with_email`.
pub(super) async fn log_in_with_email(
    info: &StackInfo,
    state: &mut RunState,
    username: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let url = need(&info.mattermost_url, "Mattermost")?.clone();
    let b = browser(&state.reach)?;
    let v3 = info.mattermost_version.major < 4;
    mail::log_in_with_email(
        &b,
        &url,
        &email_of(username),
        &email_password(username),
        v3,
        tr,
    )
    .await?;
    Ok(StepOutput::Done)
}

/// HTML-escape as Mattermost's templates do, to find a post's text in a mail body.
fn html_escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// `mail.mention`.
pub(super) async fn mention(
    info: &StackInfo,
    stack: &Stack,
    state: &mut RunState,
    hook: &str,
    user: &str,
    text: Option<&str>,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let mailbox = require_mailbox(stack)?;
    let record = state.hooks.get(hook).cloned().ok_or_else(|| {
        fail(format!(
            "incoming webhook `{hook}` was not created in this run"
        ))
    })?;
    let email = email_of(user);
    {
        let (b, api) = mattermost_api(state, info, tr).await?;
        let user_id = api
            .create_user(b, user, &email, &email_password(user), tr)
            .await?;
        api.add_team_member(b, &record.team_id, &user_id, tr)
            .await?;
    }
    let text = text
        .map(str::to_string)
        .unwrap_or_else(|| format!("@{user} please have a look"));
    let mm = need(&info.mattermost_url, "Mattermost")?;
    let hook_url = mm
        .join(&format!("/hooks/{}", record.id.expose()))
        .map_err(|e| fail(format!("bad hook URL: {e}")))?;
    let b = browser(&state.reach)?;
    let answer = webhook::post(
        &b,
        hook_url,
        &serde_json::json!({ "text": text }),
        WebhookFormat::Json,
        tr,
    )
    .await?;
    if answer.status != 200 {
        return Err(fail(format!(
            "the webhook refused the mention: {} {}",
            answer.status,
            answer.error_id.as_deref().unwrap_or(answer.body.trim())
        )));
    }
    // The post's words after the mention, as the notification's body shows them.
    let words = text
        .split_once(' ')
        .map(|(_, rest)| rest)
        .unwrap_or(&text)
        .to_string();
    let escaped = html_escaped(&words);
    let m = wait_new(
        state,
        &mailbox,
        BACKGROUND_MAIL_WAIT,
        &format!("notification mail to {email}"),
        |m| {
            is_to(m, &email) && (m.parsed.html.contains(&escaped) || m.parsed.text.contains(&words))
        },
    )
    .await?;
    let view = show(state, &m, tr);
    Ok(StepOutput::Mail(MailOutcome {
        refused: None,
        message: Some(view),
        sessions: mailbox.sessions().len(),
        session_ends: Vec::new(),
    }))
}

/// `mail.wait`.
pub(super) async fn wait(
    stack: &Stack,
    state: &mut RunState,
    to: &str,
    subject_contains: Option<&str>,
    timeout_ms: u64,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let mailbox = require_mailbox(stack)?;
    let m = wait_new(
        state,
        &mailbox,
        Duration::from_millis(timeout_ms),
        &format!("mail to {to}"),
        |m| is_to(m, to) && subject_contains.is_none_or(|s| m.subject().contains(s)),
    )
    .await?;
    let view = show(state, &m, tr);
    Ok(StepOutput::Mail(MailOutcome {
        refused: None,
        message: Some(view),
        sessions: mailbox.sessions().len(),
        session_ends: Vec::new(),
    }))
}
