//! `mm-harness twin` through the real binary: the fault list, flag errors with did-you-mean and
//! exit code 2, and `twin up` printing where everything is, serving it, and stopping on SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mm-harness");

#[test]
fn twin_faults_lists_the_catalogue() {
    let out = Command::new(BIN).args(["twin", "faults"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("wrong-client-secret"));
    assert!(text.contains("Bad response from token request."));
    assert!(text.contains("closed-port"));
}

/// `twin up` with `args` (and `--gitlab-rb` naming a file holding `gitlab_rb`, if given) refuses
/// to start as bad input (exit 2); returns what it printed on stderr.
fn bad_input(args: &[&str], gitlab_rb: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["twin", "up"]).args(args);
    if let Some(text) = gitlab_rb {
        let path = dir.path().join("gitlab.rb");
        std::fs::write(&path, text).unwrap();
        cmd.arg("--gitlab-rb").arg(&path);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    err
}

#[test]
fn unknown_fault_is_bad_input_with_a_suggestion() {
    let err = bad_input(&["--fault", "user-api-v4"], None);
    assert!(err.contains("did you mean \"user-api-v3\""), "{err}");
}

#[test]
fn certificate_fault_without_https_is_bad_input_with_a_hint() {
    // The built-in setup's SMTP relay speaks TLS, so there the fault applies to its certificate;
    // a gitlab.rb with neither https nor an SMTP server leaves it nothing to apply to.
    let err = bad_input(
        &["--fault", "expired-certificate"],
        Some(
            "external_url 'http://gitlab.example.com'\nmattermost_external_url 'http://mattermost.example.com'\n",
        ),
    );
    assert!(err.contains("help: add --https"), "{err}");
}

#[test]
fn twin_up_serves_until_interrupted() {
    let mut child = Command::new(BIN)
        .args(["twin", "up", "--https", "--profile", "gitlab-8.12"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read on a thread so a child that prints nothing cannot hang the test past its deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
                if line.contains("Press Ctrl-C") {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("twin up printed no ready line within 30 s:\n{text}");
            }
        }
    }
    assert!(text.contains("GitLab 8.12.0 + Mattermost 3.4.0"), "{text}");
    assert!(text.contains("sign in as root / "), "{text}");
    let ca_line = text
        .lines()
        .find(|l| l.starts_with("CA certificate: "))
        .unwrap();
    let ca_path = ca_line.trim_start_matches("CA certificate: ").to_string();
    let pem = std::fs::read_to_string(&ca_path).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    // The https listener answers with the printed CA (a plain rustls client).
    let addr_line = text
        .lines()
        .find(|l| l.contains("https://gitlab.example.com:443"))
        .unwrap();
    let addr: std::net::SocketAddr = addr_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(addr.ip().is_loopback());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        mm_harness::crypto::install_default_provider();
        let c = reqwest::Client::builder()
            .resolve("gitlab.example.com", addr)
            .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        c.get("https://gitlab.example.com/users/sign_in")
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        !std::path::Path::new(&ca_path).exists(),
        "CA file removed on exit"
    );
}

#[test]
fn bad_gitlab_rb_is_bad_input_with_its_location() {
    let rb = "external_url 'http://gitlab.example.com'\nmattermost['gitlab_enable' = true\n";
    let err = bad_input(&[], Some(rb));
    assert!(err.contains("gitlab.rb:2:"), "{err}");
}

#[test]
fn gitlab_rb_without_any_service_is_bad_input() {
    let err = bad_input(
        &["--profile", "gitlab-8.12"],
        Some("# nothing configured\n"),
    );
    assert!(err.contains("no host runs GitLab or Mattermost"), "{err}");
}
