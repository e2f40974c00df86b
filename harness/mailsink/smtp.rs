//! One SMTP connection to the sink: `mailin`'s state machine driven over tokio (and
//! tokio-rustls for implicit TLS and STARTTLS), every read bounded, the documented faults played,
//! and the transport facts recorded.
//!
//! Owns: [`serve_connection`], [`TransportFacts`], [`TlsMode`], [`AuthMechanism`],
//! [`AuthAttempt`]. Bounds: a line longer than `max_line_bytes` gets `500` (command) or `552`
//! (message) and the connection is closed; DATA past `max_message_bytes` is discarded as it comes
//! and answered `552` at its end; a client silent for `idle_timeout` (also during a TLS handshake)
//! is dropped; recipients past `max_recipients` get `452`. Memory per connection is therefore at
//! most one line plus one message.
//!
//! AUTH is offered only after TLS (mailin's rule) unless the `auth_in_plaintext` fault is on; on
//! a plaintext listener it is never offered unless that fault is on. Credentials are compared and
//! dropped: only the mechanism, the identity and the outcome are recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use mailin::{Action, Handler, Response, SessionBuilder};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::mailbox::{Mailbox, SessionRecord};
use super::mime::{self, ParseLimits};
use super::options::{Credentials, ListenerMode, SinkFaults, SinkLimits};

/// How the message travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plaintext all the way.
    None,
    /// TLS from the first byte (port 465 style).
    Implicit,
    /// Upgraded with STARTTLS.
    StartTls,
}

impl TlsMode {
    pub fn name(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::Implicit => "implicit",
            TlsMode::StartTls => "starttls",
        }
    }
}

/// The AUTH mechanisms the sink accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "LOGIN")]
    Login,
}

impl AuthMechanism {
    pub fn name(self) -> &'static str {
        match self {
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::Login => "LOGIN",
        }
    }
}

/// One AUTH attempt: identity and outcome only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthAttempt {
    pub mechanism: AuthMechanism,
    pub identity: String,
    pub accepted: bool,
    /// The credentials crossed the wire without TLS.
    pub in_plaintext: bool,
}

/// What the sink saw of a session's transport (as of the message, or of the session's end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransportFacts {
    /// The listener's name.
    pub listener: String,
    pub listener_mode: ListenerMode,
    /// The listener's address.
    pub local_addr: SocketAddr,
    pub peer: SocketAddr,
    pub tls: TlsMode,
    /// `TLSv1_3`, `TLSv1_2`.
    pub tls_version: Option<String>,
    /// The server name the client asked for in its TLS hello.
    pub sni: Option<String>,
    /// STARTTLS was advertised in the EHLO reply.
    pub starttls_offered: bool,
    /// The client upgraded with STARTTLS.
    pub starttls_used: bool,
    /// The accepted AUTH, if any.
    pub auth_mechanism: Option<AuthMechanism>,
    pub auth_identity: Option<String>,
    /// Credentials (accepted or not) were sent without TLS in this session.
    pub auth_in_plaintext: bool,
    /// The EHLO/HELO name the client gave (the last one).
    pub ehlo_name: String,
}

/// Everything a connection needs from its sink.
#[derive(Clone)]
pub(crate) struct ConnectionContext {
    pub listener: String,
    pub mode: ListenerMode,
    pub local_addr: SocketAddr,
    pub hostname: String,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub credentials: Option<Credentials>,
    pub faults: SinkFaults,
    pub limits: SinkLimits,
    pub mailbox: Arc<Mailbox>,
}

