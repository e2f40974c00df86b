//! The human and JSON-facing rendering of `config explain`: which settings are shown, the header
//! (GitLab version, its bundled Mattermost, the twin profile that plays it, the key era), and the
//! text report with source lines (secrets masked where shown). `cli/config_cmd.rs` owns the flags
//! and the flow; the words are here, like every other renderer.

use crate::config::model::redact_userinfo;
use crate::config::{Drift, EffectiveSetting, KeyEra, Resolved, SettingSource, Version};
use crate::diag::{Diagnostic, Severity, SourceFile};

pub fn shown_settings(r: &Resolved, all: bool) -> Vec<&EffectiveSetting> {
    r.effective
        .iter()
        .filter(|s| {
            all || matches!(
                s.source,
                SettingSource::GitlabRb { .. }
                    | SettingSource::Derived { .. }
                    | SettingSource::EnvOverride { .. }
                    | SettingSource::AutoRegistration { .. }
            )
        })
        .collect()
}

/// Which Mattermost omnibus bundles in this GitLab release (from the release-tag table in
/// `upgrade/`), or the last build of its release line when the exact version is not a release.
pub fn bundled_mattermost(v: Version) -> Option<(Version, String)> {
    if let Some(r) = crate::upgrade::versions::release(v) {
        return r.mattermost.map(|m| (m, r.tag.to_string()));
    }
    crate::upgrade::versions::bundled_rows()
        .iter()
        .rfind(|b| b.gitlab().major == v.major && b.gitlab().minor == v.minor)
        .map(|b| (b.mattermost, b.tag.to_string()))
}

fn bundled_text(v: Version) -> String {
    match bundled_mattermost(v) {
        Some((m, tag)) => format!("bundles Mattermost {m} (omnibus {tag})"),
        None if v.major >= 19 => "bundles no Mattermost".to_string(),
        None => "bundled Mattermost version unknown (not a GitLab release line omnibus tagged)"
            .to_string(),
    }
}

/// The twin profile that plays this exact release line, if one does.
pub fn twin_profile_for(v: Version) -> Option<crate::config::Profile> {
    crate::config::Profile::ALL.into_iter().find(|p| {
        let g = p.gitlab_version();
        g.major == v.major && g.minor == v.minor
    })
}

fn twin_text(v: Version) -> String {
    match twin_profile_for(v) {
        Some(p) => format!("{p} (Mattermost {})", p.mattermost_version()),
        None => {
            let all: Vec<String> = crate::config::Profile::ALL
                .iter()
                .map(|p| format!("{p} (Mattermost {})", p.mattermost_version()))
                .collect();
            format!(
                "none plays GitLab {}.{} (the twin plays {}; a run with this file uses the nearest, {})",
                v.major,
                v.minor,
                all.join(" and "),
                crate::config::Profile::for_gitlab(v)
            )
        }
    }
}

fn era_text(era: KeyEra) -> &'static str {
    match era {
        KeyEra::ConfigJson8 | KeyEra::ConfigJson10 => {
            "omnibus renders mattermost[...] keys into config.json"
        }
        KeyEra::EnvVars => "omnibus sets Mattermost through MM_* environment variables",
        KeyEra::Removed => "bundled Mattermost was removed in GitLab 19.0",
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// The human report: host summary, settings, warnings, drift, counts.
pub fn human_report(file: &SourceFile, r: &Resolved, drifted: &[Drift], all: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let h = &r.host;
    let _ = writeln!(
        out,
        "{} for GitLab {}: {}",
        file.name(),
        h.gitlab_version,
        era_text(r.era)
    );
    let _ = writeln!(out, "  {}", bundled_text(h.gitlab_version));
    let _ = writeln!(out, "  twin profile: {}", twin_text(h.gitlab_version));
    let _ = writeln!(
        out,
        "  external_url: {}\n  mattermost_external_url: {}\n  GitLab Rails: {}, bundled Mattermost: {}, register as OAuth app: {}",
        h.external_url
            .as_deref()
            .map_or("(not set)".into(), redact_userinfo),
        h.mattermost_external_url
            .as_deref()
            .map_or("(not set)".into(), redact_userinfo),
        on_off(h.gitlab_rails_enabled),
        on_off(h.mattermost_enabled),
        if h.register_as_oauth_app && h.gitlab_rails_enabled {
            "yes"
        } else {
            "no"
        }
    );
    let shown = shown_settings(r, all);
    let hidden = r.effective.len() - shown.len();
    let _ = writeln!(out, "\nMattermost settings:");
    if shown.is_empty() {
        let _ = writeln!(out, "  (none set by this file)");
    }
    for s in &shown {
        let _ = writeln!(out, "  {} = {}", s.path, s.display_value());
        let mut detail = Vec::new();
        if let Some(var) = &s.env_var {
            detail.push(var.clone());
        }
        detail.push(s.source.describe());
        let _ = writeln!(out, "      {}", detail.join(" · "));
    }
    if hidden > 0 {
        let _ = writeln!(out, "  ({hidden} more at their defaults; --all lists them)");
    }
    let warnings: Vec<&Diagnostic> = r
        .diagnostics
        .iter()
        .filter(|d| d.severity != Severity::Note)
        .collect();
    if !warnings.is_empty() || !drifted.is_empty() {
        let _ = writeln!(out);
    }
    for d in &warnings {
        out.push_str(&d.render());
        out.push('\n');
    }
    if let Some(line) = r.omitted_line() {
        out.push_str(&line);
        out.push_str("\n\n");
    }
    for d in drifted {
        out.push_str(&d.diagnostic().render());
        out.push('\n');
    }
    let from_file = r
        .effective
        .iter()
        .filter(|s| {
            matches!(
                s.source,
                SettingSource::GitlabRb { .. } | SettingSource::EnvOverride { .. }
            )
        })
        .count();
    let _ = writeln!(
        out,
        "{} settings ({from_file} from {}), {} warning(s), {} drifted",
        r.effective.len(),
        file.name(),
        warnings.len() + r.omitted_warnings,
        drifted.len()
    );
    out
}
