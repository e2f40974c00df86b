//! `mm-harness release-diff --from V --to V [SCENARIO...] [--tag T] [--format human|json|markdown]`:
//! the behaviour-change report between two GitLab versions. Each scenario runs twice on the twin,
//! its `gitlab_version` overridden to `--from` and to `--to` (`scenario::at_gitlab_version`), and
//! the two normalised, redacted transcripts (what snapshots hold) are compared: unchanged, changed
//! (a unified diff, bounded), or passing on one version only.
//!
//! Owns: the subcommand's flags, the pairing of the two runs, [`ScenarioDiff`] and its three
//! renderings. Exit 0 when it ran (differences are the report, not a failure), 2 on bad input (a
//! version omnibus never released, a named scenario pinned to its own version, a target other
//! than the twin), 3 when the environment broke (a stack did not start).

use std::io::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::context::Context;
use super::error::CliError;
use super::run_cmd::{TargetArg, parse_gitlab_version};
use crate::config::Version;
use crate::run::{RunOptions, ScenarioResult, ScenarioStatus, StepStatus, Verdict, run};
use crate::scenario::{Scenario, Selection, at_gitlab_version, select_suite};

/// At most this many lines of one scenario's diff are printed.
pub const MAX_DIFF_LINES: usize = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    Human,
    Json,
    Markdown,
}

/// Compare the scenarios' behaviour on two GitLab versions.
#[derive(Debug, clap::Args)]
pub struct ReleaseDiffArgs {
    /// The GitLab version the report starts from (`8.12`, `18.11.3`).
    #[arg(long, value_name = "V", value_parser = parse_gitlab_version)]
    pub from: Version,
    /// The GitLab version it compares with.
    #[arg(long, value_name = "V", value_parser = parse_gitlab_version)]
    pub to: Version,
    /// Scenario names or paths; default: every scenario not pinned to its own version.
    pub scenarios: Vec<String>,
    /// Only scenarios with one of these tags (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Where the scenarios run (the twin only, for now).
    #[arg(long, value_enum, default_value = "twin")]
    pub target: TargetArg,
    /// Scenarios run at once.
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    #[arg(long, value_enum, default_value = "human")]
    pub format: DiffFormat,
    #[command(flatten)]
    pub suite: super::scenarios_cmd::SuiteArgs,
}

/// How one scenario's behaviour differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Same transcript, both passed.
    Unchanged,
    /// Both passed, the transcripts differ.
    Changed,
    /// Passes on `--from` only.
    PassesOnFromOnly,
    /// Passes on `--to` only.
    PassesOnToOnly,
    /// Fails on both (the diff shows whether it fails the same way).
    FailsOnBoth,
    /// Not run: its file pins it to its own version.
    NotCompared { reason: String },
}

/// One scenario's entry in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioDiff {
    pub name: String,
    #[serde(flatten)]
    pub change: Change,
    /// The unified diff of the two transcripts (`--from` → `--to`), at most
    /// [`MAX_DIFF_LINES`] lines; empty when they are equal.
    pub diff: String,
    /// Diff lines left out.
    pub diff_lines_omitted: usize,
    /// Why a run did not pass, per version.
    pub from_failure: Option<String>,
    pub to_failure: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseDiff {
    pub from: String,
    pub to: String,
    pub target: String,
    pub scenarios: Vec<ScenarioDiff>,
}

fn failure_of(r: &ScenarioResult) -> Option<String> {
    match &r.status {
        ScenarioStatus::Passed => None,
        ScenarioStatus::Failed => r.steps.iter().find_map(|s| match &s.status {
            StepStatus::Failed { failure } => {
                Some(format!("step {}: {}", s.number, failure.message()))
            }
            StepStatus::Passed | StepStatus::NotRun | StepStatus::Cancelled => None,
        }),
        ScenarioStatus::Error { failure } => Some(failure.message().to_string()),
        ScenarioStatus::Skipped { reason } | ScenarioStatus::Cancelled { reason } => {
            Some(reason.clone())
        }
    }
}

