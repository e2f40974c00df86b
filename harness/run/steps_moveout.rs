//! The move out of omnibus, as `upgrade-plan` prints it: `mattermost.export` (the plan's export
//! tasks), `mattermost.move_out` (its standalone and GitLab-side tasks) and `gitlab.check_config`
//! (what a GitLab package does with the host's gitlab.rb: the configuration model's checks for
//! that version and the plan's gate). Each step lists the plan's task titles it carries out, so
//! the plan and the scenario cannot drift apart: the tasks come from
//! [`crate::upgrade::plan`], never from a second list here.
//!
//! Owns: [`MoveOutState`] (the exports taken and the gitlab.rb texts rewritten in this run), the
//! standalone server's `MM_*` environment (the rendered one of `config explain`, with SiteURL and
//! the saved OAuth application), and the gitlab.rb rewrite.

use std::collections::BTreeMap;

use crate::check::StepOutput;
use crate::config::{EnvVar, Version, render_mm_env, settings_from_mm_env};
use crate::diag::{Severity, SourceFile};
use crate::drive::{DriveError, DriveErrorKind, Transcript};
use crate::scenario::{HostKind, Scenario};
use crate::stack::{Stack, StackErrorKind};
use crate::twin::mattermost::moveout::MattermostExport;
use crate::upgrade::plan::MoveOut;
use crate::upgrade::versions::VersionArg;
use crate::upgrade::{PlanInput, UpgradePlan};

use super::{RunState, fail};

/// One `mattermost.export`: what was taken, and the plan it followed.
pub(super) struct ExportRecord {
    /// The omnibus host it was taken on.
    host: String,
    export: MattermostExport,
    /// The `MM_*` settings the host's gitlab.rb renders (real values; printed redacted).
    env: Vec<EnvVar>,
    plan: MoveOut,
    /// The gitlab.rb text the plan was computed from.
    gitlab_rb: String,
}

/// What the move-out steps carry between steps.
#[derive(Default)]
pub(super) struct MoveOutState {
    exports: BTreeMap<String, ExportRecord>,
    /// Hosts whose gitlab.rb `mattermost.move_out` rewrote, with the new text.
    rewritten: BTreeMap<String, String>,
}

fn stack_error(e: crate::stack::StackError) -> DriveError {
    match e.kind {
        StackErrorKind::Environment | StackErrorKind::NotAvailable => {
            DriveError::new(DriveErrorKind::Setup, e.message)
        }
        StackErrorKind::Configuration | StackErrorKind::Refused => fail(e.message),
    }
}

/// The host's gitlab.rb as it stands now: rewritten by `mattermost.move_out`, or the scenario's
/// text with the bindings known now.
fn current_gitlab_rb(
    scenario: &Scenario,
    state: &RunState,
    host: &str,
) -> Result<SourceFile, DriveError> {
    let name = format!("{} [hosts.{host}.gitlab_rb]", scenario.path.display());
    if let Some(text) = state.moveout.rewritten.get(host) {
        return Ok(SourceFile::new(format!("{name} (rewritten)"), text.clone()));
    }
    let plan = scenario
        .host(host)
        .ok_or_else(|| fail(format!("no host `{host}`")))?;
    Ok(SourceFile::new(name, plan.gitlab_rb.fill(&state.bindings)))
}

fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `upgrade-plan --from <the scenario's GitLab> --to <to> --gitlab-rb <file>`.
fn upgrade_plan(
    from: Version,
    to: VersionArg,
    file: &SourceFile,
) -> Result<UpgradePlan, DriveError> {
    let input = PlanInput {
        from: VersionArg {
            version: from,
            patch_given: from.patch != 0,
        },
        to,
        gitlab_rb: Some(file.clone()),
        config_json: None,
        today: today(),
        licensed: false,
    };
    crate::upgrade::plan(&input).map_err(|e| fail(format!("upgrade-plan refused: {}", e.message)))
}

pub(super) async fn export(
    scenario: &Scenario,
    stack: &mut Stack,
    state: &mut RunState,
    host: &str,
    bind: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let file = current_gitlab_rb(scenario, state, host)?;
    let to = VersionArg {
        version: Version::new(19, 0, 0),
        patch_given: false,
    };
    let plan = upgrade_plan(scenario.gitlab_version, to, &file)?;
    let move_out = plan.move_out.ok_or_else(|| {
        fail(format!(
            "upgrade-plan has no move out of omnibus for host `{host}`: its gitlab.rb does not run bundled Mattermost"
        ))
    })?;
    let export = stack.export_mattermost().await.map_err(stack_error)?;
    if !export.secrets.gitlab_secret.is_empty() {
        tr.secret(export.secrets.gitlab_secret.expose());
    }
    for task in &move_out.export {
        tr.fact("plan", task.title.clone());
    }
    let resolved = crate::config::resolve(&file, scenario.gitlab_version);
    let env = render_mm_env(&resolved);
    tr.fact("database", export.tables());
    let sections = export
        .config_json
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    tr.fact("config.json", sections);
    let s = &export.secrets;
    tr.fact(
        "gitlab-secrets.json",
        format!(
            "mattermost: gitlab_enable {}, gitlab_id {}, gitlab_secret {}",
            s.gitlab_enable,
            if s.gitlab_id.is_empty() {
                "none"
            } else {
                "kept"
            },
            if s.gitlab_secret.is_empty() {
                "none"
            } else {
                "kept"
            },
        ),
    );
    tr.fact("MM_* settings", format!("{} variables", env.len()));
    state.moveout.exports.insert(
        bind.to_string(),
        ExportRecord {
            host: host.to_string(),
            export,
            env,
            plan: move_out,
            gitlab_rb: file.text().to_string(),
        },
    );
    Ok(StepOutput::Done)
}

