//! Bringing the whole twin up: what the run engine and `mm-harness twin up` call.
//!
//! Owns: reading the omnibus hosts ([`HostSettings`]), binding one loopback listener per served
//! URL (https plus the http→https redirect listener when `redirect_http_to_https`), the address
//! book, playing omnibus's reconfigure (the "GitLab Mattermost" OAuth application and Mattermost's
//! GitLab settings on a host running both), applying each [`Fault`] as a settings, registration
//! or listener change, and the [`TwinHandle`] that owns everything started.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use url::Url;

use crate::config::model::{HostSettings, MattermostSettings, NginxSettings, Secret};
use crate::config::version::Profile;
use crate::net::AddressBook;

use super::clock::ProductClock;
use super::fault::Fault;
use super::gitlab::{GitlabTwin, GitlabTwinConfig, GitlabUser, OAuthApplication};
use super::listen::{self, ListenError, ServedListener};
use super::mattermost::{MattermostAdmin, MattermostTwin, MattermostTwinConfig};
use super::tls::{CertKind, TwinCa};
use crate::mailsink::{ListenerMode, ListenerSpec, MailSink, SinkCert, SinkFaults, SinkOptions};

/// The OAuth application name omnibus registers.
pub const MATTERMOST_APP_NAME: &str = "GitLab Mattermost";

/// What to start.
#[derive(Debug, Clone)]
pub struct TwinOptions {
    /// One per omnibus host (from gitlab.rb via the configuration model).
    pub hosts: Vec<HostSettings>,
    pub faults: Vec<Fault>,
    /// GitLab accounts; the first admin is the "root" account reported by the handle.
    pub gitlab_users: Vec<GitlabUser>,
    /// The SMTP server Mattermost's mail goes to (played by the harness's mail sink). `None`:
    /// derived from the Mattermost SMTP settings when they name a server other than localhost
    /// (see [`MailServerSpec::derive`]).
    pub mail_server: Option<MailServerSpec>,
    /// Timeout of Mattermost's requests to GitLab (real Mattermost: 30 s).
    pub outbound_timeout: Duration,
    /// How long the mail sink waits for a silent client (and a TLS handshake) before closing
    /// the connection; `None`: the sink's default (30 s). Scenario runs shorten it so a
    /// client that waits for a greeting a TLS port never sends fails in seconds.
    pub mail_idle_timeout: Option<Duration>,
    /// How long the sink's implicit-TLS listeners wait for a client to start its handshake;
    /// `None`: the idle timeout.
    pub mail_tls_start_timeout: Option<Duration>,
    /// How long the played products' own timeouts (Mattermost's `SMTPServerTimeout`) last in
    /// real time: [`ProductClock::REAL`] for `twin up`, [`ProductClock::SCENARIO`] for scenario
    /// runs (docs/twin.md, "Deviations").
    pub clock: ProductClock,
    /// The CA to issue server certificates from; `None`: a fresh one. The twin image in a
    /// container (`twin::container`) is given the run's CA so every container and the harness
    /// trust each other.
    pub ca: Option<Arc<TwinCa>>,
    /// Names served elsewhere (other containers, the harness's mail sink), added to where
    /// Mattermost's server connects. An SMTP server listed here is not started by the twin.
    pub peers: AddressBook,
    /// The state a previous run left on the volumes (`twin serve`, [`super::persist`]): GitLab's
    /// and Mattermost's databases and the registered application start from it.
    pub restore: Option<Arc<super::persist::TwinState>>,
}

/// The SMTP server to run for Mattermost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailServerSpec {
    /// The name Mattermost dials (`EmailSettings.SMTPServer`), also the certificate's name.
    pub host: String,
    /// The port Mattermost dials (`EmailSettings.SMTPPort`).
    pub port: u16,
    /// What listens on that port (the sink also serves 25, 465 and 587 for the same name).
    pub security: ListenerMode,
    /// Accepted credentials; `None`: the server offers no AUTH.
    pub auth: Option<(String, Secret)>,
}

impl MailServerSpec {
    /// What an operator's SMTP relay on that port would be: 465 implicit TLS, 587 STARTTLS, else
    /// plain; AUTH with Mattermost's credentials when `EnableSMTPAuth` is on. `None` when the
    /// settings name no server, `localhost` or an unparsable port (nothing to stand in for).
    pub fn derive(settings: &MattermostSettings) -> Option<MailServerSpec> {
        let email = &settings.email;
        let host = email.smtp_server.trim().to_ascii_lowercase();
        if host.is_empty() || host == "localhost" || host == "127.0.0.1" {
            return None;
        }
        let port: u16 = email.smtp_port.trim().parse().ok()?;
        let security = match port {
            465 => ListenerMode::Implicit,
            587 => ListenerMode::StartTls,
            _ => ListenerMode::Plain,
        };
        let auth = email
            .enable_smtp_auth
            .then(|| (email.smtp_username.clone(), email.smtp_password.clone()));
        Some(MailServerSpec {
            host,
            port,
            security,
            auth,
        })
    }
}

