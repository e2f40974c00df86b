//! The faults the twin can be started with: each a misconfiguration or a network condition an
//! operator really meets (shared/wire/troubleshooting.md), reproduced by configuration.
//!
//! Owns: the catalogue — kebab-case names, a one-line description, what bring-up changes, and the
//! documented error each must produce — and parsing names from users (with did-you-mean). Faults
//! are applied by `bringup` as settings, registration or listener changes, never inside the
//! protocol handlers.

use std::fmt;
use std::str::FromStr;

/// One injectable fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Mattermost's `GitLabSettings.Secret` differs from the registered application's secret.
    WrongClientSecret,
    /// The application is registered with callbacks of the other scheme than Mattermost's SiteURL.
    UnregisteredRedirectUri,
    /// `GitLabSettings.UserAPIEndpoint` names `/api/v3/user` (the seed's old value).
    UserApiV3,
    /// `GitLabSettings.TokenEndpoint` names a GitLab page that answers HTML, not the token endpoint.
    TokenEndpointHtml,
    /// `ServiceSettings.EnableIncomingWebhooks` is off.
    WebhooksDisabled,
    /// The SMTP server speaks plaintext on a STARTTLS port without offering STARTTLS.
    StartTlsNotOffered,
    /// GitLab's HTTPS certificate (and the SMTP server's) expired yesterday.
    ExpiredCertificate,
    /// GitLab's HTTPS certificate (and the SMTP server's) names another host.
    WrongHostCertificate,
    /// GitLab's HTTPS certificate (and the SMTP server's) is signed by a CA Mattermost does not trust.
    UntrustedCertificate,
    /// GitLab's token endpoint and API answer only after Mattermost's outbound timeout.
    SlowEndpoint,
    /// Mattermost's server cannot reach GitLab: connections to GitLab are refused (closed port).
    ClosedPort,
    /// The proxy in front of an https Mattermost does not send `X-Forwarded-Proto` (omnibus:
    /// `mattermost_nginx['proxy_set_headers'] = { "X-Forwarded-Proto" => nil }`, or another proxy
    /// terminating TLS): Mattermost believes it is served over http.
    ProxyWithoutForwardedProto,
}

impl Fault {
    pub const ALL: [Fault; 12] = [
        Fault::WrongClientSecret,
        Fault::UnregisteredRedirectUri,
        Fault::UserApiV3,
        Fault::TokenEndpointHtml,
        Fault::WebhooksDisabled,
        Fault::StartTlsNotOffered,
        Fault::ExpiredCertificate,
        Fault::WrongHostCertificate,
        Fault::UntrustedCertificate,
        Fault::SlowEndpoint,
        Fault::ClosedPort,
        Fault::ProxyWithoutForwardedProto,
    ];

