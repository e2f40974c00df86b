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
        // The consent page: 8.12's "Authorize … to use your account?", current GitLab's "… is
        // requesting access to your account".
        if page.contains("to use your account?") || page.contains("is requesting access") {
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

/// Mattermost 3.4 never checked the token reply's status: each fault shows as 3.x reads it, in
/// 3.4's own words — i18n/en.json v3.4.0:1875-1900 has no trailing periods ("Bad token type",
/// "Token request failed"). The slow endpoint is not among them: 3.4 has no timeout (H7).
#[tokio::test]
async fn sso_faults_on_8_12() {
    let bad_token = "Bad response from token request";
    for (fault, https, message) in [
        (Fault::WrongClientSecret, false, "Bad token type"),
        (Fault::TokenEndpointHtml, false, bad_token),
    ]
    .into_iter()
    .chain(
        token_request_failures()
            .filter(|(f, _, _)| *f != Fault::SlowEndpoint)
            .map(|(f, https, _)| (f, https, "Token request failed")),
    ) {
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

// ---- Fidelity against the sources (shared/wire/fidelity-audit-sso.md) ----

/// A GitLab account with a given username (ids from 100 up, so they never clash with the seed).
fn gitlab_account(h: &TwinHandle, id: u64, username: &str) -> (String, String) {
    let password = format!("Pass-{id}-word!");
    let created = h
        .gitlab()
        .unwrap()
        .twin
        .create_user(mm_harness::twin::gitlab::GitlabUser {
            id,
            username: username.to_string(),
            name: "Long Name".to_string(),
            email: format!("user{id}@example.com"),
            password: mm_harness::config::model::Secret::new(password.clone()),
            admin: false,
        });
    assert!(created, "{username}");
    (username.to_string(), password)
}

fn mattermost_username_of(h: &TwinHandle, auth_data: &str) -> String {
    h.mattermost()
        .unwrap()
        .twin
        .users()
        .into_iter()
        .find(|u| u.auth_data == auth_data)
        .map(|u| u.username)
        .unwrap_or_else(|| panic!("no Mattermost user with auth data {auth_data}"))
}

/// H1. Mattermost 10.x completeOAuth: `uri := c.GetSiteURLHeader() + "/signup/" + service +
/// "/complete"` (server/channels/web/oauth.go), `GetSiteURLHeader` = `app.GetProtocol(r) + "://" +
/// r.Host` (web/handlers.go), `GetProtocol` = `X-Forwarded-Proto == "https" || r.TLS != nil`. The
/// authorize step used SiteURL (https); without the header the token request says http, and
/// GitLab (Doorkeeper `validate_redirect_uri`) answers invalid_grant → "Bad response from token
/// request." With omnibus nginx's header (the default) the same https setup signs up.
#[tokio::test]
async fn https_without_forwarded_proto_sends_an_http_redirect_uri_on_10() {
    assert_fault_fails_sign_up(
        Profile::Gitlab18_11,
        Fault::ProxyWithoutForwardedProto,
        true,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Bad response from token request.",
    )
    .await;
    let h = Twin::start(TwinOptions::single_server_https(Profile::Gitlab18_11))
        .await
        .unwrap();
    let b = Browser::new(h.address_book(), Some(h.ca_pem()));
    let resp = callback(sso(&h, &b, Profile::Gitlab18_11, "signup", ALICE).await);
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    // M20: cookies over https are Secure, as omnibus nginx's X-Forwarded-Proto tells Mattermost.
    // (The MMOAUTH deletion cookie has no Secure flag in app/oauth.go either.)
    for c in resp.headers().get_all("set-cookie") {
        let c = c.to_str().unwrap();
        if ["MMAUTHTOKEN=", "MMUSERID=", "MMCSRF="]
            .iter()
            .any(|n| c.starts_with(n))
        {
            assert!(c.contains("; Secure"), "{c}");
        }
    }
}

/// H2, M5. Mattermost 3.4 completeOAuth: `if len(code) == 0 { c.Err =
/// NewLocAppError("completeOAuth", "api.oauth.complete_oauth.missing_code.app_error", …) }`
/// (api/oauth.go v3.4.0:292-296), status 500 → RenderWebError's 307; `details` blanked with
/// EnableDeveloper off (api/context.go). Denying consent on GitLab 8.12 lands here (3.4 has no
/// `error=access_denied` branch).
#[tokio::test]
async fn a_callback_without_code_is_the_missing_code_error_on_3_4() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab8_12))
        .await
        .unwrap();
    let b = Browser::new(h.address_book(), None);
    let resp = b
        .get(&format!(
            "{}/signup/gitlab/complete?error=access_denied&state=x",
            site(&h)
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    let loc = location(&resp);
    assert!(loc.starts_with("/error?"), "{loc}");
    let q = query(&format!("http://x{loc}"));
    assert!(
        field(&q, "message").unwrap().starts_with(
            "The service provider Gitlab did not provide an authorization code in the redirect URL."
        ),
        "{loc}"
    );
    assert_eq!(field(&q, "details"), Some(""), "{loc}");
}

/// H4. Mattermost 3.4 CreateOAuthUser: a known AuthData is `api.user.create_oauth_user.already_used
/// .app_error` "This {{.Service}} account has already been used to sign up" (api/user.go
/// v3.4.0:306-310, i18n/en.json:1940). 10.x returns the existing user instead.
#[tokio::test]
async fn a_second_gitlab_sign_up_is_already_used_on_3_4() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab8_12))
        .await
        .unwrap();
    let b = Browser::new(h.address_book(), None);
    let first = callback(sso(&h, &b, Profile::Gitlab8_12, "signup", ALICE).await);
    assert!(!location(&first).contains("/error"));
    let b2 = Browser::new(h.address_book(), None);
    let outcome = sso(&h, &b2, Profile::Gitlab8_12, "signup", ALICE).await;
    assert_mattermost_error(
        outcome,
        StatusCode::TEMPORARY_REDIRECT,
        "This gitlab account has already been used to sign up",
    )
    .await;
    // 10.x: the same second sign-up signs alice in.
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    for _ in 0..2 {
        let b = Browser::new(h.address_book(), None);
        let resp = callback(sso(&h, &b, Profile::Gitlab18_11, "signup", ALICE).await);
        assert!(cookie_names(&resp).contains(&"MMAUTHTOKEN".to_string()));
    }
}

