//! The GitLab twin itself: its state, what omnibus and an administrator do to it from outside
//! (register an application, mint a personal access token), and the router dispatching each
//! request to the part of GitLab that answers it for the configured profile.
//!
//! Owns: [`GitlabTwin`] and the route table. Route-level profile differences live here (API v4
//! arrived in 9.0, API v3 answers 410 since 11.0, the applications API arrived in 10.5); the
//! protocol details live in `web`, `token` and `api`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;

use crate::config::model::Secret;
use crate::config::version::Profile;

use super::model::{
    GitlabStore, GitlabTwinConfig, GitlabUser, OAuthApplication, PasswordHash, PersonalAccessToken,
    StoredUser, random_hex, random_token,
};
use super::request::{GitlabRequest, html, json};
use super::{api, pages, token, web};

/// The twin's GitLab.
#[derive(Debug)]
pub struct GitlabTwin {
    config: GitlabTwinConfig,
    store: Mutex<GitlabStore>,
    admin_token: Secret,
}

impl GitlabTwin {
    /// A GitLab with the configured users and no applications; the first admin user gets a
    /// personal access token with the `api` scope.
    pub fn new(config: GitlabTwinConfig) -> Arc<GitlabTwin> {
        let created_at = SystemTime::now();
        let users: Vec<StoredUser> = config
            .users
            .iter()
            .map(|u| StoredUser {
                encrypted_password: PasswordHash::new(u.password.expose()),
                user: u.clone(),
                private_token: Secret::new(random_token(20)),
                created_at,
            })
            .collect();
        let admin_token = Secret::new(personal_token_value(config.profile));
        let mut store = GitlabStore {
            users,
            next_application_id: 1,
            ..GitlabStore::default()
        };
        if let Some(admin) = config.users.iter().find(|u| u.admin) {
            store.personal_tokens.push(PersonalAccessToken {
                token: admin_token.clone(),
                user_id: admin.id,
                scopes: vec!["api".to_string()],
            });
        }
        Arc::new(GitlabTwin {
            config,
            store: Mutex::new(store),
            admin_token,
        })
    }

