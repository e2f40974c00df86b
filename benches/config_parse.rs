//! Parse speed of the gitlab.rb parser on the real 3,700-line GitLab 18.11 template (target: well
//! under 5 ms), plus the same template with every setting uncommented and a full `resolve`.
//! Run: `cargo bench --bench config_parse`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use mm_harness::config::{parse_gitlab_rb, resolve};
use mm_harness::diag::SourceFile;

fn template() -> String {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/gitlab.rb.template-18.11");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn uncomment(text: &str) -> String {
    text.lines()
        .map(|l| match l.trim_start().strip_prefix('#') {
            Some(rest) if !rest.starts_with('#') => rest.strip_prefix(' ').unwrap_or(rest),
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn bench(c: &mut Criterion) {
    let shipped = SourceFile::new("gitlab.rb.template-18.11", template());
    let open = SourceFile::new("uncommented", uncomment(shipped.text()));
    c.bench_function("parse gitlab.rb.template-18.11 (as shipped)", |b| {
        b.iter(|| parse_gitlab_rb(black_box(&shipped)))
    });
    c.bench_function("parse gitlab.rb.template-18.11 (uncommented)", |b| {
        b.iter(|| parse_gitlab_rb(black_box(&open)))
    });
    let v = "18.11".parse().unwrap();
    c.bench_function("resolve gitlab.rb.template-18.11 (uncommented)", |b| {
        b.iter(|| resolve(black_box(&open), v))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