/// Set `name` in `env` (replacing it when present).
fn set_env(env: &mut Vec<EnvVar>, name: &str, value: &str, secret: bool) {
    env.retain(|v| v.name != name);
    env.push(EnvVar {
        name: name.to_string(),
        value: value.to_string(),
        secret,
    });
}

/// The standalone server's environment: the rendered `MM_*` settings, SiteURL its own URL, and
/// where omnibus registered the OAuth application itself, GitLabSettings Enable/Id/Secret from the
/// saved gitlab-secrets.json section (the plan's "Keep the GitLab OAuth application").
fn standalone_env(rec: &ExportRecord, url: &str) -> Vec<EnvVar> {
    let mut env = rec.env.clone();
    set_env(&mut env, "MM_SERVICESETTINGS_SITEURL", url, false);
    let s = &rec.export.secrets;
    if !s.gitlab_id.is_empty() {
        set_env(&mut env, "MM_GITLABSETTINGS_ENABLE", "true", false);
        set_env(&mut env, "MM_GITLABSETTINGS_ID", &s.gitlab_id, false);
        set_env(
            &mut env,
            "MM_GITLABSETTINGS_SECRET",
            s.gitlab_secret.expose(),
            true,
        );
    }
    env.sort_by(|a, b| a.name.cmp(&b.name));
    env
}

/// GitLab's gitlab.rb for 19: every line the plan lists for removal deleted, and
/// `gitlab_rails['mattermost_host']` pointing at the standalone server. `Err` when a listed key
/// spans several lines (the rewrite deletes whole lines only).
fn rewrite_gitlab_rb(
    text: &str,
    remove: &[(String, usize)],
    url: &str,
) -> Result<(String, Vec<String>), String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut removed = Vec::new();
    for (key, line) in remove {
        let Some(l) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
            return Err(format!("line {line} of `{key}` is not in the file"));
        };
        let root = key.split(['[', ' ']).next().unwrap_or(key);
        if !l.trim_start().starts_with(root) {
            return Err(format!(
                "`{key}` at line {line} does not start its line; rewrite it by hand"
            ));
        }
        removed.push(format!("line {line}: {}", l.trim()));
    }
    let drop: Vec<usize> = remove.iter().map(|(_, l)| *l).collect();
    let mut out: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(&(i + 1)))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    out.push_str(&format!("gitlab_rails['mattermost_host'] = \"{url}\"\n"));
    Ok((out, removed))
}

pub(super) async fn move_out(
    scenario: &Scenario,
    stack: &mut Stack,
    state: &mut RunState,
    export: &str,
    to: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let url = match scenario.host(to).map(|h| &h.kind) {
        Some(HostKind::MattermostStandalone { url }) => url.trim_end_matches('/').to_string(),
        Some(HostKind::Omnibus) | None => {
            return Err(fail(format!(
                "host `{to}` is not a standalone Mattermost (kind = \"mattermost-standalone\")"
            )));
        }
    };
    let rec = state
        .moveout
        .exports
        .get(export)
        .ok_or_else(|| fail(format!("export `{export}` was not taken in this run")))?;
    // On 18.11: the bundled service stops for good.
    tr.fact(
        "stopped",
        "bundled Mattermost: mattermost['enable'] = false, gitlab-ctl reconfigure",
    );
    for task in &rec.plan.standalone {
        tr.fact("plan", task.title.clone());
    }
    let env = standalone_env(rec, &url);
    for v in &env {
        if v.name == "MM_GITLABSETTINGS_ID" {
            // The application's client id: random per run; the SSO steps show it as client_id.
            tr.fact(
                "env",
                format!("{}=<gitlab_id of gitlab-secrets.json>", v.name),
            );
        } else if v.secret && !v.value.is_empty() {
            tr.fact("env", format!("{}=[secret]", v.name));
        } else {
            tr.fact("env", v.to_string());
        }
    }
    let profile = crate::config::Profile::for_gitlab(scenario.gitlab_version);
    let (settings, locked) = settings_from_mm_env(profile, &env).map_err(|e| {
        fail(format!(
            "the standalone Mattermost refuses its environment: {e}"
        ))
    })?;
    stack
        .move_mattermost_out(&url, settings, locked, &rec.export)
        .await
        .map_err(stack_error)?;
    tr.fact(
        "started",
        format!(
            "standalone Mattermost {} at {url} (MM_* only) on the restored database: {}",
            profile.mattermost_version(),
            rec.export.tables()
        ),
    );
    for task in &rec.plan.gitlab_side {
        tr.fact("plan", task.title.clone());
    }
    let (text, removed) =
        rewrite_gitlab_rb(&rec.gitlab_rb, &rec.plan.remove_keys, &url).map_err(|e| {
            fail(format!(
                "cannot rewrite host `{}`'s gitlab.rb: {e}",
                rec.host
            ))
        })?;
    for r in removed {
        tr.fact("gitlab.rb removed", r);
    }
    tr.fact(
        "gitlab.rb added",
        format!("gitlab_rails['mattermost_host'] = \"{url}\""),
    );
    let host = rec.host.clone();
    state.moveout.rewritten.insert(host, text);
    // The drivers reach the standalone server now: new addresses, new sessions.
    state.reach.book = stack.info().book.clone();
    state.mm_api = None;
    state.admin_browser = None;
    Ok(StepOutput::Done)
}

