//! Full GitLab SSO round trips through the whole twin with a plain HTTP client (reqwest with a
//! cookie jar, scraper for forms): Mattermost's GitLab button, GitLab's sign-in and consent,
//! back to Mattermost, which creates the user with auth service gitlab. Then each SSO fault,
//! producing the error Mattermost documents (shared/wire/mattermost.md), per profile.

use std::time::Duration;

use crate::support::*;
use mm_harness::config::version::Profile;
use mm_harness::twin::bringup::{Twin, TwinHandle, TwinOptions};
use mm_harness::twin::fault::Fault;
use reqwest::StatusCode;
use serde_json::Value;

/// Where the GitLab button of Mattermost starts, per profile.
fn sso_start(profile: Profile, site: &str, action: &str) -> String {
    match profile {
        Profile::Gitlab18_11 => format!("{site}/oauth/gitlab/{action}"),
        Profile::Gitlab8_12 => format!("{site}/api/v3/oauth/gitlab/{action}"),
    }
}

fn gitlab_url(h: &TwinHandle) -> String {
    h.gitlab().unwrap().url
}

fn site(h: &TwinHandle) -> String {
    h.mattermost_plan().unwrap().url.clone()
}

/// What the browser ended on.
enum Outcome {
    /// Mattermost answered the callback.
    Callback(reqwest::Response),
    /// GitLab stopped the flow with a page of its own (status 200).
    GitlabPage(String),
}

/// Click "GitLab" on Mattermost, sign in to GitLab if asked, approve if asked, follow GitLab's
/// redirect back to Mattermost, and return Mattermost's answer to the callback.
async fn sso(
    h: &TwinHandle,
    b: &Browser,
    profile: Profile,
    action: &str,
    user: (&str, &str),
) -> Outcome {
    let gitlab = gitlab_url(h);
    let resp = b.get(&sso_start(profile, &site(h), action)).await;
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let mut next = location(&resp);
    assert!(
        next.starts_with(&format!("{gitlab}/oauth/authorize?")),
        "{next}"
    );
    for _ in 0..6 {
        if !next.starts_with(&gitlab) {
            // Back at Mattermost: the callback.
            return Outcome::Callback(b.get(&next).await);
        }
        let resp = b.get(&next).await;
        if resp.status().is_redirection() {
            let loc = location(&resp);
            if loc.ends_with("/users/sign_in") {
                let signed = b.sign_in(&gitlab, user.0, user.1).await;
                assert_eq!(signed.status(), StatusCode::FOUND, "sign-in");
                next = location(&signed);
            } else {
                next = loc;
            }
            continue;
        }
        let page = resp.text().await.unwrap();
        if page.contains("to use your account?") {
            let resp = b.approve_consent(&gitlab, &page).await;
            assert_eq!(resp.status(), StatusCode::FOUND);
            next = location(&resp);
        } else if let Some(href) = attr_of(&page, "a[data-testid=redirect-link]", "href") {
            next = href;
        } else {
            return Outcome::GitlabPage(page);
        }
    }
    panic!("SSO did not come back to Mattermost");
}

fn cookie_names(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split('=').next().map(str::to_string))
        .collect()
}

