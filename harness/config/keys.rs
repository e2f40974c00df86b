//! Per-version key tables: which `mattermost[...]`, `gitlab_rails[...]`, `nginx[...]` and
//! `mattermost_nginx[...]` keys a GitLab version knows, and what each `mattermost[...]` key feeds
//! in Mattermost (a config.json field in GitLab 8.x-10.x, an `MM_*` variable in 11.0-18.x).
//!
//! Owns: the table types, the lookup by GitLab version, the classification of a key for a version
//! ([`KeyStatus`]: known / dropped / unknown with a did-you-mean) and the secret-name rule. The
//! table data is generated from shared/data by `keygen` into `keys_generated.rs`; a test
//! regenerates it and fails when the checked-in file differs.

use super::keys_generated::{GITLAB_8_12, GITLAB_10_8, GITLAB_18_11};
use super::keys_history_generated::{KEYS as HISTORY_KEYS, LINES as HISTORY_LINES};
use super::version::{KeyEra, Version};

/// A piece of an omnibus template that renders one Mattermost setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplatePart {
    /// Literal text.
    Lit(&'static str),
    /// `<%= @key %>` / `node['mattermost']['key'].to_s`: the key's value, Ruby `to_s`.
    Key(&'static str),
    /// `<%= @key.to_json %>`-style: the key's value through a Ruby expression (kept as written).
    KeyExpr {
        key: &'static str,
        ruby: &'static str,
    },
}

/// One Mattermost setting omnibus writes, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    /// `Section.Field` as Mattermost spells it (`GitLabSettings.UserAPIEndpoint`); empty for an
    /// environment variable that is not a setting (`MM_INSTALL_TYPE`).
    pub path: &'static str,
    /// The `MM_*` variable omnibus sets (GitLab 11.0-18.x), if any.
    pub env_var: Option<&'static str>,
    /// Whether the template quotes the value (a JSON string) or writes it raw (bool, number).
    pub quoted: bool,
    pub template: &'static [TemplatePart],
    /// Whether the value is a secret (every printer redacts it).
    pub secret: bool,
}

/// One `mattermost['key']`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDef {
    pub key: &'static str,
    /// The omnibus attribute default as Ruby text, if the attributes file sets one (`None` for
    /// keys only the template or the secrets file knows, e.g. `email_invite_salt`).
    pub default: Option<&'static str>,
    pub secret: bool,
    /// The Mattermost settings (paths) this key feeds; empty for omnibus-only keys (`uid`, `home`).
    pub feeds: &'static [&'static str],
}

/// Everything one GitLab release line knows about configuration keys.
#[derive(Debug, Clone, Copy)]
pub struct KeyTable {
    /// The release the data comes from (`8.12`, `10.8`, `18.11`).
    pub source: &'static str,
    pub era: KeyEra,
    pub mattermost: &'static [KeyDef],
    pub fields: &'static [FieldDef],
    /// Keys of `gitlab_rails[...]` in the version's gitlab.rb template (commented or not).
    pub gitlab_rails: &'static [&'static str],
    /// Keys of `nginx[...]` in the template.
    pub nginx: &'static [&'static str],
    /// Keys of `mattermost_nginx[...]`: the template's own plus every `nginx[...]` key (omnibus
    /// merges the two attribute sets for Mattermost's virtual host).
    pub mattermost_nginx: &'static [&'static str],
    /// Top-level names the template uses (`external_url`, `gitlab_rails`, `roles`, ...).
    pub roots: &'static [&'static str],
}

