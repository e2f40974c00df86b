//! The validated scenario plan: what [`crate::scenario::parse`] produces and the runner executes.
//!
//! Owns: the plan's shape — hosts with their gitlab.rb text, steps ([`Action`]: what a person, an
//! administrator or GitLab does, with its arguments) and their expectations
//! ([`crate::check::Expectation`]). Every step keeps its [`Location`] in the scenario file so a
//! failing step names its line. The names of steps are [`StepKind`]s; the words the plan shares
//! with the drivers (SSO flavour, consent, webhook format, service, target) are
//! [`crate::vocab`]'s.

use std::path::PathBuf;

use serde::Serialize;

use crate::check::Expectation;
use crate::config::Version;
use crate::diag::Location;
use crate::vocab::{Consent, PushSpec, Service, SsoFlavour, TargetKind, WebhookFormat};

use super::kinds::StepKind;
use super::placeholder::Template;

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
    /// The twin snapshot shipped in the binary, when the file is exactly a shipped scenario
    /// ([`super::embedded`]): the stored text when the snapshot directory has no file for it.
    pub shipped_snapshot: Option<&'static str>,
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

/// One host of the topology: an omnibus host with its gitlab.rb, or a standalone Mattermost.
#[derive(Debug, Clone)]
pub struct HostPlan {
    /// The table name (`gitlab`, `mattermost`, `omnibus`...).
    pub name: String,
    /// The gitlab.rb text, verbatim, with its placeholders (empty for a standalone Mattermost).
    pub gitlab_rb: Template,
    /// `kind`: what runs on the host.
    pub kind: HostKind,
    pub location: Location,
}

impl HostPlan {
    /// Whether the host is an omnibus installation configured by its gitlab.rb (started with the
    /// stack); a standalone Mattermost starts when `mattermost.move_out` moves Mattermost to it.
    pub fn is_omnibus(&self) -> bool {
        matches!(self.kind, HostKind::Omnibus)
    }
}

/// What a `[hosts.NAME]` table describes (`kind`, default `omnibus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// An omnibus GitLab package configured by `gitlab_rb`.
    Omnibus,
    /// `kind = "mattermost-standalone"`: Mattermost on its own host, as the
    /// `mattermost/mattermost-team-edition` image runs it, configured only by `MM_*` variables;
    /// `url` is where it serves (its SiteURL).
    MattermostStandalone { url: String },
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
    /// `gitlab.upgrade`: install GitLab `to`'s omnibus package and restart (twin and docker).
    GitlabUpgrade { to: crate::config::Version },
    /// `mattermost.run_sql`: the seed's `gitlab-psql` statement (twin and docker).
    RunSql { statement: String },
    /// `mattermost.save_theme`: the user signs in with GitLab and saves a theme.
    SaveTheme { user: String, theme: String },
    /// `mattermost.get_theme`: the user signs in with GitLab and reads the theme back.
    GetTheme { user: String },
    /// `mattermost.count_data`: the administrator reads the System Console's counts.
    CountData,
    /// `mattermost.log_in_with_email`: a person logs in with email address and password.
    LogInWithEmail { username: String },
    /// `mattermost.read_posts`: the administrator reads every post of the channel of `hook`.
    ReadPosts { hook: String },
    /// `mattermost.export`: the move-out plan's export on the omnibus `host` (database, config.json,
    /// gitlab-secrets.json's `mattermost` section, the `MM_*` settings); binds it as `bind`.
    MattermostExport { host: String, bind: String },
    /// `mattermost.move_out`: the bundled Mattermost stops, the standalone host `to` starts from
    /// `MM_*` variables on the restored `export`, and GitLab's gitlab.rb is rewritten for 19.
    MoveOut { export: String, to: String },
    /// `gitlab.check_config`: the GitLab `gitlab_version` checks (reconfigure's deprecations and
    /// the package gate) on the omnibus `host`'s current gitlab.rb; fails on a blocker.
    CheckConfig {
        host: String,
        gitlab_version: crate::config::Version,
    },
    /// `mail.send_test_email`: the System Console's test email, as the system administrator.
    MailSendTestEmail,
    /// `mail.sign_up_and_verify`: sign up with email, follow the verification link, log in.
    MailVerifySignUp { username: String },
    /// `mail.mention`: a post through `hook` mentions `user`; the notification mail is awaited.
    MailMention {
        hook: String,
        user: String,
        text: Option<String>,
    },
    /// `mail.wait`: wait for a message to `to` not shown by an earlier step.
    MailWait {
        to: String,
        subject_contains: Option<String>,
        timeout_ms: u64,
    },
}

