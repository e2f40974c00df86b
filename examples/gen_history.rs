//! Regenerate `harness/upgrade/bundled_generated.rs` from omnibus-gitlab's release tags:
//! `cargo run --example gen_history -- [--repo PATH]` (default: `$MM_HARNESS_OMNIBUS_REPO`, else
//! the lead's mirror at /work/.mirror/gitlabhq+omnibus-gitlab/repo). `--check` compares instead
//! of writing (exit 1 when the checked-in file is stale).
#[path = "support/omnibus_git.rs"]
mod omnibus_git;

use std::path::PathBuf;
use std::process::ExitCode;

use mm_harness::upgrade::versions_gen::{collect, render};

fn main() -> ExitCode {
    let mut repo = None;
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repo" => repo = args.next().map(PathBuf::from),
            "--check" => check = true,
            other => {
                eprintln!(
                    "error: unknown argument {other:?}\nusage: gen_history [--repo PATH] [--check]"
                );
                return ExitCode::from(2);
            }
        }
    }
    let path = omnibus_git::repo_path(repo);
    let mut git = match omnibus_git::GitOmnibus::open(&path) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
    };
    let collected = match collect(&mut git) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
    };
    let text = render(&collected);
    let out =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("harness/upgrade/bundled_generated.rs");
    if let Err(code) = omnibus_git::write_generated(
        &out,
        &text,
        check,
        &format!("{} rows", collected.rows.len()),
        "cargo run --example gen_history",
    ) {
        return code;
    }
    println!(
        "wrote {}: {} tags bundle Mattermost, {} after bundling ended, {} upgrade stops (from {})",
        out.display(),
        collected.rows.len(),
        collected.unbundled.len(),
        collected.stops.len(),
        path.display()
    );
    ExitCode::SUCCESS
}
