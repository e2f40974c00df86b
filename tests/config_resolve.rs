//! `resolve` against the seed's gitlab.rb snippets and omnibus's behaviour per GitLab version
//! (data: shared/data attributes, config.json templates, the 18.11 env helper and
//! gitlab_mattermost.rb).

use mm_harness::config::{KeyEra, REDACTED, Resolved, SettingSource, render_mm_env, resolve};
use mm_harness::diag::{Severity, SourceFile};

use crate::config_common::{SMTP_PLAIN, SPLIT_SERVER};

fn run(text: &str, version: &str) -> Resolved {
    resolve(
        &SourceFile::new("gitlab.rb", text),
        version.parse().unwrap(),
    )
}

fn codes(r: &Resolved, code: &str) -> Vec<usize> {
    r.diagnostics
        .iter()
        .filter(|d| d.code == code)
        .filter_map(|d| d.location.as_ref().map(|l| l.line))
        .collect()
}

#[test]
fn split_server_on_18_11_sets_seven_gitlab_settings_through_mm_env() {
    let r = run(SPLIT_SERVER, "18.11");
    assert!(!r.has_errors());
    assert_eq!(r.era, KeyEra::EnvVars);
    let expect = [
        (
            "GitLabSettings.Enable",
            "MM_GITLABSETTINGS_ENABLE",
            "true",
            5,
        ),
        ("GitLabSettings.Id", "MM_GITLABSETTINGS_ID", "12345656", 6),
        (
            "GitLabSettings.Secret",
            "MM_GITLABSETTINGS_SECRET",
            "123456789",
            7,
        ),
        ("GitLabSettings.Scope", "MM_GITLABSETTINGS_SCOPE", "", 8),
        (
            "GitLabSettings.AuthEndpoint",
            "MM_GITLABSETTINGS_AUTHENDPOINT",
            "http://gitlab.example.com/oauth/authorize",
            9,
        ),
        (
            "GitLabSettings.TokenEndpoint",
            "MM_GITLABSETTINGS_TOKENENDPOINT",
            "http://gitlab.example.com/oauth/token",
            10,
        ),
        (
            "GitLabSettings.UserAPIEndpoint",
            "MM_GITLABSETTINGS_USERAPIENDPOINT",
            "http://gitlab.example.com/api/v3/user",
            11,
        ),
    ];
    for (path, var, value, line) in expect {
        let s = r.effective.get(path).unwrap_or_else(|| panic!("{path}"));
        assert_eq!(s.env_var.as_deref(), Some(var), "{path}");
        assert_eq!(s.value, serde_json::Value::from(value), "{path}");
        match &s.source {
            SettingSource::GitlabRb { location, .. } => assert_eq!(location.line, line, "{path}"),
            other => panic!("{path}: {other:?}"),
        }
    }
    assert!(r.effective.get("GitLabSettings.Secret").unwrap().secret);
    let h = &r.host;
    assert!(!h.gitlab_rails_enabled);
    assert!(h.mattermost_enabled);
    assert_eq!(
        h.mattermost_external_url.as_deref(),
        Some("http://mattermost.example.com")
    );
    assert_eq!(
        h.mattermost.service.site_url,
        "http://mattermost.example.com"
    );
    assert!(h.mattermost.gitlab.enable);
    assert_eq!(h.mattermost.gitlab.secret.expose(), "123456789");
    assert_eq!(
        h.mattermost.gitlab.user_api_endpoint,
        "http://gitlab.example.com/api/v3/user"
    );
    // No external_url on this host: nothing derived, no untrusted-connection entry.
    assert_eq!(
        h.mattermost.service.allowed_untrusted_internal_connections,
        ""
    );
}

