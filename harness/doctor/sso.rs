//! GitLab SSO wiring, seen from outside: Mattermost's GitLab settings (enabled, SiteURL equal to
//! the URL users open, endpoints on the GitLab that answers, no `/api/v3/user` on GitLab ≥ 11,
//! the v11 licence rule), what the web app offers (`/api/v4/config/client?format=old`), the token
//! endpoint's answer to a probe (`invalid_client` JSON is the healthy sign; with the real client
//! id and secret, `invalid_grant` proves the secret), the OAuth application in GitLab (admin
//! token: both callback URLs, right scheme and host), and where Mattermost's sign-in sends users
//! (`redirect_uri` under SiteURL, the state cookie `Secure` behind https).
//!
//! Owns: the SSO checks of `run::CheckId`. Read-only: the token probe uses a made-up code, which
//! GitLab refuses before anything is stored.

use serde_json::Value;
use url::Url;

use super::config_checks::origin;
use super::finding::{Finding, FindingKind};
use super::inputs::SettingsView;
use super::probe::Probe;
use crate::config::Version;
use crate::drive::http::{Body, Request};
use crate::upgrade::mattermost_rules::V11_SSO_SOURCE;

/// The code the token probe sends: never a real grant.
const PROBE_CODE: &str = "mm-doctor-probe-not-a-code";

/// `scheme://host[:port]` without a trailing slash, lower-case, default port dropped.
fn normal(raw: &str) -> Option<String> {
    let u = Url::parse(raw.trim()).ok()?;
    let mut s = format!("{}://{}", u.scheme(), u.host_str()?.to_ascii_lowercase());
    if let Some(p) = u.port() {
        s.push_str(&format!(":{p}"));
    }
    let path = u.path().trim_end_matches('/');
    s.push_str(path);
    Some(s)
}

/// The URL users open, for SiteURL comparisons.
fn expected_site(probe: &Probe) -> Option<String> {
    probe
        .prepared
        .mattermost_url()
        .and_then(|u| normal(u.as_str()))
}

/// Mattermost's GitLab settings and what the web app shows.
pub async fn settings(probe: &Probe) -> Vec<Finding> {
    let mut out = Vec::new();
    let mm = probe.prepared.inputs.mattermost.clone();
    // What the web app gets without signing in.
    if let Some(base) = &mm
        && let Some(url) = Probe::join(base, "/api/v4/config/client?format=old")
        && let Ok(page) = probe.get(url.clone(), &[]).await
        && page.status == 200
        && let Ok(doc) = serde_json::from_str::<Value>(&page.body)
        && let Some(flag) = doc.get("EnableSignUpWithGitLab").and_then(Value::as_str)
        && flag != "true"
    {
        out.push(Finding::new(
            FindingKind::SsoButtonHidden,
            url.to_string(),
            format!("EnableSignUpWithGitLab = {flag:?}"),
        ));
    }
    let Some(view) = probe.settings().await else {
        return out;
    };
    let origin_note = format!("(from {})", view.origin);
    if !view.gitlab_enable {
        out.push(Finding::new(
            FindingKind::SsoDisabled,
            "GitLabSettings.Enable",
            format!("false {origin_note}"),
        ));
        return out;
    }
    let before = out.len();
    match (view.site_url.trim(), expected_site(probe)) {
        ("", _) => out.push(Finding::new(
            FindingKind::SsoSiteUrlEmpty,
            "ServiceSettings.SiteURL",
            format!("empty {origin_note}"),
        )),
        (site, Some(expected)) if normal(site).as_deref() != Some(expected.as_str()) => {
            out.push(Finding::new(
                FindingKind::SsoSiteUrlMismatch,
                "ServiceSettings.SiteURL",
                format!("SiteURL {site:?} but users open {expected:?} {origin_note}"),
            ))
        }
        _ => {}
    }
    if let Some(gitlab) = probe
        .prepared
        .inputs
        .gitlab
        .as_ref()
        .and_then(|u| origin(u.as_str()))
    {
        for (name, value) in [
            ("AuthEndpoint", &view.auth_endpoint),
            ("TokenEndpoint", &view.token_endpoint),
            ("UserAPIEndpoint", &view.user_api_endpoint),
        ] {
            if origin(value).as_ref() != Some(&gitlab) {
                out.push(Finding::new(
                    FindingKind::SsoEndpointsOtherGitlab,
                    format!("GitLabSettings.{name}"),
                    format!(
                        "{value:?} but GitLab answers at {}://{}:{} {origin_note}",
                        gitlab.0, gitlab.1, gitlab.2
                    ),
                ));
            }
        }
    }
    if view.user_api_endpoint.contains("/api/v3/") {
        out.extend(user_api_v3(probe, &view).await);
    }
    if let Some(packet) = &probe.prepared.inputs.support_packet
        && probe.prepared.inputs.mattermost.is_none()
        && let Some((v, file)) = &packet.server_version
        && *v >= Version::new(11, 0, 0)
        && packet.licensed == Some(false)
    {
        out.push(Finding::new(
            FindingKind::SsoLicenseRequired,
            file.clone(),
            format!(
                "Mattermost {v} without a licence (the Support Packet's license fields are empty) and GitLabSettings.Enable = true; rule: {V11_SSO_SOURCE}"
            ),
        ));
    }
    if let Ok(p) = probe.ping().await
        && let Some(v) = p.version()
        && v >= Version::new(11, 0, 0)
        && p.licensed() == Some(false)
    {
        out.push(Finding::new(
            FindingKind::SsoLicenseRequired,
            "X-Version-Id",
            format!(
                "Mattermost {v} without a licence (X-Version-Id ends in .false) and GitLabSettings.Enable = true; rule: {V11_SSO_SOURCE}"
            ),
        ));
    }
    if out.len() == before {
        out.push(Finding::new(
            FindingKind::SsoWiredOk,
            "GitLabSettings",
            format!(
                "Enable = true, SiteURL {:?}, endpoints on {} {origin_note}",
                view.site_url,
                origin(&view.auth_endpoint)
                    .map(|o| format!("{}://{}:{}", o.0, o.1, o.2))
                    .unwrap_or_else(|| "?".into())
            ),
        ));
    }
    out
}