/// H5. Mattermost 3.4's login path (LoginByOAuth → CreateOAuthUser → CreateUser, api/user.go
/// v3.4.0) never reads `EnableUserCreation`: a new GitLab user logging in is created. 10.x
/// CreateOAuthUser refuses (501 `api.user.create_user.disabled.app_error`).
#[tokio::test]
async fn login_creates_users_with_user_creation_off_on_3_4_only() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab8_12))
        .await
        .unwrap();
    let mm = h.mattermost().unwrap().twin;
    mm.update_settings(|s| s.team.enable_user_creation = false);
    let b = Browser::new(h.address_book(), None);
    let resp = callback(sso(&h, &b, Profile::Gitlab8_12, "login", ALICE).await);
    assert!(!location(&resp).contains("/error"), "{}", location(&resp));
    assert!(mm.users().iter().any(|u| u.username == "alice"));

    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    h.mattermost()
        .unwrap()
        .twin
        .update_settings(|s| s.team.enable_user_creation = false);
    let b = Browser::new(h.address_book(), None);
    let outcome = sso(&h, &b, Profile::Gitlab18_11, "login", ALICE).await;
    assert_mattermost_error(
        outcome,
        StatusCode::NOT_IMPLEMENTED,
        "User creation is disabled.",
    )
    .await;
}

/// H7. Mattermost 3.4 AuthorizeOAuthUser: `client := &http.Client{Transport: tr}`, no Timeout
/// (api/oauth.go v3.4.0:770-773): a GitLab slower than 10.x's timeout still signs the user up.
#[tokio::test]
async fn mattermost_3_4_waits_for_a_slow_gitlab() {
    let h = faulted(Profile::Gitlab8_12, Fault::SlowEndpoint, false).await;
    let b = Browser::new(h.address_book(), None);
    let resp = callback(sso(&h, &b, Profile::Gitlab8_12, "signup", ALICE).await);
    assert!(!location(&resp).contains("/error"), "{}", location(&resp));
    assert!(
        h.mattermost()
            .unwrap()
            .twin
            .users()
            .iter()
            .any(|u| u.username == "alice")
    );
}

