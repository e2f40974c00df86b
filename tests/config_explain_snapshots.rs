//! The exact `config explain` human report for the seed's documented setups, as reviewable insta
//! snapshots (tests/snapshots/): the split server on GitLab 18.11, the SMTP block on 8.12 and
//! 18.11, and a drifted config.json on 10.8.

use mm_harness::config::{drift, read_config_json, resolve};
use mm_harness::diag::SourceFile;
use mm_harness::report::explain::human_report;

use crate::config_common::{SMTP_TLS, SPLIT_SERVER};

fn report(text: &str, version: &str) -> String {
    let file = SourceFile::new("gitlab.rb", text);
    let r = resolve(&file, version.parse().unwrap());
    human_report(&file, &r, &[], false)
}

#[test]
fn explain_split_server_18_11() {
    insta::assert_snapshot!(report(SPLIT_SERVER, "18.11"));
}

#[test]
fn explain_smtp_tls_8_12() {
    insta::assert_snapshot!(report(SMTP_TLS, "8.12"));
}

#[test]
fn explain_smtp_tls_18_11() {
    insta::assert_snapshot!(report(SMTP_TLS, "18.11"));
}

#[test]
fn explain_drift_10_8() {
    let file = SourceFile::new(
        "gitlab.rb",
        "external_url 'https://gitlab.example.com'\nmattermost_external_url 'https://mattermost.example.com'\nmattermost['service_enable_incoming_webhooks'] = true\n",
    );
    let r = resolve(&file, "10.8".parse().unwrap());
    let cfg = SourceFile::new(
        "config.json",
        "{\n  \"ServiceSettings\": {\n    \"SiteURL\": \"https://mattermost.example.com\",\n    \"EnableIncomingWebhooks\": false\n  },\n  \"GitLabSettings\": {\n    \"UserApiEndpoint\": \"https://gitlab.example.com/api/v3/user\"\n  }\n}\n",
    );
    let c = read_config_json(&cfg).unwrap();
    insta::assert_snapshot!(human_report(&file, &r, &drift(&r, &c), false));
}
