//! The doctor against the twin, in process: a healthy stack gives a report with nothing failing
//! (every finding `ok` except the ones the twin cannot help: its Mattermost 10.11 is past its ESR
//! date, it lives on loopback, it serves no websocket), and each twin fault gives its own
//! finding — the first `fail` of the report in section order — with the catalogue's fix. The
//! doctor changes nothing (state compared through the admin APIs before and after), a dead
//! (blackholed) host costs one timeout, not the sum, and tokens never reach the output.

use std::time::Duration;

use mm_harness::config::Secret;
use mm_harness::config::version::Profile;
use mm_harness::doctor::{
    DoctorInputs, DoctorReport, Family, FindingKind, Prepared, Severity, diagnose,
};
use mm_harness::mailsink::ListenerMode;
use mm_harness::net::AddressBook;
use mm_harness::twin::bringup::{MailServerSpec, Twin, TwinHandle, TwinOptions};
use mm_harness::twin::fault::Fault;

/// A reqwest client reaching the twin's host names over `scheme` (reqwest resolves per host, so
/// one client per scheme: the http redirect listener and the https one differ).
fn client(h: &TwinHandle, scheme: &str) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .add_root_certificate(reqwest::Certificate::from_der(h.ca_der().as_ref()).unwrap())
        .redirect(reqwest::redirect::Policy::none());
    for e in &h.address_book().entries {
        if e.scheme == scheme {
            b = b.resolve(&e.host, e.addr);
        }
    }
    b.build().unwrap()
}

/// A Mattermost system admin token (what an operator creates for the doctor); `None` for
/// Mattermost 3.x, whose API v3 the doctor does not read settings from.
async fn mattermost_token(h: &TwinHandle) -> Option<String> {
    let mm = h.mattermost().unwrap();
    let scheme = if mm.url.starts_with("https") {
        "https"
    } else {
        "http"
    };
    let resp = client(h, scheme)
        .post(format!("{}/api/v4/users/login", mm.url))
        .json(&serde_json::json!({"login_id": mm.admin_username, "password": mm.admin_password.expose()}))
        .send()
        .await
        .unwrap();
    if resp.status() == 404 {
        return None;
    }
    assert_eq!(resp.status(), 200);
    Some(resp.headers()["token"].to_str().unwrap().to_string())
}

/// What an operator passes for this twin: both URLs, `--resolve` entries, the twin CA, both
/// admin tokens, the application secret Mattermost holds.
async fn inputs(h: &TwinHandle) -> DoctorInputs {
    let mut i = DoctorInputs::new();
    i.mattermost = Some(h.mattermost().unwrap().url.parse().unwrap());
    i.gitlab = Some(h.gitlab().unwrap().url.parse().unwrap());
    i.book = h.address_book().clone();
    i.roots = vec![h.ca_der()];
    i.gitlab_token = Some(h.gitlab().unwrap().admin_token);
    i.mattermost_token = mattermost_token(h).await.map(Secret::new);
    i.client_secret = h
        .mattermost_plan()
        .map(|p| p.settings.gitlab.secret.clone())
        .filter(|s| !s.is_empty());
    i.timeout = Duration::from_secs(5);
    i.smtp = h.mail_sink().is_some();
    i
}

async fn run(i: DoctorInputs) -> DoctorReport {
    diagnose(Prepared::new(i).unwrap()).await
}

fn ids(r: &DoctorReport) -> Vec<&'static str> {
    r.findings().map(|(_, f)| f.kind.id()).collect()
}

/// The first `fail` finding in report order (sections in family order, as printed).
fn first_fail(r: &DoctorReport) -> Option<FindingKind> {
    Family::ALL.into_iter().find_map(|fam| {
        r.in_family(fam)
            .into_iter()
            .map(|(_, f)| f.kind)
            .find(|k| k.severity() == Severity::Fail)
    })
}

/// Findings a healthy twin still gives, and why: its Mattermost (10.11) is past the ESR's
/// end of support on the report date, it listens on loopback (GitLab's local-network rule
/// cannot be read from the twin), and it has no websocket endpoint.
const TWIN_CANNOT_HELP: &[FindingKind] = &[
    FindingKind::VersionsOutOfSupport,
    FindingKind::WebhooksPrivateAddress,
    FindingKind::ProxyWebsocketNotServed,
    FindingKind::WebhooksEnvForced,
];

