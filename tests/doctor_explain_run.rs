//! One catalogue for `run` and `doctor`: a failing `run` step names the doctor findings that
//! explain it, with their fixes, in the human, JSON and JUnit reports. The failing scenarios are
//! the shipped negative ones (wrong-secret, split-server-api-v3, smtp-auth-without-tls) with their
//! expected error removed, written into a temporary workspace: the twin then answers exactly what
//! the real products answer (Mattermost's "Bad response from token request.", GitLab's 410 on
//! `/api/v3/user` seen through Mattermost, the SMTP client's "unencrypted connection"), and the
//! step fails on it.

use std::path::Path;
use std::process::{Command, Output};

/// (shipped scenario, its text, the finding that must explain its failure first).
const CASES: &[(&str, &str, &str)] = &[
    (
        "wrong-secret",
        include_str!("../scenarios/wrong-secret.toml"),
        "sso.client-secret-wrong",
    ),
    (
        "split-server-api-v3",
        include_str!("../scenarios/split-server-api-v3.toml"),
        "sso.user-api-v3-removed",
    ),
    (
        "smtp-auth-without-tls",
        include_str!("../scenarios/smtp-auth-without-tls.toml"),
        "smtp.starttls-not-offered",
    ),
];

/// The scenario without its `expect` (so the documented error fails the step), renamed.
fn failing(name: &str, text: &str) -> String {
    let out: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("expect ="))
        .collect();
    let renamed = out.join("\n").replace(
        &format!("name = \"{name}\""),
        &format!("name = \"{name}-fails\""),
    );
    assert!(renamed.contains(&format!("{name}-fails")));
    assert!(!renamed.contains("expect ="));
    renamed
}

fn run(dir: &Path, format: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mm-harness"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(["run", "--no-embedded", "--format", format])
        .output()
        .expect("run mm-harness")
}

#[test]
fn failing_steps_name_the_finding_and_fix_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
    for (name, text, _) in CASES {
        std::fs::write(
            dir.path()
                .join("scenarios")
                .join(format!("{name}-fails.toml")),
            failing(name, text),
        )
        .unwrap();
    }
    // JSON: the failed step carries explained_by [{id, title, fix}], first the expected one.
    let o = run(dir.path(), "json");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (name, _, want) in CASES {
        let scenario = doc["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == format!("{name}-fails"))
            .unwrap_or_else(|| panic!("{name} not in {out}"));
        let failed: Vec<&serde_json::Value> = scenario["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "failed")
            .collect();
        assert_eq!(failed.len(), 1, "{name}: {scenario}");
        let explained = failed[0]["explained_by"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no explained_by on {}", failed[0]));
        assert_eq!(explained[0]["id"], *want, "{name}: {explained:?}");
        let fix = explained[0]["fix"].as_str().unwrap();
        let meta = mm_harness::doctor::FindingKind::from_id(want)
            .unwrap()
            .meta();
        assert_eq!(fix, meta.fix, "the fix comes from the catalogue");
        // Passing steps carry none.
        for s in scenario["steps"].as_array().unwrap() {
            if s["status"] == "passed" {
                assert!(s.get("explained_by").is_none(), "{s}");
            }
        }
    }
    // Human: next to the failure.
    let o = run(dir.path(), "human");
    let human = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{human}");
    for (_, _, want) in CASES {
        assert!(
            human.contains(&format!("explained by {want} (")),
            "{want} not in:\n{human}"
        );
    }
    // JUnit: in the failure's description.
    let o = run(dir.path(), "junit");
    let junit = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{junit}");
    for (_, _, want) in CASES {
        assert!(
            junit.contains(&format!("explained by {want}: ")),
            "{want} not in:\n{junit}"
        );
    }
}
