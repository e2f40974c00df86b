//! From a gitlab.rb to the settings a host really runs with, for one GitLab version: key checks
//! against the version's table (known / dropped / unknown with did-you-mean / removed), omnibus's
//! derivations (gitlab_mattermost.rb: SiteURL and the GitLab endpoints from the external URLs,
//! untrusted internal connections, nginx certificate paths), rendering of every setting omnibus
//! manages (config.json template or `MM_*` variable), `mattermost['env']` overrides applied as
//! Mattermost applies them, and the typed [`HostSettings`].
//!
//! Owns: [`resolve`] / [`resolve_document`] and [`Resolved`]. Pure: no I/O.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use super::effective::{
    EffectiveConfig, EffectiveSetting, SettingSource, TYPED_FIELDS, apply_typed, typed_field,
    typed_value,
};
use super::gitlab_rb::{RbDocument, RbSetting, RbValue, SettingTarget, parse_gitlab_rb};
use super::keys::{
    FieldDef, KeyStatus, KeyTable, TemplatePart, env_var_for_path, is_secret_name, key_status,
};
use super::model::{HostSettings, NginxSettings};
use super::version::{KeyEra, Profile, Version};
use crate::diag::{Diagnostic, Diagnostics, Location, Severity, SourceFile, Span};

/// A gitlab.rb resolved for one GitLab version.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The typed effective settings every other stage consumes.
    pub host: HostSettings,
    /// Per Mattermost setting: value, secret flag, source, env var.
    pub effective: EffectiveConfig,
    /// Parse errors, unevaluated expressions, unknown/dropped keys, values Mattermost refuses:
    /// the first [`crate::diag::MAX_DIAGNOSTICS`] in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// Diagnostics found beyond the cap, counted by severity, not kept.
    pub omitted_errors: usize,
    pub omitted_warnings: usize,
    /// The parsed file (for re-rendering it as `GITLAB_OMNIBUS_CONFIG`).
    pub document: RbDocument,
    /// How this version configures Mattermost.
    pub era: KeyEra,
}

impl Resolved {
    pub fn has_errors(&self) -> bool {
        self.omitted_errors > 0
            || self
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error)
    }
    /// Errors found, kept or not.
    pub fn error_count(&self) -> usize {
        self.omitted_errors
            + self
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count()
    }
    /// "N more diagnostics not shown", when the cap left some out.
    pub fn omitted_line(&self) -> Option<String> {
        let n = self.omitted_errors + self.omitted_warnings;
        (n > 0).then(|| {
            format!(
                "note: {n} more diagnostic(s) not shown ({} error(s), {} warning(s)); only the first {} errors and {} warnings of a file are kept",
                self.omitted_errors,
                self.omitted_warnings,
                crate::diag::MAX_DIAGNOSTICS,
                crate::diag::MAX_DIAGNOSTICS
            )
        })
    }
    /// Whether a `mattermost[...]` (or nested) setting names a secret key.
    pub fn is_secret_setting(&self, s: &RbSetting) -> bool {
        s.target.keys().iter().any(|k| is_secret_name(k))
            || (s.target.root() == "mattermost"
                && KeyTable::for_gitlab(self.host.gitlab_version)
                    .and_then(|t| s.target.keys().first().and_then(|k| t.mattermost_key(k)))
                    .is_some_and(|k| k.secret))
    }
}

/// Parse and resolve a gitlab.rb for a GitLab version.
pub fn resolve(file: &SourceFile, gitlab_version: Version) -> Resolved {
    resolve_document(&parse_gitlab_rb(file), gitlab_version)
}

/// Top-level names every era accepts even if a template does not show them.
const ALWAYS_KNOWN_ROOTS: &[&str] = &[
    "external_url",
    "mattermost_external_url",
    "registry_external_url",
    "pages_external_url",
    "gitlab_rails",
    "mattermost",
    "mattermost_nginx",
    "nginx",
];

/// One `mattermost['key']` value as assigned in the file.
#[derive(Debug, Clone)]
struct Assigned {
    value: RbValue,
    location: Location,
}

/// Resolve an already parsed gitlab.rb.
pub fn resolve_document(doc: &RbDocument, gitlab_version: Version) -> Resolved {
    let mut r = Resolver::new(doc, gitlab_version);
    r.collect();
    r.derive();
    r.render_fields();
    r.auto_registration();
    r.apply_env_overrides();
    r.check_consistency();
    r.add_unmanaged_fields();
    r.finish()
}

struct Resolver<'d> {
    doc: &'d RbDocument,
    version: Version,
    era: KeyEra,
    table: Option<&'static KeyTable>,
    host: HostSettings,
    /// This stage's own diagnostics (merged with the parser's at the end).
    diags: Diagnostics,
    /// `mattermost['key']` → last literal assignment.
    assigned: HashMap<String, Assigned>,
    /// Values omnibus derives (`||=`), with what they come from.
    derived: HashMap<String, (RbValue, String, Option<Location>)>,
    /// `mattermost['env']` entries in file order: (name, value, location).
    env: Vec<(String, RbValue, Location)>,
    explicit_mattermost_enable: Option<bool>,
    /// `mattermost_nginx[...]` settings (key spans), inert when Mattermost does not run here.
    mattermost_nginx_keys: Vec<(String, Span)>,
    /// `gitlab_rails['mattermost_host']` and its value span.
    mattermost_host: Option<(String, Span)>,
    /// `package['generate_secrets_json_file'] = false` (and where): no automatic OAuth registration.
    secrets_json_disabled: Option<(bool, Span)>,
    effective: EffectiveConfig,
}

