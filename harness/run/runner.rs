//! The runner: for each scenario, resolve its hosts' gitlab.rb, bring the target up, carry out the
//! steps in order, check each expectation, compare the normalised transcript with its snapshot,
//! and take the stack down. Scenarios run in parallel up to `jobs`; `fail_fast` stops starting new
//! ones after a failure. It returns values and emits events; it never prints.
//!
//! No result is ever lost: every scenario given ends with exactly one [`ScenarioResult`]. A panic
//! inside a step is caught there (the stack is still taken down) and becomes status `error` with a
//! `harness_bug` failure carrying the panic message; a panic anywhere else in a scenario's task, or
//! a task that ends without a result, is caught the same way at the task's edge.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::Semaphore;

use crate::check::{self, Expectation, SnapshotMode, StepOutput, snapshot};
use crate::config::Secret;
use crate::drive::{Reach, Transcript};
use crate::scenario::{Bindings, Scenario, TargetKind};
use crate::stack::resolve::{resolve_host, warning_lines};
use crate::stack::{Stack, StackNeeds, TargetSpec};

use super::event::{EventSink, RunEvent, RunEventKind};
use super::outcome::{
    Explanation, Failure, RunSummary, ScenarioResult, ScenarioStatus, StepResult, StepStatus,
    Verdict,
};
use super::redact::Redactor;
use super::signal::Cancel;
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
    /// How long a step and a scenario may take.
    pub deadlines: Deadlines,
    /// Tripped to stop the run (SIGINT, SIGTERM): no new scenario starts, running steps are
    /// cut, stacks are taken down, and every scenario still gets a result.
    pub cancel: Cancel,
    /// Secrets known before the run (the environment's credentials); with those each scenario
    /// meets, they are removed from its result before it is reported ([`Redactor`]).
    pub secrets: Vec<Secret>,
}

impl RunOptions {
    pub fn twin(snapshot_dir: PathBuf) -> RunOptions {
        RunOptions {
            target: TargetSpec::twin(),
            jobs: 1,
            fail_fast: false,
            snapshots: SnapshotMode::Check,
            snapshot_dir,
            deadlines: Deadlines::for_target(TargetKind::Twin),
            cancel: Cancel::new(),
            secrets: Vec::new(),
        }
    }
}

/// The two deadlines of a run. A step is cut when it runs past `step` (however many requests it
/// makes: `--timeout` bounds one request only); a scenario — its stack's start and every step —
/// when it runs past `scenario`. Either is reported as a `timeout` failure naming the step and
/// where it is written. Taking the stack down is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub step: Duration,
    pub scenario: Duration,
}

impl Deadlines {
    /// The defaults per target (`--step-timeout`, `--scenario-timeout`): the twin answers in
    /// milliseconds; a live installation over a real network may take a while per page; a
    /// docker stack's scenario includes starting GitLab's container (minutes).
    pub fn for_target(kind: TargetKind) -> Deadlines {
        let (step, scenario) = match kind {
            TargetKind::Twin => (40, 120),
            TargetKind::Live => (120, 600),
            TargetKind::Docker => (300, 1800),
        };
        Deadlines {
            step: Duration::from_secs(step),
            scenario: Duration::from_secs(scenario),
        }
    }
}

/// How long taking a stack down may take.
const TEARDOWN: Duration = Duration::from_secs(60);