#[test]
fn smtp_keys_are_dropped_on_gitlab_18_and_applied_on_10_and_8() {
    let r18 = run(SMTP_PLAIN, "18.11");
    assert_eq!(
        codes(&r18, "config.dropped-key"),
        (1..=10).collect::<Vec<_>>()
    );
    let d = r18
        .diagnostics
        .iter()
        .find(|d| d.code == "config.dropped-key")
        .unwrap();
    assert!(d.render().contains("GitLab 11.0"), "{}", d.render());
    // Mattermost's own defaults stay in place.
    let m = &r18.host.mattermost;
    assert_eq!(m.email.smtp_server, "localhost");
    assert!(m.email.enable_sign_in_with_email);
    assert_eq!(
        r18.effective
            .get("EmailSettings.SMTPServer")
            .unwrap()
            .source,
        SettingSource::MattermostDefault
    );
    let hint = r18
        .diagnostics
        .iter()
        .find(|d| d.message.contains("email_smtp_server"))
        .and_then(|d| d.hint.clone())
        .unwrap();
    assert!(hint.contains("MM_EMAILSETTINGS_SMTPSERVER"), "{hint}");

    for v in ["10.8", "8.12"] {
        let r = run(SMTP_PLAIN, v);
        assert!(
            codes(&r, "config.dropped-key").is_empty(),
            "{v}: {:?}",
            r.diagnostics
        );
        assert!(codes(&r, "config.unknown-key").is_empty(), "{v}");
        let m = &r.host.mattermost;
        assert_eq!(m.email.smtp_server, "smtp.example.com", "{v}");
        assert_eq!(m.email.smtp_port, "465", "{v}");
        assert_eq!(m.email.smtp_username, "username", "{v}");
        assert_eq!(m.email.smtp_password.expose(), "password", "{v}");
        // nil renders as Mattermost's empty string.
        assert_eq!(m.email.connection_security, "", "{v}");
        assert!(!m.email.enable_sign_in_with_email, "{v}");
        assert!(m.email.send_email_notifications, "{v}");
        assert_eq!(m.email.feedback_email, "email@example.com", "{v}");
        let s = r.effective.get("EmailSettings.SMTPPassword").unwrap();
        assert!(s.secret);
        assert_eq!(s.display_value(), REDACTED);
        assert_eq!(s.env_var, None, "{v}: config.json era");
    }
}

#[test]
fn env_overrides_apply_like_mattermost() {
    let text = r#"mattermost_external_url 'https://mattermost.example.com'
mattermost['env'] = {
  'MM_EMAILSETTINGS_SMTPSERVER' => 'smtp.example.com',
  'MM_EMAILSETTINGS_ENABLESMTPAUTH' => 'yes',
  'MM_EMAILSETTINGS_SENDEMAILNOTIFICATIONS' => 'F',
  'MM_EMAILSETTINGS_SMTPPASSWORD' => 'pw',
  'HTTP_PROXY' => 'http://proxy:3128',
}
mattermost['env']['MM_SERVICESETTINGS_ENABLEINCOMINGWEBHOOKS'] = "false"
"#;
    let r = run(text, "18.11");
    let m = &r.host.mattermost;
    assert_eq!(m.email.smtp_server, "smtp.example.com");
    assert!(!m.email.enable_smtp_auth, "'yes' is not a Go bool: ignored");
    assert!(!m.email.send_email_notifications);
    assert_eq!(m.email.smtp_password.expose(), "pw");
    assert!(!m.service.enable_incoming_webhooks);
    assert_eq!(codes(&r, "config.value-ignored"), vec![4]);
    let s = r.effective.get("EmailSettings.SMTPServer").unwrap();
    assert!(
        matches!(&s.source, SettingSource::EnvOverride { var, location } if var == "MM_EMAILSETTINGS_SMTPSERVER" && location.line == 3)
    );
    assert!(
        r.effective
            .get("EmailSettings.SMTPPassword")
            .unwrap()
            .secret
    );
    assert!(r.effective.iter().all(|s| s.path != "HTTP_PROXY"));
    // https: TLS certificate paths default to the host name.
    assert_eq!(
        r.host.mattermost_nginx.ssl_certificate.as_deref(),
        Some("/etc/gitlab/ssl/mattermost.example.com.crt")
    );
    assert_eq!(
        r.host.mattermost_nginx.ssl_certificate_key.as_deref(),
        Some("/etc/gitlab/ssl/mattermost.example.com.key")
    );
}

