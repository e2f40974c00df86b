//! `mm-harness config explain`: what a gitlab.rb really sets in Mattermost, setting by setting,
//! for a GitLab version: value (secrets redacted), the gitlab.rb line it came from, the `MM_*`
//! variable carrying it, and warnings (dropped keys, unknown keys, unevaluated expressions,
//! drift against a config.json).
//!
//! Owns: the subcommand's flags and its human/JSON output. Exit 0 when the file resolves (warnings
//! allowed), 2 on unparsable input or an unreadable file (the error with file:line:column and a
//! caret on stderr).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Exit;
use crate::config::{
    ConfigJson, Drift, EffectiveSetting, HostSettings, KeyEra, Version, drift, read_config_json,
    resolve,
};
use crate::diag::{Diagnostic, Severity, SourceFile};
use crate::report::explain::{bundled_mattermost, human_report, shown_settings, twin_profile_for};

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Explain what a gitlab.rb sets in Mattermost, setting by setting, for a GitLab version.
    Explain(ExplainArgs),
}

/// Output formats of `config explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExplainFormat {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The gitlab.rb to read.
    #[arg(value_name = "PATH/gitlab.rb")]
    pub gitlab_rb: PathBuf,
    /// The GitLab version the file is for (8.x-10.x: config.json keys; 11.0-18.x: MM_* variables;
    /// 19.0+: bundled Mattermost removed).
    #[arg(long, value_name = "V", default_value = "18.11", value_parser = parse_version)]
    pub gitlab_version: Version,
    /// Mattermost's config.json, to report settings that drifted from gitlab.rb.
    #[arg(long, value_name = "PATH")]
    pub config_json: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: ExplainFormat,
    /// Also list settings gitlab.rb leaves at their defaults.
    #[arg(long)]
    pub all: bool,
}

fn parse_version(s: &str) -> Result<Version, String> {
    let v = s.parse::<Version>().map_err(|e| e.to_string())?;
    if v.major < 8 {
        return Err(format!(
            "GitLab {v} has no bundled Mattermost (omnibus bundles it from 8.0); use 8.x to 19.x"
        ));
    }
    Ok(v)
}

pub fn execute(cmd: ConfigCommand) -> Exit {
    match cmd {
        ConfigCommand::Explain(args) => explain(&args),
    }
}

/// The largest file `config explain` reads (the 18.11 template is about 150 KB).
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

fn read_source(path: &Path) -> Result<SourceFile, Exit> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    let read =
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes));
    if let Err(e) = read {
        eprintln!("error: cannot read {}: {e}", path.display());
        return Err(Exit::BadInput);
    }
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        eprintln!(
            "error: {} is larger than {} MiB, the most `config explain` reads\n  = help: is this the right file?",
            path.display(),
            MAX_INPUT_BYTES / 1024 / 1024
        );
        return Err(Exit::BadInput);
    }
    SourceFile::from_bytes(
        path.display().to_string(),
        bytes,
        "file.encoding",
        "save the file as UTF-8 (omnibus reads gitlab.rb and config.json as UTF-8)",
    )
    .map_err(|d| {
        eprint!("{}", crate::report::escape::terminal(&d.render()));
        Exit::BadInput
    })
}

#[derive(Serialize)]
struct ExplainReport<'a> {
    file: &'a str,
    gitlab_version: Version,
    era: KeyEra,
    /// The Mattermost version omnibus bundles in this GitLab release, if known.
    bundled_mattermost: Option<Version>,
    /// The twin profile that plays this release line, if one does.
    twin_profile: Option<crate::config::Profile>,
    host: &'a HostSettings,
    settings: Vec<&'a EffectiveSetting>,
    diagnostics: Vec<&'a Diagnostic>,
    /// Diagnostics found past the per-file cap, not listed.
    diagnostics_omitted: usize,
    drift: &'a [Drift],
}

fn explain(args: &ExplainArgs) -> Exit {
    let file = match read_source(&args.gitlab_rb) {
        Ok(f) => f,
        Err(exit) => return exit,
    };
    let resolved = resolve(&file, args.gitlab_version);
    let config: Option<ConfigJson> = match &args.config_json {
        None => None,
        Some(path) => {
            let cfg_file = match read_source(path) {
                Ok(f) => f,
                Err(exit) => return exit,
            };
            match read_config_json(&cfg_file) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprint!(
                        "{}",
                        crate::report::escape::terminal(&e.diagnostic.render())
                    );
                    return Exit::BadInput;
                }
            }
        }
    };
    let drifted = config
        .as_ref()
        .map(|c| drift(&resolved, c))
        .unwrap_or_default();
    if resolved.has_errors() {
        for d in &resolved.diagnostics {
            if d.severity == Severity::Error {
                eprint!("{}", crate::report::escape::terminal(&d.render()));
            }
        }
        if resolved.omitted_errors > 0 {
            eprintln!(
                "note: {} more error(s) not shown; only the first {} errors of a file are kept",
                resolved.omitted_errors,
                crate::diag::MAX_DIAGNOSTICS
            );
        }
        eprintln!(
            "error: {} cannot be explained for GitLab {}: {} error(s)",
            file.name(),
            args.gitlab_version,
            resolved.error_count()
        );
    }
    match args.format {
        ExplainFormat::Json => {
            let report = ExplainReport {
                file: file.name(),
                gitlab_version: args.gitlab_version,
                era: resolved.era,
                bundled_mattermost: bundled_mattermost(args.gitlab_version).map(|(m, _)| m),
                twin_profile: twin_profile_for(args.gitlab_version),
                host: &resolved.host,
                settings: shown_settings(&resolved, args.all),
                diagnostics: resolved.diagnostics.iter().collect(),
                diagnostics_omitted: resolved.omitted_errors + resolved.omitted_warnings,
                drift: &drifted,
            };
            match serde_json::to_string_pretty(&report) {
                Ok(text) => println!("{text}"),
                Err(e) => {
                    eprintln!("error: cannot encode the report as JSON: {e}");
                    return Exit::Failed;
                }
            }
        }
        ExplainFormat::Human if !resolved.has_errors() => {
            let report = human_report(&file, &resolved, &drifted, args.all);
            print!("{}", crate::report::escape::terminal(&report));
        }
        ExplainFormat::Human => {}
    }
    if resolved.has_errors() {
        Exit::BadInput
    } else {
        Exit::Ok
    }
}
