//! GitLab SSO as a person does it over HTTP: open Mattermost's GitLab login (or sign-up), follow
//! each redirect by hand, sign in on GitLab's form, pass the consent page or the trusted-app
//! redirect page, land back on Mattermost, and find out who is signed in — or which documented
//! error stopped the way. Works against a real GitLab and Mattermost: it reads the forms and links
//! the pages carry (shared/wire/gitlab.md), never a twin-only shortcut.

use serde::Serialize;
use url::Url;

use crate::config::{Secret, Version};
use crate::vocab::sso as sso_errors;
use crate::vocab::{Consent, SsoFlavour};

use super::error::{DriveError, bounded, server_text};
use super::html::{self, Document};
use super::http::{Body, Browser, Page, Request, url_text};
use super::transcript::Transcript;

/// At most this many pages on the way (a real round trip takes 6 to 8).
const MAX_HOPS: usize = 25;

/// The Mattermost side of the round trip.
#[derive(Debug, Clone)]
pub struct SsoTarget {
    pub mattermost_url: Url,
    /// Mattermost's version: 3.x serves SSO under `/api/v3/oauth/gitlab/...`.
    pub mattermost_version: Version,
}

/// A GitLab account.
#[derive(Debug, Clone)]
pub struct Person {
    pub login: String,
    pub password: Secret,
}

/// Who Mattermost says is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedInUser {
    pub id: String,
    /// The id this GitLab account first signed in as during the scenario run, when the runner
    /// knows it (an upgrade or a move out of omnibus must keep it); not part of the wire answer.
    #[serde(skip)]
    pub first_id_in_run: Option<String>,
    pub username: String,
    pub email: String,
    pub auth_service: String,
}

/// How the round trip ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SsoOutcome {
    /// Signed in to Mattermost.
    SignedIn(SignedInUser),
    /// Mattermost's error page: status, the message it shows, the error id that message stands for.
    MattermostError {
        status: u16,
        message: String,
        id: Option<String>,
    },
    /// GitLab's OAuth error page; Mattermost was never called back.
    GitlabError { description: String },
    /// The person denied access and Mattermost says so on its access-denied page
    /// (`/error?type=oauth_access_denied`, Mattermost 4 and later).
    AccessDenied,
}

fn api_prefix(v: Version) -> &'static str {
    if v.major < 4 { "/api/v3" } else { "/api/v4" }
}

/// Mattermost's GitLab SSO entry point for a flavour.
pub fn start_url(t: &SsoTarget, flavour: SsoFlavour) -> Result<Url, DriveError> {
    let action = match flavour {
        SsoFlavour::SignUp => "signup",
        SsoFlavour::LogIn => "login",
    };
    let path = if t.mattermost_version.major < 4 {
        format!("/api/v3/oauth/gitlab/{action}")
    } else {
        format!("/oauth/gitlab/{action}")
    };
    t.mattermost_url
        .join(&path)
        .map_err(|e| DriveError::protocol(format!("bad Mattermost URL: {e}")))
}

/// Whether two URLs belong to one site: same scheme, host and port (their origin). GitLab and
/// Mattermost may share a host name on two ports (`https://example.com` and
/// `https://example.com:8065`); a host name alone cannot tell them apart.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

