//! The generator of `keys_generated.rs`: derives the per-version key tables from the omnibus data
//! in shared/data (attributes files, config.json ERB templates, the 18.11 env helper and
//! gitlab.rb templates). Run `cargo run --example gen_keys` to rewrite the table; the test
//! `generated_key_table_is_up_to_date` (tests/config_keys.rs) fails when the checked-in file differs.
//!
//! Owns: reading those Ruby/ERB files (with the gitlab.rb parser for attribute defaults, regular
//! expressions for ERB fields and helper lines) and printing the Rust table. No I/O: callers pass
//! the file texts in [`KeySources`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use regex::Regex;

use super::gitlab_rb::{RbValue, parse_gitlab_rb};
use super::keys::is_secret_name;
use crate::diag::SourceFile;

/// The shared/data file texts the tables come from.
#[derive(Debug, Clone)]
pub struct KeySources {
    pub attributes_8_12: String,
    pub config_json_erb_8_12: String,
    pub template_8_12: String,
    pub attributes_10_8: String,
    pub config_json_erb_10_8: String,
    pub template_10_8: String,
    pub attributes_18_11: String,
    pub helper_18_11: String,
    pub gitlab_mattermost_18_11: String,
    pub template_18_11: String,
}

/// The file names in shared/data, in [`KeySources`] field order.
pub const SOURCE_FILES: [&str; 10] = [
    "mattermost-attributes-8.12.rb",
    "mattermost-config.json.erb-8.12",
    "gitlab.rb.template-8.12",
    "mattermost-attributes-10.8.rb",
    "mattermost-config.json.erb-10.8",
    "gitlab.rb.template-10.8",
    "mattermost-attributes-18.11.rb",
    "mattermost_helper-18.11.rb",
    "gitlab_mattermost-18.11.rb",
    "gitlab.rb.template-18.11",
];

impl KeySources {
    /// Build from the ten texts in [`SOURCE_FILES`] order.
    pub fn from_texts(t: [String; 10]) -> KeySources {
        let [a8, e8, t8, a10, e10, t10, a18, h18, g18, t18] = t;
        KeySources {
            attributes_8_12: a8,
            config_json_erb_8_12: e8,
            template_8_12: t8,
            attributes_10_8: a10,
            config_json_erb_10_8: e10,
            template_10_8: t10,
            attributes_18_11: a18,
            helper_18_11: h18,
            gitlab_mattermost_18_11: g18,
            template_18_11: t18,
        }
    }
}

/// Mattermost's own spellings (model/config.go in Mattermost 10.x) where the 10.8 ERB template
/// spells a field differently or lacks it; Mattermost matches keys case-insensitively.
const MODERN_SPELLINGS: &[&str] = &[
    "GitLabSettings.UserAPIEndpoint",
    "ServiceSettings.EnableAPITeamDeletion",
];

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Key(String),
    KeyExpr(String, String),
}

#[derive(Debug, Clone)]
struct Field {
    path: String,
    env_var: Option<String>,
    quoted: bool,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, Default)]
struct Table {
    keys: Vec<(String, Option<String>)>,
    fields: Vec<Field>,
    gitlab_rails: BTreeSet<String>,
    nginx: BTreeSet<String>,
    mattermost_nginx: BTreeSet<String>,
    roots: BTreeSet<String>,
}

/// `default['mattermost']['k'] = v` (or `default['gitlab']['mattermost']['k']`): keys in file
/// order with their default's Ruby text.
fn attribute_defaults(text: &str) -> Vec<(String, Option<String>)> {
    // The 8.12 extract carries `NNN:` line-number prefixes.
    let prefix = Regex::new(r"(?m)^\d+:").expect("static regex");
    let text = prefix.replace_all(text, "");
    let f = SourceFile::new("attributes", text.to_string());
    let doc = parse_gitlab_rb(&f);
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for s in doc.settings() {
        let keys = s.target.keys();
        if s.target.root() != "default" || keys.len() < 2 {
            continue;
        }
        let Some(pos) = keys.iter().position(|k| k == "mattermost") else {
            continue;
        };
        if pos + 2 != keys.len() {
            continue;
        }
        let key = keys[pos + 1].clone();
        let default = match &s.value.value {
            RbValue::Unevaluated(_) => None,
            _ => Some(f.slice(s.value.span).to_string()),
        };
        if let Some(slot) = out.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = default;
        } else {
            out.push((key, default));
        }
    }
    out
}

