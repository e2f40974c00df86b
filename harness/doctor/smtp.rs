//! The SMTP probe (`--smtp`), with lettre's connection API (`AsyncSmtpConnection`): connect to the
//! server and port Mattermost is configured with, read the greeting and EHLO, and check what
//! troubleshooting.md lists — the port/security pairing (465 ↔ TLS, 587 ↔ STARTTLS, told apart by
//! what the server speaks first), STARTTLS offered when Mattermost requires it, the certificate
//! trusted for the server's name, AUTH offered only over TLS. It never sends mail (no MAIL FROM)
//! and never tries credentials unless `--smtp-auth` is given.
//!
//! Owns: [`probe`].

use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::AsyncReadExt;

use super::finding::{Finding, FindingKind};
use super::inputs::SettingsView;
use super::probe::Probe;
use crate::drive::error::chain;

/// The EHLO name the probe announces.
const HELLO: &str = "mm-doctor.invalid";

fn tls_parameters(probe: &Probe, host: &str) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(host.to_string())
        .certificate_store(CertificateStore::None)
        .dangerous_accept_invalid_certs(probe.prepared.inputs.insecure)
        .dangerous_accept_invalid_hostnames(probe.prepared.inputs.insecure);
    for r in &probe.reach.roots {
        if let Ok(c) = Certificate::from_der(r.to_vec()) {
            b = b.add_root_certificate(c);
        }
    }
    b.build_rustls().map_err(|e| chain(&e))
}

fn is_certificate_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("certificate") || t.contains("unknownissuer") || t.contains("notvalidforname")
}

/// Whether a TLS handshake succeeds at `addr` (any certificate): is this an implicit-TLS port?
async fn speaks_tls(addr: &str, host: &str, timeout: Duration) -> bool {
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let provider = rustls::crypto::ring::default_provider();
        let algs = provider.signature_verification_algorithms;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .ok()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(algs)))
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from(host.to_string()).ok()?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .ok()
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(_)))
}

/// Whether the server greets in plaintext (`220 ...`) at `addr`.
async fn greets_in_plaintext(addr: &str, timeout: Duration) -> Option<String> {
    let attempt = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut buf = [0u8; 512];
        let n = tcp.read(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        text.starts_with("220")
            .then(|| text.lines().next().unwrap_or("").to_string())
    };
    tokio::time::timeout(timeout, attempt).await.ok().flatten()
}

#[derive(Debug)]
struct AnyCert(rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls_pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The AUTH mechanisms a server advertises.
fn auth_mechanisms(c: &AsyncSmtpConnection) -> Vec<&'static str> {
    let info = c.server_info();
    [
        (Mechanism::Plain, "PLAIN"),
        (Mechanism::Login, "LOGIN"),
        (Mechanism::Xoauth2, "XOAUTH2"),
    ]
    .into_iter()
    .filter(|(m, _)| info.supports_auth_mechanism(*m))
    .map(|(_, n)| n)
    .collect()
}

