//! The database schema history of the Mattermost 3.x releases that GitLab 8.9–8.12 bundled, and
//! what each release's server does to a database when it starts: the twin's model of an upgrade.
//!
//! Owns: [`Release`] (3.1–3.4), the schema facts an upgrade changes ([`Column`], the `Systems`
//! `Version` row), the rows those migrations move (users' `ThemeProps`, theme preferences), each
//! release's start-up ([`start`]) and the one SQL statement the seed tells operators to run
//! ([`Database::run_sql`]). Nothing here speaks HTTP.
//!
//! Read from the release tags of `mattermost/platform` (the repository before its rename):
//! - 3.1–3.3: `store/sql_store.go` `NewSqlStore` (the "previous versions supported" gate of
//!   `model/version.go` `IsPreviousVersionsSupported`: the current release and the three before
//!   it; the 2.x special case; the version row set to `model.CurrentVersion` after the per-store
//!   `UpgradeSchemaIfNeeded` functions ran), and each store's `UpgradeSchemaIfNeeded`;
//! - 3.4: `store/sql_upgrade.go` (`UpgradeDatabaseToVersion31…34`, each run only when the schema
//!   version *in memory* equals its predecessor; `saveSchemaVersion` writes `model.CurrentVersion`
//!   to the table; `EXIT_TOO_OLD` = 1002).
//!
//! Why 3.2 → 3.4 is incomplete (the seed's special case 2): Mattermost 3.3 moved the users'
//! themes from `Users.ThemeProps` into `Preferences` in its user store's upgrade; 3.4 put that
//! move into `UpgradeDatabaseToVersion32`, the 3.1 → 3.2 step. A database written by 3.2 says
//! `3.2.0`, so 3.4 skips that step: every user's theme is lost and `Users.ThemeProps` stays.
//! Setting the version row back to `3.1.0` (the seed's SQL) makes 3.4 run the step again.

use std::collections::BTreeSet;
use std::fmt;

/// A Mattermost server release GitLab omnibus bundled between GitLab 8.9 and 8.12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Release {
    /// Mattermost 3.1.0 (GitLab 8.9).
    V3_1,
    /// Mattermost 3.2.0 (GitLab 8.10).
    V3_2,
    /// Mattermost 3.3.0 (GitLab 8.11).
    V3_3,
    /// Mattermost 3.4.0 (GitLab 8.12).
    V3_4,
}

impl Release {
    pub const ALL: [Release; 4] = [Release::V3_1, Release::V3_2, Release::V3_3, Release::V3_4];

    /// `model.CurrentVersion` of the release.
    pub fn version(self) -> &'static str {
        match self {
            Release::V3_1 => "3.1.0",
            Release::V3_2 => "3.2.0",
            Release::V3_3 => "3.3.0",
            Release::V3_4 => "3.4.0",
        }
    }

    /// The GitLab release that bundled it (the seed's table).
    pub fn gitlab(self) -> &'static str {
        match self {
            Release::V3_1 => "8.9",
            Release::V3_2 => "8.10",
            Release::V3_3 => "8.11",
            Release::V3_4 => "8.12",
        }
    }

    /// The release for a Mattermost version written `3.2`, `3.2.0` or `v3.2.0`.
    pub fn parse(text: &str) -> Option<Release> {
        let t = text.trim().trim_start_matches('v');
        Release::ALL
            .into_iter()
            .find(|r| r.version() == t || r.version().strip_suffix(".0") == Some(t))
    }

    /// `model/version.go` `versions` (hotfix-free), newest first, as far back as the gate looks.
    fn versions(self) -> &'static [&'static str] {
        match self {
            Release::V3_1 => &["3.1.0", "3.0.0", "2.2.0", "2.1.0"],
            Release::V3_2 => &["3.2.0", "3.1.0", "3.0.0", "2.2.0"],
            Release::V3_3 => &["3.3.0", "3.2.0", "3.1.0", "3.0.0"],
            Release::V3_4 => &["3.4.0", "3.3.0", "3.2.0", "3.1.0"],
        }
    }

    /// `IsPreviousVersionsSupported`: the release itself and the three before it (patch ignored).
    fn supports(self, schema: &str) -> bool {
        let mut parts = schema.split('.');
        let (Some(major), Some(minor)) = (parts.next(), parts.next()) else {
            return false;
        };
        let minor_zero = format!("{major}.{minor}.0");
        self.versions().contains(&minor_zero.as_str())
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mattermost {}", self.version())
    }
}

