//! Scenario TOML → checked [`Scenario`]. The parser reads the document with spans
//! (`toml::de::DeTable`), validates every part, and collects *all* errors of the file before giving
//! up: unknown keys and steps with a did-you-mean, wrong types, bad placeholders, references to
//! bindings or hosts that do not exist, expectations that do not fit their step.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::Version;
use crate::diag::{Diagnostic, SourceFile, Span, did_you_mean};

use super::error::ScenarioError;
use super::fields::{Fields, Sink, as_table, span_of};
use super::model::{
    Action, Consent, Expectation, HostPlan, PushSpec, Scenario, Service, SsoFlavour, Step,
    TargetKind, WebhookFormat,
};
use super::placeholder::{APP_FIELDS, Template};
use super::sso_errors;

/// The default GitLab version a scenario's gitlab.rb is read for.
pub const DEFAULT_GITLAB_VERSION: Version = Version::new(18, 11, 0);

const STEP_GROUPS: [&str; 6] = ["gitlab", "host", "sso", "mattermost", "webhook", "https"];

/// What a binding names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindingKind {
    App,
    Hook,
}

/// Parse and validate one scenario file's text.
pub fn parse_scenario(file: &SourceFile, path: &Path) -> Result<Scenario, ScenarioError> {
    let mut sink = Sink::new(file);
    let (doc, errors) = DeTable::parse_recoverable(file.text());
    if !errors.is_empty() {
        for e in errors {
            let span = e
                .span()
                .map(|r| Span::new(r.start, r.end))
                .unwrap_or_default();
            sink.diagnostics.push(
                Diagnostic::error("scenario.syntax", first_line(e.message()))
                    .at(file, span)
                    .with_label("invalid TOML"),
            );
        }
        return Err(ScenarioError::invalid(path.to_path_buf(), sink.diagnostics));
    }
    let root_span = Span::new(0, file.text().len().min(1));
    let mut top = Fields::new(doc.get_ref(), root_span, "");

    let name = top.req_str(&mut sink, "name");
    if let Some((n, span)) = &name
        && (n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'))
    {
        sink.error(
            "scenario.name",
            *span,
            format!("scenario name {n:?} must be lower-case letters, digits, `-` or `.`"),
            Some("the name is also the snapshot's file name".into()),
        );
    }
    let summary = top.req_str(&mut sink, "summary");
    let seed = top.req_str(&mut sink, "seed");
    let tags = top.opt_str_list(&mut sink, "tags").unwrap_or_default();
    let targets = match top.opt_str_list(&mut sink, "targets") {
        None => vec![TargetKind::Twin, TargetKind::Docker, TargetKind::Live],
        Some(list) => {
            let mut out = Vec::new();
            for (t, span) in list {
                match TargetKind::parse(&t) {
                    Some(k) => out.push(k),
                    None => sink.error(
                        "scenario.target",
                        span,
                        format!("unknown target {t:?}"),
                        Some(hint_for(&t, TargetKind::NAMES)),
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
    let steps = match top.required(&mut sink, "steps") {
        Some(v) => match v.get_ref().as_array() {
            Some(arr) => arr
                .iter()
                .enumerate()
                .filter_map(|(i, s)| parse_step(&mut sink, i + 1, s))
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

    if !sink.diagnostics.is_empty() {
        let mut diags = sink.diagnostics;
        diags.sort_by_key(|d| {
            d.location
                .as_ref()
                .map(|l| (l.line, l.column))
                .unwrap_or((0, 0))
        });
        return Err(ScenarioError::invalid(
            path.to_path_buf(),
            merge_missing_keys(diags),
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
        steps,
        snapshot,
    })
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

fn hint_for(input: &str, names: impl IntoIterator<Item = &'static str> + Clone) -> String {
    match did_you_mean(input, names.clone()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "expected one of: {}",
            names
                .into_iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
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
            d.location = Some(crate::diag::Location {
                file: sink.file.name().to_string(),
                line,
                column,
                end_line,
                end_column,
                source_line: sink.file.line_text(line).to_string(),
            });
        }
        d.message = format!("in `{key}.gitlab_rb`: {}", d.message);
        sink.diagnostics.push(d);
    }
}

fn parse_step(sink: &mut Sink<'_>, number: usize, v: &Spanned<DeValue<'_>>) -> Option<Step> {
    let key = format!("steps[{number}]");
    let table = as_table(sink, &key, v)?;
    let mut action: Option<(Action, Span)> = None;
    let mut expect_raw = None;
    let mut ok = true;
    for (k, val) in table.iter() {
        let group: &str = k.get_ref();
        if group == "expect" {
            expect_raw = Some(val);
            continue;
        }
        if !STEP_GROUPS.contains(&group) {
            let mut names: Vec<&'static str> = Action::NAMES.to_vec();
            names.push("expect");
            // Compare the whole dotted name when the group holds an action (`gitlb.create_oauth_app`).
            let written = val
                .get_ref()
                .as_table()
                .and_then(|t| t.iter().next())
                .map(|(a, _)| format!("{group}.{}", a.get_ref()))
                .unwrap_or_else(|| group.to_string());
            sink.error(
                "scenario.unknown-step",
                span_of(k),
                format!("unknown step `{written}` in {key}"),
                Some(hint_for(&written, names)),
            );
            ok = false;
            continue;
        }
        let Some(inner) = as_table(sink, &format!("{key}.{group}"), val) else {
            ok = false;
            continue;
        };
        for (ak, av) in inner.iter() {
            let full = format!("{group}.{}", ak.get_ref());
            if action.is_some() {
                sink.error(
                    "scenario.two-actions",
                    span_of(ak),
                    format!("{key} has more than one action (`{full}`)"),
                    Some("write one action per `[[steps]]` table".into()),
                );
                ok = false;
                continue;
            }
            match parse_action(sink, &full, ak, av) {
                Some(a) => action = Some((a, span_of(ak))),
                None => ok = false,
            }
        }
    }
    let Some((action, span)) = action else {
        if ok {
            sink.error(
                "scenario.no-action",
                span_of(v),
                format!("{key} has no action"),
                Some(format!(
                    "write one of: {}",
                    Action::NAMES
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
        return None;
    };
    let expect = expect_raw.and_then(|e| parse_expect(sink, &action, e));
    if !ok {
        return None;
    }
    Some(Step {
        number,
        action,
        expect,
        location: sink.file.locate(span),
    })
}

fn parse_action(
    sink: &mut Sink<'_>,
    full: &str,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    v: &Spanned<DeValue<'_>>,
) -> Option<Action> {
    let Some(name) = Action::NAMES.iter().copied().find(|n| *n == full) else {
        sink.error(
            "scenario.unknown-step",
            span_of(key),
            format!("unknown step `{full}`"),
            Some(hint_for(full, Action::NAMES)),
        );
        return None;
    };
    let table = as_table(sink, name, v)?;
    let mut f = Fields::new(table, span_of(v), name.to_string());
    let before = sink.diagnostics.len();
    let action = match name {
        "gitlab.create_oauth_app" => {
            let app_name = f.opt_str(sink, "name").map(|s| s.0);
            let bind = f.req_str(sink, "as");
            let callbacks = f
                .opt_str_list(sink, "callbacks")
                .map(|l| l.into_iter().map(|c| c.0).collect());
            // GitLab's default OAuth scope: what Mattermost gets when it asks for none.
            let scopes = f
                .opt_str(sink, "scopes")
                .map(|s| s.0)
                .unwrap_or_else(|| "api".to_string());
            bind.map(|(bind, _)| Action::CreateOAuthApp {
                name: app_name.unwrap_or_else(|| "GitLab Mattermost".to_string()),
                bind,
                callbacks,
                scopes,
            })
        }
        "gitlab.revoke_oauth_app" => f
            .req_str(sink, "app")
            .map(|(app, _)| Action::RevokeOAuthApp { app }),
        "host.reconfigure" => f
            .req_str(sink, "host")
            .map(|(host, _)| Action::Reconfigure { host }),
        "sso.sign_up" | "sso.log_in" => {
            let user = f.req_str(sink, "user");
            let consent = match f.opt_str(sink, "consent") {
                None => Some(Consent::Approve),
                Some((c, span)) => match c.as_str() {
                    "approve" => Some(Consent::Approve),
                    "deny" => Some(Consent::Deny),
                    _ => {
                        sink.error(
                            "scenario.value",
                            span,
                            format!("unknown consent {c:?}"),
                            Some(hint_for(&c, ["approve", "deny"])),
                        );
                        None
                    }
                },
            };
            let accept_invalid_certificates = f
                .opt_bool(sink, "accept_invalid_certificates")
                .unwrap_or(false);
            let flavour = if name == "sso.sign_up" {
                SsoFlavour::SignUp
            } else {
                SsoFlavour::LogIn
            };
            match (user, consent) {
                (Some((user, _)), Some(consent)) => Some(Action::Sso {
                    flavour,
                    user,
                    consent,
                    accept_invalid_certificates,
                }),
                _ => None,
            }
        }
        "mattermost.create_team" => f
            .req_str(sink, "name")
            .map(|(name, _)| Action::CreateTeam { name }),
        "mattermost.create_channel" => {
            let team = f.req_str(sink, "team");
            let ch = f.req_str(sink, "name");
            match (team, ch) {
                (Some(t), Some(c)) => Some(Action::CreateChannel {
                    team: t.0,
                    name: c.0,
                }),
                _ => None,
            }
        }
        "mattermost.create_incoming_webhook" => {
            let team = f.req_str(sink, "team");
            let ch = f.req_str(sink, "channel");
            let bind = f.req_str(sink, "as");
            match (team, ch, bind) {
                (Some(t), Some(c), Some(b)) => Some(Action::CreateIncomingWebhook {
                    team: t.0,
                    channel: c.0,
                    bind: b.0,
                }),
                _ => None,
            }
        }
        "mattermost.ping" => Some(Action::Ping),
        "mattermost.sign_up_with_email" => f
            .req_str(sink, "username")
            .map(|(username, _)| Action::SignUpWithEmail { username }),
        "webhook.gitlab_push" => {
            let hook = f.req_str(sink, "hook");
            let project = f.req_str(sink, "project");
            let branch = f
                .opt_str(sink, "branch")
                .map(|b| b.0)
                .unwrap_or_else(|| "main".into());
            let commits = f.opt_uint(sink, "commits", 20).unwrap_or(1) as u32;
            let user = f
                .opt_str(sink, "user")
                .map(|b| b.0)
                .unwrap_or_else(|| "root".into());
            match (hook, project) {
                (Some(h), Some(p)) => {
                    if !p.0.contains('/') {
                        sink.error(
                            "scenario.value",
                            p.1,
                            format!("project {:?} must be a `group/project` path", p.0),
                            None,
                        );
                    }
                    Some(Action::WebhookGitlabPush {
                        hook: h.0,
                        push: PushSpec {
                            project: p.0,
                            branch,
                            commits,
                            user,
                        },
                    })
                }
                _ => None,
            }
        }
        "webhook.post" => {
            let hook = f.req_str(sink, "hook");
            let text = f.opt_str(sink, "text").map(|t| t.0).unwrap_or_default();
            let format = match f.opt_str(sink, "format") {
                None => Some(WebhookFormat::Json),
                Some((s, span)) => {
                    let parsed = WebhookFormat::parse(&s);
                    if parsed.is_none() {
                        sink.error(
                            "scenario.value",
                            span,
                            format!("unknown webhook format {s:?}"),
                            Some(hint_for(&s, WebhookFormat::NAMES)),
                        );
                    }
                    parsed
                }
            };
            let channel = f.opt_str(sink, "channel").map(|c| c.0);
            let username = f.opt_str(sink, "username").map(|c| c.0);
            match (hook, format) {
                (Some(h), Some(format)) => Some(Action::WebhookPost {
                    hook: h.0,
                    text,
                    format,
                    channel,
                    username,
                }),
                _ => None,
            }
        }
        "https.certificate" | "https.redirect" => {
            let service = f.req_str(sink, "service").and_then(|(s, span)| {
                let parsed = Service::parse(&s);
                if parsed.is_none() {
                    sink.error(
                        "scenario.value",
                        span,
                        format!("unknown service {s:?}"),
                        Some(hint_for(&s, Service::NAMES)),
                    );
                }
                parsed
            });
            service.map(|service| {
                if name == "https.certificate" {
                    Action::InspectCertificate { service }
                } else {
                    Action::HttpRedirect { service }
                }
            })
        }
        _ => None,
    };
    f.finish(sink);
    if sink.diagnostics.len() > before {
        return None;
    }
    action
}

/// Which expectations fit which action.
fn allowed_expectations(action: &Action) -> &'static [&'static str] {
    match action {
        Action::Sso { .. } => &[
            "mattermost_user",
            "sso_error",
            "gitlab_error",
            "access_denied",
        ],
        Action::WebhookGitlabPush { .. } | Action::WebhookPost { .. } => &["post", "webhook_error"],
        Action::InspectCertificate { .. } => &["certificate"],
        Action::HttpRedirect { .. } => &["redirect"],
        Action::CreateTeam { .. }
        | Action::CreateChannel { .. }
        | Action::CreateIncomingWebhook { .. }
        | Action::SignUpWithEmail { .. } => &["api_error"],
        _ => &[],
    }
}

fn parse_expect(
    sink: &mut Sink<'_>,
    action: &Action,
    v: &Spanned<DeValue<'_>>,
) -> Option<Expectation> {
    let table = as_table(sink, "expect", v)?;
    let allowed = allowed_expectations(action);
    if table.len() != 1 {
        sink.error(
            "scenario.expect",
            span_of(v),
            format!(
                "`expect` must name exactly one expectation, found {}",
                table.len()
            ),
            None,
        );
        return None;
    }
    let (k, ev) = table.iter().next()?;
    let kind: &str = k.get_ref();
    if !Expectation::NAMES.contains(&kind) {
        sink.error(
            "scenario.unknown-expectation",
            span_of(k),
            format!("unknown expectation `{kind}`"),
            Some(hint_for(kind, Expectation::NAMES)),
        );
        return None;
    }
    if !allowed.contains(&kind) {
        let hint = if allowed.is_empty() {
            format!("`{}` takes no expectation", action.name())
        } else {
            format!(
                "`{}` takes: {}",
                action.name(),
                allowed
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        sink.error(
            "scenario.expect",
            span_of(k),
            format!("expectation `{kind}` does not fit step `{}`", action.name()),
            Some(hint),
        );
        return None;
    }
    // `access_denied = true` is the one expectation without fields.
    if kind == "access_denied" {
        return match ev.get_ref().as_bool() {
            Some(true) => Some(Expectation::AccessDenied),
            _ => {
                sink.type_error("expect.access_denied", "true", ev);
                None
            }
        };
    }
    let et = as_table(sink, &format!("expect.{kind}"), ev)?;
    let path = format!("expect.{kind}");
    let mut f = Fields::new(et, span_of(ev), path);
    let before = sink.diagnostics.len();
    let exp = match kind {
        "mattermost_user" => Some(Expectation::MattermostUser {
            username: f.opt_str(sink, "username").map(|s| s.0),
            email: f.opt_str(sink, "email").map(|s| s.0),
            auth_service: f.opt_str(sink, "auth_service").map(|s| s.0),
        }),
        "sso_error" => {
            let id = f.req_str(sink, "id");
            let status = f.opt_uint(sink, "status", 599).map(|s| s as u16);
            match id {
                Some((id, span)) => match sso_errors::lookup(&id) {
                    None => {
                        sink.error(
                            "scenario.sso-error",
                            span,
                            format!("unknown Mattermost SSO error id {id:?}"),
                            Some(hint_for(&id, sso_errors::ids().collect::<Vec<_>>())),
                        );
                        None
                    }
                    Some(spec) => {
                        let status = status.unwrap_or(spec.status);
                        if status != spec.status {
                            sink.error(
                                "scenario.sso-error",
                                span,
                                format!(
                                    "Mattermost answers `{id}` with status {}, not {status}",
                                    spec.status
                                ),
                                Some(format!("write `status = {}`", spec.status)),
                            );
                        }
                        Some(Expectation::SsoError { id, status })
                    }
                },
                None => None,
            }
        }
        "gitlab_error" => {
            f.req_str(sink, "description_contains")
                .map(|(d, _)| Expectation::GitlabError {
                    description_contains: d,
                })
        }
        "post" => Some(Expectation::Post {
            text_contains: f.opt_str(sink, "text_contains").map(|s| s.0),
            attachments: f.opt_uint(sink, "attachments", 100).map(|n| n as usize),
            username: f.opt_str(sink, "username").map(|s| s.0),
            from_webhook: f.opt_bool(sink, "from_webhook"),
            post_type: f.opt_str(sink, "type").map(|s| s.0),
        }),
        "webhook_error" | "api_error" => {
            let status = f.opt_uint(sink, "status", 599).map(|s| s as u16);
            let id = f.opt_str(sink, "id").map(|s| s.0);
            match status {
                Some(status) if kind == "api_error" => Some(Expectation::ApiError { status, id }),
                Some(status) => Some(Expectation::WebhookError { status, id }),
                None => {
                    sink.error(
                        "scenario.missing-key",
                        f.span(),
                        format!("missing key `expect.{kind}.status`"),
                        None,
                    );
                    None
                }
            }
        }
        "certificate" => Some(Expectation::Certificate {
            subject_cn: f.opt_str(sink, "subject_cn").map(|s| s.0),
            san: f.opt_str(sink, "san").map(|s| s.0),
            issuer_cn: f.opt_str(sink, "issuer_cn").map(|s| s.0),
            trusted: f.opt_bool(sink, "trusted"),
        }),
        "redirect" => {
            let status = f.opt_uint(sink, "status", 399).map(|s| s as u16);
            let location = f.req_str(sink, "location");
            location.map(|(location, _)| Expectation::Redirect {
                status: status.unwrap_or(301),
                location,
            })
        }
        _ => None,
    };
    f.finish(sink);
    if sink.diagnostics.len() > before {
        return None;
    }
    exp
}

/// Cross-references: bindings used after they are made and of the right kind, hosts that exist,
/// placeholders that name a binding some step creates.
fn validate_references(sink: &mut Sink<'_>, hosts: &[HostPlan], steps: &[Step]) {
    let host_names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    let mut all_bindings: BTreeMap<String, BindingKind> = BTreeMap::new();
    for s in steps {
        match &s.action {
            Action::CreateOAuthApp { bind, .. } => {
                all_bindings.insert(bind.clone(), BindingKind::App);
            }
            Action::CreateIncomingWebhook { bind, .. } => {
                all_bindings.insert(bind.clone(), BindingKind::Hook);
            }
            _ => {}
        }
    }
    let mut made: BTreeSet<String> = BTreeSet::new();
    let step_span = |s: &Step| -> Span {
        // Re-find the step's span from its location's line for diagnostics.
        let line_start: usize = sink_line_offset(sink.file, s.location.line);
        let col = s.location.column.saturating_sub(1);
        Span::new(line_start + col, line_start + s.location.source_line.len())
    };
    for s in steps {
        let span = step_span(s);
        let need = |name: &str, kind: BindingKind, what: &str, sink: &mut Sink<'_>| {
            if all_bindings.get(name) == Some(&kind) && !made.contains(name) {
                sink.error(
                    "scenario.binding",
                    span,
                    format!("{what} `{name}` is used before the step that creates it"),
                    Some("move this step after the one with `as = \"".to_string() + name + "\"`"),
                );
                return;
            }
            if !made.contains(name) || all_bindings.get(name) != Some(&kind) {
                let candidates: Vec<&str> = all_bindings
                    .iter()
                    .filter(|(_, k)| **k == kind)
                    .map(|(n, _)| n.as_str())
                    .collect();
                let hint = match did_you_mean(name, candidates.iter().copied()) {
                    Some(c) => Some(format!("did you mean `{c}`?")),
                    None => Some(format!(
                        "an earlier step must create it with `as = \"{name}\"`"
                    )),
                };
                sink.error(
                    "scenario.binding",
                    span,
                    format!("{what} `{name}` is not created by an earlier step"),
                    hint,
                );
            }
        };
        match &s.action {
            Action::RevokeOAuthApp { app } => need(app, BindingKind::App, "application", sink),
            Action::WebhookGitlabPush { hook, .. } | Action::WebhookPost { hook, .. } => {
                need(hook, BindingKind::Hook, "incoming webhook", sink)
            }
            Action::Reconfigure { host } if !host_names.contains(&host.as_str()) => {
                sink.error(
                    "scenario.host",
                    span,
                    format!("no host named `{host}` in `[hosts]`"),
                    Some(hint_for_dyn(host, &host_names)),
                );
            }
            _ => {}
        }
        match &s.action {
            Action::CreateOAuthApp { bind, .. } | Action::CreateIncomingWebhook { bind, .. } => {
                made.insert(bind.clone());
            }
            _ => {}
        }
    }
    for h in hosts {
        for (expr, span) in &h.gitlab_rb.malformed {
            sink.error(
                "scenario.placeholder",
                *span,
                format!("malformed placeholder `{{{{ {expr} }}}}`"),
                Some("write `{{ BINDING.FIELD }}`, e.g. `{{ app.id }}`".into()),
            );
        }
        for p in &h.gitlab_rb.placeholders {
            match all_bindings.get(&p.binding) {
                Some(BindingKind::App) => {
                    if !APP_FIELDS.contains(&p.field.as_str()) {
                        sink.error(
                            "scenario.placeholder",
                            p.span,
                            format!("unknown field `{}` of application `{}`", p.field, p.binding),
                            Some(hint_for(&p.field, APP_FIELDS)),
                        );
                    }
                }
                Some(BindingKind::Hook) => sink.error(
                    "scenario.placeholder",
                    p.span,
                    format!(
                        "`{}` is an incoming webhook; gitlab.rb placeholders name applications",
                        p.binding
                    ),
                    None,
                ),
                None => {
                    let apps: Vec<&str> = all_bindings
                        .iter()
                        .filter(|(_, k)| **k == BindingKind::App)
                        .map(|(n, _)| n.as_str())
                        .collect();
                    let hint = match did_you_mean(&p.binding, apps.iter().copied()) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!(
                            "a `gitlab.create_oauth_app` step with `as = \"{}\"` creates it",
                            p.binding
                        ),
                    };
                    sink.error(
                        "scenario.placeholder",
                        p.span,
                        format!("placeholder `{{{{ {} }}}}` names no binding", p.expr),
                        Some(hint),
                    );
                }
            }
        }
    }
}

fn hint_for_dyn(input: &str, names: &[&str]) -> String {
    match did_you_mean(input, names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "hosts are: {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
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

fn sink_line_offset(file: &SourceFile, line: usize) -> usize {
    let mut offset = 0;
    for (i, l) in file.text().split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset;
        }
        offset += l.len();
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

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