fn assert_healthy(r: &DoctorReport) {
    for (_, f) in r.findings() {
        assert!(
            f.severity() == Severity::Ok || TWIN_CANNOT_HELP.contains(&f.kind),
            "unexpected {} ({}: {})\nall: {:?}",
            f.kind.id(),
            f.subject,
            f.evidence,
            ids(r)
        );
    }
    assert_eq!(r.exit().code(), 0);
}

#[tokio::test]
async fn healthy_http_twin_passes_every_check() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    let r = run(inputs(&h).await).await;
    assert_healthy(&r);
    for want in [
        FindingKind::ReachDnsOk,
        FindingKind::ReachMattermostOk,
        FindingKind::ReachGitlabOk,
        FindingKind::SsoWiredOk,
        FindingKind::SsoTokenEndpointOk,
        FindingKind::SsoApplicationOk,
        FindingKind::SsoLoginRedirectOk,
        FindingKind::WebhooksIncomingOk,
    ] {
        assert!(r.has(want), "missing {} in {:?}", want.id(), ids(&r));
    }
    // The real client secret was tested: GitLab accepted it.
    let token = r
        .findings()
        .find(|(_, f)| f.kind == FindingKind::SsoTokenEndpointOk)
        .unwrap()
        .1;
    assert!(
        token.evidence.contains("invalid_grant"),
        "{}",
        token.evidence
    );
    h.shutdown().await;
}

#[tokio::test]
async fn healthy_https_twin_has_valid_certificates_and_redirects() {
    let h = Twin::start(TwinOptions::single_server_https(Profile::Gitlab18_11))
        .await
        .unwrap();
    let r = run(inputs(&h).await).await;
    assert_healthy(&r);
    let tls = r
        .findings()
        .filter(|(_, f)| f.kind == FindingKind::TlsOk)
        .count();
    assert_eq!(tls, 2, "{:?}", ids(&r));
    assert!(r.has(FindingKind::ProxyHttpRedirectOk));
    h.shutdown().await;
}

#[tokio::test]
async fn healthy_8_12_twin_passes_except_the_documented_webhook_default() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab8_12))
        .await
        .unwrap();
    let mut i = inputs(&h).await;
    i.gitlab_version = Some("8.12".parse().unwrap());
    let r = run(i).await;
    assert!(r.has(FindingKind::ReachMattermostOk), "{:?}", ids(&r));
    assert!(r.has(FindingKind::SsoTokenEndpointOk), "{:?}", ids(&r));
    // Omnibus 8.12 leaves incoming webhooks off: the seed says to turn them on in gitlab.rb.
    let fails: Vec<&str> = r
        .findings()
        .filter(|(_, f)| f.severity() == Severity::Fail)
        .map(|(_, f)| f.kind.id())
        .collect();
    assert_eq!(fails, vec!["webhooks.incoming-disabled"], "{:?}", ids(&r));
    h.shutdown().await;
}

/// A twin with `fault` (https when the fault needs it), diagnosed.
async fn with_fault(fault: Fault) -> (TwinHandle, DoctorReport) {
    let https = matches!(
        fault,
        Fault::ExpiredCertificate
            | Fault::WrongHostCertificate
            | Fault::UntrustedCertificate
            | Fault::ProxyWithoutForwardedProto
    );
    let mut opts = if https {
        TwinOptions::single_server_https(Profile::Gitlab18_11)
    } else {
        TwinOptions::single_server(Profile::Gitlab18_11)
    };
    if fault == Fault::StartTlsNotOffered {
        for host in &mut opts.hosts {
            let e = &mut host.mattermost.email;
            e.smtp_server = "smtp.example.com".into();
            e.smtp_port = "587".into();
            e.connection_security = "STARTTLS".into();
        }
        opts.mail_server = Some(MailServerSpec {
            host: "smtp.example.com".into(),
            port: 587,
            security: ListenerMode::StartTls,
            auth: None,
        });
    }
    opts.outbound_timeout = Duration::from_millis(300);
    let h = Twin::start(opts.with_fault(fault)).await.unwrap();
    let mut i = inputs(&h).await;
    if fault == Fault::SlowEndpoint {
        // GitLab answers after 2 × 300 ms + 100 ms; the doctor waits 500 ms.
        i.timeout = Duration::from_millis(500);
    }
    let r = run(i).await;
    (h, r)
}

