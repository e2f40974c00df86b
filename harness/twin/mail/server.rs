//! The SMTP server the twin's Mattermost sends to (`smtp.example.com` in the scenarios): the
//! `mailin` SMTP state machine driven over tokio and tokio-rustls, so one server type covers
//! plaintext, STARTTLS (offered or, as a fault, not), and implicit TLS (port 465 style, TLS from
//! the first byte), with AUTH PLAIN/LOGIN against configured credentials.
//!
//! Owns: [`MailServer`], [`MailServerOptions`], [`MailServerSecurity`], [`ReceivedMail`].
//! AUTH is advertised only after TLS (mailin's rule), except on a plaintext server or a STARTTLS
//! server that does not offer STARTTLS, which advertise it in the clear (a relay that accepts
//! credentials in plaintext: exactly where Mattermost refuses with "unencrypted connection").

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin::{Action, AuthMechanism, Handler, Response, SessionBuilder};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};

use super::client::{MailError, MailErrorKind, SmtpSessionLog};
use crate::config::model::Secret;

/// How the server speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MailServerSecurity {
    /// Plaintext only (port 25 style).
    Plain,
    /// Plaintext with STARTTLS (port 587 style).
    StartTls,
    /// TLS from the first byte (port 465 style).
    ImplicitTls,
}

/// What the server is started with.
#[derive(Clone)]
pub struct MailServerOptions {
    pub security: MailServerSecurity,
    /// `false` on a StartTls server = the fault "STARTTLS not offered".
    pub offer_starttls: bool,
    /// The server's certificate (needed for StartTls and ImplicitTls).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Accepted credentials; `None` = no AUTH.
    pub auth: Option<(String, Secret)>,
    /// The greeting name.
    pub hostname: String,
}

impl std::fmt::Debug for MailServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailServerOptions")
            .field("security", &self.security)
            .field("offer_starttls", &self.offer_starttls)
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth)
            .field("hostname", &self.hostname)
            .finish()
    }
}

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceivedMail {
    /// Envelope sender (`MAIL FROM`).
    pub from: String,
    /// Envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// Header fields in order (unfolded).
    pub headers: Vec<(String, String)>,
    /// Everything after the header block.
    pub body: String,
    /// Whether the message came over TLS (implicit or after STARTTLS).
    pub tls: bool,
    /// The user that authenticated, if any.
    pub auth_user: Option<String>,
    /// The EHLO/HELO name the client gave.
    pub ehlo_name: String,
}

impl ReceivedMail {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running SMTP server on loopback.
pub struct MailServer {
    addr: SocketAddr,
    messages: Arc<Mutex<Vec<ReceivedMail>>>,
    task: JoinHandle<()>,
    /// Open client connections, aborted with the server.
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl std::fmt::Debug for MailServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailServer")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Per-connection state the mailin handler fills in.
#[derive(Default)]
struct ConnState {
    ehlo: String,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
    tls: bool,
    auth_user: Option<String>,
}

struct Recorder {
    state: Arc<Mutex<ConnState>>,
    messages: Arc<Mutex<Vec<ReceivedMail>>>,
    auth: Option<(String, Secret)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Recorder {
    fn check(&self, user: &str, password: &str) -> Response {
        match &self.auth {
            Some((u, p)) if u == user && p.expose() == password => {
                lock(&self.state).auth_user = Some(user.to_string());
                mailin::response::AUTH_OK
            }
            _ => mailin::response::INVALID_CREDENTIALS,
        }
    }
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: std::net::IpAddr, domain: &str) -> Response {
        lock(&self.state).ehlo = domain.to_string();
        mailin::response::OK
    }
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, from: &str) -> Response {
        let mut s = lock(&self.state);
        s.from = from.to_string();
        s.to.clear();
        s.data.clear();
        mailin::response::OK
    }
    fn rcpt(&mut self, to: &str) -> Response {
        lock(&self.state).to.push(to.to_string());
        mailin::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        lock(&self.state).data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        let mut s = lock(&self.state);
        let raw = String::from_utf8_lossy(&s.data).replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let mail = ReceivedMail {
            from: s.from.clone(),
            to: s.to.clone(),
            headers,
            body: body.to_string(),
            tls: s.tls,
            auth_user: s.auth_user.clone(),
            ehlo_name: s.ehlo.clone(),
        };
        s.data.clear();
        drop(s);
        lock(&self.messages).push(mail);
        mailin::response::OK
    }
    fn auth_plain(&mut self, _authz: &str, authn: &str, password: &str) -> Response {
        self.check(authn, password)
    }
    fn auth_login(&mut self, username: &str, password: &str) -> Response {
        self.check(username, password)
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Idle limit per connection: a client that says nothing for this long is dropped.
const IDLE: Duration = Duration::from_secs(30);

impl MailServer {
    /// Serve on `listener` until shut down.
    pub async fn start(
        listener: TcpListener,
        opts: MailServerOptions,
    ) -> Result<MailServer, MailError> {
        let addr = listener.local_addr().map_err(|e| MailError {
            kind: MailErrorKind::Config,
            message: format!("mail server listener has no address: {e}"),
            log: SmtpSessionLog::default(),
        })?;
        if opts.security != MailServerSecurity::Plain && opts.tls.is_none() {
            return Err(MailError {
                kind: MailErrorKind::Config,
                message: format!("mail server {:?} needs a TLS certificate", opts.security),
                log: SmtpSessionLog::default(),
            });
        }
        let messages = Arc::new(Mutex::new(Vec::new()));
        let shared = messages.clone();
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::new(Mutex::new(Vec::new()));
        let tracked = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let (socket, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(_) => {
                        // Out of descriptors or similar: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let opts = opts.clone();
                let messages = shared.clone();
                let handle = tokio::spawn(async move {
                    let _ = socket.set_nodelay(true);
                    let _ = serve_connection(Box::new(socket), peer, opts, messages).await;
                });
                let mut open = lock(&tracked);
                open.retain(|h| !h.is_finished());
                open.push(handle.abort_handle());
            }
        });
        Ok(MailServer {
            addr,
            messages,
            task,
            connections,
        })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.messages).clone()
    }

