//! Mail from the outside: the twin's Mattermost mailer (`send_mail`) against the harness's mail
//! sink in all three security modes (through a small adapter, [`TestServer`]) and against an
//! independent SMTP server
//! (mailin-embedded), with certificates generated here by rcgen; plus the Mattermost twin's
//! test email and welcome email arriving over real SMTP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mm_harness::config::model::{EmailSettings, MattermostSettings, Secret};
use mm_harness::config::version::Profile;
use mm_harness::mailsink::{
    CertIssuer, ListenerMode, ListenerSpec, MailSink, SinkCert, SinkOptions, TlsMode,
};
use mm_harness::net::AddressBook;
use mm_harness::twin::mail::{
    MailError, MailErrorKind, MailerEra, OutgoingMail, SmtpSessionLog, send_mail, send_mail_as,
};
use mm_harness::twin::mattermost::{MattermostAdmin, MattermostTwin, MattermostTwinConfig};
use rustls_pki_types::CertificateDer;
use serde_json::{Value, json};

const SMTP_HOST: &str = "smtp.example.com";
const SITE: &str = "https://mattermost.example.com";

use crate::support::mattermost as mm_support;

use mm_support::{MM_SITE, MmApi, TestCerts as Certs, serve, test_certs as certs};

/// The sink's listener modes under the names these tests were written with.
#[allow(non_snake_case, non_upper_case_globals)]
mod MailServerSecurity {
    pub use mm_harness::mailsink::ListenerMode::{Implicit as ImplicitTls, Plain, StartTls};
}

/// A certificate issuer that hands out one fixed server configuration (a test's own CA).
struct FixedCert(Arc<rustls::ServerConfig>);

impl CertIssuer for FixedCert {
    fn sink_server_config(
        &self,
        _host: &str,
        _cert: SinkCert,
    ) -> Result<Arc<rustls::ServerConfig>, String> {
        Ok(self.0.clone())
    }
}

/// One message as these tests read it.
#[derive(Debug, Clone)]
struct Received {
    from: String,
    to: Vec<String>,
    headers: Vec<(String, String)>,
    /// The decoded text and HTML parts.
    body: String,
    tls: bool,
    auth_user: Option<String>,
    ehlo_name: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The mail sink with one listener, seen as a single SMTP server.
struct TestServer {
    sink: MailSink,
    mode: ListenerMode,
}

impl TestServer {
    fn addr(&self) -> SocketAddr {
        self.sink.addr(self.mode).unwrap()
    }

    fn messages(&self) -> Vec<Received> {
        self.sink
            .mailbox()
            .messages()
            .iter()
            .map(|m| Received {
                from: m.envelope_from.clone(),
                to: m.envelope_to.clone(),
                headers: m.parsed.headers.clone(),
                body: format!("{}\n{}", m.parsed.text, m.parsed.html),
                tls: m.transport.tls != TlsMode::None,
                auth_user: m.transport.auth_identity.clone(),
                ehlo_name: m.transport.ehlo_name.clone(),
            })
            .collect()
    }

    async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let _ = self
            .sink
            .mailbox()
            .wait_for_count(n, tokio::time::Instant::now() + timeout)
            .await;
        self.messages()
    }

    async fn shutdown(self) {
        self.sink.shutdown().await;
    }
}

/// A sink for [`SMTP_HOST`] with one listener of `security`; `offer_starttls: false` plays the
/// STARTTLS-not-offered relay, which (like a relay without TLS) takes AUTH in the clear, as a
/// plaintext listener with credentials does.
async fn mail_server(
    security: ListenerMode,
    offer_starttls: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
    auth: Option<(&str, &str)>,
) -> TestServer {
    mm_harness::crypto::install_default_provider();
    let mut opts =
        SinkOptions::new(SMTP_HOST).with_listener(ListenerSpec::loopback("test", security));
    opts.http_bind = None;
    if let Some(cfg) = tls {
        opts = opts.with_certificates(Arc::new(FixedCert(cfg)));
    }
    if let Some((u, p)) = auth {
        opts = opts.with_credentials(u, Secret::new(p));
    }
    opts.faults.starttls_not_offered = security == ListenerMode::StartTls && !offer_starttls;
    opts.faults.auth_in_plaintext =
        security == ListenerMode::Plain || opts.faults.starttls_not_offered;
    TestServer {
        sink: MailSink::start(opts).await.unwrap(),
        mode: security,
    }
}

fn email(port: u16, security: &str) -> EmailSettings {
    let mut e = MattermostSettings::defaults(Profile::Gitlab18_11).email;
    e.smtp_server = SMTP_HOST.into();
    e.smtp_port = port.to_string();
    e.connection_security = security.into();
    e.feedback_name = "GitLab Mattermost".into();
    e.feedback_email = "mattermost@example.com".into();
    e.smtp_server_timeout = 2;
    e
}

/// [`email`] with SMTP auth as `username`/`password`.
fn email_with_auth(port: u16, security: &str, username: &str, password: &str) -> EmailSettings {
    let mut e = email(port, security);
    e.enable_smtp_auth = true;
    e.smtp_username = username.into();
    e.smtp_password = Secret::new(password);
    e
}

fn book(port: u16, addr: SocketAddr) -> AddressBook {
    let mut b = AddressBook::new();
    b.insert("smtp", SMTP_HOST, port, addr);
    b
}

fn msg() -> OutgoingMail {
    OutgoingMail {
        to: "alice@example.com".into(),
        subject: "Test email".into(),
        html_body: "<p>It appears your Mattermost email is setup correctly!</p>".into(),
    }
}

