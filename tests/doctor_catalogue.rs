//! Every finding of the catalogue from a real cause. The other doctor test files produce most of
//! them (the twin's faults, the mail sink, postfix, nginx, the binary on gitlab.rb files); this
//! one produces the rest: configuration causes in gitlab.rb/config.json, the twin with one
//! setting changed the way an operator changes it (`update_settings`: what the System Console or
//! a reconfigure does), closed ports, an https URL on a plain port, and — where the twin does not
//! play the product — a small stand-in server answering exactly what the real one answers
//! (Mattermost v11's `X-Version-Id`, its client config, GitLab's application settings).
//!
//! [`produced_by`] is an exhaustive match: a new finding does not compile until it names the
//! test that produces it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use mm_harness::config::Secret;
use mm_harness::config::version::Profile;
use mm_harness::diag::SourceFile;
use mm_harness::doctor::{DoctorInputs, DoctorReport, FindingKind, Prepared, diagnose};
use mm_harness::net::AddressBook;
use mm_harness::twin::bringup::{Twin, TwinHandle, TwinOptions};

/// The test that produces each finding from a real cause.
fn produced_by(k: FindingKind) -> &'static str {
    use FindingKind as K;
    match k {
        K::ConfigReadsCleanly => "doctor_offline::a_clean_file_is_all_ok_and_exit_0",
        K::ConfigSyntaxError
        | K::ConfigDroppedKey
        | K::ConfigValueProblem
        | K::ConfigSiteUrlMissing
        | K::ConfigEndpointsOtherGitlab
        | K::ConfigJsonMatches => "doctor_catalogue::configuration_causes",
        K::ConfigUnknownKey | K::ConfigUnevaluated | K::ConfigSmtpUserName => {
            "doctor_offline::smtp_user_name_unknown_keys_and_unevaluated_values_are_named"
        }
        K::ConfigUserApiV3 => {
            "doctor_offline::seed_split_server_block_fails_on_v3_for_gitlab_11_and_later_only"
        }
        K::ConfigMattermostRemoved | K::VersionsGitlab19 => {
            "doctor_offline::gitlab_19_with_bundled_mattermost_points_to_upgrade_plan"
        }
        K::ConfigSmtpPortSecurity | K::ConfigSmtpAuthPlaintext => {
            "doctor_offline::seed_smtp_without_tls_is_the_465_and_plaintext_auth_trap"
        }
        K::ConfigDriftLost | K::ConfigDriftOverridden => {
            "doctor_offline::config_json_drift_is_reported_against_the_gitlab_rb"
        }
        K::ReachDnsOk
        | K::ReachMattermostOk
        | K::ReachGitlabOk
        | K::SsoWiredOk
        | K::SsoTokenEndpointOk
        | K::SsoApplicationOk
        | K::SsoLoginRedirectOk
        | K::WebhooksIncomingOk
        | K::WebhooksPrivateAddress
        | K::WebhooksEnvForced
        | K::VersionsOutOfSupport
        | K::ProxyWebsocketNotServed => "doctor_twin::healthy_http_twin_passes_every_check",
        K::VersionsOk => {
            "doctor_twin::healthy_8_12_twin_passes_except_the_documented_webhook_default"
        }
        K::TlsOk | K::ProxyHttpRedirectOk => {
            "doctor_twin::healthy_https_twin_has_valid_certificates_and_redirects"
        }
        K::SsoClientSecretWrong
        | K::SsoCallbackMissing
        | K::SsoUserApiV3Removed
        | K::SsoTokenEndpointHtml
        | K::WebhooksIncomingDisabled
        | K::SmtpStartTlsNotOffered
        | K::TlsExpired
        | K::TlsWrongHost
        | K::TlsUntrusted
        | K::ReachGitlabSlow
        | K::ProxyForwardedProtoMissing => {
            "doctor_twin::each_twin_fault_gives_its_own_finding_first"
        }
        K::DoctorCheckTimedOut => "doctor_twin::a_blackholed_host_costs_one_timeout_and_exits_3",
        K::TlsChainIncomplete
        | K::TlsExpiresSoon
        | K::ProxyWebsocketOk
        | K::ProxyWebsocketDropped
        | K::ProxyHttpNotRedirected => {
            "doctor_nginx::nginx_certificates_redirects_and_websocket_headers"
        }
        K::SmtpOk => "doctor_smtp::starttls_on_587_against_the_sink_is_ok_and_sends_nothing",
        K::SmtpUnreachable => "doctor_smtp::a_closed_port_is_unreachable",
        K::SmtpImplicitTlsOnPlainPort | K::SmtpPlainOnImplicitPort => {
            "doctor_smtp::port_and_security_that_do_not_pair_are_told_apart"
        }
        K::SmtpCertificateUntrusted | K::SmtpAuthBeforeTls => {
            "doctor_smtp::sink_faults_give_their_findings"
        }
        K::SmtpAuthRejected => {
            "doctor_smtp::credentials_are_tried_only_with_smtp_auth_and_never_printed"
        }
        K::SmtpNotConfigured
        | K::ReachMattermostDown
        | K::ReachGitlabDown
        | K::ReachNotMattermost
        | K::TlsHandshakeFailed
        | K::SsoDisabled
        | K::SsoSiteUrlEmpty
        | K::SsoSiteUrlMismatch
        | K::SsoEndpointsOtherGitlab
        | K::SsoTokenEndpointUnreachable
        | K::SsoApplicationMissing
        | K::SsoLoginRedirectMismatch
        | K::SsoButtonHidden
        | K::SsoLicenseRequired
        | K::WebhooksLocalNetwork
        | K::VersionsPairingUnexpected => "doctor_catalogue::live_causes",
        K::ReachDnsFailed => "doctor_catalogue::a_name_that_does_not_resolve_is_reach_dns_failed",
        K::SmtpSenderRejected | K::VersionsDatabaseUpgradeFailed => {
            "doctor_packet::a_support_packet_is_checked_offline_and_its_log_lines_are_findings"
        }
        K::LogsClean => {
            "doctor_packet::a_clean_v11_packet_gives_logs_clean_drift_and_the_licence_rule"
        }
        K::WebhooksProbeOk => {
            "doctor_twin::allow_writes_probe_posts_through_a_webhook_and_removes_it"
        }
        K::WebhooksProbeFailed => {
            "doctor_twin::a_twin_fault_fails_the_webhook_probe_and_leaves_nothing"
        }
    }
}

