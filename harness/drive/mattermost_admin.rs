//! A Mattermost administrator through its REST API: log in (`Token` header), create a team, a
//! channel and an incoming webhook, read a channel's posts back, ping the server. Mattermost 4+
//! speaks API v4; Mattermost 3.x (GitLab 8.x) only API v3, whose routes nest under the team
//! (`/api/v3/teams/{team_id}/channels/create`, `.../hooks/incoming/create`,
//! `.../channels/{id}/posts/page/0/60`) and answer 200 where v4 answers 201.

use url::Url;

use crate::config::Secret;

use super::error::{DriveError, server_text};
use super::http::{Body, Browser, Page, Request, url_text};
use super::transcript::Transcript;

/// A logged-in API session.
#[derive(Debug, Clone)]
pub struct MattermostApi {
    pub base: Url,
    token: Secret,
    /// Mattermost 3.x: API v3.
    v3: bool,
}

/// A post read back.
#[derive(Debug, Clone, PartialEq)]
pub struct PostView {
    pub id: String,
    pub message: String,
    pub post_type: String,
    pub props: serde_json::Value,
}

impl PostView {
    pub fn attachments(&self) -> usize {
        self.props
            .get("attachments")
            .and_then(|a| a.as_array())
            .map(Vec::len)
            .unwrap_or(0)
    }
    pub fn from_webhook(&self) -> bool {
        self.props.get("from_webhook").and_then(|v| v.as_str()) == Some("true")
    }
    pub fn override_username(&self) -> Option<&str> {
        self.props.get("override_username").and_then(|v| v.as_str())
    }
    /// The post's text and every attachment's text (what a person reads).
    pub fn all_text(&self) -> String {
        let mut out = self.message.clone();
        if let Some(atts) = self.props.get("attachments").and_then(|a| a.as_array()) {
            for a in atts {
                for k in ["pretext", "text", "fallback", "title"] {
                    if let Some(t) = a.get(k).and_then(|t| t.as_str()) {
                        out.push('\n');
                        out.push_str(t);
                    }
                }
            }
        }
        out
    }
}

fn api_url(base: &Url, path: &str) -> Result<Url, DriveError> {
    base.join(path)
        .map_err(|e| DriveError::protocol(format!("bad Mattermost URL: {e}")))
}

/// The answer's JSON when its status is one of `want`; otherwise a refusal carrying the status, the
/// API error id and what the server said (quoted by `server_text`: redacted, escaped, bounded; a
/// redirect names its `Location`).
fn check(
    page: &Page,
    want: &[u16],
    what: &str,
    secrets: &[String],
) -> Result<serde_json::Value, DriveError> {
    if !want.contains(&page.status) {
        let json = serde_json::from_str::<serde_json::Value>(&page.body).ok();
        let id = json
            .as_ref()
            .and_then(|v| v.get("id")?.as_str().map(|i| server_text(i, secrets)));
        let answered = json
            .as_ref()
            .and_then(|v| {
                Some(format!(
                    "answered {}: {} ({})",
                    page.status,
                    server_text(v.get("message")?.as_str()?, secrets),
                    server_text(v.get("id")?.as_str()?, secrets)
                ))
            })
            .unwrap_or_else(|| page.answered(secrets));
        return Err(DriveError::refused(
            page.status,
            id,
            format!("{what}: {} {answered}", url_text(&page.url)),
        ));
    }
    if page.body.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    page.json()
}

fn str_field(v: &serde_json::Value, k: &str, what: &str) -> Result<String, DriveError> {
    v.get(k)
        .and_then(|x| x.as_str())
        .map(str::to_string)
        .ok_or_else(|| DriveError::protocol(format!("{what}: the answer has no `{k}`")))
}

impl MattermostApi {
    /// `POST /api/v4/users/login`; the session token comes back in the `Token` header.
    pub async fn login(
        browser: &Browser,
        base: &Url,
        login_id: &str,
        password: &Secret,
        tr: &mut Transcript,
    ) -> Result<MattermostApi, DriveError> {
        Self::login_version(browser, base, login_id, password, false, tr).await
    }

