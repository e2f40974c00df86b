//! The twin as a person meets it in a real browser: headless Debian Chromium through chromedriver
//! (tests/support/webdriver.rs), the documented host names mapped to the twin's loopback
//! listeners, the twin's CA trusted through an NSS database. Each test opens Mattermost's login
//! page, clicks the GitLab button, signs in on GitLab's form, answers the consent page and checks
//! where the browser lands and which cookies it keeps.
//!
//! Skipped (with the reason printed) when chromium or chromedriver is not installed, except under
//! `CI`, where `.ci/run` installs both and a missing browser fails.

use mm_harness::config::version::Profile;
use mm_harness::twin::bringup::{Twin, TwinHandle, TwinOptions};
use mm_harness::twin::fault::Fault;

use crate::support::webdriver::{BrowserOptions, Chrome};

async fn start(opts: TwinOptions) -> (TwinHandle, Option<Chrome>) {
    let handle = Twin::start(opts).await.expect("twin starts");
    let chrome = Chrome::start(&BrowserOptions::for_twin(&handle)).await;
    (handle, chrome)
}

fn opts(profile: Profile, https: bool) -> TwinOptions {
    if https {
        TwinOptions::single_server_https(profile)
    } else {
        TwinOptions::single_server(profile)
    }
}

/// Sign in on GitLab's Devise form (the page the browser is on).
async fn sign_in_on_gitlab(chrome: &Chrome, login: &str, password: &str) {
    chrome.fill("#user_login", login).await;
    chrome.fill("#user_password", password).await;
    chrome.click("form#new_user [type=submit]").await;
}

/// The consent page's approve (or deny) control, per GitLab version's markup.
fn consent_button(profile: Profile, approve: bool) -> &'static str {
    match (profile, approve) {
        // 8.12: `submit_tag "Authorize"` / `submit_tag "Deny"`.
        (Profile::Gitlab8_12, true) => "input[type=submit][value=Authorize]",
        (Profile::Gitlab8_12, false) => "input[type=submit][value=Deny]",
        (Profile::Gitlab18_11, true) => "button[data-testid=authorization-button]",
        // Current GitLab's "Cancel" has no testid: the button of the `_method=delete` form.
        (Profile::Gitlab18_11, false) => "form:has(input[name=_method][value=delete]) button",
    }
}

/// Login page → GitLab button → GitLab sign-in → consent (approve or deny).
async fn gitlab_sso_from_login_page(
    chrome: &Chrome,
    mm_url: &str,
    profile: Profile,
    approve: bool,
) {
    chrome.goto(&format!("{mm_url}/login")).await;
    let href = chrome
        .find("a#gitlab")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap_or_default();
    let expected_route = match profile {
        // webapp login_controller.jsx v3.4.0: Client.getOAuthRoute() + '/gitlab/login'.
        Profile::Gitlab8_12 => "/api/v3/oauth/gitlab/login",
        // webapp login.tsx: `${Client4.getOAuthRoute()}/gitlab/login${search}`.
        Profile::Gitlab18_11 => "/oauth/gitlab/login",
    };
    assert!(href.contains(expected_route), "GitLab button href {href}");
    chrome.click("a#gitlab").await;
    let url = chrome.wait_for_url("/users/sign_in").await;
    assert!(
        url.contains("/users/sign_in"),
        "after the GitLab button: {url}"
    );
    sign_in_on_gitlab(chrome, "alice", "Twin-alice-pass1").await;
    chrome.click(consent_button(profile, approve)).await;
}

