//! Running the checks: which apply to the inputs ([`CheckId::applies`]), each one concurrently
//! under its own deadline (a blackholed host costs one timeout, not the sum), and the report they
//! add up to ([`DoctorReport`]: per check its findings and duration, the exit code they mean).
//!
//! Owns: [`CheckId`] (one variant per check, one exhaustive dispatch in [`run_check`]),
//! [`diagnose`] and [`DoctorReport`]. Checks return findings; they never print.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::Serialize;

use super::finding::{Family, Finding, FindingKind, Severity};
use super::inputs::Prepared;
use super::probe::Probe;
use super::{config_checks, logs, net_checks, smtp, sso, versions, webhook_probe, webhooks};
use crate::cli::Exit;

/// One check. Each runs concurrently with the others, under the inputs' timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    /// The gitlab.rb through the configuration model and the seed's rules.
    GitlabRb,
    /// config.json against gitlab.rb.
    ConfigJsonDrift,
    /// Both host names resolve (and, on a single server, to the same machine).
    Dns,
    /// Mattermost's ping and `X-Version-Id`.
    MattermostPing,
    /// GitLab answers (version with a token).
    GitlabPing,
    /// Mattermost's certificate.
    MattermostTls,
    /// GitLab's certificate.
    GitlabTls,
    /// http:// → https:// on both hosts when the URLs are https.
    HttpRedirect,
    /// The websocket upgrade through the proxy.
    Websocket,
    /// SSO settings: enabled, SiteURL, endpoints, v3, licence, web app button.
    SsoSettings,
    /// The token endpoint answers OAuth JSON, and accepts the client.
    SsoTokenEndpoint,
    /// The OAuth application in GitLab (admin token).
    SsoApplication,
    /// Where Mattermost's sign-in sends users (redirect_uri, X-Forwarded-Proto).
    SsoLoginRedirect,
    /// The SMTP server (`--smtp`).
    Smtp,
    /// Incoming webhooks, GitLab's local-network rule, env-forced settings.
    Webhooks,
    /// GitLab ↔ Mattermost versions, GitLab 19, support windows.
    Versions,
    /// A Support Packet's logs against troubleshooting.md's symptoms (`--support-packet`).
    SupportPacketLogs,
    /// The end-to-end webhook probe (`--allow-writes`): create, post, read back, remove.
    WebhookProbe,
}

