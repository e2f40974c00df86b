//! [`Context`]: what every subcommand runs with, built once by [`crate::cli::main`] — the output
//! format it was asked for, the terminal style (colour only on a terminal and never with
//! `NO_COLOR`; progress only when stderr is a terminal), the async runtime (built on first use,
//! two worker threads) and stderr for warnings. A subcommand is a function
//! `fn(args, &Context) -> Result<(), CliError>`; it never builds its own runtime, never decides
//! colours and never prints its own `error:` lines (main renders the [`CliError`]).
//!
//! The API is deliberately small: [`Context::format`], [`Context::style`],
//! [`Context::block_on`], [`Context::warn`], [`Context::stdout`].

use std::future::Future;
use std::io::Write;
use std::sync::OnceLock;

use super::error::CliError;
use crate::report::escape;
use crate::report::human::Style;

/// The output formats a subcommand may be asked for (`--format`). Each subcommand accepts the
/// ones it can write; the human format goes to a terminal, the others are for machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For a person: text, colours on a terminal.
    Human,
    /// One JSON document on stdout.
    Json,
    /// JUnit XML on stdout (GitLab CI's `artifacts:reports:junit`).
    Junit,
}

/// The shared context of one CLI invocation.
pub struct Context {
    format: OutputFormat,
    style: Style,
    runtime: OnceLock<tokio::runtime::Runtime>,
}

impl Context {
    /// A context for `format`, its style taken from the environment (TTYs, `NO_COLOR`).
    pub fn new(format: OutputFormat) -> Context {
        Context::with_style(format, Style::detect())
    }

    /// A context with an explicit style (tests).
    pub fn with_style(format: OutputFormat, style: Style) -> Context {
        Context {
            format,
            style,
            runtime: OnceLock::new(),
        }
    }

    /// The output format the subcommand was asked for.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Colours and progress for human output.
    pub fn style(&self) -> Style {
        self.style
    }

    /// Run a future to completion on the shared runtime (multi-threaded, two workers, I/O and
    /// timers), building it on first use. Signals are handled by whoever awaits them inside
    /// (`run::signal`), not here.
    pub fn block_on<F: Future>(&self, fut: F) -> Result<F::Output, CliError> {
        if self.runtime.get().is_none() {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| {
                    CliError::environment(format!("cannot start the async runtime: {e}"))
                })?;
            let _ = self.runtime.set(rt);
        }
        match self.runtime.get() {
            Some(rt) => Ok(rt.block_on(fut)),
            None => Err(CliError::environment("cannot start the async runtime")),
        }
    }

    /// Print `warning: MESSAGE` on stderr (escaped for the terminal).
    pub fn warn(&self, message: &str) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "warning: {}",
            escape::terminal(message)
        );
    }

    /// Where reports go.
    pub fn stdout(&self) -> Box<dyn Write + Send> {
        Box::new(std::io::stdout())
    }
}
