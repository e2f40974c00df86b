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

use super::fault::Fault;
use super::gitlab::{GitlabTwin, GitlabTwinConfig, GitlabUser, OAuthApplication};
use super::listen::{self, ListenError, ListenOptions, ServedListener};
use super::tls::{CertKind, TwinCa};

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
    /// Timeout of Mattermost's requests to GitLab (real Mattermost: 30 s).
    pub outbound_timeout: Duration,
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
            outbound_timeout: Duration::from_secs(30),
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
    #[error("no users to seed: GitLab needs at least one admin account")]
    NoAdmin,
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
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
    ca: TwinCa,
    ca_pem: String,
    gitlab: Option<GitlabAccess>,
    mattermost_plan: Option<MattermostPlan>,
    listeners: Vec<ServedListener>,
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
    /// Where every documented host name is reachable.
    pub fn address_book(&self) -> &AddressBook {
        &self.address_book
    }

    /// The twin CA (PEM), what an operator puts in `/etc/gitlab/trusted-certs`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
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

    /// The Mattermost host as bring-up configured it.
    pub fn mattermost_plan(&self) -> Option<&MattermostPlan> {
        self.mattermost_plan.as_ref()
    }

    /// The loopback addresses of every listener.
    pub fn listener_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.addr()).collect()
    }

    /// Stop every listener and wait until they are gone.
    pub async fn shutdown(self) {
        for l in &self.listeners {
            l.stop();
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
        let ca = TwinCa::try_generate()?;
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
                twin.router(),
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

        // Mattermost: what omnibus and the faults make of its settings.
        let mut mattermost_plan = None;
        if let Some(host) = mattermost_host {
            let raw = host.mattermost_external_url.as_deref().unwrap_or_default();
            let served = parse_url("mattermost_external_url", raw)?;
            let plan = plan_mattermost(&opts, host, &served, gitlab.as_ref(), &ca, &book)?;
            mattermost_plan = Some((plan, served));
        }
        let mattermost_plan = match mattermost_plan {
            Some((plan, served)) => {
                let host = mattermost_host.ok_or(TwinErrorKind::NothingToRun)?;
                start_mattermost(&ca, &served, host, &plan, &mut book, &mut listeners).await?;
                // The outbound book sees every listener just bound too (Mattermost's own URL).
                let mut plan = plan;
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
                Some(plan)
            }
            None => None,
        };

        Ok(TwinHandle {
            address_book: book,
            ca_pem: ca.ca_pem(),
            ca,
            gitlab,
            mattermost_plan,
            listeners,
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
        if fault.cert_kind().is_some() && !gitlab_https && !mail_uses_tls(mattermost) {
            return Err(TwinErrorKind::FaultNeedsTls { fault }.into());
        }
    }
    Ok(())
}

/// Whether the Mattermost host's SMTP settings use TLS (implicit or STARTTLS).
fn mail_uses_tls(mattermost: Option<&HostSettings>) -> bool {
    mattermost.is_some_and(|h| {
        matches!(
            h.mattermost
                .email
                .connection_security
                .to_ascii_uppercase()
                .as_str(),
            "TLS" | "STARTTLS"
        )
    })
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
    let main = listen::serve(listener, router, ListenOptions { tls, delay: None })?;
    book.insert(served.url.scheme(), &served.host, served.port, main.addr());
    listeners.push(main);
    if https && nginx.redirect_http_to_https {
        let listener = listen::bind_loopback().await?;
        let redirect = listen::serve(
            listener,
            listen::redirect_to_https_router(&served.host, served.port),
            ListenOptions::default(),
        )?;
        book.insert("http", &served.host, 80, redirect.addr());
        listeners.push(redirect);
    }
    Ok(())
}

/// Omnibus's reconfigure and the faults, applied to the Mattermost host's settings.
fn plan_mattermost(
    opts: &TwinOptions,
    host: &HostSettings,
    served: &ServedUrl,
    gitlab: Option<&GitlabAccess>,
    ca: &TwinCa,
    book: &AddressBook,
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
    if let Some(gitlab) = same_host_gitlab {
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
        let existing = gitlab
            .twin
            .applications()
            .into_iter()
            .find(|a| !settings.gitlab.id.is_empty() && a.uid == settings.gitlab.id);
        let app = match existing {
            Some(app) => app,
            None => {
                let app = gitlab.twin.register_application(
                    MATTERMOST_APP_NAME,
                    &callbacks,
                    "",
                    false,
                    true,
                );
                settings.gitlab.id = app.uid.clone();
                settings.gitlab.secret = app.secret.clone();
                app
            }
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

/// Start the Mattermost side of `plan`.
async fn start_mattermost(
    _ca: &TwinCa,
    _served: &ServedUrl,
    _host: &HostSettings,
    _plan: &MattermostPlan,
    _book: &mut AddressBook,
    _listeners: &mut Vec<ServedListener>,
) -> Result<(), TwinError> {
    Ok(())
}
