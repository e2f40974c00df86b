//! The shipped suite as an installed binary meets it: `mm-harness run` and `mm-harness scenarios
//! list/show/export` from a directory that has no project files, a scenario directory laid over
//! the shipped scenarios (same name replaces), and the check that every file of `scenarios/` and
//! `snapshots/` is compiled in.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mm_harness::scenario::embedded;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `mm-harness ARGS` in `dir`, asserting the exit code; (stdout, stderr).
fn mm(dir: &Path, args: &[&str], code: i32) -> (String, String) {
    let o: Output = Command::new(env!("CARGO_BIN_EXE_mm-harness"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run the binary");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "{args:?}\n{out}{err}");
    (out, err)
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn stems(dir: &str, ext: &str) -> BTreeSet<String> {
    std::fs::read_dir(root().join(dir))
        .expect("read dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect()
}

#[test]
fn every_scenario_and_twin_snapshot_file_is_shipped_in_the_binary() {
    let shipped: BTreeSet<String> = embedded::ALL.iter().map(|e| e.stem.to_string()).collect();
    assert_eq!(
        stems("scenarios", "toml"),
        shipped,
        "add the file to the list in harness/scenario/embedded.rs"
    );
    let all_snapshots = stems("snapshots", "snap");
    let twin_snapshots: BTreeSet<String> = all_snapshots
        .iter()
        .filter(|s| !s.contains('@'))
        .cloned()
        .collect();
    assert_eq!(twin_snapshots, shipped);
    // Other targets' snapshots (`NAME@docker`) too; a live installation's (`NAME@live`) is a
    // deployment's, never shipped.
    let target_snapshots: BTreeSet<String> = all_snapshots
        .into_iter()
        .filter(|s| s.contains('@') && !s.ends_with("@live"))
        .collect();
    let shipped_targets: BTreeSet<String> = embedded::TARGET_SNAPSHOTS
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(
        target_snapshots, shipped_targets,
        "add the file to target_snapshots! in harness/scenario/embedded.rs"
    );
    for e in embedded::ALL {
        let toml = std::fs::read_to_string(root().join(format!("scenarios/{}.toml", e.stem)))
            .expect("scenario file");
        assert_eq!(e.toml, toml, "{}", e.stem);
    }
}

#[test]
fn the_whole_shipped_suite_runs_from_an_empty_directory() {
    // Regression: "cannot read the scenario directory `scenarios`" anywhere but the project root.
    let dir = tempfile::tempdir().expect("temp dir");
    let (out, _) = mm(dir.path(), &["run", "--jobs", "2", "--format", "json"], 0);
    let v = json(&out);
    assert_eq!(v["passed"], embedded::ALL.len(), "{out}");
    for s in v["scenarios"].as_array().expect("scenarios") {
        let name = s["name"].as_str().unwrap_or_default();
        assert_eq!(
            s["file"],
            format!("embedded:scenarios/{name}.toml"),
            "{name}"
        );
        // Every transcript matched its shipped snapshot; nothing was written.
        assert_eq!(s["snapshot"]["status"], "matched", "{name}: {s}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "a run from an empty directory writes nothing there"
    );
    // Writing snapshots needs a place the user names.
    let (_, err) = mm(dir.path(), &["run", "smoke", "--update-snapshots"], 2);
    assert!(err.contains("pass --snapshot-dir DIR"), "{err}");
}

#[test]
fn list_show_and_unknown_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out, _) = mm(dir.path(), &["scenarios", "list"], 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "PROFILE", "TARGETS", "TAGS", "SUMMARY"],
        "{out}"
    );
    let smoke = lines
        .iter()
        .find(|l| l.starts_with("smoke "))
        .unwrap_or_else(|| panic!("{out}"));
    for cell in [
        "gitlab-18.11",
        "twin,live",
        "smoke,sso",
        "Mattermost is up and a GitLab user logs in through SSO",
    ] {
        assert!(smoke.contains(cell), "{smoke}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("single-server-8.12 ") && l.contains("gitlab-8.12")),
        "{out}"
    );
    assert!(
        out.ends_with(&format!(
            "\n{n} scenarios: {n} shipped in the binary\n",
            n = embedded::ALL.len()
        )),
        "{out}"
    );
    let (out, _) = mm(dir.path(), &["scenarios", "list", "--format", "json"], 0);
    let v = json(&out);
    let smoke = v
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "smoke"))
        .expect("smoke listed");
    assert_eq!(smoke["targets"], serde_json::json!(["twin", "live"]));
    assert_eq!(smoke["shipped"], true);

    let (out, _) = mm(dir.path(), &["scenarios", "show", "smoke"], 0);
    assert_eq!(out, embedded::find("smoke").expect("smoke").toml);
    let (_, err) = mm(dir.path(), &["scenarios", "show", "smoek"], 2);
    assert!(err.contains("did you mean `smoke`?"), "{err}");
    let (_, err) = mm(dir.path(), &["run", "smoek"], 2);
    assert!(err.contains("did you mean `smoke`?"), "{err}");
    // Without the shipped suite, a directory is needed.
    let (_, err) = mm(dir.path(), &["scenarios", "list", "--no-embedded"], 2);
    assert!(
        err.contains("cannot read the scenario directory `scenarios`"),
        "{err}"
    );
}

#[test]
fn show_escapes_control_characters_of_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("mine")).expect("mkdir");
    // A comment may hold anything TOML allows; an ESC is not allowed, so it never validates,
    // but `show` prints the text as it is — escaped.
    std::fs::write(
        dir.path().join("mine/odd.toml"),
        "# \u{1b}[31mred\u{7}\nname = \"odd\"\n",
    )
    .expect("write");
    let (out, _) = mm(
        dir.path(),
        &["scenarios", "show", "odd", "--scenario-dir", "mine"],
        0,
    );
    assert_eq!(out, "# \\u{1b}[31mred\\u{7}\nname = \"odd\"\n");
}

