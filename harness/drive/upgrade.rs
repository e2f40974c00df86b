//! What an upgrade may lose, read over HTTP: a user's theme (`/api/v3/preferences/*`, with the
//! user's own session from an SSO log-in) and the data counts the System Console shows
//! (`/api/v3/admin/analytics/standard` and `extra_counts`, as the administrator; on Mattermost
//! 4 and later `/api/v4/analytics/old?name=`).
//!
//! Owns: [`save_theme`], [`get_theme`], [`count_data`] and [`DataCounts`]. Routes and shapes read
//! from `api/preference.go` and `api/admin.go` at `mattermost/platform` tag v3.4.0.

use serde::Serialize;
use url::Url;

use super::http::{Body, Request};
use super::mattermost_admin::MattermostApi;
use super::{Browser, DriveError, Transcript};

/// What the System Console counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DataCounts {
    /// `unique_user_count`.
    pub users: u64,
    /// `team_count`.
    pub teams: u64,
    /// `channel_open_count` + `channel_private_count`.
    pub channels: u64,
    /// `post_count`.
    pub posts: u64,
    /// `incoming_webhook_count`.
    pub webhooks: u64,
}

impl std::fmt::Display for DataCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "users={} teams={} channels={} posts={} webhooks={}",
            self.users, self.teams, self.channels, self.posts, self.webhooks
        )
    }
}

fn url(base: &Url, path: &str) -> Result<Url, DriveError> {
    base.join(path)
        .map_err(|e| DriveError::protocol(format!("bad Mattermost URL: {e}")))
}

fn refused(what: &str, status: u16, body: &str) -> DriveError {
    let json = serde_json::from_str::<serde_json::Value>(body).ok();
    let id = json
        .as_ref()
        .and_then(|v| v.get("id")?.as_str().map(str::to_string));
    let mut e = DriveError::protocol(format!(
        "{what}: Mattermost answered {status}{}",
        id.as_deref().map(|i| format!(" ({i})")).unwrap_or_default()
    ));
    if status >= 400 && status != 502 {
        e.refusal = Some((status, id));
    }
    e
}

/// `POST /api/v3/preferences/save` with the signed-in user's cookie session: one `theme`
/// preference (`name` empty), as the 3.4 web app saves a theme. The answer must be `true`.
pub async fn save_theme(
    browser: &Browser,
    mattermost: &Url,
    user_id: &str,
    theme: &str,
    tr: &mut Transcript,
) -> Result<(), DriveError> {
    let body = serde_json::json!([
        {"user_id": user_id, "category": "theme", "name": "", "value": theme}
    ]);
    let req = Request::post(
        url(mattermost, "/api/v3/preferences/save")?,
        Body::Json(body),
    )
    .header("X-Requested-With", "XMLHttpRequest");
    let page = browser.send(req, Some("save theme"), tr).await?;
    if page.status != 200 {
        return Err(refused("save theme", page.status, &page.body));
    }
    Ok(())
}

/// `GET /api/v3/preferences/theme` with the user's session: the theme's value, `None` when the
/// user has none.
pub async fn get_theme(
    browser: &Browser,
    mattermost: &Url,
    tr: &mut Transcript,
) -> Result<Option<String>, DriveError> {
    let req = Request::get(url(mattermost, "/api/v3/preferences/theme")?)
        .header("X-Requested-With", "XMLHttpRequest");
    let page = browser.send(req, Some("read theme"), tr).await?;
    if page.status != 200 {
        return Err(refused("read theme", page.status, &page.body));
    }
    let v = page.json()?;
    let list = v.as_array().ok_or_else(|| {
        DriveError::protocol("read theme: the answer is not a list of preferences")
    })?;
    Ok(list
        .iter()
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(""))
        .and_then(|p| p.get("value")?.as_str().map(str::to_string)))
}

/// The counts of `GET /api/v3/admin/analytics/standard` and `.../extra_counts` as the admin
/// (Mattermost 4 and later: `GET /api/v4/analytics/old?name=standard` and `?name=extra_counts`,
/// server/channels/api4/system.go `getAnalytics`, the same rows).
pub async fn count_data(
    browser: &Browser,
    api: &MattermostApi,
    tr: &mut Transcript,
) -> Result<DataCounts, DriveError> {
    let (standard_path, extra_path) = if api.is_v3() {
        (
            "/api/v3/admin/analytics/standard",
            "/api/v3/admin/analytics/extra_counts",
        )
    } else {
        (
            "/api/v4/analytics/old?name=standard",
            "/api/v4/analytics/old?name=extra_counts",
        )
    };
    let standard = api.get_json(browser, standard_path, "counts", tr).await?;
    let extra = api
        .get_json(browser, extra_path, "extra counts", tr)
        .await?;
    let row = |v: &serde_json::Value, name: &str| -> Result<u64, DriveError> {
        v.as_array()
            .and_then(|rows| {
                rows.iter()
                    .find(|r| r.get("name").and_then(|n| n.as_str()) == Some(name))
            })
            .and_then(|r| r.get("value")?.as_f64())
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| n as u64)
            .ok_or_else(|| DriveError::protocol(format!("the analytics answer has no `{name}`")))
    };
    Ok(DataCounts {
        users: row(&standard, "unique_user_count")?,
        teams: row(&standard, "team_count")?,
        channels: row(&standard, "channel_open_count")? + row(&standard, "channel_private_count")?,
        posts: row(&standard, "post_count")?,
        webhooks: row(&extra, "incoming_webhook_count")?,
    })
}
