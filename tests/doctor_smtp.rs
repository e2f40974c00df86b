//! The doctor's SMTP probe (`--smtp`, lettre's connection API) against real SMTP servers: the
//! project's mail sink with its fault switches (STARTTLS not offered, AUTH in plaintext, an
//! untrusted certificate, listeners of the other security) and Debian's postfix on 25, 465 and
//! 587 (`.ci/run` installs and configures it; outside CI a missing postfix skips those tests).
//! The probe never sends mail: every test ends with an empty mailbox.

use std::net::SocketAddr;
use std::time::Duration;

use mm_harness::config::Secret;
use mm_harness::diag::SourceFile;
use mm_harness::doctor::{DoctorInputs, DoctorReport, FindingKind, Prepared, diagnose};
use mm_harness::mailsink::{ListenerMode, MailSink, SinkCert};
use mm_harness::net::AddressBook;

use crate::mail_sink::{PASSWORD, SMTP_HOST, USER, sink};

/// A config.json with Mattermost's email settings.
fn config_json(port: u16, security: &str, user: &str, password: &str) -> SourceFile {
    let doc = serde_json::json!({
        "EmailSettings": {
            "SendEmailNotifications": true,
            "SMTPServer": SMTP_HOST,
            "SMTPPort": port.to_string(),
            "ConnectionSecurity": security,
            "EnableSMTPAuth": !user.is_empty(),
            "SMTPUsername": user,
            "SMTPPassword": password,
        }
    });
    SourceFile::new("config.json", serde_json::to_string_pretty(&doc).unwrap())
}

fn inputs(
    port: u16,
    addr: SocketAddr,
    security: &str,
    roots: Vec<rustls_pki_types::CertificateDer<'static>>,
) -> DoctorInputs {
    let mut i = DoctorInputs::new();
    i.config_json = Some(config_json(port, security, "", ""));
    let mut book = AddressBook::new();
    book.insert("smtp", SMTP_HOST, port, addr);
    i.book = book;
    i.roots = roots;
    i.smtp = true;
    i.timeout = Duration::from_secs(3);
    i
}

async fn run(i: DoctorInputs) -> DoctorReport {
    diagnose(Prepared::new(i).unwrap()).await
}

fn smtp_ids(r: &DoctorReport) -> Vec<&'static str> {
    r.findings()
        .filter(|(_, f)| f.kind.id().starts_with("smtp."))
        .map(|(_, f)| f.kind.id())
        .collect()
}

fn assert_no_mail(s: &MailSink) {
    assert!(s.mailbox().is_empty(), "the probe must never send mail");
}

#[tokio::test]
async fn starttls_on_587_against_the_sink_is_ok_and_sends_nothing() {
    let (s, ca) = sink(|_| {}).await;
    let i = inputs(
        587,
        s.addr(ListenerMode::StartTls).unwrap(),
        "STARTTLS",
        vec![ca.ca_der()],
    );
    let r = run(i).await;
    assert_eq!(smtp_ids(&r), vec!["smtp.ok"]);
    let ok = r
        .findings()
        .find(|(_, f)| f.kind == FindingKind::SmtpOk)
        .unwrap()
        .1;
    assert!(
        ok.evidence.contains("STARTTLS, certificate trusted"),
        "{}",
        ok.evidence
    );
    assert_no_mail(&s);
    // No credentials were tried without --smtp-auth.
    assert!(
        s.mailbox()
            .sessions()
            .iter()
            .all(|x| x.auth_attempts.is_empty())
    );
    s.shutdown().await;
}

#[tokio::test]
async fn sink_faults_give_their_findings() {
    // STARTTLS not offered on the STARTTLS port (the sink also takes AUTH in the clear then).
    let (s, ca) = sink(|o| {
        o.faults.starttls_not_offered = true;
        o.faults.auth_in_plaintext = true;
    })
    .await;
    let r = run(inputs(
        587,
        s.addr(ListenerMode::StartTls).unwrap(),
        "STARTTLS",
        vec![ca.ca_der()],
    ))
    .await;
    let ids = smtp_ids(&r);
    assert_eq!(ids[0], "smtp.starttls-not-offered", "{ids:?}");
    assert!(ids.contains(&"smtp.auth-before-tls"), "{ids:?}");
    assert_eq!(r.exit().code(), 1);
    assert_no_mail(&s);
    s.shutdown().await;

    // A certificate nobody trusts.
    let (s, ca) = sink(|o| o.faults.cert = SinkCert::Untrusted).await;
    let r = run(inputs(
        587,
        s.addr(ListenerMode::StartTls).unwrap(),
        "STARTTLS",
        vec![ca.ca_der()],
    ))
    .await;
    assert_eq!(smtp_ids(&r), vec!["smtp.certificate-untrusted"]);
    s.shutdown().await;

    // An expired one.
    let (s, ca) = sink(|o| o.faults.cert = SinkCert::Expired).await;
    let r = run(inputs(
        465,
        s.addr(ListenerMode::Implicit).unwrap(),
        "TLS",
        vec![ca.ca_der()],
    ))
    .await;
    assert_eq!(smtp_ids(&r), vec!["smtp.certificate-untrusted"]);
    s.shutdown().await;
}

