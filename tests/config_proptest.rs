//! Property tests: arbitrary input never panics the gitlab.rb parser, `resolve`, the renderers or
//! the config.json reader; every diagnostic's location lies inside the file; and re-rendered
//! omnibus text of literal settings reads back to the same settings. 600 cases per property with
//! a fixed seed (about 10 s in a debug build on a shared 2-core machine).

use mm_harness::config::{
    RbValue, parse_gitlab_rb, read_config_json, render_mm_env, render_omnibus_config, resolve,
};
use mm_harness::diag::SourceFile;
use proptest::prelude::*;

/// Ruby-ish token soup: the fragments most likely to reach odd parser states.
fn ruby_soup() -> impl Strategy<Value = String> {
    let fragments = prop::sample::select(vec![
        "mattermost",
        "gitlab_rails",
        "nginx",
        "external_url",
        "['gitlab_id']",
        "[",
        "]",
        "{",
        "}",
        "(",
        ")",
        " = ",
        "=>",
        ",",
        ":",
        "::",
        "'",
        "\"",
        "\\",
        "#",
        "#{",
        "\n",
        " ",
        "\t",
        "<<-EOS",
        "<<~'X'",
        "EOS",
        "X",
        "%w(",
        "%q(",
        "%Q{",
        "%i[",
        "true",
        "nil",
        "false",
        "-",
        "1",
        "0x",
        "1.5e",
        "if ",
        "do",
        " do |x|",
        "end",
        "ENV['A']",
        ".",
        "=begin",
        "=end",
        ";",
        "é",
        "\u{0}",
        "\r",
        "|",
        "'key': ",
        "k: ",
        ":sym",
        ":\"q",
        "\\u{",
        "\\x",
        "__END__",
    ]);
    prop::collection::vec(fragments, 0..60).prop_map(|v| v.concat())
}

fn check(text: &str) {
    let file = SourceFile::new("gitlab.rb", text);
    let doc = parse_gitlab_rb(&file);
    let lines = text.split('\n').count();
    for d in doc.diagnostics() {
        let _ = d.render();
        if let Some(loc) = &d.location {
            assert!(
                loc.line >= 1 && loc.line <= lines,
                "{loc:?} in {lines} lines"
            );
        }
    }
    for v in ["8.12", "10.8", "18.11", "19.0"] {
        let r = resolve(&file, v.parse().unwrap());
        let _ = render_omnibus_config(&r);
        let _ = render_mm_env(&r);
        let _ = serde_json::to_string(&r.effective).unwrap();
    }
    let _ = read_config_json(&SourceFile::new("config.json", text));
}

proptest! {
    // A fixed seed keeps the suite deterministic; raise PROPTEST_CASES locally to search wider.
    #![proptest_config(ProptestConfig {
        cases: 600,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d6d_6861_726e_6573),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn ruby_soup_never_panics(text in ruby_soup()) {
        check(&text);
    }

    #[test]
    fn literal_settings_round_trip_through_omnibus_text(
        keys in prop::collection::vec("[a-z_]{1,12}", 1..6),
        values in prop::collection::vec(
            prop_oneof![
                any::<String>().prop_map(RbValue::Str),
                any::<i64>().prop_map(RbValue::Int),
                any::<bool>().prop_map(RbValue::Bool),
                Just(RbValue::Nil),
            ],
            1..6,
        ),
    ) {
        let mut text = String::new();
        for (k, v) in keys.iter().zip(&values) {
            let lit = match v {
                RbValue::Str(s) => format!("{s:?}").replace("#{", "\\#{").replace("#$", "\\#$").replace("#@", "\\#@"),
                other => other.inspect(),
            };
            text.push_str(&format!("gitlab_rails['{k}'] = {lit}\n"));
        }
        let first = parse_gitlab_rb(&SourceFile::new("a.rb", text.as_str()));
        prop_assume!(first.diagnostics().is_empty());
        let r = resolve(&SourceFile::new("a.rb", text.as_str()), "18.11".parse().unwrap());
        let again = parse_gitlab_rb(&SourceFile::new("b.rb", render_omnibus_config(&r)));
        prop_assert!(again.diagnostics().is_empty(), "{:?}", again.diagnostics());
        let a: Vec<_> = first.settings().iter().map(|s| (s.target.clone(), s.value.value.clone())).collect();
        let b: Vec<_> = again.settings().iter().map(|s| (s.target.clone(), s.value.value.clone())).collect();
        prop_assert_eq!(a, b);
    }
}
