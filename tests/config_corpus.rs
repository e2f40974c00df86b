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
