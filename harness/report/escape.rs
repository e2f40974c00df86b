//! Escaping text for a terminal: the one place where control characters of server text (ESC,
//! BEL, CR, backspace, C1 controls) and the invisible Unicode controls that reorder or hide text
//! (bidirectional overrides and isolates, zero-width marks) are made visible before anything
//! reaches a person's terminal. Every human output (the run report, `twin up`, CLI errors) passes
//! the text it did not write itself through [`terminal`]; JSON and JUnit have their own escaping.
//!
//! Newlines and tabs are kept (reports are multi-line); everything else that is not printable
//! becomes a Rust-style escape (`\u{1b}`, `\r`), so a hostile answer can neither move the cursor,
//! recolour the terminal, set its title nor overwrite an earlier line.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as is.
fn needs_escape(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        c if c.is_control() => true,
        // Bidirectional embeddings, overrides and isolates; zero-width and directional marks;
        // the BOM/zero-width no-break space; the line and paragraph separators.
        '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}' => true,
        _ => false,
    }
}

/// `text` with every control character escaped (newlines and tabs kept). Borrows when nothing
/// needs escaping, which is the common case.
pub fn terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// [`terminal`] for one line of a report: newlines and tabs are escaped too, so a server's text
/// cannot start a line of its own that reads like the harness's (`PASS ...`).
pub fn terminal_line(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c == '\n' || c == '\t' || needs_escape(c))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&terminal(c.encode_utf8(&mut [0; 4]))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(
            terminal("ok\u{1b}]0;pwned\u{7}\u{1b}[2J\rX"),
            "ok\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\rX"
        );
        assert_eq!(terminal("a\u{9b}31mb"), "a\\u{9b}31mb", "C1 CSI");
        assert_eq!(
            terminal("x\u{202e}gnp.exe"),
            "x\\u{202e}gnp.exe",
            "bidi override"
        );
        assert_eq!(terminal("nul\0"), "nul\\0");
    }

    #[test]
    fn plain_text_lines_and_tabs_are_kept_and_borrowed() {
        let text = "line one\n\tindented — ünïcode ✓";
        assert!(matches!(terminal(text), Cow::Borrowed(_)));
        assert_eq!(terminal(text), text);
    }

    #[test]
    fn a_line_cannot_start_another() {
        assert_eq!(terminal_line("a\nPASS b\tc\u{7}"), "a\\nPASS b\\tc\\u{7}");
    }
}
