//! The typed vocabulary of steps and expectations against everything that lists it: every step
//! kind parses from a minimal file and takes exactly the expectations it declares, every step and
//! expectation kind runs and passes on the twin in some scenario of scenarios/, the parser reads
//! exactly the documented arguments, and docs/scenarios.md's tables are the generated ones
//! (`MM_HARNESS_BLESS=1` rewrites them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mm_harness::check::{ExpectKind, SnapshotMode};
use mm_harness::diag::SourceFile;
use mm_harness::run::{RunOptions, ScenarioStatus, StepStatus, no_events, run};
use mm_harness::scenario::kinds::{ReferenceSection, expect_doc, expect_example};
use mm_harness::scenario::{Scenario, ScenarioError, Selection, StepKind, parse_scenario, select};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file whose last step is `step` (with `expect`, if given), after steps that create the
/// application `app`, the webhook `hook` and the export `backup` the examples name (and a
/// standalone Mattermost host `standalone`).
fn minimal_file(step: StepKind, arguments: &str, expect: Option<(ExpectKind, &str)>) -> String {
    let expect = match expect {
        Some((kind, value)) => format!("expect = {{ {kind} = {value} }}\n"),
        None => String::new(),
    };
    format!(
        r#"name = "minimal"
summary = "one {step} step"
seed = "Getting started"

[hosts.omnibus]
gitlab_rb = "external_url 'http://gitlab.example.com'"

[hosts.standalone]
kind = "mattermost-standalone"
url = "http://mattermost.example.com"

[[steps]]
gitlab.create_oauth_app = {{ as = "app" }}

[[steps]]
mattermost.create_incoming_webhook = {{ team = "team", channel = "town", as = "hook" }}

[[steps]]
mattermost.export = {{ host = "omnibus", as = "backup" }}

[[steps]]
{step} = {arguments}
{expect}"#
    )
}

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    let file = SourceFile::new("minimal.toml", text);
    parse_scenario(&file, Path::new("minimal.toml"))
}

#[test]
fn every_step_kind_parses_from_a_minimal_file() {
    for kind in StepKind::ALL.iter().copied() {
        let text = minimal_file(kind, kind.example(), None);
        let s = parse(&text).unwrap_or_else(|e| panic!("{kind}:\n{}", e.render()));
        assert_eq!(s.steps.len(), 4, "{kind}: a step was dropped");
        assert_eq!(s.steps[3].action.kind(), kind);
        assert_eq!(s.steps[3].action.name(), kind.name());
        assert!(s.steps[3].label().starts_with(kind.name()));
    }
}

#[test]
fn every_step_kind_takes_exactly_its_declared_expectations() {
    for kind in StepKind::ALL.iter().copied() {
        for e in ExpectKind::ALL.iter().copied() {
            let text = minimal_file(kind, kind.example(), Some((e, expect_example(e))));
            let parsed = parse(&text);
            if kind.expectations().contains(&e) {
                let s = parsed.unwrap_or_else(|err| panic!("{kind} + {e}:\n{}", err.render()));
                assert_eq!(s.steps[3].expect.as_ref().map(|x| x.kind()), Some(e));
            } else {
                let err = match parsed {
                    Ok(_) => panic!("{kind} accepted expectation {e}"),
                    Err(err) => err,
                };
                assert!(
                    err.diagnostics.iter().any(|d| d.code == "scenario.expect"),
                    "{kind} + {e}:\n{}",
                    err.render()
                );
            }
        }
    }
}

/// The keys a table accepts, read off the hint of an unknown key ("expected one of: `a`, `b`"),
/// or none when the hint says it takes none.
fn accepted_keys(err: &ScenarioError) -> Vec<String> {
    let hint = err
        .diagnostics
        .iter()
        .find(|d| d.code == "scenario.unknown-key")
        .and_then(|d| d.hint.clone())
        .unwrap_or_else(|| panic!("no unknown-key hint:\n{}", err.render()));
    match hint.strip_prefix("expected one of: ") {
        Some(list) => list
            .split(", ")
            .map(|k| k.trim_matches('`').to_string())
            .collect(),
        None => {
            assert!(hint.contains("takes no keys"), "{hint}");
            Vec::new()
        }
    }
}

fn with_unknown_key(value: &str) -> String {
    let inner = value
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    if inner.is_empty() {
        "{ zzzz_not_a_key = 1 }".to_string()
    } else {
        format!("{{ zzzz_not_a_key = 1, {inner} }}")
    }
}

