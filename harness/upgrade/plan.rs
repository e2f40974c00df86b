//! The upgrade plan: GitLab `--from` and `--to` (and optionally the installation's gitlab.rb and
//! config.json) in, one [`UpgradePlan`] value out. Renderers (report/upgrade.rs) only print it.
//!
//! Owns: the package hops an upgrade takes (each target package's preinst refuses installations
//! older than its `MIN_VERSION`, so the path goes through those stops), the Mattermost binary
//! step of each hop with Mattermost's rules, the seed's special cases, what the gitlab.rb and
//! config.json reveal (keys dropped at 11.0, settings changed outside gitlab.rb), GitLab 19's
//! gate at the installation's patch levels, and the move out of omnibus for targets ≥ 19.0.

use serde::Serialize;

use super::error::{UpgradeError, UpgradeErrorKind};
use super::mattermost_rules::{
    self, CURRENT_ESR, Note, Severity, StepContext, StepEval, Verdict, end_of_support,
    evaluate_step,
};
use super::omnibus19::{self, DROPPED_SECRETS, GateFinding, Installation};
use super::versions::{
    self, GitlabRelease, VersionArg, bundled_rows, mattermost_crossed, required_stop, resolve,
};
use crate::config::{
    ConfigJson, DriftConsequence, KeyStatus, RbValue, Resolved, SettingTarget, Version, drift,
    key_status, parse_gitlab_rb, read_config_json, render_mm_env, resolve as resolve_rb,
};
use crate::diag::SourceFile;
use crate::history::ReleaseLine;

/// What the plan is computed from.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub from: VersionArg,
    pub to: VersionArg,
    pub gitlab_rb: Option<SourceFile>,
    pub config_json: Option<SourceFile>,
    /// `YYYY-MM-DD`: the day support windows are judged on.
    pub today: String,
    /// A Mattermost Professional (or higher) licence is installed.
    pub licensed: bool,
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// One package upgrade does it.
    Supported,
    /// It works when split into the listed hops or with the listed actions first.
    MustSplit,
    /// It does not work as asked: something must change first (move Mattermost out, a licence).
    Blocked,
}

/// Why a hop exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum HopReason {
    /// The release asked for.
    Target,
    /// The next package's preinst requires this line first.
    RequiredStop {
        next: Version,
        min: String,
        source: String,
    },
    /// A Mattermost rule requires this Mattermost version first.
    MattermostStop { mattermost: Version },
}

/// One package upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub from: Version,
    pub to: GitlabRelease,
    pub reason: HopReason,
    /// The Mattermost binary step this hop makes (none once bundling has ended).
    pub mattermost: Option<StepEval>,
    /// GitLab 19's gate on this hop (18.11 → 19.x and 19.x → 19.y).
    pub gate: Vec<GateFinding>,
}

/// A `mattermost[...]` key of the gitlab.rb that a later line ignores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedKey {
    pub key: String,
    pub line: usize,
    /// The last table that knew it (`GitLab 10.8`).
    pub last: String,
    /// The `MM_*` variable that sets the same Mattermost setting now, if any.
    pub env_var: Option<String>,
}

/// A setting changed outside gitlab.rb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftItem {
    pub path: String,
    pub config_json_line: usize,
    pub config_json: String,
    pub gitlab_rb: String,
    pub consequence: String,
}

/// What the installation's files say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    pub installation: Installation,
    /// No gitlab.rb was given: the plan assumes the seed's setup (bundled Mattermost in use).
    pub assumed: bool,
    pub gitlab_sso: bool,
    pub public_links: Option<bool>,
    pub dropped_keys: Vec<DroppedKey>,
    pub drift: Vec<DriftItem>,
}

/// One step of the move out of omnibus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    pub title: String,
    pub detail: String,
    /// A command to run, when there is one.
    pub command: Option<String>,
}

