//! The REST API v3 subset of Mattermost 3.4 a harness needs (api/*.go of 3.4): ping, login,
//! users, teams, channels, incoming hooks, posts, admin config and the test email. `/api/v4` does
//! not exist on this profile (its paths answer the JSON 404).
//!
//! Owns: the `/api/v3/*` routes other than SSO. The checks are shared with API v4 where 3.4
//! behaved the same; errors carry the 3.x JSON shape (with `is_oauth`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::api4::{
    ApiResult, authenticate, can_read_channel, check_email_sign_up_allowed, insert_channel,
    insert_email_user, insert_incoming_hook, join_default_channels, join_team, parse_body,
    post_list, readable_channel, require_admin, save_config_document, str_field, to_json,
    user_json, valid_handle, visible_hooks,
};
use super::config_json;
use super::email;
use super::error::AppError;
use super::store::now_millis;
use super::twin::{Caller, MattermostTwin, MaybeCaller, permission_denied};

type Twin = State<Arc<MattermostTwin>>;

/// The `/api/v3` routes.
pub fn routes() -> Router<Arc<MattermostTwin>> {
    Router::new()
        .route("/api/v3/general/ping", get(ping))
        .route("/api/v3/users/login", post(login))
        .route("/api/v3/users/create", post(create_user))
        .route("/api/v3/users/me", get(me))
        .route("/api/v3/teams/create", post(create_team))
        .route("/api/v3/teams/all", get(all_teams))
        .route("/api/v3/teams/find_team_by_name", post(find_team_by_name))
        .route(
            "/api/v3/teams/{team_id}/add_user_to_team",
            post(add_user_to_team),
        )
        .route(
            "/api/v3/teams/{team_id}/channels/create",
            post(create_channel),
        )
        .route(
            "/api/v3/teams/{team_id}/channels/name/{name}",
            get(channel_by_name),
        )
        .route(
            "/api/v3/teams/{team_id}/hooks/incoming/create",
            post(create_hook),
        )
        .route(
            "/api/v3/teams/{team_id}/hooks/incoming/list",
            get(list_hooks),
        )
        .route(
            "/api/v3/teams/{team_id}/channels/{channel_id}/posts/page/{offset}/{limit}",
            get(posts),
        )
        .route("/api/v3/admin/config", get(get_config))
        .route("/api/v3/admin/save_config", post(save_config))
        .route("/api/v3/admin/test_email", post(test_email))
}

fn ok_json(value: Value) -> Response {
    (StatusCode::OK, axum::Json(value)).into_response()
}

async fn ping(State(twin): Twin) -> Response {
    ok_json(json!({
        "version": twin.settings().version.to_string(),
        "server_time": now_millis().to_string(),
    }))
}

async fn login(State(twin): Twin, headers: HeaderMap, body: Bytes) -> ApiResult {
    let props = parse_body(&body, "login_id")?;
    let user = authenticate(
        &twin,
        &str_field(&props, "login_id"),
        &str_field(&props, "password"),
    )?;
    let session = twin.store().create_session(&user.id);
    let mut resp = ok_json(user_json(&user, true));
    if let Ok(v) = HeaderValue::from_str(&session.token) {
        resp.headers_mut().insert("token", v);
    }
    let secure = super::twin::protocol(&headers) == "https";
    let cookie = super::sso::session_cookie_v3(&session.token, secure);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
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
        check_email_sign_up_allowed(&twin)?;
    }
    let user = insert_email_user(&twin, &props)?;
    email::send_welcome_email(&twin, &user, &headers);
    Ok(ok_json(user_json(&user, true)))
}

/// `GET /api/v3/users/me`: registered with `ApiAppHandler` (no session required) and `getMe`
/// starts `if len(c.Session.UserId) == 0 { return }` (api/user.go v3.4.0:826-830), so without a
/// (valid) session the answer is 200 with an empty body, not a 401.
async fn me(MaybeCaller(user): MaybeCaller) -> ApiResult {
    match user {
        Some(user) => Ok(ok_json(user_json(&user, true))),
        None => Ok(StatusCode::OK.into_response()),
    }
}

