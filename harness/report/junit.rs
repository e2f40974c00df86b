//! The JUnit XML report (quick-junit), shaped for GitLab CI's `artifacts:reports:junit`: one test
//! suite per scenario, one test case per step (class name = the documentation section checked), and
//! a `snapshot` case when the transcript was compared.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::check::SnapshotOutcome;
use crate::run::{RunSummary, ScenarioStatus, StepStatus, Verdict};

/// The first line of a message (JUnit's `message` attribute is one line).
fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or("")
}

/// The run as JUnit XML.
pub fn to_junit(summary: &RunSummary) -> String {
    let mut report = Report::new(format!("mm-harness ({})", summary.target));
    report.set_time(summary.duration);
    for s in &summary.scenarios {
        let mut suite = TestSuite::new(s.name.clone());
        suite.set_time(s.duration);
        match &s.status {
            ScenarioStatus::Skipped { reason } | ScenarioStatus::Cancelled { reason } => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(reason.clone());
                let mut case = TestCase::new("scenario", status);
                case.set_classname(s.seed.clone());
                suite.add_test_case(case);
            }
            ScenarioStatus::Error { failure } => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_type(failure.kind());
                status.set_message(first_line(failure.message()));
                status.set_description(failure.message());
                let mut case = TestCase::new("scenario", status);
                case.set_classname(s.seed.clone());
                suite.add_test_case(case);
            }
            _ => {}
        }
        for step in &s.steps {
            let name = format!("step {}: {}", step.number, step.label);
            let status = match &step.status {
                StepStatus::Passed => TestCaseStatus::success(),
                StepStatus::Failed { failure } => {
                    // A failure of the installation is a JUnit failure; the others (the
                    // environment, the configuration, a bug) an error.
                    let kind = match failure.verdict() {
                        Verdict::Failed => NonSuccessKind::Failure,
                        _ => NonSuccessKind::Error,
                    };
                    let mut st = TestCaseStatus::non_success(kind);
                    st.set_type(failure.kind());
                    st.set_message(first_line(failure.message()));
                    let mut description = format!("{}\n{}", step.location, failure.message());
                    for e in &step.explained_by {
                        description.push_str(&format!("\nexplained by {}: {}", e.id, e.fix));
                    }
                    st.set_description(description);
                    st
                }
                StepStatus::NotRun => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message("not run: an earlier step failed or the run was stopped");
                    st
                }
                StepStatus::Cancelled => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message("cancelled: the run was stopped while this step ran");
                    st
                }
            };
            let mut case = TestCase::new(name, status);
            case.set_classname(s.seed.clone());
            case.set_time(step.duration);
            suite.add_test_case(case);
        }
        if let Some(snap) = &s.snapshot {
            let status = match snap {
                SnapshotOutcome::Matched => TestCaseStatus::success(),
                SnapshotOutcome::Missing { written: true }
                | SnapshotOutcome::Mismatch { written: true, .. } => TestCaseStatus::success(),
                SnapshotOutcome::Missing { written: false } => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message("no snapshot stored; run with --update-snapshots");
                    st
                }
                SnapshotOutcome::Mismatch { diff, .. } => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message("the transcript differs from its snapshot");
                    st.set_description(diff.clone());
                    st
                }
            };
            let mut case = TestCase::new("snapshot", status);
            case.set_classname(s.seed.clone());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot serialise the JUnit report: {e} -->"))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::diag::SourceFile;
    use crate::run::{ScenarioResult, StepResult};

    pub(crate) fn sample() -> RunSummary {
        let file = SourceFile::new("scenarios/x.toml", "a\nsso.sign_up = {}\n");
        let loc = file.locate(crate::diag::Span::new(2, 6));
        let step = |n: usize, status: StepStatus| StepResult {
            number: n,
            label: format!("sso.sign_up user=u{n}"),
            location: loc.clone(),
            explained_by: crate::run::Explanation::for_status(&status),
            status,
            duration: Duration::from_millis(3),
        };
        let base = ScenarioResult {
            name: "x".into(),
            file: "scenarios/x.toml".into(),
            seed: "Getting started".into(),
            target: "twin".into(),
            status: ScenarioStatus::Failed,
            steps: vec![
                step(1, StepStatus::Passed),
                step(
                    2,
                    StepStatus::Failed {
                        failure: crate::run::Failure::Expectation {
                            message: "expected to be signed in, but access was denied".into(),
                            expected: serde_json::json!({"expect": "mattermost_user"}),
                            actual: serde_json::json!({"output": "sso"}),
                        },
                    },
                ),
                step(3, StepStatus::NotRun),
            ],
            snapshot: None,
            config_warnings: vec![],
            transcript: "== step 1".into(),
            duration: Duration::from_millis(20),
        };
        let mut skipped = base.clone();
        skipped.name = "y".into();
        skipped.status = ScenarioStatus::Skipped {
            reason: "the scenario does not support the live target".into(),
        };
        skipped.steps.clear();
        let mut snap = base.clone();
        snap.name = "z".into();
        snap.status = ScenarioStatus::Failed;
        snap.steps = vec![step(1, StepStatus::Passed)];
        snap.snapshot = Some(SnapshotOutcome::Mismatch {
            diff: "-a\n+b\n".into(),
            written: false,
        });
        RunSummary::from_results("twin", vec![base, skipped, snap], Duration::from_millis(50))
    }

    #[test]
    fn junit_has_a_suite_per_scenario_and_a_case_per_step() {
        let xml = to_junit(&sample());
        assert!(xml.contains("<testsuite name=\"x\" tests=\"3\""), "{xml}");
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("expected to be signed in, but access was denied"));
        assert!(xml.contains("scenarios/x.toml:2:1"), "{xml}");
        assert!(xml.contains("not run: an earlier step failed"));
        assert!(xml.contains("the scenario does not support the live target"));
        assert!(xml.contains("<testcase name=\"snapshot\""), "{xml}");
        assert!(xml.contains("the transcript differs from its snapshot"));
    }
}
