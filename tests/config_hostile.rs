//! Hostile gitlab.rb files, generated here, through the built `mm-harness config explain` under a
//! memory limit (`ulimit -v`, so a regression fails the test instead of the machine) and a
//! deadline: unbalanced brackets by the 100 KB, a valid one-line file of 5,000 statements,
//! thousands of unclosed blocks, heredocs and word lists, invalid UTF-8, control characters, and a
//! password in a URL's userinfo. Each must end with a clean exit code and bounded output, errors
//! placed at file:line:column.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The address space the binary may use (KiB).
const MEMORY_LIMIT_KIB: u64 = 1_500_000;
/// The most output (stdout + stderr) any case may print.
const MAX_OUTPUT_BYTES: usize = 512 * 1024;
const DEADLINE: Duration = Duration::from_secs(120);

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Read at most a little more than allowed from a pipe, then drain without keeping.
fn bounded(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = (&mut pipe)
            .take(MAX_OUTPUT_BYTES as u64 + 1)
            .read_to_end(&mut bytes);
        let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        bytes
    })
}

/// `mm-harness config explain ARGS FILE` under the memory limit, with a deadline.
fn explain_limited(file: &Path, args: &[&str]) -> Outcome {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_mm-harness"))
        .args(["config", "explain"])
        .args(args)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let out = bounded(child.stdout.take().expect("stdout"));
    let err = bounded(child.stderr.take().expect("stderr"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} is still being explained after {DEADLINE:?}",
                file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    Outcome {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn case(name: &str, content: &[u8], args: &[&str]) -> (Outcome, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write case");
    let out = explain_limited(&path, args);
    let total = out.stdout.len() + out.stderr.len();
    let head: String = out.stderr.chars().take(1500).collect();
    assert!(
        total <= MAX_OUTPUT_BYTES,
        "{name}: {total} bytes of output\n{head}"
    );
    (out, path.display().to_string())
}

fn head(s: &str) -> String {
    s.chars().take(1500).collect()
}

#[test]
fn a_hundred_kilobytes_of_unbalanced_brackets_gives_bounded_errors() {
    for (name, byte, message) in [
        ("close.rb", b']', "unmatched `]`"),
        ("open.rb", b'[', "unclosed `[`"),
        ("braces.rb", b'{', "unclosed `{`"),
    ] {
        let mut text = b"mattermost['gitlab_enable'] = true\n".to_vec();
        text.extend(std::iter::repeat_n(byte, 100 * 1024));
        text.push(b'\n');
        let (out, path) = case(name, &text, &[]);
        assert_eq!(out.code, Some(2), "{name}: {}", head(&out.stderr));
        assert!(
            out.stderr.contains(&format!("--> {path}:2:")),
            "{name}: {}",
            head(&out.stderr)
        );
        assert!(
            out.stderr.contains(message),
            "{name}: {}",
            head(&out.stderr)
        );
        assert!(
            out.stderr.contains("more error(s) not shown"),
            "{name}: no count of the rest: {}",
            head(&out.stderr)
        );
        // The source line is a window around the caret, not the 100 KB line.
        let longest = out.stderr.lines().map(str::len).max().unwrap_or(0);
        assert!(longest < 1000, "{name}: a line of {longest} bytes");
        // Every bracket is counted, shown or not.
        assert!(
            out.stderr.contains(&format!(
                "error: {path} cannot be explained for GitLab 18.11.0: {} error(s)",
                100 * 1024
            )),
            "{name}: {}",
            head(&out.stderr)
        );
    }
}

#[test]
fn a_valid_one_line_file_of_5000_statements_prints_a_bounded_report() {
    let mut text = String::from("external_url 'http://gitlab.example.com'; ");
    for i in 0..5000 {
        text.push_str(&format!("mattermost['k{i:04}'] = 'v'; "));
    }
    text.push('\n');
    assert!(text.len() > 100 * 1024, "{}", text.len());
    let (out, path) = case("one-line.rb", text.as_bytes(), &[]);
    assert_eq!(out.code, Some(0), "{}", head(&out.stderr));
    assert!(
        out.stdout.contains(&format!("--> {path}:1:")),
        "{}",
        head(&out.stdout)
    );
    assert!(
        out.stdout.contains("unknown key `mattermost['k0000']`"),
        "{}",
        head(&out.stdout)
    );
    assert!(
        out.stdout.contains("4950 more diagnostic(s) not shown"),
        "{}",
        &out.stdout[out.stdout.len().saturating_sub(1500)..]
    );
    assert!(
        out.stdout.contains("5000 warning(s)"),
        "{}",
        &out.stdout[out.stdout.len().saturating_sub(500)..]
    );
    // A window with `…` on both sides of a line cut around the caret.
    assert!(out.stdout.contains("1 | …"), "{}", head(&out.stdout));
    // JSON: the same cap, and the count of the rest.
    let (out, _) = case("one-line.rb", text.as_bytes(), &["--format", "json"]);
    assert_eq!(out.code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json report");
    assert_eq!(v["diagnostics"].as_array().map(Vec::len), Some(50));
    assert_eq!(v["diagnostics_omitted"], 4950);
}

#[test]
fn thousands_of_unclosed_blocks_heredocs_and_lists_stay_linear() {
    let cases: [(&str, String, &str); 5] = [
        ("ifs.rb", "if x\n".repeat(50_000), "block without `end`"),
        (
            "heredocs.rb",
            (0..50_000).map(|i| format!("a['k'] = <<-T{i}\n")).collect(),
            "unterminated heredoc",
        ),
        (
            "words.rb",
            "a['k'] = %w(x\n".repeat(50_000),
            "unterminated word list",
        ),
        (
            "interpolation.rb",
            "a['k'] = \"#{\n".repeat(50_001),
            "unterminated string",
        ),
        (
            "chained.rb",
            "a['k'] =\n".repeat(50_000) + "1\n",
            "takes its value from the next line",
        ),
    ];
    for (name, text, message) in cases {
        let (out, _) = case(name, text.as_bytes(), &[]);
        assert!(
            matches!(out.code, Some(0 | 2)),
            "{name}: exit {:?}\n{}",
            out.code,
            head(&out.stderr)
        );
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains(message), "{name}: {}", head(&all));
    }
}

#[test]
fn deep_nesting_gives_a_warning_not_a_crash() {
    let text = format!("x['k'] = {}1{}\n", "[".repeat(200_000), "]".repeat(200_000));
    let (out, _) = case("deep.rb", text.as_bytes(), &[]);
    assert_eq!(out.code, Some(0), "{}", head(&out.stderr));
    assert!(out.stdout.contains("nested too deeply to read"));
}

#[test]
fn invalid_utf8_is_an_error_at_its_line_and_column() {
    let mut text =
        b"external_url 'http://gitlab.example.com'\nmattermost['gitlab_id'] = '".to_vec();
    text.extend([0xC3, 0x28]);
    text.extend(b"'\n");
    let (out, path) = case("latin1.rb", &text, &[]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("--> {path}:2:28")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("invalid byte sequence \\xC3"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("save the file as UTF-8"));
}

#[test]
fn control_characters_never_reach_the_terminal_raw() {
    let text = "mattermost['gitlab_enable'] = \"\u{1b}]0;pwned\u{7}\" + 1\n";
    let (out, _) = case("esc.rb", text.as_bytes(), &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stdout.contains('\u{1b}'), "{:?}", out.stdout);
    assert!(!out.stdout.contains('\u{7}'), "{:?}", out.stdout);
    assert!(out.stdout.contains("value not evaluated"), "{}", out.stdout);
}

#[test]
fn a_password_in_a_url_is_never_printed() {
    let text = "external_url 'https://root:GitlabUrlPw1@gitlab.example.com'\n\
                mattermost_external_url 'https://ops:MmUrlPw2@mattermost.example.com'\n\
                mattermost['service_site_url'] = 'https://site:SiteUrlPw3@chat.example.com'\n\
                mattermost['gitlab_user_api_endpoint'] = 'https://api:ApiUrlPw4@gitlab.example.com/api/v4/user'\n\
                mattermost['gitlab_auth_endpoint'] = 'https://auth:AuthUrlPw5@gitlab.example.com/oauth/authorize' + ''\n\
                mattermost['env'] = { 'MM_SQLSETTINGS_DATASOURCE' => 'postgres://mm:DbUrlPw6@db/mm', 'HTTP_PROXY' => 'http://p:ProxyPw7@proxy:3128' }\n";
    let secrets = [
        "GitlabUrlPw1",
        "MmUrlPw2",
        "SiteUrlPw3",
        "ApiUrlPw4",
        "AuthUrlPw5",
        "DbUrlPw6",
        "ProxyPw7",
    ];
    for version in ["18.11", "10.8", "8.12"] {
        for format in ["human", "json"] {
            let (out, _) = case(
                "userinfo.rb",
                text.as_bytes(),
                &["--all", "--gitlab-version", version, "--format", format],
            );
            assert_eq!(out.code, Some(0), "{version} {format}: {}", out.stderr);
            for s in secrets {
                assert!(
                    !out.stdout.contains(s) && !out.stderr.contains(s),
                    "{version} {format} prints {s}:\n{}",
                    out.stdout
                );
            }
            // The rest of the URL is still shown.
            assert!(
                out.stdout.contains("chat.example.com"),
                "{version} {format}"
            );
        }
    }
}
