//! The twin's throw-away certificate authority and the server certificates it hands to HTTPS and
//! SMTP listeners.
//!
//! Owns: one generated CA per running twin (what an operator would put in
//! `/etc/gitlab/trusted-certs`), a second CA that nobody trusts, and server certificates for a
//! documented host name in four kinds ([`CertKind`]): valid, expired (`not_after` in the past),
//! wrong host (a SAN of another name) and untrusted (signed by the second CA). Each kind is built as
//! a rustls `ServerConfig` ready for a listener. Keys are ECDSA P-256 (ring), generated in memory
//! and never written anywhere.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// Which certificate a listener presents for its host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// Signed by the twin CA, SAN = the host name, valid from yesterday for a year.
    Valid,
    /// Signed by the twin CA, SAN = the host name, expired yesterday.
    Expired,
    /// Signed by the twin CA, valid, but its only SAN is another host name.
    WrongHost,
    /// Valid for the host name, but signed by a second CA that no client trusts.
    Untrusted,
}

impl CertKind {
    /// The host name a wrong-host certificate names instead of the requested one.
    pub const WRONG_HOST_NAME: &'static str = "wrong-host.example.com";
}

/// Why a certificate could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot issue a {kind:?} certificate for {host:?}: {source}")]
pub struct TlsError {
    pub host: String,
    pub kind: CertKind,
    #[source]
    pub source: TlsErrorKind,
}

/// What went wrong while issuing a certificate.
#[derive(Debug, thiserror::Error)]
pub enum TlsErrorKind {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("rustls refused the certificate: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The trusted CA's common name.
const TRUSTED_CA_NAME: &str = "mm-harness twin CA";

/// One certificate authority: its issuer (name + key) and its self-signed certificate.
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

impl Authority {
    fn params(common_name: &str) -> Result<CertificateParams, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "mm-harness twin");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(2);
        params.not_after = now + Duration::days(730);
        Ok(params)
    }

    fn generate(common_name: &str) -> Result<Authority, rcgen::Error> {
        let params = Self::params(common_name)?;
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Authority {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// An authority from its certificate and key as [`Authority::generate`] made them: the
    /// issuer's name is the same fixed one, so leaves chain to the given certificate.
    fn from_pem(
        common_name: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<Authority, rcgen::Error> {
        use rustls_pki_types::pem::PemObject;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|_| rcgen::Error::CouldNotParseCertificate)?;
        let key = KeyPair::from_pem(key_pem)?;
        Ok(Authority {
            cert_der,
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer: Issuer::new(Self::params(common_name)?, key),
        })
    }
}

/// The twin's CA (trusted by whoever is given [`TwinCa::ca_pem`]) and an untrusted second CA.
pub struct TwinCa {
    trusted: Authority,
    untrusted: Authority,
}

impl std::fmt::Debug for TwinCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwinCa").finish_non_exhaustive()
    }
}

/// A server certificate with its chain and private key, before it becomes a rustls config.
pub struct IssuedCertificate {
    /// Leaf first, then the issuing CA.
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl IssuedCertificate {
    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// The chain and the private key as PEM files, as omnibus reads them from
    /// `/etc/gitlab/ssl/<host>.crt` and `<host>.key`.
    pub fn to_pem(&self) -> (String, String) {
        let pem = |label: &str, der: &[u8]| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            let mut out = format!("-----BEGIN {label}-----\n");
            for chunk in b64.as_bytes().chunks(64) {
                out.push_str(&String::from_utf8_lossy(chunk));
                out.push('\n');
            }
            out.push_str(&format!("-----END {label}-----\n"));
            out
        };
        let chain = self
            .chain
            .iter()
            .map(|c| pem("CERTIFICATE", c.as_ref()))
            .collect::<String>();
        (chain, pem("PRIVATE KEY", self.key.secret_pkcs8_der()))
    }
}

impl TwinCa {
    /// Generate a fresh CA pair. Generation uses fixed, valid parameters; it fails only if the
    /// system random source does, which is not recoverable.
    pub fn generate() -> TwinCa {
        Self::try_generate().expect("generating an ECDSA P-256 CA with fixed parameters")
    }

    /// Generate a fresh CA pair, reporting a failure of the random source as an error.
    pub fn try_generate() -> Result<TwinCa, rcgen::Error> {
        Ok(TwinCa {
            trusted: Authority::generate(TRUSTED_CA_NAME)?,
            untrusted: Authority::generate("mm-harness untrusted CA")?,
        })
    }

    /// The trusted CA's private key, PEM: what the twin image in a container is given (with
    /// [`TwinCa::ca_pem`]) to issue certificates every peer trusts. Never printed.
    pub fn ca_key_pem(&self) -> &str {
        &self.trusted.key_pem
    }