impl KeyTable {
    /// The table for a GitLab version (`None` for GitLab 19.0 and later: bundled Mattermost removed).
    pub fn for_gitlab(v: Version) -> Option<&'static KeyTable> {
        match KeyEra::for_gitlab(v) {
            KeyEra::ConfigJson8 => Some(&GITLAB_8_12),
            KeyEra::ConfigJson10 => Some(&GITLAB_10_8),
            KeyEra::EnvVars => Some(&GITLAB_18_11),
            KeyEra::Removed => None,
        }
    }

    /// All tables, oldest first.
    pub fn all() -> [&'static KeyTable; 3] {
        [&GITLAB_8_12, &GITLAB_10_8, &GITLAB_18_11]
    }

    pub fn mattermost_key(&self, key: &str) -> Option<&'static KeyDef> {
        self.mattermost.iter().find(|k| k.key == key)
    }

    /// The field with this path, compared as Mattermost compares config keys (case-insensitively).
    pub fn field(&self, path: &str) -> Option<&'static FieldDef> {
        self.fields
            .iter()
            .find(|f| !f.path.is_empty() && f.path.eq_ignore_ascii_case(path))
    }

    /// The known keys of a table root (`mattermost`, `gitlab_rails`, `nginx`, `mattermost_nginx`).
    pub fn keys_of(&self, root: &str) -> Option<Vec<&'static str>> {
        match root {
            "mattermost" => Some(self.mattermost.iter().map(|k| k.key).collect()),
            "gitlab_rails" => {
                let mut keys = self.gitlab_rails.to_vec();
                keys.extend(
                    GITLAB_RAILS_ATTRIBUTE_KEYS
                        .iter()
                        .filter(|k| !self.gitlab_rails.contains(k)),
                );
                Some(keys)
            }
            "nginx" => Some(self.nginx.to_vec()),
            "mattermost_nginx" => Some(self.mattermost_nginx.to_vec()),
            _ => None,
        }
    }
}

/// `gitlab_rails[...]` keys omnibus's attributes define on every release line although older
/// gitlab.rb templates do not show them: `enable` (`default['gitlab']['gitlab-rails']['enable']`)
/// is how the seed's 8.12-era split-server text shuts GitLab down on the Mattermost server.
const GITLAB_RAILS_ATTRIBUTE_KEYS: &[&str] = &["enable"];

/// What a `root['key']` means for a GitLab version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStatus {
    /// The version knows the key.
    Known,
    /// An older release line knew it; this one ignores it. `last` is the last table that had it,
    /// `env_var` the `MM_*` variable that sets the same Mattermost setting now, if one does.
    Dropped {
        last: &'static str,
        /// The first release line that knew it, when omnibus's history says so.
        since: Option<&'static str>,
        setting: Option<&'static str>,
        env_var: Option<String>,
    },
    /// A later release line added it; this older one ignores it. `first` is the first table that
    /// has it.
    NotYet { first: &'static str },
    /// Bundled Mattermost is gone (GitLab 19.0+): any `mattermost[...]` key stops reconfigure.
    Removed,
    /// No release line knows it. `suggestion`: the closest known key; `note`: why it is a common
    /// mistake (e.g. GitLab's own SMTP key names).
    Unknown {
        suggestion: Option<&'static str>,
        note: Option<String>,
    },
    /// Not a table this module knows (`gitaly`, `registry`, ...): not checked.
    Unchecked,
}

/// GitLab's own `gitlab_rails` SMTP keys that people put under `mattermost[...]` (the seed warns
/// about `smtp_user_name`), with Mattermost's key for the same thing.
const GITLAB_SMTP_CONFUSABLES: &[(&str, &str)] = &[
    ("smtp_user_name", "email_smtp_username"),
    ("smtp_password", "email_smtp_password"),
    ("smtp_address", "email_smtp_server"),
    ("smtp_port", "email_smtp_port"),
    ("smtp_enable", "email_send_email_notifications"),
    ("smtp_authentication", "email_smtp_auth"),
    ("smtp_enable_starttls_auto", "email_connection_security"),
    ("smtp_tls", "email_connection_security"),
    ("smtp_domain", "email_smtp_server"),
];

/// `"10.7"` for a history line (a slice of its tag name, so it lives as long as the table).
fn line_name(index: usize) -> &'static str {
    let tag = HISTORY_LINES.get(index).map_or("", |l| l.2);
    let mut dots = tag.match_indices('.');
    let second = dots.nth(1).map_or(tag.len(), |(i, _)| i);
    &tag[..second]
}

/// The index in the history table of a GitLab version's release line: its own line, or the
/// newest older line the table has (a version between tagged lines, or past the last one).
fn history_line(version: Version) -> Option<usize> {
    HISTORY_LINES
        .iter()
        .rposition(|(major, minor, _)| (*major, *minor) <= (version.major, version.minor))
}