impl<'d> Resolver<'d> {
    fn new(doc: &'d RbDocument, version: Version) -> Self {
        let profile = Profile::for_gitlab(version);
        let mut host = HostSettings::defaults(profile);
        host.gitlab_version = version;
        Resolver {
            doc,
            version,
            era: KeyEra::for_gitlab(version),
            table: KeyTable::for_gitlab(version),
            host,
            diags: Diagnostics::new(),
            assigned: HashMap::new(),
            derived: HashMap::new(),
            env: Vec::new(),
            explicit_mattermost_enable: None,
            mattermost_nginx_keys: Vec::new(),
            mattermost_host: None,
            secrets_json_disabled: None,
            effective: EffectiveConfig::default(),
        }
    }

    fn file(&self) -> &SourceFile {
        self.doc.file()
    }

    fn warn(
        &mut self,
        code: &str,
        message: String,
        span: Span,
        label: String,
        hint: Option<String>,
    ) {
        let file = self.doc.file();
        self.diags.push_with(Severity::Warning, || {
            let mut d = Diagnostic::warning(code, message)
                .at(file, span)
                .with_label(label);
            if let Some(h) = hint {
                d = d.with_hint(h);
            }
            d
        });
    }

    /// A value as quoted in a message: its text in the file (secrets masked), at most 60
    /// characters.
    fn shown(&self, node: &super::gitlab_rb::RbNode) -> String {
        let text = self.doc.file().masked_slice(node.span);
        let text = if text.is_empty() {
            node.value.inspect()
        } else {
            text
        };
        crate::diag::clip(&text, 60).into_owned()
    }

    /// A boolean setting: Ruby truthiness, with a warning when the value is not a boolean.
    fn bool_of(&mut self, s: &RbSetting) -> Option<bool> {
        match &s.value.value {
            RbValue::Bool(b) => Some(*b),
            RbValue::Unevaluated(_) => None,
            RbValue::Nil => Some(false),
            _ => {
                let shown = self.shown(&s.value);
                self.warn(
                    "config.not-a-boolean",
                    format!("`{}` expects true or false, not {shown}", s.target),
                    s.value.span,
                    "Ruby treats every value but false and nil as true".into(),
                    Some("write true or false without quotes".into()),
                );
                Some(true)
            }
        }
    }

    fn string_of(&mut self, s: &RbSetting) -> Option<String> {
        match &s.value.value {
            RbValue::Str(v) => Some(v.clone()),
            RbValue::Unevaluated(_) => None,
            RbValue::Nil => None,
            other => {
                let shown = self.shown(&s.value);
                self.warn(
                    "config.not-a-string",
                    format!("`{}` expects a quoted string, not {shown}", s.target),
                    s.value.span,
                    "omnibus reads this value as text".into(),
                    Some("quote the value".into()),
                );
                Some(other.to_ruby_s())
            }
        }
    }

    /// Walk every setting: check keys against the version's table and record what applies.
    fn collect(&mut self) {
        let doc = self.doc;
        for s in doc.settings() {
            match &s.target {
                SettingTarget::Method { name } => self.method_setting(name, s),
                SettingTarget::Index { root, keys } => self.index_setting(root, keys, s),
            }
        }
    }

    fn check_root(&mut self, root: &str, s: &RbSetting) {
        let Some(table) = self.table else { return };
        if ALWAYS_KNOWN_ROOTS.contains(&root) || table.roots.contains(&root) {
            return;
        }
        // A root omnibus's history knows on another line does nothing here.
        if let Some((since, last)) = super::keys::key_history("", root)
            && !super::keys::known_top_level(root, self.version)
            && !KeyTable::all().iter().any(|t| t.roots.contains(&root))
        {
            let newer = super::keys::history_line_after(self.version, since);
            self.warn(
                "config.dropped-setting",
                format!("`{root}` does nothing on GitLab {}", self.version),
                s.target_span,
                if newer {
                    format!("omnibus added it later (known since GitLab {since})")
                } else {
                    format!("known since GitLab {since}, last in GitLab {last}")
                },
                Some("remove it, or check the gitlab.rb template of this GitLab version".into()),
            );
            return;
        }
        // A root any release line knows is fine (templates do not list every service).
        if KeyTable::all().iter().any(|t| t.roots.contains(&root))
            || super::keys::key_history("", root).is_some()
        {
            return;
        }
        let suggestion = crate::diag::did_you_mean(
            root,
            table
                .roots
                .iter()
                .copied()
                .chain(ALWAYS_KNOWN_ROOTS.iter().copied()),
        );
        self.warn(
            "config.unknown-setting",
            format!("unknown setting `{root}`"),
            s.target_span,
            format!("not a gitlab.rb setting of GitLab {}", table.source),
            suggestion.map(|m| format!("did you mean `{m}`?")),
        );
    }

