//! Scenario files: the TOML format (one documented setup per file), its parsing with source spans,
//! and its validation into a checked [`Scenario`] plan the runner executes.
//!
//! Files, by stage (no logic lives here):
//! - `model`: the validated plan — hosts, steps ([`Action`]), expectations ([`Expectation`]).
//! - `fields`: reading TOML tables key by key, reporting unknown keys with a did-you-mean.
//! - `parse`: TOML text → [`Scenario`], collecting every error of a file at once.
//! - `placeholder`: `{{ app.id }}` placeholders in gitlab.rb text, and their filling.
//! - `sso_errors`: the Mattermost SSO error ids a negative scenario may expect.
//! - `load`: finding scenario files on disk and selecting them (names, tags, shards).
//! - `error`: [`ScenarioError`].

pub mod error;
pub mod fields;
pub mod load;
pub mod model;
pub mod parse;
pub mod placeholder;
pub mod sso_errors;

pub use error::{ScenarioError, ScenarioErrorKind};
pub use load::{Selection, discover, load_file, parse_shard, select};
pub use model::{
    Action, Consent, Expectation, HostPlan, PushSpec, Scenario, Service, SsoFlavour, Step,
    TargetKind, WebhookFormat,
};
pub use parse::parse_scenario;
pub use placeholder::{Bindings, Placeholder, Template};
