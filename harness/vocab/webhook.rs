//! Incoming webhooks as scenarios and drivers name them: how a client posts
//! ([`WebhookFormat`]) and the push event GitLab's Mattermost/Slack integration reports
//! ([`PushSpec`]).

use serde::Serialize;

use super::names::named_enum;

named_enum! {
    /// How a webhook client posts.
    pub enum WebhookFormat {
        /// `application/json` body.
        Json => "json",
        /// `application/x-www-form-urlencoded` `payload=<json>` (GitLab's integration).
        Form => "form",
        /// `multipart/form-data`, one part per payload field named as the payload's keys
        /// (Mattermost 10.11 decodes them on Go field names: `text` works, `channel` is refused).
        Multipart => "multipart",
    }
}

/// A push event as GitLab's Mattermost/Slack integration reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushSpec {
    /// `group/project` path.
    pub project: String,
    pub branch: String,
    /// Number of commits pushed (0: a new branch, rendered without attachments).
    pub commits: u32,
    /// GitLab username of the pusher.
    pub user: String,
}