    fn method_setting(&mut self, name: &str, s: &RbSetting) {
        match name {
            "external_url" => self.host.external_url = self.string_of(s),
            "mattermost_external_url" => {
                if self.era == KeyEra::Removed {
                    self.warn(
                        "config.mattermost-removed",
                        "`mattermost_external_url` is deprecated: GitLab 19.0 no longer bundles Mattermost".into(),
                        s.target_span,
                        "removed in GitLab 20.0".into(),
                        Some("use gitlab_rails['mattermost_host'] to point GitLab at your own Mattermost".into()),
                    );
                    return;
                }
                self.host.mattermost_external_url = self.string_of(s);
            }
            "from_file" => {
                self.check_root("from_file", s);
                let shown = self.shown(&s.value);
                self.warn(
                    "config.from-file",
                    format!("settings included with `from_file {shown}` are not read"),
                    s.span,
                    "omnibus evaluates that file on reconfigure; mm-harness reads this file only"
                        .into(),
                    Some("explain the included file too, or copy its settings here".into()),
                );
            }
            other => self.check_root(other, s),
        }
    }

    fn index_setting(&mut self, root: &str, keys: &[String], s: &RbSetting) {
        let Some(first) = keys.first() else { return };
        let key_span = s.key_spans.first().copied().unwrap_or(s.target_span);
        if root == "mattermost_nginx" {
            self.mattermost_nginx_keys.push((first.clone(), key_span));
        }
        if root == "gitlab_rails"
            && keys.len() == 1
            && first == "mattermost_host"
            && let RbValue::Str(host) = &s.value.value
        {
            self.mattermost_host = Some((host.clone(), s.value.span));
        }
        match key_status(root, first, self.version) {
            KeyStatus::Known => {}
            KeyStatus::Unchecked => {
                if root == "package" && keys == ["generate_secrets_json_file"] {
                    self.secrets_json_disabled = self.bool_of(s).map(|b| (!b, s.span));
                }
                self.check_root(root, s);
                return;
            }
            KeyStatus::Removed => {
                // What each 19.x reconfigure refuses (upgrade/omnibus19.rs cites the tags):
                // 19.0-19.2 any `mattermost[...]` key, 19.3 on only `mattermost['enable'] = true`.
                use crate::upgrade::omnibus19::{TargetCheck, target_check};
                let refused = match target_check(self.version) {
                    TargetCheck::AnyKey => true,
                    TargetCheck::EnableTrue => {
                        keys.len() == 1
                            && first == "enable"
                            && matches!(s.value.value, RbValue::Bool(true))
                    }
                };
                if refused {
                    let version = self.version;
                    let label = match target_check(version) {
                        TargetCheck::AnyKey => {
                            "GitLab 19.0-19.2 refuse any mattermost[...] key: reconfigure aborts (\"Removed configurations found in gitlab.rb\")"
                        }
                        TargetCheck::EnableTrue => {
                            "from GitLab 19.3 reconfigure aborts on mattermost['enable'] = true (bundled Mattermost was removed in 19.0)"
                        }
                    };
                    let file = self.doc.file();
                    self.diags.push_with(Severity::Error, || {
                        Diagnostic::error(
                            "config.mattermost-removed",
                            format!("`{root}['{first}']` stops the upgrade to GitLab {version}"),
                        )
                        .at(file, s.target_span)
                        .with_label(label)
                        .with_hint("migrate Mattermost out of omnibus first, then delete every mattermost[...] line")
                    });
                } else {
                    self.warn(
                        "config.inert",
                        format!(
                            "`{root}['{first}']` does nothing on GitLab {}",
                            self.version
                        ),
                        key_span,
                        "GitLab 19.0 removed bundled Mattermost; 19.3 and later ignore this key"
                            .into(),
                        Some("delete it once Mattermost runs on its own server".into()),
                    );
                }
                return;
            }
            KeyStatus::Dropped {
                last,
                since,
                setting,
                env_var,
            } => {
                let hint = match (&env_var, setting) {
                    (Some(var), Some(path)) => format!(
                        "on GitLab {} set {path} with mattermost['env'] = {{ '{var}' => ... }} or in the System Console",
                        self.version
                    ),
                    _ => "remove it; the setting is no longer managed by omnibus".to_string(),
                };
                let label = match since {
                    _ if last == "10.8" && self.era == KeyEra::EnvVars => {
                        "omnibus dropped this key in GitLab 11.0 (it configures Mattermost through MM_* variables)".to_string()
                    }
                    Some(since) => format!("known since GitLab {since}, last in GitLab {last}"),
                    None => format!("last known in GitLab {last}"),
                };
                self.warn(
                    "config.dropped-key",
                    format!(
                        "`{root}['{first}']` does nothing on GitLab {}",
                        self.version
                    ),
                    key_span,
                    label,
                    Some(hint),
                );
                return;
            }
            KeyStatus::NotYet { first: newer } => {
                self.warn(
                    "config.key-not-yet",
                    format!(
                        "`{root}['{first}']` does nothing on GitLab {}",
                        self.version
                    ),
                    key_span,
                    format!("omnibus added this key later (it is known in GitLab {newer})"),
                    Some(format!(
                        "check the key list of GitLab {}'s gitlab.rb template",
                        self.version
                    )),
                );
                return;
            }
            KeyStatus::Unknown { suggestion, note } => {
                let source = self.table.map(|t| t.source).unwrap_or("?");
                let mut hint = suggestion.map(|m| format!("did you mean `{m}`?"));
                if let Some(n) = note {
                    hint = Some(match hint {
                        Some(h) => format!("{n}; {h}"),
                        None => n,
                    });
                }
                self.warn(
                    "config.unknown-key",
                    format!("unknown key `{root}['{first}']`"),
                    key_span,
                    format!("not a {root} key in GitLab {source}"),
                    hint,
                );
                return;
            }
        }
        let location = self.doc.locate(s.span);
        match root {
            "mattermost" => {
                if first == "env" {
                    self.env_setting(keys, s, &location);
                    return;
                }
                if keys.len() > 1 {
                    return; // nested hashes of other keys (e.g. ['gitlab'][...]) are passed through
                }
                if matches!(s.value.value, RbValue::Unevaluated(_)) {
                    return;
                }
                if first == "enable" {
                    // omnibus: `enable = true if enable.nil?` — nil leaves the choice to the URL.
                    self.explicit_mattermost_enable = match s.value.value {
                        RbValue::Nil => None,
                        _ => self.bool_of(s),
                    };
                }
                if first == "register_as_oauth_app"
                    && let Some(b) = self.bool_of(s)
                {
                    self.host.register_as_oauth_app = b;
                }
                self.assigned.insert(
                    first.clone(),
                    Assigned {
                        value: s.value.value.clone(),
                        location,
                    },
                );
            }
            "gitlab_rails" if keys.len() == 1 && first == "enable" => {
                if let Some(b) = self.bool_of(s) {
                    self.host.gitlab_rails_enabled = b;
                }
            }
            "nginx" | "mattermost_nginx" if keys.len() == 1 => {
                let Some(nginx) = self.nginx_value(first, s) else {
                    return;
                };
                let target = if root == "nginx" {
                    &mut self.host.gitlab_nginx
                } else {
                    &mut self.host.mattermost_nginx
                };
                match nginx {
                    NginxValue::Enable(b) => target.enable = b,
                    NginxValue::Redirect(b) => target.redirect_http_to_https = b,
                    NginxValue::Cert(p) => target.ssl_certificate = p,
                    NginxValue::Key(p) => target.ssl_certificate_key = p,
                    NginxValue::Port(p) => target.listen_port = p,
                }
            }
            _ => {}
        }
    }

