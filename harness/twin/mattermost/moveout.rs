//! The move out of omnibus, on the twin's side: what the export on GitLab 18.11 takes from the
//! bundled Mattermost ([`MattermostExport`]: the database as `pg_dump` would write it, config.json,
//! the `mattermost` section of gitlab-secrets.json), the standalone server started on the
//! restored database ([`MattermostTwin::restored_from_export`], as `mattermost/mattermost-team-edition`
//! starts on a restored PostgreSQL with only `MM_*` variables), and the System Console's counts
//! on Mattermost 10.11 (`GET /api/v4/analytics/old?name=`, `server/channels/api4/system.go`
//! `getAnalytics`, the same rows as 3.4's).
//!
//! The export moves the real store — users with their `auth_service`/`auth_data`, sessions,
//! teams with their members, channels, posts, incoming webhooks and tokens — not a re-creation,
//! so ids (user ids, hook ids, post ids) survive the move.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::Value;

use super::api4::{ApiResult, require_admin};
use super::error::AppError;
use super::store::Store;
use super::twin::{Caller, MattermostTwin, MattermostTwinConfig};
use crate::config::model::Secret;

/// gitlab-secrets.json's `mattermost` section as omnibus 18.x writes it (the part a 19.x
/// reconfigure drops; `upgrade::omnibus19::DROPPED_SECRETS`): the OAuth application omnibus
/// registered, and whether it did.
#[derive(Clone)]
pub struct OmnibusSecrets {
    pub gitlab_enable: bool,
    pub gitlab_id: String,
    pub gitlab_secret: Secret,
}

impl std::fmt::Debug for OmnibusSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmnibusSecrets")
            .field("gitlab_enable", &self.gitlab_enable)
            .field("gitlab_id", &self.gitlab_id)
            .field("gitlab_secret", &self.gitlab_secret)
            .finish()
    }
}

/// What the plan's export tasks take from the bundled server while it is stopped.
#[derive(Clone)]
pub struct MattermostExport {
    /// `pg_dump mattermost_production`: every table.
    pub database: Store,
    /// `/var/opt/gitlab/mattermost/config.json`, unsanitised (it is what the file holds).
    pub config_json: Value,
    /// gitlab-secrets.json's `mattermost` section.
    pub secrets: OmnibusSecrets,
    /// The username of the system admin the harness drives the API as.
    pub admin_username: String,
}

impl std::fmt::Debug for MattermostExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MattermostExport")
            .field("users", &self.database.users.len())
            .field("teams", &self.database.teams.len())
            .field("channels", &self.database.channels.len())
            .field("posts", &self.database.posts.len())
            .field("hooks", &self.database.hooks.len())
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

impl MattermostExport {
    /// One line per table, for the transcript: `users=2 teams=1 ...`.
    pub fn tables(&self) -> String {
        let d = &self.database;
        format!(
            "users={} sso_users={} teams={} channels={} posts={} incoming_webhooks={} sessions={}",
            d.users.len(),
            d.users
                .iter()
                .filter(|u| !u.auth_service.is_empty())
                .count(),
            d.teams.len(),
            d.channels.len(),
            d.posts.len(),
            d.hooks.len(),
            d.sessions.len()
        )
    }
}

/// Why the standalone server cannot start on an export.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(
        "the export has no user `{0}`: the restored database has no system admin to drive the API as"
    )]
    NoAdmin(String),
}

impl MattermostTwin {
    /// The export, taken from the running (stopped, for a consistent copy) server.
    pub fn export(&self) -> MattermostExport {
        let settings = self.settings();
        let database = self.store().clone();
        let admin_username = database
            .user(&self.admin_id)
            .map(|u| u.username.clone())
            .unwrap_or_default();
        MattermostExport {
            config_json: super::config_json::to_json(&settings, false),
            secrets: OmnibusSecrets {
                gitlab_enable: settings.gitlab.enable,
                gitlab_id: settings.gitlab.id.clone(),
                gitlab_secret: settings.gitlab.secret.clone(),
            },
            database,
            admin_username,
        }
    }

    /// A standalone server started with `cfg` (its settings from `MM_*` variables only) on the
    /// restored database of `export`.
    pub fn restored_from_export(
        cfg: MattermostTwinConfig,
        export: &MattermostExport,
    ) -> Result<Arc<MattermostTwin>, RestoreError> {
        let database = export.database.clone();
        let admin_id = database
            .user_by_username(&export.admin_username)
            .map(|u| u.id.clone())
            .ok_or_else(|| RestoreError::NoAdmin(export.admin_username.clone()))?;
        // A standalone Mattermost 10.x keeps its schema in its own Systems table; the twin's 3.x
        // schema replay does not apply to it.
        let schema = super::upgrade::SchemaState::installed_by(super::schema::Release::V3_4);
        Ok(MattermostTwin::build(cfg, database, admin_id, schema))
    }
}

/// The Mattermost 10.11 routes of this module.
pub fn routes_v4() -> Router<Arc<MattermostTwin>> {
    Router::new().route("/api/v4/analytics/old", get(analytics_v4))
}

#[derive(serde::Deserialize)]
struct AnalyticsQuery {
    #[serde(default)]
    name: String,
}

/// `GET /api/v4/analytics/old?name=standard|extra_counts` (system admins).
async fn analytics_v4(
    State(twin): State<Arc<MattermostTwin>>,
    Caller(user): Caller,
    Query(q): Query<AnalyticsQuery>,
) -> ApiResult {
    require_admin(&user)?;
    match super::upgrade::analytics_rows(&twin.store(), &q.name) {
        Some(list) => Ok((StatusCode::OK, axum::Json(Value::Array(list))).into_response()),
        // getAnalytics: `if rows == nil { c.SetInvalidParam("name") }`.
        None => Err(AppError::new(
            "api.context.invalid_param.app_error",
            "Invalid name parameter",
            400,
        )),
    }
}
