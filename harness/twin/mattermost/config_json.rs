//! Mattermost's config.json view of the settings: rendering (`GET /api/v4/config`, secrets as
//! `model.FakeSetting`), applying an edited config (`PUT /api/v4/config`, with Mattermost's
//! validation of the fields the twin models), and the environment-override map
//! (`GET /api/v4/config/environment`).
//!
//! Owns: the mapping between `config::model::MattermostSettings` and config.json key names.

use serde_json::{Map, Value, json};

use super::error::AppError;
use crate::config::model::{MattermostSettings, REDACTED, Secret};

/// `model.FakeSetting`: what the API shows instead of a secret.
pub const FAKE_SETTING: &str = REDACTED;

fn secret_out(s: &Secret, sanitize: bool) -> Value {
    if s.is_empty() {
        Value::String(String::new())
    } else if sanitize {
        Value::String(FAKE_SETTING.to_string())
    } else {
        Value::String(s.expose().to_string())
    }
}

/// The config.json of these settings; `sanitize` replaces secrets as `Config.Sanitize` does.
pub fn to_json(s: &MattermostSettings, sanitize: bool) -> Value {
    json!({
        "ServiceSettings": {
            "SiteURL": s.service.site_url,
            "ListenAddress": s.service.listen_address,
            "ConnectionSecurity": s.service.connection_security,
            "EnableIncomingWebhooks": s.service.enable_incoming_webhooks,
            "EnableOutgoingWebhooks": s.service.enable_outgoing_webhooks,
            "EnablePostUsernameOverride": s.service.enable_post_username_override,
            "EnablePostIconOverride": s.service.enable_post_icon_override,
            "EnableInsecureOutgoingConnections": s.service.enable_insecure_outgoing_connections,
            "AllowedUntrustedInternalConnections": s.service.allowed_untrusted_internal_connections,
            "EnableDeveloper": false,
            "SessionLengthWebInHours": 720,
        },
        "TeamSettings": {
            "SiteName": s.team.site_name,
            "EnableUserCreation": s.team.enable_user_creation,
            "EnableTeamCreation": s.team.enable_team_creation,
            "EnableOpenServer": s.team.enable_open_server,
        },
        "GitLabSettings": {
            "Enable": s.gitlab.enable,
            "Secret": secret_out(&s.gitlab.secret, sanitize),
            "Id": s.gitlab.id,
            "Scope": s.gitlab.scope,
            "AuthEndpoint": s.gitlab.auth_endpoint,
            "TokenEndpoint": s.gitlab.token_endpoint,
            "UserAPIEndpoint": s.gitlab.user_api_endpoint,
            "DiscoveryEndpoint": "",
            "ButtonText": "",
            "ButtonColor": "",
        },
        "EmailSettings": {
            "EnableSignUpWithEmail": s.email.enable_sign_up_with_email,
            "EnableSignInWithEmail": s.email.enable_sign_in_with_email,
            "EnableSignInWithUsername": s.email.enable_sign_in_with_username,
            "SendEmailNotifications": s.email.send_email_notifications,
            "RequireEmailVerification": s.email.require_email_verification,
            "FeedbackName": s.email.feedback_name,
            "FeedbackEmail": s.email.feedback_email,
            "ReplyToAddress": s.email.reply_to_address,
            "EnableSMTPAuth": s.email.enable_smtp_auth,
            "SMTPUsername": s.email.smtp_username,
            "SMTPPassword": secret_out(&s.email.smtp_password, sanitize),
            "SMTPServer": s.email.smtp_server,
            "SMTPPort": s.email.smtp_port,
            "SMTPServerTimeout": s.email.smtp_server_timeout,
            "ConnectionSecurity": s.email.connection_security,
            "SkipServerCertificateVerification": s.email.skip_server_certificate_verification,
        },
    })
}

/// `GET /api/v4/config/environment`: `{"Section":{"Field":true}}` for each overridden setting.
pub fn environment_map(env_overrides: &[String]) -> Value {
    let mut out = Map::new();
    for path in env_overrides {
        let Some((section, field)) = path.split_once('.') else {
            continue;
        };
        let entry = out
            .entry(section.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(field.to_string(), Value::Bool(true));
        }
    }
    Value::Object(out)
}

fn invalid_body(name: &str) -> AppError {
    AppError::new(
        "api.context.invalid_body_param.app_error",
        format!("Invalid or missing {name} in request body."),
        400,
    )
}

