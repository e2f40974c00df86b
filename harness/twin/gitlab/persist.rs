//! The GitLab twin's database on disk: [`GitlabState`], what `twin serve` keeps under
//! `/var/opt/gitlab` (where omnibus keeps PostgreSQL and Redis) so a container created again on
//! the same volumes — an upgrade to another image, `host.reconfigure` — finds its users, OAuth
//! applications, grants, tokens and web sessions.
//!
//! Owns: the serialised shape (serde) and the conversions to and from [`GitlabStore`]. Instants
//! (code and token issue times) are stored as their age, so expiry continues across a restart.
//! File handling (bounds, write-then-rename) is `twin::persist`'s.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::model::Secret;

use super::model::{
    AccessGrant, AccessToken, GitlabStore, GitlabUser, OAuthApplication, PasswordHash,
    PersonalAccessToken, StoredUser, WebSession,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserState {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub email: String,
    pub admin: bool,
    /// PBKDF2 salt and hash, hex (the password itself is not kept).
    pub password_salt: String,
    pub password_hash: String,
    pub private_token: String,
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationState {
    pub id: u64,
    pub uid: String,
    pub secret: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub scopes: String,
    pub trusted: bool,
    pub confidential: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantState {
    pub code: String,
    pub application_id: u64,
    pub user_id: u64,
    pub redirect_uri: String,
    pub scopes: String,
    pub age_ms: u64,
    pub used: bool,
    pub code_challenge: String,
    pub code_challenge_method: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenState {
    pub token: String,
    pub refresh_token: String,
    pub application_id: u64,
    pub user_id: u64,
    pub scopes: String,
    pub age_ms: u64,
    pub created_at_ms: u64,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalTokenState {
    pub token: String,
    pub user_id: u64,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    pub id: String,
    pub user_id: Option<u64>,
    pub csrf_token: String,
    pub return_to: Option<String>,
}

/// GitLab's database as `twin serve` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitlabState {
    pub users: Vec<UserState>,
    pub applications: Vec<ApplicationState>,
    pub next_application_id: u64,
    pub grants: Vec<GrantState>,
    pub tokens: Vec<TokenState>,
    pub personal_tokens: Vec<PersonalTokenState>,
    pub sessions: Vec<SessionState>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex<const N: usize>(s: &str, what: &str) -> Result<[u8; N], String> {
    let bytes = s.as_bytes();
    if bytes.len() != 2 * N {
        return Err(format!("{what}: expected {} hex digits", 2 * N));
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).map_err(|_| format!("{what}: not hex"))?;
        out[i] = u8::from_str_radix(text, 16).map_err(|_| format!("{what}: not hex"))?;
    }
    Ok(out)
}

fn millis_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn age_ms(issued: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(issued).as_millis() as u64
}

/// `now - age`, or `now` when the age reaches before the process's clock can go (the record is
/// then as old as it can be: an expired code stays expired by the lifetime check only if it can
/// be represented, so ages past that are clamped to the oldest representable instant).
fn issued_from_age(now: Instant, age: u64) -> Instant {
    let age = Duration::from_millis(age);
    now.checked_sub(age)
        .or_else(|| now.checked_sub(super::model::TOKEN_LIFETIME))
        .unwrap_or(now)
}

impl GitlabStore {
    /// The store as it is written to disk.
    pub fn to_state(&self) -> GitlabState {
        let now = Instant::now();
        let mut grants: Vec<GrantState> = self
            .grants
            .iter()
            .map(|(code, g)| GrantState {
                code: code.clone(),
                application_id: g.application_id,
                user_id: g.user_id,
                redirect_uri: g.redirect_uri.clone(),
                scopes: g.scopes.clone(),
                age_ms: age_ms(g.issued_at, now),
                used: g.used,
                code_challenge: g.code_challenge.clone(),
                code_challenge_method: g.code_challenge_method.clone(),
            })
            .collect();
        grants.sort_by(|a, b| a.code.cmp(&b.code));
        let mut sessions: Vec<SessionState> = self
            .sessions
            .iter()
            .map(|(id, s)| SessionState {
                id: id.clone(),
                user_id: s.user_id,
                csrf_token: s.csrf_token.clone(),
                return_to: s.return_to.clone(),
            })
            .collect();
        sessions.sort_by(|a, b| a.id.cmp(&b.id));
        GitlabState {
            users: self
                .users
                .iter()
                .map(|u| {
                    let (salt, hash) = u.encrypted_password.parts();
                    UserState {
                        id: u.user.id,
                        username: u.user.username.clone(),
                        name: u.user.name.clone(),
                        email: u.user.email.clone(),
                        admin: u.user.admin,
                        password_salt: hex(salt),
                        password_hash: hex(hash),
                        private_token: u.private_token.expose().to_string(),
                        created_at_ms: millis_since_epoch(u.created_at),
                    }
                })
                .collect(),
            applications: self
                .applications
                .iter()
                .map(|a| ApplicationState {
                    id: a.id,
                    uid: a.uid.clone(),
                    secret: a.secret.expose().to_string(),
                    name: a.name.clone(),
                    redirect_uris: a.redirect_uris.clone(),
                    scopes: a.scopes.clone(),
                    trusted: a.trusted,
                    confidential: a.confidential,
                })
                .collect(),
            next_application_id: self.next_application_id,
            grants,
            tokens: self
                .tokens
                .iter()
                .map(|t| TokenState {
                    token: t.token.clone(),
                    refresh_token: t.refresh_token.clone(),
                    application_id: t.application_id,
                    user_id: t.user_id,
                    scopes: t.scopes.clone(),
                    age_ms: age_ms(t.issued_at, now),
                    created_at_ms: millis_since_epoch(t.created_at),
                    revoked: t.revoked,
                })
                .collect(),
            personal_tokens: self
                .personal_tokens
                .iter()
                .map(|p| PersonalTokenState {
                    token: p.token.expose().to_string(),
                    user_id: p.user_id,
                    scopes: p.scopes.clone(),
                })
                .collect(),
            sessions,
        }
    }

    /// The store a state file describes; an error names the record that does not hold.
    pub fn from_state(state: &GitlabState) -> Result<GitlabStore, String> {
        let now = Instant::now();
        let mut users = Vec::with_capacity(state.users.len());
        for (i, u) in state.users.iter().enumerate() {
            let salt = unhex::<16>(
                &u.password_salt,
                &format!("gitlab.users[{i}].password_salt"),
            )?;
            let hash = unhex::<32>(
                &u.password_hash,
                &format!("gitlab.users[{i}].password_hash"),
            )?;
            users.push(StoredUser {
                user: GitlabUser {
                    id: u.id,
                    username: u.username.clone(),
                    name: u.name.clone(),
                    email: u.email.clone(),
                    // The password is not stored; sign-in checks the hash.
                    password: Secret::new(""),
                    admin: u.admin,
                },
                encrypted_password: PasswordHash::from_parts(salt, hash),
                private_token: Secret::new(u.private_token.clone()),
                created_at: UNIX_EPOCH + Duration::from_millis(u.created_at_ms),
            });
        }
        if let Some(dup) = state
            .applications
            .iter()
            .find(|a| state.applications.iter().filter(|b| b.id == a.id).count() > 1)
        {
            return Err(format!("gitlab.applications: id {} appears twice", dup.id));
        }
        let next_application_id = state
            .applications
            .iter()
            .map(|a| a.id + 1)
            .max()
            .unwrap_or(1)
            .max(state.next_application_id);
        Ok(GitlabStore {
            users,
            applications: state
                .applications
                .iter()
                .map(|a| OAuthApplication {
                    id: a.id,
                    uid: a.uid.clone(),
                    secret: Secret::new(a.secret.clone()),
                    name: a.name.clone(),
                    redirect_uris: a.redirect_uris.clone(),
                    scopes: a.scopes.clone(),
                    trusted: a.trusted,
                    confidential: a.confidential,
                })
                .collect(),
            next_application_id,
            sessions: state
                .sessions
                .iter()
                .map(|s| {
                    (
                        s.id.clone(),
                        WebSession {
                            user_id: s.user_id,
                            csrf_token: s.csrf_token.clone(),
                            return_to: s.return_to.clone(),
                            fresh_secrets: Vec::new(),
                        },
                    )
                })
                .collect::<HashMap<_, _>>(),
            grants: state
                .grants
                .iter()
                .map(|g| {
                    (
                        g.code.clone(),
                        AccessGrant {
                            application_id: g.application_id,
                            user_id: g.user_id,
                            redirect_uri: g.redirect_uri.clone(),
                            scopes: g.scopes.clone(),
                            issued_at: issued_from_age(now, g.age_ms),
                            used: g.used,
                            code_challenge: g.code_challenge.clone(),
                            code_challenge_method: g.code_challenge_method.clone(),
                        },
                    )
                })
                .collect(),
            tokens: state
                .tokens
                .iter()
                .map(|t| AccessToken {
                    token: t.token.clone(),
                    refresh_token: t.refresh_token.clone(),
                    application_id: t.application_id,
                    user_id: t.user_id,
                    scopes: t.scopes.clone(),
                    issued_at: issued_from_age(now, t.age_ms),
                    created_at: UNIX_EPOCH + Duration::from_millis(t.created_at_ms),
                    revoked: t.revoked,
                })
                .collect(),
            personal_tokens: state
                .personal_tokens
                .iter()
                .map(|p| PersonalAccessToken {
                    token: Secret::new(p.token.clone()),
                    user_id: p.user_id,
                    scopes: p.scopes.clone(),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_survives_its_state_and_passwords_still_verify() {
        let mut store = GitlabStore {
            next_application_id: 1,
            ..GitlabStore::default()
        };
        for u in GitlabUser::defaults() {
            store.users.push(StoredUser {
                encrypted_password: PasswordHash::new(u.password.expose()),
                user: u,
                private_token: Secret::new("pt-1"),
                created_at: SystemTime::now(),
            });
        }
        store.applications.push(OAuthApplication {
            id: 1,
            uid: "uid-1".into(),
            secret: Secret::new("s-1"),
            name: "GitLab Mattermost".into(),
            redirect_uris: vec!["http://mattermost.example.com/signup/gitlab/complete".into()],
            scopes: String::new(),
            trusted: false,
            confidential: true,
        });
        store.next_application_id = 2;
        store.tokens.push(AccessToken {
            token: "t".into(),
            refresh_token: "r".into(),
            application_id: 1,
            user_id: 2,
            scopes: "api".into(),
            issued_at: Instant::now(),
            created_at: SystemTime::now(),
            revoked: false,
        });
        let state = store.to_state();
        let text = serde_json::to_string(&state).unwrap();
        let back: GitlabState = serde_json::from_str(&text).unwrap();
        let again = GitlabStore::from_state(&back).unwrap();
        assert_eq!(again.to_state().users, state.users);
        assert_eq!(again.applications, store.applications);
        assert_eq!(again.next_application_id, 2);
        assert!(again.has_matching_token(1, 2, "api"));
        let alice = again.user_by_login("alice").unwrap();
        assert!(alice.encrypted_password.verify("Twin-alice-pass1"));
        assert!(!alice.encrypted_password.verify("wrong"));
        // A damaged hash is an error naming the record, not a panic.
        let mut bad = state.clone();
        bad.users[1].password_hash = "zz".into();
        let err = GitlabStore::from_state(&bad).err().unwrap();
        assert!(err.contains("gitlab.users[1].password_hash"), "{err}");
    }
}
