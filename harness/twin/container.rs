//! The twin as a container process: `mm-harness twin serve`, the entry point of the `mm-twin:local`
//! image (`mm-harness twin image`), taking what the real images take.
//!
//! Owns:
//! - reading the environment of `gitlab/gitlab-ce`: `GITLAB_OMNIBUS_CONFIG` (the host's gitlab.rb,
//!   resolved by the configuration model for `MM_TWIN_GITLAB_VERSION`, default 18.11),
//!   `GITLAB_ROOT_PASSWORD`; the role (GitLab, Mattermost, both) follows from that gitlab.rb as on
//!   omnibus (`external_url` with `gitlab_rails['enable']`, `mattermost_external_url`);
//! - the run's CA from `/etc/gitlab/ssl/mm-harness-ca.{crt,key}` when the harness copied it in
//!   (omnibus reads certificates from `/etc/gitlab/ssl/`), so every container and the harness
//!   trust one CA;
//! - peers: the host names this host's Mattermost calls (GitLab's endpoints, the SMTP server) that
//!   it does not serve itself, resolved through the container's DNS (the docker network's aliases)
//!   and handed to the twin as where those names are;
//! - the front: omnibus's nginx on ports 80/443 of every interface of the container, routing
//!   each connection by `Host` header (http) or SNI (https) to the twin's loopback listener for
//!   that virtual host, bytes copied untouched (the twin itself speaks TLS);
//! - the control socket and the commands the harness runs with `docker exec`: omnibus's
//!   `gitlab-rails runner` (the seeding script: users and the admin token, see [`SEED_HELPERS`])
//!   and `gitlab-psql`, and the twin image's own [`RESET_COMMAND`] (a fresh twin from another
//!   gitlab.rb, with empty databases, behind the same front ports, so the docker target reuses a
//!   stack across scenarios); each is this binary under another name ([`dispatch_argv0`]);
//! - SIGTERM/SIGINT: PID 1 in a container gets no default handlers, so `docker stop` would wait
//!   for its timeout; the twin stops at once.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::config::model::{HostSettings, Secret};
use crate::config::version::{Profile, Version};
use crate::net::AddressBook;

use super::bringup::{Twin, TwinHandle, TwinOptions};
use super::gitlab::GitlabUser;
use super::tls::TwinCa;

/// Where the harness puts the run's CA certificate and key in a twin container.
pub const CA_CERT_PATH: &str = "/etc/gitlab/ssl/mm-harness-ca.crt";
pub const CA_KEY_PATH: &str = "/etc/gitlab/ssl/mm-harness-ca.key";
/// How often the running twin writes its state when it changed (and once more at SIGTERM).
pub const SAVE_INTERVAL: Duration = Duration::from_millis(250);
/// The control socket `gitlab-rails runner` and `gitlab-psql` talk to.
pub const CONTROL_SOCKET: &str = "/run/mm-twin.sock";
/// The environment variable naming the GitLab version the twin plays (the real image knows its
/// own from its tag).
pub const VERSION_VAR: &str = "MM_TWIN_GITLAB_VERSION";
/// The twin image's reset command (`docker exec C mm-twin-reset GITLAB_RB`): the twin in the
/// container starts again from scratch with that gitlab.rb — empty databases, as a new container
/// on new volumes would have — behind the same front ports. A real omnibus image has no such
/// command; the docker target reuses stacks only on images that have it (docs/docker.md).
pub const RESET_COMMAND: &str = "mm-twin-reset";
/// How long a reset may take (peers resolve again).
const RESET_DEADLINE: Duration = Duration::from_secs(90);
/// How long peers' names may take to appear in the network's DNS.
const PEER_DEADLINE: Duration = Duration::from_secs(60);
/// Bytes of a connection's start the front reads to find the virtual host.
const PEEK_LIMIT: usize = 16 * 1024;
/// How long a client may take to send its request line and headers or its ClientHello.
const PEEK_DEADLINE: Duration = Duration::from_secs(10);

/// The Ruby helpers the docker target's seeding script defines before calling them, one call per
/// line: what a real GitLab runs (`gitlab-rails runner`, as gitlab-qa seeds its admin token), and
/// what the twin image's `gitlab-rails` understands (the calls, not the definitions).
pub const SEED_HELPERS: &str = r#"def mm_harness_user(username, email, name, password)
  return if User.find_by_username(username)
  user = User.new(username: username, email: email, name: name, password: password, password_confirmation: password, admin: false)
  user.assign_personal_namespace(Organizations::Organization.default_organization) if user.respond_to?(:assign_personal_namespace)
  user.skip_confirmation! if user.respond_to?(:skip_confirmation!)
  user.save!
end
def mm_harness_token(username, value)
  user = User.find_by_username(username)
  token = user.personal_access_tokens.build(scopes: ['api', 'sudo'], name: 'mm-harness', expires_at: Date.today + 30)
  if token.respond_to?(:set_token) then token.set_token(value) else token.token = value end
  token.save!
end
"#;

/// One call of the seeding script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedCall {
    User {
        username: String,
        email: String,
        name: String,
        password: Secret,
    },
    Token {
        username: String,
        value: Secret,
    },
}

