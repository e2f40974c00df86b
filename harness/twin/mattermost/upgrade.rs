//! The twin's Mattermost across GitLab omnibus upgrades (GitLab 8.9–8.12 bundle Mattermost
//! 3.1–3.4): the database a release installed ([`super::schema::Database`]), the restart on a new
//! release ([`super::schema::start`]), the operator's `gitlab-psql` statement, a server that halted
//! (nginx then answers 502), and the API routes that read what an upgrade may lose — themes
//! (`/api/v3/preferences/*`) and the System Console's counts (`/api/v3/admin/analytics/*`).
//!
//! Approximation (docs/twin-mattermost.md): the HTTP behaviour is always Mattermost 3.4's; only
//! the database — its `Systems` version row, its columns, where themes live — follows the release
//! that installed and last started on it. Users of the store get schema rows when the schema is
//! next read or written ([`SchemaState::sync_users`]).
//!
//! Routes read from `api/preference.go` and `api/admin.go` (`getAnalytics`) at tag v3.4.0 of
//! `mattermost/platform`; the theme saved on a 3.1/3.2 database goes to `Users.ThemeProps`, as
//! 3.1/3.2's `POST /api/v3/users/update` with `theme_props` stored it.

use std::sync::{Arc, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::api4::{ApiResult, require_admin};
use super::error::AppError;
use super::schema::{self, Column, Database, Halt, Preference, Release, SqlRefused, StartLog};
use super::store::Store;
use super::twin::{Caller, MattermostTwin};

/// The Mattermost 3.x release GitLab `gitlab` bundled (the omnibus table of
/// `crate::upgrade::versions`), if it is one the schema replay knows (GitLab 8.9–8.12).
pub fn bundled_release(gitlab: crate::config::Version) -> Option<Release> {
    let m = crate::upgrade::versions::release(gitlab)?.mattermost?;
    Release::parse(&format!("{}.{}.0", m.major, m.minor))
}

/// The database and the release that runs on it.
#[derive(Debug, Clone)]
pub struct SchemaState {
    /// The release that last started (or tried to start) on the database.
    pub release: Release,
    pub db: Database,
    /// Why the server is down, after a start that halted.
    pub halted: Option<Halt>,
}

impl SchemaState {
    /// A fresh install of `release`.
    pub fn installed_by(release: Release) -> SchemaState {
        SchemaState {
            release,
            db: Database::installed_by(release),
            halted: None,
        }
    }

    /// Give every user of the store a `Users` row (no theme), as the release's sign-up does.
    pub fn sync_users(&mut self, store: &Store) {
        for u in &store.users {
            if !self.db.users.iter().any(|r| r.id == u.id) {
                self.db.add_user(&u.id, &u.username, None);
            }
        }
    }
}

impl MattermostTwin {
    pub(crate) fn schema(&self) -> MutexGuard<'_, SchemaState> {
        let mut s = match self.schema.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        s.sync_users(&self.store());
        s
    }

    /// Replace the database by a fresh install of `release` (a scenario whose GitLab bundled it),
    /// with the store's users in it.
    pub fn install_release(&self, release: Release) {
        let mut s = self.schema();
        *s = SchemaState::installed_by(release);
        s.sync_users(&self.store());
    }

    /// The release running (or last tried) on the database.
    pub fn release(&self) -> Release {
        self.schema().release
    }

    /// A copy of the database.
    pub fn database(&self) -> Database {
        self.schema().db.clone()
    }

    /// Whether the server halted at its last start (nginx answers 502).
    pub fn halted(&self) -> Option<Halt> {
        self.schema().halted.clone()
    }

    /// Stop the server and start `release` on the database (`gitlab-ctl restart` after an
    /// omnibus package upgrade, or a plain restart on the same release).
    pub fn restart_on(&self, release: Release) -> Result<StartLog, Halt> {
        let mut s = self.schema();
        s.release = release;
        let result = schema::start(release, &mut s.db);
        s.halted = result.as_ref().err().cloned();
        result
    }

    /// `gitlab-psql -d mattermost_production -c STATEMENT` (only the seed's statement is known).
    pub fn run_sql(&self, statement: &str) -> Result<usize, SqlRefused> {
        self.schema().db.run_sql(statement)
    }

    /// The theme the running release shows a user, if any.
    pub fn theme_of(&self, user_id: &str) -> Option<String> {
        let s = self.schema();
        s.db.theme_shown(s.release, user_id)
    }
}