/// Ask the v3 user endpoint what it answers: 410 on GitLab ≥ 11.
async fn user_api_v3(probe: &Probe, view: &SettingsView) -> Vec<Finding> {
    let subject = "GitLabSettings.UserAPIEndpoint".to_string();
    if !probe.prepared.inputs.online() {
        // Offline (a Support Packet): nothing to ask; the version given says whether v3 is gone.
        return match probe.prepared.inputs.gitlab_version {
            Some(v) if v >= Version::new(11, 0, 0) => vec![Finding::new(
                FindingKind::SsoUserApiV3Removed,
                subject,
                format!(
                    "{:?} on GitLab {v} (--gitlab-version)",
                    view.user_api_endpoint
                ),
            )],
            _ => vec![Finding::new(
                FindingKind::ConfigUserApiV3,
                subject,
                format!(
                    "{:?} (from {}); GitLab 11.0 and later answer 410",
                    view.user_api_endpoint, view.origin
                ),
            )],
        };
    }
    let Ok(url) = Url::parse(view.user_api_endpoint.trim()) else {
        return Vec::new();
    };
    match probe.get(url, &[]).await {
        Ok(p) if p.status == 410 => vec![Finding::new(
            FindingKind::SsoUserApiV3Removed,
            subject,
            format!(
                "{:?} answers 410: {}",
                view.user_api_endpoint,
                super::finding::bound(p.body.trim().to_string(), 200)
            ),
        )],
        // GitLab < 11 still serves v3 (401 without a token): nothing to fix yet.
        Ok(_) | Err(_) => match probe.gitlab_version().await {
            Ok(Some(v)) if v >= Version::new(11, 0, 0) => vec![Finding::new(
                FindingKind::SsoUserApiV3Removed,
                subject,
                format!("{:?} on GitLab {v}", view.user_api_endpoint),
            )],
            _ => Vec::new(),
        },
    }
}