pub(super) async fn check_config(
    scenario: &Scenario,
    state: &mut RunState,
    host: &str,
    gitlab_version: Version,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let file = current_gitlab_rb(scenario, state, host)?;
    let mut blockers = Vec::new();
    let resolved = crate::config::resolve(&file, gitlab_version);
    for d in &resolved.diagnostics {
        if d.severity == Severity::Error {
            tr.fact("gitlab.rb error", d.message.clone());
            blockers.push(d.message.clone());
        }
    }
    let warnings = resolved
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    tr.fact(
        "gitlab.rb",
        format!(
            "GitLab {gitlab_version}: {} error(s), {warnings} warning(s)",
            blockers.len()
        ),
    );
    if gitlab_version > scenario.gitlab_version {
        let to = VersionArg {
            version: gitlab_version,
            patch_given: true,
        };
        let plan = upgrade_plan(scenario.gitlab_version, to, &file)?;
        for hop in &plan.hops {
            for g in &hop.gate {
                tr.fact(
                    "gate",
                    format!(
                        "{} → {}: {} {}",
                        hop.from,
                        hop.to.gitlab,
                        g.rule.id,
                        if g.blocks { "blocks" } else { "passes" }
                    ),
                );
                if g.blocks {
                    blockers.push(format!("{}: {}", g.rule.id, g.what));
                }
            }
        }
    }
    if blockers.is_empty() {
        Ok(StepOutput::Done)
    } else {
        Err(DriveError::protocol(format!(
            "GitLab {gitlab_version} blocks host `{host}`'s gitlab.rb: {}",
            blockers.join("; ")
        )))
    }
}

pub(super) async fn read_posts(
    info: &crate::stack::StackInfo,
    state: &mut RunState,
    hook: &str,
    tr: &mut Transcript,
) -> Result<StepOutput, DriveError> {
    let record = state.hooks.get(hook).cloned().ok_or_else(|| {
        fail(format!(
            "incoming webhook `{hook}` was not created in this run"
        ))
    })?;
    let (b, api) = super::mattermost_api(state, info, tr).await?;
    let posts = api
        .channel_posts(b, &record.team_id, &record.channel_id, tr)
        .await?;
    for p in &posts {
        tr.fact(
            "post",
            format!(
                "type={:?} attachments={} from_webhook={} text={:?}",
                p.post_type,
                p.attachments(),
                p.from_webhook(),
                p.message
            ),
        );
    }
    if posts.is_empty() {
        return Err(DriveError::protocol(format!(
            "the channel of `{hook}` has no posts"
        )));
    }
    Ok(StepOutput::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rewrite_deletes_the_listed_lines_and_points_gitlab_at_the_standalone_server() {
        let text = "external_url 'http://gitlab.example.com'\n# in /etc/gitlab/gitlab.rb\nmattermost_external_url 'http://mattermost.example.com'\nmattermost['service_enable_incoming_webhooks'] = true\n";
        let remove = vec![
            ("mattermost_external_url".to_string(), 3),
            (
                "mattermost['service_enable_incoming_webhooks']".to_string(),
                4,
            ),
        ];
        let (out, removed) =
            rewrite_gitlab_rb(text, &remove, "https://chat.example.com").expect("rewrite");
        assert_eq!(
            out,
            "external_url 'http://gitlab.example.com'\n# in /etc/gitlab/gitlab.rb\ngitlab_rails['mattermost_host'] = \"https://chat.example.com\"\n"
        );
        assert_eq!(removed.len(), 2);
        assert!(removed[0].starts_with("line 3: mattermost_external_url"));
    }

    #[test]
    fn a_key_that_does_not_start_its_line_is_refused() {
        let text = "external_url 'x'; mattermost_external_url 'y'\n";
        let remove = vec![("mattermost_external_url".to_string(), 1)];
        let e = rewrite_gitlab_rb(text, &remove, "http://m").expect_err("refused");
        assert!(e.contains("rewrite it by hand"), "{e}");
        let e = rewrite_gitlab_rb(text, &[("mattermost_external_url".into(), 9)], "http://m")
            .expect_err("refused");
        assert!(e.contains("line 9"), "{e}");
    }
}