#[test]
fn every_finding_names_the_test_that_produces_it() {
    let untested: Vec<&str> = FindingKind::ALL
        .into_iter()
        .filter(|k| produced_by(*k).is_empty())
        .map(|k| k.id())
        .collect();
    assert!(untested.is_empty(), "{untested:?}");
}

/// `reach.dns-failed` from a name that does not resolve. The names are under `.invalid`, which
/// RFC 6761 §6.4 reserves as never existing: the doctor's DNS check says so without asking a
/// resolver, so the test never sends a query off loopback (this machine's resolver is a name
/// server on the network, which glibc would ask). Only the DNS check runs: the other checks
/// would connect through the system resolver.
#[tokio::test]
async fn a_name_that_does_not_resolve_is_reach_dns_failed() {
    mm_harness::crypto::install_default_provider();
    let mut i = DoctorInputs::new();
    i.mattermost = Some("http://mattermost.example.invalid".parse().unwrap());
    i.gitlab = Some("https://gitlab.example.invalid".parse().unwrap());
    let probe = mm_harness::doctor::probe::Probe::new(Prepared::new(i).unwrap());
    let found = mm_harness::doctor::net_checks::dns(&probe).await;
    let failed: Vec<&str> = found
        .iter()
        .filter(|f| f.kind == FindingKind::ReachDnsFailed)
        .map(|f| f.subject.as_str())
        .collect();
    assert_eq!(
        failed,
        vec!["mattermost.example.invalid", "gitlab.example.invalid"],
        "{found:?}"
    );
    assert!(found[0].evidence.contains("RFC 6761"), "{found:?}");
    // A name given with --resolve is where the operator says it is: no lookup, no failure.
    let mut i = DoctorInputs::new();
    i.mattermost = Some("http://mattermost.example.invalid".parse().unwrap());
    i.book.insert(
        "http",
        "mattermost.example.invalid",
        80,
        "127.0.0.1:9".parse().unwrap(),
    );
    let probe = mm_harness::doctor::probe::Probe::new(Prepared::new(i).unwrap());
    let found = mm_harness::doctor::net_checks::dns(&probe).await;
    assert!(
        found.iter().all(|f| f.kind == FindingKind::ReachDnsOk),
        "{found:?}"
    );
}