async fn create_team(State(twin): Twin, Caller(user): Caller, body: Bytes) -> ApiResult {
    let props = parse_body(&body, "team")?;
    let name = str_field(&props, "name");
    if !valid_handle(&name) {
        return Err(AppError::new(
            "model.team.is_valid.characters.app_error",
            "Name must be 2 or more lowercase alphanumeric characters",
            400,
        ));
    }
    let mut store = twin.store();
    if store.team_by_name(&name).is_some() {
        return Err(AppError::new(
            "store.sql_team.save.domain_exists.app_error",
            "A team with that domain already exists",
            400,
        ));
    }
    let team_type = match str_field(&props, "type").as_str() {
        "I" => "I",
        _ => "O",
    };
    let team = store.insert_team(
        &name,
        &str_field(&props, "display_name"),
        team_type,
        &user.id,
    );
    join_default_channels(&mut store, &team.id, &user.id);
    Ok(ok_json(to_json(&team)))
}

async fn all_teams(State(twin): Twin, _: Caller) -> ApiResult {
    let store = twin.store();
    let map: serde_json::Map<String, Value> = store
        .teams
        .iter()
        .map(|t| (t.id.clone(), to_json(t)))
        .collect();
    Ok(ok_json(Value::Object(map)))
}

async fn find_team_by_name(State(twin): Twin, _: Caller, body: Bytes) -> ApiResult {
    let props = parse_body(&body, "name")?;
    let found = twin
        .store()
        .team_by_name(&str_field(&props, "name"))
        .is_some();
    Ok(ok_json(Value::Bool(found)))
}

async fn add_user_to_team(
    State(twin): Twin,
    Caller(actor): Caller,
    Path(team_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let props = parse_body(&body, "user_id")?;
    let user_id = str_field(&props, "user_id");
    let mut store = twin.store();
    let team = store.team(&team_id).cloned().ok_or_else(|| {
        AppError::new(
            "store.sql_team.get.find.app_error",
            "We couldn't find the existing team",
            404,
        )
    })?;
    if !actor.is_system_admin() && !team.members.contains(&actor.id) {
        return Err(permission_denied());
    }
    if store.user(&user_id).is_none() {
        return Err(AppError::new(
            "store.sql_user.missing_account.const",
            "We couldn't find an existing account matching your email address for this team. This team may require an invite from the team owner to join.",
            404,
        ));
    }
    join_team(&mut store, &team_id, &user_id);
    Ok(ok_json(json!({"team_id": team_id, "user_id": user_id})))
}

async fn create_channel(
    State(twin): Twin,
    Caller(user): Caller,
    Path(team_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let props = parse_body(&body, "channel")?;
    let channel = insert_channel(&twin, &user, &team_id, &props)?;
    Ok(ok_json(to_json(&channel)))
}

async fn channel_by_name(
    State(twin): Twin,
    Caller(user): Caller,
    Path((team_id, name)): Path<(String, String)>,
) -> ApiResult {
    let store = twin.store();
    let channel = store
        .channel_by_name(&team_id, &name)
        .cloned()
        .ok_or_else(|| {
            AppError::new(
                "store.sql_channel.get_by_name.missing.app_error",
                "Channel does not exist",
                404,
            )
        })?;
    if !can_read_channel(&store, &user, &channel) {
        return Err(permission_denied());
    }
    Ok(ok_json(to_json(&channel)))
}

async fn create_hook(State(twin): Twin, Caller(user): Caller, body: Bytes) -> ApiResult {
    let props = parse_body(&body, "incoming_webhook")?;
    let hook = insert_incoming_hook(&twin, &user, &props)?;
    Ok(ok_json(to_json(&hook)))
}

async fn list_hooks(
    State(twin): Twin,
    Caller(user): Caller,
    Path(team_id): Path<String>,
) -> ApiResult {
    Ok(ok_json(visible_hooks(&twin, &user, Some(&team_id))))
}

async fn posts(
    State(twin): Twin,
    Caller(user): Caller,
    Path((_team_id, channel_id, _offset, _limit)): Path<(String, String, String, String)>,
) -> ApiResult {
    let store = twin.store();
    readable_channel(&store, &user, &channel_id)?;
    let mut list = post_list(&store, &channel_id);
    if let Value::Object(m) = &mut list {
        m.remove("next_post_id");
        m.remove("prev_post_id");
        m.remove("has_next");
    }
    Ok(ok_json(list))
}

async fn get_config(State(twin): Twin, Caller(user): Caller) -> ApiResult {
    require_admin(&user)?;
    Ok(ok_json(config_json::to_json(&twin.settings(), true)))
}

async fn save_config(State(twin): Twin, Caller(user): Caller, body: Bytes) -> ApiResult {
    save_config_document(&twin, &user, &body)?;
    Ok(ok_json(json!({"status": "OK"})))
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
    Ok(ok_json(json!({"SUCCESS": "true"})))
}