#[tokio::test]
async fn each_twin_fault_gives_its_own_finding_first() {
    let table = [
        (Fault::WrongClientSecret, FindingKind::SsoClientSecretWrong),
        (
            Fault::UnregisteredRedirectUri,
            FindingKind::SsoCallbackMissing,
        ),
        (Fault::UserApiV3, FindingKind::SsoUserApiV3Removed),
        (Fault::TokenEndpointHtml, FindingKind::SsoTokenEndpointHtml),
        (
            Fault::WebhooksDisabled,
            FindingKind::WebhooksIncomingDisabled,
        ),
        (
            Fault::StartTlsNotOffered,
            FindingKind::SmtpStartTlsNotOffered,
        ),
        (Fault::ExpiredCertificate, FindingKind::TlsExpired),
        (Fault::WrongHostCertificate, FindingKind::TlsWrongHost),
        (Fault::UntrustedCertificate, FindingKind::TlsUntrusted),
        (Fault::SlowEndpoint, FindingKind::ReachGitlabSlow),
        (
            Fault::ProxyWithoutForwardedProto,
            FindingKind::ProxyForwardedProtoMissing,
        ),
    ];
    let mut failures = Vec::new();
    for (fault, want) in table {
        let (h, r) = with_fault(fault).await;
        let first = first_fail(&r);
        if first != Some(want) {
            failures.push(format!(
                "{fault}: first fail {:?}, want {} (all: {:?})",
                first.map(|k| k.id()),
                want.id(),
                ids(&r)
            ));
        }
        let text = mm_harness::report::doctor::human(
            &r,
            "twin",
            mm_harness::report::human::Style::plain(),
            false,
        );
        assert!(
            text.contains(&format!("fix: {}", want.meta().fix)),
            "{fault}: {text}"
        );
        assert_eq!(r.exit().code(), 1, "{fault}");
        h.shutdown().await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What an admin sees of both products' state, for "nothing changed".
async fn state(h: &TwinHandle, mm_token: &str) -> Vec<String> {
    let c = client(h, "http");
    let gl = h.gitlab().unwrap();
    let mm = h.mattermost().unwrap();
    let mut out = Vec::new();
    for (url, auth) in [
        (
            format!("{}/api/v4/applications", gl.url),
            ("PRIVATE-TOKEN", gl.admin_token.expose().to_string()),
        ),
        (
            format!("{}/api/v4/config", mm.url),
            ("Authorization", format!("Bearer {mm_token}")),
        ),
        (
            format!("{}/api/v4/hooks/incoming", mm.url),
            ("Authorization", format!("Bearer {mm_token}")),
        ),
        (
            format!("{}/api/v4/users/username/sysadmin", mm.url),
            ("Authorization", format!("Bearer {mm_token}")),
        ),
    ] {
        let resp = c.get(&url).header(auth.0, &auth.1).send().await.unwrap();
        out.push(format!("{} {}", resp.status(), resp.text().await.unwrap()));
    }
    out
}

#[tokio::test]
async fn the_doctor_changes_nothing_and_never_prints_tokens() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    let i = inputs(&h).await;
    let mm_token = i.mattermost_token.clone().unwrap();
    let before = state(&h, mm_token.expose()).await;
    let r = run(i.clone()).await;
    let after = state(&h, mm_token.expose()).await;
    assert_eq!(before, after);
    let style = mm_harness::report::human::Style::plain();
    let outputs = [
        mm_harness::report::doctor::human(&r, "twin", style, true),
        mm_harness::report::doctor::json(&r, "twin"),
        mm_harness::report::doctor::junit(&r, "twin"),
    ];
    for secret in [
        mm_token.expose(),
        h.gitlab().unwrap().admin_token.expose(),
        i.client_secret.as_ref().unwrap().expose(),
    ] {
        for o in &outputs {
            assert!(!o.contains(secret), "a secret leaked:\n{o}");
        }
    }
    h.shutdown().await;
}

/// A port that accepts connections and never answers.
async fn blackhole() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    addr
}

