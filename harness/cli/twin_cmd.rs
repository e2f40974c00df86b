//! `mm-harness twin`: start the embedded reference stack by hand.
//!
//! Owns: the `twin up` and `twin faults` flags, writing the CA file, and running until Ctrl-C or
//! SIGTERM (both clean up). What it prints (documented URLs, loopback addresses, ready-to-paste
//! curl lines, the twin's throw-away credentials, the fault catalogue) is rendered by
//! `report::twin`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::config::version::Profile;
use crate::report::twin::{render_faults, render_summary};
use crate::twin::bringup::{Twin, TwinOptions};
use crate::twin::fault::Fault;

use super::{CliError, Context};

#[derive(Debug, Subcommand)]
pub enum TwinCommand {
    /// Start GitLab + Mattermost on loopback and keep them running until Ctrl-C.
    Up(UpArgs),
    /// List the faults `twin up --fault` accepts, with the error each reproduces.
    Faults,
    /// Build the twin's container image (`mm-twin:local`) from this binary with `docker import`.
    Image(super::twin_image::ImageArgs),
    /// The twin image's entry point: serve the host GITLAB_OMNIBUS_CONFIG describes on ports
    /// 80/443 until SIGTERM (inside a container).
    Serve,
    /// Remove the containers, networks and volumes of docker-target runs that are gone.
    Sweep(super::twin_image::SweepArgs),
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
        TwinCommand::Image(args) => super::twin_image::image(args, ctx),
        TwinCommand::Serve => super::twin_image::serve(ctx),
        TwinCommand::Sweep(args) => super::twin_image::sweep(args, ctx),
    }
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
        // Listen before anything is written: a signal from now on cleans up.
        let mut signals = crate::run::signal::Interrupts::new()
            .map_err(|e| CliError::environment(format!("cannot listen for SIGINT/SIGTERM: {e}")))?;
        let ca_path = write_ca(handle.ca_pem())
            .map_err(|e| CliError::environment(format!("cannot write the CA certificate: {e}")))?;
        // The URLs come from a gitlab.rb the user gave: escaped like any text we did not write.
        let summary = render_summary(&handle, args.profile, &args.faults, &ca_path);
        print!("{}", crate::report::escape::terminal(&summary));
        println!("Press Ctrl-C to stop.");
        // SIGINT (Ctrl-C) and SIGTERM (`kill`, a service manager, CI) stop it the same way:
        // listeners closed, the CA's temporary directory removed.
        signals.recv().await;
        handle.shutdown().await;
        if let Some(dir) = ca_path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
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
}