/// The release-line ranges (indices into the history's lines) in which omnibus knew
/// `root[key]` (root `""`: a top-level name), if any line did.
fn history_ranges(root: &str, key: &str) -> Option<&'static [(u16, u16)]> {
    HISTORY_KEYS
        .binary_search_by(|(r, k, _)| (*r, *k).cmp(&(root, key)))
        .ok()
        .map(|i| HISTORY_KEYS[i].2)
}

/// "known since 9.0, last in 10.7" for a key omnibus's release tags know (root `""`: a
/// top-level name): the first and last release line whose template or attributes have it.
pub fn key_history(root: &str, key: &str) -> Option<(&'static str, &'static str)> {
    let ranges = history_ranges(root, key)?;
    let first = ranges.first()?.0 as usize;
    let last = ranges.last()?.1 as usize;
    Some((line_name(first), line_name(last)))
}

/// Whether the release line named `line` ("16.2") comes after this version's line.
pub fn history_line_after(version: Version, line: &str) -> bool {
    line.parse::<Version>()
        .is_ok_and(|l| (l.major, l.minor) > (version.major, version.minor))
}

/// Whether omnibus's history knows the top-level name `name` on this version's line.
pub fn known_top_level(name: &str, version: Version) -> bool {
    let (Some(line), Some(ranges)) = (history_line(version), history_ranges("", name)) else {
        return false;
    };
    ranges
        .iter()
        .any(|(a, b)| (*a as usize..=*b as usize).contains(&line))
}

/// `did_you_mean`, and only when the suggestion is a few edits away (Jaro-Winkler alone pairs
/// long keys sharing a prefix: `ldap_servers` is no typo of `ldap_sync_time`).
pub fn close_suggestion<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    crate::diag::did_you_mean(key, candidates).filter(|s| {
        strsim::levenshtein(&key.to_ascii_lowercase(), &s.to_ascii_lowercase())
            <= (key.len().max(s.len()) / 3).max(2)
    })
}

/// Classify `root[key]` by omnibus's release history (`None`: the history does not cover the
/// version or never saw the key).
fn history_status(root: &str, key: &str, version: Version) -> Option<KeyStatus> {
    let line = history_line(version)?;
    let ranges = history_ranges(root, key)?;
    if ranges
        .iter()
        .any(|(a, b)| (*a as usize..=*b as usize).contains(&line))
    {
        return Some(KeyStatus::Known);
    }
    let first = ranges.first()?.0 as usize;
    if let Some((_, last)) = ranges.iter().rev().find(|(_, b)| (*b as usize) < line) {
        let (setting, env_var) = if root == "mattermost" {
            let def = KeyTable::all()
                .into_iter()
                .rev()
                .find_map(|t| t.mattermost_key(key));
            let setting = def.and_then(|d| d.feeds.first().copied());
            (setting, setting.map(env_var_for_path))
        } else {
            (None, None)
        };
        return Some(KeyStatus::Dropped {
            last: line_name(*last as usize),
            since: Some(line_name(first)),
            setting,
            env_var,
        });
    }
    Some(KeyStatus::NotYet {
        first: line_name(first),
    })
}

