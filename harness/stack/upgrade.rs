//! Upgrades of a running stack: `gitlab.upgrade` (the omnibus package of another GitLab release
//! installed on the host, and `gitlab-ctl restart`: the bundled Mattermost starts on its release)
//! and `mattermost.run_sql` (an operator's `gitlab-psql` statement on Mattermost's database).
//! The twin plays both on its database ([`crate::twin::mattermost::upgrade`]); a live target
//! refuses them — upgrading a real installation is the operator's job — and the docker target
//! swaps image tags over the same volumes (`stack::docker::stack::upgrade`).

use crate::config::Version;
use crate::twin::mattermost::upgrade::bundled_release;

use super::error::{StackError, StackErrorKind};
use super::running::Stack;

impl Stack {
    /// Install GitLab `to` and restart: `Ok` with what Mattermost logged at start, `Err` when it
    /// halted (Mattermost stays down; the message is the release's own).
    pub async fn upgrade_gitlab(&mut self, to: Version) -> Result<Vec<String>, StackError> {
        match self {
            Stack::Twin(t) => {
                let release = bundled_release(to).ok_or_else(|| {
                    StackError::new(
                        StackErrorKind::Configuration,
                        format!("the twin plays upgrades between GitLab 8.9 and 8.12 (Mattermost 3.1–3.4), not to {to}"),
                    )
                })?;
                let twin = t.mattermost_twin().ok_or_else(|| {
                    StackError::new(
                        StackErrorKind::Configuration,
                        "the stack runs no Mattermost",
                    )
                })?;
                twin.restart_on(release)
                    .map(|log| log.lines)
                    .map_err(|halt| StackError::new(StackErrorKind::Environment, halt.to_string()))
            }
            Stack::Docker(d) => {
                if bundled_release(to).is_none() && to.major < 9 {
                    return Err(StackError::new(
                        StackErrorKind::Configuration,
                        format!(
                            "GitLab {to} bundled no Mattermost release the upgrades know (8.9–8.12)"
                        ),
                    ));
                }
                d.upgrade_gitlab(to).await
            }
            Stack::Live(_) => Err(StackError::new(
                StackErrorKind::Refused,
                "the live target does not upgrade GitLab: install the package and run `gitlab-ctl reconfigure` yourself",
            )),
        }
    }

    /// Run `statement` on Mattermost's database; the rows changed.
    pub async fn mattermost_sql(&mut self, statement: &str) -> Result<usize, StackError> {
        match self {
            Stack::Twin(t) => {
                let twin = t.mattermost_twin().ok_or_else(|| {
                    StackError::new(
                        StackErrorKind::Configuration,
                        "the stack runs no Mattermost",
                    )
                })?;
                twin.run_sql(statement)
                    .map_err(|e| StackError::new(StackErrorKind::Configuration, e.to_string()))
            }
            Stack::Docker(d) => d.run_sql(statement).await,
            Stack::Live(_) => Err(StackError::new(
                StackErrorKind::Refused,
                "the live target does not run SQL: run it with `sudo gitlab-psql -d mattermost_production` yourself",
            )),
        }
    }
}
