//! Offline checks of the configuration files: every diagnostic of the configuration model on the
//! gitlab.rb (syntax, unknown and dropped keys, unevaluated expressions, values omnibus or
//! Mattermost refuse), the seed's own traps on top of it (`smtp_user_name`, the `/api/v3/user`
//! endpoint, SMTP port and security that do not pair, credentials in the clear, endpoints of
//! another GitLab, no SiteURL), and config.json drift that reconfigure or an upgrade would lose.
//!
//! Owns: [`gitlab_rb`] and [`config_json_drift`]. Pure: no I/O.

use url::Url;

use super::finding::{Finding, FindingKind};
use super::inputs::Prepared;
use crate::config::{DriftConsequence, RbSetting, Resolved, Version, drift};
use crate::diag::{Diagnostic, Severity as DiagSeverity};

/// Keys people write for Mattermost's SMTP user that are GitLab's spelling or near it.
const SMTP_USER_TRAPS: &[&str] = &[
    "smtp_user_name",
    "email_smtp_user_name",
    "smtp_username",
    "email_smtp_user",
];

fn diag_evidence(d: &Diagnostic) -> String {
    let mut out = d.message.clone();
    if let Some(hint) = &d.hint {
        out.push_str("; ");
        out.push_str(hint);
    }
    out
}

fn diag_subject(d: &Diagnostic, file: &str) -> String {
    match &d.location {
        Some(l) => format!("{}:{}:{}", l.file, l.line, l.column),
        None => file.to_string(),
    }
}

/// Which finding a configuration-model diagnostic is. Codes are the model's stable strings.
fn kind_of(code: &str) -> FindingKind {
    match code {
        "rb.syntax" => FindingKind::ConfigSyntaxError,
        "config.unknown-key" | "config.unknown-setting" => FindingKind::ConfigUnknownKey,
        "config.dropped-key" | "config.key-not-yet" => FindingKind::ConfigDroppedKey,
        "rb.unevaluated" | "rb.unevaluated-statement" => FindingKind::ConfigUnevaluated,
        "config.mattermost-removed" => FindingKind::ConfigMattermostRemoved,
        // not-a-boolean, not-a-string, bad-port, not-a-hash, invalid-json, value-ignored, ...
        _ => FindingKind::ConfigValueProblem,
    }
}

fn smtp_user_trap(s: &RbSetting) -> Option<&str> {
    if s.target.root() != "mattermost" {
        return None;
    }
    let key = s.target.keys().first()?;
    SMTP_USER_TRAPS
        .contains(&key.as_str())
        .then_some(key.as_str())
}

/// The scheme, host and port of a URL, for "same GitLab" comparisons.
pub fn origin(raw: &str) -> Option<(String, String, u16)> {
    let u = Url::parse(raw.trim()).ok()?;
    Some((
        u.scheme().to_string(),
        u.host_str()?.to_ascii_lowercase(),
        u.port_or_known_default()?,
    ))
}

/// Whether the host is loopback (a local relay is not a network hop).
fn is_local(host: &str) -> bool {
    matches!(host.trim(), "" | "localhost" | "127.0.0.1" | "::1")
}

