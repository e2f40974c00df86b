//! A Support Packet's logs: every line that names one of troubleshooting.md's failures (the
//! symptoms of [`super::explain`]) becomes the finding that explains it, one finding per kind
//! with the first line as evidence and the count of the others; no such line is `logs.clean`.
//!
//! Owns: [`check`]. The lines were matched and bounded when the packet was read
//! ([`super::packet`]); secrets the sanitiser missed are redacted there and again by the report.

use super::finding::{Finding, FindingKind};
use super::inputs::Prepared;

pub fn check(p: &Prepared) -> Vec<Finding> {
    let Some(packet) = &p.inputs.support_packet else {
        return Vec::new();
    };
    if packet.logs.is_empty() {
        return Vec::new();
    }
    // Group by the most likely explanation, in the order the lines appear.
    let mut groups: Vec<(FindingKind, Vec<&super::packet::LogHit>)> = Vec::new();
    for hit in &packet.hits {
        let Some(first) = hit.kinds.first().copied() else {
            continue;
        };
        match groups.iter_mut().find(|(k, _)| *k == first) {
            Some((_, hits)) => hits.push(hit),
            None => groups.push((first, vec![hit])),
        }
    }
    let mut out = Vec::new();
    for (kind, hits) in &groups {
        let first = hits[0];
        let others: Vec<&str> = first.kinds.iter().skip(1).map(|k| k.id()).collect();
        let mut evidence = format!("{}: {}", first.at, first.text);
        if hits.len() > 1 {
            evidence.push_str(&format!(" (and {} more such lines)", hits.len() - 1));
        }
        if !others.is_empty() {
            evidence.push_str(&format!("; also possible: {}", others.join(", ")));
        }
        out.push(Finding::new(*kind, first.at.clone(), evidence));
    }
    if out.is_empty() {
        out.push(Finding::new(
            FindingKind::LogsClean,
            packet.logs.join(", "),
            format!(
                "{} lines in {} log(s); none names a failure of troubleshooting.md",
                packet.log_lines,
                packet.logs.len()
            ),
        ));
    } else if packet.hits_dropped > 0
        && let Some(last) = out.last_mut()
    {
        last.evidence.push_str(&format!(
            " ({} further matching lines not kept)",
            packet.hits_dropped
        ));
    }
    out
}
