//! Corpus tests of the gitlab.rb parser against real text: every gitlab.rb snippet of the seed
//! documentation and the three omnibus templates as shipped (zero errors), and the templates with
//! every commented line uncommented (every line accounted for: a setting, or a reported
//! unevaluated expression or error on that line; no panic).

use std::path::PathBuf;

use mm_harness::config::parse_gitlab_rb;
use mm_harness::diag::{Severity, SourceFile};

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

fn read(rel: &str) -> String {
    let p = shared().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

const TEMPLATES: [&str; 3] = [
    "data/gitlab.rb.template-8.12",
    "data/gitlab.rb.template-10.8",
    "data/gitlab.rb.template-18.11",
];

/// The ```ruby (or unlabelled) fenced blocks of the seed that hold gitlab.rb text.
fn seed_snippets() -> Vec<(usize, String)> {
    let seed = read("seed/gitlab-mattermost.md");
    let mut out = Vec::new();
    let mut in_block = false;
    let mut start = 0;
    let mut buf = String::new();
    for (n, line) in seed.lines().enumerate() {
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            if in_block {
                in_block = false;
                let is_rb = buf.contains("mattermost") || buf.contains("gitlab_rails");
                if is_rb && !buf.contains("sudo ") {
                    out.push((start, std::mem::take(&mut buf)));
                }
                buf.clear();
            } else {
                in_block = lang.is_empty() || lang == "ruby";
                start = n + 2;
            }
            continue;
        }
        if in_block {
            buf.push_str(line);
            buf.push('\n');
        }
    }
    out
}

#[test]
fn every_seed_snippet_parses_without_errors() {
    let snippets = seed_snippets();
    assert!(snippets.len() >= 7, "found {} snippets", snippets.len());
    let mut settings = 0;
    for (line, text) in snippets {
        let f = SourceFile::new(format!("seed:{line}"), text);
        let doc = parse_gitlab_rb(&f);
        let problems: Vec<String> = doc.diagnostics().iter().map(|d| d.render()).collect();
        assert!(
            problems.is_empty(),
            "seed snippet at line {line}:\n{}",
            problems.join("\n")
        );
        settings += doc.settings().len();
    }
    // Every non-comment line of the seed's snippets is one setting.
    assert_eq!(settings, 1 + 9 + 7 + 5 + 10 + 8 + 1 + 2);
}

#[test]
fn templates_as_shipped_parse_without_errors() {
    for t in TEMPLATES {
        let f = SourceFile::new(t, read(t));
        let doc = parse_gitlab_rb(&f);
        let errors: Vec<String> = doc
            .diagnostics()
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.render())
            .collect();
        assert!(errors.is_empty(), "{t}:\n{}", errors.join("\n"));
        // As shipped, a template sets exactly one thing: the generated external URL.
        assert_eq!(doc.settings().len(), 1, "{t}");
        assert_eq!(doc.settings()[0].target.to_string(), "external_url");
    }
}