/// Bound a diff to `max` lines: the kept text and the number of lines left out.
pub fn bounded(diff: &str, max: usize) -> (String, usize) {
    let lines: Vec<&str> = diff.lines().collect();
    if lines.len() <= max {
        return (diff.to_string(), 0);
    }
    let mut kept = lines[..max].join("\n");
    kept.push('\n');
    (kept, lines.len() - max)
}

/// Pair the two runs' results by name.
pub fn compare(from: &ScenarioResult, to: &ScenarioResult) -> ScenarioDiff {
    let change = match (from.passed(), to.passed()) {
        (true, true) if from.transcript == to.transcript => Change::Unchanged,
        (true, true) => Change::Changed,
        (true, false) => Change::PassesOnFromOnly,
        (false, true) => Change::PassesOnToOnly,
        (false, false) => Change::FailsOnBoth,
    };
    let full = if from.transcript == to.transcript {
        String::new()
    } else {
        crate::check::snapshot::diff(&from.transcript, &to.transcript)
    };
    let (diff, diff_lines_omitted) = bounded(&full, MAX_DIFF_LINES);
    ScenarioDiff {
        name: from.name.clone(),
        change,
        diff,
        diff_lines_omitted,
        from_failure: failure_of(from),
        to_failure: failure_of(to),
    }
}

fn label(c: &Change, from: &str, to: &str) -> String {
    match c {
        Change::Unchanged => "unchanged".into(),
        Change::Changed => "changed".into(),
        Change::PassesOnFromOnly => format!("passes on {from} only"),
        Change::PassesOnToOnly => format!("passes on {to} only"),
        Change::FailsOnBoth => "fails on both".into(),
        Change::NotCompared { reason } => format!("not compared: {reason}"),
    }
}

/// The terminal report.
pub fn human(r: &ReleaseDiff) -> String {
    let esc = crate::report::escape::terminal;
    let mut out = format!(
        "release diff: GitLab {} → {} on the {} target, {} scenario(s)\n",
        r.from,
        r.to,
        r.target,
        r.scenarios.len()
    );
    for s in &r.scenarios {
        out.push_str(&format!(
            "\n== {}: {}\n",
            s.name,
            esc(&label(&s.change, &r.from, &r.to))
        ));
        for (v, f) in [(&r.from, &s.from_failure), (&r.to, &s.to_failure)] {
            if let Some(f) = f {
                out.push_str(&format!("   on {v}: {}\n", esc(f)));
            }
        }
        out.push_str(&esc(&s.diff));
        if s.diff_lines_omitted > 0 {
            out.push_str(&format!("… {} more diff lines\n", s.diff_lines_omitted));
        }
    }
    let count = |f: fn(&Change) -> bool| r.scenarios.iter().filter(|s| f(&s.change)).count();
    out.push_str(&format!(
        "\n{} unchanged, {} changed, {} pass on one version only, {} fail on both, {} not compared\n",
        count(|c| *c == Change::Unchanged),
        count(|c| *c == Change::Changed),
        count(|c| matches!(c, Change::PassesOnFromOnly | Change::PassesOnToOnly)),
        count(|c| *c == Change::FailsOnBoth),
        count(|c| matches!(c, Change::NotCompared { .. })),
    ));
    out
}

/// A Markdown report to paste into an issue.
pub fn markdown(r: &ReleaseDiff) -> String {
    let mut out = format!(
        "## Behaviour changes: GitLab {} → {}\n\n| scenario | result |\n|---|---|\n",
        r.from, r.to
    );
    for s in &r.scenarios {
        out.push_str(&format!(
            "| `{}` | {} |\n",
            s.name,
            label(&s.change, &r.from, &r.to).replace('|', "\\|")
        ));
    }
    for s in r.scenarios.iter().filter(|s| !s.diff.is_empty()) {
        out.push_str(&format!("\n### `{}`\n\n```diff\n{}", s.name, s.diff));
        if s.diff_lines_omitted > 0 {
            out.push_str(&format!("… {} more diff lines\n", s.diff_lines_omitted));
        }
        out.push_str("```\n");
    }
    out
}

