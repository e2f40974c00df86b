//! `upgrade-plan`: every special case of the seed, pairs across the documentation's wrong rows,
//! 18.x → 19.x at several patch levels with a gitlab.rb that uses bundled Mattermost, the
//! Markdown checklist as a snapshot, and the binary's exit codes.

use std::process::Command;

use mm_harness::config::REDACTED;
use mm_harness::diag::SourceFile;
use mm_harness::report::upgrade::{human, json, markdown};
use mm_harness::upgrade::mattermost_rules::Verdict;
use mm_harness::upgrade::plan::{HopReason, UpgradePlan};
use mm_harness::upgrade::versions::parse_version_arg;
use mm_harness::upgrade::{Outcome, PlanInput, UpgradeErrorKind, plan};

/// The seed's single server: GitLab and bundled Mattermost on one host.
const SINGLE_SERVER: &str = "external_url 'http://gitlab.example.com'\nmattermost_external_url 'http://mattermost.example.com'\nmattermost['service_enable_incoming_webhooks'] = true\n";
/// The seed's SMTP block (8.x-10.x keys) on a single server.
const SMTP_10: &str = "external_url 'http://gitlab.example.com'\nmattermost_external_url 'http://mattermost.example.com'\nmattermost['email_enable_sign_up_with_email'] = false\nmattermost['email_smtp_username'] = \"username\"\nmattermost['email_smtp_password'] = \"hunter2-smtp\"\nmattermost['email_smtp_server'] = \"smtp.example.com\"\nmattermost['email_smtp_port'] = \"587\"\nmattermost['email_connection_security'] = 'STARTTLS'\n";
/// A GitLab that never used Mattermost.
const NO_MATTERMOST: &str = "external_url 'http://gitlab.example.com'\n";
/// The seed's split-server Mattermost host with its application secret.
const SPLIT: &str = "mattermost_external_url 'http://mattermost.example.com'\nmattermost['gitlab_enable'] = true\nmattermost['gitlab_id'] = \"12345656\"\nmattermost['gitlab_secret'] = \"123456789abcdef\"\nmattermost['gitlab_scope'] = \"\"\nmattermost['gitlab_auth_endpoint'] = \"http://gitlab.example.com/oauth/authorize\"\nmattermost['gitlab_token_endpoint'] = \"http://gitlab.example.com/oauth/token\"\nmattermost['gitlab_user_api_endpoint'] = \"http://gitlab.example.com/api/v4/user\"\ngitlab_rails['enable'] = false\n";

fn input(from: &str, to: &str, rb: Option<&str>) -> PlanInput {
    PlanInput {
        from: parse_version_arg(from).unwrap(),
        to: parse_version_arg(to).unwrap(),
        gitlab_rb: rb.map(|t| SourceFile::new("gitlab.rb", t)),
        config_json: None,
        today: "2026-12-01".into(),
        licensed: false,
    }
}

fn run(from: &str, to: &str, rb: Option<&str>) -> UpgradePlan {
    plan(&input(from, to, rb)).unwrap()
}

fn note_ids(p: &UpgradePlan) -> Vec<&'static str> {
    p.hops
        .iter()
        .flat_map(|h| {
            h.mattermost
                .iter()
                .flat_map(|s| s.notes.iter().map(|n| n.id))
        })
        .collect()
}

fn gate_ids(p: &UpgradePlan, blocking: bool) -> Vec<&'static str> {
    p.hops
        .iter()
        .flat_map(|h| {
            h.gate
                .iter()
                .filter(move |g| g.blocks || !blocking)
                .map(|g| g.rule.id)
        })
        .collect()
}

fn hop_targets(p: &UpgradePlan) -> Vec<String> {
    p.hops.iter().map(|h| h.to.gitlab.to_string()).collect()
}