/// Classify `root[key]` for a GitLab version.
pub fn key_status(root: &str, key: &str, version: Version) -> KeyStatus {
    let Some(table) = KeyTable::for_gitlab(version) else {
        // `mattermost_nginx[...]` stays a declared attribute in 19.x
        // (19.0.0+ce.0:files/gitlab-cookbooks/package/libraries/config/gitlab.rb:121): inert,
        // not refused. `resolve` says so.
        return if root == "mattermost" {
            KeyStatus::Removed
        } else {
            KeyStatus::Unchecked
        };
    };
    let Some(known) = table.keys_of(root) else {
        return KeyStatus::Unchecked;
    };
    if known.contains(&key) {
        return KeyStatus::Known;
    }
    // The release tags know more than the three templates: the key's own history decides.
    if let Some(status) = history_status(root, key, version) {
        return status;
    }
    if root == "mattermost" {
        let all = KeyTable::all();
        let here = all
            .iter()
            .position(|t| t.source == table.source)
            .unwrap_or(0);
        // Older tables, newest first: where was it last known?
        for older in all[..here].iter().rev() {
            if let Some(def) = older.mattermost_key(key) {
                let setting = def.feeds.first().copied();
                let env_var = setting.map(env_var_for_path);
                return KeyStatus::Dropped {
                    last: older.source,
                    since: None,
                    setting,
                    env_var,
                };
            }
        }
        if let Some(newer) = all[here + 1..]
            .iter()
            .find(|t| t.mattermost_key(key).is_some())
        {
            return KeyStatus::NotYet {
                first: newer.source,
            };
        }
        if let Some((_, mm)) = GITLAB_SMTP_CONFUSABLES.iter().find(|(g, _)| *g == key) {
            let suggestion = known.iter().copied().find(|k| k == mm).or_else(|| {
                KeyTable::all()
                    .into_iter()
                    .flat_map(|t| t.mattermost.iter().map(|k| k.key))
                    .find(|k| k == mm)
            });
            return KeyStatus::Unknown {
                suggestion,
                note: Some(format!(
                    "`{key}` is GitLab's own SMTP key (gitlab_rails['{key}']); Mattermost's keys \
                     are not the same"
                )),
            };
        }
    }
    let here = close_suggestion(key, known.iter().copied());
    if root == "mattermost" {
        // A typo of a key that only older (or newer) releases know is better named as that key,
        // with the release line it belongs to, than matched to an unrelated key of this release.
        let tables = KeyTable::all();
        let elsewhere = close_suggestion(
            key,
            tables
                .iter()
                .flat_map(|t| t.mattermost.iter().map(|k| k.key))
                .filter(|k| !known.contains(k)),
        );
        if let Some(other) = elsewhere {
            let closer = here
                .is_none_or(|h| strsim::jaro_winkler(key, other) > strsim::jaro_winkler(key, h));
            if closer {
                let lines: Vec<&str> = tables
                    .iter()
                    .filter(|t| t.mattermost_key(other).is_some())
                    .map(|t| t.source)
                    .collect();
                return KeyStatus::Unknown {
                    suggestion: Some(other),
                    note: Some(format!(
                        "`{other}` is a key of GitLab {} only, not of GitLab {}",
                        lines.join(" and "),
                        table.source
                    )),
                };
            }
        }
    }
    KeyStatus::Unknown {
        suggestion: here,
        note: None,
    }
}

/// The `MM_*` variable Mattermost reads for a setting path (`EmailSettings.SMTPServer` →
/// `MM_EMAILSETTINGS_SMTPSERVER`).
pub fn env_var_for_path(path: &str) -> String {
    format!("MM_{}", path.replace('.', "_").to_ascii_uppercase())
}

