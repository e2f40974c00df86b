//! The command line: clap definitions of every subcommand and the dispatch to each one's module.
//! `main` only calls [`main`]; each subcommand's flags and execution live in its own file.

pub mod config_cmd;
pub mod exit;
pub mod run_cmd;
pub mod twin_cmd;
pub mod upgrade_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Plan a GitLab upgrade for bundled Mattermost: versions crossed, what is supported, split
    /// or blocked, and the move out of omnibus that GitLab 19 requires.
    UpgradePlan(upgrade_cmd::UpgradePlanArgs),
}

/// Parse the command line, run the subcommand, map its outcome to an exit code.
pub fn main() -> ExitCode {
    crate::crypto::install_default_provider();
    let cli = match Cli::try_parse() {
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
    let exit = match cli.command {
        Command::Run(args) => run_cmd::execute(args),
        Command::Config(cmd) => config_cmd::execute(cmd),
        Command::Twin(cmd) => twin_cmd::execute(cmd),
        Command::UpgradePlan(args) => upgrade_cmd::execute(args),
    };
    exit.into()
}