async fn run(i: DoctorInputs) -> DoctorReport {
    diagnose(Prepared::new(i).unwrap()).await
}

fn has(r: &DoctorReport, k: FindingKind) -> bool {
    r.has(k)
}

fn ids(r: &DoctorReport) -> Vec<&'static str> {
    r.findings().map(|(_, f)| f.kind.id()).collect()
}

async fn offline(text: &str, version: &str, config_json: Option<&str>) -> DoctorReport {
    let mut i = DoctorInputs::new();
    i.gitlab_rb = Some(SourceFile::new("gitlab.rb", text));
    i.config_json = config_json.map(|c| SourceFile::new("config.json", c));
    i.gitlab_version = Some(version.parse().unwrap());
    run(i).await
}

#[tokio::test]
async fn configuration_causes() {
    let cases: &[(&str, &str, Option<&str>, FindingKind)] = &[
        (
            "mattermost['gitlab_enable'] = (\n",
            "18.11",
            None,
            FindingKind::ConfigSyntaxError,
        ),
        (
            "mattermost_external_url 'http://mattermost.example.com'\nmattermost['email_smtp_server'] = 'smtp.example.com'\n",
            "18.11",
            None,
            FindingKind::ConfigDroppedKey,
        ),
        (
            "mattermost_external_url 'http://mattermost.example.com'\nmattermost['gitlab_enable'] = 'sometimes'\n",
            "10.8",
            None,
            FindingKind::ConfigValueProblem,
        ),
        (
            "mattermost['enable'] = true\n",
            "10.8",
            None,
            FindingKind::ConfigSiteUrlMissing,
        ),
        (
            "external_url 'https://gitlab.example.com'\nmattermost_external_url 'https://mattermost.example.com'\n\
             mattermost['gitlab_enable'] = true\nmattermost['gitlab_auth_endpoint'] = 'http://gitlab.example.com/oauth/authorize'\n",
            "10.8",
            None,
            FindingKind::ConfigEndpointsOtherGitlab,
        ),
        (
            "mattermost_external_url 'http://mattermost.example.com'\n",
            "10.8",
            Some("{\"ServiceSettings\": {\"SiteURL\": \"http://mattermost.example.com\"}}"),
            FindingKind::ConfigJsonMatches,
        ),
    ];
    for (text, version, cfg, want) in cases {
        let r = offline(text, version, *cfg).await;
        assert!(has(&r, *want), "{}: {:?} for {text:?}", want.id(), ids(&r));
    }
}

/// Serve a router on a fresh loopback port.
async fn serve(router: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, router).await;
    });
    addr
}

fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

