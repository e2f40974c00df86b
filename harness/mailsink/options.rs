//! What a mail sink is started with.
//!
//! Owns: [`SinkOptions`] and its parts — the SMTP listeners ([`ListenerSpec`], each plaintext,
//! STARTTLS or implicit TLS, with a configurable bind address so containers can reach it), the
//! accepted credentials, the documented faults ([`SinkFaults`]), the bounds on every network read
//! and on storage ([`SinkLimits`]), and where certificates come from ([`CertIssuer`]: the run's
//! CA; the sink generates none of its own).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::model::Secret;

/// How a listener speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerMode {
    /// Plaintext, no STARTTLS (port 25 style).
    Plain,
    /// Plaintext offering STARTTLS (port 587 style).
    StartTls,
    /// TLS from the first byte (port 465 style).
    Implicit,
}

impl ListenerMode {
    pub fn name(self) -> &'static str {
        match self {
            ListenerMode::Plain => "plain",
            ListenerMode::StartTls => "starttls",
            ListenerMode::Implicit => "implicit",
        }
    }

    /// Whether the listener needs a certificate.
    pub fn needs_tls(self) -> bool {
        match self {
            ListenerMode::Plain => false,
            ListenerMode::StartTls | ListenerMode::Implicit => true,
        }
    }
}

/// One SMTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// A short unique name reported in the transport facts (`"submission"`, `"smtps"`).
    pub name: String,
    pub mode: ListenerMode,
    /// Where to listen; port 0 picks a free port. `127.0.0.1` for loopback clients, a bridge
    /// address or `0.0.0.0` when containers must reach it.
    pub bind: SocketAddr,
}

impl ListenerSpec {
    pub fn new(name: &str, mode: ListenerMode, bind: SocketAddr) -> ListenerSpec {
        ListenerSpec {
            name: name.to_string(),
            mode,
            bind,
        }
    }

    /// A listener on a free loopback port.
    pub fn loopback(name: &str, mode: ListenerMode) -> ListenerSpec {
        Self::new(name, mode, SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}

/// Which certificate the TLS listeners present for the sink's host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkCert {
    /// Signed by the run's CA for the host name.
    #[default]
    Valid,
    /// Signed by the run's CA, expired.
    Expired,
    /// Signed by the run's CA, naming another host.
    WrongHost,
    /// For the host name, signed by a CA nobody trusts.
    Untrusted,
}

impl SinkCert {
    pub fn name(self) -> &'static str {
        match self {
            SinkCert::Valid => "valid",
            SinkCert::Expired => "expired",
            SinkCert::WrongHost => "wrong-host",
            SinkCert::Untrusted => "untrusted",
        }
    }
}

/// Issues the TLS listeners' server configuration: the run's CA (the twin's `TwinCa` implements
/// it; a docker or live run brings its own).
pub trait CertIssuer: Send + Sync {
    /// A rustls server configuration presenting a `cert` certificate for `host`.
    fn sink_server_config(
        &self,
        host: &str,
        cert: SinkCert,
    ) -> Result<Arc<rustls::ServerConfig>, String>;
}

/// The documented faults the sink can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SinkFaults {
    /// STARTTLS listeners neither advertise nor accept STARTTLS (a relay without TLS on 587).
    pub starttls_not_offered: bool,
    /// AUTH is advertised and accepted before TLS (a relay that takes credentials in the clear).
    pub auth_in_plaintext: bool,
    /// The certificate the TLS listeners present.
    pub cert: SinkCert,
    /// After the greeting the sink never answers again (a stalled relay).
    pub stall_after_greeting: bool,
}

