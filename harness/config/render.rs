//! Rendering resolved settings for the places they go: the `GITLAB_OMNIBUS_CONFIG` text for the
//! `gitlab/gitlab-ce` image, and the `MM_*` environment for a standalone `mattermost` image.
//!
//! Owns: [`render_omnibus_config`] (real values, for the container environment only) and its
//! redacted twin [`OmnibusConfigDisplay`], and [`render_mm_env`] with [`EnvVar`], whose `Display`
//! and `Serialize` redact secrets.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::effective::{TYPED_FIELDS, typed_value, value_text};
use super::gitlab_rb::{RbSetting, RbValue};
use super::keys::{env_var_for_path, is_secret_name};
use super::model::REDACTED;
use super::resolve::Resolved;

/// One environment variable for a container.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    /// The real value: put it in the container's environment, never in output.
    pub value: String,
    pub secret: bool,
}

impl EnvVar {
    /// The value for printing (redacted when secret and non-empty; a URL's password too).
    pub fn shown_value(&self) -> std::borrow::Cow<'_, str> {
        if self.secret && !self.value.is_empty() {
            REDACTED.into()
        } else {
            super::model::redact_userinfo(&self.value)
        }
    }
}

impl fmt::Display for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.shown_value())
    }
}

impl fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvVar({self})")
    }
}

impl Serialize for EnvVar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("EnvVar", 3)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("value", &*self.shown_value())?;
        st.serialize_field("secret", &self.secret)?;
        st.end()
    }
}

/// Settings of the typed model that describe the omnibus host's layout rather than behaviour:
/// a standalone container keeps its own.
const HOST_LAYOUT: &[&str] = &["ServiceSettings.ListenAddress"];

/// The `MM_*` environment that makes a standalone Mattermost behave as this gitlab.rb makes the
/// bundled one behave: every setting of the typed model (service URL, webhooks, team, GitLab SSO,
/// email) with its effective value, then the file's own `mattermost['env']` `MM_*` entries that
/// name other settings. The omnibus host layout (listen address, SQL, file/log/plugin paths) is
/// left to the image.
pub fn render_mm_env(r: &Resolved) -> Vec<EnvVar> {
    let mut out: Vec<EnvVar> = Vec::new();
    for (path, _) in TYPED_FIELDS {
        if HOST_LAYOUT.contains(path) {
            continue;
        }
        let Some(v) = typed_value(&r.host.mattermost, path) else {
            continue;
        };
        out.push(EnvVar {
            name: env_var_for_path(path),
            value: value_text(&v),
            secret: is_secret_name(path),
        });
    }
    for s in r.effective.iter() {
        let Some(var) = &s.env_var else { continue };
        let from_env = matches!(
            s.source,
            super::effective::SettingSource::EnvOverride { .. }
        );
        if from_env && !out.iter().any(|e| &e.name == var) {
            out.push(EnvVar {
                name: var.clone(),
                value: value_text(&s.value),
                secret: s.secret || is_secret_name(var),
            });
        }
    }
    out
}

