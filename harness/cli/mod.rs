//! The command line: clap definitions of every subcommand and the dispatch to each one's module.
//! `main` only calls [`main`]; each subcommand's flags and execution live in its own file.
//!
//! Every subcommand is `fn execute(args, &Context) -> Result<(), CliError>`: one [`Context`]
//! (output format, style, runtime, stderr) built here, one [`CliError`] rendered here with its exit
//! code. A new subcommand adds a variant to [`Command`] and one arm to each match below (the
//! compiler lists them).
//!
//! Files: `context` ([`Context`], [`OutputFormat`]), `error` ([`CliError`]), `exit` ([`Exit`]),
//! one `*_cmd` file per subcommand.

pub mod config_cmd;
pub mod context;
pub mod doctor_cmd;
pub mod error;
pub mod exit;
pub mod release_diff_cmd;
pub mod run_cmd;
pub mod scenarios_cmd;
pub mod twin_cmd;
pub mod twin_image;
pub mod upgrade_cmd;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use context::{Context, OutputFormat};
pub use error::{CliError, CliErrorKind};
pub use exit::Exit;

/// End-to-end conformance harness and diagnostics kit for GitLab Mattermost.
#[derive(Debug, Parser)]
#[command(name = "mm-harness", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the conformance scenarios (default target: the embedded twin).
    Run(run_cmd::RunArgs),
    /// Inspect a gitlab.rb: what it really sets in Mattermost, per GitLab version.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// The embedded reference stack (GitLab + Mattermost on loopback).
    #[command(subcommand)]
    Twin(twin_cmd::TwinCommand),
    /// The scenarios shipped in the binary (and a directory's): list, show, export.
    #[command(subcommand)]
    Scenarios(scenarios_cmd::ScenariosCommand),
    /// Plan a GitLab upgrade for bundled Mattermost: versions crossed, what is supported, split
    /// or blocked, and the move out of omnibus that GitLab 19 requires.
    UpgradePlan(upgrade_cmd::UpgradePlanArgs),
    /// The behaviour-change report between two GitLab versions: each scenario run on both (twin),
    /// its normalised transcripts compared (unchanged / changed with a diff / passes on one only).
    ReleaseDiff(release_diff_cmd::ReleaseDiffArgs),
    /// Read-only diagnostics of a live GitLab Mattermost and its gitlab.rb/config.json (also
    /// installed as `mm-doctor`).
    Doctor(Box<doctor_cmd::DoctorArgs>),
}

impl Command {
    /// The output format the command line asks for.
    pub fn format(&self) -> OutputFormat {
        match self {
            Command::Run(args) => args.format,
            Command::Config(config_cmd::ConfigCommand::Explain(args)) => match args.format {
                config_cmd::ExplainFormat::Human => OutputFormat::Human,
                config_cmd::ExplainFormat::Json => OutputFormat::Json,
            },
            Command::Twin(_) => OutputFormat::Human,
            Command::Scenarios(cmd) => cmd.format(),
            Command::UpgradePlan(args) => match args.format {
                upgrade_cmd::PlanFormat::Human | upgrade_cmd::PlanFormat::Markdown => {
                    OutputFormat::Human
                }
                upgrade_cmd::PlanFormat::Json => OutputFormat::Json,
            },
            Command::Doctor(args) => args.format,
            Command::ReleaseDiff(args) => match args.format {
                release_diff_cmd::DiffFormat::Human | release_diff_cmd::DiffFormat::Markdown => {
                    OutputFormat::Human
                }
                release_diff_cmd::DiffFormat::Json => OutputFormat::Json,
            },
        }
    }
}

/// Run one parsed command in `ctx`.
pub fn execute(command: Command, ctx: &Context) -> Result<(), CliError> {
    match command {
        Command::Run(args) => run_cmd::execute(args, ctx),
        Command::Config(cmd) => error::from_exit(config_cmd::execute(cmd)),
        Command::Twin(cmd) => twin_cmd::execute(cmd, ctx),
        Command::Scenarios(cmd) => scenarios_cmd::execute(cmd, ctx),
        Command::UpgradePlan(args) => upgrade_cmd::execute(args, ctx),
        Command::ReleaseDiff(args) => release_diff_cmd::execute(args, ctx),
        Command::Doctor(args) => doctor_cmd::execute(*args, ctx),
    }
}

/// Parse the command line, run the subcommand, render its error, map it to an exit code.
pub fn main() -> ExitCode {
    entry(
        |cli: &Cli| cli.command.format(),
        |cli: Cli, ctx| execute(cli.command, ctx),
    )
}

/// What every binary's `main` does (`mm-harness`, `mm-doctor`): parse the command line (a clap
/// error is bad input, `--help` is success), build the one [`Context`] for the format asked,
/// run, and render a [`CliError`] on stderr with its exit code.
pub fn entry<C: Parser>(
    format: impl FnOnce(&C) -> OutputFormat,
    run: impl FnOnce(C, &Context) -> Result<(), CliError>,
) -> ExitCode {
    crate::crypto::install_default_provider();
    let cli = match C::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::BadInput.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    let ctx = Context::new(format(&cli));
    match run(cli, &ctx) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            let _ = std::io::stderr().lock().write_all(e.render().as_bytes());
            e.exit().into()
        }
    }
}
