//! The MEDIUM items of shared/wire/fidelity-audit-sso.md a client can observe, pinned against the
//! real sources each test names: Doorkeeper's pre-authorization order and redirect-URI matching,
//! the token endpoint's parameter order, the consent skip with an expired token, the applications
//! API `scopes`, GitLab 8.12's admin application form, Mattermost 3.4's `users/me` without a
//! session, and an OAuth callback replayed (a code used twice) on each Mattermost.

use std::time::Duration;

use crate::support::*;
use mm_harness::config::version::Profile;
use mm_harness::twin::bringup::{Twin, TwinHandle, TwinOptions};
use mm_harness::twin::gitlab::OAuthApplication;
use reqwest::StatusCode;
use serde_json::Value;

const GITLAB: &str = "http://gitlab.example.com";
const MM: &str = "http://mattermost.example.com";
const SIGNUP_CB: &str = "http://mattermost.example.com/signup/gitlab/complete";

const INVALID_CLIENT: &str = "Client authentication failed due to unknown client";
const INVALID_REDIRECT_URI: &str = "The redirect URI included is not valid.";
const INVALID_REQUEST: &str = "The request is missing a required parameter";
const UNSUPPORTED_RESPONSE_TYPE: &str =
    "The authorization server does not support this response type.";

/// Query pairs, then the description expected on 18.11 and on 8.12.
type Case<'a> = (&'a [(&'a str, &'a str)], &'static str, &'static str);

async fn start(profile: Profile) -> (TwinHandle, OAuthApplication) {
    let h = Twin::start(TwinOptions::single_server(profile))
        .await
        .unwrap();
    let app = h
        .mattermost_plan()
        .and_then(|p| p.registered_application.clone())
        .expect("omnibus registered GitLab Mattermost");
    (h, app)
}

/// A browser signed in to GitLab as alice.
async fn alice(h: &TwinHandle) -> Browser {
    let b = Browser::new(h.address_book(), None);
    let resp = b.sign_in(GITLAB, "alice", "Twin-alice-pass1").await;
    assert_status(&resp, StatusCode::FOUND);
    b
}

/// GitLab's `/oauth/authorize` with exactly these query pairs.
fn authorize(pairs: &[(&str, &str)]) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{GITLAB}/oauth/authorize?{q}")
}

/// The description on GitLab's authorization error page, or `None` when the page is not one.
async fn error_page(b: &Browser, url: &str) -> Option<String> {
    let resp = b.get(url).await;
    if resp.status() != StatusCode::OK {
        return None;
    }
    let page = resp.text().await.unwrap();
    page.contains("An error has occurred")
        .then(|| text_of(&page, "pre").unwrap_or_default())
}

/// M12, L12. Doorkeeper 5.8 PreAuthorization (lib/doorkeeper/oauth/pre_authorization.rb v5.8.2)
/// validates client_id presence (InvalidRequest) → client → redirect_uri (blank too:
/// InvalidRedirectUri) → params (blank response_type) → response_type → scopes; Doorkeeper 4.2
/// (v4.2.0, GitLab 8.12) response_type → client → scopes → redirect_uri. GitLab renders each on
/// its error page.
#[tokio::test]
async fn pre_authorization_checks_run_in_each_doorkeepers_order() {
    for profile in Profile::ALL {
        let (h, app) = start(profile).await;
        let b = alice(&h).await;
        let uid = app.uid.as_str();
        let cases: [Case<'_>; 4] = [
            // Unknown client and a bad response type.
            (
                &[
                    ("response_type", "token"),
                    ("client_id", "nope"),
                    ("redirect_uri", SIGNUP_CB),
                ],
                INVALID_CLIENT,
                UNSUPPORTED_RESPONSE_TYPE,
            ),
            // No client_id at all, bad response type.
            (
                &[("response_type", "token"), ("redirect_uri", SIGNUP_CB)],
                INVALID_REQUEST,
                UNSUPPORTED_RESPONSE_TYPE,
            ),
            // Blank redirect URI: InvalidRedirectUri on both.
            (
                &[("response_type", "code"), ("client_id", uid)],
                INVALID_REDIRECT_URI,
                INVALID_REDIRECT_URI,
            ),
            // Unregistered redirect URI and a blank response type.
            (
                &[
                    ("client_id", uid),
                    ("redirect_uri", "http://elsewhere.example.org/cb"),
                ],
                INVALID_REDIRECT_URI,
                UNSUPPORTED_RESPONSE_TYPE,
            ),
        ];
        for (pairs, current, old) in cases {
            let want = match profile {
                Profile::Gitlab18_11 => current,
                Profile::Gitlab8_12 => old,
            };
            let got = error_page(&b, &authorize(pairs))
                .await
                .unwrap_or_else(|| panic!("{profile:?} {pairs:?}: no error page"));
            assert!(got.starts_with(want), "{profile:?} {pairs:?}: {got}");
        }
    }
}