/// The columns the 3.x migrations add or drop (`table.column`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Column {
    UsersThemeProps,
    UsersLastActivityAt,
    UsersLastPingAt,
    TeamMembersDeleteAt,
    OAuthAppsIsTrusted,
    OAuthAppsIconUrl,
    OAuthAccessDataAuthCode,
    OAuthAccessDataClientId,
    OAuthAccessDataUserId,
    OAuthAccessDataExpiresAt,
    OutgoingWebhooksContentType,
    OutgoingWebhooksTriggerWhen,
    StatusManual,
    StatusActiveChannel,
}

impl Column {
    pub const ALL: [Column; 14] = [
        Column::UsersThemeProps,
        Column::UsersLastActivityAt,
        Column::UsersLastPingAt,
        Column::TeamMembersDeleteAt,
        Column::OAuthAppsIsTrusted,
        Column::OAuthAppsIconUrl,
        Column::OAuthAccessDataAuthCode,
        Column::OAuthAccessDataClientId,
        Column::OAuthAccessDataUserId,
        Column::OAuthAccessDataExpiresAt,
        Column::OutgoingWebhooksContentType,
        Column::OutgoingWebhooksTriggerWhen,
        Column::StatusManual,
        Column::StatusActiveChannel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Column::UsersThemeProps => "Users.ThemeProps",
            Column::UsersLastActivityAt => "Users.LastActivityAt",
            Column::UsersLastPingAt => "Users.LastPingAt",
            Column::TeamMembersDeleteAt => "TeamMembers.DeleteAt",
            Column::OAuthAppsIsTrusted => "OAuthApps.IsTrusted",
            Column::OAuthAppsIconUrl => "OAuthApps.IconURL",
            Column::OAuthAccessDataAuthCode => "OAuthAccessData.AuthCode",
            Column::OAuthAccessDataClientId => "OAuthAccessData.ClientId",
            Column::OAuthAccessDataUserId => "OAuthAccessData.UserId",
            Column::OAuthAccessDataExpiresAt => "OAuthAccessData.ExpiresAt",
            Column::OutgoingWebhooksContentType => "OutgoingWebhooks.ContentType",
            Column::OutgoingWebhooksTriggerWhen => "OutgoingWebhooks.TriggerWhen",
            Column::StatusManual => "Status.Manual",
            Column::StatusActiveChannel => "Status.ActiveChannel",
        }
    }

    /// Whether the release's model (`model/*.go` at its tag) has the column, i.e. whether a fresh
    /// install by that release creates it.
    pub fn in_model(self, r: Release) -> bool {
        use Release::*;
        match self {
            Column::UsersThemeProps
            | Column::UsersLastActivityAt
            | Column::UsersLastPingAt
            | Column::OAuthAccessDataAuthCode => r <= V3_2,
            Column::TeamMembersDeleteAt => r >= V3_2,
            Column::OAuthAppsIsTrusted
            | Column::OAuthAppsIconUrl
            | Column::OAuthAccessDataClientId
            | Column::OAuthAccessDataUserId
            | Column::OAuthAccessDataExpiresAt
            | Column::OutgoingWebhooksTriggerWhen => r >= V3_3,
            Column::OutgoingWebhooksContentType => true,
            Column::StatusManual | Column::StatusActiveChannel => r >= V3_4,
        }
    }
}

/// A row of `Users`, as far as the migrations touch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    /// `Users.ThemeProps` (JSON text, `null` when unset); meaningful while the column exists.
    pub theme_props: String,
}

/// A row of `Preferences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preference {
    pub user_id: String,
    pub category: String,
    pub name: String,
    pub value: String,
}

/// `model.PREFERENCE_CATEGORY_THEME`.
pub const THEME: &str = "theme";

/// The parts of a Mattermost database an upgrade changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// The `Systems` row `Version` (absent before the first start).
    pub version: Option<String>,
    pub columns: BTreeSet<Column>,
    pub users: Vec<UserRow>,
    pub preferences: Vec<Preference>,
}

