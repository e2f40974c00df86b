//! A scenario file as text, before TOML: reading it with a size cap, decoding UTF-8 with the
//! position of the first invalid byte, and placing the one TOML error the parser reports without a
//! position ("recursion limit", a dotted key of too many parts). Everything here is linear in the
//! input and never recurses.

use std::io::Read;
use std::path::Path;

use crate::diag::{Diagnostic, SourceFile, Span};

use super::error::ScenarioError;

/// The largest scenario file read (a scenario with the whole 3,700-line GitLab 18.11 template as
/// its gitlab.rb is about 150 KB).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// The TOML parser's limit on nesting, which also bounds the parts of a dotted key: a key of more
/// parts than this is refused with a "recursion limit" error that carries no position.
pub const TOML_KEY_PART_LIMIT: usize = 80;

/// Read a scenario file: at most [`MAX_FILE_BYTES`], valid UTF-8.
pub fn read(path: &Path) -> Result<SourceFile, ScenarioError> {
    let file = std::fs::File::open(path).map_err(|e| ScenarioError::io(path.to_path_buf(), &e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ScenarioError::io(path.to_path_buf(), &e))?;
    decode(&path.display().to_string(), bytes)
        .map_err(|d| ScenarioError::invalid(path.to_path_buf(), vec![*d]))
}

/// Bytes → a [`SourceFile`] named `name`, or the one diagnostic that says why not: too large, or
/// not UTF-8 (placed at the line and column of the first invalid byte sequence).
pub fn decode(name: &str, bytes: Vec<u8>) -> Result<SourceFile, Box<Diagnostic>> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Box::new(
            Diagnostic::error(
                "scenario.too-large",
                format!(
                    "{name} is larger than {} KiB, the most a scenario file may be",
                    MAX_FILE_BYTES / 1024
                ),
            )
            .with_hint("a scenario is a small TOML file; is this the right file?"),
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile::new(name, text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bad_len = e.utf8_error().error_len().unwrap_or(1);
            let shown: Vec<String> = e.as_bytes()[at..(at + bad_len).min(e.as_bytes().len())]
                .iter()
                .map(|b| format!("\\x{b:02X}"))
                .collect();
            // The valid prefix is unchanged by the lossy copy, so `at` is the same position in
            // it; the invalid sequence shows as U+FFFD under the caret.
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let file = SourceFile::new(name, lossy);
            let end = file.text()[at..]
                .chars()
                .next()
                .map(|c| at + c.len_utf8())
                .unwrap_or(at);
            Err(Box::new(
                Diagnostic::error(
                    "scenario.encoding",
                    format!(
                        "the file is not valid UTF-8: invalid byte sequence {}",
                        shown.join("")
                    ),
                )
                .at(&file, Span::new(at, end))
                .with_label("not UTF-8")
                .with_hint("save the scenario file as UTF-8"),
            ))
        }
    }
}

/// The first dotted key (`a.b.c = `, `[a.b.c]`, `{ a.b.c = }`) of more than
/// [`TOML_KEY_PART_LIMIT`] parts, and its number of parts, scanning once, outside strings and
/// comments.
pub fn deep_dotted_key(text: &str) -> Option<(Span, usize)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    // The current run of key parts: where it started and how many dots it has.
    let mut run: Option<(usize, usize)> = None;
    let mut run_end = 0;
    let too_deep = |run: Option<(usize, usize)>, end: usize| match run {
        Some((start, dots)) if dots >= TOML_KEY_PART_LIMIT => {
            Some((Span::new(start, end), dots + 1))
        }
        Some(_) | None => None,
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => {
                run.get_or_insert((i, 0));
                i += 1;
                run_end = i;
            }
            b'.' => {
                if let Some((_, dots)) = run.as_mut() {
                    *dots += 1;
                }
                i += 1;
                run_end = i;
            }
            b' ' | b'\t' => i += 1,
            b'"' | b'\'' => {
                let triple = bytes.get(i..i + 3) == Some(&[b, b, b][..]);
                if triple {
                    // Multi-line strings are values, never keys.
                    if let Some(span) = too_deep(run.take(), run_end) {
                        return Some(span);
                    }
                    i = skip_multiline(bytes, i + 3, b);
                } else {
                    let start = i;
                    i = skip_string(bytes, i + 1, b);
                    run.get_or_insert((start, 0));
                    run_end = i;
                }
            }
            b'#' => {
                if let Some(span) = too_deep(run.take(), run_end) {
                    return Some(span);
                }
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            _ => {
                if let Some(span) = too_deep(run.take(), run_end) {
                    return Some(span);
                }
                i += 1;
            }
        }
    }
    too_deep(run, run_end)
}

/// After a one-line string's opening quote: the index after its closing quote (or the line end).
fn skip_string(bytes: &[u8], mut i: usize, quote: u8) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\n' => return i,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// After a multi-line string's opening quotes: the index after its closing quotes.
fn skip_multiline(bytes: &[u8], mut i: usize, quote: u8) -> usize {
    while i < bytes.len() {
        if bytes[i] == b'\\' && quote == b'"' {
            i += 2;
        } else if bytes.get(i..i + 3) == Some(&[quote, quote, quote][..]) {
            return i + 3;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_placed_at_its_line_and_column() {
        let d = decode(
            "u.toml",
            b"name = \"x\"\nsummary = \"ab\xff\xfe\"\n".to_vec(),
        )
        .expect_err("not UTF-8");
        let loc = d.location.as_ref().expect("a position");
        assert_eq!((loc.line, loc.column), (2, 14));
        assert!(d.message.contains("\\xFF"), "{}", d.message);
    }

    #[test]
    fn a_file_over_the_cap_is_refused_before_decoding() {
        let d = decode("big.toml", vec![b'#'; MAX_FILE_BYTES + 1]).expect_err("too large");
        assert_eq!(d.code, "scenario.too-large");
        assert!(decode("ok.toml", vec![b'#'; MAX_FILE_BYTES]).is_ok());
    }

    #[test]
    fn the_deep_dotted_key_is_found_outside_strings_and_comments() {
        let deep = vec!["a"; TOML_KEY_PART_LIMIT + 1].join(".");
        let shallow = vec!["a"; TOML_KEY_PART_LIMIT].join(".");
        let text = format!(
            "# {deep}\nx = \"{deep}\"\ny = '''\n{deep}\n'''\n{shallow} = 1\n[t]\n{deep} = 2\n"
        );
        let (span, parts) = deep_dotted_key(&text).expect("found");
        assert_eq!(parts, TOML_KEY_PART_LIMIT + 1);
        let file = SourceFile::new("d.toml", text.clone());
        assert_eq!(file.locate(span).line, 8);
        assert_eq!(file.slice(span), deep);
        assert_eq!(deep_dotted_key(&format!("{shallow} = 1\n")), None);
        // Quoted parts count too, and a header is a key.
        let quoted = vec!["\"a.b\""; TOML_KEY_PART_LIMIT + 1].join(" . ");
        let (span, parts) = deep_dotted_key(&format!("[{quoted}]\n")).expect("found");
        assert_eq!((span.start, parts), (1, TOML_KEY_PART_LIMIT + 1));
    }
}
