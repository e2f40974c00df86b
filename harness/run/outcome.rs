//! The values a run returns: per step, per scenario, for the whole run. Reporters read these; the
//! runner decides them.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::check::SnapshotOutcome;
use crate::diag::Location;
use crate::drive::{DriveError, DriveErrorKind};
use crate::stack::{StackError, StackErrorKind};

fn ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepStatus {
    Passed,
    /// The expectation was not met, or the step could not be carried out: see the failure.
    Failed {
        failure: Failure,
    },
    /// Not run because an earlier step failed (or the run was stopped before it).
    NotRun,
    /// Running when the run was stopped (SIGINT, SIGTERM): cut, no verdict.
    Cancelled,
}

/// One step's result.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub number: usize,
    pub label: String,
    /// Where the step is written.
    pub location: Location,
    #[serde(flatten)]
    pub status: StepStatus,
    #[serde(serialize_with = "ms", rename = "duration_ms")]
    pub duration: Duration,
    /// For a failed step: the doctor's findings whose symptoms the failure shows (most likely
    /// first), with their fixes. Absent from JSON when empty, so passing runs read as before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explained_by: Vec<Explanation>,
}

/// A finding of the doctor's catalogue that explains a failure: one catalogue for `run` and
/// `doctor` (`crate::doctor::explain`, the symptoms of troubleshooting.md). JSON writes it as
/// `"explained_by": [{"id": "sso.client-secret-wrong", "title": ..., "fix": ...}]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub id: &'static str,
    pub title: &'static str,
    pub fix: &'static str,
}

impl Explanation {
    /// The findings that explain a failure: its message, and for an expectation also what the
    /// server answered (`actual`).
    pub fn for_failure(f: &Failure) -> Vec<Explanation> {
        let mut text = f.message().to_string();
        if let Failure::Expectation { actual, .. } = f {
            text.push('\n');
            text.push_str(&actual.to_string());
        }
        crate::doctor::explain(&text)
            .into_iter()
            .map(|k| {
                let m = k.meta();
                Explanation {
                    id: m.id,
                    title: m.title,
                    fix: m.fix,
                }
            })
            .collect()
    }

    /// The explanations of a step's status (none unless it failed).
    pub fn for_status(status: &StepStatus) -> Vec<Explanation> {
        match status {
            StepStatus::Failed { failure } => Explanation::for_failure(failure),
            StepStatus::Passed | StepStatus::NotRun | StepStatus::Cancelled => Vec::new(),
        }
    }
}

/// Why a step or a scenario did not pass. The kind survives from where the failure is found
/// (an expectation check, a driver, the stack, a deadline, a panic) to every report, and decides
/// the exit code through [`Failure::verdict`]. JSON writes it as
/// `"failure": {"kind": "expectation", "message": ..., ...}`, JUnit as the `type` attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The installation answered, but not as the step expects (exit 1). `expected` is the step's
    /// expectation (or `"the step succeeds"`), `actual` what the step produced, both as JSON.
    Expectation {
        message: String,
        expected: serde_json::Value,
        actual: serde_json::Value,
    },
    /// The installation's answer broke the protocol the driver follows: a wrong status, a
    /// missing form or field, invalid JSON, a redirect loop (exit 1).
    Protocol { message: String },
    /// Connecting, TLS or reading an answer failed or timed out mid-step (exit 1).
    Network { message: String },
    /// A step or the scenario ran past its deadline (exit 1). `deadline` is `"step"` or
    /// `"scenario"`; `limit_ms` the deadline.
    Timeout {
        message: String,
        deadline: &'static str,
        limit_ms: u64,
    },
    /// The environment broke: the stack could not be started or reached, an HTTP client could
    /// not be built, a snapshot could not be read or written (exit 3).
    Environment { message: String },
    /// The scenario asks for something found wrong only at run time: its gitlab.rb does not
    /// resolve, the target refuses the topology or the operation, the stack lacks an account or
    /// a service the step names (exit 2, bad input).
    Configuration { message: String },
    /// A bug in mm-harness: a panic, caught and reported with its message (exit 101).
    HarnessBug { message: String },
}