/// Whether a key or setting name holds a secret: passwords, secrets, tokens, salts, keys that
/// encrypt or authenticate, and the SQL data source (it embeds the database password). Names of
/// endpoints, URLs, files and switches that merely mention such a word are not secrets.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let benign_suffix = [
        "endpoint",
        "url",
        "_file",
        "_path",
        "_dir",
        "_directory",
        "_enable",
        "_enabled",
        "_tokens",
        "_type",
        "_length",
        "_expire",
        "_expires_in",
    ];
    if benign_suffix.iter().any(|s| n.ends_with(s)) || n.contains("certificate") {
        return false;
    }
    if [
        "secret",
        "passw",
        "token",
        "salt",
        "data_source",
        "datasource",
    ]
    .iter()
    .any(|w| n.contains(w))
    {
        return true;
    }
    // Keys that encrypt or authenticate (not every "key": `ssl_certificate_key` is a path).
    n.contains("key")
        && [
            "encrypt_key",
            "encryptkey",
            "private_key",
            "privatekey",
            "shared_key",
            "sharedkey",
            "developer_key",
            "developerkey",
            "access_key",
            "accesskey",
            "api_key",
            "apikey",
            "otp_key",
        ]
        .iter()
        .any(|w| n.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn smtp_keys_are_known_before_11_and_dropped_after() {
        assert_eq!(
            key_status("mattermost", "email_smtp_server", v("8.12")),
            KeyStatus::Known
        );
        assert_eq!(
            key_status("mattermost", "email_smtp_server", v("10.8")),
            KeyStatus::Known
        );
        match key_status("mattermost", "email_smtp_server", v("18.11")) {
            KeyStatus::Dropped {
                last,
                setting,
                env_var,
                ..
            } => {
                assert_eq!(last, "10.8");
                assert_eq!(setting, Some("EmailSettings.SMTPServer"));
                assert_eq!(env_var.as_deref(), Some("MM_EMAILSETTINGS_SMTPSERVER"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            key_status("mattermost", "gitlab_id", v("19.0")),
            KeyStatus::Removed
        );
        assert_eq!(
            key_status("mattermost", "service_enable_api_team_deletion", v("8.12")),
            // omnibus's release tags: the key arrived in 11.1.
            KeyStatus::NotYet { first: "11.1" }
        );
        assert_eq!(
            key_status("mattermost", "service_websocket_url", v("8.12")),
            KeyStatus::NotYet { first: "10.7" }
        );
    }

    #[test]
    fn typo_of_a_dropped_key_names_the_dropped_key_and_its_release_line() {
        match key_status("mattermost", "email_smtp_user", v("18.11")) {
            KeyStatus::Unknown { suggestion, note } => {
                assert_eq!(suggestion, Some("email_smtp_username"));
                let note = note.unwrap();
                assert!(note.contains("only, not of GitLab 18.11"), "{note}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gitlab_smtp_key_under_mattermost_suggests_mattermost_key() {
        match key_status("mattermost", "smtp_user_name", v("10.8")) {
            KeyStatus::Unknown { suggestion, note } => {
                assert_eq!(suggestion, Some("email_smtp_username"));
                assert!(note.unwrap().contains("GitLab's own SMTP key"));
            }
            other => panic!("{other:?}"),
        }
        match key_status("mattermost", "email_smtp_user", v("8.12")) {
            KeyStatus::Unknown { suggestion, .. } => {
                assert_eq!(suggestion, Some("email_smtp_username"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gitlab_rails_and_nginx_keys_come_from_the_templates() {
        // Not in the 8.12 template, but an omnibus attribute the seed's split server sets.
        assert_eq!(
            key_status("gitlab_rails", "enable", v("8.12")),
            KeyStatus::Known
        );
        assert_eq!(
            key_status("gitlab_rails", "smtp_user_name", v("18.11")),
            KeyStatus::Known
        );
        assert_eq!(
            key_status("mattermost_nginx", "redirect_http_to_https", v("8.12")),
            KeyStatus::Known
        );
        assert_eq!(
            key_status("nginx", "ssl_certificate_key", v("18.11")),
            KeyStatus::Known
        );
        assert!(matches!(
            key_status("nginx", "redirect_http_to_http", v("18.11")),
            KeyStatus::Unknown {
                suggestion: Some("redirect_http_to_https"),
                ..
            }
        ));
        assert_eq!(
            key_status("gitaly", "anything", v("18.11")),
            KeyStatus::Unchecked
        );
    }

    #[test]
    fn secret_names() {
        for s in [
            "gitlab_secret",
            "email_smtp_password",
            "sql_at_rest_encrypt_key",
            "sql_data_source",
            "email_invite_salt",
            "file_amazon_s3_secret_access_key",
            "webrtc_gateway_turn_shared_key",
            "MM_GITLABSETTINGS_SECRET",
            "EmailSettings.SMTPPassword",
        ] {
            assert!(is_secret_name(s), "{s}");
        }
        for s in [
            "gitlab_token_endpoint",
            "gitlab_id",
            "ssl_certificate_key",
            "service_user_access_tokens",
            "email_smtp_username",
            "GitLabSettings.TokenEndpoint",
        ] {
            assert!(!is_secret_name(s), "{s}");
        }
    }

    #[test]
    fn env_era_fields_use_mattermost_spellings() {
        let t = KeyTable::for_gitlab(v("18.11")).unwrap();
        let f = t.field("gitlabsettings.userapiendpoint").unwrap();
        assert_eq!(f.path, "GitLabSettings.UserAPIEndpoint");
        assert_eq!(f.env_var, Some("MM_GITLABSETTINGS_USERAPIENDPOINT"));
        let secret = t.field("GitLabSettings.Secret").unwrap();
        assert!(secret.secret);
        let old = KeyTable::for_gitlab(v("8.12")).unwrap();
        assert_eq!(
            old.field("GitLabSettings.UserApiEndpoint").unwrap().path,
            "GitLabSettings.UserApiEndpoint"
        );
    }
}
