//! The twin target: the embedded reference GitLab + Mattermost started in-process on loopback
//! (`twin::bringup::Twin::start`) with the scenario's resolved hosts and faults; its accounts, CA
//! and address book become the [`StackInfo`]. `host.reconfigure` of the Mattermost host is the
//! twin's own omnibus reconfigure (`TwinHandle::reconfigure`): settings re-rendered from gitlab.rb,
//! the application registered earlier remembered.

use std::str::FromStr;

use url::Url;

use crate::config::HostSettings;
use crate::twin::bringup::{Twin, TwinErrorKind, TwinHandle, TwinOptions};
use crate::twin::clock::ProductClock;
use crate::twin::fault::Fault;

/// How long the sink's implicit-TLS listeners wait for a TLS ClientHello in scenario runs.
pub const SINK_TLS_START_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(400);

use super::error::{StackError, StackErrorKind};
use super::model::{Account, MailboxMessage, StackInfo, StackNeeds};
use super::resolve::ResolvedHost;

/// How long the harness's mail sink waits on a silent client (every target that runs one): a
/// relay that drops a client silent for 3 s, so a Mattermost waiting for the greeting of a TLS port fails in
/// seconds, not after the sink's default 30 s. It stays above the 1 s `SMTPServerTimeout` of the
/// scenarios, which containers run on real time (the twin target runs them on the scenario clock
/// and drops a client that never starts TLS after [`SINK_TLS_START_TIMEOUT`]).
pub const MAIL_RELAY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A running twin and what the drivers need to reach it.
pub struct TwinStack {
    handle: TwinHandle,
    info: StackInfo,
    /// Host names (scenario tables) and whether each runs Mattermost.
    hosts: Vec<(String, bool)>,
}

fn parse_url(raw: &str) -> Result<Url, StackError> {
    Url::parse(raw).map_err(|e| {
        StackError::new(
            StackErrorKind::Configuration,
            format!("the twin reports an invalid URL {raw:?}: {e}"),
        )
    })
}

/// Whether the twin refused the scenario's topology or settings (bad input, exit 2) or could not
/// start on this machine (environment, exit 3).
fn start_error_kind(kind: &TwinErrorKind) -> StackErrorKind {
    match kind {
        TwinErrorKind::NothingToRun
        | TwinErrorKind::BadUrl { .. }
        | TwinErrorKind::UnsupportedScheme { .. }
        | TwinErrorKind::SeveralGitlabs(_)
        | TwinErrorKind::SeveralMattermosts(_)
        | TwinErrorKind::FaultNeedsTls { .. }
        | TwinErrorKind::FaultNeedsSso { .. }
        | TwinErrorKind::FaultNeedsMattermost { .. }
        | TwinErrorKind::FaultNeedsHttpsMattermost { .. }
        | TwinErrorKind::FaultNeedsStartTls { .. }
        | TwinErrorKind::NoAdmin
        | TwinErrorKind::ReconfigureWithoutMattermost
        | TwinErrorKind::ReconfigureMovesMattermost { .. }
        | TwinErrorKind::MoveOutWithoutMattermost
        | TwinErrorKind::Restore(_) => StackErrorKind::Configuration,
        TwinErrorKind::MailServer { .. }
        | TwinErrorKind::Listen(_)
        | TwinErrorKind::Tls(_)
        | TwinErrorKind::State(_)
        | TwinErrorKind::Ca(_) => StackErrorKind::Environment,
    }
}

