//! The mail sink from the outside: lettre (a third-party SMTP client) sends through every
//! listener mode and the recorded transport facts are asserted; the documented faults; AUTH
//! PLAIN and LOGIN; the Mailpit-shaped HTTP API and the HTML pages; event-driven waiting.
//! Hostile clients (huge DATA, endless lines, slow or silent clients, connection floods) are in
//! `mail_hostile`.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox as Addr, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mm_harness::config::model::Secret;
use mm_harness::mailsink::{
    AuthMechanism, ListenerMode, ListenerSpec, MailSink, SinkCert, SinkOptions, TlsMode,
};
use mm_harness::twin::tls::TwinCa;
use serde_json::Value;
use tokio::time::Instant;

pub const SMTP_HOST: &str = "smtp.example.com";
pub const USER: &str = "mailer";
pub const PASSWORD: &str = "Smtp-Passw0rd!";

/// A sink for [`SMTP_HOST`] with a plain, a STARTTLS and an implicit-TLS listener, certificates
/// from a fresh twin CA, credentials [`USER`]/[`PASSWORD`]; `tweak` adjusts the options.
pub async fn sink(tweak: impl FnOnce(&mut SinkOptions)) -> (MailSink, Arc<TwinCa>) {
    mm_harness::crypto::install_default_provider();
    let ca = Arc::new(TwinCa::generate());
    let mut opts = SinkOptions::new(SMTP_HOST)
        .with_standard_listeners()
        .with_listener(ListenerSpec::loopback("plain", ListenerMode::Plain))
        .with_credentials(USER, Secret::new(PASSWORD))
        .with_certificates(ca.clone());
    tweak(&mut opts);
    (MailSink::start(opts).await.expect("sink starts"), ca)
}

pub fn deadline(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

/// A lettre transport to `mode`'s listener of `sink`, trusting `ca`, as `client.example.com`.
pub fn lettre_transport(
    sink: &MailSink,
    ca: &TwinCa,
    mode: ListenerMode,
    auth: Option<(&str, &str, Mechanism)>,
) -> AsyncSmtpTransport<Tokio1Executor> {
    let addr = sink.addr(mode).expect("listener of that mode");
    let params = TlsParameters::builder(SMTP_HOST.to_string())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_der(ca.ca_der().to_vec()).unwrap())
        .build_rustls()
        .unwrap();
    let tls = match mode {
        ListenerMode::Plain => Tls::None,
        ListenerMode::StartTls => Tls::Required(params),
        ListenerMode::Implicit => Tls::Wrapper(params),
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .tls(tls)
        .hello_name(ClientId::Domain("client.example.com".into()))
        .timeout(Some(Duration::from_secs(5)));
    if let Some((u, p, mech)) = auth {
        b = b
            .credentials(Credentials::new(u.into(), p.into()))
            .authentication(vec![mech]);
    }
    b.build()
}

/// A multipart/alternative message with a quoted-printable text part and an HTML part linking
/// to `link`.
pub fn message(to: &str, subject: &str, link: &str) -> Message {
    Message::builder()
        .from(
            "GitLab Mattermost <mattermost@example.com>"
                .parse::<Addr>()
                .unwrap(),
        )
        .to(to.parse::<Addr>().unwrap())
        .subject(subject)
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(format!(
                            "Verify your email: {link}\nMerci, à bientôt — the team"
                        )),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(format!(
                            "<p>Please <a href=\"{}\">verify</a> your email.</p>",
                            link.replace('&', "&amp;")
                        )),
                ),
        )
        .unwrap()
}

