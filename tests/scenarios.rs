//! Every scenario of scenarios/ on the twin, asserted with insta against snapshots/<name>.snap
//! (the same files `mm-harness run` reads and writes), plus checks on the scenario files
//! themselves: they parse, each `seed` is a real heading of the documentation, negative scenarios
//! declare their failure, and no snapshot holds a secret.

use std::path::{Path, PathBuf};

use mm_harness::check::{Expectation, SnapshotMode};
use mm_harness::run::{RunOptions, ScenarioResult, ScenarioStatus, StepStatus, no_events, run};
use mm_harness::scenario::{Selection, load_file, select};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scenario_dir() -> PathBuf {
    root().join("scenarios")
}

/// Run one scenario on the twin; the runner writes its own snapshot copy into a temporary
/// directory so that insta alone asserts the checked-in file.
fn run_on_twin(name: &str) -> ScenarioResult {
    mm_harness::crypto::install_default_provider();
    let path = scenario_dir().join(format!("{name}.toml"));
    let scenario = load_file(&path).unwrap_or_else(|e| panic!("{}", e.render()));
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut opts = RunOptions::twin(tmp.path().to_path_buf());
    opts.snapshots = SnapshotMode::Update;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut summary = rt.block_on(run(vec![scenario], opts, no_events()));
    summary.scenarios.remove(0)
}

fn explain(r: &ScenarioResult) -> String {
    let mut out = format!("{} ended {:?}\n", r.name, r.status);
    for s in &r.steps {
        out.push_str(&format!(
            "  step {} {}: {:?}\n",
            s.number, s.label, s.status
        ));
    }
    out.push_str(&r.transcript);
    out
}

fn check_scenario(name: &str) {
    let r = run_on_twin(name);
    // Whatever the snapshot says, the transcript itself never carries the twin's fixed passwords.
    for u in mm_harness::twin::gitlab::GitlabUser::defaults() {
        assert!(
            !r.transcript.contains(u.password.expose()),
            "{name}: a password leaked"
        );
    }
    assert_eq!(r.status, ScenarioStatus::Passed, "{}", explain(&r));
    assert!(
        r.steps.iter().all(|s| s.status == StepStatus::Passed),
        "{}",
        explain(&r)
    );
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, r.transcript);
    });
}

macro_rules! scenario_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check_scenario($name);
            }
        )*
        const COVERED: &[&str] = &[$($name),*];
    };
}

scenario_tests! {
    single_server => "single-server",
    split_server => "split-server",
    split_server_8_12 => "split-server-8.12",
    split_server_api_v3_fails_with_410 => "split-server-api-v3",
    wrong_secret_fails_with_bad_response => "wrong-secret",
    unregistered_redirect_uri_stops_at_gitlab => "unregistered-redirect-uri",
    reauthorise => "reauthorise",
    https => "https",
    https_untrusted_certificate_fails_token_request => "https-untrusted-certificate",
    https_expired_certificate_fails_token_request => "https-expired-certificate",
    webhooks => "webhooks",
    webhooks_disabled_refuses_hooks => "webhooks-disabled",
    gitlab_only_sign_up => "gitlab-only-sign-up",
    smoke => "smoke",
    single_server_8_12 => "single-server-8.12",
    webhooks_8_12 => "webhooks-8.12",
    webhooks_disabled_8_12_by_default => "webhooks-disabled-8.12",
    deny_consent_ends_on_access_denied => "deny-consent",
    https_proxy_without_forwarded_proto_fails_token_request => "https-proxy-without-forwarded-proto",
    smtp_none_meets_no_greeting_on_465 => "smtp-none",
    smtp_none_port_25 => "smtp-none-port-25",
    smtp_tls_465 => "smtp-tls-465",
    smtp_starttls_587 => "smtp-starttls-587",
    smtp_tls_notifications_off_sends_nothing => "smtp-tls-notifications-off",
    smtp_tls_against_starttls_port_fails => "smtp-tls-against-starttls-port",
    smtp_credentials_in_clear_8_12 => "smtp-credentials-in-clear-8.12",
    smtp_keys_dropped_18_11 => "smtp-keys-dropped-18.11",
    smtp_starttls_587_env => "smtp-starttls-587-env",
    smtp_starttls_against_465_deadline_exceeded => "smtp-starttls-against-465",
    smtp_auth_without_tls_refused => "smtp-auth-without-tls",
    smtp_starttls_not_offered_is_a_downgrade => "smtp-starttls-not-offered",
    smtp_starttls_not_offered_with_auth_refused => "smtp-starttls-not-offered-auth",
    smtp_untrusted_certificate_refused => "smtp-untrusted-certificate",
    email_sign_in_off_refuses_email_log_in => "email-sign-in-off",
    deny_consent_on_8_12_is_the_missing_code_error => "deny-consent-8.12",
    second_sign_up_on_8_12_is_already_used => "second-sign-up-8.12",
    second_sign_up_on_18_signs_in => "second-sign-up",
    long_gitlab_username_is_kept => "long-gitlab-username",
    long_gitlab_username_is_kept_on_8_12 => "long-gitlab-username-8.12",
    user_creation_off_refuses_sign_up_and_new_logins => "user-creation-off",
    user_creation_off_on_8_12_still_creates_on_login => "user-creation-off-8.12",
    upgrade_3_1_to_3_4_keeps_everything => "upgrade-3.1-to-3.4",
    upgrade_3_2_via_3_3_keeps_everything => "upgrade-3.2-via-3.3",
    upgrade_3_2_to_3_4_sql_fix_restores_the_theme => "upgrade-3.2-to-3.4-sql-fix",
    upgrade_3_2_to_3_4_without_the_fix_loses_the_theme => "upgrade-3.2-to-3.4-incomplete",
    move_out_of_omnibus_keeps_data_sso_and_webhooks => "move-out-of-omnibus",
    a_taken_username_gets_a_counter => "username-taken",
    a_taken_username_gets_a_counter_on_8_12 => "username-taken-8.12",
}

