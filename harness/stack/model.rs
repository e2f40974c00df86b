//! What a target is asked for and what a running stack tells the drivers.

use std::time::Duration;

use rustls_pki_types::CertificateDer;
use url::Url;

use crate::config::{Secret, Version};
use crate::net::AddressBook;
use crate::scenario::{Action, Scenario};
use crate::vocab::TargetKind;

/// How to reach a live installation.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub gitlab_url: Option<Url>,
    pub mattermost_url: Option<Url>,
    /// Whether steps that change the installation may run.
    pub allow_writes: bool,
    /// `--resolve HOST:PORT:ADDR` entries: connect to ADDR for HOST:PORT (as curl's `--resolve`),
    /// keeping the URL, Host header and TLS name.
    pub resolve: Vec<(String, u16, std::net::SocketAddr)>,
}

/// Parse curl's `--resolve` syntax `HOST:PORT:ADDR` (ADDR is `IP:PORT`, or an IP and then the
/// same port is used).
pub fn parse_resolve(s: &str) -> Result<(String, u16, std::net::SocketAddr), String> {
    let mut parts = s.splitn(3, ':');
    let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "invalid --resolve {s:?}: expected HOST:PORT:ADDR, e.g. gitlab.example.com:443:127.0.0.1:8443"
        ));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("invalid --resolve {s:?}: {port:?} is not a port"))?;
    let addr: std::net::SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(_) => {
            let ip: std::net::IpAddr = addr
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| format!("invalid --resolve {s:?}: {addr:?} is not an address"))?;
            std::net::SocketAddr::new(ip, port)
        }
    };
    if host.is_empty() {
        return Err(format!("invalid --resolve {s:?}: empty host"));
    }
    Ok((host.to_ascii_lowercase(), port, addr))
}

/// The target a run uses, with its options.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub kind: TargetKind,
    pub live: LiveOptions,
    /// Timeout of every driver request.
    pub request_timeout: Duration,
    /// The docker target's images, deadlines and `--keep`.
    pub docker: super::docker::DockerOptions,
}

impl TargetSpec {
    pub fn twin() -> TargetSpec {
        TargetSpec {
            kind: TargetKind::Twin,
            live: LiveOptions {
                gitlab_url: None,
                mattermost_url: None,
                allow_writes: false,
                resolve: Vec::new(),
            },
            request_timeout: Duration::from_secs(10),
            docker: super::docker::DockerOptions::default(),
        }
    }
}

/// What a scenario asks of its stack besides its hosts, derived from the scenario before
/// [`crate::stack::Stack::up`] so a target never reads the scenario itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackNeeds {
    /// The GitLab version the hosts' gitlab.rb is written for (the twin's profile).
    pub gitlab_version: Version,
    /// Twin faults to inject, by kebab-case name (only the twin target accepts any).
    pub faults: Vec<String>,
    /// GitLab logins the SSO steps sign in as (the live target reads their passwords from
    /// `MM_HARNESS_USER_<LOGIN>_PASSWORD`), in step order, without repeats.
    pub sso_users: Vec<String>,
}

impl StackNeeds {
    /// What `scenario` needs.
    pub fn of(scenario: &Scenario) -> StackNeeds {
        let mut sso_users: Vec<String> = Vec::new();
        for step in &scenario.steps {
            if let Action::Sso { user, .. }
            | Action::SaveTheme { user, .. }
            | Action::GetTheme { user } = &step.action
                && !sso_users.contains(user)
            {
                sso_users.push(user.clone());
            }
        }
        StackNeeds {
            gitlab_version: scenario.gitlab_version,
            faults: scenario.faults.clone(),
            sso_users,
        }
    }
}

/// A message the stack's mail sink accepted (the SMTP server Mattermost sends to), as the future
/// `mail.*` steps will read it: target-neutral, so a docker target's mail sink can fill it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxMessage {
    /// Envelope sender (`MAIL FROM`): Mattermost's FeedbackEmail.
    pub envelope_from: String,
    pub envelope_to: Vec<String>,
    pub subject: Option<String>,
    pub body: String,
    /// Whether the session was encrypted (implicit TLS or after STARTTLS).
    pub tls: bool,
    pub auth_user: Option<String>,
    /// The EHLO name the client gave (Mattermost: the host of SiteURL).
    pub ehlo_name: String,
}

impl MailboxMessage {
    /// What a step reads of a message the harness's sink stored (every target's sink).
    pub fn from_sink(m: &crate::mailsink::SinkMessage) -> MailboxMessage {
        MailboxMessage {
            subject: m.header("subject").map(|_| m.subject().to_string()),
            envelope_from: m.envelope_from.clone(),
            envelope_to: m.envelope_to.clone(),
            body: [m.parsed.text.as_str(), m.parsed.html.as_str()]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("\n"),
            tls: m.transport.tls != crate::mailsink::TlsMode::None,
            auth_user: m.transport.auth_identity.clone(),
            ehlo_name: m.transport.ehlo_name.clone(),
        }
    }
}

/// An account a driver signs in with.
#[derive(Debug, Clone)]
pub struct Account {
    pub login: String,
    pub password: Secret,
}

/// What the drivers need to know about a running stack.
#[derive(Debug, Clone)]
pub struct StackInfo {
    pub gitlab_url: Option<Url>,
    pub mattermost_url: Option<Url>,
    pub book: AddressBook,
    pub roots: Vec<CertificateDer<'static>>,
    pub gitlab_version: Version,
    pub mattermost_version: Version,
    /// GitLab's administrator (web sign-in).
    pub gitlab_root: Option<Account>,
    /// A personal access token of the administrator (`api` scope).
    pub gitlab_admin_token: Option<Secret>,
    /// Mattermost's system administrator.
    pub mattermost_admin: Option<Account>,
    /// GitLab accounts people may sign in with, by login.
    pub users: Vec<Account>,
}

impl StackInfo {
    pub fn user(&self, login: &str) -> Option<&Account> {
        self.users.iter().find(|u| u.login == login)
    }

    /// Every secret of the stack, for redaction.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in self
            .users
            .iter()
            .chain(self.gitlab_root.iter())
            .chain(self.mattermost_admin.iter())
        {
            out.push(a.password.expose().to_string());
        }
        if let Some(t) = &self.gitlab_admin_token {
            out.push(t.expose().to_string());
        }
        out.retain(|s| !s.is_empty());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_entries_parse_like_curl() {
        let (h, p, a) = parse_resolve("GitLab.example.com:443:127.0.0.1:8443").unwrap();
        assert_eq!((h.as_str(), p, a.port()), ("gitlab.example.com", 443, 8443));
        let (_, _, a) = parse_resolve("mattermost.example.com:80:127.0.0.1").unwrap();
        assert_eq!(a.port(), 80);
        assert!(parse_resolve("nohost").is_err());
        assert!(parse_resolve("h:x:127.0.0.1").is_err());
        assert!(parse_resolve("h:80:nowhere").is_err());
    }
}