/// The move of bundled Mattermost out of omnibus before GitLab 19.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoveOut {
    /// The GitLab version to export on (the last 18.11 patch of the path).
    pub export_on: Version,
    /// The Mattermost version that runs there: the standalone server starts from it, never lower.
    pub minimum_mattermost: Version,
    /// The ESR to move to afterwards.
    pub recommended_mattermost: Version,
    pub export: Vec<Task>,
    /// `MM_*` settings omnibus passed (values of secrets redacted).
    pub mm_env: Vec<(String, String)>,
    pub standalone: Vec<Task>,
    pub gitlab_side: Vec<Task>,
    /// Keys to delete from GitLab's gitlab.rb (with their lines).
    pub remove_keys: Vec<(String, usize)>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpgradePlan {
    pub from: GitlabRelease,
    pub to: GitlabRelease,
    pub outcome: Outcome,
    /// How the arguments were read (`18.11` as `18.11.11`).
    pub assumptions: Vec<String>,
    pub hops: Vec<Hop>,
    /// Every Mattermost release omnibus shipped in (from, to], with the GitLab release that
    /// first shipped it: the versions a direct upgrade skips.
    pub crossed: Vec<(Version, Version)>,
    pub installed: Option<Installed>,
    /// Support of the Mattermost the target runs (or the last bundled one).
    pub support: Vec<Note>,
    pub move_out: Option<MoveOut>,
    pub today: String,
}

fn input_error(msg: String) -> UpgradeError {
    UpgradeError::new(UpgradeErrorKind::Input, msg)
}

/// Compute the plan.
pub fn plan(input: &PlanInput) -> Result<UpgradePlan, UpgradeError> {
    let from = resolve(input.from)?;
    let to = resolve(input.to)?;
    if to.gitlab < from.gitlab {
        return Err(UpgradeError::new(
            UpgradeErrorKind::Downgrade,
            format!("--to {} is older than --from {}", to.gitlab, from.gitlab),
        )
        .hint("omnibus does not downgrade; restore a backup of the older version instead"));
    }
    let mut assumptions = Vec::new();
    for (arg, r, flag) in [(input.from, &from, "--from"), (input.to, &to, "--to")] {
        if !arg.patch_given {
            assumptions.push(format!(
                "{flag} {arg} read as {} (the latest {arg} patch); pass the patch level for an exact answer",
                r.gitlab
            ));
        }
        for (tag, m) in &r.other_builds {
            assumptions.push(format!(
                "GitLab {} was rebuilt: {tag} shipped Mattermost {m}, {} ships {}",
                r.gitlab,
                r.tag,
                r.mattermost.map(|v| v.to_string()).unwrap_or_default()
            ));
        }
    }

    let installed = installed(input, &from, &to)?;
    let ctx = StepContext {
        gitlab_sso: installed.as_ref().map(|i| i.gitlab_sso).unwrap_or(true),
        public_links: installed.as_ref().and_then(|i| i.public_links),
        licensed: input.licensed,
    };
    let inst = installed
        .as_ref()
        .map(|i| i.installation.clone())
        .unwrap_or_else(seed_installation);

    let path = package_path(&from, &to)?;
    let mut hops = Vec::new();
    let mut current = from.clone();
    for (release, reason) in path {
        let step = match (current.mattermost, release.mattermost) {
            (Some(a), Some(b)) if a != b => Some(evaluate_step(a, b, &ctx)),
            _ => None,
        };
        let gate = omnibus19::evaluate(current.gitlab, release.gitlab, &inst);
        hops.push(Hop {
            from: current.gitlab,
            to: release.clone(),
            reason,
            mattermost: step,
            gate,
        });
        current = release;
    }
    // A Mattermost rule that asks for an intermediate version omnibus shipped becomes a hop.
    let hops = split_mattermost_stops(hops, &ctx, &inst);

    let crossed = mattermost_crossed(
        from.gitlab,
        to.gitlab.min(versions::last_bundled().gitlab()),
    )
    .into_iter()
    .map(|b| (b.mattermost, b.gitlab()))
    .collect();

    let uses_bundled = inst.uses_bundled();
    if installed.is_none() && to.gitlab.major >= 19 {
        assumptions.push(
            "no --gitlab-rb: assuming the seed's single-server setup (mattermost_external_url set, bundled Mattermost in use)"
                .into(),
        );
    }
    let move_out = (to.gitlab.major >= 19 && uses_bundled)
        .then(|| move_out(input, &hops, installed.as_ref(), ctx));

    let mut support = Vec::new();
    let running = to.mattermost.or_else(|| {
        hops.iter()
            .rev()
            .find_map(|h| h.to.mattermost)
            .or(from.mattermost)
    });
    if let Some(m) = running
        && let Some(eos) = end_of_support(m)
    {
        let ended = input.today.as_str() >= eos;
        support.push(Note {
            id: "mattermost.end-of-support",
            severity: if ended {
                Severity::Warn
            } else {
                Severity::Info
            },
            text: if ended {
                format!(
                    "Mattermost {m} (ESR {}.{}) is out of support since {eos}",
                    m.major, m.minor
                )
            } else {
                format!(
                    "Mattermost {m} (ESR {}.{}) is supported until {eos}",
                    m.major, m.minor
                )
            },
            action: ended
                .then(|| format!("move to Mattermost {CURRENT_ESR} (ESR) outside omnibus")),
            source: mattermost_rules::ESRS
                .iter()
                .find(|e| e.end_of_support == Some(eos))
                .map(|e| e.source)
                .unwrap_or(""),
        });
    } else if let Some(m) = running {
        support.push(Note {
            id: "mattermost.out-of-support",
            severity: Severity::Warn,
            text: format!(
                "Mattermost {m} is older than the oldest release this project can cite as supported (ESR 10.11, until 2026-08-15)"
            ),
            action: Some("upgrade".into()),
            source: "https://docs.mattermost.com/upgrade/important-upgrade-notes.html",
        });
    }

    let mut outcome = Outcome::Supported;
    for h in &hops {
        if !matches!(h.reason, HopReason::Target) {
            outcome = outcome.max(Outcome::MustSplit);
        }
        match h.mattermost.as_ref().map(|s| &s.verdict) {
            Some(Verdict::Blocked) => outcome = Outcome::Blocked,
            Some(Verdict::MustSplit { .. }) => outcome = outcome.max(Outcome::MustSplit),
            _ => {}
        }
        if h.gate.iter().any(|g| g.blocks) {
            outcome = Outcome::Blocked;
        }
    }
    if move_out.is_some() {
        outcome = Outcome::Blocked;
    }

    Ok(UpgradePlan {
        from,
        to,
        outcome,
        assumptions,
        hops,
        crossed,
        installed,
        support,
        move_out,
        today: input.today.clone(),
    })
}

