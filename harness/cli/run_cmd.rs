//! `mm-harness run`: select scenarios, run them on a target, report. Exit 0 when every scenario
//! passed (skipped ones do not count against it), 1 when one failed, 2 on bad input (scenario
//! files, flags), 3 when the environment is missing (target unreachable, docker not available).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::Exit;
use crate::check::SnapshotMode;
use crate::report::human::Style;
use crate::report::{HumanReporter, to_json, to_junit};
use crate::run::{RunEvent, RunOptions, run};
use crate::scenario::{Selection, TargetKind, parse_shard, select};
use crate::stack::{LiveOptions, TargetSpec};

/// Where scenarios run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// The embedded reference GitLab + Mattermost on loopback.
    Twin,
    /// Real images in containers (not yet available).
    Docker,
    /// An existing installation (--gitlab-url / --mattermost-url; credentials from MM_HARNESS_* env).
    Live,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Human,
    Json,
    Junit,
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
    pub format: FormatArg,
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
}

/// Parse, run, report.
pub fn execute(args: RunArgs) -> Exit {
    let stderr = std::io::stderr();
    let kind = match args.target {
        TargetArg::Twin => TargetKind::Twin,
        TargetArg::Docker => TargetKind::Docker,
        TargetArg::Live => TargetKind::Live,
    };
    if kind == TargetKind::Docker {
        let _ = writeln!(
            stderr.lock(),
            "error: the docker target is not yet available in this version of mm-harness\n  = help: use --target twin (default) or --target live"
        );
        return Exit::Environment;
    }
    if kind == TargetKind::Live && args.gitlab_url.is_none() && args.mattermost_url.is_none() {
        let _ = writeln!(
            stderr.lock(),
            "error: --target live needs --gitlab-url and/or --mattermost-url"
        );
        return Exit::BadInput;
    }
    if kind != TargetKind::Live
        && (args.gitlab_url.is_some() || args.mattermost_url.is_some() || !args.resolve.is_empty())
    {
        let _ = writeln!(
            stderr.lock(),
            "error: --gitlab-url, --mattermost-url and --resolve apply to --target live only"
        );
        return Exit::BadInput;
    }
    let parse_url = |flag: &str, raw: &Option<String>| -> Result<Option<url::Url>, String> {
        match raw {
            None => Ok(None),
            Some(r) => match url::Url::parse(r) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                    Ok(Some(u))
                }
                Ok(_) => Err(format!(
                    "{flag} {r:?} must be an http or https URL with a host"
                )),
                Err(e) => Err(format!("{flag} {r:?} is not a URL: {e}")),
            },
        }
    };
    let (gitlab_url, mattermost_url) = match (
        parse_url("--gitlab-url", &args.gitlab_url),
        parse_url("--mattermost-url", &args.mattermost_url),
    ) {
        (Ok(g), Ok(m)) => (g, m),
        (Err(e), _) | (_, Err(e)) => {
            let _ = writeln!(stderr.lock(), "error: {e}");
            return Exit::BadInput;
        }
    };
    let selection = Selection {
        names: args.scenarios.clone(),
        tags: args.tags.clone(),
        shard: args.shard,
    };
    let scenarios = match select(&args.scenario_dir, &selection) {
        Ok(s) => s,
        Err(errors) => {
            let mut err = stderr.lock();
            for e in errors {
                let _ = write!(err, "{}", e.render());
            }
            return Exit::BadInput;
        }
    };
    if scenarios.is_empty() {
        let mut what = String::new();
        if !args.tags.is_empty() {
            what.push_str(&format!(" tagged {}", args.tags.join(" or ")));
        }
        if let Some((k, n)) = args.shard {
            what.push_str(&format!(" in shard {k}/{n}"));
        }
        let _ = writeln!(
            stderr.lock(),
            "warning: no scenario{what} to run (scenario directory {})",
            args.scenario_dir.display()
        );
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(stderr.lock(), "error: cannot start the async runtime: {e}");
            return Exit::Environment;
        }
    };
    let human = match args.format {
        FormatArg::Human => Some(Arc::new(HumanReporter::new(
            Box::new(std::io::stdout()),
            Style::detect(),
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
    let summary = runtime.block_on(run(scenarios, opts, sink));
    match args.format {
        FormatArg::Human => {}
        FormatArg::Json => println!("{}", to_json(&summary)),
        // The XML ends with its own newline.
        FormatArg::Junit => print!("{}", to_junit(&summary)),
    }
    if let Some(path) = &args.junit
        && let Err(e) = std::fs::write(path, to_junit(&summary))
    {
        let _ = writeln!(
            stderr.lock(),
            "error: cannot write the JUnit report to {}: {e}",
            path.display()
        );
        return Exit::Environment;
    }
    if summary.environment_error() {
        Exit::Environment
    } else if summary.all_passed() {
        Exit::Ok
    } else {
        Exit::Failed
    }
}
