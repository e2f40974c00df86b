//! [`DockerStack`]: a scenario's hosts as containers on a private network.
//!
//! Start: connect (exit 3 with a hint when no engine answers), sweep what dead runs left, check
//! the images are present (exit 3: `docker pull …` / `mm-harness twin image`), create the run's
//! network and each host's volumes (`/etc/gitlab`, `/var/opt/gitlab`, `/var/log/gitlab`), then per
//! host (GitLab hosts first, so their names resolve when Mattermost's start): testcontainers
//! starts the container with `GITLAB_OMNIBUS_CONFIG` rendered from the host's gitlab.rb by the
//! configuration model, `GITLAB_ROOT_PASSWORD`, the run's CA and the host's certificates in
//! `/etc/gitlab/ssl` and `/etc/gitlab/trusted-certs`, ports 80/443 published on 127.0.0.1 only;
//! bollard connects it to the network under the names it serves (`gitlab.example.com`,
//! `mattermost.example.com`). The harness reaches each name through the published ports (the
//! address book keeps URLs, Host headers and TLS names). Readiness: GitLab `/-/readiness` (or
//! its sign-in page on versions without it), Mattermost `/api/v4/system/ping`
//! (`/api/v3/general/ping` on 3.x), polled with progress until the deadline. The admin token is
//! seeded with `gitlab-rails runner` through `docker exec`, as gitlab-qa does. When Mattermost's
//! settings name an SMTP server, the harness's mail sink listens on the network's gateway and the
//! Mattermost containers resolve that name there.
//!
//! `host.reconfigure` = the host's container removed and created again with the new environment
//! on the same volumes, aliases and host ports. [`DockerStack::down`] removes containers,
//! network and volumes (unless kept); dropping a stack that was not taken down (a panic) removes
//! them from a helper thread; a sweep at the next start removes what a killed run left.

use std::sync::Arc;
use std::time::{Duration, Instant};