impl MailServerSpec {
    /// [`MailServerSpec::derive`] for a host, by the Mattermost its profile plays: Mattermost 3.4
    /// has no `EnableSMTPAuth` and authenticates whenever `ConnectionSecurity` is `TLS`,
    /// `STARTTLS` or `PLAIN` (utils/mail.go `newSMTPClient`), so its relay takes its credentials
    /// then.
    pub fn for_host(host: &HostSettings) -> Option<MailServerSpec> {
        let mut spec = Self::derive(&host.mattermost)?;
        let email = &host.mattermost.email;
        if host.profile == Profile::Gitlab8_12
            && spec.auth.is_none()
            && matches!(
                email.connection_security.trim(),
                "TLS" | "STARTTLS" | "PLAIN"
            )
        {
            spec.auth = Some((email.smtp_username.clone(), email.smtp_password.clone()));
        }
        Some(spec)
    }
}

impl TwinOptions {
    /// The seed's single-server setup: `http://gitlab.example.com` and
    /// `http://mattermost.example.com` on one omnibus host.
    pub fn single_server(profile: Profile) -> TwinOptions {
        let mut host = HostSettings::defaults(profile);
        host.external_url = Some("http://gitlab.example.com".to_string());
        host.mattermost_external_url = Some("http://mattermost.example.com".to_string());
        host.mattermost_enabled = true;
        host.mattermost.service.site_url = "http://mattermost.example.com".to_string();
        TwinOptions {
            hosts: vec![host],
            faults: Vec::new(),
            gitlab_users: GitlabUser::defaults(),
            mail_server: None,
            outbound_timeout: Duration::from_secs(30),
            mail_idle_timeout: None,
            mail_tls_start_timeout: None,
            clock: ProductClock::REAL,
            ca: None,
            peers: AddressBook::new(),
            restore: None,
        }
    }

    /// The same over https (`redirect_http_to_https` on both virtual hosts), as the seed's
    /// "GitLab Mattermost with HTTPS" section configures it.
    pub fn single_server_https(profile: Profile) -> TwinOptions {
        let mut opts = Self::single_server(profile);
        for host in &mut opts.hosts {
            host.external_url = Some("https://gitlab.example.com".to_string());
            host.mattermost_external_url = Some("https://mattermost.example.com".to_string());
            host.mattermost.service.site_url = "https://mattermost.example.com".to_string();
            host.gitlab_nginx.redirect_http_to_https = true;
            host.mattermost_nginx.redirect_http_to_https = true;
        }
        opts
    }

    /// Mattermost's mail through the harness's sink, as `twin up` starts by default: every
    /// Mattermost host sends to `smtp.example.com:587` with STARTTLS (the sink's certificate from
    /// the twin's CA, AUTH as `mattermost@example.com`), from
    /// `GitLab Mattermost <mattermost@example.com>`, with email sign-up,
    /// email notifications and email verification on — so a person can sign up by email in a
    /// browser and follow the verification link from the sink's mailbox page.
    pub fn with_mail_sink(mut self) -> TwinOptions {
        for host in self.hosts.iter_mut().filter(|h| h.mattermost_enabled) {
            let email = &mut host.mattermost.email;
            email.smtp_server = "smtp.example.com".to_string();
            email.smtp_port = "587".to_string();
            email.connection_security = "STARTTLS".to_string();
            email.enable_smtp_auth = true;
            email.smtp_username = "mattermost@example.com".to_string();
            email.smtp_password = Secret::new("Twin-smtp-pass1");
            email.send_email_notifications = true;
            email.require_email_verification = true;
            email.enable_sign_up_with_email = true;
            email.feedback_name = MATTERMOST_APP_NAME.to_string();
            email.feedback_email = "mattermost@example.com".to_string();
            host.mattermost.team.enable_user_creation = true;
            host.mattermost.team.enable_open_server = true;
        }
        self
    }

    pub fn with_fault(mut self, fault: Fault) -> TwinOptions {
        if !self.faults.contains(&fault) {
            self.faults.push(fault);
        }
        self
    }

    pub fn has(&self, fault: Fault) -> bool {
        self.faults.contains(&fault)
    }
}