fn query_value(u: &Url, key: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Run one SSO round trip for `person` in `browser`'s session.
pub async fn round_trip(
    browser: &Browser,
    target: &SsoTarget,
    flavour: SsoFlavour,
    person: &Person,
    consent: Consent,
    tr: &mut Transcript,
) -> Result<SsoOutcome, DriveError> {
    tr.secret(person.password.expose());
    let mm = &target.mattermost_url;
    let mut next = Request::get(start_url(target, flavour)?);
    let mut note: Option<String> = None;
    let mut signed_in_gitlab = false;
    for _ in 0..MAX_HOPS {
        let on_mm = same_origin(&next.url, mm);
        let page = browser.send(next, note.as_deref(), tr).await?;
        note = None;
        if page.is_redirect() {
            let loc = page.location().ok_or_else(|| {
                DriveError::protocol(format!(
                    "{} answered {} without a Location",
                    url_text(&page.url),
                    page.status
                ))
            })?;
            if on_mm && same_origin(&loc, mm) && !is_sso_path(loc.path()) {
                // Mattermost's final answer to the callback.
                if loc.path().ends_with("/error") {
                    // Only Mattermost's own access-denied page counts: 3.4 has no
                    // `error=access_denied` branch and shows its missing-code error instead
                    // (api/oauth.go v3.4.0 completeOAuth), which is that product's answer.
                    if query_value(&loc, "type").as_deref() == Some("oauth_access_denied") {
                        tr.fact("sso outcome", "access denied");
                        return Ok(SsoOutcome::AccessDenied);
                    }
                    return Ok(mattermost_error(page.status, &loc, tr));
                }
                return signed_in(browser, target, tr).await;
            }
            next = Request::get(loc);
            continue;
        }
        if on_mm {
            if page.status >= 400 {
                return mattermost_error_page(&page, tr);
            }
            if has_session(browser, mm) {
                return signed_in(browser, target, tr).await;
            }
            return Err(DriveError::protocol(format!(
                "Mattermost {} at {} without signing in or showing an error",
                page.answered(tr.secrets()),
                url_text(&page.url)
            )));
        }
        // A GitLab page.
        let doc = Document::of(&page)?;
        let forms = doc.forms();
        if let Some(form) = forms
            .iter()
            .find(|f| f.has_field("user[login]") && f.has_field("user[password]"))
        {
            if signed_in_gitlab {
                let msg = doc
                    .first_text(".flash-alert, .gl-alert-body, .alert")
                    .unwrap_or_else(|| "the sign-in form came back".into());
                return Err(DriveError::protocol(format!(
                    "GitLab refused the credentials of {}: {}",
                    person.login,
                    server_text(&msg, tr.secrets())
                )));
            }
            signed_in_gitlab = true;
            let action = form.action.clone().unwrap_or_else(|| page.url.clone());
            let fields = form.fill(&[
                ("user[login]", person.login.as_str()),
                ("user[password]", person.password.expose()),
                ("user[remember_me]", "0"),
            ]);
            tr.fact("gitlab page", "sign-in form");
            next = Request::post(action, Body::Form(fields));
            note = Some("sign in".into());
            continue;
        }
        let authorize_forms: Vec<&html::Form> = forms
            .iter()
            .filter(|f| {
                f.action
                    .as_ref()
                    .is_some_and(|a| a.path().ends_with("/oauth/authorize"))
                    && f.has_field("client_id")
            })
            .collect();
        if !authorize_forms.is_empty() {
            let is_deny = |f: &&&html::Form| f.value("_method") == Some("delete");
            let chosen = match consent {
                Consent::Approve => authorize_forms.iter().find(|f| !is_deny(f)),
                Consent::Deny => authorize_forms.iter().find(is_deny),
            }
            .ok_or_else(|| {
                DriveError::protocol(format!(
                    "GitLab's consent page at {} has no {} form",
                    url_text(&page.url),
                    if consent == Consent::Approve {
                        "approve"
                    } else {
                        "deny"
                    }
                ))
            })?;
            // Current GitLab's consent heading is a `.gl-text-size-h1` div, not a heading tag.
            let title = doc
                .first_text(".gl-text-size-h1, h1, h2, h3, h4")
                .map(|t| bounded(&t, tr.secrets()))
                .unwrap_or_else(|| "consent page".into());
            tr.fact("gitlab page", format!("consent: {title}"));
            let action = chosen.action.clone().unwrap_or_else(|| page.url.clone());
            next = Request::post(action, Body::Form(chosen.fill(&[])));
            note = Some(match consent {
                Consent::Approve => "authorize".into(),
                Consent::Deny => "deny".into(),
            });
            continue;
        }
        if let Some(link) = doc.links().into_iter().find(|l| {
            same_origin(l, mm)
                && (query_value(l, "code").is_some() || query_value(l, "error").is_some())
        }) {
            tr.fact(
                "gitlab page",
                "redirect page (application already authorised)",
            );
            next = Request::get(link);
            continue;
        }
        let text = doc.visible_text();
        if text.contains("An error has occurred") {
            let description = text
                .split_once("An error has occurred")
                .map(|(_, rest)| rest.trim().to_string())
                .unwrap_or_default();
            let description: String = bounded(&description, tr.secrets())
                .chars()
                .take(300)
                .collect();
            tr.fact("gitlab error page", description.clone());
            return Ok(SsoOutcome::GitlabError { description });
        }
        return Err(DriveError::protocol(format!(
            "GitLab answered {} {} with a page a person could not go on from",
            url_text(&page.url),
            page.status
        )));
    }
    Err(DriveError::protocol(format!(
        "the SSO round trip did not end after {MAX_HOPS} pages"
    )))
}

fn is_sso_path(path: &str) -> bool {
    path.contains("/oauth/gitlab/") || path.ends_with("/gitlab/complete")
}

fn has_session(browser: &Browser, mm: &Url) -> bool {
    browser
        .cookies(mm)
        .iter()
        .any(|(k, v)| k == "MMAUTHTOKEN" && !v.is_empty())
}

fn mattermost_error(status: u16, dest: &Url, tr: &mut Transcript) -> SsoOutcome {
    let full = query_value(dest, "message").unwrap_or_default();
    let id = sso_errors::by_message(&full).map(|e| e.id.to_string());
    let message = bounded(&full, tr.secrets());
    // 10.x names the missing-code page by type, without a message (web/oauth.go completeOAuth).
    let id = id.or_else(|| {
        (query_value(dest, "type").as_deref() == Some("oauth_missing_code"))
            .then(|| sso_errors::MISSING_CODE_ID.to_string())
    });
    tr.fact(
        "mattermost error",
        format!(
            "{status} {message:?} ({})",
            id.as_deref().unwrap_or("unknown id")
        ),
    );
    SsoOutcome::MattermostError {
        status,
        message,
        id,
    }
}

fn mattermost_error_page(page: &Page, tr: &mut Transcript) -> Result<SsoOutcome, DriveError> {
    // An API-style JSON error (`{"id","message","status_code"}`)?
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&page.body)
        && let Some(message) = v.get("message").and_then(|m| m.as_str())
    {
        let id = v
            .get("id")
            .and_then(|i| i.as_str())
            .map(|i| bounded(i, tr.secrets()))
            .or_else(|| sso_errors::by_message(message).map(|e| e.id.to_string()));
        let message = bounded(message, tr.secrets());
        tr.fact(
            "mattermost error",
            format!(
                "{} {message:?} ({})",
                page.status,
                id.as_deref().unwrap_or("unknown id")
            ),
        );
        return Ok(SsoOutcome::MattermostError {
            status: page.status,
            message,
            id,
        });
    }
    let doc = Document::of(page)?;
    Ok(match doc.error_destination(&page.body) {
        Some(dest) => mattermost_error(page.status, &dest, tr),
        None => {
            let full = doc.visible_text();
            let id = sso_errors::by_message(&full).map(|e| e.id.to_string());
            let message = bounded(&full, tr.secrets());
            tr.fact("mattermost error", format!("{} {message:?}", page.status));
            SsoOutcome::MattermostError {
                status: page.status,
                message,
                id,
            }
        }
    })
}

