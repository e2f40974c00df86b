//! The HTTP client side of every driver: a [`Browser`] is one person (or one API client) with one
//! cookie jar and one client per URL scheme and port, resolved through the stack's [`AddressBook`]
//! so URLs, `Host` headers and TLS server names keep the documented host names while TCP goes
//! wherever the stack really listens (one host name on two ports — GitLab on 443, Mattermost on
//! 8065 — reaches two listeners: the request goes to the listener's port with the documented
//! `Host`). Redirects are never followed automatically: drivers follow each
//! hop themselves so each one is recorded in the [`Transcript`].
//!
//! Bounds (docs/limits.md): every request — connecting, the TLS handshake, the answer and reading
//! its whole body — ends within [`Reach::timeout`], and a failure says which of these it was; a
//! body is read as a stream and refused past [`BODY_CAP`] (checked against `Content-Length`
//! first, then while reading), so a hostile answer costs at most that much memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderMap;
use rustls_pki_types::CertificateDer;
use url::Url;

use crate::net::AddressBook;

use super::error::{DriveError, DriveErrorKind, chain, server_text};
use super::transcript::{HttpRecord, Transcript};

/// The most bytes of one answer's body a driver reads (4 MiB). Real pages and API answers of
/// GitLab and Mattermost are a few hundred KiB at most; a longer answer fails the request with
/// "the answer from URL exceeded the 4 MiB body cap".
pub const BODY_CAP: usize = 4 * 1024 * 1024;

/// [`BODY_CAP`] as people read it.
pub const BODY_CAP_TEXT: &str = "4 MiB";

/// How much later than the connection's timeout the whole exchange's timeout fires: both are
/// `Reach::timeout` as far as anyone can tell, but the connection's comes first, so a TCP
/// connection or TLS handshake that never completes is reported as that, not as a silent answer.
const EXCHANGE_MARGIN: Duration = Duration::from_millis(100);

/// How long the diagnosis of a timed-out https connection may try a plain TCP connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a stack's hosts are and which CAs to trust.
#[derive(Debug, Clone)]
pub struct Reach {
    pub book: AddressBook,
    /// CA roots trusted for https (the twin's CA, or a live installation's CA file).
    pub roots: Vec<CertificateDer<'static>>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Accept any server certificate (a person clicking through the browser's warning).
    pub accept_invalid_certs: bool,
}

/// What a request carries.
#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    /// `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
    /// `application/json`.
    Json(serde_json::Value),
    /// `multipart/form-data` text parts.
    Multipart(Vec<(String, String)>),
}

/// One request to make.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: reqwest::Method,
    pub url: Url,
    pub body: Body,
    /// Extra headers; values of `Authorization`, `PRIVATE-TOKEN` and `Token` are registered as secrets.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn get(url: Url) -> Self {
        Request {
            method: reqwest::Method::GET,
            url,
            body: Body::Empty,
            headers: Vec::new(),
        }
    }
    pub fn post(url: Url, body: Body) -> Self {
        Request {
            method: reqwest::Method::POST,
            url,
            body,
            headers: Vec::new(),
        }
    }
    pub fn delete(url: Url) -> Self {
        Request {
            method: reqwest::Method::DELETE,
            url,
            body: Body::Empty,
            headers: Vec::new(),
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// An answer, fully read (at most [`BODY_CAP`] bytes).
#[derive(Debug, Clone)]
pub struct Page {
    pub url: Url,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status)
    }

    /// The `Location` header resolved against the request URL.
    pub fn location(&self) -> Option<Url> {
        let raw = self.headers.get(reqwest::header::LOCATION)?.to_str().ok()?;
        self.url.join(raw).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// The body as JSON, or a protocol error naming the URL.
    pub fn json(&self) -> Result<serde_json::Value, DriveError> {
        serde_json::from_str(&self.body).map_err(|e| {
            DriveError::protocol(format!(
                "{} answered {} with a body that is not JSON: {e}",
                url_text(&self.url),
                self.status
            ))
        })
    }

    /// What the answer was, for a failure message: `answered 302 (Location: ...)` for a redirect,
    /// `answered 500: <body>` otherwise, the server's text quoted by [`server_text`] (secrets
    /// redacted, control characters escaped, bounded).
    pub fn answered(&self, secrets: &[String]) -> String {
        let mut out = format!("answered {}", self.status);
        if self.is_redirect() {
            match self.headers.get(reqwest::header::LOCATION) {
                Some(v) => {
                    let raw = String::from_utf8_lossy(v.as_bytes());
                    out.push_str(&format!(" (Location: {})", server_text(&raw, secrets)));
                }
                None => out.push_str(" without a Location"),
            }
        }
        let body = self.body.trim();
        if !body.is_empty() {
            out.push_str(": ");
            out.push_str(&server_text(body, secrets));
        }
        out
    }
}

/// A URL for a failure message: it may come from a server (a `Location`), so it is bounded like
/// any server text (the URL parser has already percent-encoded control characters).
pub fn url_text(url: &Url) -> String {
    server_text(url.as_str(), &[])
}

/// One HTTP client and the `(scheme, port)` it serves (`None`: any port).
#[derive(Clone)]
struct Route {
    scheme: &'static str,
    port: Option<u16>,
    client: reqwest::Client,
}

/// One person's (or client's) HTTP session.
#[derive(Clone)]
pub struct Browser {
    /// `None` for an API client, which keeps no cookies (a real API client such as mmctl sends its
    /// token in a header; with a session cookie Mattermost would take the cookie first and ask for
    /// a CSRF token).
    jar: Option<Arc<Jar>>,
    /// One client per `(scheme, port)` of the address book, then one per scheme for every other
    /// port (names outside the book resolve through DNS), all sharing the cookie jar.
    routes: Vec<Route>,
    book: AddressBook,
    timeout: Duration,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Browser")
    }
}