/// Why the twin could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the twin: {kind}")]
pub struct TwinError {
    #[source]
    pub kind: TwinErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum TwinErrorKind {
    #[error("no host runs GitLab or Mattermost (set external_url or mattermost_external_url)")]
    NothingToRun,
    #[error("{key} {url:?} is not a valid URL with a host name")]
    BadUrl { key: &'static str, url: String },
    #[error("unsupported URL scheme in {url:?}: the twin serves http and https")]
    UnsupportedScheme { url: String },
    #[error("{0} hosts run GitLab; the twin plays one GitLab instance")]
    SeveralGitlabs(usize),
    #[error("{0} hosts run Mattermost; the twin plays one Mattermost instance")]
    SeveralMattermosts(usize),
    #[error(
        "fault {fault} needs a TLS endpoint: GitLab's external_url must be https (e.g. `twin up --https`)"
    )]
    FaultNeedsTls { fault: Fault },
    #[error("fault {fault} needs Mattermost and GitLab in the twin")]
    FaultNeedsSso { fault: Fault },
    #[error("fault {fault} needs Mattermost in the twin")]
    FaultNeedsMattermost { fault: Fault },
    #[error(
        "fault {fault} needs an https Mattermost: mattermost_external_url must be https (e.g. `twin up --https`)"
    )]
    FaultNeedsHttpsMattermost { fault: Fault },
    #[error(
        "fault {fault} needs a STARTTLS mail server: set Mattermost's SMTP server to a host on port 587"
    )]
    FaultNeedsStartTls { fault: Fault },
    #[error("cannot start the mail server for {host}:{port}: {message}")]
    MailServer {
        host: String,
        port: u16,
        message: String,
    },
    #[error("no users to seed: GitLab needs at least one admin account")]
    NoAdmin,
    #[error("reconfigure needs a host running Mattermost (mattermost_external_url)")]
    ReconfigureWithoutMattermost,
    #[error(
        "reconfigure cannot move Mattermost from {from} to {to}: the twin keeps its listeners; start a new twin"
    )]
    ReconfigureMovesMattermost { from: String, to: String },
    #[error("the move out of omnibus needs a running bundled Mattermost to export from")]
    MoveOutWithoutMattermost,
    #[error(transparent)]
    Restore(#[from] super::mattermost::moveout::RestoreError),
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    #[error("the saved state does not hold: {0}")]
    State(String),
    #[error("cannot generate the twin CA: {0}")]
    Ca(#[from] rcgen::Error),
}

impl<E: Into<TwinErrorKind>> From<E> for TwinError {
    fn from(e: E) -> Self {
        TwinError { kind: e.into() }
    }
}

/// How to reach the twin's GitLab.
#[derive(Debug, Clone)]
pub struct GitlabAccess {
    /// `external_url`, as documented (`http://gitlab.example.com`).
    pub url: String,
    pub root_username: String,
    pub root_password: Secret,
    /// Personal access token of the root account (scope `api`).
    pub admin_token: Secret,
    pub twin: Arc<GitlabTwin>,
}

/// How to reach the twin's Mattermost.
#[derive(Clone)]
pub struct MattermostAccess {
    /// `mattermost_external_url`, as documented.
    pub url: String,
    pub admin_username: String,
    pub admin_email: String,
    pub admin_password: Secret,
    pub twin: Arc<MattermostTwin>,
}

impl std::fmt::Debug for MattermostAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MattermostAccess")
            .field("url", &self.url)
            .field("admin_username", &self.admin_username)
            .field("admin_email", &self.admin_email)
            .field("admin_password", &self.admin_password)
            .finish_non_exhaustive()
    }
}

/// Everything bring-up decided for the Mattermost host, before Mattermost itself starts.
#[derive(Debug, Clone)]
pub struct MattermostPlan {
    pub profile: Profile,
    /// `mattermost_external_url`.
    pub url: String,
    /// Effective settings after omnibus registration and faults.
    pub settings: MattermostSettings,
    /// Where Mattermost's own outbound requests go (differs from the public book under
    /// the closed-port fault).
    pub outbound_book: AddressBook,
    /// The CAs Mattermost trusts (omnibus `trusted-certs`).
    pub trusted_roots: Vec<CertificateDer<'static>>,
    /// The application omnibus registered for it, if it did.
    pub registered_application: Option<OAuthApplication>,
}

/// A running twin. Dropping it stops every listener.
pub struct TwinHandle {
    address_book: AddressBook,
    ca: Arc<TwinCa>,
    gitlab: Option<GitlabAccess>,
    mattermost: Option<MattermostAccess>,
    mattermost_plan: Option<MattermostPlan>,
    mail_sink: Option<MailSink>,
    listeners: Vec<ServedListener>,
    /// Which of `listeners` serve Mattermost (stopped when it moves out of omnibus).
    mattermost_listeners: std::ops::Range<usize>,
    /// What the twin was started with (faults and users stay for every reconfigure).
    opts: TwinOptions,
    /// Every request the GitLab and Mattermost listeners answered.
    requests: super::request_log::RequestLog,
}

