//! Client-side TLS as Go's `crypto/tls` does it for Mattermost: a rustls client configuration that
//! trusts exactly the given roots (no system roots) or, when verification is skipped
//! (`InsecureSkipVerify`), accepts any certificate; and Go's wording of certificate failures.
//!
//! Owns: TLS client configuration shared by the twin Mattermost's mailer and its outbound HTTP
//! requests (both are the Mattermost server's client side; the harness drivers never use this).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Accepts every server certificate (Go's `InsecureSkipVerify: true`), still checking handshake
/// signatures so the session is a real TLS session.
#[derive(Debug)]
pub struct AcceptAnyServerCert {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client configuration trusting `roots` only, or anything when `skip_verification`.
pub fn client_config(
    roots: &[CertificateDer<'static>],
    skip_verification: bool,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let config = if skip_verification {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert { provider }))
            .with_no_client_auth()
    } else {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            // A root rustls cannot parse is one Mattermost would not trust either.
            let _ = store.add(root.clone());
        }
        builder.with_root_certificates(store).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Go's text for a failed TLS handshake (`tls: failed to verify certificate: x509: ...`), from a
/// rustls error found anywhere in an error chain's text.
pub fn go_tls_error_text(err_text: &str, server_name: &str) -> String {
    let prefix = "tls: failed to verify certificate: x509:";
    if err_text.contains("UnknownIssuer") {
        format!("{prefix} certificate signed by unknown authority")
    } else if err_text.contains("Expired") || err_text.contains("NotValidYet") {
        format!("{prefix} certificate has expired or is not yet valid")
    } else if err_text.contains("NotValidForName") {
        format!("{prefix} certificate is not valid for {server_name}")
    } else if err_text.contains("InvalidContentType")
        || err_text.contains("corrupt message")
        || err_text.contains("InvalidMessage")
    {
        "tls: first record does not look like a TLS handshake".to_string()
    } else {
        err_text.to_string()
    }
}
