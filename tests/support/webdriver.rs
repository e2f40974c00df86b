//! A real browser for the integration tests: Debian's `chromium`, headless, driven through
//! `chromedriver` (started here on a loopback port) with the fantoccini WebDriver client.
//!
//! - Host names: `--host-resolver-rules` maps each documented `host:port` of a twin's address book
//!   to its loopback listener (`MAP mattermost.example.com:443 127.0.0.1:40211`), so the browser
//!   sees the documented URLs exactly (Host header, TLS server name, cookies' domain). Every other
//!   name resolves to nothing: the browser reaches loopback only.
//! - Trust: the run's CA goes into a fresh NSS database (`certutil` from libnss3-tools) under a
//!   temporary `$HOME/.pki/nssdb`, where Chromium on Linux reads locally trusted roots, so
//!   certificates are verified for real (a wrong name or an expired certificate still fails).
//! - Skipping: [`Chrome::start`] returns `None` with a printed reason when chromium or chromedriver
//!   is not installed, unless `CI` is set, where that is a failure.
//! - Cleanup: chromedriver runs in its own process group; dropping [`Chrome`] kills the group
//!   (chromedriver and every browser process) and removes the temporary profile and NSS db.
//!
//! Reuse: `Chrome::start(&BrowserOptions::for_twin(&handle)).await`, then `chrome.client` is a
//! fantoccini client; `chrome.close().await` at the end of a test.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use mm_harness::net::AddressBook;
use mm_harness::twin::bringup::TwinHandle;

/// How long any one browser step may take before the test fails.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// What the browser is started with.
#[derive(Debug, Clone, Default)]
pub struct BrowserOptions {
    /// `(documented host, URL port, loopback address)`.
    pub hosts: Vec<(String, u16, SocketAddr)>,
    /// A CA certificate (PEM) to trust.
    pub ca_pem: Option<String>,
}

impl BrowserOptions {
    /// Every listener of a twin, and its CA.
    pub fn for_twin(handle: &TwinHandle) -> BrowserOptions {
        BrowserOptions {
            hosts: hosts_of(handle.address_book()),
            ca_pem: Some(handle.ca_pem().to_string()),
        }
    }
}

/// The `(host, port, addr)` entries of an address book (http and https alike).
pub fn hosts_of(book: &AddressBook) -> Vec<(String, u16, SocketAddr)> {
    book.entries
        .iter()
        .filter(|e| e.scheme == "http" || e.scheme == "https")
        .map(|e| (e.host.clone(), e.port, e.addr))
        .collect()
}

/// The `--host-resolver-rules` value for these hosts; everything else resolves to nothing.
pub fn host_resolver_rules(hosts: &[(String, u16, SocketAddr)]) -> String {
    let mut rules: Vec<String> = hosts
        .iter()
        .map(|(host, port, addr)| format!("MAP {host}:{port} {}:{}", addr.ip(), addr.port()))
        .collect();
    rules.push("MAP * ~NOTFOUND".to_string());
    rules.push("EXCLUDE localhost".to_string());
    rules.join(", ")
}

/// The chromium binary and chromedriver, when installed.
fn find_tools() -> Result<(PathBuf, PathBuf), String> {
    // Debian's /usr/bin/chromium is a shell wrapper; chromedriver starts the real binary.
    let chromium = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or("chromium is not installed (apt-get install chromium chromium-driver)")?;
    let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
    Ok((chromium, driver))
}

/// A running headless Chromium session.
pub struct Chrome {
    pub client: Client,
    // Field order: the driver group is killed before the temporary HOME is removed.
    _driver: DriverGuard,
    _home: tempfile::TempDir,
}

