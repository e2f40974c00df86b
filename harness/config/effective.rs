//! The effective Mattermost configuration of one host: per setting (`GitLabSettings.Id`), the value
//! Mattermost loads, whether it is a secret, where it came from (a gitlab.rb line, an omnibus
//! derivation, a default, a `mattermost['env']` override) and the `MM_*` variable carrying it.
//!
//! Owns: [`EffectiveConfig`] and [`EffectiveSetting`], the typed-model field list (`TYPED_FIELDS`)
//! that connects a setting path to [`MattermostSettings`], and Mattermost's value conversions
//! (Go `strconv.ParseBool` for env strings). Values of secret settings redact themselves in every
//! printer (`Serialize`, `display_value`).

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::model::{MattermostSettings, REDACTED, Secret};
use crate::diag::Location;

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SettingSource {
    /// A gitlab.rb setting (`mattermost['gitlab_id']`) at this location.
    GitlabRb { key: String, location: Location },
    /// Omnibus derived it from another setting (`mattermost_external_url` → SiteURL).
    Derived {
        from: String,
        location: Option<Location>,
    },
    /// The omnibus attribute default of the version (no gitlab.rb line sets it).
    OmnibusDefault { key: String },
    /// A `mattermost['env']` entry overriding the setting at runtime.
    EnvOverride { var: String, location: Location },
    /// Omnibus does not manage this setting in this version: Mattermost's own default applies.
    MattermostDefault,
}

impl SettingSource {
    /// The gitlab.rb location, if the value comes from a line of the file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            SettingSource::GitlabRb { location, .. }
            | SettingSource::EnvOverride { location, .. } => Some(location),
            SettingSource::Derived { location, .. } => location.as_ref(),
            _ => None,
        }
    }

    /// A short human description ("gitlab.rb:3:1 mattermost['gitlab_id']").
    pub fn describe(&self) -> String {
        match self {
            SettingSource::GitlabRb { key, location } => format!("{location} {key}"),
            SettingSource::Derived { from, location } => match location {
                Some(l) => format!("{l} derived from {from}"),
                None => format!("derived from {from}"),
            },
            SettingSource::OmnibusDefault { key } => {
                format!("omnibus default of mattermost['{key}']")
            }
            SettingSource::EnvOverride { var, location } => {
                format!("{location} mattermost['env'] {var}")
            }
            SettingSource::MattermostDefault => "Mattermost default".to_string(),
        }
    }
}

/// One Mattermost setting as the host would run it. `Debug`, `Serialize` and
/// [`display_value`](Self::display_value) redact secrets; `.value` is the real value.
#[derive(Clone, PartialEq)]
pub struct EffectiveSetting {
    /// `Section.Field` (`GitLabSettings.UserAPIEndpoint`); for an unmodelled `mattermost['env']`
    /// entry, the variable name.
    pub path: String,
    /// The value as Mattermost receives it: JSON from config.json (GitLab 8.x-10.x), a string
    /// from the environment (11.0-18.x).
    pub value: Value,
    pub secret: bool,
    pub source: SettingSource,
    /// The `MM_*` variable that sets it on this host (EnvVars era, or an env override).
    pub env_var: Option<String>,
}

impl EffectiveSetting {
    /// The value for printing: secrets show the redaction marker (empty secrets stay empty).
    pub fn display_value(&self) -> String {
        if self.secret && !is_empty_value(&self.value) {
            return REDACTED.to_string();
        }
        match &self.value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        }
    }
}

/// Empty values (nothing to hide) print as themselves even for secret settings.
pub(crate) fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

impl std::fmt::Debug for EffectiveSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EffectiveSetting")
            .field("path", &self.path)
            .field("value", &format_args!("{}", self.display_value()))
            .field("secret", &self.secret)
            .field("source", &self.source)
            .field("env_var", &self.env_var)
            .finish()
    }
}

impl Serialize for EffectiveSetting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("EffectiveSetting", 5)?;
        st.serialize_field("path", &self.path)?;
        if self.secret && !is_empty_value(&self.value) {
            st.serialize_field("value", REDACTED)?;
        } else {
            st.serialize_field("value", &self.value)?;
        }
        st.serialize_field("secret", &self.secret)?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("env_var", &self.env_var)?;
        st.end()
    }
}

/// Every effective setting of a host, in a stable order (omnibus's template order, then the
/// typed model's fields omnibus does not manage, then unmodelled env overrides).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EffectiveConfig {
    pub settings: Vec<EffectiveSetting>,
}

impl EffectiveConfig {
    /// The setting at a path, compared as Mattermost compares keys (case-insensitively).
    pub fn get(&self, path: &str) -> Option<&EffectiveSetting> {
        self.settings
            .iter()
            .find(|s| s.path.eq_ignore_ascii_case(path))
    }

