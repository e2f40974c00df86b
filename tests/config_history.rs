//! What omnibus's release history says a gitlab.rb does, per GitLab version (issue 13): the
//! derivations that arrived in 9.0-10.0 and are absent on 8.12, the OAuth auto-registration on
//! 8.x and 18.11, advice that would break SSO, API v3 on GitLab 11+, inert and contradicting
//! settings, what each 19.x release refuses, and keys only the cookbooks' attributes know.

use mm_harness::config::{
    KeyStatus, Resolved, SettingSource, drift, key_status, read_config_json, resolve,
};
use mm_harness::diag::{Severity, SourceFile};

fn run(text: &str, version: &str) -> Resolved {
    resolve(
        &SourceFile::new("gitlab.rb", text),
        version.parse().unwrap(),
    )
}

fn value(r: &Resolved, path: &str) -> serde_json::Value {
    r.effective
        .get(path)
        .unwrap_or_else(|| panic!("{path}"))
        .value
        .clone()
}

fn source(r: &Resolved, path: &str) -> SettingSource {
    r.effective
        .get(path)
        .unwrap_or_else(|| panic!("{path}"))
        .source
        .clone()
}

fn has(r: &Resolved, code: &str) -> bool {
    r.diagnostics.iter().any(|d| d.code == code)
}

const SAME_HOST: &str = "external_url 'http://gitlab.example.com'\nmattermost_external_url 'http://mattermost.example.com'\n";

#[test]
fn gitlab_8_12_leaves_site_url_empty_and_registers_the_oauth_application() {
    let r = run(SAME_HOST, "8.12");
    // omnibus 8.12 has no `service_site_url ||=` (9.2) and no endpoint `||=` (9.0).
    assert_eq!(value(&r, "ServiceSettings.SiteURL"), "");
    // authorize_with_gitlab (8.12.0+ce.0:files/gitlab-cookbooks/gitlab/libraries/helper.rb:195)
    // sets Enable, a generated id/secret and the v3 endpoints.
    assert_eq!(value(&r, "GitLabSettings.Enable"), true);
    assert_eq!(
        value(&r, "GitLabSettings.UserAPIEndpoint"),
        "http://gitlab.example.com/api/v3/user"
    );
    assert_eq!(
        source(&r, "GitLabSettings.Secret"),
        SettingSource::AutoRegistration { generated: true }
    );
    let shown = r
        .effective
        .get("GitLabSettings.Id")
        .unwrap()
        .display_value();
    assert_eq!(shown, "(generated on reconfigure)");
    // 9.2 derives SiteURL; 9.0-9.4 derive the v3 endpoint, 9.5 on v4.
    let r = run(SAME_HOST, "9.2");
    assert_eq!(
        value(&r, "ServiceSettings.SiteURL"),
        "http://mattermost.example.com"
    );
    assert_eq!(
        value(&r, "GitLabSettings.UserAPIEndpoint"),
        "http://gitlab.example.com/api/v3/user"
    );
    let r = run(SAME_HOST, "9.5");
    assert_eq!(
        value(&r, "GitLabSettings.UserAPIEndpoint"),
        "http://gitlab.example.com/api/v4/user"
    );
    // The untrusted-internal-connections append arrived in 10.0.
    let r = run(SAME_HOST, "9.5");
    assert_eq!(
        value(&r, "ServiceSettings.AllowedUntrustedInternalConnections"),
        ""
    );
    let r = run(SAME_HOST, "10.0");
    assert_eq!(
        value(&r, "ServiceSettings.AllowedUntrustedInternalConnections"),
        " gitlab.example.com"
    );
}