    /// The router answering every GitLab route.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/-/readiness", axum::routing::get(readiness))
            .fallback(dispatch)
            .with_state(self.clone())
    }

    pub fn profile(&self) -> Profile {
        self.config.profile
    }

    pub fn config(&self) -> &GitlabTwinConfig {
        &self.config
    }

    /// `external_url` without a trailing slash.
    pub fn base_url(&self) -> String {
        self.config
            .external_url
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    /// An absolute URL on this GitLab.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    /// Whether GitLab is served over https (session cookies are then `secure`).
    pub fn is_https(&self) -> bool {
        self.config.external_url.scheme() == "https"
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, GitlabStore> {
        // A handler that panicked cannot leave the store half-written in a way later requests
        // must not see (every change is a single push/insert), so a poisoned lock is recovered.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Create a Doorkeeper application as `gitlab-rails runner` does for omnibus (or an admin in
    /// the admin area); returns it with its uid and secret.
    pub fn register_application(
        &self,
        name: &str,
        redirect_uris: &[String],
        scopes: &str,
        trusted: bool,
        confidential: bool,
    ) -> OAuthApplication {
        let mut store = self.store();
        self.insert_application(
            &mut store,
            NewApplication {
                name,
                redirect_uris,
                scopes,
                trusted,
                confidential,
                credentials: None,
            },
        )
    }

    /// Find the application with client id `uid`, or create it with exactly these credentials
    /// (omnibus's `authorize_with_gitlab` when `gitlab_id`/`gitlab_secret` are already set).
    pub fn find_or_create_application(
        &self,
        uid: &str,
        secret: &Secret,
        name: &str,
        redirect_uris: &[String],
    ) -> OAuthApplication {
        let mut store = self.store();
        if let Some(app) = store.application_by_uid(uid) {
            return app.clone();
        }
        self.insert_application(
            &mut store,
            NewApplication {
                name,
                redirect_uris,
                scopes: "",
                trusted: false,
                confidential: true,
                credentials: Some((uid, secret)),
            },
        )
    }

    fn insert_application(
        &self,
        store: &mut GitlabStore,
        new: NewApplication<'_>,
    ) -> OAuthApplication {
        let NewApplication {
            name,
            redirect_uris,
            scopes,
            trusted,
            confidential,
            credentials,
        } = new;
        let (uid, secret) = match credentials {
            Some((uid, secret)) if !secret.is_empty() => (uid.to_string(), secret.clone()),
            Some((uid, _)) => (uid.to_string(), Secret::new(self.new_client_secret())),
            None => (random_hex(32), Secret::new(self.new_client_secret())),
        };
        let app = OAuthApplication {
            id: store.next_application_id,
            uid,
            secret,
            name: name.to_string(),
            redirect_uris: redirect_uris.to_vec(),
            scopes: scopes.split_whitespace().collect::<Vec<_>>().join(" "),
            trusted,
            confidential,
        };
        store.next_application_id += 1;
        store.applications.push(app.clone());
        app
    }

    /// A fresh client secret in this release's format (`gloas-` prefix since GitLab 15.9).
    pub(crate) fn new_client_secret(&self) -> String {
        match self.config.profile {
            Profile::Gitlab8_12 => random_hex(32),
            Profile::Gitlab18_11 => format!("gloas-{}", random_hex(32)),
        }
    }

    /// Make every OAuth access token `by` older, as time passing would (tests of token expiry and
    /// of the consent skip, which counts expired tokens).
    pub fn age_tokens(&self, by: std::time::Duration) {
        self.store().age_tokens(by);
    }

    /// The registered applications.
    pub fn applications(&self) -> Vec<OAuthApplication> {
        self.store().applications.clone()
    }

    /// Revoke (delete) an application, as the admin area's "Destroy" does.
    pub fn delete_application(&self, id: u64) -> bool {
        self.store().delete_application(id)
    }

    /// Add an account (as an admin does in the admin area). Refused (false) when the id,
    /// username or email is taken.
    /// The database as `twin serve` writes it to disk.
    pub fn state(&self) -> super::persist::GitlabState {
        self.store().to_state()
    }

    /// Replace the database by one read back from disk (`twin serve` started again on its
    /// volumes). This process's admin token stays valid.
    pub fn restore(&self, mut restored: GitlabStore) {
        let mut store = self.store();
        if let Some(pat) = store
            .personal_tokens
            .iter()
            .find(|p| p.token == self.admin_token)
            .cloned()
            && !restored
                .personal_tokens
                .iter()
                .any(|p| p.token == pat.token)
        {
            restored.personal_tokens.push(pat);
        }
        *store = restored;
    }

    /// The next free user id (the seeding script's `User.new`).
    pub fn next_user_id(&self) -> u64 {
        self.store()
            .users
            .iter()
            .map(|u| u.user.id)
            .max()
            .unwrap_or(1)
            + 1
    }

    pub fn create_user(&self, user: GitlabUser) -> bool {
        let mut store = self.store();
        let taken = store.users.iter().any(|u| {
            u.user.id == user.id
                || u.user.username.eq_ignore_ascii_case(&user.username)
                || u.user.email.eq_ignore_ascii_case(&user.email)
        });
        if taken {
            return false;
        }
        store.users.push(StoredUser {
            encrypted_password: PasswordHash::new(user.password.expose()),
            private_token: Secret::new(random_token(20)),
            created_at: SystemTime::now(),
            user,
        });
        true
    }

    /// Change an account's profile (username, name, email) as the person or an admin would in
    /// GitLab's settings; the password stays. False when no account has that login.
    pub fn update_user(&self, login: &str, change: impl FnOnce(&mut GitlabUser)) -> bool {
        let mut store = self.store();
        let Some(stored) = store.users.iter_mut().find(|u| {
            u.user.username.eq_ignore_ascii_case(login) || u.user.email.eq_ignore_ascii_case(login)
        }) else {
            return false;
        };
        change(&mut stored.user);
        true
    }

    /// The personal access token (scope `api`) of the seeded admin.
    pub fn admin_token(&self) -> Secret {
        self.admin_token.clone()
    }

    /// Give a user a personal access token with a value chosen by the caller, as
    /// `gitlab-rails runner "… token.set_token('…'); token.save!"` does (how gitlab-qa and the
    /// docker target seed the admin token). `false` when the user does not exist.
    pub fn set_personal_access_token(
        &self,
        username: &str,
        value: &Secret,
        scopes: &[&str],
    ) -> bool {
        let mut store = self.store();
        let Some(user_id) = store.user_by_login(username).map(|u| u.user.id) else {
            return false;
        };
        store
            .personal_tokens
            .retain(|t| t.token.expose() != value.expose());
        store.personal_tokens.push(PersonalAccessToken {
            token: value.clone(),
            user_id,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        });
        true
    }

    /// Mint a personal access token for a seeded user (as the user's settings page does).
    pub fn create_personal_access_token(&self, username: &str, scopes: &[&str]) -> Option<Secret> {
        let mut store = self.store();
        let user_id = store.user_by_login(username)?.user.id;
        let token = Secret::new(personal_token_value(self.config.profile));
        store.personal_tokens.push(PersonalAccessToken {
            token: token.clone(),
            user_id,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        });
        Some(token)
    }
}

/// What a new application is created from.
struct NewApplication<'a> {
    name: &'a str,
    redirect_uris: &'a [String],
    scopes: &'a str,
    trusted: bool,
    confidential: bool,
    /// Given client id and secret (else generated).
    credentials: Option<(&'a str, &'a Secret)>,
}

fn personal_token_value(profile: Profile) -> String {
    match profile {
        Profile::Gitlab8_12 => random_token(20),
        Profile::Gitlab18_11 => format!("glpat-{}", random_token(20)),
    }
}

/// Route one request.
async fn dispatch(State(twin): State<Arc<GitlabTwin>>, req: Request) -> Response {
    let req = GitlabRequest::read(req).await;
    let profile = twin.profile();
    let path = req.path.trim_end_matches('/').to_string();
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.clone(), segments.as_slice()) {
        (Method::GET, [""]) => web::root(&twin, &req),
        (Method::GET, ["help"]) => html(StatusCode::OK, "<h1>Help</h1>".to_string()),
        (Method::GET, ["users", "sign_in"]) => web::sign_in_form(&twin, &req),
        (Method::POST, ["users", "sign_in"]) => web::sign_in(&twin, &req),
        (Method::DELETE, ["users", "sign_out"]) => web::sign_out(&twin, &req),
        (Method::GET, ["oauth", "authorize"]) => web::authorize(&twin, &req),
        (Method::POST, ["oauth", "authorize"]) => web::approve(&twin, &req),
        (Method::DELETE, ["oauth", "authorize"]) => web::deny(&twin, &req),
        (Method::POST, ["oauth", "token"]) => {
            twin.hold_back().await;
            token::token(&twin, &req)
        }
        (_, ["admin", "applications", rest @ ..]) => web::admin_applications(&twin, &req, rest),
        (_, ["api", "v3", rest @ ..]) => {
            twin.hold_back().await;
            match profile {
                Profile::Gitlab8_12 => api::v3(&twin, &req, rest),
                Profile::Gitlab18_11 => json(
                    StatusCode::GONE,
                    serde_json::json!({"error": "API V3 is no longer supported. Use API V4 instead."}),
                ),
            }
        }
        (_, ["api", "v4", rest @ ..]) => match profile {
            // API v4 arrived in GitLab 9.0: on 8.x Rails has no such route.
            Profile::Gitlab8_12 => html(StatusCode::NOT_FOUND, pages::not_found()),
            Profile::Gitlab18_11 => {
                twin.hold_back().await;
                api::v4(&twin, &req, rest)
            }
        },
        (_, ["api", ..]) => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "404 Not Found"}),
        ),
        _ => html(StatusCode::NOT_FOUND, pages::not_found()),
    }
}

impl GitlabTwin {
    /// Wait as configured before answering an endpoint Mattermost's server calls.
    async fn hold_back(&self) {
        if let Some(delay) = self.config.slow {
            tokio::time::sleep(delay).await;
        }
    }
}

/// `GET /-/readiness` (GitLab 12+ `HealthController#readiness`): every check passes once the
/// twin serves. A real GitLab answers it only to `monitoring_whitelist` addresses.
async fn readiness() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok", "master_check": [{"status": "ok"}]}))
}