fn erb_parts(text: &str) -> Vec<Part> {
    let re = Regex::new(r"<%=\s*@([a-z0-9_]+)(.*?)\s*%>").expect("static regex");
    let mut parts = Vec::new();
    let mut last = 0;
    for c in re.captures_iter(text) {
        let (Some(m), Some(key), Some(rest)) = (c.get(0), c.get(1), c.get(2)) else {
            continue;
        };
        if m.start() > last {
            parts.push(Part::Lit(text[last..m.start()].to_string()));
        }
        let rest = rest.as_str().trim();
        if rest.is_empty() {
            parts.push(Part::Key(key.as_str().to_string()));
        } else {
            parts.push(Part::KeyExpr(key.as_str().to_string(), rest.to_string()));
        }
        last = m.end();
    }
    if last < text.len() {
        parts.push(Part::Lit(text[last..].to_string()));
    }
    parts
}

/// The fields of a config.json ERB template: `"Section": {` ... `"Field": value,`.
fn erb_fields(text: &str) -> Vec<Field> {
    let section_re = Regex::new(r#"^\s*"(\w+)"\s*:\s*\{\s*$"#).expect("static regex");
    let field_re = Regex::new(r#"^\s*"(\w+)"\s*:\s*(.*?),?\s*$"#).expect("static regex");
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(c) = section_re.captures(line) {
            section = c[1].to_string();
            continue;
        }
        let Some(c) = field_re.captures(line) else {
            continue;
        };
        let raw = c[2].trim();
        let (quoted, inner) = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(inner) => (true, inner),
            None => (false, raw),
        };
        out.push(Field {
            path: format!("{section}.{}", &c[1]),
            env_var: None,
            quoted,
            parts: erb_parts(inner),
        });
    }
    out
}

/// `'MM_X' => <ruby>,` lines of mattermost_helper.rb.
fn helper_fields(text: &str, erb_10_8: &[Field]) -> Vec<Field> {
    let line_re = Regex::new(r"^\s*'(MM_[A-Z0-9_]+)'\s*=>\s*(.*?),?\s*$").expect("static regex");
    let node_re = Regex::new(r"node\['mattermost'\]\['([a-z0-9_]+)'\]").expect("static regex");
    let interp_re =
        Regex::new(r"#\{node\['mattermost'\]\['([a-z0-9_]+)'\]\}").expect("static regex");
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(c) = line_re.captures(line) else {
            continue;
        };
        let var = c[1].to_string();
        let expr = c[2].trim();
        let parts = if let Some(inner) = expr.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            let mut parts = Vec::new();
            let mut last = 0;
            for m in interp_re.captures_iter(inner) {
                let (Some(whole), Some(key)) = (m.get(0), m.get(1)) else {
                    continue;
                };
                if whole.start() > last {
                    parts.push(Part::Lit(inner[last..whole.start()].to_string()));
                }
                parts.push(Part::Key(key.as_str().to_string()));
                last = whole.end();
            }
            if last < inner.len() {
                parts.push(Part::Lit(inner[last..].to_string()));
            }
            parts
        } else if let Some(inner) = expr.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            vec![Part::Lit(inner.to_string())]
        } else {
            node_re
                .captures_iter(expr)
                .map(|m| Part::Key(m[1].to_string()))
                .collect()
        };
        // MM_SECTION_FIELD → Section.Field as Mattermost spells it.
        let wanted = var.trim_start_matches("MM_");
        let path = MODERN_SPELLINGS
            .iter()
            .map(|s| s.to_string())
            .chain(erb_10_8.iter().map(|f| f.path.clone()))
            .find(|p| p.replace('.', "_").eq_ignore_ascii_case(wanted))
            .unwrap_or_default();
        out.push(Field {
            path,
            env_var: Some(var),
            quoted: true,
            parts,
        });
    }
    out
}

