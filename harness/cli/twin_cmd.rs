//! PLACEHOLDER until its issue lands: replaced by the real subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum TwinCommand {}

pub fn execute(_args: TwinCommand) -> super::Exit {
    eprintln!("error: this subcommand is being built");
    super::Exit::Environment
}
