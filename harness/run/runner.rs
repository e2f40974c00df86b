//! The runner: for each scenario, resolve its hosts' gitlab.rb, bring the target up, carry out the
//! steps in order, check each expectation, compare the normalised transcript with its snapshot,
//! and take the stack down. Scenarios run in parallel up to `jobs`; `fail_fast` stops starting new
//! ones after a failure. It returns values and emits events; it never prints.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::check::{self, SnapshotMode, snapshot};
use crate::diag::Severity;
use crate::drive::{Reach, Transcript};
use crate::scenario::{Bindings, Scenario, TargetKind};
use crate::stack::resolve::resolve_host;
use crate::stack::{Stack, StackErrorKind, TargetSpec};

use super::event::{EventSink, RunEvent, RunEventKind};
use super::outcome::{RunSummary, ScenarioResult, ScenarioStatus, StepResult, StepStatus};
use super::steps::{RunState, execute};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub target: TargetSpec,
    /// Scenarios at once (≥ 1).
    pub jobs: usize,
    pub fail_fast: bool,
    pub snapshots: SnapshotMode,
    /// Where `<scenario>.snap` files live.
    pub snapshot_dir: PathBuf,
}

impl RunOptions {
    pub fn twin(snapshot_dir: PathBuf) -> RunOptions {
        RunOptions {
            target: TargetSpec::twin(),
            jobs: 1,
            fail_fast: false,
            snapshots: SnapshotMode::Check,
            snapshot_dir,
        }
    }
}

struct Clock(Instant);

impl Clock {
    fn event(&self, kind: RunEventKind) -> RunEvent {
        RunEvent {
            elapsed: self.0.elapsed(),
            kind,
        }
    }
}

/// Run scenarios; results come back in the order given.
pub async fn run(scenarios: Vec<Scenario>, opts: RunOptions, events: EventSink) -> RunSummary {
    let clock = Arc::new(Clock(Instant::now()));
    let jobs = opts.jobs.max(1);
    events(clock.event(RunEventKind::RunStarted {
        scenarios: scenarios.len(),
        jobs,
    }));
    let semaphore = Arc::new(Semaphore::new(jobs));
    let stop = Arc::new(AtomicBool::new(false));
    let opts = Arc::new(opts);
    let mut tasks = tokio::task::JoinSet::new();
    let total = scenarios.len();
    for (index, scenario) in scenarios.into_iter().enumerate() {
        // Permits are taken here, in file order, so scenarios start in order and, with
        // `--fail-fast`, none starts after a failure has been seen.
        let permit = semaphore.clone().acquire_owned().await;
        let stop = stop.clone();
        let opts = opts.clone();
        let events = events.clone();
        let clock = clock.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let result = if stop.load(Ordering::SeqCst) {
                skipped(
                    &scenario,
                    &opts,
                    "not started: an earlier scenario failed (--fail-fast)",
                )
            } else {
                events(clock.event(RunEventKind::ScenarioStarted {
                    name: scenario.name.clone(),
                }));
                let r = run_scenario(&scenario, &opts, &events, &clock).await;
                if opts.fail_fast
                    && matches!(
                        r.status,
                        ScenarioStatus::Failed | ScenarioStatus::Error { .. }
                    )
                {
                    stop.store(true, Ordering::SeqCst);
                }
                r
            };
            events(clock.event(RunEventKind::ScenarioFinished {
                result: Box::new(result.clone()),
            }));
            (index, result)
        });
    }
    let mut results: Vec<Option<ScenarioResult>> = vec![None; total];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, r)) = joined {
            results[i] = Some(r);
        }
    }
    let results: Vec<ScenarioResult> = results.into_iter().flatten().collect();
    let summary = RunSummary::from_results(opts.target.kind.name(), results, clock.0.elapsed());
    events(clock.event(RunEventKind::RunFinished {
        summary: Box::new(summary.clone()),
    }));
    summary
}

fn base_result(scenario: &Scenario, opts: &RunOptions, status: ScenarioStatus) -> ScenarioResult {
    ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.path.display().to_string(),
        seed: scenario.seed.clone(),
        target: opts.target.kind.name().to_string(),
        status,
        steps: Vec::new(),
        snapshot: None,
        config_warnings: Vec::new(),
        transcript: String::new(),
        duration: Duration::ZERO,
    }
}

fn skipped(scenario: &Scenario, opts: &RunOptions, reason: &str) -> ScenarioResult {
    base_result(
        scenario,
        opts,
        ScenarioStatus::Skipped {
            reason: reason.to_string(),
        },
    )
}

