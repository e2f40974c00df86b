//! What the doctor is run with ([`DoctorInputs`]) and what it makes of the files before any check
//! runs ([`Prepared`]): the gitlab.rb resolved for the GitLab version, the config.json parsed, and
//! the Mattermost settings the checks compare against ([`SettingsView`], from the live
//! `/api/v4/config`, a config.json or the gitlab.rb, in that order of preference).
//!
//! Owns: input validation (an unreadable or unparsable config.json is bad input, exit 2; a gitlab.rb
//! that does not parse is a finding, because that is what the operator must fix) and the one
//! place secrets enter (tokens and the OAuth client secret are [`Secret`]s: never printed).

use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde_json::Value;
use url::Url;

use crate::config::model::MattermostSettings;
use crate::config::{ConfigJson, Resolved, Secret, Version, read_config_json, resolve};
use crate::diag::SourceFile;
use crate::net::AddressBook;

/// The GitLab version assumed for a gitlab.rb when neither `--gitlab-version` nor GitLab says.
pub const DEFAULT_GITLAB_VERSION: Version = Version::new(18, 11, 0);

/// Everything the doctor is asked to look at. Built by the CLI (or a test) and never changed.
#[derive(Debug, Clone)]
pub struct DoctorInputs {
    /// `--mattermost`: the URL users open (mattermost_external_url).
    pub mattermost: Option<Url>,
    /// `--gitlab`: GitLab's external_url.
    pub gitlab: Option<Url>,
    /// `--gitlab-rb`, read.
    pub gitlab_rb: Option<SourceFile>,
    /// `--config-json`, read.
    pub config_json: Option<SourceFile>,
    /// `--gitlab-version`, when GitLab cannot be asked.
    pub gitlab_version: Option<Version>,
    /// A GitLab admin token (`api` scope): applications, version.
    pub gitlab_token: Option<Secret>,
    /// A Mattermost system admin token: the full config, env-forced settings.
    pub mattermost_token: Option<Secret>,
    /// Mattermost's GitLab client secret, when neither gitlab.rb nor config.json holds it (the
    /// live config API redacts it).
    pub client_secret: Option<Secret>,
    /// `--resolve` entries: where host names really are (loopback in tests).
    pub book: AddressBook,
    /// CAs to trust (`--ca-file`).
    pub roots: Vec<CertificateDer<'static>>,
    /// `--insecure`: accept any certificate on API requests (certificate findings still reported).
    pub insecure: bool,
    /// Each check's deadline and each request's timeout.
    pub timeout: Duration,
    /// `--smtp`: probe the SMTP server.
    pub smtp: bool,
    /// `--smtp-auth`: also try Mattermost's SMTP credentials (never without this flag).
    pub smtp_auth: bool,
    /// The SMTP password for `--smtp-auth` when no file holds it.
    pub smtp_password: Option<Secret>,
    /// Today, `YYYY-MM-DD` (support windows); defaults to the system date.
    pub today: String,
    /// `--support-packet`, read: its sanitised config (used as the config.json when none is
    /// given), the server version and licence, the log lines that name a known failure.
    pub support_packet: Option<super::packet::SupportPacket>,
    /// `--allow-writes`: the webhook probe (a temporary incoming webhook and post, removed
    /// afterwards). Off by default: the doctor changes nothing.
    pub allow_writes: bool,
    /// `--probe-channel TEAM/CHANNEL`: where the webhook probe posts.
    pub probe_channel: Option<(String, String)>,
}

impl DoctorInputs {
    /// Nothing to look at yet; 10 s timeout.
    pub fn new() -> DoctorInputs {
        DoctorInputs {
            mattermost: None,
            gitlab: None,
            gitlab_rb: None,
            config_json: None,
            gitlab_version: None,
            gitlab_token: None,
            mattermost_token: None,
            client_secret: None,
            book: AddressBook::new(),
            roots: Vec::new(),
            insecure: false,
            timeout: Duration::from_secs(10),
            smtp: false,
            smtp_auth: false,
            smtp_password: None,
            today: today(),
            support_packet: None,
            allow_writes: false,
            probe_channel: None,
        }
    }

    /// Whether any check needs the network.
    pub fn online(&self) -> bool {
        self.mattermost.is_some() || self.gitlab.is_some() || self.smtp
    }