#[test]
fn every_scenario_file_has_a_test() {
    let all = select(&scenario_dir(), &Selection::default())
        .unwrap_or_else(|errs| panic!("{}", errs.iter().map(|e| e.render()).collect::<String>()));
    for s in &all {
        assert!(
            COVERED.contains(&s.name.as_str()),
            "scenario {} has no test in tests/scenarios.rs",
            s.name
        );
    }
    assert_eq!(all.len(), COVERED.len());
}

/// Headings of the seed documentation, without the `#` marks.
fn seed_headings() -> Vec<String> {
    let seed = root().join("../shared/seed/gitlab-mattermost.md");
    let text = std::fs::read_to_string(&seed)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", seed.display()));
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code && line.starts_with('#') {
            out.push(line.trim_start_matches('#').trim().to_string());
        }
    }
    out
}

#[test]
fn every_seed_value_is_a_heading_of_the_documentation() {
    let headings = seed_headings();
    assert!(headings.iter().any(|h| h == "Getting started"));
    let all = select(&scenario_dir(), &Selection::default()).expect("scenarios parse");
    for s in &all {
        assert!(
            headings.contains(&s.seed),
            "{}: seed {:?} is not a heading of shared/seed/gitlab-mattermost.md",
            s.path.display(),
            s.seed
        );
    }
}

#[test]
fn negative_scenarios_declare_the_documented_failure() {
    let all = select(&scenario_dir(), &Selection::default()).expect("scenarios parse");
    let negative: Vec<_> = all
        .iter()
        .filter(|s| s.tags.iter().any(|t| t == "negative"))
        .collect();
    assert!(negative.len() >= 5, "{} negative scenarios", negative.len());
    for s in negative {
        let declared = s.steps.iter().any(|st| {
            matches!(
                st.expect,
                Some(
                    Expectation::SsoError { .. }
                        | Expectation::AccessDenied
                        | Expectation::GitlabError { .. }
                        | Expectation::WebhookError { .. }
                        | Expectation::ApiError { .. }
                        | Expectation::Theme { value: None }
                        | Expectation::MailError { .. }
                        | Expectation::NoMail
                        | Expectation::Certificate {
                            trusted: Some(false),
                            ..
                        }
                )
            )
        });
        assert!(declared, "{} declares no expected failure", s.name);
    }
}

fn snap_files() -> Vec<PathBuf> {
    let dir = root().join("snapshots");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "snap"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn no_snapshot_holds_a_secret() {
    let mut secrets: Vec<String> = mm_harness::twin::gitlab::GitlabUser::defaults()
        .into_iter()
        .map(|u| u.password.expose().to_string())
        .collect();
    secrets.push(
        mm_harness::twin::mattermost::MattermostAdmin::default()
            .password
            .expose()
            .to_string(),
    );
    secrets.retain(|s| !s.is_empty());
    let token_like = regex::Regex::new(
        r"(glpat-|gloas-|gldt-|[0-9a-f]{32,}|MMAUTHTOKEN=[^\[;\s]|password=[^\[&\s]|secret=[^\[&\s])",
    )
    .expect("regex");
    let files = snap_files();
    assert!(!files.is_empty(), "no snapshots found");
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable snapshot");
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "{} contains a twin password",
                f.display()
            );
        }
        if let Some(m) = token_like.find(&text) {
            panic!(
                "{} contains a token-like value at {:?}",
                f.display(),
                m.as_str()
            );
        }
    }
}

