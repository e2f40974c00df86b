//! The generated key tables (harness/config/keys_generated.rs) are derived from shared/data, not
//! written by hand: regenerate from `$CARGO_MANIFEST_DIR/../shared/data` and compare.

use std::path::PathBuf;

use mm_harness::config::keygen::{KeySources, SOURCE_FILES, generate};
use mm_harness::config::{KeyStatus, KeyTable, Version, key_status};

fn sources() -> KeySources {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let texts: Vec<String> = SOURCE_FILES
        .iter()
        .map(|n| {
            std::fs::read_to_string(data.join(n))
                .unwrap_or_else(|e| panic!("read {}: {e}", data.join(n).display()))
        })
        .collect();
    KeySources::from_texts(texts.try_into().expect("ten source files"))
}

#[test]
fn generated_key_table_is_up_to_date() {
    let fresh = generate(&sources());
    let checked_in = include_str!("../harness/config/keys_generated.rs");
    if fresh != checked_in {
        let diff = similar::TextDiff::from_lines(checked_in, fresh.as_str());
        let shown: String = diff
            .unified_diff()
            .context_radius(2)
            .header("checked-in", "regenerated")
            .to_string()
            .lines()
            .take(60)
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "harness/config/keys_generated.rs is stale; run `cargo run --example gen_keys`\n{shown}"
        );
    }
}

fn v(s: &str) -> Version {
    s.parse().unwrap()
}

#[test]
fn tables_cover_each_era() {
    let t8 = KeyTable::for_gitlab(v("8.12")).unwrap();
    let t10 = KeyTable::for_gitlab(v("10.8")).unwrap();
    let t18 = KeyTable::for_gitlab(v("18.11")).unwrap();
    assert!(KeyTable::for_gitlab(v("19.0")).is_none());
    assert_eq!(KeyTable::for_gitlab(v("9.5")).unwrap().source, "10.8");
    assert_eq!(KeyTable::for_gitlab(v("11.0")).unwrap().source, "18.11");
    // 8.12 renders ~100 settings into config.json; 18.11 sets ~20 MM_ variables.
    assert!(t8.fields.len() > 90, "{}", t8.fields.len());
    assert!(t10.fields.len() > 130, "{}", t10.fields.len());
    assert_eq!(
        t18.fields.iter().filter(|f| f.env_var.is_some()).count(),
        20
    );
    // The seed's keys, per era.
    for key in [
        "email_smtp_username",
        "email_connection_security",
        "service_enable_incoming_webhooks",
    ] {
        assert!(t8.mattermost_key(key).is_some(), "{key} in 8.12");
        assert!(t10.mattermost_key(key).is_some(), "{key} in 10.8");
        assert!(t18.mattermost_key(key).is_none(), "{key} not in 18.11");
    }
    // The 8.12 default differs from the seed's prose ("by default ... = true").
    assert_eq!(
        t8.mattermost_key("email_enable_sign_up_with_email")
            .unwrap()
            .default,
        Some("false")
    );
    // ListenAddress is built from two keys.
    let listen = t8.field("ServiceSettings.ListenAddress").unwrap();
    assert_eq!(listen.template.len(), 3);
    // Every secret-looking setting is marked secret in every table.
    for t in KeyTable::all() {
        for f in t.fields {
            if [
                "Secret",
                "SMTPPassword",
                "AtRestEncryptKey",
                "DataSource",
                "PublicLinkSalt",
                "InviteSalt",
            ]
            .iter()
            .any(|s| f.path.ends_with(&format!(".{s}")))
            {
                assert!(f.secret, "{} in {}", f.path, t.source);
            }
        }
    }
}

#[test]
fn dropped_keys_name_the_env_var_that_replaces_them() {
    match key_status("mattermost", "service_enable_incoming_webhooks", v("18.11")) {
        KeyStatus::Dropped { env_var, .. } => {
            assert_eq!(
                env_var.as_deref(),
                Some("MM_SERVICESETTINGS_ENABLEINCOMINGWEBHOOKS")
            )
        }
        other => panic!("{other:?}"),
    }
    // team_enable_team_creation lived from 8.1 to 10.7 (omnibus's release tags) and was gone
    // by 10.8.
    assert!(matches!(
        key_status("mattermost", "team_enable_team_creation", v("10.8")),
        KeyStatus::Dropped {
            last: "10.7",
            since: Some("8.1"),
            ..
        }
    ));
}

// The same git source the upgrade tables' test uses (one file, two modules of the test binary).
#[allow(clippy::duplicate_mod)]
#[path = "../examples/support/omnibus_git.rs"]
mod omnibus_git;

/// harness/config/keys_history_generated.rs is omnibus's release tags read by `keyhist`:
/// regenerating it from the mirror changes nothing (skipped, with the reason, without a clone).
#[test]
fn key_history_regenerates_unchanged() {
    let path = omnibus_git::repo_path(None);
    if !omnibus_git::looks_like_repo(&path) {
        println!(
            "not regenerated: no omnibus-gitlab clone at {} (set {})",
            path.display(),
            omnibus_git::REPO_ENV
        );
        return;
    }
    let mut git = omnibus_git::GitOmnibus::open(&path).expect("open the mirror");
    let fresh = mm_harness::config::keyhist::render(
        &mm_harness::config::keyhist::collect(&mut git).expect("read the release tags"),
    );
    let checked_in = include_str!("../harness/config/keys_history_generated.rs");
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
            "harness/config/keys_history_generated.rs is stale; run `cargo run --example gen_keys -- --history`\n{shown}"
        );
    }
}

#[test]
fn the_history_covers_every_release_line_from_8_to_19() {
    use mm_harness::config::key_history;
    // Documented keys the 18.11 template lacks are known from the cookbooks' attributes.
    for (root, key) in [
        ("gitlab_rails", "trusted_certs_dir"),
        ("gitlab_rails", "logrotate_frequency"),
        ("nginx", "logrotate_rotate"),
        ("", "from_file"),
    ] {
        assert!(
            matches!(key_status(root, key, v("18.11")), KeyStatus::Known)
                || (root.is_empty() && key_history(root, key).is_some()),
            "{root}['{key}'] on 18.11: {:?}",
            key_status(root, key, v("18.11"))
        );
    }
    // Every line from 8.9 to 18.11 has its own row.
    let (since, last) = key_history("", "external_url").expect("external_url");
    assert_eq!(since, "8.0");
    assert!(last.starts_with("19."), "{last}");
    for line in ["8.9", "9.0", "10.7", "11.0", "13.12", "16.11", "18.11"] {
        let version = v(line);
        assert!(
            matches!(
                key_status("gitlab_rails", "time_zone", version),
                KeyStatus::Known
            ),
            "gitlab_rails['time_zone'] on {line}"
        );
    }
}