    fn nginx_value(&mut self, key: &str, s: &RbSetting) -> Option<NginxValue> {
        Some(match key {
            "enable" => NginxValue::Enable(self.bool_of(s)?),
            "redirect_http_to_https" => NginxValue::Redirect(self.bool_of(s)?),
            "ssl_certificate" => NginxValue::Cert(self.string_of(s)),
            "ssl_certificate_key" => NginxValue::Key(self.string_of(s)),
            "listen_port" => {
                let port = match &s.value.value {
                    RbValue::Int(i) => u16::try_from(*i).ok(),
                    RbValue::Str(t) => t.trim().parse::<u16>().ok(),
                    RbValue::Nil => return Some(NginxValue::Port(None)),
                    RbValue::Unevaluated(_) => return None,
                    _ => None,
                };
                if port.is_none() {
                    self.warn(
                        "config.bad-port",
                        format!("`{}` is not a TCP port", s.target),
                        s.value.span,
                        "expected a number from 1 to 65535".into(),
                        None,
                    );
                    return None;
                }
                NginxValue::Port(port)
            }
            _ => return None,
        })
    }

    fn env_setting(&mut self, keys: &[String], s: &RbSetting, location: &Location) {
        match (keys.len(), &s.value.value) {
            (1, RbValue::Hash(pairs)) => {
                for p in pairs {
                    if p.value.value.has_unevaluated() || p.key.value.has_unevaluated() {
                        continue;
                    }
                    let loc = self.doc.locate(p.key.span.to(p.value.span));
                    self.env
                        .push((p.key.value.key_name(), p.value.value.clone(), loc));
                }
            }
            (1, RbValue::Unevaluated(_)) => {}
            (1, _) => {
                let shown = self.shown(&s.value);
                self.warn(
                    "config.not-a-hash",
                    format!("`mattermost['env']` expects a hash, not {shown}"),
                    s.value.span,
                    "omnibus writes each entry as an environment variable".into(),
                    Some("write mattermost['env'] = { 'MM_SECTION_FIELD' => 'value' }".into()),
                );
            }
            (2, v) if !v.has_unevaluated() => {
                self.env
                    .push((keys[1].clone(), v.clone(), location.clone()));
            }
            _ => {}
        }
    }