async fn http_get(url: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

#[tokio::test]
async fn lettre_in_all_three_modes_is_recorded_with_its_transport() {
    let (sink, ca) = sink(|_| {}).await;
    let link = "http://mattermost.example.com/do_verify_email?token=abc&email=alice%40example.com";
    // Plaintext, no AUTH (the plain listener offers none without the plaintext-AUTH fault).
    lettre_transport(&sink, &ca, ListenerMode::Plain, None)
        .send(message("alice@example.com", "plain", link))
        .await
        .unwrap();
    // STARTTLS (Tls::Required) with AUTH LOGIN.
    lettre_transport(
        &sink,
        &ca,
        ListenerMode::StartTls,
        Some((USER, PASSWORD, Mechanism::Login)),
    )
    .send(message("alice@example.com", "starttls", link))
    .await
    .unwrap();
    // Implicit TLS (Tls::Wrapper) with AUTH PLAIN.
    lettre_transport(
        &sink,
        &ca,
        ListenerMode::Implicit,
        Some((USER, PASSWORD, Mechanism::Plain)),
    )
    .send(message("alice@example.com", "implicit", link))
    .await
    .unwrap();
    let got = sink.mailbox().wait_for_count(3, deadline(5)).await.unwrap();
    let by = |s: &str| got.iter().find(|m| m.subject() == s).unwrap().clone();

    let plain = by("plain");
    let t = &plain.transport;
    assert_eq!(t.listener, "plain");
    assert_eq!(t.tls, TlsMode::None);
    assert_eq!(t.tls_version, None);
    assert!(!t.starttls_offered && !t.starttls_used);
    assert_eq!(t.auth_mechanism, None);
    assert_eq!(t.ehlo_name, "client.example.com");

    let st = by("starttls");
    let t = &st.transport;
    assert_eq!(t.listener, "submission");
    assert_eq!(t.tls, TlsMode::StartTls);
    assert_eq!(t.tls_version.as_deref(), Some("TLSv1_3"));
    assert_eq!(t.sni.as_deref(), Some(SMTP_HOST));
    assert!(t.starttls_offered && t.starttls_used);
    assert_eq!(t.auth_mechanism, Some(AuthMechanism::Login));
    assert_eq!(t.auth_identity.as_deref(), Some(USER));
    assert!(!t.auth_in_plaintext);

    let imp = by("implicit");
    let t = &imp.transport;
    assert_eq!(t.listener, "smtps");
    assert_eq!(t.tls, TlsMode::Implicit);
    assert_eq!(t.sni.as_deref(), Some(SMTP_HOST));
    assert!(!t.starttls_offered && !t.starttls_used);
    assert_eq!(t.auth_mechanism, Some(AuthMechanism::Plain));

    // The content, decoded: lettre writes the text part quoted-printable (non-ASCII) and the
    // link comes back whole from both parts.
    assert_eq!(imp.envelope_from, "mattermost@example.com");
    assert_eq!(imp.envelope_to, vec!["alice@example.com".to_string()]);
    let from = imp.parsed.from.as_ref().unwrap();
    assert_eq!(
        (from.name.as_str(), from.address.as_str()),
        ("GitLab Mattermost", "mattermost@example.com")
    );
    assert!(
        imp.parsed.text.contains("Merci, à bientôt — the team"),
        "{}",
        imp.parsed.text
    );
    assert!(
        imp.parsed
            .parts
            .iter()
            .any(|p| p.transfer_encoding == "quoted-printable"),
        "{:?}",
        imp.parsed.parts
    );
    assert_eq!(imp.parsed.links, vec![link.to_string()]);

    // The password is nowhere: not in the records, not in the API.
    let api = http_get(&format!(
        "http://{}/api/v1/messages",
        sink.http_addr().unwrap()
    ))
    .await
    .1;
    let sessions = http_get(&format!(
        "http://{}/api/v1/sessions",
        sink.http_addr().unwrap()
    ))
    .await
    .1;
    for text in [&api, &sessions, &format!("{:?}", sink.mailbox().messages())] {
        assert!(!text.contains(PASSWORD));
    }
}

#[tokio::test]
async fn wrong_credentials_are_refused_and_recorded_without_the_password() {
    let (sink, ca) = sink(|_| {}).await;
    let err = lettre_transport(
        &sink,
        &ca,
        ListenerMode::StartTls,
        Some((USER, "nope-secret", Mechanism::Plain)),
    )
    .send(message("alice@example.com", "x", "http://x.example/"))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("535"), "{err}");
    let sessions = sink
        .mailbox()
        .wait_for_sessions(1, deadline(5))
        .await
        .unwrap();
    let a = &sessions[0].auth_attempts;
    assert_eq!(a.len(), 1);
    assert_eq!(
        (
            a[0].mechanism,
            a[0].identity.as_str(),
            a[0].accepted,
            a[0].in_plaintext
        ),
        (AuthMechanism::Plain, USER, false, false)
    );
    assert!(sink.mailbox().is_empty());
    assert!(!format!("{sessions:?}").contains("nope-secret"));
}

