//! `mm-doctor --support-packet FILE.zip` through the built binary, on packets written here in the
//! format Mattermost writes (mattermost/mattermost `server/channels/app/support_packet.go` and
//! `server/channels/app/platform/support_packet.go`: metadata.yaml, diagnostics.yaml,
//! sanitized_config.json with secrets as `********`, mattermost.log as JSON lines, plugins.json,
//! stats.yaml, profiles; a cluster's files under the node's name). The log lines are the ones
//! troubleshooting.md lists, as Mattermost logs them. Hostile zips (not a zip, a truncated one,
//! a bomb that declares its size, one that lies about it) run under `ulimit -v` and end with exit
//! 2 and a hint, never a crash; a password the sanitiser missed never reaches the output.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mm_harness::doctor::packet::{Limits, read_packet};
use zip::write::SimpleFileOptions;

use crate::support::text;

/// An SMTP password the sanitiser did not replace (a packet edited by hand, or a setting a
/// release's sanitiser missed): it must never be printed.
const LEAKED: &str = "hunter2-not-sanitised";

fn doctor_limited(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_mm-doctor"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("MM_DOCTOR_GITLAB_TOKEN")
        .env_remove("MM_DOCTOR_MATTERMOST_TOKEN")
        .output()
        .expect("run mm-doctor")
}

fn findings(o: &Output) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("json: {e}\n{}", text(o)));
    v["findings"].as_array().unwrap().clone()
}

fn ids(o: &Output) -> Vec<String> {
    findings(o)
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// A zip of `(name, bytes)` entries, deflated as Mattermost's archiver does.
fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    for (name, body) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// metadata.yaml as `model.GeneratePacketMetadata` writes it.
fn metadata(version: &str, license_id: &str) -> Vec<u8> {
    format!(
        "version: 1\ntype: support-packet\ngenerated_at: 1764633600000\nserver_version: {version}\nserver_id: 8fqk3zq1tbbz5e7wbw5fy3ajeo\nlicense_id: \"{license_id}\"\ncustomer_id: \"\"\n"
    )
    .into_bytes()
}

/// diagnostics.yaml (version 2) as `getSupportPacketDiagnostics` writes it.
fn diagnostics(version: &str, sku: &str) -> Vec<u8> {
    format!(
        "version: 2\nlicense:\n  company: \"\"\n  users: 0\n  sku_short_name: \"{sku}\"\n  is_trial: false\n  is_gov_sku: false\nserver:\n  os: linux\n  architecture: amd64\n  hostname: gitlab\n  cpu_cores: 4\n  total_memory_mb: 7941\n  version: {version}\n  build_hash: 6a3b5c2\n  go_version: go1.24.6\n  installation_type: omnibus\nconfig:\n  source: file\ndatabase:\n  type: postgres\n  version: \"16.8\"\n  schema_version: \"140\"\nfile_store:\n  file_status: OK\n  file_driver: local\nwebsocket:\n  connections: 3\n"
    )
    .into_bytes()
}

/// sanitized_config.json: `model.SupportPacketConfig` (the config, secrets as `********`, and the
/// feature flags beside it).
fn sanitized_config(site_url: &str, user_api: &str, smtp_password: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "ServiceSettings": {
            "SiteURL": site_url,
            "ListenAddress": ":8065",
            "EnableIncomingWebhooks": true,
            "GoogleDeveloperKey": "",
        },
        "SqlSettings": {
            "DriverName": "postgres",
            "DataSource": "postgres://****:****@localhost/mattermost_production?sslmode=disable",
            "AtRestEncryptKey": "********************************",
        },
        "EmailSettings": {
            "SendEmailNotifications": true,
            "SMTPServer": "smtp.example.com",
            "SMTPPort": "465",
            "ConnectionSecurity": "",
            "EnableSMTPAuth": true,
            "SMTPUsername": "mattermost@example.com",
            "SMTPPassword": smtp_password,
            "FeedbackEmail": "noreply@example.com",
        },
        "GitLabSettings": {
            "Enable": true,
            "Secret": "********************************",
            "Id": "2b1bf1ab2d3bc37e8d8e1e7c6b9d5a40",
            "Scope": "",
            "AuthEndpoint": "http://gitlab.example.com/oauth/authorize",
            "TokenEndpoint": "http://gitlab.example.com/oauth/token",
            "UserAPIEndpoint": user_api,
        },
        "FeatureFlags": {"TestFeature": "off"},
    }))
    .unwrap()
}

/// A line of mattermost.log as Mattermost's JSON logger writes it.
fn log_line(level: &str, msg: &str, err: &str) -> String {
    serde_json::json!({
        "timestamp": "2026-11-30 14:02:11.412 Z",
        "level": level,
        "msg": msg,
        "caller": "app/oauth.go:893",
        "error": err,
    })
    .to_string()
}

