//! Reachability, TLS and the reverse proxy: DNS for both names, Mattermost's ping and
//! `X-Version-Id`, GitLab's answer (and version with a token), the certificate each https host
//! serves (chain, expiry, host name, via `drive::tls_probe`), the http→https redirect, and the
//! websocket upgrade through the proxy (a raw HTTP/1.1 request with `Upgrade`/`Connection`).
//!
//! Owns: one `async fn` per check in `run::CheckId`'s reachability/TLS/proxy part. Read-only: GETs
//! and a websocket handshake that is closed right away.

use std::collections::BTreeSet;
use std::net::IpAddr;

use url::Url;

use super::finding::{Finding, FindingKind};
use super::probe::{Probe, raw_exchange};
use crate::drive::{Transcript, tls_probe};

/// Whether a request failed because no answer came in time (the drivers' wording, reqwest's).
pub(crate) fn is_timeout(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("timed out")
        || m.contains("timeout")
        || m.contains("deadline")
        || m.contains("no answer within")
}

/// Whether a request failed on the server's certificate (it answered, the TLS check says more).
fn is_certificate_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("certificate") || m.contains("unknownissuer") || m.contains("notvalidforname")
}

/// The hosts to look at: (role, URL).
fn hosts(probe: &Probe) -> Vec<(&'static str, Url)> {
    let i = &probe.prepared.inputs;
    let mut out = Vec::new();
    if let Some(u) = &i.mattermost {
        out.push(("Mattermost", u.clone()));
    }
    if let Some(u) = &i.gitlab {
        out.push(("GitLab", u.clone()));
    }
    out
}