impl SeedCall {
    /// The Ruby line calling the helper (single-quoted literals, quotes and backslashes escaped).
    pub fn ruby(&self) -> String {
        let q = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
        match self {
            SeedCall::User {
                username,
                email,
                name,
                password,
            } => format!(
                "mm_harness_user({}, {}, {}, {})",
                q(username),
                q(email),
                q(name),
                q(password.expose())
            ),
            SeedCall::Token { username, value } => {
                format!("mm_harness_token({}, {})", q(username), q(value.expose()))
            }
        }
    }

    /// The whole script: the helpers, then one call per line.
    pub fn script(calls: &[SeedCall]) -> String {
        let mut s = SEED_HELPERS.to_string();
        for c in calls {
            s.push_str(&c.ruby());
            s.push('\n');
        }
        s
    }

    /// The calls in a script (lines starting with a helper's name); other lines are the helpers'
    /// definitions or unknown. A malformed call is an error naming its line.
    pub fn parse_script(script: &str) -> Result<Vec<SeedCall>, String> {
        let mut out = Vec::new();
        for (i, line) in script.lines().enumerate() {
            let line = line.trim();
            let (name, rest) = if let Some(r) = line.strip_prefix("mm_harness_user(") {
                ("user", r)
            } else if let Some(r) = line.strip_prefix("mm_harness_token(") {
                ("token", r)
            } else {
                continue;
            };
            let args = parse_ruby_args(rest).ok_or_else(|| {
                format!("line {}: cannot read the arguments of {line:.80}", i + 1)
            })?;
            let call = match (name, args.as_slice()) {
                ("user", [u, e, n, p]) => SeedCall::User {
                    username: u.clone(),
                    email: e.clone(),
                    name: n.clone(),
                    password: Secret::new(p.clone()),
                },
                ("token", [u, v]) => SeedCall::Token {
                    username: u.clone(),
                    value: Secret::new(v.clone()),
                },
                _ => {
                    return Err(format!(
                        "line {}: mm_harness_{name} takes {} arguments",
                        i + 1,
                        if name == "user" { 4 } else { 2 }
                    ));
                }
            };
            out.push(call);
        }
        Ok(out)
    }
}

/// `'a', 'b\'c')` → `["a", "b'c"]`; `None` unless every argument is a single-quoted literal and
/// the list closes.
fn parse_ruby_args(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next()? {
            ')' if out.is_empty() => return Some(out),
            '\'' => {}
            _ => return None,
        }
        let mut v = String::new();
        loop {
            match chars.next()? {
                '\\' => v.push(chars.next()?),
                '\'' => break,
                c => v.push(c),
            }
        }
        out.push(v);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next()? {
            ',' => continue,
            ')' => return Some(out),
            _ => return None,
        }
    }
}

/// What `twin serve` starts from.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The gitlab.rb text (`GITLAB_OMNIBUS_CONFIG`).
    pub gitlab_rb: String,
    pub version: Version,
    pub root_password: Option<Secret>,
    /// The CA (certificate and key PEM) to issue from.
    pub ca: Option<(String, String)>,
    /// Where the state is kept ([`super::persist::STATE_FILE`] on the data volume).
    pub state_path: std::path::PathBuf,
}

impl ServeConfig {
    /// From the container's environment and files.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<ServeConfig, String> {
        let gitlab_rb = env("GITLAB_OMNIBUS_CONFIG")
            .filter(|s| !s.trim().is_empty())
            .ok_or("GITLAB_OMNIBUS_CONFIG is not set: the twin image is configured like gitlab/gitlab-ce, with the host's gitlab.rb in GITLAB_OMNIBUS_CONFIG")?;
        let version = match env(VERSION_VAR) {
            Some(v) => v
                .parse::<Version>()
                .map_err(|e| format!("{VERSION_VAR}={v:?}: {e}"))?,
            None => Version::new(18, 11, 0),
        };
        let root_password = env("GITLAB_ROOT_PASSWORD")
            .filter(|s| !s.is_empty())
            .map(Secret::new);
        let ca = match (
            std::fs::read_to_string(CA_CERT_PATH),
            std::fs::read_to_string(CA_KEY_PATH),
        ) {
            (Ok(c), Ok(k)) => Some((c, k)),
            _ => None,
        };
        Ok(ServeConfig {
            gitlab_rb,
            version,
            root_password,
            ca,
            state_path: std::path::PathBuf::from(super::persist::STATE_FILE),
        })
    }
}

/// Resolve the host's gitlab.rb; warnings are printed, errors refuse to start.
fn resolve_host(cfg: &ServeConfig) -> Result<HostSettings, String> {
    let file = crate::diag::SourceFile::new("GITLAB_OMNIBUS_CONFIG", cfg.gitlab_rb.clone());
    let resolved = crate::config::resolve(&file, cfg.version);
    let mut rendered = String::new();
    for d in &resolved.diagnostics {
        rendered.push_str(&d.render());
    }
    if resolved.has_errors() {
        return Err(rendered);
    }
    eprint!("{rendered}");
    Ok(resolved.host)
}

/// The names this host serves (lower-case).
fn served_names(host: &HostSettings) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |raw: Option<&str>| {
        if let Some(h) = raw
            .and_then(|r| url::Url::parse(r).ok())
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        {
            out.push(h);
        }
    };
    if host.gitlab_rails_enabled {
        add(host.external_url.as_deref());
    }
    if host.mattermost_enabled {
        add(host.mattermost_external_url.as_deref());
    }
    out
}