/// `root['key']` occurrences in a gitlab.rb template, commented or not, and its top-level names.
fn template_keys(text: &str, t: &mut Table) {
    let index_re =
        Regex::new(r#"(?m)^[ \t]*#*[ \t]*([a-z][a-z0-9_]*)\[['"]([A-Za-z0-9_.\-]+)['"]\]"#)
            .expect("static regex");
    let call_re =
        Regex::new(r#"(?m)^[ \t]*#?[ \t]?([a-z][a-z0-9_]*)(?: ['"\[]|\()"#).expect("static regex");
    for c in index_re.captures_iter(text) {
        let (root, key) = (c[1].to_string(), c[2].to_string());
        match root.as_str() {
            "gitlab_rails" => {
                t.gitlab_rails.insert(key);
            }
            "nginx" => {
                t.nginx.insert(key);
            }
            "mattermost_nginx" => {
                t.mattermost_nginx.insert(key);
            }
            "mattermost" if !t.keys.iter().any(|(k, _)| *k == key) => {
                t.keys.push((key, None));
            }
            _ => {}
        }
        t.roots.insert(root);
    }
    for c in call_re.captures_iter(text) {
        let root = &c[1];
        // Only names that also look like settings elsewhere (`*_url`, `roles`, `*_dirs`) or that the
        // template uses with a literal argument at the start of a line.
        if root.ends_with("_url") || root.ends_with("_dirs") || root == "roles" {
            t.roots.insert(root.to_string());
        }
    }
    let nginx: Vec<String> = t.nginx.iter().cloned().collect();
    t.mattermost_nginx.extend(nginx);
}

fn add_field_keys(t: &mut Table) {
    let referenced: Vec<String> = t
        .fields
        .iter()
        .flat_map(|f| f.parts.iter())
        .filter_map(|p| match p {
            Part::Key(k) | Part::KeyExpr(k, _) => Some(k.clone()),
            Part::Lit(_) => None,
        })
        .collect();
    for k in referenced {
        if !t.keys.iter().any(|(have, _)| *have == k) {
            t.keys.push((k, None));
        }
    }
}

fn build_8_12(s: &KeySources) -> Table {
    let mut t = Table {
        keys: attribute_defaults(&s.attributes_8_12),
        fields: erb_fields(&s.config_json_erb_8_12),
        ..Table::default()
    };
    add_field_keys(&mut t);
    template_keys(&s.template_8_12, &mut t);
    t
}

fn build_10_8(s: &KeySources) -> Table {
    let mut t = Table {
        keys: attribute_defaults(&s.attributes_10_8),
        fields: erb_fields(&s.config_json_erb_10_8),
        ..Table::default()
    };
    add_field_keys(&mut t);
    template_keys(&s.template_10_8, &mut t);
    t
}

fn build_18_11(s: &KeySources) -> Table {
    let erb_10_8 = erb_fields(&s.config_json_erb_10_8);
    let mut t = Table {
        keys: attribute_defaults(&s.attributes_18_11),
        fields: helper_fields(&s.helper_18_11, &erb_10_8),
        ..Table::default()
    };
    add_field_keys(&mut t);
    // Keys gitlab_mattermost.rb sets or generates (secrets, derived host/port).
    let re = Regex::new(r"Gitlab\['mattermost'\]\['([a-z0-9_]+)'\]").expect("static regex");
    for c in re.captures_iter(&s.gitlab_mattermost_18_11) {
        let k = c[1].to_string();
        if !t.keys.iter().any(|(have, _)| *have == k) {
            t.keys.push((k, None));
        }
    }
    template_keys(&s.template_18_11, &mut t);
    t
}

fn lit(s: &str) -> String {
    format!("{s:?}")
}

fn emit_table(out: &mut String, name: &str, source: &str, era: &str, t: &Table) {
    // Which fields each key feeds; a field is secret when its name or a key feeding it is.
    let mut feeds: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in &t.fields {
        if f.path.is_empty() {
            continue;
        }
        for p in &f.parts {
            if let Part::Key(k) | Part::KeyExpr(k, _) = p {
                let list = feeds.entry(k.as_str()).or_default();
                if !list.contains(&f.path.as_str()) {
                    list.push(f.path.as_str());
                }
            }
        }
    }
    let key_secret = |k: &str, default: &Option<String>| {
        let switch = matches!(default.as_deref(), Some("true" | "false"))
            || default.as_deref().is_some_and(|d| d.parse::<i64>().is_ok());
        is_secret_name(k) && !switch
    };
    let _ = writeln!(out, "pub(crate) static {name}: KeyTable = KeyTable {{");
    let _ = writeln!(out, "    source: {},", lit(source));
    let _ = writeln!(out, "    era: KeyEra::{era},");
    let _ = writeln!(out, "    mattermost: &[");
    for (k, default) in &t.keys {
        let d = match default {
            Some(d) => format!("Some({})", lit(d)),
            None => "None".to_string(),
        };
        let f: Vec<String> = feeds
            .get(k.as_str())
            .map(|v| v.iter().map(|p| lit(p)).collect())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "        KeyDef {{ key: {}, default: {d}, secret: {}, feeds: &[{}] }},",
            lit(k),
            key_secret(k, default),
            f.join(", ")
        );
    }
    let _ = writeln!(out, "    ],");
    let _ = writeln!(out, "    fields: &[");
    for f in &t.fields {
        let parts: Vec<String> = f
            .parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => format!("TemplatePart::Lit({})", lit(s)),
                Part::Key(k) => format!("TemplatePart::Key({})", lit(k)),
                Part::KeyExpr(k, r) => format!(
                    "TemplatePart::KeyExpr {{ key: {}, ruby: {} }}",
                    lit(k),
                    lit(r)
                ),
            })
            .collect();
        let secret = is_secret_name(&f.path)
            || f.parts.iter().any(|p| match p {
                Part::Key(k) | Part::KeyExpr(k, _) => t
                    .keys
                    .iter()
                    .any(|(have, d)| have == k && key_secret(have, d)),
                Part::Lit(_) => false,
            });
        let env = match &f.env_var {
            Some(v) => format!("Some({})", lit(v)),
            None => "None".into(),
        };
        let _ = writeln!(
            out,
            "        FieldDef {{ path: {}, env_var: {env}, quoted: {}, secret: {secret}, template: &[{}] }},",
            lit(&f.path),
            f.quoted,
            parts.join(", ")
        );
    }
    let _ = writeln!(out, "    ],");
    for (field, set) in [
        ("gitlab_rails", &t.gitlab_rails),
        ("nginx", &t.nginx),
        ("mattermost_nginx", &t.mattermost_nginx),
        ("roots", &t.roots),
    ] {
        let _ = writeln!(out, "    {field}: &[");
        for k in set {
            let _ = writeln!(out, "        {},", lit(k));
        }
        let _ = writeln!(out, "    ],");
    }
    let _ = writeln!(out, "}};");
}

/// The full text of `harness/config/keys_generated.rs`.
pub fn generate(s: &KeySources) -> String {
    let mut out = String::new();
    out.push_str(
        "//! @generated by `cargo run --example gen_keys` from shared/data (see config/keygen.rs).\n\
         //! Do not edit: the test `generated_key_table_is_up_to_date` regenerates and compares.\n\
         //!\n\
         //! Owns: the per-version key tables (GitLab 8.12, 10.8, 18.11) as data.\n\n\
         use super::keys::{FieldDef, KeyDef, KeyTable, TemplatePart};\n\
         use super::version::KeyEra;\n\n",
    );
    emit_table(
        &mut out,
        "GITLAB_8_12",
        "8.12",
        "ConfigJson8",
        &build_8_12(s),
    );
    out.push('\n');
    emit_table(
        &mut out,
        "GITLAB_10_8",
        "10.8",
        "ConfigJson10",
        &build_10_8(s),
    );
    out.push('\n');
    emit_table(
        &mut out,
        "GITLAB_18_11",
        "18.11",
        "EnvVars",
        &build_18_11(s),
    );
    out
}
