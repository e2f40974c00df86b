//! GitLab → bundled Mattermost, at patch level, for every omnibus-gitlab CE release tag that
//! bundles it (7.14 … 18.11), and the release tags after bundling ended (19.0 …).
//!
//! Owns: the lookups over the generated table (`bundled_generated.rs`, written by
//! `cargo run --example gen_history` from `default_version` in `config/software/mattermost.rb`
//! at each tag: the package code, not the documentation), the known range of GitLab versions,
//! and how a `--from`/`--to` argument names a release.

use std::fmt;

use serde::Serialize;

use super::bundled_generated::{BUNDLED, STOPS, UNBUNDLED};
use super::error::{UpgradeError, UpgradeErrorKind};
use crate::config::Version;
use crate::history::{LiteralForm, ReleaseLine, ReleaseTag};

/// One CE release tag and the Mattermost its package bundles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bundled {
    /// The omnibus-gitlab tag the row was read at (`8.14.1+ce.1`).
    pub tag: ReleaseTag,
    pub mattermost: Version,
    /// How `default_version` was written at that tag.
    pub form: LiteralForm,
    /// The line of `default_version` in `config/software/mattermost.rb` at that tag.
    pub line: usize,
}

impl Bundled {
    pub const fn new(
        g: (u32, u32, u32),
        build: u32,
        m: (u32, u32, u32),
        form: LiteralForm,
        line: usize,
    ) -> Self {
        Bundled {
            tag: ReleaseTag::new(Version::new(g.0, g.1, g.2), build),
            mattermost: Version::new(m.0, m.1, m.2),
            form,
            line,
        }
    }
    pub fn gitlab(&self) -> Version {
        self.tag.version
    }
    /// `18.11.0+ce.0:config/software/mattermost.rb:21`, the row's source.
    pub fn source(&self) -> String {
        format!("{}:{}:{}", self.tag, MATTERMOST_RB, self.line)
    }
}

/// The software definition the table is read from.
pub const MATTERMOST_RB: &str = "config/software/mattermost.rb";

/// Every row of the table (one per CE tag, rebuilds included), in version order.
pub fn bundled_rows() -> &'static [Bundled] {
    BUNDLED
}

/// The CE release tags after bundling ended (no `config/software/mattermost.rb`), in order.
pub fn unbundled_tags() -> &'static [ReleaseTag] {
    UNBUNDLED
}

/// What one GitLab release ships, read from the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitlabRelease {
    pub gitlab: Version,
    /// The tag the answer comes from: the last rebuild of that version.
    pub tag: ReleaseTag,
    /// `None` from 19.0 on: the package no longer bundles Mattermost.
    pub mattermost: Option<Version>,
    /// Earlier rebuilds of the same version that shipped another Mattermost (`8.14.1+ce.0`
    /// shipped 3.5.0, `+ce.1` 3.5.1).
    pub other_builds: Vec<(ReleaseTag, Version)>,
    /// The source of the answer (`tag:path:line`), or the tag without the file.
    pub source: String,
}

/// The release `v` names, if omnibus tagged it.
pub fn release(v: Version) -> Option<GitlabRelease> {
    let rows: Vec<&Bundled> = BUNDLED.iter().filter(|b| b.gitlab() == v).collect();
    if let Some(last) = rows.last() {
        let other_builds = rows[..rows.len() - 1]
            .iter()
            .filter(|b| b.mattermost != last.mattermost)
            .map(|b| (b.tag.clone(), b.mattermost))
            .collect();
        return Some(GitlabRelease {
            gitlab: v,
            tag: last.tag.clone(),
            mattermost: Some(last.mattermost),
            other_builds,
            source: last.source(),
        });
    }
    let tag = UNBUNDLED.iter().rfind(|t| t.version == v)?;
    Some(GitlabRelease {
        gitlab: v,
        tag: tag.clone(),
        mattermost: None,
        other_builds: Vec::new(),
        source: format!("{tag}: no {MATTERMOST_RB}"),
    })
}

/// Every tagged GitLab version, in order (bundled and unbundled).
pub fn known_versions() -> Vec<Version> {
    let mut v: Vec<Version> = BUNDLED
        .iter()
        .map(Bundled::gitlab)
        .chain(UNBUNDLED.iter().map(|t| t.version))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The first and last tagged GitLab versions the table knows.
pub fn known_range() -> (Version, Version) {
    let v = known_versions();
    (v[0], v[v.len() - 1])
}

/// The last GitLab release line that bundles Mattermost (18.11) and its last patch.
pub fn last_bundled() -> &'static Bundled {
    BUNDLED.last().expect("the generated table is not empty")
}

