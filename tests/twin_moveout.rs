//! The move out of omnibus on the twin (`mattermost.export`, `mattermost.move_out`,
//! `gitlab.check_config`, the `mattermost-standalone` host kind), beyond the shipped
//! `move-out-of-omnibus` scenario: GitLab 19.0's checks block the seed's gitlab.rb before the
//! move, the standalone server answers from the restored database only after the move (with its
//! settings locked by `MM_*` variables), and misuse is refused at parse time with its line.

use std::path::Path;

use mm_harness::check::SnapshotMode;
use mm_harness::diag::SourceFile;
use mm_harness::run::{Failure, RunOptions, ScenarioStatus, StepStatus, no_events, run};
use mm_harness::scenario::parse_scenario;

fn scenario_text(steps: &str) -> String {
    format!(
        r#"name = "moveout-test"
summary = "move-out test"
seed = "Getting started"
gitlab_version = "18.11"

[hosts.omnibus]
gitlab_rb = '''
external_url 'http://gitlab.example.com'
mattermost_external_url 'http://mattermost.example.com'
'''

[hosts.standalone]
kind = "mattermost-standalone"
url = "http://mattermost.example.com"
{steps}"#
    )
}

fn run_text(text: &str) -> mm_harness::run::ScenarioResult {
    mm_harness::crypto::install_default_provider();
    let file = SourceFile::new("moveout-test.toml", text);
    let scenario = parse_scenario(&file, Path::new("moveout-test.toml"))
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = RunOptions::twin(tmp.path().to_path_buf());
    opts.snapshots = SnapshotMode::Update;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut summary = rt.block_on(run(vec![scenario], opts, no_events()));
    summary.scenarios.remove(0)
}

#[test]
fn gitlab_19_blocks_the_seeds_gitlab_rb_before_the_move_and_passes_it_after() {
    let r = run_text(&scenario_text(
        "\n[[steps]]\ngitlab.check_config = { host = \"omnibus\", gitlab_version = \"19.0\" }\n",
    ));
    match &r.steps[0].status {
        StepStatus::Failed {
            failure: Failure::Protocol { message },
        } => {
            assert!(message.contains("GitLab 19.0."), "{message}");
            assert!(
                message.contains("omnibus.preinst.enable-true-18.11.8"),
                "the 18.11.9+ preinst blocks a bundled Mattermost: {message}"
            );
        }
        other => panic!("{other:?}\n{}", r.transcript),
    }
    // 19.0-19.2's reconfigure refuses any mattermost[...] key: the configuration model says so.
    let with_key = scenario_text(
        "\n[[steps]]\ngitlab.check_config = { host = \"omnibus\", gitlab_version = \"19.2\" }\n",
    )
    .replace(
        "mattermost_external_url 'http://mattermost.example.com'\n",
        "mattermost_external_url 'http://mattermost.example.com'\nmattermost['enable'] = false\n",
    );
    let r = run_text(&with_key);
    assert!(
        r.transcript.contains("gitlab.rb error:"),
        "{}",
        r.transcript
    );
    assert!(matches!(r.status, ScenarioStatus::Failed), "{:?}", r.status);
    // After the move the rewritten gitlab.rb passes every 19.x check.
    let r = run_text(&scenario_text(
        r#"
[[steps]]
mattermost.export = { host = "omnibus", as = "backup" }

[[steps]]
mattermost.move_out = { export = "backup", to = "standalone" }

[[steps]]
gitlab.check_config = { host = "omnibus", gitlab_version = "19.3" }
"#,
    ));
    assert_eq!(r.status, ScenarioStatus::Passed, "{}", r.transcript);
    assert!(
        r.transcript
            .contains("gitlab.rb removed: line 2: mattermost_external_url"),
        "{}",
        r.transcript
    );
    assert!(
        r.transcript
            .contains("omnibus.reconfigure.enable-true-19.3 passes"),
        "{}",
        r.transcript
    );
}

