//! Carrying out one step on a running stack with the drivers, keeping what the run creates
//! (applications, hooks, bindings) between steps. The dispatch is one exhaustive `match` on the
//! action calling one small function per kind.

use std::collections::BTreeMap;

use url::Url;

use crate::check::StepOutput;
use crate::config::Secret;
use crate::drive::gitlab_admin::{self, CreatedApp, GitlabAdmin};
use crate::drive::mattermost_admin::{self, MattermostApi};
use crate::drive::sso::{self, Person, SsoTarget};
use crate::drive::{Browser, DriveError, Reach, Transcript, tls_probe, webhook};
use crate::scenario::{Action, Bindings, Scenario};
use crate::stack::resolve::resolve_host;
use crate::stack::{Stack, StackInfo};
use crate::vocab::{Consent, PushSpec, Service, SsoFlavour, WebhookFormat};

// The upgrade steps (a child module: it shares this file's private helpers).
#[path = "steps_mail.rs"]
mod steps_mail;
#[path = "steps_moveout.rs"]
mod steps_moveout;
#[path = "steps_upgrade.rs"]
mod upgrade;

/// An incoming webhook the run created.
#[derive(Debug, Clone)]
struct HookRecord {
    id: Secret,
    team_id: String,
    channel_id: String,
}

/// Everything a scenario run carries from step to step.
pub struct RunState {
    pub reach: Reach,
    pub bindings: Bindings,
    apps: BTreeMap<String, CreatedApp>,
    hooks: BTreeMap<String, HookRecord>,
    admin_browser: Option<Browser>,
    mm_api: Option<(Browser, MattermostApi)>,
    /// Warnings from re-resolving hosts.
    pub config_warnings: Vec<String>,
    /// What the mail steps remember (messages already shown).
    mail: steps_mail::MailState,
    /// The exports and rewritten gitlab.rb texts of the move out of omnibus.
    moveout: steps_moveout::MoveOutState,
    /// The Mattermost user id each GitLab account first signed in as (`same_user`).
    first_ids: BTreeMap<String, String>,
}

impl RunState {
    pub fn new(reach: Reach) -> Self {
        RunState {
            reach,
            bindings: Bindings::default(),
            apps: BTreeMap::new(),
            hooks: BTreeMap::new(),
            admin_browser: None,
            mm_api: None,
            config_warnings: Vec::new(),
            mail: steps_mail::MailState::default(),
            moveout: steps_moveout::MoveOutState::default(),
            first_ids: BTreeMap::new(),
        }
    }

    /// The GitLab administrator's browser, opened on first use and kept, so the admin area's
    /// sign-in (GitLab 8.x) happens once per run.
    fn admin_browser(&mut self) -> Result<&Browser, DriveError> {
        if self.admin_browser.is_none() {
            self.admin_browser = Some(browser(&self.reach)?);
        }
        self.admin_browser
            .as_ref()
            .ok_or_else(|| fail("no administrator session"))
    }
}

fn need<'a, T>(v: &'a Option<T>, what: &str) -> Result<&'a T, DriveError> {
    v.as_ref()
        .ok_or_else(|| DriveError::unavailable(format!("the stack offers no {what}")))
}

fn browser(reach: &Reach) -> Result<Browser, DriveError> {
    Browser::new(reach)
}

fn fail(message: impl Into<String>) -> DriveError {
    DriveError::unavailable(message)
}

/// The Mattermost callbacks for `SiteURL` (what omnibus and the seed register).
pub fn mattermost_callbacks(mm: &Url) -> Vec<String> {
    let base = mm.as_str().trim_end_matches('/');
    vec![
        format!("{base}/signup/gitlab/complete"),
        format!("{base}/login/gitlab/complete"),
    ]
}

