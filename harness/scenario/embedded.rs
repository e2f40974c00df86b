//! The shipped suite: every file of `scenarios/` and its twin snapshot from `snapshots/`, compiled
//! into the binary, so `mm-harness run` works from any directory after `cargo install`.
//!
//! Owns: the list of embedded files ([`ALL`], and [`TARGET_SNAPSHOTS`] for the other targets'
//! `NAME@TARGET.snap` files, e.g. the docker target's), their pseudo-paths
//! (`embedded:scenarios/NAME.toml`, shown in reports and error locations), and the rule that gives
//! a scenario its shipped snapshots (its text is byte-for-byte a shipped file's). The lists are
//! written out below, one line per file; `tests/scenarios_cmd.rs` fails when a file of
//! `scenarios/` or `snapshots/` is missing from them, and a listed file that is deleted stops the
//! build (`include_str!`). A live installation's `NAME@live.snap` is its own and never shipped.
//!
//! How a directory of scenario files combines with this suite (same name replaces) is
//! [`super::load::select_suite`]'s.

use std::path::{Path, PathBuf};

use super::error::ScenarioError;
use super::model::Scenario;

/// One shipped scenario file and its twin snapshot.
#[derive(Debug)]
pub struct EmbeddedScenario {
    /// The file stem (`single-server`); every shipped scenario's `name` equals it.
    pub stem: &'static str,
    /// The TOML text, as in `scenarios/STEM.toml`.
    pub toml: &'static str,
    /// `snapshots/STEM.snap`, insta's file format (header and body).
    pub snapshot: &'static str,
}

/// How an embedded scenario's path starts: it is no file on disk.
pub const PATH_PREFIX: &str = "embedded:scenarios/";

macro_rules! embedded {
    ($($stem:literal),* $(,)?) => {
        /// Every shipped scenario, sorted by stem.
        pub static ALL: &[EmbeddedScenario] = &[$(
            EmbeddedScenario {
                stem: $stem,
                toml: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/", $stem, ".toml")),
                snapshot: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/", $stem, ".snap")),
            },
        )*];
    };
}

embedded![
    "deny-consent",
    "deny-consent-8.12",
    "email-sign-in-off",
    "gitlab-only-sign-up",
    "https",
    "https-expired-certificate",
    "https-proxy-without-forwarded-proto",
    "https-untrusted-certificate",
    "long-gitlab-username",
    "long-gitlab-username-8.12",
    "move-out-of-omnibus",
    "reauthorise",
    "second-sign-up",
    "second-sign-up-8.12",
    "single-server",
    "single-server-8.12",
    "smoke",
    "smtp-auth-without-tls",
    "smtp-credentials-in-clear-8.12",
    "smtp-keys-dropped-18.11",
    "smtp-none",
    "smtp-none-port-25",
    "smtp-starttls-587",
    "smtp-starttls-587-env",
    "smtp-starttls-against-465",
    "smtp-starttls-not-offered",
    "smtp-starttls-not-offered-auth",
    "smtp-tls-465",
    "smtp-tls-against-starttls-port",
    "smtp-tls-notifications-off",
    "smtp-untrusted-certificate",
    "split-server",
    "split-server-8.12",
    "split-server-api-v3",
    "unregistered-redirect-uri",
    "upgrade-3.1-to-3.4",
    "upgrade-3.2-to-3.4-incomplete",
    "upgrade-3.2-to-3.4-sql-fix",
    "upgrade-3.2-via-3.3",
    "user-creation-off",
    "user-creation-off-8.12",
    "username-taken",
    "username-taken-8.12",
    "webhooks",
    "webhooks-8.12",
    "webhooks-disabled",
    "webhooks-disabled-8.12",
    "wrong-secret",
];

/// A shipped snapshot of a target other than the twin (`NAME@TARGET`).
#[derive(Debug)]
pub struct TargetSnapshot {
    /// `NAME@TARGET`, the file stem.
    pub name: &'static str,
    /// `snapshots/NAME@TARGET.snap`, insta's file format.
    pub text: &'static str,
}

macro_rules! target_snapshots {
    ($($name:literal),* $(,)?) => {
        /// Every shipped `NAME@TARGET.snap`, sorted by name.
        pub static TARGET_SNAPSHOTS: &[TargetSnapshot] = &[$(
            TargetSnapshot {
                name: $name,
                text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots/", $name, ".snap")),
            },
        )*];
    };
}