/// What Mattermost on this host connects to elsewhere: `(scheme, host, port)`.
fn wanted_peers(host: &HostSettings) -> Vec<(String, String, u16)> {
    let mut out: Vec<(String, String, u16)> = Vec::new();
    if !host.mattermost_enabled {
        return out;
    }
    let g = &host.mattermost.gitlab;
    let mut urls = vec![
        g.auth_endpoint.clone(),
        g.token_endpoint.clone(),
        g.user_api_endpoint.clone(),
    ];
    urls.extend(host.external_url.clone());
    for raw in urls {
        if let Ok(u) = url::Url::parse(&raw)
            && let (Some(h), Some(p)) = (u.host_str(), u.port_or_known_default())
        {
            out.push((u.scheme().to_string(), h.to_ascii_lowercase(), p));
        }
    }
    if let Some(spec) = super::bringup::MailServerSpec::for_host(host) {
        for port in [25, 465, 587, spec.port] {
            out.push(("smtp".to_string(), spec.host.clone(), port));
        }
    }
    let served = served_names(host);
    out.retain(|(_, h, _)| !served.contains(h));
    out.sort();
    out.dedup();
    out
}

/// Resolve peers through the container's DNS, waiting for names that are not there yet (a
/// peer container still starting). Names that never appear are left out: Mattermost then
/// fails on them as on a real host ("no such host").
async fn resolve_peers(wanted: &[(String, String, u16)], deadline: Duration) -> AddressBook {
    let mut book = AddressBook::new();
    let start = Instant::now();
    for (scheme, host, port) in wanted {
        loop {
            match tokio::net::lookup_host((host.as_str(), *port)).await {
                Ok(mut addrs) => {
                    if let Some(a) = addrs.find(|a| a.is_ipv4()) {
                        book.insert(scheme, host, *port, a);
                        println!("mm-twin: peer {scheme}://{host}:{port} is {a}");
                        break;
                    }
                }
                Err(_) if start.elapsed() < deadline => {}
                Err(e) => {
                    println!("mm-twin: peer {host} does not resolve: {e}");
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    book
}

/// Start the twin for this container: resolve gitlab.rb, the peers, the CA, the state the
/// volumes hold, then the twin; on a 3.x Mattermost the release of this GitLab version starts on
/// the restored database (its migrations replayed, its log printed) or installs a fresh one.
pub async fn start(cfg: &ServeConfig) -> Result<TwinHandle, String> {
    let host = resolve_host(cfg)?;
    let restored = super::persist::load(&cfg.state_path).map_err(|e| {
        format!(
            "cannot start on the data volume: {e}; hint: the state file is written only by `mm-harness twin serve`; move it away to start with empty databases"
        )
    })?;
    if let Some(state) = &restored {
        println!(
            "mm-twin: restoring the state GitLab {} left in {}",
            state.gitlab_version,
            cfg.state_path.display()
        );
    }
    let profile = Profile::for_gitlab(cfg.version);
    let mut opts = TwinOptions::single_server(profile);
    opts.hosts = vec![host.clone()];
    if let Some(pw) = &cfg.root_password {
        for u in opts.gitlab_users.iter_mut().filter(|u| u.admin) {
            u.password = pw.clone();
        }
    }
    if let Some((cert, key)) = &cfg.ca {
        let ca = TwinCa::from_pem(cert, key).map_err(|e| format!("cannot read the CA: {e}"))?;
        opts.ca = Some(Arc::new(ca));
    }
    opts.peers = resolve_peers(&wanted_peers(&host), PEER_DEADLINE).await;
    let had_mattermost = restored.as_ref().is_some_and(|s| s.mattermost.is_some());
    opts.restore = restored.map(Arc::new);
    let handle = Twin::start(opts).await.map_err(|e| {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        text
    })?;
    if let (Some(m), Some(release)) = (
        handle.mattermost(),
        super::mattermost::upgrade::bundled_release(cfg.version),
    ) && profile == Profile::Gitlab8_12
    {
        if had_mattermost {
            // `gitlab-ctl restart` after the package changed: the release starts on the database.
            match m.twin.restart_on(release) {
                Ok(log) => {
                    for line in log.lines {
                        println!("{MATTERMOST_LOG}{line}");
                    }
                }
                Err(halt) => println!("{MATTERMOST_HALTED}{halt}"),
            }
        } else {
            m.twin.install_release(release);
        }
    }
    Ok(handle)
}

/// The prefix of a line of Mattermost's start-up log in the container's output.
pub const MATTERMOST_LOG: &str = "mm-twin: mattermost log: ";
/// The prefix of the line saying Mattermost halted at start (nginx then answers 502).
pub const MATTERMOST_HALTED: &str = "mm-twin: mattermost halted: ";
/// The line saying the container is ready (after every start-up log line).
pub const READY_LINE: &str = "mm-twin: ready";

/// What a container's output says about Mattermost's last start: `Ok(log lines)` or
/// `Err(the halt)`, from the lines after the last "restoring" line; `None` when it said nothing
/// yet (still starting).
pub fn start_report(output: &str) -> Option<Result<Vec<String>, String>> {
    let mut lines = Vec::new();
    let mut ready = false;
    let mut halted = None;
    for line in output.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(l) = line.strip_prefix(MATTERMOST_LOG) {
            lines.push(l.to_string());
        } else if let Some(h) = line.strip_prefix(MATTERMOST_HALTED) {
            halted = Some(h.to_string());
        } else if line == READY_LINE {
            ready = true;
        }
    }
    if !ready {
        return None;
    }
    Some(match halted {
        Some(h) => Err(h),
        None => Ok(lines),
    })
}

/// Writes the twin's state to the volume when it changed.
struct Saver {
    /// The running twin (a reset replaces it).
    handle: std::sync::RwLock<Arc<TwinHandle>>,
    path: std::path::PathBuf,
    version: String,
    last: std::sync::Mutex<Vec<u8>>,
}

impl Saver {
    fn handle(&self) -> Arc<TwinHandle> {
        self.handle
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn save(&self) {
        let bytes = self.handle().state(&self.version).to_bytes();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if *last == bytes {
            return;
        }
        match super::persist::save_bytes(&self.path, &bytes) {
            Ok(()) => *last = bytes,
            Err(e) => {
                // Said once per distinct state; the next change tries again.
                println!("mm-twin: state not saved: {e}");
                *last = bytes;
            }
        }
    }
}

/// One virtual host behind a front port.
#[derive(Debug, Clone)]
struct Route {
    tls: bool,
    host: String,
    addr: SocketAddr,
}

/// Ports of the front and their routes, from the twin's address book (http and https only).
fn routes(book: &AddressBook) -> Vec<(u16, Vec<Route>)> {
    let mut out: Vec<(u16, Vec<Route>)> = Vec::new();
    for e in &book.entries {
        let tls = match e.scheme.as_str() {
            "http" => false,
            "https" => true,
            _ => continue,
        };
        let route = Route {
            tls,
            host: e.host.clone(),
            addr: e.addr,
        };
        match out.iter_mut().find(|(p, _)| *p == e.port) {
            Some((_, v)) => v.push(route),
            None => out.push((e.port, vec![route])),
        }
    }
    out
}

/// What the start of a connection says about its virtual host.
#[derive(Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// A host name (SNI or `Host`, lower-case, without port).
    Host(String),
    /// Not enough bytes yet.
    NeedMore,
    /// The bytes name no host (no SNI, no `Host` header, not HTTP or TLS).
    Unknown,
}

/// The virtual host of a connection starting with `b`: TLS ClientHello's SNI, or HTTP's `Host`.
pub fn sniff(b: &[u8]) -> Sniffed {
    match b.first() {
        None => Sniffed::NeedMore,
        Some(0x16) => sniff_sni(b),
        Some(_) => sniff_http_host(b),
    }
}

fn sniff_http_host(b: &[u8]) -> Sniffed {
    let Some(end) = b.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if b.len() >= PEEK_LIMIT {
            Sniffed::Unknown
        } else {
            Sniffed::NeedMore
        };
    };
    let head = String::from_utf8_lossy(&b[..end]);
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("host")
        {
            let v = value.trim();
            let host = if let Some(rest) = v.strip_prefix('[') {
                rest.split(']').next().unwrap_or_default()
            } else {
                v.split(':').next().unwrap_or_default()
            };
            return Sniffed::Host(host.to_ascii_lowercase());
        }
    }
    Sniffed::Unknown
}

/// Bounded reads over a byte slice.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.b.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|s| usize::from(s[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
    }
}

