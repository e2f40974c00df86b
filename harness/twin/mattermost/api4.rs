//! The REST API v4 subset of Mattermost 10.11 a harness needs: system ping, login, users,
//! teams, team members, channels, incoming webhooks, posts, config, config/environment and the
//! test email.
//!
//! Owns: the `/api/v4/*` routes, their request parsing, permission checks and error ids (from
//! server/channels/api4/*.go and app/*.go). Errors leave as Mattermost's JSON `AppError`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::config_json;
use super::email;
use super::error::AppError;
use super::store::{BCRYPT_COST, Session, User, now_millis};
use super::twin::{Caller, MattermostTwin, MaybeCaller, permission_denied};

type Twin = State<Arc<MattermostTwin>>;
/// What an API handler answers: its reply, or the `AppError` the plumbing renders as JSON.
pub(crate) type ApiResult = Result<Response, AppError>;

/// The `/api/v4` routes.
pub fn routes() -> Router<Arc<MattermostTwin>> {
    Router::new()
        .route("/api/v4/system/ping", get(ping))
        .route("/api/v4/users/login", post(login))
        .route("/api/v4/users/me", get(me))
        .route("/api/v4/users/username/{username}", get(user_by_username))
        .route("/api/v4/users", post(create_user))
        .route("/api/v4/teams", post(create_team))
        .route("/api/v4/teams/name/{name}", get(team_by_name))
        .route("/api/v4/teams/{team_id}/members", post(add_team_member))
        .route("/api/v4/channels", post(create_channel))
        .route(
            "/api/v4/teams/{team_id}/channels/name/{name}",
            get(channel_by_name),
        )
        .route("/api/v4/channels/{channel_id}/posts", get(channel_posts))
        .route(
            "/api/v4/hooks/incoming",
            post(create_incoming_hook).get(list_incoming_hooks),
        )
        .route(
            "/api/v4/hooks/incoming/{hook_id}",
            delete(delete_incoming_hook),
        )
        .route("/api/v4/config", get(get_config).put(update_config))
        .route("/api/v4/config/environment", get(config_environment))
        .route("/api/v4/email/test", post(test_email))
}

fn json_reply(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(value)).into_response()
}

/// A store record as JSON (`Null` if it cannot be serialised, which the derived impls never do).
pub(crate) fn to_json(record: &impl serde::Serialize) -> Value {
    serde_json::to_value(record).unwrap_or(Value::Null)
}

pub(crate) fn invalid_body(name: &str) -> AppError {
    AppError::new(
        "api.context.invalid_body_param.app_error",
        format!("Invalid or missing {name} in request body."),
        400,
    )
}

pub(crate) fn parse_body(
    body: &Bytes,
    name: &str,
) -> Result<serde_json::Map<String, Value>, AppError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid_body(name)),
    }
}

pub(crate) fn str_field(m: &serde_json::Map<String, Value>, key: &str) -> String {
    m.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn require_admin(user: &User) -> Result<(), AppError> {
    if user.is_system_admin() {
        Ok(())
    } else {
        Err(permission_denied())
    }
}

/// The user as the API shows it to `viewer` (`User.Sanitize`: no password; auth data only to
/// the user and admins).
pub(crate) fn user_json(user: &User, viewer_is_self_or_admin: bool) -> Value {
    let mut v = to_json(user);
    if let Value::Object(m) = &mut v {
        if !viewer_is_self_or_admin {
            m.insert("auth_data".into(), Value::String(String::new()));
        }
        m.insert("is_bot".into(), Value::Bool(false));
        m.insert(
            "timezone".into(),
            json!({"automaticTimezone": "", "manualTimezone": "", "useAutomaticTimezone": "true"}),
        );
    }
    v
}

/// A cookie's `Expires` `max_age` seconds from now, as Go's `http.Cookie` writes it
/// (`Mon, 02 Jan 2006 15:04:05 GMT`).
pub(crate) fn cookie_expires(max_age: i64) -> String {
    let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(max_age);
    expires
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
        .replace("+0000", "GMT")
}

/// `AttachSessionCookies`: `MMAUTHTOKEN` (HttpOnly), `MMUSERID`, `MMCSRF`, 720 h, Secure on https.
pub(crate) fn attach_session_cookies(headers: &mut HeaderMap, session: &Session, secure: bool) {
    let max_age = 720 * 60 * 60;
    let expires = cookie_expires(max_age);
    let secure = if secure { "; Secure" } else { "" };
    let cookies = [
        format!(
            "MMAUTHTOKEN={}; Path=/; Expires={expires}; Max-Age={max_age}; HttpOnly{secure}",
            session.token
        ),
        format!(
            "MMUSERID={}; Path=/; Expires={expires}; Max-Age={max_age}{secure}",
            session.user_id
        ),
        format!(
            "MMCSRF={}; Path=/; Expires={expires}; Max-Age={max_age}{secure}",
            session.csrf
        ),
    ];
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

async fn ping(RawQuery(q): RawQuery) -> Response {
    let full = q
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .any(|(k, v)| k == "get_server_status" && v == "true")
        })
        .unwrap_or(false);
    let mut body = json!({
        "ActiveSearchBackend": "database",
        "AndroidLatestVersion": "",
        "AndroidMinVersion": "",
        "IosLatestVersion": "",
        "IosMinVersion": "",
        "status": "OK",
    });
    if full {
        body["database_status"] = json!("OK");
        body["filestore_status"] = json!("OK");
    }
    json_reply(StatusCode::OK, body)
}

