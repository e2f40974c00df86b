//! Print the settings, unevaluated expressions and diagnostics of a gitlab.rb (parser debugging aid):
//! `cargo run --example rb_dump -- PATH [--uncomment]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: rb_dump PATH [--uncomment]");
        std::process::exit(2);
    };
    let mut text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    if args.iter().any(|a| a == "--uncomment") {
        text = text
            .lines()
            .map(|l| {
                let t = l.trim_start();
                match t.strip_prefix('#') {
                    Some(rest) if !rest.starts_with('#') => {
                        rest.strip_prefix(' ').unwrap_or(rest).to_string()
                    }
                    _ => l.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    let f = mm_harness::diag::SourceFile::new(path.clone(), text);
    let doc = mm_harness::config::parse_gitlab_rb(&f);
    for s in doc.settings() {
        println!(
            "{} {} = {}",
            doc.locate(s.span),
            s.target,
            s.value.value.inspect()
        );
    }
    for d in doc.diagnostics() {
        print!("{}", d.render());
    }
    eprintln!(
        "{} settings, {} unevaluated, {} diagnostics, {} secret values",
        doc.settings().len(),
        doc.unevaluated().len(),
        doc.diagnostics().len(),
        doc.secret_values().len()
    );
}
