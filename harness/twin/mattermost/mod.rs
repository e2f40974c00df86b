//! The twin's Mattermost (3.4 or 10.11 by profile): GitLab SSO, the REST API subset a harness
//! needs, incoming webhooks, config and the emails it sends. No logic here.
//!
//! Files: `twin` (config, state, router, request plumbing), `store` (in-memory database),
//! `error` (AppError on the wire, web error pages), `sso` (GitLab SSO routes), `outbound` (the
//! HTTP client of token and user requests), `api4` / `api3` (REST APIs), `webhook`
//! (`/hooks/{id}`), `pages` (the login, sign-up, error and home pages a browser meets), `config_json` (config.json view), `email` (which mails, when), `verify` (email verification links, their
//! API and page), `schema` (3.1–3.4 migrations), `persist` (the database on disk for `twin serve`), `upgrade` (the database across omnibus
//! upgrades, themes, counts), `moveout` (the export on omnibus and the restore into a
//! standalone server).
//! docs/twin-mattermost.md records what was read from the source and what was inferred.

pub mod api3;
pub mod api4;
pub mod config_json;
pub mod email;
pub mod error;
pub mod moveout;
pub mod outbound;
pub mod pages;
pub mod persist;
pub mod schema;
pub mod sso;
pub mod store;
pub mod twin;
pub mod upgrade;
pub mod verify;
pub mod webhook;

pub use error::AppError;
pub use twin::{MailAttempt, MattermostAdmin, MattermostTwin, MattermostTwinConfig};
