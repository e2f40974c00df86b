//! Email sign-up end to end in a real browser (headless Debian Chromium through chromedriver,
//! tests/support/webdriver.rs): on `twin up`'s setup (`TwinOptions::with_mail_sink`) a person
//! signs up with email on the twin's login page, opens the verification mail on the mail sink's
//! mailbox page, follows its link, and ends signed in. Skipped with the reason printed when the
//! browser is not installed, except under `CI`.

use mm_harness::config::version::Profile;
use mm_harness::twin::bringup::{Twin, TwinOptions};

use crate::support::webdriver::{BrowserOptions, Chrome};

/// The name the browser reaches the mailbox page under (mapped to the sink's HTTP listener).
const MAILBOX_HOST: &str = "mailbox.example.com";

async fn sign_up_by_email_and_follow_the_link(profile: Profile) {
    let handle = Twin::start(TwinOptions::single_server(profile).with_mail_sink())
        .await
        .expect("twin starts");
    let sink = handle
        .mail_sink()
        .expect("twin up's setup starts the mail sink");
    let http = sink.http_addr().expect("the mailbox is served");
    let mut browser = BrowserOptions::for_twin(&handle);
    browser.hosts.push((MAILBOX_HOST.to_string(), 80, http));
    let Some(chrome) = Chrome::start(&browser).await else {
        return;
    };
    let mm = handle.mattermost().unwrap();

    // The login page links to the sign-up page, which has the email form.
    chrome.goto(&format!("{}/login", mm.url)).await;
    chrome.click("a#signup").await;
    chrome.fill("#input_email", "erin@example.com").await;
    chrome.fill("#input_name", "erin").await;
    chrome.fill("#input_password-input", "Erin-passw0rd!").await;
    chrome.click("#signup-form button[type=submit]").await;
    let url = chrome.wait_for_url("/should_verify_email").await;
    assert!(url.contains("/should_verify_email"), "{url}");
    assert_eq!(chrome.text("#verify-email").await, "erin@example.com");
    // Not verified yet: signing in is refused.
    chrome.goto(&format!("{}/login", mm.url)).await;
    chrome.fill("#input_loginId", "erin@example.com").await;
    chrome.fill("#input_password-input", "Erin-passw0rd!").await;
    chrome.click("#login-form button[type=submit]").await;
    assert_eq!(
        chrome.text("#login-error").await,
        "Login failed because email address has not been verified"
    );

    // The mailbox page lists the welcome mail with its transport; its page shows the link.
    sink.mailbox()
        .wait_for(
            tokio::time::Instant::now() + std::time::Duration::from_secs(10),
            |m| m.envelope_to.iter().any(|t| t == "erin@example.com"),
        )
        .await
        .expect("the welcome mail reaches the sink");
    chrome.goto(&format!("http://{MAILBOX_HOST}/")).await;
    let listing = chrome.text("body").await;
    assert!(listing.contains("erin@example.com"), "{listing}");
    assert!(listing.contains("starttls"), "{listing}");
    chrome.click("a[href^='/view/']").await;
    chrome
        .click("a[href^='http://mattermost.example.com/do_verify_email']")
        .await;
    // The link verified the address and opened the login page with it filled in.
    let landed = chrome.wait_for_url("/login?extra=verified").await;
    assert!(
        landed.starts_with(&format!("{}/login?extra=verified", mm.url)),
        "{landed}"
    );
    assert_eq!(chrome.text("#login-verified").await, "Email Verified");
    let prefilled = chrome
        .find("#input_loginId")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(prefilled, "erin@example.com");
    chrome.fill("#input_password-input", "Erin-passw0rd!").await;
    chrome.click("#login-form button[type=submit]").await;
    assert_eq!(chrome.text("#username").await, "@erin");
    assert_eq!(chrome.text("#email").await, "erin@example.com");
    chrome.close().await;
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_sign_up_verified_from_the_mailbox_page_18_11() {
    sign_up_by_email_and_follow_the_link(Profile::Gitlab18_11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_sign_up_verified_from_the_mailbox_page_8_12() {
    sign_up_by_email_and_follow_the_link(Profile::Gitlab8_12).await;
}