#[test]
fn same_host_derives_endpoints_from_external_url() {
    let text = "external_url 'https://gitlab.example.com/'\nmattermost_external_url 'http://mattermost.example.com'\n";
    let r = run(text, "18.11");
    let m = &r.host.mattermost;
    assert_eq!(
        m.gitlab.auth_endpoint,
        "https://gitlab.example.com/oauth/authorize"
    );
    assert_eq!(
        m.gitlab.token_endpoint,
        "https://gitlab.example.com/oauth/token"
    );
    assert_eq!(
        m.gitlab.user_api_endpoint,
        "https://gitlab.example.com/api/v4/user"
    );
    assert_eq!(
        m.service.allowed_untrusted_internal_connections,
        " gitlab.example.com"
    );
    assert!(
        r.host.gitlab_rails_enabled && r.host.mattermost_enabled && r.host.register_as_oauth_app
    );
    assert_eq!(
        r.host.gitlab_nginx.ssl_certificate.as_deref(),
        Some("/etc/gitlab/ssl/gitlab.example.com.crt")
    );
    assert_eq!(r.host.mattermost_nginx.ssl_certificate, None);
    assert!(matches!(
        r.effective
            .get("GitLabSettings.AuthEndpoint")
            .unwrap()
            .source,
        SettingSource::Derived { .. }
    ));
    // GitLab 8.x derives nothing: its OAuth auto-registration (GitLab Rails on this host) sets
    // the v3 user endpoint (8.12.0+ce.0:files/gitlab-cookbooks/gitlab/libraries/helper.rb:195).
    let r8 = run(text, "8.12");
    let e = r8.effective.get("GitLabSettings.UserAPIEndpoint").unwrap();
    assert_eq!(e.value, "https://gitlab.example.com/api/v3/user");
    assert_eq!(
        e.source,
        SettingSource::AutoRegistration { generated: false }
    );
    // A key set in the file wins over the derivation.
    let own =
        format!("{text}mattermost['gitlab_auth_endpoint'] = 'https://other/oauth/authorize'\n");
    assert_eq!(
        run(&own, "18.11").host.mattermost.gitlab.auth_endpoint,
        "https://other/oauth/authorize"
    );
    // Without mattermost_external_url bundled Mattermost stays off.
    let off = run("external_url 'http://gitlab.example.com'\n", "18.11");
    assert!(!off.host.mattermost_enabled);
    assert_eq!(off.host.mattermost.gitlab.auth_endpoint, "");
}

#[test]
fn version_defaults_come_from_the_data() {
    // 8.12's attributes default email_enable_sign_up_with_email to false, unlike the seed's prose.
    let r8 = run(
        "mattermost_external_url 'http://mattermost.example.com'\n",
        "8.12",
    );
    assert!(!r8.host.mattermost.email.enable_sign_up_with_email);
    assert!(!r8.host.mattermost.service.enable_incoming_webhooks);
    assert_eq!(r8.host.mattermost.service.listen_address, "127.0.0.1:8065");
    assert_eq!(r8.host.mattermost.team.site_name, "GitLab Mattermost");
    // 10.8 turned post username/icon overrides on by default.
    let r10 = run(
        "mattermost_external_url 'http://mattermost.example.com'\n",
        "10.8",
    );
    assert!(r10.host.mattermost.service.enable_post_username_override);
    // 18.11 leaves email to Mattermost's defaults (sign-up with email on).
    let r18 = run(
        "mattermost_external_url 'http://mattermost.example.com'\n",
        "18.11",
    );
    assert!(r18.host.mattermost.email.enable_sign_up_with_email);
    assert_eq!(r18.host.mattermost.version.to_string(), "10.11.0");
}

#[test]
fn seed_webhook_key_works_until_10_and_is_dropped_after() {
    let text = "mattermost['service_enable_incoming_webhooks'] = true\n";
    assert!(
        run(text, "8.12")
            .host
            .mattermost
            .service
            .enable_incoming_webhooks
    );
    assert!(
        run(text, "10.8")
            .host
            .mattermost
            .service
            .enable_incoming_webhooks
    );
    let r = run(text, "18.11");
    assert_eq!(codes(&r, "config.dropped-key"), vec![1]);
}

