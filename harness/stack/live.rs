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
//!
//! A live installation is never reconfigured; steps that write run only with `--allow-writes`.

use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::config::{Profile, Secret, Version};
use crate::net::AddressBook;

use super::error::{StackError, StackErrorKind};
use super::model::{Account, LiveOptions, StackInfo};

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
    let mut roots: Vec<CertificateDer<'static>> = Vec::new();
    if let Some(path) = var(env, "MM_HARNESS_CA_FILE") {
        let certs = CertificateDer::pem_file_iter(&path).map_err(|e| {
            StackError::new(
                StackErrorKind::Configuration,
                format!("cannot read MM_HARNESS_CA_FILE {path}: {e}"),
            )
        })?;
        for c in certs {
            roots.push(c.map_err(|e| {
                StackError::new(
                    StackErrorKind::Configuration,
                    format!("invalid certificate in {path}: {e}"),
                )
            })?);
        }
    }
    let users = users_wanted
        .iter()
        .filter_map(|login| {
            let key = format!(
                "MM_HARNESS_USER_{}_PASSWORD",
                login.to_ascii_uppercase().replace(['-', '.'], "_")
            );
            var(env, &key).map(|p| Account {
                login: login.clone(),
                password: Secret::new(p),
            })
        })
        .collect();
    let profile = Profile::for_gitlab(gitlab_version);
    let info = StackInfo {
        gitlab_url: opts.gitlab_url.clone(),
        mattermost_url: opts.mattermost_url.clone(),
        book: book_of(opts),
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

/// The address book of `--resolve` entries: port 443 is https, 80 http, any other port both.
fn book_of(opts: &LiveOptions) -> AddressBook {
    let mut book = AddressBook::new();
    for (host, port, addr) in &opts.resolve {
        match port {
            443 => book.insert("https", host, *port, *addr),
            80 => book.insert("http", host, *port, *addr),
            _ => {
                book.insert("http", host, *port, *addr);
                book.insert("https", host, *port, *addr);
            }
        }
    }
    book
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
}