impl std::fmt::Debug for TwinHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwinHandle")
            .field("address_book", &self.address_book)
            .field("gitlab", &self.gitlab.as_ref().map(|g| &g.url))
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl TwinHandle {
    /// `gitlab-ctl reconfigure` on the Mattermost host with a new gitlab.rb: omnibus renders the
    /// new settings (endpoints derived from `external_url` where not given, the application it
    /// registered earlier remembered rather than registered again) and the faults still apply;
    /// Mattermost restarts with the result. Listeners, users, applications and posts stay.
    pub fn reconfigure(&mut self, host: &HostSettings) -> Result<(), TwinError> {
        let (Some(mattermost), Some(previous)) = (&self.mattermost, &self.mattermost_plan) else {
            return Err(TwinErrorKind::ReconfigureWithoutMattermost.into());
        };
        if !host.mattermost_enabled {
            return Err(TwinErrorKind::ReconfigureWithoutMattermost.into());
        }
        let raw = host.mattermost_external_url.as_deref().unwrap_or_default();
        let served = parse_url("mattermost_external_url", raw)?;
        if served.url.as_str().trim_end_matches('/') != previous.url {
            return Err(TwinErrorKind::ReconfigureMovesMattermost {
                from: previous.url.clone(),
                to: served.url.to_string(),
            }
            .into());
        }
        let mut plan = plan_mattermost(
            &self.opts,
            host,
            &served,
            self.gitlab.as_ref(),
            &self.ca,
            &previous.outbound_book,
            previous.registered_application.as_ref(),
        )?;
        plan.outbound_book = previous.outbound_book.clone();
        let settings = plan.settings.clone();
        mattermost.twin.update_settings(move |s| *s = settings);
        self.mattermost_plan = Some(plan);
        Ok(())
    }

    /// The move out of omnibus: the bundled Mattermost is stopped (its listeners close, as
    /// `mattermost['enable'] = false` and a reconfigure remove its service and nginx vhost) and a
    /// standalone Mattermost — what `mattermost/mattermost-team-edition` is, on its own host at
    /// `url` — starts with `settings` (from its `MM_*` environment only; `env_overrides` are the
    /// paths that environment locks) on the database restored from `export`. GitLab, its OAuth
    /// applications and the mail sink stay as they are.
    pub async fn move_mattermost_out(
        &mut self,
        url: &str,
        settings: MattermostSettings,
        env_overrides: Vec<String>,
        export: &super::mattermost::moveout::MattermostExport,
    ) -> Result<MattermostAccess, TwinError> {
        let (Some(_), Some(previous)) = (&self.mattermost, &self.mattermost_plan) else {
            return Err(TwinErrorKind::MoveOutWithoutMattermost.into());
        };
        let served = parse_url("url", url)?;
        let outbound_book = previous.outbound_book.clone();
        let trusted_roots = previous.trusted_roots.clone();
        let profile = previous.profile;
        let admin = MattermostAdmin::default();
        let twin = MattermostTwin::restored_from_export(
            MattermostTwinConfig {
                profile,
                settings: settings.clone(),
                address_book: outbound_book.clone(),
                trusted_roots: trusted_roots.clone(),
                admin: admin.clone(),
                outbound_timeout: self.opts.outbound_timeout,
                env_overrides,
                clock: self.opts.clock,
            },
            export,
        )?;
        for l in &self.listeners[self.mattermost_listeners.clone()] {
            l.stop();
        }
        let https = served.url.scheme() == "https";
        // A standalone server has no omnibus nginx; over https a proxy in front of it sets
        // X-Forwarded-Proto as the documented proxy configuration does.
        let router = if https {
            listen::behind_nginx(twin.router(), true)
        } else {
            twin.router()
        };
        let nginx = NginxSettings {
            redirect_http_to_https: false,
            ..HostSettings::defaults(profile).mattermost_nginx
        };
        let first = self.listeners.len();
        serve_host(
            &self.ca,
            &served,
            &nginx,
            CertKind::Valid,
            router,
            &mut self.address_book,
            &mut self.listeners,
        )
        .await?;
        self.mattermost_listeners = first..self.listeners.len();
        let access = MattermostAccess {
            url: served.url.as_str().trim_end_matches('/').to_string(),
            admin_username: admin.username,
            admin_email: admin.email,
            admin_password: admin.password,
            twin,
        };
        self.mattermost_plan = Some(MattermostPlan {
            profile,
            url: access.url.clone(),
            settings,
            outbound_book,
            trusted_roots,
            registered_application: None,
        });
        self.mattermost = Some(access.clone());
        Ok(access)
    }

    /// What `twin serve` writes to its volumes: both databases and the registered application.
    pub fn state(&self, gitlab_version: &str) -> super::persist::TwinState {
        super::persist::TwinState {
            format: super::persist::FORMAT,
            gitlab_version: gitlab_version.to_string(),
            gitlab: self.gitlab.as_ref().map(|g| g.twin.state()),
            mattermost: self.mattermost.as_ref().map(|m| m.twin.state()),
            registered_application: self
                .mattermost_plan
                .as_ref()
                .and_then(|p| p.registered_application.as_ref())
                .map(super::persist::TwinState::application_state),
        }
    }

    /// Where every documented host name is reachable.
    /// Every request the GitLab and Mattermost listeners answered so far.
    pub fn request_log(&self) -> &super::request_log::RequestLog {
        &self.requests
    }

    pub fn address_book(&self) -> &AddressBook {
        &self.address_book
    }

    /// The twin CA (PEM), what an operator puts in `/etc/gitlab/trusted-certs`.
    pub fn ca_pem(&self) -> &str {
        self.ca.ca_pem_str()
    }

    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.ca_der()
    }

    /// The CA itself (issue more certificates, e.g. for an SMTP server).
    pub fn ca(&self) -> &TwinCa {
        &self.ca
    }

    pub fn gitlab(&self) -> Option<GitlabAccess> {
        self.gitlab.clone()
    }

    pub fn mattermost(&self) -> Option<MattermostAccess> {
        self.mattermost.clone()
    }

    /// The mail sink playing the SMTP server Mattermost's mail goes to, when the settings name
    /// one.
    pub fn mail_sink(&self) -> Option<&MailSink> {
        self.mail_sink.as_ref()
    }

    /// The Mattermost host as bring-up configured it.
    pub fn mattermost_plan(&self) -> Option<&MattermostPlan> {
        self.mattermost_plan.as_ref()
    }

    /// The loopback addresses of every listener.
    pub fn listener_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.addr()).collect()
    }

    /// Stop every listener and wait until they are gone.
    pub async fn shutdown(mut self) {
        for l in &self.listeners {
            l.stop();
        }
        if let Some(mail) = self.mail_sink.take() {
            mail.shutdown().await;
        }
        tokio::task::yield_now().await;
    }
}