target_snapshots![
    "deny-consent-8.12@docker",
    "deny-consent@docker",
    "email-sign-in-off@docker",
    "gitlab-only-sign-up@docker",
    "https@docker",
    "reauthorise@docker",
    "second-sign-up-8.12@docker",
    "second-sign-up@docker",
    "single-server-8.12@docker",
    "single-server@docker",
    "smtp-auth-without-tls@docker",
    "smtp-keys-dropped-18.11@docker",
    "smtp-none-port-25@docker",
    "smtp-none@docker",
    "smtp-starttls-587-env@docker",
    "smtp-starttls-587@docker",
    "smtp-starttls-against-465@docker",
    "smtp-tls-465@docker",
    "smtp-tls-against-starttls-port@docker",
    "smtp-tls-notifications-off@docker",
    "split-server-8.12@docker",
    "split-server-api-v3@docker",
    "split-server@docker",
    "unregistered-redirect-uri@docker",
    "upgrade-3.1-to-3.4@docker",
    "upgrade-3.2-to-3.4-incomplete@docker",
    "upgrade-3.2-to-3.4-sql-fix@docker",
    "upgrade-3.2-via-3.3@docker",
    "user-creation-off-8.12@docker",
    "user-creation-off@docker",
    "webhooks-8.12@docker",
    "webhooks-disabled-8.12@docker",
    "webhooks-disabled@docker",
    "webhooks@docker",
    "wrong-secret@docker",
];

impl EmbeddedScenario {
    /// `embedded:scenarios/STEM.toml`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("{PATH_PREFIX}{}.toml", self.stem))
    }

    /// Parse and validate it (a shipped file that does not validate is a bug a test catches).
    pub fn load(&self) -> Result<Scenario, ScenarioError> {
        let path = self.path();
        let file = super::source::decode(&path.display().to_string(), self.toml.as_bytes().into())
            .map_err(|d| ScenarioError::invalid(path.clone(), vec![*d]))?;
        super::parse::parse_scenario(&file, &path)
    }
}

/// The shipped scenario of this stem.
pub fn find(stem: &str) -> Option<&'static EmbeddedScenario> {
    ALL.iter().find(|e| e.stem == stem)
}

/// Whether `path` names an embedded scenario rather than a file.
pub fn is_embedded_path(path: &Path) -> bool {
    path.to_str().is_some_and(|p| p.starts_with(PATH_PREFIX))
}

/// The shipped snapshot named `snapshot_name` (`NAME` for the twin, `NAME@TARGET` otherwise) of
/// `scenario`, when its text is exactly a shipped scenario's; what the runner compares with when
/// the snapshot directory has no file of that name.
pub fn snapshot_for(scenario: &Scenario, snapshot_name: &str) -> Option<&'static str> {
    let twin = scenario.shipped_snapshot?;
    if snapshot_name == scenario.name {
        return Some(twin);
    }
    TARGET_SNAPSHOTS
        .iter()
        .find(|t| t.name == snapshot_name && t.name.split('@').next() == Some(&scenario.name))
        .map(|t| t.text)
}

/// The shipped snapshot of a scenario whose file text is exactly a shipped scenario's (an
/// unchanged copy, e.g. the project's own `scenarios/` or a `scenarios export`); `None` for any
/// other text, whose transcript the shipped snapshot says nothing about.
pub fn snapshot_for_text(text: &str) -> Option<&'static str> {
    ALL.iter()
        .find(|e| e.toml.len() == text.len() && e.toml == text)
        .map(|e| e.snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_validates_and_is_named_after_its_file() {
        let mut last = "";
        for e in ALL {
            assert!(last < e.stem, "ALL is sorted: {last} before {}", e.stem);
            last = e.stem;
            let s = e.load().unwrap_or_else(|err| panic!("{}", err.render()));
            assert_eq!(s.name, e.stem);
            assert_eq!(s.path, e.path());
            assert!(is_embedded_path(&s.path));
            assert_eq!(s.shipped_snapshot, Some(e.snapshot));
            assert!(
                e.snapshot.starts_with("---\n"),
                "{} snapshot header",
                e.stem
            );
            assert_eq!(snapshot_for_text(e.toml), Some(e.snapshot));
        }
        assert!(snapshot_for_text("name = \"x\"").is_none());
        let mut last = "";
        for t in TARGET_SNAPSHOTS {
            assert!(
                last < t.name,
                "TARGET_SNAPSHOTS is sorted: {last} before {}",
                t.name
            );
            last = t.name;
            let (stem, target) = t.name.split_once('@').expect("NAME@TARGET");
            let scenario = find(stem)
                .expect("a shipped scenario")
                .load()
                .expect("valid");
            assert!(target != "live" && target != "twin", "{}", t.name);
            assert_eq!(snapshot_for(&scenario, t.name), Some(t.text));
            assert_eq!(snapshot_for(&scenario, stem), scenario.shipped_snapshot);
            assert_eq!(snapshot_for(&scenario, &format!("{stem}@live")), None);
        }
        assert!(!is_embedded_path(Path::new("scenarios/smoke.toml")));
    }
}