async fn mattermost_api<'a>(
    state: &'a mut RunState,
    info: &StackInfo,
    tr: &mut Transcript,
) -> Result<&'a (Browser, MattermostApi), DriveError> {
    if state.mm_api.is_none() {
        let url = need(&info.mattermost_url, "Mattermost")?;
        let admin = need(&info.mattermost_admin, "Mattermost administrator")?;
        let b = Browser::api_client(&state.reach)?;
        let v3 = info.mattermost_version.major < 4;
        let api =
            MattermostApi::login_version(&b, url, &admin.login, &admin.password, v3, tr).await?;
        state.mm_api = Some((b, api));
    }
    state
        .mm_api
        .as_ref()
        .ok_or_else(|| fail("no Mattermost session"))
}

fn gitlab_admin(info: &StackInfo) -> Result<GitlabAdmin, DriveError> {
    let root = need(&info.gitlab_root, "GitLab administrator")?;
    Ok(GitlabAdmin {
        gitlab_url: need(&info.gitlab_url, "GitLab")?.clone(),
        gitlab_version: info.gitlab_version,
        token: info.gitlab_admin_token.clone(),
        root: Person {
            login: root.login.clone(),
            password: root.password.clone(),
        },
    })
}

fn service_url(info: &StackInfo, service: Service) -> Result<Url, DriveError> {
    match service {
        Service::Gitlab => need(&info.gitlab_url, "GitLab").cloned(),
        Service::Mattermost => need(&info.mattermost_url, "Mattermost").cloned(),
    }
}

/// Carry out one action. `Err` is a step failure explained in one lower-case line, its kind kept
/// for the report; an API refusal on a Mattermost administration step is an outcome
/// ([`StepOutput::Refused`]) a scenario may expect.
pub async fn execute(
    action: &Action,
    scenario: &Scenario,
    stack: &mut Stack,
    state: &mut RunState,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let api_step = matches!(
        action,
        Action::CreateTeam { .. }
            | Action::CreateChannel { .. }
            | Action::CreateIncomingWebhook { .. }
            | Action::SignUpWithEmail { .. }
            | Action::LogInWithEmail { .. }
            | Action::MailVerifySignUp { .. }
    );
    match execute_inner(action, scenario, stack, state, tr).await {
        Err(e) if api_step => match e.refusal {
            Some((status, id)) => Ok(StepOutput::Refused { status, id }),
            None => Err(e),
        },
        Err(e) => Err(e),
        Ok(o) => Ok(o),
    }
}

