//! Each fault, seen from the outside: what the settings bring-up hands to Mattermost now point at,
//! and what GitLab answers there when requested the way Mattermost's server requests it (plain
//! reqwest, resolving through the address book Mattermost's server uses).

use std::time::Duration;

use crate::support::*;
use mm_harness::config::version::Profile;
use mm_harness::mailsink::TlsMode;
use mm_harness::twin::bringup::{MattermostPlan, Twin, TwinHandle, TwinOptions};
use mm_harness::twin::fault::Fault;
use reqwest::StatusCode;
use serde_json::Value;

const GITLAB: &str = "http://gitlab.example.com";

async fn start(profile: Profile, fault: Fault) -> TwinHandle {
    let mut opts = TwinOptions::single_server(profile).with_fault(fault);
    opts.outbound_timeout = Duration::from_millis(200);
    Twin::start(opts).await.unwrap()
}

fn plan(h: &TwinHandle) -> &MattermostPlan {
    h.mattermost_plan().unwrap()
}

/// Mattermost's server-side client: resolves through the outbound address book.
fn server_client(h: &TwinHandle, timeout: Duration) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .no_proxy();
    for e in plan(h).outbound_book.for_scheme("http") {
        b = b.resolve(&e.host, e.addr);
    }
    b.build().unwrap()
}

/// Mattermost's sign-up callback under the planned site URL.
fn signup_callback(h: &TwinHandle) -> String {
    format!(
        "{}/signup/gitlab/complete",
        plan(h).settings.service.site_url
    )
}

/// Sign alice in, approve, return a code for the signup callback.
async fn code(h: &TwinHandle) -> String {
    let app = plan(h).registered_application.clone().unwrap();
    let b = Browser::new(h.address_book(), None);
    b.sign_in(GITLAB, "alice", "Twin-alice-pass1").await;
    let page = b
        .page(&authorize_url(GITLAB, &app.uid, &signup_callback(h), "s"))
        .await;
    let resp = b.approve_consent(GITLAB, &page).await;
    field(&query(&location(&resp)), "code").unwrap().to_string()
}

/// The token request exactly as Mattermost sends it, with the planned settings.
async fn mattermost_token_request(
    h: &TwinHandle,
    code: &str,
) -> reqwest::Result<reqwest::Response> {
    let p = plan(h);
    let redirect_uri = signup_callback(h);
    server_client(h, Duration::from_millis(200))
        .post(&p.settings.gitlab.token_endpoint)
        .header("Accept", "application/json")
        .form(&[
            ("client_id", p.settings.gitlab.id.as_str()),
            ("client_secret", p.settings.gitlab.secret.expose()),
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri.as_str()),
        ])
        .send()
        .await
}

#[tokio::test]
async fn no_fault_token_request_succeeds() {
    let h = start(Profile::Gitlab18_11, Fault::WebhooksDisabled).await;
    let code = code(&h).await;
    let resp = mattermost_token_request(&h, &code).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_client_secret_gets_invalid_client() {
    let h = start(Profile::Gitlab18_11, Fault::WrongClientSecret).await;
    let p = plan(&h);
    let app = p.registered_application.clone().unwrap();
    assert_ne!(p.settings.gitlab.secret, app.secret);
    assert_eq!(p.settings.gitlab.id, app.uid);
    let code = code(&h).await;
    let resp = mattermost_token_request(&h, &code).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
}

#[tokio::test]
async fn unregistered_redirect_uri_gets_the_error_page() {
    for profile in Profile::ALL {
        let h = start(profile, Fault::UnregisteredRedirectUri).await;
        let p = plan(&h);
        let app = p.registered_application.clone().unwrap();
        assert!(app.redirect_uris.iter().all(|u| u.starts_with("https://")));
        let b = Browser::new(h.address_book(), None);
        b.sign_in(GITLAB, "alice", "Twin-alice-pass1").await;
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &p.settings.gitlab.id)
            .append_pair("redirect_uri", &signup_callback(&h))
            .finish();
        let page = b.page(&format!("{GITLAB}/oauth/authorize?{q}")).await;
        assert!(page.contains("An error has occurred"));
        assert_eq!(
            text_of(&page, "pre").as_deref(),
            Some("The redirect URI included is not valid.")
        );
    }
}