    pub(crate) fn get_mut(&mut self, path: &str) -> Option<&mut EffectiveSetting> {
        self.settings
            .iter_mut()
            .find(|s| s.path.eq_ignore_ascii_case(path))
    }

    pub fn iter(&self) -> impl Iterator<Item = &EffectiveSetting> {
        self.settings.iter()
    }

    pub fn len(&self) -> usize {
        self.settings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.settings.is_empty()
    }
}

/// The kind of a typed-model field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    Bool,
    Text,
    SecretText,
    Seconds,
}

/// The settings of [`MattermostSettings`], by Mattermost path.
pub(crate) const TYPED_FIELDS: &[(&str, FieldKind)] = &[
    ("ServiceSettings.SiteURL", FieldKind::Text),
    ("ServiceSettings.ListenAddress", FieldKind::Text),
    ("ServiceSettings.EnableIncomingWebhooks", FieldKind::Bool),
    ("ServiceSettings.EnableOutgoingWebhooks", FieldKind::Bool),
    (
        "ServiceSettings.EnablePostUsernameOverride",
        FieldKind::Bool,
    ),
    ("ServiceSettings.EnablePostIconOverride", FieldKind::Bool),
    ("ServiceSettings.ConnectionSecurity", FieldKind::Text),
    (
        "ServiceSettings.EnableInsecureOutgoingConnections",
        FieldKind::Bool,
    ),
    (
        "ServiceSettings.AllowedUntrustedInternalConnections",
        FieldKind::Text,
    ),
    ("TeamSettings.SiteName", FieldKind::Text),
    ("TeamSettings.EnableUserCreation", FieldKind::Bool),
    ("TeamSettings.EnableTeamCreation", FieldKind::Bool),
    ("TeamSettings.EnableOpenServer", FieldKind::Bool),
    ("GitLabSettings.Enable", FieldKind::Bool),
    ("GitLabSettings.Id", FieldKind::Text),
    ("GitLabSettings.Secret", FieldKind::SecretText),
    ("GitLabSettings.Scope", FieldKind::Text),
    ("GitLabSettings.AuthEndpoint", FieldKind::Text),
    ("GitLabSettings.TokenEndpoint", FieldKind::Text),
    ("GitLabSettings.UserAPIEndpoint", FieldKind::Text),
    ("EmailSettings.EnableSignUpWithEmail", FieldKind::Bool),
    ("EmailSettings.EnableSignInWithEmail", FieldKind::Bool),
    ("EmailSettings.EnableSignInWithUsername", FieldKind::Bool),
    ("EmailSettings.SendEmailNotifications", FieldKind::Bool),
    ("EmailSettings.RequireEmailVerification", FieldKind::Bool),
    ("EmailSettings.FeedbackName", FieldKind::Text),
    ("EmailSettings.FeedbackEmail", FieldKind::Text),
    ("EmailSettings.ReplyToAddress", FieldKind::Text),
    ("EmailSettings.EnableSMTPAuth", FieldKind::Bool),
    ("EmailSettings.SMTPUsername", FieldKind::Text),
    ("EmailSettings.SMTPPassword", FieldKind::SecretText),
    ("EmailSettings.SMTPServer", FieldKind::Text),
    ("EmailSettings.SMTPPort", FieldKind::Text),
    ("EmailSettings.SMTPServerTimeout", FieldKind::Seconds),
    ("EmailSettings.ConnectionSecurity", FieldKind::Text),
    (
        "EmailSettings.SkipServerCertificateVerification",
        FieldKind::Bool,
    ),
];

/// The typed field for a path (case-insensitive), with Mattermost's spelling.
pub(crate) fn typed_field(path: &str) -> Option<(&'static str, FieldKind)> {
    TYPED_FIELDS
        .iter()
        .copied()
        .find(|(p, _)| p.eq_ignore_ascii_case(path))
}

