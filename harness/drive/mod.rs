//! Drivers: the client side of every exchange with a stack — a person signing in with GitLab, an
//! administrator on GitLab and Mattermost, GitLab's webhook integration, a TLS client. They share no
//! code with the twin (the server side), so a bug in one cannot hide in the other; both read only
//! the settings model.
//!
//! Files, by concern (no logic lives here):
//! - `http`: [`Browser`] — one cookie jar, per-scheme-and-port clients resolved through the
//!   address book; the body cap ([`http::BODY_CAP`]) and the timeouts of every request.
//! - `html`: forms, links and text of pages (scraper), parsed once per page as a `Document`.
//! - `html_scan`: the size and depth bounds a page must keep before it is parsed.
//! - `transcript`: [`Transcript`], the ordered record of exchanges and the secrets met.
//! - `sso`: the GitLab SSO round trip.
//! - `gitlab_admin`: OAuth applications (API, or the 8.x admin form).
//! - `mattermost_admin`: teams, channels, incoming webhooks, posts, ping.
//! - `mail`: the test email, email verification, log-in with email, messages read from the mail
//!   sink ([`mail::MailView`]).
//! - `webhook`: GitLab push payloads and plain webhook posts.
//! - `tls_probe`: the certificate a host serves.
//! - `error`: [`DriveError`], and how server text is quoted in failures (redacted, escaped, bounded).

pub mod error;
pub mod gitlab_admin;
pub mod html;
pub mod html_scan;
pub mod http;
pub mod mail;
pub mod mattermost_admin;
pub mod sso;
pub mod tls_probe;
pub mod transcript;
pub mod upgrade;
pub mod webhook;

pub use error::{DriveError, DriveErrorKind};
pub use http::{Browser, Reach};
pub use transcript::{Record, Transcript};