pub fn execute(args: ReleaseDiffArgs, ctx: &Context) -> Result<(), CliError> {
    if args.target != TargetArg::Twin {
        return Err(CliError::bad_input(
            "release-diff runs on the twin target only for now (the docker variant swaps image tags, not implemented)",
        )
        .with_hint("drop --target, or use --target twin"));
    }
    let selection = Selection {
        names: args.scenarios.clone(),
        tags: args.tags.clone(),
        shard: None,
    };
    let selected = select_suite(&args.suite.suite()?, &selection).map_err(|errors| {
        CliError::reported(super::Exit::BadInput)
            .with_details(errors.iter().map(|e| e.render()).collect())
    })?;
    let mut entries: Vec<ScenarioDiff> = Vec::new();
    let mut runnable: Vec<(Scenario, Scenario)> = Vec::new();
    let mut refused = Vec::new();
    for s in &selected {
        match (
            at_gitlab_version(s, args.from),
            at_gitlab_version(s, args.to),
        ) {
            (Ok(a), Ok(b)) => runnable.push((a, b)),
            (Err(why), _) | (_, Err(why)) => {
                refused.push(format!("{}: {why}", s.name));
                entries.push(ScenarioDiff {
                    name: s.name.clone(),
                    change: Change::NotCompared { reason: why },
                    diff: String::new(),
                    diff_lines_omitted: 0,
                    from_failure: None,
                    to_failure: None,
                });
            }
        }
    }
    // A scenario asked for by name that cannot be compared is bad input; in a whole suite it is
    // listed as not compared.
    if !args.scenarios.is_empty() && !refused.is_empty() {
        return Err(CliError::bad_input(format!(
            "cannot compare on GitLab {} and {}",
            args.from, args.to
        ))
        .with_details(refused)
        .with_hint("name scenarios whose steps do not pin a GitLab version"));
    }
    let tmp = std::env::temp_dir();
    let opts = |jobs: u16| {
        let mut o = RunOptions::twin(tmp.clone());
        o.jobs = usize::from(jobs);
        o.deadlines.scenario = o.deadlines.scenario.max(Duration::from_secs(60));
        o
    };
    let (from_list, to_list): (Vec<Scenario>, Vec<Scenario>) = runnable.into_iter().unzip();
    let (from_run, to_run) = ctx.block_on(async {
        let a = run(from_list, opts(args.jobs), crate::run::no_events()).await;
        let b = run(to_list, opts(args.jobs), crate::run::no_events()).await;
        (a, b)
    })?;
    for run in [&from_run, &to_run] {
        if matches!(
            run.verdict(),
            Verdict::Environment | Verdict::Interrupted | Verdict::HarnessBug
        ) {
            let why: Vec<String> = run
                .scenarios
                .iter()
                .filter_map(|r| failure_of(r).map(|f| format!("{}: {f}", r.name)))
                .collect();
            return Err(
                CliError::environment("the twin could not run every scenario; no report")
                    .with_details(why),
            );
        }
    }
    for a in &from_run.scenarios {
        if let Some(b) = to_run.scenarios.iter().find(|b| b.name == a.name) {
            let mut d = compare(a, b);
            d.diff = d
                .diff
                .replacen("--- snapshot", &format!("--- GitLab {}", args.from), 1)
                .replacen("+++ this run", &format!("+++ GitLab {}", args.to), 1);
            entries.push(d);
        }
    }
    entries.sort_by(|x, y| x.name.cmp(&y.name));
    let report = ReleaseDiff {
        from: args.from.to_string(),
        to: args.to.to_string(),
        target: "twin".into(),
        scenarios: entries,
    };
    let text = match args.format {
        DiffFormat::Human => human(&report),
        DiffFormat::Markdown => markdown(&report),
        DiffFormat::Json => {
            serde_json::to_string_pretty(&report)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
                + "\n"
        }
    };
    let mut out = ctx.stdout();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| CliError::environment(format!("cannot write the report: {e}")))
}
