//! Fuzz the scenario parser: any bytes that decode as UTF-8 → a scenario or located errors,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mm_harness::diag::SourceFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new("fuzz.toml", text);
    if let Err(e) =
        mm_harness::scenario::parse::parse_scenario(&file, std::path::Path::new("fuzz.toml"))
    {
        let _ = e.to_string();
    }
});