    /// Omnibus's own derivations (gitlab_mattermost.rb, parse_mattermost_external_url / set_ssl).
    fn derive(&mut self) {
        if self.era == KeyEra::Removed {
            self.host.mattermost_enabled = false;
            return;
        }
        let mm_url = self.host.mattermost_external_url.clone();
        let url_setting = self.doc.get("mattermost_external_url", &[]);
        let url_loc = url_setting.map(|s| self.doc.locate(s.span));
        self.host.mattermost_enabled = self.explicit_mattermost_enable.unwrap_or(mm_url.is_some());
        // parse_automatic_oauth_registration: no gitlab-secrets.json, no automatic registration.
        if self.host.mattermost_enabled
            && let Some((true, span)) = self.secrets_json_disabled
        {
            self.host.register_as_oauth_app = false;
            self.warn(
                "config.no-oauth-registration",
                "Mattermost will not be registered as an OAuth application automatically".into(),
                span,
                "writing gitlab-secrets.json is disabled, so omnibus skips the registration".into(),
                Some(
                    "create the OAuth application by hand and set the mattermost['gitlab_*'] keys"
                        .into(),
                ),
            );
        }
        let Some(mm_url) = mm_url else {
            return;
        };
        let set_derived =
            |r: &mut Self, key: &str, v: RbValue, from: &str, loc: Option<Location>| {
                let user_set = r
                    .assigned
                    .get(key)
                    .is_some_and(|a| !matches!(a.value, RbValue::Nil));
                if !user_set {
                    r.derived
                        .insert(key.to_string(), (v, from.to_string(), loc));
                }
            };
        // omnibus history (files/gitlab-cookbooks/gitlab/libraries/gitlab_mattermost.rb at each
        // release tag): `service_site_url ||= mattermost_external_url` arrived in 9.2, the
        // GitLab endpoints `||=` from external_url in 9.0 (`/api/v3/user` until 9.4, v4 from
        // 9.5), the untrusted-internal-connections append in 10.0. On 8.x SiteURL stays "" and
        // the endpoints are set only by the OAuth auto-registration (see `auto_registration`).
        let v = self.version;
        if v >= Version::new(9, 2, 0) {
            set_derived(
                self,
                "service_site_url",
                RbValue::Str(mm_url.clone()),
                "mattermost_external_url",
                url_loc.clone(),
            );
        }
        if let Some(gitlab_url) = self
            .host
            .external_url
            .clone()
            .filter(|_| v >= Version::new(9, 0, 0))
        {
            let ext_loc = self
                .doc
                .get("external_url", &[])
                .map(|s| self.doc.locate(s.span));
            let base = gitlab_url.trim_end_matches('/').to_string();
            // omnibus derived the v3 user endpoint until 9.4 and v4 from 9.5.
            let api = if self.version < Version::new(9, 5, 0) {
                "v3"
            } else {
                "v4"
            };
            for (key, suffix) in [
                ("gitlab_auth_endpoint", "/oauth/authorize".to_string()),
                ("gitlab_token_endpoint", "/oauth/token".to_string()),
                ("gitlab_user_api_endpoint", format!("/api/{api}/user")),
            ] {
                set_derived(
                    self,
                    key,
                    RbValue::Str(format!("{base}{suffix}")),
                    "external_url",
                    ext_loc.clone(),
                );
            }
            // Mattermost on the same box as GitLab's web server may call it locally (10.0+).
            if self.host.gitlab_rails_enabled
                && v >= Version::new(10, 0, 0)
                && let Some(host) = url_host(&base)
            {
                let existing = match self
                    .assigned
                    .get("service_allowed_untrusted_internal_connections")
                {
                    Some(a) => a.value.to_ruby_s(),
                    None => String::new(),
                };
                let key = "service_allowed_untrusted_internal_connections".to_string();
                self.derived.insert(
                    key.clone(),
                    (
                        RbValue::Str(format!("{existing} {host}")),
                        "external_url (GitLab on the same host)".into(),
                        ext_loc,
                    ),
                );
                // The derived value replaces the assigned one (omnibus appends in place).
                self.assigned.remove(&key);
            }
        }
        // set_ssl
        let https = mm_url.starts_with("https://");
        set_derived(
            self,
            "service_use_ssl",
            RbValue::Bool(https),
            "mattermost_external_url",
            url_loc,
        );
        if https && let Some(host) = url_host(&mm_url) {
            let n = &mut self.host.mattermost_nginx;
            n.ssl_certificate
                .get_or_insert_with(|| format!("/etc/gitlab/ssl/{host}.crt"));
            n.ssl_certificate_key
                .get_or_insert_with(|| format!("/etc/gitlab/ssl/{host}.key"));
        }
        if let Some(url) = &self.host.external_url
            && url.starts_with("https://")
            && let Some(host) = url_host(url)
        {
            let n: &mut NginxSettings = &mut self.host.gitlab_nginx;
            n.ssl_certificate
                .get_or_insert_with(|| format!("/etc/gitlab/ssl/{host}.crt"));
            n.ssl_certificate_key
                .get_or_insert_with(|| format!("/etc/gitlab/ssl/{host}.key"));
        }
    }

    /// The value of `mattermost['key']` and where it comes from.
    fn key_value(&self, key: &str) -> (RbValue, SettingSource, bool) {
        if let Some(a) = self.assigned.get(key) {
            return (
                a.value.clone(),
                SettingSource::GitlabRb {
                    key: format!("mattermost['{key}']"),
                    location: a.location.clone(),
                },
                true,
            );
        }
        if let Some((v, from, loc)) = self.derived.get(key) {
            return (
                v.clone(),
                SettingSource::Derived {
                    from: from.clone(),
                    location: loc.clone(),
                },
                false,
            );
        }
        let default = self
            .table
            .and_then(|t| t.mattermost_key(key))
            .and_then(|k| k.default)
            .map(cached_default)
            .unwrap_or(RbValue::Nil);
        (
            default,
            SettingSource::OmnibusDefault {
                key: key.to_string(),
            },
            false,
        )
    }

