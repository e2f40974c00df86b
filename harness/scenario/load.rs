//! Finding scenario files and choosing which to run: the shipped suite ([`super::embedded`]) with
//! a directory of `*.toml` files laid over it (a file whose scenario has a shipped scenario's name
//! replaces it), names or paths given on the command line, `--tag` filters and `--shard K/N`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::diag::did_you_mean;

use super::embedded::{self, EmbeddedScenario};
use super::error::ScenarioError;
use super::model::Scenario;
use super::parse::parse_scenario;
/// Read and validate one scenario file (size-capped, UTF-8 checked with a position:
/// [`super::source::read`]).
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = super::source::read(path)?;
    parse_scenario(&file, path)
}

/// Every `*.toml` file directly in `dir`, sorted by name.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| ScenarioError::directory(dir.to_path_buf(), &e))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    out.sort();
    Ok(out)
}

/// Which scenarios to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Names (file stems or `name` values) or paths; empty = all in the suite.
    pub names: Vec<String>,
    /// Keep scenarios having at least one of these tags (empty = no filter).
    pub tags: Vec<String>,
    /// `(k, n)`: keep the k-th of n shards (1-based), by position in name order.
    pub shard: Option<(usize, usize)>,
}

/// Where a run's scenarios come from: the shipped suite, a directory of files, or both — the
/// directory laid over the shipped suite, a file replacing the shipped scenario of the same name.
#[derive(Debug, Clone, Default)]
pub struct Suite {
    /// Include the scenarios shipped in the binary.
    pub embedded: bool,
    /// A directory whose `*.toml` files are added to (or replace) the shipped ones.
    pub dir: Option<PathBuf>,
    /// Whether `dir` must exist (named on the command line) or is read only when present (the
    /// current directory's `scenarios/`).
    pub dir_required: bool,
}

impl Suite {
    /// The files of `dir` only (the library's [`select`]).
    pub fn directory(dir: &Path) -> Suite {
        Suite {
            embedded: false,
            dir: Some(dir.to_path_buf()),
            dir_required: true,
        }
    }

    /// The shipped suite only.
    pub fn shipped() -> Suite {
        Suite {
            embedded: true,
            dir: None,
            dir_required: false,
        }
    }
}

/// Where one scenario of a suite comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A file on disk.
    File(PathBuf),
    /// A scenario shipped in the binary.
    Embedded(&'static EmbeddedScenario),
}

impl Origin {
    /// The file stem: how the command line names it.
    pub fn stem(&self) -> String {
        match self {
            Origin::File(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Origin::Embedded(e) => e.stem.to_string(),
        }
    }

    /// The path shown for it (`embedded:scenarios/NAME.toml` for a shipped one).
    pub fn path(&self) -> PathBuf {
        match self {
            Origin::File(p) => p.clone(),
            Origin::Embedded(e) => e.path(),
        }
    }

    /// Parse and validate it.
    pub fn load(&self) -> Result<Scenario, ScenarioError> {
        match self {
            Origin::File(p) => load_file(p),
            Origin::Embedded(e) => e.load(),
        }
    }

    /// Its text, as written (size-capped and UTF-8 checked like any scenario file).
    pub fn text(&self) -> Result<String, ScenarioError> {
        match self {
            Origin::File(p) => Ok(super::source::read(p)?.text().to_string()),
            Origin::Embedded(e) => Ok(e.toml.to_string()),
        }
    }
}

/// The scenarios a suite offers, by stem: the directory's files first (sorted), then the shipped
/// ones (a stem both have appears twice; selection takes the file).
pub fn available(suite: &Suite) -> Result<Vec<Origin>, ScenarioError> {
    let mut out = Vec::new();
    if let Some(dir) = &suite.dir
        && (suite.dir_required || dir.is_dir())
    {
        out.extend(discover(dir)?.into_iter().map(Origin::File));
    }
    if suite.embedded {
        out.extend(embedded::ALL.iter().map(Origin::Embedded));
    }
    Ok(out)
}

/// Find a scenario of the suite by stem (a file before a shipped scenario), or the error a
/// command line shows for a name that matches nothing (with a did-you-mean or the list of names).
pub fn find(suite: &Suite, name: &str) -> Result<Origin, ScenarioError> {
    let all = available(suite)?;
    if let Some(o) = all.iter().find(|o| o.stem() == name) {
        return Ok(o.clone());
    }
    Err(no_such_name(name, &all))
}

fn no_such_name(name: &str, all: &[Origin]) -> ScenarioError {
    let stems: Vec<String> = all
        .iter()
        .map(Origin::stem)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    match did_you_mean(name, stems.iter().map(String::as_str)) {
        Some(hint) => ScenarioError::not_found(name, Some(hint)),
        None => ScenarioError::unknown_name(name, &stems),
    }
}

/// Load and select the scenarios of a directory (no shipped ones). Every file is parsed; all
/// invalid files are reported together. The directory is read only when it is needed (no names
/// given, or a name that is not a path).
pub fn select(dir: &Path, sel: &Selection) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    select_suite(&Suite::directory(dir), sel)
}

