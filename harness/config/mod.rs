//! Configuration: the gitlab.rb parser, per-version key tables, the effective Mattermost settings,
//! config.json, rendering to omnibus and `MM_*` environments, and drift.
//!
//! Files, by stage (no logic lives here):
//! - `version`: GitLab/Mattermost version numbers, key eras, twin profiles.
//! - `model`: the typed effective settings every other stage consumes ([`HostSettings`]).
//! - `rb_lex`, `gitlab_rb`: the gitlab.rb tokenizer and parser ([`parse_gitlab_rb`]).
//! - `resolve`: gitlab.rb + GitLab version → [`Resolved`] (typed settings, effective config).
//! - `render`: `GITLAB_OMNIBUS_CONFIG` text and `MM_*` environments.
//! - `config_json`: Mattermost's config.json and drift against gitlab.rb.
//! - `effective`: the effective Mattermost configuration, setting by setting.
//! - `keys` (+ generated `keys_generated`, generator `keygen`): per-version key tables.
//! - `keyhist` (→ generated `keys_history_generated`): every release line's keys, from omnibus's
//!   release tags ("known since / last in").

pub mod config_json;
pub mod effective;
pub mod gitlab_rb;
pub mod keygen;
pub mod keyhist;
pub mod keys;
#[rustfmt::skip]
mod keys_generated;
#[rustfmt::skip]
mod keys_history_generated;
pub mod model;
mod rb_lex;
pub mod render;
pub mod resolve;
pub mod version;

pub use gitlab_rb::{
    RbDocument, RbNode, RbPair, RbSetting, RbUnevaluated, RbValue, SettingTarget, parse_gitlab_rb,
};

pub use config_json::{
    ConfigEntry, ConfigError, ConfigErrorKind, ConfigJson, Drift, DriftConsequence, drift,
    read_config_json,
};
pub use effective::{EffectiveConfig, EffectiveSetting, SettingSource, go_parse_bool};
pub use keys::{KeyStatus, KeyTable, is_secret_name, key_history, key_status};
pub use model::{
    EmailSettings, GitLabSettings, HostSettings, MattermostSettings, NginxSettings, REDACTED,
    Secret, ServiceSettings, TeamSettings,
};
pub use render::{
    EnvVar, OmnibusConfigDisplay, render_mm_env, render_omnibus_config, settings_from_mm_env,
};
pub use resolve::{Resolved, resolve, resolve_document};
pub use version::{KeyEra, Profile, Version, VersionParseError};
