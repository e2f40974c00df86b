//! The live target: an existing installation, by URL. Credentials come from the environment, never
//! from flags (they would land in shell history and CI logs):
//!
//! | variable | meaning |
//! |---|---|
//! | `MM_HARNESS_GITLAB_TOKEN` | GitLab admin personal access token (`api` scope) |
//! | `MM_HARNESS_GITLAB_ROOT_USER` / `MM_HARNESS_GITLAB_ROOT_PASSWORD` | GitLab administrator (8.x admin area) |
//! | `MM_HARNESS_MATTERMOST_ADMIN_USER` / `MM_HARNESS_MATTERMOST_ADMIN_PASSWORD` | Mattermost system admin |
//! | `MM_HARNESS_USER_<LOGIN>_PASSWORD` | password of GitLab user `<login>` for SSO steps |
//! | `MM_HARNESS_CA_FILE` | PEM file of the CA(s) to trust for https |
//! | `MM_HARNESS_RESOLVE` | `HOST:PORT:ADDR` entries as `--resolve` takes them, comma-separated |
//!
//! A live installation is never reconfigured; steps that write run only with `--allow-writes`.
//! What the steps of a run need (URLs, accounts, passwords) is checked before anything connects
//! ([`preflight`]): a missing piece is bad input naming what to set, not a failed scenario.

use std::collections::BTreeMap;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::config::{Profile, Secret, Version};
use crate::net::AddressBook;
use crate::scenario::{Action, Scenario};
use crate::vocab::Service;

use super::error::{StackError, StackErrorKind};
use super::model::{Account, LiveOptions, StackInfo, parse_resolve};

