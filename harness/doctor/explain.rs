//! One catalogue for `run` and `doctor`: the error texts real users meet (troubleshooting.md's
//! symptoms, Mattermost's and GitLab's own messages) mapped to the findings that explain them, so
//! a failing conformance step — or a log line of a Support Packet — can name its cause and fix.
//!
//! Owns: [`explain`] (the API the run report calls; wiring it into the run report belongs to the
//! runner) and the symptom table [`SYMPTOMS`].

use super::finding::FindingKind;

/// A symptom: a fragment of an error text (matched case-insensitively) and the findings that
/// explain it, most likely first.
pub struct Symptom {
    pub fragment: &'static str,
    pub kinds: &'static [FindingKind],
}

use FindingKind as K;

/// troubleshooting.md's symptom column, as text fragments.
pub const SYMPTOMS: &[Symptom] = &[
    Symptom {
        fragment: "bad response from token request",
        kinds: &[
            K::SsoClientSecretWrong,
            K::ProxyForwardedProtoMissing,
            K::SsoSiteUrlMismatch,
            K::SsoTokenEndpointHtml,
        ],
    },
    Symptom {
        fragment: "does not match the redirection uri",
        kinds: &[
            K::SsoSiteUrlMismatch,
            K::ProxyForwardedProtoMissing,
            K::SsoCallbackMissing,
        ],
    },
    Symptom {
        fragment: "the redirect uri included is not valid",
        kinds: &[
            K::SsoCallbackMissing,
            K::SsoLoginRedirectMismatch,
            K::SsoSiteUrlMismatch,
        ],
    },
    Symptom {
        fragment: "api v3 is no longer supported",
        kinds: &[K::SsoUserApiV3Removed, K::ConfigUserApiV3],
    },
    Symptom {
        fragment: "/api/v3/user",
        kinds: &[K::SsoUserApiV3Removed, K::ConfigUserApiV3],
    },
    Symptom {
        fragment: "bad token type",
        kinds: &[K::SsoTokenEndpointHtml],
    },
    Symptom {
        fragment: "certificate signed by unknown authority",
        kinds: &[K::TlsUntrusted, K::TlsChainIncomplete],
    },
    Symptom {
        fragment: "x509: certificate has expired",
        kinds: &[K::TlsExpired],
    },
    Symptom {
        fragment: "x509: certificate is valid for",
        kinds: &[K::TlsWrongHost],
    },
    Symptom {
        fragment: "token request failed",
        kinds: &[
            K::SsoTokenEndpointUnreachable,
            K::TlsUntrusted,
            K::ReachGitlabSlow,
            K::ReachGitlabDown,
        ],
    },
    Symptom {
        fragment: "websocket: origin not allowed",
        kinds: &[K::SsoSiteUrlEmpty, K::ConfigSiteUrlMissing],
    },
    Symptom {
        fragment: "could not find upgrade header",
        kinds: &[K::ProxyWebsocketDropped],
    },
    Symptom {
        fragment: "first record does not look like a tls handshake",
        kinds: &[K::SmtpImplicitTlsOnPlainPort, K::ConfigSmtpPortSecurity],
    },
    Symptom {
        fragment: "unencrypted connection",
        kinds: &[K::SmtpStartTlsNotOffered, K::ConfigSmtpAuthPlaintext],
    },
    Symptom {
        fragment: "requests to the local network are not allowed",
        kinds: &[K::WebhooksLocalNetwork],
    },
    Symptom {
        fragment: "incoming_webhook.disabled",
        kinds: &[K::WebhooksIncomingDisabled],
    },
    Symptom {
        fragment: "incoming webhooks have been disabled",
        kinds: &[K::WebhooksIncomingDisabled],
    },
    Symptom {
        fragment: "received invalid response from oauth service provider",
        kinds: &[K::SsoUserApiV3Removed],
    },
    // Log lines of troubleshooting.md that only a Support Packet (or a mail step) shows.
    Symptom {
        fragment: "mailbox unavailable",
        kinds: &[K::SmtpSenderRejected],
    },
    Symptom {
        fragment: "sender address rejected",
        kinds: &[K::SmtpSenderRejected],
    },
    Symptom {
        fragment: "automatic database upgrade failed",
        kinds: &[K::VersionsDatabaseUpgradeFailed],
    },
];

/// The findings that explain an error text, most likely first (empty when none does).
pub fn explain(error_text: &str) -> Vec<FindingKind> {
    let lower = error_text.to_ascii_lowercase();
    let mut out: Vec<FindingKind> = Vec::new();
    for s in SYMPTOMS {
        if lower.contains(s.fragment) {
            for k in s.kinds {
                if !out.contains(k) {
                    out.push(*k);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_failures_name_their_findings() {
        assert_eq!(
            explain(
                "GitLab answered 410: {\"message\":\"API V3 is no longer supported. Use API V4 instead.\"}"
            )[0],
            K::SsoUserApiV3Removed
        );
        assert_eq!(
            explain("Mattermost shows \"Bad response from token request.\" (500)")[0],
            K::SsoClientSecretWrong
        );
        assert_eq!(
            explain("authentication failed: unencrypted connection")[0],
            K::SmtpStartTlsNotOffered
        );
        assert!(explain("everything is fine").is_empty());
        for s in SYMPTOMS {
            assert_eq!(s.fragment, s.fragment.to_ascii_lowercase());
            assert!(!s.kinds.is_empty());
        }
    }
}
