//! `mm-harness twin`: start the embedded reference stack by hand.
//!
//! Owns: the `twin up` and `twin faults` flags, printing where everything is (documented URLs,
//! loopback addresses, a ready-to-paste `curl --resolve` line), the twin's throw-away admin
//! credentials and the CA file, and running until Ctrl-C.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::config::version::Profile;
use crate::twin::bringup::{Twin, TwinHandle, TwinOptions};
use crate::twin::fault::Fault;

use super::{CliError, Context};

#[derive(Debug, Subcommand)]
pub enum TwinCommand {
    /// Start GitLab + Mattermost on loopback and keep them running until Ctrl-C.
    Up(UpArgs),
    /// List the faults `twin up --fault` accepts, with the error each reproduces.
    Faults,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Version profile: gitlab-18.11 (Mattermost 10.11) or gitlab-8.12 (Mattermost 3.4).
    #[arg(long, default_value = "gitlab-18.11", value_parser = parse_profile)]
    pub profile: Profile,
    /// Inject a fault (repeatable); see `mm-harness twin faults`.
    #[arg(long = "fault", value_name = "NAME", value_parser = parse_fault)]
    pub faults: Vec<Fault>,
    /// Serve both hosts over https with a generated CA, plus http→https redirects.
    #[arg(long, conflicts_with = "gitlab_rb")]
    pub https: bool,
    /// Configure the twin from this gitlab.rb (one omnibus host), read for the profile's GitLab
    /// version, instead of the built-in single-server setup (which sends Mattermost's mail
    /// through the harness's mail sink on smtp.example.com:587, STARTTLS).
    #[arg(long, value_name = "PATH")]
    pub gitlab_rb: Option<PathBuf>,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse()
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    s.parse::<Fault>().map_err(|e| e.to_string())
}

pub fn execute(cmd: TwinCommand, ctx: &Context) -> Result<(), CliError> {
    match cmd {
        TwinCommand::Faults => {
            print!("{}", render_faults());
            Ok(())
        }
        TwinCommand::Up(args) => up(args, ctx),
    }
}

/// The fault catalogue as `twin faults` prints it.
pub fn render_faults() -> String {
    let mut out = String::new();
    for f in Fault::ALL {
        let _ = writeln!(out, "{:<26} {}", f.name(), f.description());
        let _ = writeln!(out, "{:<26} → {}", "", f.documented_error());
    }
    out
}

fn up(args: UpArgs, ctx: &Context) -> Result<(), CliError> {
    let mut opts = if args.https {
        TwinOptions::single_server_https(args.profile)
    } else {
        TwinOptions::single_server(args.profile)
    };
    if let Some(path) = &args.gitlab_rb {
        let host = host_from_gitlab_rb(path, args.profile).map_err(|message| {
            CliError::reported(super::Exit::BadInput).with_details(vec![message])
        })?;
        opts.hosts = vec![host];
    } else {
        // The built-in setup sends Mattermost's mail through the harness's sink.
        opts = opts.with_mail_sink();
    }
    for f in &args.faults {
        opts = opts.with_fault(*f);
    }
    ctx.block_on(async move {
        let handle = Twin::start(opts).await.map_err(|e| {
            let err = CliError::bad_input(e.to_string());
            if matches!(
                e.kind,
                crate::twin::bringup::TwinErrorKind::FaultNeedsTls { .. }
                    | crate::twin::bringup::TwinErrorKind::FaultNeedsHttpsMattermost { .. }
            ) {
                err.with_hint("add --https")
            } else {
                err
            }
        })?;
        let ca_path = write_ca(handle.ca_pem())
            .map_err(|e| CliError::environment(format!("cannot write the CA certificate: {e}")))?;
        print!(
            "{}",
            render_summary(&handle, args.profile, &args.faults, &ca_path)
        );
        println!("Press Ctrl-C to stop.");
        let stopped = tokio::signal::ctrl_c().await;
        handle.shutdown().await;
        if let Some(dir) = ca_path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
        stopped.map_err(|e| CliError::environment(format!("cannot wait for Ctrl-C: {e}")))
    })?
}

/// Resolve a gitlab.rb for the profile's GitLab version; every diagnostic is printed (warnings
/// too), errors refuse to start.
fn host_from_gitlab_rb(
    path: &Path,
    profile: Profile,
) -> Result<crate::config::model::HostSettings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("error: cannot read {}: {e}\n", path.display()))?;
    let file = crate::diag::SourceFile::new(path.display().to_string(), text);
    let resolved = crate::config::resolve::resolve(&file, profile.gitlab_version());
    let mut rendered = String::new();
    for d in &resolved.diagnostics {
        rendered.push_str(&d.render());
    }
    if resolved.has_errors() {
        return Err(rendered);
    }
    eprint!("{rendered}");
    Ok(resolved.host)
}

fn write_ca(pem: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("mm-harness-twin-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("ca.pem");
    std::fs::write(&path, pem)?;
    Ok(path)
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

    #[test]
    fn fault_names_parse_with_suggestions() {
        assert_eq!(parse_fault("slow-endpoint"), Ok(Fault::SlowEndpoint));
        let err = parse_fault("slow-endpiont").unwrap_err();
        assert!(err.contains("did you mean \"slow-endpoint\""), "{err}");
    }

    #[test]
    fn gitlab_rb_sets_the_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gitlab.rb");
        std::fs::write(
            &path,
            "external_url 'https://gitlab.example.com'\n\
             mattermost_external_url 'https://mattermost.example.com'\n\
             nginx['redirect_http_to_https'] = true\n",
        )
        .unwrap();
        let host = host_from_gitlab_rb(&path, Profile::Gitlab18_11).unwrap();
        assert_eq!(
            host.external_url.as_deref(),
            Some("https://gitlab.example.com")
        );
        assert!(host.mattermost_enabled);
        assert!(host.gitlab_nginx.redirect_http_to_https);
    }

    #[test]
    fn gitlab_rb_errors_point_at_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gitlab.rb");
        std::fs::write(
            &path,
            "external_url 'http://gitlab.example.com'\nmattermost['gitlab_enable' = true\n",
        )
        .unwrap();
        let err = host_from_gitlab_rb(&path, Profile::Gitlab18_11).unwrap_err();
        assert!(err.contains("gitlab.rb:2:"), "{err}");
        let missing =
            host_from_gitlab_rb(&dir.path().join("nope.rb"), Profile::Gitlab18_11).unwrap_err();
        assert!(missing.contains("cannot read"), "{missing}");
    }

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
