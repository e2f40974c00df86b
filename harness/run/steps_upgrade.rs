//! The upgrade steps: `gitlab.upgrade` and `mattermost.run_sql` change the running host through
//! the [`Stack`]; `mattermost.save_theme`, `mattermost.get_theme` (each as the user, signed in
//! with GitLab in a fresh browser) and `mattermost.count_data` (as the administrator) read what
//! an upgrade may lose over HTTP with [`crate::drive::upgrade`].

use crate::check::StepOutput;
use crate::config::Version;
use crate::drive::sso::{self, Person, SsoOutcome, SsoTarget};
use crate::drive::{Browser, DriveError, DriveErrorKind, Transcript, upgrade as drive};
use crate::stack::{Stack, StackErrorKind, StackInfo};
use crate::vocab::{Consent, SsoFlavour};

use super::{RunState, browser, fail, mattermost_api, need};

fn stack_error(e: crate::stack::StackError) -> DriveError {
    match e.kind {
        // Mattermost halted or the environment broke: not a refused configuration.
        StackErrorKind::Environment | StackErrorKind::NotAvailable => {
            DriveError::new(DriveErrorKind::Protocol, e.message)
        }
        StackErrorKind::Configuration | StackErrorKind::Refused => fail(e.message),
    }
}

pub(super) async fn gitlab_upgrade(
    stack: &mut Stack,
    to: Version,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let lines = stack.upgrade_gitlab(to).await.map_err(stack_error)?;
    tr.fact("upgraded", format!("GitLab {to}"));
    for line in lines {
        tr.fact("mattermost log", line);
    }
    Ok(StepOutput::Done)
}

pub(super) async fn run_sql(
    stack: &mut Stack,
    statement: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let rows = stack.mattermost_sql(statement).await.map_err(stack_error)?;
    tr.fact("sql", format!("{statement} ({rows} row(s))"));
    Ok(StepOutput::Done)
}

/// A fresh browser signed in to Mattermost as `user` through GitLab; the Mattermost user id.
async fn signed_in(
    info: &StackInfo,
    state: &RunState,
    user: &str,
    tr: &mut Transcript,
) -> Result<(Browser, String), DriveError> {
    let account = info
        .user(user)
        .ok_or_else(|| fail(format!("the stack has no GitLab account `{user}`")))?;
    let target = SsoTarget {
        mattermost_url: need(&info.mattermost_url, "Mattermost")?.clone(),
        mattermost_version: info.mattermost_version,
    };
    let person = Person {
        login: account.login.clone(),
        password: account.password.clone(),
    };
    let b = browser(&state.reach)?;
    match sso::round_trip(
        &b,
        &target,
        SsoFlavour::LogIn,
        &person,
        Consent::Approve,
        tr,
    )
    .await?
    {
        SsoOutcome::SignedIn(u) => Ok((b, u.id)),
        other => Err(DriveError::protocol(format!(
            "`{user}` could not sign in with GitLab: {other:?}"
        ))),
    }
}

pub(super) async fn save_theme(
    info: &StackInfo,
    state: &mut RunState,
    user: &str,
    theme: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let (b, id) = signed_in(info, state, user, tr).await?;
    let mm = need(&info.mattermost_url, "Mattermost")?;
    drive::save_theme(&b, mm, &id, theme, tr).await?;
    Ok(StepOutput::Done)
}

pub(super) async fn get_theme(
    info: &StackInfo,
    state: &mut RunState,
    user: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let (b, _) = signed_in(info, state, user, tr).await?;
    let mm = need(&info.mattermost_url, "Mattermost")?;
    let theme = drive::get_theme(&b, mm, tr).await?;
    tr.fact("theme", theme.clone().unwrap_or_else(|| "none".into()));
    Ok(StepOutput::Theme(theme))
}

pub(super) async fn count_data(
    info: &StackInfo,
    state: &mut RunState,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let (b, api) = mattermost_api(state, info, tr).await?;
    let counts = drive::count_data(b, api, tr).await?;
    tr.fact("counts", counts.to_string());
    Ok(StepOutput::Data(counts))
}