#[tokio::test]
async fn starttls_not_offered_lets_opportunistic_clients_downgrade_and_required_ones_fail() {
    // No credentials: with AUTH configured, mailin demands it before MAIL.
    let (sink, ca) = sink(|o| {
        o.faults.starttls_not_offered = true;
        o.credentials = None;
    })
    .await;
    // Tls::Required refuses to go on without STARTTLS.
    let err = lettre_transport(&sink, &ca, ListenerMode::StartTls, None)
        .send(message("alice@example.com", "x", "http://x.example/"))
        .await
        .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("tls"), "{err}");
    // Opportunistic: delivered in plaintext, and the facts say STARTTLS was not offered.
    let addr = sink.addr(ListenerMode::StartTls).unwrap();
    let params = TlsParameters::builder(SMTP_HOST.to_string())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_der(ca.ca_der().to_vec()).unwrap())
        .build_rustls()
        .unwrap();
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .tls(Tls::Opportunistic(params))
        .timeout(Some(Duration::from_secs(5)))
        .build()
        .send(message(
            "alice@example.com",
            "downgraded",
            "http://x.example/",
        ))
        .await
        .unwrap();
    let m = sink
        .mailbox()
        .wait_for(deadline(5), |m| m.subject() == "downgraded")
        .await
        .unwrap();
    assert_eq!(m.transport.tls, TlsMode::None);
    assert!(!m.transport.starttls_offered);
    assert_eq!(m.transport.listener_mode, ListenerMode::StartTls);
}

#[tokio::test]
async fn auth_in_plaintext_fault_accepts_credentials_in_the_clear_and_says_so() {
    let (sink, ca) = sink(|o| {
        o.faults.auth_in_plaintext = true;
        o.faults.starttls_not_offered = true;
    })
    .await;
    lettre_transport(
        &sink,
        &ca,
        ListenerMode::Plain,
        Some((USER, PASSWORD, Mechanism::Login)),
    )
    .send(message("bob@example.com", "clear", "http://x.example/"))
    .await
    .unwrap();
    let m = sink
        .mailbox()
        .wait_for(deadline(5), |m| m.subject() == "clear")
        .await
        .unwrap();
    assert_eq!(m.transport.tls, TlsMode::None);
    assert!(m.transport.auth_in_plaintext);
    assert_eq!(m.transport.auth_identity.as_deref(), Some(USER));
}

#[tokio::test]
async fn certificate_faults_are_refused_by_a_verifying_client() {
    for (cert, wording) in [
        (SinkCert::Expired, "expired"),
        (SinkCert::WrongHost, "notvalidforname"),
        (SinkCert::Untrusted, "unknownissuer"),
    ] {
        let (sink, ca) = sink(|o| o.faults.cert = cert).await;
        let err = lettre_transport(&sink, &ca, ListenerMode::Implicit, None)
            .send(message("alice@example.com", "x", "http://x.example/"))
            .await
            .unwrap_err();
        let text = format!("{err:?}").to_lowercase().replace([' ', '_'], "");
        assert!(text.contains(wording), "{cert:?}: {err:?}");
        // The sink saw a failed handshake.
        let s = sink
            .mailbox()
            .wait_for_sessions(1, deadline(5))
            .await
            .unwrap();
        assert!(s[0].end.starts_with("TLS handshake failed"), "{}", s[0].end);
    }
}