/// A duration as the flags take it (whole seconds) or shorter.
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
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
    let hook = PanicHook::from_env();
    let mut tasks = tokio::task::JoinSet::new();
    // Every slot starts as "no result" so that a task that vanishes still leaves one.
    let mut results: Vec<ScenarioResult> = scenarios
        .iter()
        .map(|s| {
            error_result(
                s,
                &opts,
                Failure::HarnessBug {
                    message: "the scenario's task ended without a result".into(),
                },
            )
        })
        .collect();
    let mut task_index = std::collections::HashMap::new();
    for (index, scenario) in scenarios.into_iter().enumerate() {
        // Permits are taken here, in file order, so scenarios start in order and, with
        // `--fail-fast`, none starts after a failure has been seen.
        // A stopped run does not wait for a free slot.
        let permit = tokio::select! {
            biased;
            _ = opts.cancel.cancelled() => None,
            p = semaphore.clone().acquire_owned() => Some(p),
        };
        let stop = stop.clone();
        let opts = opts.clone();
        let events = events.clone();
        let clock = clock.clone();
        let hook = hook.clone();
        let handle = tasks.spawn(async move {
            let _permit = permit;
            let result = if let Some(why) = opts.cancel.reason() {
                cancelled(
                    &scenario,
                    &opts,
                    format!("not started: the run was stopped by {why}"),
                )
            } else if stop.load(Ordering::SeqCst) {
                skipped(
                    &scenario,
                    &opts,
                    "not started: an earlier scenario failed (--fail-fast)",
                )
            } else {
                events(clock.event(RunEventKind::ScenarioStarted {
                    name: scenario.name.clone(),
                }));
                let mut met = Vec::new();
                let run = run_scenario(&scenario, &opts, &events, &clock, &hook, &mut met);
                let mut r = match AssertUnwindSafe(run).catch_unwind().await {
                    Ok(r) => r,
                    Err(payload) => error_result(
                        &scenario,
                        &opts,
                        Failure::HarnessBug {
                            message: format!(
                                "mm-harness panicked while running the scenario: {}",
                                panic_message(payload.as_ref())
                            ),
                        },
                    ),
                };
                // The report boundary: nothing leaves the runner unredacted.
                let known = opts.secrets.iter().map(|s| s.expose().to_string());
                Redactor::new(known.chain(met)).result(&mut r);
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
        task_index.insert(handle.id(), index);
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, (i, r))) => results[i] = r,
            Err(e) => {
                if let Some(&i) = task_index.get(&e.id()) {
                    let message = if e.is_panic() {
                        format!(
                            "mm-harness panicked while running the scenario: {}",
                            panic_message(e.into_panic().as_ref())
                        )
                    } else {
                        format!("the scenario's task was stopped: {e}")
                    };
                    results[i].status = ScenarioStatus::Error {
                        failure: Failure::HarnessBug { message },
                    };
                    events(clock.event(RunEventKind::ScenarioFinished {
                        result: Box::new(results[i].clone()),
                    }));
                }
            }
        }
    }
    let mut summary = RunSummary::from_results(opts.target.kind.name(), results, clock.0.elapsed());
    summary.interrupted = opts.cancel.reason().map(str::to_string);
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

/// A step cut at a deadline (`which`: "step" or "scenario").
struct Cut {
    which: &'static str,
}

/// Why a step did not produce an output.
enum StepError {
    Drive(crate::drive::DriveError),
    Cut(Cut),
    /// The run was stopped by this signal.
    Stopped(&'static str),
}

/// An expectation not met: the check's explanation, the expectation and what the step produced.
fn expectation_failure(
    message: String,
    expect: Option<&Expectation>,
    output: &StepOutput,
) -> Failure {
    let expected = match expect {
        Some(e) => serde_json::to_value(e).unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::String("the step succeeds".into()),
    };
    Failure::Expectation {
        message,
        expected,
        actual: serde_json::to_value(output).unwrap_or(serde_json::Value::Null),
    }
}

fn cancelled(scenario: &Scenario, opts: &RunOptions, reason: String) -> ScenarioResult {
    base_result(scenario, opts, ScenarioStatus::Cancelled { reason })
}

fn error_result(scenario: &Scenario, opts: &RunOptions, failure: Failure) -> ScenarioResult {
    base_result(scenario, opts, ScenarioStatus::Error { failure })
}

/// The text of a panic's payload (`panic!` with a literal or a formatted message).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// The hidden test hook `MM_HARNESS_INTERNAL_PANIC_AT=<scenario>:<step>`: that step panics
/// instead of running (step 0: the scenario panics before its stack starts, outside any step), so
/// the tests can prove a panic is reported and not lost. It exists in
/// debug builds only (tests); a release build ignores the variable.
#[derive(Debug, Clone, Default)]
struct PanicHook(Option<(String, usize)>);

impl PanicHook {
    const VAR: &'static str = "MM_HARNESS_INTERNAL_PANIC_AT";

    fn from_env() -> PanicHook {
        if !cfg!(debug_assertions) {
            return PanicHook(None);
        }
        let at = std::env::var(Self::VAR).ok().and_then(|v| {
            let (name, step) = v.rsplit_once(':')?;
            Some((name.to_string(), step.parse().ok()?))
        });
        PanicHook(at)
    }