/// One field of an edited config: `Some(value)` when present (keys match case-insensitively,
/// as Mattermost loads JSON), type-checked.
struct Edit<'a> {
    doc: &'a Map<String, Value>,
    env: &'a [String],
}

impl Edit<'_> {
    fn field(&self, section: &str, field: &str) -> Option<&Value> {
        if self.env.iter().any(|p| p == &format!("{section}.{field}")) {
            // Settings from the environment cannot be changed through the API.
            return None;
        }
        let sec = self
            .doc
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(section))?
            .1
            .as_object()?;
        sec.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(field))
            .map(|(_, v)| v)
    }
    fn string(&self, section: &str, field: &str, target: &mut String) -> Result<(), AppError> {
        match self.field(section, field) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(s)) => {
                *target = s.clone();
                Ok(())
            }
            Some(_) => Err(invalid_body("config")),
        }
    }
    fn bool(&self, section: &str, field: &str, target: &mut bool) -> Result<(), AppError> {
        match self.field(section, field) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Bool(b)) => {
                *target = *b;
                Ok(())
            }
            Some(_) => Err(invalid_body("config")),
        }
    }
    fn secret(&self, section: &str, field: &str, target: &mut Secret) -> Result<(), AppError> {
        match self.field(section, field) {
            None | Some(Value::Null) => Ok(()),
            // Desanitize: the placeholder keeps the stored secret.
            Some(Value::String(s)) if s == FAKE_SETTING => Ok(()),
            Some(Value::String(s)) => {
                *target = Secret::new(s.clone());
                Ok(())
            }
            Some(_) => Err(invalid_body("config")),
        }
    }
}

/// Apply an edited config.json to the settings, then validate like `Config.IsValid` does for the
/// modelled fields. On error nothing changes.
pub fn apply_json(
    current: &MattermostSettings,
    doc: &Value,
    env_overrides: &[String],
) -> Result<MattermostSettings, AppError> {
    let Some(doc) = doc.as_object() else {
        return Err(invalid_body("config"));
    };
    let e = Edit {
        doc,
        env: env_overrides,
    };
    let mut s = current.clone();
    e.string("ServiceSettings", "SiteURL", &mut s.service.site_url)?;
    e.string(
        "ServiceSettings",
        "ConnectionSecurity",
        &mut s.service.connection_security,
    )?;
    e.bool(
        "ServiceSettings",
        "EnableIncomingWebhooks",
        &mut s.service.enable_incoming_webhooks,
    )?;
    e.bool(
        "ServiceSettings",
        "EnableOutgoingWebhooks",
        &mut s.service.enable_outgoing_webhooks,
    )?;
    e.bool(
        "ServiceSettings",
        "EnablePostUsernameOverride",
        &mut s.service.enable_post_username_override,
    )?;
    e.bool(
        "ServiceSettings",
        "EnablePostIconOverride",
        &mut s.service.enable_post_icon_override,
    )?;
    e.bool(
        "ServiceSettings",
        "EnableInsecureOutgoingConnections",
        &mut s.service.enable_insecure_outgoing_connections,
    )?;
    e.string("TeamSettings", "SiteName", &mut s.team.site_name)?;
    e.bool(
        "TeamSettings",
        "EnableUserCreation",
        &mut s.team.enable_user_creation,
    )?;
    e.bool(
        "TeamSettings",
        "EnableTeamCreation",
        &mut s.team.enable_team_creation,
    )?;
    e.bool(
        "TeamSettings",
        "EnableOpenServer",
        &mut s.team.enable_open_server,
    )?;
    e.bool("GitLabSettings", "Enable", &mut s.gitlab.enable)?;
    e.secret("GitLabSettings", "Secret", &mut s.gitlab.secret)?;
    e.string("GitLabSettings", "Id", &mut s.gitlab.id)?;
    e.string("GitLabSettings", "Scope", &mut s.gitlab.scope)?;
    e.string(
        "GitLabSettings",
        "AuthEndpoint",
        &mut s.gitlab.auth_endpoint,
    )?;
    e.string(
        "GitLabSettings",
        "TokenEndpoint",
        &mut s.gitlab.token_endpoint,
    )?;
    e.string(
        "GitLabSettings",
        "UserAPIEndpoint",
        &mut s.gitlab.user_api_endpoint,
    )?;
    let email = &mut s.email;
    e.bool(
        "EmailSettings",
        "EnableSignUpWithEmail",
        &mut email.enable_sign_up_with_email,
    )?;
    e.bool(
        "EmailSettings",
        "EnableSignInWithEmail",
        &mut email.enable_sign_in_with_email,
    )?;
    e.bool(
        "EmailSettings",
        "EnableSignInWithUsername",
        &mut email.enable_sign_in_with_username,
    )?;
    e.bool(
        "EmailSettings",
        "SendEmailNotifications",
        &mut email.send_email_notifications,
    )?;
    e.bool(
        "EmailSettings",
        "RequireEmailVerification",
        &mut email.require_email_verification,
    )?;
    e.string("EmailSettings", "FeedbackName", &mut email.feedback_name)?;
    e.string("EmailSettings", "FeedbackEmail", &mut email.feedback_email)?;
    e.string(
        "EmailSettings",
        "ReplyToAddress",
        &mut email.reply_to_address,
    )?;
    e.bool(
        "EmailSettings",
        "EnableSMTPAuth",
        &mut email.enable_smtp_auth,
    )?;
    e.string("EmailSettings", "SMTPUsername", &mut email.smtp_username)?;
    e.secret("EmailSettings", "SMTPPassword", &mut email.smtp_password)?;
    e.string("EmailSettings", "SMTPServer", &mut email.smtp_server)?;
    e.string("EmailSettings", "SMTPPort", &mut email.smtp_port)?;
    e.string(
        "EmailSettings",
        "ConnectionSecurity",
        &mut email.connection_security,
    )?;
    e.bool(
        "EmailSettings",
        "SkipServerCertificateVerification",
        &mut email.skip_server_certificate_verification,
    )?;
    if let Some(v) = e.field("EmailSettings", "SMTPServerTimeout") {
        match v.as_u64() {
            Some(n) => email.smtp_server_timeout = n,
            None if v.is_null() => {}
            None => return Err(invalid_body("config")),
        }
    }
    validate(&s)?;
    Ok(s)
}

