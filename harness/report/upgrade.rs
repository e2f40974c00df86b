//! The renderers of an upgrade plan: terminal text, JSON, and a Markdown release checklist to
//! paste into an issue. They print the [`UpgradePlan`] value and decide nothing.
//!
//! Text that came from the user's files (key names, config.json values) is escaped: control
//! characters never reach the terminal, and Markdown metacharacters in it are inert.

use std::fmt::Write as _;

use crate::upgrade::mattermost_rules::{Note, Severity, Verdict};
use crate::upgrade::omnibus19::{GateFinding, Stage};
use crate::upgrade::plan::{Hop, HopReason, Outcome, UpgradePlan};

/// Text not written by this module, made safe for a terminal (report::escape, the one place).
fn clean(s: &str) -> String {
    super::escape::terminal(s).into_owned()
}

/// Inline code in Markdown that cannot be broken out of.
fn code(s: &str) -> String {
    let s = clean(s).replace('\n', " ");
    let ticks = if s.contains('`') { "`` " } else { "`" };
    let close = if s.contains('`') { " ``" } else { "`" };
    format!("{ticks}{s}{close}")
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Supported => "supported",
        Outcome::MustSplit => "must be split",
        Outcome::Blocked => "blocked",
    }
}

fn mm(v: Option<crate::config::Version>) -> String {
    v.map(|v| v.to_string())
        .unwrap_or_else(|| "none (not bundled)".into())
}

fn hop_reason(h: &Hop) -> String {
    match &h.reason {
        HopReason::Target => "the target".into(),
        HopReason::RequiredStop { next, min, source } => {
            format!("required stop: GitLab {next}'s preinst requires {min}.x first ({source})")
        }
        HopReason::MattermostStop { mattermost } => {
            format!("Mattermost stop: {mattermost} first")
        }
    }
}

fn verdict_word(v: &Verdict) -> String {
    match v {
        Verdict::Supported => "supported".into(),
        Verdict::MustSplit { via } => {
            let v: Vec<String> = via.iter().map(|v| v.to_string()).collect();
            if v.is_empty() {
                "must be split".into()
            } else {
                format!("must be split (via {})", v.join(", "))
            }
        }
        Verdict::Blocked => "blocked".into(),
    }
}

fn sev_mark(s: Severity) -> &'static str {
    match s {
        Severity::Info => "·",
        Severity::Warn => "!",
        Severity::Block => "✗",
    }
}

fn stage_word(s: Stage) -> &'static str {
    match s {
        Stage::Before => "before the upgrade",
        Stage::Preinst => "package preinst",
        Stage::Reconfigure => "19.x reconfigure",
    }
}

fn note_line(n: &Note) -> String {
    let mut s = format!("{} {} [{}]", sev_mark(n.severity), clean(&n.text), n.id);
    if let Some(a) = &n.action {
        let _ = write!(s, "\n      do: {}", clean(a));
    }
    let _ = write!(s, "\n      source: {}", n.source);
    s
}

fn gate_line(g: &GateFinding) -> String {
    let mut s = format!(
        "{} {}: {} [{}]\n      source: {}",
        if g.blocks { "✗" } else { "·" },
        stage_word(g.stage),
        clean(&g.what),
        g.rule.id,
        g.rule.source
    );
    if let Some(p) = &g.prints {
        let _ = write!(
            s,
            "\n      prints: {}",
            clean(p).replace('\n', "\n              ")
        );
    }
    s
}