    fn fire(&self, scenario: &str, step: usize) {
        if let Some((name, at)) = &self.0
            && name == scenario
            && *at == step
        {
            panic!("injected panic ({}) at step {step}", Self::VAR);
        }
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
    hook: &PanicHook,
    secrets: &mut Vec<String>,
) -> ScenarioResult {
    let started = Instant::now();
    // Step 0 of the test hook: a panic outside any step.
    hook.fire(&scenario.name, 0);
    if let Some(reason) = skip_reason(scenario, &opts.target) {
        return skipped(scenario, opts, &reason);
    }
    let mut result = base_result(scenario, opts, ScenarioStatus::Passed);

    // Resolve every host's gitlab.rb as the run starts (placeholders not yet bound are blank). A
    // standalone Mattermost host starts later, when `mattermost.move_out` moves Mattermost to it.
    let mut hosts = Vec::new();
    for h in scenario.hosts.iter().filter(|h| h.is_omnibus()) {
        match resolve_host(scenario, h, &Bindings::default(), scenario.gitlab_version) {
            Ok((resolved, warnings)) => {
                result
                    .config_warnings
                    .extend(warning_lines(&h.name, &warnings));
                secrets.extend(resolved.secrets());
                hosts.push(resolved);
            }
            Err(diags) => {
                result.status = ScenarioStatus::Error {
                    failure: Failure::Configuration {
                        message: diags
                            .iter()
                            .map(|d| d.render())
                            .collect::<Vec<_>>()
                            .join("\n"),
                    },
                };
                result.duration = started.elapsed();
                return result;
            }
        }
    }

    let needs = StackNeeds::of(scenario);
    let deadline = tokio::time::Instant::from_std(started) + opts.deadlines.scenario;
    let up = tokio::select! {
        biased;
        why = opts.cancel.cancelled() => {
            result.status = ScenarioStatus::Cancelled {
                reason: format!("stopped by {why} while its stack was starting"),
            };
            result.duration = started.elapsed();
            return result;
        }
        up = tokio::time::timeout_at(deadline, Stack::up(&opts.target, &hosts, &needs)) => up,
    };
    let mut stack = match up {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            result.status = ScenarioStatus::Error {
                failure: Failure::from_stack(e),
            };
            result.duration = started.elapsed();
            return result;
        }
        Err(_) => {
            result.status = ScenarioStatus::Error {
                failure: Failure::Environment {
                    message: format!(
                        "the {} stack did not start within the scenario's deadline of {} (--scenario-timeout)",
                        opts.target.kind,
                        secs(opts.deadlines.scenario)
                    ),
                },
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
    // The gitlab.rb's secrets (an SMTP password, an OAuth secret) too, so the snapshot compared
    // here is the transcript the result reports (redacted at the boundary with the same list).
    for s in secrets.iter() {
        tr.secret(s);
    }
    secrets.extend(info.secrets());
    let mut state = RunState::new(Reach {
        book: info.book.clone(),
        roots: info.roots.clone(),
        timeout: opts.target.request_timeout,
        accept_invalid_certs: false,
    });
    let mut failed: Option<Failure> = None;
    let mut stopped: Option<(&'static str, usize)> = None;
    for step in &scenario.steps {
        if failed.is_some() || stopped.is_some() {
            result.steps.push(StepResult {
                number: step.number,
                label: step.label(),
                location: step.location.clone(),
                status: StepStatus::NotRun,
                duration: Duration::ZERO,
                explained_by: Vec::new(),
            });
            continue;
        }
        let t0 = Instant::now();
        tr.step(step.number, step.label());
        // The step's own deadline, or what is left of the scenario's if that comes first.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let (limit, which) = if opts.deadlines.step <= left {
            (opts.deadlines.step, "step")
        } else {
            (left, "scenario")
        };
        let carried = tokio::select! {
            biased;
            why = opts.cancel.cancelled() => Ok(Err(StepError::Stopped(why))),
            r = tokio::time::timeout(
                limit,
                AssertUnwindSafe(async {
                    hook.fire(&scenario.name, step.number);
                    execute(&step.action, scenario, &mut stack, &mut state, &mut tr)
                        .await
                        .map_err(StepError::Drive)
                })
                .catch_unwind(),
            ) => r.unwrap_or_else(|_| Ok(Err(StepError::Cut(Cut { which })))),
        };
        for v in state.bindings.secret_values() {
            tr.secret(v.expose());
        }
        let status = match carried {
            Ok(Ok(output)) => match check::check(&output, step.expect.as_ref()) {
                Ok(()) => StepStatus::Passed,
                Err(message) => StepStatus::Failed {
                    failure: expectation_failure(message, step.expect.as_ref(), &output),
                },
            },
            Ok(Err(StepError::Drive(e))) => StepStatus::Failed {
                failure: Failure::from_drive(e),
            },
            Ok(Err(StepError::Stopped(why))) => {
                stopped = Some((why, step.number));
                StepStatus::Cancelled
            }
            Ok(Err(StepError::Cut(Cut { which }))) => {
                let (flag, limit) = match which {
                    "step" => ("--step-timeout", opts.deadlines.step),
                    _ => ("--scenario-timeout", opts.deadlines.scenario),
                };
                StepStatus::Failed {
                    failure: Failure::Timeout {
                        message: format!(
                            "step {} `{}` ({}) was cut at the {which}'s deadline of {} ({flag})",
                            step.number,
                            step.label(),
                            step.location,
                            secs(limit)
                        ),
                        deadline: which,
                        limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                    },
                }
            }
            Err(payload) => StepStatus::Failed {
                failure: Failure::HarnessBug {
                    message: format!(
                        "mm-harness panicked in step {} ({}, {}): {}",
                        step.number,
                        step.label(),
                        step.location,
                        panic_message(payload.as_ref())
                    ),
                },
            },
        };
        if let StepStatus::Failed { failure } = &status {
            failed = Some(failure.clone());
        }
        let step_result = StepResult {
            number: step.number,
            label: step.label(),
            location: step.location.clone(),
            explained_by: Explanation::for_status(&status),
            status,
            duration: t0.elapsed(),
        };
        events(clock.event(RunEventKind::StepFinished {
            scenario: scenario.name.clone(),
            step: Box::new(step_result.clone()),
        }));
        result.steps.push(step_result);
    }
    // `host.reconfigure` resolves a host again: its warnings are listed once.
    for w in state.config_warnings.drain(..) {
        if !result.config_warnings.contains(&w) {
            result.config_warnings.push(w);
        }
    }
    // Everything the drivers registered (passwords posted, session tokens, OAuth secrets).
    secrets.extend(tr.secrets().iter().cloned());
    // A failing step on containers carries their last output (escaped; redacted with the rest).
    if let Some(failure) = failed.as_mut()
        && let Some(logs) = stack.logs().await
    {
        for f in result
            .steps
            .iter_mut()
            .rev()
            .filter_map(|s| match &mut s.status {
                StepStatus::Failed { failure } => Some(failure),
                _ => None,
            })
            .take(1)
            .chain(std::iter::once(failure))
        {
            f.message_mut().push('\n');
            f.message_mut().push_str(&logs);
        }
    }
    // Taking the stack down is bounded too: a stack that does not stop is the environment's
    // failure, reported on a scenario that would otherwise pass.
    let stuck = tokio::time::timeout(TEARDOWN, stack.down()).await.is_err();
    result.transcript = check::normalise(&tr);
    if let Some((why, number)) = stopped {
        result.status = ScenarioStatus::Cancelled {
            reason: format!("stopped by {why} during step {number}"),
        };
    } else if let Some(failure) = failed {
        // A failure of the installation fails the scenario; any other kind (environment,
        // configuration, a bug) means it could not be carried out.
        result.status = match failure.verdict() {
            Verdict::Failed => ScenarioStatus::Failed,
            _ => ScenarioStatus::Error { failure },
        };
    } else if scenario.snapshot {
        let name = match opts.target.kind {
            TargetKind::Twin => scenario.name.clone(),
            other => format!("{}@{}", scenario.name, other.name()),
        };
        // What the binary ships for this (unchanged) scenario on this target, if anything.
        let shipped = crate::scenario::embedded::snapshot_for(scenario, &name);
        match snapshot::compare_or_shipped(
            &opts.snapshot_dir,
            &name,
            &result.transcript,
            opts.snapshots,
            shipped,
        ) {
            Ok(outcome) => {
                if !outcome.passed() {
                    result.status = ScenarioStatus::Failed;
                }
                result.snapshot = Some(outcome);
            }
            Err(e) => {
                result.status = ScenarioStatus::Error {
                    failure: Failure::Environment {
                        message: format!(
                            "cannot read or write the snapshot {}: {e}",
                            snapshot::snapshot_path(&opts.snapshot_dir, &name).display()
                        ),
                    },
                };
            }
        }
    }
    if stuck && matches!(result.status, ScenarioStatus::Passed) {
        result.status = ScenarioStatus::Error {
            failure: Failure::Environment {
                message: format!(
                    "the {} stack did not stop within {}",
                    opts.target.kind,
                    secs(TEARDOWN)
                ),
            },
        };
    }
    result.duration = started.elapsed();
    result
}