/// The seed's single-server setup: what the plan assumes without a gitlab.rb.
fn seed_installation() -> Installation {
    Installation {
        external_url: true,
        enable: None,
        mattermost_keys: Vec::new(),
        default_secrets_disabled: false,
    }
}

/// The package hops from `from` to `to`: each target's required stop first (recursively).
fn package_path(
    from: &GitlabRelease,
    to: &GitlabRelease,
) -> Result<Vec<(GitlabRelease, HopReason)>, UpgradeError> {
    let from_line = ReleaseLine::of(from.gitlab);
    let mut chain: Vec<(GitlabRelease, HopReason)> = vec![(to.clone(), HopReason::Target)];
    let mut next = to.clone();
    // Bounded: each stop is an older line than the one before.
    for _ in 0..64 {
        let Some((min, source)) = required_stop(&next.tag) else {
            break;
        };
        if from_line >= min {
            break;
        }
        let stop = resolve(VersionArg {
            version: min.first_version(),
            patch_given: false,
        })?;
        if stop.gitlab >= next.gitlab {
            break;
        }
        chain.push((
            stop.clone(),
            HopReason::RequiredStop {
                next: next.gitlab,
                min: min.to_string(),
                source,
            },
        ));
        next = stop;
    }
    chain.reverse();
    Ok(chain)
}

