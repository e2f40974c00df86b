//! Regenerate `harness/config/keys_generated.rs` from shared/data:
//! `cargo run --example gen_keys` (reads `$CARGO_MANIFEST_DIR/../shared/data`, or the directory
//! given as the first argument).
use std::path::PathBuf;

use mm_harness::config::keygen::{KeySources, SOURCE_FILES, generate};

fn main() -> std::process::ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data"));
    let mut texts = Vec::new();
    for name in SOURCE_FILES {
        let path = data.join(name);
        match std::fs::read_to_string(&path) {
            Ok(t) => texts.push(t),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return std::process::ExitCode::from(3);
            }
        }
    }
    let Ok(texts) = <[String; 10]>::try_from(texts) else {
        eprintln!("error: expected {} source files", SOURCE_FILES.len());
        return std::process::ExitCode::from(3);
    };
    let out = root.join("harness/config/keys_generated.rs");
    if let Err(e) = std::fs::write(&out, generate(&KeySources::from_texts(texts))) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return std::process::ExitCode::from(3);
    }
    println!("wrote {}", out.display());
    std::process::ExitCode::SUCCESS
}
