//! What the network checks share: one API client (the drivers' [`Browser`], resolved through the
//! `--resolve` address book, trusting `--ca-file` or the system bundle), and the answers several
//! checks need, fetched once (Mattermost's ping and `X-Version-Id`, its configuration). Concurrent
//! checks asking for the same answer wait for one request ([`tokio::sync::OnceCell`]).
//!
//! Owns: [`Probe`], the raw HTTP/1.1 exchange the websocket check needs ([`raw_exchange`]), and
//! the CA roots ([`load_roots`]). Every request is bounded by the request timeout (a little under
//! the check deadline, so a slow host gives its own finding rather than a timed-out check).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;
use url::Url;

use super::inputs::{Prepared, SettingsView};
use crate::config::Version;
use crate::drive::http::{Page, Request};
use crate::drive::{Browser, DriveError, Reach, Transcript};

/// The system CA bundle read when no `--ca-file` is given.
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Most bytes read from a raw HTTP answer (status line and headers).
const MAX_RAW: usize = 16 * 1024;

/// CA certificates from PEM text (every `CERTIFICATE` block).
pub fn parse_pem_roots(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// The roots to trust: the `--ca-file` ones, else the system bundle (empty if absent).
pub fn load_roots(ca_file: Option<&[u8]>) -> Vec<CertificateDer<'static>> {
    match ca_file {
        Some(pem) => parse_pem_roots(pem),
        None => std::fs::read(SYSTEM_BUNDLE)
            .map(|b| parse_pem_roots(&b))
            .unwrap_or_default(),
    }
}

/// Mattermost's answer to `GET /api/v4/system/ping`.
#[derive(Debug, Clone)]
pub struct PingFacts {
    pub status: u16,
    /// `X-Version-Id`.
    pub version_id: Option<String>,
    /// The `status` field of the JSON body.
    pub body_status: Option<String>,
}

impl PingFacts {
    /// The Mattermost version from `X-Version-Id` (`10.11.0.10.11.0.<hash>.false`).
    pub fn version(&self) -> Option<Version> {
        let id = self.version_id.as_deref()?;
        let mut parts = id.split('.');
        let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
        format!("{a}.{b}.{c}").parse().ok()
    }
    /// The last field of `X-Version-Id`: whether a licence is loaded.
    pub fn licensed(&self) -> Option<bool> {
        match self.version_id.as_deref()?.rsplit('.').next()? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

/// The shared state of one diagnosis.
pub struct Probe {
    pub prepared: Prepared,
    pub reach: Reach,
    api: Result<Browser, String>,
    ping: OnceCell<Result<PingFacts, DriveError>>,
    live: OnceCell<Option<Value>>,
    gitlab_version: OnceCell<Result<Option<Version>, String>>,
    /// Whether any host answered anything (an HTTP reply, a TLS handshake, an SMTP greeting).
    answered: AtomicBool,
}

impl Probe {
    pub fn new(prepared: Prepared) -> Probe {
        let deadline = prepared.inputs.timeout;
        // A request gives up a little before its check's deadline, so it can say why.
        // (A quarter of the deadline, at most half a second: enough for a loaded machine to
        // schedule the failed request's answer before the check's own deadline.)
        let request_timeout = deadline
            .saturating_sub((deadline / 4).min(Duration::from_millis(500)))
            .max(Duration::from_millis(25));
        let reach = Reach {
            book: prepared.inputs.book.clone(),
            roots: prepared.inputs.roots.clone(),
            timeout: request_timeout,
            accept_invalid_certs: prepared.inputs.insecure,
        };
        let api = Browser::api_client(&reach).map_err(|e| e.message);
        Probe {
            prepared,
            reach,
            api,
            ping: OnceCell::new(),
            live: OnceCell::new(),
            gitlab_version: OnceCell::new(),
            answered: AtomicBool::new(false),
        }
    }

    /// The per-request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.reach.timeout
    }

    /// Send one request (no redirects followed).
    pub async fn send(&self, req: Request) -> Result<Page, DriveError> {
        let api = self
            .api
            .as_ref()
            .map_err(|e| DriveError::network(format!("cannot build the HTTP client: {e}")))?;
        let mut tr = Transcript::new();
        let page = api.send(req, None, &mut tr).await?;
        self.mark_answered();
        Ok(page)
    }

    /// Note that a host answered (checks call it for TLS handshakes and SMTP greetings).
    pub fn mark_answered(&self) {
        self.answered.store(true, Ordering::Relaxed);
    }

    /// Whether any host answered so far.
    pub fn answered(&self) -> bool {
        self.answered.load(Ordering::Relaxed)
    }

    /// `GET url`, with extra headers.
    pub async fn get(&self, url: Url, headers: &[(&str, &str)]) -> Result<Page, DriveError> {
        let mut req = Request::get(url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        self.send(req).await
    }

    /// `base` joined with `path` (`https://mm.example.com` + `/api/v4/system/ping`).
    pub fn join(base: &Url, path: &str) -> Option<Url> {
        let root = base.as_str().trim_end_matches('/');
        Url::parse(&format!("{root}{path}")).ok()
    }

    /// Mattermost's ping, fetched once.
    pub async fn ping(&self) -> &Result<PingFacts, DriveError> {
        self.ping
            .get_or_init(|| async {
                let base = self
                    .prepared
                    .inputs
                    .mattermost
                    .clone()
                    .ok_or_else(|| DriveError::unavailable("no --mattermost URL"))?;
                let url = Self::join(&base, "/api/v4/system/ping")
                    .ok_or_else(|| DriveError::protocol("bad Mattermost URL"))?;
                let mut page = self.get(url, &[]).await?;
                // Mattermost 3.x (GitLab 8.x) pings under API v3.
                if page.status == 404
                    && let Some(v3) = Self::join(&base, "/api/v3/general/ping")
                    && let Ok(p) = self.get(v3, &[]).await
                    && p.status == 200
                {
                    page = p;
                }
                let body_status = serde_json::from_str::<Value>(&page.body)
                    .ok()
                    .and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_string));
                Ok(PingFacts {
                    status: page.status,
                    version_id: page.header("x-version-id").map(str::to_string),
                    body_status,
                })
            })
            .await
    }