impl TwinStack {
    pub async fn start(
        hosts: &[ResolvedHost],
        needs: &StackNeeds,
    ) -> Result<TwinStack, StackError> {
        let profile = crate::config::Profile::for_gitlab(needs.gitlab_version);
        let mut opts = TwinOptions::single_server(profile);
        opts.hosts = hosts.iter().map(|h| h.settings.clone()).collect();
        opts.mail_idle_timeout = Some(MAIL_RELAY_IDLE_TIMEOUT);
        // The sink is the harness's instrument: its implicit-TLS listeners drop a client that
        // has not begun a TLS handshake after 400 ms (a TLS client begins at once), so Mattermost
        // 3.4 waiting for the greeting of a TLS port (`smtp-none`; 3.4 has no timeout of its
        // own) fails in a fraction of a second, not after the sink's default 30 s. It stays
        // well above Mattermost 10.11's scaled `SMTPServerTimeout` (1 s → 100 ms below), so in
        // `smtp-starttls-against-465` Mattermost gives up first, as on a real relay.
        opts.mail_tls_start_timeout = Some(SINK_TLS_START_TIMEOUT);
        // Mattermost's own timeouts run on the scenario clock (docs/twin.md, "Deviations").
        opts.clock = ProductClock::SCENARIO;
        for name in &needs.faults {
            let fault = Fault::from_str(name)
                .map_err(|e| StackError::new(StackErrorKind::Configuration, e.to_string()))?;
            opts = opts.with_fault(fault);
        }
        let users: Vec<Account> = opts
            .gitlab_users
            .iter()
            .map(|u| Account {
                login: u.username.clone(),
                password: u.password.clone(),
            })
            .collect();
        let handle = Twin::start(opts).await.map_err(|e| {
            StackError::new(start_error_kind(&e.kind), crate::drive::error::chain(&e))
        })?;
        let gitlab = handle.gitlab();
        let mattermost = handle.mattermost();
        // GitLab 8.9–8.11 installed an older Mattermost: its database starts as that release left it.
        if let (Some(m), Some(r)) = (
            &mattermost,
            crate::twin::mattermost::upgrade::bundled_release(needs.gitlab_version),
        ) && profile == crate::config::Profile::Gitlab8_12
        {
            m.twin.install_release(r);
        }
        let email_sign_in_off = hosts
            .iter()
            .map(|h| &h.settings)
            .any(|h| h.mattermost_enabled && !h.mattermost.email.enable_sign_in_with_email);
        let info = StackInfo {
            gitlab_url: gitlab.as_ref().map(|g| parse_url(&g.url)).transpose()?,
            mattermost_url: mattermost.as_ref().map(|m| parse_url(&m.url)).transpose()?,
            book: handle.address_book().clone(),
            roots: vec![handle.ca_der()],
            gitlab_version: profile.gitlab_version(),
            mattermost_version: profile.mattermost_version(),
            gitlab_root: gitlab.as_ref().map(|g| Account {
                login: g.root_username.clone(),
                password: g.root_password.clone(),
            }),
            gitlab_admin_token: gitlab.as_ref().map(|g| g.admin_token.clone()),
            // Email sign-in is on in every profile's defaults (username sign-in is off on the
            // 8.12 omnibus defaults), so the administrator logs in with the email address —
            // unless the scenario turned email sign-in off (the seed's SMTP text does), when
            // the username is what Mattermost accepts.
            mattermost_admin: mattermost.as_ref().map(|m| Account {
                login: if email_sign_in_off {
                    m.admin_username.clone()
                } else {
                    m.admin_email.clone()
                },
                password: m.admin_password.clone(),
            }),
            users,
        };
        Ok(TwinStack {
            handle,
            info,
            hosts: hosts
                .iter()
                .map(|h| (h.name.clone(), h.settings.mattermost_enabled))
                .collect(),
        })
    }

    pub fn info(&self) -> &StackInfo {
        &self.info
    }

    /// The running Mattermost twin (for `gitlab.upgrade` and `mattermost.run_sql`).
    pub(crate) fn mattermost_twin(
        &self,
    ) -> Option<std::sync::Arc<crate::twin::mattermost::MattermostTwin>> {
        self.handle.mattermost().map(|m| m.twin)
    }

    /// The move out of omnibus on the twin (see `TwinHandle::move_mattermost_out`): the drivers
    /// then reach the standalone Mattermost at `url`.
    pub async fn move_mattermost_out(
        &mut self,
        url: &str,
        settings: crate::config::model::MattermostSettings,
        locked: Vec<String>,
        export: &crate::twin::mattermost::moveout::MattermostExport,
    ) -> Result<(), StackError> {
        let access = self
            .handle
            .move_mattermost_out(url, settings, locked, export)
            .await
            .map_err(|e| {
                StackError::new(start_error_kind(&e.kind), crate::drive::error::chain(&e))
            })?;
        self.info.mattermost_url = Some(parse_url(&access.url)?);
        self.info.book = self.handle.address_book().clone();
        Ok(())
    }

    /// Apply the re-resolved settings of a host to the running twin.
    pub fn reconfigure(&mut self, host: &str, settings: &HostSettings) -> Result<(), StackError> {
        let runs_mattermost = self
            .hosts
            .iter()
            .find(|(n, _)| n == host)
            .map(|(_, m)| *m)
            .unwrap_or(false);
        if !runs_mattermost || !settings.mattermost_enabled {
            return Err(StackError::new(
                StackErrorKind::Configuration,
                format!(
                    "host `{host}` does not run Mattermost; the twin reconfigures only Mattermost's settings"
                ),
            ));
        }
        self.handle
            .reconfigure(settings)
            .map_err(|e| StackError::new(StackErrorKind::Configuration, e.to_string()))
    }

    /// What the mail sink (the SMTP server the scenario's settings name) received so far; none
    /// when the scenario configures no SMTP server other than localhost.
    pub fn mailbox(&self) -> Vec<MailboxMessage> {
        self.handle
            .mail_sink()
            .map(|sink| {
                sink.mailbox()
                    .messages()
                    .iter()
                    .map(|m| crate::stack::model::MailboxMessage::from_sink(m))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The mail sink's mailbox, if the twin started one.
    pub fn mail_sink_mailbox(&self) -> Option<std::sync::Arc<crate::mailsink::Mailbox>> {
        self.handle.mail_sink().map(|s| s.mailbox().clone())
    }

    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}