/// Why a server refused to start on a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt {
    pub release: Release,
    /// The process's exit code (`os.Exit`), or `None` for a Go panic (exit 2 with a stack).
    pub exit_code: Option<i32>,
    /// What the server logged last (`l4g.Critical`).
    pub message: String,
    /// Everything logged before it.
    pub log: Vec<String>,
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.exit_code {
            Some(code) => write!(f, "{} exited {code}: {}", self.release, self.message),
            None => write!(f, "{} panicked: {}", self.release, self.message),
        }
    }
}

/// A statement [`Database::run_sql`] does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlRefused(pub String);

impl fmt::Display for SqlRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the twin's database runs only `UPDATE Systems SET Value = '<version>' WHERE Name = 'Version'`; got {:?}",
            self.0
        )
    }
}

impl Database {
    /// An empty database (no tables yet).
    pub fn empty() -> Database {
        Database {
            version: None,
            columns: BTreeSet::new(),
            users: Vec::new(),
            preferences: Vec::new(),
        }
    }

    /// A database as a fresh install of `release` leaves it after its first start.
    pub fn installed_by(release: Release) -> Database {
        let mut db = Database::empty();
        start(release, &mut db).expect("a fresh install always starts");
        db
    }

    pub fn has(&self, column: Column) -> bool {
        self.columns.contains(&column)
    }

    /// Add a user with a theme the way the release stores it: in `Users.ThemeProps` while that
    /// column exists (3.1, 3.2), as a `theme` preference afterwards.
    pub fn add_user(&mut self, id: &str, username: &str, theme: Option<&str>) {
        let in_column = self.has(Column::UsersThemeProps);
        self.users.push(UserRow {
            id: id.into(),
            username: username.into(),
            theme_props: match (in_column, theme) {
                (true, Some(t)) => t.into(),
                _ => "null".into(),
            },
        });
        if let (false, Some(t)) = (in_column, theme) {
            self.preferences.push(Preference {
                user_id: id.into(),
                category: THEME.into(),
                name: String::new(),
                value: t.into(),
            });
        }
    }

    /// The theme a server of this schema shows a user: `Users.ThemeProps` while it holds themes,
    /// the user's `theme` preference once 3.3's model reads them from there.
    pub fn theme_shown(&self, release: Release, user_id: &str) -> Option<String> {
        if Column::UsersThemeProps.in_model(release) {
            let user = self.users.iter().find(|u| u.id == user_id)?;
            (self.has(Column::UsersThemeProps) && user.theme_props != "null")
                .then(|| user.theme_props.clone())
        } else {
            self.preferences
                .iter()
                .find(|p| p.user_id == user_id && p.category == THEME && p.name.is_empty())
                .map(|p| p.value.clone())
        }
    }

    /// Run the seed's repair statement: `UPDATE Systems SET Value = '<v>' WHERE Name = 'Version'`
    /// (keywords in any case, any spacing, an optional `;`). Returns the rows changed.
    pub fn run_sql(&mut self, statement: &str) -> Result<usize, SqlRefused> {
        let refused = || SqlRefused(statement.chars().take(200).collect());
        let words: Vec<&str> = statement
            .trim()
            .trim_end_matches(';')
            .split_whitespace()
            .collect();
        let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
        let shape = [
            "update",
            "systems",
            "set",
            "value",
            "=",
            "*",
            "where",
            "name",
            "=",
            "'version'",
        ];
        if lower.len() != shape.len()
            || !shape
                .iter()
                .zip(&lower)
                .all(|(want, got)| *want == "*" || want == got)
        {
            return Err(refused());
        }
        let value = words[5]
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .filter(|v| !v.is_empty() && !v.contains('\''))
            .ok_or_else(refused)?;
        match self.version {
            Some(_) => {
                self.version = Some(value.to_string());
                Ok(1)
            }
            None => Ok(0),
        }
    }

    fn add_column(&mut self, c: Column) {
        self.columns.insert(c);
    }

    fn drop_column(&mut self, c: Column) {
        self.columns.remove(&c);
    }

    /// 3.2's user store: `codeTheme` `solarized_dark`/`solarized_light` renamed inside ThemeProps.
    fn rename_solarized_in_theme_props(&mut self) {
        if !self.has(Column::UsersThemeProps) {
            return;
        }
        for u in &mut self.users {
            for (old, new) in [
                (
                    "\"codeTheme\":\"solarized_dark\"",
                    "\"codeTheme\":\"solarized-dark\"",
                ),
                (
                    "\"codeTheme\":\"solarized_light\"",
                    "\"codeTheme\":\"solarized-light\"",
                ),
            ] {
                if u.theme_props.contains(old) {
                    u.theme_props = u.theme_props.replace(old, new);
                    break;
                }
            }
        }
    }

