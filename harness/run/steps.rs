//! Carrying out one step on a running stack with the drivers, keeping what the run creates
//! (applications, hooks, bindings) between steps.

use std::collections::BTreeMap;

use url::Url;

use crate::check::StepOutput;
use crate::config::{HostSettings, Secret};
use crate::drive::gitlab_admin::{self, CreatedApp, GitlabAdmin};
use crate::drive::mattermost_admin::{self, MattermostApi};
use crate::drive::sso::{self, Person, SsoTarget};
use crate::drive::{Browser, DriveError, Reach, Transcript, tls_probe, webhook};
use crate::scenario::{Action, Bindings, Scenario, Service};
use crate::stack::resolve::resolve_host;
use crate::stack::{Stack, StackInfo};

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

/// Carry out one action. `Err` is a step failure explained in one lower-case line; an API refusal
/// on a Mattermost administration step is an outcome ([`StepOutput::Refused`]) a scenario may expect.
pub async fn execute(
    action: &Action,
    scenario: &Scenario,
    stack: &mut Stack,
    state: &mut RunState,
    tr: &mut Transcript,
) -> Result<StepOutput, String> {
    let api_step = matches!(
        action,
        Action::CreateTeam { .. }
            | Action::CreateChannel { .. }
            | Action::CreateIncomingWebhook { .. }
            | Action::SignUpWithEmail { .. }
    );
    match execute_inner(action, scenario, stack, state, tr).await {
        Err(e) if api_step => match e.refusal {
            Some((status, id)) => Ok(StepOutput::Refused { status, id }),
            None => Err(e.message),
        },
        Err(e) => Err(e.message),
        Ok(o) => Ok(o),
    }
}

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
        } => {
            let admin = gitlab_admin(&info)?;
            let callbacks = match callbacks {
                Some(c) => c.clone(),
                None => mattermost_callbacks(need(&info.mattermost_url, "Mattermost")?),
            };
            let b = state.admin_browser()?;
            let app = gitlab_admin::create_app(b, &admin, name, &callbacks, scopes, tr).await?;
            state
                .bindings
                .set(bind, "id", Secret::new(app.client_id.clone()));
            state.bindings.set(bind, "secret", app.secret.clone());
            state.apps.insert(bind.clone(), app);
            Ok(StepOutput::Done)
        }
        Action::RevokeOAuthApp { app } => {
            let admin = gitlab_admin(&info)?;
            let created =
                state.apps.get(app).cloned().ok_or_else(|| {
                    fail(format!("application `{app}` was not created in this run"))
                })?;
            let b = state.admin_browser()?;
            gitlab_admin::revoke_app(b, &admin, &created, tr).await?;
            state.apps.remove(app);
            Ok(StepOutput::Done)
        }
        Action::Reconfigure { host } => {
            let plan = scenario
                .host(host)
                .ok_or_else(|| fail(format!("no host `{host}`")))?;
            let (settings, warnings): (HostSettings, _) =
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
                .extend(warnings.iter().map(|d| d.message.clone()));
            stack
                .reconfigure(host, &settings)
                .await
                .map_err(|e| fail(e.message))?;
            tr.fact("reconfigured", format!("host {host}"));
            Ok(StepOutput::Done)
        }
        Action::Sso {
            flavour,
            user,
            consent,
            accept_invalid_certificates,
        } => {
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
            reach.accept_invalid_certs = *accept_invalid_certificates;
            let b = browser(&reach)?;
            let outcome = sso::round_trip(&b, &target, *flavour, &person, *consent, tr).await?;
            Ok(StepOutput::Sso(outcome))
        }
        Action::CreateTeam { name } => {
            let (b, api) = mattermost_api(state, &info, tr).await?;
            api.create_team(b, name, tr).await?;
            Ok(StepOutput::Done)
        }
        Action::CreateChannel { team, name } => {
            let (b, api) = mattermost_api(state, &info, tr).await?;
            api.create_channel(b, team, name, tr).await?;
            Ok(StepOutput::Done)
        }
        Action::CreateIncomingWebhook {
            team,
            channel,
            bind,
        } => {
            let (b, api) = mattermost_api(state, &info, tr).await?;
            let (team_id, channel_id) = api.channel_id(b, team, channel, tr).await?;
            let id = api
                .create_incoming_webhook(b, &team_id, &channel_id, tr)
                .await?;
            state.hooks.insert(
                bind.clone(),
                HookRecord {
                    id,
                    team_id,
                    channel_id,
                },
            );
            Ok(StepOutput::Done)
        }
        Action::SignUpWithEmail { username } => {
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
        Action::Ping => {
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
        Action::WebhookGitlabPush { hook, push } => {
            let payload = webhook::gitlab_push_payload(need(&info.gitlab_url, "GitLab")?, push);
            post_to_hook(
                state,
                &info,
                hook,
                &payload,
                crate::scenario::WebhookFormat::Form,
                tr,
            )
            .await
        }
        Action::WebhookPost {
            hook,
            text,
            format,
            channel,
            username,
        } => {
            let mut payload = serde_json::json!({ "text": text });
            if let Some(c) = channel {
                payload["channel"] = serde_json::Value::String(c.clone());
            }
            if let Some(u) = username {
                payload["username"] = serde_json::Value::String(u.clone());
            }
            post_to_hook(state, &info, hook, &payload, *format, tr).await
        }
        Action::InspectCertificate { service } => {
            let url = service_url(&info, *service)?;
            if url.scheme() != "https" {
                return Err(fail(format!("{url} is not served over https")));
            }
            let view =
                tls_probe::inspect(&url, &info.book, &info.roots, state.reach.timeout, tr).await?;
            Ok(StepOutput::Certificate(view))
        }
        Action::HttpRedirect { service } => {
            let mut url = service_url(&info, *service)?;
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
    }
}

async fn post_to_hook(
    state: &mut RunState,
    info: &StackInfo,
    hook: &str,
    payload: &serde_json::Value,
    format: crate::scenario::WebhookFormat,
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
