//! Webhooks: whether Mattermost takes incoming webhooks (a POST to a hook id that cannot exist:
//! 501 `web.incoming_webhook.disabled.app_error` when off, a webhook refusal when on (10.11: 400
//! `web.incoming_webhook.general.app_error`; 3.4: 500 "No text specified") — nothing is
//! created), whether GitLab would refuse to call it ("Requests to the local network are not
//! allowed", GitLab ≥ 10.6, read from GitLab's application settings with an admin token), and the
//! settings forced by environment variables (read-only in the System Console, lost when edited
//! there): from `GET /api/v4/config/environment`, or the `MM_*` variables a gitlab.rb renders.
//!
//! Owns: [`check`].

use std::net::IpAddr;

use serde_json::Value;

use super::finding::{Finding, FindingKind};
use super::probe::Probe;
use crate::config::{KeyEra, SettingSource, Version};
use crate::drive::http::{Body, Request};

/// A hook id no installation has (26 characters like Mattermost's ids).
const PROBE_HOOK: &str = "mmdoctorprobe0000000000000";

fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

pub async fn check(probe: &Probe) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(incoming(probe).await);
    out.extend(local_network(probe).await);
    out.extend(env_forced(probe).await);
    out
}

async fn incoming(probe: &Probe) -> Vec<Finding> {
    if let Some(base) = probe.prepared.inputs.mattermost.clone()
        && let Some(url) = Probe::join(&base, &format!("/hooks/{PROBE_HOOK}"))
    {
        let req = Request::post(url.clone(), Body::Json(serde_json::json!({"text": ""})));
        if let Ok(page) = probe.send(req).await {
            let id = serde_json::from_str::<Value>(&page.body)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            if page.status == 501 || id.contains("disabled") {
                return vec![Finding::new(
                    FindingKind::WebhooksIncomingDisabled,
                    url.to_string(),
                    format!("POST to a made-up hook answered {} {id}", page.status),
                )];
            }
            // 10.11 wraps the refusal as 400 `web.incoming_webhook.general.app_error`; 3.4 answers
            // "No text specified" with a 500 (`NewLocAppError`'s default status).
            let webhook_refusal =
                id.starts_with("web.incoming_webhook.") && (400..=500).contains(&page.status);
            if webhook_refusal || ((400..500).contains(&page.status) && !id.is_empty()) {
                return vec![Finding::new(
                    FindingKind::WebhooksIncomingOk,
                    url.to_string(),
                    format!(
                        "POST to a made-up hook answered {} {id} (enabled, hook unknown)",
                        page.status
                    ),
                )];
            }
        }
    }
    let Some(view) = probe.settings().await else {
        return Vec::new();
    };
    let kind = if view.incoming_webhooks {
        FindingKind::WebhooksIncomingOk
    } else {
        FindingKind::WebhooksIncomingDisabled
    };
    vec![Finding::new(
        kind,
        "ServiceSettings.EnableIncomingWebhooks",
        format!("{} (from {})", view.incoming_webhooks, view.origin),
    )]
}

async fn local_network(probe: &Probe) -> Vec<Finding> {
    let Some(mm) = probe.prepared.inputs.mattermost.clone() else {
        return Vec::new();
    };
    let Some(host) = mm.host_str().map(str::to_ascii_lowercase) else {
        return Vec::new();
    };
    let mut ips: Vec<IpAddr> = probe
        .reach
        .book
        .entries
        .iter()
        .filter(|e| e.host == host)
        .map(|e| e.addr.ip())
        .collect();
    if ips.is_empty() {
        let port = mm.port_or_known_default().unwrap_or(443);
        if let Ok(Ok(addrs)) = tokio::time::timeout(
            probe.request_timeout(),
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        {
            ips = addrs.map(|a| a.ip()).collect();
        }
    }
    let Some(ip) = ips.into_iter().find(|ip| private(*ip)) else {
        return Vec::new();
    };
    if let Ok(Some(v)) = probe.gitlab_version().await
        && v < Version::new(10, 6, 0)
    {
        return Vec::new();
    }
    // With an admin token, GitLab says whether it allows local requests from webhooks.
    if let (Some(base), Some((name, token))) =
        (probe.prepared.inputs.gitlab.clone(), probe.gitlab_auth())
        && let Some(url) = Probe::join(&base, "/api/v4/application/settings")
        && let Ok(page) = probe.get(url, &[(name, token.as_str())]).await
        && page.status == 200
        && let Ok(doc) = serde_json::from_str::<Value>(&page.body)
    {
        let allowed = doc
            .get("allow_local_requests_from_web_hooks_and_services")
            .and_then(Value::as_bool);
        let allowlist: Vec<String> = doc
            .get("outbound_local_requests_whitelist")
            .or_else(|| doc.get("outbound_local_requests_allowlist"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default();
        let listed = allowlist.iter().any(|h| *h == host || *h == ip.to_string());
        if allowed == Some(false) && !listed {
            return vec![Finding::new(
                FindingKind::WebhooksLocalNetwork,
                host,
                format!(
                    "{ip} is a private address; allow_local_requests_from_web_hooks_and_services = false and the allowlist does not name it"
                ),
            )];
        }
        return Vec::new();
    }
    vec![Finding::new(
        FindingKind::WebhooksPrivateAddress,
        host,
        format!("{ip} is a private address"),
    )]
}

async fn env_forced(probe: &Probe) -> Vec<Finding> {
    let mut forced: Vec<String> = Vec::new();
    let mut origin = "";
    if let (Some(base), Some(token)) = (
        probe.prepared.inputs.mattermost.clone(),
        probe.prepared.inputs.mattermost_token.as_ref(),
    ) && let Some(url) = Probe::join(&base, "/api/v4/config/environment")
    {
        let auth = format!("Bearer {}", token.expose());
        if let Ok(page) = probe.get(url, &[("Authorization", auth.as_str())]).await
            && page.status == 200
            && let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(&page.body)
        {
            origin = "GET /api/v4/config/environment";
            for (section, fields) in &doc {
                if let Value::Object(f) = fields {
                    forced.extend(f.keys().map(|k| format!("{section}.{k}")));
                }
            }
        }
    }
    if origin.is_empty()
        && let Some(r) = &probe.prepared.resolved
        && (r.era == KeyEra::EnvVars)
    {
        origin = "the MM_* variables gitlab.rb renders";
        forced.extend(
            r.effective
                .iter()
                .filter(|s| {
                    s.env_var.is_some()
                        && matches!(
                            s.source,
                            SettingSource::GitlabRb { .. } | SettingSource::EnvOverride { .. }
                        )
                })
                .map(|s| s.path.clone()),
        );
    }
    if forced.is_empty() {
        return Vec::new();
    }
    forced.sort();
    forced.dedup();
    let n = forced.len();
    let shown: Vec<String> = forced.into_iter().take(40).collect();
    vec![Finding::new(
        FindingKind::WebhooksEnvForced,
        format!("{n} settings"),
        format!("{} (from {origin})", shown.join(", ")),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "172.16.5.5",
            "::1",
            "fd00::1",
        ] {
            assert!(private(a.parse().unwrap()), "{a}");
        }
        for a in ["8.8.8.8", "2001:db8::1"] {
            assert!(!private(a.parse().unwrap()), "{a}");
        }
    }
}
