//! Mattermost's own upgrade rules that bundled users cross, as data with their sources.
//!
//! Owns: the verdict on one Mattermost version step (`from → to` of the binary), the Extended
//! Support Releases and their end of support that the project could cite, and the edition rule
//! of v11 for GitLab SSO. Sources are named on each rule: the seed (shared/seed/
//! gitlab-mattermost.md), docs.mattermost.com pages, mattermost/mattermost and mattermost/docs
//! pull requests, and omnibus-gitlab merge requests.
//!
//! No I/O; the date that decides "out of support" is an input.

use serde::Serialize;

use crate::config::Version;

/// How bad a note is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Info,
    Warn,
    /// The step is not supported as it is: split it, or do the named action first.
    Block,
}

/// One rule that applies to a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub id: &'static str,
    pub severity: Severity,
    pub text: String,
    /// What to do about it, when something can be done.
    pub action: Option<String>,
    pub source: &'static str,
}

/// The verdict on a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
pub enum Verdict {
    Supported,
    /// Go through these Mattermost versions first (or apply the alternative a note names).
    MustSplit {
        via: Vec<Version>,
    },
    /// No upgrade order fixes it (e.g. a licence or a downgrade across a schema change).
    Blocked,
}

pub const SEED: &str = "shared/seed/gitlab-mattermost.md";
const SEED_PRE_89: &str =
    "shared/seed/gitlab-mattermost.md, \"Upgrading GitLab Mattermost from versions prior to 8.9\"";
const SEED_SPECIAL: &str =
    "shared/seed/gitlab-mattermost.md, \"Upgrading GitLab Mattermost\", Special Considerations";
const MM_NOTES: &str = "https://docs.mattermost.com/upgrade/important-upgrade-notes.html";
const MM_PREPARE: &str = "https://docs.mattermost.com/upgrade/prepare-to-upgrade-mattermost.html (Upgrade Best Practices)";
const OMNIBUS_MR_5742: &str = "https://gitlab.com/gitlab-org/omnibus-gitlab/-/merge_requests/5742 (Update Mattermost to 6.1.0: \"6.0.x Longer migration times can be expected\")";
pub const V11_SSO_SOURCE: &str = "mattermost/mattermost pull request #33848 \"Move Gitlab SSO to Professional\" (MM-65067, v11): \"Gitlab SSO will now require a license making it available starting the Professional SKU\"; mattermost/docs issue #8344";

/// Where the 3.2 → 3.4 rule comes from: the seed, and the release code that explains it (the twin's
/// `twin/mattermost/schema.rs` replays it).
const SEED_SPECIAL_3_4_SOURCE: &str = "shared/seed/gitlab-mattermost.md, \"Upgrading GitLab Mattermost\", Special Considerations; mattermost/platform v3.4.0 store/sql_upgrade.go (UpgradeDatabaseToVersion32 holds the theme move that v3.3.0 ran in store/sql_user_store.go UpgradeSchemaIfNeeded)";

/// The SQL the seed gives for the incomplete 3.2 → 3.4 upgrade.
pub const SQL_FIX_3_4: &str = "UPDATE Systems SET Value = '3.1.0' WHERE Name = 'Version';";

/// An Extended Support Release the project can cite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Esr {
    pub line: (u32, u32),
    /// `YYYY-MM-DD`, when a source gives it.
    pub end_of_support: Option<&'static str>,
    pub source: &'static str,
}

/// ESRs as far as a source here states them (oldest first).
pub const ESRS: &[Esr] = &[
    Esr {
        line: (5, 37),
        end_of_support: None,
        source: "https://docs.mattermost.com/upgrade/important-upgrade-notes.html (\"When upgrading to 7.x from a 5.x release please make sure to upgrade to 5.37.10 first\")",
    },
    Esr {
        line: (9, 11),
        end_of_support: Some("2025-05-15"),
        source: "https://docs.mattermost.com/upgrade/important-upgrade-notes.html (\"Support for Mattermost Server v9.11 Extended Support Release has come to the end of its life cycle on May 15, 2025. Upgrading to Mattermost Server v10.5 or later is required.\")",
    },
    Esr {
        line: (10, 5),
        end_of_support: None,
        source: "https://docs.mattermost.com/upgrade/important-upgrade-notes.html (named as the next ESR after v9.11)",
    },
    Esr {
        line: (10, 11),
        end_of_support: Some("2026-08-15"),
        source: "mattermost/docs pull requests #8912 (\"Mattermost Server v10.11 ESR is coming to end of life on August 15, 2026, and that upgrading to v11.7 or later is recommended\") and #9112 (\"Support ended 2026-08-15\")",
    },
    Esr {
        line: (11, 7),
        end_of_support: None,
        source: "mattermost/docs pull request #8903 (\"Add v11.7 ESR documentation for May 15 release\"); #8992 (v11.7.1 is the \"Current ESR\" download)",
    },
];