/// [`send_mail`] of [`msg`] with `e` from [`SITE`], the SMTP server of `e` being at `addr`.
async fn deliver(
    e: &EmailSettings,
    addr: SocketAddr,
    roots: &[CertificateDer<'static>],
) -> Result<SmtpSessionLog, MailError> {
    let port = e.smtp_port.parse().unwrap();
    send_mail(e, SITE, &book(port, addr), roots, &msg()).await
}

#[tokio::test]
async fn plain_delivery_uses_feedback_email_and_the_site_host_as_ehlo_name() {
    let server = mail_server(MailServerSecurity::Plain, false, None, None).await;
    let log = deliver(&email(25, ""), server.addr(), &[]).await.unwrap();
    assert!(!log.tls);
    assert_eq!(log.ehlo_name, "mattermost.example.com");
    let got = server.messages();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.from, "mattermost@example.com");
    assert_eq!(m.to, vec!["alice@example.com".to_string()]);
    assert_eq!(m.ehlo_name, "mattermost.example.com");
    assert!(!m.tls);
    assert_eq!(m.header("Subject"), Some("Test email"));
    assert_eq!(
        m.header("From"),
        Some("\"GitLab Mattermost\" <mattermost@example.com>")
    );
    assert_eq!(m.header("Auto-Submitted"), Some("auto-generated"));
    assert!(
        m.body
            .contains("It appears your Mattermost email is setup correctly!")
    );
    assert!(
        log.render()
            .contains("C: MAIL FROM:<mattermost@example.com> BODY=8BITMIME")
    );

    // No SiteURL: Go's default name.
    let log = send_mail(&email(25, ""), "", &book(25, server.addr()), &[], &msg())
        .await
        .unwrap();
    assert_eq!(log.ehlo_name, "localhost");
    assert_eq!(server.messages()[1].ehlo_name, "localhost");
}

#[tokio::test]
async fn starttls_upgrades_and_authenticates_with_plain() {
    let c = certs(SMTP_HOST, false);
    let server = mail_server(
        MailServerSecurity::StartTls,
        true,
        Some(c.server.clone()),
        Some(("mailer", "Smtp-Passw0rd")),
    )
    .await;
    let mut e = email_with_auth(587, "STARTTLS", "mailer", "Smtp-Passw0rd");
    let log = deliver(&e, server.addr(), std::slice::from_ref(&c.ca))
        .await
        .unwrap();
    assert!(log.tls);
    assert!(!log.starttls_downgraded);
    assert_eq!(log.auth_mechanism.as_deref(), Some("PLAIN"));
    let text = log.render();
    assert!(text.contains("C: AUTH PLAIN [redacted]"), "{text}");
    assert!(!text.contains("Smtp-Passw0rd"));
    let m = &server.messages()[0];
    assert!(m.tls);
    assert_eq!(m.auth_user.as_deref(), Some("mailer"));

    // A wrong password: the server's 535, worded as Mattermost words it.
    e.smtp_password = Secret::new("wrong");
    let err = deliver(&e, server.addr(), &[c.ca]).await.unwrap_err();
    assert_eq!(err.kind, MailErrorKind::Auth);
    assert_eq!(
        err.message,
        "authentication failed: 535 5.7.8 Authentication credentials invalid"
    );
}