#[test]
fn pre_8_9_upgrade_needs_the_db2_settings_and_starts_from_8_8() {
    let p = run("8.8.9", "8.9.11", Some(SINGLE_SERVER));
    assert!(note_ids(&p).contains(&"mattermost.pre-3.0-db2-settings"));
    let text = human(&p);
    assert!(text.contains("db2_backup_created"), "{text}");
    assert!(text.contains("db2_team_name"));
    assert!(
        text.contains("renamed"),
        "duplicate accounts must be named: {text}"
    );
    // From before 8.8 the plan goes through GitLab 8.8 (Mattermost 2.2.0).
    let p = run("8.5.0", "8.9.11", None);
    assert_eq!(p.outcome, Outcome::MustSplit);
    assert_eq!(hop_targets(&p), ["8.8.9", "8.9.11"]);
    assert!(matches!(p.hops[0].reason, HopReason::MattermostStop { .. }));
}

#[test]
fn from_3_2_to_3_4_is_split_via_8_11_or_fixed_with_the_sql() {
    let p = run("8.10.13", "8.12.13", None);
    assert_eq!(p.outcome, Outcome::MustSplit);
    assert_eq!(hop_targets(&p), ["8.11.11", "8.12.13"]);
    let first = p.hops[0].mattermost.as_ref().unwrap();
    assert_eq!(
        (first.from.to_string(), first.to.to_string()),
        ("3.2.0".into(), "3.3.0".into())
    );
    assert_eq!(
        p.hops[1].mattermost.as_ref().unwrap().verdict,
        Verdict::Supported
    );
    let md = markdown(&p);
    assert!(
        md.contains("UPDATE Systems SET Value = '3.1.0' WHERE Name = 'Version';"),
        "{md}"
    );
    // Beyond 3.4 the same 3.4 upgrade code is crossed.
    let p = run("8.10.0", "8.14.10", None);
    assert!(note_ids(&p).contains(&"mattermost.3.2-to-3.4-skipped-migration"));
}

