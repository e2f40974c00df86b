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

/// The text Go's `crypto/tls` gives a failed handshake of Mattermost's client, from the rustls
/// error: since Go 1.20 a failed verification reads `tls: failed to verify certificate: ` and
/// then crypto/x509's own error (golang/go src/crypto/x509/verify.go):
/// `x509: certificate signed by unknown authority` (`UnknownAuthorityError`, no hint: the twin's
/// untrusted CA is not a candidate parent), `x509: certificate has expired or is not yet valid:
/// current time T is after NotAfter` (or `is before NotBefore`; times in RFC 3339, UTC as on a
/// server in UTC), `x509: certificate is valid for A, B, not HOST` (`HostnameError`: the
/// certificate's DNS names, or for an IP address its IP names). A server that answers a
/// ClientHello with plaintext gives `tls: first record does not look like a TLS handshake`.
/// Mattermost 3.4 never verifies (`InsecureSkipVerify: true` in utils/mail.go), so these texts
/// are only ever Mattermost 10.11's.
pub fn go_tls_error(err: &rustls::Error, server_name: &str) -> String {
    use rustls::CertificateError as C;
    let verify = |x509: String| format!("tls: failed to verify certificate: {x509}");
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => verify("x509: certificate signed by unknown authority".into()),
            C::ExpiredContext { time, not_after } => verify(format!(
                "x509: certificate has expired or is not yet valid: current time {} is after {}",
                rfc3339(time.as_secs()),
                rfc3339(not_after.as_secs())
            )),
            C::NotValidYetContext { time, not_before } => verify(format!(
                "x509: certificate has expired or is not yet valid: current time {} is before {}",
                rfc3339(time.as_secs()),
                rfc3339(not_before.as_secs())
            )),
            C::Expired | C::NotValidYet => {
                verify("x509: certificate has expired or is not yet valid: ".into())
            }
            C::NotValidForNameContext { presented, .. } => {
                verify(hostname_error(presented, server_name))
            }
            C::NotValidForName => verify(hostname_error(&[], server_name)),
            other => verify(format!("x509: {other:?}")),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "tls: first record does not look like a TLS handshake".to_string()
        }
        other => go_tls_error_text(&other.to_string(), server_name),
    }
}

/// `HostnameError.Error()` of crypto/x509 for the names webpki reports as presented
/// (`DnsName("a.example")`, `IpAddress(10.0.0.1)`).
fn hostname_error(presented: &[String], host: &str) -> String {
    let unwrap = |p: &String, kind: &str| {
        p.strip_prefix(kind)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
            .map(|r| r.trim_matches('"').to_string())
    };
    let valid: Vec<String> = if host.parse::<std::net::IpAddr>().is_ok() {
        let ips: Vec<String> = presented
            .iter()
            .filter_map(|p| unwrap(p, "IpAddress"))
            .collect();
        if ips.is_empty() {
            return format!(
                "x509: cannot validate certificate for {host} because it doesn't contain any IP SANs"
            );
        }
        ips
    } else {
        presented
            .iter()
            .filter_map(|p| unwrap(p, "DnsName"))
            .collect()
    };
    if valid.is_empty() {
        return format!("x509: certificate is not valid for any names, but wanted to match {host}");
    }
    format!(
        "x509: certificate is valid for {}, not {host}",
        valid.join(", ")
    )
}

/// Go's `time.RFC3339` of a Unix time in UTC (`2026-12-01T22:50:00Z`).
fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// [`go_tls_error`] when only an error's text is at hand (an I/O error that wraps no rustls
/// error): the handshake's plaintext case is recognised, anything else is kept as it is.
pub fn go_tls_error_text(err_text: &str, _server_name: &str) -> String {
    if err_text.contains("InvalidContentType")
        || err_text.contains("corrupt message")
        || err_text.contains("InvalidMessage")
    {
        "tls: first record does not look like a TLS handshake".to_string()
    } else {
        err_text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CertificateError as C;
    use rustls::pki_types::UnixTime;
    use std::time::Duration;

    fn cert(e: C) -> rustls::Error {
        rustls::Error::InvalidCertificate(e)
    }

    #[test]
    fn x509_texts_are_go_s() {
        assert_eq!(
            go_tls_error(&cert(C::UnknownIssuer), "smtp.example.com"),
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        );
        let expired = C::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_796_165_400)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_577_836_800)),
        };
        assert_eq!(
            go_tls_error(&cert(expired), "smtp.example.com"),
            "tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2026-12-01T22:50:00Z is after 2020-01-01T00:00:00Z"
        );
        let wrong = C::NotValidForNameContext {
            expected: rustls::pki_types::ServerName::try_from("smtp.example.com")
                .expect("a DNS name")
                .to_owned(),
            presented: vec![
                "DnsName(\"other.example.com\")".into(),
                "IpAddress(10.0.0.1)".into(),
                "DnsName(\"www.example.com\")".into(),
            ],
        };
        assert_eq!(
            go_tls_error(&cert(wrong.clone()), "smtp.example.com"),
            "tls: failed to verify certificate: x509: certificate is valid for other.example.com, www.example.com, not smtp.example.com"
        );
        assert_eq!(
            hostname_error(&["DnsName(\"a.example\")".into()], "10.0.0.2"),
            "x509: cannot validate certificate for 10.0.0.2 because it doesn't contain any IP SANs"
        );
        assert_eq!(
            hostname_error(&["IpAddress(10.0.0.1)".into()], "10.0.0.2"),
            "x509: certificate is valid for 10.0.0.1, not 10.0.0.2"
        );
        assert_eq!(
            hostname_error(&[], "smtp.example.com"),
            "x509: certificate is not valid for any names, but wanted to match smtp.example.com"
        );
        assert_eq!(
            go_tls_error(
                &rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
                "x"
            ),
            "tls: first record does not look like a TLS handshake"
        );
    }
}