impl Action {
    /// The step kind this action is written as.
    pub fn kind(&self) -> StepKind {
        match self {
            Action::CreateOAuthApp { .. } => StepKind::CreateOAuthApp,
            Action::RevokeOAuthApp { .. } => StepKind::RevokeOAuthApp,
            Action::Reconfigure { .. } => StepKind::Reconfigure,
            Action::Sso { flavour, .. } => match flavour {
                SsoFlavour::SignUp => StepKind::SsoSignUp,
                SsoFlavour::LogIn => StepKind::SsoLogIn,
            },
            Action::CreateTeam { .. } => StepKind::CreateTeam,
            Action::CreateChannel { .. } => StepKind::CreateChannel,
            Action::CreateIncomingWebhook { .. } => StepKind::CreateIncomingWebhook,
            Action::Ping => StepKind::Ping,
            Action::SignUpWithEmail { .. } => StepKind::SignUpWithEmail,
            Action::WebhookGitlabPush { .. } => StepKind::WebhookGitlabPush,
            Action::WebhookPost { .. } => StepKind::WebhookPost,
            Action::InspectCertificate { .. } => StepKind::InspectCertificate,
            Action::HttpRedirect { .. } => StepKind::HttpRedirect,
            Action::GitlabUpgrade { .. } => StepKind::GitlabUpgrade,
            Action::RunSql { .. } => StepKind::RunSql,
            Action::SaveTheme { .. } => StepKind::SaveTheme,
            Action::GetTheme { .. } => StepKind::GetTheme,
            Action::CountData => StepKind::CountData,
            Action::LogInWithEmail { .. } => StepKind::LogInWithEmail,
            Action::MattermostExport { .. } => StepKind::MattermostExport,
            Action::ReadPosts { .. } => StepKind::ReadPosts,
            Action::MoveOut { .. } => StepKind::MoveOut,
            Action::CheckConfig { .. } => StepKind::CheckConfig,
            Action::MailSendTestEmail => StepKind::MailSendTestEmail,
            Action::MailVerifySignUp { .. } => StepKind::MailVerifySignUp,
            Action::MailMention { .. } => StepKind::MailMention,
            Action::MailWait { .. } => StepKind::MailWait,
        }
    }