    /// Every secret the doctor holds, for a last redaction pass over the report.
    pub fn secrets(&self) -> Vec<String> {
        [
            &self.gitlab_token,
            &self.mattermost_token,
            &self.client_secret,
            &self.smtp_password,
        ]
        .into_iter()
        .flatten()
        .map(|s| s.expose().to_string())
        .chain(
            self.support_packet
                .iter()
                .flat_map(|p| p.unsanitised.iter().cloned()),
        )
        .filter(|s| s.len() >= 4)
        .collect()
    }
}

impl Default for DoctorInputs {
    fn default() -> Self {
        Self::new()
    }
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

/// Bad input found before any check ran (exit 2).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    pub message: String,
    /// Rendered diagnostics (file:line:column with a caret).
    pub details: Vec<String>,
}

/// The inputs with their files understood.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub inputs: DoctorInputs,
    /// The GitLab version the gitlab.rb was read for.
    pub gitlab_version: Version,
    pub resolved: Option<Resolved>,
    pub config: Option<ConfigJson>,
}

impl Prepared {
    /// Resolve the gitlab.rb and parse the config.json.
    pub fn new(inputs: DoctorInputs) -> Result<Prepared, InputError> {
        let gitlab_version = inputs.gitlab_version.unwrap_or(DEFAULT_GITLAB_VERSION);
        let resolved = inputs
            .gitlab_rb
            .as_ref()
            .map(|f| resolve(f, gitlab_version));
        // The packet's sanitised config stands for config.json when none is given.
        let config_file = inputs.config_json.as_ref().or_else(|| {
            inputs
                .support_packet
                .as_ref()
                .and_then(|p| p.config.as_ref())
        });
        let config = match config_file {
            None => None,
            Some(file) => Some(read_config_json(file).map_err(|e| InputError {
                message: format!("cannot read {}: {}", file.name(), e.kind),
                details: vec![e.diagnostic.render()],
            })?),
        };
        if !inputs.online()
            && resolved.is_none()
            && config.is_none()
            && inputs.support_packet.is_none()
        {
            return Err(InputError {
                message: "nothing to diagnose".into(),
                details: Vec::new(),
            });
        }
        Ok(Prepared {
            inputs,
            gitlab_version,
            resolved,
            config,
        })
    }

    /// The Mattermost settings from the files (config.json wins over gitlab.rb: it is what
    /// Mattermost loaded last).
    pub fn file_settings(&self) -> Option<SettingsView> {
        if let Some(cfg) = &self.config {
            let get = |path: &str| cfg.get(path).map(|e| e.value.clone());
            let origin =
                if self.inputs.config_json.is_none() && self.inputs.support_packet.is_some() {
                    "the Support Packet's sanitized_config.json"
                } else {
                    "config.json"
                };
            let mut view = SettingsView::from_lookup(get, origin);
            if view.client_secret.is_empty()
                && let Some(r) = &self.resolved
            {
                view.client_secret = r.host.mattermost.gitlab.secret.clone();
            }
            return Some(view);
        }
        self.resolved
            .as_ref()
            .filter(|r| r.host.mattermost_enabled)
            .map(|r| SettingsView::from_model(&r.host.mattermost, "gitlab.rb"))
    }

    /// The URL users open: `--mattermost`, else gitlab.rb's mattermost_external_url.
    pub fn mattermost_url(&self) -> Option<Url> {
        self.inputs.mattermost.clone().or_else(|| {
            self.resolved
                .as_ref()
                .and_then(|r| r.host.mattermost_external_url.as_deref())
                .and_then(|u| Url::parse(u).ok())
        })
    }

    /// GitLab's URL: `--gitlab`, else gitlab.rb's external_url, else the origin of the auth
    /// endpoint.
    pub fn gitlab_url(&self) -> Option<Url> {
        self.inputs.gitlab.clone().or_else(|| {
            self.resolved
                .as_ref()
                .and_then(|r| r.host.external_url.as_deref())
                .and_then(|u| Url::parse(u).ok())
        })
    }
}

/// The Mattermost settings the checks look at, wherever they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsView {
    /// `live /api/v4/config`, `config.json`, `gitlab.rb`.
    pub origin: &'static str,
    pub site_url: String,
    pub gitlab_enable: bool,
    pub gitlab_id: String,
    pub client_secret: Secret,
    pub auth_endpoint: String,
    pub token_endpoint: String,
    pub user_api_endpoint: String,
    pub incoming_webhooks: bool,
    pub smtp_server: String,
    pub smtp_port: String,
    pub smtp_security: String,
    pub smtp_auth: bool,
    pub smtp_username: String,
    pub smtp_password: Secret,
    pub send_notifications: bool,
}