/// The page omnibus nginx serves when Mattermost does not answer.
pub(crate) fn bad_gateway() -> Response {
    (
        StatusCode::BAD_GATEWAY,
        [("content-type", "text/html")],
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body bgcolor=\"white\">\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    )
        .into_response()
}

type Twin = State<Arc<MattermostTwin>>;

/// The preference and analytics routes of the 3.4 profile.
pub fn routes_v3() -> Router<Arc<MattermostTwin>> {
    Router::new()
        .route("/api/v3/preferences/save", post(save_preferences))
        .route("/api/v3/preferences/{category}", get(preference_category))
        .route("/api/v3/admin/analytics/{name}", get(analytics))
}

fn decode_error(detail: String) -> AppError {
    AppError::new(
        "api.preference.save_preferences.decode.app_error",
        "Unable to decode preferences from request",
        400,
    )
    .with_detail(detail)
}

/// `savePreferences`: every preference must be the caller's (else 403), the answer is `true`.
async fn save_preferences(State(twin): Twin, Caller(user): Caller, body: Bytes) -> ApiResult {
    let list: Vec<Value> =
        serde_json::from_slice(&body).map_err(|e| decode_error(e.to_string()))?;
    let mut prefs = Vec::with_capacity(list.len());
    for v in &list {
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        prefs.push(Preference {
            user_id: field("user_id"),
            category: field("category"),
            name: field("name"),
            value: field("value"),
        });
    }
    if let Some(p) = prefs.iter().find(|p| p.user_id != user.id) {
        return Err(AppError::new(
            "api.preference.save_preferences.set.app_error",
            "Unable to set user preferences",
            403,
        )
        .with_detail(format!(
            "Session user id {} does not match preference user id {}",
            user.id, p.user_id
        )));
    }
    let mut s = twin.schema();
    for p in prefs {
        let theme_props = p.category == schema::THEME && s.db.has(Column::UsersThemeProps);
        if theme_props {
            if let Some(row) = s.db.users.iter_mut().find(|r| r.id == p.user_id) {
                row.theme_props = p.value;
            }
            continue;
        }
        match s
            .db
            .preferences
            .iter_mut()
            .find(|q| q.user_id == p.user_id && q.category == p.category && q.name == p.name)
        {
            Some(q) => q.value = p.value,
            None => s.db.preferences.push(p),
        }
    }
    Ok((StatusCode::OK, "true").into_response())
}

/// `getPreferenceCategory`: the caller's preferences of the category (`[]` when none); the
/// theme as the running release reads it.
async fn preference_category(
    State(twin): Twin,
    Caller(user): Caller,
    Path(category): Path<String>,
) -> ApiResult {
    let s = twin.schema();
    let list: Vec<Value> = if category == schema::THEME {
        s.db.theme_shown(s.release, &user.id)
            .map(|value| {
                json!({"user_id": user.id, "category": schema::THEME, "name": "", "value": value})
            })
            .into_iter()
            .collect()
    } else {
        s.db.preferences
            .iter()
            .filter(|p| p.user_id == user.id && p.category == category)
            .map(|p| json!({"user_id": p.user_id, "category": p.category, "name": p.name, "value": p.value}))
            .collect()
    };
    Ok((StatusCode::OK, axum::Json(Value::Array(list))).into_response())
}

/// `getAnalytics` (system admins): `standard` and `extra_counts`, as `[{name, value}]`.
async fn analytics(State(twin): Twin, Caller(user): Caller, Path(name): Path<String>) -> ApiResult {
    require_admin(&user)?;
    match analytics_rows(&twin.store(), &name) {
        Some(list) => Ok((StatusCode::OK, axum::Json(Value::Array(list))).into_response()),
        // Other names (`post_counts_day`...) are not played; 3.4 writes nothing for an unknown one.
        None => Ok(StatusCode::OK.into_response()),
    }
}

/// The rows of `getAnalytics` `standard` and `extra_counts` (the same names and meaning in 3.4's
/// `api/admin.go` and 10.11's `app/analytics.go`), `None` for a name the twin does not play.
pub(crate) fn analytics_rows(store: &Store, name: &str) -> Option<Vec<Value>> {
    let channels = |t: &str| {
        store
            .channels
            .iter()
            .filter(|c| c.delete_at == 0 && c.channel_type == t)
            .count()
    };
    let rows: Vec<(&str, usize)> = match name {
        "standard" => vec![
            ("channel_open_count", channels("O")),
            ("channel_private_count", channels("P")),
            (
                "post_count",
                store.posts.iter().filter(|p| p.delete_at == 0).count(),
            ),
            (
                "unique_user_count",
                store.users.iter().filter(|u| u.delete_at == 0).count(),
            ),
            (
                "team_count",
                store.teams.iter().filter(|t| t.delete_at == 0).count(),
            ),
        ],
        "extra_counts" => vec![
            ("file_post_count", 0),
            (
                "hashtag_post_count",
                store
                    .posts
                    .iter()
                    .filter(|p| p.delete_at == 0 && !p.hashtags.is_empty())
                    .count(),
            ),
            (
                "incoming_webhook_count",
                store.hooks.iter().filter(|h| h.delete_at == 0).count(),
            ),
            ("outgoing_webhook_count", 0),
            ("command_count", 0),
            ("session_count", store.sessions.len()),
        ],
        _ => return None,
    };
    Some(
        rows.into_iter()
            .map(|(n, v)| json!({"name": n, "value": v as f64}))
            .collect(),
    )
}