#[tokio::test]
async fn a_blackholed_host_costs_one_timeout_and_exits_3() {
    let addr = blackhole().await;
    let mut book = AddressBook::new();
    for scheme in ["http", "https"] {
        for host in ["mattermost.example.com", "gitlab.example.com"] {
            book.insert(scheme, host, 80, addr);
            book.insert(scheme, host, 443, addr);
        }
    }
    let mut i = DoctorInputs::new();
    i.mattermost = Some("https://mattermost.example.com".parse().unwrap());
    i.gitlab = Some("https://gitlab.example.com".parse().unwrap());
    i.book = book;
    i.timeout = Duration::from_millis(800);
    let r = run(i).await;
    assert!(r.checks.len() >= 8, "{}", r.checks.len());
    assert_eq!(r.exit().code(), 3, "{:?}", ids(&r));
    assert!(r.nothing_reached);
    // Every check kept its own deadline...
    for c in &r.checks {
        assert!(
            c.duration < Duration::from_millis(1600),
            "{:?} took {:?}",
            c.check,
            c.duration
        );
    }
    // ...and they ran side by side: far less than one deadline per check.
    assert!(
        r.duration < Duration::from_millis(800) * (r.checks.len() as u32) / 3,
        "{:?} for {} checks",
        r.duration,
        r.checks.len()
    );
    let text = mm_harness::report::doctor::human(
        &r,
        "x",
        mm_harness::report::human::Style::plain(),
        false,
    );
    assert!(text.contains("nothing could be reached"), "{text}");
}

