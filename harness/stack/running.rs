//! [`Stack`]: a running target, whatever kind. The runner brings one up per scenario, hands its
//! [`StackInfo`] to the drivers, asks it to apply re-resolved host settings, and takes it down.

use crate::config::HostSettings;
use crate::scenario::{Action, Scenario};
use crate::vocab::TargetKind;

use super::docker::{DockerHost, DockerStack};
use super::error::{StackError, StackErrorKind};
use super::live;
use super::model::{MailboxMessage, StackInfo, TargetSpec};
use super::twin::TwinStack;

/// A running stack.
pub enum Stack {
    Twin(Box<TwinStack>),
    Live(Box<StackInfo>),
    Docker(Box<DockerStack>),
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stack::Twin(_) => f.write_str("Stack::Twin"),
            Stack::Live(_) => f.write_str("Stack::Live"),
            Stack::Docker(_) => f.write_str("Stack::Docker"),
        }
    }
}

impl Stack {
    /// Bring up the target for a scenario whose hosts resolved to `hosts` (name, settings).
    pub async fn up(
        spec: &TargetSpec,
        scenario: &Scenario,
        hosts: &[(String, HostSettings)],
    ) -> Result<Stack, StackError> {
        match spec.kind {
            TargetKind::Twin => Ok(Stack::Twin(Box::new(
                TwinStack::start(scenario, hosts).await?,
            ))),
            TargetKind::Docker => {
                // The docker stack takes each host's filled gitlab.rb with its settings.
                let docker_hosts: Vec<DockerHost> = hosts
                    .iter()
                    .map(|(name, settings)| DockerHost {
                        name: name.clone(),
                        gitlab_rb: scenario
                            .host(name)
                            .map(|h| h.gitlab_rb.fill(&crate::scenario::Bindings::default()))
                            .unwrap_or_default(),
                        settings: settings.clone(),
                    })
                    .collect();
                Ok(Stack::Docker(Box::new(
                    DockerStack::start(&spec.docker, scenario.gitlab_version, &docker_hosts)
                        .await?,
                )))
            }
            TargetKind::Live => {
                let users: Vec<String> = scenario
                    .steps
                    .iter()
                    .filter_map(|s| match &s.action {
                        Action::Sso { user, .. } => Some(user.clone()),
                        _ => None,
                    })
                    .collect();
                let env = |k: &str| std::env::var(k).ok();
                let info = live::connect(
                    &spec.live,
                    scenario.gitlab_version,
                    &users,
                    &env,
                    spec.request_timeout,
                )
                .await?;
                Ok(Stack::Live(Box::new(info)))
            }
        }
    }

    pub fn info(&self) -> &StackInfo {
        match self {
            Stack::Twin(t) => t.info(),
            Stack::Live(i) => i,
            Stack::Docker(d) => d.info(),
        }
    }

    /// Apply a host's re-resolved settings (`host.reconfigure`); `gitlab_rb` is the host's
    /// filled gitlab.rb they came from (what a container is configured with).
    pub async fn reconfigure(
        &mut self,
        host: &str,
        settings: &HostSettings,
        gitlab_rb: &str,
    ) -> Result<(), StackError> {
        match self {
            Stack::Twin(t) => t.reconfigure(host, settings),
            Stack::Docker(d) => d.reconfigure(host, gitlab_rb).await,
            Stack::Live(_) => Err(StackError::new(
                StackErrorKind::Refused,
                format!(
                    "the live target does not reconfigure hosts: apply host `{host}`'s gitlab.rb there and run `gitlab-ctl reconfigure`"
                ),
            )),
        }
    }

    /// The messages the stack's mail sink received, or `None` when the target has no sink the
    /// harness can read (live). The hook for `mail.*` steps.
    pub fn mailbox(&self) -> Option<Vec<MailboxMessage>> {
        match self {
            Stack::Twin(t) => Some(t.mailbox()),
            Stack::Docker(d) => Some(d.mailbox()),
            Stack::Live(_) => None,
        }
    }

    /// What the stack's processes printed (docker: each container's last lines), for a failing
    /// scenario's report; `None` where there is nothing to show.
    pub async fn logs(&self) -> Option<String> {
        match self {
            Stack::Docker(d) => Some(d.logs(80).await),
            Stack::Twin(_) | Stack::Live(_) => None,
        }
    }

    /// Stop the stack (twin: every listener).
    pub async fn down(self) {
        match self {
            Stack::Twin(t) => t.shutdown().await,
            Stack::Live(_) => {}
            Stack::Docker(d) => d.down().await,
        }
    }
}