#[test]
fn gitlab_18_11_auto_registration_turns_sso_on_and_config_json_shows_no_false_drift() {
    let r = run(SAME_HOST, "18.11");
    assert_eq!(value(&r, "GitLabSettings.Enable"), "true");
    assert_eq!(
        source(&r, "GitLabSettings.Enable"),
        SettingSource::AutoRegistration { generated: false }
    );
    assert_eq!(
        source(&r, "GitLabSettings.Secret"),
        SettingSource::AutoRegistration { generated: true }
    );
    // The config.json a real 18.11 reconfigure leaves: SSO on with the generated application.
    let cfg = SourceFile::new(
        "config.json",
        r#"{"GitLabSettings": {"Enable": true, "Id": "b7c2generated", "Secret": "s3cr3tgenerated", "Scope": ""}}"#,
    );
    let c = read_config_json(&cfg).unwrap();
    let drifted = drift(&r, &c);
    assert!(drifted.is_empty(), "{drifted:?}");
    // A split server (no GitLab Rails here): no registration, Enable keeps the default.
    let r = run(
        "mattermost_external_url 'http://mattermost.example.com'\ngitlab_rails['enable'] = false\n",
        "18.11",
    );
    assert_eq!(value(&r, "GitLabSettings.Enable"), "false");
    // register_as_oauth_app = false (15.4 on) keeps the file's own values.
    let r = run(
        &format!("{SAME_HOST}mattermost['register_as_oauth_app'] = false\n"),
        "18.11",
    );
    assert!(matches!(
        source(&r, "GitLabSettings.Enable"),
        SettingSource::OmnibusDefault { .. }
    ));
}

#[test]
fn drift_never_advises_a_change_that_breaks_sso() {
    // 8.12 split server: SSO configured in the System Console, gitlab.rb leaves it off.
    let r = run(
        "mattermost_external_url 'http://mattermost.example.com'\ngitlab_rails['enable'] = false\n",
        "8.12",
    );
    let cfg = SourceFile::new(
        "config.json",
        "{\n  \"GitLabSettings\": {\n    \"Enable\": true,\n    \"AuthEndpoint\": \"http://gitlab.example.com/oauth/authorize\"\n  },\n  \"ServiceSettings\": {\n    \"SiteURL\": \"http://mattermost.example.com\"\n  }\n}\n",
    );
    let c = read_config_json(&cfg).unwrap();
    let drifted = drift(&r, &c);
    assert!(!drifted.is_empty());
    for d in &drifted {
        let text = d.diagnostic().render();
        assert!(
            !text.contains("or revert it in the System Console"),
            "{text}"
        );
        assert!(text.contains("GitLab SSO depends on this value"), "{text}");
    }
}

#[test]
fn api_v3_on_gitlab_11_and_later_is_flagged() {
    let text = "mattermost_external_url 'http://mattermost.example.com'\ngitlab_rails['enable'] = false\nmattermost['gitlab_enable'] = true\nmattermost['gitlab_user_api_endpoint'] = 'http://gitlab.example.com/api/v3/user'\n";
    let r = run(text, "18.11");
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.code == "config.api-v3")
        .expect("flagged");
    assert_eq!(d.location.as_ref().map(|l| l.line), Some(4));
    assert!(d.hint.as_deref().unwrap_or("").contains("/api/v4/user"));
    assert!(!has(&run(text, "10.8"), "config.api-v3"));
}

#[test]
fn inert_and_contradicting_settings_are_remarked() {
    let r = run(
        "external_url 'http://gitlab.example.com'\nmattermost_nginx['listen_port'] = 8081\n",
        "18.11",
    );
    assert!(has(&r, "config.inert"), "{:?}", r.diagnostics);
    let r = run(
        &format!("{SAME_HOST}gitlab_rails['mattermost_host'] = 'https://chat.example.com'\n"),
        "18.11",
    );
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.code == "config.mattermost-host-mismatch")
        .expect("mismatch");
    assert_eq!(d.location.as_ref().map(|l| l.line), Some(3));
    let r = run(
        &format!("{SAME_HOST}gitlab_rails['mattermost_host'] = 'http://mattermost.example.com/'\n"),
        "18.11",
    );
    assert!(!has(&r, "config.mattermost-host-mismatch"));
}

#[test]
fn each_19_release_refuses_what_its_reconfigure_refuses() {
    let text = "external_url 'http://gitlab.example.com'\nmattermost['gitlab_id'] = 'x'\nmattermost['enable'] = true\nmattermost_nginx['listen_port'] = 8081\n";
    // 19.0-19.2: any mattermost[...] key aborts reconfigure; mattermost_nginx is declared, inert.
    let r = run(text, "19.0");
    let errors: Vec<usize> = r
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .filter_map(|d| d.location.as_ref().map(|l| l.line))
        .collect();
    assert_eq!(errors, [2, 3]);
    assert!(has(&r, "config.inert"));
    // 19.3: only mattermost['enable'] = true.
    let r = run(text, "19.3");
    let errors: Vec<usize> = r
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .filter_map(|d| d.location.as_ref().map(|l| l.line))
        .collect();
    assert_eq!(errors, [3]);
}

