//! A hostile HTTP(S) server for the drivers' tests: each [`Mode`] is one way a server (or
//! something pretending to be GitLab or Mattermost) can hurt a client — never answering, dripping
//! bytes, an endless body, HTML nested 200,000 deep, a redirect loop, echoing the posted password
//! into its error page, control characters in its text and headers, a TLS port that never
//! handshakes. It writes raw bytes on a plain tokio TCP listener (no HTTP library on this side, so
//! it can send what a well-behaved server library would refuse to), on `127.0.0.1` only, on an
//! ephemeral port, in a thread of its own with its own runtime, so sync tests (spawning the
//! binary) and async tests use it alike. Dropping a [`Hostile`] stops it and closes every
//! connection. It shares no code with the harness.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the server misbehaves (on every path it does not spare).
#[derive(Debug, Clone)]
pub enum Mode {
    /// Accept the connection, read the request, never write a byte.
    NeverAnswers,
    /// Send the status line and headers at once (`Content-Length: 1 MiB`), then one byte of body
    /// per `interval`, forever.
    Slowloris { interval: Duration },
    /// A body of `bytes` bytes, generated while it is written (never held in memory), announced
    /// by `Content-Length` or sent chunked; `application/json`.
    HugeBody { bytes: u64, content_length: bool },
    /// A 200 HTML page with `depth` nested `<div>`s.
    DeepHtml { depth: usize },
    /// `302` to `/loop/N+1`, forever.
    RedirectLoop,
    /// This status with this `Location`, written as is.
    Redirect { status: u16, location: String },
    /// GitLab's sign-in form on GET; a POST is answered 422 with the form again and a flash
    /// message that echoes every posted field, password included (a JSON POST gets a Mattermost
    /// API error echoing the JSON).
    PasswordEcho,
    /// A 500 JSON error whose id and message carry ESC, BEL and CR (and, with `in_headers`, a
    /// header whose value carries them too).
    ControlChars { in_headers: bool },
    /// A "TLS" port: accepts TCP, reads the ClientHello, never answers it.
    TlsNeverHandshakes,
}

/// What the server saw and did.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections: AtomicUsize,
    /// Body bytes written to clients (what a client could have had to read).
    pub body_bytes_sent: AtomicU64,
    /// Request lines (`GET /path HTTP/1.1`), in order.
    pub requests: Mutex<Vec<String>>,
}

/// A running hostile server.
pub struct Hostile {
    addr: SocketAddr,
    tls: bool,
    stats: Arc<Stats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The small page a spared path answers.
pub const SPARED_PAGE: &str = "<!DOCTYPE html><html><body><p>ok</p></body></html>";

impl Hostile {
    /// Misbehave on every path.
    pub fn start(mode: Mode) -> Hostile {
        Self::start_sparing(mode, &[])
    }

    /// Misbehave on every path but `spared`, which answer a small 200 page ([`SPARED_PAGE`]) —
    /// so a reachability check of `/` passes and the hostile answer meets a later step.
    pub fn start_sparing(mode: Mode, spared: &[&str]) -> Hostile {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("local addr");
        let tls = matches!(mode, Mode::TlsNeverHandshakes);
        let stats = Arc::new(Stats::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let spared: Arc<Vec<String>> = Arc::new(spared.iter().map(|s| s.to_string()).collect());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name(format!("hostile-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("listener");
                    let accept = async {
                        loop {
                            let Ok((stream, _)) = listener.accept().await else {
                                continue;
                            };
                            thread_stats.connections.fetch_add(1, Ordering::SeqCst);
                            let mode = mode.clone();
                            let stats = thread_stats.clone();
                            let spared = spared.clone();
                            tokio::spawn(async move {
                                let _ = serve(stream, mode, &stats, &spared).await;
                            });
                        }
                    };
                    tokio::select! {
                        _ = stopped => {}
                        _ = accept => {}
                    }
                });
                // Dropping the runtime drops every connection task and closes its socket.
                drop(rt);
            })
            .expect("spawn the hostile server");
        Hostile {
            addr,
            tls,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (`https://` for [`Mode::TlsNeverHandshakes`]), no trailing slash.
    pub fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The base URL joined with `path`.
    pub fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("{}{path}", self.base())).expect("a URL")
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn body_bytes_sent(&self) -> u64 {
        self.stats.body_bytes_sent.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<String> {
        self.stats
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request as read.
struct Request {
    method: String,
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// The most a request head or body may be (the server is hostile, not careless).
const MAX_REQUEST: usize = 1024 * 1024;

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > MAX_REQUEST {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let mut content_length = 0usize;
    let mut content_type = String::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = v.trim().parse().unwrap_or(0),
                "content-type" => content_type = v.trim().to_string(),
                _ => {}
            }
        }
    }
    let content_length = content_length.min(MAX_REQUEST);
    let mut body = buf[head_end..].to_vec();
    while body.len() < content_length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Request {
        method,
        path,
        content_type,
        body,
    }))
}