    /// Mattermost's full configuration from `GET /api/v4/config` (system admin token), once.
    pub async fn live_config(&self) -> Option<&Value> {
        self.live
            .get_or_init(|| async {
                let token = self.prepared.inputs.mattermost_token.as_ref()?;
                let base = self.prepared.inputs.mattermost.clone()?;
                let url = Self::join(&base, "/api/v4/config")?;
                let auth = format!("Bearer {}", token.expose());
                let page = self
                    .get(url, &[("Authorization", auth.as_str())])
                    .await
                    .ok()?;
                if page.status != 200 {
                    return None;
                }
                serde_json::from_str::<Value>(&page.body)
                    .ok()
                    .filter(Value::is_object)
            })
            .await
            .as_ref()
    }

    /// The settings to check: live (token) first, then config.json, then gitlab.rb. The client
    /// secret, which the API redacts, comes from the files or `--client-secret`.
    pub async fn settings(&self) -> Option<SettingsView> {
        let files = self.prepared.file_settings();
        let mut view = match self.live_config().await {
            Some(doc) => SettingsView::from_json(doc, "GET /api/v4/config"),
            None => files.clone()?,
        };
        if view.client_secret.is_empty()
            && let Some(f) = &files
        {
            view.client_secret = f.client_secret.clone();
        }
        if view.smtp_password.is_empty()
            && let Some(f) = &files
        {
            view.smtp_password = f.smtp_password.clone();
        }
        if let Some(s) = &self.prepared.inputs.client_secret {
            view.client_secret = s.clone();
        }
        if let Some(s) = &self.prepared.inputs.smtp_password {
            view.smtp_password = s.clone();
        }
        Some(view)
    }

