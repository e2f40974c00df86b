//! Mattermost's mailer: the SMTP client side inside the twin's Mattermost, written over tokio and
//! tokio-rustls so every byte is under control and logged.
//!
//! Owns: [`send_mail`], [`OutgoingMail`], [`SmtpSessionLog`], [`MailError`]. The behaviour follows
//! server/platform/shared/mail/mail.go (Mattermost 5-10) and Go's `net/smtp`:
//! - `ConnectionSecurity` `"TLS"`: implicit TLS from the first byte, SNI = `SMTPServer`;
//!   `"STARTTLS"`: plain connect, EHLO, `STARTTLS` whose failure is ignored (`c.StartTLS(...)`'s
//!   error is dropped), so a server that does not offer it gets the rest in plaintext; a failed
//!   handshake after a `220` poisons the connection and the next command reports it;
//!   `""`/`"PLAIN"`: plaintext.
//! - Certificates are verified against the given roots (no system roots) unless
//!   `SkipServerCertificateVerification`.
//! - EHLO name = host of `SiteURL`, else `localhost` (Go's default).
//! - `EnableSMTPAuth`: PLAIN when advertised, else LOGIN; both refuse without TLS
//!   ("unencrypted connection").
//! - `MAIL FROM:<FeedbackEmail>` (+ ` BODY=8BITMIME` when advertised), `RCPT TO`, `DATA`, and
//!   no `QUIT` after success (the connection is just closed).
//! - Errors read as Mattermost's (`unable to connect to the SMTP server: ...`,
//!   `authentication failed: ...`, `failed to set the from address: ...`).
//! - Mattermost 3.x ([`MailerEra::Mattermost3`]): no certificate checks, no EHLO name, PLAIN auth
//!   always with TLS/STARTTLS, and its own error texts.
//!
//! Timeouts are Mattermost's, no more: 10.11's `SMTPServerTimeout` (0 is taken as its default,
//! 10 s, as `SetDefaults` does) bounds the dial (`net.Dialer.Timeout`; with `"TLS"` the handshake
//! too, Go's `tls.DialWithDialer`) and, afresh, the wait for the greeting (a context with that
//! deadline around `smtp.NewClient`: "context deadline exceeded"). After the greeting Go's
//! `net/smtp` sets no deadline, so a relay that stalls there holds the sender until it gives up
//! (the step deadline on the harness side). Mattermost 3.4 sets no timeout at all (`net.Dial`,
//! `tls.Dial`). Product time runs on the twin's [`ProductClock`] (scaled in scenario runs). The
//! twin's own backstop ([`BACKSTOP`], not the product's) ends a session silent for that long so
//! no task outlives every deadline.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls_pki_types::{CertificateDer, ServerName};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::tls_client::{client_config, go_tls_error, go_tls_error_text};
use crate::config::model::EmailSettings;
use crate::net::AddressBook;
use crate::twin::clock::ProductClock;

/// The twin's guard against a session that would wait forever (Go sets no deadline after the
/// greeting, 3.4 none at all): real time, far past any step deadline a scenario sets (`mail.wait`
/// at most 60 s, `--step-timeout` default 10 s), so it never shapes what a scenario observes.
pub const BACKSTOP: Duration = Duration::from_secs(600);

/// Mattermost 10.11's `SMTPServerTimeout` in product time (`SetDefaults`: 0 → 10 s).
pub fn server_timeout(email: &EmailSettings) -> Duration {
    match email.smtp_server_timeout {
        0 => Duration::from_secs(10),
        n => Duration::from_secs(n),
    }
}

/// Await `fut` for at most `limit` (`None`: the [`BACKSTOP`]); `Err(true)` when a product
/// timeout ran out, `Err(false)` when the backstop did.
async fn bounded<F: std::future::Future>(
    limit: Option<Duration>,
    fut: F,
) -> Result<F::Output, bool> {
    match limit {
        Some(d) => tokio::time::timeout(d, fut).await.map_err(|_| true),
        None => tokio::time::timeout(BACKSTOP, fut).await.map_err(|_| false),
    }
}

/// The text of a wait that ran out: the product's own (`i/o timeout`, Go's deadline error) or
/// the twin's backstop, named as such.
fn ran_out(product: bool) -> String {
    if product {
        "i/o timeout".to_string()
    } else {
        format!(
            "twin backstop: no progress for {} s (Mattermost itself would still be waiting)",
            BACKSTOP.as_secs()
        )
    }
}

