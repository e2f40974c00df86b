//! The I/O boundary of the history machinery: where tag names and file texts come from.
//!
//! Owns: the [`OmnibusSource`] trait and the area's error type. The library never runs git;
//! a generator implements the trait (examples/support/omnibus_git.rs runs `git cat-file
//! --batch` on a clone of omnibus-gitlab) and tests implement it over in-memory maps.

use std::fmt;

/// A repository of omnibus-gitlab with its tags.
pub trait OmnibusSource {
    /// Every tag name (`git tag -l`), in any order.
    fn tag_names(&mut self) -> Result<Vec<String>, HistoryError>;
    /// The text of `path` at revision `rev` (a tag name), or `None` when the path does not exist
    /// at that revision.
    fn read_at(&mut self, rev: &str, path: &str) -> Result<Option<String>, HistoryError>;
}

/// What went wrong while reading the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryErrorKind {
    /// The repository could not be read (git missing, not a repository, a broken pipe).
    Source,
    /// A file at a tag did not have the form the parser knows.
    Parse,
    /// The history contradicts an invariant the table relies on.
    Invariant,
}

/// An error of the history area: a kind and one lower-case message naming the tag and path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct HistoryError {
    pub kind: HistoryErrorKind,
    pub message: String,
}

impl HistoryError {
    pub fn new(kind: HistoryErrorKind, message: impl Into<String>) -> Self {
        HistoryError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// An in-memory source for tests: `(tag, path) → text`.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    pub tags: Vec<String>,
    pub files: std::collections::BTreeMap<(String, String), String>,
}

impl MemorySource {
    pub fn with_file(mut self, tag: &str, path: &str, text: &str) -> Self {
        if !self.tags.iter().any(|t| t == tag) {
            self.tags.push(tag.to_string());
        }
        self.files
            .insert((tag.to_string(), path.to_string()), text.to_string());
        self
    }
    pub fn with_tag(mut self, tag: &str) -> Self {
        self.tags.push(tag.to_string());
        self
    }
}

impl OmnibusSource for MemorySource {
    fn tag_names(&mut self) -> Result<Vec<String>, HistoryError> {
        Ok(self.tags.clone())
    }
    fn read_at(&mut self, rev: &str, path: &str) -> Result<Option<String>, HistoryError> {
        Ok(self
            .files
            .get(&(rev.to_string(), path.to_string()))
            .cloned())
    }
}