fn invalid_credentials() -> AppError {
    AppError::new(
        "api.user.login.invalid_credentials_email_username",
        "Enter a valid email or username and/or password.",
        401,
    )
}

/// `GetUserForLogin` + `CheckPasswordAndAllCriteria`, shared with API v3.
pub(crate) fn authenticate(
    twin: &MattermostTwin,
    login_id: &str,
    password: &str,
) -> Result<User, AppError> {
    if password.is_empty() {
        return Err(AppError::new(
            "api.user.login.blank_pwd.app_error",
            "Password field must not be blank",
            400,
        ));
    }
    let settings = twin.settings();
    let user = {
        let store = twin.store();
        let by_username = if settings.email.enable_sign_in_with_username {
            store.user_by_username(login_id).cloned()
        } else {
            None
        };
        let by_email = if settings.email.enable_sign_in_with_email {
            store.user_by_email(login_id).cloned()
        } else {
            None
        };
        by_username.or(by_email).ok_or_else(invalid_credentials)?
    };
    if !user.auth_service.is_empty() {
        return Err(AppError::new(
            "api.user.login.use_auth_service.app_error",
            format!("Please sign in using {}.", user.auth_service),
            400,
        ));
    }
    if !MattermostTwin::password_matches(&user, password) {
        return Err(invalid_credentials());
    }
    super::verify::check_verified(twin, &user)?;
    Ok(user)
}

async fn login(State(twin): Twin, headers: HeaderMap, body: Bytes) -> ApiResult {
    let props = parse_body(&body, "login_id")?;
    let user = authenticate(
        &twin,
        &str_field(&props, "login_id"),
        &str_field(&props, "password"),
    )?;
    let session = twin.store().create_session(&user.id);
    let mut resp = json_reply(StatusCode::OK, user_json(&user, true));
    if let Ok(v) = HeaderValue::from_str(&session.token) {
        resp.headers_mut().insert("token", v);
    }
    let secure = super::twin::protocol(&headers) == "https";
    attach_session_cookies(resp.headers_mut(), &session, secure);
    Ok(resp)
}

async fn me(Caller(user): Caller) -> ApiResult {
    Ok(json_reply(StatusCode::OK, user_json(&user, true)))
}

async fn user_by_username(
    State(twin): Twin,
    Caller(viewer): Caller,
    Path(username): Path<String>,
) -> ApiResult {
    let user = twin
        .store()
        .user_by_username(&username)
        .cloned()
        .ok_or_else(|| {
            AppError::new(
                "app.user.get_by_username.app_error",
                "Unable to find an existing account matching your username for this team. This team may require an invite from the team owner to join.",
                404,
            )
        })?;
    let privileged = viewer.id == user.id || viewer.is_system_admin();
    Ok(json_reply(StatusCode::OK, user_json(&user, privileged)))
}

/// `model.IsValidUsername`: 3-22 characters, lower-case letters, digits, `.`, `-`, `_`, starting
/// with a letter.
pub(crate) fn valid_username(name: &str) -> bool {
    let len = name.chars().count();
    (3..=22).contains(&len)
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
}

