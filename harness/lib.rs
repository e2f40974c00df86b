//! mm-harness: end-to-end conformance harness and diagnostics kit for GitLab Mattermost.
//!
//! Stages (DESIGN.md, "Data flow"): `config` (gitlab.rb, settings, key tables) → `scenario`
//! (files → checked plans) → `stack` (targets: twin, docker, live) → `drive` (SSO, webhook, admin
//! API clients) → `check` (normalise, redact, expect, snapshot) → `report` (human, JSON, JUnit).
//! `vocab` is the vocabulary these stages share (SSO flavours and consent, SSO error ids, webhook
//! formats, services, target kinds): it sits below them all, so `scenario` → `drive`/`check` →
//! `vocab` and never back. `twin` is the embedded reference GitLab + Mattermost; it depends on
//! `config` only and shares no protocol code with `drive`. `cli` holds the command line; `diag`
//! the rendering of errors in user files; `history` omnibus-gitlab's release tags and what each
//! ships; `net` the address book of a running stack; `crypto` the rustls provider.

pub mod check;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod diag;
pub mod doctor;
pub mod drive;
pub mod history;
pub mod mailsink;
pub mod net;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stack;
pub mod twin;
pub mod upgrade;
pub mod vocab;