impl Chrome {
    /// Start chromedriver and a headless Chromium. `None` (with the reason printed) when the
    /// browser is not installed outside CI; panics in CI or when an installed browser fails.
    pub async fn start(opts: &BrowserOptions) -> Option<Chrome> {
        let (chromium, driver_path) = match find_tools() {
            Ok(t) => t,
            Err(why) => {
                if std::env::var_os("CI").is_some() {
                    panic!("CI is set but the browser tests cannot run: {why}");
                }
                eprintln!("skipped: {why}");
                return None;
            }
        };
        let home = tempfile::tempdir().expect("temporary HOME for the browser");
        if let Some(ca) = &opts.ca_pem {
            trust_ca(home.path(), ca);
        }
        let port = free_port();
        let mut cmd = Command::new(&driver_path);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=")
            .env("HOME", home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let driver = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display()));
        let driver = DriverGuard(Some(driver));
        let url = format!("http://127.0.0.1:{port}");
        wait_for_driver(port);
        let profile = home.path().join("profile");
        let args = vec![
            "--headless=new".to_string(),
            // Running as root (CI): Chromium refuses its sandbox.
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--no-first-run".to_string(),
            "--no-default-browser-check".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-extensions".to_string(),
            "--no-proxy-server".to_string(),
            format!("--user-data-dir={}", profile.display()),
            format!("--host-resolver-rules={}", host_resolver_rules(&opts.hosts)),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_string(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            Duration::from_secs(60),
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&url),
        )
        .await
        .expect("chromedriver did not open a session within 60 s")
        .unwrap_or_else(|e| panic!("chromedriver refused a session: {e}"));
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(STEP_TIMEOUT),
                Some(STEP_TIMEOUT),
                Some(Duration::ZERO),
            ))
            .await
            .expect("set browser timeouts");
        Some(Chrome {
            client,
            _driver: driver,
            _home: home,
        })
    }

    /// Open a URL and wait for the page.
    pub async fn goto(&self, url: &str) {
        match tokio::time::timeout(STEP_TIMEOUT, self.client.goto(url)).await {
            Err(_) => panic!("opening {url} took more than {STEP_TIMEOUT:?}"),
            Ok(Err(e)) => panic!("opening {url}: {e}"),
            Ok(Ok(())) => {}
        }
    }

    /// The element matching a CSS selector, waiting for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let found = tokio::time::timeout(
            STEP_TIMEOUT,
            self.client.wait().for_element(Locator::Css(css)),
        )
        .await;
        match found {
            Ok(Ok(e)) => e,
            _ => {
                let url = self.url().await;
                let source = self.client.source().await.unwrap_or_default();
                panic!("no element {css:?} on {url}:\n{}", truncate(&source, 4000));
            }
        }
    }

    /// Click an element and let the navigation it starts finish.
    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        match tokio::time::timeout(STEP_TIMEOUT, e.click()).await {
            Err(_) => panic!("clicking {css:?} took more than {STEP_TIMEOUT:?}"),
            Ok(Err(err)) => panic!("clicking {css:?}: {err}"),
            Ok(Ok(())) => {}
        }
    }

    /// Type into a field.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.send_keys(text)
            .await
            .unwrap_or_else(|err| panic!("typing into {css:?}: {err}"));
    }

    /// The text of an element.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {css:?}: {e}"))
    }

    /// The URL once it contains `part` (a click's navigation may still be under way when the
    /// click returns), polled for at most the step timeout; the last URL seen otherwise, for the
    /// caller's assertion to show.
    pub async fn wait_for_url(&self, part: &str) -> String {
        let deadline = std::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let url = self.url().await;
            if url.contains(part) || std::time::Instant::now() >= deadline {
                return url;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// The cookies the browser keeps for the current page's site.
    pub async fn cookies(&self) -> Vec<fantoccini::cookies::Cookie<'static>> {
        self.client
            .get_all_cookies()
            .await
            .unwrap_or_else(|e| panic!("reading cookies: {e}"))
    }

    /// End the session (closes the browser), then stop chromedriver.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
    }
}

/// Kills chromedriver's process group (chromedriver and the browser) when dropped.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

/// Wait until chromedriver accepts connections (20 s at most).
fn wait_for_driver(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("chromedriver did not listen on 127.0.0.1:{port} within 20 s");
}

/// A fresh NSS database in `$HOME/.pki/nssdb` trusting `ca_pem` as a root for TLS servers.
fn trust_ca(home: &Path, ca_pem: &str) {
    let db = home.join(".pki").join("nssdb");
    std::fs::create_dir_all(&db).expect("create the NSS db directory");
    let ca = home.join("ca.pem");
    std::fs::write(&ca, ca_pem).expect("write the CA");
    let dbarg = format!("sql:{}", db.display());
    let run = |args: &[&str]| {
        let out = Command::new("certutil")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run certutil (apt-get install libnss3-tools): {e}"));
        assert!(
            out.status.success(),
            "certutil {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["-N", "-d", &dbarg, "--empty-password"]);
    run(&[
        "-A",
        "-d",
        &dbarg,
        "-n",
        "mm-harness twin CA",
        "-t",
        "C,,",
        "-i",
        &ca.display().to_string(),
    ]);
}
