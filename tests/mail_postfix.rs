//! Real SMTP software against the mail sink: Debian's swaks sending in each mode (plaintext,
//! STARTTLS with AUTH LOGIN, implicit TLS with AUTH PLAIN, certificate verified against the run's
//! CA), and Debian's postfix relaying into the sink with `smtp_tls_security_level = encrypt`.
//!
//! `.ci/run` installs both and configures postfix to listen on loopback only and relay
//! everything to `[127.0.0.1]:20587`, where the postfix test binds the sink's STARTTLS listener.
//! Outside CI a missing tool (or a postfix configured otherwise) skips the test with a printed
//! reason; with `CI` set it fails.

use std::process::Command;

use mm_harness::mailsink::{
    AuthMechanism, ListenerMode, ListenerSpec, MailSink, SinkOptions, TlsMode,
};

use crate::mail_sink::{PASSWORD, SMTP_HOST, USER, deadline, sink as start_sink};

/// The relay postfix is configured with in `.ci/run`.
const POSTFIX_RELAY: &str = "[127.0.0.1]:20587";

/// `Ok(())` when usable; otherwise skip (print why) outside CI, panic in CI.
fn require(ok: bool, why: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{why} (CI must provide it: see .ci/run)");
    }
    eprintln!("skipped: {why}");
    false
}

fn run(cmd: &str, args: &[&str]) -> Option<std::process::Output> {
    Command::new(cmd).args(args).output().ok()
}

fn swaks_available() -> bool {
    require(
        run("swaks", &["--version"]).is_some_and(|o| o.status.success()),
        "swaks is not installed (apt-get install swaks libnet-ssleay-perl)",
    )
}