#[tokio::test]
async fn a_stall_after_the_greeting_times_the_client_out() {
    let (sink, ca) = sink(|o| {
        o.faults.stall_after_greeting = true;
        o.limits.idle_timeout = Duration::from_millis(700);
    })
    .await;
    let addr = sink.addr(ListenerMode::Plain).unwrap();
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .tls(Tls::None)
        .timeout(Some(Duration::from_millis(500)))
        .build();
    let started = Instant::now();
    let err = t
        .send(message("alice@example.com", "x", "http://x.example/"))
        .await
        .unwrap_err();
    // lettre's own timeout or the sink dropping the silent session after its idle timeout:
    // either way no reply ever came after the greeting.
    assert!(
        err.is_timeout() || err.to_string().contains("incomplete response"),
        "{err:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let s = sink
        .mailbox()
        .wait_for_sessions(1, deadline(5))
        .await
        .unwrap();
    assert!(
        s[0].end.starts_with("stalled after the greeting"),
        "{}",
        s[0].end
    );
    assert!(sink.mailbox().is_empty());
    drop(ca);
}

#[tokio::test]
async fn waiting_wakes_on_arrival_and_gives_up_at_the_deadline() {
    let (sink, ca) = sink(|_| {}).await;
    let mailbox = sink.mailbox().clone();
    // Nothing arrives: the deadline ends the wait.
    let started = Instant::now();
    let err = mailbox
        .wait_for(Instant::now() + Duration::from_millis(200), |_| true)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no matching mail arrived before the deadline"
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    // A waiter started before the send wakes with the message.
    let waiter = tokio::spawn(async move {
        mailbox
            .wait_for(deadline(10), |m| {
                m.envelope_to.iter().any(|t| t == "carol@example.com")
            })
            .await
    });
    tokio::task::yield_now().await;
    lettre_transport(&sink, &ca, ListenerMode::Plain, None)
        .send(message(
            "carol@example.com",
            "for carol",
            "http://x.example/",
        ))
        .await
        .unwrap();
    let m = waiter.await.unwrap().unwrap();
    assert_eq!(m.subject(), "for carol");
}

#[tokio::test]
async fn the_http_api_has_mailpits_shapes() {
    let (sink, ca) = sink(|_| {}).await;
    let base = format!("http://{}", sink.http_addr().unwrap());
    for i in 0..3 {
        lettre_transport(
            &sink,
            &ca,
            ListenerMode::StartTls,
            Some((USER, PASSWORD, Mechanism::Plain)),
        )
        .send(message(
            "dave@example.com",
            &format!("m{i}"),
            "https://mattermost.example.com/x?a=1&b=2",
        ))
        .await
        .unwrap();
    }
    sink.mailbox().wait_for_count(3, deadline(5)).await.unwrap();
    let (status, body) = http_get(&format!("{base}/api/v1/messages?limit=2")).await;
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&body).unwrap();
    for key in [
        "total",
        "unread",
        "count",
        "messages_count",
        "messages_unread",
        "start",
        "tags",
        "messages",
    ] {
        assert!(list.get(key).is_some(), "{key} missing: {list}");
    }
    assert_eq!(list["total"], 3);
    assert_eq!(list["count"], 2);
    let first = &list["messages"][0];
    assert_eq!(first["Subject"], "m2", "newest first");
    for key in [
        "ID",
        "MessageID",
        "Read",
        "From",
        "To",
        "Cc",
        "Bcc",
        "ReplyTo",
        "Subject",
        "Created",
        "Username",
        "Tags",
        "Size",
        "Attachments",
        "Snippet",
    ] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }
    assert_eq!(first["From"]["Address"], "mattermost@example.com");
    assert_eq!(first["To"][0]["Address"], "dave@example.com");
    assert_eq!(first["Username"], USER);
    assert_eq!(first["Read"], false);

    let id = first["ID"].as_str().unwrap();
    let (status, body) = http_get(&format!("{base}/api/v1/message/{id}")).await;
    assert_eq!(status, 200);
    let msg: Value = serde_json::from_str(&body).unwrap();
    for key in [
        "ID",
        "MessageID",
        "From",
        "To",
        "Cc",
        "Bcc",
        "ReplyTo",
        "ReturnPath",
        "Subject",
        "ListUnsubscribe",
        "Date",
        "Tags",
        "Username",
        "Text",
        "HTML",
        "Size",
        "Inline",
        "Attachments",
    ] {
        assert!(msg.get(key).is_some(), "{key} missing: {msg}");
    }
    assert_eq!(msg["ReturnPath"], "mattermost@example.com");
    assert_eq!(msg["Transport"]["tls"], "starttls");
    assert_eq!(msg["Transport"]["auth_mechanism"], "PLAIN");
    assert_eq!(msg["Links"][0], "https://mattermost.example.com/x?a=1&b=2");
    // Fetching marks read, as Mailpit does.
    let list: Value =
        serde_json::from_str(&http_get(&format!("{base}/api/v1/messages")).await.1).unwrap();
    assert_eq!(list["unread"], 2);
    // `latest`, raw, headers, 404.
    let latest: Value =
        serde_json::from_str(&http_get(&format!("{base}/api/v1/message/latest")).await.1).unwrap();
    assert_eq!(latest["ID"], id);
    let (_, raw) = http_get(&format!("{base}/api/v1/message/{id}/raw")).await;
    assert!(raw.contains("Subject: m2"), "{raw}");
    let headers: Value = serde_json::from_str(
        &http_get(&format!("{base}/api/v1/message/{id}/headers"))
            .await
            .1,
    )
    .unwrap();
    assert_eq!(headers["Subject"][0], "m2");
    assert_eq!(
        http_get(&format!("{base}/api/v1/message/nope")).await.0,
        404
    );
    // DELETE one by id, then all.
    let client = reqwest::Client::new();
    let r = client
        .delete(format!("{base}/api/v1/messages"))
        .json(&serde_json::json!({"IDs": [id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
    assert_eq!(sink.mailbox().len(), 2);
    client
        .delete(format!("{base}/api/v1/messages"))
        .send()
        .await
        .unwrap();
    assert!(sink.mailbox().is_empty());
}

#[tokio::test]
async fn the_html_pages_escape_everything_and_link_only_http() {
    let (sink, ca) = sink(|_| {}).await;
    let base = format!("http://{}", sink.http_addr().unwrap());
    let hostile = Message::builder()
        .from("\"<script>alert(1)</script>\" <evil@example.com>".parse::<Addr>().unwrap())
        .to("eve@example.com".parse::<Addr>().unwrap())
        .subject("<img src=x onerror=alert(1)>")
        .header(ContentType::TEXT_HTML)
        .body("<a href=\"javascript:alert(1)\">x</a> <a href=\"https://ok.example/?q=&quot;&gt;\">ok</a>".to_string())
        .unwrap();
    lettre_transport(&sink, &ca, ListenerMode::Plain, None)
        .send(hostile)
        .await
        .unwrap();
    let m = sink.mailbox().wait_for_count(1, deadline(5)).await.unwrap()[0].clone();
    let (status, index) = http_get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(
        index.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{index}"
    );
    assert!(!index.contains("<img"));
    assert!(
        index.contains("TLS none"),
        "transport facts listed: {index}"
    );
    let (_, page) = http_get(&format!("{base}/view/{}", m.id)).await;
    assert!(!page.contains("<script>") && !page.contains("<img"));
    assert!(!page.contains("href=\"javascript:"), "{page}");
    assert!(page.contains("<li>javascript:alert(1)</li>"), "{page}");
    assert!(
        page.contains("<a href=\"https://ok.example/?q=&quot;&gt;\">"),
        "{page}"
    );
    assert_eq!(http_get(&format!("{base}/view/nope")).await.0, 404);
}

#[tokio::test]
async fn bad_options_are_errors_not_panics() {
    mm_harness::crypto::install_default_provider();
    let err = MailSink::start(SinkOptions::new(SMTP_HOST))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot start the mail sink: the sink needs at least one SMTP listener"
    );
    let err = MailSink::start(SinkOptions::new(SMTP_HOST).with_standard_listeners())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no certificate issuer"), "{err}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = MailSink::start(SinkOptions::new(SMTP_HOST).with_listener(ListenerSpec::new(
        "p",
        ListenerMode::Plain,
        taken.local_addr().unwrap(),
    )))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot listen on"), "{err}");
    let err = MailSink::start(
        SinkOptions::new(SMTP_HOST)
            .with_listener(ListenerSpec::loopback("p", ListenerMode::Plain))
            .with_listener(ListenerSpec::loopback("p", ListenerMode::Plain)),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("two listeners are named \"p\""),
        "{err}"
    );
}
