//! The emails the twin's Mattermost sends, and when: the welcome / verification email after an
//! email sign-up (`SendWelcomeEmail`: only with `SendEmailNotifications` or
//! `RequireEmailVerification`), and the System Console's test email (`TestEmail`). Every email goes
//! through `mail::send_mail` with the settings current at that moment, so a Console edit takes
//! effect on the next mail exactly as on the real server.
//!
//! Owns: subjects and bodies (English templates of `i18n/en.json`), the test-email config overlay
//! and its errors (`api.admin.test_email.missing_server`, `api.admin.test_email.reenter_password`,
//! `app.admin.test_email.failure`).

use std::sync::Arc;

use axum::http::HeaderMap;
use serde_json::Value;

use super::config_json::{self, FAKE_SETTING};
use super::error::AppError;
use super::store::User;
use super::twin::{MailAttempt, MattermostTwin};
use crate::config::model::EmailSettings;
use crate::config::version::Profile;
use crate::twin::mail::{MailError, MailerEra, OutgoingMail, send_mail_with};

fn era(profile: Profile) -> MailerEra {
    match profile {
        Profile::Gitlab8_12 => MailerEra::Mattermost3,
        Profile::Gitlab18_11 => MailerEra::Current,
    }
}

/// `condenseSiteURL`: the site URL without its scheme.
fn condensed(site_url: &str) -> String {
    site_url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// Send one mail with the given settings and record the outcome.
async fn deliver(
    twin: &MattermostTwin,
    kind: &str,
    email: &EmailSettings,
    site_url: &str,
    msg: OutgoingMail,
) -> Result<(), String> {
    deliver_detailed(twin, kind, email, site_url, msg)
        .await
        .map_err(|e| e.message)
}

/// [`deliver`], keeping the whole [`MailError`].
async fn deliver_detailed(
    twin: &MattermostTwin,
    kind: &str,
    email: &EmailSettings,
    site_url: &str,
    msg: OutgoingMail,
) -> Result<(), MailError> {
    let result = send_mail_with(
        era(twin.profile),
        twin.clock,
        email,
        site_url,
        &twin.address_book,
        &twin.trusted_roots,
        &msg,
    )
    .await;
    twin.record_mail(MailAttempt {
        kind: kind.to_string(),
        to: msg.to.clone(),
        subject: msg.subject.clone(),
        error: result.as_ref().err().map(|e| e.message.clone()),
    });
    result.map(|_| ())
}

/// After an email sign-up: the welcome email (with a verification link when verification is
/// required), sent in the background as the real server does.
pub(crate) fn send_welcome_email(twin: &Arc<MattermostTwin>, user: &User, headers: &HeaderMap) {
    let settings = twin.settings();
    if !settings.email.send_email_notifications && !settings.email.require_email_verification {
        return;
    }
    let site_url = twin.site_url(headers);
    let server = condensed(&site_url);
    let site_name = settings.team.site_name.clone();
    // 10.x: api.templates.welcome_subject "[{{ .SiteName }}] You joined {{ .ServerURL }}" with
    // the condensed site URL; 3.4 (api/user.go sendWelcomeEmailAndForget): "You joined
    // {{ .ServerURL }}" with the URL's host, no site name (fidelity audit, mail MEDIUM 9).
    let subject = match twin.profile {
        Profile::Gitlab18_11 => format!("[{site_name}] You joined {server}"),
        Profile::Gitlab8_12 => format!(
            "You joined {}",
            url::Url::parse(&site_url)
                .ok()
                .and_then(|u| u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                }))
                .unwrap_or(server.clone())
        ),
    };
    let mut body = format!(
        "<h1>Welcome to the team</h1><p>{site_name} is one place for all your team communication, searchable and available anywhere.</p>\
         <p>You'll get more out of {site_name} when you stay in constant communication with your team.</p>\
         <p><a href=\"{site_url}\">Open {site_name}</a></p>"
    );
    if !user.email_verified && settings.email.require_email_verification {
        let link = super::verify::verification_link(twin, user, &site_url);
        body.push_str(&format!(
            "<p>Please verify your email address: <a href=\"{}\">Verify Email</a></p>",
            super::pages::esc(&link)
        ));
    }
    let msg = OutgoingMail {
        to: user.email.clone(),
        subject,
        html_body: body,
    };
    let kind = if settings.email.require_email_verification {
        "verify"
    } else {
        "welcome"
    };
    let twin = twin.clone();
    tokio::spawn(async move {
        let email = twin.settings().email;
        let _ = deliver(&twin, kind, &email, &site_url, msg).await;
    });
}