/// One URL a host serves, parsed.
struct ServedUrl {
    url: Url,
    host: String,
    port: u16,
}

fn parse_url(key: &'static str, raw: &str) -> Result<ServedUrl, TwinError> {
    let url = Url::parse(raw).map_err(|_| TwinErrorKind::BadUrl {
        key,
        url: raw.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TwinErrorKind::UnsupportedScheme {
            url: raw.to_string(),
        }
        .into());
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| TwinErrorKind::BadUrl {
            key,
            url: raw.to_string(),
        })?
        .to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(ServedUrl { url, host, port })
}

/// The twin.
pub struct Twin;

impl Twin {
    /// Start every host of `opts` on loopback.
    pub async fn start(opts: TwinOptions) -> Result<TwinHandle, TwinError> {
        crate::crypto::install_default_provider();
        let requests = super::request_log::RequestLog::default();
        let ca = match &opts.ca {
            Some(ca) => ca.clone(),
            None => Arc::new(TwinCa::try_generate()?),
        };
        let gitlab_hosts: Vec<&HostSettings> = opts
            .hosts
            .iter()
            .filter(|h| h.gitlab_rails_enabled && h.external_url.is_some())
            .collect();
        let mattermost_hosts: Vec<&HostSettings> = opts
            .hosts
            .iter()
            .filter(|h| h.mattermost_enabled && h.mattermost_external_url.is_some())
            .collect();
        if gitlab_hosts.len() > 1 {
            return Err(TwinErrorKind::SeveralGitlabs(gitlab_hosts.len()).into());
        }
        if mattermost_hosts.len() > 1 {
            return Err(TwinErrorKind::SeveralMattermosts(mattermost_hosts.len()).into());
        }
        if gitlab_hosts.is_empty() && mattermost_hosts.is_empty() {
            return Err(TwinErrorKind::NothingToRun.into());
        }
        let gitlab_host = gitlab_hosts.first().copied();
        let mattermost_host = mattermost_hosts.first().copied();
        check_faults(&opts, gitlab_host, mattermost_host)?;

        let mut book = AddressBook::new();
        let mut listeners = Vec::new();

        // GitLab.
        let mut gitlab = None;
        if let Some(host) = gitlab_host {
            let raw = host.external_url.as_deref().unwrap_or_default();
            let served = parse_url("external_url", raw)?;
            let admin = opts
                .gitlab_users
                .iter()
                .find(|u| u.admin)
                .cloned()
                .ok_or(TwinErrorKind::NoAdmin)?;
            let slow = opts
                .has(Fault::SlowEndpoint)
                .then(|| opts.outbound_timeout * 2 + Duration::from_millis(100));
            let twin = GitlabTwin::new(GitlabTwinConfig {
                profile: host.profile,
                external_url: served.url.clone(),
                users: opts.gitlab_users.clone(),
                slow,
            });
            if let Some(state) = opts.restore.as_ref().and_then(|r| r.gitlab.as_ref()) {
                let store = super::gitlab::model::GitlabStore::from_state(state)
                    .map_err(TwinErrorKind::State)?;
                twin.restore(store);
            }
            let cert = opts
                .faults
                .iter()
                .find_map(|f| f.cert_kind())
                .unwrap_or(CertKind::Valid);
            serve_host(
                &ca,
                &served,
                &host.gitlab_nginx,
                cert,
                requests.layer(listen::behind_nginx(
                    twin.router(),
                    served.url.scheme() == "https",
                )),
                &mut book,
                &mut listeners,
            )
            .await?;
            gitlab = Some(GitlabAccess {
                url: served.url.as_str().trim_end_matches('/').to_string(),
                root_username: admin.username.clone(),
                root_password: admin.password.clone(),
                admin_token: twin.admin_token(),
                twin,
            });
        }

        // The mail server Mattermost's settings name.
        let mail_spec = opts
            .mail_server
            .clone()
            .or_else(|| mattermost_host.and_then(MailServerSpec::for_host));
        check_mail_faults(&opts, mail_spec.as_ref())?;
        let mut mail_sink = None;
        if let Some(spec) = mail_spec
            .as_ref()
            .filter(|s| opts.peers.lookup("smtp", &s.host, s.port).is_none())
        {
            mail_sink = Some(start_mail_sink(&ca, spec, &opts, &mut book).await?);
        }

        // Mattermost: what omnibus and the faults make of its settings, then the server.
        let mut mattermost = None;
        let mut mattermost_plan = None;
        let mattermost_first = listeners.len();
        if let Some(host) = mattermost_host {
            let raw = host.mattermost_external_url.as_deref().unwrap_or_default();
            let served = parse_url("mattermost_external_url", raw)?;
            let remembered = opts.restore.as_ref().and_then(|r| r.application());
            let mut plan = plan_mattermost(
                &opts,
                host,
                &served,
                gitlab.as_ref(),
                &ca,
                &book,
                remembered.as_ref(),
            )?;
            let admin = MattermostAdmin::default();
            let cfg = MattermostTwinConfig {
                profile: plan.profile,
                settings: plan.settings.clone(),
                address_book: plan.outbound_book.clone(),
                trusted_roots: plan.trusted_roots.clone(),
                admin: admin.clone(),
                outbound_timeout: opts.outbound_timeout,
                env_overrides: env_overrides(plan.profile),
                clock: opts.clock,
            };
            let twin = match opts.restore.as_ref().and_then(|r| r.mattermost.as_ref()) {
                Some(state) => {
                    MattermostTwin::restored(cfg, state).map_err(TwinErrorKind::State)?
                }
                None => MattermostTwin::new(cfg),
            };
            // Omnibus nginx sets X-Forwarded-Proto; the fault's proxy passes the client's headers
            // through untouched.
            let router = if opts.has(Fault::ProxyWithoutForwardedProto) {
                twin.router()
            } else {
                listen::behind_nginx(twin.router(), served.url.scheme() == "https")
            };
            serve_host(
                &ca,
                &served,
                &host.mattermost_nginx,
                CertKind::Valid,
                requests.layer(router),
                &mut book,
                &mut listeners,
            )
            .await?;
            // Mattermost's own names, for anything that calls back into it.
            for e in &book.entries {
                if plan
                    .outbound_book
                    .lookup(&e.scheme, &e.host, e.port)
                    .is_none()
                {
                    plan.outbound_book
                        .insert(&e.scheme, &e.host, e.port, e.addr);
                }
            }
            mattermost = Some(MattermostAccess {
                url: plan.url.clone(),
                admin_username: admin.username,
                admin_email: admin.email,
                admin_password: admin.password,
                twin,
            });
            mattermost_plan = Some(plan);
        }

        Ok(TwinHandle {
            address_book: book,
            ca,
            gitlab,
            mattermost,
            mattermost_plan,
            mail_sink,
            mattermost_listeners: mattermost_first..listeners.len(),
            listeners,
            opts,
            requests,
        })
    }
}

