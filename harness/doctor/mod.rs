//! The doctor: read-only diagnostics of a live GitLab Mattermost (and of its gitlab.rb and
//! config.json offline). Every finding has a stable id, a severity, evidence (redacted, bounded),
//! a fix and its documentation source; checks run concurrently, each under its own deadline.
//!
//! Files, by concern (no logic here):
//! - `finding`: the catalogue ([`FindingKind`], one exhaustive match) and [`Finding`].
//! - `inputs`: what the doctor is run with ([`DoctorInputs`]) and the files understood ([`Prepared`]).
//! - `run`: [`CheckId`], [`diagnose`], [`DoctorReport`].
//! - `probe`: the shared HTTP client and the answers several checks need.
//! - `config_checks`: gitlab.rb and config.json, offline.
//! - `net_checks`: DNS, pings, TLS, redirects, websocket.
//! - `sso`: GitLab SSO wiring.  `smtp`: the SMTP probe.  `webhooks`: webhooks and env-forced
//!   settings.  `versions`: pairing, GitLab 19, support windows.
//! - `packet`: Support Packets (`--support-packet`): the zip read under caps.
//! - `logs`: a Support Packet's log lines → findings.  `webhook_probe`: the `--allow-writes`
//!   end-to-end webhook probe.
//! - `explain`: error texts → findings (the one catalogue `run` and `doctor` share).
//! - `catalogue_doc`: docs/findings.md, generated from the catalogue.
//! - `serve`: watch mode (`/healthz`, Prometheus `/metrics`).

pub mod catalogue_doc;
pub mod config_checks;
pub mod explain;
pub mod finding;
pub mod inputs;
pub mod logs;
pub mod net_checks;
pub mod packet;
pub mod probe;
pub mod run;
pub mod serve;
pub mod smtp;
pub mod sso;
pub mod versions;
pub mod webhook_probe;
pub mod webhooks;

pub use explain::explain;
pub use finding::{Family, Finding, FindingKind, Meta, Severity};
pub use inputs::{DoctorInputs, InputError, Prepared, SettingsView};
pub use run::{CheckId, CheckResult, DoctorReport, diagnose};
