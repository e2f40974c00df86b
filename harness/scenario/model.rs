//! The validated scenario plan: what [`crate::scenario::parse`] produces and the runner executes.
//!
//! Owns: the vocabulary of scenarios — targets, hosts with their gitlab.rb text, steps (what a person,
//! an administrator or GitLab does) and expectations (what must be seen). Every step keeps its
//! [`Location`] in the scenario file so a failing step names its line.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::Version;
use crate::diag::Location;

use super::placeholder::Template;

/// Where a scenario can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// The embedded reference stack on loopback.
    Twin,
    /// Real images through a container engine.
    Docker,
    /// An existing installation, by URL.
    Live,
}

impl TargetKind {
    pub const NAMES: [&'static str; 3] = ["twin", "docker", "live"];

    pub fn parse(s: &str) -> Option<TargetKind> {
        match s {
            "twin" => Some(TargetKind::Twin),
            "docker" => Some(TargetKind::Docker),
            "live" => Some(TargetKind::Live),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Twin => "twin",
            TargetKind::Docker => "docker",
            TargetKind::Live => "live",
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file it was read from (as given).
    pub path: PathBuf,
    /// `name`: unique, also the snapshot's file name.
    pub name: String,
    /// `summary`: one line.
    pub summary: String,
    /// `seed`: the heading of the documentation section this scenario checks.
    pub seed: String,
    /// `tags`.
    pub tags: Vec<String>,
    /// `targets`: where it may run (default: every target).
    pub targets: Vec<TargetKind>,
    /// `gitlab_version`: which GitLab (and so which twin profile) the gitlab.rb text is for.
    pub gitlab_version: Version,
    /// `faults`: twin faults to inject (twin target only), by kebab-case name.
    pub faults: Vec<String>,
    /// `[hosts.NAME]`, in file order.
    pub hosts: Vec<HostPlan>,
    /// `[[steps]]`, in file order.
    pub steps: Vec<Step>,
    /// `snapshot`: whether the normalised transcript is compared with `snapshots/<name>.snap`.
    pub snapshot: bool,
}

impl Scenario {
    pub fn host(&self, name: &str) -> Option<&HostPlan> {
        self.hosts.iter().find(|h| h.name == name)
    }
    pub fn supports(&self, target: TargetKind) -> bool {
        self.targets.contains(&target)
    }
    /// Whether any step changes the stack (create or revoke applications, teams, hooks, posts).
    pub fn writes(&self) -> bool {
        self.steps.iter().any(|s| s.action.writes())
    }
}

/// One omnibus host of the topology and its gitlab.rb.
#[derive(Debug, Clone)]
pub struct HostPlan {
    /// The table name (`gitlab`, `mattermost`, `omnibus`...).
    pub name: String,
    /// The gitlab.rb text, verbatim, with its placeholders.
    pub gitlab_rb: Template,
    pub location: Location,
}

/// One step: an action and what must be seen afterwards.
#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based, in file order.
    pub number: usize,
    pub action: Action,
    /// `expect`: when absent the action must simply succeed.
    pub expect: Option<Expectation>,
    /// Where the action is written.
    pub location: Location,
}

impl Step {
    /// `sso.sign_up user=alice` — how reports name the step.
    pub fn label(&self) -> String {
        self.action.label()
    }
}

/// Which SSO path a person takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SsoFlavour {
    SignUp,
    LogIn,
}

/// What a person does on GitLab's consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Consent {
    Approve,
    Deny,
}

/// Which of the two products a step addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Gitlab,
    Mattermost,
}

impl Service {
    pub const NAMES: [&'static str; 2] = ["gitlab", "mattermost"];
    pub fn parse(s: &str) -> Option<Service> {
        match s {
            "gitlab" => Some(Service::Gitlab),
            "mattermost" => Some(Service::Mattermost),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Service::Gitlab => "gitlab",
            Service::Mattermost => "mattermost",
        }
    }
}

/// How a webhook client posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// `application/json` body.
    Json,
    /// `application/x-www-form-urlencoded` `payload=<json>` (GitLab's integration).
    Form,
    /// `multipart/form-data` with a `payload` part.
    Multipart,
}