fn check_faults(
    opts: &TwinOptions,
    gitlab: Option<&HostSettings>,
    mattermost: Option<&HostSettings>,
) -> Result<(), TwinError> {
    let gitlab_https = gitlab
        .and_then(|h| h.external_url.as_deref())
        .is_some_and(|u| u.starts_with("https://"));
    for &fault in &opts.faults {
        let needs_sso = matches!(
            fault,
            Fault::WrongClientSecret
                | Fault::UnregisteredRedirectUri
                | Fault::UserApiV3
                | Fault::TokenEndpointHtml
                | Fault::SlowEndpoint
                | Fault::ClosedPort
        );
        if needs_sso && (gitlab.is_none() || mattermost.is_none()) {
            return Err(TwinErrorKind::FaultNeedsSso { fault }.into());
        }
        if fault == Fault::WebhooksDisabled && mattermost.is_none() {
            return Err(TwinErrorKind::FaultNeedsMattermost { fault }.into());
        }
        if fault == Fault::ProxyWithoutForwardedProto
            && !mattermost
                .and_then(|h| h.mattermost_external_url.as_deref())
                .is_some_and(|u| u.starts_with("https://"))
        {
            return Err(TwinErrorKind::FaultNeedsHttpsMattermost { fault }.into());
        }
        let mail_tls = opts
            .mail_server
            .clone()
            .or_else(|| mattermost.and_then(MailServerSpec::for_host))
            .is_some_and(|spec| spec.security.needs_tls());
        if fault.cert_kind().is_some() && !gitlab_https && !mail_tls {
            return Err(TwinErrorKind::FaultNeedsTls { fault }.into());
        }
    }
    Ok(())
}

/// Serve one virtual host: its main listener, and the redirect listener when asked.
async fn serve_host(
    ca: &TwinCa,
    served: &ServedUrl,
    nginx: &NginxSettings,
    cert: CertKind,
    router: axum::Router,
    book: &mut AddressBook,
    listeners: &mut Vec<ServedListener>,
) -> Result<(), TwinError> {
    let listener = listen::bind_loopback().await?;
    let https = served.url.scheme() == "https";
    let tls = if https {
        Some(ca.try_server_config(&served.host, cert)?)
    } else {
        None
    };
    let main = listen::serve(listener, router, tls)?;
    book.insert(served.url.scheme(), &served.host, served.port, main.addr());
    listeners.push(main);
    if https && nginx.redirect_http_to_https {
        let listener = listen::bind_loopback().await?;
        let redirect = listen::serve(
            listener,
            listen::redirect_to_https_router(&served.host, served.port),
            None,
        )?;
        book.insert("http", &served.host, 80, redirect.addr());
        listeners.push(redirect);
    }
    Ok(())
}

