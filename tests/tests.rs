//! The project's integration tests, as one test binary (ripgrep's `tests/tests.rs`): one link
//! instead of twenty. Each file beside this one is a module named after the area it tests;
//! `support` and `config_common` are fixtures shared by several of them.
//!
//! Run one area with `cargo test --test tests twin_sso::` (module path filter).

mod config_common;
mod support;

mod config_cli;
mod config_corpus;
mod config_explain_snapshots;
mod config_history;
mod config_hostile;
mod config_keys;
mod config_proptest;
mod config_resolve;
mod config_secrets;
mod docker_target;
mod docker_upgrade;
mod doctor_catalogue;
mod doctor_explain_run;
mod doctor_nginx;
mod doctor_offline;
mod doctor_packet;
mod doctor_smtp;
mod doctor_twin;
mod drive_hostile;
mod live_smoke;
mod mail_hostile;
mod mail_postfix;
mod mail_scenarios;
mod mail_sink;
mod run_cli;
mod run_engine;
mod scenario_errors;
mod scenario_hostile;
mod scenarios;
mod scenarios_cmd;
mod sso_fidelity;
mod twin_browser;
mod twin_browser_mail;
mod twin_cli;
mod twin_faults;
mod twin_gitlab;
mod twin_https;
mod twin_mail;
mod twin_mattermost;
mod twin_moveout;
mod twin_sso;
mod twin_upgrade;
mod twin_webhooks;
mod upgrade_plan;
mod upgrade_versions;
mod vocabulary;
