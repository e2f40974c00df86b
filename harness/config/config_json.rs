//! Mattermost's own config.json, read the way Mattermost reads it (keys match case-insensitively,
//! so `UserApiEndpoint` and `UserAPIEndpoint` are one setting; the last spelling in the file wins,
//! as with Go's encoding/json), and *drift*: settings config.json holds differently from what the
//! gitlab.rb makes omnibus set. That is the seed's upgrade warning: System Console changes are
//! lost on reconfigure (GitLab 8.x-10.x re-renders config.json) or overridden by `MM_*`
//! variables (11.0-18.x), and block a clean upgrade until they are moved into gitlab.rb.
//!
//! Owns: [`read_config_json`], [`ConfigJson`], [`ConfigError`], [`drift`] and [`Drift`].

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::effective::{SettingSource, go_parse_bool, is_empty_value, value_text};
use super::gitlab_rb::scrub;
use super::keys::is_secret_name;
use super::model::REDACTED;
use super::resolve::Resolved;
use super::version::KeyEra;
use crate::diag::{Diagnostic, Location, SourceFile, Span};

/// What went wrong reading a config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    #[error("config.json is not valid JSON")]
    InvalidJson,
    #[error("config.json is not a JSON object of sections")]
    NotAnObject,
}

/// A config.json that cannot be read, with the diagnostic pointing into it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {}", diagnostic.message)]
pub struct ConfigError {
    pub kind: ConfigErrorKind,
    pub diagnostic: Box<Diagnostic>,
}

/// One `Section.Field` of a config.json.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    /// As spelled in the file (`GitLabSettings.UserApiEndpoint`).
    pub path: String,
    pub value: Value,
    pub location: Location,
}

/// A parsed config.json. Its `Debug` lists paths only (values may be secrets).
#[derive(Clone)]
pub struct ConfigJson {
    file: SourceFile,
    entries: Vec<ConfigEntry>,
}

impl std::fmt::Debug for ConfigJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&str> = self.entries.iter().map(|e| e.path.as_str()).collect();
        f.debug_struct("ConfigJson")
            .field("file", &self.file.name())
            .field("entries", &paths)
            .finish()
    }
}

impl ConfigJson {
    pub fn file(&self) -> &SourceFile {
        &self.file
    }
    /// Every `Section.Field`, in file order.
    pub fn entries(&self) -> &[ConfigEntry] {
        &self.entries
    }
    /// The entry Mattermost would load for a path: case-insensitive, the last spelling wins.
    pub fn get(&self, path: &str) -> Option<&ConfigEntry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.path.eq_ignore_ascii_case(path))
    }
}

/// Byte spans of the keys at depth 2 (`"Section": { "Field": ... }`), in file order.
fn field_key_spans(text: &str) -> Vec<(String, String, Span)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    // Stack of containers: true for objects.
    let mut stack: Vec<bool> = Vec::new();
    let mut section = String::new();
    let mut i = 0;
    let mut expecting_key = false;
    while i < b.len() {
        match b[i] {
            b'{' => {
                stack.push(true);
                expecting_key = true;
                i += 1;
            }
            b'[' => {
                stack.push(false);
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                i += 1;
            }
            b',' => {
                expecting_key = stack.last() == Some(&true);
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len());
                if expecting_key {
                    let key = serde_json::from_str::<String>(&text[start..i]).unwrap_or_default();
                    match stack.len() {
                        1 => section = key,
                        2 => out.push((section.clone(), key, Span::new(start, i))),
                        _ => {}
                    }
                    expecting_key = false;
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// A config.json line with the string values of secret-named keys redacted (for error output
/// when the file cannot be parsed, so values are unknown).
fn scrub_json_line(line: &str) -> String {
    let re =
        regex::Regex::new(r#""([A-Za-z0-9_]+)"\s*:\s*"((?:[^"\\]|\\.)*)""#).expect("static regex");
    re.replace_all(line, |c: &regex::Captures<'_>| {
        if is_secret_name(&c[1]) && !c[2].is_empty() {
            format!("\"{}\": \"{REDACTED}\"", &c[1])
        } else {
            c[0].to_string()
        }
    })
    .into_owned()
}

/// The byte ranges of config.json that hold secrets: the string value of every secret-named key
/// and the password of every URL's userinfo.
fn json_secret_masks(text: &str) -> Vec<Span> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r#""([A-Za-z0-9_]+)"\s*:\s*"((?:[^"\\]|\\.)*)""#).expect("static regex")
    });
    let mut out = Vec::new();
    for c in re.captures_iter(text) {
        if let (Some(key), Some(value)) = (c.get(1), c.get(2))
            && is_secret_name(key.as_str())
            && !value.as_str().is_empty()
        {
            out.push(Span::new(value.start(), value.end()));
        }
    }
    out.extend(super::gitlab_rb::url_password_spans(text, 0));
    out
}