/// The plan's verdicts on every 3.x pair, held against the twin's replay of each release's
/// start-up migrations (`twin/mattermost/schema.rs`, read from the release tags): where the plan
/// finds nothing, the direct upgrade keeps a user's theme; where it flags the skipped migration,
/// the direct upgrade loses it, and both remedies the plan prints (its split path, the SQL) keep it.
#[test]
fn the_plans_3x_verdicts_agree_with_the_twins_schema_replay() {
    use mm_harness::twin::mattermost::schema::{Database, Release, SQL_FIX_3_4, start};
    assert_eq!(
        SQL_FIX_3_4,
        mm_harness::upgrade::mattermost_rules::SQL_FIX_3_4
    );
    let theme = r#"{"codeTheme":"github"}"#;
    let seeded = |r: Release| {
        let mut db = Database::installed_by(r);
        db.add_user("u1", "alice", Some(theme));
        db
    };
    let mut checked = 0;
    for from in Release::ALL {
        for to in Release::ALL.into_iter().filter(|t| *t > from) {
            let p = run(from.gitlab(), to.gitlab(), None);
            let flagged = note_ids(&p).contains(&"mattermost.3.2-to-3.4-skipped-migration");
            let mut direct = seeded(from);
            start(to, &mut direct).unwrap();
            let kept = direct.theme_shown(to, "u1").is_some();
            assert_eq!(
                flagged, !kept,
                "{from} → {to}: plan flags {flagged}, theme kept {kept}"
            );
            if flagged {
                let mut split = seeded(from);
                for hop in &p.hops {
                    let mm = hop.mattermost.as_ref().unwrap();
                    let r = Release::parse(&mm.to.to_string()).unwrap();
                    start(r, &mut split).unwrap();
                }
                assert!(
                    split.theme_shown(to, "u1").is_some(),
                    "split path {:?}",
                    hop_targets(&p)
                );
                let mut fixed = direct.clone();
                fixed.run_sql(SQL_FIX_3_4).unwrap();
                start(to, &mut fixed).unwrap();
                assert!(fixed.theme_shown(to, "u1").is_some());
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
}

#[test]
fn from_3_1_straight_to_3_4_is_supported_and_warns_about_public_links() {
    let p = run("8.9.11", "8.12.0", None);
    assert_eq!(p.outcome, Outcome::Supported);
    assert_eq!(hop_targets(&p), ["8.12.0"]);
    assert!(note_ids(&p).contains(&"mattermost.3.4-public-links-invalidated"));
    let crossed: Vec<String> = p.crossed.iter().map(|(m, _)| m.to_string()).collect();
    assert_eq!(crossed, ["3.2.0", "3.3.0", "3.4.0"]);
}

#[test]
fn public_links_from_config_json_decide_the_3_4_note() {
    let mut i = input("8.11.0", "8.12.0", Some(SINGLE_SERVER));
    i.config_json = Some(SourceFile::new(
        "config.json",
        "{\n  \"FileSettings\": {\n    \"EnablePublicLink\": true\n  }\n}\n",
    ));
    let p = plan(&i).unwrap();
    assert_eq!(p.installed.as_ref().unwrap().public_links, Some(true));
    assert!(human(&p).contains("public links are enabled"));
}

#[test]
fn keys_dropped_at_11_0_are_found_in_the_gitlab_rb_with_their_lines() {
    let p = run("10.8.7", "11.0.6", Some(SMTP_10));
    let dropped: Vec<(String, usize)> = p
        .installed
        .as_ref()
        .unwrap()
        .dropped_keys
        .iter()
        .map(|k| (k.key.clone(), k.line))
        .collect();
    assert!(
        dropped.contains(&("mattermost['email_smtp_server']".to_string(), 6)),
        "{dropped:?}"
    );
    assert!(
        dropped
            .iter()
            .any(|(k, _)| k == "mattermost['email_smtp_password']")
    );
    assert!(!json(&p).contains("hunter2-smtp"));
}

#[test]
fn settings_changed_outside_gitlab_rb_are_listed_from_the_drift_check() {
    let mut i = input("10.7.0", "10.8.7", Some(SINGLE_SERVER));
    i.config_json = Some(SourceFile::new(
        "config.json",
        "{\n  \"ServiceSettings\": {\n    \"SiteURL\": \"http://mattermost.example.com\",\n    \"EnableIncomingWebhooks\": false\n  }\n}\n",
    ));
    let p = plan(&i).unwrap();
    let drift = &p.installed.as_ref().unwrap().drift;
    let d = drift
        .iter()
        .find(|d| d.path == "ServiceSettings.EnableIncomingWebhooks")
        .expect("drift found");
    assert_eq!(d.config_json_line, 4);
    assert!(
        d.consequence.contains("lost by the upgrade"),
        "{}",
        d.consequence
    );
}

#[test]
fn pairs_across_the_documentations_wrong_rows_use_the_package_versions() {
    // The GitLab docs say 17.9 ships Mattermost 10.4; every 17.9 patch ships 10.2.3.
    let p = run("17.8.7", "17.9.8", None);
    assert_eq!(p.to.mattermost.unwrap().to_string(), "10.2.3");
    assert_eq!(p.to.source, "17.9.8+ce.0:config/software/mattermost.rb:21");
    let p = run("17.9.8", "17.10.8", None);
    let step = p.hops[0].mattermost.as_ref().unwrap();
    assert_eq!(
        (step.from.to_string(), step.to.to_string()),
        ("10.2.3".into(), "10.4.5".into())
    );
    // A line's first patch can ship an older Mattermost patch than the previous line's last.
    let p = run("18.10.8", "18.11.0", None);
    assert!(note_ids(&p).contains(&"mattermost.patch-downgrade"));
    // The required stops of each package's preinst make the path.
    let p = run("17.11.7", "19.0.8", Some(SINGLE_SERVER));
    assert_eq!(
        hop_targets(&p),
        ["18.2.8", "18.5.7", "18.8.11", "18.11.11", "19.0.8"]
    );
}

#[test]
fn gitlab_19_gate_depends_on_the_source_and_target_patch_levels() {
    // 18.11.6: the package installs; 19.0's reconfigure rejects the mattermost keys.
    let p = run("18.11.6", "19.0.0", Some(SINGLE_SERVER));
    assert_eq!(p.outcome, Outcome::Blocked);
    assert_eq!(
        gate_ids(&p, true),
        ["omnibus.reconfigure.any-mattermost-key-19.0"]
    );
    // 18.11.7 blocks at preinst even a GitLab without Mattermost.
    let p = run("18.11.7", "19.1.0", Some(NO_MATTERMOST));
    assert_eq!(
        gate_ids(&p, true),
        ["omnibus.preinst.any-mattermost-key-18.11.7"]
    );
    assert!(p.move_out.is_none());
    // 18.11.9: only bundled use blocks at preinst.
    let p = run("18.11.9", "19.2.4", Some(NO_MATTERMOST));
    assert!(gate_ids(&p, true).is_empty(), "{:?}", gate_ids(&p, false));
    assert_eq!(p.outcome, Outcome::Supported);
    let p = run("18.11.9", "19.2.4", Some(SINGLE_SERVER));
    assert!(gate_ids(&p, true).contains(&"omnibus.preinst.enable-true-18.11.8"));
    assert_eq!(p.outcome, Outcome::Blocked);
    // 19.3 needs 19.2 first and only rejects enable = true.
    let p = run("18.11.11", "19.3.0", Some(SINGLE_SERVER));
    assert_eq!(hop_targets(&p), ["19.2.4", "19.3.0"]);
    let last = p.hops.last().unwrap();
    assert!(last.gate.iter().all(|g| !g.blocks), "{:?}", last.gate);
    // 18.11.8 enables bundled Mattermost by accident on installations that never set it.
    let p = run("18.11.8", "19.0.0", Some(NO_MATTERMOST));
    assert!(gate_ids(&p, false).contains(&"omnibus.18.11.8.accidental-enable"));
}

#[test]
fn moving_out_lists_what_to_export_the_settings_the_oauth_app_and_the_version() {
    let p = run("18.11.9", "19.0.8", Some(SPLIT));
    let m = p.move_out.as_ref().expect("bundled Mattermost in use");
    assert_eq!(m.export_on.to_string(), "18.11.9");
    assert_eq!(m.minimum_mattermost.to_string(), "10.11.20");
    assert_eq!(m.recommended_mattermost.to_string(), "11.7.1");
    let text = human(&p);
    let secret = format!("MM_GITLABSETTINGS_SECRET={REDACTED}");
    for needle in [
        "pg_dump -h /var/opt/gitlab/postgresql mattermost_production",
        "config.json data plugins client-plugins",
        "sql_at_rest_encrypt_key",
        "MM_GITLABSETTINGS_ID=12345656",
        secret.as_str(),
        "gitlab_rails['mattermost_host'] = \"http://mattermost.example.com\"",
        "http://mattermost.example.com/signup/gitlab/complete",
        "Professional",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    for out in [human(&p), json(&p), markdown(&p)] {
        assert!(!out.contains("123456789abcdef"), "secret printed");
    }
    let keys: Vec<&str> = m.remove_keys.iter().map(|(k, _)| k.as_str()).collect();
    assert!(keys.contains(&"mattermost['gitlab_secret']"));
    assert!(keys.contains(&"mattermost_external_url"));
}

#[test]
fn bad_versions_are_bad_input_with_the_known_range() {
    let e = parse_version_arg("eighteen").unwrap_err();
    assert_eq!(e.kind, UpgradeErrorKind::BadVersion);
    assert!(e.to_string().contains("7.14.0 … 19.3.0"), "{e}");
    let e = plan(&input("18.11.10", "19.0.0", None)).unwrap_err();
    assert_eq!(e.kind, UpgradeErrorKind::UnknownRelease);
    assert!(e.to_string().contains("18.11.9, 18.11.11"), "{e}");
    let e = plan(&input("19.0.0", "18.11.0", None)).unwrap_err();
    assert_eq!(e.kind, UpgradeErrorKind::Downgrade);
    let e = plan(&input("6.0", "8.0", None)).unwrap_err();
    assert_eq!(e.kind, UpgradeErrorKind::UnknownRelease);
}

#[test]
fn markdown_checklist_for_18_11_to_19_with_bundled_mattermost() {
    insta::assert_snapshot!(markdown(&run("18.11.9", "19.2.4", Some(SINGLE_SERVER))));
}

#[test]
fn markdown_checklist_for_the_3_2_to_3_4_special_case() {
    insta::assert_snapshot!(markdown(&run("8.10.13", "8.12.13", Some(SINGLE_SERVER))));
}

fn bin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mm-harness"))
        .arg("upgrade-plan")
        .args(args)
        .args(["--today", "2026-12-01"])
        .output()
        .expect("run mm-harness")
}

#[test]
fn the_binary_exits_0_supported_1_split_or_blocked_2_bad_input() {
    let ok = bin(&["--from", "18.10.8", "--to", "18.11.11"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let split = bin(&["--from", "8.10", "--to", "8.12", "--format", "json"]);
    assert_eq!(split.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&split.stdout).expect("json");
    assert_eq!(v["outcome"], "must-split");
    let blocked = bin(&["--from", "18.11.9", "--to", "19.0.0"]);
    assert_eq!(blocked.status.code(), Some(1));
    let bad = bin(&["--from", "18.11.10", "--to", "19.0"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("GitLab 18.11.10 was never released") && err.contains("7.14.0 … 19.3.0"),
        "{err}"
    );
    let bad = bin(&["--from", "x", "--to", "19.0"]);
    assert_eq!(bad.status.code(), Some(2));
    let missing = bin(&[
        "--from",
        "18.11",
        "--to",
        "19.0",
        "--gitlab-rb",
        "/nonexistent/gitlab.rb",
    ]);
    assert_eq!(missing.status.code(), Some(2));
}

/// Run the binary under a 1 GiB address-space limit, so a regression that blows up on hostile
/// input fails this test instead of the machine.
fn bin_limited(args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576; exec \"$0\" upgrade-plan \"$@\"")
        .arg(env!("CARGO_BIN_EXE_mm-harness"))
        .args(args)
        .output()
        .expect("run mm-harness under sh")
}

#[test]
fn hostile_files_are_bad_input_under_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    // Nesting, control characters and a terminal escape in a key name. The depth stays at 2,000:
    // the gitlab.rb parser (config/) is super-linear in nesting depth today (4,000 levels: 5 s and
    // 109 MB; 16,000: over 20 s and 1.4 GB), which the config area owns.
    let mut garbage = "mattermost['\u{1b}[31mevil'] = ".to_string();
    garbage.push_str(&"[".repeat(2_000));
    garbage.push_str("\u{0}\u{7}\n");
    let rb = dir.path().join("gitlab.rb");
    std::fs::write(&rb, &garbage).unwrap();
    let out = bin_limited(&[
        "--from",
        "18.11.9",
        "--to",
        "19.0.0",
        "--gitlab-rb",
        rb.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\u{1b}'), "raw escape reached the terminal");
    assert!(!err.contains("panicked"));
    // Larger than any gitlab.rb: refused before parsing.
    let big = dir.path().join("big.rb");
    std::fs::write(&big, vec![b'#'; 5 * 1024 * 1024]).unwrap();
    let out = bin_limited(&[
        "--from",
        "18.11.9",
        "--to",
        "19.0.0",
        "--gitlab-rb",
        big.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than"));
    // A config.json that is not JSON.
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, "{\"ServiceSettings\": {\"SiteURL\": ").unwrap();
    std::fs::write(
        &rb,
        "mattermost_external_url 'http://mattermost.example.com'\n",
    )
    .unwrap();
    let out = bin_limited(&[
        "--from",
        "10.7.0",
        "--to",
        "10.8.7",
        "--gitlab-rb",
        rb.to_str().unwrap(),
        "--config-json",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