#[tokio::test]
async fn port_and_security_that_do_not_pair_are_told_apart() {
    let (s, ca) = sink(|_| {}).await;
    // "TLS" (implicit) against a server that greets in plaintext.
    let r = run(inputs(
        587,
        s.addr(ListenerMode::StartTls).unwrap(),
        "TLS",
        vec![ca.ca_der()],
    ))
    .await;
    assert_eq!(smtp_ids(&r), vec!["smtp.implicit-tls-on-plain-port"]);
    // "STARTTLS" against an implicit-TLS port: no greeting ever comes.
    let mut i = inputs(
        465,
        s.addr(ListenerMode::Implicit).unwrap(),
        "STARTTLS",
        vec![ca.ca_der()],
    );
    i.timeout = Duration::from_secs(2);
    let r = run(i).await;
    assert_eq!(smtp_ids(&r), vec!["smtp.plain-on-implicit-port"]);
    // Implicit TLS done right.
    let r = run(inputs(
        465,
        s.addr(ListenerMode::Implicit).unwrap(),
        "TLS",
        vec![ca.ca_der()],
    ))
    .await;
    assert_eq!(smtp_ids(&r), vec!["smtp.ok"]);
    assert_no_mail(&s);
    s.shutdown().await;
}

#[tokio::test]
async fn credentials_are_tried_only_with_smtp_auth_and_never_printed() {
    let (s, ca) = sink(|_| {}).await;
    let addr = s.addr(ListenerMode::StartTls).unwrap();
    let mut i = inputs(587, addr, "STARTTLS", vec![ca.ca_der()]);
    i.config_json = Some(config_json(587, "STARTTLS", USER, "Wrong-Passw0rd-xyz"));
    i.smtp_auth = true;
    let r = run(i.clone()).await;
    assert_eq!(smtp_ids(&r), vec!["smtp.auth-rejected"]);
    let text = mm_harness::report::doctor::json(&r, "x");
    assert!(!text.contains("Wrong-Passw0rd-xyz"), "{text}");
    i.config_json = Some(config_json(587, "STARTTLS", USER, PASSWORD));
    let r = run(i.clone()).await;
    assert_eq!(smtp_ids(&r), vec!["smtp.ok"]);
    // --smtp-password overrides the file and is redacted like the rest.
    i.smtp_password = Some(Secret::new("Another-Wr0ng-pass"));
    let r = run(i).await;
    assert_eq!(smtp_ids(&r), vec!["smtp.auth-rejected"]);
    assert!(!mm_harness::report::doctor::json(&r, "x").contains("Another-Wr0ng-pass"));
    assert_no_mail(&s);
    s.shutdown().await;
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let r = run(inputs(587, addr, "STARTTLS", vec![])).await;
    assert_eq!(smtp_ids(&r), vec!["smtp.unreachable"]);
    assert_eq!(r.exit().code(), 3, "nothing could be reached");
}

/// Debian's postfix on loopback (see `.ci/run`): 25 plain with opportunistic STARTTLS, 587
/// submission with STARTTLS required, 465 smtps; its certificate is Debian's snakeoil.
fn postfix_listening() -> bool {
    let up = [25u16, 465, 587]
        .iter()
        .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok());
    if !up {
        if std::env::var_os("CI").is_some() {
            panic!("postfix must listen on 127.0.0.1:25, 465 and 587 (see .ci/run)");
        }
        eprintln!("skipped: postfix is not listening on 127.0.0.1:25/465/587 (see .ci/run)");
    }
    up
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test]
async fn debian_postfix_on_25_465_and_587() {
    if !postfix_listening() {
        return;
    }
    // Its snakeoil certificate is self-signed: untrusted...
    let r = run(inputs(587, loopback(587), "STARTTLS", vec![])).await;
    assert_eq!(smtp_ids(&r), vec!["smtp.certificate-untrusted"]);
    // ...and with --insecure each right pairing is fine.
    for (port, security) in [(587, "STARTTLS"), (465, "TLS"), (25, "")] {
        let mut i = inputs(port, loopback(port), security, vec![]);
        i.insecure = true;
        let r = run(i).await;
        assert_eq!(smtp_ids(&r), vec!["smtp.ok"], "{port} {security:?}");
    }
    // The wrong pairings.
    let mut i = inputs(587, loopback(587), "TLS", vec![]);
    i.insecure = true;
    assert_eq!(
        smtp_ids(&run(i).await),
        vec!["smtp.implicit-tls-on-plain-port"]
    );
    let mut i = inputs(465, loopback(465), "STARTTLS", vec![]);
    i.insecure = true;
    i.timeout = Duration::from_secs(2);
    assert_eq!(smtp_ids(&run(i).await), vec!["smtp.plain-on-implicit-port"]);
}
