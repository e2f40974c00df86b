//! omnibus-gitlab release tag names: which tags are GitLab CE releases, their order, and their
//! grouping by release line.
//!
//! Owns: the tag grammar `MAJOR.MINOR.PATCH+ce.BUILD` (a release and its package rebuilds) and
//! what is *not* a CE release (`+rcN.ce.0` release candidates, `+ee.N` Enterprise packages,
//! `8.0.0.omnibus`-style tags of the 2015 era, `-ee.com`, `-ci`, `-pkg-test` and auto-deploy
//! tags). No I/O: callers pass the names `git tag -l` printed.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::config::Version;

/// One GitLab Community Edition release tag of omnibus-gitlab, e.g. `18.11.0+ce.0`.
///
/// `build` is the package rebuild number: `8.14.1+ce.1` rebuilt 8.14.1 (and, in that case,
/// bumped the bundled Mattermost from 3.5.0 to 3.5.1), so a GitLab version can have several tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ReleaseTag {
    pub version: Version,
    pub build: u32,
}

impl ReleaseTag {
    pub const fn new(version: Version, build: u32) -> Self {
        ReleaseTag { version, build }
    }

    /// The tag's name in the repository: `18.11.0+ce.0`.
    pub fn name(&self) -> String {
        self.to_string()
    }

    pub fn line(&self) -> ReleaseLine {
        ReleaseLine::of(self.version)
    }
}

impl fmt::Display for ReleaseTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+ce.{}", self.version, self.build)
    }
}

/// A GitLab release line, `MAJOR.MINOR` (every monthly release and its patch releases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ReleaseLine {
    pub major: u32,
    pub minor: u32,
}

impl ReleaseLine {
    pub const fn new(major: u32, minor: u32) -> Self {
        ReleaseLine { major, minor }
    }
    pub const fn of(v: Version) -> Self {
        ReleaseLine {
            major: v.major,
            minor: v.minor,
        }
    }
    /// `MAJOR.MINOR.0`, the version the line starts with.
    pub const fn first_version(self) -> Version {
        Version::new(self.major, self.minor, 0)
    }
}

impl fmt::Display for ReleaseLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Parse a tag name if, and only if, it is a GitLab CE release (or rebuild) tag:
/// `MAJOR.MINOR.PATCH+ce.BUILD`, all four parts decimal without sign or leading `+`.
///
/// ```
/// use mm_harness::history::parse_release_tag;
/// assert!(parse_release_tag("18.11.0+ce.0").is_some());
/// assert!(parse_release_tag("19.0.0+rc42.ce.0").is_none()); // release candidate
/// assert!(parse_release_tag("18.11.0+ee.0").is_none());     // Enterprise Edition
/// assert!(parse_release_tag("8.0.0.omnibus").is_none());    // 2015-era tag scheme
/// ```
pub fn parse_release_tag(name: &str) -> Option<ReleaseTag> {
    let (version, build) = name.split_once("+ce.")?;
    let build = decimal(build)?;
    let mut parts = version.split('.');
    let major = decimal(parts.next()?)?;
    let minor = decimal(parts.next()?)?;
    let patch = decimal(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some(ReleaseTag::new(Version::new(major, minor, patch), build))
}

/// A non-empty run of ASCII digits that fits a u32 (no sign, no spaces, no `_`).
fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Every CE release tag among `names`, in version order (then build order), duplicates removed.
pub fn release_tags<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<ReleaseTag> {
    let mut tags: Vec<ReleaseTag> = names
        .into_iter()
        .filter_map(|n| parse_release_tag(n.trim()))
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// The tags grouped by release line, each line's tags in order.
pub fn by_line(tags: &[ReleaseTag]) -> BTreeMap<ReleaseLine, Vec<ReleaseTag>> {
    let mut lines: BTreeMap<ReleaseLine, Vec<ReleaseTag>> = BTreeMap::new();
    for t in tags {
        lines.entry(t.line()).or_default().push(t.clone());
    }
    for v in lines.values_mut() {
        v.sort();
    }
    lines
}

/// One tag per GitLab version: the last rebuild (`8.14.1+ce.1` over `8.14.1+ce.0`), which is
/// the package a user who installs that version gets.
pub fn latest_builds(tags: &[ReleaseTag]) -> Vec<ReleaseTag> {
    let mut out: Vec<ReleaseTag> = Vec::new();
    let mut sorted = tags.to_vec();
    sorted.sort();
    for t in sorted {
        match out.last_mut() {
            Some(last) if last.version == t.version => *last = t,
            _ => out.push(t),
        }
    }
    out
}

/// The first release of each line (`X.Y.0`, or the line's lowest patch when `.0` was never
/// tagged), the tag that "GitLab X.Y" means in release notes and documentation tables.
pub fn line_firsts(tags: &[ReleaseTag]) -> Vec<ReleaseTag> {
    by_line(tags)
        .into_values()
        .filter_map(|v| v.into_iter().next())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_release_and_rebuild_tags_only() {
        let t = parse_release_tag("8.14.1+ce.1").unwrap();
        assert_eq!(t.version, Version::new(8, 14, 1));
        assert_eq!(t.build, 1);
        assert_eq!(t.name(), "8.14.1+ce.1");
        for bad in [
            "19.0.0+rc42.ce.0",
            "18.11.0+ee.0",
            "8.0.0.omnibus",
            "7.14.0-ee.omnibus.1",
            "8.0.0+ce.",
            "8.0+ce.0",
            "8.0.0.1+ce.0",
            "+8.0.0+ce.0",
            "8.0.0+ce.-1",
            "8.0.0+ce.0 ",
            "v8.0.0+ce.0",
            "18.11.0-auto-deploy+ce.0",
            "99999999999.0.0+ce.0",
        ] {
            assert!(parse_release_tag(bad).is_none(), "{bad} accepted");
        }
    }

    #[test]
    fn orders_by_version_not_by_text() {
        let tags = release_tags(["8.10.0+ce.0", "8.9.11+ce.0", "8.9.1+ce.1", "8.9.1+ce.0"]);
        let names: Vec<_> = tags.iter().map(ReleaseTag::name).collect();
        assert_eq!(
            names,
            ["8.9.1+ce.0", "8.9.1+ce.1", "8.9.11+ce.0", "8.10.0+ce.0"]
        );
    }

    #[test]
    fn groups_lines_and_picks_last_rebuild_and_line_start() {
        let tags = release_tags([
            "8.14.1+ce.0",
            "8.14.1+ce.1",
            "8.14.0+ce.0",
            "18.11.2+ce.0",
            "18.11.11+ce.0",
        ]);
        let lines = by_line(&tags);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[&ReleaseLine::new(8, 14)].len(), 3);
        let latest: Vec<_> = latest_builds(&tags).iter().map(|t| t.name()).collect();
        assert_eq!(
            latest,
            [
                "8.14.0+ce.0",
                "8.14.1+ce.1",
                "18.11.2+ce.0",
                "18.11.11+ce.0"
            ]
        );
        let firsts: Vec<_> = line_firsts(&tags).iter().map(|t| t.name()).collect();
        assert_eq!(firsts, ["8.14.0+ce.0", "18.11.2+ce.0"]);
    }
}