/// Go's `strconv.ParseBool`, which Mattermost uses for boolean env overrides.
pub fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A JSON value as the text Mattermost would hold in a string setting.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Store a value into the typed model. `Err` says why Mattermost would not take it.
pub(crate) fn apply_typed(m: &mut MattermostSettings, path: &str, v: &Value) -> Result<(), String> {
    let Some((path, kind)) = typed_field(path) else {
        return Ok(());
    };
    let as_bool = || -> Result<bool, String> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) => go_parse_bool(s)
                .ok_or_else(|| format!("{s:?} is not a boolean Mattermost accepts (Go ParseBool)")),
            other => Err(format!("{other} is not a boolean")),
        }
    };
    let text = value_text(v);
    match kind {
        FieldKind::Bool => {
            let b = as_bool()?;
            let slot = match path {
                "ServiceSettings.EnableIncomingWebhooks" => &mut m.service.enable_incoming_webhooks,
                "ServiceSettings.EnableOutgoingWebhooks" => &mut m.service.enable_outgoing_webhooks,
                "ServiceSettings.EnablePostUsernameOverride" => {
                    &mut m.service.enable_post_username_override
                }
                "ServiceSettings.EnablePostIconOverride" => {
                    &mut m.service.enable_post_icon_override
                }
                "ServiceSettings.EnableInsecureOutgoingConnections" => {
                    &mut m.service.enable_insecure_outgoing_connections
                }
                "TeamSettings.EnableUserCreation" => &mut m.team.enable_user_creation,
                "TeamSettings.EnableTeamCreation" => &mut m.team.enable_team_creation,
                "TeamSettings.EnableOpenServer" => &mut m.team.enable_open_server,
                "GitLabSettings.Enable" => &mut m.gitlab.enable,
                "EmailSettings.EnableSignUpWithEmail" => &mut m.email.enable_sign_up_with_email,
                "EmailSettings.EnableSignInWithEmail" => &mut m.email.enable_sign_in_with_email,
                "EmailSettings.EnableSignInWithUsername" => {
                    &mut m.email.enable_sign_in_with_username
                }
                "EmailSettings.SendEmailNotifications" => &mut m.email.send_email_notifications,
                "EmailSettings.RequireEmailVerification" => &mut m.email.require_email_verification,
                "EmailSettings.EnableSMTPAuth" => &mut m.email.enable_smtp_auth,
                "EmailSettings.SkipServerCertificateVerification" => {
                    &mut m.email.skip_server_certificate_verification
                }
                _ => return Ok(()),
            };
            *slot = b;
        }
        FieldKind::Text => {
            let slot = match path {
                "ServiceSettings.SiteURL" => &mut m.service.site_url,
                "ServiceSettings.ListenAddress" => &mut m.service.listen_address,
                "ServiceSettings.ConnectionSecurity" => &mut m.service.connection_security,
                "ServiceSettings.AllowedUntrustedInternalConnections" => {
                    &mut m.service.allowed_untrusted_internal_connections
                }
                "TeamSettings.SiteName" => &mut m.team.site_name,
                "GitLabSettings.Id" => &mut m.gitlab.id,
                "GitLabSettings.Scope" => &mut m.gitlab.scope,
                "GitLabSettings.AuthEndpoint" => &mut m.gitlab.auth_endpoint,
                "GitLabSettings.TokenEndpoint" => &mut m.gitlab.token_endpoint,
                "GitLabSettings.UserAPIEndpoint" => &mut m.gitlab.user_api_endpoint,
                "EmailSettings.FeedbackName" => &mut m.email.feedback_name,
                "EmailSettings.FeedbackEmail" => &mut m.email.feedback_email,
                "EmailSettings.ReplyToAddress" => &mut m.email.reply_to_address,
                "EmailSettings.SMTPUsername" => &mut m.email.smtp_username,
                "EmailSettings.SMTPServer" => &mut m.email.smtp_server,
                "EmailSettings.SMTPPort" => &mut m.email.smtp_port,
                "EmailSettings.ConnectionSecurity" => &mut m.email.connection_security,
                _ => return Ok(()),
            };
            *slot = text;
        }
        FieldKind::SecretText => {
            let slot = match path {
                "GitLabSettings.Secret" => &mut m.gitlab.secret,
                "EmailSettings.SMTPPassword" => &mut m.email.smtp_password,
                _ => return Ok(()),
            };
            *slot = Secret::new(text);
        }
        FieldKind::Seconds => {
            let n = match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            }
            .ok_or_else(|| format!("{v} is not a whole number of seconds"))?;
            if path == "EmailSettings.SMTPServerTimeout" {
                m.email.smtp_server_timeout = n;
            }
        }
    }
    Ok(())
}

