//! `mm-harness doctor` (also the `mm-doctor` binary): read-only diagnostics of a live GitLab
//! Mattermost and of its gitlab.rb / config.json.
//!
//! Owns: the flags, turning them into [`DoctorInputs`] (files read, `--resolve`/`--connect-to`
//! into an address book, tokens from flags or environment variables — never echoed), running the
//! diagnosis on the shared runtime and printing the report in the asked format. Exit codes: 0
//! nothing fails, 1 a finding of `fail` severity, 2 bad input, 3 nothing could be reached.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use url::Url;

use super::{CliError, Context, Exit, OutputFormat};
use crate::config::{Secret, Version};
use crate::diag::SourceFile;
use crate::doctor::{DoctorInputs, Prepared, diagnose};
use crate::net::AddressBook;
use crate::report::doctor as render;

/// Flags of `mm-harness doctor` / `mm-doctor`.
#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// Mattermost's URL as users open it (mattermost_external_url).
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub mattermost: Option<Url>,
    /// GitLab's URL (external_url).
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub gitlab: Option<Url>,
    /// The installation's /etc/gitlab/gitlab.rb (offline checks; with nothing else, only those run).
    #[arg(long, value_name = "PATH")]
    pub gitlab_rb: Option<PathBuf>,
    /// Mattermost's config.json (drift against gitlab.rb; settings when no token is given).
    #[arg(long, value_name = "PATH")]
    pub config_json: Option<PathBuf>,
    /// The GitLab version, when GitLab cannot be asked (no --gitlab-token); default for gitlab.rb: 18.11.
    #[arg(long, value_name = "V", value_parser = parse_version)]
    pub gitlab_version: Option<Version>,
    /// A GitLab admin personal access token (scope `api`): applications, version, network settings.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MM_DOCTOR_GITLAB_TOKEN",
        hide_env_values = true
    )]
    pub gitlab_token: Option<String>,
    /// A Mattermost system admin token: the full configuration and env-forced settings.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MM_DOCTOR_MATTERMOST_TOKEN",
        hide_env_values = true
    )]
    pub mattermost_token: Option<String>,
    /// Mattermost's GitLab application secret, to test it against GitLab's token endpoint when
    /// neither gitlab.rb nor config.json is given (the config API never shows it).
    #[arg(
        long,
        value_name = "SECRET",
        env = "MM_DOCTOR_GITLAB_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
    /// Mattermost's SMTP password for --smtp-auth, when no file holds it.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "MM_DOCTOR_SMTP_PASSWORD",
        hide_env_values = true
    )]
    pub smtp_password: Option<String>,
    /// Connect to ADDR for HOST:PORT, keeping the URL, Host header and TLS name (curl's
    /// --resolve; repeatable), e.g. `--resolve gitlab.example.com:443:10.0.0.5`.
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = crate::stack::parse_resolve)]
    pub resolve: Vec<(String, u16, SocketAddr)>,
    /// curl's --connect-to HOST:PORT:IP:PORT2 (repeatable): requests for HOST:PORT go to IP:PORT2.
    #[arg(long, value_name = "HOST:PORT:IP:PORT2", value_parser = parse_connect_to)]
    pub connect_to: Vec<(String, u16, SocketAddr)>,
    /// Probe the SMTP server Mattermost is configured with (connect, EHLO, TLS; never sends mail).
    #[arg(long)]
    pub smtp: bool,
    /// With --smtp: also try Mattermost's SMTP credentials (AUTH only; still no mail).
    #[arg(long, requires = "smtp")]
    pub smtp_auth: bool,
    /// Each check's deadline and each request's timeout, in seconds.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// PEM file of CA certificates to trust (default: the system bundle).
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate on API requests (certificate findings are still reported).
    #[arg(long)]
    pub insecure: bool,
    /// A Mattermost Support Packet (.zip from System Console > Reporting, or `mmctl system
    /// supportpacket`): its sanitised config, server version and logs are checked offline.
    #[arg(long, value_name = "FILE.zip")]
    pub support_packet: Option<PathBuf>,
    /// Allow the one probe that writes: a temporary incoming webhook in --probe-channel, a post
    /// through it, read back, then both removed (also on failure). Needs --mattermost-token.
    #[arg(long, requires = "probe_channel")]
    pub allow_writes: bool,
    /// With --allow-writes: the channel the webhook probe posts to, as TEAM/CHANNEL names.
    #[arg(long, value_name = "TEAM/CHANNEL", value_parser = parse_channel, requires = "allow_writes")]
    pub probe_channel: Option<(String, String)>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    /// Also show the evidence of passed checks and each check's time.
    #[arg(long, short)]
    pub verbose: bool,
    /// The date support windows are measured against (YYYY-MM-DD; default: today, UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub today: Option<String>,
    /// Print the findings catalogue as Markdown (docs/findings.md) and exit.
    #[arg(long)]
    pub findings_md: bool,
    #[command(subcommand)]
    pub action: Option<DoctorAction>,
}