/// Validate and insert a user signing up with email and password (`CreateUser` checks).
pub(crate) fn insert_email_user(
    twin: &MattermostTwin,
    props: &serde_json::Map<String, Value>,
) -> Result<User, AppError> {
    let username = str_field(props, "username").to_lowercase();
    let email = str_field(props, "email").to_lowercase();
    let password = str_field(props, "password");
    if !valid_username(&username) {
        return Err(AppError::new(
            "model.user.is_valid.username.app_error",
            "Username must begin with a letter, and contain between 3 to 22 lowercase characters made up of numbers, letters, and the symbols '.', '-', and '_'.",
            400,
        ));
    }
    if !email.contains('@') || email.len() > 128 {
        return Err(AppError::new(
            "model.user.is_valid.email.app_error",
            "Invalid email.",
            400,
        ));
    }
    if password.len() < 8 {
        return Err(AppError::new(
            "model.user.is_valid.pwd_lowercase_uppercase_number_symbol.app_error",
            "Your password must contain at least 8 characters.",
            400,
        ));
    }
    let mut store = twin.store();
    if store.user_by_username(&username).is_some() {
        return Err(AppError::new(
            "app.user.save.username_exists.app_error",
            "An account with that username already exists.",
            400,
        ));
    }
    if store.user_by_email(&email).is_some() {
        return Err(AppError::new(
            "app.user.save.email_exists.app_error",
            "An account with that email already exists.",
            400,
        ));
    }
    let hash = bcrypt::hash(&password, BCRYPT_COST).map_err(|e| {
        AppError::new(
            "app.user.save.app_error",
            "Unable to save the account.",
            500,
        )
        .with_detail(e.to_string())
    })?;
    Ok(store.insert_user(
        &username,
        &email,
        hash,
        "",
        "",
        &str_field(props, "first_name"),
        &str_field(props, "last_name"),
        "system_user",
        false,
    ))
}

async fn create_user(
    State(twin): Twin,
    MaybeCaller(creator): MaybeCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let props = parse_body(&body, "user")?;
    let as_admin = creator.is_some_and(|u| u.is_system_admin());
    if !as_admin {
        // CreateUserFromSignup → IsUserSignUpAllowed, then the open-server rule.
        check_email_sign_up_allowed(&twin)?;
        check_open_server(&twin)?;
    }
    let user = insert_email_user(&twin, &props)?;
    email::send_welcome_email(&twin, &user, &headers);
    Ok(json_reply(StatusCode::CREATED, user_json(&user, true)))
}

/// `CreateUserFromSignup`'s open-server rule: after the first account, a sign-up without an
/// invitation needs `TeamSettings.EnableOpenServer` (omnibus default false).
pub(crate) fn check_open_server(twin: &MattermostTwin) -> Result<(), AppError> {
    if twin.settings().team.enable_open_server || twin.store().users.is_empty() {
        return Ok(());
    }
    Err(AppError::new(
        "api.user.create_user.no_open_server",
        "This server does not allow open signups. Please speak with your Administrator to receive an invitation.",
        403,
    ))
}

/// `IsUserSignUpAllowed`: email sign-up needs `EnableSignUpWithEmail` and `EnableUserCreation`.
pub(crate) fn check_email_sign_up_allowed(twin: &MattermostTwin) -> Result<(), AppError> {
    let settings = twin.settings();
    if settings.email.enable_sign_up_with_email && settings.team.enable_user_creation {
        Ok(())
    } else {
        Err(AppError::new(
            "api.user.create_user.signup_email_disabled.app_error",
            "User sign-up with email is disabled.",
            501,
        ))
    }
}

fn team_not_found() -> AppError {
    AppError::new(
        "app.team.get.find.app_error",
        "Unable to find the existing team.",
        404,
    )
}

async fn create_team(State(twin): Twin, Caller(user): Caller, body: Bytes) -> ApiResult {
    let props = parse_body(&body, "team")?;
    if !twin.settings().team.enable_team_creation && !user.is_system_admin() {
        return Err(AppError::new(
            "api.team.is_team_creation_allowed.disabled.app_error",
            "Team creation has been disabled. Please ask your System Administrator for details.",
            403,
        ));
    }
    let name = str_field(&props, "name");
    let display_name = str_field(&props, "display_name");
    let team_type = str_field(&props, "type");
    if !valid_handle(&name) {
        return Err(AppError::new(
            "model.team.is_valid.characters.app_error",
            "Name must be 2 or more lowercase alphanumeric characters.",
            400,
        ));
    }
    if display_name.is_empty() || display_name.chars().count() > 64 {
        return Err(AppError::new(
            "model.team.is_valid.name.app_error",
            "Invalid name.",
            400,
        ));
    }
    if team_type != "O" && team_type != "I" {
        return Err(AppError::new(
            "model.team.is_valid.type.app_error",
            "Invalid type.",
            400,
        ));
    }
    let mut store = twin.store();
    if store.team_by_name(&name).is_some() {
        return Err(AppError::new(
            "app.team.save.existing.app_error",
            "A team with that name already exists.",
            400,
        ));
    }
    let team = store.insert_team(&name, &display_name, &team_type, &user.id);
    join_default_channels(&mut store, &team.id, &user.id);
    Ok(json_reply(StatusCode::CREATED, to_json(&team)))
}

