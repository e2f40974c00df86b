//! PLACEHOLDER until its issue lands: replaced by the real subcommand.
#[derive(Debug, clap::Args)]
pub struct RunArgs {}

pub fn execute(_args: RunArgs) -> super::Exit {
    eprintln!("error: this subcommand is being built");
    super::Exit::Environment
}