#[test]
fn keys_only_the_cookbooks_know_are_known_and_history_names_the_last_line() {
    let r = run(
        "gitlab_rails['trusted_certs_dir'] = '/etc/gitlab/trusted-certs'\ngitlab_rails['logrotate_frequency'] = 'daily'\nnginx['logrotate_rotate'] = 3\nfrom_file '/etc/gitlab/extra.rb'\n",
        "18.11",
    );
    assert!(!has(&r, "config.unknown-key"), "{:?}", r.diagnostics);
    assert!(!has(&r, "config.unknown-setting"), "{:?}", r.diagnostics);
    assert!(has(&r, "config.from-file"));
    // A mattermost key of the 9.x/10.x line is "last in" the line that really had it last.
    match key_status(
        "mattermost",
        "team_enable_team_creation",
        "10.8".parse().unwrap(),
    ) {
        KeyStatus::Dropped { last, since, .. } => {
            assert_ne!(last, "10.8");
            assert!(since.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_version_described_and_the_twin_that_plays_it() {
    let dir = tempfile::tempdir().unwrap();
    let rb = dir.path().join("gitlab.rb");
    std::fs::write(&rb, SAME_HOST).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mm-harness"))
        .args(["config", "explain", "--gitlab-version", "10.8"])
        .arg(&rb)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bundles Mattermost 4.9."), "{text}");
    assert!(
        text.contains("twin profile: none plays GitLab 10.8"),
        "{text}"
    );
    assert!(
        !text.contains("twin profile: gitlab-8.12 (Mattermost 3.4.0)\n"),
        "{text}"
    );
}

#[test]
fn host_names_keep_their_case_as_rubys_uri_does() {
    // omnibus: "/etc/gitlab/ssl/#{uri.host}.crt" with Ruby's URI, which keeps the case.
    let r = run(
        "external_url 'https://GitLab.Example.com'\nmattermost_external_url 'https://Chat.Example.com'\n",
        "18.11",
    );
    assert_eq!(
        r.host.gitlab_nginx.ssl_certificate.as_deref(),
        Some("/etc/gitlab/ssl/GitLab.Example.com.crt")
    );
    assert_eq!(
        r.host.mattermost_nginx.ssl_certificate_key.as_deref(),
        Some("/etc/gitlab/ssl/Chat.Example.com.key")
    );
}

#[test]
fn old_gitlab_rails_keys_are_dropped_with_their_release_lines_not_unknown() {
    let r = run("gitlab_rails['git_max_size'] = 20971520\n", "12.0");
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.code == "config.dropped-key")
        .unwrap_or_else(|| panic!("{:?}", r.diagnostics));
    let label = d.label.as_deref().unwrap_or("");
    assert!(
        label.starts_with("known since GitLab 8.0, last in GitLab "),
        "{label}"
    );
    // `grafana` (bundled 11.9 to 16.2) on 18.11 names its release lines too.
    let r = run("grafana['enable'] = false\n", "18.11");
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.code == "config.dropped-setting")
        .unwrap_or_else(|| panic!("{:?}", r.diagnostics));
    assert!(
        d.label
            .as_deref()
            .unwrap_or("")
            .contains("last in GitLab 16."),
        "{:?}",
        d.label
    );
}

#[test]
fn did_you_mean_offers_only_keys_a_few_edits_away() {
    use mm_harness::config::keys::close_suggestion;
    assert_eq!(
        close_suggestion("email_smtp_user", ["email_smtp_username", "gitlab_enable"]),
        Some("email_smtp_username")
    );
    // Jaro-Winkler alone pairs long keys that merely share a prefix.
    let far = ["gitlab_email_display_name"];
    assert_eq!(
        mm_harness::diag::did_you_mean("gitlab_email_enabled_x", far),
        Some("gitlab_email_display_name")
    );
    assert_eq!(close_suggestion("gitlab_email_enabled_x", far), None);
}