fn as_bool(v: Option<Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => b,
        Some(Value::String(s)) => crate::config::go_parse_bool(&s).unwrap_or(false),
        _ => false,
    }
}

fn as_string(v: Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

impl SettingsView {
    /// From a config document: `get("Section.Field")` (case-insensitive where the source is).
    pub fn from_lookup(get: impl Fn(&str) -> Option<Value>, origin: &'static str) -> SettingsView {
        let secret = |v: Option<Value>| {
            let s = as_string(v);
            // The config API answers secrets as a row of asterisks: not a value.
            if s.chars().all(|c| c == '*') {
                Secret::default()
            } else {
                Secret::new(s)
            }
        };
        SettingsView {
            origin,
            site_url: as_string(get("ServiceSettings.SiteURL")),
            gitlab_enable: as_bool(get("GitLabSettings.Enable")),
            gitlab_id: as_string(get("GitLabSettings.Id")),
            client_secret: secret(get("GitLabSettings.Secret")),
            auth_endpoint: as_string(get("GitLabSettings.AuthEndpoint")),
            token_endpoint: as_string(get("GitLabSettings.TokenEndpoint")),
            user_api_endpoint: as_string(
                get("GitLabSettings.UserAPIEndpoint")
                    .or_else(|| get("GitLabSettings.UserApiEndpoint")),
            ),
            incoming_webhooks: as_bool(get("ServiceSettings.EnableIncomingWebhooks")),
            smtp_server: as_string(get("EmailSettings.SMTPServer")),
            smtp_port: as_string(get("EmailSettings.SMTPPort")),
            smtp_security: as_string(get("EmailSettings.ConnectionSecurity")),
            smtp_auth: as_bool(get("EmailSettings.EnableSMTPAuth")),
            smtp_username: as_string(get("EmailSettings.SMTPUsername")),
            smtp_password: secret(get("EmailSettings.SMTPPassword")),
            send_notifications: as_bool(get("EmailSettings.SendEmailNotifications")),
        }
    }

    /// From a JSON config document (`GET /api/v4/config`).
    pub fn from_json(doc: &Value, origin: &'static str) -> SettingsView {
        Self::from_lookup(
            |path| {
                let (section, field) = path.split_once('.')?;
                let sec = doc
                    .as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(section))?
                    .1;
                sec.as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(field))
                    .map(|(_, v)| v.clone())
            },
            origin,
        )
    }

    /// From the configuration model's settings (a resolved gitlab.rb).
    pub fn from_model(m: &MattermostSettings, origin: &'static str) -> SettingsView {
        SettingsView {
            origin,
            site_url: m.service.site_url.clone(),
            gitlab_enable: m.gitlab.enable,
            gitlab_id: m.gitlab.id.clone(),
            client_secret: m.gitlab.secret.clone(),
            auth_endpoint: m.gitlab.auth_endpoint.clone(),
            token_endpoint: m.gitlab.token_endpoint.clone(),
            user_api_endpoint: m.gitlab.user_api_endpoint.clone(),
            incoming_webhooks: m.service.enable_incoming_webhooks,
            smtp_server: m.email.smtp_server.clone(),
            smtp_port: m.email.smtp_port.clone(),
            smtp_security: m.email.connection_security.clone(),
            smtp_auth: m.email.enable_smtp_auth,
            smtp_username: m.email.smtp_username.clone(),
            smtp_password: m.email.smtp_password.clone(),
            send_notifications: m.email.send_email_notifications,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_view_reads_case_insensitively_and_drops_redacted_secrets() {
        let doc = serde_json::json!({
            "ServiceSettings": {"SiteURL": "https://mm.example.com", "EnableIncomingWebhooks": true},
            "GitLabSettings": {"Enable": true, "Secret": "********************************",
                               "UserApiEndpoint": "http://g/api/v3/user"},
            "EmailSettings": {"SMTPPort": "587", "ConnectionSecurity": "STARTTLS"}
        });
        let v = SettingsView::from_json(&doc, "live");
        assert_eq!(v.site_url, "https://mm.example.com");
        assert!(v.gitlab_enable && v.incoming_webhooks);
        assert!(v.client_secret.is_empty());
        assert_eq!(v.user_api_endpoint, "http://g/api/v3/user");
        assert_eq!(v.smtp_security, "STARTTLS");
    }
}