fn offset_of(file: &SourceFile, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (n, l) in file.text().split_inclusive('\n').enumerate() {
        if n + 1 == line {
            return offset + column.saturating_sub(1).min(l.len());
        }
        offset += l.len();
    }
    file.text().len()
}

/// Read a config.json. Errors carry a diagnostic with file:line:column and a caret.
pub fn read_config_json(file: &SourceFile) -> Result<ConfigJson, ConfigError> {
    // Secret values and URL passwords are masked in every line shown (a long line is shown as a
    // window, which a line-wise redaction could no longer read).
    let file = &file.with_masks(json_secret_masks(file.text()));
    let root: Value = match serde_json::from_str(file.text()) {
        Ok(v) => v,
        Err(e) => {
            let at = offset_of(file, e.line(), e.column());
            let msg = e.to_string();
            let what = msg.split(" at line").next().unwrap_or(&msg).to_string();
            let mut diagnostic = Diagnostic::error("json.syntax", "config.json is not valid JSON")
                .at(file, Span::new(at, at + 1))
                .with_label(what)
                .with_hint("Mattermost refuses to start with this file; fix the JSON syntax");
            if let Some(loc) = &mut diagnostic.location {
                loc.source_line = scrub_json_line(&loc.source_line);
            }
            return Err(ConfigError {
                kind: ConfigErrorKind::InvalidJson,
                diagnostic: Box::new(diagnostic),
            });
        }
    };
    let Value::Object(sections) = root else {
        return Err(ConfigError {
            kind: ConfigErrorKind::NotAnObject,
            diagnostic: Box::new(
                Diagnostic::error("json.shape", "config.json is not a JSON object")
                    .at(file, Span::new(0, file.text().len().min(1)))
                    .with_label("expected `{ \"ServiceSettings\": { ... }, ... }`"),
            ),
        });
    };
    let spans = field_key_spans(file.text());
    let mut entries = Vec::new();
    let mut used = vec![false; spans.len()];
    for (section, fields) in &sections {
        let Value::Object(fields) = fields else {
            continue;
        };
        for (field, value) in fields {
            let idx = spans
                .iter()
                .enumerate()
                .position(|(i, (s, f, _))| !used[i] && s == section && f == field);
            let span = match idx {
                Some(i) => {
                    used[i] = true;
                    spans[i].2
                }
                None => Span::new(0, 0),
            };
            entries.push((
                span.start,
                ConfigEntry {
                    path: format!("{section}.{field}"),
                    value: value.clone(),
                    location: {
                        let mut loc = file.locate(span);
                        loc.source_line = scrub_json_line(&loc.source_line);
                        loc
                    },
                },
            ));
        }
    }
    entries.sort_by_key(|(at, _)| *at);
    Ok(ConfigJson {
        file: file.clone(),
        entries: entries.into_iter().map(|(_, e)| e).collect(),
    })
}

/// What a drifted setting means for the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftConsequence {
    /// GitLab 8.x-10.x: reconfigure renders config.json from gitlab.rb; the change is lost and
    /// the seed says the upgrade will not go through cleanly until gitlab.rb carries it.
    LostOnReconfigure,
    /// GitLab 11.0-18.x: an `MM_*` variable from gitlab.rb overrides config.json; the System
    /// Console shows the setting locked and the config.json value never applies.
    OverriddenByEnv,
}

/// A setting config.json holds differently from what gitlab.rb makes omnibus set.
/// `Debug`, `Serialize` and the diagnostic redact secret values.
#[derive(Clone, PartialEq)]
pub struct Drift {
    /// `Section.Field` as spelled in config.json.
    pub path: String,
    /// What gitlab.rb (or omnibus's default/derivation) sets.
    pub expected: Value,
    /// What config.json holds.
    pub actual: Value,
    pub secret: bool,
    /// Where the expected value comes from.
    pub source: SettingSource,
    /// The config.json line.
    pub config_location: Location,
    pub env_var: Option<String>,
    pub consequence: DriftConsequence,
}