async fn twin_inputs(h: &TwinHandle) -> DoctorInputs {
    let mut i = DoctorInputs::new();
    i.mattermost = Some(h.mattermost().unwrap().url.parse().unwrap());
    i.gitlab = Some(h.gitlab().unwrap().url.parse().unwrap());
    i.book = h.address_book().clone();
    i.gitlab_token = Some(h.gitlab().unwrap().admin_token);
    let mm = h.mattermost().unwrap();
    let mut b = reqwest::Client::builder().no_proxy();
    for e in h.address_book().for_scheme("http") {
        b = b.resolve(&e.host, e.addr);
    }
    let resp = b
        .build()
        .unwrap()
        .post(format!("{}/api/v4/users/login", mm.url))
        .json(&serde_json::json!({"login_id": mm.admin_username, "password": mm.admin_password.expose()}))
        .send()
        .await
        .unwrap();
    i.mattermost_token = Some(Secret::new(resp.headers()["token"].to_str().unwrap()));
    i.client_secret = h
        .mattermost_plan()
        .map(|p| p.settings.gitlab.secret.clone());
    i.timeout = Duration::from_secs(3);
    i
}

/// The twin with one Mattermost setting changed after start.
async fn twin_with(
    change: impl FnOnce(&mut mm_harness::config::MattermostSettings),
) -> (TwinHandle, DoctorReport) {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    h.mattermost().unwrap().twin.update_settings(change);
    let r = run(twin_inputs(&h).await).await;
    (h, r)
}

