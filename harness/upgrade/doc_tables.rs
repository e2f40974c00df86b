//! The documentation's GitLab → Mattermost version tables, as published, and where they disagree
//! with the package code (the generated table wins).
//!
//! Owns: the rows of each documentation table with its source, and the comparison that lists
//! wrong rows (the line ships another Mattermost release) and missing lines (a line the table's
//! range covers but does not list, not even as "no change"). Docs list release lines; the
//! package ships per patch, so a row is right when the line's first release ships that
//! Mattermost `MAJOR.MINOR`.

use serde::Serialize;

use super::versions::{bundled_rows, release};
use crate::config::Version;
use crate::history::{ReleaseLine, line_firsts};

/// One published table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DocTable {
    pub name: &'static str,
    pub source: &'static str,
    /// (GitLab line, Mattermost `MAJOR.MINOR[.PATCH]` as printed)
    pub rows: &'static [((u32, u32), &'static str)],
}

pub const DOC_TABLES: &[DocTable] = &[
    DocTable {
        name: "seed",
        source: "shared/seed/gitlab-mattermost.md, \"Upgrading GitLab Mattermost\"",
        rows: &[
            ((8, 9), "3.1.0"),
            ((8, 10), "3.2.0"),
            ((8, 11), "3.3.0"),
            ((8, 12), "3.4.0"),
        ],
    },
    DocTable {
        name: "omnibus-9.0-11.9",
        source: "omnibus-gitlab 11.9.0+ce.0:doc/gitlab-mattermost/README.md (\"Mattermost versions for GitLab 9.0 and later\")",
        rows: &[
            ((9, 0), "3.7"),
            ((9, 1), "3.7"),
            ((9, 2), "3.9"),
            ((9, 3), "3.10"),
            ((9, 4), "4.0"),
            ((9, 5), "4.1"),
            ((10, 0), "4.2"),
            ((10, 1), "4.2"),
            ((10, 2), "4.3"),
            ((10, 3), "4.4"),
            ((10, 4), "4.5"),
            ((10, 5), "4.6"),
            ((10, 6), "4.7"),
            ((10, 7), "4.8"),
            ((10, 8), "4.9"),
            ((11, 0), "4.10"),
            ((11, 1), "5.0"),
            ((11, 2), "5.1"),
            ((11, 3), "5.2"),
            ((11, 4), "5.3"),
            ((11, 5), "5.4"),
            ((11, 6), "5.5"),
            ((11, 7), "5.6"),
            ((11, 8), "5.7"),
            ((11, 9), "5.8"),
        ],
    },
    DocTable {
        name: "omnibus-11.11-14.0",
        source: "omnibus-gitlab 14.0.0+ce.0:doc/gitlab-mattermost/README.md (\"Mattermost versions for GitLab 11.10 and later\")",
        rows: &[
            ((11, 11), "5.10"),
            ((12, 0), "5.11"),
            ((12, 1), "5.12"),
            ((12, 2), "5.13"),
            ((12, 3), "5.14"),
            ((12, 4), "5.15"),
            ((12, 5), "5.16"),
            ((12, 6), "5.17"),
            ((12, 7), "5.17"),
            ((12, 8), "5.19"),
            ((12, 9), "5.20"),
            ((12, 10), "5.21"),
            ((13, 0), "5.22"),
            ((13, 1), "5.23"),
            ((13, 2), "5.24"),
            ((13, 3), "5.25"),
            ((13, 4), "5.26"),
            ((13, 5), "5.27"),
            ((13, 6), "5.28"),
            ((13, 7), "5.29"),
            ((13, 8), "5.30"),
            ((13, 9), "5.31"),
            ((13, 10), "5.32"),
            ((13, 11), "5.33"),
            ((13, 12), "5.34"),
            ((14, 0), "5.35"),
        ],
    },
    DocTable {
        name: "gitlab-docs-15.0-18.3",
        source: "gitlab-org/gitlab doc/integration/mattermost/_index.md (gitlabhq/gitlabhq@08a496f3, \"GitLab Mattermost versions and edition shipped with the Linux package\")",
        rows: &[
            ((18, 3), "10.10"),
            ((18, 2), "10.9"),
            ((18, 1), "10.8"),
            ((18, 0), "10.7"),
            ((17, 11), "10.6"),
            ((17, 9), "10.4"),
            ((17, 7), "10.2"),
            ((17, 6), "10.1"),
            ((17, 5), "10.0"),
            ((17, 4), "9.11"),
            ((17, 3), "9.10"),
            ((17, 2), "9.9"),
            ((17, 1), "9.8"),
            ((17, 0), "9.7"),
            ((16, 11), "9.6"),
            ((16, 10), "9.5"),
            ((16, 9), "9.4"),
            ((16, 7), "9.3"),
            ((16, 6), "9.1"),
            ((16, 5), "9.0"),
            ((16, 4), "8.1"),
            ((16, 3), "8.0"),
            ((16, 0), "7.10"),
            ((15, 11), "7.9"),
            ((15, 10), "7.8"),
            ((15, 9), "7.7"),
            ((15, 7), "7.5"),
            ((15, 6), "7.4"),
            ((15, 5), "7.3"),
            ((15, 4), "7.2"),
            ((15, 3), "7.1"),
            ((15, 2), "7.0"),
            ((15, 1), "6.7"),
            ((15, 0), "6.6"),
        ],
    },
];

