//! The production smoke job of docs/ci.md, run as written: its `variables` and its `script` line
//! are read from between the `smoke-job` markers and run with `sh -c` in a fresh directory holding
//! only `./mm-harness` (the built binary) and `ca.pem`, the way a CI runner would — against a real
//! `mm-harness twin up --https` process standing in for the production installation (its URLs,
//! CA file and user password read from what it prints; the documented host names reach it through
//! `MM_HARNESS_RESOLVE`, as the docs tell a runner that cannot resolve them).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The documented job: its variables (in order, values as written) and script lines.
struct Job {
    variables: Vec<(String, String)>,
    script: Vec<String>,
}

/// Read the job between `<!-- smoke-job:begin -->` and `<!-- smoke-job:end -->` in docs/ci.md. The
/// reader knows only the shape the docs use (`variables:` and `script:` blocks of a job); any other
/// shape fails here so the docs and this test move together.
fn documented_job() -> Job {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md"))
        .expect("docs/ci.md");
    let begin = doc
        .find("<!-- smoke-job:begin -->")
        .expect("docs/ci.md has the smoke-job:begin marker");
    let end = doc
        .find("<!-- smoke-job:end -->")
        .expect("docs/ci.md has the smoke-job:end marker");
    let block = &doc[begin..end];
    let yaml = block
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a ```yaml block between the markers");
    let mut job = Job {
        variables: Vec::new(),
        script: Vec::new(),
    };
    let mut section = "";
    for line in yaml.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        match indent {
            0 => section = "",
            2 => {
                section = trimmed.trim_end_matches(':');
                if trimmed.ends_with(':') {
                    continue;
                }
            }
            _ => {}
        }
        match (section, indent) {
            ("variables", 4) => {
                let (k, v) = trimmed
                    .split_once(": ")
                    .unwrap_or_else(|| panic!("a variable line `KEY: VALUE`: {line}"));
                job.variables.push((k.to_string(), v.to_string()));
            }
            ("script", 4) => {
                let cmd = trimmed
                    .strip_prefix("- ")
                    .unwrap_or_else(|| panic!("a script line `- COMMAND`: {line}"));
                job.script.push(cmd.to_string());
            }
            _ => {}
        }
    }
    assert!(!job.variables.is_empty(), "no variables read:\n{yaml}");
    assert_eq!(job.script.len(), 1, "one script line:\n{yaml}");
    job
}

/// GitLab CI's expansion of `$NAME` and `${NAME}` in a variable's value.
fn expand(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            let close = braced.find('}').expect("closing brace");
            (&braced[..close], &braced[close + 1..])
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..len], &after[len..])
        };
        out.push_str(env.get(name).map(String::as_str).unwrap_or_default());
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// A `mm-harness twin up --https` process, and what it printed.
struct TwinUp {
    child: Child,
    /// `HOST:PORT:ADDR` for every http(s) listener.
    resolve: Vec<String>,
    ca_file: String,
    alice_password: String,
    gitlab_url: String,
    mattermost_url: String,
}

impl TwinUp {
    fn start() -> TwinUp {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mm-harness"))
            .args(["twin", "up", "--https"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn twin up");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut up = TwinUp {
            child,
            resolve: Vec::new(),
            ca_file: String::new(),
            alice_password: String::new(),
            gitlab_url: String::new(),
            mattermost_url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut text = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                panic!("twin up printed no ready line within 60 s:\n{text}");
            };
            text.push_str(&line);
            text.push('\n');
            let t = line.trim();
            if let Some((listener, addr)) = t.split_once(" → ")
                && let Some((scheme, host_port)) = listener.trim().split_once("://")
                && matches!(scheme, "http" | "https")
            {
                up.resolve.push(format!("{host_port}:{}", addr.trim()));
            } else if let Some(url) = t.strip_prefix("GitLab ").map(str::trim)
                && url.starts_with("http")
            {
                up.gitlab_url = url.to_string();
            } else if let Some(url) = t.strip_prefix("Mattermost ").map(str::trim)
                && url.starts_with("http")
            {
                up.mattermost_url = url.to_string();
            } else if let Some(pw) = t.strip_prefix("user alice / ") {
                up.alice_password = pw.to_string();
            } else if let Some(path) = t.strip_prefix("CA certificate: ") {
                up.ca_file = path.to_string();
            } else if t.starts_with("Press Ctrl-C") {
                break;
            }
        }
        assert!(!up.resolve.is_empty(), "no listeners:\n{text}");
        assert!(!up.alice_password.is_empty(), "no alice:\n{text}");
        assert!(!up.ca_file.is_empty(), "no CA file:\n{text}");
        up
    }
}

impl Drop for TwinUp {
    fn drop(&mut self) {
        // SIGINT (the documented way to stop it); a twin that does not stop is killed.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CI runner's working copy: `./mm-harness`, the installation's CA as `ca.pem`, nothing else.
fn project_dir(twin: &TwinUp) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_mm-harness"),
        dir.path().join("mm-harness"),
    )
    .expect("symlink the binary");
    std::fs::copy(&twin.ca_file, dir.path().join("ca.pem")).expect("copy the CA");
    dir
}

/// Run `script` with `sh -c` in `dir`, in the environment a runner gives the job: the project's
/// CI/CD variables, the job's `variables` expanded with them, and the name resolution.
fn run_job(dir: &Path, twin: &TwinUp, job: &Job, script: &str, leave_out: Option<&str>) -> Output {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("CI_PROJECT_DIR".into(), dir.to_str().expect("utf-8").into());
    env.insert("SMOKE_USER_PASSWORD".into(), twin.alice_password.clone());
    for (k, v) in &job.variables {
        let value = expand(v, &env);
        env.insert(k.clone(), value);
    }
    if let Some(k) = leave_out {
        env.remove(k);
    }
    env.insert("MM_HARNESS_RESOLVE".into(), twin.resolve.join(","));
    env.insert("NO_COLOR".into(), "1".into());
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("MM_HARNESS_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(&env).output().expect("run sh")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_documented_smoke_job_passes_on_its_first_run_and_names_missing_configuration() {
    let job = documented_job();
    let script = job.script[0].clone();
    assert!(
        script.starts_with("./mm-harness run smoke --target live"),
        "{script}"
    );
    let twin = TwinUp::start();
    // The documented URLs are the twin's own names: nothing in the job is edited for the test.
    let vars: BTreeMap<&str, &str> = job
        .variables
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let same = |var: &str, url: &str| {
        assert_eq!(
            vars.get(var).map(|v| v.trim_end_matches('/')),
            Some(url.trim_end_matches('/')),
            "{var}"
        )
    };
    same("GITLAB_URL", &twin.gitlab_url);
    same("MATTERMOST_URL", &twin.mattermost_url);
    let dir = project_dir(&twin);

    // First run, no snapshot anywhere: passes.
    let o = run_job(dir.path(), &twin, &job, &script, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let xml = std::fs::read_to_string(dir.path().join("smoke.xml")).expect("smoke.xml");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("<testsuite name=\"smoke\""), "{xml}");
    assert!(xml.contains("sso.log_in user=alice"), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
    assert!(
        !xml.contains(&twin.alice_password),
        "the password reached the report"
    );
    assert!(
        !dir.path().join("snapshots").exists(),
        "a smoke check writes no snapshot"
    );

    // Without the user's password: bad input naming the variable, before anything connects.
    let o = run_job(
        dir.path(),
        &twin,
        &job,
        &script,
        Some("MM_HARNESS_USER_ALICE_PASSWORD"),
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("error: MM_HARNESS_USER_ALICE_PASSWORD is not set: the password of GitLab user `alice`, needed by `smoke` step 2 (sso.log_in user=alice)"),
        "{out}"
    );

    // Snapshot checking on live is an explicit choice: with it, the missing snapshot fails...
    let checking = script.replacen(
        "run smoke",
        "run smoke --check-snapshots --snapshot-dir snaps",
        1,
    );
    let o = run_job(dir.path(), &twin, &job, &checking, None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let xml = std::fs::read_to_string(dir.path().join("smoke.xml")).expect("smoke.xml");
    assert!(xml.contains("no snapshot stored"), "{xml}");
    // ...until it is recorded, as `smoke@live`, apart from the twin's.
    let recording = script.replacen(
        "run smoke",
        "run smoke --update-snapshots --snapshot-dir snaps",
        1,
    );
    let o = run_job(dir.path(), &twin, &job, &recording, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let snap = std::fs::read_to_string(dir.path().join("snaps/smoke@live.snap")).expect("recorded");
    assert!(!snap.contains(&twin.alice_password), "{snap}");
    let o = run_job(dir.path(), &twin, &job, &checking, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