#[test]
fn every_snapshot_belongs_to_a_scenario() {
    for f in snap_files() {
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = stem.split('@').next().unwrap_or_default().to_string();
        assert!(
            Path::new(&scenario_dir().join(format!("{name}.toml"))).is_file(),
            "snapshot {} has no scenario",
            f.display()
        );
    }
}

/// The stack exposes the twin's SMTP sink (the slot the `mail.*` steps of a later issue read): an
/// email sign-up with email notifications on and an SMTP server configured in gitlab.rb (through
/// `mattermost['env']` on GitLab 18) makes the account an administrator creates leave
/// Mattermost's welcome mail there. (SSO sign-ups send none, as on the real server.)
#[test]
fn twin_stack_exposes_the_mail_sink() {
    use mm_harness::config::Secret;
    use mm_harness::drive::mattermost_admin::MattermostApi;
    use mm_harness::drive::{Browser, Reach, Transcript};
    use mm_harness::scenario::parse_scenario;
    use mm_harness::stack::resolve::resolve_host;
    use mm_harness::stack::{Stack, StackNeeds, TargetSpec};

    mm_harness::crypto::install_default_provider();
    let text = r#"
name = "mail-sink"
summary = "x"
seed = "Setting up SMTP for GitLab Mattermost"
[hosts.omnibus]
gitlab_rb = '''
external_url 'http://gitlab.example.com'
mattermost_external_url 'http://mattermost.example.com'
mattermost['env'] = {
  'MM_EMAILSETTINGS_SENDEMAILNOTIFICATIONS' => 'true',
  'MM_EMAILSETTINGS_SMTPSERVER' => 'smtp.example.com',
  'MM_EMAILSETTINGS_SMTPPORT' => '25',
  'MM_EMAILSETTINGS_FEEDBACKEMAIL' => 'mattermost@example.com',
}
'''
[[steps]]
mattermost.ping = {}
"#;
    let file = mm_harness::diag::SourceFile::new("mail-sink.toml", text);
    let scenario = parse_scenario(&file, Path::new("mail-sink.toml"))
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let (host, _) = resolve_host(
        &scenario,
        &scenario.hosts[0],
        &Default::default(),
        scenario.gitlab_version,
    )
    .expect("gitlab.rb resolves");
    assert_eq!(
        host.settings.mattermost.email.smtp_server,
        "smtp.example.com"
    );
    assert!(
        host.gitlab_rb
            .expose()
            .contains("'MM_EMAILSETTINGS_SMTPSERVER' => 'smtp.example.com'"),
        "the resolved host keeps its filled gitlab.rb"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let stack = Stack::up(
            &TargetSpec::twin(),
            std::slice::from_ref(&host),
            &StackNeeds::of(&scenario),
        )
        .await
        .expect("twin up");
        let info = stack.info().clone();
        let reach = Reach {
            book: info.book.clone(),
            roots: info.roots.clone(),
            timeout: std::time::Duration::from_secs(10),
            accept_invalid_certs: false,
        };
        let browser = Browser::api_client(&reach).expect("client");
        let mut tr = Transcript::new();
        let admin = info.mattermost_admin.clone().expect("admin");
        let api = MattermostApi::login(
            &browser,
            &info.mattermost_url.clone().expect("mattermost"),
            &admin.login,
            &admin.password,
            &mut tr,
        )
        .await
        .expect("admin login");
        api.create_user(
            &browser,
            "carol",
            "carol@example.com",
            &Secret::new("Carol-pass-123"),
            &mut tr,
        )
        .await
        .expect("create user");
        let mut mails = Vec::new();
        for _ in 0..50 {
            mails = stack.mailbox().expect("the twin has a mail sink");
            if !mails.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(!mails.is_empty(), "no mail reached the sink");
        assert_eq!(mails[0].envelope_from, "mattermost@example.com");
        assert_eq!(mails[0].envelope_to, vec!["carol@example.com".to_string()]);
        assert_eq!(mails[0].ehlo_name, "mattermost.example.com");
        stack.down().await;
    });
}

#[test]
fn transcripts_are_deterministic_across_runs() {
    let a = run_on_twin("reauthorise");
    let b = run_on_twin("reauthorise");
    assert_eq!(a.status, ScenarioStatus::Passed, "{}", explain(&a));
    assert_eq!(a.transcript, b.transcript);
}