/// The patch levels omnibus tagged in a release line.
pub fn patches_of(line: ReleaseLine) -> Vec<u32> {
    known_versions()
        .into_iter()
        .filter(|v| ReleaseLine::of(*v) == line)
        .map(|v| v.patch)
        .collect()
}

/// A `--from`/`--to` argument: `18.11.7`, or `18.11` (the latest patch of the line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VersionArg {
    pub version: Version,
    /// False when the user wrote `MAJOR.MINOR`: the plan reads it as the line's latest patch.
    pub patch_given: bool,
}

impl fmt::Display for VersionArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch_given {
            write!(f, "{}", self.version)
        } else {
            write!(f, "{}.{}", self.version.major, self.version.minor)
        }
    }
}

/// Parse `18.11`, `18.11.7`, `v18.11.7` or an omnibus tag `18.11.7+ce.0` / `18.11.7-ce.0`.
pub fn parse_version_arg(s: &str) -> Result<VersionArg, UpgradeError> {
    let (first, last) = known_range();
    let bad = || {
        UpgradeError::new(
            UpgradeErrorKind::BadVersion,
            format!("{s:?} is not a GitLab version"),
        )
        .hint(format!(
            "write MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 18.11 or 18.11.7; known GitLab releases: {first} … {last}"
        ))
    };
    let t = s.trim();
    let t = t.strip_prefix('v').unwrap_or(t);
    let core = t.split(['+', '-']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 6 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let n = |i: usize| parts.get(i).map(|p| p.parse::<u32>().unwrap_or(0));
    Ok(VersionArg {
        version: Version::new(n(0).unwrap_or(0), n(1).unwrap_or(0), n(2).unwrap_or(0)),
        patch_given: parts.len() == 3,
    })
}

/// The tagged release an argument names: exact for `X.Y.Z`, the line's last patch for `X.Y`.
/// An untagged version is exit-2 bad input with the known range (and the line's patches).
pub fn resolve(arg: VersionArg) -> Result<GitlabRelease, UpgradeError> {
    let (first, last) = known_range();
    let line = ReleaseLine::of(arg.version);
    let patches = patches_of(line);
    let version = if arg.patch_given {
        arg.version
    } else {
        match patches.last() {
            Some(p) => Version::new(line.major, line.minor, *p),
            None => arg.version,
        }
    };
    release(version).ok_or_else(|| {
        let hint = if patches.is_empty() {
            format!(
                "omnibus-gitlab has no GitLab {line} release; known GitLab releases: {first} … {last}"
            )
        } else {
            let list: Vec<String> = patches.iter().map(|p| format!("{line}.{p}")).collect();
            format!(
                "GitLab {line} was released as {}; known GitLab releases: {first} … {last}",
                list.join(", ")
            )
        };
        UpgradeError::new(
            UpgradeErrorKind::UnknownRelease,
            format!("GitLab {arg} was never released"),
        )
        .hint(hint)
    })
}

/// The distinct Mattermost versions omnibus shipped in `(from, to]` of GitLab versions, in
/// GitLab order, each with the first GitLab release (last rebuild) that shipped it.
pub fn mattermost_crossed(from: Version, to: Version) -> Vec<&'static Bundled> {
    let mut out: Vec<&'static Bundled> = Vec::new();
    let mut last_version = BUNDLED
        .iter()
        .rfind(|b| b.gitlab() <= from)
        .map(|b| b.mattermost);
    let mut by_version: Vec<&'static Bundled> = Vec::new();
    for b in BUNDLED
        .iter()
        .filter(|b| b.gitlab() > from && b.gitlab() <= to)
    {
        // Only the last rebuild of each GitLab version counts.
        if let Some(prev) = by_version.last()
            && prev.gitlab() == b.gitlab()
        {
            by_version.pop();
        }
        by_version.push(b);
    }
    for b in by_version {
        if Some(b.mattermost) != last_version {
            out.push(b);
            last_version = Some(b.mattermost);
        }
    }
    out
}

/// The required upgrade stop the package of `to` enforces: `upgrade_check()` in its preinst
/// refuses an installed GitLab older than `MIN_VERSION` ("It is required to upgrade to the latest
/// ${MIN_VERSION}.x version first"). `None` before 10.8 (no such check) or for an unknown tag.
pub fn required_stop(to: &ReleaseTag) -> Option<(ReleaseLine, String)> {
    STOPS
        .iter()
        .find(|(t, _, _)| t == to)
        .map(|(t, min, line)| (*min, format!("{t}:{}:{line}", super::versions_gen::PREINST)))
}