    /// A CA from the certificate and key another twin exported ([`TwinCa::ca_pem`],
    /// [`TwinCa::ca_key_pem`]); the untrusted CA is fresh.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<TwinCa, rcgen::Error> {
        Ok(TwinCa {
            trusted: Authority::from_pem(TRUSTED_CA_NAME, cert_pem, key_pem)?,
            untrusted: Authority::generate("mm-harness untrusted CA")?,
        })
    }

    /// The trusted CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca_pem_str().to_string()
    }

    /// The trusted CA certificate, PEM, borrowed.
    pub fn ca_pem_str(&self) -> &str {
        &self.trusted.cert_pem
    }

    /// The trusted CA certificate, DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.trusted.cert_der.clone()
    }

    /// The untrusted CA certificate (what signs [`CertKind::Untrusted`] leaves), DER.
    pub fn untrusted_ca_der(&self) -> CertificateDer<'static> {
        self.untrusted.cert_der.clone()
    }

    /// Issue a server certificate of `kind` for `host`.
    pub fn issue(&self, host: &str, kind: CertKind) -> Result<IssuedCertificate, TlsError> {
        self.issue_inner(host, kind).map_err(|e| TlsError {
            host: host.to_string(),
            kind,
            source: e.into(),
        })
    }

    fn issue_inner(&self, host: &str, kind: CertKind) -> Result<IssuedCertificate, rcgen::Error> {
        let san = match kind {
            CertKind::WrongHost => CertKind::WRONG_HOST_NAME.to_string(),
            _ => host.to_ascii_lowercase(),
        };
        let mut params = CertificateParams::new(vec![san.clone()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, san);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        match kind {
            CertKind::Expired => {
                params.not_before = now - Duration::days(400);
                params.not_after = now - Duration::days(1);
            }
            _ => {
                params.not_before = now - Duration::days(1);
                params.not_after = now + Duration::days(365);
            }
        }
        let authority = match kind {
            CertKind::Untrusted => &self.untrusted,
            _ => &self.trusted,
        };
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &authority.issuer)?;
        Ok(IssuedCertificate {
            chain: vec![cert.der().clone(), authority.cert_der.clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// A rustls server configuration presenting a `kind` certificate for `host`, speaking
    /// HTTP/1.1 (ALPN) as omnibus's nginx does towards these clients.
    pub fn try_server_config(
        &self,
        host: &str,
        kind: CertKind,
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let issued = self.issue(host, kind)?;
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(issued.chain, PrivateKeyDer::Pkcs8(issued.key))
            .map_err(|e| TlsError {
                host: host.to_string(),
                kind,
                source: e.into(),
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// As [`TwinCa::try_server_config`]; panics only when `host` is not an ASCII DNS name, which
    /// callers that take host names from users must rule out first (or use the `try_` form).
    pub fn server_config(&self, host: &str, kind: CertKind) -> Arc<rustls::ServerConfig> {
        self.try_server_config(host, kind)
            .expect("an ASCII DNS host name for a twin certificate")
    }

    /// A rustls client configuration trusting only this twin's CA (what a client given the CA
    /// PEM does).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        // The CA certificate was produced by rcgen a moment ago: it always parses.
        let _ = roots.add(self.ca_der());
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    fn parse(der: &CertificateDer<'_>) -> (Vec<String>, i64, String) {
        let (_, cert) = X509Certificate::from_der(der.as_ref()).expect("valid DER");
        let sans = cert
            .subject_alternative_name()
            .expect("well-formed extension")
            .map(|ext| {
                ext.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        GeneralName::DNSName(d) => Some(d.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        (
            sans,
            cert.validity().not_after.timestamp(),
            cert.issuer().to_string(),
        )
    }

    #[test]
    fn valid_certificate_names_the_host_and_is_current() {
        let ca = TwinCa::generate();
        let cert = ca.issue("GitLab.Example.com", CertKind::Valid).unwrap();
        let (sans, not_after, issuer) = parse(cert.leaf());
        assert_eq!(sans, vec!["gitlab.example.com".to_string()]);
        assert!(not_after > OffsetDateTime::now_utc().unix_timestamp());
        assert!(issuer.contains("mm-harness twin CA"), "{issuer}");
        assert_eq!(cert.chain[1], ca.ca_der());
    }

    #[test]
    fn expired_certificate_ended_in_the_past() {
        let ca = TwinCa::generate();
        let cert = ca.issue("gitlab.example.com", CertKind::Expired).unwrap();
        let (sans, not_after, _) = parse(cert.leaf());
        assert_eq!(sans, vec!["gitlab.example.com".to_string()]);
        assert!(not_after < OffsetDateTime::now_utc().unix_timestamp());
    }

    #[test]
    fn wrong_host_certificate_names_another_host() {
        let ca = TwinCa::generate();
        let cert = ca
            .issue("mattermost.example.com", CertKind::WrongHost)
            .unwrap();
        let (sans, _, _) = parse(cert.leaf());
        assert_eq!(sans, vec![CertKind::WRONG_HOST_NAME.to_string()]);
    }

    #[test]
    fn untrusted_certificate_is_signed_by_the_second_ca() {
        let ca = TwinCa::generate();
        let cert = ca.issue("gitlab.example.com", CertKind::Untrusted).unwrap();
        let (_, _, issuer) = parse(cert.leaf());
        assert!(issuer.contains("untrusted CA"), "{issuer}");
        assert_eq!(cert.chain[1], ca.untrusted_ca_der());
        assert_ne!(ca.untrusted_ca_der(), ca.ca_der());
    }

    #[test]
    fn pem_is_a_certificate_block() {
        let ca = TwinCa::generate();
        let pem = ca.ca_pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        crate::crypto::install_default_provider();
        ca.server_config("gitlab.example.com", CertKind::Valid);
    }

    #[test]
    fn non_ascii_host_is_an_error_not_a_panic() {
        crate::crypto::install_default_provider();
        let ca = TwinCa::generate();
        let err = ca
            .try_server_config("gitläb.example.com", CertKind::Valid)
            .unwrap_err();
        assert!(err.to_string().contains("gitläb"), "{err}");
    }
}
