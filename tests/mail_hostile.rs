//! Hostile SMTP clients against the mail sink, with the sink in a child process under an
//! address-space limit (`prlimit --as`), so a regression that buffers what a client sends kills
//! the child and fails the test instead of exhausting the machine.
//!
//! The child is this test binary itself, re-run with only the ignored `child_sink` test and
//! `MAILSINK_CHILD` set: it starts a plaintext sink with small limits (1 MiB messages, 8 KiB
//! lines, 1 s idle timeout, 8 connections) on a single-threaded runtime, prints `READY`, and
//! serves until its stdin closes. The parent measures the child's size after start-up, caps it
//! at that plus 96 MiB, then sends ~200 MiB of DATA, an endless line, a recipient flood, a
//! connection flood and silent clients, and checks each got its SMTP error and the child still
//! delivers a normal message afterwards.

use std::io::{BufRead, BufReader as StdBufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use mm_harness::mailsink::{ListenerMode, ListenerSpec, MailSink, SinkOptions};

const CHILD_ENV: &str = "MAILSINK_CHILD";
const MAX_MESSAGE: usize = 1024 * 1024;

/// The child: not a test of its own (ignored), run only by [`ChildSink::spawn`].
#[tokio::test]
#[ignore = "run as a child process by the hostile-client tests"]
async fn child_sink() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let mut opts = SinkOptions::new("smtp.example.com")
        .with_listener(ListenerSpec::loopback("plain", ListenerMode::Plain));
    opts.limits.max_message_bytes = MAX_MESSAGE;
    opts.limits.max_line_bytes = 8 * 1024;
    opts.limits.idle_timeout = Duration::from_secs(1);
    opts.limits.max_connections = 8;
    opts.limits.max_messages = 20;
    let sink = MailSink::start(opts).await.unwrap();
    println!(
        "READY smtp={} http={}",
        sink.addr(ListenerMode::Plain).unwrap(),
        sink.http_addr().unwrap()
    );
    std::io::stdout().flush().unwrap();
    // Serve until the parent closes stdin (or two minutes, whichever first).
    let _ = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(|| {
            let mut sink_line = String::new();
            let _ = std::io::stdin().read_line(&mut sink_line);
        }),
    )
    .await;
    drop(sink);
}

struct ChildSink {
    child: Child,
    smtp: String,
    http: String,
}

impl ChildSink {
    /// Start the child, wait for READY, cap its address space at its current size + `headroom`.
    fn spawn(headroom_mib: u64) -> ChildSink {
        mm_harness::crypto::install_default_provider();
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args([
                "mail_hostile::child_sink",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .env("MALLOC_ARENA_MAX", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("re-run the test binary");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in StdBufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest prints `test mail_hostile::child_sink ... ` before the line.
                if let Some(i) = line.find("READY ") {
                    let _ = tx.send(line[i + "READY ".len()..].to_string());
                }
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the child sink printed READY");
        let mut smtp = String::new();
        let mut http = String::new();
        for part in ready.split_whitespace() {
            if let Some(v) = part.strip_prefix("smtp=") {
                smtp = v.to_string();
            } else if let Some(v) = part.strip_prefix("http=") {
                http = v.to_string();
            }
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let vm_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmSize:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmSize in /proc");
        let limit = vm_kib * 1024 + headroom_mib * 1024 * 1024;
        let out = Command::new("prlimit")
            .args([
                "--pid",
                &child.id().to_string(),
                &format!("--as={limit}:{limit}"),
            ])
            .output()
            .expect("prlimit (util-linux) is installed");
        assert!(out.status.success(), "prlimit: {out:?}");
        ChildSink { child, smtp, http }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for ChildSink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(addr: &str) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(addr).await.unwrap())
}

/// Read one reply (multi-line aware); `None` when the connection closed.
async fn reply(io: &mut BufReader<TcpStream>) -> Option<String> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), io.read_line(&mut line))
            .await
            .expect("a reply within 10 s")
            .ok()?;
        if n == 0 {
            return None;
        }
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return Some(all);
        }
    }
}

async fn cmd(io: &mut BufReader<TcpStream>, line: &str) -> String {
    io.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .unwrap();
    reply(io).await.unwrap_or_default()
}

async fn start_transaction(io: &mut BufReader<TcpStream>) {
    assert!(reply(io).await.unwrap().starts_with("220"));
    assert!(cmd(io, "EHLO hostile.example.com").await.starts_with("250"));
    assert!(
        cmd(io, "MAIL FROM:<h@example.com>")
            .await
            .starts_with("250")
    );
    assert!(cmd(io, "RCPT TO:<v@example.com>").await.starts_with("250"));
}

