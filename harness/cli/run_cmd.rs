//! `mm-harness run`: select scenarios, run them on a target, report. Exit 0 when every scenario
//! passed (skipped ones do not count against it), 1 when one failed, 2 on bad input (scenario
//! files, flags), 3 when the environment is missing (target unreachable, no Docker engine or image).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{CliError, Context, OutputFormat};
use crate::check::SnapshotMode;
use crate::report::{HumanReporter, to_json, to_junit};
use crate::run::{Cancel, Deadlines, RunEvent, RunOptions, Verdict, run};
use crate::scenario::{Scenario, Selection, TargetKind, parse_shard, select_suite};
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
    /// Scenario names (file stems: shipped, or in the scenario directory) or paths to .toml
    /// files; default: all.
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
    /// Run every scenario on this GitLab version instead of its file's `gitlab_version` (the twin
    /// profile and key table of that version; snapshots are not compared). A file whose steps pin
    /// it to its own version (upgrades, the move out of omnibus) is refused with the reason.
    #[arg(long, value_name = "V", value_parser = parse_gitlab_version)]
    pub gitlab_version: Option<crate::config::Version>,
    /// Only scenarios with one of these tags (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Scenarios run at once [default: on the twin 4 per core (4-16), on docker and live 1].
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// Run only shard K of N (1-based), e.g. `--shard 2/3` for CI parallelism.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Stop starting scenarios after the first failure (those already running finish; with
    /// `--jobs 1` nothing runs after it).
    #[arg(long)]
    pub fail_fast: bool,
    /// Write new and changed snapshots instead of failing on them (into --snapshot-dir, or
    /// ./snapshots of a project directory).
    #[arg(long)]
    pub update_snapshots: bool,
    /// Compare transcripts with snapshots on the live target too (`NAME@live.snap`). Off by
    /// default there: a missing snapshot does not fail a smoke check. The twin always compares.
    #[arg(long)]
    pub check_snapshots: bool,
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
    #[command(flatten)]
    pub suite: super::scenarios_cmd::SuiteArgs,
    /// Directory of snapshot files (default: ./snapshots; a shipped scenario without a file
    /// there uses its shipped snapshot).
    #[arg(long, value_name = "DIR")]
    pub snapshot_dir: Option<PathBuf>,
    /// Timeout of every request the drivers make, in seconds (≥ 1).
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: u64,
    /// Deadline of one step, however many requests it makes, in seconds (≥ 1); default: 40 on
    /// the twin, 120 on live, 300 on docker.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub step_timeout: Option<u64>,
    /// Deadline of one scenario (its stack's start and every step), in seconds (≥ 1); default:
    /// 120 on the twin, 600 on live, 1800 on docker.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub scenario_timeout: Option<u64>,
    #[command(flatten)]
    pub docker: Box<DockerArgs>,
}

/// The docker target's flags (docs/docker.md).
#[derive(Debug, Args)]
pub struct DockerArgs {
    /// Image for omnibus hosts (docker target; default: images.toml for the scenario's GitLab
    /// version), e.g. `gitlab/gitlab-ce:18.11.0-ce.0` or the twin image `mm-twin:local`;
    /// `VERSION=IMAGE` for one GitLab version (what `gitlab.upgrade` swaps to), repeatable:
    /// `--gitlab-image 8.9=mm-twin:8.9 --gitlab-image 8.12=mm-twin:8.12`.
    #[arg(long, value_name = "[VERSION=]IMAGE")]
    pub gitlab_image: Vec<String>,
    /// Image for a standalone Mattermost host (docker target).
    #[arg(long, value_name = "IMAGE")]
    pub mattermost_image: Option<String>,
    /// How long a container may take to become ready, in seconds (docker target; a real
    /// GitLab's first boot takes minutes).
    #[arg(long, default_value_t = 600, value_name = "SECONDS", value_parser = parse_seconds)]
    pub ready_timeout: u64,
    /// Leave the docker stacks running at the end and print how to reach them.
    #[arg(long)]
    pub keep: bool,
    /// Give every scenario its own stack (docker target; by default scenarios with the same
    /// topology, version and image share one, reset between them, where the image can be reset).
    #[arg(long)]
    pub fresh_stacks: bool,
}