/// Remove one `#` (and one space after it) from every line whose comment is a single `#`
/// (`##` documentation lines stay comments).
fn uncomment(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix('#')
            && !rest.starts_with('#')
        {
            out.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[test]
fn uncommented_templates_account_for_every_line() {
    for t in TEMPLATES {
        let text = uncomment(&read(t));
        let f = SourceFile::new(format!("{t} (uncommented)"), text.clone());
        let doc = parse_gitlab_rb(&f);
        let lines = text.lines().count();
        let mut covered = vec![false; lines + 2];
        let mut cover = |a: usize, b: usize| {
            for slot in covered.iter_mut().take(b.min(lines) + 1).skip(a) {
                *slot = true;
            }
        };
        for s in doc.settings() {
            let loc = doc.locate(s.span);
            cover(loc.line, loc.end_line);
        }
        // Diagnostics are capped per file; every unevaluated statement is also kept whole.
        for u in doc.unevaluated() {
            let loc = doc.locate(u.span);
            cover(loc.line, loc.end_line);
        }
        for d in doc.diagnostics() {
            if let Some(loc) = &d.location {
                cover(loc.line, loc.end_line);
            }
        }
        let mut dropped = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim();
            if code.is_empty() || code.starts_with('#') {
                continue;
            }
            if !covered[i + 1] {
                dropped.push(format!("{}: {line}", i + 1));
            }
        }
        assert!(
            dropped.is_empty(),
            "{t}: lines silently dropped:\n{}",
            dropped.join("\n")
        );
        assert!(
            doc.settings().len() > 300,
            "{t}: {} settings",
            doc.settings().len()
        );
        eprintln!(
            "{t}: {} settings, {} unevaluated, {} errors",
            doc.settings().len(),
            doc.unevaluated().len(),
            doc.diagnostics()
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count()
        );
    }
}

/// The GitLab version each real file of `../shared/corpus/gitlab-rb/` was written for, read from
/// its contents (reviewed by hand): API v3 endpoints, `unicorn[...]` and `ci_external_url` are
/// GitLab 8.x; WebRTC and `mattermost['email_*']` keys are the config.json era (9.x-10.x, 2017
/// files 9.5); `mattermost['env']`, LetsEncrypt and `puma[...]` are 11.0 and later; files built
/// from a recent template, or with nothing older in them, are read for 18.11.
const CORPUS_VERSIONS: [(&str, &str); 35] = [
    ("01-", "8.12"),  // 2016 vagrant: v3 user API, unicorn, ci_external_url
    ("02-", "18.11"), // letsencrypt + bundled Mattermost over https
    ("03-", "18.11"),
    ("04-", "18.11"), // puma
    ("05-", "18.11"), // 15.x+ template (ci_runner_versions_reconciliation_worker_cron)
    ("06-", "18.11"), // "full template 18"
    ("07-", "14.0"),  // 2021 template with letsencrypt
    ("08-", "11.0"),  // unicorn + letsencrypt + gitlab_rails['mattermost_host'] template
    ("09-", "8.12"),  // 2016 CAS: v3, unicorn
    ("10-", "18.11"),
    ("11-", "18.11"), // puma, gitlab_rails['env']
    ("12-", "18.11"), // puma
    ("13-", "18.11"),
    ("14-", "10.8"), // WebRTC keys
    ("15-", "10.8"), // mattermost['email_*'] keys rendered into config.json
    ("16-", "10.8"), // v3 user API endpoint with bundled SSO
    ("17-", "12.0"), // mattermost['env']
    ("18-", "13.0"), // packages, mattermost_nginx from ENV
    ("19-", "18.11"),
    ("20-", "18.11"),
    ("21-", "18.11"),
    ("22-", "18.11"),
    ("23-", "12.0"), // unicorn, logging
    ("24-", "18.11"),
    ("25-", "18.11"),
    ("26-", "18.11"),
    ("27-", "18.11"),
    ("28-", "18.11"),
    ("29-", "12.0"), // git_data_dirs
    ("30-", "18.11"),
    ("31-", "9.5"),  // 2017: v3, WebRTC, unicorn
    ("32-", "9.5"),  // 2017
    ("33-", "8.12"), // 2016 SAML: v3, unicorn
    ("34-", "9.5"),  // 2017: WebRTC
    ("35-", "18.11"),
];

/// Values a file holds that must never be printed, found independently of the parser's masks:
/// string values of secret-looking keys (`password`, `secret`, `token`, `salt`, `*_key`) and URL
/// passwords. Values that are ordinary words of any output (`gitlab`, `password`) cannot be
/// told apart from the text around them and are left out.
fn corpus_secrets(text: &str) -> Vec<String> {
    let assigned = regex::Regex::new(
        r#"(?i)([a-z_]*(?:password|passwd|secret|token|salt|_key)[a-z_]*)['"]?\]?\s*(=>|=|:)\s*['"]([^'"\n]{4,})['"]"#,
    )
    .unwrap();
    let url = regex::Regex::new(r#"://[^/\s:@'"]+:([^@/\s'"]+)@"#).unwrap();
    let fallback = regex::Regex::new(
        r#"(?i)([a-z_]*(?:password|secret|token)[a-z_]*)['"]?\]\s*=.*\|\|\s*['"]([^'"\n]{4,})['"]"#,
    )
    .unwrap();
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        for c in assigned.captures_iter(line) {
            if mm_harness::config::is_secret_name(&c[1]) {
                out.push(c[3].to_string());
            }
        }
        for c in url.captures_iter(line) {
            out.push(c[1].to_string());
        }
        for c in fallback.captures_iter(line) {
            if mm_harness::config::is_secret_name(&c[1]) {
                out.push(c[2].to_string());
            }
        }
    }
    out.retain(|s| {
        let word = s.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        let ordinary_word = word && s.len() <= 12;
        let not_a_value = s.contains("#{") || s.starts_with('/');
        !(ordinary_word || not_a_value)
    });
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_real_gitlab_rb_is_read_right() {
    let dir = shared().join("corpus/gitlab-rb");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rb"))
        .collect();
    names.sort();
    assert_eq!(names.len(), CORPUS_VERSIONS.len(), "{names:?}");
    let mut leaked = Vec::new();
    for name in &names {
        let version = CORPUS_VERSIONS
            .iter()
            .find(|(p, _)| name.starts_with(p))
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no version for {name}"));
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let secrets = corpus_secrets(&text);
        let run = |format: &str| {
            std::process::Command::new(env!("CARGO_BIN_EXE_mm-harness"))
                .current_dir(&dir)
                .args([
                    "config",
                    "explain",
                    "--gitlab-version",
                    version,
                    "--format",
                    format,
                ])
                .arg(name)
                .output()
                .expect("run mm-harness")
        };
        let human = run("human");
        let json = run("json");
        let shown = format!(
            "exit {}\n{}{}",
            human.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&human.stdout),
            String::from_utf8_lossy(&human.stderr)
        );
        assert_eq!(human.status.code(), json.status.code(), "{name}");
        let json_text = String::from_utf8_lossy(&json.stdout);
        let report: serde_json::Value =
            serde_json::from_str(&json_text).unwrap_or_else(|e| panic!("{name}: JSON report: {e}"));
        assert!(report["diagnostics"].is_array(), "{name}");
        for s in &secrets {
            if shown.contains(s.as_str()) || json_text.contains(s.as_str()) {
                leaked.push(format!("{name}: {s}"));
            }
        }
        let snap = name.trim_end_matches(".rb").replace(['.', '-'], "_");
        insta::with_settings!({ snapshot_path => "snapshots/corpus", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(snap, shown);
        });
    }
    assert!(leaked.is_empty(), "secrets printed:\n{}", leaked.join("\n"));
}