fn broken_log() -> Vec<u8> {
    [
        log_line("info", "Server is initializing...", ""),
        log_line(
            "error",
            "Bad response from token request.",
            "AuthorizeOAuthUser: Bad response from token request., invalid character '<' looking for beginning of value",
        ),
        log_line(
            "error",
            "Bad response from token request.",
            "AuthorizeOAuthUser: Bad response from token request.",
        ),
        log_line(
            "error",
            "Failed to send mail",
            &format!(
                "SendMail: Connection unsuccessful: tls: first record does not look like a TLS handshake (password {LEAKED})"
            ),
        ),
        log_line(
            "error",
            "Failed to send mail",
            "SendMail: 550 5.7.1 <noreply@example.com>: Sender address rejected: Mailbox unavailable",
        ),
        log_line(
            "critical",
            "Automatic database upgrade failed.",
            "pq: relation \"teams\" does not exist",
        ),
    ]
    .join("\n")
    .into_bytes()
}

#[test]
fn a_support_packet_is_checked_offline_and_its_log_lines_are_findings() {
    let dir = tempfile::tempdir().unwrap();
    // A cluster packet: each node's files under its hostname, as support_packet.go writes them.
    let zip = zip_of(&[
        ("metadata.yaml", metadata("9.11.3", "")),
        (
            "plugins.json",
            b"{\"enabled\": [], \"disabled\": []}".to_vec(),
        ),
        (
            "stats.yaml",
            b"registered_users: 12\nactive_users: 9\n".to_vec(),
        ),
        ("gitlab-node1/diagnostics.yaml", diagnostics("9.11.3", "")),
        (
            "gitlab-node1/sanitized_config.json",
            sanitized_config("", "http://gitlab.example.com/api/v3/user", LEAKED),
        ),
        ("gitlab-node1/mattermost.log", broken_log()),
        ("gitlab-node1/cpu.prof", vec![0x1f, 0x8b, 0, 1, 2, 3]),
        (
            "gitlab-node1/goroutines",
            b"goroutine 1 [running]:\n".to_vec(),
        ),
    ]);
    let packet = write(dir.path(), "mattermost_support_packet.zip", &zip);
    let o = doctor_limited(&[
        "--support-packet",
        packet.to_str().unwrap(),
        "--format",
        "json",
        "--today",
        "2026-12-01",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let got = ids(&o);
    for want in [
        // the log lines
        "sso.client-secret-wrong",
        "smtp.implicit-tls-on-plain-port",
        "smtp.sender-rejected",
        "versions.database-upgrade-failed",
        // the sanitised config
        "sso.site-url-empty",
        // the server version (metadata.yaml): 9.11 is past its ESR date
        "versions.out-of-support",
    ] {
        assert!(got.iter().any(|g| g == want), "{want} missing: {got:?}");
    }
    let all = findings(&o);
    let secret = all
        .iter()
        .find(|f| f["id"] == "sso.client-secret-wrong")
        .unwrap();
    let ev = secret["evidence"].as_str().unwrap();
    assert!(
        ev.contains("gitlab-node1/mattermost.log:2") && ev.contains("and 1 more"),
        "{ev}"
    );
    assert_eq!(secret["check"], "support-packet-logs");
    // The human report too, and never the password the sanitiser missed.
    let human = doctor_limited(&["--support-packet", packet.to_str().unwrap()]);
    assert_eq!(human.status.code(), Some(1));
    let h = text(&human);
    assert!(h.contains("mattermost_support_packet.zip"), "{h}");
    for out in [text(&o), h] {
        assert!(!out.contains(LEAKED), "a secret leaked:\n{out}");
    }
}

#[test]
fn a_clean_v11_packet_gives_logs_clean_drift_and_the_licence_rule() {
    let dir = tempfile::tempdir().unwrap();
    let log = [
        log_line("info", "Server is initializing...", ""),
        log_line("info", "Starting Server...", ""),
        log_line("info", "Server is listening on [::]:8065", ""),
    ]
    .join("\n");
    let zip = zip_of(&[
        ("metadata.yaml", metadata("11.0.2", "")),
        ("diagnostics.yaml", diagnostics("11.0.2", "")),
        (
            "sanitized_config.json",
            sanitized_config(
                "http://mattermost.example.com",
                "http://gitlab.example.com/api/v4/user",
                "********************************",
            ),
        ),
        ("mattermost.log", log.into_bytes()),
        ("notifications.log", Vec::new()),
    ]);
    let packet = write(dir.path(), "packet.zip", &zip);
    // The gitlab.rb beside it says another SiteURL: the packet's config drifted.
    let rb = write(
        dir.path(),
        "gitlab.rb",
        b"external_url 'http://gitlab.example.com'\nmattermost_external_url 'http://chat.example.com'\n",
    );
    let o = doctor_limited(&[
        "--support-packet",
        packet.to_str().unwrap(),
        "--gitlab-rb",
        rb.to_str().unwrap(),
        "--gitlab-version",
        "18.5",
        "--format",
        "json",
        "--today",
        "2026-12-01",
    ]);
    let got = ids(&o);
    assert!(got.iter().any(|g| g == "logs.clean"), "{got:?}");
    assert!(
        got.iter()
            .any(|g| g == "config.drift-lost" || g == "config.drift-overridden"),
        "{got:?}"
    );
    assert!(got.iter().any(|g| g == "sso.license-required"), "{got:?}");
    let clean = findings(&o)
        .into_iter()
        .find(|f| f["id"] == "logs.clean")
        .unwrap();
    assert!(
        clean["evidence"]
            .as_str()
            .unwrap()
            .contains("3 lines in 2 log(s)"),
        "{clean}"
    );
    // A licensed v11 server is not told to buy one.
    let licensed = zip_of(&[
        (
            "metadata.yaml",
            metadata("11.0.2", "x8kqp5jq3iduzrg1m3h4o7c7ar"),
        ),
        ("diagnostics.yaml", diagnostics("11.0.2", "enterprise")),
    ]);
    let p2 = write(dir.path(), "licensed.zip", &licensed);
    let o2 = doctor_limited(&[
        "--support-packet",
        p2.to_str().unwrap(),
        "--format",
        "json",
        "--today",
        "2026-12-01",
    ]);
    assert!(
        !ids(&o2).iter().any(|g| g == "sso.license-required"),
        "{}",
        text(&o2)
    );
}

/// Overwrite every uncompressed-size field of a zip (local headers and central directory) with
/// `size`: a zip that lies about what it inflates to.
fn lie_about_sizes(zip: &mut [u8], size: u32) {
    let mut i = 0;
    while i + 46 <= zip.len() {
        match &zip[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] => {
                zip[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
                i += 30;
            }
            [0x50, 0x4b, 0x01, 0x02] => {
                zip[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
                i += 46;
            }
            _ => i += 1,
        }
    }
}

#[test]
fn hostile_zips_are_refused_with_exit_2_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    cases.push((
        "not-a-zip.zip",
        b"PK this is a gitlab.rb, not a packet\n".to_vec(),
        "not a readable zip",
    ));
    let good = zip_of(&[("metadata.yaml", metadata("10.11.0", ""))]);
    cases.push((
        "truncated.zip",
        good[..good.len() / 2].to_vec(),
        "not a readable zip",
    ));
    cases.push((
        "no-packet.zip",
        zip_of(&[("readme.txt", b"hello".to_vec())]),
        "not a Mattermost Support Packet",
    ));
    // 2 GiB declared for a log: refused before inflating a byte.
    let mut declared = zip_of(&[("mattermost.log", b"short".to_vec())]);
    lie_about_sizes(&mut declared, 0x7fff_ffff);
    cases.push(("declared-bomb.zip", declared, "declares 2147483647 bytes"));
    // 160 MiB of zeros (160 KB deflated) that declare 1,000 bytes: the actual inflated size is
    // capped (128 MiB), whatever the zip says.
    let zeros = vec![0u8; 160 * 1024 * 1024];
    let mut lying = zip_of(&[("mattermost.log", zeros)]);
    lie_about_sizes(&mut lying, 1000);
    cases.push(("lying-bomb.zip", lying, "lying-bomb.zip"));
    for (name, bytes, want) in cases {
        let p = write(dir.path(), name, &bytes);
        let o = doctor_limited(&["--support-packet", p.to_str().unwrap()]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {t}");
        assert!(
            t.to_lowercase().contains(&want.to_lowercase()),
            "{name}: wanted {want:?} in {t}"
        );
        assert!(t.contains("help: "), "{name}: no hint in {t}");
        assert!(!t.contains("panicked"), "{name}: {t}");
    }
}

#[test]
fn the_reader_caps_what_an_entry_really_inflates_to() {
    // Through the library with small caps: 4 MiB of zeros declaring 1,000 bytes, read with a
    // 1 MiB cap per entry, is refused by what it inflates to, not by what it declares.
    let mut zip = zip_of(&[("mattermost.log", vec![b'a'; 4 * 1024 * 1024])]);
    lie_about_sizes(&mut zip, 1000);
    let limits = Limits {
        max_entry_bytes: 1024 * 1024,
        ..Limits::DEFAULT
    };
    let len = zip.len() as u64;
    match read_packet("lying.zip", Cursor::new(zip), len, limits) {
        Ok(p) => panic!("read {} log lines of a lying zip", p.log_lines),
        Err(e) => assert!(
            e.message.contains("inflates past") || e.message.contains("cannot inflate"),
            "{}",
            e.message
        ),
    }
    // Too many entries.
    let many: Vec<(String, Vec<u8>)> = (0..50).map(|i| (format!("f{i}.txt"), Vec::new())).collect();
    let refs: Vec<(&str, Vec<u8>)> = many.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let zip = zip_of(&refs);
    let limits = Limits {
        max_entries: 10,
        ..Limits::DEFAULT
    };
    let len = zip.len() as u64;
    let e = read_packet("many.zip", Cursor::new(zip), len, limits).unwrap_err();
    assert!(e.message.contains("lists 50 entries"), "{}", e.message);
}