/// `--gitlab-image` values read: the image for every version, and per-version images.
pub type GitlabImages = (Option<String>, Vec<(crate::config::Version, String)>);

/// `--gitlab-image` values: at most one plain `IMAGE` (every version) and any `VERSION=IMAGE`
/// (one version each, major.minor unique).
pub fn parse_gitlab_images(values: &[String]) -> Result<GitlabImages, CliError> {
    let mut every = None;
    let mut per_version: Vec<(crate::config::Version, String)> = Vec::new();
    for v in values {
        match v.split_once('=') {
            Some((version, image)) => {
                let parsed = version
                    .trim()
                    .parse::<crate::config::Version>()
                    .map_err(|e| {
                        CliError::bad_input(format!(
                            "--gitlab-image {v:?}: {version:?} is not a GitLab version: {e}"
                        ))
                        .with_hint("VERSION=IMAGE, e.g. --gitlab-image 8.12=mm-twin:8.12")
                    })?;
                if image.trim().is_empty() {
                    return Err(CliError::bad_input(format!(
                        "--gitlab-image {v:?} names no image after `=`"
                    )));
                }
                if per_version
                    .iter()
                    .any(|(w, _)| w.major == parsed.major && w.minor == parsed.minor)
                {
                    return Err(CliError::bad_input(format!(
                        "--gitlab-image gives GitLab {}.{} two images",
                        parsed.major, parsed.minor
                    )));
                }
                per_version.push((parsed, image.trim().to_string()));
            }
            None => {
                if every.is_some() {
                    return Err(CliError::bad_input(
                        "--gitlab-image IMAGE (for every version) is given twice",
                    )
                    .with_hint("give one plain image, and VERSION=IMAGE for single versions"));
                }
                every = Some(v.trim().to_string());
            }
        }
    }
    Ok((every, per_version))
}

/// `--gitlab-version`, `release-diff --from/--to`: a GitLab release omnibus published (the
/// version table's range), as `MAJOR.MINOR` or `MAJOR.MINOR.PATCH`.
pub fn parse_gitlab_version(s: &str) -> Result<crate::config::Version, String> {
    let arg = crate::upgrade::versions::parse_version_arg(s).map_err(|e| e.to_string())?;
    crate::upgrade::versions::resolve(arg)
        .map(|_| arg.version)
        .map_err(|e| e.to_string())
}

/// Every scenario on GitLab `v`, or bad input listing each file that refuses and why.
pub fn retarget_all(
    scenarios: &[Scenario],
    v: crate::config::Version,
) -> Result<Vec<Scenario>, CliError> {
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for s in scenarios {
        match crate::scenario::at_gitlab_version(s, v) {
            Ok(r) => out.push(r),
            Err(why) => refused.push(format!("{}: {why}", s.name)),
        }
    }
    if refused.is_empty() {
        Ok(out)
    } else {
        Err(CliError::bad_input(format!(
            "cannot run {} on GitLab {v}",
            if refused.len() == 1 {
                "this scenario"
            } else {
                "these scenarios"
            }
        ))
        .with_details(refused)
        .with_hint("leave them out (name the others, or --tag), or drop --gitlab-version"))
    }
}

/// A number of whole seconds, at least 1: 0 would leave no time at all, so it is bad input
/// rather than "no timeout".
pub fn parse_seconds(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("0 seconds leaves no time at all: give at least 1".into()),
        Ok(n) if n > 7 * 24 * 3600 => Err(format!("{n} seconds is more than a week")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number of seconds")),
    }
}