    /// The theme move (3.3's user store; 3.4's `UpgradeDatabaseToVersion32`): every non-null
    /// ThemeProps becomes a `theme` preference, the column is dropped, then `solarized_` becomes
    /// `solarized-` in theme preferences.
    fn move_themes_to_preferences(&mut self) {
        if !self.has(Column::UsersThemeProps) {
            return;
        }
        for u in &self.users {
            if u.theme_props != "null" {
                self.preferences.push(Preference {
                    user_id: u.id.clone(),
                    category: THEME.into(),
                    name: String::new(),
                    value: u.theme_props.clone(),
                });
            }
        }
        self.drop_column(Column::UsersThemeProps);
        for u in &mut self.users {
            u.theme_props = "null".into();
        }
        for p in &mut self.preferences {
            if p.category == THEME && p.value.contains("solarized_") {
                p.value = p.value.replace("solarized_", "solarized-");
            }
        }
    }

    /// gorp's `CreateTablesIfNotExists`: on an empty database, the release's model.
    fn create_tables_if_not_exists(&mut self, r: Release) {
        if self.version.is_none() && self.columns.is_empty() {
            self.columns = Column::ALL.into_iter().filter(|c| c.in_model(r)).collect();
        }
    }
}

/// What a successful start logged, and the schema version it left in the `Systems` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartLog {
    pub lines: Vec<String>,
}

/// Start `release` on `db`, as its `NewSqlStore` does: refuse a database it cannot upgrade, or run
/// its migrations and record its version.
pub fn start(release: Release, db: &mut Database) -> Result<StartLog, Halt> {
    match release {
        Release::V3_1 | Release::V3_2 | Release::V3_3 => start_per_store(release, db),
        Release::V3_4 => start_sql_upgrade(db),
    }
}

fn critical(version: &str) -> String {
    // i18n/en.json `store.sql.schema_version.critical` (two spaces as in the source).
    format!(
        "The database schema version of {version} cannot be upgraded.  You must not skip a version."
    )
}

/// 3.1–3.3: `NewSqlStore` with the per-store `UpgradeSchemaIfNeeded` functions.
fn start_per_store(r: Release, db: &mut Database) -> Result<StartLog, Halt> {
    let mut log = Vec::new();
    let current = r.version();
    if let Some(v) = db.version.clone() {
        if v != current {
            if r.supports(&v) {
                log.push(format!(
                    "The database schema version of {v} appears to be out of date"
                ));
                log.push(format!(
                    "Attempting to upgrade the database schema version to {current}"
                ));
            } else {
                return Err(Halt {
                    release: r,
                    exit_code: None,
                    message: critical(&v),
                    log,
                });
            }
        }
        if matches!(v.as_str(), "2.2.0" | "2.1.0" | "2.0.0") {
            return Err(Halt {
                release: r,
                exit_code: Some(1),
                message: format!(
                    "The database version of {v} cannot be automatically upgraded to 3.0 schema"
                ),
                log,
            });
        }
    }
    db.create_tables_if_not_exists(r);
    // Each store's UpgradeSchemaIfNeeded, in NewSqlStore's order (team, ..., user, ..., oauth,
    // webhook): all idempotent "if not exists" changes.
    if r >= Release::V3_2 {
        db.add_column(Column::TeamMembersDeleteAt);
    }
    if r == Release::V3_2 {
        db.rename_solarized_in_theme_props();
    }
    if r == Release::V3_3 {
        db.move_themes_to_preferences();
        db.drop_column(Column::UsersLastActivityAt);
        db.drop_column(Column::UsersLastPingAt);
        for c in [
            Column::OAuthAppsIsTrusted,
            Column::OAuthAppsIconUrl,
            Column::OAuthAccessDataClientId,
            Column::OAuthAccessDataUserId,
            Column::OAuthAccessDataExpiresAt,
            Column::OutgoingWebhooksTriggerWhen,
        ] {
            db.add_column(c);
        }
        db.drop_column(Column::OAuthAccessDataAuthCode);
    }
    db.add_column(Column::OutgoingWebhooksContentType);
    match db.version.as_deref() {
        Some(v) if v != current => {
            db.version = Some(current.into());
            log.push(format!(
                "The database schema has been upgraded to version {current}"
            ));
        }
        Some(_) => {}
        None => {
            db.version = Some(current.into());
            log.push(format!(
                "The database schema has been set to version {current}"
            ));
        }
    }
    Ok(StartLog { lines: log })
}