/// The typed model's current value of a path, as JSON (secrets exposed: callers redact).
pub(crate) fn typed_value(m: &MattermostSettings, path: &str) -> Option<Value> {
    let (path, _) = typed_field(path)?;
    let v = match path {
        "ServiceSettings.SiteURL" => Value::from(m.service.site_url.clone()),
        "ServiceSettings.ListenAddress" => Value::from(m.service.listen_address.clone()),
        "ServiceSettings.EnableIncomingWebhooks" => Value::from(m.service.enable_incoming_webhooks),
        "ServiceSettings.EnableOutgoingWebhooks" => Value::from(m.service.enable_outgoing_webhooks),
        "ServiceSettings.EnablePostUsernameOverride" => {
            Value::from(m.service.enable_post_username_override)
        }
        "ServiceSettings.EnablePostIconOverride" => {
            Value::from(m.service.enable_post_icon_override)
        }
        "ServiceSettings.ConnectionSecurity" => Value::from(m.service.connection_security.clone()),
        "ServiceSettings.EnableInsecureOutgoingConnections" => {
            Value::from(m.service.enable_insecure_outgoing_connections)
        }
        "ServiceSettings.AllowedUntrustedInternalConnections" => {
            Value::from(m.service.allowed_untrusted_internal_connections.clone())
        }
        "TeamSettings.SiteName" => Value::from(m.team.site_name.clone()),
        "TeamSettings.EnableUserCreation" => Value::from(m.team.enable_user_creation),
        "TeamSettings.EnableTeamCreation" => Value::from(m.team.enable_team_creation),
        "TeamSettings.EnableOpenServer" => Value::from(m.team.enable_open_server),
        "GitLabSettings.Enable" => Value::from(m.gitlab.enable),
        "GitLabSettings.Id" => Value::from(m.gitlab.id.clone()),
        "GitLabSettings.Secret" => Value::from(m.gitlab.secret.expose()),
        "GitLabSettings.Scope" => Value::from(m.gitlab.scope.clone()),
        "GitLabSettings.AuthEndpoint" => Value::from(m.gitlab.auth_endpoint.clone()),
        "GitLabSettings.TokenEndpoint" => Value::from(m.gitlab.token_endpoint.clone()),
        "GitLabSettings.UserAPIEndpoint" => Value::from(m.gitlab.user_api_endpoint.clone()),
        "EmailSettings.EnableSignUpWithEmail" => Value::from(m.email.enable_sign_up_with_email),
        "EmailSettings.EnableSignInWithEmail" => Value::from(m.email.enable_sign_in_with_email),
        "EmailSettings.EnableSignInWithUsername" => {
            Value::from(m.email.enable_sign_in_with_username)
        }
        "EmailSettings.SendEmailNotifications" => Value::from(m.email.send_email_notifications),
        "EmailSettings.RequireEmailVerification" => Value::from(m.email.require_email_verification),
        "EmailSettings.FeedbackName" => Value::from(m.email.feedback_name.clone()),
        "EmailSettings.FeedbackEmail" => Value::from(m.email.feedback_email.clone()),
        "EmailSettings.ReplyToAddress" => Value::from(m.email.reply_to_address.clone()),
        "EmailSettings.EnableSMTPAuth" => Value::from(m.email.enable_smtp_auth),
        "EmailSettings.SMTPUsername" => Value::from(m.email.smtp_username.clone()),
        "EmailSettings.SMTPPassword" => Value::from(m.email.smtp_password.expose()),
        "EmailSettings.SMTPServer" => Value::from(m.email.smtp_server.clone()),
        "EmailSettings.SMTPPort" => Value::from(m.email.smtp_port.clone()),
        "EmailSettings.SMTPServerTimeout" => Value::from(m.email.smtp_server_timeout),
        "EmailSettings.ConnectionSecurity" => Value::from(m.email.connection_security.clone()),
        "EmailSettings.SkipServerCertificateVerification" => {
            Value::from(m.email.skip_server_certificate_verification)
        }
        _ => return None,
    };
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;

    #[test]
    fn parse_bool_is_gos() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(go_parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(go_parse_bool(f), Some(false), "{f}");
        }
        for bad in ["yes", "on", "tRuE", "", " true"] {
            assert_eq!(go_parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_typed_field_round_trips() {
        let mut m = MattermostSettings::defaults(Profile::Gitlab18_11);
        for (path, kind) in TYPED_FIELDS {
            let v = match kind {
                FieldKind::Bool => Value::from(!typed_value(&m, path).unwrap().as_bool().unwrap()),
                FieldKind::Seconds => Value::from(42u64),
                _ => Value::from(format!("v-{path}")),
            };
            apply_typed(&mut m, path, &v).unwrap();
            assert_eq!(typed_value(&m, path).unwrap(), v, "{path}");
        }
        assert!(apply_typed(&mut m, "GitLabSettings.Enable", &Value::from("yes")).is_err());
        assert!(apply_typed(&mut m, "gitlabsettings.enable", &Value::from("T")).is_ok());
        assert!(m.gitlab.enable);
    }

    #[test]
    fn secret_values_are_redacted_in_json() {
        let s = EffectiveSetting {
            path: "GitLabSettings.Secret".into(),
            value: Value::from("hunter2"),
            secret: true,
            source: SettingSource::MattermostDefault,
            env_var: None,
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(json.contains(REDACTED));
        assert_eq!(s.display_value(), REDACTED);
    }
}