fn sniff_sni(b: &[u8]) -> Sniffed {
    let mut rec = Cursor { b, at: 0 };
    let header = (|| {
        rec.take(3)?;
        rec.u16()
    })();
    let Some(len) = header else {
        return Sniffed::NeedMore;
    };
    let Some(body) = b.get(5..5 + len) else {
        return if b.len() >= PEEK_LIMIT {
            Sniffed::Unknown
        } else {
            Sniffed::NeedMore
        };
    };
    let mut c = Cursor { b: body, at: 0 };
    let found = (|| -> Option<Option<String>> {
        if c.u8()? != 1 {
            return Some(None);
        }
        c.take(3)?; // handshake length
        c.take(2 + 32)?; // version, random
        let sid = c.u8()?;
        c.take(sid)?;
        let suites = c.u16()?;
        c.take(suites)?;
        let comp = c.u8()?;
        c.take(comp)?;
        let ext_total = c.u16()?;
        let exts = c.take(ext_total)?;
        let mut e = Cursor { b: exts, at: 0 };
        while let (Some(typ), Some(len)) = (e.u16(), e.u16()) {
            let data = e.take(len)?;
            if typ == 0 {
                let mut s = Cursor { b: data, at: 0 };
                s.u16()?;
                if s.u8()? != 0 {
                    return Some(None);
                }
                let n = s.u16()?;
                let name = s.take(n)?;
                return Some(Some(String::from_utf8_lossy(name).to_ascii_lowercase()));
            }
        }
        Some(None)
    })();
    match found {
        Some(Some(h)) => Sniffed::Host(h),
        _ => Sniffed::Unknown,
    }
}