impl Failure {
    /// The explanation, one or more lower-case lines.
    pub fn message(&self) -> &str {
        match self {
            Failure::Expectation { message, .. }
            | Failure::Protocol { message }
            | Failure::Network { message }
            | Failure::Timeout { message, .. }
            | Failure::Environment { message }
            | Failure::Configuration { message }
            | Failure::HarnessBug { message } => message,
        }
    }

    /// The explanation, for rewriting (redaction).
    pub fn message_mut(&mut self) -> &mut String {
        match self {
            Failure::Expectation { message, .. }
            | Failure::Protocol { message }
            | Failure::Network { message }
            | Failure::Timeout { message, .. }
            | Failure::Environment { message }
            | Failure::Configuration { message }
            | Failure::HarnessBug { message } => message,
        }
    }

    /// The kind as JSON and JUnit write it.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Expectation { .. } => "expectation",
            Failure::Protocol { .. } => "protocol",
            Failure::Network { .. } => "network",
            Failure::Timeout { .. } => "timeout",
            Failure::Environment { .. } => "environment",
            Failure::Configuration { .. } => "configuration",
            Failure::HarnessBug { .. } => "harness_bug",
        }
    }

    /// What this failure means for the run's exit code.
    pub fn verdict(&self) -> Verdict {
        match self {
            Failure::Expectation { .. }
            | Failure::Protocol { .. }
            | Failure::Network { .. }
            | Failure::Timeout { .. } => Verdict::Failed,
            Failure::Environment { .. } => Verdict::Environment,
            Failure::Configuration { .. } => Verdict::BadInput,
            Failure::HarnessBug { .. } => Verdict::HarnessBug,
        }
    }

    /// A driver's error, keeping its kind.
    pub fn from_drive(e: DriveError) -> Failure {
        let message = e.message;
        match e.kind {
            DriveErrorKind::Setup => Failure::Environment { message },
            DriveErrorKind::Network => Failure::Network { message },
            DriveErrorKind::Protocol => Failure::Protocol { message },
            DriveErrorKind::Unavailable => Failure::Configuration { message },
        }
    }

    /// A stack's error, keeping its kind.
    pub fn from_stack(e: StackError) -> Failure {
        let message = e.message;
        match e.kind {
            StackErrorKind::Environment | StackErrorKind::NotAvailable => {
                Failure::Environment { message }
            }
            StackErrorKind::Configuration | StackErrorKind::Refused => {
                Failure::Configuration { message }
            }
        }
    }
}

/// What a run means, from best to worst; the run's verdict is the worst of its scenarios'.
/// `mm-harness run` maps it to the exit code (0, 1, 2, 3, 101, 130).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every scenario passed or was skipped (exit 0).
    Passed,
    /// The installation misbehaves: an expectation, a protocol step or a snapshot failed (exit 1).
    Failed,
    /// The environment broke (exit 3).
    Environment,
    /// A scenario asks for what cannot be done, found at run time (exit 2).
    BadInput,
    /// mm-harness itself failed (exit 101).
    HarnessBug,
    /// The run was stopped by SIGINT or SIGTERM; the report is partial (exit 130).
    Interrupted,
}

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ScenarioStatus {
    Passed,
    /// The installation misbehaves: a step failed (expectation, protocol, network, deadline) or
    /// the transcript differs from its snapshot.
    Failed,
    /// Not run on this target (unsupported target, writes on live, fail-fast).
    Skipped {
        reason: String,
    },
    /// The scenario could not be carried out (the stack did not start, its configuration was
    /// refused, mm-harness panicked — in a step or outside one): see the failure's kind.
    Error {
        failure: Failure,
    },
    /// The run was stopped (SIGINT, SIGTERM) before or while this scenario ran: no verdict.
    Cancelled {
        reason: String,
    },
}

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub file: String,
    pub seed: String,
    pub target: String,
    #[serde(flatten)]
    pub status: ScenarioStatus,
    pub steps: Vec<StepResult>,
    pub snapshot: Option<SnapshotOutcome>,
    /// Warnings met while resolving the hosts' gitlab.rb (dropped keys, unevaluated code).
    pub config_warnings: Vec<String>,
    /// The normalised, redacted transcript (what the snapshot holds).
    pub transcript: String,
    #[serde(serialize_with = "ms", rename = "duration_ms")]
    pub duration: Duration,
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        self.status == ScenarioStatus::Passed
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub target: String,
    pub scenarios: Vec<ScenarioResult>,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub errors: usize,
    /// Scenarios stopped or never started because the run was interrupted.
    pub cancelled: usize,
    /// The signal that stopped the run (`"SIGINT"`, `"SIGTERM"`), when one did: the report is
    /// partial.
    pub interrupted: Option<String>,
    #[serde(serialize_with = "ms", rename = "duration_ms")]
    pub duration: Duration,
}

