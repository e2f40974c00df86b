//! The generator of `keys_history_generated.rs`: which gitlab.rb keys each GitLab release line
//! knows, read from omnibus-gitlab's release tags through an [`OmnibusSource`] (the machinery
//! `upgrade/versions_gen.rs` uses for the bundled-Mattermost table). No I/O of its own: the
//! example `gen_keys --history` supplies a git-backed source, a test compares.
//!
//! Per release line it reads the line's first CE release tag (`X.Y.0+ce.0`, see
//! [`crate::history::line_firsts`]):
//! - `files/gitlab-config-template/gitlab.rb.template`, every single-`#` line uncommented and
//!   parsed with our own parser: `root['key']` settings and top-level method names;
//! - the cookbooks' attributes, `files/gitlab-cookbooks/gitlab/attributes/default.rb` and
//!   `files/gitlab-cookbooks/mattermost/attributes/default.rb`: every
//!   `default['gitlab']['<root>']['<key>']` and `default['<root>']['<key>']` (omnibus maps each
//!   gitlab.rb root onto these attributes; `gitlab-rails` is `gitlab_rails`);
//! - every service accepts the `logging['logrotate_*']` keys of its line as its own
//!   (`gitlab_rails['logrotate_frequency']`: omnibus merges `logging` into each service's
//!   logrotate settings);
//! - `from_file` is a known top-level name on every line whose `doc/settings/configuration.md`
//!   documents it.
//!
//! The table keeps, per `(root, key)`, the ranges of release lines that know it, so a key reads
//! "known since 9.0, last in 10.7".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use regex::Regex;

use super::gitlab_rb::{SettingTarget, parse_gitlab_rb};
use crate::diag::SourceFile;
use crate::history::{HistoryError, OmnibusSource, ReleaseLine, line_firsts, release_tags};

/// The roots whose keys the table keeps (the ones `key_status` checks); `""` holds top-level
/// method names.
pub const HISTORY_ROOTS: [&str; 5] = [
    "",
    "gitlab_rails",
    "mattermost",
    "mattermost_nginx",
    "nginx",
];

pub const TEMPLATE: &str = "files/gitlab-config-template/gitlab.rb.template";
pub const ATTRIBUTES: [&str; 2] = [
    "files/gitlab-cookbooks/gitlab/attributes/default.rb",
    "files/gitlab-cookbooks/mattermost/attributes/default.rb",
];
pub const CONFIGURATION_DOC: &str = "doc/settings/configuration.md";

/// The first release line the table covers (bundled Mattermost arrived in 8.0).
pub const FIRST_LINE: ReleaseLine = ReleaseLine::new(8, 0);

/// Every line's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyHistory {
    /// Release lines in order, with the tag read for each.
    pub lines: Vec<(ReleaseLine, String)>,
    /// `(root, key)` → indices into `lines` that know it.
    pub keys: BTreeMap<(String, String), BTreeSet<usize>>,
}