fn shown(v: &Value, secret: bool) -> String {
    if secret && !is_empty_value(v) {
        return REDACTED.to_string();
    }
    match v {
        Value::String(s) => format!("{:?}", super::model::redact_userinfo(s)),
        other => other.to_string(),
    }
}

impl Drift {
    /// Whether GitLab sign-in depends on the value config.json holds: a GitLab SSO setting (or
    /// the SiteURL its callbacks are built from) that is set in config.json where gitlab.rb
    /// would leave it empty or off. Advice to revert it would break SSO.
    pub fn sso_depends_on_actual(&self) -> bool {
        let sso_path = self
            .path
            .to_ascii_lowercase()
            .starts_with("gitlabsettings.")
            || self.path.eq_ignore_ascii_case("ServiceSettings.SiteURL");
        let set = |v: &Value| match v {
            Value::Bool(b) => *b,
            Value::String(s) => !s.is_empty() && go_parse_bool(s) != Some(false),
            Value::Null => false,
            _ => true,
        };
        sso_path && set(&self.actual) && !set(&self.expected)
    }

    pub fn expected_display(&self) -> String {
        shown(&self.expected, self.secret)
    }
    pub fn actual_display(&self) -> String {
        shown(&self.actual, self.secret)
    }
    /// A warning pointing at the config.json line, naming the gitlab.rb source.
    pub fn diagnostic(&self) -> Diagnostic {
        let what = match self.consequence {
            DriftConsequence::LostOnReconfigure => {
                "`gitlab-ctl reconfigure` rewrites config.json: this change is lost on the next upgrade"
                    .to_string()
            }
            DriftConsequence::OverriddenByEnv => format!(
                "{} from gitlab.rb overrides config.json: this value never applies",
                self.env_var.as_deref().unwrap_or("an MM_* variable")
            ),
        };
        let mut d = Diagnostic::warning(
            "config.drift",
            format!(
                "{} is {} in config.json but {} from gitlab.rb",
                self.path,
                self.actual_display(),
                self.expected_display()
            ),
        )
        .with_label(what)
        .with_hint(if self.sso_depends_on_actual() {
            // Reverting would take away what GitLab sign-in works with.
            format!(
                "keep it: GitLab SSO depends on this value; write it into gitlab.rb ({}) so reconfigure keeps it. Do not revert it in the System Console",
                self.source.describe()
            )
        } else {
            format!(
                "move the change into gitlab.rb ({}) or revert it in the System Console",
                self.source.describe()
            )
        });
        let mut loc = self.config_location.clone();
        loc.source_line =
            super::model::redact_userinfo(&scrub_json_line(&loc.source_line)).into_owned();
        if self.secret {
            // The values are redacted where they are shown: the message already shows the
            // marker; the config.json line may hold the actual value under another spelling.
            let secrets: Vec<String> = [&self.expected, &self.actual]
                .into_iter()
                .map(value_text)
                .filter(|t| !t.is_empty())
                .collect();
            loc.source_line = scrub(&loc.source_line, &secrets);
        }
        d.location = Some(loc);
        d
    }
}

impl std::fmt::Debug for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drift")
            .field("path", &self.path)
            .field("expected", &format_args!("{}", self.expected_display()))
            .field("actual", &format_args!("{}", self.actual_display()))
            .field("secret", &self.secret)
            .field("source", &self.source)
            .field("config_location", &self.config_location.to_string())
            .field("consequence", &self.consequence)
            .finish()
    }
}

impl Serialize for Drift {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Drift", 7)?;
        st.serialize_field("path", &self.path)?;
        st.serialize_field("expected", &self.expected_display())?;
        st.serialize_field("actual", &self.actual_display())?;
        st.serialize_field("secret", &self.secret)?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("config_location", &self.config_location)?;
        st.serialize_field("env_var", &self.env_var)?;
        st.serialize_field("consequence", &self.consequence)?;
        st.end()
    }
}

/// Whether Mattermost would hold the same setting (bools from env strings via ParseBool,
/// numbers against their text, `null` as the empty string).
fn same_setting(expected: &Value, actual: &Value) -> bool {
    if expected == actual {
        return true;
    }
    match (expected, actual) {
        (Value::String(e), Value::Bool(a)) => go_parse_bool(e) == Some(*a),
        (Value::Bool(e), Value::String(a)) => go_parse_bool(a) == Some(*e),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        _ => value_text(expected) == value_text(actual),
    }
}