/// Ruby source for a string literal, double-quoted, with `#{` and control characters escaped so
/// the text reads back as exactly the same string.
fn ruby_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '#' if matches!(chars.peek(), Some('{' | '$' | '@')) => out.push_str("\\#"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A literal as Ruby source.
fn ruby_literal(v: &RbValue) -> String {
    match v {
        RbValue::Str(s) => ruby_quote(s),
        RbValue::Symbol(s) => format!(":{}", ruby_quote(s)),
        RbValue::Array(items) => {
            let inner: Vec<String> = items.iter().map(|n| ruby_literal(&n.value)).collect();
            format!("[{}]", inner.join(", "))
        }
        RbValue::Hash(pairs) => {
            let inner: Vec<String> = pairs
                .iter()
                .map(|p| {
                    format!(
                        "{} => {}",
                        ruby_literal(&p.key.value),
                        ruby_literal(&p.value.value)
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        RbValue::Unevaluated(text) => text.clone(),
        other => other.inspect(),
    }
}

/// A hash literal with the values of secret-named keys replaced.
fn redact_value(v: &RbValue, secret: bool) -> String {
    match v {
        RbValue::Hash(pairs) => {
            let inner: Vec<String> = pairs
                .iter()
                .map(|p| {
                    let key_secret = secret || is_secret_name(&p.key.value.key_name());
                    format!(
                        "{} => {}",
                        ruby_literal(&p.key.value),
                        redact_value(&p.value.value, key_secret)
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        RbValue::Nil => "nil".into(),
        RbValue::Str(s) if s.is_empty() => "\"\"".into(),
        RbValue::Unevaluated(_) if secret => format!("\"{REDACTED}\""),
        _ if secret => format!("\"{REDACTED}\""),
        RbValue::Array(items) => {
            let inner: Vec<String> = items
                .iter()
                .map(|n| redact_value(&n.value, false))
                .collect();
            format!("[{}]", inner.join(", "))
        }
        other => super::model::redact_userinfo(&ruby_literal(other)).into_owned(),
    }
}

fn setting_line(r: &Resolved, s: &RbSetting, redact: bool) -> String {
    let value = if redact {
        redact_value(&s.value.value, r.is_secret_setting(s))
    } else {
        ruby_literal(&s.value.value)
    };
    match &s.target {
        super::gitlab_rb::SettingTarget::Method { name } => format!("{name} {value}"),
        target => format!("{target} = {value}"),
    }
}

fn render(r: &Resolved, redact: bool) -> String {
    // Settings and whole unevaluated statements, in file order.
    let doc = &r.document;
    let mut items: Vec<(usize, String)> = doc
        .settings()
        .iter()
        .map(|s| (s.span.start, setting_line(r, s, redact)))
        .collect();
    for u in doc.unevaluated().iter().filter(|u| u.whole_statement) {
        let text = if redact {
            format!(
                "# (Ruby statement at {} not shown: mm-harness does not evaluate it)",
                doc.locate(u.span)
            )
        } else {
            u.text.clone()
        };
        items.push((u.span.start, text));
    }
    items.sort_by_key(|(at, _)| *at);
    let mut out = String::new();
    for (_, line) in items {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The `GITLAB_OMNIBUS_CONFIG` text for the gitlab/gitlab-ce image: the file's settings re-emitted
/// as Ruby, one per line (Ruby statements mm-harness does not evaluate are passed on verbatim, for
/// omnibus to evaluate). Secrets are real: this is for the container environment only; print
/// [`OmnibusConfigDisplay`] instead.
pub fn render_omnibus_config(r: &Resolved) -> String {
    render(r, false)
}

/// The same text with every secret value redacted, for printing.
pub struct OmnibusConfigDisplay<'a>(pub &'a Resolved);

impl fmt::Display for OmnibusConfigDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self.0, true))
    }
}

/// What a standalone Mattermost (`mattermost/mattermost-team-edition`) makes of an `MM_*`
/// environment: its defaults for `profile`, each variable of the typed model applied as
/// Mattermost's env loader applies it (Go's `ParseBool` for switches), and the settings paths the
/// variables locked (what `GET /api/v4/config/environment` lists). The inverse of
/// [`render_mm_env`]: `settings_from_mm_env(render_mm_env(r))` equals `r`'s settings on every
/// typed field but the host layout. Variables outside the typed model are listed, not applied.
pub fn settings_from_mm_env(
    profile: super::version::Profile,
    env: &[EnvVar],
) -> Result<(super::model::MattermostSettings, Vec<String>), String> {
    let mut settings = super::model::MattermostSettings::defaults(profile);
    let mut locked = Vec::new();
    for var in env {
        let Some((path, _)) = TYPED_FIELDS
            .iter()
            .find(|(p, _)| env_var_for_path(p) == var.name)
        else {
            continue;
        };
        super::effective::apply_typed(
            &mut settings,
            path,
            &serde_json::Value::String(var.value.clone()),
        )
        .map_err(|e| format!("{}: {e}", var.name))?;
        locked.push((*path).to_string());
    }
    Ok((settings, locked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_gitlab_rb, resolve};
    use crate::diag::SourceFile;

    #[test]
    fn the_rendered_mm_env_configures_a_standalone_server_as_the_gitlab_rb_did() {
        let f = SourceFile::new(
            "gitlab.rb",
            "external_url 'https://gitlab.example.com'\nmattermost_external_url 'https://mattermost.example.com'\nmattermost['gitlab_enable'] = true\nmattermost['gitlab_id'] = 'abc'\nmattermost['gitlab_secret'] = 's3cret'\nmattermost['email_smtp_server'] = 'smtp.example.com'\nmattermost['email_smtp_port'] = '587'\nmattermost['service_enable_incoming_webhooks'] = false\n",
        );
        let r = resolve(&f, crate::config::Version::new(18, 11, 0));
        let env = render_mm_env(&r);
        let (settings, locked) =
            settings_from_mm_env(crate::config::Profile::Gitlab18_11, &env).expect("accepted");
        let mut want = r.host.mattermost.clone();
        // The host layout stays the image's own.
        want.service.listen_address = settings.service.listen_address.clone();
        assert_eq!(settings, want);
        assert!(locked.contains(&"GitLabSettings.Secret".to_string()));
        assert!(!locked.contains(&"ServiceSettings.ListenAddress".to_string()));
        // A value Mattermost's env loader refuses is an error naming the variable.
        let bad = vec![EnvVar {
            name: "MM_SERVICESETTINGS_ENABLEINCOMINGWEBHOOKS".into(),
            value: "yes".into(),
            secret: false,
        }];
        let e = settings_from_mm_env(crate::config::Profile::Gitlab18_11, &bad).unwrap_err();
        assert!(
            e.starts_with("MM_SERVICESETTINGS_ENABLEINCOMINGWEBHOOKS"),
            "{e}"
        );
    }

    #[test]
    fn quoted_strings_read_back_identically() {
        let tricky = "a\"b\\c #{x} \n\t\u{1b} é";
        let f = SourceFile::new("t.rb", format!("x['k'] = {}\n", ruby_quote(tricky)));
        let doc = parse_gitlab_rb(&f);
        assert!(doc.diagnostics().is_empty(), "{:?}", doc.diagnostics());
        assert_eq!(doc.settings()[0].value.value, RbValue::Str(tricky.into()));
    }

    #[test]
    fn omnibus_config_round_trips_and_redacts() {
        let text = "external_url 'http://gitlab.example.com'\n\
                    mattermost['gitlab_secret'] = \"s3cr3t-value\"\n\
                    mattermost['env'] = { 'MM_EMAILSETTINGS_SMTPPASSWORD' => 'pw-value', 'HTTP_PROXY' => 'p' }\n\
                    gitlab_rails['enable'] = false\n";
        let r = resolve(
            &SourceFile::new("gitlab.rb", text),
            "18.11".parse().unwrap(),
        );
        let real = render_omnibus_config(&r);
        assert!(
            real.contains("s3cr3t-value") && real.contains("pw-value"),
            "{real}"
        );
        let again = resolve(
            &SourceFile::new("again.rb", real.clone()),
            "18.11".parse().unwrap(),
        );
        assert_eq!(again.host, r.host);
        let shown = OmnibusConfigDisplay(&r).to_string();
        assert!(
            !shown.contains("s3cr3t-value") && !shown.contains("pw-value"),
            "{shown}"
        );
        assert!(
            shown.contains("'HTTP_PROXY'") || shown.contains("\"HTTP_PROXY\" => \"p\""),
            "{shown}"
        );
        assert!(shown.contains("gitlab_rails['enable'] = false"), "{shown}");
    }
}