/// M14. Doorkeeper's `URIChecker.matches?`: with no query registered, the requested URI's query is
/// ignored (v4.2.0 and v5.8.2), and `URI#==` compares scheme and host case-insensitively. At the
/// token endpoint Doorkeeper 5.8 compares the given URI with the grant's through the same checker,
/// Doorkeeper 4.2 by string equality (`grant.redirect_uri == redirect_uri`).
#[tokio::test]
async fn redirect_uris_match_as_doorkeeper_compares_them() {
    for profile in Profile::ALL {
        let (h, app) = start(profile).await;
        let b = alice(&h).await;
        let with_query = authorize(&[
            ("response_type", "code"),
            ("client_id", &app.uid),
            ("redirect_uri", &format!("{SIGNUP_CB}?team=x")),
        ]);
        assert_eq!(error_page(&b, &with_query).await, None, "{profile:?}");
        let requested = "HTTP://Mattermost.Example.com/signup/gitlab/complete";
        let url = authorize(&[
            ("response_type", "code"),
            ("client_id", &app.uid),
            ("redirect_uri", requested),
            ("state", "s"),
        ]);
        let resp = b.get(&url).await;
        assert_status(&resp, StatusCode::OK);
        let page = resp.text().await.unwrap();
        assert!(
            !page.contains("An error has occurred"),
            "{profile:?}: {page}"
        );
        let resp = b.approve_consent(GITLAB, &page).await;
        assert_status(&resp, StatusCode::FOUND);
        let code = field(&query(&location(&resp)), "code").unwrap().to_string();
        // Exchanged with the registered spelling instead of the requested one.
        let c = client_for(h.address_book(), "http", None, None, false);
        let resp = c
            .post(format!("{GITLAB}/oauth/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", SIGNUP_CB),
                ("client_id", app.uid.as_str()),
                ("client_secret", app.secret.expose()),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        match profile {
            Profile::Gitlab18_11 => assert_eq!(status, StatusCode::OK, "{body}"),
            // String equality fails: invalid_grant, 401 like every Doorkeeper 4.2 error.
            Profile::Gitlab8_12 => {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
                assert_eq!(body["error"], "invalid_grant");
            }
        }
    }
}

/// M13. Doorkeeper's AuthorizationCodeRequest validates its params (a blank `redirect_uri`:
/// InvalidRequest) before the client (v5.8.2 `validate :params`, v4.2.0 `validate :attributes`):
/// a request with a wrong secret and no redirect URI is invalid_request, not invalid_client.
#[tokio::test]
async fn a_blank_redirect_uri_is_invalid_request_before_client_authentication() {
    for profile in Profile::ALL {
        let (h, app) = start(profile).await;
        let c = client_for(h.address_book(), "http", None, None, false);
        let resp = c
            .post(format!("{GITLAB}/oauth/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "whatever"),
                ("client_id", app.uid.as_str()),
                ("client_secret", "wrong"),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{profile:?} {body}");
        let want = match profile {
            Profile::Gitlab18_11 => StatusCode::BAD_REQUEST,
            Profile::Gitlab8_12 => StatusCode::UNAUTHORIZED,
        };
        assert_eq!(status, want, "{profile:?}");
    }
}

/// M16. Doorkeeper 5.8 `matching_token_for(..., include_expired: true)` (models/
/// access_token_mixin.rb v5.8.2): an expired token of a confidential application still skips the
/// consent page (GitLab's `Oauth::AuthorizationsController#new` answers the redirect page), while
/// the token itself is refused by the API as expired.
#[tokio::test]
async fn an_expired_token_still_skips_consent_on_18() {
    let (h, app) = start(Profile::Gitlab18_11).await;
    assert!(app.confidential);
    let b = alice(&h).await;
    let url = authorize_url(GITLAB, &app.uid, SIGNUP_CB, "one");
    let page = b.page(&url).await;
    let resp = b.approve_consent(GITLAB, &page).await;
    let code = field(&query(&location(&resp)), "code").unwrap().to_string();
    let c = client_for(h.address_book(), "http", None, None, false);
    let token: Value = c
        .post(format!("{GITLAB}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", SIGNUP_CB),
            ("client_id", app.uid.as_str()),
            ("client_secret", app.secret.expose()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap().to_string();
    h.gitlab()
        .unwrap()
        .twin
        .age_tokens(Duration::from_secs(3 * 3600));
    let page = b
        .page(&authorize_url(GITLAB, &app.uid, SIGNUP_CB, "two"))
        .await;
    let link = attr_of(&page, "a[data-testid=redirect-link]", "href")
        .unwrap_or_else(|| panic!("consent shown again:\n{page}"));
    assert!(link.starts_with(SIGNUP_CB), "{link}");
    let resp = c
        .get(format!("{GITLAB}/api/v4/user"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token", "{body}");
}

/// M17. `API::Entities::Application` exposes `scopes` as an array (`application.scopes.to_a`,
/// lib/api/entities/application.rb, newest stored version; the applications API docs' example).
#[tokio::test]
async fn the_applications_api_shows_scopes() {
    let (h, _) = start(Profile::Gitlab18_11).await;
    let token = h.gitlab().unwrap().admin_token;
    let c = client_for(h.address_book(), "http", None, None, false);
    let created: Value = c
        .post(format!("{GITLAB}/api/v4/applications"))
        .header("PRIVATE-TOKEN", token.expose())
        .form(&[
            ("name", "Scoped"),
            ("redirect_uri", "http://scoped.example.org/cb"),
            ("scopes", "read_user api"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["scopes"], serde_json::json!(["read_user", "api"]));
    let list: Value = c
        .get(format!("{GITLAB}/api/v4/applications"))
        .header("PRIVATE-TOKEN", token.expose())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scoped = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["application_name"] == "Scoped")
        .unwrap();
    assert_eq!(scoped["scopes"], serde_json::json!(["read_user", "api"]));
    assert!(scoped.get("secret").is_none());
}

/// M18. GitLab 8.12's admin form has name and redirect URI only, `application_params` permits
/// just those two (app/controllers/admin/applications_controller.rb v8.12.11), and the show page
/// writes `%code#application_id` and `%code#secret` (show.html.haml).
#[tokio::test]
async fn gitlab_8_12_admin_applications_take_name_and_redirect_uri_only() {
    let (h, _) = start(Profile::Gitlab8_12).await;
    let b = Browser::new(h.address_book(), None);
    b.sign_in(GITLAB, "root", "Twin-root-pass1").await;
    let page = b.page(&format!("{GITLAB}/admin/applications/new")).await;
    assert!(page.contains("doorkeeper_application[redirect_uri]"));
    assert!(!page.contains("doorkeeper_application[scopes]"), "{page}");
    assert!(!page.contains("doorkeeper_application[trusted]"), "{page}");
    let mut fields = form_fields(&page, "form#new_doorkeeper_application");
    set(&mut fields, "doorkeeper_application[name]", "Sneaky");
    set(
        &mut fields,
        "doorkeeper_application[redirect_uri]",
        "http://sneaky.example.org/cb",
    );
    fields.push(("doorkeeper_application[trusted]".into(), "1".into()));
    fields.push(("doorkeeper_application[scopes][]".into(), "api".into()));
    let resp = b
        .post_form(&format!("{GITLAB}/admin/applications"), &fields)
        .await;
    assert_status(&resp, StatusCode::FOUND);
    let show = b.page(&location(&resp)).await;
    let apps = h.gitlab().unwrap().twin.applications();
    let sneaky = apps.iter().find(|a| a.name == "Sneaky").unwrap();
    assert!(!sneaky.trusted);
    assert_eq!(sneaky.scopes, "");
    assert_eq!(
        text_of(&show, "code#application_id").as_deref(),
        Some(sneaky.uid.as_str())
    );
    assert_eq!(
        text_of(&show, "code#secret").as_deref(),
        Some(sneaky.secret.expose())
    );
}

/// M7. Mattermost 3.4 registers `/users/me` with `ApiAppHandler(getMe)`, and getMe returns early
/// without a session (api/user.go v3.4.0:826-830): 200 with an empty body, not a 401.
#[tokio::test]
async fn mattermost_3_4_me_without_a_session_is_an_empty_200() {
    let (h, _) = start(Profile::Gitlab8_12).await;
    let c = client_for(h.address_book(), "http", None, None, false);
    let resp = c.get(format!("{MM}/api/v3/users/me")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "");
}

/// A code used twice: the browser reloads Mattermost's callback URL after signing in. Mattermost
/// 10.x deleted the state token on first use (app/oauth.go AuthorizeOAuthUser
/// `DeleteToken`), so the replay is 400 `api.oauth.invalid_state_token.app_error` ("Invalid state
/// token."). Mattermost 3.4 keeps no state and sends the used code to GitLab 8.12, whose Doorkeeper
/// 4.2 answers 401 invalid_grant; 3.4 reads neither that status nor a `token_type` and stops at
/// "Bad token type" (api/oauth.go v3.4.0 AuthorizeOAuthUser), a 307 to its error page.
#[tokio::test]
async fn a_replayed_callback_fails_with_each_mattermosts_error() {
    for profile in Profile::ALL {
        let (h, _) = start(profile).await;
        let b = alice(&h).await;
        let start_url = match profile {
            Profile::Gitlab18_11 => format!("{MM}/oauth/gitlab/signup"),
            Profile::Gitlab8_12 => format!("{MM}/api/v3/oauth/gitlab/signup"),
        };
        let resp = b.get(&start_url).await;
        let page = b.page(&location(&resp)).await;
        let resp = b.approve_consent(GITLAB, &page).await;
        let callback = location(&resp);
        let first = b.get(&callback).await;
        assert_status(&first, StatusCode::TEMPORARY_REDIRECT);
        assert!(!location(&first).contains("/error"), "{}", location(&first));
        let again = b.get(&callback).await;
        match profile {
            Profile::Gitlab18_11 => {
                assert_status(&again, StatusCode::BAD_REQUEST);
                let body = again.text().await.unwrap();
                assert!(body.contains("message=Invalid+state+token."), "{body}");
            }
            Profile::Gitlab8_12 => {
                assert_status(&again, StatusCode::TEMPORARY_REDIRECT);
                let loc = location(&again);
                assert_eq!(
                    field(&query(&loc), "message"),
                    Some("Bad token type"),
                    "{loc}"
                );
            }
        }
    }
}

/// M15. Doorkeeper 5.8 PKCE (GitLab 18.11): a challenge needs a supported method at the authorize
/// endpoint (`validate_code_challenge_method`, pre_authorization.rb v5.8.2); at the token endpoint
/// a challenged grant without `code_verifier` is invalid_request (`validate_params`), a wrong
/// verifier invalid_grant (`validate_code_verifier`: unpadded URL-safe base64 of SHA-256 for S256).
/// Doorkeeper 4.2 (GitLab 8.12) has no PKCE and ignores the parameters.
#[tokio::test]
async fn pkce_is_verified_on_18_and_ignored_on_8_12() {
    // RFC 7636 appendix B.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    for profile in Profile::ALL {
        let (h, app) = start(profile).await;
        let b = alice(&h).await;
        let pairs = |method: &'static str| {
            authorize(&[
                ("response_type", "code"),
                ("client_id", &app.uid),
                ("redirect_uri", SIGNUP_CB),
                ("code_challenge", challenge),
                ("code_challenge_method", method),
            ])
        };
        let bad_method = error_page(&b, &pairs("S512")).await;
        match profile {
            Profile::Gitlab18_11 => assert_eq!(
                bad_method.as_deref(),
                Some("The code_challenge_method must be one of plain, S256.")
            ),
            Profile::Gitlab8_12 => assert_eq!(bad_method, None),
        }
        let page = b.page(&pairs("S256")).await;
        let resp = b.approve_consent(GITLAB, &page).await;
        let code = field(&query(&location(&resp)), "code").unwrap().to_string();
        let c = client_for(h.address_book(), "http", None, None, false);
        let exchange = |verifier: Option<&str>| {
            let mut form = vec![
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", SIGNUP_CB),
                ("client_id", app.uid.as_str()),
                ("client_secret", app.secret.expose()),
            ];
            if let Some(v) = verifier {
                form.push(("code_verifier", v));
            }
            let req = c.post(format!("{GITLAB}/oauth/token")).form(&form);
            async move {
                let resp = req.send().await.unwrap();
                let status = resp.status();
                let body: Value = resp.json().await.unwrap();
                (status, body["error"].as_str().unwrap_or("").to_string())
            }
        };
        match profile {
            Profile::Gitlab18_11 => {
                let missing = exchange(None).await;
                assert_eq!(missing, (StatusCode::BAD_REQUEST, "invalid_request".into()));
                let wrong = exchange(Some("not-the-verifier")).await;
                assert_eq!(wrong, (StatusCode::BAD_REQUEST, "invalid_grant".into()));
                let right = exchange(Some(verifier)).await;
                assert_eq!(right, (StatusCode::OK, String::new()));
            }
            Profile::Gitlab8_12 => {
                let ignored = exchange(None).await;
                assert_eq!(ignored, (StatusCode::OK, String::new()));
            }
        }
    }
}