/// A user as Mattermost 10.11's API shows it to the seeded system admin.
async fn mattermost_user(h: &TwinHandle, username: &str) -> Option<Value> {
    let (c, token) = mattermost_admin_session(h).await;
    let resp = c
        .get(format!("{}/api/v4/users/username/{username}", site(h)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    if resp.status() == StatusCode::OK {
        Some(resp.json().await.unwrap())
    } else {
        None
    }
}

/// The callback failed with Mattermost's documented error: the `/error?message=` page it sends
/// the browser to (a 3xx `Location` on 3.x, an HTML meta refresh on 10.x), with that status.
async fn assert_mattermost_error(outcome: Outcome, status: StatusCode, message: &str) {
    let resp = callback(outcome);
    let got = resp.status();
    let base = resp.url().clone();
    let target = match resp.headers().get("location") {
        // 3.x answers with a path; resolve it against the callback URL.
        Some(l) => base.join(l.to_str().unwrap()).unwrap().to_string(),
        None => {
            // Inside <noscript>, which an HTML parser with scripting on keeps as text.
            let body = resp.text().await.unwrap();
            let re = regex::Regex::new(r#"http-equiv="refresh" content="0; url=([^"]+)""#).unwrap();
            let url = re
                .captures(&body)
                .and_then(|c| c.get(1))
                .unwrap_or_else(|| panic!("no error redirect in\n{body}"));
            url.as_str().replace("&amp;", "&")
        }
    };
    assert_eq!(got, status, "{target}");
    assert!(target.contains("/error?"), "{target}");
    assert_eq!(field(&query(&target), "message"), Some(message), "{target}");
}

#[tokio::test]
async fn sign_up_then_log_in_through_gitlab_on_18() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    let b = Browser::new(h.address_book(), None);
    let start = b
        .get(&sso_start(Profile::Gitlab18_11, &site(&h), "signup"))
        .await;
    assert!(cookie_names(&start).contains(&"MMOAUTH".to_string()));
    let resp = callback(sso(&h, &b, Profile::Gitlab18_11, "signup", ALICE).await);
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    let cookies = cookie_names(&resp);
    for c in ["MMAUTHTOKEN", "MMUSERID", "MMCSRF"] {
        assert!(cookies.contains(&c.to_string()), "{c} in {cookies:?}");
    }
    let user = mattermost_user(&h, "alice").await.expect("user created");
    assert_eq!(user["auth_service"], "gitlab");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["first_name"], "Alice");
    assert_eq!(user["last_name"], "Liddell");
    // Log in later from a fresh browser: GitLab asks to sign in again, not to approve again.
    let b2 = Browser::new(h.address_book(), None);
    let resp = callback(sso(&h, &b2, Profile::Gitlab18_11, "login", ALICE).await);
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    assert!(cookie_names(&resp).contains(&"MMAUTHTOKEN".to_string()));
}

#[tokio::test]
async fn sign_up_over_https_with_redirects_on_18() {
    let h = Twin::start(TwinOptions::single_server_https(Profile::Gitlab18_11))
        .await
        .unwrap();
    let b = Browser::new(h.address_book(), Some(h.ca_pem()));
    let resp = callback(sso(&h, &b, Profile::Gitlab18_11, "signup", BOB).await);
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    let user = mattermost_user(&h, "bob").await.expect("user created");
    assert_eq!(user["auth_service"], "gitlab");
}

async fn faulted(profile: Profile, fault: Fault, https: bool) -> TwinHandle {
    let mut opts = if https {
        TwinOptions::single_server_https(profile)
    } else {
        TwinOptions::single_server(profile)
    };
    opts.outbound_timeout = Duration::from_millis(300);
    Twin::start(opts.with_fault(fault)).await.unwrap()
}

const ALICE: (&str, &str) = ("alice", "Twin-alice-pass1");
const BOB: (&str, &str) = ("bob", "Twin-bob-pass1");

/// The callback Mattermost answered; panics when GitLab stopped the flow.
fn callback(outcome: Outcome) -> reqwest::Response {
    match outcome {
        Outcome::Callback(resp) => resp,
        Outcome::GitlabPage(page) => panic!("GitLab stopped the flow:\n{page}"),
    }
}

/// A twin with `fault`, alice signing up through GitLab (clicking through certificate warnings on
/// https, as a person can and Mattermost's server cannot), ending on Mattermost's documented error.
async fn assert_fault_fails_sign_up(
    profile: Profile,
    fault: Fault,
    https: bool,
    status: StatusCode,
    message: &str,
) -> TwinHandle {
    let h = faulted(profile, fault, https).await;
    let b = if https {
        Browser::insecure(h.address_book())
    } else {
        Browser::new(h.address_book(), None)
    };
    let outcome = sso(&h, &b, profile, "signup", ALICE).await;
    assert_mattermost_error(outcome, status, message).await;
    h
}

/// The faults every profile's Mattermost reports as "Token request failed.": the token request
/// got no answer (slow, closed) or no TLS session (certificates, over https). `(fault, https, message)`.
fn token_request_failures() -> impl Iterator<Item = (Fault, bool, &'static str)> {
    [
        (Fault::SlowEndpoint, false),
        (Fault::ClosedPort, false),
        (Fault::ExpiredCertificate, true),
        (Fault::WrongHostCertificate, true),
        (Fault::UntrustedCertificate, true),
    ]
    .into_iter()
    .map(|(fault, https)| (fault, https, "Token request failed."))
}

/// Each SSO fault on GitLab 18.11 + Mattermost 10.11 ends on the error Mattermost documents.
#[tokio::test]
async fn sso_faults_on_18() {
    let bad_token = "Bad response from token request.";
    let invalid = "Received invalid response from OAuth service provider.";
    for (fault, https, message) in [
        (Fault::WrongClientSecret, false, bad_token),
        (Fault::TokenEndpointHtml, false, bad_token),
        (Fault::UserApiV3, false, invalid),
    ]
    .into_iter()
    .chain(token_request_failures())
    {
        let h = assert_fault_fails_sign_up(
            Profile::Gitlab18_11,
            fault,
            https,
            StatusCode::INTERNAL_SERVER_ERROR,
            message,
        )
        .await;
        if fault == Fault::WrongClientSecret {
            assert!(mattermost_user(&h, "alice").await.is_none());
        }
    }
}

#[tokio::test]
async fn unregistered_redirect_uri_stops_at_gitlab() {
    for profile in Profile::ALL {
        let h = faulted(profile, Fault::UnregisteredRedirectUri, false).await;
        let b = Browser::new(h.address_book(), None);
        match sso(&h, &b, profile, "signup", ALICE).await {
            Outcome::GitlabPage(page) => {
                assert!(page.contains("An error has occurred"), "{page}");
                assert!(page.contains("The redirect URI included is not valid."));
            }
            Outcome::Callback(r) => panic!("Mattermost got a callback: {}", r.status()),
        }
    }
}

#[tokio::test]
async fn sign_up_then_log_in_through_gitlab_on_8_12() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab8_12))
        .await
        .unwrap();
    let b = Browser::new(h.address_book(), None);
    let resp = callback(sso(&h, &b, Profile::Gitlab8_12, "signup", ALICE).await);
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert!(cookie_names(&resp).contains(&"MMAUTHTOKEN".to_string()));
    let users = h.mattermost().unwrap().twin.users();
    let alice = users
        .iter()
        .find(|u| u.username == "alice")
        .expect("user created");
    assert_eq!(alice.auth_service, "gitlab");
    assert_eq!(alice.auth_data, "2");
    // Omnibus 8.12 pointed Mattermost at /api/v3/user, which GitLab 8.12 serves.
    assert!(
        h.mattermost_plan()
            .unwrap()
            .settings
            .gitlab
            .user_api_endpoint
            .ends_with("/api/v3/user")
    );
    // Logging in again: GitLab 8.12 redirects straight back (approved before, Doorkeeper 4).
    let resp = callback(sso(&h, &b, Profile::Gitlab8_12, "login", ALICE).await);
    assert!(cookie_names(&resp).contains(&"MMAUTHTOKEN".to_string()));
    assert_eq!(h.mattermost().unwrap().twin.users().len(), users.len());
}