/// The credentials the environment holds for the live target (`MM_HARNESS_*_PASSWORD`,
/// `MM_HARNESS_*_TOKEN`), so that no report can show them whatever a server echoes.
fn environment_secrets() -> Vec<crate::config::Secret> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, v)| {
            k.starts_with("MM_HARNESS_")
                && (k.ends_with("_PASSWORD") || k.ends_with("_TOKEN"))
                && !v.is_empty()
        })
        .map(|(_, v)| crate::config::Secret::new(v))
        .collect()
}

/// Parse, run, report.
pub fn execute(args: RunArgs, ctx: &Context) -> Result<(), CliError> {
    let kind = match args.target {
        TargetArg::Twin => TargetKind::Twin,
        TargetArg::Docker => TargetKind::Docker,
        TargetArg::Live => TargetKind::Live,
    };
    if kind != TargetKind::Docker
        && (!args.docker.gitlab_image.is_empty()
            || args.docker.mattermost_image.is_some()
            || args.docker.keep
            || args.docker.fresh_stacks)
    {
        return Err(CliError::bad_input(
            "--gitlab-image, --mattermost-image, --keep and --fresh-stacks apply to --target docker only",
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
    let snapshot_dir =
        super::scenarios_cmd::snapshot_dir(args.snapshot_dir.as_deref(), args.update_snapshots)?;
    let mut scenarios = select_suite(&args.suite.suite()?, &selection).map_err(|errors| {
        CliError::reported(super::Exit::BadInput)
            .with_details(errors.iter().map(|e| e.render()).collect())
    })?;
    if let Some(v) = args.gitlab_version {
        scenarios = retarget_all(&scenarios, v)?;
    }
    if scenarios.is_empty() {
        let mut what = String::new();
        if !args.tags.is_empty() {
            what.push_str(&format!(" tagged {}", args.tags.join(" or ")));
        }
        if let Some((k, n)) = args.shard {
            what.push_str(&format!(" in shard {k}/{n}"));
        }
        ctx.warn(&format!(
            "no scenario{what} to run (from {})",
            args.suite.describe()
        ));
    }
    let (gitlab_image, gitlab_images) = parse_gitlab_images(&args.docker.gitlab_image)?;
    let target = TargetSpec {
        kind,
        live: LiveOptions {
            gitlab_url,
            mattermost_url,
            resolve: args.resolve.clone(),
            allow_writes: args.allow_writes,
        },
        request_timeout: Duration::from_secs(args.timeout),
        docker: crate::stack::docker::DockerOptions {
            gitlab_image,
            gitlab_images,
            mattermost_image: args.docker.mattermost_image.clone(),
            ready_timeout: Duration::from_secs(args.docker.ready_timeout),
            keep: args.docker.keep,
            progress: Some(Arc::new(|m: &str| {
                eprintln!("{}", crate::report::escape::terminal(m));
            })),
            pool: (kind == TargetKind::Docker && !args.docker.fresh_stacks && !args.docker.keep)
                .then(crate::stack::docker::StackPool::new),
        },
    };
    let pool = target.docker.pool.clone();
    if kind == TargetKind::Live {
        live_preflight(
            &target,
            &mut scenarios,
            args.check_snapshots || args.update_snapshots,
        )?;
    }
    let cancel = Cancel::new();
    let opts = RunOptions {
        target,
        cancel: cancel.clone(),
        secrets: environment_secrets(),
        deadlines: {
            let defaults = Deadlines::for_target(kind);
            Deadlines {
                step: args.step_timeout.map_or(defaults.step, Duration::from_secs),
                scenario: args
                    .scenario_timeout
                    .map_or(defaults.scenario, Duration::from_secs),
            }
        },
        jobs: args.jobs.map_or_else(|| default_jobs(kind), usize::from),
        fail_fast: args.fail_fast,
        snapshots: if args.update_snapshots {
            SnapshotMode::Update
        } else {
            SnapshotMode::Check
        },
        snapshot_dir,
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
    let summary = ctx.block_on(async {
        // SIGINT/SIGTERM stop the run; the partial report is printed below and the exit is 130.
        let listener = crate::run::signal::cancel_on_signals(cancel.clone())
            .map_err(|e| CliError::environment(format!("cannot listen for SIGINT/SIGTERM: {e}")))?;
        let summary = run(scenarios, opts, sink).await;
        // The stacks the scenarios left for reuse go now, after a stopped run too.
        if let Some(pool) = &pool {
            let stats = pool.stats();
            if stats.started > 0 {
                eprintln!(
                    "docker: {} stacks served {} scenarios ({} reused); removing them",
                    stats.started,
                    stats.started + stats.reused,
                    stats.reused
                );
            }
            pool.drain().await;
        }
        listener.abort();
        Ok::<_, CliError>(summary)
    })??;
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
    super::error::from_exit(exit_of(summary.verdict()))
}

/// The exit code of a run's verdict.
pub fn exit_of(verdict: Verdict) -> super::Exit {
    match verdict {
        Verdict::Passed => super::Exit::Ok,
        Verdict::Failed => super::Exit::Failed,
        Verdict::BadInput => super::Exit::BadInput,
        Verdict::Environment => super::Exit::Environment,
        Verdict::HarnessBug => super::Exit::HarnessBug,
        Verdict::Interrupted => super::Exit::Interrupted,
    }
}

/// Before a live run connects: snapshots are compared only when asked (`--check-snapshots`,
/// `--update-snapshots`), and whatever the scenarios that will run need from the command line and
/// environment must be there — a missing password or URL is bad input (exit 2) naming what to set.
fn live_preflight(
    target: &TargetSpec,
    scenarios: &mut [Scenario],
    snapshots: bool,
) -> Result<(), CliError> {
    if !snapshots {
        for s in scenarios.iter_mut() {
            s.snapshot = false;
        }
    }
    let running: Vec<&Scenario> = scenarios
        .iter()
        .filter(|s| crate::run::skip_reason(s, target).is_none())
        .collect();
    let env = |k: &str| std::env::var(k).ok();
    let problems = crate::stack::live::preflight(&target.live, &running, &env);
    if problems.is_empty() {
        return Ok(());
    }
    Err(CliError::bad_input(format!(
        "the live target is missing configuration ({} problem{})",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    ))
    .with_details(problems.iter().map(|p| format!("error: {p}")).collect())
    .with_hint(
        "credentials come from the environment only (masked CI/CD variables), never from flags; see docs/ci.md",
    ))
}

/// `--jobs` when not given. On the twin a scenario is an in-process stack that spends much of its
/// time waiting (on loopback I/O, on the product's scaled timeouts, on the sink's TLS wait), so
/// the suite runs 4 scenarios per core (at least 4, at most 16): on 2 cores, 8 at once. A docker
/// scenario starts containers and a live one talks to a real installation: one at a time.
pub fn default_jobs(kind: TargetKind) -> usize {
    match kind {
        TargetKind::Twin => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores * 4).clamp(4, 16)
        }
        TargetKind::Docker | TargetKind::Live => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_whole_and_at_least_one() {
        assert_eq!(parse_seconds("40"), Ok(40));
        assert!(parse_seconds("0").unwrap_err().contains("no time at all"));
        assert!(parse_seconds("1.5").unwrap_err().contains("whole number"));
        assert!(parse_seconds("-1").is_err());
        assert!(
            parse_seconds("99999999")
                .unwrap_err()
                .contains("more than a week")
        );
    }

    #[test]
    fn each_verdict_has_its_exit_code() {
        use super::super::Exit;
        for (verdict, exit) in [
            (Verdict::Passed, Exit::Ok),
            (Verdict::Failed, Exit::Failed),
            (Verdict::BadInput, Exit::BadInput),
            (Verdict::Environment, Exit::Environment),
            (Verdict::HarnessBug, Exit::HarnessBug),
            (Verdict::Interrupted, Exit::Interrupted),
        ] {
            assert_eq!(exit_of(verdict), exit, "{verdict:?}");
        }
    }
}
