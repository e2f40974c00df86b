//! One `[[steps]]` table → a [`Step`]: its one action, named by a [`StepKind`] and read by one
//! small function per kind, and its optional `expect`, named by an [`ExpectKind`] (which must be
//! one the step kind allows) and read by one small function per kind. Both dispatches are
//! exhaustive `match`es on the kind: a kind without its reader does not compile.

use std::borrow::Cow;

use toml::Spanned;
use toml::de::DeValue;

use crate::check::{ExpectKind, Expectation};
use crate::diag::Span;
use crate::vocab::{Consent, PushSpec, Service, SsoFlavour, WebhookFormat, sso};

use super::fields::{Fields, Sink, as_table, choice_hint, quoted, span_of};
use super::kinds::StepKind;
use super::model::{Action, Step};

/// Read step `number` (1-based). `None` when it has errors (recorded in `sink`). The span is the
/// action's name, for later errors about the step.
pub(crate) fn parse_step(
    sink: &mut Sink<'_>,
    number: usize,
    v: &Spanned<DeValue<'_>>,
    era: sso::SsoEra,
) -> Option<(Step, Span)> {
    let key = format!("steps[{number}]");
    let table = as_table(sink, &key, v)?;
    let groups = StepKind::groups();
    let mut action: Option<(Action, Span)> = None;
    let mut expect_raw = None;
    let mut ok = true;
    for (k, val) in table.iter() {
        let group: &str = k.get_ref();
        if group == "expect" {
            expect_raw = Some(val);
            continue;
        }
        if !groups.contains(&group) {
            // Compare the whole dotted name when the group holds an action (`gitlb.create_oauth_app`).
            let written = val
                .get_ref()
                .as_table()
                .and_then(|t| t.iter().next())
                .map(|(a, _)| format!("{group}.{}", a.get_ref()))
                .unwrap_or_else(|| group.to_string());
            let names = StepKind::NAMES.iter().copied().chain(["expect"]);
            sink.error(
                "scenario.unknown-step",
                span_of(k),
                format!("unknown step `{}` in {key}", quoted(&written)),
                choice_hint(&written, names),
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
                    format!("{key} has more than one action (`{}`)", quoted(&full)),
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
                    StepKind::NAMES
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
        return None;
    };
    let expect = expect_raw.and_then(|e| parse_expect(sink, action.kind(), e, era));
    if !ok {
        return None;
    }
    let step = Step {
        number,
        action,
        expect,
        location: sink.file.locate(span),
    };
    // For errors about the whole step: from the action's name to the end of its line.
    let text = sink.file.text();
    let line_end = text[span.start..]
        .find('\n')
        .map_or(text.len(), |i| span.start + i);
    let line_end = if text[..line_end].ends_with('\r') {
        line_end - 1
    } else {
        line_end
    };
    Some((step, Span::new(span.start, line_end)))
}

/// The action `full` (`group.action`) with its arguments `v`.
fn parse_action(
    sink: &mut Sink<'_>,
    full: &str,
    key: &Spanned<Cow<'_, str>>,
    v: &Spanned<DeValue<'_>>,
) -> Option<Action> {
    let Some(kind) = StepKind::parse(full) else {
        sink.error(
            "scenario.unknown-step",
            span_of(key),
            format!("unknown step `{}`", quoted(full)),
            choice_hint(full, StepKind::NAMES.iter().copied()),
        );
        return None;
    };
    let table = as_table(sink, kind.name(), v)?;
    let mut f = Fields::new(table, span_of(v), kind.name());
    let before = sink.found();
    let action = match kind {
        StepKind::CreateOAuthApp => create_oauth_app(sink, &mut f),
        StepKind::RevokeOAuthApp => revoke_oauth_app(sink, &mut f),
        StepKind::Reconfigure => reconfigure(sink, &mut f),
        StepKind::SsoSignUp => sso_round_trip(sink, &mut f, SsoFlavour::SignUp),
        StepKind::SsoLogIn => sso_round_trip(sink, &mut f, SsoFlavour::LogIn),
        StepKind::Ping => Some(Action::Ping),
        StepKind::CreateTeam => create_team(sink, &mut f),
        StepKind::CreateChannel => create_channel(sink, &mut f),
        StepKind::CreateIncomingWebhook => create_incoming_webhook(sink, &mut f),
        StepKind::SignUpWithEmail => sign_up_with_email(sink, &mut f),
        StepKind::WebhookGitlabPush => webhook_gitlab_push(sink, &mut f),
        StepKind::WebhookPost => webhook_post(sink, &mut f),
        StepKind::InspectCertificate => {
            service(sink, &mut f).map(|service| Action::InspectCertificate { service })
        }
        StepKind::HttpRedirect => {
            service(sink, &mut f).map(|service| Action::HttpRedirect { service })
        }
        StepKind::GitlabUpgrade => super::parse_upgrade::gitlab_upgrade(sink, &mut f),
        StepKind::RunSql => super::parse_upgrade::run_sql(sink, &mut f),
        StepKind::SaveTheme => super::parse_upgrade::save_theme(sink, &mut f),
        StepKind::GetTheme => f
            .req_str(sink, "user")
            .map(|(user, _)| Action::GetTheme { user }),
        StepKind::CountData => Some(Action::CountData),
        StepKind::ReadPosts => f
            .req_str(sink, "hook")
            .map(|(hook, _)| Action::ReadPosts { hook }),
        StepKind::LogInWithEmail => f
            .req_str(sink, "username")
            .map(|(username, _)| Action::LogInWithEmail { username }),
        StepKind::MailSendTestEmail => Some(Action::MailSendTestEmail),
        StepKind::MailVerifySignUp => f
            .req_str(sink, "username")
            .map(|(username, _)| Action::MailVerifySignUp { username }),
        StepKind::MailMention => mail_mention(sink, &mut f),
        StepKind::MailWait => mail_wait(sink, &mut f),
        StepKind::MattermostExport => super::parse_upgrade::mattermost_export(sink, &mut f),
        StepKind::MoveOut => super::parse_upgrade::move_out(sink, &mut f),
        StepKind::CheckConfig => super::parse_upgrade::check_config(sink, &mut f),
    };
    f.finish(sink);
    if sink.found() > before {
        return None;
    }
    action
}

/// A value that must be one of a [`crate::vocab`] enum's names.
fn named<T>(
    sink: &mut Sink<'_>,
    what: &str,
    (value, span): (String, Span),
    parse: fn(&str) -> Option<T>,
    names: &'static [&'static str],
) -> Option<T> {
    let parsed = parse(&value);
    if parsed.is_none() {
        sink.error(
            "scenario.value",
            span,
            format!("unknown {what} {:?}", quoted(&value)),
            choice_hint(&value, names.iter().copied()),
        );
    }
    parsed
}

fn create_oauth_app(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
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

fn revoke_oauth_app(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    f.req_str(sink, "app")
        .map(|(app, _)| Action::RevokeOAuthApp { app })
}

fn reconfigure(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    f.req_str(sink, "host")
        .map(|(host, _)| Action::Reconfigure { host })
}

fn sso_round_trip(
    sink: &mut Sink<'_>,
    f: &mut Fields<'_, '_>,
    flavour: SsoFlavour,
) -> Option<Action> {
    let user = f.req_str(sink, "user");
    let consent = match f.opt_str(sink, "consent") {
        None => Some(Consent::Approve),
        Some(c) => named(sink, "consent", c, Consent::parse, Consent::NAMES),
    };
    let accept_invalid_certificates = f
        .opt_bool(sink, "accept_invalid_certificates")
        .unwrap_or(false);
    Some(Action::Sso {
        flavour,
        user: user?.0,
        consent: consent?,
        accept_invalid_certificates,
    })
}

fn create_team(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    f.req_str(sink, "name")
        .map(|(name, _)| Action::CreateTeam { name })
}

fn create_channel(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    let team = f.req_str(sink, "team");
    let name = f.req_str(sink, "name");
    Some(Action::CreateChannel {
        team: team?.0,
        name: name?.0,
    })
}

fn create_incoming_webhook(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    let team = f.req_str(sink, "team");
    let channel = f.req_str(sink, "channel");
    let bind = f.req_str(sink, "as");
    Some(Action::CreateIncomingWebhook {
        team: team?.0,
        channel: channel?.0,
        bind: bind?.0,
    })
}

fn sign_up_with_email(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    f.req_str(sink, "username")
        .map(|(username, _)| Action::SignUpWithEmail { username })
}

fn webhook_gitlab_push(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
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
    let (hook, (project, project_span)) = (hook?, project?);
    if !project.contains('/') {
        sink.error(
            "scenario.value",
            project_span,
            format!(
                "project {:?} must be a `group/project` path",
                quoted(&project)
            ),
            None,
        );
    }
    Some(Action::WebhookGitlabPush {
        hook: hook.0,
        push: PushSpec {
            project,
            branch,
            commits,
            user,
        },
    })
}

fn webhook_post(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    let hook = f.req_str(sink, "hook");
    let text = f.opt_str(sink, "text").map(|t| t.0).unwrap_or_default();
    let format = match f.opt_str(sink, "format") {
        None => Some(WebhookFormat::Json),
        Some(s) => named(
            sink,
            "webhook format",
            s,
            WebhookFormat::parse,
            WebhookFormat::NAMES,
        ),
    };
    let channel = f.opt_str(sink, "channel").map(|c| c.0);
    let username = f.opt_str(sink, "username").map(|c| c.0);
    Some(Action::WebhookPost {
        hook: hook?.0,
        text,
        format: format?,
        channel,
        username,
    })
}

fn mail_mention(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    let hook = f.req_str(sink, "hook");
    let user = f.req_str(sink, "user");
    let text = f.opt_str(sink, "text").map(|t| t.0);
    Some(Action::MailMention {
        hook: hook?.0,
        user: user?.0,
        text,
    })
}

fn mail_wait(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    let to = f.req_str(sink, "to");
    let subject_contains = f.opt_str(sink, "subject_contains").map(|s| s.0);
    let timeout_ms = f.opt_uint(sink, "timeout_ms", 60_000).unwrap_or(5_000);
    Some(Action::MailWait {
        to: to?.0,
        subject_contains,
        timeout_ms,
    })
}

/// The `service` argument of the `https.*` steps.
fn service(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Service> {
    let s = f.req_str(sink, "service")?;
    named(sink, "service", s, Service::parse, Service::NAMES)
}

/// The step's `expect` table: one expectation the step kind allows.
fn parse_expect(
    sink: &mut Sink<'_>,
    step: StepKind,
    v: &Spanned<DeValue<'_>>,
    era: sso::SsoEra,
) -> Option<Expectation> {
    let table = as_table(sink, "expect", v)?;
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
    let written: &str = k.get_ref();
    let Some(kind) = ExpectKind::parse(written) else {
        sink.error(
            "scenario.unknown-expectation",
            span_of(k),
            format!("unknown expectation `{}`", quoted(written)),
            choice_hint(written, ExpectKind::NAMES.iter().copied()),
        );
        return None;
    };
    let allowed = step.expectations();
    if !allowed.contains(&kind) {
        let hint = if allowed.is_empty() {
            format!("`{step}` takes no expectation")
        } else {
            format!(
                "`{step}` takes: {}",
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
            format!("expectation `{kind}` does not fit step `{step}`"),
            Some(hint),
        );
        return None;
    }
    // `access_denied = true` and `no_mail = true` are the expectations without fields.
    if matches!(kind, ExpectKind::AccessDenied | ExpectKind::NoMail) {
        return match ev.get_ref().as_bool() {
            Some(true) => Some(if kind == ExpectKind::NoMail {
                Expectation::NoMail
            } else {
                Expectation::AccessDenied
            }),
            Some(false) | None => {
                sink.type_error(&format!("expect.{kind}"), "true", ev);
                None
            }
        };
    }
    // `theme = "..."` or `theme = false`: a value, not a table.
    if kind == ExpectKind::Theme {
        return super::parse_upgrade::expect_theme(sink, ev);
    }
    let path = format!("expect.{kind}");
    let et = as_table(sink, &path, ev)?;
    let mut f = Fields::new(et, span_of(ev), path);
    let before = sink.found();
    let exp = match kind {
        ExpectKind::MattermostUser => Some(expect_mattermost_user(sink, &mut f)),
        ExpectKind::SsoError => expect_sso_error(sink, &mut f, era),
        ExpectKind::GitlabError => expect_gitlab_error(sink, &mut f),
        ExpectKind::AccessDenied => Some(Expectation::AccessDenied),
        ExpectKind::Post => Some(expect_post(sink, &mut f)),
        ExpectKind::WebhookError => {
            status_and_id(sink, &mut f).map(|(status, id)| Expectation::WebhookError { status, id })
        }
        ExpectKind::ApiError => {
            status_and_id(sink, &mut f).map(|(status, id)| Expectation::ApiError { status, id })
        }
        ExpectKind::Certificate => Some(expect_certificate(sink, &mut f)),
        ExpectKind::Redirect => expect_redirect(sink, &mut f),
        ExpectKind::Theme => None,
        ExpectKind::Data => Some(super::parse_upgrade::expect_data(sink, &mut f)),
        ExpectKind::Mail => expect_mail(sink, &mut f),
        ExpectKind::MailError => Some(Expectation::MailError {
            status: f.opt_uint(sink, "status", 599).map(|s| s as u16),
            id: f.opt_str(sink, "id").map(|s| s.0),
            message_contains: f.opt_str(sink, "message_contains").map(|s| s.0),
            session_end_contains: f.opt_str(sink, "session_end_contains").map(|s| s.0),
        }),
        ExpectKind::NoMail => Some(Expectation::NoMail),
    };
    f.finish(sink);
    if sink.found() > before {
        return None;
    }
    exp
}

fn expect_mattermost_user(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Expectation {
    Expectation::MattermostUser {
        username: f.opt_str(sink, "username").map(|s| s.0),
        email: f.opt_str(sink, "email").map(|s| s.0),
        auth_service: f.opt_str(sink, "auth_service").map(|s| s.0),
        same_user: f.opt_bool(sink, "same_user"),
    }
}

/// A documented Mattermost SSO error id, and its status (which must be the one the scenario's
/// Mattermost uses: `era`, from `gitlab_version`).
fn expect_sso_error(
    sink: &mut Sink<'_>,
    f: &mut Fields<'_, '_>,
    era: sso::SsoEra,
) -> Option<Expectation> {
    let id = f.req_str(sink, "id");
    let status = f.opt_uint(sink, "status", 599).map(|s| s as u16);
    let (id, span) = id?;
    let Some(spec) = sso::lookup(&id) else {
        sink.error(
            "scenario.sso-error",
            span,
            format!("unknown Mattermost SSO error id {:?}", quoted(&id)),
            choice_hint(&id, sso::ids()),
        );
        return None;
    };
    let Some(text) = spec.on(era) else {
        sink.error(
            "scenario.sso-error",
            span,
            format!("{} never answers `{id}` on the SSO path", era.label()),
            Some("check the scenario's `gitlab_version` (8.x-10.x play Mattermost 3.4)".into()),
        );
        return None;
    };
    let status = status.unwrap_or(text.status);
    if status != text.status {
        sink.error(
            "scenario.sso-error",
            span,
            format!(
                "{} answers `{id}` with status {}, not {status}",
                era.label(),
                text.status
            ),
            Some(format!("write `status = {}`", text.status)),
        );
    }
    Some(Expectation::SsoError { id, status })
}

fn expect_gitlab_error(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Expectation> {
    f.req_str(sink, "description_contains")
        .map(|(d, _)| Expectation::GitlabError {
            description_contains: d,
        })
}

fn expect_post(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Expectation {
    Expectation::Post {
        text_contains: f.opt_str(sink, "text_contains").map(|s| s.0),
        attachments: f.opt_uint(sink, "attachments", 100).map(|n| n as usize),
        username: f.opt_str(sink, "username").map(|s| s.0),
        from_webhook: f.opt_bool(sink, "from_webhook"),
        post_type: f.opt_str(sink, "type").map(|s| s.0),
    }
}

/// `status` (required) and `id` of `webhook_error` and `api_error`.
fn status_and_id(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<(u16, Option<String>)> {
    let status = f.req_uint(sink, "status", 599).map(|s| s as u16);
    let id = f.opt_str(sink, "id").map(|s| s.0);
    Some((status?, id))
}

fn expect_certificate(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Expectation {
    Expectation::Certificate {
        subject_cn: f.opt_str(sink, "subject_cn").map(|s| s.0),
        san: f.opt_str(sink, "san").map(|s| s.0),
        issuer_cn: f.opt_str(sink, "issuer_cn").map(|s| s.0),
        trusted: f.opt_bool(sink, "trusted"),
    }
}

fn expect_redirect(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Expectation> {
    let status = f.opt_uint(sink, "status", 399).map(|s| s as u16);
    let location = f.req_str(sink, "location");
    location.map(|(location, _)| Expectation::Redirect {
        status: status.unwrap_or(301),
        location,
    })
}

/// A value that must be one of `names`, exactly.
fn one_of(
    sink: &mut Sink<'_>,
    what: &str,
    value: Option<(String, Span)>,
    names: &'static [&'static str],
) -> Option<String> {
    let (v, span) = value?;
    if names.contains(&v.as_str()) {
        return Some(v);
    }
    sink.error(
        "scenario.value",
        span,
        format!("unknown {what} {:?}", quoted(&v)),
        choice_hint(&v, names.iter().copied()),
    );
    None
}

fn expect_mail(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Expectation> {
    use crate::check::mail::{AUTH_NAMES, MailWanted, TLS_NAMES};
    let tls = f.opt_str(sink, "tls");
    let tls = one_of(sink, "TLS mode", tls, TLS_NAMES);
    let auth = f.opt_str(sink, "auth");
    let auth = one_of(sink, "AUTH mechanism", auth, AUTH_NAMES);
    Some(Expectation::Mail(MailWanted {
        to: f.opt_str(sink, "to").map(|s| s.0),
        from: f.opt_str(sink, "from").map(|s| s.0),
        subject: f.opt_str(sink, "subject").map(|s| s.0),
        subject_contains: f.opt_str(sink, "subject_contains").map(|s| s.0),
        body_contains: f.opt_str(sink, "body_contains").map(|s| s.0),
        link_prefix: f.opt_str(sink, "link_prefix").map(|s| s.0),
        tls,
        auth,
        downgraded: f.opt_bool(sink, "downgraded"),
        credentials_in_clear: f.opt_bool(sink, "credentials_in_clear"),
    }))
}