/// Mattermost 3.4 never checked the token reply's status: each fault shows as 3.x reads it.
#[tokio::test]
async fn sso_faults_on_8_12() {
    let bad_token = "Bad response from token request.";
    for (fault, https, message) in [
        (Fault::WrongClientSecret, false, "Bad token type."),
        (Fault::TokenEndpointHtml, false, bad_token),
    ]
    .into_iter()
    .chain(token_request_failures())
    {
        let h = assert_fault_fails_sign_up(
            Profile::Gitlab8_12,
            fault,
            https,
            StatusCode::TEMPORARY_REDIRECT,
            message,
        )
        .await;
        if !https {
            let users = h.mattermost().unwrap().twin.users();
            assert!(users.iter().all(|u| u.username != "alice"), "{fault}");
        }
    }
    // The seed's /api/v3/user is right on 8.12: the fault changes nothing.
    let h = faulted(Profile::Gitlab8_12, Fault::UserApiV3, false).await;
    let b = Browser::new(h.address_book(), None);
    let resp = callback(sso(&h, &b, Profile::Gitlab8_12, "signup", ALICE).await);
    assert!(
        resp.headers()
            .get("location")
            .is_some_and(|l| !l.to_str().unwrap().contains("/error"))
    );
}

#[tokio::test]
async fn https_sign_up_on_8_12() {
    let h = Twin::start(TwinOptions::single_server_https(Profile::Gitlab8_12))
        .await
        .unwrap();
    let b = Browser::new(h.address_book(), Some(h.ca_pem()));
    let resp = callback(sso(&h, &b, Profile::Gitlab8_12, "signup", BOB).await);
    assert!(cookie_names(&resp).contains(&"MMAUTHTOKEN".to_string()));
}

/// `gitlab-ctl reconfigure` on the single server after the first one registered "GitLab
/// Mattermost": omnibus remembers the id and secret (gitlab-secrets.json) instead of registering
/// again, so SSO keeps working and GitLab still holds exactly one such application.
#[tokio::test]
async fn reconfigure_remembers_the_registered_application() {
    let opts = TwinOptions::single_server(Profile::Gitlab18_11);
    let host = opts.hosts[0].clone();
    let mut h = Twin::start(opts).await.unwrap();
    let before = h
        .mattermost_plan()
        .unwrap()
        .registered_application
        .clone()
        .unwrap();
    h.reconfigure(&host).unwrap();
    let plan = h.mattermost_plan().unwrap();
    assert_eq!(plan.settings.gitlab.id, before.uid);
    assert_eq!(plan.settings.gitlab.secret, before.secret);
    let live = h.mattermost().unwrap().twin.settings();
    assert_eq!(live.gitlab.id, before.uid);
    assert!(live.gitlab.enable);
    let apps = h.gitlab().unwrap().twin.applications();
    assert_eq!(
        apps.iter()
            .filter(|a| a.name == "GitLab Mattermost")
            .count(),
        1,
        "registered once"
    );
    let b = Browser::new(h.address_book(), None);
    let resp = callback(sso(&h, &b, Profile::Gitlab18_11, "signup", ALICE).await);
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    assert!(mattermost_user(&h, "alice").await.is_some());
}

/// Reconfigure can change settings but cannot move Mattermost to another URL.
#[tokio::test]
async fn reconfigure_refuses_to_move_mattermost() {
    let opts = TwinOptions::single_server(Profile::Gitlab18_11);
    let mut host = opts.hosts[0].clone();
    let mut h = Twin::start(opts).await.unwrap();
    host.mattermost_external_url = Some("http://chat.example.com".to_string());
    let err = h.reconfigure(&host).unwrap_err().to_string();
    assert!(err.contains("cannot move Mattermost"), "{err}");
}