/// H8. Mattermost 3.4: `gitLabUserFromJson` returns nil when the user reply does not decode and
/// `GetUserFromJson` calls `glu.IsValid()` on it (model/gitlab/gitlab.go v3.4.0); the panic is
/// caught by gorilla's RecoveryHandler (api/server.go:77): a bare 500, no error page. Here the
/// user endpoint is GitLab 8.12's HTML 404 (`/api/v4/user` did not exist yet).
#[tokio::test]
async fn a_non_json_user_reply_is_a_bare_500_on_3_4() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab8_12))
        .await
        .unwrap();
    let gitlab = gitlab_url(&h);
    h.mattermost()
        .unwrap()
        .twin
        .update_settings(|s| s.gitlab.user_api_endpoint = format!("{gitlab}/api/v4/user"));
    let b = Browser::new(h.address_book(), None);
    let resp = callback(sso(&h, &b, Profile::Gitlab8_12, "signup", ALICE).await);
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.headers().get("location").is_none());
    assert_eq!(resp.text().await.unwrap(), "");
}

/// H9. Username rules: `model.IsValidUsername` accepts 1-64 of `[a-z0-9.-_]` on both versions
/// (3.4 model/user.go v3.4.0:443-459; 10.x server/public/model/user.go `UserNameMaxLength = 64`,
/// `UserNameMinLength = 1`), with no leading-letter rule; `CleanUsername` blanks exact
/// `reservedName`s, which differ (3.4 model/utils.go:229-248 has `test`, 10.x has `login`).
#[tokio::test]
async fn gitlab_usernames_are_kept_or_replaced_by_each_versions_rules() {
    let long = "a-very-long-gitlab-username-of-40-chars";
    assert!(long.len() > 22);
    for profile in Profile::ALL {
        let h = Twin::start(TwinOptions::single_server(profile))
            .await
            .unwrap();
        let accounts = [
            (101, long),
            (102, "7digits"),
            (103, "x"),
            (104, "test"),
            (105, "login"),
        ];
        for (id, name) in accounts {
            let (login, password) = gitlab_account(&h, id, name);
            let b = Browser::new(h.address_book(), None);
            let resp = callback(sso(&h, &b, profile, "signup", (&login, &password)).await);
            assert!(
                !location(&resp).contains("/error"),
                "{name}: {}",
                location(&resp)
            );
        }
        assert_eq!(mattermost_username_of(&h, "101"), long, "{profile:?}");
        assert_eq!(mattermost_username_of(&h, "102"), "7digits", "{profile:?}");
        assert_eq!(mattermost_username_of(&h, "103"), "x", "{profile:?}");
        let (test, login) = (
            mattermost_username_of(&h, "104"),
            mattermost_username_of(&h, "105"),
        );
        let random = |n: &str| n.len() == 27 && n.starts_with('a');
        match profile {
            Profile::Gitlab8_12 => {
                assert!(random(&test), "{test}");
                assert_eq!(login, "login");
            }
            Profile::Gitlab18_11 => {
                assert_eq!(test, "test");
                assert!(random(&login), "{login}");
            }
        }
    }
}

/// M2. 10.x loginWithOAuth accepts an absolute `redirect_to` on the site (IsValidWebAuthRedirectURL:
/// SiteURL prefix, case-insensitive) and refuses one elsewhere with `api.invalid_redirect_url`.
#[tokio::test]
async fn absolute_redirect_to_on_the_site_is_accepted_on_10() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    let b = Browser::new(h.address_book(), None);
    let site = site(&h);
    let ok = b
        .get(&format!(
            "{site}/oauth/gitlab/login?redirect_to={}",
            urlencode(&format!("{site}/team/channels/town-square"))
        ))
        .await;
    assert_eq!(ok.status(), StatusCode::FOUND);
    let refused = b
        .get(&format!(
            "{site}/oauth/gitlab/login?redirect_to={}",
            urlencode("https://elsewhere.example.org/")
        ))
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body = refused.text().await.unwrap();
    assert!(
        body.contains("/error?message=Invalid+redirect+URL"),
        "{body}"
    );
}

