//! Every secret key is redacted in every output format: `config explain` human and JSON output,
//! the printable GITLAB_OMNIBUS_CONFIG ([`OmnibusConfigDisplay`]), the `MM_*` environment's
//! Display/Debug/Serialize, the effective config's JSON, diagnostics, drift, and the typed
//! settings' Debug/Serialize. The real values must still reach the places that need them
//! (`render_omnibus_config`, `EnvVar::value`, `Secret::expose`).

use std::process::Command;

use mm_harness::config::{
    KeyTable, OmnibusConfigDisplay, Version, drift, read_config_json, render_mm_env,
    render_omnibus_config, resolve,
};
use mm_harness::diag::SourceFile;

/// A gitlab.rb setting every secret key any table knows, plus secret `mattermost['env']` entries
/// and secret-looking gitlab_rails keys, each to a distinctive value.
fn secret_gitlab_rb() -> (String, Vec<String>) {
    let mut text = String::from(
        "external_url 'https://gitlab.example.com'\nmattermost_external_url 'https://mattermost.example.com'\n",
    );
    let mut values = Vec::new();
    let mut keys: Vec<&str> = KeyTable::all()
        .iter()
        .flat_map(|t| t.mattermost.iter().filter(|k| k.secret).map(|k| k.key))
        .collect();
    keys.sort();
    keys.dedup();
    assert!(keys.len() >= 10, "{keys:?}");
    for (i, key) in keys.iter().enumerate() {
        let v = format!("S3cr3tValue{i}x");
        text.push_str(&format!("mattermost['{key}'] = \"{v}\"\n"));
        values.push(v);
    }
    let env_values = ["EnvPassw0rdValue", "EnvTokenValue9", "EnvSaltValue7"];
    text.push_str(&format!(
        "mattermost['env'] = {{\n  'MM_EMAILSETTINGS_SMTPPASSWORD' => '{}',\n  'MM_GITLABSETTINGS_SECRET' => \"{}\",\n  'MM_FILESETTINGS_PUBLICLINKSALT' => '{}',\n}}\n",
        env_values[0], env_values[1], env_values[2]
    ));
    values.extend(env_values.iter().map(|s| s.to_string()));
    text.push_str("gitlab_rails['smtp_password'] = 'RailsSmtpPw55'\n");
    text.push_str("gitlab_rails['db_password'] = 'RailsDbPw66'\n");
    values.push("RailsSmtpPw55".into());
    values.push("RailsDbPw66".into());
    (text, values)
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} leaks {s}:\n{text}");
    }
}

const VERSIONS: [&str; 4] = ["8.12", "10.8", "18.11", "19.0"];

#[test]
fn library_outputs_redact_every_secret() {
    let (text, secrets) = secret_gitlab_rb();
    for v in VERSIONS {
        let version: Version = v.parse().unwrap();
        let r = resolve(&SourceFile::new("gitlab.rb", text.as_str()), version);
        assert_clean(
            &format!("{v} omnibus display"),
            &OmnibusConfigDisplay(&r).to_string(),
            &secrets,
        );
        let env = render_mm_env(&r);
        for e in &env {
            assert_clean(&format!("{v} env display"), &e.to_string(), &secrets);
            assert_clean(&format!("{v} env debug"), &format!("{e:?}"), &secrets);
        }
        assert_clean(
            &format!("{v} env json"),
            &serde_json::to_string(&env).unwrap(),
            &secrets,
        );
        assert_clean(
            &format!("{v} effective json"),
            &serde_json::to_string(&r.effective).unwrap(),
            &secrets,
        );
        for s in r.effective.iter() {
            assert_clean(&format!("{v} {}", s.path), &s.display_value(), &secrets);
        }
        assert_clean(
            &format!("{v} host json"),
            &serde_json::to_string(&r.host).unwrap(),
            &secrets,
        );
        assert_clean(
            &format!("{v} host debug"),
            &format!("{:?}", r.host),
            &secrets,
        );
        for d in &r.diagnostics {
            assert_clean(&format!("{v} diagnostic"), &d.render(), &secrets);
            assert_clean(
                &format!("{v} diagnostic json"),
                &serde_json::to_string(d).unwrap(),
                &secrets,
            );
        }
        // Drift against a config.json holding other secrets.
        let cfg = SourceFile::new(
            "config.json",
            r#"{"GitLabSettings": {"Secret": "ConsoleSecret1"}, "EmailSettings": {"SMTPPassword": "ConsolePw2"}, "SqlSettings": {"AtRestEncryptKey": "ConsoleKey3"}}"#,
        );
        let c = read_config_json(&cfg).unwrap();
        let mut all = secrets.clone();
        all.extend(["ConsoleSecret1", "ConsolePw2", "ConsoleKey3"].map(String::from));
        let drifted = drift(&r, &c);
        assert_clean(
            &format!("{v} drift json"),
            &serde_json::to_string(&drifted).unwrap(),
            &all,
        );
        for d in &drifted {
            assert_clean(&format!("{v} drift"), &d.diagnostic().render(), &all);
        }
        if v != "19.0" {
            assert!(!drifted.is_empty(), "{v}: the console secrets differ");
        }
        // The real values still reach the container.
        let real = render_omnibus_config(&r);
        for s in &secrets {
            assert!(real.contains(s.as_str()), "{v}: omnibus config lost {s}");
        }
    }
    // Values reach the typed model and the MM_ environment for real.
    let r = resolve(
        &SourceFile::new("gitlab.rb", text.as_str()),
        "18.11".parse().unwrap(),
    );
    assert_eq!(r.host.mattermost.gitlab.secret.expose(), "EnvTokenValue9");
    assert_eq!(
        r.host.mattermost.email.smtp_password.expose(),
        "EnvPassw0rdValue"
    );
    let env = render_mm_env(&r);
    let pw = env
        .iter()
        .find(|e| e.name == "MM_EMAILSETTINGS_SMTPPASSWORD")
        .unwrap();
    assert!(pw.secret);
    assert_eq!(pw.value, "EnvPassw0rdValue");
    let salt = env
        .iter()
        .find(|e| e.name == "MM_FILESETTINGS_PUBLICLINKSALT")
        .unwrap();
    assert!(salt.secret && salt.value == "EnvSaltValue7");
}

#[test]
fn explain_human_and_json_redact_every_secret() {
    let (text, secrets) = secret_gitlab_rb();
    let dir = tempfile::tempdir().unwrap();
    let rb = dir.path().join("gitlab.rb");
    std::fs::write(&rb, &text).unwrap();
    for v in VERSIONS {
        for format in ["human", "json"] {
            let out = Command::new(env!("CARGO_BIN_EXE_mm-harness"))
                .args([
                    "config",
                    "explain",
                    "--all",
                    "--gitlab-version",
                    v,
                    "--format",
                    format,
                ])
                .arg(&rb)
                .output()
                .unwrap();
            let expected = if v == "19.0" { 2 } else { 0 };
            assert_eq!(out.status.code(), Some(expected), "{v} {format}");
            assert_clean(
                &format!("{v} {format} stdout"),
                &String::from_utf8_lossy(&out.stdout),
                &secrets,
            );
            assert_clean(
                &format!("{v} {format} stderr"),
                &String::from_utf8_lossy(&out.stderr),
                &secrets,
            );
        }
    }
}
