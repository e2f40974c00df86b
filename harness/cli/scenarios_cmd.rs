//! `mm-harness scenarios`: read the suite a run chooses from — `list`, `show NAME`,
//! `export NAME [--to DIR] [--force]` — and the rules, shared with `run`, for where that suite and
//! its snapshots come from:
//!
//! - scenarios: the ones shipped in the binary ([`crate::scenario::embedded`]), with a directory
//!   laid over them — `--scenario-dir DIR`, or `./scenarios` when the current directory has one;
//!   a file whose scenario has a shipped scenario's name replaces it; `--no-embedded` keeps the
//!   directory's files only ([`SuiteArgs`]);
//! - snapshots ([`snapshot_dir`]): read from `--snapshot-dir DIR`, else `./snapshots`; a file
//!   there wins, else an unchanged shipped scenario uses its shipped snapshot; `--update-snapshots`
//!   writes to `--snapshot-dir`, else to `./snapshots` of a project directory (one holding
//!   `scenarios/` or `snapshots/`), and anywhere else asks for `--snapshot-dir` (exit 2).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::{CliError, Context, Exit, OutputFormat};
use crate::config::Profile;
use crate::report::escape;
use crate::scenario::embedded;
use crate::scenario::load::{Origin, find};
use crate::scenario::{Scenario, ScenarioError, Selection, Suite, select_suite};

/// The scenario directory read when present and no `--scenario-dir` is given.
pub const DEFAULT_SCENARIO_DIR: &str = "scenarios";
/// The snapshot directory of a project directory.
pub const DEFAULT_SNAPSHOT_DIR: &str = "snapshots";

/// Where the suite comes from (`run` and `scenarios` share these flags).
#[derive(Debug, Clone, Args)]
pub struct SuiteArgs {
    /// A directory of scenario files laid over the shipped suite: its scenarios are added, and a
    /// file whose scenario has a shipped scenario's name replaces it. Default: ./scenarios when it
    /// exists.
    #[arg(long, value_name = "DIR")]
    pub scenario_dir: Option<PathBuf>,
    /// Leave out the scenarios shipped in the binary: only the directory's files.
    #[arg(long)]
    pub no_embedded: bool,
}

impl SuiteArgs {
    /// The suite these flags describe.
    pub fn suite(&self) -> Result<Suite, CliError> {
        // Without the shipped scenarios, ./scenarios must exist (when a run needs a directory
        // at all: files named by path need none).
        let (dir, dir_required) = match &self.scenario_dir {
            Some(d) => (d.clone(), true),
            None => (PathBuf::from(DEFAULT_SCENARIO_DIR), self.no_embedded),
        };
        Ok(Suite {
            embedded: !self.no_embedded,
            dir: Some(dir),
            dir_required,
        })
    }

    /// How to say where the scenarios came from, for a warning.
    pub fn describe(&self) -> String {
        let dir = match &self.scenario_dir {
            Some(d) => format!("the directory {}", d.display()),
            None if self.no_embedded || Path::new(DEFAULT_SCENARIO_DIR).is_dir() => {
                "./scenarios".to_string()
            }
            None => String::new(),
        };
        match (self.no_embedded, dir.is_empty()) {
            (true, _) => dir,
            (false, true) => "the shipped scenarios".to_string(),
            (false, false) => format!("the shipped scenarios and {dir}"),
        }
    }
}

/// Whether the current directory is a project directory: one holding `scenarios/` or
/// `snapshots/` (the mm-harness checkout, or a user's own suite).
pub fn in_project_directory() -> bool {
    Path::new(DEFAULT_SCENARIO_DIR).is_dir() || Path::new(DEFAULT_SNAPSHOT_DIR).is_dir()
}

/// Where a run reads and writes snapshot files: `explicit` (`--snapshot-dir`), else
/// `./snapshots`. Writing (`update`) outside a project directory needs `explicit`: the harness
/// never creates a `snapshots/` directory wherever it happens to be run.
pub fn snapshot_dir(explicit: Option<&Path>, update: bool) -> Result<PathBuf, CliError> {
    match explicit {
        Some(d) => Ok(d.to_path_buf()),
        None if update && !in_project_directory() => Err(CliError::bad_input(
            "--update-snapshots has nowhere to write: this is not a project directory (no scenarios/ or snapshots/ here)",
        )
        .with_hint(
            "pass --snapshot-dir DIR, or run from the directory holding scenarios/ and snapshots/",
        )),
        None => Ok(PathBuf::from(DEFAULT_SNAPSHOT_DIR)),
    }
}

