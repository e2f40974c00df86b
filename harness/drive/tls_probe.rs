//! HTTPS as served: connect to a host's https URL, take the certificate chain it presents, decode
//! it (x509-parser: subject, SANs, issuer, validity) and say whether it verifies for the host name
//! against the stack's CA roots — the handshake itself never fails on a bad certificate, so a
//! wrong one can still be described. Connecting and the handshake each end within the timeout,
//! and a failure says which of the two it was.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use tokio::net::TcpStream;
use url::Url;

use crate::net::AddressBook;

use super::error::DriveError;
use super::http::url_text;
use super::transcript::Transcript;

/// The leaf certificate a host serves, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateView {
    pub subject_cn: Option<String>,
    pub sans: Vec<String>,
    pub issuer_cn: Option<String>,
    /// RFC 3339.
    pub not_before: String,
    pub not_after: String,
    /// Certificates in the chain as presented.
    pub chain_len: usize,
    /// `None` when it verifies for the host name against the roots; otherwise why not.
    pub verify_error: Option<String>,
}

impl CertificateView {
    pub fn trusted(&self) -> bool {
        self.verify_error.is_none()
    }
}

#[derive(Debug)]
struct Recorder {
    inner: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    verdict: Mutex<Option<Result<(), String>>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match &self.inner {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => Err("no CA roots to verify against".to_string()),
        };
        if let Ok(mut slot) = self.verdict.lock() {
            *slot = Some(verdict);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Connect to `url` (https) and describe the certificate it serves.
pub async fn inspect(
    url: &Url,
    book: &AddressBook,
    roots: &[CertificateDer<'static>],
    timeout: Duration,
    tr: &mut Transcript,
) -> Result<CertificateView, DriveError> {
    crate::crypto::install_default_provider();
    let host = url
        .host_str()
        .ok_or_else(|| DriveError::protocol(format!("{url} has no host")))?
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let target = match book.lookup("https", &host, port) {
        Some(addr) => addr.to_string(),
        None => format!("{host}:{port}"),
    };
    let provider = rustls::crypto::ring::default_provider();
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store
            .add(r.clone())
            .map_err(|e| DriveError::protocol(format!("invalid CA certificate: {e}")))?;
    }
    let inner = if store.is_empty() {
        None
    } else {
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(store),
            Arc::new(provider.clone()),
        )
        .build()
        .ok()
    };
    let recorder = Arc::new(Recorder {
        inner,
        verdict: Mutex::new(None),
        algorithms: provider.signature_verification_algorithms,
    });
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| DriveError::protocol(format!("TLS setup failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(host.clone())
        .map_err(|e| DriveError::protocol(format!("{host} is not a TLS server name: {e}")))?;
    // Each phase has its own timeout, so a failure says which one never finished.
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(&target))
        .await
        .map_err(|_| {
            DriveError::network(format!(
                "connecting to {target} for {} timed out after {timeout:?}",
                url_text(url)
            ))
        })?
        .map_err(|e| {
            DriveError::network(format!(
                "connecting to {target} for {} failed: {e}",
                url_text(url)
            ))
        })?;
    let stream = tokio::time::timeout(timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| {
            DriveError::network(format!(
                "the TLS handshake with {} did not complete within {timeout:?} (the TCP \
                 connection to {target} was accepted)",
                url_text(url)
            ))
        })?
        .map_err(|e| {
            DriveError::network(format!(
                "the TLS handshake with {} failed: {e}",
                url_text(url)
            ))
        })?;
    let chain: Vec<CertificateDer<'static>> = stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
        .unwrap_or_default();
    let leaf = chain
        .first()
        .ok_or_else(|| DriveError::protocol(format!("{url} presented no certificate")))?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| {
        DriveError::protocol(format!("{url} presented an unreadable certificate: {e}"))
    })?;
    let cn = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
            .map(str::to_string)
    };
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => sans.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => {
                    sans.push(format!("IP {ip:?}"))
                }
                _ => {}
            }
        }
    }
    let fmt_time = |t: x509_parser::time::ASN1Time| {
        t.to_datetime()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| t.to_string())
    };
    let verdict = recorder
        .verdict
        .lock()
        .ok()
        .and_then(|v| v.clone())
        .unwrap_or_else(|| Err("the certificate was never checked".into()));
    let view = CertificateView {
        subject_cn: cn(cert.subject()),
        sans,
        issuer_cn: cn(cert.issuer()),
        not_before: fmt_time(cert.validity().not_before),
        not_after: fmt_time(cert.validity().not_after),
        chain_len: chain.len(),
        verify_error: verdict.err(),
    };
    tr.fact(
        "certificate",
        format!(
            "subject CN={} SANs=[{}] issuer CN={} chain={}",
            view.subject_cn.as_deref().unwrap_or("-"),
            view.sans.join(", "),
            view.issuer_cn.as_deref().unwrap_or("-"),
            view.chain_len
        ),
    );
    tr.fact(
        "verification",
        view.verify_error
            .clone()
            .unwrap_or_else(|| "trusted for the host name".into()),
    );
    Ok(view)
}
