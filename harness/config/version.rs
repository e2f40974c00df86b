//! GitLab and Mattermost version numbers, and the configuration era a GitLab version belongs to.
//!
//! Owns: parsing `18.11` / `8.12.0` style versions, ordering them, and the mapping from a GitLab
//! version to the way omnibus configures bundled Mattermost ([`KeyEra`]). The full upgrade tables
//! (every GitLab release and its bundled Mattermost) belong to `upgrade/`, not here.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A `major.minor[.patch]` version number (GitLab or Mattermost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid version {input:?}: expected MAJOR.MINOR or MAJOR.MINOR.PATCH (e.g. 18.11 or 8.12.0)"
)]
pub struct VersionParseError {
    pub input: String,
}

impl FromStr for Version {
    type Err = VersionParseError;

    /// Accepts `18`, `18.11`, `18.11.2`, a leading `v`, and omnibus suffixes such as `8.12.0+ce.0`
    /// or `18.6.1-ce.0` (the suffix is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionParseError {
            input: s.to_string(),
        };
        let trimmed = s.trim();
        let trimmed = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let core = trimmed
            .split(['+', '-', ' '])
            .next()
            .filter(|c| !c.is_empty())
            .ok_or_else(err)?;
        let mut parts = core.split('.');
        let mut next = |required: bool| -> Result<u32, VersionParseError> {
            match parts.next() {
                Some(p) => p.parse::<u32>().map_err(|_| err()),
                None if required => Err(err()),
                None => Ok(0),
            }
        };
        let major = next(true)?;
        let minor = next(false)?;
        let patch = next(false)?;
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Version::new(major, minor, patch))
    }
}

/// How omnibus-gitlab turns `mattermost[...]` keys into Mattermost configuration, by GitLab version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyEra {
    /// GitLab 8.x: the `gitlab` cookbook renders a long key list into config.json
    /// (shared/data/mattermost-attributes-8.12.rb, mattermost-config.json.erb-8.12).
    ConfigJson8,
    /// GitLab 9.x - 10.x: the `mattermost` cookbook, still a long key list rendered into config.json
    /// (shared/data/mattermost-attributes-10.8.rb, mattermost-config.json.erb-10.8).
    ConfigJson10,
    /// GitLab 11.0 - 18.x: a short key list turned into `MM_*` environment variables
    /// (shared/data/mattermost_helper-18.11.rb); everything else through `mattermost['env']`.
    EnvVars,
    /// GitLab 19.0 and later: bundled Mattermost removed; any `mattermost[...]` key aborts the upgrade.
    Removed,
}

impl KeyEra {
    pub fn for_gitlab(v: Version) -> KeyEra {
        match v.major {
            0..=8 => KeyEra::ConfigJson8,
            9..=10 => KeyEra::ConfigJson10,
            11..=18 => KeyEra::EnvVars,
            _ => KeyEra::Removed,
        }
    }
}

/// The version profiles the embedded reference stack (the twin) can play. Each pairs a GitLab
/// release with the Mattermost release omnibus bundled in it (shared/wire/gitlab.md, "Versions").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// GitLab 8.12 with Mattermost 3.4: API v3 present, Mattermost 3.x SSO routes, config.json keys.
    Gitlab8_12,
    /// GitLab 18.11 with Mattermost 10.11 ESR: API v3 answers 410, `MM_*` environment keys.
    Gitlab18_11,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::Gitlab8_12, Profile::Gitlab18_11];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Gitlab8_12 => "gitlab-8.12",
            Profile::Gitlab18_11 => "gitlab-18.11",
        }
    }

    pub fn gitlab_version(self) -> Version {
        match self {
            Profile::Gitlab8_12 => Version::new(8, 12, 0),
            Profile::Gitlab18_11 => Version::new(18, 11, 0),
        }
    }

    pub fn mattermost_version(self) -> Version {
        match self {
            Profile::Gitlab8_12 => Version::new(3, 4, 0),
            Profile::Gitlab18_11 => Version::new(10, 11, 0),
        }
    }

    /// The profile closest to a GitLab version: 8.x-10.x play 8.12, 11.0 and later play 18.11.
    pub fn for_gitlab(v: Version) -> Profile {
        if v.major <= 10 {
            Profile::Gitlab8_12
        } else {
            Profile::Gitlab18_11
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s || p.gitlab_version().to_string().starts_with(s))
            .ok_or_else(|| {
                let names: Vec<_> = Profile::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown profile {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_long_and_omnibus_versions() {
        assert_eq!("18.11".parse::<Version>().unwrap(), Version::new(18, 11, 0));
        assert_eq!(
            "8.12.0+ce.0".parse::<Version>().unwrap(),
            Version::new(8, 12, 0)
        );
        assert_eq!(
            "v10.11.3".parse::<Version>().unwrap(),
            Version::new(10, 11, 3)
        );
        assert_eq!(
            "18.6.1-ce.0".parse::<Version>().unwrap(),
            Version::new(18, 6, 1)
        );
        assert!("eighteen".parse::<Version>().is_err());
        assert!("1.2.3.4".parse::<Version>().is_err());
        assert!("".parse::<Version>().is_err());
    }

    #[test]
    fn eras_follow_the_omnibus_history() {
        let era = |s: &str| KeyEra::for_gitlab(s.parse().unwrap());
        assert_eq!(era("8.12"), KeyEra::ConfigJson8);
        assert_eq!(era("10.8"), KeyEra::ConfigJson10);
        assert_eq!(era("11.0"), KeyEra::EnvVars);
        assert_eq!(era("18.11"), KeyEra::EnvVars);
        assert_eq!(era("19.0"), KeyEra::Removed);
    }

    #[test]
    fn profiles_parse_by_name_and_version() {
        assert_eq!(
            "gitlab-8.12".parse::<Profile>().unwrap(),
            Profile::Gitlab8_12
        );
        assert_eq!("18.11".parse::<Profile>().unwrap(), Profile::Gitlab18_11);
        assert!("gitlab-12".parse::<Profile>().is_err());
    }
}