    /// The step's name as written in a file (`sso.sign_up`).
    pub fn name(&self) -> &'static str {
        self.kind().name()
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
            Action::WebhookPost { hook, format, .. } => format!("hook={hook} format={format}"),
            Action::InspectCertificate { service } | Action::HttpRedirect { service } => {
                format!("service={service}")
            }
            Action::GitlabUpgrade { to } => format!("to={to}"),
            Action::RunSql { statement } => format!("statement={statement:?}"),
            Action::SaveTheme { user, .. } | Action::GetTheme { user } => format!("user={user}"),
            Action::CountData => String::new(),
            Action::LogInWithEmail { username } | Action::MailVerifySignUp { username } => {
                format!("username={username}")
            }
            Action::MailSendTestEmail => String::new(),
            Action::MattermostExport { host, bind } => format!("host={host} as={bind}"),
            Action::MoveOut { export, to } => format!("export={export} to={to}"),
            Action::ReadPosts { hook } => format!("hook={hook}"),
            Action::CheckConfig {
                host,
                gitlab_version,
            } => format!("host={host} gitlab_version={gitlab_version}"),
            Action::MailMention { hook, user, .. } => format!("hook={hook} user={user}"),
            Action::MailWait {
                to,
                subject_contains,
                ..
            } => match subject_contains {
                Some(s) => format!("to={to} subject_contains={s:?}"),
                None => format!("to={to}"),
            },
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
        match self {
            Action::Ping
            | Action::InspectCertificate { .. }
            | Action::HttpRedirect { .. }
            | Action::GetTheme { .. }
            | Action::CountData
            | Action::LogInWithEmail { .. }
            | Action::CheckConfig { .. }
            | Action::ReadPosts { .. }
            | Action::MailWait { .. } => false,
            Action::Sso {
                flavour, consent, ..
            } => match (flavour, consent) {
                (SsoFlavour::LogIn, Consent::Approve) => false,
                (SsoFlavour::LogIn, Consent::Deny)
                | (SsoFlavour::SignUp, Consent::Approve | Consent::Deny) => true,
            },
            Action::CreateOAuthApp { .. }
            | Action::RevokeOAuthApp { .. }
            | Action::Reconfigure { .. }
            | Action::CreateTeam { .. }
            | Action::CreateChannel { .. }
            | Action::CreateIncomingWebhook { .. }
            | Action::SignUpWithEmail { .. }
            | Action::WebhookGitlabPush { .. }
            | Action::WebhookPost { .. }
            | Action::GitlabUpgrade { .. }
            | Action::RunSql { .. }
            | Action::SaveTheme { .. }
            | Action::MailSendTestEmail
            | Action::MailVerifySignUp { .. }
            | Action::MattermostExport { .. }
            | Action::MoveOut { .. }
            | Action::MailMention { .. } => true,
        }
    }

    /// The binding this action creates (`as = "NAME"`), and what it names.
    pub fn creates(&self) -> Option<(&str, BindingKind)> {
        match self {
            Action::CreateOAuthApp { bind, .. } => Some((bind, BindingKind::App)),
            Action::CreateIncomingWebhook { bind, .. } => Some((bind, BindingKind::Hook)),
            Action::MattermostExport { bind, .. } => Some((bind, BindingKind::Export)),
            Action::RevokeOAuthApp { .. }
            | Action::Reconfigure { .. }
            | Action::Sso { .. }
            | Action::CreateTeam { .. }
            | Action::CreateChannel { .. }
            | Action::Ping
            | Action::SignUpWithEmail { .. }
            | Action::WebhookGitlabPush { .. }
            | Action::WebhookPost { .. }
            | Action::InspectCertificate { .. }
            | Action::HttpRedirect { .. }
            | Action::GitlabUpgrade { .. }
            | Action::RunSql { .. }
            | Action::SaveTheme { .. }
            | Action::GetTheme { .. }
            | Action::CountData
            | Action::LogInWithEmail { .. }
            | Action::MailSendTestEmail
            | Action::MailVerifySignUp { .. }
            | Action::MailMention { .. }
            | Action::MoveOut { .. }
            | Action::CheckConfig { .. }
            | Action::ReadPosts { .. }
            | Action::MailWait { .. } => None,
        }
    }

    /// The binding this action needs an earlier step to have created, and what it must name.
    pub fn uses(&self) -> Option<(&str, BindingKind)> {
        match self {
            Action::RevokeOAuthApp { app } => Some((app, BindingKind::App)),
            Action::WebhookGitlabPush { hook, .. }
            | Action::WebhookPost { hook, .. }
            | Action::MailMention { hook, .. }
            | Action::ReadPosts { hook } => Some((hook, BindingKind::Hook)),
            Action::MoveOut { export, .. } => Some((export, BindingKind::Export)),
            Action::CreateOAuthApp { .. }
            | Action::Reconfigure { .. }
            | Action::Sso { .. }
            | Action::CreateTeam { .. }
            | Action::CreateChannel { .. }
            | Action::CreateIncomingWebhook { .. }
            | Action::Ping
            | Action::SignUpWithEmail { .. }
            | Action::InspectCertificate { .. }
            | Action::HttpRedirect { .. }
            | Action::GitlabUpgrade { .. }
            | Action::RunSql { .. }
            | Action::SaveTheme { .. }
            | Action::GetTheme { .. }
            | Action::CountData
            | Action::LogInWithEmail { .. }
            | Action::MailSendTestEmail
            | Action::MailVerifySignUp { .. }
            | Action::MattermostExport { .. }
            | Action::CheckConfig { .. }
            | Action::MailWait { .. } => None,
        }
    }

    /// The `[hosts]` table this action names.
    pub fn host(&self) -> Option<&str> {
        match self {
            Action::Reconfigure { host }
            | Action::MattermostExport { host, .. }
            | Action::CheckConfig { host, .. } => Some(host),
            Action::MoveOut { to, .. } => Some(to),
            Action::CreateOAuthApp { .. }
            | Action::RevokeOAuthApp { .. }
            | Action::Sso { .. }
            | Action::CreateTeam { .. }
            | Action::CreateChannel { .. }
            | Action::CreateIncomingWebhook { .. }
            | Action::Ping
            | Action::SignUpWithEmail { .. }
            | Action::WebhookGitlabPush { .. }
            | Action::WebhookPost { .. }
            | Action::InspectCertificate { .. }
            | Action::HttpRedirect { .. }
            | Action::GitlabUpgrade { .. }
            | Action::RunSql { .. }
            | Action::SaveTheme { .. }
            | Action::GetTheme { .. }
            | Action::CountData
            | Action::LogInWithEmail { .. }
            | Action::MailSendTestEmail
            | Action::MailVerifySignUp { .. }
            | Action::MailMention { .. }
            | Action::ReadPosts { .. }
            | Action::MailWait { .. } => None,
        }
    }
}

/// What a binding names: an OAuth application (`{{ NAME.id }}`, `{{ NAME.secret }}`) or an
/// incoming webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingKind {
    App,
    Hook,
    /// What `mattermost.export` took from the bundled Mattermost.
    Export,
}

impl BindingKind {
    /// How messages call it.
    pub fn describe(self) -> &'static str {
        match self {
            BindingKind::App => "application",
            BindingKind::Hook => "incoming webhook",
            BindingKind::Export => "Mattermost export",
        }
    }
}