/// `TestEmail` (System Console → Test Connection).
///
/// Mattermost 10.11 (server/channels/app/admin.go `TestEmail`): the posted config is used only
/// to check for a missing server (400) and to decide whether a `********************************`
/// password may stand for the saved one (400 `reenter_password`); the mail itself goes out with
/// the SAVED settings (`a.Srv().MailServiceConfig()`), so testing unsaved settings tests the old
/// ones (fidelity audit, mail HIGH 1). Mattermost 3.4 (api/admin.go `testEmail`) sends with the
/// posted config, answers a missing server with 500, and its errors carry the failing stage's
/// `utils.mail.*` id with status 500 (fidelity audit, mail MEDIUM 10). The subject is
/// `api.admin.test_email.subject` = "Mattermost - Testing Email Settings" in both (MEDIUM 5).
pub(crate) async fn test_email(
    twin: &Arc<MattermostTwin>,
    user: &User,
    body: Option<&Value>,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    let saved = twin.settings();
    let mut posted = saved.clone();
    let posted_password_is_fake = body
        .and_then(|b| b.get("EmailSettings"))
        .and_then(|e| e.get("SMTPPassword"))
        .and_then(Value::as_str)
        == Some(FAKE_SETTING);
    if let Some(doc) = body.filter(|b| b.get("EmailSettings").is_some()) {
        let only_email = serde_json::json!({ "EmailSettings": doc["EmailSettings"].clone() });
        posted = config_json::apply_json(&saved, &only_email, &[])?;
    }
    if posted.email.smtp_server.is_empty() {
        let status = match twin.profile {
            Profile::Gitlab8_12 => 500,
            Profile::Gitlab18_11 => 400,
        };
        return Err(AppError::new(
            "api.admin.test_email.missing_server",
            "SMTP Server is required",
            status,
        )
        .with_detail("Invalid or missing SMTPServer parameter in request body."));
    }
    if posted_password_is_fake
        && (posted.email.smtp_server != saved.email.smtp_server
            || posted.email.smtp_port != saved.email.smtp_port
            || posted.email.smtp_username != saved.email.smtp_username)
    {
        let status = match twin.profile {
            Profile::Gitlab8_12 => 500,
            Profile::Gitlab18_11 => 400,
        };
        return Err(AppError::new(
            "api.admin.test_email.reenter_password",
            "The SMTP server, port, or username has changed. Please re-enter the SMTP password to test connection.",
            status,
        ));
    }
    let email = match twin.profile {
        Profile::Gitlab8_12 => posted.email.clone(),
        Profile::Gitlab18_11 => saved.email.clone(),
    };
    let msg = OutgoingMail {
        to: user.email.clone(),
        subject: "Mattermost - Testing Email Settings".to_string(),
        html_body: "<br/><br/><br/>It appears your Mattermost email is setup correctly!"
            .to_string(),
    };
    let site_url = twin.site_url(headers);
    deliver_detailed(twin, "test", &email, &site_url, msg)
        .await
        .map_err(|e| match twin.profile {
            Profile::Gitlab18_11 => AppError::new(
                "app.admin.test_email.failure",
                format!("Connection unsuccessful: {}", e.message),
                500,
            ),
            Profile::Gitlab8_12 => {
                let (id, text, detail) = e.mattermost3_app_error();
                AppError::new(id, text, 500).with_detail(detail)
            }
        })
}

