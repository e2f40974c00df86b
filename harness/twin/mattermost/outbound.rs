//! The twin Mattermost's outbound HTTP client (its `HTTPService().MakeClient(true)`): the token and
//! user requests to GitLab.
//!
//! Owns: building a reqwest client for one target URL that connects where the address book says
//! the URL's host really is (keeping the documented host name in the URL, `Host` and SNI), that
//! trusts only the configured roots (no system roots) unless `EnableInsecureOutgoingConnections`,
//! never follows redirects blindly beyond Go's default of 10, and has a timeout. A host the
//! address book does not know fails like a DNS failure, so nothing ever leaves loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use super::super::mail::tls_client::client_config;
use crate::net::AddressBook;

/// A resolver that knows no names: only the address book's overrides resolve.
struct NoDns;

impl reqwest::dns::Resolve for NoDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move { Err(format!("dial tcp: lookup {host}: no such host").into()) })
    }
}

/// Why no client could be built for a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("parse {0:?}: invalid URL")]
    BadUrl(String),
    #[error("dial tcp {0}: refused by the twin: only loopback addresses may be reached")]
    NotLoopback(String),
    #[error("building the http client failed: {0}")]
    Build(String),
}

/// A client for requests to `url`.
pub fn client_for(
    url: &str,
    book: &AddressBook,
    roots: &[CertificateDer<'static>],
    insecure: bool,
    timeout: Option<Duration>,
) -> Result<reqwest::Client, OutboundError> {
    crate::crypto::install_default_provider();
    let parsed = url::Url::parse(url).map_err(|_| OutboundError::BadUrl(url.to_string()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| OutboundError::BadUrl(url.to_string()))?
        .trim_matches(['[', ']'])
        .to_string();
    if let Ok(ip) = host.parse::<std::net::IpAddr>()
        && !ip.is_loopback()
    {
        return Err(OutboundError::NotLoopback(host));
    }
    let mut builder = reqwest::Client::builder();
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout).connect_timeout(timeout);
    }
    let mut builder = builder
        .redirect(reqwest::redirect::Policy::limited(10))
        .no_proxy()
        .dns_resolver(Arc::new(NoDns))
        .tls_backend_preconfigured(
            (*client_config(roots, insecure).map_err(OutboundError::Build)?).clone(),
        );
    if let Some(addr) = book.lookup_url(&parsed) {
        builder = builder.resolve(&host, addr);
    }
    // Names of the same scheme resolve too, so a redirect to another documented host works.
    for entry in book.for_scheme(parsed.scheme()) {
        if entry.host != host.to_ascii_lowercase() {
            builder = builder.resolve(
                &entry.host,
                SocketAddr::new(entry.addr.ip(), entry.addr.port()),
            );
        }
    }
    builder
        .build()
        .map_err(|e| OutboundError::Build(e.to_string()))
}

/// The full text of an error and its sources (for the server-side detail).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&format!("{s}"));
        source = s.source();
    }
    text
}