impl Browser {
    /// A fresh session (empty cookie jar) for a stack.
    pub fn new(reach: &Reach) -> Result<Browser, DriveError> {
        Self::build(reach, Some(Arc::new(Jar::default())))
    }

    /// An API client: same reach, no cookie jar.
    pub fn api_client(reach: &Reach) -> Result<Browser, DriveError> {
        Self::build(reach, None)
    }

    fn build(reach: &Reach, jar: Option<Arc<Jar>>) -> Result<Browser, DriveError> {
        crate::crypto::install_default_provider();
        let tls = tls_config(&reach.roots)?;
        let mut routes = Vec::new();
        for scheme in ["http", "https"] {
            let mut ports: Vec<u16> = reach.book.for_scheme(scheme).map(|e| e.port).collect();
            ports.sort_unstable();
            ports.dedup();
            for port in ports {
                let client = client_for(reach, scheme, Some(port), jar.as_ref(), &tls)?;
                routes.push(Route {
                    scheme,
                    port: Some(port),
                    client,
                });
            }
            let client = client_for(reach, scheme, None, jar.as_ref(), &tls)?;
            routes.push(Route {
                scheme,
                port: None,
                client,
            });
        }
        Ok(Browser {
            jar,
            routes,
            book: reach.book.clone(),
            timeout: reach.timeout,
        })
    }

    /// The client for a URL: the one for its scheme and port, else the one for its scheme.
    fn client(&self, url: &Url) -> Option<&reqwest::Client> {
        let port = url.port_or_known_default();
        self.routes
            .iter()
            .find(|r| r.scheme == url.scheme() && r.port.is_some() && r.port == port)
            .or_else(|| {
                self.routes
                    .iter()
                    .find(|r| r.scheme == url.scheme() && r.port.is_none())
            })
            .map(|r| &r.client)
    }

    /// The cookies this session would send to `url`, as `(name, value)`.
    pub fn cookies(&self, url: &Url) -> Vec<(String, String)> {
        let Some(header) = self.jar.as_ref().and_then(|j| j.cookies(url)) else {
            return Vec::new();
        };
        let Ok(text) = header.to_str() else {
            return Vec::new();
        };
        text.split(';')
            .filter_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect()
    }