#[test]
fn export_then_run_the_copy_and_a_directory_replaces_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out, _) = mm(dir.path(), &["scenarios", "export", "smoke"], 0);
    assert!(
        out.contains("wrote scenarios/smoke.toml (from embedded:scenarios/smoke.toml)"),
        "{out}"
    );
    assert!(
        out.contains(
            "`mm-harness run smoke` from this directory runs this copy in place of the shipped one."
        ),
        "{out}"
    );
    let copy = dir.path().join("scenarios/smoke.toml");
    assert_eq!(
        std::fs::read_to_string(&copy).expect("exported"),
        embedded::find("smoke").expect("smoke").toml
    );
    // A file is never overwritten without --force.
    std::fs::create_dir(dir.path().join("other")).expect("mkdir");
    std::fs::write(dir.path().join("other/smoke.toml"), "# other\n").expect("write");
    let (_, err) = mm(
        dir.path(),
        &["scenarios", "export", "smoke", "--to", "other"],
        2,
    );
    assert!(
        err.contains("other/smoke.toml already exists") && err.contains("--force"),
        "{err}"
    );
    let kept = std::fs::read_to_string(dir.path().join("other/smoke.toml")).expect("kept");
    assert_eq!(kept, "# other\n");
    let (out, _) = mm(
        dir.path(),
        &["scenarios", "export", "smoke", "--to", "other", "--force"],
        0,
    );
    assert!(
        out.contains("`mm-harness run smoke --scenario-dir other` runs this copy in place of the shipped one."),
        "{out}"
    );
    // Once ./scenarios/smoke.toml exists, `smoke` is that file (as `run` would take it):
    // exporting it onto itself is refused; `--shipped` takes the binary's copy.
    std::fs::write(&copy, "# mine\n").expect("write");
    let (_, err) = mm(dir.path(), &["scenarios", "export", "smoke", "--force"], 2);
    assert!(err.contains("is the file `smoke` comes from"), "{err}");
    let (out, _) = mm(dir.path(), &["scenarios", "show", "smoke"], 0);
    assert_eq!(out, "# mine\n");
    mm(
        dir.path(),
        &["scenarios", "export", "smoke", "--force", "--shipped"],
        0,
    );

    // ./scenarios is laid over the shipped suite: the unchanged copy runs, with the shipped
    // snapshot, in place of the shipped scenario.
    let (out, _) = mm(dir.path(), &["run", "smoke", "--format", "json"], 0);
    let v = json(&out);
    assert_eq!(v["scenarios"][0]["file"], "scenarios/smoke.toml", "{out}");
    assert_eq!(v["scenarios"][0]["snapshot"]["status"], "matched", "{out}");

    // An edited copy is a different setup: the shipped snapshot no longer applies.
    let edited = std::fs::read_to_string(&copy).expect("copy").replace(
        "tags = [\"smoke\", \"sso\"]",
        "tags = [\"smoke\", \"sso\", \"mine\"]",
    );
    std::fs::write(&copy, &edited).expect("edit");
    let (out, _) = mm(dir.path(), &["run", "--tag", "mine"], 1);
    assert!(out.contains("no snapshot stored"), "{out}");
    // The project directory (it has scenarios/) takes the new snapshot in ./snapshots.
    mm(
        dir.path(),
        &["run", "--tag", "mine", "--update-snapshots"],
        0,
    );
    assert!(dir.path().join("snapshots/smoke.snap").is_file());
    mm(dir.path(), &["run", "--tag", "mine"], 0);

    // The whole suite: the shipped scenarios plus the directory's, the copy replacing `smoke`.
    let extra = embedded::find("single-server")
        .expect("single-server")
        .toml
        .replace("name = \"single-server\"", "name = \"extra\"");
    std::fs::write(dir.path().join("scenarios/extra.toml"), extra).expect("write");
    let (out, _) = mm(dir.path(), &["scenarios", "list"], 0);
    assert!(
        out.ends_with(&format!(
            "{} scenarios: {} shipped in the binary, 2 from files: scenarios/extra.toml, scenarios/smoke.toml (replaces the shipped one)\n",
            embedded::ALL.len() + 1,
            embedded::ALL.len() - 1
        )),
        "{out}"
    );
    // --no-embedded: the directory only.
    let (out, _) = mm(
        dir.path(),
        &["scenarios", "list", "--no-embedded", "--format", "json"],
        0,
    );
    assert_eq!(json_names(&out), ["extra", "smoke"]);
    // --scenario-dir names another directory, laid over the shipped suite the same way.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let (out, _) = mm(
        elsewhere.path(),
        &[
            "scenarios",
            "list",
            "--format",
            "json",
            "--scenario-dir",
            dir.path().join("scenarios").to_str().expect("utf-8"),
        ],
        0,
    );
    assert_eq!(json_names(&out).len(), embedded::ALL.len() + 1);
    let (_, err) = mm(elsewhere.path(), &["run", "--scenario-dir", "missing"], 2);
    assert!(
        err.contains("cannot read the scenario directory `missing`"),
        "{err}"
    );
}