/// Add a user to a team's `town-square` and `off-topic` channels (what joining a team does).
pub(crate) fn join_default_channels(store: &mut super::store::Store, team_id: &str, user_id: &str) {
    for c in store.channels.iter_mut() {
        if c.team_id == team_id
            && (c.name == "town-square" || c.name == "off-topic")
            && !c.members.iter().any(|m| m == user_id)
        {
            c.members.push(user_id.to_string());
        }
    }
}

/// Team and channel names: 2-64 characters of `a-z`, `0-9`, `-`, `_`, starting and ending
/// alphanumeric.
pub(crate) fn valid_handle(name: &str) -> bool {
    let len = name.len();
    (2..=64).contains(&len)
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

async fn team_by_name(State(twin): Twin, _: Caller, Path(name): Path<String>) -> ApiResult {
    let team = twin.store().team_by_name(&name).cloned().ok_or_else(|| {
        AppError::new(
            "app.team.get_by_name.missing.app_error",
            "Unable to find the existing team.",
            404,
        )
    })?;
    Ok(json_reply(StatusCode::OK, to_json(&team)))
}

async fn add_team_member(
    State(twin): Twin,
    Caller(actor): Caller,
    Path(team_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let props = parse_body(&body, "team_member")?;
    let user_id = str_field(&props, "user_id");
    if str_field(&props, "team_id") != team_id {
        return Err(invalid_body("team_id"));
    }
    let mut store = twin.store();
    let team = store.team(&team_id).cloned().ok_or_else(team_not_found)?;
    let actor_is_member = team.members.contains(&actor.id);
    let self_join_open = actor.id == user_id && team.team_type == "O";
    if !actor.is_system_admin() && !actor_is_member && !self_join_open {
        return Err(permission_denied());
    }
    if store.user(&user_id).is_none() {
        return Err(AppError::new(
            "app.user.missing_account.const",
            "Unable to find the user.",
            404,
        ));
    }
    join_team(&mut store, &team_id, &user_id);
    Ok(json_reply(
        StatusCode::CREATED,
        json!({
            "team_id": team_id, "user_id": user_id, "roles": "team_user", "delete_at": 0,
            "scheme_guest": false, "scheme_user": true, "scheme_admin": false, "explicit_roles": "",
        }),
    ))
}

/// Make a user a member of a team and of its default channels.
pub(crate) fn join_team(store: &mut super::store::Store, team_id: &str, user_id: &str) {
    if let Some(t) = store.teams.iter_mut().find(|t| t.id == team_id)
        && !t.members.iter().any(|m| m == user_id)
    {
        t.members.push(user_id.to_string());
    }
    join_default_channels(store, team_id, user_id);
}

pub(crate) fn channel_not_found() -> AppError {
    AppError::new(
        "app.channel.get.existing.app_error",
        "Unable to find the existing channel.",
        404,
    )
}

async fn create_channel(State(twin): Twin, Caller(user): Caller, body: Bytes) -> ApiResult {
    let props = parse_body(&body, "channel")?;
    let team_id = str_field(&props, "team_id");
    let channel = insert_channel(&twin, &user, &team_id, &props)?;
    Ok(json_reply(StatusCode::CREATED, to_json(&channel)))
}

/// Channel creation checks shared with API v3.
pub(crate) fn insert_channel(
    twin: &MattermostTwin,
    user: &User,
    team_id: &str,
    props: &serde_json::Map<String, Value>,
) -> Result<super::store::Channel, AppError> {
    let name = str_field(props, "name");
    let display_name = str_field(props, "display_name");
    let channel_type = str_field(props, "type");
    let mut store = twin.store();
    let team = store.team(team_id).cloned().ok_or_else(team_not_found)?;
    if !user.is_system_admin() && !team.members.contains(&user.id) {
        return Err(permission_denied());
    }
    if !valid_handle(&name) {
        return Err(AppError::new(
            "model.channel.is_valid.2_or_more.app_error",
            "Name must be 2 or more lowercase alphanumeric characters.",
            400,
        ));
    }
    if display_name.is_empty() {
        return Err(AppError::new(
            "model.channel.is_valid.display_name.app_error",
            "Invalid display name.",
            400,
        ));
    }
    if channel_type != "O" && channel_type != "P" {
        return Err(AppError::new(
            "model.channel.is_valid.type.app_error",
            "Invalid type.",
            400,
        ));
    }
    if store.channel_by_name(team_id, &name).is_some() {
        return Err(AppError::new(
            "store.sql_channel.save_channel.exists.app_error",
            "A channel with that name already exists on the same team.",
            400,
        ));
    }
    Ok(store.insert_channel(team_id, &name, &display_name, &channel_type, &user.id))
}

async fn channel_by_name(
    State(twin): Twin,
    Caller(user): Caller,
    Path((team_id, name)): Path<(String, String)>,
) -> ApiResult {
    let store = twin.store();
    let team = store.team(&team_id).cloned().ok_or_else(team_not_found)?;
    if !user.is_system_admin() && !team.members.contains(&user.id) {
        return Err(permission_denied());
    }
    let channel = store
        .channel_by_name(&team_id, &name)
        .cloned()
        .ok_or_else(|| {
            AppError::new(
                "app.channel.get_by_name.missing.app_error",
                "Channel does not exist.",
                404,
            )
        })?;
    Ok(json_reply(StatusCode::OK, to_json(&channel)))
}

/// Whether a user may read a channel: admins; members of the team for open channels; members
/// of the channel otherwise.
pub(crate) fn can_read_channel(
    store: &super::store::Store,
    user: &User,
    channel: &super::store::Channel,
) -> bool {
    if user.is_system_admin() || channel.members.contains(&user.id) {
        return true;
    }
    channel.channel_type == "O"
        && store
            .team(&channel.team_id)
            .is_some_and(|t| t.members.contains(&user.id))
}

/// `PostList` JSON for the posts of one channel, newest first.
pub(crate) fn post_list(store: &super::store::Store, channel_id: &str) -> Value {
    // Newest first; posts of the same millisecond in the reverse order they were stored.
    let mut posts: Vec<_> = store
        .posts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.channel_id == channel_id)
        .collect();
    posts.sort_by_key(|(i, p)| std::cmp::Reverse((p.create_at, *i)));
    let posts: Vec<_> = posts.into_iter().map(|(_, p)| p).collect();
    let order: Vec<&str> = posts.iter().map(|p| p.id.as_str()).collect();
    let map: serde_json::Map<String, Value> =
        posts.iter().map(|p| (p.id.clone(), to_json(p))).collect();
    json!({"order": order, "posts": map, "next_post_id": "", "prev_post_id": "", "has_next": false})
}

async fn channel_posts(
    State(twin): Twin,
    Caller(user): Caller,
    Path(channel_id): Path<String>,
) -> ApiResult {
    let store = twin.store();
    let channel = readable_channel(&store, &user, &channel_id)?;
    Ok(json_reply(StatusCode::OK, post_list(&store, &channel.id)))
}

/// A channel the user may read, else 404 (unknown) or 403.
pub(crate) fn readable_channel(
    store: &super::store::Store,
    user: &User,
    channel_id: &str,
) -> Result<super::store::Channel, AppError> {
    let channel = store
        .channel(channel_id)
        .cloned()
        .ok_or_else(channel_not_found)?;
    if !can_read_channel(store, user, &channel) {
        return Err(permission_denied());
    }
    Ok(channel)
}

/// `EnableIncomingWebhooks` off: 501 on the hook management API.
fn check_incoming_webhooks_enabled(twin: &MattermostTwin) -> Result<(), AppError> {
    if twin.settings().service.enable_incoming_webhooks {
        Ok(())
    } else {
        Err(AppError::new(
            "api.incoming_webhook.disabled.app_error",
            "Incoming webhooks have been disabled by the system admin.",
            501,
        ))
    }
}

/// Incoming webhook creation checks shared with API v3.
pub(crate) fn insert_incoming_hook(
    twin: &MattermostTwin,
    user: &User,
    props: &serde_json::Map<String, Value>,
) -> Result<super::store::IncomingHook, AppError> {
    check_incoming_webhooks_enabled(twin)?;
    let channel_id = str_field(props, "channel_id");
    let mut store = twin.store();
    let channel = store
        .channel(&channel_id)
        .cloned()
        .ok_or_else(channel_not_found)?;
    let team = store
        .team(&channel.team_id)
        .cloned()
        .ok_or_else(team_not_found)?;
    let is_team_member = team.members.contains(&user.id);
    if !user.is_system_admin() && !is_team_member {
        return Err(permission_denied());
    }
    if channel.channel_type != "O" && !user.is_system_admin() && !channel.members.contains(&user.id)
    {
        return Err(permission_denied());
    }
    let now = now_millis();
    let hook = super::store::IncomingHook {
        id: super::store::new_id(),
        create_at: now,
        update_at: now,
        delete_at: 0,
        user_id: user.id.clone(),
        channel_id,
        team_id: channel.team_id.clone(),
        display_name: str_field(props, "display_name"),
        description: str_field(props, "description"),
        username: str_field(props, "username"),
        icon_url: str_field(props, "icon_url"),
        channel_locked: props
            .get("channel_locked")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    store.hooks.push(hook.clone());
    Ok(hook)
}

async fn create_incoming_hook(State(twin): Twin, Caller(user): Caller, body: Bytes) -> ApiResult {
    let props = parse_body(&body, "incoming_webhook")?;
    let hook = insert_incoming_hook(&twin, &user, &props)?;
    Ok(json_reply(StatusCode::CREATED, to_json(&hook)))
}

async fn list_incoming_hooks(
    State(twin): Twin,
    Caller(user): Caller,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let team_filter = q.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "team_id")
            .map(|(_, v)| v.into_owned())
    });
    let hooks = visible_hooks(&twin, &user, team_filter.as_deref());
    Ok(json_reply(StatusCode::OK, hooks))
}

