//! The git side of `mm_harness::history::OmnibusSource`: a clone of omnibus-gitlab read with
//! one long-lived `git cat-file --batch` process (one process for a thousand tag reads instead
//! of a thousand `git show`s).
//!
//! Shared by the generators in examples/ and by the tests that regenerate a table
//! (`#[path = "../examples/support/omnibus_git.rs"] mod omnibus_git;`). It is not part of the
//! library on purpose: the library does no I/O.
//!
//! The repository path comes from `--repo PATH`, else `MM_HARNESS_OMNIBUS_REPO`, else
//! [`DEFAULT_REPO`].
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use mm_harness::history::{HistoryError, HistoryErrorKind, OmnibusSource};

/// Where the lead's mirror of omnibus-gitlab lives on the project's machines.
pub const DEFAULT_REPO: &str = "/work/.mirror/gitlabhq+omnibus-gitlab/repo";
/// The environment variable that points at another clone.
pub const REPO_ENV: &str = "MM_HARNESS_OMNIBUS_REPO";
/// Larger blobs are refused: no software definition or cookbook file comes near it.
const MAX_BLOB: usize = 8 * 1024 * 1024;

/// The repository path: the explicit one, else the env var, else the default.
pub fn repo_path(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(|| std::env::var_os(REPO_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_REPO))
}

/// Whether `path` looks like a git directory (bare or with a work tree) holding tags.
pub fn looks_like_repo(path: &Path) -> bool {
    path.join("HEAD").is_file() || path.join(".git").exists()
}

/// A clone of omnibus-gitlab.
pub struct GitOmnibus {
    repo: PathBuf,
    batch: Option<(Child, ChildStdin, BufReader<ChildStdout>)>,
}

fn source_err(msg: impl Into<String>) -> HistoryError {
    HistoryError::new(HistoryErrorKind::Source, msg)
}

impl GitOmnibus {
    pub fn open(repo: &Path) -> Result<GitOmnibus, HistoryError> {
        if !looks_like_repo(repo) {
            return Err(source_err(format!(
                "{} is not a git repository (set {REPO_ENV} or pass --repo)",
                repo.display()
            )));
        }
        Ok(GitOmnibus {
            repo: repo.to_path_buf(),
            batch: None,
        })
    }

    pub fn repo(&self) -> &Path {
        &self.repo
    }

    fn batch(&mut self) -> Result<&mut (Child, ChildStdin, BufReader<ChildStdout>), HistoryError> {
        if self.batch.is_none() {
            let mut child = Command::new("git")
                .arg("-C")
                .arg(&self.repo)
                .args(["cat-file", "--batch"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| source_err(format!("cannot run git cat-file: {e}")))?;
            let stdin = child.stdin.take().ok_or_else(|| source_err("no stdin"))?;
            let stdout = child.stdout.take().ok_or_else(|| source_err("no stdout"))?;
            self.batch = Some((child, stdin, BufReader::new(stdout)));
        }
        Ok(self.batch.as_mut().expect("batch started above"))
    }
}

impl Drop for GitOmnibus {
    fn drop(&mut self) {
        if let Some((mut child, stdin, _)) = self.batch.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

impl OmnibusSource for GitOmnibus {
    fn tag_names(&mut self) -> Result<Vec<String>, HistoryError> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args(["tag", "-l"])
            .output()
            .map_err(|e| source_err(format!("cannot run git tag: {e}")))?;
        if !out.status.success() {
            return Err(source_err(format!(
                "git tag -l in {} failed: {}",
                self.repo.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect())
    }

    fn read_at(&mut self, rev: &str, path: &str) -> Result<Option<String>, HistoryError> {
        if rev.contains(['\n', ':']) || path.contains('\n') {
            return Err(source_err(format!(
                "refusing revision {rev:?} path {path:?}"
            )));
        }
        let (_, stdin, stdout) = self.batch()?;
        writeln!(stdin, "{rev}:{path}")
            .and_then(|_| stdin.flush())
            .map_err(|e| source_err(format!("git cat-file: {e}")))?;
        let mut header = String::new();
        stdout
            .read_line(&mut header)
            .map_err(|e| source_err(format!("git cat-file: {e}")))?;
        let header = header.trim_end();
        if header.ends_with(" missing") || header.ends_with(" ambiguous") {
            return Ok(None);
        }
        let mut parts = header.split(' ');
        let (_, kind, size) = (parts.next(), parts.next(), parts.next());
        let size: usize = size
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| source_err(format!("git cat-file: unexpected header {header:?}")))?;
        if size > MAX_BLOB {
            return Err(source_err(format!(
                "{rev}:{path} is {size} bytes, over the limit"
            )));
        }
        let mut buf = vec![0u8; size + 1]; // content and the trailing newline
        stdout
            .read_exact(&mut buf)
            .map_err(|e| source_err(format!("git cat-file: {e}")))?;
        buf.pop();
        if kind != Some("blob") {
            return Ok(None);
        }
        String::from_utf8(buf)
            .map(Some)
            .map_err(|_| source_err(format!("{rev}:{path} is not UTF-8")))
    }
}

/// Write a generated table to `out`, or with `check` only compare it. `Err(code)`: the run is over
/// with that exit code, already reported (0 up to date, 1 stale, 3 unwritable); `Ok(())`: written,
/// the caller says what it wrote. `what` names the contents for the up-to-date line; `regenerate` is the
/// command that refreshes the file.
pub fn write_generated(
    out: &Path,
    text: &str,
    check: bool,
    what: &str,
    regenerate: &str,
) -> Result<(), std::process::ExitCode> {
    if check {
        let current = std::fs::read_to_string(out).unwrap_or_default();
        if current == text {
            println!("{} is up to date ({what})", out.display());
            return Err(std::process::ExitCode::SUCCESS);
        }
        eprintln!("{} is stale: run `{regenerate}`", out.display());
        return Err(std::process::ExitCode::from(1));
    }
    if let Err(e) = std::fs::write(out, text) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return Err(std::process::ExitCode::from(3));
    }
    Ok(())
}