#[tokio::test]
async fn starttls_not_offered_silently_downgrades_and_then_refuses_auth() {
    let c = certs(SMTP_HOST, false);
    let server = mail_server(
        MailServerSecurity::StartTls,
        false,
        Some(c.server.clone()),
        None,
    )
    .await;
    let log = deliver(
        &email(587, "STARTTLS"),
        server.addr(),
        std::slice::from_ref(&c.ca),
    )
    .await
    .unwrap();
    assert!(log.starttls_downgraded);
    assert!(!log.tls);
    let m = &server.messages()[0];
    assert!(!m.tls, "delivered in plaintext");

    // The same server asking for credentials: Mattermost refuses to send them in clear.
    let server = mail_server(
        MailServerSecurity::StartTls,
        false,
        Some(c.server.clone()),
        Some(("mailer", "pw")),
    )
    .await;
    let e = email_with_auth(587, "STARTTLS", "mailer", "pw");
    let err = deliver(&e, server.addr(), &[c.ca]).await.unwrap_err();
    assert_eq!(err.message, "authentication failed: unencrypted connection");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn auth_over_plaintext_is_refused() {
    let server = mail_server(MailServerSecurity::Plain, false, None, Some(("u", "p"))).await;
    let e = email_with_auth(25, "", "u", "p");
    let err = deliver(&e, server.addr(), &[]).await.unwrap_err();
    assert_eq!(err.kind, MailErrorKind::Auth);
    assert_eq!(err.message, "authentication failed: unencrypted connection");
    assert!(err.log.render().contains("C: QUIT"));
}

#[tokio::test]
async fn implicit_tls_verifies_the_certificate_unless_told_not_to() {
    let c = certs(SMTP_HOST, false);
    let server = mail_server(
        MailServerSecurity::ImplicitTls,
        false,
        Some(c.server.clone()),
        Some(("mailer", "pw")),
    )
    .await;
    let mut e = email_with_auth(465, "TLS", "mailer", "pw");
    let log = deliver(&e, server.addr(), std::slice::from_ref(&c.ca))
        .await
        .unwrap();
    assert!(log.tls);
    assert!(server.messages()[0].tls);

    let err = deliver(&e, server.addr(), &[]).await.unwrap_err();
    assert_eq!(err.kind, MailErrorKind::Connect);
    assert_eq!(
        err.message,
        "unable to connect to the SMTP server through TLS: tls: failed to verify certificate: x509: certificate signed by unknown authority"
    );
    e.skip_server_certificate_verification = true;
    deliver(&e, server.addr(), &[]).await.unwrap();
    assert_eq!(server.messages().len(), 2);
}

#[tokio::test]
async fn expired_and_wrong_host_certificates_are_refused() {
    let expired = certs(SMTP_HOST, true);
    let server = mail_server(
        MailServerSecurity::ImplicitTls,
        false,
        Some(expired.server.clone()),
        None,
    )
    .await;
    let err = deliver(&email(465, "TLS"), server.addr(), &[expired.ca])
        .await
        .unwrap_err();
    assert!(
        err.message.contains("certificate has expired"),
        "{}",
        err.message
    );

    let wrong = certs("other.example.com", false);
    let server = mail_server(
        MailServerSecurity::ImplicitTls,
        false,
        Some(wrong.server.clone()),
        None,
    )
    .await;
    let err = deliver(
        &email(465, "TLS"),
        server.addr(),
        std::slice::from_ref(&wrong.ca),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message,
        "unable to connect to the SMTP server through TLS: tls: failed to verify certificate: x509: certificate is valid for other.example.com, not smtp.example.com"
    );

    // On STARTTLS a failed handshake is not a downgrade: the next command fails with it.
    let server = mail_server(
        MailServerSecurity::StartTls,
        true,
        Some(wrong.server.clone()),
        None,
    )
    .await;
    let err = deliver(&email(587, "STARTTLS"), server.addr(), &[wrong.ca])
        .await
        .unwrap_err();
    assert_eq!(err.kind, MailErrorKind::From);
    assert!(
        err.message
            .starts_with("failed to set the from address: tls: failed to verify certificate"),
        "{}",
        err.message
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn mismatched_security_modes_fail_like_go() {
    let c = certs(SMTP_HOST, false);
    // Implicit TLS against a plaintext port.
    let plain = mail_server(MailServerSecurity::Plain, false, None, None).await;
    let err = deliver(&email(25, "TLS"), plain.addr(), std::slice::from_ref(&c.ca))
        .await
        .unwrap_err();
    assert!(
        err.message
            .starts_with("unable to connect to the SMTP server through TLS: "),
        "{}",
        err.message
    );
    // Plaintext against an implicit-TLS port: the greeting never comes.
    let tls = mail_server(
        MailServerSecurity::ImplicitTls,
        false,
        Some(c.server.clone()),
        None,
    )
    .await;
    let mut e = email(465, "");
    e.smtp_server_timeout = 1;
    let err = deliver(&e, tls.addr(), &[c.ca]).await.unwrap_err();
    assert_eq!(
        err.message,
        "unable to connect to the SMTP server: context deadline exceeded"
    );
    // A closed port, an unknown host, a bad security value.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = deliver(&email(25, ""), closed, &[]).await.unwrap_err();
    assert_eq!(
        err.message,
        "unable to connect to the SMTP server: dial tcp smtp.example.com:25: connect: connection refused"
    );
    let err = send_mail(&email(25, ""), SITE, &AddressBook::new(), &[], &msg())
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "unable to connect to the SMTP server: dial tcp: lookup smtp.example.com: no such host"
    );
    let err = deliver(&email(25, "SSL"), closed, &[]).await.unwrap_err();
    assert_eq!(err.kind, MailErrorKind::Config);
}

#[tokio::test]
async fn mattermost_3_never_checks_certificates_and_always_tries_plain_auth() {
    let c = certs("other.example.com", false);
    let server = mail_server(
        MailServerSecurity::StartTls,
        true,
        Some(c.server.clone()),
        Some(("mailer", "pw")),
    )
    .await;
    let mut e = MattermostSettings::defaults(Profile::Gitlab8_12).email;
    e.smtp_server = SMTP_HOST.into();
    e.smtp_port = "587".into();
    e.connection_security = "STARTTLS".into();
    e.feedback_email = "mm@example.com".into();
    e.smtp_username = "mailer".into();
    e.smtp_password = Secret::new("pw");
    // Notifications off (3.4's default): SendMailUsingConfig returns nil without connecting
    // (utils/mail.go; fidelity audit, mail HIGH 3).
    e.send_email_notifications = false;
    let log = send_mail_as(
        MailerEra::Mattermost3,
        &e,
        SITE,
        &book(587, server.addr()),
        &[],
        &msg(),
    )
    .await
    .unwrap();
    assert!(log.render().contains("not sent"), "{}", log.render());
    assert!(server.messages().is_empty());
    e.send_email_notifications = true;
    // EnableSMTPAuth did not exist; no roots trusted; wrong host name: still delivered.
    let log = send_mail_as(
        MailerEra::Mattermost3,
        &e,
        SITE,
        &book(587, server.addr()),
        &[],
        &msg(),
    )
    .await
    .unwrap();
    assert_eq!(log.ehlo_name, "localhost");
    assert_eq!(log.auth_mechanism.as_deref(), Some("PLAIN"));
    assert_eq!(server.messages()[0].auth_user.as_deref(), Some("mailer"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = send_mail_as(
        MailerEra::Mattermost3,
        &e,
        SITE,
        &book(587, closed),
        &[],
        &msg(),
    )
    .await
    .unwrap_err();
    assert!(
        err.message
            .starts_with("SendMail: Failed to open connection, "),
        "{}",
        err.message
    );
}

// ---- An independent SMTP server: mailin-embedded ----

#[derive(Clone, Default)]
struct Sink {
    seen: Arc<Mutex<Vec<(String, String)>>>,
    helo: Arc<Mutex<String>>,
    user: Arc<Mutex<Option<String>>>,
}

impl mailin_embedded::Handler for Sink {
    fn helo(&mut self, _ip: std::net::IpAddr, domain: &str) -> mailin_embedded::Response {
        *self.helo.lock().unwrap() = domain.to_string();
        mailin_embedded::response::OK
    }
    fn mail(
        &mut self,
        _ip: std::net::IpAddr,
        _domain: &str,
        from: &str,
    ) -> mailin_embedded::Response {
        self.seen
            .lock()
            .unwrap()
            .push((from.to_string(), String::new()));
        mailin_embedded::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(last) = self.seen.lock().unwrap().last_mut() {
            last.1.push_str(&String::from_utf8_lossy(buf));
        }
        Ok(())
    }
    fn auth_login(&mut self, username: &str, password: &str) -> mailin_embedded::Response {
        if username == "mailer" && password == "pw" {
            *self.user.lock().unwrap() = Some(username.to_string());
            mailin_embedded::response::AUTH_OK
        } else {
            mailin_embedded::response::INVALID_CREDENTIALS
        }
    }
}

fn start_mailin(sink: Sink, tls: Option<&Certs>, login_auth: bool) -> SocketAddr {
    mm_harness::crypto::install_default_provider();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = mailin_embedded::Server::new(sink);
    server.with_name(SMTP_HOST).with_tcp_listener(listener);
    if let Some(c) = tls {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, &c.cert_pem).unwrap();
        std::fs::write(&key, &c.key_pem).unwrap();
        server
            .with_ssl(mailin_embedded::SslConfig::SelfSigned {
                cert_path: cert.to_string_lossy().into_owned(),
                key_path: key.to_string_lossy().into_owned(),
            })
            .unwrap();
        // The files are read at with_ssl; the directory may go.
        drop(dir);
    }
    if login_auth {
        server.with_auth(mailin_embedded::AuthMechanism::Login);
    }
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    addr
}

#[tokio::test]
async fn delivers_to_an_independent_smtp_server_plain_and_starttls_with_login() {
    let sink = Sink::default();
    let addr = start_mailin(sink.clone(), None, false);
    deliver(&email(25, ""), addr, &[]).await.unwrap();
    let seen = sink.seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, "mattermost@example.com");
    assert!(seen[0].1.contains("Subject: Test email"));
    assert_eq!(*sink.helo.lock().unwrap(), "mattermost.example.com");

    // mailin-embedded offers only LOGIN, after STARTTLS: Mattermost falls back to LOGIN.
    let c = certs(SMTP_HOST, false);
    let sink = Sink::default();
    let addr = start_mailin(sink.clone(), Some(&c), true);
    let e = email_with_auth(587, "STARTTLS", "mailer", "pw");
    let log = deliver(&e, addr, std::slice::from_ref(&c.ca))
        .await
        .unwrap();
    assert!(log.tls);
    assert_eq!(log.auth_mechanism.as_deref(), Some("LOGIN"));
    assert!(!log.render().contains("pw\n"));
    assert_eq!(sink.user.lock().unwrap().as_deref(), Some("mailer"));
    assert_eq!(sink.seen.lock().unwrap().len(), 1);
}

// ---- The Mattermost twin's own emails ----

#[tokio::test]
async fn test_email_and_welcome_email_arrive_over_smtp() {
    let c = certs(SMTP_HOST, false);
    let server = mail_server(
        MailServerSecurity::StartTls,
        true,
        Some(c.server.clone()),
        Some(("mailer", "Smtp-Passw0rd")),
    )
    .await;
    let mut settings = MattermostSettings::defaults(Profile::Gitlab18_11);
    settings.service.site_url = "http://mattermost.example.com".into();
    settings.email = email_with_auth(587, "STARTTLS", "mailer", "Smtp-Passw0rd");
    settings.email.send_email_notifications = true;
    let twin = MattermostTwin::new(MattermostTwinConfig {
        settings,
        address_book: book(587, server.addr()),
        trusted_roots: vec![c.ca.clone()],
        admin: MattermostAdmin {
            username: "sysadmin".into(),
            email: "sysadmin@example.com".into(),
            password: Secret::new("Sys-Admin-Passw0rd!"),
        },
        ..Default::default()
    });
    let addr = serve(twin.router()).await;
    let api = MmApi::login(addr, "v4", "sysadmin", "Sys-Admin-Passw0rd!")
        .await
        .unwrap();

    let post = reqwest::Method::POST;
    let (status, body) = api.call(post.clone(), "/api/v4/email/test", None).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "OK"}));
    let got = server.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].to, vec!["sysadmin@example.com".to_string()]);
    // i18n api.admin.test_email.subject (fidelity audit, mail MEDIUM 5).
    assert_eq!(
        got[0].header("Subject"),
        Some("Mattermost - Testing Email Settings")
    );
    assert!(got[0].tls);
    assert_eq!(got[0].ehlo_name, "mattermost.example.com");

    // The System Console posts its form with the placeholder password: still the saved one.
    let (_, cfg) = api.call(reqwest::Method::GET, "/api/v4/config", None).await;
    assert_eq!(
        cfg["EmailSettings"]["SMTPPassword"],
        "********************************"
    );
    let (status, _) = api
        .call(post.clone(), "/api/v4/email/test", Some(cfg.clone()))
        .await;
    assert_eq!(status, 200);
    let mut changed = cfg.clone();
    changed["EmailSettings"]["SMTPUsername"] = json!("someone-else");
    let (status, err) = api
        .call(post.clone(), "/api/v4/email/test", Some(changed))
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["id"], "api.admin.test_email.reenter_password");
    // 10.11 tests the SAVED settings: a posted, unsaved server is only checked for presence
    // (server/channels/app/admin.go TestEmail sends with a.Srv().MailServiceConfig();
    // fidelity audit, mail HIGH 1).
    let mut unsaved = cfg.clone();
    unsaved["EmailSettings"]["SMTPServer"] = json!("unsaved.example.com");
    unsaved["EmailSettings"]["SMTPPassword"] = json!("typed-in-password");
    let (status, body) = api
        .call(post.clone(), "/api/v4/email/test", Some(unsaved))
        .await;
    assert_eq!(status, 200, "{body}");

    // An admin-created email account gets the welcome email.
    let (status, _) = api
        .call(
            post.clone(),
            "/api/v4/users",
            Some(json!({"username": "dora", "email": "dora@example.com", "password": "Dora-Passw0rd!"})),
        )
        .await;
    assert_eq!(status, 201);
    let got = server.wait_for_messages(4, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 4, "three test emails and a welcome email");
    let welcome = got
        .iter()
        .find(|m| m.to == vec!["dora@example.com".to_string()])
        .expect("welcome mail");
    assert_eq!(
        welcome.header("Subject"),
        Some("[GitLab Mattermost] You joined mattermost.example.com")
    );
    let attempts = twin.mail_attempts();
    assert!(attempts.iter().all(|a| a.error.is_none()), "{attempts:?}");

    // STARTTLS disappears: the silent downgrade meets SMTP auth, and the Console says so.
    let downgraded = mail_server(
        MailServerSecurity::StartTls,
        false,
        Some(c.server.clone()),
        Some(("mailer", "Smtp-Passw0rd")),
    )
    .await;
    let twin2 = MattermostTwin::new(MattermostTwinConfig {
        settings: twin.settings(),
        address_book: book(587, downgraded.addr()),
        trusted_roots: vec![c.ca],
        ..Default::default()
    });
    let addr2 = serve(twin2.router()).await;
    let admin = MattermostAdmin::default();
    let api2 = MmApi::login(addr2, "v4", &admin.username, admin.password.expose())
        .await
        .unwrap();
    let (status, err) = api2.call(post, "/api/v4/email/test", None).await;
    assert_eq!(status, 500);
    assert_eq!(
        err["message"],
        "Connection unsuccessful: authentication failed: unencrypted connection"
    );
}