impl WebhookFormat {
    pub const NAMES: [&'static str; 3] = ["json", "form", "multipart"];
    pub fn parse(s: &str) -> Option<WebhookFormat> {
        match s {
            "json" => Some(WebhookFormat::Json),
            "form" => Some(WebhookFormat::Form),
            "multipart" => Some(WebhookFormat::Multipart),
            _ => None,
        }
    }
}

/// A push event as GitLab's Mattermost/Slack integration reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushSpec {
    /// `group/project` path.
    pub project: String,
    pub branch: String,
    /// Number of commits pushed (0: a new branch, rendered without attachments).
    pub commits: u32,
    /// GitLab username of the pusher.
    pub user: String,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// `gitlab.create_oauth_app`: an administrator creates an OAuth application (applications API,
    /// or the admin form on GitLab 8.x) with both Mattermost callback URLs; binds `{{ AS.id }}` and
    /// `{{ AS.secret }}`.
    CreateOAuthApp {
        name: String,
        bind: String,
        /// Explicit callback URLs; default: the Mattermost host's two GitLab callbacks.
        callbacks: Option<Vec<String>>,
        scopes: String,
    },
    /// `gitlab.revoke_oauth_app`: delete the application bound as `app`.
    RevokeOAuthApp { app: String },
    /// `host.reconfigure`: re-resolve a host's gitlab.rb with every binding known now and apply it.
    Reconfigure { host: String },
    /// `sso.sign_up` / `sso.log_in`: a person signs in to Mattermost with GitLab.
    Sso {
        flavour: SsoFlavour,
        user: String,
        consent: Consent,
        /// The person clicks through the browser's certificate warning.
        accept_invalid_certificates: bool,
    },
    /// `mattermost.create_team`.
    CreateTeam { name: String },
    /// `mattermost.create_channel`.
    CreateChannel { team: String, name: String },
    /// `mattermost.create_incoming_webhook`: binds the hook as `AS`.
    CreateIncomingWebhook {
        team: String,
        channel: String,
        bind: String,
    },
    /// `webhook.gitlab_push`: post a push notification exactly as GitLab's integration does.
    WebhookGitlabPush { hook: String, push: PushSpec },
    /// `webhook.post`: a plain client posts to an incoming webhook.
    WebhookPost {
        hook: String,
        text: String,
        format: WebhookFormat,
        channel: Option<String>,
        username: Option<String>,
    },
    /// `https.certificate`: inspect the certificate a service's https URL serves.
    InspectCertificate { service: Service },
    /// `https.redirect`: request the http variant of a service's URL and observe the redirect.
    HttpRedirect { service: Service },
    /// `mattermost.ping`: `GET /api/v4/system/ping`.
    Ping,
    /// `mattermost.sign_up_with_email`: a person signs up with email and password (no SSO).
    SignUpWithEmail { username: String },
}

