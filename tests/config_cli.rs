//! `mm-harness config explain` end to end: the built binary on the seed's own gitlab.rb snippets
//! (read from shared/seed/gitlab-mattermost.md), on a broken file, and with a drifted config.json.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn seed() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/seed/gitlab-mattermost.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// The first fenced block after a heading of the seed.
fn seed_block(heading: &str) -> String {
    let text = seed();
    let at = text
        .find(heading)
        .unwrap_or_else(|| panic!("heading {heading:?}"));
    let rest = &text[at..];
    let open = rest.find("```").unwrap();
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn explain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mm-harness"))
        .arg("config")
        .arg("explain")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mm-harness")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn split_server_snippet_shows_the_seven_gitlab_settings_with_mm_names() {
    let dir = tempfile::tempdir().unwrap();
    let rb = write(
        dir.path(),
        "gitlab.rb",
        &seed_block("## Running GitLab Mattermost on its own server"),
    );
    let rb = rb.to_str().unwrap();
    let out = explain(&[rb]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for (path, var) in [
        (
            "GitLabSettings.Enable = \"true\"",
            "MM_GITLABSETTINGS_ENABLE",
        ),
        ("GitLabSettings.Id = \"12345656\"", "MM_GITLABSETTINGS_ID"),
        (
            "GitLabSettings.Secret = ********************************",
            "MM_GITLABSETTINGS_SECRET",
        ),
        ("GitLabSettings.Scope = \"\"", "MM_GITLABSETTINGS_SCOPE"),
        (
            "GitLabSettings.AuthEndpoint = \"http://gitlab.example.com/oauth/authorize\"",
            "MM_GITLABSETTINGS_AUTHENDPOINT",
        ),
        (
            "GitLabSettings.TokenEndpoint = \"http://gitlab.example.com/oauth/token\"",
            "MM_GITLABSETTINGS_TOKENENDPOINT",
        ),
        (
            "GitLabSettings.UserAPIEndpoint = \"http://gitlab.example.com/api/v3/user\"",
            "MM_GITLABSETTINGS_USERAPIENDPOINT",
        ),
    ] {
        let at = text
            .find(path)
            .unwrap_or_else(|| panic!("{path} missing in:\n{text}"));
        let detail = text[at..].lines().nth(1).unwrap();
        assert!(detail.contains(var), "{path}: {detail}");
        assert!(detail.contains("gitlab.rb:"), "{path}: {detail}");
    }
    assert!(!text.contains("123456789"), "secret leaked:\n{text}");
    assert!(
        text.contains("GitLab Rails: off, bundled Mattermost: on"),
        "{text}"
    );

    // JSON: the same seven settings, each with its source line.
    let out = explain(&["--format", "json", rb]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let settings = json["settings"].as_array().unwrap();
    let gitlab: Vec<_> = settings
        .iter()
        .filter(|s| s["path"].as_str().unwrap().starts_with("GitLabSettings."))
        .collect();
    assert_eq!(gitlab.len(), 7);
    for s in gitlab {
        assert!(
            s["env_var"]
                .as_str()
                .unwrap()
                .starts_with("MM_GITLABSETTINGS_")
        );
        assert!(s["source"]["location"]["line"].as_u64().unwrap() >= 5);
    }
    assert!(!stdout(&out).contains("123456789"));
}

#[test]
fn smtp_snippet_keys_are_dropped_on_gitlab_18_and_applied_on_8() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = seed_block("If you are using SMTP without TLS");
    let rb = write(dir.path(), "gitlab.rb", &smtp);
    let rb = rb.to_str().unwrap();
    let out = explain(&["--gitlab-version", "18.11", rb]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for key in [
        "email_enable_sign_in_with_email",
        "email_smtp_username",
        "email_smtp_password",
        "email_smtp_server",
        "email_smtp_port",
        "email_connection_security",
        "email_feedback_email",
    ] {
        assert!(
            text.contains(&format!(
                "warning: `mattermost['{key}']` does nothing on GitLab 18.11"
            )),
            "{key}:\n{text}"
        );
    }
    assert!(text.contains("MM_EMAILSETTINGS_SMTPSERVER"), "{text}");
    assert!(text.contains("10 warning(s)"), "{text}");

    let out = explain(&["--gitlab-version", "8.12", rb]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(!text.contains("does nothing"), "{text}");
    assert!(
        text.contains("EmailSettings.SMTPServer = \"smtp.example.com\""),
        "{text}"
    );
    assert!(
        text.contains("EmailSettings.ConnectionSecurity = \"\""),
        "{text}"
    );
    assert!(
        text.contains("EmailSettings.SMTPPassword = ********************************"),
        "{text}"
    );
}

#[test]
fn unparsable_input_exits_2_with_location_and_caret() {
    let dir = tempfile::tempdir().unwrap();
    let rb = write(
        dir.path(),
        "gitlab.rb",
        "external_url 'http://gitlab.example.com'\nmattermost['gitlab_enable'] = [true\nmattermost['gitlab_id'] = 'x'\n",
    );
    let out = explain(&[rb.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("error: unclosed `[`"), "{err}");
    assert!(err.contains("gitlab.rb:2:31"), "{err}");
    assert!(
        err.contains("2 | mattermost['gitlab_enable'] = [true"),
        "{err}"
    );
    assert!(err.contains("  |                               ^"), "{err}");

    let missing = explain(&[dir.path().join("missing.rb").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read"));
    let bad_version = explain(&["--gitlab-version", "eighteen", rb.to_str().unwrap()]);
    assert_eq!(bad_version.status.code(), Some(2));
}

#[test]
fn gitlab_version_before_bundled_mattermost_is_bad_input() {
    // Regression: `--gitlab-version 7` explained the file as GitLab 7.0.0 on the 8.12 tables.
    let dir = tempfile::tempdir().unwrap();
    let rb = write(
        dir.path(),
        "gitlab.rb",
        "mattermost_external_url 'http://m.example.com'\n",
    );
    let out = explain(&["--gitlab-version", "7.14", rb.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("GitLab 7.14.0 has no bundled Mattermost"),
        "{err}"
    );
}

#[test]
fn drift_against_config_json_is_reported_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let rb = write(
        dir.path(),
        "gitlab.rb",
        "mattermost_external_url 'http://mattermost.example.com'\n\
         mattermost['service_enable_incoming_webhooks'] = true\n\
         mattermost['gitlab_secret'] = 'from-gitlab-rb'\n",
    );
    let cfg = write(
        dir.path(),
        "config.json",
        "{\n  \"ServiceSettings\": {\n    \"SiteURL\": \"http://mattermost.example.com\",\n    \"EnableIncomingWebhooks\": false\n  },\n  \"GitLabSettings\": {\n    \"Secret\": \"from-console\"\n  }\n}\n",
    );
    let out = explain(&[
        "--gitlab-version",
        "8.12",
        "--config-json",
        cfg.to_str().unwrap(),
        rb.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "ServiceSettings.EnableIncomingWebhooks is false in config.json but true from gitlab.rb"
        ),
        "{text}"
    );
    assert!(text.contains("config.json:4:5"), "{text}");
    assert!(text.contains("rewrites config.json"), "{text}");
    // omnibus 8.12 leaves SiteURL "" (the derivation arrived in 9.2): the Console's SiteURL is
    // drift too, and reverting it would break SSO, so the advice is to keep it.
    assert!(text.contains("3 drifted"), "{text}");
    assert!(
        text.contains("ServiceSettings.SiteURL is \"http://mattermost.example.com\" in config.json but \"\" from gitlab.rb"),
        "{text}"
    );
    assert!(text.contains("GitLab SSO depends on this value"), "{text}");
    assert!(
        !text.contains("from-gitlab-rb") && !text.contains("from-console"),
        "{text}"
    );

    let bad = write(
        dir.path(),
        "bad.json",
        "{ \"ServiceSettings\": { \"SiteURL\": } }",
    );
    let out = explain(&["--config-json", bad.to_str().unwrap(), rb.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.json:1:"), "{}", stderr(&out));
}