/// Read a variable from a lookup function (the process environment in production).
fn var(env: &(dyn Fn(&str) -> Option<String> + Sync), name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

fn account(
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    user: &str,
    pass: &str,
) -> Option<Account> {
    Some(Account {
        login: var(env, user)?,
        password: Secret::new(var(env, pass)?),
    })
}

/// Describe a live installation from options and environment, checking Mattermost answers.
pub async fn connect(
    opts: &LiveOptions,
    gitlab_version: Version,
    users_wanted: &[String],
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    timeout: Duration,
) -> Result<StackInfo, StackError> {
    if opts.gitlab_url.is_none() && opts.mattermost_url.is_none() {
        return Err(StackError::new(
            StackErrorKind::Configuration,
            "the live target needs --gitlab-url and/or --mattermost-url",
        ));
    }
    let roots = match var(env, CA_FILE_VARIABLE) {
        Some(path) => {
            read_ca_file(&path).map_err(|e| StackError::new(StackErrorKind::Configuration, e))?
        }
        None => Vec::new(),
    };
    let mut users = Vec::new();
    for login in users_wanted {
        let key = password_variable(login);
        let Some(p) = var(env, &key) else {
            return Err(StackError::new(
                StackErrorKind::Configuration,
                format!("{key} is not set: the password of GitLab user `{login}`, who signs in"),
            ));
        };
        users.push(Account {
            login: login.clone(),
            password: Secret::new(p),
        });
    }
    let book = book_of(opts, var(env, RESOLVE_VARIABLE).as_deref())
        .map_err(|e| StackError::new(StackErrorKind::Configuration, e))?;
    let profile = Profile::for_gitlab(gitlab_version);
    let info = StackInfo {
        gitlab_url: opts.gitlab_url.clone(),
        mattermost_url: opts.mattermost_url.clone(),
        book,
        roots,
        gitlab_version,
        mattermost_version: profile.mattermost_version(),
        gitlab_root: account(
            env,
            "MM_HARNESS_GITLAB_ROOT_USER",
            "MM_HARNESS_GITLAB_ROOT_PASSWORD",
        ),
        gitlab_admin_token: var(env, "MM_HARNESS_GITLAB_TOKEN").map(Secret::new),
        mattermost_admin: account(
            env,
            "MM_HARNESS_MATTERMOST_ADMIN_USER",
            "MM_HARNESS_MATTERMOST_ADMIN_PASSWORD",
        ),
        users,
    };
    reachable(&info, timeout).await?;
    Ok(info)
}

/// The variable naming a PEM file of the CA(s) to trust for https.
pub const CA_FILE_VARIABLE: &str = "MM_HARNESS_CA_FILE";

/// The certificates of a PEM file: at least one, each well-formed.
pub fn read_ca_file(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{CA_FILE_VARIABLE} {path} cannot be read: {e}"))?;
    let mut roots = Vec::new();
    for c in certs {
        roots.push(c.map_err(|e| format!("{CA_FILE_VARIABLE} {path}: invalid certificate: {e}"))?);
    }
    if roots.is_empty() {
        return Err(format!(
            "{CA_FILE_VARIABLE} {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(roots)
}

/// The variable holding `--resolve` entries for CI jobs (comma- or space-separated).
pub const RESOLVE_VARIABLE: &str = "MM_HARNESS_RESOLVE";

/// The variable holding the password of GitLab user `login`: `MM_HARNESS_USER_<LOGIN>_PASSWORD`,
/// upper-case, `-` and `.` as `_`.
pub fn password_variable(login: &str) -> String {
    format!(
        "MM_HARNESS_USER_{}_PASSWORD",
        login.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// The entries of [`RESOLVE_VARIABLE`]'s value.
pub fn parse_resolve_list(value: &str) -> Result<Vec<(String, u16, std::net::SocketAddr)>, String> {
    value
        .split([',', ' ', '\n', '\t'])
        .filter(|e| !e.is_empty())
        .map(|e| parse_resolve(e).map_err(|m| format!("{RESOLVE_VARIABLE}: {m}")))
        .collect()
}

/// The address book of `--resolve` entries and those of [`RESOLVE_VARIABLE`]: port 443 is
/// https, 80 http, any other port both.
fn book_of(opts: &LiveOptions, from_env: Option<&str>) -> Result<AddressBook, String> {
    let mut book = AddressBook::new();
    let extra = match from_env {
        Some(v) => parse_resolve_list(v)?,
        None => Vec::new(),
    };
    for (host, port, addr) in opts.resolve.iter().chain(extra.iter()) {
        match port {
            443 => book.insert("https", host, *port, *addr),
            80 => book.insert("http", host, *port, *addr),
            _ => {
                book.insert("http", host, *port, *addr);
                book.insert("https", host, *port, *addr);
            }
        }
    }
    Ok(book)
}

/// What a step needs from a live target's command line and environment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// `--gitlab-url`.
    GitlabUrl,
    /// `--mattermost-url`.
    MattermostUrl,
    /// The GitLab administrator (`MM_HARNESS_GITLAB_ROOT_USER` / `_PASSWORD`).
    GitlabAdmin,
    /// The Mattermost system administrator (`MM_HARNESS_MATTERMOST_ADMIN_USER` / `_PASSWORD`).
    MattermostAdmin,
    /// The password of this GitLab user.
    UserPassword(String),
}

impl Need {
    /// What a step of this action needs on a live target.
    pub fn of(action: &Action) -> Vec<Need> {
        match action {
            Action::CreateOAuthApp { .. } | Action::RevokeOAuthApp { .. } => {
                vec![Need::GitlabUrl, Need::GitlabAdmin]
            }
            // Refused on a live target whatever is configured.
            Action::Reconfigure { .. } => Vec::new(),
            Action::Sso { user, .. }
            | Action::SaveTheme { user, .. }
            | Action::GetTheme { user } => {
                vec![Need::MattermostUrl, Need::UserPassword(user.clone())]
            }
            // Refused on a live target whatever is configured.
            Action::GitlabUpgrade { .. }
            | Action::RunSql { .. }
            | Action::MattermostExport { .. }
            | Action::MoveOut { .. } => Vec::new(),
            // Reads only the scenario's gitlab.rb text.
            Action::CheckConfig { .. } => Vec::new(),
            Action::CountData | Action::ReadPosts { .. } => {
                vec![Need::MattermostUrl, Need::MattermostAdmin]
            }
            Action::CreateTeam { .. }
            | Action::CreateChannel { .. }
            | Action::CreateIncomingWebhook { .. }
            | Action::MailSendTestEmail
            | Action::MailMention { .. } => {
                vec![Need::MattermostUrl, Need::MattermostAdmin]
            }
            // The mail steps that read the mail sink fail on a live target with a clear message
            // (no sink the harness can read); an email log-in needs only the URL.
            Action::LogInWithEmail { .. }
            | Action::MailVerifySignUp { .. }
            | Action::MailWait { .. } => vec![Need::MattermostUrl],
            Action::WebhookGitlabPush { .. }
            | Action::WebhookPost { .. }
            | Action::Ping
            | Action::SignUpWithEmail { .. } => vec![Need::MattermostUrl],
            Action::InspectCertificate { service } | Action::HttpRedirect { service } => {
                match service {
                    Service::Gitlab => vec![Need::GitlabUrl],
                    Service::Mattermost => vec![Need::MattermostUrl],
                }
            }
        }
    }

    /// The flags or variables that provide it, with what they are.
    fn settings(&self) -> Vec<(String, String)> {
        match self {
            Need::GitlabUrl => vec![("--gitlab-url URL".into(), "GitLab's URL".into())],
            Need::MattermostUrl => {
                vec![("--mattermost-url URL".into(), "Mattermost's URL".into())]
            }
            Need::GitlabAdmin => vec![
                (
                    "MM_HARNESS_GITLAB_ROOT_USER".into(),
                    "a GitLab administrator's login".into(),
                ),
                (
                    "MM_HARNESS_GITLAB_ROOT_PASSWORD".into(),
                    "that administrator's password".into(),
                ),
            ],
            Need::MattermostAdmin => vec![
                (
                    "MM_HARNESS_MATTERMOST_ADMIN_USER".into(),
                    "a Mattermost system administrator's login".into(),
                ),
                (
                    "MM_HARNESS_MATTERMOST_ADMIN_PASSWORD".into(),
                    "that administrator's password".into(),
                ),
            ],
            Need::UserPassword(login) => vec![(
                password_variable(login),
                format!("the password of GitLab user `{login}`"),
            )],
        }
    }
}

/// Check, before anything connects, that the command line and `env` give everything the steps
/// of `scenarios` (those that will run) need on a live target, and that the optional variables
/// are usable. Each problem is one line naming the flag or variable to set and the steps that
/// need it; an empty list means the run may start.
pub fn preflight(
    opts: &LiveOptions,
    scenarios: &[&Scenario],
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Vec<String> {
    // setting → (what it is, the steps needing it)
    let mut missing: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for scenario in scenarios {
        for step in &scenario.steps {
            for need in Need::of(&step.action) {
                let given = match &need {
                    Need::GitlabUrl => opts.gitlab_url.is_some(),
                    Need::MattermostUrl => opts.mattermost_url.is_some(),
                    Need::GitlabAdmin | Need::MattermostAdmin | Need::UserPassword(_) => false,
                };
                if given {
                    continue;
                }
                for (setting, what) in need.settings() {
                    let is_variable = !setting.starts_with("--");
                    if is_variable && var(env, &setting).is_some() {
                        continue;
                    }
                    let entry = missing.entry(setting).or_insert((what, Vec::new()));
                    let at = format!(
                        "`{}` step {} ({})",
                        scenario.name,
                        step.number,
                        step.label()
                    );
                    if !entry.1.contains(&at) {
                        entry.1.push(at);
                    }
                }
            }
        }
    }
    let mut problems: Vec<String> = missing
        .into_iter()
        .map(|(setting, (what, steps))| {
            let verb = if setting.starts_with("--") {
                "is not given"
            } else {
                "is not set"
            };
            let shown = steps.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
            let more = match steps.len().saturating_sub(3) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            format!("{setting} {verb}: {what}, needed by {shown}{more}")
        })
        .collect();
    if let Some(path) = var(env, CA_FILE_VARIABLE)
        && let Err(e) = read_ca_file(&path)
    {
        problems.push(e);
    }
    if let Some(v) = var(env, RESOLVE_VARIABLE)
        && let Err(e) = parse_resolve_list(&v)
    {
        problems.push(e);
    }
    problems
}

/// Fail early (exit 3) when an URL does not answer at all.
async fn reachable(info: &StackInfo, timeout: Duration) -> Result<(), StackError> {
    let reach = crate::drive::Reach {
        book: info.book.clone(),
        roots: info.roots.clone(),
        timeout,
        accept_invalid_certs: false,
    };
    let browser = crate::drive::Browser::new(&reach)
        .map_err(|e| StackError::new(StackErrorKind::Configuration, e.message))?;
    let mut tr = crate::drive::Transcript::new();
    for url in info.gitlab_url.iter().chain(info.mattermost_url.iter()) {
        browser
            .send(crate::drive::http::Request::get(url.clone()), None, &mut tr)
            .await
            .map_err(|e| {
                StackError::new(
                    StackErrorKind::Environment,
                    format!("{url} is unreachable: {e}"),
                )
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn needs_a_url_and_reads_credentials_from_env_only() {
        let opts = LiveOptions {
            gitlab_url: None,
            mattermost_url: None,
            allow_writes: false,
            resolve: Vec::new(),
        };
        let env = |_: &str| None;
        let err = connect(
            &opts,
            Version::new(18, 11, 0),
            &[],
            &env,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, StackErrorKind::Configuration);
    }

    #[tokio::test]
    async fn an_unreachable_url_is_an_environment_error() {
        // Bind then drop a listener so the port is closed.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let opts = LiveOptions {
            gitlab_url: None,
            mattermost_url: Some(url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap()),
            allow_writes: false,
            resolve: Vec::new(),
        };
        let env = |k: &str| match k {
            "MM_HARNESS_USER_ALICE_PASSWORD" => Some("pw-alice-123".to_string()),
            _ => None,
        };
        let err = connect(
            &opts,
            Version::new(18, 11, 0),
            &["alice".into()],
            &env,
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, StackErrorKind::Environment, "{err}");
    }

    fn smoke() -> Scenario {
        crate::scenario::embedded::find("smoke")
            .expect("smoke is shipped")
            .load()
            .expect("smoke validates")
    }

    fn live(mattermost: bool) -> LiveOptions {
        LiveOptions {
            gitlab_url: Some(url::Url::parse("https://gitlab.example.com").unwrap()),
            mattermost_url: mattermost
                .then(|| url::Url::parse("https://mattermost.example.com").unwrap()),
            allow_writes: false,
            resolve: Vec::new(),
        }
    }

    #[test]
    fn preflight_names_each_missing_variable_and_flag_with_the_steps_needing_it() {
        let s = smoke();
        let none = |_: &str| None;
        let problems = preflight(&live(false), &[&s], &none);
        assert_eq!(
            problems,
            vec![
                "--mattermost-url URL is not given: Mattermost's URL, needed by `smoke` step 1 (mattermost.ping), `smoke` step 2 (sso.log_in user=alice)".to_string(),
                "MM_HARNESS_USER_ALICE_PASSWORD is not set: the password of GitLab user `alice`, needed by `smoke` step 2 (sso.log_in user=alice)".to_string(),
            ]
        );
        let set = |k: &str| (k == "MM_HARNESS_USER_ALICE_PASSWORD").then(|| "pw".to_string());
        assert!(preflight(&live(true), &[&s], &set).is_empty());
        // An empty value is as good as none.
        let empty = |k: &str| (k == "MM_HARNESS_USER_ALICE_PASSWORD").then(String::new);
        assert_eq!(preflight(&live(true), &[&s], &empty).len(), 1);
    }

    #[test]
    fn preflight_checks_the_optional_variables_too() {
        let env = |k: &str| match k {
            "MM_HARNESS_CA_FILE" => Some("/nonexistent/ca.pem".to_string()),
            RESOLVE_VARIABLE => Some("gitlab.example.com:443".to_string()),
            _ => None,
        };
        let problems = preflight(&live(true), &[], &env);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("MM_HARNESS_CA_FILE /nonexistent/ca.pem cannot be read"));
        let garbage = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(garbage.path(), "not a certificate\n").unwrap();
        let path = garbage.path().display().to_string();
        assert_eq!(
            read_ca_file(&path).unwrap_err(),
            format!(
                "MM_HARNESS_CA_FILE {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            )
        );
        assert!(problems[1].starts_with("MM_HARNESS_RESOLVE: invalid --resolve"));
        assert_eq!(
            parse_resolve_list("a.example:443:127.0.0.1:8443, b.example:80:127.0.0.1").unwrap(),
            vec![
                (
                    "a.example".to_string(),
                    443,
                    "127.0.0.1:8443".parse().unwrap()
                ),
                ("b.example".to_string(), 80, "127.0.0.1:80".parse().unwrap()),
            ]
        );
        assert_eq!(
            password_variable("jane.doe-2"),
            "MM_HARNESS_USER_JANE_DOE_2_PASSWORD"
        );
    }

    #[tokio::test]
    async fn a_missing_user_password_is_a_configuration_error_naming_the_variable() {
        let env = |_: &str| None;
        let err = connect(
            &live(true),
            Version::new(18, 11, 0),
            &["alice".into()],
            &env,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, StackErrorKind::Configuration);
        assert!(
            err.message.contains("MM_HARNESS_USER_ALICE_PASSWORD"),
            "{err}"
        );
    }
}