    /// Wait until at least `n` messages arrived, or `timeout` passed; returns what is there.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msgs = self.messages();
            if msgs.len() >= n || tokio::time::Instant::now() >= deadline {
                return msgs;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stop accepting, close open connections and drop the listener.
    pub async fn shutdown(self) {
        self.stop();
        tokio::task::yield_now().await;
    }

    fn stop(&self) {
        self.task.abort();
        for h in lock(&self.connections).drain(..) {
            h.abort();
        }
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve_connection(
    socket: Box<dyn Stream>,
    peer: SocketAddr,
    opts: MailServerOptions,
    messages: Arc<Mutex<Vec<ReceivedMail>>>,
) -> std::io::Result<()> {
    let state = Arc::new(Mutex::new(ConnState::default()));
    let mut builder = SessionBuilder::new(opts.hostname.clone());
    let starttls = opts.security == MailServerSecurity::StartTls && opts.offer_starttls;
    if starttls {
        builder.enable_start_tls();
    }
    if opts.auth.is_some() {
        builder.enable_auth(AuthMechanism::Plain);
        builder.enable_auth(AuthMechanism::Login);
        let plaintext_only = opts.security == MailServerSecurity::Plain
            || (opts.security == MailServerSecurity::StartTls && !opts.offer_starttls);
        if plaintext_only {
            builder.insecure_enable_plaintext_auth();
        }
    }
    let handler = Recorder {
        state: state.clone(),
        messages,
        auth: opts.auth.clone(),
    };
    let mut session = builder.build(peer.ip(), handler);
    let mut stream: Box<dyn Stream> = socket;
    if opts.security == MailServerSecurity::ImplicitTls {
        let Some(cfg) = opts.tls.clone() else {
            return Ok(());
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        let tls = tokio::time::timeout(IDLE, acceptor.accept(stream))
            .await
            .map_err(|_| std::io::Error::other("tls handshake timed out"))??;
        stream = Box::new(tls);
        session.tls_active();
        lock(&state).tls = true;
    }
    let mut reader = BufReader::new(stream);
    let greeting = session.greeting().buffer()?;
    reader.get_mut().write_all(&greeting).await?;
    loop {
        let mut line = Vec::new();
        let n = tokio::time::timeout(IDLE, reader.read_until(b'\n', &mut line))
            .await
            .map_err(|_| std::io::Error::other("idle"))??;
        if n == 0 {
            return Ok(());
        }
        // mailin accepts STARTTLS in its AUTH-capable state even when the extension is off; a
        // server that does not offer it answers as Postfix without TLS does.
        if !starttls
            && String::from_utf8_lossy(&line)
                .trim()
                .eq_ignore_ascii_case("STARTTLS")
        {
            reader
                .get_mut()
                .write_all(b"502 5.5.1 Error: command not implemented\r\n")
                .await?;
            continue;
        }
        let response = session.process(&line);
        match response.action {
            Action::NoReply => {}
            Action::Reply => {
                reader.get_mut().write_all(&response.buffer()?).await?;
            }
            Action::Close => {
                reader.get_mut().write_all(&response.buffer()?).await?;
                let _ = reader.get_mut().shutdown().await;
                return Ok(());
            }
            Action::UpgradeTls => {
                reader.get_mut().write_all(&response.buffer()?).await?;
                let Some(cfg) = opts.tls.clone() else {
                    return Ok(());
                };
                let inner = reader.into_inner();
                let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                let tls = tokio::time::timeout(IDLE, acceptor.accept(inner))
                    .await
                    .map_err(|_| std::io::Error::other("tls handshake timed out"))??;
                reader = BufReader::new(Box::new(tls) as Box<dyn Stream>);
                session.tls_active();
                lock(&state).tls = true;
            }
        }
    }
}
