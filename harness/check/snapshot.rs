//! Snapshot files: `snapshots/<scenario>.snap` in insta's file format (a small YAML header between
//! `---` lines, then the text), so the CLI and the project's insta tests read and write the same
//! files and `cargo insta review` works on them. Comparison ignores trailing whitespace, as insta
//! does; a mismatch comes with a unified diff (similar).

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The header written into new snapshot files (what insta writes for the project's test).
const HEADER_SOURCE: &str = "tests/scenarios.rs";
const HEADER_EXPRESSION: &str = "transcript";

/// Whether to write snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Compare; never write (a missing snapshot is a failure).
    Check,
    /// Compare, and write new or changed snapshots (`--update-snapshots`).
    Update,
}

/// The result of comparing a transcript with its snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SnapshotOutcome {
    Matched,
    /// No snapshot existed; `written` when it was created.
    Missing {
        written: bool,
    },
    /// Different; `diff` is a unified diff from the stored to the new text.
    Mismatch {
        diff: String,
        written: bool,
    },
}

impl SnapshotOutcome {
    /// Whether the scenario passes as far as its snapshot goes.
    pub fn passed(&self) -> bool {
        match self {
            SnapshotOutcome::Matched => true,
            SnapshotOutcome::Missing { written } | SnapshotOutcome::Mismatch { written, .. } => {
                *written
            }
        }
    }
}

/// `dir/<name>.snap`.
pub fn snapshot_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.snap"))
}

/// The text of a snapshot file (without its header), or `None` when there is none.
pub fn read(path: &Path) -> std::io::Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(body_of(&text)))
}

/// The body of a snapshot file's text.
pub fn body_of(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    if first.trim_end() == "---" {
        for l in lines.by_ref() {
            if l.trim_end() == "---" {
                break;
            }
        }
        lines.collect::<Vec<_>>().join("\n")
    } else {
        text.to_string()
    }
}

/// Write a snapshot file with insta's header.
pub fn write(path: &Path, body: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = format!(
        "---\nsource: {HEADER_SOURCE}\nexpression: {HEADER_EXPRESSION}\n---\n{}\n",
        body.trim_end()
    );
    std::fs::write(path, text)
}

/// A unified diff from `old` to `new`.
pub fn diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header("snapshot", "this run")
        .to_string()
}

/// Compare `actual` with `dir/<name>.snap`, writing it in [`SnapshotMode::Update`].
pub fn compare(
    dir: &Path,
    name: &str,
    actual: &str,
    mode: SnapshotMode,
) -> std::io::Result<SnapshotOutcome> {
    compare_or_shipped(dir, name, actual, mode, None)
}

/// [`compare`], with `shipped` (a snapshot file's text compiled into the binary, see
/// [`crate::scenario::embedded`]) standing in for `dir/<name>.snap` when that file does not
/// exist. A file in `dir` always wins; writes (update mode) always go to `dir`.
pub fn compare_or_shipped(
    dir: &Path,
    name: &str,
    actual: &str,
    mode: SnapshotMode,
    shipped: Option<&str>,
) -> std::io::Result<SnapshotOutcome> {
    let path = snapshot_path(dir, name);
    let actual = actual.trim_end();
    let stored = match read(&path)? {
        Some(text) => Some(text),
        None => shipped.map(body_of),
    };
    match stored {
        None => {
            let written = mode == SnapshotMode::Update;
            if written {
                write(&path, actual)?;
            }
            Ok(SnapshotOutcome::Missing { written })
        }
        Some(stored) if stored.trim_end().replace("\r\n", "\n") == actual => {
            Ok(SnapshotOutcome::Matched)
        }
        Some(stored) => {
            let d = diff(&format!("{}\n", stored.trim_end()), &format!("{actual}\n"));
            let written = mode == SnapshotMode::Update;
            if written {
                write(&path, actual)?;
            }
            Ok(SnapshotOutcome::Mismatch { diff: d, written })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_insta_format_and_reports_diffs() {
        let dir = tempfile::tempdir().unwrap();
        let out = compare(dir.path(), "s", "a\nb\n", SnapshotMode::Check).unwrap();
        assert_eq!(out, SnapshotOutcome::Missing { written: false });
        assert!(!out.passed());
        let out = compare(dir.path(), "s", "a\nb\n", SnapshotMode::Update).unwrap();
        assert_eq!(out, SnapshotOutcome::Missing { written: true });
        let text = std::fs::read_to_string(snapshot_path(dir.path(), "s")).unwrap();
        assert!(text.starts_with("---\nsource: tests/scenarios.rs\n"));
        assert_eq!(
            compare(dir.path(), "s", "a\nb", SnapshotMode::Check).unwrap(),
            SnapshotOutcome::Matched
        );
        match compare(dir.path(), "s", "a\nc\n", SnapshotMode::Check).unwrap() {
            SnapshotOutcome::Mismatch { diff, written } => {
                assert!(!written);
                assert!(diff.contains("-b") && diff.contains("+c"), "{diff}");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn a_shipped_snapshot_stands_in_for_a_missing_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let shipped = "---\nsource: tests/scenarios.rs\nexpression: transcript\n---\na\nb\n";
        let check = |actual: &str| {
            compare_or_shipped(dir.path(), "s", actual, SnapshotMode::Check, Some(shipped)).unwrap()
        };
        assert_eq!(check("a\nb\n"), SnapshotOutcome::Matched);
        assert!(matches!(
            check("a\nc"),
            SnapshotOutcome::Mismatch { written: false, .. }
        ));
        assert!(
            !snapshot_path(dir.path(), "s").exists(),
            "check mode never writes"
        );
        // Update writes the new text into the directory, which then wins over the shipped one.
        let out = compare_or_shipped(dir.path(), "s", "a\nc", SnapshotMode::Update, Some(shipped))
            .unwrap();
        assert!(matches!(
            out,
            SnapshotOutcome::Mismatch { written: true, .. }
        ));
        assert_eq!(check("a\nc"), SnapshotOutcome::Matched);
    }
}
