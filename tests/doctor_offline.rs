//! The doctor offline: the built `mm-doctor` (and `mm-harness doctor`) on the seed's own gitlab.rb
//! snippets, on hand-written traps, on a drifted config.json, on the 35 real gitlab.rb files of
//! the corpus, on hostile input (bounded memory), and on bad input (exit 2). Also: docs/findings.md
//! is exactly what the catalogue generates.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mm_harness::diag::SourceFile;
use mm_harness::doctor::{DoctorInputs, FindingKind, Prepared, diagnose};

use crate::config_common;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn doctor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mm-doctor"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("MM_DOCTOR_GITLAB_TOKEN")
        .env_remove("MM_DOCTOR_MATTERMOST_TOKEN")
        .output()
        .expect("run mm-doctor")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_ids(o: &Output) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("json: {e}\n{}", stdout(o)));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn seed_split_server_block_fails_on_v3_for_gitlab_11_and_later_only() {
    let dir = tempfile::tempdir().unwrap();
    let rb = write(dir.path(), "gitlab.rb", config_common::SPLIT_SERVER);
    let rb = rb.to_str().unwrap();
    let new = doctor(&["--gitlab-rb", rb, "--gitlab-version", "18.11"]);
    assert_eq!(
        new.status.code(),
        Some(1),
        "{}{}",
        stdout(&new),
        stderr(&new)
    );
    let text = stdout(&new);
    assert!(text.contains("[config.user-api-v3]"), "{text}");
    assert!(text.contains("gitlab.rb:11:1"), "{text}");
    assert!(
        text.contains("fix: set mattermost['gitlab_user_api_endpoint'] = \"<gitlab>/api/v4/user\"")
    );
    assert!(text.contains("Summary: problems found"), "{text}");
    // The seed's example secret never reaches the report.
    assert!(!text.contains("123456789"), "{text}");
    let old = doctor(&[
        "--gitlab-rb",
        rb,
        "--gitlab-version",
        "8.12",
        "--format",
        "json",
    ]);
    assert!(!json_ids(&old).contains(&"config.user-api-v3".to_string()));
}