/// Read (without consuming) the start of a connection until its virtual host is known.
async fn peek_host(stream: &TcpStream) -> Sniffed {
    let mut buf = vec![0u8; PEEK_LIMIT];
    let deadline = Instant::now() + PEEK_DEADLINE;
    let mut last = 0;
    loop {
        let n = match tokio::time::timeout_at(deadline.into(), stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return Sniffed::Unknown,
        };
        if n == 0 {
            return Sniffed::Unknown;
        }
        match sniff(&buf[..n]) {
            Sniffed::NeedMore if n < PEEK_LIMIT && Instant::now() < deadline => {
                if n == last {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                last = n;
            }
            Sniffed::NeedMore => return Sniffed::Unknown,
            other => return other,
        }
    }
}

/// The front's routes per port; a reset swaps them for the new twin's.
type SharedRoutes = Arc<std::sync::RwLock<Vec<(u16, Vec<Route>)>>>;

/// Serve one front port until the task is aborted, routing by the current routes of `port`.
async fn front(listener: TcpListener, port: u16, shared: SharedRoutes) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let routes: Vec<Route> = shared
            .read()
            .map(|r| {
                r.iter()
                    .find(|(p, _)| *p == port)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        if routes.is_empty() {
            continue;
        }
        tokio::spawn(async move {
            let target = if routes.len() == 1 {
                routes[0].addr
            } else {
                let sniffed = peek_host(&stream).await;
                let first = stream_is_tls(&stream).await;
                let candidates: Vec<&Route> = routes.iter().filter(|r| r.tls == first).collect();
                let pick = match &sniffed {
                    Sniffed::Host(h) => candidates.iter().find(|r| &r.host == h).copied(),
                    _ => None,
                };
                match pick.or(candidates.first().copied()) {
                    Some(r) => r.addr,
                    None => routes[0].addr,
                }
            };
            let mut stream = stream;
            if let Ok(mut upstream) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
            }
        });
    }
}

async fn stream_is_tls(stream: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(stream.peek(&mut b).await, Ok(1) if b[0] == 0x16)
}

/// A request on the control socket: a `gitlab-rails runner` script (a JSON string) or a
/// `gitlab-psql` statement (`{"database": …, "command": …}`).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum ControlRequest {
    Script(String),
    Psql {
        database: String,
        command: String,
    },
    /// [`RESET_COMMAND`]: `{"reset": GITLAB_RB}`.
    Reset {
        reset: String,
    },
}

/// `gitlab-psql -d DATABASE -c COMMAND` on the twin: Mattermost's database only.
fn control_psql(handle: &TwinHandle, database: &str, command: &str) -> String {
    if database != "mattermost_production" {
        return format!(
            "error: FATAL:  database \"{database}\" is not played by the twin (only mattermost_production)"
        );
    }
    let Some(m) = handle.mattermost() else {
        return "error: FATAL:  database \"mattermost_production\" does not exist (this host runs no Mattermost)".into();
    };
    match m.twin.run_sql(command) {
        Ok(rows) => format!("ok: UPDATE {rows}"),
        Err(e) => format!("error: ERROR:  {e}"),
    }
}

/// Handle one control request line; returns the reply line.
fn control(handle: &TwinHandle, line: &str) -> String {
    let script: String = match serde_json::from_str(line) {
        Ok(ControlRequest::Script(s)) => s,
        Ok(ControlRequest::Psql { database, command }) => {
            return control_psql(handle, &database, &command);
        }
        Ok(ControlRequest::Reset { .. }) => {
            return "error: a reset is handled by the control loop".into();
        }
        Err(e) => return format!("error: the request is neither a script nor a statement: {e}"),
    };
    let calls = match SeedCall::parse_script(&script) {
        Ok(c) => c,
        Err(e) => return format!("error: {e}"),
    };
    let Some(gitlab) = handle.gitlab() else {
        return "error: this host does not run GitLab Rails (gitlab_rails['enable'] = false)"
            .into();
    };
    let mut done = Vec::new();
    for call in calls {
        match call {
            SeedCall::User {
                username,
                email,
                name,
                password,
            } => {
                let next_id = gitlab.twin.next_user_id();
                let created = gitlab.twin.create_user(GitlabUser {
                    id: next_id,
                    username: username.clone(),
                    name,
                    email,
                    password,
                    admin: false,
                });
                done.push(format!(
                    "user {username} {}",
                    if created { "created" } else { "exists" }
                ));
            }
            SeedCall::Token { username, value } => {
                if !gitlab
                    .twin
                    .set_personal_access_token(&username, &value, &["api", "sudo"])
                {
                    return format!("error: no user {username}");
                }
                done.push(format!("token for {username} set"));
            }
        }
    }
    format!("ok: {}", done.join(", "))
}

/// What a reset needs besides the saver: what the twin was started from and the front.
struct Front {
    cfg: ServeConfig,
    /// The ports the front listens on (fixed when the container started).
    ports: Vec<u16>,
    routes: SharedRoutes,
}

/// [`RESET_COMMAND`]: start a fresh twin from `gitlab_rb` with empty databases and put it behind
/// the front in place of the running one; its state replaces the old one on the volume.
async fn reset(front: &tokio::sync::Mutex<Front>, saver: &Saver, gitlab_rb: &str) -> String {
    let mut front = front.lock().await;
    let mut cfg = front.cfg.clone();
    cfg.gitlab_rb = gitlab_rb.to_string();
    // No state to restore: the databases start empty, as on a new data volume.
    let fresh_start = ServeConfig {
        state_path: std::path::PathBuf::from("/nonexistent/mm-twin-reset"),
        ..cfg.clone()
    };
    let fresh = match start(&fresh_start).await {
        Ok(h) => h,
        Err(e) => return format!("error: the twin does not start with this gitlab.rb: {e}"),
    };
    let new_routes = routes(fresh.address_book());
    if let Some((port, _)) = new_routes.iter().find(|(p, _)| !front.ports.contains(p)) {
        let port = *port;
        fresh.shutdown().await;
        return format!(
            "error: this gitlab.rb serves port {port}, which this container does not listen on (it started with ports {:?})",
            front.ports
        );
    }
    if let Ok(mut r) = front.routes.write() {
        *r = new_routes;
    }
    let old = std::mem::replace(
        &mut *saver.handle.write().unwrap_or_else(|p| p.into_inner()),
        Arc::new(fresh),
    );
    front.cfg = cfg;
    saver.save();
    // Requests still holding the old twin finish on it; it stops when the last one is done.
    if let Ok(old) = Arc::try_unwrap(old) {
        old.shutdown().await;
    }
    "ok: reset".into()
}