    /// Log in with API v3 (`v3 = true`, Mattermost 3.x) or v4.
    pub async fn login_version(
        browser: &Browser,
        base: &Url,
        login_id: &str,
        password: &Secret,
        v3: bool,
        tr: &mut Transcript,
    ) -> Result<MattermostApi, DriveError> {
        tr.secret(password.expose());
        let path = if v3 {
            "/api/v3/users/login"
        } else {
            "/api/v4/users/login"
        };
        let req = Request::post(
            api_url(base, path)?,
            Body::Json(serde_json::json!({"login_id": login_id, "password": password.expose()})),
        );
        let page = browser.send(req, Some("admin login"), tr).await?;
        check(&page, &[200], "logging in to Mattermost", tr.secrets())?;
        let token = page
            .header("token")
            .ok_or_else(|| DriveError::protocol("Mattermost's login answer has no Token header"))?
            .to_string();
        tr.secret(&token);
        Ok(MattermostApi {
            base: base.clone(),
            token: Secret::new(token),
            v3,
        })
    }

    fn authed(&self, req: Request) -> Request {
        req.header("Authorization", &format!("Bearer {}", self.token.expose()))
    }

    async fn call(
        &self,
        browser: &Browser,
        req: Request,
        want: &[u16],
        what: &str,
        tr: &mut Transcript,
    ) -> Result<serde_json::Value, DriveError> {
        let page = browser.send(self.authed(req), Some(what), tr).await?;
        check(&page, want, what, tr.secrets())
    }

    /// `GET` a path of the API with the session (200 expected); the JSON answer.
    pub async fn get_json(
        &self,
        browser: &Browser,
        path: &str,
        what: &str,
        tr: &mut Transcript,
    ) -> Result<serde_json::Value, DriveError> {
        let req = Request::get(api_url(&self.base, path)?);
        self.call(browser, req, &[200], what, tr).await
    }

    /// `POST` a JSON object that creates something (200 on API v3, 201 on v4); returns its `id`.
    async fn create(
        &self,
        browser: &Browser,
        path: &str,
        body: serde_json::Value,
        what: &str,
        tr: &mut Transcript,
    ) -> Result<String, DriveError> {
        let want = if self.v3 { 200 } else { 201 };
        let req = Request::post(api_url(&self.base, path)?, Body::Json(body));
        let v = self.call(browser, req, &[want], what, tr).await?;
        str_field(&v, "id", what)
    }

    /// `GET` one object; returns its `id`.
    async fn find_id(
        &self,
        browser: &Browser,
        path: &str,
        what: &str,
        tr: &mut Transcript,
    ) -> Result<String, DriveError> {
        let req = Request::get(api_url(&self.base, path)?);
        let v = self.call(browser, req, &[200], what, tr).await?;
        str_field(&v, "id", what)
    }

    /// `POST /api/v4/users` as the administrator (what an invitation-less server allows); returns
    /// the new user's id.
    pub async fn create_user(
        &self,
        browser: &Browser,
        username: &str,
        email: &str,
        password: &Secret,
        tr: &mut Transcript,
    ) -> Result<String, DriveError> {
        tr.secret(password.expose());
        let path = if self.v3 {
            "/api/v3/users/create"
        } else {
            "/api/v4/users"
        };
        let body = serde_json::json!({
            "username": username, "email": email, "password": password.expose()
        });
        self.create(browser, path, body, "create user", tr).await
    }

    /// `POST /api/v4/teams` (open team); returns the team id.
    pub async fn create_team(
        &self,
        browser: &Browser,
        name: &str,
        tr: &mut Transcript,
    ) -> Result<String, DriveError> {
        let path = if self.v3 {
            "/api/v3/teams/create"
        } else {
            "/api/v4/teams"
        };
        let body = serde_json::json!({"name": name, "display_name": name, "type": "O"});
        self.create(browser, path, body, "create team", tr).await
    }