#[derive(Debug, Subcommand)]
pub enum ScenariosCommand {
    /// List the scenarios `run` chooses from: name, GitLab profile, targets, tags, summary.
    List(ListArgs),
    /// Print a scenario's TOML file.
    Show(ShowArgs),
    /// Write a scenario's TOML file into a directory, to read, edit and run it (a file there with
    /// a shipped scenario's name replaces it in `run`).
    Export(ExportArgs),
}

impl ScenariosCommand {
    /// The output format asked for.
    pub fn format(&self) -> OutputFormat {
        match self {
            ScenariosCommand::List(args) => match args.format {
                ListFormat::Human => OutputFormat::Human,
                ListFormat::Json => OutputFormat::Json,
            },
            ScenariosCommand::Show(_) | ScenariosCommand::Export(_) => OutputFormat::Human,
        }
    }
}

/// `scenarios list`'s output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// Output format (written to stdout).
    #[arg(long, value_enum, default_value = "human")]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The scenario's name (its file stem): the file `run` would take.
    pub name: String,
    /// The scenario as shipped in the binary, whatever a scenario directory holds.
    #[arg(long, conflicts_with_all = ["scenario_dir", "no_embedded"])]
    pub shipped: bool,
    #[command(flatten)]
    pub suite: SuiteArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The scenario's name (its file stem).
    pub name: String,
    /// The directory to write NAME.toml into (created if missing).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_SCENARIO_DIR)]
    pub to: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// Export the scenario as shipped in the binary, whatever a scenario directory holds (e.g. to
    /// restore an edited copy with --force).
    #[arg(long, conflicts_with_all = ["scenario_dir", "no_embedded"])]
    pub shipped: bool,
    #[command(flatten)]
    pub suite: SuiteArgs,
}

pub fn execute(cmd: ScenariosCommand, ctx: &Context) -> Result<(), CliError> {
    match cmd {
        ScenariosCommand::List(args) => list(&args, ctx),
        ScenariosCommand::Show(args) => show(&args, ctx),
        ScenariosCommand::Export(args) => export(&args, ctx),
    }
}

fn scenario_errors(errors: Vec<ScenarioError>) -> CliError {
    CliError::reported(Exit::BadInput).with_details(errors.iter().map(|e| e.render()).collect())
}

fn write_out(ctx: &Context, text: &str) -> Result<(), CliError> {
    let mut out = ctx.stdout();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::environment(format!("cannot write to stdout: {e}")))
}

fn profile_of(s: &Scenario) -> &'static str {
    Profile::for_gitlab(s.gitlab_version).name()
}

fn targets_of(s: &Scenario) -> Vec<&'static str> {
    s.targets.iter().map(|t| t.name()).collect()
}

fn list(args: &ListArgs, ctx: &Context) -> Result<(), CliError> {
    let suite = args.suite.suite()?;
    let scenarios = select_suite(&suite, &Selection::default()).map_err(scenario_errors)?;
    let text = match args.format {
        ListFormat::Json => {
            let items: Vec<serde_json::Value> = scenarios
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.name,
                        "summary": s.summary,
                        "seed": s.seed,
                        "tags": s.tags,
                        "profile": profile_of(s),
                        "gitlab_version": s.gitlab_version.to_string(),
                        "targets": targets_of(s),
                        "file": s.path.display().to_string(),
                        "shipped": embedded::is_embedded_path(&s.path),
                    })
                })
                .collect();
            format!("{}\n", serde_json::Value::Array(items))
        }
        ListFormat::Human => render_list(&scenarios),
    };
    write_out(ctx, &text)
}