/// The whole sign-up as a person does it, and the cookies the browser keeps afterwards.
async fn sign_up_through_the_login_page(profile: Profile, https: bool) {
    let (handle, chrome) = start(opts(profile, https)).await;
    let Some(chrome) = chrome else { return };
    let mm = handle.mattermost().unwrap();
    gitlab_sso_from_login_page(&chrome, &mm.url, profile, true).await;
    // Mattermost completed the callback and redirected to the site, which shows who is signed in.
    assert_eq!(
        chrome.text("#username").await,
        "@alice",
        "{}",
        chrome.url().await
    );
    let landed = chrome.url().await;
    assert!(
        landed.starts_with(&mm.url),
        "landed on {landed}, expected {}",
        mm.url
    );
    let user = mm
        .twin
        .users()
        .into_iter()
        .find(|u| u.username == "alice")
        .expect("alice was created in Mattermost");
    assert_eq!(user.auth_service, "gitlab");

    let cookies = chrome.cookies().await;
    let cookie = |name: &str| {
        cookies
            .iter()
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("no {name} cookie among {cookies:?}"))
    };
    // Both versions: MMAUTHTOKEN is HttpOnly, and Secure exactly when the site is https
    // (3.4 doLogin api/user.go v3.4.0:628-643; 10.x AttachSessionCookies, GetProtocol).
    let token = cookie("MMAUTHTOKEN");
    assert_eq!(token.http_only(), Some(true), "{token:?}");
    assert_eq!(token.secure().unwrap_or(false), https, "{token:?}");
    match profile {
        // 3.4 sets only MMAUTHTOKEN.
        Profile::Gitlab8_12 => {
            assert!(
                !cookies.iter().any(|c| c.name() == "MMUSERID"),
                "{cookies:?}"
            );
        }
        // 10.x also MMUSERID and MMCSRF, readable by the web app's script (not HttpOnly).
        Profile::Gitlab18_11 => {
            for name in ["MMUSERID", "MMCSRF"] {
                let c = cookie(name);
                assert_ne!(c.http_only(), Some(true), "{c:?}");
                assert_eq!(c.secure().unwrap_or(false), https, "{c:?}");
            }
            // MMOAUTH was cleared by the callback.
            assert!(
                !cookies.iter().any(|c| c.name() == "MMOAUTH"),
                "{cookies:?}"
            );
        }
    }
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_from_the_login_page_8_12_over_http() {
    sign_up_through_the_login_page(Profile::Gitlab8_12, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_from_the_login_page_8_12_over_https_keeps_secure_cookies() {
    sign_up_through_the_login_page(Profile::Gitlab8_12, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_from_the_login_page_18_11_over_http() {
    sign_up_through_the_login_page(Profile::Gitlab18_11, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_from_the_login_page_18_11_over_https_keeps_secure_cookies() {
    sign_up_through_the_login_page(Profile::Gitlab18_11, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denying_consent_on_18_11_shows_the_access_denied_page() {
    let (handle, chrome) = start(opts(Profile::Gitlab18_11, false)).await;
    let Some(chrome) = chrome else { return };
    let mm = handle.mattermost().unwrap();
    gitlab_sso_from_login_page(&chrome, &mm.url, Profile::Gitlab18_11, false).await;
    // web/oauth.go completeOAuth: error=access_denied → /error?type=oauth_access_denied&service=Gitlab
    // (signed); error_title.tsx / error_message.tsx texts.
    let url = chrome.wait_for_url("/error?").await;
    assert!(url.contains("/error?"), "{url}");
    assert_eq!(chrome.text("h2").await, "Authorization Error");
    assert_eq!(
        chrome.text("#error-message").await,
        "You must authorize Mattermost to log in with Gitlab."
    );
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denying_consent_on_8_12_shows_the_missing_code_error() {
    let (handle, chrome) = start(opts(Profile::Gitlab8_12, false)).await;
    let Some(chrome) = chrome else { return };
    let mm = handle.mattermost().unwrap();
    gitlab_sso_from_login_page(&chrome, &mm.url, Profile::Gitlab8_12, false).await;
    // Mattermost 3.4 has no access_denied branch: the callback without a code is
    // api.oauth.complete_oauth.missing_code.app_error (api/oauth.go v3.4.0:292-296).
    let url = chrome.wait_for_url("/error?").await;
    assert!(url.contains("/error?"), "{url}");
    let title = format!("{} needs your help:", mm.twin.settings().team.site_name);
    assert_eq!(chrome.text("h2").await, title);
    let message = chrome.text("#error-message").await;
    assert!(
        message.starts_with(
            "The service provider Gitlab did not provide an authorization code in the redirect URL."
        ),
        "{message}"
    );
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_8_12_consent_page_shows_gitlab_8_12_scope_text() {
    let (handle, chrome) = start(opts(Profile::Gitlab8_12, false)).await;
    let Some(chrome) = chrome else { return };
    let mm = handle.mattermost().unwrap();
    chrome.goto(&format!("{}/login", mm.url)).await;
    chrome.click("a#gitlab").await;
    sign_in_on_gitlab(&chrome, "alice", "Twin-alice-pass1").await;
    // gitlab-ce v8.12.11 doorkeeper/authorizations/new.html.haml + doorkeeper.en.yml.
    assert_eq!(chrome.text("h3.page-title").await, "Authorization required");
    assert_eq!(
        chrome.text("#oauth-permissions li").await,
        "Access your API"
    );
    let page = chrome.client.source().await.unwrap();
    assert!(!page.contains("dependency proxy"), "GitLab 18 text on 8.12");
    assert!(!page.contains("package registry"), "GitLab 18 text on 8.12");
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_sign_in_from_the_login_page_ends_signed_in() {
    let (handle, chrome) = start(opts(Profile::Gitlab18_11, true)).await;
    let Some(chrome) = chrome else { return };
    let mm = handle.mattermost().unwrap();
    mm.twin
        .update_settings(|s| s.email.enable_sign_in_with_email = true);
    chrome.goto(&format!("{}/login", mm.url)).await;
    // A wrong password first: the page says so, nobody is signed in.
    chrome.fill("#input_loginId", &mm.admin_email).await;
    chrome
        .fill("#input_password-input", "not-the-password")
        .await;
    chrome.click("#login-form button[type=submit]").await;
    assert_eq!(
        chrome.text("#login-error").await,
        "Enter a valid email or username and/or password."
    );
    chrome.fill("#input_loginId", &mm.admin_email).await;
    chrome
        .fill("#input_password-input", mm.admin_password.expose())
        .await;
    chrome.click("#login-form button[type=submit]").await;
    assert_eq!(chrome.text("#username").await, "@sysadmin");
    let cookies = chrome.cookies().await;
    let token = cookies
        .iter()
        .find(|c| c.name() == "MMAUTHTOKEN")
        .expect("session cookie");
    assert_eq!(token.secure(), Some(true));
    assert_eq!(token.http_only(), Some(true));
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_behind_a_proxy_without_forwarded_proto_fails_with_bad_response() {
    let opts = opts(Profile::Gitlab18_11, true).with_fault(Fault::ProxyWithoutForwardedProto);
    let (handle, chrome) = start(opts).await;
    let Some(chrome) = chrome else { return };
    let mm = handle.mattermost().unwrap();
    gitlab_sso_from_login_page(&chrome, &mm.url, Profile::Gitlab18_11, true).await;
    // The token request carried http://…/signup/gitlab/complete: GitLab's invalid_grant, which
    // Mattermost reports as bad_response (troubleshooting.md).
    let url = chrome.wait_for_url("/error?").await;
    assert!(url.contains("/error?"), "{url}");
    assert_eq!(
        chrome.text("#error-message").await,
        "Bad response from token request."
    );
    chrome.close().await;
}