/// What to do instead of one diagnosis.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DoctorAction {
    /// Watch mode: re-run the checks every --interval and serve `/healthz` (200 healthy, 503
    /// failing) and Prometheus `/metrics` (one gauge per finding id, check durations) until
    /// interrupted. Flags before `serve` say what to diagnose.
    Serve(ServeArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Where to serve, e.g. 127.0.0.1:9477 (port 0 picks a free port; the address is printed).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// Seconds between diagnoses.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_timeout)]
    pub interval: Duration,
}

/// The `mm-doctor` binary's command line: the same flags as `mm-harness doctor`.
#[derive(Debug, Parser)]
#[command(
    name = "mm-doctor",
    version,
    about = "Read-only diagnostics of a GitLab Mattermost installation (same as `mm-harness doctor`)"
)]
pub struct DoctorCli {
    #[command(flatten)]
    pub args: DoctorArgs,
}

fn parse_url(s: &str) -> Result<Url, String> {
    let u = Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(format!(
            "{s:?}: expected http:// or https:// with a host name"
        ));
    }
    Ok(u)
}

fn parse_version(s: &str) -> Result<Version, String> {
    s.parse::<Version>().map_err(|e| e.to_string())
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.05..=600.0).contains(&secs) {
        return Err(format!(
            "{s}: the timeout must be between 0.05 and 600 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_channel(s: &str) -> Result<(String, String), String> {
    let ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 64
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    match s.split_once('/') {
        Some((t, c)) if ok(t) && ok(c) => Ok((t.to_string(), c.to_string())),
        _ => Err(format!(
            "{s:?}: expected TEAM/CHANNEL (the names in the channel's URL), e.g. devops/town-square"
        )),
    }
}

fn parse_date(s: &str) -> Result<String, String> {
    let ok = s.len() == 10
        && s.chars().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?}: expected YYYY-MM-DD"))
    }
}

/// curl's `--connect-to HOST:PORT:IP:PORT2` (the target must be an address: the doctor does not
/// resolve names through another name).
pub fn parse_connect_to(s: &str) -> Result<(String, u16, SocketAddr), String> {
    let bad = || {
        format!(
            "invalid --connect-to {s:?}: expected HOST:PORT:IP:PORT2, e.g. mattermost.example.com:443:127.0.0.1:8443"
        )
    };
    let (host, rest) = s.split_once(':').ok_or_else(bad)?;
    let (port, target) = rest.split_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let (ip, port2) = target.rsplit_once(':').ok_or_else(bad)?;
    let ip: std::net::IpAddr = ip.trim_matches(['[', ']']).parse().map_err(|_| bad())?;
    let port2: u16 = port2.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_ascii_lowercase(), port, SocketAddr::new(ip, port2)))
}

fn read(path: &Path, what: &str) -> Result<SourceFile, CliError> {
    // A gitlab.rb or config.json is small; refuse anything huge rather than read it whole.
    const MAX: u64 = 8 * 1024 * 1024;
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::bad_input(format!("cannot read {what} {}: {e}", path.display())))?;
    if meta.len() > MAX {
        return Err(CliError::bad_input(format!(
            "{what} {} is {} bytes; the doctor reads at most {MAX}",
            path.display(),
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::bad_input(format!("cannot read {what} {}: {e}", path.display())))?;
    Ok(SourceFile::new(path.display().to_string(), text))
}

/// The inputs the flags describe (files read, address book built).
pub fn inputs(args: &DoctorArgs) -> Result<DoctorInputs, CliError> {
    let mut i = DoctorInputs::new();
    i.mattermost = args.mattermost.clone();
    i.gitlab = args.gitlab.clone();
    i.gitlab_rb = args
        .gitlab_rb
        .as_deref()
        .map(|p| read(p, "gitlab.rb"))
        .transpose()?;
    i.config_json = args
        .config_json
        .as_deref()
        .map(|p| read(p, "config.json"))
        .transpose()?;
    i.gitlab_version = args.gitlab_version;
    let secret = |s: &Option<String>| s.as_ref().filter(|v| !v.is_empty()).map(Secret::new);
    i.gitlab_token = secret(&args.gitlab_token);
    i.mattermost_token = secret(&args.mattermost_token);
    i.client_secret = secret(&args.client_secret);
    i.smtp_password = secret(&args.smtp_password);
    let mut book = AddressBook::new();
    for (host, port, addr) in args.resolve.iter().chain(&args.connect_to) {
        for scheme in ["http", "https", "smtp"] {
            book.insert(scheme, host, *port, *addr);
        }
    }
    i.book = book;
    let ca = match &args.ca_file {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| {
                CliError::bad_input(format!("cannot read --ca-file {}: {e}", p.display()))
            })?;
            let roots = crate::doctor::probe::parse_pem_roots(&bytes);
            if roots.is_empty() {
                return Err(CliError::bad_input(format!(
                    "--ca-file {} holds no PEM certificate",
                    p.display()
                )));
            }
            Some(roots)
        }
        None => None,
    };
    i.roots = ca.unwrap_or_else(|| crate::doctor::probe::load_roots(None));
    i.insecure = args.insecure;
    i.timeout = args.timeout;
    i.smtp = args.smtp;
    i.smtp_auth = args.smtp_auth;
    if let Some(t) = &args.today {
        i.today = t.clone();
    }
    if let Some(path) = &args.support_packet {
        let packet = crate::doctor::packet::read_packet_file(path)
            .map_err(|e| CliError::bad_input(e.message).with_hint(e.hint))?;
        i.support_packet = Some(packet);
    }
    i.allow_writes = args.allow_writes;
    i.probe_channel = args.probe_channel.clone();
    Ok(i)
}