/// Insert hops for Mattermost stops omnibus shipped (3.3.0 in GitLab 8.11, 2.2.0 in 8.8).
fn split_mattermost_stops(hops: Vec<Hop>, ctx: &StepContext, inst: &Installation) -> Vec<Hop> {
    let mut out: Vec<Hop> = Vec::new();
    for h in hops {
        let via = match h.mattermost.as_ref().map(|s| &s.verdict) {
            Some(Verdict::MustSplit { via }) => via.clone(),
            _ => Vec::new(),
        };
        let mut current_gitlab = h.from;
        let mut current_mm = h.mattermost.as_ref().map(|s| s.from);
        // The rules that asked for the stop stay visible on it, with their alternative.
        let reasons: Vec<Note> = h
            .mattermost
            .as_ref()
            .map(|s| {
                s.notes
                    .iter()
                    .filter(|n| n.severity == Severity::Block)
                    .map(|n| Note {
                        severity: Severity::Info,
                        text: format!(
                            "this stop exists because of {} → {}: {}",
                            s.from, s.to, n.text
                        ),
                        ..n.clone()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut first_stop = true;
        for m in via {
            let Some(stop) =
                gitlab_shipping(m).filter(|r| r.gitlab > current_gitlab && r.gitlab < h.to.gitlab)
            else {
                continue;
            };
            let mut step = current_mm.map(|a| evaluate_step(a, m, ctx));
            if first_stop && let Some(st) = step.as_mut() {
                st.notes.extend(reasons.iter().cloned());
                first_stop = false;
            }
            out.push(Hop {
                from: current_gitlab,
                to: stop.clone(),
                reason: HopReason::MattermostStop { mattermost: m },
                mattermost: step,
                gate: omnibus19::evaluate(current_gitlab, stop.gitlab, inst),
            });
            current_gitlab = stop.gitlab;
            current_mm = Some(m);
        }
        if current_gitlab != h.from {
            let step = match (current_mm, h.to.mattermost) {
                (Some(a), Some(b)) if a != b => Some(evaluate_step(a, b, ctx)),
                _ => None,
            };
            out.push(Hop {
                from: current_gitlab,
                mattermost: step,
                ..h
            });
        } else {
            out.push(h);
        }
    }
    out
}

/// The last patch, shipping Mattermost `m`, of the last release line that shipped it (8.8.9 for
/// 2.2.0, which 8.7 shipped too: the seed says to start from 8.8).
pub fn gitlab_shipping(m: Version) -> Option<GitlabRelease> {
    let last_line = bundled_rows().iter().rfind(|b| b.mattermost == m)?;
    let line = last_line.tag.line();
    let last = bundled_rows()
        .iter()
        .rfind(|b| b.tag.line() == line && b.mattermost == m)?;
    versions::release(last.gitlab())
}

fn bool_value(v: &RbValue) -> Option<bool> {
    match v {
        RbValue::Bool(b) => Some(*b),
        RbValue::Str(s) if s == "true" => Some(true),
        RbValue::Str(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// Read the gitlab.rb (for the source version) and config.json, if given.
fn installed(
    input: &PlanInput,
    from: &GitlabRelease,
    to: &GitlabRelease,
) -> Result<Option<Installed>, UpgradeError> {
    let Some(file) = &input.gitlab_rb else {
        if input.config_json.is_some() {
            return Err(input_error(
                "--config-json needs --gitlab-rb: drift is config.json against gitlab.rb".into(),
            )
            .hint("pass the gitlab.rb the installation was configured with"));
        }
        return Ok(None);
    };
    let doc = parse_gitlab_rb(file);
    if doc.has_errors() {
        let shown: Vec<String> = doc.diagnostics().iter().map(|d| d.render()).collect();
        return Err(input_error(format!(
            "{} cannot be read:\n{}",
            file.name(),
            shown.join("\n")
        ))
        .hint("fix the gitlab.rb (Ruby would refuse it too), or leave --gitlab-rb out"));
    }
    let mut inst = Installation::default();
    let mut mattermost_keys = Vec::new();
    for s in doc.settings() {
        match &s.target {
            SettingTarget::Method { name } if name == "mattermost_external_url" => {
                inst.external_url = !matches!(s.value.value, RbValue::Nil);
            }
            SettingTarget::Index { root, keys } if root == "mattermost" && !keys.is_empty() => {
                if keys.len() == 1 && keys[0] == "enable" {
                    inst.enable = bool_value(&s.value.value);
                }
                let line = file.position(s.span.start).line;
                mattermost_keys.push((keys[0].clone(), line));
            }
            SettingTarget::Index { root, keys }
                if root == "package"
                    && keys.first().map(String::as_str) == Some("generate_default_secrets") =>
            {
                inst.default_secrets_disabled = bool_value(&s.value.value) == Some(false);
            }
            _ => {}
        }
    }
    inst.mattermost_keys = mattermost_keys.iter().map(|(k, _)| k.clone()).collect();
    inst.mattermost_keys.dedup();

    let resolved = resolve_rb(file, from.gitlab.min(versions::last_bundled().gitlab()));
    let m = &resolved.host;
    let gitlab_sso = m.mattermost.gitlab.enable
        || (m.mattermost_enabled && m.gitlab_rails_enabled && m.register_as_oauth_app);

    // Keys a later line ignores (11.0 dropped most of them), read at the last bundled version
    // the path reaches.
    let check_at = to.gitlab.min(versions::last_bundled().gitlab());
    let mut dropped_keys = Vec::new();
    if from.gitlab.major < 11 && check_at.major >= 11 {
        for (key, line) in &mattermost_keys {
            if let KeyStatus::Dropped { last, env_var, .. } =
                key_status("mattermost", key, check_at)
                && matches!(key_status("mattermost", key, from.gitlab), KeyStatus::Known)
            {
                dropped_keys.push(DroppedKey {
                    key: format!("mattermost['{key}']"),
                    line: *line,
                    last: last.to_string(),
                    env_var,
                });
            }
        }
    }

    let mut public_links = None;
    let mut drift_items = Vec::new();
    if let Some(cfg_file) = &input.config_json {
        let cfg: ConfigJson = read_config_json(cfg_file).map_err(|e| {
            input_error(e.diagnostic.render()).hint(
                "pass the installation's config.json (/var/opt/gitlab/mattermost/config.json)",
            )
        })?;
        public_links = cfg
            .get("FileSettings.EnablePublicLink")
            .and_then(|e| e.value.as_bool());
        drift_items = drift_of(&resolved, &cfg);
    }
    if public_links.is_none() {
        public_links = resolved
            .effective
            .get("FileSettings.EnablePublicLink")
            .and_then(|s| match &s.value {
                serde_json::Value::Bool(b) => Some(*b),
                serde_json::Value::String(v) => v.parse().ok(),
                _ => None,
            });
    }
    Ok(Some(Installed {
        installation: inst,
        assumed: false,
        gitlab_sso,
        public_links,
        dropped_keys,
        drift: drift_items,
    }))
}

fn drift_of(resolved: &Resolved, cfg: &ConfigJson) -> Vec<DriftItem> {
    drift(resolved, cfg)
        .into_iter()
        .map(|d| DriftItem {
            path: d.path.clone(),
            config_json_line: d.config_location.line,
            config_json: d.actual_display(),
            gitlab_rb: d.expected_display(),
            consequence: match d.consequence {
                DriftConsequence::LostOnReconfigure => "reconfigure rewrites config.json from gitlab.rb: the change is lost by the upgrade unless gitlab.rb carries it".into(),
                DriftConsequence::OverriddenByEnv => format!(
                    "{} from gitlab.rb overrides it: the config.json value never applies",
                    d.env_var.as_deref().unwrap_or("an MM_* variable")
                ),
            },
        })
        .collect()
}

fn move_out(
    input: &PlanInput,
    hops: &[Hop],
    installed: Option<&Installed>,
    ctx: StepContext,
) -> MoveOut {
    let on_18 = hops
        .iter()
        .filter(|h| h.to.mattermost.is_some())
        .map(|h| h.to.clone())
        .next_back()
        .unwrap_or_else(|| versions::release(input_from(hops)).expect("from resolved"));
    let export_on = on_18.gitlab;
    let minimum = on_18.mattermost.unwrap_or(Version::new(10, 11, 0));
    let mut export = vec![
        Task {
            title: "Stay on GitLab 18.11 until the export is done".into(),
            detail: format!(
                "GitLab 19 ships no Mattermost binary and its first reconfigure removes the service: export on {export_on} (Mattermost {minimum}). Be on 18.11.9 or later (18.11.7 blocks every 19.x upgrade at preinst, 18.11.8 may enable bundled Mattermost by accident)."
            ),
            command: None,
        },
        Task {
            title: "Stop Mattermost for a consistent copy".into(),
            detail: "No writes while the database and files are copied.".into(),
            command: Some("sudo gitlab-ctl stop mattermost".into()),
        },
        Task {
            title: "Dump the Mattermost database".into(),
            detail: "The bundled PostgreSQL database mattermost_production (the seed's backup command).".into(),
            command: Some("sudo -u gitlab-psql -- /opt/gitlab/embedded/bin/pg_dump -h /var/opt/gitlab/postgresql mattermost_production | gzip > mattermost_dbdump_$(date --rfc-3339=date).sql.gz".into()),
        },
        Task {
            title: "Copy config.json, the data and the plugin directories".into(),
            detail: "config.json holds every setting changed in the System Console; data/ holds uploaded files; plugins/ and client-plugins/ the installed plugins.".into(),
            command: Some("sudo tar -C /var/opt/gitlab/mattermost -czf mattermost-files.tar.gz config.json data plugins client-plugins".into()),
        },
        Task {
            title: "Copy the Mattermost secrets that a 19.x reconfigure drops".into(),
            detail: format!(
                "gitlab-secrets.json's `mattermost` section ({}); sql_at_rest_encrypt_key is MM_SQLSETTINGS_ATRESTENCRYPTKEY and gitlab_id/gitlab_secret are the OAuth application's credentials. Keep the copy as secret as the original.",
                DROPPED_SECRETS.join(", ")
            ),
            command: Some("sudo sh -c 'umask 077; /opt/gitlab/embedded/bin/ruby -rjson -e \"puts JSON.pretty_generate(JSON.parse(File.read(%q(/etc/gitlab/gitlab-secrets.json)))[%q(mattermost)])\" > mattermost-secrets.json'".into()),
        },
        Task {
            title: "Record the MM_* environment omnibus passed".into(),
            detail: "Settings from gitlab.rb reach Mattermost as MM_* variables (listed below); the runtime copy is in /opt/gitlab/etc/mattermost/env.".into(),
            command: Some("sudo sh -c 'umask 077; for f in /opt/gitlab/etc/mattermost/env/*; do printf \"%s=%s\\n\" \"$(basename \"$f\")\" \"$(cat \"$f\")\"; done > mattermost-env.txt'".into()),
        },
    ];
    if installed.is_some_and(|i| !i.drift.is_empty()) {
        export.push(Task {
            title: "Carry the settings changed outside gitlab.rb".into(),
            detail: "They live in config.json (copied above); the drift list shows which ones gitlab.rb contradicts.".into(),
            command: None,
        });
    }
    let mm_env: Vec<(String, String)> = input
        .gitlab_rb
        .as_ref()
        .map(|f| {
            let r = resolve_rb(f, export_on.min(versions::last_bundled().gitlab()));
            render_mm_env(&r)
                .into_iter()
                .map(|e| (e.name.clone(), e.shown_value().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let site = input
        .gitlab_rb
        .as_ref()
        .and_then(|f| {
            resolve_rb(f, export_on)
                .host
                .mattermost_external_url
                .clone()
        })
        .unwrap_or_else(|| "https://mattermost.example.com".into());
    let recommended = CURRENT_ESR;
    let v11_note = if ctx.gitlab_sso && !ctx.licensed {
        format!(
            " GitLab SSO needs a Professional (or higher) licence from v11 ({}): without one, stay on {}.{} (out of support since 2026-08-15) or change how users sign in before moving to {recommended}.",
            mattermost_rules::V11_SSO_SOURCE,
            minimum.major,
            minimum.minor
        )
    } else {
        String::new()
    };
    let standalone = vec![
        Task {
            title: format!("Install Mattermost {minimum} standalone (the same version, never lower)"),
            detail: "Move first, upgrade later: a lower version cannot read the migrated database. Restore the dump into the new PostgreSQL, unpack data/ and plugins/, and start from the copied config.json.".into(),
            command: Some("gunzip -c mattermost_dbdump_*.sql.gz | psql -h NEW_DB_HOST -U mmuser mattermost".into()),
        },
        Task {
            title: "Apply the standalone settings equivalent to gitlab.rb".into(),
            detail: "Set the MM_* variables listed below (or the same values in config.json); where omnibus registered the OAuth application itself, GitLabSettings Enable/Id/Secret come from the saved gitlab-secrets.json section, not from gitlab.rb. Change only the host layout: MM_SQLSETTINGS_DATASOURCE (the new database), MM_FILESETTINGS_DIRECTORY, MM_PLUGINSETTINGS_DIRECTORY and MM_PLUGINSETTINGS_CLIENTDIRECTORY (the new paths), and drop MM_INSTALL_TYPE=gitlab_omnibus. Keep MM_SQLSETTINGS_ATRESTENCRYPTKEY = the saved sql_at_rest_encrypt_key.".into(),
            command: None,
        },
        Task {
            title: "Keep the GitLab OAuth application".into(),
            detail: format!(
                "Reuse the \"GitLab Mattermost\" application in GitLab (Admin → Applications) with the saved gitlab_id/gitlab_secret as MM_GITLABSETTINGS_ID/MM_GITLABSETTINGS_SECRET; its callback URLs must stay {site}/signup/gitlab/complete and {site}/login/gitlab/complete. Do not delete it: users are linked to GitLab by their GitLab user id, not by the application."
            ),
            command: None,
        },
        Task {
            title: format!("Then upgrade ESR to ESR: {recommended}"),
            detail: format!(
                "Mattermost {}.{} is the last bundled release line; {recommended} is the current ESR.{v11_note}",
                minimum.major, minimum.minor
            ),
            command: None,
        },
    ];
    let mut remove_keys: Vec<(String, usize)> = Vec::new();
    if let Some(f) = &input.gitlab_rb {
        for s in parse_gitlab_rb(f).settings() {
            let root = s.target.root();
            if root == "mattermost"
                || root == "mattermost_nginx"
                || root == "mattermost_external_url"
            {
                remove_keys.push((s.target.to_string(), f.position(s.span.start).line));
            }
        }
    }
    let gitlab_side = vec![
        Task {
            title: "Point GitLab at the standalone server".into(),
            detail: format!(
                "In GitLab's gitlab.rb set gitlab_rails['mattermost_host'] = \"{site}\" (GitLab 19 reads it before the deprecated mattermost_external_url), and remove every bundled-Mattermost key ({} in this file); run `sudo gitlab-ctl reconfigure` on 18.11.",
                remove_keys.len()
            ),
            command: None,
        },
        Task {
            title: "Upgrade GitLab: 18.11 → 19.2 → 19.3".into(),
            detail: "19.0-19.2 accept 18.11; 19.3 requires 19.2. The first 19.0-19.2 reconfigure after the upgrade aborts once on the Mattermost secrets left in gitlab-secrets.json (it has already removed them): run `sudo gitlab-ctl reconfigure` again. From 19.3 only mattermost['enable'] = true is refused.".into(),
            command: None,
        },
    ];
    MoveOut {
        export_on,
        minimum_mattermost: minimum,
        recommended_mattermost: recommended,
        export,
        mm_env,
        standalone,
        gitlab_side,
        remove_keys,
    }
}

fn input_from(hops: &[Hop]) -> Version {
    hops.first()
        .map(|h| h.from)
        .unwrap_or(Version::new(18, 11, 0))
}
