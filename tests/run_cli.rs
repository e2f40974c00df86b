//! `mm-harness run` as a user and CI call it: the built binary, its exit codes (0/1/2/3), its error
//! messages, the JSON and JUnit reports, snapshot mismatch and update, shards and tags. The
//! scenarios here use the twin's GitLab side only (applications API and admin area, TLS, the
//! http→https redirect), written into a temporary directory.

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

const GITLAB_ONLY: &str = r#"
name = "gitlab-apps"
summary = "an administrator creates and revokes an OAuth application over https"
seed = "Authorise GitLab Mattermost"
tags = ["admin"]

[hosts.gitlab]
gitlab_rb = '''
external_url 'https://gitlab.example.com'
nginx['redirect_http_to_https'] = true
'''

[[steps]]
gitlab.create_oauth_app = { as = "app", callbacks = ["http://mattermost.example.com/signup/gitlab/complete", "http://mattermost.example.com/login/gitlab/complete"] }

[[steps]]
gitlab.revoke_oauth_app = { app = "app" }

[[steps]]
https.certificate = { service = "gitlab" }
expect = { certificate = { subject_cn = "gitlab.example.com", san = "gitlab.example.com", trusted = true } }

[[steps]]
https.redirect = { service = "gitlab" }
expect = { redirect = { status = 301, location = "https://gitlab.example.com/" } }
"#;

fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("scenarios")).expect("mkdir");
    for (name, body) in files {
        std::fs::write(dir.path().join("scenarios").join(name), body).expect("write");
    }
    dir
}

/// `mm-harness run --no-embedded ARGS` in `dir`: the scenarios of `dir/scenarios` only, without
/// the suite shipped in the binary (`scenarios_cmd` tests that one).
fn run_in(dir: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(dir)
        .arg("run")
        .arg("--no-embedded")
        .args(args)
        .output()
        .expect("run the binary")
}

/// Run in `dir`, assert the exit code, return (stdout, stderr).
fn run_expect(dir: &Path, args: &[&str], code: i32) -> (String, String) {
    let o = run_in(dir, args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(code), "{out}{err}");
    (out, err)
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not a JSON report ({e}): {out}"))
}

/// Why the i-th scenario of a JSON report was skipped ("" when it was not).
fn skip_reason(v: &serde_json::Value, i: usize) -> &str {
    v["scenarios"][i]["reason"].as_str().unwrap_or_default()
}

/// A temporary project holding the one GitLab-only scenario.
fn gitlab_apps() -> tempfile::TempDir {
    workspace(&[("gitlab-apps.toml", GITLAB_ONLY)])
}