/// swaks with `args`, off the async runtime, bounded by its own timeout.
async fn swaks(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let mut all = vec!["--timeout".to_string(), "10".to_string()];
        all.extend(args);
        Command::new("swaks")
            .args(&all)
            .output()
            .expect("swaks runs")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn swaks_sends_in_each_mode_and_the_transport_is_recorded() {
    if !swaks_available() {
        return;
    }
    let (sink, ca) = start_sink(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    let ca_path = ca_file.to_string_lossy().to_string();
    let base = |mode: ListenerMode, subject: &str| -> Vec<String> {
        let addr = sink.addr(mode).unwrap();
        [
            "--server",
            &addr.ip().to_string(),
            "--port",
            &addr.port().to_string(),
            "--helo",
            "swaks.example.com",
            "--from",
            "swaks@example.com",
            "--to",
            "frank@example.com",
            "--header",
            &format!("Subject: {subject}"),
            "--body",
            "Sent by swaks: https://example.com/swaks",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let tls_args = |v: &mut Vec<String>| {
        v.extend(
            [
                "--tls-verify",
                "--tls-ca-path",
                &ca_path,
                "--tls-sni",
                SMTP_HOST,
            ]
            .map(String::from),
        );
    };
    let auth_args = |v: &mut Vec<String>, mech: &str| {
        v.extend(
            [
                "--auth",
                mech,
                "--auth-user",
                USER,
                "--auth-password",
                PASSWORD,
            ]
            .map(String::from),
        );
    };

    let out = swaks(base(ListenerMode::Plain, "swaks plain")).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let mut args = base(ListenerMode::StartTls, "swaks starttls");
    args.push("--tls".into());
    tls_args(&mut args);
    auth_args(&mut args, "LOGIN");
    let out = swaks(args).await;
    let transcript = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{transcript}");
    // swaks prints the exchange; the password goes base64-encoded, never in the sink's records.

    let mut args = base(ListenerMode::Implicit, "swaks implicit");
    args.push("--tls-on-connect".into());
    tls_args(&mut args);
    auth_args(&mut args, "PLAIN");
    let out = swaks(args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let got = sink
        .mailbox()
        .wait_for_count(3, deadline(10))
        .await
        .unwrap();
    let by = |s: &str| got.iter().find(|m| m.subject() == s).unwrap().clone();
    let plain = by("swaks plain");
    assert_eq!(plain.transport.tls, TlsMode::None);
    assert_eq!(plain.transport.ehlo_name, "swaks.example.com");
    assert!(
        plain
            .parsed
            .links
            .contains(&"https://example.com/swaks".to_string())
    );

    let st = by("swaks starttls");
    assert_eq!(st.transport.tls, TlsMode::StartTls);
    assert!(st.transport.starttls_offered && st.transport.starttls_used);
    assert_eq!(st.transport.sni.as_deref(), Some(SMTP_HOST));
    assert_eq!(st.transport.auth_mechanism, Some(AuthMechanism::Login));
    assert_eq!(st.transport.auth_identity.as_deref(), Some(USER));

    let imp = by("swaks implicit");
    assert_eq!(imp.transport.tls, TlsMode::Implicit);
    assert!(imp.transport.tls_version.is_some());
    assert_eq!(imp.transport.auth_mechanism, Some(AuthMechanism::Plain));

    // --tls-verify against a certificate for another host fails in swaks, not in the sink.
    let (bad, bad_ca) =
        start_sink(|o| o.faults.cert = mm_harness::mailsink::SinkCert::WrongHost).await;
    std::fs::write(&ca_file, bad_ca.ca_pem()).unwrap();
    let addr = bad.addr(ListenerMode::Implicit).unwrap();
    let out = swaks(
        [
            "--server",
            &addr.ip().to_string(),
            "--port",
            &addr.port().to_string(),
            "--to",
            "x@example.com",
            "--tls-on-connect",
            "--tls-verify",
            "--tls-ca-path",
            &ca_path,
            "--tls-sni",
            SMTP_HOST,
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(
        !out.status.success(),
        "swaks accepted a wrong-host certificate"
    );
    assert!(bad.mailbox().is_empty());
}

fn postfix_ready() -> bool {
    let installed = run("postconf", &["-h", "relayhost"]);
    let Some(out) = installed.filter(|o| o.status.success()) else {
        return require(false, "postfix is not installed (apt-get install postfix)");
    };
    let relay = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !require(
        relay == POSTFIX_RELAY,
        &format!(
            "postfix relays to {relay:?}, not {POSTFIX_RELAY:?} (configure it as .ci/run does)"
        ),
    ) {
        return false;
    }
    let level = run("postconf", &["-h", "smtp_tls_security_level"])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if !require(
        level == "encrypt",
        &format!("postfix smtp_tls_security_level is {level:?}, not \"encrypt\""),
    ) {
        return false;
    }
    require(
        run("postfix", &["status"]).is_some_and(|o| o.status.success()),
        "postfix is not running (postfix start)",
    )
}

#[tokio::test]
async fn postfix_relays_into_the_sink_only_over_starttls() {
    if !postfix_ready() || !swaks_available() {
        return;
    }
    let ca = std::sync::Arc::new(mm_harness::twin::tls::TwinCa::generate());
    let relay = |faults: mm_harness::mailsink::SinkFaults| {
        let mut o = SinkOptions::new(SMTP_HOST)
            .with_listener(ListenerSpec::new(
                "relay",
                ListenerMode::StartTls,
                "127.0.0.1:20587".parse().unwrap(),
            ))
            .with_certificates(ca.clone());
        o.faults = faults;
        o
    };
    let unique = format!("via postfix {}", std::process::id());
    let inject = |subject: String| async move {
        swaks(
            [
                "--server",
                "127.0.0.1",
                "--port",
                "25",
                "--helo",
                "client.example.com",
                "--from",
                "mm@example.com",
                "--to",
                "grace@example.org",
                "--header",
                &format!("Subject: {subject}"),
                "--body",
                "Relayed: https://mattermost.example.com/relayed",
            ]
            .map(String::from)
            .to_vec(),
        )
        .await
    };

    // A relay that does not offer STARTTLS: postfix (encrypt) refuses to send in plaintext.
    {
        let sink = MailSink::start(relay(mm_harness::mailsink::SinkFaults {
            starttls_not_offered: true,
            ..Default::default()
        }))
        .await
        .expect("port 20587 free for the postfix relay");
        let out = inject(format!("{unique} refused")).await;
        assert!(
            out.status.success(),
            "postfix accepted the message: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let _ = Command::new("postqueue").arg("-f").output();
        let sessions = sink
            .mailbox()
            .wait_for_sessions(1, deadline(60))
            .await
            .unwrap();
        assert!(!sessions[0].transport.starttls_offered);
        assert!(
            sessions[0].messages.is_empty(),
            "postfix must not deliver without TLS"
        );
        assert!(sink.mailbox().is_empty());
        sink.shutdown().await;
        let _ = Command::new("postsuper")
            .args(["-d", "ALL", "deferred"])
            .output();
    }

    // The right relay: delivered over STARTTLS.
    let sink = MailSink::start(relay(Default::default())).await.unwrap();
    let out = inject(unique.clone()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = Command::new("postqueue").arg("-f").output();
    let m = sink
        .mailbox()
        .wait_for(deadline(60), |m| m.subject() == unique)
        .await
        .expect("postfix relayed the message");
    assert_eq!(m.transport.tls, TlsMode::StartTls);
    assert!(m.transport.starttls_offered && m.transport.starttls_used);
    assert!(m.transport.tls_version.is_some());
    let myhostname = run("postconf", &["-h", "myhostname"])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert_eq!(m.transport.ehlo_name, myhostname);
    assert_eq!(m.envelope_to, vec!["grace@example.org".to_string()]);
    assert!(
        m.header("Received")
            .is_some_and(|r| r.contains("client.example.com")),
        "{:?}",
        m.parsed.headers
    );
    assert_eq!(
        m.parsed.links,
        vec!["https://mattermost.example.com/relayed".to_string()]
    );
}