/// What the handler and the connection loop share.
struct State {
    facts: TransportFacts,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
    /// Between `354` and the final dot.
    in_data: bool,
    /// The current message passed the size limit: its data is being discarded.
    oversize: bool,
    /// A reply to send instead of mailin's (mailin stays in DATA after an error reply to the
    /// final dot, so an oversized message is ended with `250` to mailin and `552` to the client).
    override_reply: Option<Vec<u8>>,
    auth_attempts: Vec<AuthAttempt>,
    messages: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

struct Recorder {
    state: Arc<Mutex<State>>,
    credentials: Option<Credentials>,
    limits: SinkLimits,
    mailbox: Arc<Mailbox>,
}

impl Recorder {
    fn auth(&mut self, mechanism: AuthMechanism, identity: &str, password: &str) -> Response {
        let ok = self
            .credentials
            .as_ref()
            .is_some_and(|c| c.username == identity && c.password.expose() == password);
        let mut s = lock(&self.state);
        let in_plaintext = s.facts.tls == TlsMode::None;
        s.auth_attempts.push(AuthAttempt {
            mechanism,
            identity: identity.chars().take(256).collect(),
            accepted: ok,
            in_plaintext,
        });
        if in_plaintext {
            s.facts.auth_in_plaintext = true;
        }
        if ok {
            s.facts.auth_mechanism = Some(mechanism);
            s.facts.auth_identity = Some(identity.to_string());
            mailin::response::AUTH_OK
        } else {
            Response::custom(535, "5.7.8 Authentication credentials invalid".to_string())
        }
    }
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: std::net::IpAddr, domain: &str) -> Response {
        lock(&self.state).facts.ehlo_name = domain.chars().take(255).collect();
        mailin::response::OK
    }

    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, from: &str) -> Response {
        let mut s = lock(&self.state);
        s.from = from.to_string();
        s.to.clear();
        s.data.clear();
        s.oversize = false;
        mailin::response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let mut s = lock(&self.state);
        if s.to.len() >= self.limits.max_recipients {
            return Response::custom(452, "4.5.3 Too many recipients".to_string());
        }
        s.to.push(to.to_string());
        mailin::response::OK
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        lock(&self.state).in_data = true;
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut s = lock(&self.state);
        if s.oversize {
            return Ok(());
        }
        if s.data.len() + buf.len() > self.limits.max_message_bytes {
            s.oversize = true;
            s.data = Vec::new();
            return Ok(());
        }
        s.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let (from, to, raw, facts) = {
            let mut s = lock(&self.state);
            s.in_data = false;
            if s.oversize {
                s.oversize = false;
                s.to.clear();
                s.override_reply = Some(
                    format!(
                        "552 5.3.4 Message size exceeds fixed limit of {} bytes\r\n",
                        self.limits.max_message_bytes
                    )
                    .into_bytes(),
                );
                return mailin::response::OK;
            }
            (
                std::mem::take(&mut s.from),
                std::mem::take(&mut s.to),
                std::mem::take(&mut s.data),
                s.facts.clone(),
            )
        };
        let parsed = mime::parse(
            &raw,
            ParseLimits {
                max_parts: self.limits.max_parts,
                max_depth: self.limits.max_depth,
                max_links: self.limits.max_links,
            },
        );
        let message = self.mailbox.push_message(from, to, raw, parsed, facts);
        lock(&self.state).messages.push(message.id.clone());
        Response::custom(250, format!("2.0.0 Ok: queued as {}", message.id))
    }

    fn auth_plain(&mut self, _authz: &str, authn: &str, password: &str) -> Response {
        self.auth(AuthMechanism::Plain, authn, password)
    }

    fn auth_login(&mut self, username: &str, password: &str) -> Response {
        self.auth(AuthMechanism::Login, username, password)
    }
}

pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A line read within bounds.
enum Line {
    Complete,
    TooLong,
    Eof,
}

/// Read one line (up to and including `\n`) into `buf`, at most `max` bytes; on `TooLong` the
/// rest of the line is left unread.
async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if buf.len() + take > max {
            return Ok(Line::TooLong);
        }
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        if done {
            return Ok(Line::Complete);
        }
    }
}

fn version_name(v: Option<rustls::ProtocolVersion>) -> Option<String> {
    v.map(|v| match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1_3".to_string(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1_2".to_string(),
        other => format!("{other:?}"),
    })
}

/// Serve one accepted connection to its end, then record the session.
pub(crate) async fn serve_connection(
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    ctx: ConnectionContext,
) {
    let _ = socket.set_nodelay(true);
    let starttls_offered = ctx.mode == ListenerMode::StartTls && !ctx.faults.starttls_not_offered;
    let state = Arc::new(Mutex::new(State {
        facts: TransportFacts {
            listener: ctx.listener.clone(),
            listener_mode: ctx.mode,
            local_addr: ctx.local_addr,
            peer,
            tls: TlsMode::None,
            tls_version: None,
            sni: None,
            starttls_offered: false,
            starttls_used: false,
            auth_mechanism: None,
            auth_identity: None,
            auth_in_plaintext: false,
            ehlo_name: String::new(),
        },
        from: String::new(),
        to: Vec::new(),
        data: Vec::new(),
        in_data: false,
        oversize: false,
        override_reply: None,
        auth_attempts: Vec::new(),
        messages: Vec::new(),
    }));
    let started = OffsetDateTime::now_utc();
    let end = run(Box::new(socket), peer, &ctx, starttls_offered, &state).await;
    let s = lock(&state);
    ctx.mailbox.push_session(SessionRecord {
        seq: 0,
        started,
        peer,
        transport: s.facts.clone(),
        auth_attempts: s.auth_attempts.clone(),
        messages: s.messages.clone(),
        end,
    });
}

