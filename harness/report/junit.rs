//! The JUnit XML report (quick-junit), shaped for GitLab CI's `artifacts:reports:junit`: one test
//! suite per scenario, one test case per step (class name = the documentation section checked), and
//! a `snapshot` case when the transcript was compared.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::check::SnapshotOutcome;
use crate::run::{RunSummary, ScenarioStatus, StepStatus};

/// The run as JUnit XML.
pub fn to_junit(summary: &RunSummary) -> String {
    let mut report = Report::new(format!("mm-harness ({})", summary.target));
    report.set_time(summary.duration);
    for s in &summary.scenarios {
        let mut suite = TestSuite::new(s.name.clone());
        suite.set_time(s.duration);
        match &s.status {
            ScenarioStatus::Skipped { reason } => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(reason.clone());
                let mut case = TestCase::new("scenario", status);
                case.set_classname(s.seed.clone());
                suite.add_test_case(case);
            }
            ScenarioStatus::Error { reason, .. } => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message("the stack could not run the scenario");
                status.set_description(reason.clone());
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
                StepStatus::Failed { reason } => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(reason.clone());
                    st.set_description(format!("{}\n{}", step.location, reason));
                    st
                }
                StepStatus::NotRun => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message("not run: an earlier step failed");
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