async fn control_loop(
    listener: tokio::net::UnixListener,
    saver: Arc<Saver>,
    front: Arc<tokio::sync::Mutex<Front>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let saver = saver.clone();
        let front = front.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r.take(1024 * 1024)).lines();
            if let Ok(Some(line)) = lines.next_line().await {
                if let Ok(ControlRequest::Reset { reset: gitlab_rb }) =
                    serde_json::from_str::<ControlRequest>(&line)
                {
                    let reply = reset(&front, &saver, &gitlab_rb).await;
                    println!("mm-twin: {RESET_COMMAND} → {reply}");
                    let _ = w.write_all(format!("{reply}\n").as_bytes()).await;
                    return;
                }
                let reply = control(&saver.handle(), &line);
                // What the command changed is on disk before it answers.
                saver.save();
                println!("mm-twin: control → {reply}");
                let _ = w.write_all(format!("{reply}\n").as_bytes()).await;
            }
        });
    }
}

/// `twin serve`: run until SIGTERM or SIGINT. Errors are printed by the caller.
pub async fn serve(cfg: ServeConfig) -> Result<(), String> {
    crate::crypto::install_default_provider();
    let handle = Arc::new(start(&cfg).await?);
    let saver = Arc::new(Saver {
        handle: std::sync::RwLock::new(handle.clone()),
        path: cfg.state_path.clone(),
        version: cfg.version.to_string(),
        last: std::sync::Mutex::new(Vec::new()),
    });
    saver.save();
    let mut tasks = tokio::task::JoinSet::new();
    {
        let saver = saver.clone();
        tasks.spawn(async move {
            loop {
                tokio::time::sleep(SAVE_INTERVAL).await;
                let s = saver.clone();
                let _ = tokio::task::spawn_blocking(move || s.save()).await;
            }
        });
    }
    let initial = routes(handle.address_book());
    let shared: SharedRoutes = Arc::new(std::sync::RwLock::new(initial.clone()));
    for (port, rs) in initial.iter().cloned() {
        let listener = TcpListener::bind(("0.0.0.0", port))
            .await
            .map_err(|e| format!("cannot listen on port {port}: {e}"))?;
        for r in &rs {
            println!(
                "mm-twin: {}://{}:{port} → {}",
                if r.tls { "https" } else { "http" },
                r.host,
                r.addr
            );
        }
        tasks.spawn(front(listener, port, shared.clone()));
    }
    let front_state = Arc::new(tokio::sync::Mutex::new(Front {
        cfg: cfg.clone(),
        ports: initial.iter().map(|(p, _)| *p).collect(),
        routes: shared,
    }));
    let _ = std::fs::remove_file(CONTROL_SOCKET);
    match tokio::net::UnixListener::bind(CONTROL_SOCKET) {
        Ok(l) => {
            tasks.spawn(control_loop(l, saver.clone(), front_state));
        }
        Err(e) => println!("mm-twin: no control socket at {CONTROL_SOCKET}: {e}"),
    }
    if let Some(g) = handle.gitlab() {
        println!("mm-twin: GitLab {} ready", g.url);
    }
    if let Some(m) = handle.mattermost() {
        println!("mm-twin: Mattermost {} ready", m.url);
    }
    println!("{READY_LINE}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("mm-twin: stopping");
    tasks.abort_all();
    saver.save();
    Ok(())
}

/// `gitlab-rails runner SCRIPT` (or a path to a script file) inside the twin image: sends the
/// script's seeding calls to the running twin. Returns the exit code.
pub fn gitlab_rails(args: &[String]) -> u8 {
    let script = match args {
        [cmd, script, ..] if cmd == "runner" => {
            if Path::new(script).is_file() {
                match std::fs::read_to_string(script) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("gitlab-rails: cannot read {script}: {e}");
                        return 1;
                    }
                }
            } else {
                script.clone()
            }
        }
        _ => {
            eprintln!(
                "gitlab-rails (mm-harness twin image): only `gitlab-rails runner SCRIPT` is available"
            );
            return 1;
        }
    };
    match SeedCall::parse_script(&script) {
        Ok(calls) if calls.is_empty() => {
            eprintln!(
                "gitlab-rails (mm-harness twin image): the script calls neither mm_harness_user nor mm_harness_token; nothing else is understood"
            );
            return 1;
        }
        Ok(_) => {}
        Err(e) => {
            eprintln!("gitlab-rails: {e}");
            return 1;
        }
    }
    let line = serde_json::Value::String(script).to_string();
    match send_control(&line) {
        Ok(r) if r.starts_with("ok") => {
            print!("{r}");
            0
        }
        Ok(r) => {
            eprint!("gitlab-rails: {r}");
            1
        }
        Err(e) => {
            eprintln!("gitlab-rails: {e}");
            1
        }
    }
}