fn json_names(out: &str) -> Vec<String> {
    json(out)
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_huge_or_binary_file_in_the_scenario_directory_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).expect("mkdir");
    // 64 MiB of one line: never read whole, never printed.
    let big = std::fs::File::create(mine.join("big.toml")).expect("create");
    big.set_len(64 * 1024 * 1024).expect("size");
    std::fs::write(
        mine.join("bin.toml"),
        b"name = \"bin\"\n\xff\xfe\x00garbage",
    )
    .expect("write");
    for (args, needle) in [
        (vec!["scenarios", "show", "big"], "larger than 1024 KiB"),
        (vec!["scenarios", "show", "bin"], "bin.toml:2:1"),
        (
            vec!["scenarios", "list"],
            "big.toml is larger than 1024 KiB",
        ),
        (vec!["run", "big"], "big.toml is larger than 1024 KiB"),
    ] {
        // The binary runs under a 1 GiB address-space limit, so a regression that reads the
        // file whole fails here instead of taking the machine's memory.
        let o = Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 1048576; exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_mm-harness"))
            .args(&args)
            .args(["--scenario-dir", "mine"])
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            err.len() < 16 * 1024,
            "{args:?}: {} bytes of errors",
            err.len()
        );
        assert!(o.stdout.len() < 16 * 1024, "{args:?}: stdout unbounded");
    }
}