/// Read (and forget) whatever the client sends until it goes away.
async fn hold(stream: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    while let Ok(n) = stream.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

async fn answer(
    stream: &mut TcpStream,
    stats: &Stats,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    stream.write_all(&out).await?;
    stream.write_all(body).await?;
    stats
        .body_bytes_sent
        .fetch_add(body.len() as u64, Ordering::SeqCst);
    stream.flush().await
}

async fn serve(
    mut stream: TcpStream,
    mode: Mode,
    stats: &Stats,
    spared: &[String],
) -> std::io::Result<()> {
    if matches!(mode, Mode::TlsNeverHandshakes) {
        hold(&mut stream).await;
        return Ok(());
    }
    let Some(req) = read_request(&mut stream).await? else {
        return Ok(());
    };
    if let Ok(mut r) = stats.requests.lock() {
        r.push(format!("{} {}", req.method, req.path));
    }
    let path_only = req.path.split('?').next().unwrap_or("/");
    if spared.iter().any(|s| s == path_only) {
        return answer(
            &mut stream,
            stats,
            "200 OK",
            &[("Content-Type", "text/html")],
            SPARED_PAGE.as_bytes(),
        )
        .await;
    }
    match mode {
        Mode::NeverAnswers | Mode::TlsNeverHandshakes => {
            hold(&mut stream).await;
            Ok(())
        }
        Mode::Slowloris { interval } => {
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1048576\r\n\r\n",
                )
                .await?;
            loop {
                stream.write_all(b"<").await?;
                stream.flush().await?;
                stats.body_bytes_sent.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(interval).await;
            }
        }
        Mode::HugeBody {
            bytes,
            content_length,
        } => {
            let framing = if content_length {
                format!("Content-Length: {bytes}")
            } else {
                "Transfer-Encoding: chunked".to_string()
            };
            stream
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await?;
            let block = vec![b' '; 64 * 1024];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(block.len() as u64) as usize;
                if content_length {
                    stream.write_all(&block[..n]).await?;
                } else {
                    stream.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                    stream.write_all(&block[..n]).await?;
                    stream.write_all(b"\r\n").await?;
                }
                stats.body_bytes_sent.fetch_add(n as u64, Ordering::SeqCst);
                left -= n as u64;
            }
            if !content_length {
                stream.write_all(b"0\r\n\r\n").await?;
            }
            stream.flush().await
        }
        Mode::DeepHtml { depth } => {
            let page = format!(
                "<!DOCTYPE html><html><body>{}deep{}</body></html>",
                "<div>".repeat(depth),
                "</div>".repeat(depth)
            );
            answer(
                &mut stream,
                stats,
                "200 OK",
                &[("Content-Type", "text/html; charset=utf-8")],
                page.as_bytes(),
            )
            .await
        }
        Mode::RedirectLoop => {
            let n: u64 = path_only
                .strip_prefix("/loop/")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let location = format!("/loop/{}", n + 1);
            answer(
                &mut stream,
                stats,
                "302 Found",
                &[("Location", location.as_str())],
                b"",
            )
            .await
        }
        Mode::Redirect { status, location } => {
            answer(
                &mut stream,
                stats,
                &format!("{status} Redirect"),
                &[("Location", location.as_str())],
                b"",
            )
            .await
        }
        Mode::PasswordEcho => {
            if req.method == "GET" {
                return answer(
                    &mut stream,
                    stats,
                    "200 OK",
                    &[("Content-Type", "text/html; charset=utf-8")],
                    sign_in_page(path_only, None).as_bytes(),
                )
                .await;
            }
            if req.content_type.starts_with("application/json") {
                let echoed = String::from_utf8_lossy(&req.body).into_owned();
                let body = serde_json::json!({
                    "id": "api.user.login.invalid_credentials_email_username",
                    "message": format!("Invalid credentials: you sent {echoed}"),
                    "status_code": 401,
                });
                return answer(
                    &mut stream,
                    stats,
                    "401 Unauthorized",
                    &[("Content-Type", "application/json")],
                    body.to_string().as_bytes(),
                )
                .await;
            }
            let fields: Vec<String> = url::form_urlencoded::parse(&req.body)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let echo = format!("Invalid login or password. You sent {}", fields.join(" "));
            answer(
                &mut stream,
                stats,
                "422 Unprocessable Entity",
                &[("Content-Type", "text/html; charset=utf-8")],
                sign_in_page(path_only, Some(&echo)).as_bytes(),
            )
            .await
        }
        Mode::ControlChars { in_headers } => {
            let body = serde_json::json!({
                "id": "\u{1b}]0;owned\u{7}",
                "message": "\u{1b}[2J\u{1b}[H\rPASS everything is fine\u{7}",
                "status_code": 500,
            });
            let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
            if in_headers {
                headers.push(("X-Note", "\u{1b}[31mred\u{7}\rPASS"));
            }
            answer(
                &mut stream,
                stats,
                "500 Internal Server Error",
                &headers,
                body.to_string().as_bytes(),
            )
            .await
        }
    }
}

/// A page shaped like GitLab's sign-in form (`form#new_user`), posting back to `action`, with an
/// optional flash alert.
fn sign_in_page(action: &str, flash: Option<&str>) -> String {
    let flash = flash
        .map(|f| {
            format!(
                "<div class=\"flash-alert\">{}</div>",
                f.replace('&', "&amp;").replace('<', "&lt;")
            )
        })
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html><html><body>{flash}<form id=\"new_user\" action=\"{action}\" method=\"post\">\
         <input type=\"hidden\" name=\"authenticity_token\" value=\"tok\">\
         <input type=\"text\" name=\"user[login]\"><input type=\"password\" name=\"user[password]\">\
         <input type=\"submit\" value=\"Sign in\"></form></body></html>"
    )
}
