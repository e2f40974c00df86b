//! The cost of reading a page within the drivers' HTML bounds (docs/limits.md): the pre-scan
//! alone and the pre-scan + parse + visible text, for pages from 64 KiB to the 4 MiB cap, flat and
//! nested to just under the 512 limit — time should grow linearly with size — and the refusal of
//! pages nested 20,000 and 200,000 deep (which never reach the parser).
//! Run once, briefly: `cargo bench --bench html_limits -- --warm-up-time 1 --measurement-time 2`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mm_harness::drive::html::Document;
use mm_harness::drive::html_scan::prescan;
use url::Url;

/// A page of about `bytes` bytes: `depth` nested `<div>`s, inside which paragraphs and links.
fn page(bytes: usize, depth: usize) -> String {
    let open = "<div class=\"x\">".repeat(depth);
    let close = "</div>".repeat(depth);
    let item = "<p>Some text with <a href=\"/a?b=c\">a link</a> and <b>bold</b>.</p>\n";
    let room = bytes.saturating_sub(open.len() + close.len() + 40);
    let items = item.repeat(room / item.len());
    format!("<!DOCTYPE html><html><body>{open}{items}{close}</body></html>")
}

fn deep(depth: usize) -> String {
    format!(
        "<body>{}deep{}",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    )
}

fn bench(c: &mut Criterion) {
    let base = Url::parse("http://gitlab.example.com/users/sign_in").expect("url");
    let mut g = c.benchmark_group("html within bounds");
    for kib in [64usize, 256, 1024, 4095] {
        for depth in [4usize, 500] {
            let p = page(kib * 1024, depth);
            g.throughput(Throughput::Bytes(p.len() as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("prescan depth {depth}"), format!("{kib} KiB")),
                &p,
                |b, p| b.iter(|| prescan(black_box(p))),
            );
            g.bench_with_input(
                BenchmarkId::new(
                    format!("prescan+parse+text depth {depth}"),
                    format!("{kib} KiB"),
                ),
                &p,
                |b, p| {
                    b.iter(|| {
                        let doc = Document::parse(black_box(p), &base).expect("within bounds");
                        doc.visible_text().len()
                    })
                },
            );
        }
    }
    g.finish();
    let mut g = c.benchmark_group("html refused");
    for depth in [20_000usize, 200_000] {
        let p = deep(depth);
        g.throughput(Throughput::Bytes(p.len() as u64));
        g.bench_with_input(BenchmarkId::new("nested", depth), &p, |b, p| {
            b.iter(|| Document::parse(black_box(p), &base).is_err())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
