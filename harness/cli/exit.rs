//! Exit codes, as DESIGN.md fixes them: 0 all passed; 1 a scenario failed or the doctor found a
//! failure; 2 bad input (scenario, gitlab.rb, flags); 3 environment (no Docker engine, target
//! unreachable).

use std::process::ExitCode;

/// What a command's outcome means for the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Failed = 1,
    BadInput = 2,
    Environment = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