    fn render_field(&self, f: &FieldDef) -> (String, SettingSource) {
        let mut text = String::new();
        let mut source: Option<SettingSource> = None;
        let mut fallback: Option<SettingSource> = None;
        for part in f.template {
            match part {
                TemplatePart::Lit(s) => text.push_str(s),
                TemplatePart::Key(k) | TemplatePart::KeyExpr { key: k, .. } => {
                    let (v, src, from_file) = self.key_value(k);
                    let piece = match part {
                        TemplatePart::KeyExpr { ruby, .. } => ruby_expr(&v, ruby),
                        _ => v.to_ruby_s(),
                    };
                    text.push_str(&piece);
                    let derived = matches!(src, SettingSource::Derived { .. });
                    let fallback_derived = matches!(fallback, Some(SettingSource::Derived { .. }));
                    if from_file && source.is_none() {
                        source = Some(src);
                    } else if (derived && !fallback_derived) || fallback.is_none() {
                        fallback = Some(src);
                    }
                }
            }
        }
        let source = source
            .or(fallback)
            .unwrap_or(SettingSource::MattermostDefault);
        (text, source)
    }

    /// Every setting omnibus manages in this version, rendered as its template renders it.
    fn render_fields(&mut self) {
        let Some(table) = self.table else { return };
        for f in table.fields {
            if f.path.is_empty() {
                continue;
            }
            let (text, source) = self.render_field(f);
            let value = match self.era {
                KeyEra::EnvVars => Value::String(text),
                _ if f.quoted => Value::String(text),
                _ => match serde_json::from_str::<Value>(&text) {
                    Ok(v) => v,
                    Err(_) => {
                        if let Some(loc) = source.location() {
                            let span = self.span_of(loc);
                            self.warn(
                                "config.invalid-json",
                                format!(
                                    "{} renders as `{}`, which is not valid JSON",
                                    f.path,
                                    if f.secret { super::model::REDACTED.into() } else { crate::diag::clip(&text, 60) }
                                ),
                                span,
                                "omnibus writes this value unquoted into config.json: Mattermost will not start".into(),
                                Some("use true/false or a number without quotes".into()),
                            );
                        }
                        Value::String(text)
                    }
                },
            };
            self.apply_typed_checked(f.path, &value, &source);
            self.effective.settings.push(EffectiveSetting {
                path: f.path.to_string(),
                value,
                secret: f.secret,
                source,
                env_var: f.env_var.map(str::to_string),
            });
        }
    }

    /// OmniBus's `authorize_with_gitlab` on reconfigure, when GitLab Rails runs on this host: it
    /// registers Mattermost as an OAuth application and sets GitLab SSO on with a generated id
    /// and secret. Before 15.4 it runs when `mattermost['gitlab_enable']` is not set (8.x also
    /// sets the endpoints, with `/api/v3/user`); from 15.4 (the first tag whose
    /// mattermost/recipes/enable.rb tests `register_as_oauth_app`) it runs while
    /// `register_as_oauth_app` is true, keeping an id/secret the file sets. The effective
    /// settings show what it sets (drift does not flag it); the typed model is left to the twin,
    /// which plays the registration itself at bring-up.
    fn auto_registration(&mut self) {
        if self.era == KeyEra::Removed
            || !self.host.mattermost_enabled
            || !self.host.gitlab_rails_enabled
        {
            return;
        }
        let Some(gitlab_url) = self.host.external_url.clone() else {
            return;
        };
        let file_sets = |r: &Self, key: &str| {
            r.assigned
                .get(key)
                .is_some_and(|a| !matches!(a.value, RbValue::Nil | RbValue::Bool(false)))
        };
        let modern = self.version >= Version::new(15, 4, 0);
        let runs = if modern {
            self.host.register_as_oauth_app
        } else {
            !file_sets(&*self, "gitlab_enable")
        };
        if !runs {
            return;
        }
        let base = gitlab_url.trim_end_matches('/').to_string();
        let json_era = self.era != KeyEra::EnvVars;
        let text = |s: &str| Value::String(s.to_string());
        let mut sets: Vec<(&str, Option<Value>)> = vec![
            (
                "GitLabSettings.Enable",
                Some(if json_era {
                    Value::Bool(true)
                } else {
                    text("true")
                }),
            ),
            ("GitLabSettings.Scope", Some(text(""))),
        ];
        for (key, path) in [
            ("gitlab_id", "GitLabSettings.Id"),
            ("gitlab_secret", "GitLabSettings.Secret"),
        ] {
            // Modern omnibus keeps an id/secret given in the file; older ones replace them.
            if !(modern && file_sets(&*self, key)) {
                sets.push((path, None));
            }
        }
        if self.version < Version::new(9, 0, 0) {
            sets.push((
                "GitLabSettings.AuthEndpoint",
                Some(text(&format!("{base}/oauth/authorize"))),
            ));
            sets.push((
                "GitLabSettings.TokenEndpoint",
                Some(text(&format!("{base}/oauth/token"))),
            ));
            sets.push((
                "GitLabSettings.UserAPIEndpoint",
                Some(text(&format!("{base}/api/v3/user"))),
            ));
        }
        for (path, value) in sets {
            let Some(s) = self.effective.get_mut(path) else {
                continue;
            };
            // A value the file itself writes into the setting wins over nothing but the
            // registration's own assignments (8.x replaces the endpoints unconditionally).
            s.source = SettingSource::AutoRegistration {
                generated: value.is_none(),
            };
            if let Some(v) = value {
                s.value = v;
            }
        }
    }

