//! Scenario TOML → checked [`Scenario`]. The parser reads the document with spans
//! (`toml::de::DeTable`), validates every part, and collects *all* errors of the file before giving
//! up (at most [`super::fields::MAX_DIAGNOSTICS`], then a count): unknown keys and steps with a
//! did-you-mean, wrong types, bad placeholders, references to bindings or hosts that do not exist,
//! expectations that do not fit their step. Steps and expectations are read by
//! [`super::parse_step`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::Version;
use crate::diag::{Diagnostic, SourceFile, Span, did_you_mean};
use crate::vocab::TargetKind;

use super::error::ScenarioError;
use super::fields::{Fields, Sink, as_table, choice_hint, quoted, span_of};
use super::model::{Action, BindingKind, HostKind, HostPlan, Scenario, Step};
use super::parse_step::parse_step;
use super::placeholder::{APP_FIELDS, Template};
use super::source;

/// The default GitLab version a scenario's gitlab.rb is read for.
pub const DEFAULT_GITLAB_VERSION: Version = Version::new(18, 11, 0);

/// The longest scenario name: it is also a file name (`snapshots/<name>@<target>.snap`), which
/// file systems cap at 255 bytes.
pub const MAX_NAME_CHARS: usize = 100;

/// Parse and validate one scenario file's text.
pub fn parse_scenario(file: &SourceFile, path: &Path) -> Result<Scenario, ScenarioError> {
    let mut sink = Sink::new(file);
    let (doc, errors) = DeTable::parse_recoverable(file.text());
    if !errors.is_empty() {
        for e in errors {
            if !sink.has_room() {
                sink.omitted += 1;
                continue;
            }
            sink.push(syntax_diagnostic(file, &e));
        }
        return Err(ScenarioError::invalid_with_omitted(
            path.to_path_buf(),
            sink.diagnostics,
            sink.omitted,
        ));
    }
    let root_span = Span::new(0, file.text().len().min(1));
    let mut top = Fields::new(doc.get_ref(), root_span, "");

    let name = top.req_str(&mut sink, "name");
    if let Some((n, span)) = &name {
        validate_name(&mut sink, n, *span);
    }
    let summary = top.req_str(&mut sink, "summary");
    let seed = top.req_str(&mut sink, "seed");
    let tags = top.opt_str_list(&mut sink, "tags").unwrap_or_default();
    let targets = match top.opt_str_list(&mut sink, "targets") {
        None => TargetKind::ALL.to_vec(),
        Some(list) => {
            let mut out = Vec::new();
            for (t, span) in list {
                match TargetKind::parse(&t) {
                    Some(k) => out.push(k),
                    None => sink.error(
                        "scenario.target",
                        span,
                        format!("unknown target {:?}", quoted(&t)),
                        choice_hint(&t, TargetKind::NAMES.iter().copied()),
                    ),
                }
            }
            out
        }
    };
    let gitlab_version = match top.opt_str(&mut sink, "gitlab_version") {
        None => DEFAULT_GITLAB_VERSION,
        Some((v, span)) => match v.parse::<Version>() {
            Ok(v) if v.major < 8 => {
                sink.error(
                    "scenario.version",
                    span,
                    format!("GitLab {v} has no bundled Mattermost"),
                    Some("omnibus bundles Mattermost from GitLab 8.0; use e.g. \"8.12\"".into()),
                );
                DEFAULT_GITLAB_VERSION
            }
            Ok(v) => v,
            Err(e) => {
                sink.error("scenario.version", span, e.to_string(), None);
                DEFAULT_GITLAB_VERSION
            }
        },
    };
    let faults: Vec<(String, Span)> = top.opt_str_list(&mut sink, "faults").unwrap_or_default();
    for (f, span) in &faults {
        validate_fault(&mut sink, f, *span);
    }
    let snapshot = top.opt_bool(&mut sink, "snapshot").unwrap_or(true);

    let hosts = match top.required(&mut sink, "hosts") {
        Some(v) => parse_hosts(&mut sink, v),
        None => Vec::new(),
    };
    // Which Mattermost's SSO error texts and statuses the expectations are checked against.
    let sso_era = crate::vocab::sso::SsoEra::for_mattermost_major(
        crate::config::Profile::for_gitlab(gitlab_version)
            .mattermost_version()
            .major,
    );
    let steps: Vec<(Step, Span)> = match top.required(&mut sink, "steps") {
        Some(v) => match v.get_ref().as_array() {
            Some(arr) => arr
                .iter()
                .enumerate()
                .filter_map(|(i, s)| parse_step(&mut sink, i + 1, s, sso_era))
                .collect(),
            None => {
                sink.type_error("steps", "an array of tables (`[[steps]]`)", v);
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    top.finish(&mut sink);

    validate_references(&mut sink, &hosts, &steps);

    if sink.found() > 0 {
        let mut diags = sink.diagnostics;
        diags.sort_by_key(|d| {
            d.location
                .as_ref()
                .map(|l| (l.line, l.column))
                .unwrap_or((0, 0))
        });
        return Err(ScenarioError::invalid_with_omitted(
            path.to_path_buf(),
            merge_missing_keys(diags),
            sink.omitted,
        ));
    }
    Ok(Scenario {
        path: path.to_path_buf(),
        name: name.map(|n| n.0).unwrap_or_default(),
        summary: summary.map(|n| n.0).unwrap_or_default(),
        seed: seed.map(|n| n.0).unwrap_or_default(),
        tags: tags.into_iter().map(|t| t.0).collect(),
        targets,
        gitlab_version,
        faults: faults.into_iter().map(|f| f.0).collect(),
        hosts,
        steps: steps.into_iter().map(|(s, _)| s).collect(),
        snapshot,
        shipped_snapshot: super::embedded::snapshot_for_text(file.text()),
    })
}

/// A TOML syntax error, placed. The parser gives every error a span but one: a dotted key of more
/// parts than its nesting limit ("recursion limit"), which is found in the text instead.
fn syntax_diagnostic(file: &SourceFile, e: &toml::de::Error) -> Diagnostic {
    let unplaced = || Diagnostic::error("scenario.syntax", first_line(e.message()));
    let d = match e.span() {
        Some(r) => unplaced().at(file, Span::new(r.start, r.end)),
        None => match source::deep_dotted_key(file.text()) {
            Some((span, parts)) => Diagnostic::error(
                    "scenario.syntax",
                    format!(
                        "dotted key of {parts} parts is deeper than the TOML parser allows (recursion limit)"
                    ),
                )
                .at(file, span)
            .with_hint(format!(
                "a dotted key may have at most {} parts",
                source::TOML_KEY_PART_LIMIT
            )),
            None => unplaced().at(file, Span::default()),
        },
    };
    d.with_label("invalid TOML")
}

fn first_line(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or(msg).trim();
    let mut s = line.to_string();
    if let Some(c) = s.get(0..1) {
        let lower = c.to_ascii_lowercase();
        s.replace_range(0..1, &lower);
    }
    s
}

/// A scenario name is also a file name: 1 to [`MAX_NAME_CHARS`] lower-case letters, digits, `-`
/// or `.`, starting with a letter or digit.
fn validate_name(sink: &mut Sink<'_>, name: &str, span: Span) {
    const HINT: &str = "the name is also the snapshot's file name (`snapshots/<name>.snap`)";
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let len = name.chars().count();
    if len > MAX_NAME_CHARS {
        sink.error(
            "scenario.name",
            span,
            format!("scenario name is {len} characters long, more than {MAX_NAME_CHARS}"),
            Some(HINT.into()),
        );
    } else if !name.chars().all(allowed) {
        sink.error(
            "scenario.name",
            span,
            format!(
                "scenario name {:?} must be lower-case letters, digits, `-` or `.`",
                quoted(name)
            ),
            Some(HINT.into()),
        );
    } else if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        sink.error(
            "scenario.name",
            span,
            format!("scenario name {name:?} must start with a lower-case letter or a digit"),
            Some(HINT.into()),
        );
    }
}

fn validate_fault(sink: &mut Sink<'_>, name: &str, span: Span) {
    if let Err(e) = name.parse::<crate::twin::fault::Fault>() {
        let hint = e
            .suggestion
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| Some("`mm-harness twin faults` lists every fault".to_string()));
        sink.error(
            "scenario.fault",
            span,
            format!("unknown twin fault {:?}", e.input),
            hint,
        );
    }
}

fn parse_hosts(sink: &mut Sink<'_>, v: &Spanned<DeValue<'_>>) -> Vec<HostPlan> {
    let Some(table) = as_table(sink, "hosts", v) else {
        return Vec::new();
    };
    if table.is_empty() {
        sink.error(
            "scenario.hosts",
            span_of(v),
            "`hosts` must name at least one host".into(),
            Some("add `[hosts.gitlab]` with a `gitlab_rb` text".into()),
        );
    }
    let mut hosts: Vec<HostPlan> = Vec::new();
    for (k, hv) in table.iter() {
        let name: &str = k.get_ref();
        let key = format!("hosts.{name}");
        let Some(ht) = as_table(sink, &key, hv) else {
            continue;
        };
        let mut f = Fields::new(ht, span_of(hv), key.clone());
        let kind = f.opt_str(sink, "kind");
        if let Some((kind, kind_span)) = kind {
            match kind.as_str() {
                "omnibus" => {}
                "mattermost-standalone" => {
                    let url = f.req_str(sink, "url");
                    f.finish(sink);
                    let Some((url, url_span)) = url else { continue };
                    let scheme_ok = url::Url::parse(&url).ok().is_some_and(|u| {
                        matches!(u.scheme(), "http" | "https") && u.host_str().is_some()
                    });
                    if !scheme_ok {
                        sink.error(
                            "scenario.value",
                            url_span,
                            format!("`{key}.url` {:?} is not an http(s) URL with a host", quoted(&url)),
                            Some("write where the standalone Mattermost serves, e.g. \"https://mattermost.example.com\"".into()),
                        );
                        continue;
                    }
                    hosts.push(HostPlan {
                        name: name.to_string(),
                        gitlab_rb: Template::scan("", "''", url_span.start),
                        kind: HostKind::MattermostStandalone { url },
                        location: sink.file.locate(span_of(k)),
                    });
                    continue;
                }
                other => {
                    sink.error(
                        "scenario.value",
                        kind_span,
                        format!("unknown host kind {:?}", quoted(other)),
                        choice_hint(other, ["omnibus", "mattermost-standalone"]),
                    );
                    f.finish(sink);
                    continue;
                }
            }
        }
        let rb = f.raw("gitlab_rb");
        f.finish(sink);
        let Some(rb) = rb else {
            sink.error(
                "scenario.missing-key",
                span_of(k),
                format!("missing key `{key}.gitlab_rb`"),
                Some("each host carries its gitlab.rb text verbatim".into()),
            );
            continue;
        };
        let Some(text) = rb.get_ref().as_str() else {
            sink.type_error(&format!("{key}.gitlab_rb"), "a string", rb);
            continue;
        };
        let span = span_of(rb);
        let raw = sink.file.slice(span);
        let template = Template::scan(text, raw, span.start);
        check_gitlab_rb(sink, &key, text, span);
        hosts.push(HostPlan {
            name: name.to_string(),
            gitlab_rb: template,
            kind: HostKind::Omnibus,
            location: sink.file.locate(span_of(k)),
        });
    }
    hosts.sort_by_key(|h| (h.location.line, h.location.column));
    hosts
}

/// Syntax errors of a host's gitlab.rb, reported at their place in the scenario file. (Settings that
/// do nothing on the scenario's GitLab version are warnings of the run, not errors of the file.)
fn check_gitlab_rb(sink: &mut Sink<'_>, key: &str, text: &str, value_span: Span) {
    let rb = SourceFile::new(format!("{key}.gitlab_rb"), text);
    let doc = crate::config::parse_gitlab_rb(&rb);
    if !doc.has_errors() {
        return;
    }
    // Where the string's content starts: after a triple quote (and the newline TOML trims right
    // after it), or after a single quote.
    let raw = sink.file.slice(value_span);
    let mut content_start = value_span.start;
    if raw.starts_with("'''") || raw.starts_with("\"\"\"") {
        content_start += 3;
        if raw[3..].starts_with("\r\n") {
            content_start += 2;
        } else if raw[3..].starts_with('\n') {
            content_start += 1;
        }
    } else {
        content_start += 1;
    }
    let start = sink.file.position(content_start);
    for d in doc.diagnostics() {
        if d.severity != crate::diag::Severity::Error {
            continue;
        }
        if !sink.has_room() {
            sink.omitted += 1;
            continue;
        }
        let mut d = d.clone();
        if let Some(loc) = &d.location {
            let shift = |line: usize, column: usize| {
                if line == 1 {
                    (start.line, start.column + column - 1)
                } else {
                    (start.line + line - 1, column)
                }
            };
            let (line, column) = shift(loc.line, loc.column);
            let (end_line, end_column) = shift(loc.end_line, loc.end_column);
            let at = |line, column| sink.file.offset_of(crate::diag::Position { line, column });
            d.location = Some(
                sink.file
                    .locate(Span::new(at(line, column), at(end_line, end_column))),
            );
        }
        d.message = format!("in `{}.gitlab_rb`: {}", quoted(key), d.message);
        sink.push(d);
    }
    // Errors past the gitlab.rb parser's own cap are counted, not built.
    sink.omitted += doc.diagnostic_list().omitted_errors;
}

/// Cross-references: bindings used after they are made and of the right kind, hosts that exist,
/// placeholders that name a binding some step creates.
fn validate_references(sink: &mut Sink<'_>, hosts: &[HostPlan], steps: &[(Step, Span)]) {
    let host_names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    let mut all_bindings: BTreeMap<&str, BindingKind> = BTreeMap::new();
    for (s, _) in steps {
        if let Some((name, kind)) = s.action.creates() {
            all_bindings.insert(name, kind);
        }
    }
    let mut made: BTreeSet<&str> = BTreeSet::new();
    for (s, span) in steps {
        if let Some((name, kind)) = s.action.uses() {
            check_binding_use(sink, *span, name, kind, &all_bindings, &made);
        }
        if let Some(host) = s.action.host()
            && !host_names.contains(&host)
        {
            sink.error(
                "scenario.host",
                *span,
                format!("no host named `{}` in `[hosts]`", quoted(host)),
                Some(match did_you_mean(host, host_names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "hosts are: {}",
                        host_names
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            );
        }
        if let Some(host) = s.action.host()
            && let Some(plan) = hosts.iter().find(|h| h.name == host)
        {
            // `mattermost.move_out` moves to a standalone Mattermost; every other step that names
            // a host acts on an omnibus installation's gitlab.rb.
            let wants_standalone = matches!(s.action, Action::MoveOut { .. });
            if wants_standalone == plan.is_omnibus() {
                sink.error(
                    "scenario.host",
                    *span,
                    format!(
                        "`{}` names host `{}`, which is {}",
                        s.action.name(),
                        quoted(host),
                        if plan.is_omnibus() {
                            "an omnibus host"
                        } else {
                            "a standalone Mattermost"
                        }
                    ),
                    Some(if wants_standalone {
                        "name a host with `kind = \"mattermost-standalone\"` and its `url`".into()
                    } else {
                        "name an omnibus host (a `[hosts]` table with `gitlab_rb`)".into()
                    }),
                );
            }
        }
        if let Some((name, _)) = s.action.creates() {
            made.insert(name);
        }
    }
    for h in hosts {
        validate_placeholders(sink, &h.gitlab_rb, &all_bindings);
    }
}

/// A step names a binding: it must exist, be of the right kind and be made by an earlier step.
fn check_binding_use(
    sink: &mut Sink<'_>,
    span: Span,
    name: &str,
    kind: BindingKind,
    all_bindings: &BTreeMap<&str, BindingKind>,
    made: &BTreeSet<&str>,
) {
    let what = kind.describe();
    let exists = all_bindings.get(name) == Some(&kind);
    if exists && made.contains(name) {
        return;
    }
    if exists {
        sink.error(
            "scenario.binding",
            span,
            format!("{what} `{name}` is used before the step that creates it"),
            Some(format!(
                "move this step after the one with `as = \"{name}\"`"
            )),
        );
        return;
    }
    let candidates = all_bindings
        .iter()
        .filter(|(_, k)| **k == kind)
        .map(|(n, _)| *n);
    let hint = match did_you_mean(name, candidates) {
        Some(c) => format!("did you mean `{c}`?"),
        None => format!(
            "an earlier step must create it with `as = \"{}\"`",
            quoted(name)
        ),
    };
    sink.error(
        "scenario.binding",
        span,
        format!(
            "{what} `{}` is not created by an earlier step",
            quoted(name)
        ),
        Some(hint),
    );
}

/// The placeholders of one host's gitlab.rb: well formed, closed, naming an application some
/// step creates and one of its fields.
fn validate_placeholders(
    sink: &mut Sink<'_>,
    template: &Template,
    all_bindings: &BTreeMap<&str, BindingKind>,
) {
    for (rest, span) in &template.unclosed {
        sink.error(
            "scenario.placeholder",
            *span,
            format!("unclosed placeholder `{{{{{}`", quoted(rest)),
            Some("close it with `}}`, e.g. `{{ app.id }}`".into()),
        );
    }
    for (expr, span) in &template.malformed {
        sink.error(
            "scenario.placeholder",
            *span,
            format!("malformed placeholder `{{{{ {} }}}}`", quoted(expr)),
            Some("write `{{ BINDING.FIELD }}`, e.g. `{{ app.id }}`".into()),
        );
    }
    for p in &template.placeholders {
        match all_bindings.get(p.binding.as_str()) {
            Some(BindingKind::App) => {
                if !APP_FIELDS.contains(&p.field.as_str()) {
                    sink.error(
                        "scenario.placeholder",
                        p.span,
                        format!(
                            "unknown field `{}` of application `{}`",
                            quoted(&p.field),
                            p.binding
                        ),
                        choice_hint(&p.field, APP_FIELDS),
                    );
                }
            }
            Some(kind @ (BindingKind::Hook | BindingKind::Export)) => sink.error(
                "scenario.placeholder",
                p.span,
                format!(
                    "`{}` is {} {}; gitlab.rb placeholders name applications",
                    p.binding,
                    if *kind == BindingKind::Hook {
                        "an"
                    } else {
                        "a"
                    },
                    kind.describe()
                ),
                None,
            ),
            None => {
                let apps = all_bindings
                    .iter()
                    .filter(|(_, k)| **k == BindingKind::App)
                    .map(|(n, _)| *n);
                let hint = match did_you_mean(&p.binding, apps) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!(
                        "a `gitlab.create_oauth_app` step with `as = \"{}\"` creates it",
                        quoted(&p.binding)
                    ),
                };
                sink.error(
                    "scenario.placeholder",
                    p.span,
                    format!(
                        "placeholder `{{{{ {} }}}}` names no binding",
                        quoted(&p.expr)
                    ),
                    Some(hint),
                );
            }
        }
    }
}

/// Missing keys of one table (same place) as one error: "missing keys `seed`, `hosts`, `steps`",
/// not one caret per key on the same line.
fn merge_missing_keys(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    const ONE: &str = "missing key ";
    let mut out: Vec<Diagnostic> = Vec::with_capacity(diags.len());
    for d in diags {
        if d.code == "scenario.missing-key"
            && let Some(prev) = out.last_mut()
            && prev.code == d.code
            && prev.location == d.location
            && let Some(key) = d.message.strip_prefix(ONE)
        {
            let keys = prev
                .message
                .strip_prefix(ONE)
                .or_else(|| prev.message.strip_prefix("missing keys "))
                .unwrap_or_default()
                .to_string();
            prev.message = format!("missing keys {keys}, {key}");
            prev.hint =
                Some("add them to this table (docs/scenarios.md lists every key)".to_string());
            continue;
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Expectation;
    use crate::scenario::Action;

    const GOOD: &str = r#"
name = "split"
summary = "manual authorisation"
seed = "Running GitLab Mattermost on its own server"
tags = ["sso"]
targets = ["twin", "live"]
gitlab_version = "8.12"
faults = ["slow-endpoint"]

[hosts.mattermost]
gitlab_rb = '''
mattermost['gitlab_id'] = "{{ app.id }}"
'''

[hosts.gitlab]
gitlab_rb = "external_url 'http://gitlab.example.com'"

[[steps]]
gitlab.create_oauth_app = { as = "app" }

[[steps]]
host.reconfigure = { host = "mattermost" }

[[steps]]
sso.sign_up = { user = "alice", consent = "deny" }
expect = { access_denied = true }

[[steps]]
webhook.post = { hook = "h", text = "x" }
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let file = SourceFile::new("s.toml", text);
        parse_scenario(&file, Path::new("s.toml"))
    }

    #[test]
    fn missing_keys_of_one_table_are_one_error() {
        let e = parse("name = \"x\"\nsummary = \"y\"\n").expect_err("incomplete");
        let text = e.render();
        assert!(
            text.contains("error: missing keys `seed`, `hosts`, `steps`"),
            "{text}"
        );
        assert_eq!(text.matches(" --> s.toml:1:1").count(), 1, "{text}");
        assert!(text.contains("(1 error)"), "{text}");
    }

    #[test]
    fn a_gitlab_version_before_bundled_mattermost_is_rejected() {
        // Regression: "7.14" was accepted and run on the 8.12 profile.
        let e = parse(&GOOD.replace("\"8.12\"", "\"7.14\"")).expect_err("7.14 rejected");
        let text = e.render();
        assert!(
            text.contains("GitLab 7.14.0 has no bundled Mattermost"),
            "{text}"
        );
        assert!(text.contains("s.toml:7:18"), "{text}");
    }

    #[test]
    fn a_valid_file_becomes_a_plan_with_positions() {
        let text = GOOD.replace(
            "[[steps]]\nwebhook.post = { hook = \"h\", text = \"x\" }\n",
            "",
        );
        let s = parse(&text).unwrap_or_else(|e| panic!("{}", e.render()));
        assert_eq!(s.name, "split");
        assert_eq!(s.gitlab_version, Version::new(8, 12, 0));
        assert_eq!(s.targets, vec![TargetKind::Twin, TargetKind::Live]);
        assert_eq!(s.faults, vec!["slow-endpoint".to_string()]);
        // Hosts keep file order, not TOML's key order.
        assert_eq!(s.hosts[0].name, "mattermost");
        assert_eq!(s.hosts[1].name, "gitlab");
        let p = &s.hosts[0].gitlab_rb.placeholders[0];
        assert_eq!((p.binding.as_str(), p.field.as_str()), ("app", "id"));
        let loc = SourceFile::new("s.toml", text.clone()).locate(p.span);
        assert_eq!(loc.line, 12);
        assert_eq!(s.steps.len(), 3);
        assert_eq!(s.steps[0].location.line, 19);
        assert!(matches!(
            s.steps[0].action,
            Action::CreateOAuthApp { ref scopes, ref name, .. } if scopes == "api" && name == "GitLab Mattermost"
        ));
        assert_eq!(s.steps[2].expect, Some(Expectation::AccessDenied));
        assert!(s.snapshot);
        assert!(s.writes());
    }

    #[test]
    fn all_errors_of_a_file_come_at_once_in_file_order() {
        let text = GOOD
            .replace("summary = ", "sumary = ")
            .replace("consent = \"deny\"", "consent = \"maybe\"");
        let err = parse(&text).unwrap_err();
        let codes: Vec<&str> = err.diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert!(codes.contains(&"scenario.unknown-key"), "{codes:?}");
        assert!(codes.contains(&"scenario.missing-key"), "{codes:?}");
        assert!(codes.contains(&"scenario.value"), "{codes:?}");
        assert!(codes.contains(&"scenario.binding"), "{codes:?}");
        let lines: Vec<usize> = err
            .diagnostics
            .iter()
            .filter_map(|d| d.location.as_ref().map(|l| l.line))
            .collect();
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(lines, sorted);
    }

    #[test]
    fn one_action_per_step_and_expectations_must_fit() {
        let text = GOOD.replace(
            "gitlab.create_oauth_app = { as = \"app\" }",
            "gitlab.create_oauth_app = { as = \"app\" }\nsso.log_in = { user = \"bob\" }",
        );
        let err = parse(&text).unwrap_err();
        assert!(
            err.diagnostics
                .iter()
                .any(|d| d.code == "scenario.two-actions")
        );
        let text = GOOD.replace(
            "host.reconfigure = { host = \"mattermost\" }",
            "host.reconfigure = { host = \"mattermost\" }\nexpect = { post = {} }",
        );
        let err = parse(&text).unwrap_err();
        assert!(
            err.diagnostics.iter().any(|d| d.code == "scenario.expect"
                && d.hint.as_deref() == Some("`host.reconfigure` takes no expectation")),
            "{}",
            err.render()
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    const VALID: &str = include_str!("../../scenarios/split-server.toml");

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Arbitrary text never panics the scenario parser.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let file = SourceFile::new("p.toml", text);
            let _ = parse_scenario(&file, Path::new("p.toml"));
        }

        /// A real scenario with a slice cut out or a byte changed never panics it either, and
        /// every error it reports has a position inside the file.
        #[test]
        fn damaged_scenarios_report_positions(cut in 0usize..2000, len in 0usize..40, ch in proptest::char::any()) {
            let mut text = VALID.to_string();
            let start = cut.min(text.len());
            let mut start_b = start;
            while !text.is_char_boundary(start_b) { start_b -= 1; }
            let mut end_b = (start_b + len).min(text.len());
            while !text.is_char_boundary(end_b) { end_b -= 1; }
            text.replace_range(start_b..end_b.max(start_b), &ch.to_string());
            let file = SourceFile::new("d.toml", text.clone());
            if let Err(e) = parse_scenario(&file, Path::new("d.toml")) {
                for d in &e.diagnostics {
                    if let Some(l) = &d.location {
                        prop_assert!(l.line >= 1 && l.line <= text.lines().count().max(1) + 1);
                    }
                }
            }
        }
    }
}