#[tokio::test]
async fn user_api_v3_is_410_on_18_and_works_on_8_12() {
    for (profile, expected) in [
        (Profile::Gitlab18_11, StatusCode::GONE),
        (Profile::Gitlab8_12, StatusCode::OK),
    ] {
        let h = start(profile, Fault::UserApiV3).await;
        let p = plan(&h);
        assert_eq!(
            p.settings.gitlab.user_api_endpoint,
            format!("{GITLAB}/api/v3/user")
        );
        let code = code(&h).await;
        let token: Value = mattermost_token_request(&h, &code)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let resp = server_client(&h, Duration::from_secs(5))
            .get(&plan(&h).settings.gitlab.user_api_endpoint)
            .bearer_auth(token["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), expected, "{profile}");
    }
}

#[tokio::test]
async fn token_endpoint_html_answers_an_html_page() {
    let h = start(Profile::Gitlab18_11, Fault::TokenEndpointHtml).await;
    let p = plan(&h);
    assert_eq!(
        p.settings.gitlab.token_endpoint,
        format!("{GITLAB}/oauth/access_token")
    );
    let code = code(&h).await;
    let resp = mattermost_token_request(&h, &code).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&body).is_err(), "not JSON");
}

#[tokio::test]
async fn webhooks_disabled_turns_the_setting_off() {
    let h = start(Profile::Gitlab18_11, Fault::WebhooksDisabled).await;
    assert!(!plan(&h).settings.service.enable_incoming_webhooks);
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    assert!(plan(&h).settings.service.enable_incoming_webhooks);
}

