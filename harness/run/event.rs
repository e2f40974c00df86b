//! Run events: what the runner announces while it works (nextest's `TestEvent`). Reporters
//! subscribe through an [`EventSink`]; the runner itself never prints.

use std::sync::Arc;
use std::time::Duration;

use super::outcome::{RunSummary, ScenarioResult, StepResult};

/// Something that happened during a run.
#[derive(Debug, Clone)]
pub enum RunEventKind {
    /// The run starts with this many scenarios.
    RunStarted {
        scenarios: usize,
        jobs: usize,
    },
    ScenarioStarted {
        name: String,
    },
    StepFinished {
        scenario: String,
        step: Box<StepResult>,
    },
    ScenarioFinished {
        result: Box<ScenarioResult>,
    },
    RunFinished {
        summary: Box<RunSummary>,
    },
}

/// An event with the time since the run started.
#[derive(Debug, Clone)]
pub struct RunEvent {
    pub elapsed: Duration,
    pub kind: RunEventKind,
}

/// Where events go (called from any task; reporters lock their own state).
pub type EventSink = Arc<dyn Fn(RunEvent) + Send + Sync>;

/// A sink that drops every event.
pub fn no_events() -> EventSink {
    Arc::new(|_| {})
}
