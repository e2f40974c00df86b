//! The drivers against hostile servers (`support::hostile`): each way a server can hurt a client
//! ends in a clear, bounded failure — never a hang, a crash, an unbounded allocation, a leaked
//! password or a raw control character. The memory-hungry cases run the built binary
//! (`mm-harness run --target live`) under `ulimit -v` and read its peak resident memory (wait4), so a
//! regression fails the test instead of the machine. Also: GitLab and Mattermost on one host name
//! and two ports (the twin), which the SSO driver must tell apart by origin.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mm_harness::config::{Profile, Secret};
use mm_harness::drive::http::{BODY_CAP, Page, Request};
use mm_harness::drive::mattermost_admin::{self, MattermostApi};
use mm_harness::drive::sso::{self, Person, SsoOutcome, SsoTarget};
use mm_harness::drive::{Browser, DriveError, Reach, Transcript, tls_probe};
use mm_harness::net::AddressBook;
use mm_harness::vocab::{Consent, SsoFlavour};
use url::Url;

use crate::support::hostile::{Hostile, Mode};

/// The address space the spawned binary may use (KiB).
const MEMORY_LIMIT_KIB: u64 = 1024 * 1024;
/// The most resident memory a run that met a hostile answer may have used (KiB).
const MAX_PEAK_RSS_KIB: u64 = 256 * 1024;
/// A run that hangs fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(120);

const PASSWORD: &str = "Sup3r-Secret-Pa55word";

fn reach(timeout: Duration) -> Reach {
    Reach {
        book: AddressBook::new(),
        roots: Vec::new(),
        timeout,
        accept_invalid_certs: false,
    }
}

async fn get(url: Url, timeout: Duration) -> Result<Page, DriveError> {
    let b = Browser::new(&reach(timeout)).expect("browser");
    let mut tr = Transcript::new();
    b.send(Request::get(url), None, &mut tr).await
}

fn alice() -> Person {
    Person {
        login: "alice".into(),
        password: Secret::new(PASSWORD),
    }
}

/// An SSO log-in starting at `mattermost` (which sends the browser on to a hostile "GitLab").
async fn log_in(mattermost: Url) -> Result<SsoOutcome, DriveError> {
    let b = Browser::new(&reach(Duration::from_secs(10))).expect("browser");
    let target = SsoTarget {
        mattermost_url: mattermost,
        mattermost_version: Profile::Gitlab18_11.mattermost_version(),
    };
    let mut tr = Transcript::new();
    sso::round_trip(
        &b,
        &target,
        SsoFlavour::LogIn,
        &alice(),
        Consent::Approve,
        &mut tr,
    )
    .await
}

/// A "Mattermost" whose GitLab button leads to `gitlab_path` on `gitlab`.
fn mattermost_sending_to(gitlab: &Hostile, gitlab_path: &str) -> Hostile {
    Hostile::start(Mode::Redirect {
        status: 302,
        location: gitlab.url(gitlab_path).to_string(),
    })
}