/// Every finding the gitlab.rb gives on its own.
pub fn gitlab_rb(p: &Prepared) -> Vec<Finding> {
    let Some(r) = &p.resolved else {
        return Vec::new();
    };
    let file = r.document.file().name().to_string();
    let mut out = Vec::new();
    let trap_keys: Vec<(&RbSetting, &str)> = r
        .document
        .settings()
        .iter()
        .filter_map(|s| smtp_user_trap(s).map(|k| (s, k)))
        .collect();
    for d in &r.diagnostics {
        if d.severity == DiagSeverity::Note {
            continue;
        }
        let kind = kind_of(&d.code);
        // The smtp_user_name trap gets its own finding below, not a generic unknown key.
        if kind == FindingKind::ConfigUnknownKey
            && trap_keys.iter().any(|(_, k)| d.message.contains(k))
        {
            continue;
        }
        out.push(Finding::new(kind, diag_subject(d, &file), diag_evidence(d)));
    }
    for (s, key) in &trap_keys {
        let loc = r.document.file().locate(s.target_span);
        out.push(Finding::new(
            FindingKind::ConfigSmtpUserName,
            format!("{}:{}:{}", loc.file, loc.line, loc.column),
            format!(
                "mattermost['{key}'] is not a Mattermost key: Mattermost's SMTP user is mattermost['email_smtp_username']"
            ),
        ));
    }
    out.extend(semantic(r, &file));
    if out.is_empty() {
        out.push(Finding::new(
            FindingKind::ConfigReadsCleanly,
            file,
            format!(
                "{} settings for GitLab {}",
                r.effective.len(),
                r.host.gitlab_version
            ),
        ));
    }
    out
}

/// Where a Mattermost setting was set in the gitlab.rb, as `file:line:col`, or the file name.
fn where_set(r: &Resolved, path: &str, file: &str) -> String {
    r.effective
        .iter()
        .find(|s| s.path == path)
        .and_then(|s| {
            s.source
                .location()
                .map(|l| format!("{}:{}:{}", l.file, l.line, l.column))
        })
        .unwrap_or_else(|| file.to_string())
}

/// The rules the seed and troubleshooting.md add on top of the key tables.
fn semantic(r: &Resolved, file: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let h = &r.host;
    if !h.mattermost_enabled {
        return out;
    }
    let m = &h.mattermost;
    if h.mattermost_external_url.is_none() && m.service.site_url.trim().is_empty() {
        out.push(Finding::new(
            FindingKind::ConfigSiteUrlMissing,
            file,
            "mattermost['enable'] is on but mattermost_external_url is not set: SiteURL stays empty",
        ));
    }
    let g = &m.gitlab;
    if g.enable
        && h.gitlab_version >= Version::new(11, 0, 0)
        && g.user_api_endpoint.contains("/api/v3/")
    {
        out.push(Finding::new(
            FindingKind::ConfigUserApiV3,
            where_set(r, "GitLabSettings.UserAPIEndpoint", file),
            format!(
                "gitlab_user_api_endpoint = {:?}; GitLab {} answers 410 there",
                g.user_api_endpoint, h.gitlab_version
            ),
        ));
    }
    if g.enable
        && h.gitlab_rails_enabled
        && let Some(ext) = h.external_url.as_deref().and_then(origin)
    {
        for (path, value) in [
            ("GitLabSettings.AuthEndpoint", &g.auth_endpoint),
            ("GitLabSettings.TokenEndpoint", &g.token_endpoint),
            ("GitLabSettings.UserAPIEndpoint", &g.user_api_endpoint),
        ] {
            if let Some(o) = origin(value)
                && o != ext
            {
                out.push(Finding::new(
                    FindingKind::ConfigEndpointsOtherGitlab,
                    where_set(r, path, file),
                    format!(
                        "{path} = {value:?} but external_url is {}://{}:{}",
                        ext.0, ext.1, ext.2
                    ),
                ));
            }
        }
    }
    let e = &m.email;
    if !is_local(&e.smtp_server) {
        let security = e.connection_security.trim().to_ascii_uppercase();
        let port = e.smtp_port.trim();
        let mismatch = match (port, security.as_str()) {
            ("465", s) if s != "TLS" => Some("port 465 speaks TLS from the first byte: use 'TLS'"),
            ("587", "TLS") => Some("port 587 speaks plaintext first: use 'STARTTLS'"),
            ("25", "TLS") => Some("port 25 speaks plaintext first: use 'STARTTLS' or nothing"),
            _ => None,
        };
        if let Some(why) = mismatch {
            out.push(Finding::new(
                FindingKind::ConfigSmtpPortSecurity,
                where_set(r, "EmailSettings.ConnectionSecurity", file),
                format!(
                    "email_smtp_port {port:?} with email_connection_security {:?}: {why}",
                    e.connection_security
                ),
            ));
        }
        let has_credentials = !e.smtp_username.is_empty() || !e.smtp_password.is_empty();
        if has_credentials && matches!(security.as_str(), "" | "PLAIN") {
            out.push(Finding::new(
                FindingKind::ConfigSmtpAuthPlaintext,
                where_set(r, "EmailSettings.SMTPUsername", file),
                format!(
                    "SMTP user {:?} with email_connection_security {:?} on {}:{port}: Go's net/smtp refuses PLAIN auth without TLS (\"unencrypted connection\")",
                    e.smtp_username, e.connection_security, e.smtp_server
                ),
            ));
        }
    }
    out
}