/// `mm-twin-reset GITLAB_RB` inside the twin image ([`RESET_COMMAND`]). Returns the exit code.
pub fn twin_reset(args: &[String]) -> u8 {
    let [gitlab_rb] = args else {
        eprintln!(
            "{RESET_COMMAND}: usage: {RESET_COMMAND} GITLAB_RB (the new GITLAB_OMNIBUS_CONFIG text)"
        );
        return 1;
    };
    if gitlab_rb.trim().is_empty() {
        eprintln!("{RESET_COMMAND}: the gitlab.rb is empty");
        return 1;
    }
    let line = serde_json::json!({ "reset": gitlab_rb }).to_string();
    match send_control_within(&line, RESET_DEADLINE) {
        Ok(r) if r.starts_with("ok") => {
            print!("{r}");
            0
        }
        Ok(r) => {
            eprint!("{RESET_COMMAND}: {r}");
            1
        }
        Err(e) => {
            eprintln!("{RESET_COMMAND}: {e}");
            1
        }
    }
}

/// One request line to the running twin's control socket; its reply line (30 s at most).
fn send_control(line: &str) -> Result<String, String> {
    send_control_within(line, Duration::from_secs(30))
}

/// One request line to the running twin's control socket; its reply line (`within` at most).
fn send_control_within(line: &str, within: Duration) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut s = tokio::net::UnixStream::connect(CONTROL_SOCKET)
            .await
            .map_err(|e| format!("the twin is not running ({CONTROL_SOCKET}: {e})"))?;
        s.write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut reply = String::new();
        tokio::time::timeout(
            within,
            BufReader::new(s.take(1024 * 1024)).read_line(&mut reply),
        )
        .await
        .map_err(|_| format!("no answer from the twin in {} s", within.as_secs()))?
        .map_err(|e| e.to_string())?;
        Ok(reply)
    })
}

/// The database and statement of a `gitlab-psql` command line (psql's `-d`/`--dbname`,
/// `-c`/`--command`; omnibus's wrapper defaults to `gitlabhq_production`).
pub fn psql_args(args: &[String]) -> Result<(String, String), String> {
    let mut database = "gitlabhq_production".to_string();
    let mut command = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix("--dbname=") {
            database = v.to_string();
        } else if let Some(v) = a.strip_prefix("--command=") {
            command = Some(v.to_string());
        } else if a == "-d" || a == "--dbname" {
            database = it.next().ok_or("-d needs a database name")?.clone();
        } else if a == "-c" || a == "--command" {
            command = Some(it.next().ok_or("-c needs a statement")?.clone());
        } else {
            return Err(format!(
                "{a:?} is not understood (the twin image's gitlab-psql takes -d DATABASE -c STATEMENT)"
            ));
        }
    }
    let command = command.ok_or(
        "no -c STATEMENT: the twin image's gitlab-psql runs one statement, not an interactive session",
    )?;
    Ok((database, command))
}

/// `gitlab-psql -d mattermost_production -c STATEMENT` inside the twin image: runs the statement
/// on the running twin's Mattermost database; prints psql's command tag (`UPDATE 1`).
pub fn gitlab_psql(args: &[String]) -> u8 {
    let (database, command) = match psql_args(args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("gitlab-psql: {e}");
            return 1;
        }
    };
    let line = serde_json::json!({"database": database, "command": command}).to_string();
    match send_control(&line) {
        Ok(r) => match r.strip_prefix("ok: ") {
            Some(tag) => {
                print!("{tag}");
                0
            }
            None => {
                eprint!("{}", r.strip_prefix("error: ").unwrap_or(&r));
                1
            }
        },
        Err(e) => {
            eprintln!("gitlab-psql: {e}");
            1
        }
    }
}