async fn signed_in(
    browser: &Browser,
    target: &SsoTarget,
    tr: &mut Transcript,
) -> Result<SsoOutcome, DriveError> {
    let mm = &target.mattermost_url;
    if !has_session(browser, mm) {
        return Err(DriveError::protocol(
            "Mattermost ended the round trip without a session cookie (MMAUTHTOKEN)",
        ));
    }
    let me = mm
        .join(&format!(
            "{}/users/me",
            api_prefix(target.mattermost_version)
        ))
        .map_err(|e| DriveError::protocol(format!("bad Mattermost URL: {e}")))?;
    let mut req = Request::get(me).header("X-Requested-With", "XMLHttpRequest");
    if let Some((_, csrf)) = browser.cookies(mm).into_iter().find(|(k, _)| k == "MMCSRF") {
        req = req.header("X-CSRF-Token", &csrf);
    }
    let page = browser.send(req, Some("who am I"), tr).await?;
    if page.status != 200 {
        return Err(DriveError::protocol(format!(
            "{} {} for the new session",
            url_text(&page.url),
            page.answered(tr.secrets())
        )));
    }
    let v = page.json()?;
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let user = SignedInUser {
        id: s("id"),
        first_id_in_run: None,
        username: s("username"),
        email: s("email"),
        auth_service: s("auth_service"),
    };
    tr.fact(
        "signed in",
        format!(
            "{} <{}> auth_service={}",
            user.username, user.email, user.auth_service
        ),
    );
    Ok(SsoOutcome::SignedIn(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_site_is_one_scheme_host_and_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        let mm = u("https://example.com:8065/");
        assert!(same_origin(&u("https://EXAMPLE.com:8065/x?y=1"), &mm));
        // GitLab on the same host name, another port: another site.
        assert!(!same_origin(&u("https://example.com/oauth/authorize"), &mm));
        assert!(!same_origin(&u("http://example.com:8065/"), &mm));
        // Default ports are the same origin written or not.
        assert!(same_origin(
            &u("https://gitlab.example.com:443/a"),
            &u("https://gitlab.example.com/b")
        ));
    }
}