/// What the report header names.
fn targets(i: &DoctorInputs) -> String {
    let mut parts: Vec<String> = Vec::new();
    for u in [&i.mattermost, &i.gitlab].into_iter().flatten() {
        parts.push(u.as_str().trim_end_matches('/').to_string());
    }
    for f in [&i.gitlab_rb, &i.config_json].into_iter().flatten() {
        parts.push(f.name().to_string());
    }
    if let Some(p) = &i.support_packet {
        parts.push(p.name.clone());
    }
    parts.join(", ")
}

pub fn execute(args: DoctorArgs, ctx: &Context) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut out = ctx.stdout();
    if args.findings_md {
        let _ = out.write_all(crate::doctor::catalogue_doc::findings_markdown().as_bytes());
        return Ok(());
    }
    let inputs = inputs(&args)?;
    let names = targets(&inputs);
    let prepared = Prepared::new(inputs).map_err(|e| {
        CliError::bad_input(e.message)
            .with_details(e.details)
            .with_hint(
                "give --mattermost/--gitlab URLs, --gitlab-rb, --config-json or --support-packet",
            )
    })?;
    if let Some(DoctorAction::Serve(serve)) = &args.action {
        return watch(prepared, serve, ctx);
    }
    let report = ctx.block_on(diagnose(prepared))?;
    let text = match ctx.format() {
        OutputFormat::Human => render::human(&report, &names, ctx.style(), args.verbose),
        OutputFormat::Json => render::json(&report, &names),
        OutputFormat::Junit => render::junit(&report, &names),
    };
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
    match report.exit() {
        Exit::Ok => Ok(()),
        other => Err(CliError::reported(other)),
    }
}

/// `serve`: diagnose on an interval and serve the last result until SIGINT/SIGTERM.
fn watch(prepared: Prepared, serve: &ServeArgs, ctx: &Context) -> Result<(), CliError> {
    ctx.block_on(async {
        let serving = crate::doctor::serve::start(prepared, serve.listen, serve.interval)
            .await
            .map_err(|e| {
                CliError::environment(format!("cannot listen on {}: {e}", serve.listen))
            })?;
        eprintln!(
            "mm-doctor: serving http://{}/healthz and /metrics (every {:.0}s); Ctrl-C stops",
            serving.addr,
            serve.interval.as_secs_f64()
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| CliError::environment(format!("cannot handle SIGTERM: {e}")))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        serving.stop();
        Ok(())
    })?
}

/// The `mm-doctor` binary.
pub fn doctor_main() -> ExitCode {
    super::entry(
        |cli: &DoctorCli| cli.args.format,
        |cli: DoctorCli, ctx| execute(cli.args, ctx),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_parses_like_curl() {
        let (h, p, a) = parse_connect_to("MM.example.com:443:127.0.0.1:8443").unwrap();
        assert_eq!(
            (h.as_str(), p, a.to_string().as_str()),
            ("mm.example.com", 443, "127.0.0.1:8443")
        );
        assert!(parse_connect_to("mm:443:name.example:80").is_err());
        assert!(parse_timeout("0").is_err());
        assert_eq!(parse_timeout("2").unwrap(), Duration::from_secs(2));
        assert!(parse_date("2026-13-x1").is_err());
    }
}
