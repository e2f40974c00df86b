//! What `mm-harness twin` prints for a person: the summary `twin up` shows once everything
//! listens (documented URLs, loopback addresses, ready-to-paste curl lines, the twin's throw-away
//! credentials, the mail sink, the CA file, the faults) and the fault catalogue of `twin faults`.
//! The CLI prints these through `report::escape` (the URLs come from a user's gitlab.rb).

use std::fmt::Write as _;
use std::path::Path;

use crate::config::version::Profile;
use crate::twin::bringup::TwinHandle;
use crate::twin::fault::Fault;

/// The fault catalogue as `twin faults` prints it.
pub fn render_faults() -> String {
    let mut out = String::new();
    for f in Fault::ALL {
        let _ = writeln!(out, "{:<26} {}", f.name(), f.description());
        let _ = writeln!(out, "{:<26} → {}", "", f.documented_error());
    }
    out
}

/// What `twin up` prints once everything listens. The credentials are the twin's own throw-away
/// accounts, printed on purpose so a person can sign in.
pub fn render_summary(
    handle: &TwinHandle,
    profile: Profile,
    faults: &[Fault],
    ca_path: &Path,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mm-harness twin ({}): GitLab {} + Mattermost {}",
        profile.name(),
        profile.gitlab_version(),
        profile.mattermost_version()
    );
    let _ = writeln!(out, "\nListeners (documented name → loopback):");
    for e in &handle.address_book().entries {
        let _ = writeln!(
            out,
            "  {}://{}:{:<5} → {}",
            e.scheme, e.host, e.port, e.addr
        );
    }
    if let Some(g) = handle.gitlab() {
        let _ = writeln!(out, "\nGitLab      {}", g.url);
        let _ = writeln!(
            out,
            "  sign in as {} / {}",
            g.root_username,
            g.root_password.expose()
        );
        let _ = writeln!(
            out,
            "  admin personal access token: {}",
            g.admin_token.expose()
        );
        for u in g.twin.config().users.iter().filter(|u| !u.admin) {
            let _ = writeln!(out, "  user {} / {}", u.username, u.password.expose());
        }
    }
    if let Some(m) = handle.mattermost() {
        let _ = writeln!(out, "\nMattermost  {}", m.url);
        let _ = writeln!(
            out,
            "  system admin {} / {} ({})",
            m.admin_username,
            m.admin_password.expose(),
            m.admin_email
        );
    }
    if let Some(m) = handle.mattermost_plan()
        && let Some(app) = &m.registered_application
    {
        let _ = writeln!(
            out,
            "  GitLab SSO: application \"{}\" (id {}) registered by omnibus",
            app.name, app.uid
        );
    }
    if let Some(sink) = handle.mail_sink() {
        let _ = writeln!(
            out,
            "\nMail sink   {} (Mattermost's SMTP server; mail is kept in memory)",
            sink.hostname()
        );
        for l in sink.listeners() {
            let ports: Vec<String> = handle
                .address_book()
                .for_scheme("smtp")
                .filter(|e| e.addr == l.addr)
                .map(|e| format!("{}:{}", e.host, e.port))
                .collect();
            let _ = writeln!(
                out,
                "  SMTP {:<9} {} → {}",
                l.mode.name(),
                ports.join(", "),
                l.addr
            );
        }
        if let Some(url) = sink.mailbox_url() {
            let _ = writeln!(out, "  mailbox     {url} (JSON: {url}api/v1/messages)");
        }
    } else {
        let _ = writeln!(
            out,
            "\nMail sink   none: Mattermost's settings name no SMTP server other than localhost"
        );
    }
    let _ = writeln!(out, "\nCA certificate: {}", ca_path.display());
    for hint in curl_hints(handle, ca_path) {
        let _ = writeln!(out, "Try: {hint}");
    }
    if !faults.is_empty() {
        let _ = writeln!(out, "\nFaults:");
        for f in faults {
            let _ = writeln!(out, "  {} — {}", f.name(), f.documented_error());
        }
    }
    out
}

/// Ready-to-paste curl lines for GitLab's sign-in page: `--resolve` with the loopback port in
/// the URL, and `--connect-to` keeping the documented URL exactly.
fn curl_hints(handle: &TwinHandle, ca_path: &Path) -> Vec<String> {
    let Some(g) = handle.gitlab() else {
        return Vec::new();
    };
    let Ok(url) = url::Url::parse(&g.url) else {
        return Vec::new();
    };
    let (Some(addr), Some(host), Some(port)) = (
        handle.address_book().lookup_url(&url),
        url.host_str(),
        url.port_or_known_default(),
    ) else {
        return Vec::new();
    };
    let cacert = if url.scheme() == "https" {
        format!(" --cacert {}", ca_path.display())
    } else {
        String::new()
    };
    let scheme = url.scheme();
    vec![
        format!(
            "curl{cacert} --resolve {host}:{lp}:{ip} {scheme}://{host}:{lp}/users/sign_in",
            lp = addr.port(),
            ip = addr.ip()
        ),
        format!(
            "curl{cacert} --connect-to {host}:{port}:{ip}:{lp} {}/users/sign_in",
            g.url,
            lp = addr.port(),
            ip = addr.ip()
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twin::bringup::{Twin, TwinOptions};

    #[test]
    fn faults_listing_names_every_fault() {
        let text = render_faults();
        for f in Fault::ALL {
            assert!(text.contains(f.name()));
        }
    }

    #[tokio::test]
    async fn summary_names_urls_credentials_and_a_curl_line() {
        let opts = TwinOptions::single_server_https(Profile::Gitlab18_11);
        let handle = Twin::start(opts).await.unwrap();
        let text = render_summary(
            &handle,
            Profile::Gitlab18_11,
            &[Fault::WebhooksDisabled],
            Path::new("/tmp/x/ca.pem"),
        );
        assert!(
            text.contains("GitLab      https://gitlab.example.com"),
            "{text}"
        );
        assert!(text.contains("sign in as root / Twin-root-pass1"));
        assert!(text.contains("https://gitlab.example.com:443 "));
        assert!(text.contains("CA certificate: /tmp/x/ca.pem"));
        assert!(text.contains("--connect-to gitlab.example.com:443:127.0.0.1:"));
        assert!(text.contains("--cacert /tmp/x/ca.pem --resolve gitlab.example.com:"));
        assert!(text.contains("webhooks-disabled"));
        assert!(text.contains("Mattermost  https://mattermost.example.com"));
        assert!(text.contains("system admin sysadmin / "));
        assert!(text.contains("application \"GitLab Mattermost\""));
        // The registered application's secret is not a throw-away login: never printed.
        let app = handle
            .mattermost_plan()
            .unwrap()
            .registered_application
            .clone();
        assert!(!text.contains(app.unwrap().secret.expose()), "{text}");
    }
}