/// One function per kind of action; `info` is read once per step.
async fn execute_inner(
    action: &Action,
    scenario: &Scenario,
    stack: &mut Stack,
    state: &mut RunState,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let info = stack.info().clone();
    match action {
        Action::CreateOAuthApp {
            name,
            bind,
            callbacks,
            scopes,
        } => create_oauth_app(&info, state, name, bind, callbacks.as_deref(), scopes, tr).await,
        Action::RevokeOAuthApp { app } => revoke_oauth_app(&info, state, app, tr).await,
        Action::Reconfigure { host } => reconfigure(scenario, stack, state, host, tr).await,
        Action::Sso {
            flavour,
            user,
            consent,
            accept_invalid_certificates,
        } => {
            let how = SsoStep {
                flavour: *flavour,
                consent: *consent,
                accept_invalid_certificates: *accept_invalid_certificates,
            };
            sso_round_trip(&info, state, user, how, tr).await
        }
        Action::CreateTeam { name } => create_team(&info, state, name, tr).await,
        Action::CreateChannel { team, name } => create_channel(&info, state, team, name, tr).await,
        Action::CreateIncomingWebhook {
            team,
            channel,
            bind,
        } => create_incoming_webhook(&info, state, team, channel, bind, tr).await,
        Action::SignUpWithEmail { username } => {
            sign_up_with_email(&info, state, username, tr).await
        }
        Action::Ping => ping(&info, state, tr).await,
        Action::WebhookGitlabPush { hook, push } => {
            webhook_gitlab_push(&info, state, hook, push, tr).await
        }
        Action::WebhookPost {
            hook,
            text,
            format,
            channel,
            username,
        } => {
            let post = PlainPost {
                text,
                format: *format,
                channel: channel.as_deref(),
                username: username.as_deref(),
            };
            webhook_post(&info, state, hook, post, tr).await
        }
        Action::InspectCertificate { service } => {
            inspect_certificate(&info, state, *service, tr).await
        }
        Action::HttpRedirect { service } => http_redirect(&info, state, *service, tr).await,
        Action::GitlabUpgrade { to } => upgrade::gitlab_upgrade(stack, *to, tr).await,
        Action::RunSql { statement } => upgrade::run_sql(stack, statement, tr).await,
        Action::SaveTheme { user, theme } => {
            upgrade::save_theme(&info, state, user, theme, tr).await
        }
        Action::GetTheme { user } => upgrade::get_theme(&info, state, user, tr).await,
        Action::CountData => upgrade::count_data(&info, state, tr).await,
        Action::LogInWithEmail { username } => {
            steps_mail::log_in_with_email(&info, state, username, tr).await
        }
        Action::MailSendTestEmail => steps_mail::send_test_email(&info, stack, state, tr).await,
        Action::MattermostExport { host, bind } => {
            steps_moveout::export(scenario, stack, state, host, bind, tr).await
        }
        Action::MoveOut { export, to } => {
            steps_moveout::move_out(scenario, stack, state, export, to, tr).await
        }
        Action::CheckConfig {
            host,
            gitlab_version,
        } => steps_moveout::check_config(scenario, state, host, *gitlab_version, tr).await,
        Action::ReadPosts { hook } => steps_moveout::read_posts(&info, state, hook, tr).await,
        Action::MailVerifySignUp { username } => {
            steps_mail::sign_up_and_verify(&info, stack, state, username, tr).await
        }
        Action::MailMention { hook, user, text } => {
            steps_mail::mention(&info, stack, state, hook, user, text.as_deref(), tr).await
        }
        Action::MailWait {
            to,
            subject_contains,
            timeout_ms,
        } => {
            steps_mail::wait(
                stack,
                state,
                to,
                subject_contains.as_deref(),
                *timeout_ms,
                tr,
            )
            .await
        }
    }
}

async fn create_oauth_app(
    info: &StackInfo,
    state: &mut RunState,
    name: &str,
    bind: &str,
    callbacks: Option<&[String]>,
    scopes: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let admin = gitlab_admin(info)?;
    let callbacks = match callbacks {
        Some(c) => c.to_vec(),
        None => mattermost_callbacks(need(&info.mattermost_url, "Mattermost")?),
    };
    let b = state.admin_browser()?;
    let app = gitlab_admin::create_app(b, &admin, name, &callbacks, scopes, tr).await?;
    state
        .bindings
        .set(bind, "id", Secret::new(app.client_id.clone()));
    state.bindings.set(bind, "secret", app.secret.clone());
    state.apps.insert(bind.to_string(), app);
    Ok(StepOutput::Done)
}

async fn revoke_oauth_app(
    info: &StackInfo,
    state: &mut RunState,
    app: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let admin = gitlab_admin(info)?;
    let created = state
        .apps
        .get(app)
        .cloned()
        .ok_or_else(|| fail(format!("application `{app}` was not created in this run")))?;
    let b = state.admin_browser()?;
    gitlab_admin::revoke_app(b, &admin, &created, tr).await?;
    state.apps.remove(app);
    Ok(StepOutput::Done)
}

