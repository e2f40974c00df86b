//! Bad scenario files side by side with the exact error text `mm-harness run` prints for them
//! (every error of a file at once, with file:line:column, the source line, a caret and a hint).
//! Set `MM_HARNESS_BLESS=1` to rewrite the `.stderr` files after a deliberate change.

use std::path::PathBuf;

fn case(name: &str) {
    let dir = PathBuf::from("tests/scenario_errors");
    let toml = dir.join(format!("{name}.toml"));
    let expected_path = dir.join(format!("{name}.stderr"));
    let err = match mm_harness::scenario::load_file(&toml) {
        Ok(_) => panic!("{} should not validate", toml.display()),
        Err(e) => e,
    };
    let actual = err.render();
    if std::env::var_os("MM_HARNESS_BLESS").is_some() {
        std::fs::write(&expected_path, &actual).expect("write .stderr");
        return;
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", expected_path.display()));
    if expected != actual {
        panic!(
            "{} renders differently:\n{}",
            toml.display(),
            similar::TextDiff::from_lines(&expected, &actual)
                .unified_diff()
                .header("expected", "actual")
        );
    }
}

#[test]
fn unknown_keys_get_a_did_you_mean() {
    case("unknown-key");
}

#[test]
fn unknown_steps_and_step_keys_get_a_did_you_mean() {
    case("unknown-step");
}

#[test]
fn bad_placeholders_and_hosts_are_reported() {
    case("bad-placeholder");
}

#[test]
fn every_error_of_a_file_is_reported_at_once() {
    case("many-errors");
}

#[test]
fn bindings_must_be_created_before_use() {
    case("binding-order");
}

#[test]
fn toml_syntax_errors_point_at_the_line() {
    case("syntax");
}

#[test]
fn gitlab_rb_syntax_errors_point_into_the_scenario_file() {
    case("bad-gitlab-rb");
}

#[test]
fn a_name_too_long_for_a_snapshot_file_is_refused() {
    // Regression: 300 characters validated and the run failed with ENAMETOOLONG (exit 3).
    case("long-name");
}

#[test]
fn a_name_that_would_hide_its_snapshot_is_refused() {
    case("hidden-name");
}

#[test]
fn an_unclosed_placeholder_is_an_error_not_literal_text() {
    case("unclosed-placeholder");
}

#[test]
fn invalid_utf8_is_placed_at_its_line_and_column() {
    case("invalid-utf8");
}

#[test]
fn a_too_deep_dotted_key_is_placed_where_it_is_written() {
    // Regression: TOML's "recursion limit" error has no span and was shown at 1:1.
    case("deep-dotted-key");
}

#[test]
fn a_step_without_arguments_never_lists_an_empty_choice() {
    // Regression: "help: expected one of: " followed by nothing.
    case("no-arguments");
}

#[test]
fn every_bad_file_has_expected_output() {
    let dir = PathBuf::from("tests/scenario_errors");
    for e in std::fs::read_dir(&dir).expect("dir").flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") {
            let stderr = p.with_extension("stderr");
            assert!(stderr.is_file(), "{} has no .stderr", p.display());
        }
    }
}

#[test]
fn sso_error_expectations_follow_the_scenarios_mattermost() {
    // On 8.12 (Mattermost 3.4) response.app_error does not exist and bad_token is a 307.
    case("sso-error-era");
}