/// The terminal view.
pub fn human(p: &UpgradePlan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "GitLab {} (Mattermost {}) → GitLab {} (Mattermost {}): {}",
        p.from.gitlab,
        mm(p.from.mattermost),
        p.to.gitlab,
        mm(p.to.mattermost),
        outcome_word(p.outcome)
    );
    let _ = writeln!(s, "  from {}\n  to   {}", p.from.source, p.to.source);
    for a in &p.assumptions {
        let _ = writeln!(s, "  note: {}", clean(a));
    }
    let _ = writeln!(s, "\nPackage upgrades ({}):", p.hops.len());
    for (i, h) in p.hops.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {}. GitLab {} → {} ({})",
            i + 1,
            h.from,
            h.to.gitlab,
            hop_reason(h)
        );
        if let Some(step) = &h.mattermost {
            let _ = writeln!(
                s,
                "     Mattermost {} → {}: {}",
                step.from,
                step.to,
                verdict_word(&step.verdict)
            );
            for n in &step.notes {
                let _ = writeln!(s, "     {}", note_line(n).replace('\n', "\n     "));
            }
        }
        for g in &h.gate {
            let _ = writeln!(s, "     {}", gate_line(g).replace('\n', "\n     "));
        }
    }
    if !p.crossed.is_empty() {
        let list: Vec<String> = p
            .crossed
            .iter()
            .map(|(m, g)| format!("{m} ({g})"))
            .collect();
        let _ = writeln!(
            s,
            "\nMattermost releases omnibus shipped in between: {}",
            list.join(", ")
        );
    }
    if let Some(i) = &p.installed {
        let _ = writeln!(s, "\nThis installation:");
        let _ = writeln!(
            s,
            "  bundled Mattermost in use: {}; GitLab SSO: {}; public links: {}",
            yes(i.installation.uses_bundled()),
            yes(i.gitlab_sso),
            i.public_links.map(yes).unwrap_or("unknown")
        );
        for k in &i.dropped_keys {
            let _ = writeln!(
                s,
                "  ! gitlab.rb:{}: {} is ignored from GitLab 11.0 (last in {}){}",
                k.line,
                clean(&k.key),
                k.last,
                k.env_var
                    .as_deref()
                    .map(|e| format!("; set {e} through mattermost['env'] instead"))
                    .unwrap_or_default()
            );
        }
        for d in &i.drift {
            let _ = writeln!(
                s,
                "  ! config.json:{}: {} is {} but gitlab.rb gives {}: {}",
                d.config_json_line,
                clean(&d.path),
                clean(&d.config_json),
                clean(&d.gitlab_rb),
                d.consequence
            );
        }
    }
    for n in &p.support {
        let _ = writeln!(s, "\nSupport: {}", note_line(n).replace('\n', "\n  "));
    }
    if let Some(m) = &p.move_out {
        let _ = writeln!(
            s,
            "\nBLOCKED: GitLab 19 removed bundled Mattermost. Move it out of omnibus while on {} (Mattermost {}), then upgrade.",
            m.export_on, m.minimum_mattermost
        );
        let sections = [
            ("Export on 18.11", &m.export),
            ("Standalone Mattermost", &m.standalone),
            ("GitLab side", &m.gitlab_side),
        ];
        for (title, tasks) in sections {
            let _ = writeln!(s, "  {title}:");
            for t in tasks {
                let _ = writeln!(s, "  - {}: {}", t.title, clean(&t.detail));
                if let Some(c) = &t.command {
                    let _ = writeln!(s, "      $ {}", clean(c));
                }
            }
        }
        if !m.mm_env.is_empty() {
            let _ = writeln!(s, "  MM_* settings omnibus passed (secrets redacted):");
            for (k, v) in &m.mm_env {
                let _ = writeln!(s, "      {}={}", clean(k), clean(v));
            }
        }
        if !m.remove_keys.is_empty() {
            let _ = writeln!(s, "  Remove from gitlab.rb:");
            for (k, l) in &m.remove_keys {
                let _ = writeln!(s, "      line {l}: {}", clean(k));
            }
        }
    }
    s
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The JSON document (the plan as it is; secrets were redacted when the plan was built).
pub fn json(p: &UpgradePlan) -> String {
    serde_json::to_string_pretty(p).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// A release checklist in Markdown.
pub fn markdown(p: &UpgradePlan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Upgrade GitLab {} → {}: {}\n",
        p.from.gitlab,
        p.to.gitlab,
        outcome_word(p.outcome)
    );
    let _ = writeln!(
        s,
        "Mattermost {} → {}. Version data: omnibus-gitlab `{}` and `{}` (`mm-harness upgrade-plan`, judged on {}).\n",
        mm(p.from.mattermost),
        mm(p.to.mattermost),
        p.from.source,
        p.to.source,
        p.today
    );
    for a in &p.assumptions {
        let _ = writeln!(s, "> {}\n", clean(a));
    }
    if let Some(m) = &p.move_out {
        let _ = writeln!(
            s,
            "### Blocker: GitLab 19 removed bundled Mattermost\n\nMove Mattermost out of omnibus while on GitLab {} (Mattermost {}) before installing any 19.x package.\n",
            m.export_on, m.minimum_mattermost
        );
        for (title, tasks) in [
            ("Export on 18.11", &m.export),
            ("Standalone Mattermost", &m.standalone),
            ("GitLab side", &m.gitlab_side),
        ] {
            let _ = writeln!(s, "#### {title}\n");
            for t in tasks {
                let _ = writeln!(s, "- [ ] **{}**: {}", clean(&t.title), clean(&t.detail));
                if let Some(c) = &t.command {
                    let _ = writeln!(s, "  ```sh\n  {}\n  ```", clean(c));
                }
            }
            s.push('\n');
        }
        if !m.mm_env.is_empty() {
            let _ = writeln!(
                s,
                "<details><summary>MM_* settings omnibus passed (secrets redacted)</summary>\n\n```sh"
            );
            for (k, v) in &m.mm_env {
                let _ = writeln!(s, "{}={}", clean(k), clean(v).replace("```", "'''"));
            }
            let _ = writeln!(s, "```\n\n</details>\n");
        }
        if !m.remove_keys.is_empty() {
            let _ = writeln!(s, "Remove from GitLab's gitlab.rb:\n");
            for (k, l) in &m.remove_keys {
                let _ = writeln!(s, "- [ ] line {l}: {}", code(k));
            }
            s.push('\n');
        }
    }
    let _ = writeln!(s, "### Package upgrades\n");
    for (i, h) in p.hops.iter().enumerate() {
        let _ = writeln!(
            s,
            "- [ ] {}. GitLab {} → **{}** ({})",
            i + 1,
            h.from,
            h.to.gitlab,
            hop_reason(h)
        );
        if let Some(step) = &h.mattermost {
            let _ = writeln!(
                s,
                "  - Mattermost {} → {}: {}",
                step.from,
                step.to,
                verdict_word(&step.verdict)
            );
            for n in &step.notes {
                let _ = writeln!(s, "  - [ ] {} {}", sev_mark(n.severity), clean(&n.text));
                if let Some(a) = &n.action {
                    let _ = writeln!(s, "    - do: {}", clean(a));
                }
                let _ = writeln!(s, "    - source: {}", n.source);
            }
        }
        for g in &h.gate {
            let _ = writeln!(
                s,
                "  - {} {}: {} (`{}`)",
                if g.blocks { "✗" } else { "·" },
                stage_word(g.stage),
                clean(&g.what),
                g.rule.source
            );
        }
    }
    if let Some(i) = &p.installed
        && (!i.dropped_keys.is_empty() || !i.drift.is_empty())
    {
        let _ = writeln!(s, "\n### This installation's files\n");
        for k in &i.dropped_keys {
            let _ = writeln!(
                s,
                "- [ ] gitlab.rb line {}: {} is ignored from GitLab 11.0 (last in {}){}",
                k.line,
                code(&k.key),
                k.last,
                k.env_var
                    .as_deref()
                    .map(|e| format!("; set {} through `mattermost['env']`", code(e)))
                    .unwrap_or_default()
            );
        }
        for d in &i.drift {
            let _ = writeln!(
                s,
                "- [ ] config.json line {}: {} is {} but gitlab.rb gives {}: {}",
                d.config_json_line,
                code(&d.path),
                code(&d.config_json),
                code(&d.gitlab_rb),
                d.consequence
            );
        }
    }
    if !p.support.is_empty() {
        let _ = writeln!(s, "\n### Support\n");
        for n in &p.support {
            let _ = writeln!(
                s,
                "- {} {} (source: {})",
                sev_mark(n.severity),
                clean(&n.text),
                n.source
            );
        }
    }
    s
}