/// The incoming hooks a user may see (admins all, others their own), of one team or all.
pub(crate) fn visible_hooks(twin: &MattermostTwin, user: &User, team_id: Option<&str>) -> Value {
    let store = twin.store();
    let hooks: Vec<Value> = store
        .hooks
        .iter()
        .filter(|h| team_id.is_none_or(|t| h.team_id == t))
        .filter(|h| user.is_system_admin() || h.user_id == user.id)
        .map(to_json)
        .collect();
    Value::Array(hooks)
}

async fn delete_incoming_hook(
    State(twin): Twin,
    Caller(user): Caller,
    Path(hook_id): Path<String>,
) -> ApiResult {
    check_incoming_webhooks_enabled(&twin)?;
    let mut store = twin.store();
    let hook = store.hook(&hook_id).cloned().ok_or_else(|| {
        AppError::new(
            "app.webhooks.get_incoming.app_error",
            "Unable to get the webhook.",
            404,
        )
    })?;
    if !user.is_system_admin() && hook.user_id != user.id {
        return Err(permission_denied());
    }
    store.hooks.retain(|h| h.id != hook_id);
    Ok(json_reply(StatusCode::OK, json!({"status": "OK"})))
}

async fn get_config(State(twin): Twin, Caller(user): Caller) -> ApiResult {
    require_admin(&user)?;
    Ok(json_reply(
        StatusCode::OK,
        config_json::to_json(&twin.settings(), true),
    ))
}