use testcontainers::bollard::Docker;
use testcontainers::core::{ContainerPort, IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use url::Url;

use crate::config::{HostSettings, Profile, Secret, Version};
use crate::net::AddressBook;
use crate::stack::error::{StackError, StackErrorKind};
use crate::stack::model::{Account, StackInfo};
use crate::twin::container::{CA_CERT_PATH, CA_KEY_PATH, SeedCall, VERSION_VAR};
use crate::twin::gitlab::GitlabUser;
use crate::twin::tls::{CertKind, TwinCa};

use super::engine::{self, HOST_LABEL, env_err};
use super::images::ImageTable;
use super::pool::{HostShape, PoolKey, StackPool};

// Upgrades (`gitlab.upgrade`, `mattermost.run_sql`): a child module, it shares the private parts.
#[path = "upgrade.rs"]
pub mod upgrade;

/// A progress callback (readiness waits, image checks), for the human reporter.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// The docker target's options (`run --target docker` flags).
#[derive(Clone)]
pub struct DockerOptions {
    /// Image for omnibus hosts of every GitLab version; default: images.toml for the version.
    pub gitlab_image: Option<String>,
    /// Images for omnibus hosts of one GitLab version (`--gitlab-image 8.12=mm-twin:8.12`),
    /// matched on major.minor before `gitlab_image`; such an image knows its version.
    pub gitlab_images: Vec<(Version, String)>,
    /// Image for a standalone Mattermost host (GitLab 19+ topologies).
    pub mattermost_image: Option<String>,
    /// How long a host may take to become ready (a real GitLab's first boot takes minutes).
    pub ready_timeout: Duration,
    /// Leave the stack running at the end and print how to reach it.
    pub keep: bool,
    pub progress: Option<Progress>,
    /// The run's idle stacks, for reuse across scenarios with the same topology and version
    /// (`None`: every scenario gets its own stack).
    pub pool: Option<Arc<StackPool>>,
}

impl Default for DockerOptions {
    fn default() -> Self {
        DockerOptions {
            gitlab_image: None,
            gitlab_images: Vec::new(),
            mattermost_image: None,
            ready_timeout: Duration::from_secs(600),
            keep: false,
            progress: None,
            pool: None,
        }
    }
}

impl std::fmt::Debug for DockerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerOptions")
            .field("gitlab_image", &self.gitlab_image)
            .field("gitlab_images", &self.gitlab_images)
            .field("mattermost_image", &self.mattermost_image)
            .field("ready_timeout", &self.ready_timeout)
            .field("keep", &self.keep)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// One host of the scenario: its name, filled gitlab.rb and resolved settings.
#[derive(Debug, Clone)]
pub struct DockerHost {
    pub name: String,
    pub gitlab_rb: String,
    pub settings: HostSettings,
}

/// A running host.
struct HostContainer {
    host: DockerHost,
    image: String,
    container: Option<ContainerAsync<GenericImage>>,
    id: String,
    /// Container port → published loopback port.
    ports: Vec<(u16, u16)>,
    names: Vec<String>,
}

/// A running docker stack.
pub struct DockerStack {
    docker: Docker,
    id: String,
    network: String,
    ca: Arc<TwinCa>,
    hosts: Vec<HostContainer>,
    volumes: Vec<String>,
    info: StackInfo,
    opts: DockerOptions,
    version: Version,
    root_password: Secret,
    /// The harness's mail sink, playing the SMTP server Mattermost's settings name, listening on
    /// the network's gateway address; containers resolve its name there (`extra_hosts`).
    mail: Option<crate::mailsink::MailSink>,
    mail_host: Option<(String, std::net::IpAddr)>,
    down: bool,
    /// The omnibus image its containers run.
    image: String,
    /// Whether its containers can be reset for another scenario (the image has the twin's
    /// reset command): only such stacks are pooled.
    resettable: bool,
    /// The run's pool it returns to (weak: the pool owns its idle stacks, and a panic that
    /// drops the pool must drop them, which a cycle would prevent).
    pool: Option<std::sync::Weak<StackPool>>,
}

/// The names a host serves, lower-case: GitLab's when Rails runs, Mattermost's when it runs.
fn served_urls(h: &HostSettings) -> Vec<Url> {
    let mut out = Vec::new();
    if h.gitlab_rails_enabled
        && let Some(u) = h.external_url.as_deref().and_then(|u| Url::parse(u).ok())
    {
        out.push(u);
    }
    if h.mattermost_enabled
        && let Some(u) = h
            .mattermost_external_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
    {
        out.push(u);
    }
    out
}

fn container_ports(urls: &[Url]) -> Vec<u16> {
    let mut ports = vec![80];
    for u in urls {
        if u.scheme() == "https" {
            ports.push(443);
        }
        if let Some(p) = u.port_or_known_default() {
            ports.push(p);
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn random_secret(prefix: &str, len: usize) -> Secret {
    Secret::new(format!(
        "{prefix}{}",
        crate::twin::gitlab::model::random_token(len)
    ))
}

fn repo_tag(image: &str) -> (String, String) {
    // "registry:5000/a/b:tag" → ("registry:5000/a/b", "tag"); no tag → latest.
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

/// The host's gitlab.rb as the container receives it (`GITLAB_OMNIBUS_CONFIG`): rendered by the
/// configuration model.
fn rendered_config(host: &DockerHost, version: Version) -> String {
    let file = crate::diag::SourceFile::new(host.name.clone(), host.gitlab_rb.clone());
    crate::config::render_omnibus_config(&crate::config::resolve(&file, version))
}

/// The SMTP server name the Mattermost hosts' settings name (the mail sink plays it).
fn mail_host_of(hosts: &[DockerHost]) -> Option<String> {
    hosts
        .iter()
        .filter(|h| h.settings.mattermost_enabled)
        .find_map(|h| crate::twin::bringup::MailServerSpec::for_host(&h.settings))
        .map(|s| s.host)
}

/// A scenario's hosts as the pool sees them.
fn shapes_of(hosts: &[DockerHost]) -> Vec<HostShape> {
    hosts
        .iter()
        .map(|h| {
            let urls = served_urls(&h.settings);
            HostShape {
                name: h.name.clone(),
                gitlab: h.settings.gitlab_rails_enabled,
                mattermost: h.settings.mattermost_enabled,
                names: urls
                    .iter()
                    .filter_map(|u| u.host_str().map(str::to_ascii_lowercase))
                    .collect(),
                ports: container_ports(&urls),
            }
        })
        .collect()
}

/// The omnibus image for this version: `--gitlab-image` (per version or for all), else
/// images.toml.
fn omnibus_image(opts: &DockerOptions, version: Version) -> Result<String, StackError> {
    upgrade::image_for(opts, version).map(|(image, _)| image)
}

impl DockerStack {
    /// A stack for a scenario: an idle one of the run's pool with the same topology, version and
    /// image, reset for this scenario's gitlab.rb; else a new one ([`DockerStack::start`]).
    pub async fn acquire(
        opts: &DockerOptions,
        version: Version,
        hosts: &[DockerHost],
    ) -> Result<DockerStack, StackError> {
        if let Some(pool) = opts.pool.as_ref().filter(|_| !opts.keep) {
            let image = omnibus_image(opts, version)?;
            let key = PoolKey::new(&image, version, shapes_of(hosts), mail_host_of(hosts));
            while let Some(mut stack) = pool.take(&key) {
                let t0 = Instant::now();
                match stack.reset(hosts).await {
                    Ok(()) => {
                        pool.note(|s| s.reused += 1);
                        if let Some(p) = &opts.progress {
                            p(&format!(
                                "docker: stack {} reused, reset in {:.1} s",
                                stack.id,
                                t0.elapsed().as_secs_f64()
                            ));
                        }
                        return Ok(stack);
                    }
                    Err(e) => {
                        pool.note(|s| s.reset_failed += 1);
                        if let Some(p) = &opts.progress {
                            p(&format!(
                                "docker: stack {} could not be reset ({}); starting a new one",
                                stack.id, e.message
                            ));
                        }
                        stack.remove().await;
                    }
                }
            }
            let stack = DockerStack::start(opts, version, hosts).await?;
            pool.note(|s| s.started += 1);
            return Ok(stack);
        }
        DockerStack::start(opts, version, hosts).await
    }

    /// The stack's key in the pool, from what its containers are now (a `host.reconfigure` may
    /// have changed them); `None` when it cannot be reset or is kept.
    pub fn pool_key(&self) -> Option<PoolKey> {
        if !self.resettable || self.opts.keep {
            return None;
        }
        let shapes = self
            .hosts
            .iter()
            .map(|h| HostShape {
                name: h.host.name.clone(),
                gitlab: h.host.settings.gitlab_rails_enabled,
                mattermost: h.host.settings.mattermost_enabled,
                names: h.names.clone(),
                ports: {
                    let mut p: Vec<u16> = h.ports.iter().map(|(c, _)| *c).collect();
                    p.sort_unstable();
                    p
                },
            })
            .collect();
        Some(PoolKey::new(
            &self.image,
            self.version,
            shapes,
            self.mail_host.as_ref().map(|(n, _)| n.clone()),
        ))
    }

    /// Make the stack a fresh one for another scenario with the same key: each container's
    /// services start again from scratch with the host's new gitlab.rb
    /// ([`crate::twin::container::RESET_COMMAND`]), the mail sink starts again for the new
    /// settings, then readiness, seeding and the address book as after a start.
    async fn reset(&mut self, hosts: &[DockerHost]) -> Result<(), StackError> {
        if let Some(sink) = self.mail.take() {
            sink.shutdown().await;
        }
        let mail_name = self.mail_host.take().map(|(n, _)| n);
        for i in 0..self.hosts.len() {
            let Some(new) = hosts.iter().find(|h| h.name == self.hosts[i].host.name) else {
                return Err(env_err(format!(
                    "the scenario has no host `{}`",
                    self.hosts[i].host.name
                )));
            };
            let cmd = vec![
                crate::twin::container::RESET_COMMAND.to_string(),
                rendered_config(new, self.version),
            ];
            let (code, out) = engine::exec(
                &self.docker,
                &self.hosts[i].id,
                &cmd,
                Duration::from_secs(120),
            )
            .await?;
            if code != 0 {
                return Err(env_err(format!(
                    "resetting host `{}` failed with exit {code}: {}",
                    new.name,
                    crate::report::escape::terminal(out.trim())
                )));
            }
            self.hosts[i].host = new.clone();
        }
        self.start_mail_sink(hosts).await?;
        if self.mail_host.as_ref().map(|(n, _)| n) != mail_name.as_ref() {
            return Err(env_err(
                "the scenario's SMTP server name differs from the one the containers resolve",
            ));
        }
        for i in 0..self.hosts.len() {
            self.wait_ready(i).await?;
        }
        self.info.gitlab_admin_token = None;
        self.seed().await?;
        self.fill_info();
        Ok(())
    }

    /// Start every host. `version` is the scenario's GitLab version.
    pub async fn start(
        opts: &DockerOptions,
        version: Version,
        hosts: &[DockerHost],
    ) -> Result<DockerStack, StackError> {
        let started = Instant::now();
        let docker = engine::connect().await?;
        let swept = engine::sweep(&docker, false).await?;
        let say = |m: &str| {
            if let Some(p) = &opts.progress {
                p(m)
            }
        };
        if swept != engine::Swept::default() {
            say(&format!(
                "docker: removed what an earlier run left: {} containers, {} networks, {} volumes",
                swept.containers, swept.networks, swept.volumes
            ));
        }
        let table = ImageTable::builtin();
        let omnibus = omnibus_image(opts, version)?;
        engine::require_image(&docker, &omnibus, omnibus == table.twin.image).await?;
        // Only an image with the twin's reset command can serve another scenario afresh.
        let resettable = docker
            .inspect_image(&omnibus)
            .await
            .ok()
            .and_then(|i| i.config)
            .and_then(|c| c.labels)
            .is_some_and(|l| l.contains_key(super::twin_image::BINARY_LABEL));
        // A standalone Mattermost image is checked too, although no topology starts one yet
        // (docs/docker.md): a typo fails here rather than on the day one does.
        if let Some(mm) = &opts.mattermost_image {
            engine::require_image(&docker, mm, *mm == table.twin.image).await?;
        }

        let id = format!(
            "{}-{}",
            std::process::id(),
            crate::twin::gitlab::model::random_hex(4)
        );
        let network = format!("mm-harness-{id}");
        let ca = Arc::new(
            TwinCa::try_generate()
                .map_err(|e| env_err(format!("cannot generate the run's CA: {e}")))?,
        );
        let mut stack = DockerStack {
            docker: docker.clone(),
            id: id.clone(),
            network: network.clone(),
            ca,
            hosts: Vec::new(),
            volumes: Vec::new(),
            info: StackInfo {
                gitlab_url: None,
                mattermost_url: None,
                book: AddressBook::new(),
                roots: Vec::new(),
                gitlab_version: version,
                mattermost_version: Profile::for_gitlab(version).mattermost_version(),
                gitlab_root: None,
                gitlab_admin_token: None,
                mattermost_admin: None,
                users: Vec::new(),
            },
            // Without the pool: the stack points back at it weakly (`pool`).
            opts: DockerOptions {
                pool: None,
                ..opts.clone()
            },
            version,
            root_password: random_secret("Root-", 16),
            mail: None,
            mail_host: None,
            down: false,
            image: omnibus.clone(),
            resettable,
            pool: opts.pool.as_ref().map(Arc::downgrade),
        };
        engine::create_network(&docker, &network, &id, opts.keep).await?;
        stack.start_mail_sink(hosts).await?;
        // GitLab hosts first: Mattermost hosts resolve their names when they start.
        let mut order: Vec<&DockerHost> = hosts.iter().collect();
        order.sort_by_key(|h| !h.settings.gitlab_rails_enabled);
        for h in order {
            let c = stack.create(h.clone(), &omnibus, None).await?;
            stack.hosts.push(c);
        }
        for i in 0..stack.hosts.len() {
            stack.wait_ready(i).await?;
        }
        stack.seed().await?;
        stack.fill_info();
        say(&format!(
            "docker: stack {} up in {:.1} s ({} containers on network {})",
            stack.id,
            started.elapsed().as_secs_f64(),
            stack.hosts.len(),
            stack.network
        ));
        Ok(stack)
    }

    /// Start the mail sink when a Mattermost host's settings name an SMTP server (other than
    /// localhost): one listener on the network's gateway, on the port and with the security
    /// Mattermost uses, the run's CA for TLS, the configured credentials for AUTH.
    async fn start_mail_sink(&mut self, hosts: &[DockerHost]) -> Result<(), StackError> {
        use crate::mailsink::{Credentials, ListenerMode, ListenerSpec, MailSink, SinkOptions};
        let Some(spec) = hosts
            .iter()
            .filter(|h| h.settings.mattermost_enabled)
            .find_map(|h| crate::twin::bringup::MailServerSpec::for_host(&h.settings))
        else {
            return Ok(());
        };
        let gateway: std::net::IpAddr = engine::network_gateway(&self.docker, &self.network)
            .await?
            .and_then(|g| g.parse().ok())
            .ok_or_else(|| {
                env_err("the docker network has no gateway address for the mail sink")
            })?;
        let name = match spec.security {
            ListenerMode::Plain => "smtp",
            ListenerMode::StartTls => "submission",
            ListenerMode::Implicit => "smtps",
        };
        let issuer: Arc<dyn crate::mailsink::CertIssuer> = self.ca.clone();
        let mut opts = SinkOptions::new(&spec.host)
            .with_certificates(issuer)
            .with_listener(ListenerSpec::new(
                name,
                spec.security,
                std::net::SocketAddr::new(gateway, spec.port),
            ));
        // A relay that drops a silent client after 3 s (also one that never starts TLS on an
        // implicit-TLS listener), above the containers' real-time 1 s `SMTPServerTimeout`.
        opts.limits.idle_timeout = crate::stack::twin::MAIL_RELAY_IDLE_TIMEOUT;
        opts.limits.tls_start_timeout = crate::stack::twin::MAIL_RELAY_IDLE_TIMEOUT;
        opts.credentials = spec
            .auth
            .clone()
            .map(|(username, password)| Credentials { username, password });
        let sink = MailSink::start(opts).await.map_err(|e| {
            env_err(format!(
                "cannot start the mail sink for {}:{} on the docker network's gateway {gateway}: {e}",
                spec.host, spec.port
            ))
        })?;
        self.mail = Some(sink);
        self.mail_host = Some((spec.host.clone(), gateway));
        Ok(())
    }

    /// What the mail sink received, as the `mail.*` steps read it.
    /// The mail sink's mailbox, for the `mail.*` steps.
    pub fn mail_sink_mailbox(&self) -> Option<std::sync::Arc<crate::mailsink::Mailbox>> {
        self.mail.as_ref().map(|s| s.mailbox().clone())
    }

    pub fn mailbox(&self) -> Vec<crate::stack::model::MailboxMessage> {
        let Some(sink) = &self.mail else {
            return Vec::new();
        };
        sink.mailbox()
            .messages()
            .iter()
            .map(|m| crate::stack::model::MailboxMessage::from_sink(m))
            .collect()
    }

    /// Create and start one host's container (`fixed`: the host ports to publish on, when the
    /// container replaces an earlier one).
    async fn create(
        &mut self,
        host: DockerHost,
        image: &str,
        fixed: Option<&[(u16, u16)]>,
    ) -> Result<HostContainer, StackError> {
        let urls = served_urls(&host.settings);
        let names: Vec<String> = urls
            .iter()
            .filter_map(|u| u.host_str().map(str::to_ascii_lowercase))
            .collect();
        let ports = container_ports(&urls);
        let (repo, tag) = repo_tag(image);
        let mut req = GenericImage::new(repo, tag).with_wait_for(WaitFor::Nothing);
        for p in &ports {
            req = req.with_exposed_port(p.tcp());
        }
        let name = format!(
            "mm-harness-{}-{}",
            self.id,
            host.name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect::<String>()
        );
        let rendered = rendered_config(&host, self.version);
        let mut req = req
            .with_container_name(&name)
            .with_network(&self.network)
            .with_env_var("GITLAB_OMNIBUS_CONFIG", rendered)
            .with_env_var("GITLAB_ROOT_PASSWORD", self.root_password.expose())
            .with_startup_timeout(Duration::from_secs(120));
        if self.tells_version(image) {
            req = req.with_env_var(VERSION_VAR, self.version.to_string());
        }
        for (k, v) in engine::labels(&self.id, self.opts.keep) {
            req = req.with_label(k, v);
        }
        if host.settings.mattermost_enabled
            && let Some((name, gateway)) = &self.mail_host
        {
            req = req.with_host(name, testcontainers::core::Host::Addr(*gateway));
        }
        req = req.with_label(HOST_LABEL, &host.name);
        for (suffix, path) in [
            ("config", "/etc/gitlab"),
            ("data", "/var/opt/gitlab"),
            ("logs", "/var/log/gitlab"),
        ] {
            let vol = format!("{name}-{suffix}");
            if !self.volumes.contains(&vol) {
                engine::create_volume(&self.docker, &vol, &self.id, self.opts.keep).await?;
                self.volumes.push(vol.clone());
            }
            req = req.with_mount(Mount::volume_mount(vol, path));
        }
        // The run's CA (the twin image issues from it; omnibus trusts it) and, per name, the
        // certificate omnibus's nginx serves.
        req = req
            .with_copy_to(CA_CERT_PATH, self.ca.ca_pem().into_bytes())
            .with_copy_to(CA_KEY_PATH, self.ca.ca_key_pem().as_bytes().to_vec())
            .with_copy_to(
                "/etc/gitlab/trusted-certs/mm-harness-ca.crt",
                self.ca.ca_pem().into_bytes(),
            );
        for n in &names {
            let issued = self
                .ca
                .issue(n, CertKind::Valid)
                .map_err(|e| env_err(format!("cannot issue a certificate for {n}: {e}")))?;
            let (crt, key) = issued.to_pem();
            req = req
                .with_copy_to(format!("/etc/gitlab/ssl/{n}.crt"), crt.into_bytes())
                .with_copy_to(format!("/etc/gitlab/ssl/{n}.key"), key.into_bytes());
        }
        let bindings: Vec<(u16, u16)> = match fixed {
            Some(f) => f.to_vec(),
            None => ports.iter().map(|p| (*p, 0)).collect(),
        };
        let req = req.with_host_config_modifier(move |hc| {
            hc.publish_all_ports = Some(false);
            hc.port_bindings = Some(
                bindings
                    .iter()
                    .map(|(c, h)| {
                        (
                            format!("{c}/tcp"),
                            Some(vec![testcontainers::bollard::models::PortBinding {
                                host_ip: Some("127.0.0.1".to_string()),
                                host_port: Some(if *h == 0 {
                                    String::new()
                                } else {
                                    h.to_string()
                                }),
                            }]),
                        )
                    })
                    .collect(),
            );
        });
        let container = req.start().await.map_err(|e| {
            env_err(format!(
                "cannot start the container for host `{}` ({image}): {e}",
                host.name
            ))
        })?;
        let cid = container.id().to_string();
        engine::connect_with_aliases(&self.docker, &self.network, &cid, &names).await?;
        let mut published = Vec::new();
        for p in &ports {
            let hp = container
                .get_host_port_ipv4(ContainerPort::Tcp(*p))
                .await
                .map_err(|e| env_err(format!("container port {p} is not published: {e}")))?;
            published.push((*p, hp));
        }
        Ok(HostContainer {
            host,
            image: image.to_string(),
            container: Some(container),
            id: cid,
            ports: published,
            names,
        })
    }

    /// The address book and what the drivers need.
    fn fill_info(&mut self) {
        let mut book = AddressBook::new();
        let mut gitlab_url = None;
        let mut mattermost_url = None;
        for h in &self.hosts {
            let s = &h.host.settings;
            if s.gitlab_rails_enabled && gitlab_url.is_none() {
                gitlab_url = s.external_url.as_deref().and_then(|u| Url::parse(u).ok());
            }
            if s.mattermost_enabled && mattermost_url.is_none() {
                mattermost_url = s
                    .mattermost_external_url
                    .as_deref()
                    .and_then(|u| Url::parse(u).ok());
            }
            for n in &h.names {
                for (cp, hp) in &h.ports {
                    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], *hp));
                    match cp {
                        443 => book.insert("https", n, 443, addr),
                        80 => book.insert("http", n, 80, addr),
                        other => {
                            book.insert("http", n, *other, addr);
                            book.insert("https", n, *other, addr);
                        }
                    }
                }
            }
        }
        let admin = crate::twin::mattermost::MattermostAdmin::default();
        self.info.gitlab_url = gitlab_url;
        self.info.mattermost_url = mattermost_url.clone();
        self.info.book = book;
        self.info.roots = vec![self.ca.ca_der()];
        self.info.gitlab_root = self.info.gitlab_url.as_ref().map(|_| Account {
            login: "root".to_string(),
            password: self.root_password.clone(),
        });
        // As on the twin target (stack::twin): the administrator logs in with the email
        // address unless the scenario turned email sign-in off (the seed's SMTP text does),
        // when the username is what Mattermost accepts.
        let email_sign_in_off = self
            .hosts
            .iter()
            .map(|h| &h.host.settings)
            .any(|s| s.mattermost_enabled && !s.mattermost.email.enable_sign_in_with_email);
        self.info.mattermost_admin = mattermost_url.map(|_| Account {
            login: if email_sign_in_off {
                admin.username.clone()
            } else {
                admin.email.clone()
            },
            password: admin.password.clone(),
        });
        self.info.users = GitlabUser::defaults()
            .into_iter()
            .filter(|u| !u.admin)
            .map(|u| Account {
                login: u.username,
                password: u.password,
            })
            .collect();
    }

    /// Wait until host `i` answers its readiness URLs, with progress, failing early when its
    /// container exits.
    async fn wait_ready(&self, i: usize) -> Result<(), StackError> {
        let h = &self.hosts[i];
        let mut book = AddressBook::new();
        for n in &h.names {
            for (cp, hp) in &h.ports {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], *hp));
                let scheme = if *cp == 443 { "https" } else { "http" };
                book.insert(scheme, n, *cp, addr);
            }
        }
        let mut checks: Vec<(Url, Vec<String>)> = Vec::new();
        let s = &h.host.settings;
        if s.gitlab_rails_enabled
            && let Some(base) = s.external_url.as_deref()
        {
            let base = base.trim_end_matches('/');
            checks.push((
                Url::parse(&format!("{base}/-/readiness"))
                    .map_err(|e| env_err(format!("bad external_url: {e}")))?,
                vec![format!("{base}/users/sign_in")],
            ));
        }
        if s.mattermost_enabled
            && let Some(base) = s.mattermost_external_url.as_deref()
        {
            let base = base.trim_end_matches('/');
            checks.push((
                Url::parse(&format!("{base}/api/v4/system/ping"))
                    .map_err(|e| env_err(format!("bad mattermost_external_url: {e}")))?,
                vec![format!("{base}/api/v3/general/ping")],
            ));
        }
        let browser = crate::drive::Browser::new(&crate::drive::Reach {
            book,
            roots: vec![self.ca.ca_der()],
            timeout: Duration::from_secs(5),
            accept_invalid_certs: false,
        })
        .map_err(|e| env_err(format!("cannot build the readiness client: {}", e.message)))?;
        let deadline = Instant::now() + self.opts.ready_timeout;
        let started = Instant::now();
        let mut last_note = Instant::now();
        for (url, fallbacks) in checks {
            loop {
                let mut ok = false;
                for u in std::iter::once(url.clone())
                    .chain(fallbacks.iter().filter_map(|f| Url::parse(f).ok()))
                {
                    let mut tr = crate::drive::Transcript::new();
                    if let Ok(r) = browser
                        .send(crate::drive::http::Request::get(u), None, &mut tr)
                        .await
                        && (200..300).contains(&r.status)
                    {
                        ok = true;
                        break;
                    }
                }
                if ok {
                    break;
                }
                if !engine::running(&self.docker, &h.id).await {
                    let logs = engine::logs(&self.docker, &h.id, 60).await;
                    return Err(env_err(format!(
                        "the container of host `{}` ({}) exited while starting; its last output:\n{}",
                        h.host.name,
                        h.image,
                        crate::report::escape::terminal(&logs)
                    )));
                }
                if Instant::now() >= deadline {
                    return Err(env_err(format!(
                        "host `{}` ({}) was not ready after {} s ({url} did not answer 200); raise --ready-timeout for a real GitLab's first boot",
                        h.host.name,
                        h.image,
                        self.opts.ready_timeout.as_secs()
                    )));
                }
                if last_note.elapsed() >= Duration::from_secs(10)
                    && let Some(p) = &self.opts.progress
                {
                    p(&format!(
                        "docker: waiting for {url} ({} s of {} s)",
                        started.elapsed().as_secs(),
                        self.opts.ready_timeout.as_secs()
                    ));
                    last_note = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        Ok(())
    }

    /// Seed the GitLab host: the non-admin accounts and the admin token, with
    /// `gitlab-rails runner` as gitlab-qa does.
    async fn seed(&mut self) -> Result<(), StackError> {
        let Some(h) = self
            .hosts
            .iter()
            .find(|h| h.host.settings.gitlab_rails_enabled)
        else {
            return Ok(());
        };
        let token = random_secret("glpat-", 20);
        let mut calls: Vec<SeedCall> = GitlabUser::defaults()
            .into_iter()
            .filter(|u| !u.admin)
            .map(|u| SeedCall::User {
                username: u.username,
                email: u.email,
                name: u.name,
                password: u.password,
            })
            .collect();
        calls.push(SeedCall::Token {
            username: "root".to_string(),
            value: token.clone(),
        });
        let cmd = vec![
            "gitlab-rails".to_string(),
            "runner".to_string(),
            SeedCall::script(&calls),
        ];
        let (code, out) = engine::exec(&self.docker, &h.id, &cmd, Duration::from_secs(300)).await?;
        if code != 0 {
            let mut out = out;
            for c in &calls {
                if let SeedCall::User { password, .. } = c {
                    out = out.replace(password.expose(), "[REDACTED]");
                }
            }
            out = out.replace(token.expose(), "[REDACTED]");
            return Err(env_err(format!(
                "seeding GitLab (`gitlab-rails runner`) in host `{}` failed with exit {code}: {}",
                h.host.name,
                crate::report::escape::terminal(out.trim())
            )));
        }
        self.info.gitlab_admin_token = Some(token);
        Ok(())
    }

    pub fn info(&self) -> &StackInfo {
        &self.info
    }

    /// The stack's id (its containers, network and volumes carry it as a label).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn network(&self) -> &str {
        &self.network
    }

    /// The host's container id.
    pub fn container_id(&self, host: &str) -> Option<&str> {
        self.hosts
            .iter()
            .find(|h| h.host.name == host)
            .map(|h| h.id.as_str())
    }

    /// `host.reconfigure`: the host's container created again with the new gitlab.rb, on the
    /// same volumes, aliases and host ports (as `gitlab-ctl reconfigure` applies a changed
    /// gitlab.rb to a running omnibus).
    pub async fn reconfigure(&mut self, host: &str, gitlab_rb: &str) -> Result<(), StackError> {
        let Some(i) = self.hosts.iter().position(|h| h.host.name == host) else {
            return Err(StackError::new(
                StackErrorKind::Configuration,
                format!("no host `{host}` in this stack"),
            ));
        };
        let file = crate::diag::SourceFile::new(host.to_string(), gitlab_rb.to_string());
        let resolved = crate::config::resolve(&file, self.version);
        let old = self.hosts.remove(i);
        let HostContainer {
            host: mut dh,
            image,
            container,
            id,
            ports,
            ..
        } = old;
        // `docker stop` first: the twin image writes its state on SIGTERM.
        upgrade::stop_gracefully(&self.docker, &id).await;
        if let Some(c) = container {
            let _ = c.rm().await;
        } else {
            engine::remove_container(&self.docker, &id).await?;
        }
        dh.gitlab_rb = gitlab_rb.to_string();
        dh.settings = resolved.host;
        let c = self.create(dh, &image, Some(&ports)).await?;
        self.hosts.insert(i, c);
        self.wait_ready(i).await?;
        if self.hosts[i].host.settings.gitlab_rails_enabled {
            self.seed().await?;
        }
        Ok(())
    }

    /// Every container's last output lines, for a failing scenario's report (escaped).
    pub async fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for h in &self.hosts {
            let text = engine::logs(&self.docker, &h.id, lines).await;
            out.push_str(&format!(
                "--- container logs: host `{}` ({}) ---\n{}",
                h.host.name,
                h.image,
                crate::report::escape::terminal(&text)
            ));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }

    /// How to reach a kept stack.
    pub fn keep_notice(&self) -> String {
        let mut out = format!(
            "docker: kept stack {} on network {} (remove it and every other kept stack with `mm-harness twin sweep --all`)\n",
            self.id, self.network,
        );
        for e in &self.info.book.entries {
            out.push_str(&format!(
                "  {}://{}:{} → {}   (curl --connect-to {}:{}:{}:{})\n",
                e.scheme,
                e.host,
                e.port,
                e.addr,
                e.host,
                e.port,
                e.addr.ip(),
                e.addr.port()
            ));
        }
        out
    }

    /// The scenario is done with the stack: back to the run's pool when it can serve another
    /// scenario, else removed ([`DockerStack::remove`]).
    pub async fn down(self) {
        if let Some(pool) = self.pool.as_ref().and_then(std::sync::Weak::upgrade)
            && self.pool_key().is_some()
        {
            pool.put(self);
            return;
        }
        self.remove().await;
    }

    /// Remove containers, volumes and the network (or leave them with `--keep`).
    pub async fn remove(mut self) {
        self.down = true;
        if self.opts.keep {
            if let Some(p) = &self.opts.progress {
                p(&self.keep_notice());
            }
            for h in &mut self.hosts {
                // Leave the container running: testcontainers removes it on drop otherwise.
                if let Some(c) = h.container.take() {
                    std::mem::forget(c);
                }
            }
            return;
        }
        for h in &mut self.hosts {
            match h.container.take() {
                Some(c) => {
                    if c.rm().await.is_err() {
                        let _ = engine::remove_container(&self.docker, &h.id).await;
                    }
                }
                None => {
                    let _ = engine::remove_container(&self.docker, &h.id).await;
                }
            }
        }
        for v in &self.volumes {
            let _ = engine::remove_volume(&self.docker, v).await;
        }
        let _ = self.docker.remove_network(&self.network).await;
        if let Some(sink) = self.mail.take() {
            sink.shutdown().await;
        }
    }
}

/// Remove a stack's objects by label from a fresh runtime on a helper thread (panics, drops
/// outside a runtime).
pub fn remove_by_label_blocking(stack_id: String) {
    let t = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let Ok(docker) = Docker::connect_with_defaults() else {
                return;
            };
            let filter = std::collections::HashMap::from([(
                "label".to_string(),
                vec![format!("{}={stack_id}", engine::STACK_LABEL)],
            )]);
            if let Ok(cs) = docker
                .list_containers(Some(
                    testcontainers::bollard::query_parameters::ListContainersOptions {
                        all: true,
                        filters: Some(filter.clone()),
                        ..Default::default()
                    },
                ))
                .await
            {
                for c in cs {
                    if let Some(id) = c.id {
                        let _ = engine::remove_container(&docker, &id).await;
                    }
                }
            }
            if let Ok(vs) = docker
                .list_volumes(Some(
                    testcontainers::bollard::query_parameters::ListVolumesOptions {
                        filters: Some(filter.clone()),
                    },
                ))
                .await
            {
                for v in vs.volumes.unwrap_or_default() {
                    let _ = engine::remove_volume(&docker, &v.name).await;
                }
            }
            if let Ok(ns) = docker
                .list_networks(Some(
                    testcontainers::bollard::query_parameters::ListNetworksOptions {
                        filters: Some(filter),
                    },
                ))
                .await
            {
                for n in ns {
                    if let Some(name) = n.name {
                        let _ = docker.remove_network(&name).await;
                    }
                }
            }
        });
    });
    let _ = t.join();
}

impl Drop for DockerStack {
    fn drop(&mut self) {
        if self.down {
            return;
        }
        // Not taken down (a panic, an early return): the containers go with their
        // testcontainers handles; remove everything else by label.
        for h in &mut self.hosts {
            if let Some(c) = h.container.take() {
                std::mem::forget(c);
            }
        }
        remove_by_label_blocking(self.id.clone());
    }
}
