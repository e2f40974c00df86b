//! Scenario files: the TOML format (one documented setup per file), its parsing with source spans,
//! and its validation into a checked [`Scenario`] plan the runner executes.
//!
//! Files, by stage (no logic lives here):
//! - `kinds`: [`StepKind`] — every step a file can write, its group, the expectations it allows,
//!   its reference text (docs/scenarios.md is generated from it).
//! - `model`: the validated plan — hosts, steps ([`Action`]) and their expectations
//!   ([`crate::check::Expectation`]).
//! - `source`: the file as text — size cap, UTF-8 with positions, placing TOML's unplaced errors.
//! - `fields`: reading TOML tables key by key, reporting unknown keys with a did-you-mean.
//! - `parse`: TOML text → [`Scenario`], collecting every error of a file at once.
//! - `parse_step`: one `[[steps]]` table → [`Step`], one reader per step and expectation kind.
//! - `placeholder`: `{{ app.id }}` placeholders in gitlab.rb text, and their filling.
//! - `embedded`: the shipped suite (`scenarios/*.toml` and their snapshots) compiled in.
//! - `load`: finding scenario files on disk and selecting them (names, tags, shards), the
//!   directory laid over the shipped suite.
//! - `retarget`: a scenario on another GitLab version (`run --gitlab-version`, `release-diff`).
//! - `error`: [`ScenarioError`].
//!
//! The words a plan shares with the drivers and checks (SSO flavour, consent, webhook format,
//! service, target, SSO error ids) are [`crate::vocab`]'s; they are re-exported here because the
//! plan is made of them.

pub mod embedded;
pub mod error;
pub mod fields;
pub mod kinds;
pub mod load;
pub mod model;
pub mod parse;
mod parse_step;
mod parse_upgrade;
pub mod placeholder;
pub mod retarget;
pub mod source;

pub use crate::vocab::{Consent, PushSpec, Service, SsoFlavour, TargetKind, WebhookFormat};
pub use error::{ScenarioError, ScenarioErrorKind};
pub use kinds::StepKind;
pub use load::{Selection, Suite, discover, load_file, parse_shard, select, select_suite};
pub use model::{Action, BindingKind, HostKind, HostPlan, Scenario, Step};
pub use parse::parse_scenario;
pub use placeholder::{Bindings, Placeholder, Template};
pub use retarget::at_gitlab_version;
