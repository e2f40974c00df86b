//! Hostile scenario files, generated here: huge, deep, binary garbage, and valid TOML of absurd
//! size. `mm-harness run` must refuse each with a clear error (exit 2, a `file:line:column` where
//! the file has a place to point at), in bounded memory — the binary runs under `ulimit -v` (1 GiB)
//! so a regression fails the test instead of the machine — and with bounded output.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The address space the binary may use.
const MEMORY_LIMIT_KIB: u64 = 1024 * 1024;
/// What the error output may be at most (the file itself is at most 1 MiB).
const MAX_STDERR_BYTES: usize = 4 * 1024 * 1024;
/// A hung parser fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(120);

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

/// `mm-harness run FILE` under the memory limit, with a deadline.
fn run_limited(file: &Path) -> Outcome {
    let dir = file.parent().expect("a directory");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_mm-harness"))
        .arg("run")
        .arg(file)
        .arg("--scenario-dir")
        .arg(dir)
        .arg("--snapshot-dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let mut pipe = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        // Read at most a little more than allowed, then drain without keeping.
        let _ = (&mut pipe)
            .take(MAX_STDERR_BYTES as u64 + 1)
            .read_to_end(&mut bytes);
        let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        bytes
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} is still being read after {DEADLINE:?}", file.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let bytes = reader.join().expect("reader");
    Outcome {
        code: status.code(),
        stderr: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Write `content` as `name` in a fresh directory and run it.
fn case(name: &str, content: &[u8]) -> (PathBuf, Outcome, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write case");
    let out = run_limited(&path);
    (path, out, dir)
}

/// Exit 2 with bounded output whose first error points into the file.
fn assert_refused_at(path: &Path, out: &Outcome, line_col: &str) {
    let head: String = out.stderr.chars().take(2000).collect();
    assert_eq!(
        out.code,
        Some(2),
        "{}: expected exit 2 (bad input)\n{head}",
        path.display()
    );
    assert!(
        out.stderr.len() <= MAX_STDERR_BYTES,
        "{}: {} bytes of errors",
        path.display(),
        out.stderr.len()
    );
    let want = format!("--> {}:{line_col}", path.display());
    assert!(out.stderr.contains(&want), "missing `{want}` in:\n{head}");
    assert!(
        out.stderr.contains("is not a valid scenario"),
        "no summary line:\n{head}"
    );
}

/// A deterministic byte stream (no dependency on a random crate for test data).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn a_huge_file_is_refused_without_being_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.toml");
    // 4 GiB, sparse: reading it whole would break the memory limit.
    let f = std::fs::File::create(&path).expect("create");
    f.set_len(4 * 1024 * 1024 * 1024).expect("sparse file");
    drop(f);
    let out = run_limited(&path);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("is larger than 1024 KiB"),
        "{}",
        out.stderr
    );
}

#[test]
fn binary_garbage_is_refused_at_its_first_invalid_byte() {
    let mut bytes = b"name = \"x\"\n".to_vec();
    bytes.extend(
        noise(1024 * 1024 - bytes.len(), 7)
            .iter()
            .map(|b| 0x80 | (b & 0x3F)),
    );
    let (path, out, _dir) = case("binary.toml", &bytes);
    assert_refused_at(&path, &out, "2:1");
    assert!(out.stderr.contains("not valid UTF-8"), "{}", out.stderr);
}

#[test]
fn a_megabyte_of_brackets_gives_bounded_errors() {
    for (name, byte) in [("open.toml", b'['), ("close.toml", b']')] {
        let (path, out, _dir) = case(name, &vec![byte; 1024 * 1024]);
        assert_refused_at(&path, &out, "1:");
    }
}

