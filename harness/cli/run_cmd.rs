//! `mm-harness run`: select scenarios, run them on a target, report. Exit 0 when every scenario
//! passed (skipped ones do not count against it), 1 when one failed, 2 on bad input (scenario
//! files, flags), 3 when the environment is missing (target unreachable, docker not available).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{CliError, Context, OutputFormat};
use crate::check::SnapshotMode;
use crate::report::{HumanReporter, to_json, to_junit};
use crate::run::{RunEvent, RunOptions, run};
use crate::scenario::{Selection, TargetKind, parse_shard, select};
use crate::stack::{LiveOptions, TargetSpec};

/// Where scenarios run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// The embedded reference GitLab + Mattermost on loopback.
    Twin,
    /// The scenario's hosts in containers (docs/docker.md): pinned images, or the twin image.
    Docker,
    /// An existing installation (--gitlab-url / --mattermost-url; credentials from MM_HARNESS_* env).
    Live,
}

/// Run the conformance scenarios.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario names (file stems in --scenario-dir) or paths to .toml files; default: all.
    pub scenarios: Vec<String>,
    /// Where the stack comes from.
    #[arg(long, value_enum, default_value = "twin")]
    pub target: TargetArg,
    /// GitLab's URL (live target).
    #[arg(long, value_name = "URL")]
    pub gitlab_url: Option<String>,
    /// Mattermost's URL (live target).
    #[arg(long, value_name = "URL")]
    pub mattermost_url: Option<String>,
    /// Connect to ADDR for HOST:PORT, keeping URLs and TLS names (live target; curl's syntax,
    /// repeatable), e.g. `--resolve gitlab.example.com:443:10.0.0.5`.
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = crate::stack::parse_resolve)]
    pub resolve: Vec<(String, u16, std::net::SocketAddr)>,
    /// Let scenarios change a live installation (create applications, teams, hooks, posts).
    #[arg(long)]
    pub allow_writes: bool,
    /// Only scenarios with one of these tags (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Scenarios run at once.
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Run only shard K of N (1-based), e.g. `--shard 2/3` for CI parallelism.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Stop starting scenarios after the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Write new and changed snapshots instead of failing on them.
    #[arg(long)]
    pub update_snapshots: bool,
    /// Output format (written to stdout).
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    /// Also write the JUnit XML report to this file (whatever --format prints), for CI's
    /// `artifacts:reports:junit` next to a readable job log.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Also show passed steps and gitlab.rb warnings.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Directory of scenario files.
    #[arg(long, default_value = "scenarios", value_name = "DIR")]
    pub scenario_dir: PathBuf,
    /// Directory of snapshot files.
    #[arg(long, default_value = "snapshots", value_name = "DIR")]
    pub snapshot_dir: PathBuf,
    /// Timeout of every request the drivers make, in seconds.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub timeout: u64,
    /// Image for omnibus hosts (docker target; default: images.toml for the scenario's GitLab
    /// version), e.g. `gitlab/gitlab-ce:18.11.0-ce.0` or the twin image `mm-twin:local`.
    #[arg(long, value_name = "IMAGE")]
    pub gitlab_image: Option<String>,
    /// Image for a standalone Mattermost host (docker target).
    #[arg(long, value_name = "IMAGE")]
    pub mattermost_image: Option<String>,
    /// How long a container may take to become ready, in seconds (docker target; a real
    /// GitLab's first boot takes minutes).
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub ready_timeout: u64,
    /// Leave the docker stack running at the end and print how to reach it.
    #[arg(long)]
    pub keep: bool,
}

