//! Reporters: turn run events and results into output — a terminal view (progress bar on a TTY
//! only, per-step pass/fail, snapshot diffs, timings, `NO_COLOR`), JSON, and JUnit XML for GitLab
//! CI's `artifacts:reports:junit`. Reporters never decide an outcome; they print what the runner
//! returned.
//!
//! Files (no logic lives here):
//! - `escape`: control characters of server text made visible for a terminal (one place).
//! - `explain`: what `config explain` prints.
//! - `human`: [`HumanReporter`].
//! - `json`: [`to_json`].
//! - `junit`: [`to_junit`].
//! - `doctor`: the doctor's report (human, JSON, JUnit).
//! - `twin`: what `twin up` and `twin faults` print.
//! - `upgrade`: the upgrade plan as text, JSON and a Markdown checklist.

pub mod doctor;
pub mod escape;
pub mod explain;
pub mod human;
pub mod json;
pub mod junit;
pub mod twin;
pub mod upgrade;

pub use human::HumanReporter;
pub use json::to_json;
pub use junit::to_junit;