impl CheckId {
    pub const ALL: [CheckId; 18] = [
        CheckId::GitlabRb,
        CheckId::ConfigJsonDrift,
        CheckId::Dns,
        CheckId::MattermostPing,
        CheckId::GitlabPing,
        CheckId::MattermostTls,
        CheckId::GitlabTls,
        CheckId::HttpRedirect,
        CheckId::Websocket,
        CheckId::SsoSettings,
        CheckId::SsoTokenEndpoint,
        CheckId::SsoApplication,
        CheckId::SsoLoginRedirect,
        CheckId::Smtp,
        CheckId::Webhooks,
        CheckId::Versions,
        CheckId::SupportPacketLogs,
        CheckId::WebhookProbe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CheckId::GitlabRb => "gitlab-rb",
            CheckId::ConfigJsonDrift => "config-json-drift",
            CheckId::Dns => "dns",
            CheckId::MattermostPing => "mattermost-ping",
            CheckId::GitlabPing => "gitlab-ping",
            CheckId::MattermostTls => "mattermost-tls",
            CheckId::GitlabTls => "gitlab-tls",
            CheckId::HttpRedirect => "http-redirect",
            CheckId::Websocket => "websocket",
            CheckId::SsoSettings => "sso-settings",
            CheckId::SsoTokenEndpoint => "sso-token-endpoint",
            CheckId::SsoApplication => "sso-application",
            CheckId::SsoLoginRedirect => "sso-login-redirect",
            CheckId::Smtp => "smtp",
            CheckId::Webhooks => "webhooks",
            CheckId::Versions => "versions",
            CheckId::SupportPacketLogs => "support-packet-logs",
            CheckId::WebhookProbe => "webhook-probe",
        }
    }

    /// Whether the check has anything to look at with these inputs.
    pub fn applies(self, p: &Prepared) -> bool {
        let mm = p.mattermost_url().is_some() && p.inputs.mattermost.is_some();
        let gl = p.inputs.gitlab.is_some();
        let https = |u: Option<url::Url>| u.is_some_and(|u| u.scheme() == "https");
        let packet = p.inputs.support_packet.as_ref();
        match self {
            CheckId::GitlabRb => p.resolved.is_some(),
            CheckId::ConfigJsonDrift => p.resolved.is_some() && p.config.is_some(),
            CheckId::Dns => mm || gl,
            CheckId::MattermostPing => mm,
            CheckId::GitlabPing => gl,
            CheckId::MattermostTls => mm && https(p.inputs.mattermost.clone()),
            CheckId::GitlabTls => gl && https(p.inputs.gitlab.clone()),
            CheckId::HttpRedirect => {
                (mm && https(p.inputs.mattermost.clone())) || (gl && https(p.inputs.gitlab.clone()))
            }
            CheckId::Websocket => mm,
            CheckId::SsoSettings => {
                mm || p
                    .file_settings()
                    .is_some_and(|_| p.inputs.online() || packet.is_some())
            }
            CheckId::SsoTokenEndpoint => mm || gl,
            CheckId::SsoApplication => gl && p.inputs.gitlab_token.is_some(),
            CheckId::SsoLoginRedirect => mm,
            CheckId::Smtp => p.inputs.smtp,
            CheckId::Webhooks => mm || p.file_settings().is_some(),
            CheckId::Versions => {
                mm || p.resolved.is_some()
                    || gl
                    || packet.is_some_and(|x| x.server_version.is_some())
            }
            CheckId::SupportPacketLogs => packet.is_some_and(|x| !x.logs.is_empty()),
            CheckId::WebhookProbe => mm && p.inputs.allow_writes,
        }
    }

    /// Whether the check needs the network (for "nothing could be reached", exit 3).
    pub fn online(self) -> bool {
        match self {
            CheckId::GitlabRb | CheckId::ConfigJsonDrift | CheckId::SupportPacketLogs => false,
            CheckId::Dns
            | CheckId::MattermostPing
            | CheckId::GitlabPing
            | CheckId::MattermostTls
            | CheckId::GitlabTls
            | CheckId::HttpRedirect
            | CheckId::Websocket
            | CheckId::SsoSettings
            | CheckId::SsoTokenEndpoint
            | CheckId::SsoApplication
            | CheckId::SsoLoginRedirect
            | CheckId::Smtp
            | CheckId::Webhooks
            | CheckId::Versions
            | CheckId::WebhookProbe => true,
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub check: CheckId,
    pub duration: Duration,
    pub findings: Vec<Finding>,
    /// Whether the check ran out of time (its findings then hold `doctor.check-timed-out`).
    pub timed_out: bool,
}

/// Everything one diagnosis found.
#[derive(Debug, Clone)]
pub struct DoctorReport {
    pub checks: Vec<CheckResult>,
    pub duration: Duration,
    /// Whether a network check ran and no host answered at all.
    pub nothing_reached: bool,
}

impl DoctorReport {
    /// Every finding, worst first within catalogue order.
    pub fn findings(&self) -> impl Iterator<Item = (&CheckResult, &Finding)> {
        self.checks
            .iter()
            .flat_map(|c| c.findings.iter().map(move |f| (c, f)))
    }

    pub fn count(&self, s: Severity) -> usize {
        self.findings().filter(|(_, f)| f.severity() == s).count()
    }

    /// The worst severity found (`Ok` when nothing was found).
    pub fn worst(&self) -> Severity {
        self.findings()
            .map(|(_, f)| f.severity())
            .max()
            .unwrap_or(Severity::Ok)
    }

    /// Whether a finding of `kind` was reported.
    pub fn has(&self, kind: FindingKind) -> bool {
        self.findings().any(|(_, f)| f.kind == kind)
    }

    /// Findings of a family, in check order.
    pub fn in_family(&self, family: Family) -> Vec<(&CheckResult, &Finding)> {
        self.findings()
            .filter(|(_, f)| f.kind.family() == family)
            .collect()
    }

    /// 0 nothing fails, 1 something fails, 3 nothing could be reached.
    pub fn exit(&self) -> Exit {
        if self.nothing_reached {
            Exit::Environment
        } else if self.worst() == Severity::Fail {
            Exit::Failed
        } else {
            Exit::Ok
        }
    }

    /// Replace every occurrence of a secret in subjects and evidence (a last line of defence:
    /// checks never put secrets there).
    pub fn redact(&mut self, secrets: &[String]) {
        for c in &mut self.checks {
            for f in &mut c.findings {
                for s in secrets {
                    if f.evidence.contains(s.as_str()) {
                        f.evidence = f.evidence.replace(s.as_str(), crate::config::REDACTED);
                    }
                    if f.subject.contains(s.as_str()) {
                        f.subject = f.subject.replace(s.as_str(), crate::config::REDACTED);
                    }
                }
            }
        }
    }
}

/// Findings that say a host did not answer (for exit 3).
fn unreachable_kind(k: FindingKind) -> bool {
    matches!(
        k,
        FindingKind::ReachDnsFailed
            | FindingKind::ReachMattermostDown
            | FindingKind::ReachGitlabDown
            | FindingKind::ReachGitlabSlow
            | FindingKind::SmtpUnreachable
            | FindingKind::DoctorCheckTimedOut
            | FindingKind::SsoTokenEndpointUnreachable
            | FindingKind::TlsHandshakeFailed
    )
}

/// Run one check (the exhaustive dispatch).
async fn run_check(check: CheckId, probe: &Probe) -> Vec<Finding> {
    let p = &probe.prepared;
    match check {
        CheckId::GitlabRb => config_checks::gitlab_rb(p),
        CheckId::ConfigJsonDrift => config_checks::config_json_drift(p),
        CheckId::Dns => net_checks::dns(probe).await,
        CheckId::MattermostPing => net_checks::mattermost_ping(probe).await,
        CheckId::GitlabPing => net_checks::gitlab_ping(probe).await,
        CheckId::MattermostTls => net_checks::mattermost_tls(probe).await,
        CheckId::GitlabTls => net_checks::gitlab_tls(probe).await,
        CheckId::HttpRedirect => net_checks::http_redirect(probe).await,
        CheckId::Websocket => net_checks::websocket(probe).await,
        CheckId::SsoSettings => sso::settings(probe).await,
        CheckId::SsoTokenEndpoint => sso::token_endpoint(probe).await,
        CheckId::SsoApplication => sso::application(probe).await,
        CheckId::SsoLoginRedirect => sso::login_redirect(probe).await,
        CheckId::Smtp => smtp::probe(probe).await,
        CheckId::Webhooks => webhooks::check(probe).await,
        CheckId::Versions => versions::check(probe).await,
        CheckId::SupportPacketLogs => logs::check(p),
        CheckId::WebhookProbe => webhook_probe::check(probe).await,
    }
}

/// Run every check that applies, concurrently, each under `inputs.timeout`.
pub async fn diagnose(prepared: Prepared) -> DoctorReport {
    crate::crypto::install_default_provider();
    let started = Instant::now();
    let secrets = prepared.inputs.secrets();
    let deadline = prepared.inputs.timeout;
    let probe = Arc::new(Probe::new(prepared));
    let checks: Vec<CheckId> = CheckId::ALL
        .into_iter()
        .filter(|c| c.applies(&probe.prepared))
        .collect();
    let futures = checks.into_iter().map(|check| {
        let probe = probe.clone();
        async move {
            let t0 = Instant::now();
            let outcome = tokio::time::timeout(deadline, run_check(check, &probe)).await;
            let (findings, timed_out) = match outcome {
                Ok(f) => (f, false),
                Err(_) => (
                    vec![Finding::new(
                        FindingKind::DoctorCheckTimedOut,
                        check.name(),
                        format!("no answer within {:.1}s", deadline.as_secs_f64()),
                    )],
                    true,
                ),
            };
            CheckResult {
                check,
                duration: t0.elapsed(),
                findings,
                timed_out,
            }
        }
    });
    let results = join_all(futures).await;
    let online_ran = results.iter().any(|r| r.check.online());
    let offline_ran = results.iter().any(|r| !r.check.online());
    let nothing_reached = online_ran
        && !offline_ran
        && !probe.answered()
        && results
            .iter()
            .flat_map(|r| r.findings.iter())
            .any(|f| unreachable_kind(f.kind));
    let mut report = DoctorReport {
        checks: results,
        duration: started.elapsed(),
        nothing_reached,
    };
    report.redact(&secrets);
    report
}