#[test]
fn docker_target_without_an_engine_is_exit_3() {
    let dir = gitlab_apps();
    let o = bin()
        .current_dir(dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/mm-harness-docker.sock")
        .args(["run", "--target", "docker"])
        .output()
        .expect("run the binary");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    assert!(format!("{out}{err}").contains("DOCKER_HOST"), "{out}{err}");
}

#[test]
fn unknown_scenario_name_is_bad_input_with_a_suggestion() {
    let dir = gitlab_apps();
    let (_, err) = run_expect(dir.path(), &["gitlab-ap"], 2);
    assert!(err.contains("did you mean `gitlab-apps`?"), "{err}");
}

#[test]
fn unknown_scenario_name_far_from_any_lists_the_known_scenarios() {
    let dir = gitlab_apps();
    let (_, err) = run_expect(dir.path(), &["zzz"], 2);
    assert!(
        err.contains("no scenario named or at \"zzz\"; known scenarios: gitlab-apps"),
        "{err}"
    );
}

#[test]
fn invalid_scenario_file_is_bad_input_with_position_and_caret() {
    let bad = GITLAB_ONLY.replace("gitlab.revoke_oauth_app", "gitlab.revoke_oauth_ap");
    let dir = workspace(&[("gitlab-apps.toml", &bad)]);
    let (_, err) = run_expect(dir.path(), &[], 2);
    assert!(err.contains("scenarios/gitlab-apps.toml:17:8"), "{err}");
    assert!(err.contains("^^^^"), "{err}");
    assert!(
        err.contains("did you mean `gitlab.revoke_oauth_app`?"),
        "{err}"
    );
}

#[test]
fn a_new_snapshot_fails_until_written_then_passes() {
    let dir = gitlab_apps();
    let (out, _) = run_expect(dir.path(), &[], 1);
    assert!(out.contains("no snapshot stored"), "{out}");

    run_expect(dir.path(), &["--update-snapshots"], 0);
    let snap = std::fs::read_to_string(dir.path().join("snapshots/gitlab-apps.snap"))
        .expect("snapshot written");
    assert!(snap.starts_with("---\n"), "{snap}");
    assert!(snap.contains("DELETE https://gitlab.example.com/api/v4/applications/[app-record-1]"));
    assert!(!snap.contains("Twin-root-pass1"));

    let (out, _) = run_expect(dir.path(), &[], 0);
    assert!(out.contains("1 passed, 0 failed"), "{out}");
    assert!(!out.contains('\u{1b}'), "NO_COLOR output has escape codes");
}

#[test]
fn a_changed_transcript_shows_a_diff_and_exits_1() {
    let dir = gitlab_apps();
    std::fs::create_dir_all(dir.path().join("snapshots")).expect("mkdir");
    std::fs::write(
        dir.path().join("snapshots/gitlab-apps.snap"),
        "---\nsource: tests/scenarios.rs\nexpression: transcript\n---\n== step 1: something else\n",
    )
    .expect("write");
    let (out, _) = run_expect(dir.path(), &[], 1);
    assert!(out.contains("snapshot mismatch"), "{out}");
    assert!(out.contains("-== step 1: something else"), "{out}");
    assert!(out.contains("+== step 1: gitlab.create_oauth_app"), "{out}");
}

#[test]
fn json_and_junit_reports() {
    let dir = gitlab_apps();
    let (out, _) = run_expect(dir.path(), &["--update-snapshots", "--format", "json"], 0);
    let v = json(&out);
    assert_eq!(v["passed"], 1);
    assert_eq!(v["scenarios"][0]["name"], "gitlab-apps");
    assert_eq!(v["scenarios"][0]["steps"].as_array().map(Vec::len), Some(4));
    assert_eq!(v["scenarios"][0]["steps"][0]["status"], "passed");
    // A new snapshot, written by --update-snapshots (was `"snapshot": {"snapshot": ...}`).
    assert_eq!(v["scenarios"][0]["snapshot"]["status"], "missing", "{out}");
    assert_eq!(v["scenarios"][0]["snapshot"]["written"], true, "{out}");

    let (human, _) = run_expect(dir.path(), &["--junit", "report.xml"], 0);
    let file = std::fs::read_to_string(dir.path().join("report.xml")).expect("--junit file");
    assert!(file.contains("<testsuite name=\"gitlab-apps\""), "{file}");
    assert!(human.contains("PASS gitlab-apps"), "{human}");

    let (out, _) = run_expect(dir.path(), &["--format", "junit"], 0);
    assert!(out.starts_with("<?xml"), "{out}");
    assert!(out.contains("<testsuite name=\"gitlab-apps\""), "{out}");
    assert!(out.contains("step 1: gitlab.create_oauth_app"), "{out}");
    assert!(
        out.contains("classname=\"Authorise GitLab Mattermost\""),
        "{out}"
    );
}

#[test]
fn shards_and_tags_select_scenarios() {
    let second = GITLAB_ONLY
        .replace("name = \"gitlab-apps\"", "name = \"gitlab-apps-2\"")
        .replace("tags = [\"admin\"]", "tags = [\"other\"]");
    let dir = workspace(&[
        ("gitlab-apps.toml", GITLAB_ONLY),
        ("gitlab-apps-2.toml", &second),
    ]);
    let (out, _) = run_expect(
        dir.path(),
        &["--update-snapshots", "--format", "json", "--shard", "2/2"],
        0,
    );
    let v = json(&out);
    assert_eq!(v["scenarios"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["scenarios"][0]["name"], "gitlab-apps-2");

    let (out, _) = run_expect(
        dir.path(),
        &[
            "--update-snapshots",
            "--format",
            "json",
            "--tag",
            "admin",
            "--jobs",
            "2",
        ],
        0,
    );
    let v = json(&out);
    assert_eq!(v["scenarios"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["scenarios"][0]["name"], "gitlab-apps");

    run_expect(dir.path(), &["--shard", "3/2"], 2);
}

#[test]
fn live_target_needs_urls_and_reports_unreachable_as_environment() {
    let dir = gitlab_apps();
    run_expect(dir.path(), &["--target", "live"], 2);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/");
    // Without the GitLab administrator's credentials that is bad input, found before connecting.
    let args = [
        "--target",
        "live",
        "--gitlab-url",
        &url,
        "--allow-writes",
        "--timeout",
        "2",
    ];
    let (_, err) = run_expect(dir.path(), &args, 2);
    assert!(
        err.contains("error: MM_HARNESS_GITLAB_ROOT_USER is not set"),
        "{err}"
    );
    let o = bin()
        .current_dir(dir.path())
        .args(["run", "--no-embedded"])
        .args(args)
        .env("MM_HARNESS_GITLAB_ROOT_USER", "root")
        .env("MM_HARNESS_GITLAB_ROOT_PASSWORD", "not-used")
        .output()
        .expect("run");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    assert!(out.contains("unreachable"), "{out}");
}

#[test]
fn live_target_is_read_only_without_allow_writes() {
    let dir = gitlab_apps();
    let (out, _) = run_expect(
        dir.path(),
        &[
            "--target",
            "live",
            "--gitlab-url",
            "http://127.0.0.1:9/",
            "--format",
            "json",
        ],
        0,
    );
    let v = json(&out);
    assert_eq!(v["skipped"], 1);
    assert!(skip_reason(&v, 0).contains("--allow-writes"), "{out}");
}

/// The live target against a running installation — here the twin, started in this process and
/// reached only through `--resolve`, with every credential from the environment, exactly as an
/// operator would point the harness at production. Nothing twin-specific reaches the drivers.
#[test]
fn live_target_drives_a_running_installation_through_resolve() {
    use mm_harness::config::Profile;
    use mm_harness::twin::bringup::{Twin, TwinOptions};

    mm_harness::crypto::install_default_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let opts = TwinOptions::single_server(Profile::Gitlab18_11);
    let alice = opts
        .gitlab_users
        .iter()
        .find(|u| u.username == "alice")
        .expect("alice")
        .password
        .expose()
        .to_string();
    let twin = rt.block_on(Twin::start(opts)).expect("twin starts");
    let mm = twin.mattermost().expect("mattermost");
    let mut resolve = Vec::new();
    for e in &twin.address_book().entries {
        resolve.push("--resolve".to_string());
        resolve.push(format!("{}:{}:{}", e.host, e.port, e.addr));
    }
    let smoke = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml"),
    )
    .expect("smoke scenario");
    let dir = workspace(&[("smoke.toml", &smoke)]);
    let mut args = vec![
        "--no-embedded",
        "--target",
        "live",
        "--gitlab-url",
        "http://gitlab.example.com",
        "--mattermost-url",
        "http://mattermost.example.com",
        "--update-snapshots",
        "--format",
        "json",
    ];
    args.extend(resolve.iter().map(String::as_str));
    let o = bin()
        .current_dir(dir.path())
        .arg("run")
        .args(&args)
        .env("MM_HARNESS_USER_ALICE_PASSWORD", &alice)
        .env("MM_HARNESS_MATTERMOST_ADMIN_USER", &mm.admin_username)
        .env(
            "MM_HARNESS_MATTERMOST_ADMIN_PASSWORD",
            mm.admin_password.expose(),
        )
        .output()
        .expect("run");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let v = json(&out);
    assert_eq!(v["target"], "live");
    assert_eq!(v["passed"], 1, "{out}");
    let transcript = v["scenarios"][0]["transcript"].as_str().unwrap_or_default();
    assert!(
        transcript.contains("signed in: alice <alice@example.com> auth_service=gitlab"),
        "{transcript}"
    );
    assert!(
        !transcript.contains(&alice),
        "a password reached the transcript"
    );
    // The live snapshot is kept apart from the twin's.
    assert!(dir.path().join("snapshots/smoke@live.snap").is_file());
    rt.block_on(twin.shutdown());
}

#[test]
fn a_failed_expectation_names_the_step_line_and_the_difference() {
    let wrong = GITLAB_ONLY.replace(
        "san = \"gitlab.example.com\", trusted = true",
        "san = \"mattermost.example.com\", trusted = true",
    );
    let dir = workspace(&[("gitlab-apps.toml", &wrong)]);
    let (out, _) = run_expect(dir.path(), &["--update-snapshots"], 1);
    assert!(out.contains("FAIL gitlab-apps"), "{out}");
    assert!(
        out.contains("FAILED step 3: https.certificate service=gitlab"),
        "{out}"
    );
    assert!(out.contains("--> scenarios/gitlab-apps.toml:20:7"), "{out}");
    assert!(
        out.contains(
            "the certificate's SANs [gitlab.example.com] do not include \"mattermost.example.com\""
        ),
        "{out}"
    );
    // The failed scenario's normalised transcript is shown, and no snapshot is written for it.
    assert!(
        out.contains("| == step 3: https.certificate service=gitlab"),
        "{out}"
    );
    assert!(!dir.path().join("snapshots/gitlab-apps.snap").exists());
}

#[test]
fn fail_fast_stops_starting_scenarios() {
    let wrong = GITLAB_ONLY
        .replace("name = \"gitlab-apps\"", "name = \"a-fails\"")
        .replace("status = 301", "status = 302");
    let dir = workspace(&[
        ("a-fails.toml", &wrong),
        (
            "b-passes.toml",
            &GITLAB_ONLY.replace("name = \"gitlab-apps\"", "name = \"b-passes\""),
        ),
    ]);
    let (out, _) = run_expect(
        dir.path(),
        // One at a time: with more, the second starts before the first fails.
        &[
            "--fail-fast",
            "--jobs",
            "1",
            "--update-snapshots",
            "--format",
            "json",
        ],
        1,
    );
    let v = json(&out);
    assert_eq!(v["failed"], 1, "{out}");
    assert_eq!(v["skipped"], 1, "{out}");
    assert_eq!(v["scenarios"][1]["name"], "b-passes");
    assert!(skip_reason(&v, 1).contains("--fail-fast"), "{out}");
}

#[test]
fn a_scenario_path_runs_outside_the_project_directory() {
    // Regression: naming a file by path read ./scenarios first and failed when it did not exist.
    let dir = gitlab_apps();
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("scenarios/gitlab-apps.toml");
    // Outside a project directory, new snapshots go where the user says.
    let (_, err) = run_expect(
        elsewhere.path(),
        &[file.to_str().expect("utf-8 path"), "--update-snapshots"],
        2,
    );
    assert!(err.contains("pass --snapshot-dir DIR"), "{err}");
    let (out, _) = run_expect(
        elsewhere.path(),
        &[
            file.to_str().expect("utf-8 path"),
            "--update-snapshots",
            "--snapshot-dir",
            "snaps",
        ],
        0,
    );
    assert!(elsewhere.path().join("snaps/gitlab-apps.snap").is_file());
    assert!(out.contains("1 passed, 0 failed"), "{out}");
    // Without a path and without the shipped suite, the missing directory is named.
    let (_, err) = run_expect(elsewhere.path(), &[], 2);
    assert!(
        err.contains("cannot read the scenario directory `scenarios`"),
        "{err}"
    );
    assert!(err.contains("--scenario-dir"), "{err}");
}

#[test]
fn a_misspelt_tag_is_bad_input_not_an_empty_green_run() {
    // Regression: `--tag admn` selected nothing and exited 0, so a CI job with a typo passed.
    let dir = gitlab_apps();
    let (_, err) = run_expect(dir.path(), &["--tag", "admn"], 2);
    assert!(
        err.contains("no scenario is tagged \"admn\" (did you mean `admin`?)"),
        "{err}"
    );
    // An empty shard is not an error, and the warning reads as a sentence.
    let (_, err) = run_expect(dir.path(), &["--shard", "2/2"], 0);
    assert!(
        err.contains("warning: no scenario in shard 2/2 to run"),
        "{err}"
    );
}

#[test]
fn a_directory_given_as_a_scenario_points_at_scenario_dir() {
    let dir = gitlab_apps();
    let (_, err) = run_expect(dir.path(), &["scenarios"], 2);
    assert!(
        err.contains("did you mean `--scenario-dir scenarios`?"),
        "{err}"
    );
}
