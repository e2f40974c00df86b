//! The twin Mattermost's database on disk: [`MattermostState`], what `twin serve` keeps under
//! `/var/opt/gitlab` (omnibus keeps Mattermost's PostgreSQL database in
//! `/var/opt/gitlab/postgresql`) so a container created again on the same volumes finds its
//! users, teams, channels, posts, hooks and sessions, and — for the 3.x releases GitLab 8.9–8.12
//! bundled — its schema with the `Systems` version row, on which a newer release then replays its
//! start-up migrations ([`super::schema::start`]).
//!
//! Owns: the serialised shape and the conversions to and from [`Store`] and [`SchemaState`]; the
//! config.json the server ran with is kept beside them (`config`, for inspection: omnibus renders
//! it again from gitlab.rb at every reconfigure). File handling is `twin::persist`'s.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::model::Secret;

use super::schema::{Column, Database, Preference, Release, UserRow};
use super::store::{
    Channel, EmailToken, IncomingHook, Post, Session, StateToken, Store, Team, User,
};
use super::upgrade::SchemaState;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserState {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub username: String,
    pub password_hash: String,
    pub auth_data: String,
    pub auth_service: String,
    pub email: String,
    pub email_verified: bool,
    pub nickname: String,
    pub first_name: String,
    pub last_name: String,
    pub position: String,
    pub roles: String,
    pub locale: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamState {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub display_name: String,
    pub name: String,
    pub description: String,
    pub email: String,
    pub team_type: String,
    pub allow_open_invite: bool,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelState {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub team_id: String,
    pub channel_type: String,
    pub display_name: String,
    pub name: String,
    pub header: String,
    pub purpose: String,
    pub creator_id: String,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostState {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub edit_at: i64,
    pub delete_at: i64,
    pub user_id: String,
    pub channel_id: String,
    pub root_id: String,
    pub message: String,
    pub post_type: String,
    pub props: Map<String, Value>,
    pub hashtags: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookState {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub user_id: String,
    pub channel_id: String,
    pub team_id: String,
    pub display_name: String,
    pub description: String,
    pub username: String,
    pub icon_url: String,
    pub channel_locked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    pub token: String,
    pub user_id: String,
    pub csrf: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenState {
    pub token: String,
    /// `oauth` (an SSO state token) or `verify_email`.
    pub kind: String,
    pub extra: String,
    pub user_id: String,
    pub email: String,
    pub create_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThemeRowState {
    pub id: String,
    pub username: String,
    pub theme_props: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreferenceState {
    pub user_id: String,
    pub category: String,
    pub name: String,
    pub value: String,
}

/// The 3.x schema facts ([`Database`]) and the release that last started on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaStateFile {
    /// `3.1.0` … `3.4.0`.
    pub release: String,
    /// The `Systems` row `Version`.
    pub version: Option<String>,
    pub columns: Vec<String>,
    pub users: Vec<ThemeRowState>,
    pub preferences: Vec<PreferenceState>,
}

/// Mattermost's database as `twin serve` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MattermostState {
    /// The id of the seeded system admin.
    pub admin_id: String,
    pub users: Vec<UserState>,
    pub teams: Vec<TeamState>,
    pub channels: Vec<ChannelState>,
    pub posts: Vec<PostState>,
    pub hooks: Vec<HookState>,
    pub sessions: Vec<SessionState>,
    pub tokens: Vec<TokenState>,
    pub schema: SchemaStateFile,
    /// The config.json the server last ran with (secrets included, as on disk in omnibus).
    pub config: Value,
}

fn column_name(c: Column) -> String {
    format!("{c:?}")
}

fn column_by_name(name: &str) -> Option<Column> {
    Column::ALL.into_iter().find(|c| column_name(*c) == name)
}

impl SchemaStateFile {
    pub fn of(s: &SchemaState) -> SchemaStateFile {
        SchemaStateFile {
            release: s.release.version().to_string(),
            version: s.db.version.clone(),
            columns: s.db.columns.iter().map(|c| column_name(*c)).collect(),
            users: s
                .db
                .users
                .iter()
                .map(|u| ThemeRowState {
                    id: u.id.clone(),
                    username: u.username.clone(),
                    theme_props: u.theme_props.clone(),
                })
                .collect(),
            preferences: s
                .db
                .preferences
                .iter()
                .map(|p| PreferenceState {
                    user_id: p.user_id.clone(),
                    category: p.category.clone(),
                    name: p.name.clone(),
                    value: p.value.clone(),
                })
                .collect(),
        }
    }

    pub fn to_schema(&self) -> Result<SchemaState, String> {
        let release = Release::parse(&self.release).ok_or_else(|| {
            format!(
                "mattermost.schema.release {:?} is not a 3.1–3.4 release",
                self.release
            )
        })?;
        let mut columns = BTreeSet::new();
        for c in &self.columns {
            columns.insert(
                column_by_name(c)
                    .ok_or_else(|| format!("mattermost.schema.columns: unknown column {c:?}"))?,
            );
        }
        Ok(SchemaState {
            release,
            db: Database {
                version: self.version.clone(),
                columns,
                users: self
                    .users
                    .iter()
                    .map(|u| UserRow {
                        id: u.id.clone(),
                        username: u.username.clone(),
                        theme_props: u.theme_props.clone(),
                    })
                    .collect(),
                preferences: self
                    .preferences
                    .iter()
                    .map(|p| Preference {
                        user_id: p.user_id.clone(),
                        category: p.category.clone(),
                        name: p.name.clone(),
                        value: p.value.clone(),
                    })
                    .collect(),
            },
            halted: None,
        })
    }
}

impl MattermostState {
    /// Capture a store, its schema and config.json.
    pub fn capture(
        store: &Store,
        admin_id: &str,
        schema: &SchemaState,
        config: Value,
    ) -> MattermostState {
        let mut sessions: Vec<SessionState> = store
            .sessions
            .values()
            .map(|s| SessionState {
                token: s.token.clone(),
                user_id: s.user_id.clone(),
                csrf: s.csrf.clone(),
            })
            .collect();
        sessions.sort_by(|a, b| a.token.cmp(&b.token));
        let mut tokens: Vec<TokenState> = store
            .state_tokens
            .iter()
            .map(|(t, s)| TokenState {
                token: t.clone(),
                kind: "oauth".into(),
                extra: s.extra.clone(),
                user_id: String::new(),
                email: String::new(),
                create_at: s.create_at,
            })
            .chain(store.email_tokens.iter().map(|(t, e)| TokenState {
                token: t.clone(),
                kind: "verify_email".into(),
                extra: String::new(),
                user_id: e.user_id.clone(),
                email: e.email.clone(),
                create_at: e.create_at,
            }))
            .collect();
        tokens.sort_by(|a, b| a.token.cmp(&b.token));
        MattermostState {
            admin_id: admin_id.to_string(),
            users: store
                .users
                .iter()
                .map(|u| UserState {
                    id: u.id.clone(),
                    create_at: u.create_at,
                    update_at: u.update_at,
                    delete_at: u.delete_at,
                    username: u.username.clone(),
                    password_hash: u.password_hash.expose().to_string(),
                    auth_data: u.auth_data.clone(),
                    auth_service: u.auth_service.clone(),
                    email: u.email.clone(),
                    email_verified: u.email_verified,
                    nickname: u.nickname.clone(),
                    first_name: u.first_name.clone(),
                    last_name: u.last_name.clone(),
                    position: u.position.clone(),
                    roles: u.roles.clone(),
                    locale: u.locale.clone(),
                })
                .collect(),
            teams: store
                .teams
                .iter()
                .map(|t| TeamState {
                    id: t.id.clone(),
                    create_at: t.create_at,
                    update_at: t.update_at,
                    delete_at: t.delete_at,
                    display_name: t.display_name.clone(),
                    name: t.name.clone(),
                    description: t.description.clone(),
                    email: t.email.clone(),
                    team_type: t.team_type.clone(),
                    allow_open_invite: t.allow_open_invite,
                    members: t.members.clone(),
                })
                .collect(),
            channels: store
                .channels
                .iter()
                .map(|c| ChannelState {
                    id: c.id.clone(),
                    create_at: c.create_at,
                    update_at: c.update_at,
                    delete_at: c.delete_at,
                    team_id: c.team_id.clone(),
                    channel_type: c.channel_type.clone(),
                    display_name: c.display_name.clone(),
                    name: c.name.clone(),
                    header: c.header.clone(),
                    purpose: c.purpose.clone(),
                    creator_id: c.creator_id.clone(),
                    members: c.members.clone(),
                })
                .collect(),
            posts: store
                .posts
                .iter()
                .map(|p| PostState {
                    id: p.id.clone(),
                    create_at: p.create_at,
                    update_at: p.update_at,
                    edit_at: p.edit_at,
                    delete_at: p.delete_at,
                    user_id: p.user_id.clone(),
                    channel_id: p.channel_id.clone(),
                    root_id: p.root_id.clone(),
                    message: p.message.clone(),
                    post_type: p.post_type.clone(),
                    props: p.props.clone(),
                    hashtags: p.hashtags.clone(),
                })
                .collect(),
            hooks: store
                .hooks
                .iter()
                .map(|h| HookState {
                    id: h.id.clone(),
                    create_at: h.create_at,
                    update_at: h.update_at,
                    delete_at: h.delete_at,
                    user_id: h.user_id.clone(),
                    channel_id: h.channel_id.clone(),
                    team_id: h.team_id.clone(),
                    display_name: h.display_name.clone(),
                    description: h.description.clone(),
                    username: h.username.clone(),
                    icon_url: h.icon_url.clone(),
                    channel_locked: h.channel_locked,
                })
                .collect(),
            sessions,
            tokens,
            schema: SchemaStateFile::of(schema),
            config,
        }
    }

    /// The store the state describes; an error names what does not hold.
    pub fn to_store(&self) -> Result<Store, String> {
        if !self.users.iter().any(|u| u.id == self.admin_id) {
            return Err(format!(
                "mattermost.admin_id {:?} names no user",
                self.admin_id
            ));
        }
        let mut email_tokens = HashMap::new();
        let mut state_tokens = HashMap::new();
        for t in &self.tokens {
            match t.kind.as_str() {
                "oauth" => {
                    state_tokens.insert(
                        t.token.clone(),
                        StateToken {
                            extra: t.extra.clone(),
                            create_at: t.create_at,
                        },
                    );
                }
                "verify_email" => {
                    email_tokens.insert(
                        t.token.clone(),
                        EmailToken {
                            user_id: t.user_id.clone(),
                            email: t.email.clone(),
                            create_at: t.create_at,
                        },
                    );
                }
                other => return Err(format!("mattermost.tokens: unknown kind {other:?}")),
            }
        }
        Ok(Store {
            users: self
                .users
                .iter()
                .map(|u| User {
                    id: u.id.clone(),
                    create_at: u.create_at,
                    update_at: u.update_at,
                    delete_at: u.delete_at,
                    username: u.username.clone(),
                    password_hash: Secret::new(u.password_hash.clone()),
                    auth_data: u.auth_data.clone(),
                    auth_service: u.auth_service.clone(),
                    email: u.email.clone(),
                    email_verified: u.email_verified,
                    nickname: u.nickname.clone(),
                    first_name: u.first_name.clone(),
                    last_name: u.last_name.clone(),
                    position: u.position.clone(),
                    roles: u.roles.clone(),
                    locale: u.locale.clone(),
                })
                .collect(),
            sessions: self
                .sessions
                .iter()
                .map(|s| {
                    (
                        s.token.clone(),
                        Session {
                            token: s.token.clone(),
                            user_id: s.user_id.clone(),
                            csrf: s.csrf.clone(),
                        },
                    )
                })
                .collect(),
            teams: self
                .teams
                .iter()
                .map(|t| Team {
                    id: t.id.clone(),
                    create_at: t.create_at,
                    update_at: t.update_at,
                    delete_at: t.delete_at,
                    display_name: t.display_name.clone(),
                    name: t.name.clone(),
                    description: t.description.clone(),
                    email: t.email.clone(),
                    team_type: t.team_type.clone(),
                    allow_open_invite: t.allow_open_invite,
                    members: t.members.clone(),
                })
                .collect(),
            channels: self
                .channels
                .iter()
                .map(|c| Channel {
                    id: c.id.clone(),
                    create_at: c.create_at,
                    update_at: c.update_at,
                    delete_at: c.delete_at,
                    team_id: c.team_id.clone(),
                    channel_type: c.channel_type.clone(),
                    display_name: c.display_name.clone(),
                    name: c.name.clone(),
                    header: c.header.clone(),
                    purpose: c.purpose.clone(),
                    creator_id: c.creator_id.clone(),
                    members: c.members.clone(),
                })
                .collect(),
            posts: self
                .posts
                .iter()
                .map(|p| Post {
                    id: p.id.clone(),
                    create_at: p.create_at,
                    update_at: p.update_at,
                    edit_at: p.edit_at,
                    delete_at: p.delete_at,
                    user_id: p.user_id.clone(),
                    channel_id: p.channel_id.clone(),
                    root_id: p.root_id.clone(),
                    message: p.message.clone(),
                    post_type: p.post_type.clone(),
                    props: p.props.clone(),
                    hashtags: p.hashtags.clone(),
                })
                .collect(),
            hooks: self
                .hooks
                .iter()
                .map(|h| IncomingHook {
                    id: h.id.clone(),
                    create_at: h.create_at,
                    update_at: h.update_at,
                    delete_at: h.delete_at,
                    user_id: h.user_id.clone(),
                    channel_id: h.channel_id.clone(),
                    team_id: h.team_id.clone(),
                    display_name: h.display_name.clone(),
                    description: h.description.clone(),
                    username: h.username.clone(),
                    icon_url: h.icon_url.clone(),
                    channel_locked: h.channel_locked,
                })
                .collect(),
            state_tokens,
            email_tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_and_its_schema_survive_their_state() {
        let mut store = Store::default();
        let admin = store.insert_user(
            "sysadmin",
            "sysadmin@example.com",
            "$2b$04$hash".into(),
            "",
            "",
            "",
            "",
            "system_admin system_user",
            true,
        );
        let alice = store.insert_user(
            "alice",
            "alice@example.com",
            String::new(),
            "gitlab",
            "2",
            "",
            "",
            "system_user",
            true,
        );
        let team = store.insert_team("engineering", "Engineering", "O", &alice.id);
        store.create_session(&alice.id);
        let mut schema = SchemaState::installed_by(Release::V3_2);
        schema.sync_users(&store);
        schema
            .db
            .users
            .iter_mut()
            .for_each(|u| u.theme_props = "{\"sidebarBg\":\"#000\"}".into());
        let state = MattermostState::capture(&store, &admin.id, &schema, Value::Null);
        let text = serde_json::to_string(&state).unwrap();
        let back: MattermostState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, state);
        let again = back.to_store().unwrap();
        assert_eq!(again.users.len(), 2);
        assert_eq!(
            again.team(&team.id).unwrap().members,
            vec![alice.id.clone()]
        );
        assert_eq!(again.channels.len(), store.channels.len());
        assert_eq!(again.sessions.len(), 1);
        assert_eq!(
            again.user(&admin.id).unwrap().password_hash.expose(),
            "$2b$04$hash"
        );
        let schema_again = back.schema.to_schema().unwrap();
        assert_eq!(schema_again.release, Release::V3_2);
        assert_eq!(schema_again.db, schema.db);
        // What does not hold is named.
        let mut bad = state.clone();
        bad.schema.columns.push("Users.Nope".into());
        assert!(bad.schema.to_schema().unwrap_err().contains("Users.Nope"));
        bad = state.clone();
        bad.admin_id = "nobody".into();
        assert!(bad.to_store().err().is_some_and(|e| e.contains("admin_id")));
    }
}
