//! The twin's state file: what `twin serve` (the twin image) keeps on its volumes so that a
//! container created again on them — `gitlab.upgrade` to another image, `host.reconfigure` with a
//! new environment — starts on the data the previous one left, as omnibus's PostgreSQL and Redis
//! under `/var/opt/gitlab` do.
//!
//! Owns: [`TwinState`] (GitLab's database, Mattermost's database with its schema version and
//! config.json, the OAuth application omnibus registered — its `gitlab-secrets.json` entry), and
//! the file rules: JSON at [`STATE_FILE`] under the data volume, bounded ([`MAX_STATE_BYTES`] on
//! read and on write), written durably (a temporary file in the same directory, fsync, rename,
//! fsync of the directory) so a container killed mid-write leaves the previous state whole. A
//! file that does not parse or does not hold is an error naming the file and what is wrong; the
//! container then refuses to start (`twin::container`).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::gitlab::OAuthApplication;
use super::gitlab::persist::{ApplicationState, GitlabState};
use super::mattermost::persist::MattermostState;
use crate::config::model::Secret;

/// Where `twin serve` keeps its state (on the `/var/opt/gitlab` volume).
pub const STATE_FILE: &str = "/var/opt/gitlab/mm-twin/state.json";
/// The bound on the state file's size, read and written: far above what a scenario makes
/// (a few KiB), far below what could exhaust a container's memory.
pub const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;
/// The state file's format version.
pub const FORMAT: u32 = 1;

/// Everything a twin container keeps across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwinState {
    pub format: u32,
    /// The GitLab version of the image that wrote it (`MM_TWIN_GITLAB_VERSION`).
    pub gitlab_version: String,
    pub gitlab: Option<GitlabState>,
    pub mattermost: Option<MattermostState>,
    /// The "GitLab Mattermost" application omnibus registered (kept in `gitlab-secrets.json`, so a
    /// later reconfigure reuses it).
    pub registered_application: Option<ApplicationState>,
}

impl TwinState {
    /// The registered application as the twin's GitLab model has it.
    pub fn application(&self) -> Option<OAuthApplication> {
        self.registered_application
            .as_ref()
            .map(|a| OAuthApplication {
                id: a.id,
                uid: a.uid.clone(),
                secret: Secret::new(a.secret.clone()),
                name: a.name.clone(),
                redirect_uris: a.redirect_uris.clone(),
                scopes: a.scopes.clone(),
                trusted: a.trusted,
                confidential: a.confidential,
            })
    }

    /// The application's state shape.
    pub fn application_state(app: &OAuthApplication) -> ApplicationState {
        ApplicationState {
            id: app.id,
            uid: app.uid.clone(),
            secret: app.secret.expose().to_string(),
            name: app.name.clone(),
            redirect_uris: app.redirect_uris.clone(),
            scopes: app.scopes.clone(),
            trusted: app.trusted,
            confidential: app.confidential,
        }
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A state file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for StateError {}

fn err(path: &Path, message: impl Into<String>) -> StateError {
    StateError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Read the state file: `Ok(None)` when there is none (a first start), an error when it is
/// larger than the bound, not JSON of this shape (with line and column), or of another format.
pub fn load(path: &Path) -> Result<Option<TwinState>, StateError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(path, format!("cannot open: {e}"))),
    };
    let mut bytes = Vec::new();
    file.take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(path, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(err(
            path,
            format!("larger than {MAX_STATE_BYTES} bytes; not a state this twin wrote"),
        ));
    }
    let state: TwinState = serde_json::from_slice(&bytes).map_err(|e| {
        err(
            path,
            format!("{}:{}: not a twin state file: {e}", e.line(), e.column()),
        )
    })?;
    if state.format != FORMAT {
        return Err(err(
            path,
            format!(
                "state format {} is not {FORMAT}: written by another mm-harness version",
                state.format
            ),
        ));
    }
    Ok(Some(state))
}

/// Write the state durably: a temporary file beside it, fsync, rename over the old one, fsync
/// of the directory. A state over the bound is not written (an error).
pub fn save(path: &Path, state: &TwinState) -> Result<(), StateError> {
    save_bytes(path, &state.to_bytes())
}

/// [`save`] of bytes already serialised.
pub fn save_bytes(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(err(
            path,
            format!(
                "the state is {} bytes, over the {MAX_STATE_BYTES}-byte bound: not written",
                bytes.len()
            ),
        ));
    }
    let dir = path.parent().ok_or_else(|| err(path, "has no directory"))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| err(path, format!("cannot create its directory: {e}")))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("state.json")
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(path, format!("cannot write: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> TwinState {
        TwinState {
            format: FORMAT,
            gitlab_version: "8.12.0".into(),
            gitlab: None,
            mattermost: None,
            registered_application: None,
        }
    }

    #[test]
    fn a_state_is_written_by_rename_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mm-twin/state.json");
        assert_eq!(load(&path).unwrap(), None);
        save(&path, &empty()).unwrap();
        assert_eq!(load(&path).unwrap(), Some(empty()));
        let mut next = empty();
        next.gitlab_version = "8.9.0".into();
        save(&path, &next).unwrap();
        assert_eq!(load(&path).unwrap(), Some(next));
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_corrupt_oversized_or_foreign_state_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{\"format\": 1, \"gitlab_version\": ").unwrap();
        let e = load(&path).unwrap_err();
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
        assert!(e.message.contains("1:"), "{e}");
        let mut other = empty();
        other.format = 99;
        std::fs::write(&path, other.to_bytes()).unwrap();
        assert!(load(&path).unwrap_err().message.contains("format 99"));
        let big = vec![b' '; (MAX_STATE_BYTES + 10) as usize];
        std::fs::write(&path, &big).unwrap();
        assert!(load(&path).unwrap_err().message.contains("larger than"));
        assert!(
            save_bytes(&path, &big)
                .unwrap_err()
                .message
                .contains("bound")
        );
        // The oversized write left the file as it was.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), big.len() as u64);
    }
}
