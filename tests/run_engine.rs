//! The run engine under stress, through the built binary as a user and CI call it: no scenario
//! result is ever lost (a panicking step becomes an `error` with its message, exit 101), every
//! step and scenario has a deadline, failures keep their kind into JSON, JUnit and the exit code,
//! SIGINT/SIGTERM stop a run with a partial report (exit 130), and what a hostile server echoes
//! (passwords, control characters) never reaches a report raw. The servers here are tiny
//! loopback HTTP servers written in the test (std threads), standing in for a live installation.

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mm-harness"));
    c.env("NO_COLOR", "1");
    c
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not a JSON report ({e}): {out}"))
}

/// A scenario on the twin's GitLab side only (fast: no Mattermost), four steps.
const GITLAB_ONLY: &str = r#"
name = "gitlab-apps"
summary = "an administrator creates and revokes an OAuth application"
seed = "Authorise GitLab Mattermost"

[hosts.gitlab]
gitlab_rb = '''
external_url 'https://gitlab.example.com'
nginx['redirect_http_to_https'] = true
'''

[[steps]]
gitlab.create_oauth_app = { as = "app", callbacks = ["http://mattermost.example.com/signup/gitlab/complete"] }

[[steps]]
gitlab.revoke_oauth_app = { app = "app" }

[[steps]]
https.certificate = { service = "gitlab" }

[[steps]]
https.redirect = { service = "gitlab" }
expect = { redirect = { status = 301, location = "https://gitlab.example.com/" } }
"#;

fn named(name: &str) -> String {
    GITLAB_ONLY.replace("name = \"gitlab-apps\"", &format!("name = \"{name}\""))
}

fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("scenarios")).expect("mkdir");
    for (name, body) in files {
        std::fs::write(dir.path().join("scenarios").join(name), body).expect("write");
    }
    dir
}

fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = bin();
    c.current_dir(dir).arg("run").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run the binary")
}

/// Run in `dir`, assert the exit code, return (stdout, stderr).
fn run_expect(dir: &Path, args: &[&str], env: &[(&str, &str)], code: i32) -> (String, String) {
    let o = run_in(dir, args, env);
    let (out, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{out}\nstderr:\n{err}"
    );
    (out, err)
}

/// The hidden hook that makes one step panic (debug builds only; see `run::runner`).
const PANIC_AT: &str = "MM_HARNESS_INTERNAL_PANIC_AT";

#[test]
fn a_panicking_step_is_an_error_result_not_a_lost_one() {
    let dir = workspace(&[
        ("a-panics.toml", &named("a-panics")),
        ("b-passes.toml", &named("b-passes")),
    ]);
    let (out, err) = run_expect(
        dir.path(),
        &["--update-snapshots", "--format", "json"],
        &[(PANIC_AT, "a-panics:2")],
        101,
    );
    let v = json(&out);
    let scenarios = v["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 2, "every scenario has its result: {out}");
    assert_eq!(v["errors"], 1, "{out}");
    assert_eq!(v["passed"], 1, "the next scenario still ran: {out}");
    let a = &scenarios[0];
    assert_eq!(a["name"], "a-panics");
    assert_eq!(a["status"], "error", "{out}");
    assert_eq!(a["failure"]["kind"], "harness_bug", "{out}");
    let reason = a["failure"]["message"].as_str().unwrap_or_default();
    assert!(reason.contains("step 2"), "{out}");
    assert!(
        reason.contains("injected panic"),
        "the panic message: {out}"
    );
    assert_eq!(a["steps"][0]["status"], "passed", "{out}");
    assert_eq!(a["steps"][1]["status"], "failed", "{out}");
    assert_eq!(a["steps"][2]["status"], "not_run", "{out}");
    assert!(err.contains("injected panic"), "{err}");

    // The human report shows it too, and says how many errored.
    let (out, _) = run_expect(dir.path(), &[], &[(PANIC_AT, "a-panics:2")], 101);
    assert!(out.contains("ERROR a-panics"), "{out}");
    assert!(
        out.contains("1 passed, 0 failed, 0 skipped, 1 errors"),
        "{out}"
    );
}
