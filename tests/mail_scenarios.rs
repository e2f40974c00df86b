//! The SMTP scenarios against the specification and the vocabulary: the seed's two gitlab.rb
//! texts appear verbatim where the scenarios say so, every scenario tagged `smtp` reaches the
//! mail vocabulary, and the `mail` expectation's values are checked when a file is read (a TLS
//! mode or AUTH mechanism that does not exist is an error at its line and column, with a hint).

use std::path::{Path, PathBuf};

use mm_harness::check::Expectation;
use mm_harness::diag::SourceFile;
use mm_harness::scenario::{Selection, load_file, parse_scenario, select};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ```ruby blocks of the seed's "Setting up SMTP for GitLab Mattermost" section.
fn seed_smtp_blocks() -> Vec<String> {
    let seed = std::fs::read_to_string(root().join("../shared/seed/gitlab-mattermost.md"))
        .expect("the seed documentation");
    let start = seed
        .find("## Setting up SMTP for GitLab Mattermost")
        .expect("the SMTP section");
    let section = &seed[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section[..end].lines() {
        match (&mut current, line.trim_start().starts_with("```")) {
            (None, true) => current = Some(String::new()),
            (Some(b), true) => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), false) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, false) => {}
        }
    }
    blocks
}

fn gitlab_rb(name: &str) -> String {
    let s = load_file(&root().join(format!("scenarios/{name}.toml")))
        .unwrap_or_else(|e| panic!("{}", e.render()));
    std::fs::read_to_string(&s.path).expect("scenario file") // the raw text holds the block
}

#[test]
fn the_seed_smtp_texts_appear_verbatim() {
    let blocks = seed_smtp_blocks();
    assert_eq!(
        blocks.len(),
        2,
        "the seed's SMTP section has two gitlab.rb texts"
    );
    assert!(blocks[0].contains("email_connection_security'] = nil"));
    assert!(blocks[1].contains("'TLS' # Or 'STARTTLS'"));
    // The no-TLS text as written.
    assert!(gitlab_rb("smtp-none").contains(&blocks[0]));
    // The TLS text as written: notifications stay off, and with them on it is TLS against 587.
    assert!(gitlab_rb("smtp-tls-notifications-off").contains(&blocks[1]));
    assert!(gitlab_rb("smtp-tls-against-starttls-port").contains(&blocks[1]));
    // The same text on GitLab 18.11, with its comment's STARTTLS: it has no effect there.
    let starttls = blocks[1].replace("= 'TLS' # Or 'STARTTLS'", "= 'STARTTLS' # Or 'TLS'");
    assert!(gitlab_rb("smtp-keys-dropped-18.11").contains(&starttls));
    assert!(gitlab_rb("smtp-starttls-587").contains(&starttls));
    // Each variant differs from the seed in the one value its summary names.
    let port_465 = blocks[1].replace("\"587\"", "\"465\"");
    assert!(gitlab_rb("smtp-tls-465").contains(&port_465));
    let port_25 = blocks[0].replace("\"465\"", "\"25\"");
    assert!(gitlab_rb("smtp-none-port-25").contains(&port_25));
}

#[test]
fn every_smtp_scenario_uses_the_mail_vocabulary() {
    let all = select(&root().join("scenarios"), &Selection::default()).expect("scenarios parse");
    let smtp: Vec<_> = all
        .iter()
        .filter(|s| s.tags.iter().any(|t| t == "smtp"))
        .collect();
    assert!(smtp.len() >= 14, "{} smtp scenarios", smtp.len());
    for s in smtp {
        let checked = s.steps.iter().any(|st| {
            matches!(
                st.expect,
                Some(Expectation::Mail(_) | Expectation::MailError { .. } | Expectation::NoMail)
                    | Some(Expectation::ApiError { .. })
            )
        });
        assert!(checked, "{} checks no mail outcome", s.name);
        assert_eq!(
            s.seed, "Setting up SMTP for GitLab Mattermost",
            "{}",
            s.name
        );
    }
}

fn parse_err(body: &str) -> String {
    let text = format!(
        "name = \"x\"\nsummary = \"x\"\nseed = \"Getting started\"\n[hosts.omnibus]\ngitlab_rb = \"external_url 'http://gitlab.example.com'\"\n[[steps]]\n{body}\n"
    );
    let file = SourceFile::new("x.toml", &text);
    match parse_scenario(&file, Path::new("x.toml")) {
        Ok(_) => panic!("accepted: {body}"),
        Err(e) => e.render(),
    }
}

#[test]
fn mail_expectation_values_are_checked_with_a_location_and_a_hint() {
    let e = parse_err("mail.send_test_email = {}\nexpect = { mail = { tls = \"startls\" } }");
    assert!(e.contains("unknown TLS mode \"startls\""), "{e}");
    assert!(e.contains("x.toml:8:"), "{e}");
    assert!(
        e.contains("starttls"),
        "the hint names the right value: {e}"
    );
    let e = parse_err("mail.send_test_email = {}\nexpect = { mail = { auth = \"CRAM-MD5\" } }");
    assert!(e.contains("unknown AUTH mechanism"), "{e}");
    let e = parse_err("mail.send_test_email = {}\nexpect = { no_mail = false }");
    assert!(e.contains("expect.no_mail"), "{e}");
    let e = parse_err("mail.wait = { to = \"a@example.com\", timeout_ms = 600000 }");
    assert!(e.contains("timeout_ms"), "{e}");
    let e = parse_err("mail.mention = { user = \"dora\" }");
    assert!(e.contains("hook"), "{e}");
    let e = parse_err("mail.send_test_email = {}\nexpect = { post = { text_contains = \"x\" } }");
    assert!(
        e.contains("does not fit step `mail.send_test_email`"),
        "{e}"
    );
}