/// 3.4: `store/sql_upgrade.go`.
fn start_sql_upgrade(db: &mut Database) -> Result<StartLog, Halt> {
    let r = Release::V3_4;
    let current = r.version();
    let mut log = Vec::new();
    db.create_tables_if_not_exists(r);
    // sqlStore.SchemaVersion: read once, then updated in memory step by step.
    let mut schema = db.version.clone().unwrap_or_default();
    let mut step = |db: &mut Database, from: &str, to: &str, log: &mut Vec<String>| {
        if schema != from {
            return false;
        }
        log.push(format!(
            "The database schema version of {from} appears to be out of date"
        ));
        log.push(format!(
            "Attempting to upgrade the database schema version to {to}"
        ));
        // saveSchemaVersion writes model.CurrentVersion, not `to`, into the table.
        db.version = Some(current.into());
        schema = to.to_string();
        log.push(format!(
            "The database schema has been upgraded to version {to}"
        ));
        true
    };
    // UpgradeDatabaseToVersion31
    if step(db, "3.0.0", "3.1.0", &mut log) {
        db.add_column(Column::OutgoingWebhooksContentType);
    }
    // UpgradeDatabaseToVersion32: TeamMembers.DeleteAt and the theme move.
    if step(db, "3.1.0", "3.2.0", &mut log) {
        db.add_column(Column::TeamMembersDeleteAt);
        db.move_themes_to_preferences();
    }
    // UpgradeDatabaseToVersion33
    if step(db, "3.2.0", "3.3.0", &mut log) {
        for c in [
            Column::OAuthAppsIsTrusted,
            Column::OAuthAppsIconUrl,
            Column::OAuthAccessDataClientId,
            Column::OAuthAccessDataUserId,
            Column::OAuthAccessDataExpiresAt,
        ] {
            db.add_column(c);
        }
        db.drop_column(Column::OAuthAccessDataAuthCode);
        db.drop_column(Column::UsersLastActivityAt);
        db.drop_column(Column::UsersLastPingAt);
        db.add_column(Column::OutgoingWebhooksTriggerWhen);
    }
    // UpgradeDatabaseToVersion34
    if step(db, "3.3.0", "3.4.0", &mut log) {
        db.add_column(Column::StatusManual);
        db.add_column(Column::StatusActiveChannel);
    }
    if schema.is_empty() {
        db.version = Some(current.into());
        schema = current.into();
        log.push(format!(
            "The database schema has been set to version {current}"
        ));
    }
    if schema != current {
        return Err(Halt {
            release: r,
            exit_code: Some(1002),
            message: critical(&schema),
            log,
        });
    }
    Ok(StartLog { lines: log })
}

/// The seed's repair for an incomplete 3.2 → 3.4 upgrade.
pub const SQL_FIX_3_4: &str = "UPDATE Systems SET Value = '3.1.0' WHERE Name = 'Version';";

#[cfg(test)]
mod tests {
    use super::*;

    const DARK: &str = r##"{"codeTheme":"solarized_dark","sidebarBg":"#2f3e4e"}"##;

    /// A 3.x database with two users, one with a theme, written by `release`.
    fn seeded(release: Release) -> Database {
        let mut db = Database::installed_by(release);
        db.add_user("u1", "alice", Some(DARK));
        db.add_user("u2", "bob", None);
        db
    }

    fn upgrade(db: &mut Database, path: &[Release]) -> Result<(), Halt> {
        for r in path {
            start(*r, db)?;
        }
        Ok(())
    }

