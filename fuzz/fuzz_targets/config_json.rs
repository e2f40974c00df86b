//! Fuzz the config.json reader and drift: any bytes → Mattermost's settings or an error placed
//! at line:column, then drift against a fixed gitlab.rb, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mm_harness::config::{drift, read_config_json, resolve};
use mm_harness::diag::SourceFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cfg = SourceFile::new("config.json", text);
    match read_config_json(&cfg) {
        Ok(c) => {
            let rb = SourceFile::new(
                "gitlab.rb",
                "external_url 'http://gitlab.example.com'\nmattermost_external_url 'http://mattermost.example.com'\nmattermost['gitlab_secret'] = 'x'\n",
            );
            for v in ["8.12", "10.8", "18.11"] {
                let r = resolve(&rb, v.parse().expect("version"));
                for d in drift(&r, &c) {
                    let _ = d.diagnostic().render();
                }
            }
        }
        Err(e) => {
            let _ = e.diagnostic.render();
        }
    }
});