/// Both names resolve (through `--resolve` first); on a single-server install, say whether they
/// name the same machine.
pub async fn dns(probe: &Probe) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut sets: Vec<BTreeSet<IpAddr>> = Vec::new();
    for (role, url) in hosts(probe) {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            continue;
        };
        let from_book: BTreeSet<IpAddr> = probe
            .reach
            .book
            .entries
            .iter()
            .filter(|e| e.host == host)
            .map(|e| e.addr.ip())
            .collect();
        if !from_book.is_empty() {
            out.push(Finding::new(
                FindingKind::ReachDnsOk,
                host.clone(),
                format!(
                    "{role}: --resolve → {}",
                    from_book
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            sets.push(from_book);
            continue;
        }
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            sets.push(BTreeSet::from([ip]));
            continue;
        }
        // RFC 6761 §6.4: `invalid` names never exist, and resolvers should say so without
        // asking anyone (glibc would ask the configured name server).
        if host == "invalid" || host.ends_with(".invalid") {
            out.push(Finding::new(
                FindingKind::ReachDnsFailed,
                host.clone(),
                format!("{role}: {host} does not exist (`.invalid` is reserved by RFC 6761 §6.4: no name under it ever resolves)"),
            ));
            continue;
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::time::timeout(
            probe.request_timeout(),
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await;
        match lookup {
            Ok(Ok(addrs)) => {
                let ips: BTreeSet<IpAddr> = addrs.map(|a| a.ip()).collect();
                out.push(Finding::new(
                    FindingKind::ReachDnsOk,
                    host.clone(),
                    format!(
                        "{role}: {}",
                        ips.iter()
                            .map(|a| a.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                sets.push(ips);
            }
            Ok(Err(e)) => out.push(Finding::new(
                FindingKind::ReachDnsFailed,
                host.clone(),
                format!("{role}: {e}"),
            )),
            Err(_) => out.push(Finding::new(
                FindingKind::ReachDnsFailed,
                host.clone(),
                format!("{role}: the resolver did not answer in time"),
            )),
        }
    }
    let single_server = probe.prepared.resolved.as_ref().is_some_and(|r| {
        r.host.gitlab_rails_enabled && r.host.mattermost_enabled && r.host.external_url.is_some()
    });
    if single_server
        && sets.len() == 2
        && sets[0].is_disjoint(&sets[1])
        && let Some(f) = out.iter_mut().rfind(|f| f.kind == FindingKind::ReachDnsOk)
    {
        f.evidence.push_str(
            "; note: gitlab.rb runs both on one server but the names resolve to different addresses",
        );
    }
    out
}

/// `GET /api/v4/system/ping`: status OK and `X-Version-Id`.
pub async fn mattermost_ping(probe: &Probe) -> Vec<Finding> {
    let Some(url) = probe.prepared.inputs.mattermost.clone() else {
        return Vec::new();
    };
    let subject = url.as_str().trim_end_matches('/').to_string();
    match probe.ping().await {
        Err(e) if is_certificate_error(&e.message) => vec![Finding::new(
            FindingKind::ReachMattermostOk,
            subject,
            format!(
                "answers over TLS, but its certificate is refused (see TLS): {}",
                e.message
            ),
        )],
        Err(e) => vec![Finding::new(
            FindingKind::ReachMattermostDown,
            subject,
            e.message.clone(),
        )],
        Ok(p) if p.status == 200 && p.version_id.is_some() => {
            let version = p
                .version()
                .map(|v| format!("Mattermost {v}"))
                .unwrap_or_else(|| "Mattermost".into());
            vec![Finding::new(
                FindingKind::ReachMattermostOk,
                subject,
                format!(
                    "{version}, status {}, X-Version-Id {}",
                    p.body_status.as_deref().unwrap_or("?"),
                    p.version_id.as_deref().unwrap_or("")
                ),
            )]
        }
        Ok(p) if p.status == 200 => vec![Finding::new(
            FindingKind::ReachNotMattermost,
            subject,
            "GET /api/v4/system/ping answered 200 without X-Version-Id",
        )],
        Ok(p) => vec![Finding::new(
            FindingKind::ReachMattermostDown,
            subject,
            format!("GET /api/v4/system/ping answered {}", p.status),
        )],
    }
}

/// GitLab answers: `/api/v4/version` with a token, else the sign-in page.
pub async fn gitlab_ping(probe: &Probe) -> Vec<Finding> {
    let Some(base) = probe.prepared.inputs.gitlab.clone() else {
        return Vec::new();
    };
    let subject = base.as_str().trim_end_matches('/').to_string();
    let down = |message: String| {
        if is_certificate_error(&message) {
            return vec![Finding::new(
                FindingKind::ReachGitlabOk,
                subject.clone(),
                format!("answers over TLS, but its certificate is refused (see TLS): {message}"),
            )];
        }
        let kind = if is_timeout(&message) {
            FindingKind::ReachGitlabSlow
        } else {
            FindingKind::ReachGitlabDown
        };
        vec![Finding::new(kind, subject.clone(), message)]
    };
    match probe.gitlab_version().await {
        Ok(Some(v)) => {
            return vec![Finding::new(
                FindingKind::ReachGitlabOk,
                subject,
                format!("GitLab {v} (GET /api/v4/version)"),
            )];
        }
        Ok(None) => {}
        Err(e) => return down(e),
    }
    let Some(url) = Probe::join(&base, "/users/sign_in") else {
        return Vec::new();
    };
    match probe.get(url, &[]).await {
        Err(e) => down(e.message),
        Ok(p) if p.status == 200 => vec![Finding::new(
            FindingKind::ReachGitlabOk,
            subject,
            "the sign-in page answers 200 (the version needs --gitlab-token or --gitlab-version)",
        )],
        Ok(p) => down(format!("GET /users/sign_in answered {}", p.status)),
    }
}

/// Classify a certificate check's verdict (rustls's error text).
fn tls_kind(verify_error: &str, chain_len: usize, self_issued: bool) -> FindingKind {
    let e = verify_error.to_ascii_lowercase();
    if e.contains("expired")
        || e.contains("not valid after")
        || e.contains("notvalidyet")
        || e.contains("not valid before")
    {
        FindingKind::TlsExpired
    } else if e.contains("not valid for name") || e.contains("notvalidforname") {
        FindingKind::TlsWrongHost
    } else if (e.contains("unknownissuer") || e.contains("unknown issuer"))
        && chain_len == 1
        && !self_issued
    {
        FindingKind::TlsChainIncomplete
    } else {
        FindingKind::TlsUntrusted
    }
}

async fn tls_of(probe: &Probe, url: Option<Url>) -> Vec<Finding> {
    let Some(url) = url else {
        return Vec::new();
    };
    let host = url.host_str().unwrap_or("").to_string();
    let mut tr = Transcript::new();
    let view = match tls_probe::inspect(
        &url,
        &probe.reach.book,
        &probe.reach.roots,
        probe.request_timeout(),
        &mut tr,
    )
    .await
    {
        Ok(v) => v,
        Err(e) => {
            return vec![Finding::new(
                FindingKind::TlsHandshakeFailed,
                host,
                e.message,
            )];
        }
    };
    probe.mark_answered();
    let described = format!(
        "subject CN={} SANs=[{}] issuer CN={} chain={} valid {} → {}",
        view.subject_cn.as_deref().unwrap_or("-"),
        view.sans.join(", "),
        view.issuer_cn.as_deref().unwrap_or("-"),
        view.chain_len,
        view.not_before,
        view.not_after
    );
    if let Some(err) = &view.verify_error {
        let kind = tls_kind(err, view.chain_len, view.subject_cn == view.issuer_cn);
        return vec![Finding::new(kind, host, format!("{err}; {described}"))];
    }
    let expires = time::OffsetDateTime::parse(
        &view.not_after,
        &time::format_description::well_known::Rfc3339,
    )
    .ok();
    if let Some(t) = expires {
        let left = t - time::OffsetDateTime::now_utc();
        if left < time::Duration::days(30) {
            return vec![Finding::new(
                FindingKind::TlsExpiresSoon,
                host,
                format!("{} days left; {described}", left.whole_days()),
            )];
        }
    }
    vec![Finding::new(FindingKind::TlsOk, host, described)]
}

pub async fn mattermost_tls(probe: &Probe) -> Vec<Finding> {
    tls_of(probe, probe.prepared.inputs.mattermost.clone()).await
}

pub async fn gitlab_tls(probe: &Probe) -> Vec<Finding> {
    tls_of(probe, probe.prepared.inputs.gitlab.clone()).await
}

/// `http://host/` answers a redirect to `https://host/` for every https URL.
pub async fn http_redirect(probe: &Probe) -> Vec<Finding> {
    let mut out = Vec::new();
    let resolved = probe.prepared.resolved.as_ref();
    for (role, url) in hosts(probe) {
        if url.scheme() != "https" {
            continue;
        }
        let configured = resolved.map(|r| match role {
            "Mattermost" => r.host.mattermost_nginx.redirect_http_to_https,
            _ => r.host.gitlab_nginx.redirect_http_to_https,
        });
        let mut http = url.clone();
        if http.set_scheme("http").is_err() || http.set_port(None).is_err() {
            continue;
        }
        http.set_path("/");
        let host = url.host_str().unwrap_or("").to_string();
        match probe.get(http.clone(), &[]).await {
            Ok(p) if p.is_redirect() => match p.location() {
                Some(loc) if loc.scheme() == "https" && loc.host_str() == url.host_str() => {
                    out.push(Finding::new(
                        FindingKind::ProxyHttpRedirectOk,
                        host,
                        format!("{http} → {} {loc}", p.status),
                    ))
                }
                other => out.push(Finding::new(
                    FindingKind::ProxyHttpNotRedirected,
                    host,
                    format!(
                        "{http} answers {} to {}",
                        p.status,
                        other.map(|u| u.to_string()).unwrap_or_else(|| "nowhere".into())
                    ),
                )),
            },
            Ok(p) => out.push(Finding::new(
                FindingKind::ProxyHttpNotRedirected,
                host,
                format!("{http} answers {} instead of redirecting", p.status),
            )),
            Err(e) if configured == Some(true) => out.push(Finding::new(
                FindingKind::ProxyHttpNotRedirected,
                host,
                format!(
                    "{role}'s redirect_http_to_https is on in gitlab.rb but {http} does not answer: {}",
                    e.message
                ),
            )),
            Err(_) => {}
        }
    }
    out
}

/// A websocket handshake to Mattermost through whatever proxy is in front of it.
pub async fn websocket(probe: &Probe) -> Vec<Finding> {
    let Some(base) = probe.prepared.inputs.mattermost.clone() else {
        return Vec::new();
    };
    // Mattermost 3.x served its websocket under API v3.
    let path = match probe.ping().await {
        Ok(p) if p.version().is_some_and(|v| v.major < 4) => "/api/v3/users/websocket",
        _ => "/api/v4/websocket",
    };
    let Some(url) = Probe::join(&base, path) else {
        return Vec::new();
    };
    let host_header = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => return Vec::new(),
    };
    let origin = base.origin().ascii_serialization();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: bW0tZG9jdG9yLXByb2JlIQ==\r\nSec-WebSocket-Version: 13\r\n\
         Origin: {origin}\r\nUser-Agent: mm-doctor\r\n\r\n"
    );
    let subject = url.to_string();
    match tokio::time::timeout(
        probe.request_timeout(),
        raw_exchange(&probe.reach.book, &url, request.as_bytes()),
    )
    .await
    {
        Err(_) => vec![Finding::new(
            FindingKind::ProxyWebsocketDropped,
            subject,
            "no answer to the websocket handshake in time",
        )],
        Ok(Err(e)) => vec![Finding::new(FindingKind::ProxyWebsocketDropped, subject, e)],
        Ok(Ok((status, text))) => {
            probe.mark_answered();
            let first = text.lines().next().unwrap_or("").to_string();
            let body = text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.trim().to_string())
                .unwrap_or_default();
            let evidence = format!("{first} {}", super::finding::bound(body, 200));
            match status {
                101 | 401 => vec![Finding::new(FindingKind::ProxyWebsocketOk, subject, first)],
                400 | 426 => vec![Finding::new(
                    FindingKind::ProxyWebsocketDropped,
                    subject,
                    evidence,
                )],
                _ => vec![Finding::new(
                    FindingKind::ProxyWebsocketNotServed,
                    subject,
                    evidence,
                )],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_verdicts_are_classified() {
        use FindingKind as K;
        assert_eq!(
            tls_kind(
                "invalid peer certificate: certificate expired: verification time 1 (UNIX), but certificate is not valid after 0",
                2,
                false
            ),
            K::TlsExpired
        );
        assert_eq!(
            tls_kind(
                "invalid peer certificate: certificate not valid for name \"a\"",
                2,
                false
            ),
            K::TlsWrongHost
        );
        assert_eq!(
            tls_kind("invalid peer certificate: UnknownIssuer", 1, false),
            K::TlsChainIncomplete
        );
        assert_eq!(
            tls_kind("invalid peer certificate: UnknownIssuer", 1, true),
            K::TlsUntrusted
        );
        assert_eq!(
            tls_kind("invalid peer certificate: UnknownIssuer", 2, false),
            K::TlsUntrusted
        );
    }
}
