//! Upgrades on the twin (issue 11): the twin's Mattermost keeps the database a bundled release
//! installed and restarts on another release with `schema::start`. Tested from the outside with
//! plain reqwest (themes over `/api/v3/preferences/*`, counts over `/api/v3/admin/analytics/*`, a
//! halted start answering 502), through the runner (a halt fails the step as a protocol failure
//! with the release's message), and at parse time (bad SQL, a version the twin cannot install).

use std::path::Path;
use std::sync::Arc;

use mm_harness::check::SnapshotMode;
use mm_harness::config::model::MattermostSettings;
use mm_harness::config::version::Profile;
use mm_harness::diag::SourceFile;
use mm_harness::run::{Failure, RunOptions, StepStatus, no_events, run};
use mm_harness::scenario::parse_scenario;
use mm_harness::twin::mattermost::schema::{Column, Release};
use mm_harness::twin::mattermost::{MattermostAdmin, MattermostTwin, MattermostTwinConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::mattermost::{MM_SITE, MmApi, assert_app_error, mm_client, serve};

const THEME: &str = r##"{"sidebarBg":"#2071a7","codeTheme":"github"}"##;
const SEED_SQL: &str = "UPDATE Systems SET Value = '3.1.0' WHERE Name = 'Version'";

fn twin() -> Arc<MattermostTwin> {
    MattermostTwin::new(MattermostTwinConfig {
        profile: Profile::Gitlab8_12,
        settings: MattermostSettings::defaults(Profile::Gitlab8_12),
        ..Default::default()
    })
}

async fn admin(addr: std::net::SocketAddr) -> MmApi {
    let a = MattermostAdmin::default();
    MmApi::login(addr, "v3", &a.email, a.password.expose())
        .await
        .unwrap_or_else(|(s, v)| panic!("login {s}: {v}"))
}

async fn theme(api: &MmApi) -> Option<String> {
    let (status, body) = api
        .call(Method::GET, "/api/v3/preferences/theme", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let list = body.as_array().expect("a list");
    assert!(list.len() <= 1, "{body}");
    list.first()
        .map(|p| p["value"].as_str().unwrap().to_string())
}

async fn save(api: &MmApi, user_id: &str, value: &str) -> (u16, Value) {
    api.call(
        Method::POST,
        "/api/v3/preferences/save",
        Some(json!([{"user_id": user_id, "category": "theme", "name": "", "value": value}])),
    )
    .await
}

#[tokio::test]
async fn a_3_2_theme_is_lost_by_3_4_and_restored_by_the_seeds_sql() {
    let mm = twin();
    mm.install_release(Release::V3_2);
    let addr = serve(mm.router()).await;
    let api = admin(addr).await;
    let me = mm.admin_user_id().to_string();
    let (status, body) = save(&api, &me, THEME).await;
    assert_eq!((status, body), (200, json!(true)));
    // 3.2 keeps themes in Users.ThemeProps, not in Preferences.
    let db = mm.database();
    assert!(db.has(Column::UsersThemeProps));
    assert_eq!(
        db.users.iter().find(|u| u.id == me).unwrap().theme_props,
        THEME
    );
    assert!(db.preferences.is_empty());
    assert_eq!(theme(&api).await.as_deref(), Some(THEME));

    mm.restart_on(Release::V3_4).expect("3.4 starts on 3.2");
    assert_eq!(theme(&api).await, None, "3.4 skipped the theme move");
    assert!(mm.database().has(Column::UsersThemeProps));

    assert_eq!(mm.run_sql(SEED_SQL), Ok(1));
    mm.restart_on(Release::V3_4).expect("3.4 starts on 3.1.0");
    assert_eq!(theme(&api).await.as_deref(), Some(THEME));
    assert!(!mm.database().has(Column::UsersThemeProps));
}

#[tokio::test]
async fn preferences_are_the_callers_and_garbage_is_400() {
    let mm = twin();
    let addr = serve(mm.router()).await;
    let api = admin(addr).await;
    let (status, body) = save(&api, "someone-else", THEME).await;
    assert_app_error(
        status,
        &body,
        403,
        "api.preference.save_preferences.set.app_error",
    );
    for garbage in [json!({"not": "a list"}), json!("x"), json!([1, 2])] {
        let (status, body) = api
            .call(Method::POST, "/api/v3/preferences/save", Some(garbage))
            .await;
        // `[1, 2]` decodes as preferences with empty user ids: not the caller's.
        assert!(status == 400 || status == 403, "{status} {body}");
    }
    let resp = mm_client(addr)
        .post(format!("{MM_SITE}/api/v3/preferences/save"))
        .header("Authorization", format!("Bearer {}", api.token))
        .body("{{{ not json")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_app_error(
        status,
        &body,
        400,
        "api.preference.save_preferences.decode.app_error",
    );
    // A 3.4 install stores themes as preferences.
    assert_eq!(save(&api, mm.admin_user_id(), THEME).await.0, 200);
    assert_eq!(mm.database().preferences.len(), 1);
    let (status, _) = mm_client(addr)
        .get(format!("{MM_SITE}/api/v3/preferences/theme"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401, "no session");
}

#[tokio::test]
async fn analytics_count_for_the_admin() {
    let mm = twin();
    let addr = serve(mm.router()).await;
    let api = admin(addr).await;
    let (status, body) = api
        .call(Method::GET, "/api/v3/admin/analytics/standard", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let value = |name: &str| {
        body.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["value"].as_f64().unwrap())
    };
    assert_eq!(value("unique_user_count"), Some(1.0), "the admin");
    assert_eq!(value("team_count"), Some(0.0));
    let (status, body) = api
        .call(Method::GET, "/api/v3/admin/analytics/extra_counts", None)
        .await;
    assert_eq!(status, 200);
    assert!(
        body.as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "incoming_webhook_count")
    );
}

#[tokio::test]
async fn a_halted_start_leaves_nginx_answering_502_until_a_release_starts() {
    let mm = twin();
    let addr = serve(mm.router()).await;
    let http = mm_client(addr);
    let halt = mm
        .restart_on(Release::V3_1)
        .expect_err("3.1 refuses a 3.4 database");
    assert_eq!(halt.exit_code, None, "3.1's NewSqlStore panics");
    assert!(halt.message.contains("3.4.0"), "{}", halt.message);
    let resp = http
        .get(format!("{MM_SITE}/api/v3/general/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert!(resp.text().await.unwrap().contains("502 Bad Gateway"));
    mm.restart_on(Release::V3_4).expect("3.4 starts again");
    let resp = http
        .get(format!("{MM_SITE}/api/v3/general/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

fn scenario_text(steps: &str) -> String {
    format!(
        r#"name = "upgrade-test"
summary = "upgrade test"
seed = "Upgrading GitLab Mattermost"
gitlab_version = "8.12"

[hosts.omnibus]
gitlab_rb = '''
external_url 'http://gitlab.example.com'
mattermost_external_url 'http://mattermost.example.com'
'''
{steps}"#
    )
}

#[test]
fn a_downgrade_fails_the_step_with_the_releases_message() {
    mm_harness::crypto::install_default_provider();
    let text = scenario_text(
        "\n[[steps]]\ngitlab.upgrade = { to = \"8.9\" }\n\n[[steps]]\nmattermost.ping = {}\n",
    );
    let file = SourceFile::new("upgrade-test.toml", &text);
    let scenario = parse_scenario(&file, Path::new("upgrade-test.toml"))
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = RunOptions::twin(tmp.path().to_path_buf());
    opts.snapshots = SnapshotMode::Update;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut summary = rt.block_on(run(vec![scenario], opts, no_events()));
    let r = summary.scenarios.remove(0);
    match &r.steps[0].status {
        StepStatus::Failed {
            failure: Failure::Protocol { message },
        } => assert!(
            message.contains("Mattermost 3.1.0 panicked") && message.contains("3.4.0"),
            "{message}"
        ),
        other => panic!("{other:?}\n{}", r.transcript),
    }
}

#[test]
fn bad_sql_and_uninstallable_versions_are_refused_at_parse_time_with_their_line() {
    for (step, line, needle) in [
        (
            "mattermost.run_sql = { statement = \"DROP TABLE Users\" }",
            13,
            "runs only",
        ),
        (
            "gitlab.upgrade = { to = \"9.0\" }",
            13,
            "cannot upgrade to GitLab",
        ),
        (
            "gitlab.upgrade = { to = \"banana\" }",
            13,
            "cannot upgrade to GitLab",
        ),
    ] {
        let text = scenario_text(&format!("\n[[steps]]\n{step}\n"));
        let file = SourceFile::new("bad.toml", &text);
        let err = parse_scenario(&file, Path::new("bad.toml")).expect_err(step);
        let rendered = err.render();
        assert!(rendered.contains(needle), "{rendered}");
        assert!(
            rendered.contains(&format!("bad.toml:{line}:")),
            "{rendered}"
        );
    }
}