#[tokio::test]
async fn slow_endpoint_outlasts_mattermost_timeout() {
    let h = start(Profile::Gitlab18_11, Fault::SlowEndpoint).await;
    // The browser-facing pages are not slowed.
    let code = code(&h).await;
    let err = mattermost_token_request(&h, &code).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn closed_port_refuses_mattermost_but_not_the_browser() {
    let h = start(Profile::Gitlab18_11, Fault::ClosedPort).await;
    let public = h
        .address_book()
        .lookup("http", "gitlab.example.com", 80)
        .unwrap();
    let outbound = plan(&h)
        .outbound_book
        .lookup("http", "gitlab.example.com", 80)
        .unwrap();
    assert_ne!(public, outbound);
    assert!(outbound.ip().is_loopback());
    let code = code(&h).await;
    let err = mattermost_token_request(&h, &code).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

#[tokio::test]
async fn sso_faults_need_both_sides() {
    let mut opts =
        TwinOptions::single_server(Profile::Gitlab18_11).with_fault(Fault::WrongClientSecret);
    opts.hosts[0].mattermost_enabled = false;
    opts.hosts[0].mattermost_external_url = None;
    let err = Twin::start(opts).await.unwrap_err();
    assert!(err.to_string().contains("wrong-client-secret"), "{err}");
}

#[tokio::test]
async fn webhooks_disabled_answers_501_on_the_hook_url() {
    let h = start(Profile::Gitlab18_11, Fault::WebhooksDisabled).await;
    let mm = h.mattermost().unwrap();
    let c = client_for(h.address_book(), "http", None, None, false);
    let resp = c
        .post(format!("{}/hooks/3fwkx9pzgtdw5qoxqgyb8w3ipw", mm.url))
        .json(&serde_json::json!({"text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_IMPLEMENTED);
    let body: Value = resp.json().await.unwrap();
    // 10.11 wraps HandleIncomingWebhook's `disabled` error (docs/twin-mattermost.md).
    assert_eq!(body["id"], "web.incoming_webhook.general.app_error");
    assert_eq!(
        body["message"],
        "Failed to handle the payload of media type application/json for incoming webhook 3fwkx9pzgtdw5qoxqgyb8w3ipw."
    );
    // Creating a hook is refused too.
    let (c, token) = mattermost_admin_session(&h).await;
    let resp = c
        .post(format!("{}/api/v4/hooks/incoming", mm.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"channel_id": "3fwkx9pzgtdw5qoxqgyb8w3ipw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_IMPLEMENTED);
}

fn smtp_opts(security: &str, port: &str, auth: bool) -> TwinOptions {
    let mut opts = TwinOptions::single_server(Profile::Gitlab18_11);
    let email = &mut opts.hosts[0].mattermost.email;
    email.smtp_server = "smtp.example.com".to_string();
    email.smtp_port = port.to_string();
    email.connection_security = security.to_string();
    email.enable_smtp_auth = auth;
    email.smtp_username = "mattermost@example.com".to_string();
    email.smtp_password = mm_harness::config::model::Secret::new("smtp-Pass-1");
    email.feedback_email = "mattermost@example.com".to_string();
    opts
}

async fn test_email(h: &TwinHandle) -> (StatusCode, Value) {
    let mm = h.mattermost().unwrap();
    let (c, token) = mattermost_admin_session(h).await;
    let resp = c
        .post(format!("{}/api/v4/email/test", mm.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn mail_server_is_derived_from_the_smtp_settings() {
    let h = Twin::start(smtp_opts("STARTTLS", "587", true))
        .await
        .unwrap();
    assert!(
        h.address_book()
            .lookup("smtp", "smtp.example.com", 587)
            .is_some()
    );
    let (status, body) = test_email(&h).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = h
        .mail_sink()
        .unwrap()
        .mailbox()
        .wait_for_count(1, tokio::time::Instant::now() + Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].transport.tls, TlsMode::StartTls, "STARTTLS was used");
    assert_eq!(
        got[0].transport.auth_identity.as_deref(),
        Some("mattermost@example.com")
    );
    assert_eq!(got[0].envelope_from, "mattermost@example.com");
    // localhost (the 18.11 default) gets no stand-in server.
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    assert!(h.mail_sink().is_none());
}

#[tokio::test]
async fn starttls_not_offered_downgrades_silently_or_fails_auth() {
    // Without SMTP auth: Mattermost goes on in plaintext and the mail arrives unencrypted.
    let h = Twin::start(smtp_opts("STARTTLS", "587", false).with_fault(Fault::StartTlsNotOffered))
        .await
        .unwrap();
    let (status, body) = test_email(&h).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = h
        .mail_sink()
        .unwrap()
        .mailbox()
        .wait_for_count(1, tokio::time::Instant::now() + Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].transport.tls,
        TlsMode::None,
        "silent plaintext fallback"
    );
    assert!(!got[0].transport.starttls_offered);
    // With SMTP auth: the auth step refuses the unencrypted connection.
    let h = Twin::start(smtp_opts("STARTTLS", "587", true).with_fault(Fault::StartTlsNotOffered))
        .await
        .unwrap();
    let (status, body) = test_email(&h).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unencrypted connection"),
        "{body}"
    );
    assert!(h.mail_sink().unwrap().mailbox().is_empty());
}

#[tokio::test]
async fn starttls_fault_needs_a_starttls_server() {
    let err = Twin::start(smtp_opts("", "25", false).with_fault(Fault::StartTlsNotOffered))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("starttls-not-offered"), "{err}");
    assert!(err.to_string().contains("587"), "{err}");
}

#[tokio::test]
async fn certificate_faults_reach_the_mail_server() {
    let h = Twin::start(smtp_opts("TLS", "465", false).with_fault(Fault::ExpiredCertificate))
        .await
        .unwrap();
    let (status, body) = test_email(&h).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(h.mail_sink().unwrap().mailbox().is_empty());
}