/// The session; returns how it ended.
async fn run(
    socket: Box<dyn Stream>,
    peer: SocketAddr,
    ctx: &ConnectionContext,
    starttls_offered: bool,
    state: &Arc<Mutex<State>>,
) -> String {
    let idle = ctx.limits.idle_timeout;
    let mut builder = SessionBuilder::new(ctx.hostname.clone());
    if starttls_offered {
        builder.enable_start_tls();
    }
    let auth_possible = ctx.credentials.is_some()
        && (ctx.mode != ListenerMode::Plain || ctx.faults.auth_in_plaintext);
    if auth_possible {
        builder.enable_auth(mailin::AuthMechanism::Plain);
        builder.enable_auth(mailin::AuthMechanism::Login);
        if ctx.faults.auth_in_plaintext {
            builder.insecure_enable_plaintext_auth();
        }
    }
    let handler = Recorder {
        state: state.clone(),
        credentials: ctx.credentials.clone(),
        limits: ctx.limits,
        mailbox: ctx.mailbox.clone(),
    };
    let mut session = builder.build(peer.ip(), handler);
    let mut stream = socket;
    if ctx.mode == ListenerMode::Implicit {
        let Some(cfg) = ctx.tls.clone() else {
            return "no certificate for an implicit-TLS listener".to_string();
        };
        // A TLS client sends its ClientHello at once; one that says nothing is waiting for a
        // greeting this listener never sends, and is dropped after `tls_start_timeout`.
        let mut waiting = BufReader::new(stream);
        let start = ctx.limits.tls_start_timeout.min(idle);
        if tokio::time::timeout(start, waiting.fill_buf())
            .await
            .is_err()
        {
            return "TLS handshake failed: timed out".to_string();
        }
        match handshake(Box::new(waiting), cfg, idle).await {
            Ok((tls, version, sni)) => {
                stream = tls;
                session.tls_active();
                let mut s = lock(state);
                s.facts.tls = TlsMode::Implicit;
                s.facts.tls_version = version;
                s.facts.sni = sni;
            }
            Err(e) => return format!("TLS handshake failed: {e}"),
        }
    }
    let mut reader = BufReader::new(stream);
    let greeting = match session.greeting().buffer() {
        Ok(g) => g,
        Err(e) => return format!("greeting: {e}"),
    };
    if let Err(e) = write(&mut reader, &greeting, idle).await {
        return e;
    }
    if ctx.faults.stall_after_greeting {
        return stall(&mut reader, idle).await;
    }
    let mut line = Vec::with_capacity(256);
    loop {
        let in_data = lock(state).in_data;
        let read = tokio::time::timeout(
            idle,
            read_line_bounded(&mut reader, &mut line, ctx.limits.max_line_bytes),
        )
        .await;
        match read {
            Err(_) => {
                let _ = write(
                    &mut reader,
                    b"421 4.4.2 Idle timeout, closing connection\r\n",
                    idle,
                )
                .await;
                return "idle timeout".to_string();
            }
            // A client that closes with our unread reply still in its buffer (Go's TLS client
            // after "first record does not look like a TLS handshake") resets the connection:
            // which of EOF and RST arrives is timing, so both read as the client closing (one
            // transcript, one snapshot).
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return "client closed".to_string();
            }
            Ok(Err(e)) => return format!("read error: {e}"),
            Ok(Ok(Line::Eof)) => return "client closed".to_string(),
            Ok(Ok(Line::TooLong)) => {
                let reply: &[u8] = if in_data {
                    b"552 5.3.4 Message line too long, closing connection\r\n"
                } else {
                    b"500 5.5.2 Line too long, closing connection\r\n"
                };
                let _ = write(&mut reader, reply, idle).await;
                let _ = reader.get_mut().shutdown().await;
                return format!("line longer than {} bytes", ctx.limits.max_line_bytes);
            }
            Ok(Ok(Line::Complete)) => {}
        }
        // mailin accepts STARTTLS in some states even when the extension is off; a server that
        // does not offer it answers as Postfix without TLS does.
        if !starttls_offered
            && String::from_utf8_lossy(&line)
                .trim()
                .eq_ignore_ascii_case("STARTTLS")
        {
            if let Err(e) = write(
                &mut reader,
                b"502 5.5.1 Error: command not implemented\r\n",
                idle,
            )
            .await
            {
                return e;
            }
            continue;
        }
        let is_ehlo = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"EHLO");
        let response = session.process(&line);
        if is_ehlo && response.code == 250 {
            let mut s = lock(state);
            // Offered once is offered: the EHLO after the upgrade no longer lists it.
            s.facts.starttls_offered |= starttls_offered && s.facts.tls == TlsMode::None;
        }
        let bytes = match lock(state).override_reply.take() {
            Some(b) => b,
            None => match response.buffer() {
                Ok(b) => b,
                Err(e) => return format!("reply: {e}"),
            },
        };
        match response.action {
            Action::NoReply => {}
            Action::Reply => {
                if let Err(e) = write(&mut reader, &bytes, idle).await {
                    return e;
                }
            }
            Action::Close => {
                let _ = write(&mut reader, &bytes, idle).await;
                let _ = reader.get_mut().shutdown().await;
                return if response.code == 221 {
                    "QUIT".to_string()
                } else {
                    format!("closed with {}", response.code)
                };
            }
            Action::UpgradeTls => {
                if let Err(e) = write(&mut reader, &bytes, idle).await {
                    return e;
                }
                let Some(cfg) = ctx.tls.clone() else {
                    return "STARTTLS without a certificate".to_string();
                };
                if !reader.buffer().is_empty() {
                    // Bytes pipelined after STARTTLS would be read as TLS: refuse (CVE-2011-0411).
                    return "plaintext pipelined after STARTTLS".to_string();
                }
                let inner = reader.into_inner();
                match handshake(inner, cfg, idle).await {
                    Ok((tls, version, sni)) => {
                        reader = BufReader::new(tls);
                        session.tls_active();
                        let mut s = lock(state);
                        s.facts.tls = TlsMode::StartTls;
                        s.facts.starttls_used = true;
                        s.facts.tls_version = version;
                        s.facts.sni = sni;
                    }
                    Err(e) => return format!("STARTTLS handshake failed: {e}"),
                }
            }
        }
    }
}