/// Load and select scenarios of a suite: every chosen file is parsed and all invalid ones are
/// reported together; a file's scenario replaces the shipped scenario of the same `name`. The
/// directory is read only when it is needed (no names given, or a name that is not a path).
pub fn select_suite(suite: &Suite, sel: &Selection) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    let mut chosen = Vec::new();
    let mut errors = Vec::new();
    let mut listed: Option<Vec<Origin>> = None;
    let mut catalogue = || -> Result<Vec<Origin>, Vec<ScenarioError>> {
        if listed.is_none() {
            listed = Some(available(suite).map_err(|e| vec![e])?);
        }
        Ok(listed.clone().unwrap_or_default())
    };
    if sel.names.is_empty() {
        chosen = catalogue()?;
    }
    for name in &sel.names {
        let as_path = PathBuf::from(name);
        if as_path.is_dir() {
            errors.push(ScenarioError::not_found(
                name,
                Some(&format!("--scenario-dir {name}")),
            ));
            continue;
        }
        if as_path.extension().is_some_and(|x| x == "toml") || as_path.is_file() {
            if as_path.is_file() {
                chosen.push(Origin::File(as_path));
            } else {
                errors.push(ScenarioError::not_found(name, None));
            }
            continue;
        }
        let all = catalogue()?;
        match all.iter().find(|o| o.stem() == *name) {
            Some(o) => chosen.push(o.clone()),
            None => errors.push(no_such_name(name, &all)),
        }
    }
    let mut scenarios = Vec::new();
    for o in chosen {
        match o.load() {
            Ok(s) => scenarios.push(s),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Same name replaces: a file's scenario takes the place of the shipped one.
    let from_files: BTreeSet<String> = scenarios
        .iter()
        .filter(|s| !embedded::is_embedded_path(&s.path))
        .map(|s| s.name.clone())
        .collect();
    scenarios.retain(|s| !(embedded::is_embedded_path(&s.path) && from_files.contains(&s.name)));
    let mut seen = BTreeMap::new();
    for s in &scenarios {
        if let Some(prev) = seen.insert(s.name.clone(), s.path.clone()) {
            errors.push(ScenarioError::invalid(
                s.path.clone(),
                vec![crate::diag::Diagnostic::error(
                    "scenario.duplicate-name",
                    format!(
                        "scenario name `{}` is also used by {}",
                        s.name,
                        prev.display()
                    ),
                )],
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    scenarios.sort_by(|a, b| a.name.cmp(&b.name));
    if !sel.tags.is_empty() && sel.names.is_empty() {
        // A tag no scenario of the suite carries is a typo, not an empty (green) selection.
        let known: BTreeSet<&str> = scenarios
            .iter()
            .flat_map(|s| s.tags.iter().map(String::as_str))
            .collect();
        let unknown: Vec<ScenarioError> = sel
            .tags
            .iter()
            .filter(|t| !known.contains(t.as_str()))
            .map(|t| ScenarioError::unknown_tag(t, did_you_mean(t, known.iter().copied())))
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
    }
    if !sel.tags.is_empty() {
        scenarios.retain(|s| s.tags.iter().any(|t| sel.tags.contains(t)));
    }
    if let Some((k, n)) = sel.shard {
        scenarios = scenarios
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k - 1)
            .map(|(_, s)| s)
            .collect();
    }
    Ok(scenarios)
}

/// Parse `K/N` (1 ≤ K ≤ N).
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("invalid shard {s:?}: expected K/N, e.g. 1/3"))?;
    let k: usize = k
        .trim()
        .parse()
        .map_err(|_| format!("invalid shard {s:?}: K is not a number"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("invalid shard {s:?}: N is not a number"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("invalid shard {s:?}: need 1 <= K <= N"));
    }
    Ok((k, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_reject_nonsense() {
        assert_eq!(parse_shard("2/3"), Ok((2, 3)));
        assert!(parse_shard("0/3").is_err());
        assert!(parse_shard("4/3").is_err());
        assert!(parse_shard("x").is_err());
    }
}