fn no_control_characters(text: &str) {
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters in: {text:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout_naming_the_answer() {
    let h = Hostile::start(Mode::NeverAnswers);
    let started = Instant::now();
    let err = get(h.url("/api/v4/system/ping"), Duration::from_secs(1))
        .await
        .expect_err("no answer");
    assert!(
        err.message.contains("no answer within 1s") && err.message.contains("sent the request"),
        "{}",
        err.message
    );
    assert!(started.elapsed() < DEADLINE, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_body_dripped_byte_by_byte_is_cut_off_by_the_request_timeout() {
    let h = Hostile::start(Mode::Slowloris {
        interval: Duration::from_millis(100),
    });
    let err = get(h.url("/users/sign_in"), Duration::from_secs(1))
        .await
        .expect_err("cut off");
    assert!(
        err.message.contains("reading the answer of GET")
            && err.message.contains("timed out after 1s"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_huge_declared_body_is_refused_from_its_content_length() {
    let h = Hostile::start(Mode::HugeBody {
        bytes: 500 * 1024 * 1024,
        content_length: true,
    });
    let err = get(h.url("/api/v4/system/ping"), Duration::from_secs(10))
        .await
        .expect_err("refused");
    assert!(
        err.message.contains("exceeded the 4 MiB body cap")
            && err.message.contains("Content-Length: 524288000"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_huge_streamed_body_is_cut_at_the_cap() {
    let h = Hostile::start(Mode::HugeBody {
        bytes: 500 * 1024 * 1024,
        content_length: false,
    });
    let url = h.url("/api/v4/system/ping");
    let err = get(url.clone(), Duration::from_secs(10))
        .await
        .expect_err("cut");
    assert!(
        err.message.contains(&format!(
            "the answer from GET {url} exceeded the 4 MiB body cap (more than {BODY_CAP} bytes arrived)"
        )),
        "{}",
        err.message
    );
    drop(h);
    // Just over the cap is the same failure; just under is an answer.
    for (bytes, ok) in [(BODY_CAP as u64 + 1, false), (BODY_CAP as u64, true)] {
        let h = Hostile::start(Mode::HugeBody {
            bytes,
            content_length: false,
        });
        let got = get(h.url("/"), Duration::from_secs(10)).await;
        assert_eq!(got.is_ok(), ok, "{bytes} bytes: {:?}", got.err());
    }
}

/// What a run of the binary did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Peak resident memory (`ru_maxrss`), KiB.
    peak_rss_kib: u64,
}

/// Wait for `pid` (without blocking) and return its exit code and peak resident memory (KiB,
/// `ru_maxrss` of wait4(2): exact however short the run), or `None` while it runs.
fn reap(pid: u32) -> Option<(Option<i32>, u64)> {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct, which wait4 fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped; both pointers are to live locals.
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut usage) };
    assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
    if r == 0 {
        return None;
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Some((code, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}

/// `mm-harness run ARGS` under `ulimit -v`, with a deadline, and its peak memory.
// The child is reaped by `reap` (wait4), which also gives its peak memory.
#[allow(clippy::zombie_processes)]
fn run_limited(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_mm-harness"))
        .arg("run")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn sh");
    let pid = child.id();
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let (code, peak_rss_kib) = loop {
        if let Some(done) = reap(pid) {
            break done;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = reap(pid);
            panic!("mm-harness run {args:?} still runs after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        peak_rss_kib,
    }
}

/// A live-only scenario with these steps, in a temporary project directory.
fn live_scenario(name: &str, steps: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("scenarios")).expect("mkdir");
    let text = format!(
        r#"name = "{name}"
summary = "a hostile server met by the live target"
seed = "Getting started"
tags = ["smoke"]
targets = ["live"]

[hosts.omnibus]
gitlab_rb = '''
external_url 'http://gitlab.example.com'
mattermost_external_url 'http://mattermost.example.com'
'''

{steps}
"#
    );
    std::fs::write(dir.path().join(format!("scenarios/{name}.toml")), text).expect("write");
    dir
}

#[test]
fn a_500_mb_ping_answer_fails_the_run_in_bounded_memory() {
    // `/` answers a small page (the live target's reachability check); the ping streams 500 MB.
    let h = Hostile::start_sparing(
        Mode::HugeBody {
            bytes: 500 * 1024 * 1024,
            content_length: false,
        },
        &["/"],
    );
    let dir = live_scenario("huge-ping", "[[steps]]\nmattermost.ping = {}\n");
    let mm = h.base();
    let run = run_limited(
        dir.path(),
        &[
            "huge-ping",
            "--target",
            "live",
            "--mattermost-url",
            &mm,
            "--timeout",
            "20",
        ],
        &[],
    );
    let all = format!("{}{}", run.stdout, run.stderr);
    eprintln!(
        "500 MB ping: exit {:?}, peak RSS {} KiB, {} body bytes sent by the server",
        run.code,
        run.peak_rss_kib,
        h.body_bytes_sent()
    );
    assert_eq!(run.code, Some(1), "{all}");
    assert!(all.contains("exceeded the 4 MiB body cap"), "{all}");
    assert!(
        run.peak_rss_kib > 0 && run.peak_rss_kib < MAX_PEAK_RSS_KIB,
        "peak RSS {} KiB",
        run.peak_rss_kib
    );
    assert!(
        h.body_bytes_sent() < 100 * 1024 * 1024,
        "the client kept reading: {} bytes sent",
        h.body_bytes_sent()
    );
}

#[tokio::test]
async fn pages_nested_20_000_and_200_000_deep_fail_the_sso_step_with_the_limit() {
    for depth in [20_000, 200_000] {
        let gitlab = Hostile::start(Mode::DeepHtml { depth });
        let mm = mattermost_sending_to(&gitlab, "/users/sign_in");
        let err = log_in(mm.url("/")).await.expect_err("refused");
        assert!(
            err.message.contains(&format!(
                "the page at {} nests elements more than 512 deep",
                gitlab.url("/users/sign_in")
            )),
            "{depth}: {}",
            err.message
        );
    }
}

#[test]
fn a_page_nested_200_000_deep_fails_the_run_instead_of_crashing_it() {
    // Before the bound, the recursive text collection overflowed the stack: exit 134, no report.
    let gitlab = Hostile::start(Mode::DeepHtml { depth: 200_000 });
    let mm = Hostile::start_sparing(
        Mode::Redirect {
            status: 302,
            location: gitlab.url("/users/sign_in").to_string(),
        },
        &["/"],
    );
    let dir = live_scenario(
        "deep-page",
        "[[steps]]\nsso.log_in = { user = \"alice\" }\nexpect = { mattermost_user = { username = \"alice\" } }\n",
    );
    let run = run_limited(
        dir.path(),
        &[
            "deep-page",
            "--target",
            "live",
            "--mattermost-url",
            &mm.base(),
            "--format",
            "json",
        ],
        &[("MM_HARNESS_USER_ALICE_PASSWORD", PASSWORD)],
    );
    eprintln!(
        "200,000-deep page: exit {:?}, peak RSS {} KiB",
        run.code, run.peak_rss_kib
    );
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("nests elements more than 512 deep"),
        "{}",
        run.stdout
    );
    assert!(
        run.peak_rss_kib > 0 && run.peak_rss_kib < MAX_PEAK_RSS_KIB,
        "{}",
        run.peak_rss_kib
    );
}

#[tokio::test]
async fn a_redirect_loop_ends_after_the_hop_limit() {
    let gitlab = Hostile::start(Mode::RedirectLoop);
    let mm = mattermost_sending_to(&gitlab, "/loop/0");
    let err = log_in(mm.url("/")).await.expect_err("loop");
    assert!(
        err.message
            .contains("the SSO round trip did not end after 25 pages"),
        "{}",
        err.message
    );
    assert_eq!(gitlab.requests().len(), 24, "{:?}", gitlab.requests());
}

#[tokio::test]
async fn a_302_ping_names_its_location_escaped_and_truncated() {
    let long = format!("https://sso.example.net/login?next={}", "x".repeat(2000));
    let h = Hostile::start(Mode::Redirect {
        status: 302,
        location: long,
    });
    let b = Browser::new(&reach(Duration::from_secs(5))).expect("browser");
    let mut tr = Transcript::new();
    let err = mattermost_admin::ping(&b, &h.url("/"), &mut tr)
        .await
        .expect_err("a redirect is no ping answer");
    assert!(
        err.message
            .contains("answered 302 (Location: https://sso.example.net/login?next=xxxxxxxx"),
        "{}",
        err.message
    );
    assert!(err.message.contains("more characters)"), "{}", err.message);
    assert!(err.message.len() < 1200, "{}", err.message.len());
    assert_eq!(err.refusal.as_ref().map(|r| r.0), Some(302));
    // No Location at all is said too.
    let h = Hostile::start(Mode::Redirect {
        status: 302,
        location: String::new(),
    });
    let err = mattermost_admin::ping(&b, &h.url("/"), &mut tr)
        .await
        .expect_err("a redirect is no ping answer");
    assert!(
        err.message.contains("answered 302 (Location: )")
            || err.message.contains("answered 302 without a Location"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_tls_handshake_that_never_comes_is_named_as_the_handshake() {
    let h = Hostile::start(Mode::TlsNeverHandshakes);
    let url = h.url("/");
    let err = get(url.clone(), Duration::from_secs(1))
        .await
        .expect_err("no handshake");
    assert!(
        err.message.contains(&format!(
            "the TLS handshake with {} did not complete within 1s",
            h.addr()
        )),
        "{}",
        err.message
    );
    let mut tr = Transcript::new();
    let err = tls_probe::inspect(
        &url,
        &AddressBook::new(),
        &[],
        Duration::from_secs(1),
        &mut tr,
    )
    .await
    .expect_err("no handshake");
    assert!(
        err.message
            .contains("the TLS handshake with https://127.0.0.1:")
            && err.message.contains("did not complete within 1s"),
        "{}",
        err.message
    );
    // A closed port is a connection failure, not a handshake one.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let err = get(
        Url::parse(&format!("https://127.0.0.1:{port}/")).expect("url"),
        Duration::from_secs(1),
    )
    .await
    .expect_err("refused");
    assert!(!err.message.contains("handshake"), "{}", err.message);
}

#[tokio::test]
async fn an_echoed_password_is_redacted_from_driver_failures() {
    let gitlab = Hostile::start(Mode::PasswordEcho);
    let mm = mattermost_sending_to(&gitlab, "/users/sign_in");
    let err = log_in(mm.url("/")).await.expect_err("refused");
    assert!(
        err.message
            .contains("GitLab refused the credentials of alice: Invalid login or password."),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("user[password]=[secret]"),
        "{}",
        err.message
    );
    assert!(!err.message.contains(PASSWORD), "{}", err.message);
    // Mattermost's API echoing the JSON login.
    let b = Browser::api_client(&reach(Duration::from_secs(5))).expect("browser");
    let mut tr = Transcript::new();
    let err = MattermostApi::login(
        &b,
        &gitlab.url("/"),
        "admin",
        &Secret::new(PASSWORD),
        &mut tr,
    )
    .await
    .expect_err("refused");
    assert!(err.message.contains("answered 401"), "{}", err.message);
    assert!(err.message.contains("[secret]"), "{}", err.message);
    assert!(!err.message.contains(PASSWORD), "{}", err.message);
}

#[test]
fn an_echoed_password_reaches_no_report_format() {
    let gitlab = Hostile::start(Mode::PasswordEcho);
    let mm = Hostile::start(Mode::Redirect {
        status: 302,
        location: gitlab.url("/users/sign_in").to_string(),
    });
    let dir = live_scenario(
        "echo",
        "[[steps]]\nsso.log_in = { user = \"alice\" }\nexpect = { mattermost_user = { username = \"alice\" } }\n",
    );
    for format in ["human", "json", "junit"] {
        let run = run_limited(
            dir.path(),
            &[
                "echo",
                "--target",
                "live",
                "--mattermost-url",
                &mm.base(),
                "--format",
                format,
            ],
            &[("MM_HARNESS_USER_ALICE_PASSWORD", PASSWORD)],
        );
        let all = format!("{}{}", run.stdout, run.stderr);
        assert_eq!(run.code, Some(1), "{format}: {all}");
        assert!(
            all.contains("GitLab refused the credentials"),
            "{format}: {all}"
        );
        assert!(
            !all.contains(PASSWORD),
            "{format}: the password leaked: {all}"
        );
    }
}

#[tokio::test]
async fn control_characters_never_reach_failure_text() {
    let h = Hostile::start(Mode::ControlChars { in_headers: false });
    let b = Browser::new(&reach(Duration::from_secs(5))).expect("browser");
    let mut tr = Transcript::new();
    let err = mattermost_admin::ping(&b, &h.url("/"), &mut tr)
        .await
        .expect_err("a 500");
    assert!(err.message.contains("answered 500"), "{}", err.message);
    assert!(
        err.message.contains("PASS everything is fine"),
        "{}",
        err.message
    );
    no_control_characters(&err.message);
    // The error id is kept as data, escaped too.
    let id = err.refusal.and_then(|r| r.1).unwrap_or_default();
    no_control_characters(&id);
    // In a header, the HTTP parser refuses the answer; the failure says so, cleanly.
    let h = Hostile::start(Mode::ControlChars { in_headers: true });
    let err = mattermost_admin::ping(&b, &h.url("/"), &mut tr)
        .await
        .expect_err("unreadable");
    assert!(err.message.contains("failed"), "{}", err.message);
    no_control_characters(&err.message);
}

/// GitLab at `http://gitlab.example.com` and Mattermost at `http://gitlab.example.com:8065` on one
/// omnibus host (the twin): the SSO driver must follow Mattermost's redirect to GitLab on the
/// same host name, not take it for Mattermost's final answer.
#[tokio::test]
async fn gitlab_and_mattermost_on_one_host_name_and_two_ports() {
    use mm_harness::twin::bringup::{Twin, TwinOptions};

    mm_harness::crypto::install_default_provider();
    let mut opts = TwinOptions::single_server(Profile::Gitlab18_11);
    let mm_url = "http://gitlab.example.com:8065";
    opts.hosts[0].mattermost_external_url = Some(mm_url.to_string());
    opts.hosts[0].mattermost.service.site_url = mm_url.to_string();
    let password = opts
        .gitlab_users
        .iter()
        .find(|u| u.username == "alice")
        .expect("alice")
        .password
        .clone();
    let twin = Twin::start(opts).await.expect("twin starts");
    let reach = Reach {
        book: twin.address_book().clone(),
        roots: vec![twin.ca_der()],
        timeout: Duration::from_secs(10),
        accept_invalid_certs: false,
    };
    let b = Browser::new(&reach).expect("browser");
    let target = SsoTarget {
        mattermost_url: Url::parse(mm_url).expect("url"),
        mattermost_version: Profile::Gitlab18_11.mattermost_version(),
    };
    let person = Person {
        login: "alice".into(),
        password,
    };
    let mut tr = Transcript::new();
    let outcome = sso::round_trip(
        &b,
        &target,
        SsoFlavour::SignUp,
        &person,
        Consent::Approve,
        &mut tr,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}\n{:?}", tr.raw_text(), twin.address_book()));
    match outcome {
        SsoOutcome::SignedIn(user) => {
            assert_eq!(user.username, "alice");
            assert_eq!(user.auth_service, "gitlab");
        }
        other => panic!("{other:?}\n{}", tr.raw_text()),
    }
    let text = tr.raw_text();
    assert!(
        text.contains("GET http://gitlab.example.com/oauth/authorize"),
        "{text}"
    );
    twin.shutdown().await;
}
