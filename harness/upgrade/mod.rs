//! Upgrade verification: the version data and the upgrade plan.
//!
//! Files (no logic lives here):
//! - `versions` (+ generated `bundled_generated`, generator `versions_gen`): GitLab → bundled
//!   Mattermost at patch level, from omnibus-gitlab's tags; the release tags after bundling
//!   ended; the required upgrade stops of each package's preinst.
//! - `omnibus19`: GitLab 19's removal of bundled Mattermost, rule by rule, per patch level.
//! - `mattermost_rules`: Mattermost's own rules (required stops, ESRs, migrations, v11 SSO).
//! - `doc_tables`: the documentation's version tables and where the package code contradicts them.
//! - `plan`: `--from`/`--to` (+ gitlab.rb, config.json) → [`UpgradePlan`].
//! - `error`: the area's error type.

pub mod error;
#[rustfmt::skip]
mod bundled_generated;
pub mod doc_tables;
pub mod mattermost_rules;
pub mod omnibus19;
pub mod plan;
pub mod versions;
pub mod versions_gen;

pub use error::{UpgradeError, UpgradeErrorKind};
pub use plan::{Outcome, PlanInput, UpgradePlan, plan};