    /// Settings that contradict each other or do nothing on this host: `mattermost_nginx[...]`
    /// without bundled Mattermost, a `gitlab_rails['mattermost_host']` naming another URL than
    /// `mattermost_external_url`, and a v3 user API endpoint on GitLab 11+ (API v3 was removed
    /// in GitLab 11.0; sign-in then fails, as the `split-server-api-v3` scenario shows).
    fn check_consistency(&mut self) {
        if !self.host.mattermost_enabled || self.era == KeyEra::Removed {
            let keys = std::mem::take(&mut self.mattermost_nginx_keys);
            for (key, span) in keys {
                let why = if self.era == KeyEra::Removed {
                    "GitLab 19.0 removed bundled Mattermost and its nginx virtual host".to_string()
                } else {
                    "bundled Mattermost does not run on this host (no mattermost_external_url or mattermost['enable'] = false), so omnibus writes no Mattermost virtual host".to_string()
                };
                self.warn(
                    "config.inert",
                    format!("`mattermost_nginx['{key}']` does nothing here"),
                    span,
                    why,
                    Some("delete it, or set mattermost_external_url on the host that runs Mattermost".into()),
                );
            }
        }
        if let (Some((host, span)), Some(url)) = (
            self.mattermost_host.clone(),
            self.host.mattermost_external_url.clone(),
        ) {
            let norm = |u: &str| u.trim().trim_end_matches('/').to_ascii_lowercase();
            if norm(&host) != norm(&url) {
                self.warn(
                    "config.mattermost-host-mismatch",
                    format!(
                        "`gitlab_rails['mattermost_host']` is not this file's mattermost_external_url ({})",
                        crate::config::model::redact_userinfo(&url)
                    ),
                    span,
                    "GitLab links its Mattermost slash commands and the help page to this URL".into(),
                    Some("use the same URL in both, or remove gitlab_rails['mattermost_host']".into()),
                );
            }
        }
        if self.version >= Version::new(11, 0, 0)
            && let Some(s) = self.effective.get("GitLabSettings.UserAPIEndpoint")
            && let Value::String(url) = &s.value
            && url.contains("/api/v3/")
        {
            let loc = s.source.location().cloned();
            let shown = crate::config::model::redact_userinfo(url).into_owned();
            if let Some(loc) = loc {
                let span = self.span_of(&loc);
                self.warn(
                    "config.api-v3",
                    format!(
                        "GitLabSettings.UserAPIEndpoint is `{shown}`: GitLab {} has no API v3",
                        self.version
                    ),
                    span,
                    "GitLab removed API v3 in 11.0: it answers 404 and every GitLab sign-in fails"
                        .into(),
                    Some("use /api/v4/user".into()),
                );
            }
        }
    }

