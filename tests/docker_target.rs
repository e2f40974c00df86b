//! The docker target for real: the Docker engine on this machine, the twin image `mm-twin:local`
//! built from the binary under test (`mm-harness twin image`, `docker import`), containers started
//! by testcontainers on a private network with `gitlab.example.com` / `mattermost.example.com`
//! aliases, readiness, the admin token seeded with `gitlab-rails runner` through `docker exec`,
//! `host.reconfigure` as a container re-created on its volumes, container logs on failure, one
//! stack per topology and version shared by the scenarios (reset between them), and cleanup after
//! a passing run, a failing run, a panic and a killed (SIGINT) run, with and without idle shared
//! stacks.
//!
//! Without a Docker engine these tests print why and return, except under `CI=true`, where a
//! missing engine fails them (.ci/run starts one).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::docker::{bin, docker, docker_available, leftovers, report, serial, text};

const IMAGE: &str = "mm-twin:local";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Build the twin image from the binary under test (a no-op when it is up to date).
fn twin_image() {
    let o = bin()
        .args(["twin", "image", "--tag", IMAGE])
        .output()
        .expect("run twin image");
    assert!(o.status.success(), "twin image failed: {}", text(&o));
}

fn run_docker(dir: &Path, scenarios: &[&str], extra: &[&str]) -> (Output, u32) {
    let child = bin()
        .current_dir(dir)
        .args(["run", "--target", "docker", "--gitlab-image", IMAGE])
        .args(["--mattermost-image", IMAGE, "--format", "json"])
        .args(["--ready-timeout", "120"])
        .args(extra)
        .args(scenarios)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mm-harness");
    let pid = child.id();
    (child.wait_with_output().expect("wait"), pid)
}