/// config.json against the gitlab.rb: what reconfigure would lose or env would override.
pub fn config_json_drift(p: &Prepared) -> Vec<Finding> {
    let (Some(r), Some(cfg)) = (&p.resolved, &p.config) else {
        return Vec::new();
    };
    let drifted = drift(r, cfg);
    if drifted.is_empty() {
        return vec![Finding::new(
            FindingKind::ConfigJsonMatches,
            cfg.file().name(),
            format!(
                "{} settings compared with {}",
                cfg.entries().len(),
                r.document.file().name()
            ),
        )];
    }
    drifted
        .iter()
        .map(|d| {
            let kind = match d.consequence {
                DriftConsequence::LostOnReconfigure => FindingKind::ConfigDriftLost,
                DriftConsequence::OverriddenByEnv => FindingKind::ConfigDriftOverridden,
            };
            let l = &d.config_location;
            Finding::new(
                kind,
                format!("{}:{}:{}", l.file, l.line, l.column),
                d.diagnostic().message,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;
    use crate::doctor::inputs::DoctorInputs;

    fn prepared(text: &str, version: &str) -> Prepared {
        let mut i = DoctorInputs::new();
        i.gitlab_rb = Some(SourceFile::new("gitlab.rb", text));
        i.gitlab_version = Some(version.parse().unwrap());
        Prepared::new(i).unwrap()
    }

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.kind.id()).collect()
    }

    #[test]
    fn clean_file_gives_ok() {
        let p = prepared(
            "external_url 'https://gitlab.example.com'\nmattermost_external_url 'https://mattermost.example.com'\n",
            "18.11",
        );
        assert_eq!(ids(&gitlab_rb(&p)), vec!["config.ok"]);
    }

    #[test]
    fn seed_smtp_example_without_tls_is_two_findings() {
        let p = prepared(
            "mattermost_external_url 'http://mattermost.example.com'\n\
             mattermost['email_smtp_username'] = \"username\"\n\
             mattermost['email_smtp_password'] = \"password\"\n\
             mattermost['email_smtp_server'] = \"smtp.example.com\"\n\
             mattermost['email_smtp_port'] = \"465\"\n\
             mattermost['email_connection_security'] = nil\n",
            "10.8",
        );
        let f = gitlab_rb(&p);
        let got = ids(&f);
        assert!(got.contains(&"config.smtp-port-security"), "{got:?}");
        assert!(got.contains(&"config.smtp-auth-plaintext"), "{got:?}");
        assert!(f.iter().all(|f| !f.evidence.contains("password\"")));
    }

    #[test]
    fn smtp_user_name_is_its_own_finding() {
        let p = prepared(
            "mattermost_external_url 'http://mattermost.example.com'\nmattermost['smtp_user_name'] = \"bob\"\n",
            "10.8",
        );
        let f = gitlab_rb(&p);
        assert_eq!(ids(&f), vec!["config.smtp-user-name"], "{f:?}");
        assert_eq!(f[0].subject, "gitlab.rb:2:1");
    }
}