#[test]
fn unknown_keys_get_a_did_you_mean() {
    let text = "mattermost['smtp_user_name'] = 'u'\nmattermost['gitlab_enabel'] = true\nmatermost_external_url 'http://x'\n";
    let r = run(text, "10.8");
    let unknown: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.code == "config.unknown-key")
        .collect();
    assert_eq!(unknown.len(), 2);
    assert!(
        unknown[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("email_smtp_username")
    );
    assert!(
        unknown[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("GitLab's own SMTP key")
    );
    assert!(
        unknown[1]
            .hint
            .as_deref()
            .unwrap()
            .contains("gitlab_enable")
    );
    let root = r
        .diagnostics
        .iter()
        .find(|d| d.code == "config.unknown-setting")
        .unwrap();
    assert_eq!(
        root.hint.as_deref(),
        Some("did you mean `mattermost_external_url`?")
    );
    assert!(!r.host.mattermost.gitlab.enable);
}

#[test]
fn unquoted_template_fields_reject_strings() {
    let r = run(
        "mattermost['service_enable_incoming_webhooks'] = 'yes'\n",
        "10.8",
    );
    assert_eq!(codes(&r, "config.invalid-json"), vec![1]);
}

#[test]
fn gitlab_19_refuses_mattermost_keys() {
    let r = run(SPLIT_SERVER, "19.0");
    assert!(r.has_errors());
    assert_eq!(codes(&r, "config.mattermost-removed").len(), 8);
    assert!(!r.host.mattermost_enabled);
    let e = r
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
        .unwrap();
    assert!(e.render().contains("migrate Mattermost out of omnibus"));
}

#[test]
fn unevaluated_values_keep_defaults_and_are_reported() {
    let text = "mattermost['gitlab_id'] = ENV['GITLAB_ID']\nmattermost['gitlab_secret'] = \"#{secret}\"\nif true\n  mattermost['gitlab_enable'] = true\nend\n";
    let r = run(text, "18.11");
    assert_eq!(codes(&r, "rb.unevaluated"), vec![1, 2]);
    assert_eq!(codes(&r, "rb.unevaluated-statement"), vec![3]);
    assert_eq!(r.host.mattermost.gitlab.id, "");
    assert!(!r.host.mattermost.gitlab.enable);
}

#[test]
fn mm_env_for_a_standalone_image_redacts_secrets_in_display() {
    let r = run(SPLIT_SERVER, "18.11");
    let env = render_mm_env(&r);
    let get = |n: &str| {
        env.iter()
            .find(|e| e.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    assert_eq!(get("MM_GITLABSETTINGS_SECRET").value, "123456789");
    assert_eq!(
        get("MM_GITLABSETTINGS_SECRET").to_string(),
        format!("MM_GITLABSETTINGS_SECRET={REDACTED}")
    );
    assert_eq!(get("MM_GITLABSETTINGS_ENABLE").value, "true");
    assert_eq!(
        get("MM_SERVICESETTINGS_SITEURL").value,
        "http://mattermost.example.com"
    );
    assert!(
        env.iter()
            .all(|e| e.name != "MM_SERVICESETTINGS_LISTENADDRESS")
    );
}

#[test]
fn seed_https_snippet_fills_mattermost_nginx() {
    let text = r#"mattermost_external_url 'https://mattermost.gitlab.example'

mattermost_nginx['redirect_http_to_https'] = true
mattermost_nginx['ssl_certificate'] = "/etc/gitlab/ssl/mattermost-nginx.crt"
mattermost_nginx['ssl_certificate_key'] = "/etc/gitlab/ssl/mattermost-nginx.key"
mattermost['service_use_ssl'] = true
nginx['listen_port'] = 8080
mattermost_nginx['listen_port'] = "not-a-port"
"#;
    for v in ["8.12", "10.8", "18.11"] {
        let r = run(text, v);
        let n = &r.host.mattermost_nginx;
        assert!(n.enable && n.redirect_http_to_https, "{v}");
        assert_eq!(
            n.ssl_certificate.as_deref(),
            Some("/etc/gitlab/ssl/mattermost-nginx.crt"),
            "{v}"
        );
        assert_eq!(
            n.ssl_certificate_key.as_deref(),
            Some("/etc/gitlab/ssl/mattermost-nginx.key"),
            "{v}"
        );
        assert_eq!(n.listen_port, None, "{v}");
        assert_eq!(r.host.gitlab_nginx.listen_port, Some(8080), "{v}");
        assert_eq!(codes(&r, "config.bad-port"), vec![8], "{v}");
        assert!(
            codes(&r, "config.unknown-key").is_empty(),
            "{v}: {:?}",
            r.diagnostics
        );
        // `service_site_url ||= mattermost_external_url` arrived in omnibus 9.2.
        let site = if v == "8.12" {
            ""
        } else {
            "https://mattermost.gitlab.example"
        };
        assert_eq!(r.host.mattermost.service.site_url, site, "{v}");
    }
}

#[test]
fn ruby_truthiness_of_non_booleans_is_warned() {
    let r = run(
        "gitlab_rails['enable'] = \"false\"\nmattermost['enable'] = nil\nmattermost_external_url 'http://m.example.com'\n",
        "18.11",
    );
    assert!(r.host.gitlab_rails_enabled, "a string is true in Ruby");
    assert_eq!(codes(&r, "config.not-a-boolean"), vec![1]);
    assert!(
        r.host.mattermost_enabled,
        "omnibus: enable = true if enable.nil? (with a URL)"
    );
    let off = run(
        "mattermost_external_url 'http://m.example.com'\nmattermost['enable'] = false\n",
        "18.11",
    );
    assert!(!off.host.mattermost_enabled);
}

#[test]
fn register_as_oauth_app_is_read() {
    let r = run(
        "mattermost_external_url 'http://m.example.com'\nmattermost['register_as_oauth_app'] = false\n",
        "18.11",
    );
    assert!(!r.host.register_as_oauth_app);
    assert!(
        run("mattermost_external_url 'http://m.example.com'\n", "18.11")
            .host
            .register_as_oauth_app
    );
}

#[test]
fn keys_from_later_releases_do_nothing_on_older_ones() {
    let r = run(
        "mattermost['service_enable_api_team_deletion'] = false\n",
        "8.12",
    );
    assert_eq!(codes(&r, "config.key-not-yet"), vec![1]);
    assert!(codes(&r, "config.dropped-key").is_empty());
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.code == "config.key-not-yet")
        .unwrap();
    // The release tags: the key arrived in 11.1.
    assert!(
        d.render().contains("known in GitLab 11.1"),
        "{}",
        d.render()
    );
}

#[test]
fn disabled_secrets_file_stops_automatic_oauth_registration() {
    let text = "external_url 'http://gitlab.example.com'\nmattermost_external_url 'http://mattermost.example.com'\npackage['generate_secrets_json_file'] = false\n";
    let r = run(text, "18.11");
    assert!(!r.host.register_as_oauth_app);
    assert_eq!(codes(&r, "config.no-oauth-registration"), vec![3]);
    let on = run(&text.replace("= false", "= true"), "18.11");
    assert!(on.host.register_as_oauth_app);
    assert!(codes(&on, "config.no-oauth-registration").is_empty());
}

#[test]
fn gitlab_rails_enable_false_shuts_gitlab_down_on_every_release_line() {
    // The seed's split-server text is 8.12-era: its `gitlab_rails['enable'] = false` is an
    // omnibus attribute on every release line, though older templates do not list it.
    for version in ["8.12", "10.8", "18.11"] {
        let r = run(SPLIT_SERVER, version);
        assert!(codes(&r, "config.unknown-key").is_empty(), "{version}");
        assert!(!r.host.gitlab_rails_enabled, "{version}");
    }
}