impl RunSummary {
    pub fn from_results(target: &str, scenarios: Vec<ScenarioResult>, duration: Duration) -> Self {
        let count =
            |f: &dyn Fn(&ScenarioStatus) -> bool| scenarios.iter().filter(|s| f(&s.status)).count();
        RunSummary {
            target: target.to_string(),
            passed: count(&|s| matches!(s, ScenarioStatus::Passed)),
            failed: count(&|s| matches!(s, ScenarioStatus::Failed)),
            skipped: count(&|s| matches!(s, ScenarioStatus::Skipped { .. })),
            errors: count(&|s| matches!(s, ScenarioStatus::Error { .. })),
            cancelled: count(&|s| matches!(s, ScenarioStatus::Cancelled { .. })),
            interrupted: None,
            scenarios,
            duration,
        }
    }

    /// The worst outcome of the run.
    pub fn verdict(&self) -> Verdict {
        if self.interrupted.is_some() {
            return Verdict::Interrupted;
        }
        self.scenarios
            .iter()
            .map(|s| match &s.status {
                ScenarioStatus::Passed | ScenarioStatus::Skipped { .. } => Verdict::Passed,
                ScenarioStatus::Failed => Verdict::Failed,
                ScenarioStatus::Error { failure } => failure.verdict(),
                ScenarioStatus::Cancelled { .. } => Verdict::Interrupted,
            })
            .max()
            .unwrap_or(Verdict::Passed)
    }

    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.errors == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: ScenarioStatus) -> ScenarioResult {
        ScenarioResult {
            name: "x".into(),
            file: "x.toml".into(),
            seed: "s".into(),
            target: "twin".into(),
            status,
            steps: Vec::new(),
            snapshot: None,
            config_warnings: Vec::new(),
            transcript: String::new(),
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn the_worst_scenario_decides_the_verdict() {
        let bug = ScenarioStatus::Error {
            failure: Failure::HarnessBug {
                message: "boom".into(),
            },
        };
        let env = ScenarioStatus::Error {
            failure: Failure::Environment {
                message: "down".into(),
            },
        };
        let summary = |s: Vec<ScenarioStatus>| {
            RunSummary::from_results("twin", s.into_iter().map(result).collect(), Duration::ZERO)
        };
        assert_eq!(summary(vec![]).verdict(), Verdict::Passed);
        assert_eq!(
            summary(vec![
                ScenarioStatus::Passed,
                ScenarioStatus::Skipped { reason: "r".into() }
            ])
            .verdict(),
            Verdict::Passed
        );
        assert_eq!(
            summary(vec![ScenarioStatus::Failed, env.clone()]).verdict(),
            Verdict::Environment
        );
        assert_eq!(
            summary(vec![bug, env, ScenarioStatus::Failed]).verdict(),
            Verdict::HarnessBug
        );
        let json = serde_json::to_value(result(ScenarioStatus::Error {
            failure: Failure::Configuration {
                message: "no host runs GitLab".into(),
            },
        }))
        .unwrap();
        assert_eq!(json["status"], "error");
        assert_eq!(json["failure"]["kind"], "configuration");
        assert_eq!(json["failure"]["message"], "no host runs GitLab");
    }
}
