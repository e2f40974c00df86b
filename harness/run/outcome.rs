//! The values a run returns: per step, per scenario, for the whole run. Reporters read these; the
//! runner decides them.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::check::SnapshotOutcome;
use crate::diag::Location;

fn ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepStatus {
    Passed,
    /// The expectation was not met (or the step could not be carried out).
    Failed {
        reason: String,
    },
    /// Not run because an earlier step failed.
    NotRun,
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
}

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ScenarioStatus {
    Passed,
    /// A step or the snapshot failed.
    Failed,
    /// Not run on this target (unsupported target, writes on live, fail-fast).
    Skipped {
        reason: String,
    },
    /// The stack could not be brought up or the configuration not applied.
    Error {
        reason: String,
        environment: bool,
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
            scenarios,
            duration,
        }
    }

    /// Whether any scenario could not run because of the environment (exit 3).
    pub fn environment_error(&self) -> bool {
        self.scenarios.iter().any(|s| {
            matches!(
                s.status,
                ScenarioStatus::Error {
                    environment: true,
                    ..
                }
            )
        })
    }

    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.errors == 0
    }
}
