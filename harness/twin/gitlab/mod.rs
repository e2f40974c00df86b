//! The twin's GitLab: Devise sign-in, Doorkeeper (authorize, consent, token), API v4/v3 and the
//! admin applications API and pages, per version profile (shared/wire/gitlab.md).
//!
//! Files (no logic here): `model` (configuration and stored records), `twin` ([`GitlabTwin`] and
//! its route table), `request` (request parsing and response shapes), `pages` (HTML), `web`
//! (sign-in, authorize, admin pages), `token` (`/oauth/token`), `api` (REST API),
//! `persist` (the database on disk for `twin serve`).

pub mod api;
pub mod model;
pub mod pages;
pub mod persist;
pub mod request;
pub mod token;
pub mod twin;
pub mod web;

pub use model::{GitlabTwinConfig, GitlabUser, OAuthApplication};
pub use twin::GitlabTwin;