async fn update_config(State(twin): Twin, Caller(user): Caller, body: Bytes) -> ApiResult {
    let updated = save_config_document(&twin, &user, &body)?;
    Ok(json_reply(
        StatusCode::OK,
        config_json::to_json(&updated, true),
    ))
}

/// An admin's config document applied to the current settings (env-set keys kept) and saved.
pub(crate) fn save_config_document(
    twin: &MattermostTwin,
    user: &User,
    body: &Bytes,
) -> Result<crate::config::model::MattermostSettings, AppError> {
    require_admin(user)?;
    let doc: Value = serde_json::from_slice(body).map_err(|_| invalid_body("config"))?;
    let updated = config_json::apply_json(&twin.settings(), &doc, &twin.env_overrides)?;
    twin.update_settings(|s| *s = updated.clone());
    Ok(updated)
}

async fn config_environment(State(twin): Twin, Caller(user): Caller) -> ApiResult {
    require_admin(&user)?;
    Ok(json_reply(
        StatusCode::OK,
        config_json::environment_map(&twin.env_overrides),
    ))
}

async fn test_email(
    State(twin): Twin,
    Caller(user): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    require_admin(&user)?;
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    email::test_email(&twin, &user, body.as_ref(), &headers).await?;
    Ok(json_reply(StatusCode::OK, json!({"status": "OK"})))
}
