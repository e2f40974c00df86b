//! The GitLab → bundled Mattermost table (harness/upgrade/bundled_generated.rs): regenerated from
//! omnibus-gitlab's tags when the mirror is here, and its invariants checked always; the
//! documentation tables compared with it.

#[path = "../examples/support/omnibus_git.rs"]
mod omnibus_git;

use mm_harness::config::Version;
use mm_harness::history::{ReleaseLine, by_line, parse_release_tag};
use mm_harness::upgrade::doc_tables::{Discrepancy, compare};
use mm_harness::upgrade::versions::{
    bundled_rows, known_range, last_bundled, release, required_stop, unbundled_tags,
};
use mm_harness::upgrade::versions_gen::{collect, render};

fn v(s: &str) -> Version {
    s.parse().unwrap()
}

#[test]
fn regenerating_changes_nothing() {
    let path = omnibus_git::repo_path(None);
    if !omnibus_git::looks_like_repo(&path) {
        println!(
            "not regenerated: no omnibus-gitlab clone at {} (set {}); the invariants test still runs",
            path.display(),
            omnibus_git::REPO_ENV
        );
        return;
    }
    let mut git = omnibus_git::GitOmnibus::open(&path).expect("open the mirror");
    let fresh = render(&collect(&mut git).expect("read every CE tag"));
    let checked_in = include_str!("../harness/upgrade/bundled_generated.rs");
    if fresh != checked_in {
        let diff = similar::TextDiff::from_lines(checked_in, fresh.as_str());
        let shown: String = diff
            .unified_diff()
            .context_radius(1)
            .header("checked-in", "regenerated")
            .to_string()
            .lines()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "harness/upgrade/bundled_generated.rs is stale; run `cargo run --example gen_history`\n{shown}"
        );
    }
}

#[test]
fn table_covers_8_9_to_18_11_and_matches_the_known_pairs() {
    let tags: Vec<_> = bundled_rows().iter().map(|b| b.tag.clone()).collect();
    let lines = by_line(&tags);
    // Every monthly line from 8.9 to 18.11 is present.
    let mut expected = Vec::new();
    for major in 8..=18u32 {
        let (lo, hi) = match major {
            8 => (9, 17),
            9 => (0, 5),
            10 => (0, 8),
            11 => (0, 11),
            12 => (0, 10),
            13 => (0, 12),
            14 => (0, 10),
            15 => (0, 11),
            16 => (0, 11),
            17 => (0, 11),
            _ => (0, 11),
        };
        for minor in lo..=hi {
            expected.push(ReleaseLine::new(major, minor));
        }
    }
    for l in &expected {
        assert!(lines.contains_key(l), "GitLab {l} missing from the table");
    }
    // The pairs shared/data and the docs imply.
    assert_eq!(release(v("8.12.0")).unwrap().mattermost, Some(v("3.4.0")));
    let m108 = release(v("10.8.0")).unwrap().mattermost.unwrap();
    assert_eq!((m108.major, m108.minor), (4, 9));
    for b in bundled_rows()
        .iter()
        .filter(|b| b.tag.line() == ReleaseLine::new(18, 11))
    {
        assert_eq!(
            (b.mattermost.major, b.mattermost.minor),
            (10, 11),
            "{}",
            b.tag
        );
    }
    assert_eq!(last_bundled().mattermost.major, 10);
    assert_eq!(
        release(v("8.9.0")).unwrap().source,
        "8.9.0+ce.0:config/software/mattermost.rb:20"
    );
    // Rebuilds that changed Mattermost are visible.
    let r = release(v("8.14.1")).unwrap();
    assert_eq!(r.tag.name(), "8.14.1+ce.1");
    assert_eq!(r.mattermost, Some(v("3.5.1")));
    assert_eq!(r.other_builds.len(), 1);
}

#[test]
fn table_is_monotonic_within_lines_and_by_release_across_lines() {
    let rows = bundled_rows();
    for w in rows.windows(2) {
        assert!(
            w[0].tag < w[1].tag,
            "tags out of order: {} {}",
            w[0].tag,
            w[1].tag
        );
        if w[0].tag.line() == w[1].tag.line() {
            assert!(
                w[0].mattermost <= w[1].mattermost,
                "Mattermost went down inside GitLab {}: {} ({}) → {} ({})",
                w[0].tag.line(),
                w[0].mattermost,
                w[0].tag,
                w[1].mattermost,
                w[1].tag
            );
        } else {
            // Across lines only a patch-level step back happens (a new line starts from an
            // earlier Mattermost patch than the old line's last patch): the release never does.
            let a = (w[0].mattermost.major, w[0].mattermost.minor);
            let b = (w[1].mattermost.major, w[1].mattermost.minor);
            assert!(
                a <= b,
                "Mattermost release went down: {} → {}",
                w[0].tag,
                w[1].tag
            );
        }
    }
    for t in unbundled_tags() {
        assert!(
            t.version >= v("19.0.0"),
            "{t} without Mattermost before 19.0"
        );
    }
    let (first, last) = known_range();
    assert_eq!(first, v("7.14.0"));
    assert!(last >= v("19.0.0"));
}

#[test]
fn preinst_stops_are_read_per_tag() {
    let stop = |t: &str| required_stop(&parse_release_tag(t).unwrap()).map(|(l, _)| l.to_string());
    assert_eq!(stop("19.0.0+ce.0").as_deref(), Some("18.11"));
    assert_eq!(stop("19.3.0+ce.0").as_deref(), Some("19.2"));
    assert_eq!(stop("11.0.0+ce.0").as_deref(), Some("10.8"));
    assert_eq!(stop("9.0.0+ce.0"), None);
    let (_, source) = required_stop(&parse_release_tag("19.0.0+ce.0").unwrap()).unwrap();
    assert_eq!(
        source,
        "19.0.0+ce.0:config/templates/package-scripts/preinst.erb:52"
    );
}

#[test]
fn documentation_tables_are_wrong_or_silent_where_the_package_code_says_so() {
    let findings = compare();
    let wrong: Vec<String> = findings
        .iter()
        .filter_map(|f| match &f.discrepancy {
            Discrepancy::Wrong {
                documented,
                shipped,
            } => Some(format!(
                "{} {}: documented {documented}, shipped {}",
                f.table,
                f.line,
                shipped
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        wrong,
        ["gitlab-docs-15.0-18.3 17.9: documented 10.4, shipped 10.2.3"],
        "{findings:#?}"
    );
    let uncovered: Vec<String> = findings
        .iter()
        .filter(|f| matches!(f.discrepancy, Discrepancy::Uncovered { .. }))
        .map(|f| f.line.to_string())
        .collect();
    for line in ["8.13", "8.17", "11.10", "14.1", "14.10", "18.4", "18.11"] {
        assert!(
            uncovered.contains(&line.to_string()),
            "{line} not reported: {uncovered:?}"
        );
    }
    assert!(!uncovered.contains(&"17.9".to_string()));
}