/// What is wrong with a documentation row or line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Discrepancy {
    /// The table names a Mattermost release the line never shipped.
    Wrong {
        documented: String,
        shipped: Vec<Version>,
    },
    /// The line is inside the table's range but has no row, and its Mattermost release differs
    /// from the row above it (so "no change" would be read).
    Missing {
        shipped: Vec<Version>,
        read_as: Option<String>,
    },
    /// The line is outside every table (the tables stop early or start late).
    Uncovered { shipped: Vec<Version> },
}

/// One finding, with its table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocFinding {
    pub table: &'static str,
    pub source: &'static str,
    pub line: ReleaseLine,
    #[serde(flatten)]
    pub discrepancy: Discrepancy,
}

/// Every distinct Mattermost version a release line shipped (all patches, last rebuilds).
pub fn shipped_in(line: ReleaseLine) -> Vec<Version> {
    let mut out: Vec<Version> = Vec::new();
    for b in bundled_rows().iter().filter(|b| b.tag.line() == line) {
        let m = release(b.gitlab())
            .and_then(|r| r.mattermost)
            .unwrap_or(b.mattermost);
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out.sort();
    out
}

fn matches(documented: &str, v: Version) -> bool {
    let parts: Vec<&str> = documented.split('.').collect();
    let want: Vec<String> = match parts.len() {
        2 => vec![v.major.to_string(), v.minor.to_string()],
        _ => vec![
            v.major.to_string(),
            v.minor.to_string(),
            v.patch.to_string(),
        ],
    };
    parts.iter().map(|s| s.to_string()).collect::<Vec<_>>() == want
}

/// Compare every documentation table with the package code, lines 8.9 … 18.11.
pub fn compare() -> Vec<DocFinding> {
    let tags: Vec<_> = bundled_rows().iter().map(|b| b.tag.clone()).collect();
    let lines: Vec<ReleaseLine> = line_firsts(&tags)
        .into_iter()
        .map(|t| t.line())
        .filter(|l| *l >= ReleaseLine::new(8, 9))
        .collect();
    let mut out = Vec::new();
    for table in DOC_TABLES {
        let lo = table.rows.iter().map(|r| r.0).min().unwrap_or((0, 0));
        let hi = table.rows.iter().map(|r| r.0).max().unwrap_or((0, 0));
        let mut previous: Option<&str> = None;
        for line in lines
            .iter()
            .filter(|l| (l.major, l.minor) >= lo && (l.major, l.minor) <= hi)
        {
            let shipped = shipped_in(*line);
            let first = release(line.first_version()).and_then(|r| r.mattermost);
            match table.rows.iter().find(|r| r.0 == (line.major, line.minor)) {
                Some((_, documented)) => {
                    previous = Some(documented);
                    if !first.is_some_and(|f| matches(documented, f)) {
                        out.push(DocFinding {
                            table: table.name,
                            source: table.source,
                            line: *line,
                            discrepancy: Discrepancy::Wrong {
                                documented: documented.to_string(),
                                shipped,
                            },
                        });
                    }
                }
                None => {
                    if !first.is_some_and(|f| previous.is_some_and(|p| matches(p, f))) {
                        out.push(DocFinding {
                            table: table.name,
                            source: table.source,
                            line: *line,
                            discrepancy: Discrepancy::Missing {
                                shipped,
                                read_as: previous.map(str::to_string),
                            },
                        });
                    }
                }
            }
        }
    }
    for line in &lines {
        let covered = DOC_TABLES.iter().any(|t| {
            let lo = t.rows.iter().map(|r| r.0).min().unwrap_or((0, 0));
            let hi = t.rows.iter().map(|r| r.0).max().unwrap_or((0, 0));
            (line.major, line.minor) >= lo && (line.major, line.minor) <= hi
        });
        if !covered {
            out.push(DocFinding {
                table: "none",
                source: "no documentation table covers this line",
                line: *line,
                discrepancy: Discrepancy::Uncovered {
                    shipped: shipped_in(*line),
                },
            });
        }
    }
    out
}
