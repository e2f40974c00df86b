//! Upgrades and data on the docker target, for real: the Docker engine on this machine and twin
//! images built from the binary under test. A twin container keeps GitLab's and Mattermost's
//! databases on its `/var/opt/gitlab` volume (`twin::persist`), so a container created again on
//! the volume — another image's (`gitlab.upgrade`), another environment's (`host.reconfigure`) —
//! starts on them, a 3.x release replaying its migrations; a corrupt state file stops the start
//! with the file named. Per-version images (`twin image --gitlab-version`) carry their version.
//!
//! Without a Docker engine these tests print why and return, except under `CI=true`.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::docker::{bin, docker, docker_available, leftovers, report, serial, text};

/// A twin image of the binary under test under a tag of this test process (other worktrees
/// build `mm-twin:local` from their own binaries on the same engine), removed on drop.
struct Image(String);

impl Image {
    fn build(version: Option<&str>) -> Image {
        let tag = format!(
            "mm-twin-test:{}-{}",
            std::process::id(),
            version.unwrap_or("any")
        );
        let mut c = bin();
        c.args(["twin", "image", "--tag", &tag]);
        if let Some(v) = version {
            c.args(["--gitlab-version", v]);
        }
        let o = c.output().expect("run twin image");
        assert!(o.status.success(), "twin image failed: {}", text(&o));
        Image(tag)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

#[test]
fn upgrades_swap_per_version_images_over_the_same_volumes() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    let v10 = Image::build(Some("8.10"));
    let v11 = Image::build(Some("8.11"));
    let v12 = Image::build(Some("8.12"));
    // The version is in the image, as gitlab/gitlab-ce:8.12.0-ce.0 knows its own.
    let env = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        &v10.0,
    ]);
    assert!(
        String::from_utf8_lossy(&env.stdout).contains("MM_TWIN_GITLAB_VERSION=8.10.0"),
        "{}",
        text(&env)
    );
    // No plain --gitlab-image: every container comes from its version's image, told nothing.
    let child = bin()
        .args([
            "run",
            "--target",
            "docker",
            "--format",
            "json",
            "--ready-timeout",
            "120",
        ])
        .args(["--gitlab-image", &format!("8.10={}", v10.0)])
        .args(["--gitlab-image", &format!("8.11={}", v11.0)])
        .args(["--gitlab-image", &format!("8.12={}", v12.0)])
        .args([
            "upgrade-3.2-to-3.4-sql-fix",
            "upgrade-3.2-to-3.4-incomplete",
            "upgrade-3.2-via-3.3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mm-harness");
    let pid = child.id();
    let o = child.wait_with_output().expect("wait");
    let r = report(&o);
    // Passing includes the snapshot check: each transcript equals the twin target's (theme lost
    // without the SQL fix, restored with it, migrations logged step by step).
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let statuses: Vec<&serde_json::Value> = r["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| &s["status"])
        .collect();
    assert_eq!(statuses, vec!["passed"; 3], "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("docker: stack").count(), 3, "{err}");
    assert_eq!(leftovers(pid), Vec::<String>::new());
    // An image missing for the target version is exit 3 with what to do.
    let o = bin()
        .args(["run", "--target", "docker", "--ready-timeout", "60"])
        .args(["--gitlab-image", &format!("8.10={}", v10.0)])
        .args(["--gitlab-image", "8.12=mm-twin:no-such-tag"])
        .arg("upgrade-3.2-to-3.4-incomplete")
        .output()
        .expect("run");
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("mm-twin:no-such-tag"), "{}", text(&o));
    // Two images for one version, or a version that is none, is bad input.
    for bad in [
        ["--gitlab-image", "8.12=a", "--gitlab-image", "8.12.1=b"],
        ["--gitlab-image", "x=a", "--gitlab-image", "8.12=b"],
    ] {
        let o = bin()
            .args(["run", "--target", "docker"])
            .args(bad)
            .arg("upgrade-3.2-to-3.4-incomplete")
            .output()
            .expect("run");
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    }
}

/// A twin container by hand: `docker run` on a labelled volume, as an operator would.
struct Manual {
    volume: String,
    label: String,
    pid_label: String,
}

impl Manual {
    fn new() -> Manual {
        let id = format!(
            "{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        );
        let m = Manual {
            volume: format!("mm-harness-test-data-{id}"),
            label: format!("mm-harness.stack=test-{id}"),
            pid_label: format!("mm-harness.pid={}", std::process::id()),
        };
        let o = docker(&[
            "volume",
            "create",
            "--label",
            &m.label,
            "--label",
            &m.pid_label,
            &m.volume,
        ]);
        assert!(o.status.success(), "{}", text(&o));
        m
    }

    /// Start a container on the volume; its id.
    fn start(&self, image: &str, gitlab_rb: &str, version: Option<&str>) -> String {
        let mount = format!("{}:/var/opt/gitlab", self.volume);
        let rb = format!("GITLAB_OMNIBUS_CONFIG={gitlab_rb}");
        let mut args = vec![
            "run",
            "-d",
            "--label",
            &self.label,
            "--label",
            &self.pid_label,
            "-v",
            &mount,
            "-e",
            &rb,
        ];
        let v;
        if let Some(version) = version {
            v = format!("MM_TWIN_GITLAB_VERSION={version}");
            args.extend(["-e", v.as_str()]);
        }
        args.push(image);
        let o = docker(&args);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Wait until the container says it is ready (or exits); its output.
    fn wait(&self, id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // The state first, then the logs: a container seen exited has written all it will
            // (reading the logs first could miss the last lines of a container that exits in
            // between; "created" is not an end, under load `docker start` may not have run yet).
            let status = String::from_utf8_lossy(
                &docker(&["inspect", "--format", "{{.State.Status}}", id]).stdout,
            )
            .trim()
            .to_string();
            let out = text(&docker(&["logs", id]));
            if out.contains("mm-twin: ready") || status == "exited" || status == "dead" {
                return out;
            }
            assert!(Instant::now() < deadline, "not ready in 60 s: {out}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn exec(&self, id: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", id];
        args.extend(cmd);
        docker(&args)
    }

    fn stop(&self, id: &str) {
        let o = docker(&["stop", "-t", "20", id]);
        assert!(o.status.success(), "{}", text(&o));
    }
}

impl Drop for Manual {
    fn drop(&mut self) {
        let o = docker(&["ps", "-aq", "--filter", &format!("label={}", self.label)]);
        for id in String::from_utf8_lossy(&o.stdout).lines() {
            let _ = docker(&["rm", "-f", "-v", id.trim()]);
        }
        let _ = docker(&["volume", "rm", "-f", &self.volume]);
    }
}

const RB_812: &str = "external_url 'http://gitlab.example.com'\nmattermost_external_url 'http://mattermost.example.com'\n";

#[test]
fn a_twin_container_keeps_its_data_on_its_volume_and_refuses_a_corrupt_state() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    let img = Image::build(None);
    let m = Manual::new();
    // First start on an empty volume: GitLab 8.10, its Mattermost 3.2 installs a fresh database.
    let a = m.start(&img.0, RB_812, Some("8.10"));
    let out = m.wait(&a);
    assert!(out.contains("mm-twin: ready"), "{out}");
    assert!(!out.contains("restoring"), "{out}");
    let seed = "mm_harness_user('carol', 'carol@example.com', 'Carol', 'Carol-pass-1')\n";
    let o = m.exec(&a, &["gitlab-rails", "runner", seed]);
    assert!(text(&o).contains("user carol created"), "{}", text(&o));
    // The seed's SQL through gitlab-psql, answered with psql's command tag.
    let sql = "UPDATE Systems SET Value = '3.1.0' WHERE Name = 'Version';";
    let o = m.exec(
        &a,
        &["gitlab-psql", "-d", "mattermost_production", "-c", sql],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "UPDATE 1",
        "{}",
        text(&o)
    );
    let o = m.exec(
        &a,
        &[
            "gitlab-psql",
            "-d",
            "mattermost_production",
            "-c",
            "DROP TABLE Users",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("ERROR:"),
        "{}",
        text(&o)
    );
    m.stop(&a);

    // Another container, another environment (GitLab 8.11, incoming webhooks on: what
    // host.reconfigure and gitlab.upgrade do), same volume: the data is there, and Mattermost 3.3
    // upgrades the database the SQL set back to 3.1.0 — refusing it, as 3.3 supports 3.1.
    let rb = format!("{RB_812}mattermost['service_enable_incoming_webhooks'] = true\n");
    let b = m.start(&img.0, &rb, Some("8.11"));
    let out = m.wait(&b);
    assert!(
        out.contains("restoring the state GitLab 8.10.0 left"),
        "{out}"
    );
    assert!(
        out.contains("mm-twin: mattermost log: The database schema version of 3.1.0 appears to be out of date"),
        "{out}"
    );
    assert!(
        out.contains(
            "mm-twin: mattermost log: The database schema has been upgraded to version 3.3.0"
        ),
        "{out}"
    );
    let o = m.exec(&b, &["gitlab-rails", "runner", seed]);
    assert!(text(&o).contains("user carol exists"), "{}", text(&o));
    m.stop(&b);

    // A corrupt state file: the next start fails at once, naming the file and the place.
    let scratch = tempfile::tempdir().expect("tempdir");
    let bad = scratch.path().join("state.json");
    std::fs::write(
        &bad,
        "{\"format\": 1, \"gitlab_version\": \"8.11.0\", \"gitlab\": [",
    )
    .unwrap();
    let o = docker(&[
        "cp",
        &bad.display().to_string(),
        &format!("{b}:/var/opt/gitlab/mm-twin/state.json"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let c = m.start(&img.0, RB_812, Some("8.12"));
    let out = m.wait(&c);
    let code = String::from_utf8_lossy(
        &docker(&["inspect", "--format", "{{.State.ExitCode}}", &c]).stdout,
    )
    .trim()
    .to_string();
    assert_ne!(code, "0", "{out}");
    assert!(out.contains("/var/opt/gitlab/mm-twin/state.json"), "{out}");
    assert!(out.contains("not a twin state file"), "{out}");
    assert!(out.contains("move it away"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    drop(m);
    assert_eq!(leftovers(std::process::id()), Vec::<String>::new());
}

/// `host.reconfigure` on docker: the Mattermost user and team made before the reconfigure are
/// there after it (the container re-created on its volumes restored its state; before, it
/// started empty and counted 1 user, 0 teams).
#[test]
fn reconfigure_keeps_the_data() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    let img = Image::build(None);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("scenarios")).expect("mkdir");
    std::fs::write(
        dir.path().join("scenarios/reconfigure-keeps-data.toml"),
        r#"name = "reconfigure-keeps-data"
summary = "a reconfigure (the container created again) keeps users, teams and channels"
seed = "Getting started"
gitlab_version = "8.12"
targets = ["docker"]

[hosts.omnibus]
gitlab_rb = '''
external_url 'http://gitlab.example.com'
mattermost_external_url 'http://mattermost.example.com'
'''

[[steps]]
sso.sign_up = { user = "alice" }
expect = { mattermost_user = { username = "alice", auth_service = "gitlab" } }

[[steps]]
mattermost.create_team = { name = "engineering" }

[[steps]]
host.reconfigure = { host = "omnibus" }

[[steps]]
mattermost.count_data = {}
expect = { data = { users = 2, teams = 1, channels = 2, posts = 0, webhooks = 0 } }

[[steps]]
sso.log_in = { user = "alice" }
expect = { mattermost_user = { username = "alice", auth_service = "gitlab" } }
"#,
    )
    .unwrap();
    let child = bin()
        .current_dir(dir.path())
        .args([
            "run",
            "--target",
            "docker",
            "--format",
            "json",
            "--ready-timeout",
            "120",
        ])
        .args(["--gitlab-image", &img.0, "--update-snapshots"])
        .arg("reconfigure-keeps-data")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        report(&o)["scenarios"][0]["status"],
        "passed",
        "{}",
        text(&o)
    );
    assert_eq!(leftovers(pid), Vec::<String>::new());
    // The transcript shows the count after the reconfigure and the same account signing in.
    let snap = std::fs::read_to_string(
        dir.path()
            .join("snapshots/reconfigure-keeps-data@docker.snap"),
    )
    .expect("snapshot written");
    assert!(snap.contains("signed in: alice"), "{snap}");
}
