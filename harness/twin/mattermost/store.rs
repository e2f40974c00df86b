//! The twin Mattermost's database: users, sessions, teams, channels, posts, incoming webhooks and
//! OAuth state tokens, in memory.
//!
//! Owns: the records and their JSON shapes (the field names of Mattermost's `model.User`,
//! `model.Team`, `model.Channel`, `model.Post`, `model.IncomingWebhook`), id generation
//! (`model.NewId`: 26 characters of Mattermost's base32 alphabet), and the lookups the handlers
//! need. No HTTP here.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng as _;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::model::Secret;

/// Mattermost's id alphabet (`model.NewId`, base32 with this encoding, lower case).
const ID_ALPHABET: &[u8] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// A new 26-character Mattermost id.
pub fn new_id() -> String {
    random_string(26)
}

/// A random string over the id alphabet (state tokens are 64 characters).
pub fn random_string(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())] as char)
        .collect()
}

/// Milliseconds since the epoch (`model.GetMillis`).
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// bcrypt cost used for stored passwords. Mattermost uses 10; the twin uses bcrypt's minimum so
/// start-up and sign-in stay in the millisecond range. The hash format (`$2b$`) is the same.
pub const BCRYPT_COST: u32 = 4;

/// `model.User`.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub username: String,
    /// bcrypt hash; a `Secret` so no Debug output shows it.
    #[serde(skip)]
    pub password_hash: Secret,
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

impl User {
    pub fn is_system_admin(&self) -> bool {
        self.roles.split(' ').any(|r| r == "system_admin")
    }
}

/// `model.Session` (the parts the twin uses). Its Debug output leaves out the token and the CSRF
/// token, which are credentials.
#[derive(Clone)]
pub struct Session {
    pub token: String,
    pub user_id: String,
    pub csrf: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("token", &crate::config::model::REDACTED)
            .field("user_id", &self.user_id)
            .field("csrf", &crate::config::model::REDACTED)
            .finish()
    }
}

/// `model.Team`.
#[derive(Debug, Clone, Serialize)]
pub struct Team {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub display_name: String,
    pub name: String,
    pub description: String,
    pub email: String,
    #[serde(rename = "type")]
    pub team_type: String,
    pub allow_open_invite: bool,
    #[serde(skip)]
    pub members: Vec<String>,
}

/// `model.Channel`.
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub team_id: String,
    #[serde(rename = "type")]
    pub channel_type: String,
    pub display_name: String,
    pub name: String,
    pub header: String,
    pub purpose: String,
    pub creator_id: String,
    #[serde(skip)]
    pub members: Vec<String>,
}

/// `model.Post`.
#[derive(Debug, Clone, Serialize)]
pub struct Post {
    pub id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub edit_at: i64,
    pub delete_at: i64,
    pub user_id: String,
    pub channel_id: String,
    pub root_id: String,
    pub message: String,
    #[serde(rename = "type")]
    pub post_type: String,
    pub props: Map<String, Value>,
    pub hashtags: String,
}