/// Parse, run, report.
pub fn execute(args: RunArgs, ctx: &Context) -> Result<(), CliError> {
    let kind = match args.target {
        TargetArg::Twin => TargetKind::Twin,
        TargetArg::Docker => TargetKind::Docker,
        TargetArg::Live => TargetKind::Live,
    };
    if kind != TargetKind::Docker
        && (args.gitlab_image.is_some() || args.mattermost_image.is_some() || args.keep)
    {
        return Err(CliError::bad_input(
            "--gitlab-image, --mattermost-image and --keep apply to --target docker only",
        ));
    }
    if kind == TargetKind::Live && args.gitlab_url.is_none() && args.mattermost_url.is_none() {
        return Err(CliError::bad_input(
            "--target live needs --gitlab-url and/or --mattermost-url",
        ));
    }
    if kind != TargetKind::Live
        && (args.gitlab_url.is_some() || args.mattermost_url.is_some() || !args.resolve.is_empty())
    {
        return Err(CliError::bad_input(
            "--gitlab-url, --mattermost-url and --resolve apply to --target live only",
        ));
    }
    let parse_url = |flag: &str, raw: &Option<String>| -> Result<Option<url::Url>, CliError> {
        match raw {
            None => Ok(None),
            Some(r) => match url::Url::parse(r) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                    Ok(Some(u))
                }
                Ok(_) => Err(CliError::bad_input(format!(
                    "{flag} {r:?} must be an http or https URL with a host"
                ))),
                Err(e) => Err(CliError::bad_input(format!(
                    "{flag} {r:?} is not a URL: {e}"
                ))),
            },
        }
    };
    let gitlab_url = parse_url("--gitlab-url", &args.gitlab_url)?;
    let mattermost_url = parse_url("--mattermost-url", &args.mattermost_url)?;
    let selection = Selection {
        names: args.scenarios.clone(),
        tags: args.tags.clone(),
        shard: args.shard,
    };
    let scenarios = select(&args.scenario_dir, &selection).map_err(|errors| {
        CliError::reported(super::Exit::BadInput)
            .with_details(errors.iter().map(|e| e.render()).collect())
    })?;
    if scenarios.is_empty() {
        let mut what = String::new();
        if !args.tags.is_empty() {
            what.push_str(&format!(" tagged {}", args.tags.join(" or ")));
        }
        if let Some((k, n)) = args.shard {
            what.push_str(&format!(" in shard {k}/{n}"));
        }
        ctx.warn(&format!(
            "no scenario{what} to run (scenario directory {})",
            args.scenario_dir.display()
        ));
    }
    let opts = RunOptions {
        target: TargetSpec {
            kind,
            live: LiveOptions {
                gitlab_url,
                mattermost_url,
                resolve: args.resolve.clone(),
                allow_writes: args.allow_writes,
            },
            request_timeout: Duration::from_secs(args.timeout.max(1)),
            docker: crate::stack::docker::DockerOptions {
                gitlab_image: args.gitlab_image.clone(),
                mattermost_image: args.mattermost_image.clone(),
                ready_timeout: Duration::from_secs(args.ready_timeout.max(1)),
                keep: args.keep,
                progress: Some(Arc::new(|m: &str| {
                    eprintln!("{}", crate::report::escape::terminal(m));
                })),
            },
        },
        jobs: usize::from(args.jobs),
        fail_fast: args.fail_fast,
        snapshots: if args.update_snapshots {
            SnapshotMode::Update
        } else {
            SnapshotMode::Check
        },
        snapshot_dir: args.snapshot_dir.clone(),
    };
    let human = match ctx.format() {
        OutputFormat::Human => Some(Arc::new(HumanReporter::new(
            ctx.stdout(),
            ctx.style(),
            args.verbose,
        ))),
        _ => None,
    };
    let sink: crate::run::EventSink = match &human {
        Some(h) => {
            let h = h.clone();
            Arc::new(move |e: RunEvent| h.event(&e))
        }
        None => crate::run::no_events(),
    };
    let summary = ctx.block_on(run(scenarios, opts, sink))?;
    let mut out = ctx.stdout();
    let written = match ctx.format() {
        OutputFormat::Human => Ok(()),
        OutputFormat::Json => writeln!(out, "{}", to_json(&summary)),
        // The XML ends with its own newline.
        OutputFormat::Junit => write!(out, "{}", to_junit(&summary)),
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| CliError::environment(format!("cannot write the report: {e}")))?;
    if let Some(path) = &args.junit {
        std::fs::write(path, to_junit(&summary)).map_err(|e| {
            CliError::environment(format!(
                "cannot write the JUnit report to {}: {e}",
                path.display()
            ))
        })?;
    }
    if summary.environment_error() {
        Err(CliError::reported(super::Exit::Environment))
    } else if summary.all_passed() {
        Ok(())
    } else {
        Err(CliError::reported(super::Exit::Failed))
    }
}
