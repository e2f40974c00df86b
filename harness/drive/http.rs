//! The HTTP client side of every driver: a [`Browser`] is one person (or one API client) with one
//! cookie jar and one client per URL scheme, resolved through the stack's [`AddressBook`] so URLs,
//! `Host` headers and TLS server names keep the documented host names while TCP goes wherever the
//! stack really listens. Redirects are never followed automatically: drivers follow each hop
//! themselves so each one is recorded in the [`Transcript`]. Every request has a timeout.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderMap;
use rustls_pki_types::CertificateDer;
use url::Url;

use crate::net::AddressBook;

use super::error::{DriveError, DriveErrorKind, chain};
use super::transcript::{HttpRecord, Transcript};

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

/// An answer, fully read.
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
                self.url, self.status
            ))
        })
    }
}

/// One person's (or client's) HTTP session.
#[derive(Clone)]
pub struct Browser {
    /// `None` for an API client, which keeps no cookies (a real API client such as mmctl sends its
    /// token in a header; with a session cookie Mattermost would take the cookie first and ask for
    /// a CSRF token).
    jar: Option<Arc<Jar>>,
    http: reqwest::Client,
    https: reqwest::Client,
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
        let http = client_for(reach, "http", jar.as_ref(), None)?;
        let tls = tls_config(&reach.roots)?;
        let https = client_for(reach, "https", jar.as_ref(), Some(tls))?;
        Ok(Browser { jar, http, https })
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
        let client = match req.url.scheme() {
            "http" => &self.http,
            "https" => &self.https,
            other => {
                return Err(DriveError::protocol(format!(
                    "cannot request {}: unsupported scheme {other:?}",
                    req.url
                )));
            }
        };
        let mut builder = client.request(req.method.clone(), req.url.clone());
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
        let resp = builder.send().await.map_err(|e| {
            let kind = DriveErrorKind::Network;
            DriveError::new(
                kind,
                format!("{} {} failed: {}", req.method, req.url, chain(&e)),
            )
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.map_err(|e| {
            DriveError::network(format!(
                "reading the answer of {} {} failed: {}",
                req.method,
                req.url,
                chain(&e)
            ))
        })?;
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
        let page = Page {
            url: req.url.clone(),
            status,
            headers,
            body,
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
            note: note.map(str::to_string),
        });
        Ok(page)
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

fn client_for(
    reach: &Reach,
    scheme: &str,
    jar: Option<&Arc<Jar>>,
    tls: Option<rustls::ClientConfig>,
) -> Result<reqwest::Client, DriveError> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(reach.timeout)
        .connect_timeout(reach.timeout)
        .no_proxy()
        .user_agent(concat!("mm-harness/", env!("CARGO_PKG_VERSION")));
    if let Some(jar) = jar {
        b = b.cookie_provider(jar.clone());
    }
    for e in reach.book.for_scheme(scheme) {
        b = b.resolve(&e.host, e.addr);
    }
    if let Some(tls) = tls {
        if reach.accept_invalid_certs {
            b = b.tls_danger_accept_invalid_certs(true);
        } else {
            b = b.tls_backend_preconfigured(tls);
        }
    }
    b.build().map_err(|e| {
        DriveError::new(
            DriveErrorKind::Setup,
            format!("cannot build the {scheme} client: {}", chain(&e)),
        )
    })
}
