//! The terminal reporter: a line per scenario as it finishes (so parallel scenarios never
//! interleave), each failed step with its file position and reason, a readable diff on a snapshot
//! mismatch, timings, and a summary. A progress bar is drawn on stderr only when stderr is a
//! terminal; colours only on a terminal and never with `NO_COLOR` set. Every string that comes
//! from a result (server text in failures, transcripts, diffs, names) is escaped for the terminal
//! (`report::escape`) line by line; results arrive already redacted (`run::redact`).

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::check::SnapshotOutcome;
use crate::report::escape;
use crate::run::{
    Failure, RunEvent, RunEventKind, RunSummary, ScenarioResult, ScenarioStatus, StepStatus,
};

/// Whether to colour and draw progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    pub progress: bool,
}

impl Style {
    /// From the environment: a TTY on stdout (colour) / stderr (progress), and `NO_COLOR`.
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
            progress: std::io::stderr().is_terminal(),
        }
    }
    pub fn plain() -> Style {
        Style {
            color: false,
            progress: false,
        }
    }
}

struct Inner {
    out: Box<dyn Write + Send>,
    bar: Option<ProgressBar>,
}

/// Prints a run for a person.
pub struct HumanReporter {
    style: Style,
    verbose: bool,
    inner: Mutex<Inner>,
}

fn secs(d: Duration) -> String {
    if d.as_secs_f64() < 1.0 {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// One line of text the harness did not write itself (server answers, scenario names, paths),
/// made safe for a terminal: control characters, tabs and newlines become visible escapes.
fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    escape::terminal_line(text)
}

/// How the human report introduces a failure of this kind.
fn failure_heading(f: &Failure) -> &'static str {
    match f {
        Failure::Expectation { .. } => "an expectation was not met",
        Failure::Protocol { .. } => "the installation broke the protocol",
        Failure::Network { .. } => "the network failed",
        Failure::Timeout { .. } => "a deadline passed",
        Failure::Environment { .. } => "the environment broke",
        Failure::Configuration { .. } => "the scenario cannot run as written",
        Failure::HarnessBug { .. } => "a bug in mm-harness (please report it)",
    }
}

impl HumanReporter {
    pub fn new(out: Box<dyn Write + Send>, style: Style, verbose: bool) -> Self {
        HumanReporter {
            style,
            verbose,
            inner: Mutex::new(Inner { out, bar: None }),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.style.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Handle one event.
    pub fn event(&self, e: &RunEvent) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        match &e.kind {
            RunEventKind::RunStarted { scenarios, jobs } => {
                let _ = writeln!(
                    inner.out,
                    "running {scenarios} scenario{} ({jobs} at a time)",
                    if *scenarios == 1 { "" } else { "s" }
                );
                if self.style.progress {
                    let bar = ProgressBar::new(*scenarios as u64);
                    if let Ok(style) =
                        ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}")
                    {
                        bar.set_style(style);
                    }
                    inner.bar = Some(bar);
                }
            }
            RunEventKind::ScenarioStarted { name } => {
                if let Some(bar) = &inner.bar {
                    bar.set_message(esc(name).into_owned());
                }
            }
            RunEventKind::StepFinished { .. } => {}
            RunEventKind::ScenarioFinished { result } => {
                let text = self.scenario_text(result);
                match inner.bar.clone() {
                    Some(bar) => {
                        bar.suspend(|| {
                            let _ = inner.out.write_all(text.as_bytes());
                            let _ = inner.out.flush();
                        });
                        bar.inc(1);
                    }
                    None => {
                        let _ = inner.out.write_all(text.as_bytes());
                        let _ = inner.out.flush();
                    }
                }
            }
            RunEventKind::RunFinished { summary } => {
                if let Some(bar) = inner.bar.take() {
                    bar.finish_and_clear();
                }
                let text = self.summary_text(summary);
                let _ = inner.out.write_all(text.as_bytes());
                let _ = inner.out.flush();
            }
        }
    }

