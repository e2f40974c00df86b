//! A scenario run on another GitLab version than its file says (`run --gitlab-version V`, and
//! `release-diff`): the same gitlab.rb and steps, the twin profile and key table of `V`. Owns the
//! refusals — a file whose steps pin it to its own version is refused with the reason — and the
//! retargeted copy (snapshots off: the file's snapshot records its own version).

use crate::config::Version;

use super::model::{Action, Scenario};

/// Why `s` cannot run on another version, or the copy that does.
pub fn at_gitlab_version(s: &Scenario, v: Version) -> Result<Scenario, String> {
    if v.major < 8 {
        return Err(format!(
            "GitLab {v} bundles no Mattermost (GitLab Mattermost starts at 8.0)"
        ));
    }
    for step in &s.steps {
        let pinned = match &step.action {
            Action::GitlabUpgrade { .. } | Action::RunSql { .. } => Some(
                "upgrades the GitLab 8.9–8.12 releases its file starts from (the database each bundled Mattermost 3.x left)",
            ),
            Action::SaveTheme { .. } | Action::GetTheme { .. } => {
                Some("reads and writes themes through Mattermost 3.x's API v3 preferences")
            }
            Action::MattermostExport { .. } | Action::MoveOut { .. } => Some(
                "moves GitLab 18.11's bundled Mattermost out of omnibus (the plan is for 18.11 → 19)",
            ),
            Action::CheckConfig { gitlab_version, .. } if *gitlab_version < v => Some(
                "checks its gitlab.rb against an older GitLab than the version asked (the gate runs forward only)",
            ),
            _ => None,
        };
        if let Some(why) = pinned {
            return Err(format!(
                "step {} `{}` {why}: the file pins its behaviour to GitLab {}",
                step.number,
                step.action.name(),
                s.gitlab_version
            ));
        }
    }
    let mut out = s.clone();
    out.gitlab_version = v;
    out.snapshot = false;
    out.shipped_snapshot = None;
    Ok(out)
}