/// The ESR of a release line, if it is one.
pub fn esr(v: Version) -> Option<&'static Esr> {
    ESRS.iter().find(|e| e.line == (v.major, v.minor))
}

/// The standalone version the project recommends after the last bundled one: the current ESR.
pub const CURRENT_ESR: Version = Version::new(11, 7, 1);

/// Facts about the installation that change a verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StepContext {
    /// Users sign in with GitLab (GitLabSettings.Enable, or omnibus auto-registration).
    pub gitlab_sso: bool,
    /// Public file links are enabled (FileSettings.EnablePublicLink); `None` when unknown.
    pub public_links: Option<bool>,
    /// A Mattermost licence of Professional or higher is installed (only matters from v11).
    pub licensed: bool,
}

/// The verdict and the notes on one step of the Mattermost binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepEval {
    pub from: Version,
    pub to: Version,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub notes: Vec<Note>,
}

/// Judge one step `from → to` of the Mattermost binary.
pub fn evaluate_step(from: Version, to: Version, ctx: &StepContext) -> StepEval {
    let mut notes = Vec::new();
    let mut via: Vec<Version> = Vec::new();
    let mut blocked = false;
    let v = Version::new;

    if to < from {
        if (to.major, to.minor) == (from.major, from.minor) {
            notes.push(Note {
                id: "mattermost.patch-downgrade",
                severity: Severity::Warn,
                text: format!(
                    "omnibus installs Mattermost {to} over {from}: an older patch of the same release (the next GitLab line started from an earlier Mattermost patch)"
                ),
                action: Some(format!(
                    "upgrade GitLab to a patch that ships {from} or later instead of the first patch of the line"
                )),
                source: "harness/upgrade/bundled_generated.rs (omnibus default_version per tag)",
            });
        } else {
            blocked = true;
            notes.push(Note {
                id: "mattermost.downgrade",
                severity: Severity::Block,
                text: format!("Mattermost {from} → {to} is a downgrade across releases; Mattermost does not migrate a database back"),
                action: Some("restore the database backup taken before the upgrade".into()),
                source: MM_PREPARE,
            });
        }
    }

    if from < v(3, 0, 0) && to >= v(3, 0, 0) {
        if from < v(2, 2, 0) {
            via.push(v(2, 2, 0));
            notes.push(Note {
                id: "mattermost.pre-3.0-start-from-8.8",
                severity: Severity::Block,
                text: format!("the 3.x database upgrade starts from GitLab 8.8 (Mattermost 2.2.0); {from} is older"),
                action: Some("upgrade to GitLab 8.8 first (\"Confirm you are starting with version GitLab 8.8\")".into()),
                source: SEED_PRE_89,
            });
        }
        notes.push(Note {
            id: "mattermost.pre-3.0-db2-settings",
            severity: Severity::Warn,
            text: "Mattermost 3.x merges per-team accounts into multi-team accounts: the upgrade is irreversible and needs a database backup and two gitlab.rb settings; accounts with duplicate emails or usernames on other teams than the primary one are renamed (their owners get an email)".into(),
            action: Some("back up the database (sudo -u gitlab-psql -- /opt/gitlab/embedded/bin/pg_dump -h /var/opt/gitlab/postgresql mattermost_production | gzip > mattermost_dbdump_$(date --rfc-3339=date).sql.gz), then set mattermost['db2_backup_created'] = true and mattermost['db2_team_name'] = \"TEAMNAME\" (the primary team) before running the 8.9 upgrade; if it fails (\"Automatic database upgrade failed\"), run the interactive -upgrade_db_30".into()),
            source: SEED_PRE_89,
        });
    }
    if from < v(3, 0, 0) && from >= v(2, 0, 0) && to < v(3, 0, 0) && to.minor > from.minor + 2 {
        via.push(v(from.major, from.minor + 2, 0));
        notes.push(Note {
            id: "mattermost.2.x-skip-one",
            severity: Severity::Block,
            text: format!("Mattermost 2.x can skip one release, not more: {from} → {to} skips several"),
            action: Some("upgrade one GitLab release line at a time".into()),
            source: "GitLab 8.5 release post: \"Mattermost can now also skip 1 major build version. This means GitLab Mattermost upgrades from GitLab 8.3 to 8.5 without needing to upgrade to 8.4.\"",
        });
    }
    if (from.major, from.minor) == (3, 2) && to >= v(3, 4, 0) {
        via.push(v(3, 3, 0));
        notes.push(Note {
            id: "mattermost.3.2-to-3.4-skipped-migration",
            severity: Severity::Block,
            text: "upgrading from Mattermost 3.2 to 3.4 is incomplete: 3.4 moves the users' themes (Users.ThemeProps → Preferences) only in its 3.1 → 3.2 step, which a 3.2 database skips, so every user's theme is lost".into(),
            action: Some(format!(
                "either stop at Mattermost 3.3 (GitLab 8.11) first, or upgrade and then run `{SQL_FIX_3_4}` so Mattermost re-runs the skipped upgrade steps"
            )),
            source: SEED_SPECIAL_3_4_SOURCE,
        });
    }
    if from < v(3, 4, 0) && to >= v(3, 4, 0) {
        let known = ctx.public_links;
        notes.push(Note {
            id: "mattermost.3.4-public-links-invalidated",
            severity: if known == Some(false) { Severity::Info } else { Severity::Warn },
            text: match known {
                Some(true) => "public links are enabled: Mattermost 3.4 invalidates every existing public link (new public link salt)".into(),
                Some(false) => "public links are disabled, so Mattermost 3.4's new public link salt invalidates nothing".into(),
                None => "if public links are enabled, Mattermost 3.4 invalidates every existing public link (new public link salt)".into(),
            },
            action: (known != Some(false)).then(|| "tell users to re-share public links after the upgrade".into()),
            source: SEED_SPECIAL,
        });
    }
    if from.major == 5 && from < v(5, 37, 10) && to.major >= 7 {
        via.push(v(5, 37, 10));
        notes.push(Note {
            id: "mattermost.5.x-to-7.x-via-5.37.10",
            severity: Severity::Block,
            text: format!("Mattermost {from} → {to}: an upgrade to 7.x from 5.x must pass 5.37.10"),
            action: Some("upgrade to 5.37.10 first".into()),
            source: MM_NOTES,
        });
    }
    if from < v(6, 0, 0) && to >= v(6, 0, 0) {
        notes.push(Note {
            id: "mattermost.6.0-long-migrations",
            severity: Severity::Warn,
            text: "crossing Mattermost 6.0: long schema migrations on Posts and related tables (hours on tens of millions of posts)".into(),
            action: Some("plan downtime; take a backup; check the migration estimates before upgrading".into()),
            source: OMNIBUS_MR_5742,
        });
    }
    if to.major >= 11 && from.major < 11 && ctx.gitlab_sso && !ctx.licensed {
        blocked = true;
        notes.push(Note {
            id: "mattermost.v11-gitlab-sso-licence",
            severity: Severity::Block,
            text: format!(
                "Mattermost {to}: GitLab SSO requires a licence (Professional or higher) from v11; without one, users who sign in with GitLab cannot"
            ),
            action: Some("install a Professional (or higher) licence on Enterprise Edition before moving to v11, or stay on 10.11 (out of support since 2026-08-15), or move users to another sign-in method first".into()),
            source: V11_SSO_SOURCE,
        });
    }
    if let (Some(a), Some(b)) = (esr_index(from), esr_index_at_or_after(to))
        && b > a + 1
    {
        notes.push(Note {
            id: "mattermost.esr-to-esr",
            severity: Severity::Warn,
            text: format!("Mattermost {from} → {to} skips an Extended Support Release; backward compatibility is only guaranteed from the previous ESR"),
            action: Some("upgrade ESR to ESR".into()),
            source: MM_PREPARE,
        });
    }
    via.sort();
    via.dedup();
    let verdict = if blocked {
        Verdict::Blocked
    } else if notes.iter().any(|n| n.severity == Severity::Block) {
        Verdict::MustSplit { via }
    } else {
        Verdict::Supported
    };
    StepEval {
        from,
        to,
        verdict,
        notes,
    }
}