    fn span_of(&self, loc: &Location) -> Span {
        // Locations of this file come from spans; recover the statement span from the line.
        let text = self.file().text();
        let mut offset = 0;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            if i + 1 == loc.line {
                let start = offset
                    + line
                        .char_indices()
                        .nth(loc.column.saturating_sub(1))
                        .map(|(b, _)| b)
                        .unwrap_or(0);
                let end = offset + line.trim_end_matches(['\n', '\r']).len();
                return Span::new(start, end.max(start));
            }
            offset += line.len();
        }
        Span::new(offset, offset)
    }

    /// Store into the typed model; a value Mattermost would refuse is a warning and is ignored.
    fn apply_typed_checked(&mut self, path: &str, value: &Value, source: &SettingSource) -> bool {
        match apply_typed(&mut self.host.mattermost, path, value) {
            Ok(()) => true,
            Err(why) => {
                if let Some(loc) = source.location() {
                    let span = self.span_of(loc);
                    self.warn(
                        "config.value-ignored",
                        format!("Mattermost ignores this value for {path}: {why}"),
                        span,
                        "the setting keeps its previous value".into(),
                        Some("write true/false (or 1/0, t/f)".into()),
                    );
                }
                false
            }
        }
    }

    /// `mattermost['env']` entries (GitLab 10.x and later): `MM_*` overrides of settings.
    fn apply_env_overrides(&mut self) {
        if self.era == KeyEra::ConfigJson8 || self.era == KeyEra::Removed {
            return;
        }
        let env = std::mem::take(&mut self.env);
        for (var, value, location) in env {
            if !var.starts_with("MM_") {
                continue; // process environment (proxies, certificates), not a setting
            }
            let text = value.to_ruby_s();
            let source = SettingSource::EnvOverride {
                var: var.clone(),
                location: location.clone(),
            };
            // Which setting does the variable name?
            let path = self
                .effective
                .settings
                .iter()
                .find(|s| {
                    s.env_var.as_deref() == Some(var.as_str()) || env_var_for_path(&s.path) == var
                })
                .map(|s| s.path.clone())
                .or_else(|| {
                    TYPED_FIELDS
                        .iter()
                        .find(|(p, _)| env_var_for_path(p) == var)
                        .map(|(p, _)| p.to_string())
                });
            let Some(path) = path else {
                self.effective.settings.push(EffectiveSetting {
                    path: var.clone(),
                    value: Value::String(text),
                    secret: is_secret_name(&var),
                    source,
                    env_var: Some(var.clone()),
                });
                continue;
            };
            let new_value = Value::String(text);
            if typed_field(&path).is_some() && !self.apply_typed_checked(&path, &new_value, &source)
            {
                continue;
            }
            let secret = is_secret_name(&path)
                || is_secret_name(&var)
                || self.effective.get(&path).is_some_and(|s| s.secret);
            match self.effective.get_mut(&path) {
                Some(s) => {
                    s.value = new_value;
                    s.source = source;
                    s.env_var = Some(var.clone());
                    s.secret = secret;
                }
                None => self.effective.settings.push(EffectiveSetting {
                    path,
                    value: new_value,
                    secret,
                    source,
                    env_var: Some(var.clone()),
                }),
            }
        }
    }

    /// Typed-model settings omnibus does not manage in this version: Mattermost's defaults.
    fn add_unmanaged_fields(&mut self) {
        for (path, _) in TYPED_FIELDS {
            if self.effective.get(path).is_some() {
                continue;
            }
            let Some(value) = typed_value(&self.host.mattermost, path) else {
                continue;
            };
            let env_var = match self.era {
                KeyEra::ConfigJson8 => None,
                _ => Some(env_var_for_path(path)),
            };
            self.effective.settings.push(EffectiveSetting {
                path: path.to_string(),
                value,
                secret: is_secret_name(path),
                source: SettingSource::MattermostDefault,
                env_var,
            });
        }
    }

    fn finish(self) -> Resolved {
        let mut all = self.doc.diagnostic_list().clone();
        all.merge(self.diags);
        Resolved {
            host: self.host,
            effective: self.effective,
            omitted_errors: all.omitted_errors,
            omitted_warnings: all.omitted_warnings + all.omitted_notes,
            diagnostics: all.as_slice().to_vec(),
            document: self.doc.clone(),
            era: self.era,
        }
    }
}

enum NginxValue {
    Enable(bool),
    Redirect(bool),
    Cert(Option<String>),
    Key(Option<String>),
    Port(Option<u16>),
}

/// The host of an `http(s)://host[:port]/...` URL.
/// As written: omnibus takes Ruby's `URI(url).host`, which keeps the letter case
/// (`https://GitLab.Example.com` → `/etc/gitlab/ssl/GitLab.Example.com.crt`), unlike a WHATWG
/// URL parser.
fn url_host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed.host_str()?;
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if host_port.starts_with('[') {
        &host_port[..host_port.find(']').map_or(host_port.len(), |i| i + 1)]
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// An attribute default's Ruby text as a value, parsed once per process.
fn cached_default(text: &'static str) -> RbValue {
    static CACHE: OnceLock<HashMap<&'static str, RbValue>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        KeyTable::all()
            .iter()
            .flat_map(|t| t.mattermost.iter())
            .filter_map(|k| k.default)
            .map(|d| (d, default_value(d)))
            .collect()
    });
    cache
        .get(text)
        .cloned()
        .unwrap_or_else(|| default_value(text))
}

/// An attribute default's Ruby text as a value.
fn default_value(text: &str) -> RbValue {
    let f = SourceFile::new("default", format!("d['v'] = {text}\n"));
    parse_gitlab_rb(&f)
        .settings()
        .first()
        .map(|s| s.value.value.clone())
        .unwrap_or(RbValue::Nil)
}

/// The Ruby expressions the ERB templates apply to a key (`.to_json`, `.map{...}.join(',')`).
fn ruby_expr(v: &RbValue, ruby: &str) -> String {
    if ruby.contains("to_json") {
        return rb_to_json(v).to_string();
    }
    if ruby.contains("join") {
        if let RbValue::Array(items) = v {
            return items
                .iter()
                .map(|n| format!("\"{}\"", n.value.to_ruby_s()))
                .collect::<Vec<_>>()
                .join(",");
        }
        return v.to_ruby_s();
    }
    v.to_ruby_s()
}

/// A literal as JSON (Ruby's `to_json`).
pub(crate) fn rb_to_json(v: &RbValue) -> Value {
    match v {
        RbValue::Nil => Value::Null,
        RbValue::Bool(b) => Value::Bool(*b),
        RbValue::Int(i) => Value::from(*i),
        RbValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        RbValue::Str(s) | RbValue::Symbol(s) | RbValue::Unevaluated(s) => Value::String(s.clone()),
        RbValue::Array(items) => Value::Array(items.iter().map(|n| rb_to_json(&n.value)).collect()),
        RbValue::Hash(pairs) => Value::Object(
            pairs
                .iter()
                .map(|p| (p.key.value.key_name(), rb_to_json(&p.value.value)))
                .collect(),
        ),
    }
}