#[tokio::test]
async fn live_causes() {
    use FindingKind as K;
    let mut missing = Vec::new();
    let mut expect = |r: &DoctorReport, k: K, what: &str| {
        if !r.has(k) {
            missing.push(format!("{what}: want {} in {:?}", k.id(), ids(r)));
        }
    };

    // Settings an operator changes.
    let (h, r) = twin_with(|s| s.gitlab.enable = false).await;
    expect(&r, K::SsoDisabled, "GitLab SSO off");
    h.shutdown().await;
    let (h, r) = twin_with(|s| s.service.site_url = String::new()).await;
    expect(&r, K::SsoSiteUrlEmpty, "SiteURL empty");
    h.shutdown().await;
    let (h, r) = twin_with(|s| s.service.site_url = "http://chat.example.com".into()).await;
    expect(&r, K::SsoSiteUrlMismatch, "SiteURL another host");
    expect(&r, K::SsoLoginRedirectMismatch, "SiteURL another host");
    h.shutdown().await;
    let (h, r) = twin_with(|s| {
        s.gitlab.auth_endpoint = "http://gitlab.other.example/oauth/authorize".into()
    })
    .await;
    expect(&r, K::SsoEndpointsOtherGitlab, "auth endpoint elsewhere");
    h.shutdown().await;
    let (h, r) = twin_with(|s| s.gitlab.id = "not-a-registered-application".into()).await;
    expect(&r, K::SsoApplicationMissing, "unknown application id");
    h.shutdown().await;
    let closed = closed_port();
    let (h, r) =
        twin_with(move |s| s.gitlab.token_endpoint = format!("http://{closed}/oauth/token")).await;
    expect(
        &r,
        K::SsoTokenEndpointUnreachable,
        "token endpoint on a closed port",
    );
    h.shutdown().await;

    // The operator says GitLab 16.0, Mattermost 10.11 answers.
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    let mut i = twin_inputs(&h).await;
    i.gitlab_version = Some("16.0".parse().unwrap());
    i.gitlab_token = None;
    let r = run(i).await;
    expect(
        &r,
        K::VersionsPairingUnexpected,
        "GitLab 16.0 with Mattermost 10.11",
    );
    // An https URL on the twin's plain listener: no TLS handshake.
    let mut i = twin_inputs(&h).await;
    let plain = h
        .address_book()
        .lookup("http", "mattermost.example.com", 80)
        .unwrap();
    i.mattermost = Some("https://mattermost.example.com".parse().unwrap());
    i.book.insert("https", "mattermost.example.com", 443, plain);
    let r = run(i).await;
    expect(&r, K::TlsHandshakeFailed, "https on a plain port");
    h.shutdown().await;

    // Nothing listens.
    let mut i = DoctorInputs::new();
    let mut book = AddressBook::new();
    book.insert("http", "mattermost.example.com", 80, closed_port());
    book.insert("http", "gitlab.example.com", 80, closed_port());
    i.mattermost = Some("http://mattermost.example.com".parse().unwrap());
    i.gitlab = Some("http://gitlab.example.com".parse().unwrap());
    i.book = book;
    i.timeout = Duration::from_secs(2);
    let r = run(i).await;
    expect(&r, K::ReachMattermostDown, "closed Mattermost port");
    expect(&r, K::ReachGitlabDown, "closed GitLab port");
    assert_eq!(r.exit().code(), 3);

    // SMTP asked for, none configured.
    let mut i = DoctorInputs::new();
    i.config_json = Some(SourceFile::new(
        "config.json",
        "{\"EmailSettings\": {\"SMTPServer\": \"\"}}",
    ));
    i.smtp = true;
    let r = run(i).await;
    expect(&r, K::SmtpNotConfigured, "no SMTP server");

    // Stand-ins where the twin does not play the product.
    // A web server that is not Mattermost (no X-Version-Id).
    let other = serve(Router::new().route("/api/v4/system/ping", get(|| async { "hello" }))).await;
    // Mattermost v11 without a licence: X-Version-Id ends in `.false`, and its client config
    // hides the GitLab button.
    let v11 = serve(
        Router::new()
            .route(
                "/api/v4/system/ping",
                get(|| async {
                    let mut h = HeaderMap::new();
                    h.insert("x-version-id", "11.0.2.11.0.2.0123abcd.false".parse().unwrap());
                    h.insert("content-type", "application/json".parse().unwrap());
                    (h, "{\"status\":\"OK\"}")
                }),
            )
            .route(
                "/api/v4/config/client",
                get(|| async { axum::Json(serde_json::json!({"EnableSignUpWithGitLab": "false", "SiteURL": "http://mattermost.example.com"})) }),
            ),
    )
    .await;
    // GitLab refusing webhooks to the local network, with an empty allowlist.
    let gitlab = serve(Router::new().route(
        "/api/v4/application/settings",
        get(|| async {
            axum::Json(serde_json::json!({
                "allow_local_requests_from_web_hooks_and_services": false,
                "outbound_local_requests_whitelist": []
            }))
        }),
    ))
    .await;
    let mut i = DoctorInputs::new();
    let mut book = AddressBook::new();
    book.insert("http", "mattermost.example.com", 80, other);
    i.mattermost = Some("http://mattermost.example.com".parse().unwrap());
    i.book = book;
    let r = run(i).await;
    expect(
        &r,
        K::ReachNotMattermost,
        "a web server that is not Mattermost",
    );

    let mut i = DoctorInputs::new();
    let mut book = AddressBook::new();
    book.insert("http", "mattermost.example.com", 80, v11);
    book.insert("http", "gitlab.example.com", 80, gitlab);
    i.mattermost = Some("http://mattermost.example.com".parse().unwrap());
    i.gitlab = Some("http://gitlab.example.com".parse().unwrap());
    i.gitlab_token = Some(Secret::new("glpat-stand-in"));
    i.book = book;
    i.config_json = Some(SourceFile::new(
        "config.json",
        "{\"ServiceSettings\": {\"SiteURL\": \"http://mattermost.example.com\"},\n \"GitLabSettings\": {\"Enable\": true, \"Id\": \"x\",\n  \"AuthEndpoint\": \"http://gitlab.example.com/oauth/authorize\",\n  \"TokenEndpoint\": \"http://gitlab.example.com/oauth/token\",\n  \"UserAPIEndpoint\": \"http://gitlab.example.com/api/v4/user\"}}",
    ));
    let r = run(i).await;
    expect(&r, K::SsoLicenseRequired, "Mattermost v11 unlicensed");
    expect(&r, K::SsoButtonHidden, "Mattermost v11 unlicensed");
    expect(
        &r,
        K::WebhooksLocalNetwork,
        "GitLab refusing local requests",
    );
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