#[test]
fn the_standalone_server_runs_on_the_restored_store_not_a_new_one() {
    // A team created before the move is found after it (the restored database); one created
    // after the move exists only on the standalone server, and the counts say both.
    let r = run_text(&scenario_text(
        r#"
[[steps]]
sso.sign_up = { user = "alice" }

[[steps]]
mattermost.create_team = { name = "before" }

[[steps]]
mattermost.export = { host = "omnibus", as = "backup" }

[[steps]]
mattermost.create_team = { name = "after-export" }

[[steps]]
mattermost.move_out = { export = "backup", to = "standalone" }

[[steps]]
mattermost.count_data = {}
expect = { data = { users = 2, teams = 1 } }

[[steps]]
mattermost.create_channel = { team = "before", name = "town" }

[[steps]]
sso.log_in = { user = "alice" }
expect = { mattermost_user = { username = "alice", same_user = true } }
"#,
    ));
    // The team created after the export is not on the standalone server: the export is a copy
    // taken at that moment, as pg_dump's is.
    assert_eq!(r.status, ScenarioStatus::Passed, "{}", r.transcript);
    assert!(
        r.transcript
            .contains("database: users=2 sso_users=1 teams=1"),
        "{}",
        r.transcript
    );
}

#[test]
fn misuse_of_the_move_out_steps_is_refused_at_parse_time_with_its_line() {
    for (steps, needle) in [
        (
            "\n[[steps]]\nmattermost.export = { host = \"standalone\", as = \"backup\" }\n",
            "which is a standalone Mattermost",
        ),
        (
            "\n[[steps]]\nmattermost.export = { host = \"omnibus\", as = \"backup\" }\n\n[[steps]]\nmattermost.move_out = { export = \"backup\", to = \"omnibus\" }\n",
            "which is an omnibus host",
        ),
        (
            "\n[[steps]]\nmattermost.move_out = { export = \"nothing\", to = \"standalone\" }\n",
            "nothing",
        ),
        (
            "\n[[steps]]\ngitlab.check_config = { host = \"omnibus\", gitlab_version = \"99.1\" }\n",
            "is not a release omnibus published",
        ),
    ] {
        let text = scenario_text(steps);
        let file = SourceFile::new("bad.toml", &text);
        let err = parse_scenario(&file, Path::new("bad.toml")).expect_err(steps);
        let rendered = err.render();
        assert!(rendered.contains(needle), "{rendered}");
        assert!(rendered.contains("bad.toml:"), "{rendered}");
    }
    for (host, needle) in [
        (
            "[hosts.standalone]\nkind = \"mattermost-standalone\"\n",
            "missing key",
        ),
        (
            "[hosts.standalone]\nkind = \"mattermost-standalone\"\nurl = \"ftp://x\"\n",
            "is not an http(s) URL",
        ),
        (
            "[hosts.standalone]\nkind = \"standalone\"\n",
            "unknown host kind",
        ),
    ] {
        let text = scenario_text("").replace(
            "[hosts.standalone]\nkind = \"mattermost-standalone\"\nurl = \"http://mattermost.example.com\"\n",
            host,
        ) + "\n[[steps]]\nmattermost.ping = {}\n";
        let file = SourceFile::new("bad.toml", &text);
        let err = parse_scenario(&file, Path::new("bad.toml")).expect_err(host);
        let rendered = err.render();
        assert!(rendered.contains(needle), "{rendered}");
        assert!(rendered.contains("bad.toml:"), "{rendered}");
    }
}

fn release_diff(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mm-harness"))
        .arg("release-diff")
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn release_diff_reports_the_behaviour_changes_between_two_gitlab_versions() {
    let (code, out, err) = release_diff(&["--from", "8.12", "--to", "18.11", "single-server"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("== single-server: passes on 18.11.0 only"),
        "{out}"
    );
    for line in [
        "-GET http://mattermost.example.com/api/v3/general/ping",
        "+GET http://mattermost.example.com/api/v4/system/ping",
        "-  version: 3.4.0",
        "+  version: 10.11.0",
        "--- GitLab 8.12.0",
        "+++ GitLab 18.11.0",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?}:\n{out}");
    }
    let (code, out, err) = release_diff(&["--from", "18.11", "--to", "18.11", "webhooks"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("== webhooks: unchanged"), "{out}");
    assert!(!out.contains("@@"), "{out}");
    let (code, _, err) = release_diff(&["--from", "7.1", "--to", "18.11"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("7.1"), "{err}");
    let (code, _, err) = release_diff(&["--from", "8.12", "--to", "18.11", "upgrade-3.1-to-3.4"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pins its behaviour"), "{err}");
}