    fn complete_3_4(db: &Database) {
        assert_eq!(db.version.as_deref(), Some("3.4.0"));
        let fresh = Database::installed_by(Release::V3_4);
        assert_eq!(
            db.columns, fresh.columns,
            "the schema equals a fresh 3.4 install"
        );
        assert_eq!(
            db.theme_shown(Release::V3_4, "u1").as_deref(),
            Some(r##"{"codeTheme":"solarized-dark","sidebarBg":"#2f3e4e"}"##)
        );
        assert_eq!(db.theme_shown(Release::V3_4, "u2"), None);
    }

    #[test]
    fn fresh_installs_record_their_version_and_model() {
        for r in Release::ALL {
            let db = Database::installed_by(r);
            assert_eq!(db.version.as_deref(), Some(r.version()));
            assert_eq!(db.has(Column::UsersThemeProps), r <= Release::V3_2);
            assert_eq!(db.has(Column::StatusManual), r == Release::V3_4);
        }
    }

    #[test]
    fn three_one_to_three_four_directly_is_complete() {
        let mut db = seeded(Release::V3_1);
        upgrade(&mut db, &[Release::V3_4]).unwrap();
        complete_3_4(&db);
    }

    #[test]
    fn three_two_through_three_three_is_complete() {
        let mut db = seeded(Release::V3_2);
        upgrade(&mut db, &[Release::V3_3, Release::V3_4]).unwrap();
        complete_3_4(&db);
    }

    #[test]
    fn three_two_to_three_four_loses_themes_and_keeps_theme_props() {
        let mut db = seeded(Release::V3_2);
        upgrade(&mut db, &[Release::V3_4]).unwrap();
        assert_eq!(
            db.version.as_deref(),
            Some("3.4.0"),
            "3.4 believes it is done"
        );
        assert!(db.has(Column::UsersThemeProps), "the theme move never ran");
        assert_eq!(
            db.theme_shown(Release::V3_4, "u1"),
            None,
            "alice lost her theme"
        );
    }

    #[test]
    fn the_seeds_sql_then_a_restart_completes_it() {
        let mut db = seeded(Release::V3_2);
        upgrade(&mut db, &[Release::V3_4]).unwrap();
        assert_eq!(db.run_sql(SQL_FIX_3_4), Ok(1));
        assert_eq!(db.version.as_deref(), Some("3.1.0"));
        let log = start(Release::V3_4, &mut db).unwrap();
        assert!(log.lines.iter().any(|l| l.contains("to version 3.2.0")));
        complete_3_4(&db);
    }

    #[test]
    fn other_sql_is_refused_and_case_and_spacing_do_not_matter() {
        let mut db = seeded(Release::V3_4);
        assert!(db.run_sql("DROP TABLE Users").is_err());
        assert!(
            db.run_sql("UPDATE Systems SET Value = '3.1.0' WHERE Name = 'Version' OR 1=1")
                .is_err()
        );
        assert_eq!(
            db.run_sql("update  Systems set Value = '3.1.0'\n where Name = 'Version'"),
            Ok(1)
        );
    }

    #[test]
    fn skipping_too_far_halts_as_each_release_does() {
        // 3.3 supports 3.0–3.3: a 2.2 database panics with the i18n text.
        let mut db = Database::installed_by(Release::V3_1);
        db.version = Some("2.2.0".into());
        let halt = start(Release::V3_3, &mut db).unwrap_err();
        assert_eq!(halt.exit_code, None);
        assert!(halt.message.contains("2.2.0 cannot be upgraded"));
        // 3.1 knows 2.2 but requires the 3.0 upgrade tool: exit 1.
        let halt = start(Release::V3_1, &mut db).unwrap_err();
        assert_eq!(halt.exit_code, Some(1));
        // 3.4 upgrades from 3.0 but a 2.2 schema is EXIT_TOO_OLD.
        let halt = start(Release::V3_4, &mut db).unwrap_err();
        assert_eq!(halt.exit_code, Some(1002));
        assert_eq!(db.version.as_deref(), Some("2.2.0"), "nothing was written");
    }

    #[test]
    fn a_downgrade_is_refused_by_old_releases() {
        let mut db = Database::installed_by(Release::V3_4);
        // 3.1's gate does not know 3.4.
        let halt = start(Release::V3_1, &mut db).unwrap_err();
        assert!(halt.message.contains("3.4.0"));
    }

    #[test]
    fn releases_parse_from_short_and_long_forms() {
        assert_eq!(Release::parse("3.2"), Some(Release::V3_2));
        assert_eq!(Release::parse("v3.4.0"), Some(Release::V3_4));
        assert_eq!(Release::parse("3.5"), None);
    }
}