/// The `@name` mentions of a message (Mattermost's username characters).
pub(crate) fn mentioned_usernames(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in message.match_indices('@') {
        let before_ok = message[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if !before_ok {
            continue;
        }
        let name: String = message[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect::<String>()
            .trim_end_matches('.')
            .to_lowercase();
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// `sendNotificationEmail` for a new post: every mentioned member of the channel (or the other
/// member of a direct channel) other than the poster gets a notification email, sent
/// immediately (email batching off, the default) when `SendEmailNotifications` is on. Users
/// have no web-socket connection in the twin, so they count as offline, as the real server
/// requires for email notifications.
pub(crate) fn send_mention_emails(
    twin: &Arc<MattermostTwin>,
    post: &super::store::Post,
    channel: &super::store::Channel,
    sender_name: &str,
    headers: &HeaderMap,
) {
    let settings = twin.settings();
    if !settings.email.send_email_notifications {
        return;
    }
    let (recipients, team_name) = {
        let store = twin.store();
        let team = store.team(&channel.team_id).cloned();
        let recipients: Vec<User> = if channel.channel_type == "D" {
            channel
                .members
                .iter()
                .filter(|m| **m != post.user_id)
                .filter_map(|m| store.user(m).cloned())
                .collect()
        } else {
            mentioned_usernames(&post.message)
                .iter()
                .filter_map(|n| store.user_by_username(n).cloned())
                .filter(|u| u.id != post.user_id)
                // Only channel members are notified: a mention of a team member outside the
                // channel gets the poster an ephemeral "did not get notified" warning
                // (app/notification.go sendOutOfChannelMentions), no email (fidelity audit,
                // mail MEDIUM 12).
                .filter(|u| channel.members.contains(&u.id))
                .collect()
        };
        (recipients, team.map(|t| t.display_name).unwrap_or_default())
    };
    if recipients.is_empty() {
        return;
    }
    let site_url = twin.site_url(headers);
    let site_name = settings.team.site_name.clone();
    let now = time::OffsetDateTime::now_utc();
    let date = format!("{} {}, {}", now.month(), now.day(), now.year());
    for user in recipients {
        // 3.4 (api/post.go sendNotificationEmail): post_subject_in_channel "New Mention in
        // TEAM (CHANNEL) on DATE", post_subject_in_direct_message "New Direct Message from
        // SENDER on DATE", under "[SiteName] " (fidelity audit, mail MEDIUM 11).
        let subject = match (twin.profile, channel.channel_type == "D") {
            (Profile::Gitlab18_11, true) => {
                format!("[{site_name}] New Direct Message from @{sender_name} on {date}")
            }
            (Profile::Gitlab18_11, false) => {
                format!("[{site_name}] Notification in {team_name} on {date}")
            }
            (Profile::Gitlab8_12, true) => {
                format!("[{site_name}] New Direct Message from {sender_name} on {date}")
            }
            (Profile::Gitlab8_12, false) => format!(
                "[{site_name}] New Mention in {team_name} ({}) on {date}",
                channel.display_name
            ),
        };
        let body = format!(
            "<p>@{sender_name} mentioned you in {}</p><p>{}</p><p><a href=\"{site_url}\">View Message</a></p>",
            super::twin::html_text(if channel.display_name.is_empty() {
                "a direct message"
            } else {
                &channel.display_name
            }),
            super::twin::html_text(&post.message)
        );
        let msg = OutgoingMail {
            to: user.email.clone(),
            subject,
            html_body: body,
        };
        let twin = twin.clone();
        let site_url = site_url.clone();
        tokio::spawn(async move {
            let email = twin.settings().email;
            let _ = deliver(&twin, "mention", &email, &site_url, msg).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_like_usernames() {
        assert_eq!(
            mentioned_usernames("hi @Alice and @bob.smith. mail a@b.c, @alice again"),
            vec!["alice".to_string(), "bob.smith".to_string()]
        );
        assert!(mentioned_usernames("no mentions").is_empty());
    }
}