impl Action {
    /// Every step name, as written in a file (for did-you-mean).
    pub const NAMES: [&'static str; 14] = [
        "gitlab.create_oauth_app",
        "gitlab.revoke_oauth_app",
        "host.reconfigure",
        "sso.sign_up",
        "sso.log_in",
        "mattermost.create_team",
        "mattermost.create_channel",
        "mattermost.create_incoming_webhook",
        "mattermost.ping",
        "mattermost.sign_up_with_email",
        "webhook.gitlab_push",
        "webhook.post",
        "https.certificate",
        "https.redirect",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Action::CreateOAuthApp { .. } => "gitlab.create_oauth_app",
            Action::RevokeOAuthApp { .. } => "gitlab.revoke_oauth_app",
            Action::Reconfigure { .. } => "host.reconfigure",
            Action::Sso {
                flavour: SsoFlavour::SignUp,
                ..
            } => "sso.sign_up",
            Action::Sso {
                flavour: SsoFlavour::LogIn,
                ..
            } => "sso.log_in",
            Action::CreateTeam { .. } => "mattermost.create_team",
            Action::CreateChannel { .. } => "mattermost.create_channel",
            Action::CreateIncomingWebhook { .. } => "mattermost.create_incoming_webhook",
            Action::Ping => "mattermost.ping",
            Action::SignUpWithEmail { .. } => "mattermost.sign_up_with_email",
            Action::WebhookGitlabPush { .. } => "webhook.gitlab_push",
            Action::WebhookPost { .. } => "webhook.post",
            Action::InspectCertificate { .. } => "https.certificate",
            Action::HttpRedirect { .. } => "https.redirect",
        }
    }

    /// `name key=value ...` for reports.
    pub fn label(&self) -> String {
        let args = match self {
            Action::CreateOAuthApp { name, bind, .. } => format!("name={name:?} as={bind}"),
            Action::RevokeOAuthApp { app } => format!("app={app}"),
            Action::Reconfigure { host } => format!("host={host}"),
            Action::Sso { user, consent, .. } => match consent {
                Consent::Approve => format!("user={user}"),
                Consent::Deny => format!("user={user} consent=deny"),
            },
            Action::CreateTeam { name } => format!("name={name}"),
            Action::CreateChannel { team, name } => format!("team={team} name={name}"),
            Action::CreateIncomingWebhook {
                team,
                channel,
                bind,
            } => format!("team={team} channel={channel} as={bind}"),
            Action::Ping => String::new(),
            Action::SignUpWithEmail { username } => format!("username={username}"),
            Action::WebhookGitlabPush { hook, push } => format!(
                "hook={hook} project={} branch={} commits={}",
                push.project, push.branch, push.commits
            ),
            Action::WebhookPost { hook, format, .. } => {
                format!("hook={hook} format={}", format_name(*format))
            }
            Action::InspectCertificate { service } | Action::HttpRedirect { service } => {
                format!("service={}", service.name())
            }
        };
        if args.is_empty() {
            self.name().to_string()
        } else {
            format!("{} {args}", self.name())
        }
    }

    /// Whether the action changes state on the stack (refused on a live target without
    /// `--allow-writes`). A GitLab log-in of an existing account counts as reading; a sign-up, a
    /// denied consent (it revokes nothing but records a grant decision) and everything an
    /// administrator does count as writing.
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            Action::Ping
                | Action::InspectCertificate { .. }
                | Action::HttpRedirect { .. }
                | Action::Sso {
                    flavour: SsoFlavour::LogIn,
                    consent: Consent::Approve,
                    ..
                }
        )
    }
}

fn format_name(f: WebhookFormat) -> &'static str {
    match f {
        WebhookFormat::Json => "json",
        WebhookFormat::Form => "form",
        WebhookFormat::Multipart => "multipart",
    }
}

/// What must be seen after a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "expect")]
pub enum Expectation {
    /// The SSO round trip ends signed in to Mattermost as this user.
    MattermostUser {
        username: Option<String>,
        email: Option<String>,
        auth_service: Option<String>,
    },
    /// The SSO round trip ends on Mattermost's error page with this error (documented failure).
    SsoError {
        /// Mattermost's error id, e.g. `api.user.authorize_oauth_user.bad_response.app_error`.
        id: String,
        status: u16,
    },
    /// GitLab shows its OAuth error page and never calls Mattermost back.
    GitlabError { description_contains: String },
    /// The person is sent back to Mattermost with `error=access_denied`.
    AccessDenied,
    /// The post the webhook made, read back through the API.
    Post {
        text_contains: Option<String>,
        attachments: Option<usize>,
        username: Option<String>,
        from_webhook: Option<bool>,
        post_type: Option<String>,
    },
    /// The webhook request is refused.
    WebhookError { status: u16, id: Option<String> },
    /// A Mattermost API request of the step is refused with this status (and error id).
    ApiError { status: u16, id: Option<String> },
    /// The certificate a host serves.
    Certificate {
        subject_cn: Option<String>,
        san: Option<String>,
        issuer_cn: Option<String>,
        /// Whether it verifies against the stack's CA roots for the host name, now.
        trusted: Option<bool>,
    },
    /// The http URL redirects.
    Redirect { status: u16, location: String },
}

impl Expectation {
    pub const NAMES: [&'static str; 9] = [
        "mattermost_user",
        "sso_error",
        "gitlab_error",
        "access_denied",
        "post",
        "webhook_error",
        "api_error",
        "certificate",
        "redirect",
    ];
}