/// The token endpoint answers a probe with OAuth JSON; with the real id and secret, GitLab
/// accepts the client (`invalid_grant` for the made-up code) or refuses it (`invalid_client`).
pub async fn token_endpoint(probe: &Probe) -> Vec<Finding> {
    let view = probe.settings().await;
    let endpoint = view
        .as_ref()
        .filter(|v| !v.token_endpoint.trim().is_empty())
        .map(|v| v.token_endpoint.trim().to_string())
        .or_else(|| {
            probe
                .prepared
                .inputs
                .gitlab
                .as_ref()
                .and_then(|g| Probe::join(g, "/oauth/token"))
                .map(|u| u.to_string())
        });
    let Some(endpoint) = endpoint else {
        return Vec::new();
    };
    let Ok(url) = Url::parse(&endpoint) else {
        return vec![Finding::new(
            FindingKind::SsoTokenEndpointHtml,
            "GitLabSettings.TokenEndpoint",
            format!("{endpoint:?} is not a URL"),
        )];
    };
    let id = view
        .as_ref()
        .map(|v| v.gitlab_id.clone())
        .filter(|s| !s.is_empty());
    let secret = view
        .as_ref()
        .map(|v| v.client_secret.clone())
        .filter(|s| !s.is_empty());
    let real_client = id.is_some() && secret.is_some();
    let site = expected_site(probe).unwrap_or_else(|| "http://mattermost.invalid".into());
    let form = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), PROBE_CODE.to_string()),
        (
            "redirect_uri".to_string(),
            format!("{site}/signup/gitlab/complete"),
        ),
        (
            "client_id".to_string(),
            id.clone().unwrap_or_else(|| "mm-doctor-probe".into()),
        ),
        (
            "client_secret".to_string(),
            secret
                .as_ref()
                .map(|s| s.expose().to_string())
                .unwrap_or_else(|| "mm-doctor-probe".into()),
        ),
    ];
    let req = Request::post(url, Body::Form(form)).header("Accept", "application/json");
    let subject = endpoint.clone();
    let page = match probe.send(req).await {
        Ok(p) => p,
        Err(e) => {
            return vec![Finding::new(
                FindingKind::SsoTokenEndpointUnreachable,
                subject,
                e.message,
            )];
        }
    };
    let ctype = page.content_type().unwrap_or("").to_ascii_lowercase();
    let json: Option<Value> = serde_json::from_str(&page.body).ok();
    let error = json
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(error) = error.filter(|_| ctype.contains("json")) else {
        return vec![Finding::new(
            FindingKind::SsoTokenEndpointHtml,
            subject,
            format!(
                "POST answered {} with {:?}, not OAuth JSON",
                page.status,
                if ctype.is_empty() {
                    "no content type"
                } else {
                    ctype.as_str()
                }
            ),
        )];
    };
    if real_client && error == "invalid_client" {
        return vec![Finding::new(
            FindingKind::SsoClientSecretWrong,
            subject,
            format!(
                "GitLab answered {} invalid_client to GitLabSettings.Id {:?} with Mattermost's secret",
                page.status,
                id.unwrap_or_default()
            ),
        )];
    }
    let meaning = if real_client {
        "the client id and secret are accepted (the made-up code is refused)"
    } else {
        "a probe client is refused, as it should be (no client secret to test the real one)"
    };
    vec![Finding::new(
        FindingKind::SsoTokenEndpointOk,
        subject,
        format!("{} {error}: {meaning}", page.status),
    )]
}