/// One email as Mattermost composes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    /// The HTML body (Mattermost's templates); a text/plain part is derived from it.
    pub html_body: String,
}

/// Which Mattermost's mailer to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MailerEra {
    /// Mattermost 3.x (utils/mail.go).
    Mattermost3,
    /// Mattermost 5 - 10 (platform/shared/mail/mail.go).
    Current,
}

/// Who said a line of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Speaker {
    Client,
    Server,
    /// A note of the client's own (TLS handshakes, ignored failures).
    Note,
}

/// One line of an SMTP session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpLine {
    pub speaker: Speaker,
    pub text: String,
}

/// The transcript of one session: every command and reply (AUTH payloads redacted), message
/// bodies summarised, plus what the session amounted to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SmtpSessionLog {
    pub lines: Vec<SmtpLine>,
    /// The name sent with EHLO/HELO.
    pub ehlo_name: String,
    /// Whether the session ran (from some point on) over TLS.
    pub tls: bool,
    /// STARTTLS was asked for but the session went on in plaintext.
    pub starttls_downgraded: bool,
    /// The AUTH mechanism used, if any.
    pub auth_mechanism: Option<String>,
}

impl SmtpSessionLog {
    fn client(&mut self, text: impl Into<String>) {
        self.lines.push(SmtpLine {
            speaker: Speaker::Client,
            text: text.into(),
        });
    }
    fn server(&mut self, text: impl Into<String>) {
        self.lines.push(SmtpLine {
            speaker: Speaker::Server,
            text: text.into(),
        });
    }
    fn note(&mut self, text: impl Into<String>) {
        self.lines.push(SmtpLine {
            speaker: Speaker::Note,
            text: text.into(),
        });
    }

    /// The transcript as text, `C: `/`S: `/`*  ` prefixed.
    pub fn render(&self) -> String {
        self.lines
            .iter()
            .map(|l| {
                let p = match l.speaker {
                    Speaker::Client => "C: ",
                    Speaker::Server => "S: ",
                    Speaker::Note => "*  ",
                };
                format!("{p}{}\n", l.text)
            })
            .collect()
    }
}

/// What went wrong, by stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MailErrorKind {
    /// Settings Mattermost would refuse (bad port, no server).
    Config,
    /// TCP connect, implicit-TLS handshake, greeting or hello.
    Connect,
    /// AUTH refused or impossible.
    Auth,
    /// MAIL FROM refused.
    From,
    /// RCPT TO refused.
    To,
    /// DATA and the message.
    Data,
}

impl MailError {
    /// The error id Mattermost 3.4's `utils/mail.go` gives this stage's failure, its English
    /// message and the detail (the Go error), as its `AppError` carries them.
    pub fn mattermost3_app_error(&self) -> (&'static str, &'static str, String) {
        let detail = self
            .message
            .split_once(", ")
            .map(|(_, d)| d.to_string())
            .unwrap_or_else(|| self.message.clone());
        let (id, text) = match self.kind {
            MailErrorKind::Config | MailErrorKind::Connect => {
                if self
                    .message
                    .starts_with("SendMail: Failed to open connection")
                {
                    (
                        "utils.mail.connect_smtp.open.app_error",
                        "Failed to open connection",
                    )
                } else {
                    (
                        "utils.mail.connect_smtp.open_tls.app_error",
                        "Failed to open TLS connection",
                    )
                }
            }
            MailErrorKind::Auth => (
                "utils.mail.new_client.auth.app_error",
                "Failed to authenticate on SMTP server",
            ),
            MailErrorKind::From => (
                "utils.mail.send_mail.from_address.app_error",
                "Error setting \"From Address\"",
            ),
            MailErrorKind::To => (
                "utils.mail.send_mail.to_address.app_error",
                "Error setting \"To address\"",
            ),
            MailErrorKind::Data => {
                if self.message.starts_with("SendMail: Failed to close") {
                    (
                        "utils.mail.send_mail.close.app_error",
                        "Failed to close connection to SMTP server",
                    )
                } else {
                    (
                        "utils.mail.send_mail.msg_data.app_error",
                        "Failed to add email message data",
                    )
                }
            }
        };
        (id, text, detail)
    }
}

/// A mail failure, worded as Mattermost words it; the session log up to the failure is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    pub kind: MailErrorKind,
    pub message: String,
    pub log: SmtpSessionLog,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A failure inside the session, before it is worded for the era.
