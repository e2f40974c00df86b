//! The readers of the upgrade steps (`gitlab.upgrade`, `mattermost.run_sql`,
//! `mattermost.save_theme`, and the move out of omnibus: `mattermost.export`,
//! `mattermost.move_out`, `gitlab.check_config`) and of the `theme` and `data` expectations, called from
//! `parse_step`'s exhaustive dispatches. Bad values are errors here, at parse time, with the
//! value's location: a version the twin cannot install, SQL other than the seed's statement.

use toml::Spanned;
use toml::de::DeValue;

use crate::check::{DataExpect, Expectation};
use crate::config::Version;
use crate::twin::mattermost::schema::Database;
use crate::twin::mattermost::upgrade::bundled_release;

use super::fields::{Fields, Sink, quoted};
use super::model::Action;

pub(super) fn gitlab_upgrade(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    let (to, span) = f.req_str(sink, "to")?;
    let version: Option<Version> = to.parse().ok();
    match version.filter(|v| bundled_release(*v).is_some()) {
        Some(to) => Some(Action::GitlabUpgrade { to }),
        None => {
            sink.error(
                "scenario.value",
                span,
                format!("cannot upgrade to GitLab {:?}", quoted(&to)),
                Some(
                    "write a GitLab release that bundled Mattermost 3.1–3.4: `8.9`, `8.10`, `8.11` or `8.12`"
                        .into(),
                ),
            );
            None
        }
    }
}

pub(super) fn run_sql(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    let (statement, span) = f.req_str(sink, "statement")?;
    // The statement is tried on a scratch database: what the twin's database refuses is refused now.
    let mut scratch = Database::empty();
    if let Err(e) = scratch.run_sql(&statement) {
        sink.error(
            "scenario.value",
            span,
            e.to_string(),
            Some(
                "write the seed's `UPDATE Systems SET Value = '3.1.0' WHERE Name = 'Version'`"
                    .into(),
            ),
        );
        return None;
    }
    Some(Action::RunSql { statement })
}

pub(super) fn save_theme(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    let user = f.req_str(sink, "user");
    let theme = f.req_str(sink, "theme");
    Some(Action::SaveTheme {
        user: user?.0,
        theme: theme?.0,
    })
}

/// `theme = "TEXT"` or `theme = false` (no theme).
pub(super) fn expect_theme(sink: &mut Sink<'_>, v: &Spanned<DeValue<'_>>) -> Option<Expectation> {
    match v.get_ref() {
        DeValue::String(s) => Some(Expectation::Theme {
            value: Some(s.to_string()),
        }),
        DeValue::Boolean(false) => Some(Expectation::Theme { value: None }),
        _ => {
            sink.type_error("expect.theme", "a string, or false for no theme", v);
            None
        }
    }
}

pub(super) fn expect_data(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Expectation {
    const MAX: u64 = 1_000_000_000;
    Expectation::Data(DataExpect {
        users: f.opt_uint(sink, "users", MAX),
        teams: f.opt_uint(sink, "teams", MAX),
        channels: f.opt_uint(sink, "channels", MAX),
        posts: f.opt_uint(sink, "posts", MAX),
        webhooks: f.opt_uint(sink, "webhooks", MAX),
    })
}

pub(super) fn mattermost_export(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    let host = f.req_str(sink, "host");
    let bind = f.req_str(sink, "as");
    Some(Action::MattermostExport {
        host: host?.0,
        bind: bind?.0,
    })
}

pub(super) fn move_out(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    let export = f.req_str(sink, "export");
    let to = f.req_str(sink, "to");
    Some(Action::MoveOut {
        export: export?.0,
        to: to?.0,
    })
}

pub(super) fn check_config(sink: &mut Sink<'_>, f: &mut Fields<'_, '_>) -> Option<Action> {
    let host = f.req_str(sink, "host");
    let (raw, span) = f.req_str(sink, "gitlab_version")?;
    // A release omnibus published (the version table's range), so the gate is computed, not guessed.
    let version = crate::upgrade::versions::parse_version_arg(&raw)
        .ok()
        .filter(|v| crate::upgrade::versions::resolve(*v).is_ok());
    let Some(v) = version else {
        sink.error(
            "scenario.value",
            span,
            format!(
                "GitLab {:?} is not a release omnibus published",
                quoted(&raw)
            ),
            Some("write a released GitLab version, e.g. \"19.0\" or \"18.11.9\"".into()),
        );
        return None;
    };
    let gitlab_version = crate::upgrade::versions::resolve(v).ok()?.gitlab;
    Some(Action::CheckConfig {
        host: host?.0,
        gitlab_version,
    })
}