/// The OAuth application in GitLab, through the admin API.
pub async fn application(probe: &Probe) -> Vec<Finding> {
    let (Some(base), Some((name, token))) =
        (probe.prepared.inputs.gitlab.clone(), probe.gitlab_auth())
    else {
        return Vec::new();
    };
    let Some(url) = Probe::join(&base, "/api/v4/applications") else {
        return Vec::new();
    };
    let page = match probe.get(url.clone(), &[(name, token.as_str())]).await {
        Ok(p) => p,
        // A certificate refused is the TLS check's finding; no answer at all is worth saying.
        Err(e) if e.message.to_ascii_lowercase().contains("certificate") => return Vec::new(),
        Err(e) => {
            let kind = if super::net_checks::is_timeout(&e.message) {
                FindingKind::ReachGitlabSlow
            } else {
                FindingKind::ReachGitlabDown
            };
            return vec![Finding::new(kind, url.to_string(), e.message)];
        }
    };
    // GitLab 8.x has no applications API; a token without admin rights gets 403.
    let Some(apps) = (page.status == 200)
        .then(|| serde_json::from_str::<Value>(&page.body).ok())
        .flatten()
        .and_then(|v| v.as_array().cloned())
    else {
        return Vec::new();
    };
    let view = probe.settings().await;
    let id = view
        .as_ref()
        .map(|v| v.gitlab_id.clone())
        .unwrap_or_default();
    let site = view
        .as_ref()
        .map(|v| v.site_url.trim().trim_end_matches('/').to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| expected_site(probe));
    let app = if id.is_empty() {
        apps.iter().find(|a| {
            a.get("application_name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.to_ascii_lowercase().contains("mattermost"))
        })
    } else {
        apps.iter()
            .find(|a| a.get("application_id").and_then(Value::as_str) == Some(id.as_str()))
    };
    let Some(app) = app else {
        let names: Vec<&str> = apps
            .iter()
            .filter_map(|a| a.get("application_name").and_then(Value::as_str))
            .take(10)
            .collect();
        return vec![Finding::new(
            FindingKind::SsoApplicationMissing,
            base.as_str().trim_end_matches('/'),
            format!(
                "no application with id {id:?} among {} ({})",
                apps.len(),
                names.join(", ")
            ),
        )];
    };
    let app_name = app
        .get("application_name")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let registered: Vec<String> = app
        .get("callback_url")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split_whitespace()
        .map(|s| s.trim_end_matches('/').to_string())
        .collect();
    let Some(site) = site else {
        return Vec::new();
    };
    let expected = [
        format!("{site}/login/gitlab/complete"),
        format!("{site}/signup/gitlab/complete"),
    ];
    let missing: Vec<&String> = expected
        .iter()
        .filter(|e| !registered.iter().any(|r| r.eq_ignore_ascii_case(e)))
        .collect();
    if missing.is_empty() {
        vec![Finding::new(
            FindingKind::SsoApplicationOk,
            format!("application {app_name:?}"),
            format!("callbacks: {}", registered.join(" ")),
        )]
    } else {
        vec![Finding::new(
            FindingKind::SsoCallbackMissing,
            format!("application {app_name:?}"),
            format!(
                "missing {}; registered: {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                registered.join(" ")
            ),
        )]
    }
}

/// Where Mattermost's "GitLab" button sends users: the authorize URL's `redirect_uri` and the
/// state cookie.
pub async fn login_redirect(probe: &Probe) -> Vec<Finding> {
    let Some(base) = probe.prepared.inputs.mattermost.clone() else {
        return Vec::new();
    };
    let path = match probe.ping().await {
        Ok(p) if p.version().is_some_and(|v| v.major < 4) => "/api/v3/oauth/gitlab/login",
        _ => "/oauth/gitlab/login",
    };
    let Some(url) = Probe::join(&base, path) else {
        return Vec::new();
    };
    let Ok(page) = probe.get(url.clone(), &[]).await else {
        return Vec::new();
    };
    // SSO off answers 501 (the settings check says so); nothing more to see here.
    let Some(location) = page.location().filter(|_| page.is_redirect()) else {
        return Vec::new();
    };
    let subject = url.to_string();
    let redirect_uri = location
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned());
    let mut out = Vec::new();
    let expected = normal(base.as_str()).unwrap_or_default();
    match &redirect_uri {
        Some(r) if normal(r).is_some_and(|n| n.starts_with(&format!("{expected}/"))) => {}
        other => out.push(Finding::new(
            FindingKind::SsoLoginRedirectMismatch,
            subject.clone(),
            format!(
                "redirect_uri {:?} is not under {expected:?}",
                other.as_deref().unwrap_or("(none)")
            ),
        )),
    }
    if base.scheme() == "https" {
        let insecure_cookie = page
            .headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter(|c| c.starts_with("MMOAUTH="))
            .find(|c| {
                !c.split(';')
                    .any(|a| a.trim().eq_ignore_ascii_case("secure"))
            });
        if let Some(c) = insecure_cookie {
            let attrs: Vec<&str> = c.split(';').skip(1).map(str::trim).collect();
            out.push(Finding::new(
                FindingKind::ProxyForwardedProtoMissing,
                subject.clone(),
                format!(
                    "the OAuth state cookie MMOAUTH comes without Secure ({}): Mattermost saw an http request, so its token request will use an http:// redirect_uri",
                    attrs.join("; ")
                ),
            ));
        }
    }
    if out.is_empty() {
        out.push(Finding::new(
            FindingKind::SsoLoginRedirectOk,
            subject,
            format!(
                "→ {}://{}{} with redirect_uri {}",
                location.scheme(),
                location.host_str().unwrap_or(""),
                location.path(),
                redirect_uri.unwrap_or_default()
            ),
        ));
    }
    out
}