#[test]
fn the_parser_reads_exactly_the_documented_arguments_and_fields() {
    for kind in StepKind::ALL.iter().copied() {
        let text = minimal_file(kind, &with_unknown_key(kind.example()), None);
        let keys = accepted_keys(&parse(&text).expect_err("unknown key"));
        let doc = kind.doc();
        if keys.is_empty() {
            assert_eq!(doc.arguments, "—", "{kind}");
        }
        for k in keys {
            assert!(
                doc.arguments.contains(&format!("`{k}`")),
                "{kind}: argument `{k}` is read but not documented: {}",
                doc.arguments
            );
        }
    }
    for e in ExpectKind::ALL.iter().copied() {
        if matches!(
            e,
            ExpectKind::AccessDenied | ExpectKind::NoMail | ExpectKind::Theme
        ) {
            continue; // `true`, or the theme's text: a value, no fields
        }
        let step = StepKind::ALL
            .iter()
            .copied()
            .find(|k| k.expectations().contains(&e))
            .expect("some step takes it");
        let text = minimal_file(
            step,
            step.example(),
            Some((e, &with_unknown_key(expect_example(e)))),
        );
        let keys = accepted_keys(&parse(&text).expect_err("unknown key"));
        let written = expect_doc(e).written;
        for k in keys {
            let listed = written
                .split(['{', '}', ',', ' ', '='])
                .any(|w| w == k.as_str());
            assert!(
                listed,
                "{e}: field `{k}` is read but not documented: {written}"
            );
        }
    }
}

#[test]
fn every_step_and_expectation_kind_runs_on_the_twin() {
    mm_harness::crypto::install_default_provider();
    let scenarios = select(&root().join("scenarios"), &Selection::default())
        .unwrap_or_else(|errs| panic!("{}", errs.iter().map(|e| e.render()).collect::<String>()));
    let plans = scenarios.clone();
    let mut opts = RunOptions::twin(root().join("snapshots"));
    opts.snapshots = SnapshotMode::Check;
    opts.jobs = 2;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let summary = rt.block_on(run(scenarios, opts, no_events()));
    let mut steps_seen = BTreeSet::new();
    let mut expectations_seen = BTreeSet::new();
    for result in &summary.scenarios {
        assert_eq!(
            result.status,
            ScenarioStatus::Passed,
            "{} did not pass: {:?}; snapshot {:?}",
            result.name,
            result
                .steps
                .iter()
                .map(|s| (&s.label, &s.status))
                .collect::<Vec<_>>(),
            result.snapshot
        );
        let plan = plans
            .iter()
            .find(|p| p.name == result.name)
            .expect("a result per plan");
        for step in &result.steps {
            if step.status != StepStatus::Passed {
                continue;
            }
            let planned = &plan.steps[step.number - 1];
            steps_seen.insert(planned.action.kind());
            if let Some(e) = &planned.expect {
                expectations_seen.insert(e.kind());
            }
        }
    }
    assert_eq!(
        summary.scenarios.len(),
        plans.len(),
        "a scenario lost its result"
    );
    let missing: Vec<&str> = StepKind::ALL
        .iter()
        .filter(|k| !steps_seen.contains(*k))
        .map(|k| k.name())
        .collect();
    assert!(missing.is_empty(), "no scenario runs the steps {missing:?}");
    let missing: Vec<&str> = ExpectKind::ALL
        .iter()
        .filter(|k| !expectations_seen.contains(*k))
        .map(|k| k.name())
        .collect();
    assert!(
        missing.is_empty(),
        "no scenario passes with the expectations {missing:?}"
    );
}

/// docs/scenarios.md with every generated section replaced by what the vocabulary gives now.
fn regenerated(doc: &str) -> String {
    let mut out = doc.to_string();
    for section in ReferenceSection::ALL.iter().copied() {
        let begin = section.begin_marker();
        let end = section.end_marker();
        let start = out
            .find(&begin)
            .unwrap_or_else(|| panic!("docs/scenarios.md has no line {begin}"))
            + begin.len();
        let stop = out[start..]
            .find(&end)
            .map(|i| start + i)
            .unwrap_or_else(|| panic!("docs/scenarios.md has no line {end}"));
        out.replace_range(start..stop, &format!("\n{}", section.markdown()));
    }
    out
}

#[test]
fn the_docs_list_every_step_and_expectation() {
    let path = root().join("docs/scenarios.md");
    let doc = std::fs::read_to_string(&path).expect("docs/scenarios.md");
    let fresh = regenerated(&doc);
    if std::env::var_os("MM_HARNESS_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write docs/scenarios.md");
        return;
    }
    if fresh != doc {
        panic!(
            "docs/scenarios.md is stale; run `MM_HARNESS_BLESS=1 cargo test --test tests vocabulary::`\n{}",
            similar::TextDiff::from_lines(&doc, &fresh)
                .unified_diff()
                .header("docs/scenarios.md", "generated")
        );
    }
    for kind in StepKind::ALL {
        assert!(doc.contains(&format!("| `{}` |", kind.name())), "{kind}");
    }
}