/// Settings omnibus manages for this gitlab.rb that config.json holds differently.
pub fn drift(r: &Resolved, cfg: &ConfigJson) -> Vec<Drift> {
    let consequence = match r.era {
        KeyEra::EnvVars => DriftConsequence::OverriddenByEnv,
        _ => DriftConsequence::LostOnReconfigure,
    };
    let mut out = Vec::new();
    for s in r.effective.iter() {
        if matches!(
            s.source,
            SettingSource::MattermostDefault | SettingSource::AutoRegistration { generated: true }
        ) {
            // Not managed by omnibus (a Console change is the admin's to make), or made on
            // reconfigure (the generated OAuth id/secret): nothing to compare against.
            continue;
        }
        let Some(entry) = cfg.get(&s.path) else {
            continue;
        };
        if same_setting(&s.value, &entry.value) {
            continue;
        }
        out.push(Drift {
            path: entry.path.clone(),
            expected: s.value.clone(),
            actual: entry.value.clone(),
            secret: s.secret,
            source: s.source.clone(),
            config_location: entry.location.clone(),
            env_var: s.env_var.clone(),
            consequence,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve;

    #[test]
    fn keys_match_case_insensitively_and_last_spelling_wins() {
        let f = SourceFile::new(
            "config.json",
            "{\n  \"GitLabSettings\": {\n    \"UserApiEndpoint\": \"http://a/api/v3/user\",\n    \"userapiendpoint\": \"http://a/api/v4/user\"\n  }\n}\n",
        );
        let c = read_config_json(&f).unwrap();
        let e = c.get("GitLabSettings.UserAPIEndpoint").unwrap();
        assert_eq!(e.value, Value::from("http://a/api/v4/user"));
        assert_eq!(e.location.line, 4);
        assert_eq!(e.location.column, 5);
    }

    #[test]
    fn invalid_json_points_at_the_error() {
        let f = SourceFile::new(
            "config.json",
            "{\n  \"ServiceSettings\": {\n    \"SiteURL\": \"x\",\n  }\n}\n",
        );
        let err = read_config_json(&f).unwrap_err();
        assert_eq!(err.kind, ConfigErrorKind::InvalidJson);
        let text = err.diagnostic.render();
        assert!(text.contains("config.json:4:"), "{text}");
        let f = SourceFile::new(
            "config.json",
            "{\"EmailSettings\": {\"SMTPPassword\": \"pw-123\",}}",
        );
        let text = read_config_json(&f).unwrap_err().diagnostic.render();
        assert!(!text.contains("pw-123"), "{text}");
        let f = SourceFile::new("config.json", "[1, 2]");
        assert_eq!(
            read_config_json(&f).unwrap_err().kind,
            ConfigErrorKind::NotAnObject
        );
    }

    #[test]
    fn drift_compares_as_mattermost_loads() {
        let rb = SourceFile::new(
            "gitlab.rb",
            "mattermost_external_url 'http://mm.example.com'\nmattermost['gitlab_enable'] = true\nmattermost['gitlab_secret'] = 'right-secret'\n",
        );
        let r = resolve(&rb, "18.11".parse().unwrap());
        let cfg = SourceFile::new(
            "config.json",
            r#"{"GitLabSettings": {"Enable": true, "Secret": "console-secret"},
               "ServiceSettings": {"SiteURL": "http://other.example.com", "EnableIncomingWebhooks": false}}"#,
        );
        let c = read_config_json(&cfg).unwrap();
        let d = drift(&r, &c);
        let paths: Vec<_> = d.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(
            paths,
            vec!["ServiceSettings.SiteURL", "GitLabSettings.Secret"]
        );
        let secret = &d[1];
        assert_eq!(secret.consequence, DriftConsequence::OverriddenByEnv);
        let json = serde_json::to_string(&d).unwrap();
        let rendered = secret.diagnostic().render();
        for text in [&json, &rendered] {
            assert!(
                !text.contains("right-secret") && !text.contains("console-secret"),
                "{text}"
            );
        }
        assert!(rendered.contains("MM_GITLABSETTINGS_SECRET"), "{rendered}");
    }
}