/// Omnibus's reconfigure and the faults, applied to the Mattermost host's settings.
///
/// `remembered` is the application a previous reconfigure registered: omnibus keeps its id and
/// secret in `/etc/gitlab/gitlab-secrets.json` and registers only once, so a later reconfigure
/// reuses them where gitlab.rb gives none (and never registers again).
fn plan_mattermost(
    opts: &TwinOptions,
    host: &HostSettings,
    served: &ServedUrl,
    gitlab: Option<&GitlabAccess>,
    ca: &TwinCa,
    book: &AddressBook,
    remembered: Option<&OAuthApplication>,
) -> Result<MattermostPlan, TwinError> {
    let mut settings = host.mattermost.clone();
    let mm_url = served.url.as_str().trim_end_matches('/').to_string();
    if settings.service.site_url.is_empty() {
        settings.service.site_url = mm_url.clone();
    }
    // parse_mattermost_external_url: endpoints from external_url when not given (||=).
    if let Some(gitlab_url) = host.external_url.as_deref() {
        let base = gitlab_url.trim_end_matches('/');
        let user_api = match host.profile {
            // Omnibus 8.x pointed Mattermost at API v3 (v4 arrived in 9.0).
            Profile::Gitlab8_12 => "/api/v3/user",
            Profile::Gitlab18_11 => "/api/v4/user",
        };
        let g = &mut settings.gitlab;
        if g.auth_endpoint.is_empty() {
            g.auth_endpoint = format!("{base}/oauth/authorize");
        }
        if g.token_endpoint.is_empty() {
            g.token_endpoint = format!("{base}/oauth/token");
        }
        if g.user_api_endpoint.is_empty() {
            g.user_api_endpoint = format!("{base}{user_api}");
        }
    }
    // authorize_with_gitlab: on a host running GitLab Rails too, find or create the application.
    let mut registered_application = None;
    let same_host_gitlab = gitlab.filter(|_| {
        host.gitlab_rails_enabled && host.external_url.is_some() && host.register_as_oauth_app
    });
    if let (Some(app), Some(_)) = (remembered, same_host_gitlab) {
        if settings.gitlab.id.is_empty() {
            settings.gitlab.id = app.uid.clone();
            settings.gitlab.secret = app.secret.clone();
            settings.gitlab.enable = true;
        }
        registered_application = Some(app.clone());
    } else if let Some(gitlab) = same_host_gitlab {
        let site = settings.service.site_url.trim_end_matches('/').to_string();
        let callbacks = if opts.has(Fault::UnregisteredRedirectUri) {
            // The application still names the other scheme (e.g. http after moving to https).
            let other = if site.starts_with("https://") {
                site.replacen("https://", "http://", 1)
            } else {
                site.replacen("http://", "https://", 1)
            };
            vec![
                format!("{other}/signup/gitlab/complete"),
                format!("{other}/login/gitlab/complete"),
            ]
        } else {
            vec![
                format!("{site}/signup/gitlab/complete"),
                format!("{site}/login/gitlab/complete"),
            ]
        };
        let app = if settings.gitlab.id.is_empty() {
            let app =
                gitlab
                    .twin
                    .register_application(MATTERMOST_APP_NAME, &callbacks, "", false, true);
            settings.gitlab.id = app.uid.clone();
            settings.gitlab.secret = app.secret.clone();
            app
        } else {
            // gitlab_id / gitlab_secret given: omnibus finds or creates the application with them.
            let app = gitlab.twin.find_or_create_application(
                &settings.gitlab.id,
                &settings.gitlab.secret,
                MATTERMOST_APP_NAME,
                &callbacks,
            );
            settings.gitlab.secret = app.secret.clone();
            app
        };
        settings.gitlab.enable = true;
        settings.gitlab.scope = String::new();
        registered_application = Some(app);
    }
    // Faults that are Mattermost settings.
    if let Some(gitlab_url) = host
        .external_url
        .as_deref()
        .or(gitlab.map(|g| g.url.as_str()))
    {
        let base = gitlab_url.trim_end_matches('/');
        if opts.has(Fault::UserApiV3) {
            settings.gitlab.user_api_endpoint = format!("{base}/api/v3/user");
        }
        if opts.has(Fault::TokenEndpointHtml) {
            // A path copied from another OAuth provider: GitLab answers its HTML 404 page.
            settings.gitlab.token_endpoint = format!("{base}/oauth/access_token");
        }
    }
    if opts.has(Fault::WrongClientSecret) {
        settings.gitlab.secret =
            Secret::new(format!("wrong-{}", super::gitlab::model::random_hex(8)));
    }
    if opts.has(Fault::WebhooksDisabled) {
        settings.service.enable_incoming_webhooks = false;
    }
    // Where Mattermost's server really connects.
    let mut outbound_book = book.clone();
    for e in &opts.peers.entries {
        if outbound_book.lookup(&e.scheme, &e.host, e.port).is_none() {
            outbound_book.insert(&e.scheme, &e.host, e.port, e.addr);
        }
    }
    if opts.has(Fault::ClosedPort) {
        let closed = listen::closed_port()?;
        for entry in &mut outbound_book.entries {
            if gitlab.is_some_and(|g| {
                Url::parse(&g.url).is_ok_and(|u| u.host_str() == Some(entry.host.as_str()))
            }) {
                entry.addr = closed;
            }
        }
    }
    Ok(MattermostPlan {
        profile: host.profile,
        url: mm_url,
        settings,
        outbound_book,
        trusted_roots: vec![ca.ca_der()],
        registered_application,
    })
}

