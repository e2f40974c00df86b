//! The run engine: executes checked scenarios on a target and returns their results, emitting
//! [`RunEvent`]s on the way. It never prints; reporters (`report`) turn events and results into
//! output, and never decide.
//!
//! Files (no logic lives here):
//! - `runner`: [`run`], [`RunOptions`] — scheduling, jobs, fail-fast, snapshots.
//! - `steps`: carrying out one step with the drivers, and the state kept between steps.
//! - `outcome`: [`RunSummary`], [`ScenarioResult`], [`StepResult`].
//! - `event`: [`RunEvent`], [`EventSink`].
//! - `redact`: [`Redactor`], the one redaction of every reported string.
//! - `signal`: [`Cancel`], the SIGINT/SIGTERM listener that trips it.

pub mod event;
pub mod outcome;
pub mod redact;
pub mod runner;
pub mod signal;
pub mod steps;

pub use event::{EventSink, RunEvent, RunEventKind, no_events};
pub use outcome::{
    Explanation, Failure, RunSummary, ScenarioResult, ScenarioStatus, StepResult, StepStatus,
    Verdict,
};
pub use redact::Redactor;
pub use runner::{Deadlines, RunOptions, run, skip_reason};
pub use signal::Cancel;
