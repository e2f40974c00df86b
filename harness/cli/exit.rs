//! Exit codes, as DESIGN.md fixes them, plus the two every CLI tool has: 0 all passed; 1 the
//! installation misbehaves (a scenario failed, the doctor found a failure); 2 bad input (flags,
//! scenario files, gitlab.rb, missing configuration such as a password variable); 3 the
//! environment broke (target unreachable, no Docker engine, a file that cannot be written);
//! 101 a bug in mm-harness itself (a panic, caught and reported; Rust's own panic code);
//! 130 interrupted by SIGINT or SIGTERM (the partial report is printed first).

use std::process::ExitCode;

/// What a command's outcome means for the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    Ok = 0,
    Failed = 1,
    BadInput = 2,
    Environment = 3,
    HarnessBug = 101,
    Interrupted = 130,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}