#[test]
fn the_suite_passes_on_twin_containers_and_leaves_nothing() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    twin_image();
    let names = [
        "single-server",
        "split-server",
        "https",
        "webhooks",
        "reauthorise",
        // Mattermost in a container mailing the harness's sink across the network (STARTTLS,
        // AUTH, a mention) and 3.4's plaintext client at an implicit-TLS port.
        "smtp-starttls-587",
        "smtp-none",
    ];
    let t0 = Instant::now();
    let (o, pid) = run_docker(&repo(), &names, &[]);
    let v = report(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let scenarios = v["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), names.len(), "{v}");
    for s in scenarios {
        assert_eq!(s["status"], "passed", "{s}");
        assert_eq!(s["target"], "docker", "{s}");
    }
    // Progress went to stderr: the stack came up with its containers on the run's network.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("docker: stack "), "{err}");
    eprintln!(
        "docker suite ({} scenarios): {:.1} s",
        names.len(),
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

const FAILING: &str = r#"
name = "docker-fails"
summary = "a scenario whose expectation is wrong, on containers"
seed = "Getting started"
targets = ["docker"]
snapshot = false

[hosts.omnibus]
gitlab_rb = '''
external_url 'http://gitlab.example.com'
mattermost_external_url 'http://mattermost.example.com'
'''

[[steps]]
sso.sign_up = { user = "alice" }
expect = { mattermost_user = { username = "not-alice" } }
"#;

fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("scenarios")).expect("mkdir");
    for (name, body) in files {
        std::fs::write(dir.path().join("scenarios").join(name), body).expect("write");
    }
    dir
}

#[test]
fn a_failing_scenario_carries_container_logs_and_leaves_nothing() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    twin_image();
    let dir = workspace(&[("docker-fails.toml", FAILING)]);
    let (o, pid) = run_docker(dir.path(), &["docker-fails"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = report(&o);
    let steps = v["scenarios"][0]["steps"].to_string();
    assert!(steps.contains("container logs: host `omnibus`"), "{steps}");
    // The twin's own startup lines, read back from the container.
    assert!(
        steps.contains("mm-twin: GitLab http://gitlab.example.com"),
        "{steps}"
    );
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

#[test]
fn a_missing_image_is_exit_3_with_what_to_do() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    let dir = workspace(&[("docker-fails.toml", FAILING)]);
    let o = bin()
        .current_dir(dir.path())
        .args(["run", "--target", "docker"])
        .args(["--gitlab-image", "mm-harness-absent:none", "docker-fails"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("docker pull mm-harness-absent:none"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_missing_engine_is_exit_3_with_docker_host_hint() {
    // Needs no engine: DOCKER_HOST points nowhere.
    let dir = workspace(&[("docker-fails.toml", FAILING)]);
    let o = bin()
        .current_dir(dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/mm-harness-docker.sock")
        .args(["run", "--target", "docker", "docker-fails"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("DOCKER_HOST"), "{}", text(&o));
}

#[test]
fn sigint_takes_the_stack_down() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    twin_image();
    let mut child = bin()
        .current_dir(repo())
        .args(["run", "--target", "docker", "--gitlab-image", IMAGE])
        .args(["--format", "json", "reauthorise"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    // Wait until its containers exist, then interrupt it.
    let deadline = Instant::now() + Duration::from_secs(120);
    while leftovers(pid).iter().all(|l| !l.starts_with("ps")) {
        assert!(Instant::now() < deadline, "no container appeared");
        if child.try_wait().expect("try_wait").is_some() {
            panic!("the run ended before its stack came up");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let status = child.wait().expect("wait");
    // The run's Ctrl-C teardown takes the stack down before exiting 130.
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(leftovers(pid), Vec::<String>::new(), "after SIGINT");
}

#[test]
fn a_panic_with_a_stack_up_removes_it() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    twin_image();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let joined = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            mm_harness::crypto::install_default_provider();
            let text = "external_url 'http://gitlab.example.com'\n\
                        mattermost_external_url 'http://mattermost.example.com'\n";
            let file = mm_harness::diag::SourceFile::new("omnibus", text.to_string());
            let v = mm_harness::config::Version::new(18, 11, 0);
            let settings = mm_harness::config::resolve(&file, v).host;
            let opts = mm_harness::stack::docker::DockerOptions {
                gitlab_image: Some(IMAGE.to_string()),
                ready_timeout: Duration::from_secs(120),
                ..Default::default()
            };
            let stack = mm_harness::stack::docker::DockerStack::start(
                &opts,
                v,
                &[mm_harness::stack::docker::DockerHost {
                    name: "omnibus".into(),
                    gitlab_rb: text.to_string(),
                    settings,
                }],
            )
            .await
            .expect("stack up");
            tx.send(stack.id().to_string()).expect("send");
            let _kept_alive = &stack;
            panic!("a bug while the stack is up");
        })
    })
    .join();
    assert!(joined.is_err(), "the thread panicked");
    let id = rx.recv().expect("the stack id");
    let filter = format!("label=mm-harness.stack={id}");
    for args in [
        vec!["ps", "-aq", "--filter", filter.as_str()],
        vec!["network", "ls", "-q", "--filter", filter.as_str()],
        vec!["volume", "ls", "-q", "--filter", filter.as_str()],
    ] {
        let o = docker(&args);
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "", "{args:?}");
    }
}

#[test]
fn mattermost_in_a_container_mails_the_harness_sink_over_the_network() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    twin_image();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        mm_harness::crypto::install_default_provider();
        // STARTTLS on 587 with AUTH; GitLab 11+ takes Mattermost's email settings as MM_*
        // variables (the email_* keys of the 8.x guide are dropped).
        let text = "external_url 'http://gitlab.example.com'\n\
                    mattermost_external_url 'http://mattermost.example.com'\n\
                    mattermost['env'] = {\n\
                      'MM_EMAILSETTINGS_SENDEMAILNOTIFICATIONS' => 'true',\n\
                      'MM_EMAILSETTINGS_SMTPSERVER' => 'smtp.example.com',\n\
                      'MM_EMAILSETTINGS_SMTPPORT' => '587',\n\
                      'MM_EMAILSETTINGS_CONNECTIONSECURITY' => 'STARTTLS',\n\
                      'MM_EMAILSETTINGS_ENABLESMTPAUTH' => 'true',\n\
                      'MM_EMAILSETTINGS_SMTPUSERNAME' => 'mattermost@example.com',\n\
                      'MM_EMAILSETTINGS_SMTPPASSWORD' => 'smtp-Pass-1',\n\
                      'MM_EMAILSETTINGS_FEEDBACKEMAIL' => 'mattermost@example.com',\n\
                    }\n";
        let file = mm_harness::diag::SourceFile::new("omnibus", text.to_string());
        let v = mm_harness::config::Version::new(18, 11, 0);
        let settings = mm_harness::config::resolve(&file, v).host;
        let opts = mm_harness::stack::docker::DockerOptions {
            gitlab_image: Some(IMAGE.to_string()),
            ready_timeout: Duration::from_secs(120),
            ..Default::default()
        };
        let stack = mm_harness::stack::docker::DockerStack::start(
            &opts,
            v,
            &[mm_harness::stack::docker::DockerHost {
                name: "omnibus".into(),
                gitlab_rb: text.to_string(),
                settings,
            }],
        )
        .await
        .expect("stack up");
        let info = stack.info().clone();
        let admin = info.mattermost_admin.clone().expect("admin");
        let c = crate::support::client_for(&info.book, "http", None, None, false);
        let login = c
            .post("http://mattermost.example.com/api/v4/users/login")
            .json(
                &serde_json::json!({"login_id": admin.login, "password": admin.password.expose()}),
            )
            .send()
            .await
            .expect("login");
        assert_eq!(login.status(), 200);
        let token = login.headers()["token"].to_str().unwrap().to_string();
        // Mattermost (in its container) sends the test email to smtp.example.com:587, which
        // the container resolves to the network's gateway, where the harness's sink listens.
        let sent = c
            .post("http://mattermost.example.com/api/v4/email/test")
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("test email");
        let status = sent.status();
        let body = sent.text().await.unwrap_or_default();
        let mailbox = stack.mailbox();
        stack.down().await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(mailbox.len(), 1, "{mailbox:?}");
        let m = &mailbox[0];
        assert!(m.tls, "STARTTLS was used");
        assert_eq!(m.auth_user.as_deref(), Some("mattermost@example.com"));
        assert_eq!(m.ehlo_name, "mattermost.example.com");
        assert_eq!(m.envelope_from, "mattermost@example.com");
    });
}

#[test]
fn keep_leaves_a_reachable_stack_that_only_sweep_all_removes() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    twin_image();
    let (o, _) = run_docker(&repo(), &["single-server"], &["--keep"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let id = err
        .split("docker: kept stack ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no kept stack in {err}"))
        .to_string();
    // The printed address answers as GitLab, with the documented Host.
    let line = err
        .lines()
        .find(|l| l.contains("http://gitlab.example.com:80 → "))
        .unwrap_or_else(|| panic!("{err}"));
    let addr = line
        .split("→ ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let mut conn = std::net::TcpStream::connect(addr).expect("connect to the kept stack");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    use std::io::{Read, Write};
    conn.write_all(
        b"GET /-/readiness HTTP/1.1\r\nHost: gitlab.example.com\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let filter = format!("label=mm-harness.stack={id}");
    let count = || {
        let o = Command::new("docker")
            .args(["ps", "-aq", "--filter", filter.as_str()])
            .output()
            .expect("docker ps");
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    assert_eq!(count(), 1, "the kept container");
    // A plain sweep (what every run does first) leaves a kept stack alone; --all removes it.
    let o = bin().args(["twin", "sweep"]).output().expect("sweep");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(count(), 1, "kept across a plain sweep");
    let o = bin()
        .args(["twin", "sweep", "--all"])
        .output()
        .expect("sweep");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(count(), 0);
    for args in [
        vec!["network", "ls", "-q", "--filter", filter.as_str()],
        vec!["volume", "ls", "-q", "--filter", filter.as_str()],
    ] {
        let o = docker(&args);
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "", "{args:?}");
    }
}

#[test]
fn twin_serve_without_its_configuration_is_bad_input() {
    let o = bin()
        .args(["twin", "serve"])
        .env_remove("GITLAB_OMNIBUS_CONFIG")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("GITLAB_OMNIBUS_CONFIG"), "{}", text(&o));
    let o = bin()
        .args(["twin", "serve"])
        .env(
            "GITLAB_OMNIBUS_CONFIG",
            "external_url 'http://gitlab.example.com'",
        )
        .env("MM_TWIN_GITLAB_VERSION", "eighteen")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("MM_TWIN_GITLAB_VERSION"), "{}", text(&o));
}

#[test]
fn a_killed_run_is_swept_by_the_next_one() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    twin_image();
    let mut child = bin()
        .current_dir(repo())
        .args(["run", "--target", "docker", "--gitlab-image", IMAGE])
        .args(["--format", "json", "reauthorise"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    while leftovers(pid).iter().all(|l| !l.starts_with("ps")) {
        assert!(Instant::now() < deadline, "no container appeared");
        if child.try_wait().expect("try_wait").is_some() {
            panic!("the run ended before its stack came up");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // SIGKILL: no teardown at all; the objects stay until a sweep sees their run is gone.
    let _ = child.kill();
    let _ = child.wait();
    assert!(!leftovers(pid).is_empty(), "SIGKILL leaves the stack");
    let o = bin().args(["twin", "sweep"]).output().expect("sweep");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

#[test]
fn docker_snapshots_equal_the_twins() {
    // On the twin image the docker target must see exactly what the twin target sees: the
    // containers, network and ports change where bytes go, not what is said.
    let dir = repo().join("snapshots");
    let mut compared = 0;
    for entry in std::fs::read_dir(&dir).expect("snapshots/") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix("@docker.snap") else {
            continue;
        };
        let twin = std::fs::read_to_string(dir.join(format!("{stem}.snap")))
            .unwrap_or_else(|e| panic!("{name} has no twin snapshot {stem}.snap: {e}"));
        let docker = std::fs::read_to_string(&path).expect("read");
        assert!(
            twin == docker,
            "{name} differs from {stem}.snap: after a change to the twin, rewrite the docker \
             snapshots with `mm-harness twin image && mm-harness run --target docker \
             --gitlab-image mm-twin:local --mattermost-image mm-twin:local --update-snapshots`"
        );
        compared += 1;
    }
    assert!(compared >= 20, "only {compared} docker snapshots");
}

/// A scenario like [`FAILING`]'s (same gitlab.rb, so the same stack key) that passes.
fn passing(name: &str) -> String {
    FAILING
        .replace("docker-fails", name)
        .replace("a scenario whose expectation is wrong", "alice signs up")
        .replace("\"not-alice\"", "\"alice\"")
}

/// The stacks a run started (its `docker: stack … up in` progress lines).
fn stacks_started(o: &Output) -> usize {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.starts_with("docker: stack ") && l.contains(" up in "))
        .count()
}

#[test]
fn scenarios_share_one_stack_per_topology_reset_between_them_and_nothing_is_left() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    twin_image();
    // Six 18.11 single-server scenarios and two 8.12 ones, two at a time: at most two stacks
    // per topology and version, each reset between scenarios. Their transcripts are compared
    // with the snapshots, so anything a scenario left behind (an account, a team, an OAuth
    // application, a hook, a setting) would fail the next one on the same stack.
    let names = [
        "second-sign-up",
        "deny-consent",
        "webhooks",
        "user-creation-off",
        "webhooks-disabled",
        "single-server",
        "second-sign-up-8.12",
        "single-server-8.12",
    ];
    let (o, pid) = run_docker(&repo(), &names, &["--jobs", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for s in report(&o)["scenarios"].as_array().expect("scenarios") {
        assert_eq!(s["status"], "passed", "{s}");
    }
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(" reused, reset in "), "{err}");
    let started = stacks_started(&o);
    assert!((2..=4).contains(&started), "{started} stacks: {err}");
    assert_eq!(leftovers(pid), Vec::<String>::new());

    // A failing scenario's stack is reset for the next one too; with --fresh-stacks each
    // scenario gets its own.
    let a = passing("docker-passes-a");
    let b = passing("docker-passes-b");
    let dir = workspace(&[
        ("docker-fails.toml", FAILING),
        ("docker-passes-a.toml", &a),
        ("docker-passes-b.toml", &b),
    ]);
    let all = ["docker-fails", "docker-passes-a", "docker-passes-b"];
    let (o, pid) = run_docker(dir.path(), &all, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = report(&o);
    let statuses: Vec<&str> = v["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| s["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["failed", "passed", "passed"], "{v}");
    assert_eq!(stacks_started(&o), 1, "{}", text(&o));
    assert_eq!(leftovers(pid), Vec::<String>::new());
    let (o, pid) = run_docker(dir.path(), &all[1..], &["--fresh-stacks"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(stacks_started(&o), 2, "{}", text(&o));
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

#[test]
fn sigint_removes_the_idle_shared_stacks_too() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    twin_image();
    // single-server's stack goes back to the pool when it is done; split-server's two
    // containers are starting or running when the run is interrupted.
    let mut child = bin()
        .current_dir(repo())
        .args(["run", "--target", "docker", "--gitlab-image", IMAGE])
        .args(["--format", "json", "single-server", "split-server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(180);
    while leftovers(pid)
        .iter()
        .filter(|l| l.starts_with("ps"))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "the second stack did not appear");
        if child.try_wait().expect("try_wait").is_some() {
            panic!("the run ended before the second stack came up");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(leftovers(pid), Vec::<String>::new(), "after SIGINT");
}

#[test]
fn a_panic_with_idle_shared_stacks_removes_them() {
    let _g = serial();
    if !docker_available() {
        return;
    }
    twin_image();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let joined = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            mm_harness::crypto::install_default_provider();
            let text = "external_url 'http://gitlab.example.com'\n\
                        mattermost_external_url 'http://mattermost.example.com'\n";
            let file = mm_harness::diag::SourceFile::new("omnibus", text.to_string());
            let v = mm_harness::config::Version::new(18, 11, 0);
            let hosts = [mm_harness::stack::docker::DockerHost {
                name: "omnibus".into(),
                gitlab_rb: text.to_string(),
                settings: mm_harness::config::resolve(&file, v).host,
            }];
            let pool = mm_harness::stack::docker::StackPool::new();
            let opts = mm_harness::stack::docker::DockerOptions {
                gitlab_image: Some(IMAGE.to_string()),
                ready_timeout: Duration::from_secs(120),
                pool: Some(pool.clone()),
                ..Default::default()
            };
            let first = mm_harness::stack::docker::DockerStack::acquire(&opts, v, &hosts)
                .await
                .expect("stack up");
            let id = first.id().to_string();
            first.down().await;
            assert_eq!(pool.idle(), 1, "the stack went back to the pool");
            let again = mm_harness::stack::docker::DockerStack::acquire(&opts, v, &hosts)
                .await
                .expect("stack reset");
            assert_eq!(again.id(), id, "the same stack, reset");
            assert_eq!(pool.stats().reused, 1);
            again.down().await;
            tx.send(id).expect("send");
            panic!("a bug while a shared stack is idle");
        })
    })
    .join();
    assert!(joined.is_err(), "the thread panicked");
    let id = rx.recv().expect("the stack id");
    let filter = format!("label=mm-harness.stack={id}");
    for args in [
        vec!["ps", "-aq", "--filter", filter.as_str()],
        vec!["network", "ls", "-q", "--filter", filter.as_str()],
        vec!["volume", "ls", "-q", "--filter", filter.as_str()],
    ] {
        let o = docker(&args);
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "", "{args:?}");
    }
}