async fn reconfigure(
    scenario: &Scenario,
    stack: &mut Stack,
    state: &mut RunState,
    host: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let plan = scenario
        .host(host)
        .ok_or_else(|| fail(format!("no host `{host}`")))?;
    let (resolved, warnings) =
        resolve_host(scenario, plan, &state.bindings, scenario.gitlab_version).map_err(
            |diags| {
                fail(
                    diags
                        .iter()
                        .map(|d| d.render())
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            },
        )?;
    state
        .config_warnings
        .extend(crate::stack::resolve::warning_lines(host, &warnings));
    stack
        .reconfigure(&resolved)
        .await
        .map_err(|e| match e.kind {
            // The environment broke (kept apart from a refused configuration for the exit code).
            crate::stack::StackErrorKind::Environment
            | crate::stack::StackErrorKind::NotAvailable => {
                DriveError::new(crate::drive::DriveErrorKind::Setup, e.message)
            }
            crate::stack::StackErrorKind::Configuration | crate::stack::StackErrorKind::Refused => {
                fail(e.message)
            }
        })?;
    tr.fact("reconfigured", format!("host {host}"));
    Ok(StepOutput::Done)
}

/// How a person goes through an SSO step.
struct SsoStep {
    flavour: SsoFlavour,
    consent: Consent,
    accept_invalid_certificates: bool,
}

async fn sso_round_trip(
    info: &StackInfo,
    state: &mut RunState,
    user: &str,
    how: SsoStep,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let account = info.user(user).ok_or_else(|| {
        fail(format!(
            "the stack has no GitLab account `{user}` (known: {})",
            info.users
                .iter()
                .map(|u| u.login.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let target = SsoTarget {
        mattermost_url: need(&info.mattermost_url, "Mattermost")?.clone(),
        mattermost_version: info.mattermost_version,
    };
    let person = Person {
        login: account.login.clone(),
        password: account.password.clone(),
    };
    // Each SSO step is a fresh browser: a person arriving with no session.
    let mut reach = state.reach.clone();
    reach.accept_invalid_certs = how.accept_invalid_certificates;
    let b = browser(&reach)?;
    let mut outcome = sso::round_trip(&b, &target, how.flavour, &person, how.consent, tr).await?;
    if let sso::SsoOutcome::SignedIn(u) = &mut outcome {
        let first = state
            .first_ids
            .entry(user.to_string())
            .or_insert_with(|| u.id.clone());
        u.first_id_in_run = Some(first.clone());
    }
    Ok(StepOutput::Sso(outcome))
}

async fn create_team(
    info: &StackInfo,
    state: &mut RunState,
    name: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let (b, api) = mattermost_api(state, info, tr).await?;
    api.create_team(b, name, tr).await?;
    Ok(StepOutput::Done)
}

async fn create_channel(
    info: &StackInfo,
    state: &mut RunState,
    team: &str,
    name: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let (b, api) = mattermost_api(state, info, tr).await?;
    api.create_channel(b, team, name, tr).await?;
    Ok(StepOutput::Done)
}

async fn create_incoming_webhook(
    info: &StackInfo,
    state: &mut RunState,
    team: &str,
    channel: &str,
    bind: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let (b, api) = mattermost_api(state, info, tr).await?;
    let (team_id, channel_id) = api.channel_id(b, team, channel, tr).await?;
    let id = api
        .create_incoming_webhook(b, &team_id, &channel_id, tr)
        .await?;
    state.hooks.insert(
        bind.to_string(),
        HookRecord {
            id,
            team_id,
            channel_id,
        },
    );
    Ok(StepOutput::Done)
}

async fn sign_up_with_email(
    info: &StackInfo,
    state: &mut RunState,
    username: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let url = need(&info.mattermost_url, "Mattermost")?.clone();
    let b = browser(&state.reach)?;
    let password = Secret::new(format!("Email-{username}-pass1"));
    mattermost_admin::sign_up_with_email(
        &b,
        &url,
        username,
        &format!("{username}@example.com"),
        &password,
        tr,
    )
    .await?;
    Ok(StepOutput::Done)
}

async fn ping(
    info: &StackInfo,
    state: &mut RunState,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let url = need(&info.mattermost_url, "Mattermost")?.clone();
    let b = browser(&state.reach)?;
    let v3 = info.mattermost_version.major < 4;
    let (status, version) = mattermost_admin::ping_version(&b, &url, v3, tr).await?;
    tr.fact("ping", status.clone());
    if status != "OK" {
        return Err(DriveError::protocol(format!(
            "Mattermost's ping says {status:?}"
        )));
    }
    if let Some(v) = version {
        let release = v.split('.').take(3).collect::<Vec<_>>().join(".");
        tr.fact("version", release);
    }
    Ok(StepOutput::Done)
}

async fn webhook_gitlab_push(
    info: &StackInfo,
    state: &mut RunState,
    hook: &str,
    push: &PushSpec,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let style = webhook::PushStyle::of(info.gitlab_version);
    let payload = webhook::gitlab_push_payload(need(&info.gitlab_url, "GitLab")?, push, style);
    post_to_hook(state, info, hook, &payload, WebhookFormat::Form, tr).await
}

/// What a plain webhook client posts.
struct PlainPost<'a> {
    text: &'a str,
    format: WebhookFormat,
    channel: Option<&'a str>,
    username: Option<&'a str>,
}

async fn webhook_post(
    info: &StackInfo,
    state: &mut RunState,
    hook: &str,
    post: PlainPost<'_>,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let mut payload = serde_json::json!({ "text": post.text });
    if let Some(c) = post.channel {
        payload["channel"] = serde_json::Value::String(c.to_string());
    }
    if let Some(u) = post.username {
        payload["username"] = serde_json::Value::String(u.to_string());
    }
    post_to_hook(state, info, hook, &payload, post.format, tr).await
}

async fn inspect_certificate(
    info: &StackInfo,
    state: &mut RunState,
    service: Service,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let url = service_url(info, service)?;
    if url.scheme() != "https" {
        return Err(fail(format!("{url} is not served over https")));
    }
    let view = tls_probe::inspect(&url, &info.book, &info.roots, state.reach.timeout, tr).await?;
    Ok(StepOutput::Certificate(view))
}

async fn http_redirect(
    info: &StackInfo,
    state: &mut RunState,
    service: Service,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let mut url = service_url(info, service)?;
    url.set_scheme("http")
        .map_err(|_| fail(format!("{url} has no http variant")))?;
    let b = browser(&state.reach)?;
    let page = b
        .send(
            crate::drive::http::Request::get(url),
            Some("plain http"),
            tr,
        )
        .await?;
    Ok(StepOutput::Redirect {
        status: page.status,
        location: page.location().map(|u| u.to_string()),
    })
}

async fn post_to_hook(
    state: &mut RunState,
    info: &StackInfo,
    hook: &str,
    payload: &serde_json::Value,
    format: WebhookFormat,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let record = state.hooks.get(hook).cloned().ok_or_else(|| {
        fail(format!(
            "incoming webhook `{hook}` was not created in this run"
        ))
    })?;
    let mm = need(&info.mattermost_url, "Mattermost")?;
    let url = mm
        .join(&format!("/hooks/{}", record.id.expose()))
        .map_err(|e| fail(format!("bad hook URL: {e}")))?;
    let b = browser(&state.reach)?;
    let answer = webhook::post(&b, url, payload, format, tr).await?;
    let post = if answer.status == 200 {
        let (b, api) = mattermost_api(state, info, tr).await?;
        let post = api
            .latest_post(b, &record.team_id, &record.channel_id, tr)
            .await?;
        if let Some(p) = &post {
            tr.fact(
                "post",
                format!(
                    "type={:?} attachments={} from_webhook={} text={:?}",
                    p.post_type,
                    p.attachments(),
                    p.from_webhook(),
                    p.message
                ),
            );
        }
        post
    } else {
        None
    };
    Ok(StepOutput::Hook { answer, post })
}
