//! The doctor's report in three forms: for a person (sections per family with ✓ / i / ! / ✗,
//! the fix under each problem, a summary line — flutter doctor and `gitlab-rake gitlab:check` are
//! the models), JSON (one document, every finding with its catalogue entry) and JUnit XML (one
//! test case per finding; `fail` is a failure). Server text (evidence, subjects) is escaped for the
//! terminal here; output is bounded (at most [`MAX_SHOWN_PER_FAMILY`] findings per section in the
//! human form, evidence already bounded by the finding).
//!
//! Owns: [`human`], [`json`], [`junit`]. Reporters never decide: the exit code is the report's.

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::json;

use super::escape;
use super::human::Style;
use crate::doctor::{DoctorReport, Family, Severity};

/// Findings listed per section in the human report; the rest are counted.
pub const MAX_SHOWN_PER_FAMILY: usize = 50;

fn mark(s: Severity, style: Style) -> String {
    let (sym, colour) = match s {
        Severity::Ok => ("✓", "32"),
        Severity::Info => ("i", "36"),
        Severity::Warn => ("!", "33"),
        Severity::Fail => ("✗", "31"),
    };
    if style.color {
        format!("\x1b[{colour}m{sym}\x1b[0m")
    } else {
        sym.to_string()
    }
}

fn ms(d: std::time::Duration) -> String {
    if d.as_secs_f64() < 1.0 {
        format!("{:.0}ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// The summary line: `12 ok, 1 info, 0 warnings, 2 failures`.
pub fn summary_line(r: &DoctorReport) -> String {
    format!(
        "{} ok, {} info, {} warning(s), {} failure(s)",
        r.count(Severity::Ok),
        r.count(Severity::Info),
        r.count(Severity::Warn),
        r.count(Severity::Fail)
    )
}

/// The report for a terminal. `verbose` also prints the evidence of `ok` findings.
pub fn human(r: &DoctorReport, targets: &str, style: Style, verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mm-doctor: {} ({} checks, {})",
        escape::terminal_line(targets),
        r.checks.len(),
        ms(r.duration)
    );
    for family in Family::ALL {
        let mut items = r.in_family(family);
        if items.is_empty() {
            continue;
        }
        items.sort_by_key(|(_, f)| std::cmp::Reverse(f.severity()));
        let worst = items[0].1.severity();
        let _ = write!(out, "\n{} {}\n", mark(worst, style), family.heading());
        for (check, f) in items.iter().take(MAX_SHOWN_PER_FAMILY) {
            let m = f.kind.meta();
            let _ = writeln!(
                out,
                "  {} {}  {}",
                mark(m.severity, style),
                m.title,
                if style.color {
                    format!("\x1b[2m[{}]\x1b[0m", m.id)
                } else {
                    format!("[{}]", m.id)
                }
            );
            if m.severity != Severity::Ok || verbose {
                let _ = writeln!(
                    out,
                    "      {}: {}",
                    escape::terminal_line(&f.subject),
                    escape::terminal_line(&f.evidence)
                );
            }
            if m.severity >= Severity::Warn || (m.severity == Severity::Info && verbose) {
                let _ = writeln!(out, "      fix: {}", m.fix);
                let _ = writeln!(out, "      see: {}", m.source);
            }
            if verbose {
                let _ = writeln!(
                    out,
                    "      check {} in {}",
                    check.check.name(),
                    ms(check.duration)
                );
            }
        }
        if items.len() > MAX_SHOWN_PER_FAMILY {
            let _ = writeln!(
                out,
                "  … {} more (--format json lists them all)",
                items.len() - MAX_SHOWN_PER_FAMILY
            );
        }
    }
    let exit = r.exit();
    let verdict = if r.nothing_reached {
        "nothing could be reached"
    } else {
        match r.worst() {
            Severity::Fail => "problems found",
            Severity::Warn => "works, with warnings",
            Severity::Info | Severity::Ok => "no issues found",
        }
    };
    let _ = write!(
        out,
        "\nSummary: {verdict}: {} (exit {})\n",
        summary_line(r),
        exit.code()
    );
    out
}

/// One JSON document: the summary, each check's duration, every finding with its catalogue entry.
pub fn json(r: &DoctorReport, targets: &str) -> String {
    let findings: Vec<serde_json::Value> = r
        .findings()
        .map(|(c, f)| {
            let m = f.kind.meta();
            json!({
                "id": m.id,
                "severity": m.severity,
                "family": m.family,
                "title": m.title,
                "subject": f.subject,
                "evidence": f.evidence,
                "fix": m.fix,
                "source": m.source,
                "check": c.check.name(),
            })
        })
        .collect();
    let checks: Vec<serde_json::Value> = r
        .checks
        .iter()
        .map(|c| {
            json!({
                "check": c.check.name(),
                "duration_ms": c.duration.as_millis() as u64,
                "timed_out": c.timed_out,
                "findings": c.findings.len(),
            })
        })
        .collect();
    let doc = json!({
        "tool": "mm-doctor",
        "targets": targets,
        "duration_ms": r.duration.as_millis() as u64,
        "exit": r.exit().code(),
        "nothing_reached": r.nothing_reached,
        "summary": {
            "ok": r.count(Severity::Ok),
            "info": r.count(Severity::Info),
            "warn": r.count(Severity::Warn),
            "fail": r.count(Severity::Fail),
        },
        "checks": checks,
        "findings": findings,
    });
    serde_json::to_string_pretty(&doc)
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise the report: {e}\"}}"))
}