    /// `GET /api/v4/teams/name/{name}`; returns the team id.
    pub async fn team_id(
        &self,
        browser: &Browser,
        name: &str,
        tr: &mut Transcript,
    ) -> Result<String, DriveError> {
        if self.v3 {
            let v = self
                .call(
                    browser,
                    Request::get(api_url(&self.base, "/api/v3/teams/all")?),
                    &[200],
                    "find team",
                    tr,
                )
                .await?;
            return v
                .as_object()
                .and_then(|teams| {
                    teams
                        .values()
                        .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name))
                })
                .and_then(|t| t.get("id").and_then(|i| i.as_str()))
                .map(str::to_string)
                .ok_or_else(|| DriveError::protocol(format!("find team: no team named {name:?}")));
        }
        self.find_id(
            browser,
            &format!("/api/v4/teams/name/{name}"),
            "find team",
            tr,
        )
        .await
    }

    /// `POST /api/v4/channels` (open channel); returns the channel id.
    pub async fn create_channel(
        &self,
        browser: &Browser,
        team: &str,
        name: &str,
        tr: &mut Transcript,
    ) -> Result<String, DriveError> {
        let team_id = self.team_id(browser, team, tr).await?;
        let path = if self.v3 {
            format!("/api/v3/teams/{team_id}/channels/create")
        } else {
            "/api/v4/channels".to_string()
        };
        let body = serde_json::json!({
            "team_id": team_id, "name": name, "display_name": name, "type": "O"
        });
        self.create(browser, &path, body, "create channel", tr)
            .await
    }

    /// `GET /api/v4/teams/{team_id}/channels/name/{name}`; returns `(team id, channel id)`.
    pub async fn channel_id(
        &self,
        browser: &Browser,
        team: &str,
        name: &str,
        tr: &mut Transcript,
    ) -> Result<(String, String), DriveError> {
        let team_id = self.team_id(browser, team, tr).await?;
        let api = if self.v3 { "v3" } else { "v4" };
        let path = format!("/api/{api}/teams/{team_id}/channels/name/{name}");
        let channel_id = self.find_id(browser, &path, "find channel", tr).await?;
        Ok((team_id, channel_id))
    }

    /// `POST /api/v4/hooks/incoming`; returns the hook id (the secret part of its URL).
    pub async fn create_incoming_webhook(
        &self,
        browser: &Browser,
        team_id: &str,
        channel_id: &str,
        tr: &mut Transcript,
    ) -> Result<Secret, DriveError> {
        let path = if self.v3 {
            format!("/api/v3/teams/{team_id}/hooks/incoming/create")
        } else {
            "/api/v4/hooks/incoming".to_string()
        };
        let body = serde_json::json!({
            "channel_id": channel_id,
            "display_name": "GitLab",
            "description": "GitLab notifications",
        });
        let id = self
            .create(browser, &path, body, "create incoming webhook", tr)
            .await?;
        tr.secret(&id);
        Ok(Secret::new(id))
    }

    /// The newest post of a channel (`GET /api/v4/channels/{id}/posts`).
    pub async fn latest_post(
        &self,
        browser: &Browser,
        team_id: &str,
        channel_id: &str,
        tr: &mut Transcript,
    ) -> Result<Option<PostView>, DriveError> {
        let mut posts = self.channel_posts(browser, team_id, channel_id, tr).await?;
        Ok(if posts.is_empty() {
            None
        } else {
            Some(posts.remove(0))
        })
    }

    /// The posts of a channel, newest first (`GET /api/v4/channels/{id}/posts`, its first page;
    /// 3.x: `/api/v3/teams/{team}/channels/{id}/posts/page/0/60`).
    pub async fn channel_posts(
        &self,
        browser: &Browser,
        team_id: &str,
        channel_id: &str,
        tr: &mut Transcript,
    ) -> Result<Vec<PostView>, DriveError> {
        let path = if self.v3 {
            format!("/api/v3/teams/{team_id}/channels/{channel_id}/posts/page/0/60")
        } else {
            format!("/api/v4/channels/{channel_id}/posts")
        };
        let v = self
            .call(
                browser,
                Request::get(api_url(&self.base, &path)?),
                &[200],
                "read posts",
                tr,
            )
            .await?;
        let order: Vec<&str> = v
            .get("order")
            .and_then(|o| o.as_array())
            .map(|o| o.iter().filter_map(|i| i.as_str()).collect())
            .unwrap_or_default();
        order.into_iter().map(|id| post_view(&v, id)).collect()
    }
}