/// When this binary runs under an omnibus command's name inside the twin image (a symlink
/// `/usr/bin/gitlab-rails` → `mm-harness`), run that command; `None` for `mm-harness` itself.
pub fn dispatch_argv0() -> Option<std::process::ExitCode> {
    let mut args = std::env::args();
    let argv0 = args.next()?;
    let name = Path::new(&argv0).file_name()?.to_str()?;
    match name {
        "gitlab-rails" => {
            let rest: Vec<String> = args.collect();
            Some(std::process::ExitCode::from(gitlab_rails(&rest)))
        }
        "gitlab-psql" => {
            let rest: Vec<String> = args.collect();
            Some(std::process::ExitCode::from(gitlab_psql(&rest)))
        }
        RESET_COMMAND => {
            let rest: Vec<String> = args.collect();
            Some(std::process::ExitCode::from(twin_reset(&rest)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_script_round_trips_with_quotes() {
        let calls = vec![
            SeedCall::User {
                username: "alice".into(),
                email: "alice@example.com".into(),
                name: "Alice O'Hara".into(),
                password: Secret::new("p\\w'1"),
            },
            SeedCall::Token {
                username: "root".into(),
                value: Secret::new("glpat-abc"),
            },
        ];
        let script = SeedCall::script(&calls);
        assert!(script.contains("def mm_harness_token"));
        assert_eq!(SeedCall::parse_script(&script).unwrap(), calls);
        assert!(SeedCall::parse_script("mm_harness_token('root')\n").is_err());
        assert!(SeedCall::parse_script("mm_harness_token('root', x)\n").is_err());
        assert!(SeedCall::parse_script("mm_harness_token('root', 'unclosed\n").is_err());
    }

    #[test]
    fn garbage_never_panics_the_sniffer_or_the_seed_parser() {
        // A fixed-seed LCG: reproducible hostile input of every length up to past the limit.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        };
        for len in (0..600).chain([PEEK_LIMIT - 1, PEEK_LIMIT, PEEK_LIMIT + 7]) {
            let mut b: Vec<u8> = (0..len).map(|_| next()).collect();
            let _ = sniff(&b);
            if let Some(first) = b.first_mut() {
                *first = 0x16; // as a TLS record
            }
            let _ = sniff(&b);
            let text = String::from_utf8_lossy(&b).into_owned();
            let _ = SeedCall::parse_script(&format!("mm_harness_token({text}"));
        }
    }

    #[test]
    fn psql_command_lines_and_start_reports_are_read() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            psql_args(&a(&["-d", "mattermost_production", "-c", "UPDATE x"])).unwrap(),
            ("mattermost_production".into(), "UPDATE x".into())
        );
        assert_eq!(
            psql_args(&a(&["--command=SELECT 1"])).unwrap().0,
            "gitlabhq_production"
        );
        assert!(
            psql_args(&a(&["-d", "x"]))
                .unwrap_err()
                .contains("-c STATEMENT")
        );
        assert!(psql_args(&a(&["-c"])).is_err());
        assert!(psql_args(&a(&["-x"])).unwrap_err().contains("-x"));
        let out = format!(
            "mm-twin: restoring\n{MATTERMOST_LOG}one\r\n{MATTERMOST_LOG}two\n{READY_LINE}\n"
        );
        assert_eq!(
            start_report(&out),
            Some(Ok(vec!["one".to_string(), "two".to_string()]))
        );
        assert_eq!(start_report("mm-twin: restoring\n"), None);
        let halted =
            format!("{MATTERMOST_HALTED}Mattermost 3.4.0 exited 1002: old\n{READY_LINE}\n");
        assert_eq!(
            start_report(&halted),
            Some(Err("Mattermost 3.4.0 exited 1002: old".to_string()))
        );
    }

    #[test]
    fn http_host_is_found_without_port() {
        let req = b"GET / HTTP/1.1\r\nUser-Agent: x\r\nHost: Mattermost.Example.com:80\r\n\r\n";
        assert_eq!(sniff(req), Sniffed::Host("mattermost.example.com".into()));
        assert_eq!(sniff(b"GET / HTTP/1.1\r\nHost: a"), Sniffed::NeedMore);
        assert_eq!(sniff(b"GET / HTTP/1.1\r\n\r\n"), Sniffed::Unknown);
        assert_eq!(sniff(&[b'A'; PEEK_LIMIT]), Sniffed::Unknown);
    }

    #[tokio::test]
    async fn sni_is_read_from_a_real_client_hello() {
        crate::crypto::install_default_provider();
        // (the provider also serves the verifier in a_ca_survives_export_and_import)
        // A real rustls client writes its ClientHello to a socket we read.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let ca = TwinCa::generate();
            let connector = tokio_rustls::TlsConnector::from(ca.client_config());
            let s = TcpStream::connect(addr).await.unwrap();
            let name = rustls_pki_types::ServerName::try_from("gitlab.example.com").unwrap();
            let _ = tokio::time::timeout(Duration::from_secs(2), connector.connect(name, s)).await;
        });
        let (s, _) = l.accept().await.unwrap();
        assert_eq!(
            peek_host(&s).await,
            Sniffed::Host("gitlab.example.com".into())
        );
        drop(s);
        client.abort();
        // Truncated and garbage records are bounded and never panic.
        assert_eq!(sniff(&[0x16, 3, 1, 0xff, 0xff, 1]), Sniffed::NeedMore);
        assert_eq!(sniff(&[0x16, 3, 1, 0, 2, 1, 0]), Sniffed::Unknown);
    }

    #[test]
    fn a_ca_survives_export_and_import() {
        crate::crypto::install_default_provider();
        let ca = TwinCa::generate();
        let again = TwinCa::from_pem(ca.ca_pem_str(), ca.ca_key_pem()).unwrap();
        assert_eq!(again.ca_der(), ca.ca_der());
        // A leaf issued by the imported CA verifies against the original's certificate.
        let issued = again
            .issue("gitlab.example.com", super::super::tls::CertKind::Valid)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.ca_der()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder(Arc::new(roots))
            .build()
            .unwrap();
        use rustls::client::danger::ServerCertVerifier;
        verifier
            .verify_server_cert(
                issued.leaf(),
                &issued.chain[1..],
                &rustls_pki_types::ServerName::try_from("gitlab.example.com").unwrap(),
                &[],
                rustls_pki_types::UnixTime::now(),
            )
            .unwrap();
    }

    #[test]
    fn peers_are_the_names_mattermost_calls_elsewhere() {
        let text = "mattermost_external_url 'http://mattermost.example.com'\n\
                    mattermost['gitlab_token_endpoint'] = 'http://gitlab.example.com/oauth/token'\n\
                    gitlab_rails['enable'] = false\n";
        let file = crate::diag::SourceFile::new("x", text.to_string());
        let host = crate::config::resolve(&file, Version::new(18, 11, 0)).host;
        let peers = wanted_peers(&host);
        assert!(
            peers.contains(&("http".into(), "gitlab.example.com".into(), 80)),
            "{peers:?}"
        );
        assert!(!peers.iter().any(|(_, h, _)| h == "mattermost.example.com"));
    }
}