#[tokio::test]
async fn serve_mode_reports_health_and_one_gauge_per_finding() {
    let h =
        Twin::start(TwinOptions::single_server(Profile::Gitlab18_11).with_fault(Fault::UserApiV3))
            .await
            .unwrap();
    let p = Prepared::new(inputs(&h).await).unwrap();
    let serving = mm_harness::doctor::serve::start(
        p,
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_millis(200),
    )
    .await
    .unwrap();
    let base = format!("http://{}", serving.addr);
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    // Wait (bounded) for the first diagnosis, then for a second one: the loop re-runs.
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while serving.watcher.runs() < 2 {
        assert!(tokio::time::Instant::now() < until, "no diagnosis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let health = c.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let body = health.text().await.unwrap();
    assert!(body.contains("sso.user-api-v3-removed"), "{body}");
    let metrics = c.get(format!("{base}/metrics")).send().await.unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("mm_doctor_finding{id=\"sso.user-api-v3-removed\",severity=\"fail\"} 1"),
        "{text}"
    );
    assert!(text.contains("mm_doctor_finding{id=\"tls.expired\",severity=\"fail\"} 0"));
    assert!(text.contains("mm_doctor_check_duration_seconds{check=\"sso-settings\"}"));
    assert!(text.contains("mm_doctor_healthy 0"));
    // Secrets never reach the metrics either.
    assert!(!text.contains(h.gitlab().unwrap().admin_token.expose()));
    serving.stop();
    h.shutdown().await;

    // Healthy: 200.
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    let p = Prepared::new(inputs(&h).await).unwrap();
    let serving = mm_harness::doctor::serve::start(
        p,
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while serving.watcher.runs() < 1 {
        assert!(tokio::time::Instant::now() < until, "no diagnosis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let health = c
        .get(format!("http://{}/healthz", serving.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    serving.stop();
    h.shutdown().await;
}

/// The two POSTs a read-only doctor sends, both refused and so changing nothing: the token
/// endpoint probe (`POST /oauth/token` with a made-up code) and the incoming-webhook probe
/// (`POST /hooks/<an id that does not exist>`, to learn whether webhooks are enabled).
fn refused_probe(q: &mm_harness::twin::request_log::LoggedRequest) -> bool {
    q.method == "POST"
        && (q.target.starts_with("/oauth/token") || q.target.starts_with("/hooks/"))
        && (400..500).contains(&q.status)
}

/// The doctor's requests, read from the twin's request log: every one a read, except the
/// refused probes of [`refused_probe`].
#[tokio::test]
async fn the_twins_request_log_shows_no_request_that_changes_state() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    let i = inputs(&h).await;
    let mark = h.request_log().len();
    let r = run(i).await;
    assert_eq!(r.exit().code(), 0, "{:?}", ids(&r));
    let seen = h.request_log().since(mark);
    assert!(seen.len() >= 5, "the doctor sent only {seen:?}");
    for req in &seen {
        if req.writes() {
            assert!(
                refused_probe(req),
                "a request that may change state: {req:?}"
            );
        }
    }
    h.shutdown().await;
}

/// A team and an open channel, made as an operator would (the probe posts there).
async fn team_and_channel(h: &TwinHandle, token: &str) {
    let c = client(h, "http");
    let mm = h.mattermost().unwrap().url;
    let team: serde_json::Value = c
        .post(format!("{mm}/api/v4/teams"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "ops", "display_name": "Ops", "type": "O"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = c
        .post(format!("{mm}/api/v4/channels"))
        .bearer_auth(token)
        .json(&serde_json::json!({"team_id": team["id"], "name": "alerts", "display_name": "Alerts", "type": "O"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

async fn incoming_hooks(h: &TwinHandle, token: &str) -> Vec<serde_json::Value> {
    let mm = h.mattermost().unwrap().url;
    client(h, "http")
        .get(format!("{mm}/api/v4/hooks/incoming"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json::<Vec<serde_json::Value>>()
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn allow_writes_probe_posts_through_a_webhook_and_removes_it() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    let mut i = inputs(&h).await;
    let token = i.mattermost_token.clone().unwrap();
    team_and_channel(&h, token.expose()).await;
    i.allow_writes = true;
    i.probe_channel = Some(("ops".into(), "alerts".into()));
    let mark = h.request_log().len();
    let r = run(i).await;
    let probe: Vec<_> = r
        .findings()
        .filter(|(c, _)| c.check == mm_harness::doctor::CheckId::WebhookProbe)
        .map(|(_, f)| f.clone())
        .collect();
    assert_eq!(probe.len(), 1, "{:?}", ids(&r));
    assert_eq!(
        probe[0].kind,
        FindingKind::WebhooksProbeOk,
        "{}",
        probe[0].evidence
    );
    // Created, posted through, read back, removed: the request log and the API agree.
    let seen = h.request_log().since(mark);
    let created = seen
        .iter()
        .find(|q| q.method == "POST" && q.target == "/api/v4/hooks/incoming")
        .expect("the probe created a webhook");
    assert_eq!(created.status, 201);
    assert!(
        seen.iter()
            .any(|q| q.method == "POST" && q.target.starts_with("/hooks/") && q.status == 200),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|q| q.method == "DELETE"
            && q.target.starts_with("/api/v4/hooks/incoming/")
            && q.status == 200),
        "{seen:?}"
    );
    assert!(
        incoming_hooks(&h, token.expose()).await.is_empty(),
        "the webhook is still there"
    );
    // Without --allow-writes the same run writes nothing.
    let mut quiet = inputs(&h).await;
    quiet.probe_channel = Some(("ops".into(), "alerts".into()));
    let mark = h.request_log().len();
    let r = run(quiet).await;
    assert!(!r.has(FindingKind::WebhooksProbeOk));
    assert!(
        h.request_log()
            .since(mark)
            .iter()
            .all(|q| !q.writes() || refused_probe(q)),
        "a write without --allow-writes"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_twin_fault_fails_the_webhook_probe_and_leaves_nothing() {
    let h = Twin::start(
        TwinOptions::single_server(Profile::Gitlab18_11).with_fault(Fault::WebhooksDisabled),
    )
    .await
    .unwrap();
    let mut i = inputs(&h).await;
    let token = i.mattermost_token.clone().unwrap();
    team_and_channel(&h, token.expose()).await;
    i.allow_writes = true;
    i.probe_channel = Some(("ops".into(), "alerts".into()));
    let r = run(i).await;
    let failed: Vec<_> = r
        .findings()
        .filter(|(_, f)| f.kind == FindingKind::WebhooksProbeFailed)
        .map(|(_, f)| f.evidence.clone())
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", ids(&r));
    // The server's own error, and nothing to remove.
    assert!(
        failed[0].contains("501") && failed[0].contains("Incoming webhooks have been disabled"),
        "{}",
        failed[0]
    );
    assert!(failed[0].contains("nothing was created"), "{}", failed[0]);
    assert!(!failed[0].contains("LEFT BEHIND"), "{}", failed[0]);
    assert!(incoming_hooks(&h, token.expose()).await.is_empty());
    h.shutdown().await;
}