/// The `scenarios list` table: one line per scenario, then where they come from.
pub fn render_list(scenarios: &[Scenario]) -> String {
    let rows: Vec<[String; 5]> = scenarios
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                profile_of(s).to_string(),
                targets_of(s).join(","),
                s.tags.join(","),
                s.summary.clone(),
            ]
        })
        .collect();
    let header = ["NAME", "PROFILE", "TARGETS", "TAGS", "SUMMARY"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 5]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(&escape::terminal(l.trim_end()));
        out.push('\n');
    };
    line(&mut out, header);
    for r in &rows {
        line(&mut out, [&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
    let shipped = scenarios
        .iter()
        .filter(|s| embedded::is_embedded_path(&s.path))
        .count();
    let from_files: Vec<String> = scenarios
        .iter()
        .filter(|s| !embedded::is_embedded_path(&s.path))
        .map(|s| {
            if embedded::find(&s.name).is_some() {
                format!("{} (replaces the shipped one)", s.path.display())
            } else {
                s.path.display().to_string()
            }
        })
        .collect();
    let _ = write!(
        out,
        "\n{} scenario{}: {shipped} shipped in the binary",
        scenarios.len(),
        if scenarios.len() == 1 { "" } else { "s" }
    );
    if from_files.is_empty() {
        out.push('\n');
    } else {
        let _ = writeln!(
            out,
            ", {} from files: {}",
            from_files.len(),
            escape::terminal(&from_files.join(", "))
        );
    }
    out
}

/// The scenario `name` as `run` would take it, or the shipped one (`shipped`).
fn lookup(suite: &SuiteArgs, name: &str, shipped: bool) -> Result<Origin, CliError> {
    let suite = if shipped {
        Suite::shipped()
    } else {
        suite.suite()?
    };
    find(&suite, name).map_err(|e| scenario_errors(vec![e]))
}

fn show(args: &ShowArgs, ctx: &Context) -> Result<(), CliError> {
    let origin = lookup(&args.suite, &args.name, args.shipped)?;
    let text = origin.text().map_err(|e| scenario_errors(vec![e]))?;
    let mut shown = escape::terminal(&text).into_owned();
    if !shown.ends_with('\n') {
        shown.push('\n');
    }
    write_out(ctx, &shown)
}

/// Whether two paths name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn export(args: &ExportArgs, ctx: &Context) -> Result<(), CliError> {
    let origin = lookup(&args.suite, &args.name, args.shipped)?;
    let text = origin.text().map_err(|e| scenario_errors(vec![e]))?;
    let dest = args.to.join(format!("{}.toml", origin.stem()));
    if let Origin::File(source) = &origin
        && same_file(source, &dest)
    {
        return Err(CliError::bad_input(format!(
            "{} is the file `{}` comes from; exporting it onto itself changes nothing",
            dest.display(),
            args.name
        ))
        .with_hint("pass --shipped to export the scenario as shipped in the binary"));
    }
    std::fs::create_dir_all(&args.to)
        .map_err(|e| CliError::environment(format!("cannot create {}: {e}", args.to.display())))?;
    let written = if args.force {
        std::fs::write(&dest, &text)
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&dest)
            .and_then(|mut f| f.write_all(text.as_bytes()))
    };
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CliError::bad_input(format!(
                "{} already exists; it was left as it is",
                dest.display()
            ))
            .with_hint("pass --force to overwrite it"));
        }
        Err(e) => {
            return Err(CliError::environment(format!(
                "cannot write {}: {e}",
                dest.display()
            )));
        }
    }
    let mut msg = format!(
        "wrote {} (from {})\n",
        dest.display(),
        origin.path().display()
    );
    let name = origin.stem();
    let instead = if embedded::find(&name).is_some() {
        " in place of the shipped one"
    } else {
        ""
    };
    if args.to == Path::new(DEFAULT_SCENARIO_DIR) {
        let _ = writeln!(
            msg,
            "`mm-harness run {name}` from this directory runs this copy{instead}."
        );
    } else {
        let _ = writeln!(
            msg,
            "`mm-harness run {name} --scenario-dir {}` runs this copy{instead}.",
            args.to.display()
        );
    }
    if embedded::snapshot_for_text(&text).is_some() {
        let _ = writeln!(
            msg,
            "While the file is unchanged it uses the shipped snapshot; after editing it, record its own with --update-snapshots."
        );
    }
    write_out(ctx, &escape::terminal(&msg))
}
