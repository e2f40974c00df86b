//! Fuzz the gitlab.rb parser and resolver: any bytes → a document, a resolution for a version
//! picked by the first byte, rendered diagnostics and omnibus text, without a panic, with at most
//! `MAX_DIAGNOSTICS` errors and as many warnings kept, and every kept source line a bounded window.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mm_harness::config::{
    OmnibusConfigDisplay, Version, render_mm_env, render_omnibus_config, resolve,
};
use mm_harness::diag::{LINE_WINDOW, MAX_DIAGNOSTICS, SourceFile};

const VERSIONS: [Version; 8] = [
    Version::new(8, 12, 0),
    Version::new(9, 3, 0),
    Version::new(10, 8, 0),
    Version::new(11, 0, 0),
    Version::new(15, 4, 0),
    Version::new(18, 11, 0),
    Version::new(19, 0, 0),
    Version::new(19, 3, 0),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let file = match SourceFile::from_bytes("fuzz.rb", rest.to_vec(), "file.encoding", "utf-8") {
        Ok(f) => f,
        Err(d) => {
            let _ = d.render();
            return;
        }
    };
    let r = resolve(&file, VERSIONS[pick as usize % VERSIONS.len()]);
    assert!(r.diagnostics.len() <= 2 * MAX_DIAGNOSTICS);
    for d in &r.diagnostics {
        if let Some(loc) = &d.location {
            assert!(loc.source_line.chars().count() <= LINE_WINDOW);
        }
        let _ = d.render();
    }
    let _ = render_omnibus_config(&r);
    let _ = OmnibusConfigDisplay(&r).to_string();
    let _ = render_mm_env(&r);
});