/// Faults that concern the mail server.
fn check_mail_faults(opts: &TwinOptions, spec: Option<&MailServerSpec>) -> Result<(), TwinError> {
    if opts.has(Fault::StartTlsNotOffered)
        && spec.is_none_or(|s| s.security != ListenerMode::StartTls)
    {
        return Err(TwinErrorKind::FaultNeedsStartTls {
            fault: Fault::StartTlsNotOffered,
        }
        .into());
    }
    Ok(())
}

/// The listeners of the twin's sink: the three documented ports, each under the SMTP server's
/// name in the address book, so a Mattermost dialling the wrong mode for a port meets what a real
/// relay would answer there.
const SINK_PORTS: [(&str, ListenerMode, u16); 3] = [
    ("smtp", ListenerMode::Plain, 25),
    ("submission", ListenerMode::StartTls, 587),
    ("smtps", ListenerMode::Implicit, 465),
];

/// Start the harness's mail sink as the SMTP server the settings name, with the twin's CA and
/// the mail faults, and publish its listeners under `spec.host`.
async fn start_mail_sink(
    ca: &Arc<TwinCa>,
    spec: &MailServerSpec,
    opts: &TwinOptions,
    book: &mut AddressBook,
) -> Result<MailSink, TwinError> {
    let cert = match opts.faults.iter().find_map(|f| f.cert_kind()) {
        None | Some(CertKind::Valid) => SinkCert::Valid,
        Some(CertKind::Expired) => SinkCert::Expired,
        Some(CertKind::WrongHost) => SinkCert::WrongHost,
        Some(CertKind::Untrusted) => SinkCert::Untrusted,
    };
    let issuer: Arc<dyn crate::mailsink::CertIssuer> = ca.clone();
    let mut sink_opts = SinkOptions::new(&spec.host).with_certificates(issuer);
    for (name, mode, _) in SINK_PORTS {
        sink_opts = sink_opts.with_listener(ListenerSpec::loopback(name, mode));
    }
    sink_opts.credentials = spec
        .auth
        .clone()
        .map(|(username, password)| crate::mailsink::Credentials { username, password });
    if let Some(idle) = opts.mail_idle_timeout {
        sink_opts.limits.idle_timeout = idle;
        sink_opts.limits.tls_start_timeout = idle;
    }
    if let Some(start) = opts.mail_tls_start_timeout {
        sink_opts.limits.tls_start_timeout = start;
    }
    sink_opts.faults = SinkFaults {
        starttls_not_offered: opts.has(Fault::StartTlsNotOffered),
        // A relay without TLS on its submission port takes credentials in the clear.
        auth_in_plaintext: opts.has(Fault::StartTlsNotOffered),
        cert,
        ..SinkFaults::default()
    };
    let sink = MailSink::start(sink_opts).await.map_err(|e| {
        TwinError::from(TwinErrorKind::MailServer {
            host: spec.host.clone(),
            port: spec.port,
            message: e.to_string(),
        })
    })?;
    for (_, mode, port) in SINK_PORTS {
        if let Some(addr) = sink.addr(mode) {
            book.insert("smtp", &spec.host, port, addr);
        }
    }
    if !SINK_PORTS.iter().any(|(_, _, p)| *p == spec.port)
        && let Some(addr) = sink.addr(spec.security)
    {
        book.insert("smtp", &spec.host, spec.port, addr);
    }
    Ok(sink)
}

/// The settings omnibus hands Mattermost as `MM_*` environment variables (GitLab 11+:
/// mattermost_helper.rb `get_env_variables`); they cannot be changed in the System Console.
fn env_overrides(profile: Profile) -> Vec<String> {
    match profile {
        Profile::Gitlab8_12 => Vec::new(),
        Profile::Gitlab18_11 => [
            "ServiceSettings.SiteURL",
            "ServiceSettings.ListenAddress",
            "ServiceSettings.AllowedUntrustedInternalConnections",
            "ServiceSettings.EnableAPITeamDeletion",
            "TeamSettings.SiteName",
            "SqlSettings.DriverName",
            "SqlSettings.DataSource",
            "SqlSettings.AtRestEncryptKey",
            "LogSettings.FileLocation",
            "FileSettings.Directory",
            "GitLabSettings.Enable",
            "GitLabSettings.Secret",
            "GitLabSettings.Id",
            "GitLabSettings.Scope",
            "GitLabSettings.AuthEndpoint",
            "GitLabSettings.TokenEndpoint",
            "GitLabSettings.UserAPIEndpoint",
            "PluginSettings.Directory",
            "PluginSettings.ClientDirectory",
        ]
        .into_iter()
        .map(str::to_string)
        .collect(),
    }
}