/// Remove one `#` (and one space after it) from every line whose comment is a single `#` and
/// whose rest reads as Ruby code (a setting, or a line of a multi-line hash or array): prose
/// comments stay comments, so an apostrophe in "it's" cannot open a string that swallows the
/// next hundred settings.
pub fn uncomment(text: &str) -> String {
    let code = Regex::new(
        r#"^(?:[a-z_][a-z0-9_]*(?:\[|\s+['"\[{:0-9-]|\s*=|\(|\s+(?:true|false|nil)\b)|['"{}\[\]:]|\s)"#,
    )
    .expect("static regex");
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix('#')
            && !rest.starts_with('#')
        {
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            if code.is_match(rest) {
                out.push_str(rest);
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The `(root, key)` pairs of one line's sources.
pub fn line_keys(
    template: Option<&str>,
    attributes: &[String],
    configuration_doc: Option<&str>,
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let wanted = |root: &str| HISTORY_ROOTS.contains(&root);
    if let Some(t) = template {
        let doc = parse_gitlab_rb(&SourceFile::new("gitlab.rb.template", uncomment(t)));
        for s in doc.settings() {
            match &s.target {
                SettingTarget::Method { name } => {
                    out.insert((String::new(), name.clone()));
                }
                SettingTarget::Index { root, keys } => {
                    if let Some(k) = keys.first() {
                        out.insert((String::new(), root.clone()));
                        if wanted(root) {
                            out.insert((root.clone(), k.clone()));
                        }
                    }
                }
            }
        }
    }
    let nested = Regex::new(r"^\s*default\['gitlab'\]\['([a-z_-]+)'\]\['([A-Za-z0-9_]+)'\]\s*=")
        .expect("static regex");
    let direct =
        Regex::new(r"^\s*default\['([a-z_-]+)'\]\['([A-Za-z0-9_]+)'\]\s*=").expect("static regex");
    let mut logrotate = BTreeSet::new();
    for text in attributes {
        for line in text.lines() {
            let (root, key) = if let Some(c) = nested.captures(line) {
                (c[1].replace('-', "_"), c[2].to_string())
            } else if let Some(c) = direct.captures(line) {
                if &c[1] == "gitlab" {
                    continue;
                }
                (c[1].replace('-', "_"), c[2].to_string())
            } else {
                continue;
            };
            if root == "logging" && key.starts_with("logrotate_") {
                logrotate.insert(key.clone());
            }
            if wanted(&root) {
                out.insert((root, key));
            }
        }
    }
    for root in HISTORY_ROOTS.iter().filter(|r| !r.is_empty()) {
        for key in &logrotate {
            out.insert((root.to_string(), key.clone()));
        }
    }
    if configuration_doc.is_some_and(|d| d.contains("from_file \"") || d.contains("from_file '")) {
        out.insert((String::new(), "from_file".to_string()));
    }
    out
}

/// Read every release line's first tag from `src`.
pub fn collect(src: &mut dyn OmnibusSource) -> Result<KeyHistory, HistoryError> {
    let names = src.tag_names()?;
    let tags = release_tags(names.iter().map(String::as_str));
    let mut out = KeyHistory::default();
    for tag in line_firsts(&tags) {
        if tag.line() < FIRST_LINE {
            continue;
        }
        let name = tag.name();
        let template = src.read_at(&name, TEMPLATE)?;
        let mut attributes = Vec::new();
        for path in ATTRIBUTES {
            if let Some(t) = src.read_at(&name, path)? {
                attributes.push(t);
            }
        }
        if template.is_none() && attributes.is_empty() {
            continue;
        }
        let doc = src.read_at(&name, CONFIGURATION_DOC)?;
        let index = out.lines.len();
        out.lines.push((tag.line(), name));
        for k in line_keys(template.as_deref(), &attributes, doc.as_deref()) {
            out.keys.entry(k).or_default().insert(index);
        }
    }
    Ok(out)
}

/// Consecutive runs of indices as inclusive ranges.
fn ranges(set: &BTreeSet<usize>) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &i in set {
        match out.last_mut() {
            Some(last) if last.1 + 1 == i => last.1 = i,
            _ => out.push((i, i)),
        }
    }
    out
}

/// The Rust source of `keys_history_generated.rs`.
pub fn render(h: &KeyHistory) -> String {
    let mut out = String::new();
    out.push_str(
        "//! GENERATED by `cargo run --example gen_keys -- --history` from omnibus-gitlab's release\n\
         //! tags (harness/config/keyhist.rs says what is read); do not edit.\n\n",
    );
    out.push_str("/// Release lines, oldest first, with the tag read for each.\n");
    out.push_str("pub(super) const LINES: &[(u32, u32, &str)] = &[\n");
    for (line, tag) in &h.lines {
        let _ = writeln!(out, "    ({}, {}, {:?}),", line.major, line.minor, tag);
    }
    out.push_str("];\n\n");
    out.push_str(
        "/// `(root, key, ranges of LINES indices that know it)`, sorted by root then key; root `\"\"`\n\
         /// holds top-level names.\n",
    );
    out.push_str(
        "pub(super) type KeyRow = (&'static str, &'static str, &'static [(u16, u16)]);\n\n",
    );
    out.push_str("pub(super) const KEYS: &[KeyRow] = &[\n");
    for ((root, key), set) in &h.keys {
        let r: Vec<String> = ranges(set)
            .iter()
            .map(|(a, b)| format!("({a}, {b})"))
            .collect();
        let _ = writeln!(out, "    ({root:?}, {key:?}, &[{}]),", r.join(", "));
    }
    out.push_str("];\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::MemorySource;

    #[test]
    fn reads_templates_attributes_logrotate_and_from_file() {
        let mut src = MemorySource::default()
            .with_file(
                "9.0.0+ce.0",
                TEMPLATE,
                "# external_url 'x'\n# gitlab_rails['ldap_enabled'] = false\n",
            )
            .with_file(
                "9.0.0+ce.0",
                ATTRIBUTES[0],
                "default['gitlab']['gitlab-rails']['trusted_certs_dir'] = nil\ndefault['gitlab']['logging']['logrotate_frequency'] = 'daily'\ndefault['gitlab']['mattermost']['old_key'] = 1\n",
            )
            .with_file("9.0.0+ce.0", CONFIGURATION_DOC, "from_file \"/x.rb\"\n")
            .with_file("9.1.0+ce.0", TEMPLATE, "# gitlab_rails['ldap_enabled'] = false\n")
            .with_file(
                "9.1.0+ce.0",
                ATTRIBUTES[1],
                "default['mattermost']['new_key'] = 2\n",
            )
            .with_tag("9.1.1+ce.0")
            .with_tag("7.14.0+ce.0");
        let h = collect(&mut src).unwrap();
        assert_eq!(h.lines.len(), 2);
        let at = |root: &str, key: &str| {
            h.keys
                .get(&(root.to_string(), key.to_string()))
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(at("gitlab_rails", "ldap_enabled"), [0, 1]);
        assert_eq!(at("gitlab_rails", "trusted_certs_dir"), [0]);
        assert_eq!(at("nginx", "logrotate_frequency"), [0]);
        assert_eq!(at("mattermost", "old_key"), [0]);
        assert_eq!(at("mattermost", "new_key"), [1]);
        assert_eq!(at("", "from_file"), [0]);
        assert_eq!(at("", "external_url"), [0]);
        let text = render(&h);
        assert!(
            text.contains("(\"mattermost\", \"old_key\", &[(0, 0)]),"),
            "{text}"
        );
        assert!(text.contains("(9, 1, \"9.1.0+ce.0\"),"), "{text}");
    }
}