#[test]
fn deep_nesting_is_refused_where_it_gets_too_deep() {
    let arrays = format!("a = {}", "[".repeat(500_000));
    let (path, out, _dir) = case("arrays.toml", arrays.as_bytes());
    assert_refused_at(&path, &out, "1:");
    assert!(out.stderr.contains("recurs"), "{}", &out.stderr[..200]);
    let tables = format!("a = {}", "{ b = ".repeat(100_000));
    let (path, out, _dir) = case("tables.toml", tables.as_bytes());
    assert_refused_at(&path, &out, "1:");
}

#[test]
fn a_dotted_key_of_200000_parts_is_placed_on_its_line() {
    let text = format!(
        "name = \"deep\"\nsummary = \"s\"\n{} = 1\n",
        vec!["a"; 200_000].join(".")
    );
    let (path, out, _dir) = case("deep-key.toml", text.as_bytes());
    assert_refused_at(&path, &out, "3:1");
    assert!(
        out.stderr.contains("dotted key of 200000 parts"),
        "{}",
        &out.stderr[..300]
    );
}

#[test]
fn printable_garbage_reports_at_most_fifty_errors_then_a_count() {
    let text: String = noise(1024 * 1024, 11)
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if i % 81 == 80 {
                '\n'
            } else {
                char::from(b' ' + b % 95)
            }
        })
        .collect();
    let (path, out, _dir) = case("garbage.toml", text.as_bytes());
    assert_refused_at(&path, &out, "1:");
    let shown = out.stderr.matches("\nerror: ").count() + 1;
    assert!(shown <= 51, "{shown} errors shown");
    assert!(out.stderr.contains("more errors not shown"), "no count");
}

#[test]
fn absurd_but_valid_toml_is_validated_in_bounded_time_and_memory() {
    // 15,000 steps (validated, each a reference check) and a missing `seed`.
    let mut text = String::from(
        "name = \"many\"\nsummary = \"s\"\n[hosts.omnibus]\ngitlab_rb = \"external_url 'http://gitlab.example.com'\"\n",
    );
    for _ in 0..15_000 {
        text.push_str("[[steps]]\nwebhook.post = { hook = \"h\", text = \"x\" }\n");
    }
    let (path, out, _dir) = case("many-steps.toml", text.as_bytes());
    assert_refused_at(&path, &out, "1:1");
    assert!(
        out.stderr.contains("missing key `seed`"),
        "{}",
        &out.stderr[..300]
    );
    assert!(out.stderr.contains("more errors not shown"), "no count");
    // 80,000 unknown keys.
    let keys: String = (0..80_000).map(|i| format!("k{i} = 1\n")).collect();
    let (path, out, _dir) = case("many-keys.toml", keys.as_bytes());
    assert_refused_at(&path, &out, "1:1");
    assert!(out.stderr.contains("more errors not shown"), "no count");
}

#[test]
fn a_hostile_gitlab_rb_inside_a_scenario_gives_bounded_errors() {
    let text = format!(
        "name = \"rb\"\nsummary = \"s\"\nseed = \"Getting started\"\n[hosts.omnibus]\ngitlab_rb = '''\n{}\n'''\n[[steps]]\nmattermost.ping = {{}}\n",
        "[".repeat(100_000)
    );
    let (path, out, _dir) = case("rb.toml", text.as_bytes());
    assert_refused_at(&path, &out, "6:");
}

#[test]
fn a_300_character_name_is_bad_input_not_an_environment_error() {
    // Regression: the name validated, the run wrote `snapshots/<name>.snap` and failed with
    // ENAMETOOLONG (exit 3).
    let text = format!(
        "name = \"{}\"\nsummary = \"s\"\nseed = \"Getting started\"\n[hosts.omnibus]\ngitlab_rb = '''\nexternal_url 'http://gitlab.example.com'\nmattermost_external_url 'http://mattermost.example.com'\n'''\n[[steps]]\nmattermost.ping = {{}}\n",
        "a".repeat(300)
    );
    let (path, out, _dir) = case("long-name.toml", text.as_bytes());
    assert_refused_at(&path, &out, "1:8");
    assert!(
        out.stderr.contains("scenario name is 300 characters long"),
        "{}",
        out.stderr
    );
}