/// `model.IncomingWebhook`.
#[derive(Debug, Clone, Serialize)]
pub struct IncomingHook {
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

/// `model.Token` of type `oauth`: the state token of one SSO attempt.
#[derive(Debug, Clone)]
pub struct StateToken {
    pub extra: String,
    pub create_at: i64,
}

/// `model.Token` of type `verify_email`: an email verification link's token (10.x `token=`,
/// 3.4 `hid=`), for the user and address it was sent to.
#[derive(Debug, Clone)]
pub struct EmailToken {
    pub user_id: String,
    pub email: String,
    pub create_at: i64,
}

/// The whole database (its Debug shows counts only: sessions and state tokens are keyed by their
/// secret values).
/// `Clone` is `pg_dump` and its restore: every table, as it is ([`super::moveout`]).
#[derive(Default, Clone)]
pub struct Store {
    pub users: Vec<User>,
    pub sessions: HashMap<String, Session>,
    pub teams: Vec<Team>,
    pub channels: Vec<Channel>,
    pub posts: Vec<Post>,
    pub hooks: Vec<IncomingHook>,
    pub state_tokens: HashMap<String, StateToken>,
    /// Email verification tokens, by token.
    pub email_tokens: HashMap<String, EmailToken>,
}

/// Counts only: sessions and tokens are keyed by their secret values.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("users", &self.users.len())
            .field("sessions", &self.sessions.len())
            .field("teams", &self.teams.len())
            .field("channels", &self.channels.len())
            .field("posts", &self.posts.len())
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }
    pub fn user_by_username(&self, name: &str) -> Option<&User> {
        let name = name.to_lowercase();
        self.users.iter().find(|u| u.username == name)
    }
    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        let email = email.to_lowercase();
        self.users.iter().find(|u| u.email == email)
    }
    pub fn user_by_auth(&self, service: &str, auth_data: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.auth_service == service && u.auth_data == auth_data)
    }
    pub fn team(&self, id: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.id == id)
    }
    pub fn team_by_name(&self, name: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.name == name)
    }
    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }
    pub fn channel_by_name(&self, team_id: &str, name: &str) -> Option<&Channel> {
        self.channels
            .iter()
            .find(|c| c.team_id == team_id && c.name == name)
    }
    pub fn hook(&self, id: &str) -> Option<&IncomingHook> {
        self.hooks.iter().find(|h| h.id == id)
    }

    /// A new user record with Mattermost's defaults.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_user(
        &mut self,
        username: &str,
        email: &str,
        password_hash: String,
        auth_service: &str,
        auth_data: &str,
        first_name: &str,
        last_name: &str,
        roles: &str,
        email_verified: bool,
    ) -> User {
        let now = now_millis();
        let user = User {
            id: new_id(),
            create_at: now,
            update_at: now,
            delete_at: 0,
            username: username.to_lowercase(),
            password_hash: Secret::new(password_hash),
            auth_data: auth_data.to_string(),
            auth_service: auth_service.to_string(),
            email: email.to_lowercase(),
            email_verified,
            nickname: String::new(),
            first_name: first_name.to_string(),
            last_name: last_name.to_string(),
            position: String::new(),
            roles: roles.to_string(),
            locale: "en".to_string(),
        };
        self.users.push(user.clone());
        user
    }

    /// A new session for a user.
    pub fn create_session(&mut self, user_id: &str) -> Session {
        let session = Session {
            token: new_id(),
            user_id: user_id.to_string(),
            csrf: new_id(),
        };
        self.sessions.insert(session.token.clone(), session.clone());
        session
    }

    /// A team with its two default channels, as `CreateTeam` + `JoinDefaultChannels` make it.
    pub fn insert_team(
        &mut self,
        name: &str,
        display_name: &str,
        team_type: &str,
        creator: &str,
    ) -> Team {
        let now = now_millis();
        let team = Team {
            id: new_id(),
            create_at: now,
            update_at: now,
            delete_at: 0,
            display_name: display_name.to_string(),
            name: name.to_string(),
            description: String::new(),
            email: String::new(),
            team_type: team_type.to_string(),
            allow_open_invite: team_type == "O",
            members: vec![creator.to_string()],
        };
        self.teams.push(team.clone());
        for (cname, cdisplay) in [("town-square", "Town Square"), ("off-topic", "Off-Topic")] {
            self.insert_channel(&team.id, cname, cdisplay, "O", "");
        }
        team
    }

    pub fn insert_channel(
        &mut self,
        team_id: &str,
        name: &str,
        display_name: &str,
        channel_type: &str,
        creator: &str,
    ) -> Channel {
        let now = now_millis();
        let channel = Channel {
            id: new_id(),
            create_at: now,
            update_at: now,
            delete_at: 0,
            team_id: team_id.to_string(),
            channel_type: channel_type.to_string(),
            display_name: display_name.to_string(),
            name: name.to_string(),
            header: String::new(),
            purpose: String::new(),
            creator_id: creator.to_string(),
            members: if creator.is_empty() {
                Vec::new()
            } else {
                vec![creator.to_string()]
            },
        };
        self.channels.push(channel.clone());
        channel
    }

    /// The direct channel between two users (`GetOrCreateDirectChannel`): name `<id>__<id>`,
    /// ids sorted, type `D`, no team.
    pub fn direct_channel(&mut self, a: &str, b: &str) -> Channel {
        let (first, second) = if a < b { (a, b) } else { (b, a) };
        let name = format!("{first}__{second}");
        if let Some(c) = self
            .channels
            .iter()
            .find(|c| c.channel_type == "D" && c.name == name)
        {
            return c.clone();
        }
        let mut channel = self.insert_channel("", &name, "", "D", a);
        channel.members = vec![a.to_string(), b.to_string()];
        if let Some(c) = self.channels.iter_mut().find(|c| c.id == channel.id) {
            c.members = channel.members.clone();
        }
        channel
    }

    pub fn insert_post(
        &mut self,
        user_id: &str,
        channel_id: &str,
        message: &str,
        post_type: &str,
        props: Map<String, Value>,
    ) -> Post {
        let now = now_millis();
        let post = Post {
            id: new_id(),
            create_at: now,
            update_at: now,
            edit_at: 0,
            delete_at: 0,
            user_id: user_id.to_string(),
            channel_id: channel_id.to_string(),
            root_id: String::new(),
            message: message.to_string(),
            post_type: post_type.to_string(),
            props,
            hashtags: String::new(),
        };
        self.posts.push(post.clone());
        post
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_mattermost_shape() {
        let id = new_id();
        assert_eq!(id.len(), 26);
        assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)));
        assert_ne!(new_id(), id);
    }

    #[test]
    fn teams_come_with_default_channels_and_direct_channels_are_shared() {
        let mut store = Store::default();
        let team = store.insert_team("dev", "Dev", "O", "u1");
        assert!(store.channel_by_name(&team.id, "town-square").is_some());
        assert!(store.channel_by_name(&team.id, "off-topic").is_some());
        let d1 = store.direct_channel("b", "a");
        let d2 = store.direct_channel("a", "b");
        assert_eq!(d1.id, d2.id);
        assert_eq!(d1.name, "a__b");
    }
}