fn esr_index(v: Version) -> Option<usize> {
    ESRS.iter().position(|e| e.line == (v.major, v.minor))
}
fn esr_index_at_or_after(v: Version) -> Option<usize> {
    ESRS.iter()
        .position(|e| Version::new(e.line.0, e.line.1, 0) >= Version::new(v.major, v.minor, 0))
}

/// Whether the release line of `v` is out of support on `today` (`YYYY-MM-DD`), by a cited ESR
/// date; non-ESR lines and uncited dates give `None`.
pub fn end_of_support(v: Version) -> Option<&'static str> {
    esr(v).and_then(|e| e.end_of_support)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(a: &str, b: &str, ctx: StepContext) -> StepEval {
        evaluate_step(a.parse().unwrap(), b.parse().unwrap(), &ctx)
    }
    fn ids(e: &StepEval) -> Vec<&'static str> {
        e.notes.iter().map(|n| n.id).collect()
    }

    #[test]
    fn seed_special_cases_become_verdicts() {
        let e = step("3.2.0", "3.4.0", StepContext::default());
        assert_eq!(
            e.verdict,
            Verdict::MustSplit {
                via: vec![Version::new(3, 3, 0)]
            }
        );
        assert!(ids(&e).contains(&"mattermost.3.2-to-3.4-skipped-migration"));
        assert!(
            e.notes
                .iter()
                .any(|n| n.action.as_deref().unwrap_or("").contains(SQL_FIX_3_4))
        );
        let e = step("3.1.0", "3.4.0", StepContext::default());
        assert_eq!(e.verdict, Verdict::Supported);
        assert!(ids(&e).contains(&"mattermost.3.4-public-links-invalidated"));
        let e = step("2.2.0", "3.1.0", StepContext::default());
        assert!(ids(&e).contains(&"mattermost.pre-3.0-db2-settings"));
        assert_eq!(e.verdict, Verdict::Supported);
        let e = step("2.0.0", "3.1.0", StepContext::default());
        assert!(matches!(e.verdict, Verdict::MustSplit { .. }));
    }

    #[test]
    fn v11_needs_a_licence_for_gitlab_sso() {
        let sso = StepContext {
            gitlab_sso: true,
            ..Default::default()
        };
        assert_eq!(step("10.11.20", "11.7.1", sso).verdict, Verdict::Blocked);
        let licensed = StepContext {
            gitlab_sso: true,
            licensed: true,
            ..Default::default()
        };
        assert_eq!(
            step("10.11.20", "11.7.1", licensed).verdict,
            Verdict::Supported
        );
        assert_eq!(
            step("10.11.20", "11.7.1", StepContext::default()).verdict,
            Verdict::Supported
        );
    }

    #[test]
    fn downgrades_and_esr_skips() {
        let e = step("3.5.3", "3.5.1", StepContext::default());
        assert_eq!(e.verdict, Verdict::Supported);
        assert!(ids(&e).contains(&"mattermost.patch-downgrade"));
        assert_eq!(
            step("4.0.0", "3.9.0", StepContext::default()).verdict,
            Verdict::Blocked
        );
        assert!(
            ids(&step("9.11.0", "11.7.1", StepContext::default()))
                .contains(&"mattermost.esr-to-esr")
        );
        assert!(
            !ids(&step("10.11.20", "11.7.1", StepContext::default()))
                .contains(&"mattermost.esr-to-esr")
        );
        assert_eq!(end_of_support(Version::new(10, 11, 20)), Some("2026-08-15"));
    }
}