    /// The block printed when a scenario finishes.
    pub fn scenario_text(&self, r: &ScenarioResult) -> String {
        let mut out = String::new();
        let (tag, code) = match &r.status {
            ScenarioStatus::Passed => ("PASS", "32"),
            ScenarioStatus::Failed => ("FAIL", "31"),
            ScenarioStatus::Skipped { .. } => ("SKIP", "33"),
            ScenarioStatus::Error { .. } => ("ERROR", "31;1"),
            ScenarioStatus::Cancelled { .. } => ("CANCELLED", "33"),
        };
        let passed_steps = r
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Passed)
            .count();
        let steps = if r.steps.is_empty() {
            String::new()
        } else {
            format!(", {passed_steps}/{} steps", r.steps.len())
        };
        let _ = writeln!(
            out,
            "{} {} [{}] ({}{steps})",
            self.paint(code, tag),
            esc(&r.name),
            esc(&r.target),
            secs(r.duration)
        );
        // Every step of a failed scenario is listed; of a passed one only with --verbose.
        let list_all = self.verbose || !matches!(r.status, ScenarioStatus::Passed);
        match &r.status {
            ScenarioStatus::Skipped { reason } | ScenarioStatus::Cancelled { reason } => {
                for l in reason.lines() {
                    let _ = writeln!(out, "    {}", esc(l));
                }
            }
            // A step's failure is shown with the step, below; only say it once.
            ScenarioStatus::Error { failure }
                if !r.steps.iter().any(
                    |s| matches!(&s.status, StepStatus::Failed { failure: f } if f == failure),
                ) =>
            {
                let _ = writeln!(out, "    {}:", failure_heading(failure));
                for l in failure.message().lines() {
                    let _ = writeln!(out, "    {}", esc(l));
                }
            }
            _ => {}
        }
        for step in &r.steps {
            let (mark, reason) = match &step.status {
                StepStatus::Passed if list_all => (self.paint("32", "ok"), None),
                StepStatus::Failed { failure } => (self.paint("31", "FAILED"), Some(failure)),
                StepStatus::NotRun if list_all => {
                    let _ = writeln!(
                        out,
                        "    -- step {}: {} (not run)",
                        step.number,
                        esc(&step.label)
                    );
                    continue;
                }
                StepStatus::Cancelled => {
                    let _ = writeln!(
                        out,
                        "    {} step {}: {} (stopped after {})",
                        self.paint("33", "CANCELLED"),
                        step.number,
                        esc(&step.label),
                        secs(step.duration)
                    );
                    continue;
                }
                _ => continue,
            };
            let _ = writeln!(
                out,
                "    {mark} step {}: {} ({})",
                step.number,
                esc(&step.label),
                secs(step.duration)
            );
            if let Some(failure) = reason {
                let _ = writeln!(out, "      --> {}", esc(&step.location.to_string()));
                if !matches!(failure.verdict(), crate::run::Verdict::Failed) {
                    let _ = writeln!(out, "      {}:", failure_heading(failure));
                }
                for l in failure.message().lines() {
                    let _ = writeln!(out, "      {}", esc(l));
                }
                // The doctor's catalogue: the findings that explain this failure.
                for e in &step.explained_by {
                    let _ = writeln!(
                        out,
                        "      {} {} ({}): {}",
                        self.paint("36", "explained by"),
                        e.id,
                        e.title,
                        e.fix
                    );
                }
            }
        }
        if self.verbose {
            for w in &r.config_warnings {
                let _ = writeln!(
                    out,
                    "    {} gitlab.rb: {}",
                    self.paint("33", "warning"),
                    esc(w)
                );
            }
        }
        match &r.snapshot {
            Some(SnapshotOutcome::Mismatch { diff, written }) => {
                if *written {
                    let _ = writeln!(out, "    snapshot updated:");
                } else {
                    let _ = writeln!(
                        out,
                        "    {} (accept with --update-snapshots):",
                        self.paint("31", "snapshot mismatch")
                    );
                }
                for l in diff.lines() {
                    let l = &*esc(l);
                    let painted = if l.starts_with('+') && !l.starts_with("+++") {
                        self.paint("32", l)
                    } else if l.starts_with('-') && !l.starts_with("---") {
                        self.paint("31", l)
                    } else {
                        l.to_string()
                    };
                    let _ = writeln!(out, "      {painted}");
                }
            }
            Some(SnapshotOutcome::Missing { written: false }) => {
                let _ = writeln!(
                    out,
                    "    {}: create it with --update-snapshots",
                    self.paint("31", "no snapshot stored")
                );
            }
            Some(SnapshotOutcome::Missing { written: true }) => {
                let _ = writeln!(out, "    snapshot written");
            }
            _ => {}
        }
        if matches!(r.status, ScenarioStatus::Failed)
            && r.snapshot.is_none()
            && !r.transcript.is_empty()
        {
            let _ = writeln!(out, "    transcript (normalised):");
            for l in r.transcript.lines() {
                let _ = writeln!(out, "      | {}", esc(l));
            }
        }
        out
    }

    /// The closing summary.
    pub fn summary_text(&self, s: &RunSummary) -> String {
        let mut out = String::new();
        let cancelled = if s.cancelled > 0 {
            format!(", {} cancelled", s.cancelled)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "\n{} passed, {} failed, {} skipped, {} errors{cancelled} in {} on the {} target",
            s.passed,
            s.failed,
            s.skipped,
            s.errors,
            secs(s.duration),
            s.target
        );
        if let Some(why) = &s.interrupted {
            let _ = writeln!(
                out,
                "{}: the run was stopped by {why}; this report is partial",
                self.paint("33", "interrupted")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::junit::tests::sample;

    #[test]
    fn failures_show_location_reason_and_diff_without_colour() {
        let r = HumanReporter::new(Box::new(std::io::sink()), Style::plain(), false);
        let s = sample();
        let text = r.scenario_text(&s.scenarios[0]);
        assert!(
            text.starts_with("FAIL x [twin] (20.0ms, 1/3 steps)"),
            "{text}"
        );
        assert!(text.contains("FAILED step 2: sso.sign_up user=u2"));
        assert!(text.contains("--> scenarios/x.toml:2:1"));
        assert!(text.contains("expected to be signed in, but access was denied"));
        assert!(
            text.contains("ok step 1"),
            "a failed scenario lists every step: {text}"
        );
        assert!(
            text.contains("-- step 3: sso.sign_up user=u3 (not run)"),
            "{text}"
        );
        let mut passed = s.scenarios[0].clone();
        passed.status = ScenarioStatus::Passed;
        passed.steps.truncate(1);
        let text_passed = r.scenario_text(&passed);
        assert!(
            !text_passed.contains("ok step 1"),
            "passed steps only with --verbose: {text_passed}"
        );
        assert!(
            text.contains("| == step 1"),
            "failed scenarios show their transcript"
        );
        let text = r.scenario_text(&s.scenarios[2]);
        assert!(text.contains("snapshot mismatch"));
        assert!(text.contains("      -a\n      +b"), "{text}");
        assert!(!text.contains('\u{1b}'));
        let text = r.summary_text(&s);
        assert!(
            text.contains("0 passed, 2 failed, 1 skipped, 0 errors"),
            "{text}"
        );
    }

    #[test]
    fn server_text_is_escaped_line_by_line() {
        let r = HumanReporter::new(Box::new(std::io::sink()), Style::plain(), false);
        let mut s = sample().scenarios[0].clone();
        s.name = "x\u{1b}[2J".into();
        s.steps[1].status = StepStatus::Failed {
            failure: Failure::Protocol {
                message: "answered \u{1b}]0;title\u{7} then\rPASS fake\nsecond\tline".into(),
            },
        };
        s.transcript = "GET /\u{9b}31m".into();
        let text = r.scenario_text(&s);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        assert!(!text.contains('\r') && !text.contains('\u{9b}'), "{text:?}");
        assert!(text.starts_with("FAIL x\\u{1b}[2J [twin]"), "{text}");
        assert!(
            text.contains(
                "      answered \\u{1b}]0;title\\u{7} then\\rPASS fake\n      second\\tline\n"
            ),
            "{text}"
        );
        assert!(text.contains("| GET /\\u{9b}31m"), "{text}");
    }

    #[test]
    fn a_step_failure_that_errors_the_scenario_is_shown_once() {
        let r = HumanReporter::new(Box::new(std::io::sink()), Style::plain(), false);
        let mut s = sample().scenarios[0].clone();
        let failure = Failure::Configuration {
            message: "the stack has no GitLab account `u2`".into(),
        };
        s.steps[1].status = StepStatus::Failed {
            failure: failure.clone(),
        };
        s.status = ScenarioStatus::Error { failure };
        let text = r.scenario_text(&s);
        assert!(text.starts_with("ERROR x [twin]"), "{text}");
        assert_eq!(text.matches("no GitLab account").count(), 1, "{text}");
        assert_eq!(
            text.matches("the scenario cannot run as written:").count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        let r = HumanReporter::new(
            Box::new(std::io::sink()),
            Style {
                color: true,
                progress: false,
            },
            true,
        );
        let s = sample();
        let text = r.scenario_text(&s.scenarios[0]);
        assert!(text.contains("\u{1b}[31mFAIL\u{1b}[0m"), "{text}");
        assert!(
            text.contains("ok\u{1b}[0m step 1"),
            "verbose shows passed steps: {text}"
        );
    }
}