#[derive(Debug)]
enum Step {
    /// Network/TLS/timeout failure with Go-like text.
    Io(String),
    /// An SMTP reply with an unexpected code (`535 5.7.8 ...`).
    Reply(u16, String),
    /// A client-side refusal (`unencrypted connection`).
    Refused(String),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Io(s) | Step::Refused(s) => f.write_str(s),
            Step::Reply(code, msg) => write!(f, "{code:03} {msg}"),
        }
    }
}

struct Conn {
    reader: BufReader<Box<dyn Stream>>,
    log: SmtpSessionLog,
    /// The deadline of the next read or write: `None` after the greeting (Go sets none).
    timeout: Option<Duration>,
    server_name: String,
    /// Set after a STARTTLS handshake failure: every later command fails with it (Go's sticky
    /// handshake error).
    poisoned: Option<String>,
    tls: bool,
}

impl Conn {
    async fn write_line(&mut self, line: &str, logged: &str) -> Result<(), Step> {
        if let Some(e) = &self.poisoned {
            return Err(Step::Io(e.clone()));
        }
        self.log.client(logged);
        let data = format!("{line}\r\n");
        let w = self.reader.get_mut();
        match bounded(self.timeout, async {
            w.write_all(data.as_bytes()).await?;
            w.flush().await
        })
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Step::Io(io_text(&e, &self.server_name))),
            Err(product) => Err(Step::Io(ran_out(product))),
        }
    }

    /// Read one (possibly multi-line) reply: code and the lines' texts.
    async fn read_reply(&mut self) -> Result<(u16, Vec<String>), Step> {
        if let Some(e) = &self.poisoned {
            return Err(Step::Io(e.clone()));
        }
        let mut texts = Vec::new();
        loop {
            let mut line = String::new();
            let n = match bounded(self.timeout, self.reader.read_line(&mut line)).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(Step::Io(io_text(&e, &self.server_name))),
                Err(product) => return Err(Step::Io(ran_out(product))),
            };
            if n == 0 {
                return Err(Step::Io("EOF".to_string()));
            }
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            self.log.server(line.clone());
            if line.len() < 3 {
                return Err(Step::Io(format!("short response: {line}")));
            }
            let code: u16 = line[..3]
                .parse()
                .map_err(|_| Step::Io(format!("invalid response code: {line}")))?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            texts.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok((code, texts));
            }
        }
    }

    /// Send a command and expect a reply code (`expect` 0 = any).
    async fn cmd(
        &mut self,
        line: &str,
        logged: &str,
        expect: u16,
    ) -> Result<(u16, Vec<String>), Step> {
        self.write_line(line, logged).await?;
        let (code, texts) = self.read_reply().await?;
        if expect != 0 && code != expect {
            return Err(Step::Reply(code, texts.join("\n")));
        }
        Ok((code, texts))
    }

    /// The TLS handshake, bounded by `limit` (`None`: no product deadline). A product deadline
    /// running out reads as Go's `HandshakeContext` does: `context deadline exceeded`.
    async fn upgrade(
        &mut self,
        config: Arc<rustls::ClientConfig>,
        limit: Option<Duration>,
    ) -> Result<(), String> {
        let name = ServerName::try_from(self.server_name.clone())
            .map_err(|_| format!("tls: invalid server name {:?}", self.server_name))?;
        let placeholder: Box<dyn Stream> = Box::new(tokio::io::duplex(1).0);
        let old = std::mem::replace(&mut self.reader, BufReader::new(placeholder));
        let inner = old.into_inner();
        let connector = tokio_rustls::TlsConnector::from(config);
        match bounded(limit, connector.connect(name, inner)).await {
            Ok(Ok(tls)) => {
                self.reader = BufReader::new(Box::new(tls));
                self.tls = true;
                self.log.tls = true;
                self.log.note("TLS handshake complete");
                Ok(())
            }
            Ok(Err(e)) => Err(io_text(&e, &self.server_name)),
            Err(true) => Err("context deadline exceeded".to_string()),
            Err(false) => Err(ran_out(false)),
        }
    }
}

fn io_text(e: &std::io::Error, server_name: &str) -> String {
    let text = e.to_string();
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return go_tls_error(tls, server_name);
    }
    if text.contains("peer closed connection") || e.kind() == std::io::ErrorKind::UnexpectedEof {
        return "EOF".to_string();
    }
    go_tls_error_text(&text, server_name)
}