async fn sessions(http: &str) -> Vec<Value> {
    let body = reqwest::get(format!("http://{http}/api/v1/sessions"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    v["sessions"].as_array().cloned().unwrap_or_default()
}

async fn normal_delivery_works(sink: &ChildSink, subject: &str) {
    let mut io = connect(&sink.smtp).await;
    start_transaction(&mut io).await;
    assert!(cmd(&mut io, "DATA").await.starts_with("354"));
    let r = cmd(&mut io, &format!("Subject: {subject}\r\n\r\nhello\r\n.")).await;
    assert!(r.starts_with("250"), "{r}");
    let body = reqwest::get(format!("http://{}/api/v1/messages", sink.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains(subject), "{body}");
}

#[tokio::test]
async fn huge_data_is_discarded_and_answered_552_within_a_memory_limit() {
    let mut sink = ChildSink::spawn(96);
    let mut io = connect(&sink.smtp).await;
    start_transaction(&mut io).await;
    assert!(cmd(&mut io, "DATA").await.starts_with("354"));
    // ~200 MiB in 998-byte lines: twice the child's headroom, 200 times the message limit.
    let line = format!("{}\r\n", "x".repeat(998));
    let chunk = line.repeat(1024);
    for _ in 0..200 {
        io.get_mut().write_all(chunk.as_bytes()).await.unwrap();
    }
    io.get_mut().write_all(b".\r\n").await.unwrap();
    let r = reply(&mut io).await.unwrap();
    assert!(
        r.starts_with("552 5.3.4 Message size exceeds fixed limit of 1048576 bytes"),
        "{r}"
    );
    // The session goes on: RSET and QUIT are commands again, not data.
    assert!(cmd(&mut io, "RSET").await.starts_with("250"));
    assert!(sink.alive(), "the child survived");
    normal_delivery_works(&sink, "after-huge-data").await;
}

#[tokio::test]
async fn an_endless_line_gets_500_and_the_connection_closed() {
    let mut sink = ChildSink::spawn(96);
    // In command mode.
    let mut io = connect(&sink.smtp).await;
    assert!(reply(&mut io).await.unwrap().starts_with("220"));
    let junk = vec![b'A'; 1024 * 1024];
    let mut written = 0usize;
    for _ in 0..200 {
        if io.get_mut().write_all(&junk).await.is_err() {
            break;
        }
        written += junk.len();
    }
    assert!(
        written < 200 * junk.len(),
        "the sink closed the connection before 200 MiB"
    );
    // In DATA: a message line without end.
    let mut io = connect(&sink.smtp).await;
    start_transaction(&mut io).await;
    assert!(cmd(&mut io, "DATA").await.starts_with("354"));
    for _ in 0..200 {
        if io.get_mut().write_all(&junk).await.is_err() {
            break;
        }
    }
    let ends: Vec<String> = sessions(&sink.http)
        .await
        .iter()
        .filter_map(|s| s["end"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        ends.iter()
            .filter(|e| *e == "line longer than 8192 bytes")
            .count(),
        2,
        "{ends:?}"
    );
    assert!(sink.alive());
    normal_delivery_works(&sink, "after-endless-line").await;
}

#[tokio::test]
async fn floods_of_recipients_and_connections_and_silent_clients_are_bounded() {
    let mut sink = ChildSink::spawn(96);
    // Recipients past 100 get 452.
    let mut io = connect(&sink.smtp).await;
    start_transaction(&mut io).await;
    let mut refused = 0;
    for i in 0..150 {
        let r = cmd(&mut io, &format!("RCPT TO:<r{i}@example.com>")).await;
        if r.starts_with("452") {
            refused += 1;
        }
    }
    assert_eq!(refused, 51, "1 + 99 accepted, the rest refused");
    drop(io);
    // Silent clients are dropped after the idle timeout with 421.
    let mut silent = connect(&sink.smtp).await;
    assert!(reply(&mut silent).await.unwrap().starts_with("220"));
    let r = reply(&mut silent).await.unwrap();
    assert!(r.starts_with("421 4.4.2 Idle timeout"), "{r}");
    // More than 8 connections at once: the extra ones get 421 right away.
    let mut open = Vec::new();
    let mut too_many = 0;
    for _ in 0..20 {
        let mut io = connect(&sink.smtp).await;
        let r = reply(&mut io).await.unwrap_or_default();
        if r.starts_with("421 4.7.0 Too many connections") {
            too_many += 1;
        }
        open.push(io);
    }
    assert_eq!(too_many, 12, "8 served, 12 refused");
    drop(open);
    // Once the silent ones time out, service resumes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sink.alive());
    normal_delivery_works(&sink, "after-floods").await;
}
