//! Finding scenario files and choosing which to run: every `*.toml` of a directory, names or paths
//! given on the command line, `--tag` filters and `--shard K/N`.

use std::path::{Path, PathBuf};

use crate::diag::did_you_mean;

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
    /// Names (file stems or `name` values) or paths; empty = all in the directory.
    pub names: Vec<String>,
    /// Keep scenarios having at least one of these tags (empty = no filter).
    pub tags: Vec<String>,
    /// `(k, n)`: keep the k-th of n shards (1-based), by position in name order.
    pub shard: Option<(usize, usize)>,
}

/// Load and select scenarios. Every file is parsed; all invalid files are reported together.
/// The directory is read only when it is needed (no names given, or a name that is not a path).
pub fn select(dir: &Path, sel: &Selection) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    let mut paths = Vec::new();
    let mut errors = Vec::new();
    let mut available: Option<Vec<PathBuf>> = None;
    let mut directory = || -> Result<Vec<PathBuf>, Vec<ScenarioError>> {
        if available.is_none() {
            available = Some(discover(dir).map_err(|e| vec![e])?);
        }
        Ok(available.clone().unwrap_or_default())
    };
    if sel.names.is_empty() {
        paths = directory()?;
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
                paths.push(as_path);
            } else {
                errors.push(ScenarioError::not_found(name, None));
            }
            continue;
        }
        let available = directory()?;
        match available
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s == name.as_str()))
        {
            Some(p) => paths.push(p.clone()),
            None => {
                let stems: Vec<String> = available
                    .iter()
                    .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                    .collect();
                match did_you_mean(name, stems.iter().map(String::as_str)) {
                    Some(hint) => errors.push(ScenarioError::not_found(name, Some(hint))),
                    None => errors.push(ScenarioError::unknown_name(name, &stems)),
                }
            }
        }
    }
    let mut scenarios = Vec::new();
    for p in paths {
        match load_file(&p) {
            Ok(s) => scenarios.push(s),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut seen = std::collections::BTreeMap::new();
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
        // A tag no scenario of the directory carries is a typo, not an empty (green) selection.
        let known: std::collections::BTreeSet<&str> = scenarios
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
