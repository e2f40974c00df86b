//! The version → image table (`images.toml`, compiled in) and the choice of an image per host.

use serde::Deserialize;

use crate::config::Version;

/// The table's text.
pub const IMAGES_TOML: &str = include_str!("images.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct GitlabImage {
    /// `MAJOR.MINOR`.
    pub version: String,
    /// The omnibus image (`gitlab/gitlab-ce:<version>-ce.0`).
    pub omnibus: String,
    pub bundled_mattermost: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StandaloneImages {
    pub mattermost: String,
    pub postgres: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TwinImageEntry {
    pub image: String,
}

/// The whole table.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageTable {
    pub gitlab: Vec<GitlabImage>,
    pub standalone: StandaloneImages,
    pub twin: TwinImageEntry,
}

impl ImageTable {
    /// The compiled-in table (its validity is a unit test).
    pub fn builtin() -> ImageTable {
        toml::from_str(IMAGES_TOML).unwrap_or_else(|_| ImageTable {
            gitlab: Vec::new(),
            standalone: StandaloneImages {
                mattermost: String::new(),
                postgres: String::new(),
            },
            twin: TwinImageEntry {
                image: "mm-twin:local".into(),
            },
        })
    }

    /// The omnibus image for a GitLab version: same major.minor.
    pub fn omnibus_for(&self, v: Version) -> Option<&str> {
        let key = format!("{}.{}", v.major, v.minor);
        self.gitlab
            .iter()
            .find(|g| g.version == key)
            .map(|g| g.omnibus.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_names_each_scenario_version() {
        let t: ImageTable = toml::from_str(IMAGES_TOML).unwrap();
        assert_eq!(
            t.omnibus_for(Version::new(18, 11, 3)),
            Some("gitlab/gitlab-ce:18.11.0-ce.0")
        );
        assert_eq!(
            t.omnibus_for(Version::new(8, 12, 0)),
            Some("gitlab/gitlab-ce:8.12.0-ce.0")
        );
        assert_eq!(t.omnibus_for(Version::new(17, 0, 0)), None);
        assert_eq!(t.twin.image, "mm-twin:local");
        for g in &t.gitlab {
            assert!(g.omnibus.ends_with("-ce.0"), "{}", g.omnibus);
        }
    }
}