type Handshake = (Box<dyn Stream>, Option<String>, Option<String>);

async fn handshake(
    stream: Box<dyn Stream>,
    cfg: Arc<rustls::ServerConfig>,
    idle: std::time::Duration,
) -> Result<Handshake, String> {
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    match tokio::time::timeout(idle, acceptor.accept(stream)).await {
        Err(_) => Err("timed out".to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(tls)) => {
            let conn = tls.get_ref().1;
            let version = version_name(conn.protocol_version());
            let sni = conn.server_name().map(str::to_string);
            Ok((Box::new(tls), version, sni))
        }
    }
}

async fn write(
    reader: &mut BufReader<Box<dyn Stream>>,
    bytes: &[u8],
    idle: std::time::Duration,
) -> Result<(), String> {
    let w = reader.get_mut();
    match tokio::time::timeout(idle, async {
        w.write_all(bytes).await?;
        w.flush().await
    })
    .await
    {
        Ok(Ok(())) => Ok(()),
        // The write side of the same race as the read side's reset above: the client closed
        // before our reply went out (EPIPE or RST, by timing), which is the client closing.
        Ok(Err(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            Err("client closed".to_string())
        }
        Ok(Err(e)) => Err(format!("write error: {e}")),
        Err(_) => Err("write timed out".to_string()),
    }
}

/// The stall fault: read and discard whatever comes, answer nothing, until the client gives up
/// or goes quiet for the idle timeout.
async fn stall(reader: &mut BufReader<Box<dyn Stream>>, idle: std::time::Duration) -> String {
    loop {
        match tokio::time::timeout(idle, reader.fill_buf()).await {
            Err(_) => return "stalled after the greeting (idle timeout)".to_string(),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return "stalled after the greeting (client closed)".to_string();
            }
            Ok(Err(e)) => return format!("stalled after the greeting (read error: {e})"),
            Ok(Ok([])) => return "stalled after the greeting (client closed)".to_string(),
            Ok(Ok(buf)) => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}
