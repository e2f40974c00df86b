//! The move out of omnibus on a running stack: the export of the bundled Mattermost
//! (`mattermost.export`) and the standalone Mattermost started on it (`mattermost.move_out`).
//! The twin plays both ([`crate::twin::mattermost::moveout`]); the live target refuses them —
//! moving a real installation is the operator's job, `upgrade-plan` prints how — and the docker
//! target does not offer them yet.

use crate::config::model::MattermostSettings;
use crate::twin::mattermost::moveout::MattermostExport;

use super::error::{StackError, StackErrorKind};
use super::running::Stack;

fn no_mattermost() -> StackError {
    StackError::new(
        StackErrorKind::Configuration,
        "the stack runs no bundled Mattermost to export",
    )
}

impl Stack {
    /// What the plan's export tasks take from the bundled Mattermost.
    pub async fn export_mattermost(&self) -> Result<MattermostExport, StackError> {
        match self {
            Stack::Twin(t) => t
                .mattermost_twin()
                .map(|m| m.export())
                .ok_or_else(no_mattermost),
            Stack::Docker(_) => Err(StackError::new(
                StackErrorKind::NotAvailable,
                "the docker target does not move Mattermost out of omnibus yet; use --target twin",
            )),
            Stack::Live(_) => Err(StackError::new(
                StackErrorKind::Refused,
                "the live target does not export Mattermost: follow `mm-harness upgrade-plan --to 19.0 --gitlab-rb …`'s export steps yourself",
            )),
        }
    }

    /// Stop the bundled Mattermost and start a standalone one at `url` with `settings` (from
    /// `MM_*` variables; `locked` the paths they set) on the restored `export`.
    pub async fn move_mattermost_out(
        &mut self,
        url: &str,
        settings: MattermostSettings,
        locked: Vec<String>,
        export: &MattermostExport,
    ) -> Result<(), StackError> {
        match self {
            Stack::Twin(t) => t.move_mattermost_out(url, settings, locked, export).await,
            Stack::Docker(_) => Err(StackError::new(
                StackErrorKind::NotAvailable,
                "the docker target does not move Mattermost out of omnibus yet; use --target twin",
            )),
            Stack::Live(_) => Err(StackError::new(
                StackErrorKind::Refused,
                "the live target does not move Mattermost: follow `mm-harness upgrade-plan`'s move-out plan yourself",
            )),
        }
    }
}