/// M6. 3.4 GetAuthorizationCode's unsupported provider is a NewLocAppError (500): RenderWebError
/// answers 307, not 501.
#[tokio::test]
async fn an_unsupported_provider_redirects_with_307_on_3_4() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab8_12))
        .await
        .unwrap();
    let b = Browser::new(h.address_book(), None);
    let resp = b
        .get(&format!("{}/api/v3/oauth/google/login", site(&h)))
        .await;
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    assert!(location(&resp).starts_with("/error?"));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// M3. 10.x LoginByOAuth → UpdateOAuthUserAttrs (app/user.go): the GitLab username when nobody
/// else has it, first/last name, the email when free, and a deactivated account reactivated. 3.4
/// LoginByOAuth signs the stored user in as it is (api/user.go v3.4.0).
#[tokio::test]
async fn a_login_takes_the_gitlab_profile_on_10_only() {
    for profile in Profile::ALL {
        let h = Twin::start(TwinOptions::single_server(profile))
            .await
            .unwrap();
        let b = Browser::new(h.address_book(), None);
        let resp = callback(sso(&h, &b, profile, "signup", ALICE).await);
        assert!(!location(&resp).contains("/error"), "{}", location(&resp));
        assert!(h.gitlab().unwrap().twin.update_user("alice", |u| {
            u.username = "alice-renamed".into();
            u.name = "Alice Pleasance Liddell".into();
            u.email = "alice.liddell@example.com".into();
        }));
        let b = Browser::new(h.address_book(), None);
        let resp = callback(sso(&h, &b, profile, "login", ("alice-renamed", ALICE.1)).await);
        assert!(!location(&resp).contains("/error"), "{}", location(&resp));
        let users = h.mattermost().unwrap().twin.users();
        let alice = users.iter().find(|u| u.auth_data == "2").unwrap();
        match profile {
            Profile::Gitlab18_11 => {
                assert_eq!(alice.username, "alice-renamed");
                assert_eq!(
                    (alice.first_name.as_str(), alice.last_name.as_str()),
                    ("Alice", "Pleasance Liddell")
                );
                assert_eq!(alice.email, "alice.liddell@example.com");
            }
            Profile::Gitlab8_12 => {
                assert_eq!(alice.username, "alice");
                assert_eq!(alice.email, "alice@example.com");
            }
        }
    }
}

/// M8. Mattermost 3.4 sign-up with a user reply that is JSON but not a valid GitLab user (here a
/// UserAPIEndpoint on an unknown API route: GitLab's JSON 404, whose status 3.4 does not read):
/// `GetUserFromJson` returns an empty `model.User` (model/gitlab/gitlab.go v3.4.0:88-95), the
/// store's `IsValid` refuses its empty email (model/user.go:74) — "Invalid email", a 307. 10.x
/// checks the status first (`api.user.authorize_oauth_user.response.app_error`).
#[tokio::test]
async fn a_json_non_user_reply_on_sign_up_is_invalid_email_on_3_4() {
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab8_12))
        .await
        .unwrap();
    let gitlab = gitlab_url(&h);
    h.mattermost()
        .unwrap()
        .twin
        .update_settings(|s| s.gitlab.user_api_endpoint = format!("{gitlab}/api/v3/users"));
    let b = Browser::new(h.address_book(), None);
    let outcome = sso(&h, &b, Profile::Gitlab8_12, "signup", ALICE).await;
    assert_mattermost_error(outcome, StatusCode::TEMPORARY_REDIRECT, "Invalid email").await;
    // The login path reads the auth data instead: 3.4's parse error.
    let b = Browser::new(h.address_book(), None);
    let outcome = sso(&h, &b, Profile::Gitlab8_12, "login", ALICE).await;
    assert_mattermost_error(
        outcome,
        StatusCode::TEMPORARY_REDIRECT,
        "Could not parse auth data out of gitlab user object",
    )
    .await;
}

/// M4. 10.x AuthorizeOAuthUser: a 403 from the user endpoint whose body mentions "Terms of
/// Service" is `oauth.gitlab.tos.error` with `{{.URL}}` = the host of UserAPIEndpoint, status 400
/// (app/oauth.go); en.json: "GitLab's Terms of Service have updated. Please go to {{.URL}} to
/// accept them and then try logging into Mattermost again." (server/i18n/en.json @00018c9a). The
/// user endpoint here is a stub answering GitLab's terms refusal.
#[tokio::test]
async fn a_gitlab_terms_refusal_is_the_tos_error_on_10() {
    use axum::http::StatusCode as S;
    let stub = axum::Router::new().route(
        "/api/v4/user",
        axum::routing::get(|| async {
            (
                S::FORBIDDEN,
                r#"{"message":"403 Forbidden - You (@alice) must accept the Terms of Service in order to perform this action. Please access GitLab from a web browser to accept these terms."}"#,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, stub).await });
    let h = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    h.mattermost().unwrap().twin.update_settings(|s| {
        s.gitlab.user_api_endpoint = format!("http://127.0.0.1:{port}/api/v4/user");
    });
    let b = Browser::new(h.address_book(), None);
    let outcome = sso(&h, &b, Profile::Gitlab18_11, "signup", ALICE).await;
    assert_mattermost_error(
        outcome,
        StatusCode::BAD_REQUEST,
        "GitLab's Terms of Service have updated. Please go to 127.0.0.1 to accept them and then try logging into Mattermost again.",
    )
    .await;
}