/// Probe Mattermost's SMTP server.
pub async fn probe(probe: &Probe) -> Vec<Finding> {
    let Some(view) = probe.settings().await else {
        return vec![Finding::new(
            FindingKind::SmtpNotConfigured,
            "EmailSettings",
            "no SMTP settings to probe: pass --gitlab-rb, --config-json or --mattermost-token",
        )];
    };
    let host = view.smtp_server.trim().to_ascii_lowercase();
    if host.is_empty() {
        return vec![Finding::new(
            FindingKind::SmtpNotConfigured,
            "EmailSettings.SMTPServer",
            format!("empty (from {})", view.origin),
        )];
    }
    let Ok(port) = view.smtp_port.trim().parse::<u16>() else {
        return vec![Finding::new(
            FindingKind::SmtpUnreachable,
            format!("{host}:{}", view.smtp_port),
            format!("SMTPPort {:?} is not a port number", view.smtp_port),
        )];
    };
    let addr = match probe.reach.book.lookup("smtp", &host, port) {
        Some(a) => a.to_string(),
        None => format!("{host}:{port}"),
    };
    let subject = format!("{host}:{port}");
    let security = match view.smtp_security.trim().to_ascii_uppercase().as_str() {
        "TLS" => "TLS",
        "STARTTLS" => "STARTTLS",
        _ => "",
    };
    let budget = probe.request_timeout();
    let tls = match tls_parameters(probe, &host) {
        Ok(t) => t,
        Err(e) => {
            return vec![Finding::new(
                FindingKind::SmtpCertificateUntrusted,
                subject,
                format!("cannot set up TLS: {e}"),
            )];
        }
    };
    let hello = ClientId::Domain(HELLO.to_string());
    if security == "TLS" {
        let connect = AsyncSmtpConnection::connect_tokio1(
            addr.as_str(),
            Some(budget / 2),
            &hello,
            Some(tls.clone()),
            None,
        );
        return match tokio::time::timeout(budget / 2, connect).await {
            Ok(Ok(mut conn)) => {
                probe.mark_answered();
                let info = conn.server_info().to_string();
                let out = after_tls(probe, &mut conn, &view, &subject, "implicit TLS", &info).await;
                let _ = tokio::time::timeout(budget / 4, conn.quit()).await;
                out
            }
            Ok(Err(e)) => {
                let text = chain(&e);
                if is_certificate_error(&text) {
                    vec![Finding::new(
                        FindingKind::SmtpCertificateUntrusted,
                        subject,
                        text,
                    )]
                } else if let Some(greeting) = greets_in_plaintext(&addr, budget / 3).await {
                    vec![Finding::new(
                        FindingKind::SmtpImplicitTlsOnPlainPort,
                        subject,
                        format!(
                            "ConnectionSecurity \"TLS\" but the server greets in plaintext ({greeting}): {text}"
                        ),
                    )]
                } else {
                    vec![Finding::new(FindingKind::SmtpUnreachable, subject, text)]
                }
            }
            Err(_) => vec![Finding::new(
                FindingKind::SmtpUnreachable,
                subject,
                format!(
                    "no TLS handshake and greeting within {:.1}s",
                    (budget / 2).as_secs_f64()
                ),
            )],
        };
    }
    // Plaintext first: "" or STARTTLS.
    let connect =
        AsyncSmtpConnection::connect_tokio1(addr.as_str(), Some(budget / 2), &hello, None, None);
    let mut conn = match tokio::time::timeout(budget / 2, connect).await {
        Ok(Ok(c)) => c,
        outcome => {
            let text = match outcome {
                Ok(Err(e)) => chain(&e),
                _ => format!("no greeting within {:.1}s", (budget / 2).as_secs_f64()),
            };
            if text.to_ascii_lowercase().contains("refused") {
                return vec![Finding::new(FindingKind::SmtpUnreachable, subject, text)];
            }
            if speaks_tls(&addr, &host, budget / 3).await {
                return vec![Finding::new(
                    FindingKind::SmtpPlainOnImplicitPort,
                    subject,
                    format!(
                        "ConnectionSecurity {security:?} but the port speaks TLS from the first byte ({text})"
                    ),
                )];
            }
            return vec![Finding::new(FindingKind::SmtpUnreachable, subject, text)];
        }
    };
    probe.mark_answered();
    let greeting = conn.server_info().to_string();
    let plain_auth = auth_mechanisms(&conn);
    let mut out = Vec::new();
    if security == "STARTTLS" {
        if !conn.can_starttls() {
            out.push(Finding::new(
                FindingKind::SmtpStartTlsNotOffered,
                subject.clone(),
                format!("EHLO: {greeting}"),
            ));
            if !plain_auth.is_empty() {
                out.push(Finding::new(
                    FindingKind::SmtpAuthBeforeTls,
                    subject.clone(),
                    format!("AUTH {} offered in plaintext", plain_auth.join(" ")),
                ));
            }
            let _ = tokio::time::timeout(budget / 4, conn.quit()).await;
            return out;
        }
        if !plain_auth.is_empty() {
            out.push(Finding::new(
                FindingKind::SmtpAuthBeforeTls,
                subject.clone(),
                format!("AUTH {} offered before STARTTLS", plain_auth.join(" ")),
            ));
        }
        match tokio::time::timeout(budget / 3, conn.starttls(tls, &hello)).await {
            Ok(Ok(())) => {
                let info = conn.server_info().to_string();
                out.extend(after_tls(probe, &mut conn, &view, &subject, "STARTTLS", &info).await);
            }
            Ok(Err(e)) => {
                let text = chain(&e);
                let kind = if is_certificate_error(&text) {
                    FindingKind::SmtpCertificateUntrusted
                } else {
                    FindingKind::SmtpUnreachable
                };
                out.push(Finding::new(
                    kind,
                    subject.clone(),
                    format!("STARTTLS: {text}"),
                ));
                return out;
            }
            Err(_) => {
                out.push(Finding::new(
                    FindingKind::SmtpUnreachable,
                    subject.clone(),
                    "STARTTLS handshake did not finish in time",
                ));
                return out;
            }
        }
    } else {
        if !plain_auth.is_empty() {
            out.push(Finding::new(
                FindingKind::SmtpAuthBeforeTls,
                subject.clone(),
                format!(
                    "AUTH {} offered on a plaintext connection",
                    plain_auth.join(" ")
                ),
            ));
        }
        if out.is_empty() {
            out.push(Finding::new(
                FindingKind::SmtpOk,
                subject.clone(),
                format!("plaintext (ConnectionSecurity \"\"); EHLO: {greeting}"),
            ));
        }
    }
    let _ = tokio::time::timeout(budget / 4, conn.quit()).await;
    out
}

/// On an encrypted connection: the certificate was verified by the handshake; try the
/// credentials only with `--smtp-auth`.
async fn after_tls(
    probe: &Probe,
    conn: &mut AsyncSmtpConnection,
    view: &SettingsView,
    subject: &str,
    how: &str,
    ehlo: &str,
) -> Vec<Finding> {
    if probe.prepared.inputs.smtp_auth && !view.smtp_username.is_empty() {
        let creds = Credentials::new(
            view.smtp_username.clone(),
            view.smtp_password.expose().to_string(),
        );
        let attempt = conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds);
        match tokio::time::timeout(probe.request_timeout() / 3, attempt).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return vec![Finding::new(
                    FindingKind::SmtpAuthRejected,
                    subject,
                    format!("AUTH as {:?}: {}", view.smtp_username, chain(&e)),
                )];
            }
            Err(_) => {
                return vec![Finding::new(
                    FindingKind::SmtpAuthRejected,
                    subject,
                    "AUTH got no answer in time",
                )];
            }
        }
        return vec![Finding::new(
            FindingKind::SmtpOk,
            subject,
            format!(
                "{how}, certificate trusted, AUTH as {:?} accepted; EHLO: {ehlo}",
                view.smtp_username
            ),
        )];
    }
    vec![Finding::new(
        FindingKind::SmtpOk,
        subject,
        format!("{how}, certificate trusted; EHLO: {ehlo}"),
    )]
}