    /// GitLab's version from `GET /api/v4/version` (needs `--gitlab-token`), once. `Ok(None)`:
    /// no token, or GitLab did not say (8.x has no such endpoint); `Err`: no answer.
    pub async fn gitlab_version(&self) -> Result<Option<Version>, String> {
        self.gitlab_version
            .get_or_init(|| async {
                let (Some(base), Some((name, token))) =
                    (self.prepared.inputs.gitlab.clone(), self.gitlab_auth())
                else {
                    return Ok(None);
                };
                let Some(url) = Self::join(&base, "/api/v4/version") else {
                    return Ok(None);
                };
                let page = self
                    .get(url, &[(name, token.as_str())])
                    .await
                    .map_err(|e| e.message)?;
                if page.status != 200 {
                    return Ok(None);
                }
                Ok(serde_json::from_str::<Value>(&page.body)
                    .ok()
                    .and_then(|v| v.get("version").and_then(Value::as_str).map(str::to_string))
                    .and_then(|v| v.parse::<Version>().ok()))
            })
            .await
            .clone()
    }

    /// `Authorization` header value for the GitLab admin token, if one was given.
    pub fn gitlab_auth(&self) -> Option<(&'static str, String)> {
        self.prepared
            .inputs
            .gitlab_token
            .as_ref()
            .map(|t| ("PRIVATE-TOKEN", t.expose().to_string()))
    }
}

/// Where to open a TCP connection for `url`: the address book entry, else the URL's host:port.
pub fn connect_target(book: &crate::net::AddressBook, url: &Url) -> Option<String> {
    if let Some(addr) = book.lookup_url(url) {
        return Some(addr.to_string());
    }
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    Some(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// A certificate verifier that accepts anything: the websocket check asks whether the proxy
/// passes the upgrade, not whether the certificate is right (the TLS checks say that).
#[derive(Debug)]
struct AcceptAny(rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Send `request` (raw HTTP/1.1 bytes) to `url`'s host over TCP (TLS for https) and read the
/// answer's head and the start of its body, bounded by [`MAX_RAW`]. Returns the status code and
/// the text read.
pub async fn raw_exchange(
    book: &crate::net::AddressBook,
    url: &Url,
    request: &[u8],
) -> Result<(u16, String), String> {
    let target = connect_target(book, url).ok_or_else(|| format!("{url} has no host"))?;
    let tcp = tokio::net::TcpStream::connect(&target)
        .await
        .map_err(|e| format!("connecting to {target} failed: {e}"))?;
    let mut buf = Vec::new();
    if url.scheme() == "https" {
        let provider = rustls::crypto::ring::default_provider();
        let algs = provider.signature_verification_algorithms;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(algs)))
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from(url.host_str().unwrap_or("").to_string())
            .map_err(|e| format!("bad TLS name: {e}"))?;
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {target} failed: {e}"))?;
        tls.write_all(request).await.map_err(|e| e.to_string())?;
        read_head(&mut tls, &mut buf).await?;
    } else {
        let mut tcp = tcp;
        tcp.write_all(request).await.map_err(|e| e.to_string())?;
        read_head(&mut tcp, &mut buf).await?;
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP answer: {:?}",
                super::finding::bound(text.clone(), 120)
            )
        })?;
    Ok((status, text))
}

async fn read_head<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    let mut chunk = [0u8; 2048];
    // The head first (a 101 keeps the connection open, so never wait for its end)...
    while find(buf, b"\r\n\r\n").is_none() && buf.len() < MAX_RAW {
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if buf.is_empty() {
        return Err("the server closed the connection without answering".into());
    }
    // ...then whatever of the body arrives promptly, for evidence.
    if let Some(end) = find(buf, b"\r\n\r\n")
        && buf.len() == end + 4
        && !buf.starts_with(b"HTTP/1.1 101")
        && let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), s.read(&mut chunk)).await
    {
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.truncate(MAX_RAW);
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_id_gives_version_and_licence() {
        let p = PingFacts {
            status: 200,
            version_id: Some("10.11.0.10.11.0.abcdef.false".into()),
            body_status: Some("OK".into()),
        };
        assert_eq!(p.version(), Some(Version::new(10, 11, 0)));
        assert_eq!(p.licensed(), Some(false));
    }
}