/// Send one email with Mattermost's mailer. `site_url` gives the EHLO name; `book` says where
/// `SMTPServer:SMTPPort` really is (scheme `smtp`); `roots` are the CAs Mattermost trusts.
pub async fn send_mail(
    email: &EmailSettings,
    site_url: &str,
    book: &AddressBook,
    roots: &[CertificateDer<'static>],
    msg: &OutgoingMail,
) -> Result<SmtpSessionLog, MailError> {
    send_mail_as(MailerEra::Current, email, site_url, book, roots, msg).await
}

/// [`send_mail`] for a given Mattermost era, product time as real time.
pub async fn send_mail_as(
    era: MailerEra,
    email: &EmailSettings,
    site_url: &str,
    book: &AddressBook,
    roots: &[CertificateDer<'static>],
    msg: &OutgoingMail,
) -> Result<SmtpSessionLog, MailError> {
    send_mail_with(era, ProductClock::REAL, email, site_url, book, roots, msg).await
}

/// [`send_mail_as`] with Mattermost's timeouts on `clock` (the twin's product clock).
pub async fn send_mail_with(
    era: MailerEra,
    clock: ProductClock,
    email: &EmailSettings,
    site_url: &str,
    book: &AddressBook,
    roots: &[CertificateDer<'static>],
    msg: &OutgoingMail,
) -> Result<SmtpSessionLog, MailError> {
    let mut log = SmtpSessionLog::default();
    let fail = |kind, message: String, log: SmtpSessionLog| MailError { kind, message, log };
    let security = match email.connection_security.as_str() {
        "" | "PLAIN" => Security::Plain,
        "TLS" => Security::Tls,
        "STARTTLS" => Security::StartTls,
        other => {
            return Err(fail(
                MailErrorKind::Config,
                format!("invalid connection security {other:?}: must be '', 'TLS', or 'STARTTLS'"),
                log,
            ));
        }
    };
    // Mattermost 3.4's SendMailUsingConfig returns nil without any SMTP session when
    // notifications are off or no server is set (fidelity audit, mail HIGH 3).
    if era == MailerEra::Mattermost3
        && (!email.send_email_notifications || email.smtp_server.trim().is_empty())
    {
        log.note("not sent: SendEmailNotifications is off or SMTPServer is empty (Mattermost 3.x)");
        return Ok(log);
    }
    let server = email.smtp_server.trim().to_string();
    let port_text = email.smtp_port.trim().to_string();
    let address = format!("{server}:{port_text}");
    // 10.11: SMTPServerTimeout bounds the dial and the greeting; 3.4 has no timeout.
    let timeout = match era {
        MailerEra::Current => Some(clock.real(server_timeout(email))),
        MailerEra::Mattermost3 => None,
    };
    let dial_started = tokio::time::Instant::now();
    let connect_err = |detail: String| match era {
        MailerEra::Current => format!("unable to connect to the SMTP server: {detail}"),
        MailerEra::Mattermost3 => format!("SendMail: Failed to open connection, {detail}"),
    };
    let tls_connect_err = |detail: String| match era {
        MailerEra::Current => {
            format!("unable to connect to the SMTP server through TLS: {detail}")
        }
        MailerEra::Mattermost3 => format!("SendMail: Failed to open TLS connection, {detail}"),
    };
    let Ok(port) = port_text.parse::<u16>() else {
        return Err(fail(
            MailErrorKind::Config,
            connect_err(format!("dial tcp: address {address}: invalid port")),
            log,
        ));
    };
    // Where the documented host really is: the address book, or a loopback literal.
    let target = book.lookup("smtp", &server, port).or_else(|| {
        server
            .parse::<std::net::IpAddr>()
            .ok()
            .filter(|ip| ip.is_loopback())
            .map(|ip| std::net::SocketAddr::new(ip, port))
    });
    let Some(target) = target else {
        // The twin's Mattermost host runs no SMTP server of its own: `localhost` (Mattermost's
        // default SMTPServer, port 10025 on 10.x) resolves but nothing listens there. The twin
        // never dials the real machine's loopback for it.
        let detail = if server.eq_ignore_ascii_case("localhost") {
            format!("dial tcp 127.0.0.1:{port}: connect: connection refused")
        } else {
            format!("dial tcp: lookup {server}: no such host")
        };
        let msg = if security == Security::Tls {
            tls_connect_err(detail)
        } else {
            connect_err(detail)
        };
        return Err(fail(MailErrorKind::Connect, msg, log));
    };
    let skip_verify = era == MailerEra::Mattermost3 || email.skip_server_certificate_verification;
    let tls_config = match client_config(roots, skip_verify) {
        Ok(c) => c,
        Err(e) => return Err(fail(MailErrorKind::Config, e, log)),
    };
    let tcp = match bounded(timeout, TcpStream::connect(target)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let detail = format!("dial tcp {address}: connect: {}", go_errno(&e));
            let msg = if security == Security::Tls {
                tls_connect_err(detail)
            } else {
                connect_err(detail)
            };
            return Err(fail(MailErrorKind::Connect, msg, log));
        }
        Err(product) => {
            let detail = if product {
                format!("dial tcp {address}: i/o timeout")
            } else {
                ran_out(false)
            };
            let msg = if security == Security::Tls {
                tls_connect_err(detail)
            } else {
                connect_err(detail)
            };
            return Err(fail(MailErrorKind::Connect, msg, log));
        }
    };
    let _ = tcp.set_nodelay(true);
    log.note(format!("connected to {address}"));
    // The greeting gets a fresh SMTPServerTimeout (the context is made after the dial).
    let mut conn = Conn {
        reader: BufReader::new(Box::new(tcp)),
        log,
        timeout,
        server_name: server.clone(),
        poisoned: None,
        tls: false,
    };
    // tls.DialWithDialer: the dialer's timeout covers the connect and the handshake together.
    let handshake_limit = timeout.map(|t| t.saturating_sub(dial_started.elapsed()));
    if security == Security::Tls
        && let Err(e) = conn.upgrade(tls_config.clone(), handshake_limit).await
    {
        let log = std::mem::take(&mut conn.log);
        return Err(fail(MailErrorKind::Connect, tls_connect_err(e), log));
    }
    let result = session(era, email, site_url, security, tls_config, &mut conn, msg).await;
    let log = std::mem::take(&mut conn.log);
    match result {
        Ok(()) => Ok(log),
        Err((kind, message)) => Err(fail(kind, message, log)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    Tls,
    StartTls,
}

/// The EHLO name: host of SiteURL, else `localhost`.
fn ehlo_name(era: MailerEra, site_url: &str) -> String {
    if era == MailerEra::Mattermost3 {
        return "localhost".to_string();
    }
    url::Url::parse(site_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Go's `Client.hello`: EHLO, falling back to HELO; returns the advertised extensions.
async fn hello(conn: &mut Conn, name: &str) -> Result<Vec<String>, Step> {
    let line = format!("EHLO {name}");
    match conn.cmd(&line, &line, 250).await {
        Ok((_, texts)) => Ok(texts.into_iter().skip(1).collect()),
        Err(Step::Reply(..)) => {
            let line = format!("HELO {name}");
            conn.cmd(&line, &line, 250).await?;
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

fn has_ext<'a>(exts: &'a [String], name: &str) -> Option<&'a str> {
    exts.iter().find_map(|e| {
        let (k, rest) = e.split_once(' ').unwrap_or((e.as_str(), ""));
        k.eq_ignore_ascii_case(name).then_some(rest)
    })
}

async fn session(
    era: MailerEra,
    email: &EmailSettings,
    site_url: &str,
    security: Security,
    tls_config: Arc<rustls::ClientConfig>,
    conn: &mut Conn,
    msg: &OutgoingMail,
) -> Result<(), (MailErrorKind, String)> {
    let connect = |e: Step| {
        let m = match era {
            MailerEra::Current => format!("unable to connect to the SMTP server: {e}"),
            MailerEra::Mattermost3 => format!("SendMail: Failed to open TLS connection, {e}"),
        };
        (MailErrorKind::Connect, m)
    };
    // Greeting (smtp.NewClient). Current Mattermost waits for it under a context with the
    // SMTPServerTimeout deadline, so a greeting that never comes (plaintext against a 465 port,
    // a stalled relay) reads "context deadline exceeded" (fidelity audit, mail MEDIUM 8).
    let (code, texts) = conn.read_reply().await.map_err(|e| match (era, e) {
        (MailerEra::Current, Step::Io(t)) if t == "i/o timeout" => {
            connect(Step::Io("context deadline exceeded".to_string()))
        }
        (_, e) => connect(e),
    })?;
    // From here on Go's net/smtp reads and writes without any deadline (fidelity audit, mail
    // MEDIUM 8): a relay that stalls now holds Mattermost until the relay or the caller gives up.
    conn.timeout = None;
    if code != 220 {
        return Err(connect(Step::Reply(code, texts.join("\n"))));
    }
    let name = ehlo_name(era, site_url);
    conn.log.ehlo_name = name.clone();
    let mut exts = hello(conn, &name).await.map_err(|e| match era {
        MailerEra::Current if !site_url.is_empty() => (
            MailErrorKind::Connect,
            format!("unable to send hello message: {e}"),
        ),
        _ => connect(e),
    })?;

    if security == Security::StartTls {
        // Go: c.StartTLS(config) — the error is ignored by Mattermost.
        match conn.cmd("STARTTLS", "STARTTLS", 220).await {
            Ok(_) => match conn.upgrade(tls_config, None).await {
                Ok(()) => {
                    let line = format!("EHLO {name}");
                    match conn.cmd(&line, &line, 250).await {
                        Ok((_, texts)) => exts = texts.into_iter().skip(1).collect(),
                        Err(e) => conn
                            .log
                            .note(format!("EHLO after STARTTLS failed (ignored): {e}")),
                    }
                }
                Err(e) => {
                    // Go's Client.StartTLS sets c.tls = true before the handshake fails, and
                    // Mattermost ignores the error: AUTH then goes ahead (it believes it is on TLS)
                    // and fails with the handshake's error (fidelity audit, mail HIGH 4; Go
                    // net/smtp smtp.go StartTLS).
                    conn.log.note(format!("STARTTLS handshake failed: {e}"));
                    conn.poisoned = Some(e);
                    conn.tls = true;
                }
            },
            Err(e) => {
                conn.log.starttls_downgraded = true;
                conn.log.note(format!(
                    "STARTTLS failed (ignored, continuing in plaintext): {e}"
                ));
            }
        }
    }

    // Mattermost 3.4 (utils/mail.go newSMTPClient) authenticates with TLS and STARTTLS, and the
    // "PLAIN" security value also calls c.Auth, over plaintext (fidelity audit, mail HIGH 2).
    let want_auth = match era {
        MailerEra::Current => email.enable_smtp_auth,
        MailerEra::Mattermost3 => {
            security != Security::Plain || email.connection_security.trim() == "PLAIN"
        }
    };
    if want_auth {
        let auth_err = |e: Step| match era {
            MailerEra::Current => (MailErrorKind::Auth, format!("authentication failed: {e}")),
            MailerEra::Mattermost3 => (
                MailErrorKind::Auth,
                format!("SendMail: Failed to authenticate on SMTP server, {e}"),
            ),
        };
        let mechanisms = has_ext(&exts, "AUTH").unwrap_or("").to_string();
        let plain = era == MailerEra::Mattermost3
            || mechanisms
                .split_whitespace()
                .any(|m| m.eq_ignore_ascii_case("PLAIN"));
        // Current Mattermost's PLAIN (Go >= 1.9.1) and LOGIN refuse without TLS. Mattermost 3.4
        // was built with a Go whose PlainAuth only refused when the server did not advertise
        // PLAIN: a relay advertising it in the clear gets the credentials in the clear.
        let refuses = match era {
            MailerEra::Current => !conn.tls,
            MailerEra::Mattermost3 => {
                !conn.tls
                    && !mechanisms
                        .split_whitespace()
                        .any(|m| m.eq_ignore_ascii_case("PLAIN"))
            }
        };
        if refuses {
            let _ = conn.cmd("QUIT", "QUIT", 0).await;
            return Err(auth_err(Step::Refused("unencrypted connection".into())));
        }
        let user = email.smtp_username.clone();
        let pass = email.smtp_password.expose().to_string();
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        if plain {
            conn.log.auth_mechanism = Some("PLAIN".into());
            let payload = b64(format!("\0{user}\0{pass}").as_bytes());
            let r = conn
                .cmd(
                    &format!("AUTH PLAIN {payload}"),
                    "AUTH PLAIN [redacted]",
                    235,
                )
                .await;
            if let Err(e) = r {
                if matches!(e, Step::Reply(..)) {
                    let _ = conn.cmd("*", "*", 0).await;
                    let _ = conn.cmd("QUIT", "QUIT", 0).await;
                }
                return Err(auth_err(e));
            }
        } else {
            conn.log.auth_mechanism = Some("LOGIN".into());
            let mut reply = conn
                .cmd("AUTH LOGIN", "AUTH LOGIN", 0)
                .await
                .map_err(auth_err)?;
            loop {
                match reply.0 {
                    235 => break,
                    334 => {
                        let challenge = reply.1.join("");
                        let decoded = base64::engine::general_purpose::STANDARD
                            .decode(challenge.trim())
                            .map(|d| String::from_utf8_lossy(&d).into_owned())
                            .unwrap_or_default();
                        let answer = match decoded.as_str() {
                            "Username:" => user.clone(),
                            "Password:" => pass.clone(),
                            other => {
                                let _ = conn.cmd("*", "*", 0).await;
                                let _ = conn.cmd("QUIT", "QUIT", 0).await;
                                return Err(auth_err(Step::Refused(format!(
                                    "unknown fromServer {other}"
                                ))));
                            }
                        };
                        reply = conn
                            .cmd(&b64(answer.as_bytes()), "[redacted]", 0)
                            .await
                            .map_err(auth_err)?;
                    }
                    code => {
                        let e = Step::Reply(code, reply.1.join("\n"));
                        let _ = conn.cmd("*", "*", 0).await;
                        let _ = conn.cmd("QUIT", "QUIT", 0).await;
                        return Err(auth_err(e));
                    }
                }
            }
        }
    }

    let wrap = |kind: MailErrorKind, current: &str, old: &str| {
        let current = current.to_string();
        let old = old.to_string();
        move |e: Step| match era {
            MailerEra::Current => (kind, format!("{current}: {e}")),
            MailerEra::Mattermost3 => (kind, format!("SendMail: {old}, {e}")),
        }
    };
    let mut mail_from = format!("MAIL FROM:<{}>", email.feedback_email);
    if has_ext(&exts, "8BITMIME").is_some() {
        mail_from.push_str(" BODY=8BITMIME");
    }
    conn.cmd(&mail_from, &mail_from, 250).await.map_err(wrap(
        MailErrorKind::From,
        "failed to set the from address",
        "Error setting \"From Address\"",
    ))?;
    let rcpt = format!("RCPT TO:<{}>", msg.to);
    conn.cmd(&rcpt, &rcpt, 0)
        .await
        .and_then(|(code, texts)| {
            if code == 250 || code == 251 {
                Ok(())
            } else {
                Err(Step::Reply(code, texts.join("\n")))
            }
        })
        .map_err(wrap(
            MailErrorKind::To,
            "failed to set the to address",
            "Error setting \"To address\"",
        ))?;
    conn.cmd("DATA", "DATA", 354).await.map_err(wrap(
        MailErrorKind::Data,
        "failed to add email message data",
        "Failed to add email message data",
    ))?;
    let message = match era {
        MailerEra::Current => compose(email, site_url, msg),
        MailerEra::Mattermost3 => compose_3x(email, msg),
    };
    let lines = message.lines().count();
    conn.log.note(format!("message: {lines} lines"));
    let mut data = String::new();
    for line in message.lines() {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    data.push('.');
    conn.cmd(&data, ".", 250).await.map_err(wrap(
        MailErrorKind::Data,
        "failed to close connection to the SMTP server",
        "Failed to close connection to SMTP server",
    ))?;
    // No QUIT after a successful send: Mattermost closes the connection (3.4: `defer c.Close()`
    // runs before `defer c.Quit()`; current mail.go closes the client) — fidelity audit, mail 15.
    Ok(())
}

fn go_errno(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => e.to_string(),
    }
}

/// RFC 2047 `=?UTF-8?q?...?=` for a header value that is not plain ASCII.
fn encode_header(value: &str) -> String {
    if value.is_ascii() {
        return value.to_string();
    }
    let mut out = String::from("=?UTF-8?q?");
    for b in value.bytes() {
        match b {
            b' ' => out.push('_'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' => out.push(b as char),
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out.push_str("?=");
    out
}

/// The text part derived from the HTML body (tags dropped, entities of the templates decoded).
pub fn html_to_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The MIME message Mattermost writes (gomail, multipart/alternative).
fn compose(email: &EmailSettings, site_url: &str, msg: &OutgoingMail) -> String {
    let host = url::Url::parse(site_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "localhost".to_string());
    let boundary = super::super::mattermost::store::random_string(30);
    let message_id = format!(
        "<{}@{host}>",
        super::super::mattermost::store::random_string(26)
    );
    let from = if email.feedback_name.is_empty() {
        format!("<{}>", email.feedback_email)
    } else {
        format!(
            "{} <{}>",
            encode_header(&format!("\"{}\"", email.feedback_name)),
            email.feedback_email
        )
    };
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let mut headers = vec![
        format!("From: {from}"),
        format!("To: {}", msg.to),
        format!("Subject: {}", encode_header(&msg.subject)),
        "Content-Transfer-Encoding: 8bit".to_string(),
        "Auto-Submitted: auto-generated".to_string(),
        "Precedence: bulk".to_string(),
        format!("Message-ID: {message_id}"),
        format!("Date: {date}"),
        "MIME-Version: 1.0".to_string(),
    ];
    if !email.reply_to_address.is_empty() {
        headers.push(format!("Reply-To: <{}>", email.reply_to_address));
    }
    headers.push(format!(
        "Content-Type: multipart/alternative; boundary={boundary}"
    ));
    // gomail writes each part quoted-printable (its default encoding): a link scan that does not
    // decode the part misses `=3D` and soft line breaks, as it would on a real server (fidelity
    // audit, mail MEDIUM 7).
    format!(
        "{}\n\n--{boundary}\nContent-Transfer-Encoding: quoted-printable\nContent-Type: text/plain; charset=UTF-8\n\n{}\n--{boundary}\nContent-Transfer-Encoding: quoted-printable\nContent-Type: text/html; charset=UTF-8\n\n{}\n--{boundary}--\n",
        headers.join("\n"),
        quoted_printable(&html_to_text(&msg.html_body)),
        quoted_printable(&msg.html_body),
    )
}

/// Quoted-printable (RFC 2045 §6.7) as Go's `mime/quotedprintable` writer produces it: `=XX`
/// for `=`, non-ASCII and control bytes, trailing blanks escaped, lines at most 76 characters
/// with `=` soft breaks; line breaks written as `\n` (the DATA writer sends CRLF).
pub fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        let bytes = line.as_bytes();
        let mut width = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let piece = if literal {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if width + piece.len() > 75 {
                out.push_str("=\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
    }
    out
}

/// The message Mattermost 3.4 writes (utils/mail.go `SendMailUsingConfig`): one text/html part
/// in 8bit, `MIME-version`, `To: <addr>`, the subject as one base64 encoded word, the body
/// wrapped in `<html><body>`; no Message-ID, Auto-Submitted or Precedence. Go wrote the headers
/// from a map, so their real order varies from mail to mail; the twin keeps this one.
fn compose_3x(email: &EmailSettings, msg: &OutgoingMail) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(msg.subject.as_bytes());
    let from = if email.feedback_name.is_empty() {
        format!("<{}>", email.feedback_email)
    } else {
        // Go's mail.Address.String quotes a printable name.
        format!(
            "\"{}\" <{}>",
            email
                .feedback_name
                .replace('\\', "\\\\")
                .replace('"', "\\\""),
            email.feedback_email
        )
    };
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    format!(
        "From: {from}\nTo: <{}>\nSubject: =?utf-8?b?{b64}?=\nMIME-version: 1.0\nContent-Type: text/html; charset=\"utf-8\"\nContent-Transfer-Encoding: 8bit\nDate: {date}\n\n<html><body>{}</body></html>",
        msg.to, msg.html_body
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ehlo_name_is_the_site_host_or_localhost() {
        assert_eq!(
            ehlo_name(MailerEra::Current, "https://mattermost.example.com/x"),
            "mattermost.example.com"
        );
        assert_eq!(ehlo_name(MailerEra::Current, ""), "localhost");
        assert_eq!(
            ehlo_name(MailerEra::Mattermost3, "https://mattermost.example.com"),
            "localhost"
        );
    }

    #[test]
    fn headers_are_encoded_when_not_ascii_and_text_comes_from_html() {
        assert_eq!(encode_header("Test email"), "Test email");
        assert_eq!(encode_header("Tést"), "=?UTF-8?q?T=C3=A9st?=");
        assert_eq!(html_to_text("<p>Hi &amp; <b>bye</b></p>"), "Hi & bye");
    }
}