#[test]
fn seed_smtp_without_tls_is_the_465_and_plaintext_auth_trap() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "mattermost_external_url 'http://mattermost.example.com'\n{}",
        config_common::SMTP_PLAIN.replace("\"password\"", "\"S3cr3t-smtp-Pa55\"")
    );
    let rb = write(dir.path(), "gitlab.rb", &text);
    let out = doctor(&[
        "--gitlab-rb",
        rb.to_str().unwrap(),
        "--gitlab-version",
        "10.8",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let ids = json_ids(&out);
    assert!(ids.contains(&"config.smtp-port-security".into()), "{ids:?}");
    assert!(
        ids.contains(&"config.smtp-auth-plaintext".into()),
        "{ids:?}"
    );
    assert!(!stdout(&out).contains("S3cr3t-smtp-Pa55"));
}

#[test]
fn smtp_user_name_unknown_keys_and_unevaluated_values_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let rb = write(
        dir.path(),
        "gitlab.rb",
        "mattermost_external_url 'https://mattermost.example.com'\n\
         mattermost['smtp_user_name'] = 'mailer'\n\
         mattermost['gitlab_enabel'] = true\n\
         mattermost['email_smtp_server'] = ENV['SMTP_HOST']\n",
    );
    let out = doctor(&["--gitlab-rb", rb.to_str().unwrap(), "--format", "json"]);
    let ids = json_ids(&out);
    assert!(ids.contains(&"config.smtp-user-name".into()), "{ids:?}");
    assert!(ids.contains(&"config.unknown-key".into()), "{ids:?}");
    assert!(ids.contains(&"config.unevaluated".into()), "{ids:?}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_clean_file_is_all_ok_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let rb = write(
        dir.path(),
        "gitlab.rb",
        "external_url 'https://gitlab.example.com'\nmattermost_external_url 'https://mattermost.example.com'\n",
    );
    let out = doctor(&["--gitlab-rb", rb.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("✓ gitlab.rb reads cleanly"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("Summary: no issues found"));
}

#[test]
fn config_json_drift_is_reported_against_the_gitlab_rb() {
    let dir = tempfile::tempdir().unwrap();
    let rb = write(
        dir.path(),
        "gitlab.rb",
        "mattermost_external_url 'http://mattermost.example.com'\nmattermost['service_enable_incoming_webhooks'] = true\n",
    );
    let cfg = write(
        dir.path(),
        "config.json",
        "{\n  \"ServiceSettings\": {\n    \"SiteURL\": \"http://chat.example.com\",\n    \"EnableIncomingWebhooks\": false\n  }\n}\n",
    );
    let out = doctor(&[
        "--gitlab-rb",
        rb.to_str().unwrap(),
        "--config-json",
        cfg.to_str().unwrap(),
        "--gitlab-version",
        "10.8",
        "--format",
        "json",
    ]);
    let ids = json_ids(&out);
    assert!(
        ids.iter().filter(|i| *i == "config.drift-lost").count() >= 2,
        "{ids:?}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let subjects: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["subject"].as_str())
        .collect();
    assert!(
        subjects.iter().any(|s| s.contains("config.json:3:")),
        "{subjects:?}"
    );
    // On 18.x the same drift is overridden by MM_* variables instead.
    let out = doctor(&[
        "--gitlab-rb",
        rb.to_str().unwrap(),
        "--config-json",
        cfg.to_str().unwrap(),
        "--gitlab-version",
        "18.11",
        "--format",
        "json",
    ]);
    assert!(json_ids(&out).contains(&"config.drift-overridden".into()));
}

#[test]
fn gitlab_19_with_bundled_mattermost_points_to_upgrade_plan() {
    let dir = tempfile::tempdir().unwrap();
    let rb = write(
        dir.path(),
        "gitlab.rb",
        "external_url 'https://gitlab.example.com'\nmattermost_external_url 'https://mattermost.example.com'\n",
    );
    let out = doctor(&[
        "--gitlab-rb",
        rb.to_str().unwrap(),
        "--gitlab-version",
        "19.0",
        "--format",
        "json",
    ]);
    let ids = json_ids(&out);
    assert!(ids.contains(&"versions.gitlab-19".into()), "{ids:?}");
    assert!(stdout(&out).contains("upgrade-plan"));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bad_input_is_exit_2_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let none = doctor(&[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr(&none).contains("nothing to diagnose"),
        "{}",
        stderr(&none)
    );
    let missing = doctor(&["--gitlab-rb", "/nonexistent/gitlab.rb"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read gitlab.rb /nonexistent/gitlab.rb"));
    let cfg = write(
        dir.path(),
        "config.json",
        "{\n  \"ServiceSettings\": {,\n}\n",
    );
    let bad = doctor(&["--config-json", cfg.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("config.json:2:"), "{}", stderr(&bad));
    let flag = doctor(&["--mattermost", "ftp://x", "--timeout", "1"]);
    assert_eq!(flag.status.code(), Some(2));
    let flag = doctor(&["--mattermost", "http://m", "--timeout", "0"]);
    assert_eq!(flag.status.code(), Some(2));
}

#[test]
fn mm_harness_doctor_is_the_same_command() {
    let dir = tempfile::tempdir().unwrap();
    let rb = write(dir.path(), "gitlab.rb", config_common::SPLIT_SERVER);
    let a = doctor(&["--gitlab-rb", rb.to_str().unwrap(), "--format", "junit"]);
    let b = Command::new(env!("CARGO_BIN_EXE_mm-harness"))
        .args([
            "doctor",
            "--gitlab-rb",
            rb.to_str().unwrap(),
            "--format",
            "junit",
        ])
        .output()
        .unwrap();
    assert_eq!(a.status.code(), b.status.code());
    let strip = |s: String| {
        // Durations and timestamps differ between runs.
        regex::Regex::new(r#"(time|timestamp)="[^"]*""#)
            .unwrap()
            .replace_all(&s, "")
            .into_owned()
    };
    assert_eq!(strip(stdout(&a)), strip(stdout(&b)));
    assert!(stdout(&a).contains("<failure"), "{}", stdout(&a));
}

#[test]
fn findings_md_is_generated_from_the_catalogue() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/findings.md");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = mm_harness::doctor::catalogue_doc::findings_markdown();
    assert!(
        on_disk == generated,
        "docs/findings.md is stale: regenerate with `cargo run --bin mm-doctor -- --findings-md > docs/findings.md`"
    );
    for k in FindingKind::ALL {
        assert!(generated.contains(&format!("`{}`", k.id())));
    }
    let out = doctor(&["--findings-md"]);
    assert_eq!(stdout(&out), generated);
}

#[tokio::test]
async fn every_corpus_file_gives_findings_without_leaking_secrets() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/gitlab-rb");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rb"))
        .collect();
    files.sort();
    assert!(files.len() >= 35, "{}", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut i = DoctorInputs::new();
        i.gitlab_rb = Some(SourceFile::new(f.display().to_string(), text.clone()));
        let p = Prepared::new(i).unwrap();
        let secrets: Vec<String> = p
            .resolved
            .as_ref()
            .unwrap()
            .effective
            .iter()
            .filter(|s| s.secret)
            .filter_map(|s| s.value.as_str().map(str::to_string))
            .filter(|s| s.len() >= 6)
            .collect();
        let report = diagnose(p).await;
        assert!(report.findings().count() >= 1, "{}", f.display());
        let human = mm_harness::report::doctor::human(
            &report,
            "x",
            mm_harness::report::human::Style::plain(),
            true,
        );
        let json = mm_harness::report::doctor::json(&report, "x");
        for s in &secrets {
            assert!(
                !human.contains(s.as_str()),
                "{} leaks a secret",
                f.display()
            );
            assert!(!json.contains(s.as_str()), "{} leaks a secret", f.display());
        }
    }
}

#[test]
fn hostile_gitlab_rb_is_diagnosed_in_bounded_memory_and_output() {
    let dir = tempfile::tempdir().unwrap();
    // Unknown keys with escape sequences, a 1 MB value, control characters, nested brackets.
    // (Deeper nesting, or brackets after a long line, is the configuration model's to bound:
    // 20,000 brackets take `config explain` 1.2 GB.)
    let mut text = String::new();
    for i in 0..2_000 {
        text.push_str(&format!("mattermost['unknown_\u{1b}[31m_{i}'] = \"x\"\n"));
    }
    text.push_str(&format!(
        "mattermost['gitlab_enabel'] = \"{}\"\n",
        "\u{1b}]0;x".repeat(250_000)
    ));
    text.push_str(&"\u{7}\u{202e}".repeat(100_000));
    text.push('\n');
    text.push_str(&"[".repeat(2_000));
    let rb = write(dir.path(), "gitlab.rb", &text);
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_mm-doctor"))
        .args(["--gitlab-rb", rb.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'));
    assert!(
        text.contains("more (--format json lists them all)"),
        "{}",
        &text[..text.len().min(2000)]
    );
    assert!(text.len() < 200_000, "{}", text.len());
}

#[test]
fn serve_subcommand_serves_until_terminated() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let rb = write(dir.path(), "gitlab.rb", config_common::SPLIT_SERVER);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mm-doctor"))
        .args([
            "--gitlab-rb",
            rb.to_str().unwrap(),
            "--gitlab-version",
            "18.11",
        ])
        .args(["serve", "--listen", "127.0.0.1:0", "--interval", "30"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    // The first diagnosis is offline and quick; poll /healthz until it has run (bounded).
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        use std::io::{Read, Write};
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        if !text.contains("starting") || std::time::Instant::now() > until {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    assert!(status.contains("config.user-api-v3"), "{status}");
    // SIGTERM stops it cleanly.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let code = child.wait().unwrap();
    assert_eq!(code.code(), Some(0), "{code:?}");
}