/// Why a scenario does not run on this target, if it does not.
pub fn skip_reason(scenario: &Scenario, target: &TargetSpec) -> Option<String> {
    if !scenario.supports(target.kind) {
        return Some(format!(
            "the scenario does not support the {} target (targets: {})",
            target.kind,
            scenario
                .targets
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !scenario.faults.is_empty() && target.kind != TargetKind::Twin {
        return Some("fault injection needs the twin target".into());
    }
    if target.kind == TargetKind::Live && scenario.writes() && !target.live.allow_writes {
        return Some("the scenario changes the installation; pass --allow-writes".into());
    }
    None
}

/// Run one scenario to its result.
async fn run_scenario(
    scenario: &Scenario,
    opts: &RunOptions,
    events: &EventSink,
    clock: &Arc<Clock>,
) -> ScenarioResult {
    let started = Instant::now();
    if let Some(reason) = skip_reason(scenario, &opts.target) {
        return skipped(scenario, opts, &reason);
    }
    let mut result = base_result(scenario, opts, ScenarioStatus::Passed);

    // Resolve every host's gitlab.rb as the run starts (placeholders not yet bound are blank).
    let mut hosts = Vec::new();
    for h in &scenario.hosts {
        match resolve_host(scenario, h, &Bindings::default(), scenario.gitlab_version) {
            Ok((settings, warnings)) => {
                result.config_warnings.extend(
                    warnings
                        .iter()
                        .filter(|d| d.severity >= Severity::Warning)
                        .map(|d| match &d.location {
                            Some(l) => format!("{}:{}: {}", h.name, l.line, d.message),
                            None => format!("{}: {}", h.name, d.message),
                        }),
                );
                hosts.push((h.name.clone(), settings));
            }
            Err(diags) => {
                result.status = ScenarioStatus::Error {
                    reason: diags
                        .iter()
                        .map(|d| d.render())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    environment: false,
                };
                result.duration = started.elapsed();
                return result;
            }
        }
    }

    let mut stack = match Stack::up(&opts.target, scenario, &hosts).await {
        Ok(s) => s,
        Err(e) => {
            result.status = ScenarioStatus::Error {
                reason: e.message.clone(),
                environment: matches!(
                    e.kind,
                    StackErrorKind::Environment | StackErrorKind::NotAvailable
                ),
            };
            result.duration = started.elapsed();
            return result;
        }
    };
    let info = stack.info().clone();
    let mut tr = Transcript::new();
    for s in info.secrets() {
        tr.secret(&s);
    }
    let mut state = RunState::new(Reach {
        book: info.book.clone(),
        roots: info.roots.clone(),
        timeout: opts.target.request_timeout,
        accept_invalid_certs: false,
    });
    let mut failed = false;
    for step in &scenario.steps {
        if failed {
            result.steps.push(StepResult {
                number: step.number,
                label: step.label(),
                location: step.location.clone(),
                status: StepStatus::NotRun,
                duration: Duration::ZERO,
            });
            continue;
        }
        let t0 = Instant::now();
        tr.step(step.number, step.label());
        let outcome = execute(&step.action, scenario, &mut stack, &mut state, &mut tr).await;
        for v in state.bindings.secret_values() {
            tr.secret(v.expose());
        }
        let status = match outcome {
            Ok(output) => match check::check(&output, step.expect.as_ref()) {
                Ok(()) => StepStatus::Passed,
                Err(reason) => StepStatus::Failed { reason },
            },
            Err(reason) => StepStatus::Failed { reason },
        };
        if matches!(status, StepStatus::Failed { .. }) {
            failed = true;
        }
        let step_result = StepResult {
            number: step.number,
            label: step.label(),
            location: step.location.clone(),
            status,
            duration: t0.elapsed(),
        };
        events(clock.event(RunEventKind::StepFinished {
            scenario: scenario.name.clone(),
            step: step_result.clone(),
        }));
        result.steps.push(step_result);
    }
    result.config_warnings.append(&mut state.config_warnings);
    if failed
        && let Some(logs) = stack.logs().await
        && let Some(StepStatus::Failed { reason }) = result
            .steps
            .iter_mut()
            .rev()
            .map(|s| &mut s.status)
            .find(|s| matches!(s, StepStatus::Failed { .. }))
    {
        reason.push('\n');
        reason.push_str(&logs);
    }
    stack.down().await;
    result.transcript = check::normalise(&tr);
    if failed {
        result.status = ScenarioStatus::Failed;
    } else if scenario.snapshot {
        let name = match opts.target.kind {
            TargetKind::Twin => scenario.name.clone(),
            other => format!("{}@{}", scenario.name, other.name()),
        };
        match snapshot::compare(
            &opts.snapshot_dir,
            &name,
            &result.transcript,
            opts.snapshots,
        ) {
            Ok(outcome) => {
                if !outcome.passed() {
                    result.status = ScenarioStatus::Failed;
                }
                result.snapshot = Some(outcome);
            }
            Err(e) => {
                result.status = ScenarioStatus::Error {
                    reason: format!(
                        "cannot read or write the snapshot {}: {e}",
                        snapshot::snapshot_path(&opts.snapshot_dir, &name).display()
                    ),
                    environment: true,
                };
            }
        }
    }
    result.duration = started.elapsed();
    result
}