    /// The kebab-case name used on the command line and in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Fault::WrongClientSecret => "wrong-client-secret",
            Fault::UnregisteredRedirectUri => "unregistered-redirect-uri",
            Fault::UserApiV3 => "user-api-v3",
            Fault::TokenEndpointHtml => "token-endpoint-html",
            Fault::WebhooksDisabled => "webhooks-disabled",
            Fault::StartTlsNotOffered => "starttls-not-offered",
            Fault::ExpiredCertificate => "expired-certificate",
            Fault::WrongHostCertificate => "wrong-host-certificate",
            Fault::UntrustedCertificate => "untrusted-certificate",
            Fault::SlowEndpoint => "slow-endpoint",
            Fault::ClosedPort => "closed-port",
            Fault::ProxyWithoutForwardedProto => "proxy-without-forwarded-proto",
        }
    }

    /// One line: what is wrong.
    pub fn description(self) -> &'static str {
        match self {
            Fault::WrongClientSecret => {
                "Mattermost's GitLab secret does not match the registered OAuth application"
            }
            Fault::UnregisteredRedirectUri => {
                "the OAuth application's callbacks use the other scheme than Mattermost's SiteURL"
            }
            Fault::UserApiV3 => "Mattermost's GitLab user API endpoint is /api/v3/user",
            Fault::TokenEndpointHtml => {
                "Mattermost's GitLab token endpoint is a GitLab page answering HTML"
            }
            Fault::WebhooksDisabled => "Mattermost's incoming webhooks are disabled",
            Fault::StartTlsNotOffered => {
                "the SMTP server does not offer STARTTLS on its STARTTLS port"
            }
            Fault::ExpiredCertificate => "GitLab's (and the SMTP server's) certificate has expired",
            Fault::WrongHostCertificate => {
                "GitLab's (and the SMTP server's) certificate names another host"
            }
            Fault::UntrustedCertificate => {
                "GitLab's (and the SMTP server's) certificate is signed by a CA Mattermost does not trust"
            }
            Fault::SlowEndpoint => {
                "GitLab's token endpoint and API answer after Mattermost's outbound timeout"
            }
            Fault::ClosedPort => "Mattermost's server finds GitLab's port closed",
            Fault::ProxyWithoutForwardedProto => {
                "the proxy in front of an https Mattermost does not send X-Forwarded-Proto"
            }
        }
    }

    /// The error the fault must produce, as the products document it.
    pub fn documented_error(self) -> &'static str {
        match self {
            Fault::WrongClientSecret => {
                "GitLab answers 401 invalid_client; Mattermost shows \"Bad response from token request.\" (500)"
            }
            Fault::UnregisteredRedirectUri => {
                "GitLab shows \"An error has occurred\" / \"The redirect URI included is not valid.\"; Mattermost never gets a callback"
            }
            Fault::UserApiV3 => {
                "GitLab >= 11 answers 410 \"API V3 is no longer supported. Use API V4 instead.\"; Mattermost shows \"Received invalid response from OAuth service provider.\" (500); no effect on GitLab 8.x"
            }
            Fault::TokenEndpointHtml => {
                "the token request gets an HTML page; Mattermost shows \"Bad response from token request.\" (500)"
            }
            Fault::WebhooksDisabled => {
                "POST /hooks/{id} answers 501 (10.11: web.incoming_webhook.general.app_error wrapping disabled; 3.4: web.incoming_webhook.disabled.app_error)"
            }
            Fault::StartTlsNotOffered => {
                "Mattermost silently continues in plaintext; with SMTP auth on: \"unencrypted connection\""
            }
            Fault::ExpiredCertificate
            | Fault::WrongHostCertificate
            | Fault::UntrustedCertificate => {
                "Mattermost shows \"Token request failed.\" (500) (x509 error); clients given the CA reject the certificate"
            }
            Fault::SlowEndpoint => {
                "Mattermost's token request times out: \"Token request failed.\" (500)"
            }
            Fault::ClosedPort => {
                "Mattermost's token request is refused: \"Token request failed.\" (500)"
            }
            Fault::ProxyWithoutForwardedProto => {
                "Mattermost 10.x sends an http:// redirect_uri to the token endpoint: GitLab answers 400 invalid_grant, Mattermost shows \"Bad response from token request.\" (500); cookies lose Secure"
            }
        }
    }

    /// Whether the fault changes a certificate.
    pub fn cert_kind(self) -> Option<super::tls::CertKind> {
        use super::tls::CertKind;
        match self {
            Fault::ExpiredCertificate => Some(CertKind::Expired),
            Fault::WrongHostCertificate => Some(CertKind::WrongHost),
            Fault::UntrustedCertificate => Some(CertKind::Untrusted),
            Fault::WrongClientSecret
            | Fault::UnregisteredRedirectUri
            | Fault::UserApiV3
            | Fault::TokenEndpointHtml
            | Fault::WebhooksDisabled
            | Fault::StartTlsNotOffered
            | Fault::SlowEndpoint
            | Fault::ClosedPort
            | Fault::ProxyWithoutForwardedProto => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown fault name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {input:?}{}", suggestion.map(|s| format!("; did you mean {s:?}?")).unwrap_or_else(|| format!("; known faults: {}", Fault::ALL.map(|f| f.name()).join(", "))))]
pub struct UnknownFault {
    pub input: String,
    pub suggestion: Option<&'static str>,
}

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        if let Some(f) = Fault::ALL.into_iter().find(|f| f.name() == wanted) {
            return Ok(f);
        }
        let suggestion = crate::diag::did_you_mean(&wanted, Fault::ALL.map(|f| f.name()));
        Err(UnknownFault {
            input: s.to_string(),
            suggestion,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back() {
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>(), Ok(f));
            assert!(!f.description().is_empty());
            assert!(!f.documented_error().is_empty());
        }
        assert_eq!("USER_API_V3".parse::<Fault>(), Ok(Fault::UserApiV3));
    }

    #[test]
    fn typos_get_a_suggestion() {
        let err = "wrong-client-secrte".parse::<Fault>().unwrap_err();
        assert_eq!(err.suggestion, Some("wrong-client-secret"));
        assert!(
            err.to_string()
                .contains("did you mean \"wrong-client-secret\"")
        );
        let err = "zzz".parse::<Fault>().unwrap_err();
        assert_eq!(err.suggestion, None);
        assert!(
            err.to_string()
                .contains("known faults: wrong-client-secret")
        );
    }
}
