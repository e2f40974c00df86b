//! [`Stack`]: a running target, whatever kind. The runner brings one up per scenario, hands its
//! [`StackInfo`] to the drivers, asks it to apply re-resolved host settings, and takes it down.

use crate::vocab::TargetKind;

use super::docker::{DockerHost, DockerStack};
use super::error::{StackError, StackErrorKind};
use super::live;
use super::model::{MailboxMessage, StackInfo, StackNeeds, TargetSpec};
use super::resolve::ResolvedHost;
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
    /// Bring up the target for a scenario whose hosts resolved to `hosts` and which needs `needs`
    /// (see [`StackNeeds::of`]).
    ///
    /// The runner may drop this future before it completes (SIGINT/SIGTERM, the scenario's
    /// deadline): a target must leave nothing behind when it is (the twin's listeners abort on
    /// drop; a container target needs a drop guard removing what it started). Once `up` has
    /// returned, the runner always calls [`Stack::down`], bounded to 60 s.
    pub async fn up(
        spec: &TargetSpec,
        hosts: &[ResolvedHost],
        needs: &StackNeeds,
    ) -> Result<Stack, StackError> {
        match spec.kind {
            TargetKind::Twin => Ok(Stack::Twin(Box::new(TwinStack::start(hosts, needs).await?))),
            TargetKind::Docker => {
                let docker_hosts: Vec<DockerHost> = hosts.iter().map(docker_host).collect();
                Ok(Stack::Docker(Box::new(
                    DockerStack::acquire(&spec.docker, needs.gitlab_version, &docker_hosts).await?,
                )))
            }
            TargetKind::Live => {
                let env = |k: &str| std::env::var(k).ok();
                let info = live::connect(
                    &spec.live,
                    needs.gitlab_version,
                    &needs.sso_users,
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

    /// Apply a host re-resolved with the bindings known now (`host.reconfigure`).
    pub async fn reconfigure(&mut self, host: &ResolvedHost) -> Result<(), StackError> {
        match self {
            Stack::Twin(t) => t.reconfigure(&host.name, &host.settings),
            Stack::Docker(d) => d.reconfigure(&host.name, host.gitlab_rb.expose()).await,
            Stack::Live(_) => Err(StackError::new(
                StackErrorKind::Refused,
                format!(
                    "the live target does not reconfigure hosts: apply host `{}`'s gitlab.rb there and run `gitlab-ctl reconfigure`",
                    host.name
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

    /// The stack's mail sink's mailbox (event-driven waiting, transport facts), or `None` when
    /// the target has none the harness can read (live; a twin whose Mattermost names no SMTP
    /// server).
    pub fn mail_sink_mailbox(&self) -> Option<std::sync::Arc<crate::mailsink::Mailbox>> {
        match self {
            Stack::Twin(t) => t.mail_sink_mailbox(),
            Stack::Docker(d) => d.mail_sink_mailbox(),
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

/// The docker stack's view of a resolved host: its name, filled gitlab.rb and settings.
fn docker_host(h: &ResolvedHost) -> DockerHost {
    DockerHost {
        name: h.name.clone(),
        gitlab_rb: h.gitlab_rb.expose().to_string(),
        settings: h.settings.clone(),
    }
}
