//! Starting and stopping a sink.
//!
//! Owns: [`MailSink`] — validates the options, issues the listeners' certificates from the
//! given [`CertIssuer`](super::options::CertIssuer), binds every SMTP listener and the HTTP
//! mailbox, and owns the accept loops and open connections: dropping the sink (or
//! [`MailSink::shutdown`]) stops them all. Connections past `max_connections` are answered
//! `421` and closed; the accept loop never spins on errors.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinHandle};

use super::error::{SinkError, SinkErrorKind};
use super::mailbox::Mailbox;
use super::options::{ListenerMode, SinkOptions};
use super::smtp::{ConnectionContext, serve_connection};

/// A listener as bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundListener {
    pub name: String,
    pub mode: ListenerMode,
    pub addr: SocketAddr,
}

/// A running sink.
pub struct MailSink {
    listeners: Vec<BoundListener>,
    http_addr: Option<SocketAddr>,
    mailbox: Arc<Mailbox>,
    hostname: String,
    tasks: Vec<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl std::fmt::Debug for MailSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSink")
            .field("hostname", &self.hostname)
            .field("listeners", &self.listeners)
            .field("http_addr", &self.http_addr)
            .finish_non_exhaustive()
    }
}

fn validate(opts: &SinkOptions) -> Result<(), SinkError> {
    if opts.listeners.is_empty() {
        return Err(SinkErrorKind::NoListeners.into());
    }
    for (i, l) in opts.listeners.iter().enumerate() {
        if opts.listeners[..i].iter().any(|o| o.name == l.name) {
            return Err(SinkErrorKind::DuplicateListener(l.name.clone()).into());
        }
    }
    let limits = &opts.limits;
    for (name, value, min) in [
        ("max_message_bytes", limits.max_message_bytes, 1024),
        ("max_line_bytes", limits.max_line_bytes, 1000),
        ("max_connections", limits.max_connections, 1),
        ("max_messages", limits.max_messages, 1),
        ("max_recipients", limits.max_recipients, 1),
        ("max_parts", limits.max_parts, 1),
        ("max_depth", limits.max_depth, 1),
    ] {
        if value < min {
            return Err(SinkErrorKind::Limit { name, min, value }.into());
        }
    }
    Ok(())
}

impl MailSink {
    /// Bind every listener and start serving.
    pub async fn start(opts: SinkOptions) -> Result<MailSink, SinkError> {
        crate::crypto::install_default_provider();
        validate(&opts)?;
        let tls = if opts.listeners.iter().any(|l| l.mode.needs_tls()) {
            let Some(issuer) = opts.certificates.as_ref() else {
                let listener = opts
                    .listeners
                    .iter()
                    .find(|l| l.mode.needs_tls())
                    .map(|l| l.name.clone())
                    .unwrap_or_default();
                return Err(SinkErrorKind::NoCertificates { listener }.into());
            };
            Some(
                issuer
                    .sink_server_config(&opts.hostname, opts.faults.cert)
                    .map_err(|message| SinkErrorKind::Certificate {
                        host: opts.hostname.clone(),
                        cert: opts.faults.cert.name(),
                        message,
                    })?,
            )
        } else {
            None
        };
        let mailbox = Arc::new(Mailbox::new(
            opts.limits.max_messages,
            opts.limits.max_sessions,
        ));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::new(Mutex::new(Vec::new()));
        let permits = Arc::new(Semaphore::new(opts.limits.max_connections));
        let mut bound = Vec::new();
        let mut sockets = Vec::new();
        for spec in &opts.listeners {
            let listener =
                TcpListener::bind(spec.bind)
                    .await
                    .map_err(|source| SinkErrorKind::Bind {
                        addr: spec.bind,
                        source,
                    })?;
            let addr = listener
                .local_addr()
                .map_err(|source| SinkErrorKind::Bind {
                    addr: spec.bind,
                    source,
                })?;
            bound.push(BoundListener {
                name: spec.name.clone(),
                mode: spec.mode,
                addr,
            });
            sockets.push((listener, spec.clone(), addr));
        }
        let http = match opts.http_bind {
            Some(bind) => {
                let listener = TcpListener::bind(bind)
                    .await
                    .map_err(|source| SinkErrorKind::Bind { addr: bind, source })?;
                let addr = listener
                    .local_addr()
                    .map_err(|source| SinkErrorKind::Bind { addr: bind, source })?;
                Some((listener, addr))
            }
            None => None,
        };
        let mut tasks = Vec::new();
        for (listener, spec, addr) in sockets {
            let ctx = ConnectionContext {
                listener: spec.name.clone(),
                mode: spec.mode,
                local_addr: addr,
                hostname: opts.hostname.clone(),
                tls: tls.clone(),
                credentials: opts.credentials.clone(),
                faults: opts.faults,
                limits: opts.limits,
                mailbox: mailbox.clone(),
            };
            tasks.push(tokio::spawn(accept_loop(
                listener,
                ctx,
                permits.clone(),
                connections.clone(),
            )));
        }
        let mut http_addr = None;
        if let Some((listener, addr)) = http {
            let app = super::web::router(mailbox.clone());
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
            http_addr = Some(addr);
        }
        Ok(MailSink {
            listeners: bound,
            http_addr,
            mailbox,
            hostname: opts.hostname,
            tasks,
            connections,
        })
    }

    /// The SMTP listeners as bound.
    pub fn listeners(&self) -> &[BoundListener] {
        &self.listeners
    }

    /// The address of the first listener of `mode`.
    pub fn addr(&self, mode: ListenerMode) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|l| l.mode == mode)
            .map(|l| l.addr)
    }

    /// The address of the listener named `name`.
    pub fn listener(&self, name: &str) -> Option<&BoundListener> {
        self.listeners.iter().find(|l| l.name == name)
    }

    /// Where the mailbox is served over HTTP.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The mailbox page's URL (`http://127.0.0.1:PORT/`).
    pub fn mailbox_url(&self) -> Option<String> {
        self.http_addr.map(|a| format!("http://{a}/"))
    }

    /// The name in the greeting and on the certificates.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    /// Stop accepting, close open connections and drop the listeners.
    pub async fn shutdown(self) {
        self.stop();
        tokio::task::yield_now().await;
    }

    fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
        let mut open = match self.connections.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for h in open.drain(..) {
            h.abort();
        }
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(
    listener: TcpListener,
    ctx: ConnectionContext,
    permits: Arc<Semaphore>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
) {
    loop {
        let (mut socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt as _;
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    socket.write_all(b"421 4.7.0 Too many connections, try again later\r\n"),
                )
                .await;
            });
            continue;
        };
        let ctx = ctx.clone();
        let handle = tokio::spawn(async move {
            serve_connection(socket, peer, ctx).await;
            drop(permit);
        });
        let mut open = match connections.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        open.retain(|h| !h.is_finished());
        open.push(handle.abort_handle());
    }
}
