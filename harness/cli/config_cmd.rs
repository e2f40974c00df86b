//! PLACEHOLDER until its issue lands: replaced by the real subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {}

pub fn execute(_args: ConfigCommand) -> super::Exit {
    eprintln!("error: this subcommand is being built");
    super::Exit::Environment
}
