//! `mm-harness upgrade-plan --from V --to V [--gitlab-rb PATH] [--config-json PATH]
//! [--format human|json|markdown]`: will this GitLab upgrade work for bundled Mattermost, and
//! what must be done first.
//!
//! Owns: the subcommand's flags, reading the two files (bounded), and the exit code: 0 when the
//! upgrade is supported as asked, 1 when it must be split or is blocked (the plan says how), 2 on
//! bad input (a version omnibus never released, with the known range; an unreadable file).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use super::context::Context;
use super::error::CliError;
use crate::diag::SourceFile;
use crate::report::upgrade as render;
use crate::upgrade::versions::{VersionArg, parse_version_arg};
use crate::upgrade::{Outcome, PlanInput, UpgradeError, plan};

/// Output formats of `upgrade-plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Human,
    Json,
    /// A release checklist to paste into an issue.
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct UpgradePlanArgs {
    /// The GitLab version installed now: 18.11.7, or 18.11 for the line's latest patch.
    #[arg(long, value_name = "V", value_parser = parse_arg)]
    pub from: VersionArg,
    /// The GitLab version to upgrade to.
    #[arg(long, value_name = "V", value_parser = parse_arg)]
    pub to: VersionArg,
    /// The installation's gitlab.rb (bundled Mattermost in use? keys dropped at 11.0? the MM_*
    /// settings to carry out of omnibus).
    #[arg(long, value_name = "PATH")]
    pub gitlab_rb: Option<PathBuf>,
    /// Mattermost's config.json (/var/opt/gitlab/mattermost/config.json): settings changed
    /// outside gitlab.rb that the upgrade loses.
    #[arg(long, value_name = "PATH")]
    pub config_json: Option<PathBuf>,
    /// A Mattermost Professional (or higher) licence is installed (GitLab SSO on v11+ needs one).
    #[arg(long)]
    pub licensed: bool,
    /// The day support windows are judged on (YYYY-MM-DD; default: today, UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub today: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: PlanFormat,
}

fn parse_arg(s: &str) -> Result<VersionArg, String> {
    parse_version_arg(s).map_err(|e| e.to_string())
}

fn parse_date(s: &str) -> Result<String, String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, fmt)
        .map(|_| s.to_string())
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

/// Files larger than this are not a gitlab.rb or a config.json.
const MAX_INPUT: u64 = 4 * 1024 * 1024;

fn read_source(path: &Path) -> Result<SourceFile, String> {
    let f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut text = String::new();
    f.take(MAX_INPUT + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_INPUT {
        return Err(format!(
            "{} is larger than {} MiB: not a gitlab.rb or config.json",
            path.display(),
            MAX_INPUT / 1024 / 1024
        ));
    }
    Ok(SourceFile::new(path.display().to_string(), text))
}

fn today_utc() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn bad_input(e: UpgradeError) -> CliError {
    let err = CliError::bad_input(e.message);
    match e.hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// Compute and print the plan. Exit 0 when the upgrade is supported as asked, 1 when it must be
/// split or is blocked (the plan on stdout says how), 2 on bad input.
pub fn execute(args: UpgradePlanArgs, ctx: &Context) -> Result<(), CliError> {
    let mut files = Vec::new();
    for p in [&args.gitlab_rb, &args.config_json] {
        files.push(
            p.as_deref()
                .map(read_source)
                .transpose()
                .map_err(CliError::bad_input)?,
        );
    }
    let config_json = files.pop().flatten();
    let gitlab_rb = files.pop().flatten();
    let input = PlanInput {
        from: args.from,
        to: args.to,
        gitlab_rb,
        config_json,
        today: args.today.unwrap_or_else(today_utc),
        licensed: args.licensed,
    };
    let plan = plan(&input).map_err(bad_input)?;
    let text = match args.format {
        PlanFormat::Human => render::human(&plan),
        PlanFormat::Json => render::json(&plan),
        PlanFormat::Markdown => render::markdown(&plan),
    };
    let mut out = ctx.stdout();
    let written = out
        .write_all(text.as_bytes())
        .and_then(|_| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|_| out.flush());
    if let Err(e) = written {
        return Err(CliError::environment(format!("cannot write the plan: {e}")));
    }
    match plan.outcome {
        Outcome::Supported => Ok(()),
        // The plan on stdout is the explanation: nothing more on stderr.
        Outcome::MustSplit | Outcome::Blocked => Err(CliError::failed("")),
    }
}
