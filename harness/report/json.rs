//! The JSON report: the run summary as the runner returned it (every scenario, step, snapshot
//! outcome and the redacted transcript), for machines.

use crate::run::RunSummary;

/// The summary as pretty-printed JSON.
pub fn to_json(summary: &RunSummary) -> String {
    serde_json::to_string_pretty(summary)
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise the run summary: {e}\"}}"))
}