/// Post `id` of a posts answer (`{order, posts}`).
fn post_view(v: &serde_json::Value, id: &str) -> Result<PostView, DriveError> {
    let post = v
        .get("posts")
        .and_then(|p| p.get(id))
        .ok_or_else(|| DriveError::protocol("the posts answer names a post it does not contain"))?;
    Ok(PostView {
        id: id.to_string(),
        message: post
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string(),
        post_type: post
            .get("type")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string(),
        props: post
            .get("props")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
    })
}

/// `POST /api/v4/users` without an invitation: a person signs up with email and password (what
/// `EmailSettings.EnableSignUpWithEmail` governs). Returns the new user's id.
pub async fn sign_up_with_email(
    browser: &Browser,
    base: &Url,
    username: &str,
    email: &str,
    password: &Secret,
    tr: &mut Transcript,
) -> Result<String, DriveError> {
    tr.secret(password.expose());
    let page = browser
        .send(
            Request::post(
                api_url(base, "/api/v4/users")?,
                Body::Json(serde_json::json!({
                    "username": username, "email": email, "password": password.expose()
                })),
            ),
            Some("email sign-up"),
            tr,
        )
        .await?;
    let v = check(&page, &[201], "email sign-up", tr.secrets())?;
    str_field(&v, "id", "email sign-up")
}

/// `GET /api/v4/system/ping` (no authentication); returns the status and the `X-Version-Id`.
pub async fn ping(
    browser: &Browser,
    base: &Url,
    tr: &mut Transcript,
) -> Result<(String, Option<String>), DriveError> {
    ping_version(browser, base, false, tr).await
}

/// Ping through API v3 (`GET /api/v3/general/ping`, Mattermost 3.x: answers with the version) or
/// v4. Returns a status (`OK` for a v3 answer) and the server version.
pub async fn ping_version(
    browser: &Browser,
    base: &Url,
    v3: bool,
    tr: &mut Transcript,
) -> Result<(String, Option<String>), DriveError> {
    let path = if v3 {
        "/api/v3/general/ping"
    } else {
        "/api/v4/system/ping"
    };
    let page = browser
        .send(Request::get(api_url(base, path)?), Some("ping"), tr)
        .await?;
    let v = check(&page, &[200], "ping", tr.secrets())?;
    let header = page.header("x-version-id").map(str::to_string);
    if v3 {
        // Mattermost 3.x answers `{"version": ...}` and no status.
        let version = v
            .get("version")
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .or(header);
        return Ok(("OK".to_string(), version));
    }
    Ok((str_field(&v, "status", "ping")?, header))
}

impl MattermostApi {
    /// The session token (for drivers that make their own requests, e.g. the test email).
    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// Whether this session speaks API v3 (Mattermost 3.x).
    pub fn is_v3(&self) -> bool {
        self.v3
    }

    /// Add a user to a team (`POST /api/v4/teams/{id}/members`; v3
    /// `POST /api/v3/teams/{id}/add_user_to_team`); the user joins the team's default channels.
    pub async fn add_team_member(
        &self,
        browser: &Browser,
        team_id: &str,
        user_id: &str,
        tr: &mut Transcript,
    ) -> Result<(), DriveError> {
        let (path, want, body) = if self.v3 {
            (
                format!("/api/v3/teams/{team_id}/add_user_to_team"),
                200,
                serde_json::json!({"user_id": user_id}),
            )
        } else {
            (
                format!("/api/v4/teams/{team_id}/members"),
                201,
                serde_json::json!({"team_id": team_id, "user_id": user_id}),
            )
        };
        let req = Request::post(api_url(&self.base, &path)?, Body::Json(body));
        self.call(browser, req, &[want], "add team member", tr)
            .await
            .map(|_| ())
    }
}