/// `Config.IsValid` for the modelled fields.
pub fn validate(s: &MattermostSettings) -> Result<(), AppError> {
    let site = s.service.site_url.trim();
    if !site.is_empty() {
        let ok = url::Url::parse(site)
            .map(|u| u.scheme() == "http" || u.scheme() == "https")
            .unwrap_or(false);
        if !ok {
            return Err(AppError::new(
                "model.config.is_valid.site_url.app_error",
                "Site URL must be a valid URL and start with http:// or https://.",
                400,
            ));
        }
    }
    if !matches!(
        s.email.connection_security.as_str(),
        "" | "TLS" | "STARTTLS" | "PLAIN"
    ) {
        return Err(AppError::new(
            "model.config.is_valid.email_security.app_error",
            "Invalid connection security for email settings. Must be '', 'TLS', or 'STARTTLS'.",
            400,
        ));
    }
    if s.email.smtp_server_timeout == 0 {
        return Err(AppError::new(
            "model.config.is_valid.email_timeout.app_error",
            "Invalid SMTP server timeout.",
            400,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::version::Profile;

    #[test]
    fn secrets_are_sanitized_and_placeholders_keep_them() {
        let mut s = MattermostSettings::defaults(Profile::Gitlab18_11);
        s.gitlab.secret = Secret::new("s3cr3t");
        let out = to_json(&s, true);
        assert_eq!(out["GitLabSettings"]["Secret"], FAKE_SETTING);
        let mut edited = out.clone();
        edited["GitLabSettings"]["Id"] = json!("new-id");
        let applied = apply_json(&s, &edited, &[]).unwrap();
        assert_eq!(applied.gitlab.secret.expose(), "s3cr3t");
        assert_eq!(applied.gitlab.id, "new-id");
    }

    #[test]
    fn env_overridden_settings_do_not_change_and_bad_security_is_refused() {
        let s = MattermostSettings::defaults(Profile::Gitlab18_11);
        let env = vec!["GitLabSettings.Id".to_string()];
        let doc = json!({"gitlabsettings": {"id": "x"}});
        assert_eq!(apply_json(&s, &doc, &env).unwrap().gitlab.id, "");
        assert_eq!(
            environment_map(&env),
            json!({"GitLabSettings": {"Id": true}})
        );
        let doc = json!({"EmailSettings": {"ConnectionSecurity": "SSL"}});
        let err = apply_json(&s, &doc, &[]).unwrap_err();
        assert_eq!(err.id, "model.config.is_valid.email_security.app_error");
    }
}
