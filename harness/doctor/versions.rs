//! Versions: the GitLab ↔ Mattermost pairing (the Mattermost a GitLab release bundles, from the
//! omnibus tag table in `upgrade::versions`), the end of bundled Mattermost in GitLab 19 (the move
//! out of omnibus: `mm-harness upgrade-plan`), and the support window of the running Mattermost
//! release line (`upgrade::mattermost_rules` ESR dates).
//!
//! Owns: [`check`].

use super::finding::{Finding, FindingKind};
use super::probe::Probe;
use crate::config::Version;
use crate::upgrade::mattermost_rules::end_of_support;
use crate::upgrade::versions::release;

pub async fn check(probe: &Probe) -> Vec<Finding> {
    let p = &probe.prepared;
    let gitlab: Option<Version> = match p.inputs.gitlab_version {
        Some(v) => Some(v),
        None => probe.gitlab_version().await.ok().flatten(),
    };
    let mattermost: Option<Version> = if p.inputs.mattermost.is_some() {
        probe.ping().await.as_ref().ok().and_then(|f| f.version())
    } else {
        // A Support Packet's metadata.yaml / diagnostics.yaml.
        p.inputs
            .support_packet
            .as_ref()
            .and_then(|x| x.server_version.as_ref())
            .map(|(v, _)| *v)
    };
    // GitLab 19 drops the keys, so ask the file itself whether it configures Mattermost.
    let bundled_in_rb = p.resolved.as_ref().is_some_and(|r| {
        r.host.mattermost_enabled
            || r.host.mattermost_external_url.is_some()
            || r.document.settings().iter().any(|s| {
                matches!(
                    s.target.root(),
                    "mattermost_external_url" | "mattermost" | "mattermost_nginx"
                )
            })
    });
    let mut out = Vec::new();
    if let Some(g) = gitlab
        && g.major >= 19
        && (bundled_in_rb || mattermost.is_some())
    {
        out.push(Finding::new(
            FindingKind::VersionsGitlab19,
            format!("GitLab {g}"),
            match mattermost {
                Some(m) => {
                    format!("GitLab {g} with Mattermost {m} answering on the Mattermost URL")
                }
                None => format!("GitLab {g} with mattermost_external_url in gitlab.rb"),
            },
        ));
    }
    let mut pairing_note = String::new();
    if let (Some(g), Some(m)) = (gitlab, mattermost)
        && g.major < 19
        && let Some(rel) = release(g)
        && let Some(shipped) = rel.mattermost
    {
        if (shipped.major, shipped.minor) != (m.major, m.minor) {
            out.push(Finding::new(
                FindingKind::VersionsPairingUnexpected,
                format!("GitLab {g}"),
                format!(
                    "GitLab {g} bundles Mattermost {shipped} ({}), but Mattermost {m} answers",
                    rel.source
                ),
            ));
        } else {
            pairing_note = format!("GitLab {g} bundles Mattermost {shipped}; ");
        }
    }
    if let Some(m) = mattermost
        && let Some(end) = end_of_support(m)
        && end < p.inputs.today.as_str()
    {
        out.push(Finding::new(
            FindingKind::VersionsOutOfSupport,
            format!("Mattermost {m}"),
            format!(
                "the {}.{} ESR's support ended {end} (today {})",
                m.major, m.minor, p.inputs.today
            ),
        ));
    }
    if out.is_empty() && (gitlab.is_some() || mattermost.is_some()) {
        out.push(Finding::new(
            FindingKind::VersionsOk,
            "versions",
            format!(
                "{pairing_note}GitLab {}, Mattermost {}",
                gitlab.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
                mattermost
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "?".into())
            ),
        ));
    }
    out
}