/// A plain SMTP server and a 10.11 twin mailing to it (email settings changed by `tweak`),
/// signed in as the default admin.
async fn plain_mail_twin(
    tweak: impl FnOnce(&mut EmailSettings),
) -> (TestServer, Arc<MattermostTwin>, MmApi) {
    mm_harness::crypto::install_default_provider();
    let server = mail_server(MailServerSecurity::Plain, false, None, None).await;
    let mut settings = MattermostSettings::defaults(Profile::Gitlab18_11);
    settings.service.site_url = "http://mattermost.example.com".into();
    settings.email = email(25, "");
    tweak(&mut settings.email);
    let twin = MattermostTwin::new(MattermostTwinConfig {
        settings,
        address_book: book(25, server.addr()),
        ..Default::default()
    });
    let addr = serve(twin.router()).await;
    let admin = MattermostAdmin::default();
    let api = MmApi::login(addr, "v4", &admin.username, admin.password.expose())
        .await
        .unwrap();
    (server, twin, api)
}

#[tokio::test]
async fn a_webhook_post_mentioning_a_member_sends_a_notification_email() {
    let (server, twin, api) = plain_mail_twin(|e| e.send_email_notifications = true).await;
    let (http, site) = (&api.http, MM_SITE);
    let call = |method: reqwest::Method, path: String, body: Value| {
        let api = &api;
        async move { api.call(method, &path, Some(body)).await }
    };
    let (_, dora) = call(
        reqwest::Method::POST,
        "/api/v4/users".into(),
        json!({"username": "dora", "email": "dora@example.com", "password": "Dora-Passw0rd!"}),
    )
    .await;
    let (_, team) = call(
        reqwest::Method::POST,
        "/api/v4/teams".into(),
        json!({"name": "dev", "display_name": "Dev", "type": "O"}),
    )
    .await;
    let team_id = team["id"].as_str().unwrap().to_string();
    let (s, _) = call(
        reqwest::Method::POST,
        format!("/api/v4/teams/{team_id}/members"),
        json!({"team_id": team_id, "user_id": dora["id"]}),
    )
    .await;
    assert_eq!(s, 201);
    let (_, ch) = call(
        reqwest::Method::GET,
        format!("/api/v4/teams/{team_id}/channels/name/town-square"),
        Value::Null,
    )
    .await;
    let (_, hook) = call(
        reqwest::Method::POST,
        "/api/v4/hooks/incoming".into(),
        json!({"channel_id": ch["id"], "display_name": "CI"}),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap();
    let resp = http
        .post(format!("{site}/hooks/{hook_id}"))
        .json(&json!({"text": "@dora the build failed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Welcome mail for dora, then the mention notification.
    let got = server.wait_for_messages(2, Duration::from_secs(5)).await;
    let mention = got
        .iter()
        .find(|m| {
            m.header("Subject")
                .is_some_and(|s| s.starts_with("[GitLab Mattermost] Notification in Dev on "))
        })
        .expect("mention mail");
    assert_eq!(mention.to, vec!["dora@example.com".to_string()]);
    assert!(mention.body.contains("the build failed"));
    // A message without mentions sends nothing more.
    let resp = http
        .post(format!("{site}/hooks/{hook_id}"))
        .json(&json!({"text": "all green"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Dora is in the team but not in this channel: the real server only warns the poster
    // (app/notification.go sendOutOfChannelMentions); no email (fidelity audit, mail 12).
    let (s, ops) = call(
        reqwest::Method::POST,
        "/api/v4/channels".into(),
        json!({"team_id": team_id, "name": "ops", "display_name": "Ops", "type": "O"}),
    )
    .await;
    assert_eq!(s, 201, "{ops}");
    let (_, ops_hook) = call(
        reqwest::Method::POST,
        "/api/v4/hooks/incoming".into(),
        json!({"channel_id": ops["id"], "display_name": "Ops CI"}),
    )
    .await;
    let resp = http
        .post(format!("{site}/hooks/{}", ops_hook["id"].as_str().unwrap()))
        .json(&json!({"text": "@dora the deploy failed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.messages().len(), 2);
    assert_eq!(
        twin.mail_attempts()
            .iter()
            .map(|a| a.kind.as_str())
            .collect::<Vec<_>>(),
        vec!["welcome", "mention"]
    );
}

// ---- The mail sink seen by a raw TCP client ----

async fn read_reply<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Vec<String> {
    use tokio::io::AsyncBufReadExt;
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(5), r.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "server closed");
        let line = line.trim_end().to_string();
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line);
        if last {
            return lines;
        }
    }
}

#[tokio::test]
async fn the_mail_server_advertises_starttls_and_auth_as_configured() {
    use tokio::io::{AsyncWriteExt, BufReader};
    let c = certs(SMTP_HOST, false);
    // STARTTLS offered: no AUTH before TLS.
    let server = mail_server(
        MailServerSecurity::StartTls,
        true,
        Some(c.server.clone()),
        Some(("u", "p")),
    )
    .await;
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let mut io = BufReader::new(tcp);
    assert_eq!(
        read_reply(&mut io).await,
        vec!["220 smtp.example.com ESMTP"]
    );
    io.get_mut()
        .write_all(b"EHLO probe.example.com\r\n")
        .await
        .unwrap();
    let ehlo = read_reply(&mut io).await;
    assert!(ehlo.iter().any(|l| l.ends_with("STARTTLS")), "{ehlo:?}");
    assert!(!ehlo.iter().any(|l| l.contains("AUTH")), "{ehlo:?}");
    io.get_mut()
        .write_all(b"MAIL FROM:<a@b.c>\r\n")
        .await
        .unwrap();
    let reply = read_reply(&mut io).await;
    // mailin refuses MAIL before AUTH with 503 (bad sequence).
    assert!(
        reply[0].starts_with("503"),
        "auth required first: {reply:?}"
    );

    // STARTTLS not offered: the extension is absent, the command refused, AUTH in the clear.
    let server = mail_server(
        MailServerSecurity::StartTls,
        false,
        Some(c.server.clone()),
        Some(("u", "p")),
    )
    .await;
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let mut io = BufReader::new(tcp);
    read_reply(&mut io).await;
    io.get_mut()
        .write_all(b"EHLO probe.example.com\r\n")
        .await
        .unwrap();
    let ehlo = read_reply(&mut io).await;
    assert!(!ehlo.iter().any(|l| l.contains("STARTTLS")), "{ehlo:?}");
    assert!(
        ehlo.iter().any(|l| l.contains("AUTH PLAIN LOGIN")),
        "{ehlo:?}"
    );
    io.get_mut().write_all(b"STARTTLS\r\n").await.unwrap();
    let reply = read_reply(&mut io).await;
    assert!(reply[0].starts_with("502"), "{reply:?}");
    io.get_mut().write_all(b"QUIT\r\n").await.unwrap();
    assert!(read_reply(&mut io).await[0].starts_with("221"));

    // Implicit TLS: the greeting only comes inside TLS.
    let server = mail_server(
        MailServerSecurity::ImplicitTls,
        false,
        Some(c.server.clone()),
        None,
    )
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(c.ca.clone()).unwrap();
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(
            rustls_pki_types::ServerName::try_from(SMTP_HOST).unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let mut io = BufReader::new(tls);
    assert_eq!(
        read_reply(&mut io).await,
        vec!["220 smtp.example.com ESMTP"]
    );

    server.shutdown().await;
}

#[tokio::test]
async fn required_verification_sends_a_verify_link() {
    let (server, twin, api) = plain_mail_twin(|e| {
        e.send_email_notifications = false;
        e.require_email_verification = true;
    })
    .await;
    let (status, _) = api
        .call(
            reqwest::Method::POST,
            "/api/v4/users",
            Some(json!({"username": "erin", "email": "erin@example.com", "password": "Erin-Passw0rd!"})),
        )
        .await;
    assert_eq!(status, 201);
    let got = server.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert!(
        got[0]
            .body
            .contains("http://mattermost.example.com/do_verify_email?token="),
        "{}",
        got[0].body
    );
    // The twin records the attempt once the 250 came back, a moment after the sink stored it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while twin.mail_attempts().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(twin.mail_attempts()[0].kind, "verify");
}

#[tokio::test]
async fn mattermost_3_sends_credentials_in_the_clear_when_plain_is_advertised_without_tls() {
    // A relay on 587 that does not offer STARTTLS and advertises AUTH PLAIN in the clear:
    // 3.4 ignores the failed STARTTLS (utils/mail.go newSMTPClient: `c.StartTLS(tlsconfig)`
    // unchecked) and the PlainAuth of its Go (< 1.9.1) sends the credentials because PLAIN is
    // advertised (fidelity audit, mail HIGH 2). The sink records it.
    let c = certs(SMTP_HOST, false);
    let server = mail_server(
        MailServerSecurity::StartTls,
        false,
        Some(c.server.clone()),
        Some(("mailer", "pw")),
    )
    .await;
    let mut e = MattermostSettings::defaults(Profile::Gitlab8_12).email;
    e.send_email_notifications = true;
    e.smtp_server = SMTP_HOST.into();
    e.smtp_port = "587".into();
    e.connection_security = "STARTTLS".into();
    e.feedback_email = "mm@example.com".into();
    e.smtp_username = "mailer".into();
    e.smtp_password = Secret::new("pw");
    send_mail_as(
        MailerEra::Mattermost3,
        &e,
        SITE,
        &book(587, server.addr()),
        &[],
        &msg(),
    )
    .await
    .unwrap();
    let m = &server.sink.mailbox().messages()[0];
    assert_eq!(m.transport.tls, TlsMode::None);
    assert!(
        m.transport.auth_in_plaintext,
        "credentials crossed in the clear"
    );
    assert_eq!(m.transport.auth_identity.as_deref(), Some("mailer"));
    // The same relay and 10.11: "unencrypted connection", nothing sent.
    let err = deliver(
        &email_with_auth(587, "STARTTLS", "mailer", "pw"),
        server.addr(),
        &[c.ca],
    )
    .await
    .unwrap_err();
    assert_eq!(err.message, "authentication failed: unencrypted connection");
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_failed_starttls_handshake_reaches_auth_with_its_error() {
    // Go's Client.StartTLS sets c.tls before the handshake fails; Mattermost ignores the error,
    // so AUTH proceeds and reports the handshake's error (fidelity audit, mail HIGH 4).
    let wrong = certs("other.example.com", false);
    let server = mail_server(
        MailServerSecurity::StartTls,
        true,
        Some(wrong.server.clone()),
        Some(("mailer", "pw")),
    )
    .await;
    let err = deliver(
        &email_with_auth(587, "STARTTLS", "mailer", "pw"),
        server.addr(),
        &[wrong.ca],
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, MailErrorKind::Auth);
    assert_eq!(
        err.message,
        "authentication failed: tls: failed to verify certificate: x509: certificate is valid for other.example.com, not smtp.example.com"
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn mattermost_3_test_email_answers_each_stage_error_with_500() {
    // 3.4's api/admin.go testEmail: missing server and every SendMailUsingConfig failure are
    // NewLocAppError (status 500) with the failing stage's utils.mail.* id (fidelity audit, mail
    // MEDIUM 10); the posted config is what is tested.
    mm_harness::crypto::install_default_provider();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut settings = MattermostSettings::defaults(Profile::Gitlab8_12);
    settings.service.site_url = "http://mattermost.example.com".into();
    settings.email.send_email_notifications = true;
    let twin = MattermostTwin::new(MattermostTwinConfig {
        profile: Profile::Gitlab8_12,
        settings,
        address_book: book(25, closed),
        ..Default::default()
    });
    let addr = serve(twin.router()).await;
    let admin = MattermostAdmin::default();
    // Omnibus 8.12 turns sign-in by username off: the admin signs in by email.
    let api = MmApi::login(addr, "v3", &admin.email, admin.password.expose())
        .await
        .unwrap();
    let (_, cfg) = api
        .call(reqwest::Method::GET, "/api/v3/admin/config", None)
        .await;
    let mut posted = cfg.clone();
    posted["EmailSettings"]["SMTPServer"] = json!("");
    let (status, err) = api
        .call(
            reqwest::Method::POST,
            "/api/v3/admin/test_email",
            Some(posted.clone()),
        )
        .await;
    assert_eq!(status, 500, "{err}");
    assert_eq!(err["id"], "api.admin.test_email.missing_server");
    posted["EmailSettings"]["SMTPServer"] = json!(SMTP_HOST);
    posted["EmailSettings"]["SMTPPort"] = json!("25");
    posted["EmailSettings"]["SendEmailNotifications"] = json!(true);
    let (status, err) = api
        .call(
            reqwest::Method::POST,
            "/api/v3/admin/test_email",
            Some(posted),
        )
        .await;
    assert_eq!(status, 500, "{err}");
    assert_eq!(err["id"], "utils.mail.connect_smtp.open.app_error");
    assert_eq!(err["message"], "Failed to open connection");
}

#[tokio::test]
async fn twin_up_prints_the_smtp_listeners_and_the_mailbox_url() {
    use mm_harness::twin::bringup::{Twin, TwinOptions};
    let mut opts = TwinOptions::single_server(Profile::Gitlab18_11);
    let email = &mut opts.hosts[0].mattermost.email;
    email.smtp_server = SMTP_HOST.into();
    email.smtp_port = "587".into();
    email.connection_security = "STARTTLS".into();
    email.enable_smtp_auth = true;
    email.smtp_username = "mailer".into();
    email.smtp_password = Secret::new("Smtp-Summary-Passw0rd");
    let handle = Twin::start(opts).await.unwrap();
    let text = mm_harness::report::twin::render_summary(
        &handle,
        Profile::Gitlab18_11,
        &[],
        std::path::Path::new("/tmp/x/ca.pem"),
    );
    let sink = handle.mail_sink().unwrap();
    for (mode, port) in [
        (ListenerMode::Plain, 25),
        (ListenerMode::StartTls, 587),
        (ListenerMode::Implicit, 465),
    ] {
        let line = format!("smtp.example.com:{port} → {}", sink.addr(mode).unwrap());
        assert!(text.contains(&line), "{line} missing:\n{text}");
    }
    let url = sink.mailbox_url().unwrap();
    assert!(text.contains(&format!("mailbox     {url}")), "{text}");
    assert!(!text.contains("Smtp-Summary-Passw0rd"), "{text}");
    // The printed mailbox answers.
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(page.contains("<h1>Mailbox</h1>"), "{page}");
}

/// The sink with the twin's CA (the run's CA) presenting a `cert` certificate on a STARTTLS and
/// an implicit-TLS listener, AUTH for `mailer`/`pw`.
async fn faulty_sink(cert: SinkCert) -> (MailSink, Arc<mm_harness::twin::tls::TwinCa>) {
    mm_harness::crypto::install_default_provider();
    let ca = Arc::new(mm_harness::twin::tls::TwinCa::generate());
    let mut opts = SinkOptions::new(SMTP_HOST)
        .with_standard_listeners()
        .with_credentials("mailer", Secret::new("pw"))
        .with_certificates(ca.clone());
    opts.http_bind = None;
    opts.faults.cert = cert;
    (MailSink::start(opts).await.unwrap(), ca)
}

/// Seconds since the Unix epoch of an RFC 3339 UTC time as Go prints it (`2026-12-01T22:50:00Z`).
fn rfc3339_secs(text: &str) -> i64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .unix_timestamp()
}

#[tokio::test]
async fn certificate_failures_read_as_go_s_crypto_x509_in_every_place_the_mailer_reports_them() {
    use mm_harness::twin::tls::CertKind;
    // Each of the sink's certificate faults, on implicit TLS (the dial), on STARTTLS without AUTH
    // (the next command, MAIL FROM, fails with the sticky handshake error) and with AUTH (AUTH
    // goes ahead believing it is on TLS and fails with it).
    for (cert, x509) in [
        (
            SinkCert::Untrusted,
            "x509: certificate signed by unknown authority".to_string(),
        ),
        (
            SinkCert::WrongHost,
            format!(
                "x509: certificate is valid for {}, not {SMTP_HOST}",
                CertKind::WRONG_HOST_NAME
            ),
        ),
        (
            SinkCert::Expired,
            "x509: certificate has expired or is not yet valid: current time ".to_string(),
        ),
    ] {
        let (sink, ca) = faulty_sink(cert).await;
        let roots = [ca.ca_der()];
        let implicit = sink.addr(ListenerMode::Implicit).unwrap();
        let submission = sink.addr(ListenerMode::StartTls).unwrap();
        let cases = [
            (
                email(465, "TLS"),
                implicit,
                "unable to connect to the SMTP server through TLS: ",
            ),
            (
                email(587, "STARTTLS"),
                submission,
                "failed to set the from address: ",
            ),
            (
                email_with_auth(587, "STARTTLS", "mailer", "pw"),
                submission,
                "authentication failed: ",
            ),
        ];
        for (e, addr, stage) in cases {
            let err = deliver(&e, addr, &roots).await.unwrap_err();
            let go = format!("{stage}tls: failed to verify certificate: {x509}");
            if cert == SinkCert::Expired {
                // `current time NOW is after NOT_AFTER`: the leaf ended a day ago.
                let rest = err
                    .message
                    .strip_prefix(&go)
                    .unwrap_or_else(|| panic!("{cert:?}: {}", err.message));
                let (now, not_after) = rest
                    .split_once(" is after ")
                    .unwrap_or_else(|| panic!("{cert:?}: {}", err.message));
                let now = rfc3339_secs(now);
                let not_after = rfc3339_secs(not_after);
                let clock = time::OffsetDateTime::now_utc().unix_timestamp();
                assert!((clock - now).abs() < 60, "{}", err.message);
                assert!(
                    (now - not_after - 86_400).abs() < 60,
                    "NotAfter is a day ago: {}",
                    err.message
                );
            } else {
                assert_eq!(err.message, go, "{cert:?}");
            }
        }
        assert!(sink.mailbox().is_empty(), "{cert:?}");

        // Mattermost 3.4 never verifies (InsecureSkipVerify): the same relays take its mail.
        let mut e = email(465, "TLS");
        e.smtp_username = "mailer".into();
        e.smtp_password = Secret::new("pw");
        send_mail_as(
            MailerEra::Mattermost3,
            &e,
            SITE,
            &book(465, implicit),
            &roots,
            &msg(),
        )
        .await
        .unwrap_or_else(|err| panic!("3.4 against {cert:?}: {}", err.message));
        assert_eq!(sink.mailbox().messages().len(), 1, "{cert:?}");
        sink.shutdown().await;
    }
}

#[tokio::test]
async fn a_greeting_that_never_comes_is_context_deadline_exceeded_on_10_11_and_a_hang_on_3_4() {
    use mm_harness::twin::clock::ProductClock;
    use mm_harness::twin::mail::send_mail_with;
    // A relay that accepts and says nothing.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    let accept = tokio::spawn(async move {
        while let Ok((socket, _)) = silent.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    // SMTPServerTimeout = 1 s on a clock ten times faster: 100 ms.
    let clock = ProductClock::faster_by(10);
    let mut e = email(25, "");
    e.smtp_server_timeout = 1;
    let started = tokio::time::Instant::now();
    let err = send_mail_with(
        MailerEra::Current,
        clock,
        &e,
        SITE,
        &book(25, addr),
        &[],
        &msg(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message,
        "unable to connect to the SMTP server: context deadline exceeded"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    // Implicit TLS: tls.DialWithDialer's handshake runs under the dialer's timeout too.
    let mut e = email(465, "TLS");
    e.smtp_server_timeout = 1;
    let err = send_mail_with(
        MailerEra::Current,
        clock,
        &e,
        SITE,
        &book(465, addr),
        &[],
        &msg(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.message,
        "unable to connect to the SMTP server through TLS: context deadline exceeded"
    );
    // Mattermost 3.4 (net.Dial, smtp.NewClient: no deadline) is still waiting when the step
    // deadline, ten times the 10.11 timeout, runs out.
    let mut e = email(25, "");
    e.smtp_server_timeout = 1;
    let step = tokio::time::timeout(
        Duration::from_secs(1),
        send_mail_with(
            MailerEra::Mattermost3,
            clock,
            &e,
            SITE,
            &book(25, addr),
            &[],
            &msg(),
        ),
    )
    .await;
    assert!(step.is_err(), "3.4 gave up by itself: {step:?}");
    accept.abort();
}

#[tokio::test]
async fn after_the_greeting_mattermost_sets_no_timeout_and_a_stalled_relay_holds_it_until_the_step_deadline()
 {
    use mm_harness::twin::clock::ProductClock;
    use mm_harness::twin::mail::send_mail_with;
    mm_harness::crypto::install_default_provider();
    let mut opts = SinkOptions::new(SMTP_HOST)
        .with_listener(ListenerSpec::loopback("plain", ListenerMode::Plain));
    opts.http_bind = None;
    opts.faults.stall_after_greeting = true;
    let sink = MailSink::start(opts).await.unwrap();
    let addr = sink.addr(ListenerMode::Plain).unwrap();
    for era in [MailerEra::Current, MailerEra::Mattermost3] {
        let mut e = email(25, "");
        e.smtp_server_timeout = 1;
        // SMTPServerTimeout 1 s on a ten times faster clock is 100 ms; the step deadline is 8
        // times that. Go's net/smtp has no deadline after the greeting: no "i/o timeout", the
        // client is still waiting for the EHLO reply when the step gives up.
        let started = tokio::time::Instant::now();
        let step = tokio::time::timeout(
            Duration::from_millis(800),
            send_mail_with(
                era,
                ProductClock::faster_by(10),
                &e,
                SITE,
                &book(25, addr),
                &[],
                &msg(),
            ),
        )
        .await;
        assert!(step.is_err(), "{era:?} gave up by itself: {step:?}");
        assert!(started.elapsed() >= Duration::from_millis(800));
    }
    // The step dropped the sessions: the sink saw both clients go after its greeting.
    let sessions = sink
        .mailbox()
        .wait_for_sessions(2, tokio::time::Instant::now() + Duration::from_secs(5))
        .await
        .unwrap();
    for s in &sessions {
        assert_eq!(s.end, "stalled after the greeting (client closed)");
    }
    assert!(sink.mailbox().is_empty());
    sink.shutdown().await;
}
