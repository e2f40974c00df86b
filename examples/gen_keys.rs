//! Regenerate the configuration key tables:
//! - `cargo run --example gen_keys [DATA_DIR]`: `harness/config/keys_generated.rs` from
//!   shared/data (default `$CARGO_MANIFEST_DIR/../shared/data`);
//! - `cargo run --example gen_keys -- --history [--repo PATH] [--check]`:
//!   `harness/config/keys_history_generated.rs` from omnibus-gitlab's release tags (default repo:
//!   `$MM_HARNESS_OMNIBUS_REPO`, else the lead's mirror); `--check` compares instead of writing
//!   (exit 1 when the checked-in file is stale).
#[path = "support/omnibus_git.rs"]
mod omnibus_git;

use std::path::PathBuf;
use std::process::ExitCode;

use mm_harness::config::keygen::{KeySources, SOURCE_FILES, generate};
use mm_harness::config::keyhist;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--history") {
        return history(&args);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data"));
    let mut texts = Vec::new();
    for name in SOURCE_FILES {
        let path = data.join(name);
        match std::fs::read_to_string(&path) {
            Ok(t) => texts.push(t),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::from(3);
            }
        }
    }
    let Ok(texts) = <[String; 10]>::try_from(texts) else {
        eprintln!("error: expected {} source files", SOURCE_FILES.len());
        return ExitCode::from(3);
    };
    let out = root.join("harness/config/keys_generated.rs");
    if let Err(e) = std::fs::write(&out, generate(&KeySources::from_texts(texts))) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return ExitCode::from(3);
    }
    println!("wrote {}", out.display());
    ExitCode::SUCCESS
}

fn history(args: &[String]) -> ExitCode {
    let mut repo = None;
    let mut check = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--history" => {}
            "--repo" => repo = it.next().map(PathBuf::from),
            "--check" => check = true,
            other => {
                eprintln!(
                    "error: unknown argument {other:?}\nusage: gen_keys --history [--repo PATH] [--check]"
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
    let collected = match keyhist::collect(&mut git) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
    };
    let text = keyhist::render(&collected);
    let out =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("harness/config/keys_history_generated.rs");
    if let Err(code) = omnibus_git::write_generated(
        &out,
        &text,
        check,
        &format!("{} release lines", collected.lines.len()),
        "cargo run --example gen_keys -- --history",
    ) {
        return code;
    }
    println!(
        "wrote {} ({} release lines, {} keys)",
        out.display(),
        collected.lines.len(),
        collected.keys.len()
    );
    ExitCode::SUCCESS
}
