//! docs/findings.md, generated from the catalogue ([`FindingKind::ALL`]): one section per family,
//! one entry per finding (id, severity, title, fix, source). A test compares the file with this
//! output, so the catalogue and its documentation cannot drift; regenerate with
//! `mm-doctor --findings-md > docs/findings.md`.

use std::fmt::Write as _;

use super::finding::{Family, FindingKind};

/// The whole of docs/findings.md.
pub fn findings_markdown() -> String {
    let mut out = String::new();
    out.push_str("# mm-doctor findings\n\n");
    out.push_str(
        "Generated from the catalogue in `harness/doctor/finding.rs` (`mm-doctor --findings-md`); \
         do not edit by hand. Severities: `ok` passed, `info` worth knowing, `warn` will bite \
         later, `fail` broken (exit 1). See docs/doctor.md for how to run the doctor.\n",
    );
    for family in Family::ALL {
        let kinds: Vec<FindingKind> = FindingKind::ALL
            .into_iter()
            .filter(|k| k.family() == family)
            .collect();
        if kinds.is_empty() {
            continue;
        }
        let _ = write!(out, "\n## {}\n\n", family.heading());
        out.push_str("| id | severity | finding | fix | source |\n|---|---|---|---|---|\n");
        for k in kinds {
            let m = k.meta();
            let cell = |s: &str| s.replace('|', "\\|");
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                m.id,
                m.severity.name(),
                cell(m.title),
                if m.fix.is_empty() {
                    "—".to_string()
                } else {
                    cell(m.fix)
                },
                cell(m.source)
            );
        }
    }
    out
}