    /// Make one request (no redirect following), record it, and read the answer.
    pub async fn send(
        &self,
        req: Request,
        note: Option<&str>,
        tr: &mut Transcript,
    ) -> Result<Page, DriveError> {
        let Some(client) = self.client(&req.url) else {
            return Err(DriveError::protocol(format!(
                "cannot request {}: unsupported scheme {:?}",
                url_text(&req.url),
                req.url.scheme()
            )));
        };
        let mut builder = match self.wire_url(&req.url) {
            // The Host header keeps the documented name and port; the URL the client connects
            // to carries the listener's port (reqwest's resolver overrides keep the URL's port).
            Some((wire, host)) => client
                .request(req.method.clone(), wire)
                .header(reqwest::header::HOST, host),
            None => client.request(req.method.clone(), req.url.clone()),
        };
        for (k, v) in &req.headers {
            let lower = k.to_ascii_lowercase();
            if lower == "authorization" || lower == "private-token" || lower == "token" {
                tr.secret(v.trim_start_matches("Bearer ").trim());
            }
            builder = builder.header(k.as_str(), v.as_str());
        }
        let mut sent_fields = Vec::new();
        builder = match &req.body {
            Body::Empty => builder,
            Body::Form(fields) => {
                sent_fields = fields.iter().map(|(k, _)| k.clone()).collect();
                builder.form(fields)
            }
            Body::Json(v) => {
                if let Some(obj) = v.as_object() {
                    sent_fields = obj.keys().cloned().collect();
                }
                builder.json(v)
            }
            Body::Multipart(parts) => {
                sent_fields = parts
                    .iter()
                    .map(|(k, _)| format!("{k} (multipart)"))
                    .collect();
                let mut form = reqwest::multipart::Form::new();
                for (k, v) in parts {
                    form = form.text(k.clone(), v.clone());
                }
                builder.multipart(form)
            }
        };
        let mut resp = match builder.send().await {
            Ok(resp) => resp,
            Err(e) => return Err(self.send_failure(&req, &e).await),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut set_cookies = Vec::new();
        for v in headers.get_all(reqwest::header::SET_COOKIE) {
            if let Ok(s) = v.to_str()
                && let Some((name, rest)) = s.split_once('=')
            {
                set_cookies.push(name.trim().to_string());
                let value = rest.split(';').next().unwrap_or("").trim();
                tr.secret(value);
            }
        }
        if let Some(t) = headers.get("token").and_then(|v| v.to_str().ok()) {
            tr.secret(t);
        }
        let read = read_body(&mut resp, &req, self.timeout).await;
        let page = Page {
            url: req.url.clone(),
            status,
            headers,
            body: String::new(),
        };
        tr.http(HttpRecord {
            method: req.method.to_string(),
            url: req.url.to_string(),
            sent_fields,
            status,
            location: page.location().map(|u| u.to_string()),
            set_cookies,
            content_type: page
                .content_type()
                .map(|c| c.split(';').next().unwrap_or(c).trim().to_string()),
            note: match &read {
                Ok(_) => note.map(str::to_string),
                Err(_) => Some("answer not read".to_string()),
            },
        });
        let body = read?;
        Ok(Page {
            body: String::from_utf8_lossy(&body).into_owned(),
            ..page
        })
    }

    /// Where a URL of the address book really connects: the URL with the listener's port, and
    /// the `Host` header naming the documented authority (`gitlab.example.com:8065`). TLS server
    /// names and cookies go by host name, which stays the documented one.
    fn wire_url(&self, url: &Url) -> Option<(Url, String)> {
        let addr = self.book.lookup_url(url)?;
        let host = url.host_str()?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let mut wire = url.clone();
        wire.set_port(Some(addr.port())).ok()?;
        Some((wire, authority))
    }

    /// Why a request got no answer: the TCP connection, the TLS handshake, or the answer itself
    /// did not come in time; or the connection failed otherwise.
    async fn send_failure(&self, req: &Request, e: &reqwest::Error) -> DriveError {
        let what = format!("{} {}", req.method, url_text(&req.url));
        let t = self.timeout;
        if !e.is_timeout() {
            return DriveError::network(format!("{what} failed: {}", chain(e)));
        }
        let target = target_of(&req.url);
        if !e.is_connect() {
            return DriveError::network(format!(
                "{what}: no answer within {t:?} (connected to {target} and sent the request)"
            ));
        }
        // reqwest bounds the TCP connection and the TLS handshake by one timer; a plain TCP
        // connection tells which of the two never finished.
        if req.url.scheme() == "https" && self.tcp_connects(&req.url).await {
            return DriveError::network(format!(
                "{what}: the TLS handshake with {target} did not complete within {t:?} (the TCP \
                 connection was accepted)"
            ));
        }
        DriveError::network(format!(
            "{what}: connecting to {target} timed out after {t:?}"
        ))
    }

    /// Whether a TCP connection to where `url` leads opens within a short time.
    async fn tcp_connects(&self, url: &Url) -> bool {
        let addr: Option<SocketAddr> = match self.book.lookup_url(url) {
            Some(a) => Some(a),
            None => {
                let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
                    return false;
                };
                let host = host.trim_matches(['[', ']']).to_string();
                match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::lookup_host((host, port)))
                    .await
                {
                    Ok(Ok(mut addrs)) => addrs.next(),
                    _ => None,
                }
            }
        };
        let Some(addr) = addr else {
            return false;
        };
        let probe = PROBE_TIMEOUT.min(self.timeout);
        matches!(
            tokio::time::timeout(probe, tokio::net::TcpStream::connect(addr)).await,
            Ok(Ok(_))
        )
    }
}