/// JUnit XML: one suite per family, one case per finding; `fail` findings are failures.
pub fn junit(r: &DoctorReport, targets: &str) -> String {
    let mut report = Report::new(format!("mm-doctor ({targets})"));
    report.set_time(r.duration);
    for family in Family::ALL {
        let items = r.in_family(family);
        if items.is_empty() {
            continue;
        }
        let mut suite = TestSuite::new(family.heading());
        for (check, f) in items {
            let m = f.kind.meta();
            let status = match m.severity {
                Severity::Fail => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(m.title);
                    st.set_description(format!(
                        "{}: {}\nfix: {}\nsee: {}",
                        f.subject, f.evidence, m.fix, m.source
                    ));
                    st
                }
                Severity::Ok | Severity::Info | Severity::Warn => TestCaseStatus::success(),
            };
            let mut case = TestCase::new(format!("{} {}", m.id, f.subject), status);
            case.set_classname(m.id);
            case.set_time(check.duration);
            if m.severity == Severity::Warn || m.severity == Severity::Info {
                case.set_system_out(format!(
                    "{}: {}: {}\nfix: {}",
                    m.severity.name(),
                    f.subject,
                    f.evidence,
                    m.fix
                ));
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot serialise the JUnit report: {e} -->"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::doctor::{CheckId, CheckResult, Finding, FindingKind};

    fn sample() -> DoctorReport {
        DoctorReport {
            checks: vec![CheckResult {
                check: CheckId::SsoSettings,
                duration: Duration::from_millis(5),
                findings: vec![
                    Finding::new(FindingKind::SsoWiredOk, "GitLabSettings", "fine"),
                    Finding::new(
                        FindingKind::SsoUserApiV3Removed,
                        "GitLabSettings.UserAPIEndpoint",
                        "answers 410 \u{1b}[31mred",
                    ),
                ],
                timed_out: false,
            }],
            duration: Duration::from_millis(7),
            nothing_reached: false,
        }
    }

    #[test]
    fn human_has_sections_marks_fix_and_escapes() {
        let text = human(&sample(), "https://mm", Style::plain(), false);
        assert!(text.contains("✗ GitLab SSO"), "{text}");
        assert!(text.contains(
            "✗ Mattermost asks GitLab's removed /api/v3/user  [sso.user-api-v3-removed]"
        ));
        assert!(text.contains("fix: set mattermost['gitlab_user_api_endpoint']"));
        assert!(text.contains("\\u{1b}[31mred"), "{text}");
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains(
            "Summary: problems found: 1 ok, 0 info, 0 warning(s), 1 failure(s) (exit 1)"
        ));
    }

    #[test]
    fn json_and_junit_carry_every_finding() {
        let j: serde_json::Value = serde_json::from_str(&json(&sample(), "t")).unwrap();
        assert_eq!(j["exit"], 1);
        assert_eq!(j["findings"][1]["id"], "sso.user-api-v3-removed");
        assert_eq!(j["findings"][1]["severity"], "fail");
        let x = junit(&sample(), "t");
        assert!(
            x.contains("tests=\"2\"") && x.contains("failures=\"1\""),
            "{x}"
        );
        assert!(x.contains("sso.user-api-v3-removed"));
    }
}