/// Accepted AUTH credentials. The password is compared and never stored in a record, logged or
/// reported.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// Bounds on everything a client can make the sink read or keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkLimits {
    /// Largest message accepted (bytes of DATA); bigger ones get `552` and are not kept.
    pub max_message_bytes: usize,
    /// Longest line (command or message line) read; longer gets `500`/`552` and the connection
    /// is closed.
    pub max_line_bytes: usize,
    /// A client silent for this long is disconnected; also bounds each TLS handshake.
    pub idle_timeout: Duration,
    /// How long an implicit-TLS listener waits for a client to begin its handshake (its first
    /// byte) before dropping it (`TLS handshake failed: timed out`). A TLS client speaks first
    /// at once; a plaintext client (one waiting for a greeting) never does. At most
    /// `idle_timeout`; scenario runs shorten it (see `stack::twin`).
    pub tls_start_timeout: Duration,
    /// Open SMTP connections at once; more get `421` and are closed.
    pub max_connections: usize,
    /// Messages kept; the oldest is dropped when a new one arrives past it.
    pub max_messages: usize,
    /// Session records kept (for failed sessions and transport facts without a message).
    pub max_sessions: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// MIME parts walked per message.
    pub max_parts: usize,
    /// MIME nesting depth walked.
    pub max_depth: usize,
    /// Links kept per message.
    pub max_links: usize,
}

impl Default for SinkLimits {
    fn default() -> Self {
        SinkLimits {
            max_message_bytes: 10 * 1024 * 1024,
            max_line_bytes: 8 * 1024,
            idle_timeout: Duration::from_secs(30),
            tls_start_timeout: Duration::from_secs(30),
            max_connections: 64,
            max_messages: 500,
            max_sessions: 500,
            max_recipients: 100,
            max_parts: 64,
            max_depth: 8,
            max_links: 200,
        }
    }
}

/// Everything a sink is started with.
#[derive(Clone)]
pub struct SinkOptions {
    /// The name in the greeting and the name the certificates are issued for
    /// (`smtp.example.com`: what the sender dials and verifies).
    pub hostname: String,
    pub listeners: Vec<ListenerSpec>,
    /// Where to serve the mailbox over HTTP; `None`: no HTTP.
    pub http_bind: Option<SocketAddr>,
    /// `None`: no AUTH offered.
    pub credentials: Option<Credentials>,
    pub faults: SinkFaults,
    pub limits: SinkLimits,
    /// Needed when a listener speaks TLS.
    pub certificates: Option<Arc<dyn CertIssuer>>,
}

impl std::fmt::Debug for SinkOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkOptions")
            .field("hostname", &self.hostname)
            .field("listeners", &self.listeners)
            .field("http_bind", &self.http_bind)
            .field("credentials", &self.credentials)
            .field("faults", &self.faults)
            .field("limits", &self.limits)
            .field("certificates", &self.certificates.is_some())
            .finish()
    }
}

impl SinkOptions {
    /// A sink for `hostname` with no listeners yet, HTTP on a free loopback port, no AUTH, no
    /// faults, default limits.
    pub fn new(hostname: &str) -> SinkOptions {
        SinkOptions {
            hostname: hostname.to_ascii_lowercase(),
            listeners: Vec::new(),
            http_bind: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            credentials: None,
            faults: SinkFaults::default(),
            limits: SinkLimits::default(),
            certificates: None,
        }
    }

    /// The usual pair on loopback: `submission` (STARTTLS, 587 style) and `smtps` (implicit TLS,
    /// 465 style).
    pub fn with_standard_listeners(mut self) -> SinkOptions {
        self.listeners = vec![
            ListenerSpec::loopback("submission", ListenerMode::StartTls),
            ListenerSpec::loopback("smtps", ListenerMode::Implicit),
        ];
        self
    }

    pub fn with_listener(mut self, spec: ListenerSpec) -> SinkOptions {
        self.listeners.push(spec);
        self
    }

    pub fn with_credentials(mut self, username: &str, password: Secret) -> SinkOptions {
        self.credentials = Some(Credentials {
            username: username.to_string(),
            password,
        });
        self
    }

    pub fn with_certificates(mut self, issuer: Arc<dyn CertIssuer>) -> SinkOptions {
        self.certificates = Some(issuer);
        self
    }
}