/// `host:port` of a URL, for messages.
fn target_of(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or("?"),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// The failure of an answer over [`BODY_CAP`].
fn over_cap(req: &Request, declared: Option<u64>) -> DriveError {
    let how = match declared {
        Some(n) => format!("it declared Content-Length: {n}"),
        None => format!("more than {BODY_CAP} bytes arrived"),
    };
    DriveError::network(format!(
        "the answer from {} {} exceeded the {BODY_CAP_TEXT} body cap ({how}); the harness reads at \
         most {BODY_CAP_TEXT} of any answer",
        req.method,
        url_text(&req.url)
    ))
}

/// Read a body as a stream, refusing it past [`BODY_CAP`]. The client's timeout covers the whole
/// read (a server dripping bytes forever is cut off).
async fn read_body(
    resp: &mut reqwest::Response,
    req: &Request,
    timeout: Duration,
) -> Result<Vec<u8>, DriveError> {
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > BODY_CAP as u64) {
        return Err(over_cap(req, declared));
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0) as usize);
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > BODY_CAP {
                    return Err(over_cap(req, None));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => {
                return Err(DriveError::network(format!(
                    "reading the answer of {} {} timed out after {timeout:?} ({} bytes read)",
                    req.method,
                    url_text(&req.url),
                    body.len()
                )));
            }
            Err(e) => {
                return Err(DriveError::network(format!(
                    "reading the answer of {} {} failed: {}",
                    req.method,
                    url_text(&req.url),
                    chain(&e)
                )));
            }
        }
    }
}

fn tls_config(roots: &[CertificateDer<'static>]) -> Result<rustls::ClientConfig, DriveError> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).map_err(|e| {
            DriveError::new(
                DriveErrorKind::Setup,
                format!("invalid CA certificate: {e}"),
            )
        })?;
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(store)
        .with_no_client_auth())
}

/// A client for one scheme: with `port`, resolving the book's names of that scheme and port;
/// without, every name of the scheme (whatever its port). Every client gets the stack's TLS
/// configuration (an http client never uses it, but then builds no default one either).
fn client_for(
    reach: &Reach,
    scheme: &str,
    port: Option<u16>,
    jar: Option<&Arc<Jar>>,
    tls: &rustls::ClientConfig,
) -> Result<reqwest::Client, DriveError> {
    // `connect_timeout` bounds the TCP connection and TLS handshake; `timeout` the whole
    // exchange, body included, a little later so that a hung handshake is reported as such.
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(reach.timeout + EXCHANGE_MARGIN)
        .connect_timeout(reach.timeout)
        .no_proxy()
        .user_agent(concat!("mm-harness/", env!("CARGO_PKG_VERSION")));
    if let Some(jar) = jar {
        b = b.cookie_provider(jar.clone());
    }
    for e in reach.book.for_scheme(scheme) {
        if port.is_none_or(|p| p == e.port) {
            b = b.resolve(&e.host, e.addr);
        }
    }
    if scheme == "https" && reach.accept_invalid_certs {
        b = b.tls_danger_accept_invalid_certs(true);
    } else {
        b = b.tls_backend_preconfigured(tls.clone());
    }
    b.build().map_err(|e| {
        DriveError::new(
            DriveErrorKind::Setup,
            format!("cannot build the {scheme} client: {}", chain(&e)),
        )
    })
}
