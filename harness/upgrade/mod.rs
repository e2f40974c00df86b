//! Upgrade verification: the version data and the upgrade plan.
//!
//! Files (no logic lives here):
//! - `versions` (+ generated `bundled_generated`, generator `versions_gen`): GitLab → bundled
//!   Mattermost at patch level, from omnibus-gitlab's tags; the release tags after bundling
//!   ended; the required upgrade stops of each package's preinst.
//! - `error`: the area's error type.

pub mod error;
#[rustfmt::skip]
mod bundled_generated;
pub mod versions;
pub mod versions_gen;

pub use error::{UpgradeError, UpgradeErrorKind};
