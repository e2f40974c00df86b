//! The tokenizer of the gitlab.rb Ruby subset: identifiers, constants, labels (`key:`), symbols,
//! single/double-quoted strings with Ruby's escapes (interpolation is detected, not evaluated),
//! heredocs, `%q()`/`%Q()` strings (no nested delimiters, no escapes), `%w()`/`%i()` word arrays, integers, floats, punctuation and any other operator
//! characters. Comments (`# ...` and `=begin`/`=end`) are skipped; `\` before a newline joins lines.
//!
//! Owns: turning text into [`Token`]s with byte spans. It never fails: a lexical problem
//! (unterminated string or heredoc, bad escape) becomes an error [`Diagnostic`] and lexing resumes
//! on the next line, so one typo cannot swallow the rest of the file.

use crate::diag::{Diagnostic, Diagnostics, Severity, SourceFile, Span};

/// One lexical token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A lower-case identifier or keyword (`external_url`, `mattermost`, `if`, `true`, `nil`).
    Ident(String),
    /// A capitalised name (`ENV`, `File`, `YAML`).
    Const(String),
    /// `key:` inside a hash (also `'key':` / `"key":`).
    Label(String),
    /// `:name` or `:"name"`.
    Symbol(String),
    /// A string literal (quoted or heredoc). `interpolated` when it holds `#{...}`.
    /// `body_end` is where a heredoc's body (on the following lines) ends.
    Str {
        value: String,
        interpolated: bool,
        body_end: Option<usize>,
    },
    /// `%w(a b)` (strings) or `%i(a b)` (symbols).
    Words {
        words: Vec<String>,
        symbols: bool,
    },
    Int(i64),
    Float(f64),
    /// `[ ] { } ( ) , = => . :: ; ?` and `:` on its own.
    Punct(&'static str),
    /// Anything else (`+`, `||=`, `/`, `<`, a stray backtick ...): never part of a literal.
    Other(String),
    /// End of a line (statement separator unless inside brackets or after a continuation).
    Newline,
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

impl Token {
    /// The end of the text this token stands for (a heredoc's body runs past its opener).
    pub fn extent_end(&self) -> usize {
        match &self.tok {
            Tok::Str {
                body_end: Some(e), ..
            } => (*e).max(self.span.end),
            _ => self.span.end,
        }
    }
}

struct PendingHeredoc {
    token_index: usize,
    tag: String,
    /// `<<-` / `<<~`: the terminator may be indented.
    indented_end: bool,
    /// `<<~`: strip the common indentation of the body.
    squiggly: bool,
    raw: bool,
    opener: Span,
}

pub(crate) struct Lexer<'a> {
    file: &'a SourceFile,
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
    pending: Vec<PendingHeredoc>,
    pub diagnostics: Diagnostics,
    /// Trimmed line text → (line start, indented), built at the first heredoc.
    line_index: Option<std::collections::HashMap<&'a str, Vec<(usize, bool)>>>,
    /// Per closing delimiter of `%w(...)`: an offset from which it is known to be absent.
    absent_close: std::collections::HashMap<u8, usize>,
}

fn is_ident_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic() || c >= 0x80
}

fn is_ident_char(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric() || c >= 0x80
}

/// Tokenize a whole file.
pub(crate) fn lex(file: &SourceFile) -> (Vec<Token>, Diagnostics) {
    let mut lx = Lexer {
        file,
        src: file.text(),
        bytes: file.text().as_bytes(),
        pos: 0,
        tokens: Vec::new(),
        pending: Vec::new(),
        diagnostics: Diagnostics::new(),
        line_index: None,
        absent_close: std::collections::HashMap::new(),
    };
    lx.run();
    (lx.tokens, lx.diagnostics)
}

impl<'a> Lexer<'a> {
    fn peek(&self, off: usize) -> u8 {
        self.bytes.get(self.pos + off).copied().unwrap_or(0)
    }

    fn push(&mut self, tok: Tok, start: usize) {
        self.tokens.push(Token {
            tok,
            span: Span::new(start, self.pos),
        });
    }

    fn error(&mut self, span: Span, msg: &str, label: &str, hint: &str) {
        let file = self.file;
        self.diagnostics.push_with(Severity::Error, || {
            Diagnostic::error("rb.syntax", msg)
                .at(file, span)
                .with_label(label)
                .with_hint(hint)
        });
    }

    /// The byte offset where the line containing `at` ends (at its `\n`, or the end of text).
    fn line_end(&self, at: usize) -> usize {
        self.src[at..]
            .find('\n')
            .map(|i| at + i)
            .unwrap_or(self.src.len())
    }

    /// Whether the previous token ends a value (then `/`, `%`, `-`, `:` are operators).
    fn prev_is_value(&self) -> bool {
        matches!(
            self.tokens.last().map(|t| &t.tok),
            Some(
                Tok::Ident(_)
                    | Tok::Const(_)
                    | Tok::Str { .. }
                    | Tok::Int(_)
                    | Tok::Float(_)
                    | Tok::Symbol(_)
                    | Tok::Words { .. }
                    | Tok::Punct("]" | ")" | "}")
            )
        )
    }

    fn at_line_start(&self) -> bool {
        self.pos == 0 || self.bytes[self.pos - 1] == b'\n'
    }

    fn run(&mut self) {
        // A UTF-8 byte-order mark (editors on Windows write one) is not part of the first name.
        if self.src.starts_with('\u{feff}') {
            self.pos = '\u{feff}'.len_utf8();
        }
        while self.pos < self.bytes.len() {
            let c = self.peek(0);
            let start = self.pos;
            match c {
                b' ' | b'\t' | b'\r' | 0x0c => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.push(Tok::Newline, start);
                    self.read_heredoc_bodies();
                }
                b'\\' if self.peek(1) == b'\n' => self.pos += 2,
                b'\\' if self.peek(1) == b'\r' && self.peek(2) == b'\n' => self.pos += 3,
                b'#' => self.pos = self.line_end(self.pos),
                b'=' if self.at_line_start() && self.src[self.pos..].starts_with("=begin") => {
                    self.skip_block_comment()
                }
                b'_' if self.at_line_start() && self.src[self.pos..].starts_with("__END__") => {
                    self.pos = self.bytes.len();
                }
                b'\'' | b'"' => self.lex_quoted(c),
                b'0'..=b'9' => self.lex_number(),
                b':' => self.lex_colon(),
                b'%' if !self.prev_is_value()
                    && matches!(self.peek(1), b'w' | b'W' | b'i' | b'I' | b'q' | b'Q') =>
                {
                    self.lex_words()
                }
                b'<' if self.peek(1) == b'<' && self.heredoc_ahead() => self.lex_heredoc_opener(),
                c if is_ident_start(c) => self.lex_ident(),
                _ => self.lex_punct(),
            }
        }
        // A heredoc opened on the last line without a newline after it.
        if !self.pending.is_empty() {
            self.read_heredoc_bodies();
        }
    }

    fn skip_block_comment(&mut self) {
        let start = self.pos;
        let mut at = self.line_end(self.pos);
        loop {
            if at >= self.src.len() {
                self.error(
                    Span::new(start, start + 6),
                    "unterminated `=begin` comment",
                    "opened here",
                    "close the comment with a line `=end`",
                );
                self.pos = self.src.len();
                return;
            }
            let line_start = at + 1;
            let end = self.line_end(line_start);
            if self.src[line_start..end].starts_with("=end") {
                self.pos = end;
                return;
            }
            at = end;
        }
    }

    fn lex_ident(&mut self) {
        let start = self.pos;
        while is_ident_char(self.peek(0)) {
            // Step over whole UTF-8 characters.
            let ch_len = self.src[self.pos..]
                .chars()
                .next()
                .map(char::len_utf8)
                .unwrap_or(1);
            self.pos += ch_len;
        }
        if matches!(self.peek(0), b'?' | b'!') && self.peek(1) != b'=' {
            self.pos += 1;
        }
        let word = self.src[start..self.pos].to_string();
        // `key:` label (but not `key::` or a ternary `a ? b : c` with spaces).
        if self.peek(0) == b':' && self.peek(1) != b':' {
            self.pos += 1;
            self.push(Tok::Label(word), start);
            return;
        }
        let first = word.as_bytes()[0];
        if first.is_ascii_uppercase() {
            self.push(Tok::Const(word), start);
        } else {
            self.push(Tok::Ident(word), start);
        }
    }

    fn lex_colon(&mut self) {
        let start = self.pos;
        if self.peek(1) == b':' {
            self.pos += 2;
            self.push(Tok::Punct("::"), start);
            return;
        }
        let next = self.peek(1);
        if is_ident_start(next) {
            self.pos += 1;
            while is_ident_char(self.peek(0)) {
                self.pos += 1;
            }
            if matches!(self.peek(0), b'?' | b'!') && self.peek(1) != b'=' {
                self.pos += 1;
            }
            let name = self.src[start + 1..self.pos].to_string();
            self.push(Tok::Symbol(name), start);
        } else if next == b'"' || next == b'\'' {
            self.pos += 1;
            self.lex_quoted(next);
            if let Some(Token {
                tok: Tok::Str { value, .. },
                ..
            }) = self.tokens.pop()
            {
                self.push(Tok::Symbol(value), start);
            }
        } else {
            self.pos += 1;
            self.push(Tok::Punct(":"), start);
        }
    }

    /// A number the way Ruby reads it: `0x`/`0b`/`0o`/`0d` prefixes, a leading `0` for octal
    /// (`0644` is 420), `_` between digits, floats with a fraction or an exponent. A malformed
    /// number (`09`, `1__0`, `1_`, `0x`) is a syntax error, as it is for Ruby.
    fn lex_number(&mut self) {
        let start = self.pos;
        let b = self.bytes;
        let mut end = self.pos;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        let word = &self.src[start..end];
        let lower = word.to_ascii_lowercase();
        let prefixed = [("0x", 16), ("0b", 2), ("0o", 8), ("0d", 10), ("0_", 8)]
            .iter()
            .find(|(p, _)| lower.starts_with(*p))
            .map(|(_, r)| (&word[2..], *r));
        let octal = word.len() > 1
            && word.starts_with('0')
            && word[1..].bytes().all(|c| c.is_ascii_digit() || c == b'_')
            && !(self.peek_at(end) == b'.' && self.peek_at(end + 1).is_ascii_digit())
            && !matches!(self.peek_at(end), b'e' | b'E');
        let int_form = match prefixed {
            Some(p) => Some(p),
            None if octal => Some((&word[1..], 8)),
            None => None,
        };
        if let Some((digits, radix)) = int_form {
            self.pos = end;
            let valid = !digits.is_empty()
                && !digits.starts_with('_')
                && !digits.ends_with('_')
                && !digits.contains("__")
                && digits
                    .bytes()
                    .all(|c| c == b'_' || (c as char).is_digit(radix));
            let value = valid
                .then(|| i64::from_str_radix(&digits.replace('_', ""), radix).ok())
                .flatten();
            match value {
                Some(v) => self.push(Tok::Int(v), start),
                None => {
                    self.error(
                        Span::new(start, end),
                        &format!("invalid number `{word}`"),
                        if valid {
                            "too large for a 64-bit integer"
                        } else {
                            "Ruby refuses this number"
                        },
                        "write a decimal number, or 0x/0b/0o followed by digits of that base (a leading 0 means octal: 0644 is 420)",
                    );
                    self.push(Tok::Other(word.to_string()), start);
                }
            }
            return;
        }
        let digits_end = |mut p: usize| {
            while p < b.len() && (b[p].is_ascii_digit() || b[p] == b'_') {
                p += 1;
            }
            p
        };
        self.pos = digits_end(self.pos);
        let mut float = false;
        if self.peek(0) == b'.' && self.peek(1).is_ascii_digit() {
            float = true;
            self.pos = digits_end(self.pos + 1);
        }
        if matches!(self.peek(0), b'e' | b'E')
            && (self.peek(1).is_ascii_digit()
                || (matches!(self.peek(1), b'+' | b'-') && self.peek(2).is_ascii_digit()))
        {
            float = true;
            self.pos += 2;
            while self.pos < b.len() && b[self.pos].is_ascii_digit() {
                self.pos += 1;
            }
        }
        let raw = &self.src[start..self.pos];
        let bad_underscore = raw.contains("__")
            || raw.ends_with('_')
            || raw.contains("_.")
            || raw.contains("._")
            || raw.contains("_e")
            || raw.contains("_E");
        let text: String = raw.replace('_', "");
        let tok = if bad_underscore {
            Err(())
        } else if float {
            text.parse::<f64>().map(Tok::Float).map_err(|_| ())
        } else {
            text.parse::<i64>()
                .map(Tok::Int)
                .or_else(|_| text.parse::<f64>().map(Tok::Float))
                .map_err(|_| ())
        };
        match tok {
            Ok(t) => self.push(t, start),
            Err(()) => {
                self.error(
                    Span::new(start, self.pos),
                    &format!("invalid number `{raw}`"),
                    "Ruby refuses this number",
                    "`_` may only stand between two digits",
                );
                self.push(Tok::Other(text), start);
            }
        }
    }

    fn peek_at(&self, at: usize) -> u8 {
        self.bytes.get(at).copied().unwrap_or(0)
    }

    fn lex_punct(&mut self) {
        let start = self.pos;
        let rest = &self.src[self.pos..];
        for p in ["=>", "::"] {
            if rest.starts_with(p) {
                self.pos += 2;
                self.push(Tok::Punct(if p == "=>" { "=>" } else { "::" }), start);
                return;
            }
        }
        let c = self.peek(0);
        let single: Option<&'static str> = match c {
            b'[' => Some("["),
            b']' => Some("]"),
            b'{' => Some("{"),
            b'}' => Some("}"),
            b'(' => Some("("),
            b')' => Some(")"),
            b',' => Some(","),
            b'.' if self.peek(1) != b'.' => Some("."),
            b';' => Some(";"),
            b'=' if !matches!(self.peek(1), b'=' | b'~') => Some("="),
            _ => None,
        };
        if let Some(p) = single {
            self.pos += 1;
            self.push(Tok::Punct(p), start);
            return;
        }
        // Any other run of operator characters, or one unknown character.
        let op_chars = b"+-*/%<>=!&|^~?.@$`";
        if op_chars.contains(&c) {
            while self.pos < self.bytes.len() && op_chars.contains(&self.bytes[self.pos]) {
                self.pos += 1;
            }
        } else {
            let ch_len = rest.chars().next().map(char::len_utf8).unwrap_or(1);
            self.pos += ch_len;
        }
        let text = self.src[start..self.pos].to_string();
        self.push(Tok::Other(text), start);
    }

    /// A quoted string starting at `self.pos` (the quote). Multi-line strings are allowed, as in
    /// Ruby; an unterminated one is an error and lexing resumes on the line after the quote.
    fn lex_quoted(&mut self, quote: u8) {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        let mut interpolated = false;
        loop {
            if self.pos >= self.bytes.len() {
                let resume = self.line_end(start);
                self.error(
                    Span::new(start, start + 1),
                    "unterminated string",
                    "this string is never closed",
                    &format!("add the closing {} quote", quote as char),
                );
                // The rest of the line stands in for the broken string, so the statement ends here.
                self.pos = resume;
                let text = self.src[start..resume].to_string();
                self.push(Tok::Other(text), start);
                return;
            }
            let c = self.peek(0);
            if c == quote {
                self.pos += 1;
                break;
            }
            if c == b'\\' {
                if quote == b'\'' {
                    match self.peek(1) {
                        b'\\' | b'\'' => {
                            value.push(self.peek(1) as char);
                            self.pos += 2;
                        }
                        _ => {
                            value.push('\\');
                            self.pos += 1;
                        }
                    }
                } else {
                    self.read_escape(&mut value);
                }
                continue;
            }
            if quote == b'"' && c == b'#' && self.peek(1) == b'{' {
                interpolated = true;
                let open = self.pos;
                self.pos += 2;
                let mut depth = 1usize;
                // Within the line (a multi-line `#{}` is not worth a scan of the rest of the file
                // per string).
                while self.pos < self.bytes.len() && depth > 0 && self.peek(0) != b'\n' {
                    match self.peek(0) {
                        b'{' => depth += 1,
                        b'}' => depth -= 1,
                        _ => {}
                    }
                    self.pos += 1;
                }
                value.push_str(&self.src[open..self.pos]);
                continue;
            }
            let ch = self.src[self.pos..].chars().next().unwrap_or('\u{fffd}');
            value.push(ch);
            self.pos += ch.len_utf8();
        }
        self.push(
            Tok::Str {
                value,
                interpolated,
                body_end: None,
            },
            start,
        );
    }

    /// One backslash escape in a double-quoted string (Ruby's set).
    fn read_escape(&mut self, out: &mut String) {
        let esc_start = self.pos;
        self.pos += 1; // the backslash
        let c = self.peek(0);
        self.pos += 1;
        let simple = match c {
            b'n' => Some('\n'),
            b't' => Some('\t'),
            b'r' => Some('\r'),
            b'0' if !self.peek(0).is_ascii_digit() => Some('\0'),
            b's' => Some(' '),
            b'e' => Some('\u{1b}'),
            b'a' => Some('\u{7}'),
            b'b' => Some('\u{8}'),
            b'f' => Some('\u{c}'),
            b'v' => Some('\u{b}'),
            b'\n' => {
                return; // line continuation inside a string
            }
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            return;
        }
        match c {
            b'u' => {
                let (digits, braced) = if self.peek(0) == b'{' {
                    let close = self.src[self.pos..].find('}').map(|i| self.pos + i);
                    match close {
                        Some(end) => {
                            let d = self.src[self.pos + 1..end].to_string();
                            self.pos = end + 1;
                            (d, true)
                        }
                        None => (String::new(), true),
                    }
                } else {
                    let end = (self.pos + 4).min(self.bytes.len());
                    let d = self.src.get(self.pos..end).unwrap_or("").to_string();
                    self.pos = end;
                    (d, false)
                };
                let mut ok = !digits.trim().is_empty();
                for part in digits.split_whitespace() {
                    match u32::from_str_radix(part, 16).ok().and_then(char::from_u32) {
                        Some(ch) => out.push(ch),
                        None => ok = false,
                    }
                }
                if !ok || (!braced && digits.len() != 4) {
                    self.error(
                        Span::new(esc_start, self.pos),
                        "invalid unicode escape",
                        "not a unicode code point",
                        "write \\u with four hex digits (\\u00e9) or braces (\\u{1F600})",
                    );
                }
            }
            b'x' => {
                let mut n = 0u32;
                let mut digits = 0;
                while digits < 2 && self.peek(0).is_ascii_hexdigit() {
                    n = n * 16 + (self.peek(0) as char).to_digit(16).unwrap_or(0);
                    self.pos += 1;
                    digits += 1;
                }
                if digits == 0 {
                    self.error(
                        Span::new(esc_start, self.pos),
                        "invalid hex escape",
                        "expected hex digits after \\x",
                        "write \\xHH",
                    );
                } else {
                    out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                }
            }
            b'0'..=b'7' => {
                let mut n = u32::from(c - b'0');
                let mut digits = 1;
                while digits < 3 && (b'0'..=b'7').contains(&self.peek(0)) {
                    n = n * 8 + u32::from(self.peek(0) - b'0');
                    self.pos += 1;
                    digits += 1;
                }
                out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
            }
            0 => {} // backslash at end of input: the unterminated-string error follows
            _ => {
                // Unknown escapes stand for the character itself (`\"`, `\\`, `\#`, `\.`).
                self.pos -= 1;
                let ch = self.src[self.pos..].chars().next().unwrap_or('\u{fffd}');
                out.push(ch);
                self.pos += ch.len_utf8();
            }
        }
    }

    fn lex_words(&mut self) {
        let start = self.pos;
        let kind = self.peek(1);
        let symbols = matches!(kind, b'i' | b'I');
        let open = self.peek(2);
        let close = match open {
            b'(' => b')',
            b'[' => b']',
            b'{' => b'}',
            b'<' => b'>',
            c if c.is_ascii_punctuation() => c,
            _ => {
                // `%w` not followed by a delimiter: an operator and an identifier.
                self.pos += 1;
                self.push(Tok::Other("%".into()), start);
                return;
            }
        };
        self.pos += 3;
        let found = if self
            .absent_close
            .get(&close)
            .is_some_and(|&p| p <= self.pos)
        {
            None
        } else {
            let f = self.src[self.pos..].find(close as char);
            if f.is_none() {
                self.absent_close.insert(close, self.pos);
            }
            f
        };
        match found {
            Some(i) => {
                let body = &self.src[self.pos..self.pos + i];
                self.pos += i + 1;
                match kind {
                    // `%q(...)` is a single-quoted string, `%Q(...)` a double-quoted one.
                    b'q' | b'Q' => {
                        let interpolated = kind == b'Q' && body.contains("#{");
                        self.push(
                            Tok::Str {
                                value: body.to_string(),
                                interpolated,
                                body_end: None,
                            },
                            start,
                        );
                    }
                    _ => {
                        let words = body.split_whitespace().map(str::to_string).collect();
                        self.push(Tok::Words { words, symbols }, start);
                    }
                }
            }
            None => {
                let resume = self.line_end(start);
                self.error(
                    Span::new(start, start + 3),
                    "unterminated word list",
                    "never closed",
                    &format!("close the list with `{}`", close as char),
                );
                self.pos = resume;
            }
        }
    }

    /// `<<-'EOS'`, `<<~eos`, `<<"EOS"`, `<<EOS`: after `<<-` or `<<~` any identifier or quote
    /// opens a heredoc (Ruby's rule; the tag's case does not matter). A bare `<<name` is a
    /// heredoc where a value is expected (after `=`, `(`, `,`, or a method name and a space),
    /// otherwise the `<<` operator.
    fn heredoc_ahead(&self) -> bool {
        let mut i = self.pos + 2;
        let dashed = matches!(self.bytes.get(i), Some(b'-' | b'~'));
        if dashed {
            i += 1;
        }
        match self.bytes.get(i) {
            Some(b'\'' | b'"') => true,
            Some(c) if is_ident_start(*c) && !c.is_ascii_digit() => {
                dashed
                    || c.is_ascii_uppercase()
                    || *c == b'_'
                    || !self.prev_is_value()
                    || (matches!(self.tokens.last().map(|t| &t.tok), Some(Tok::Ident(_)))
                        && self.pos > 0
                        && matches!(self.bytes[self.pos - 1], b' ' | b'\t'))
            }
            _ => false,
        }
    }

    fn lex_heredoc_opener(&mut self) {
        let start = self.pos;
        self.pos += 2;
        let (mut indented_end, mut squiggly) = (false, false);
        match self.peek(0) {
            b'-' => {
                indented_end = true;
                self.pos += 1;
            }
            b'~' => {
                indented_end = true;
                squiggly = true;
                self.pos += 1;
            }
            _ => {}
        }
        let q = self.peek(0);
        let (tag, raw) = if q == b'\'' || q == b'"' {
            self.pos += 1;
            let tag_start = self.pos;
            while self.pos < self.bytes.len() && self.peek(0) != q && self.peek(0) != b'\n' {
                self.pos += 1;
            }
            let tag = self.src[tag_start..self.pos].to_string();
            if self.peek(0) == q {
                self.pos += 1;
            }
            (tag, q == b'\'')
        } else {
            let tag_start = self.pos;
            while is_ident_char(self.peek(0)) {
                self.pos += 1;
            }
            (self.src[tag_start..self.pos].to_string(), false)
        };
        let opener = Span::new(start, self.pos);
        self.pending.push(PendingHeredoc {
            token_index: self.tokens.len(),
            tag,
            indented_end,
            squiggly,
            raw,
            opener,
        });
        self.push(
            Tok::Str {
                value: String::new(),
                interpolated: false,
                body_end: Some(self.pos),
            },
            start,
        );
    }

    /// After a newline: read the bodies of heredocs opened on the line just ended.
    /// The start of the first line at or after `from` that closes a heredoc tagged `tag`.
    fn terminator_line(&mut self, tag: &str, indented_end: bool, from: usize) -> Option<usize> {
        let src = self.src;
        let index = self.line_index.get_or_insert_with(|| {
            let mut map: std::collections::HashMap<&'a str, Vec<(usize, bool)>> =
                std::collections::HashMap::new();
            let mut at = 0;
            for line in src.split_inclusive('\n') {
                let text = line.trim_end_matches(['\n', '\r']);
                let trimmed = text.trim_start();
                if !trimmed.is_empty() && trimmed.len() <= 256 {
                    map.entry(trimmed)
                        .or_default()
                        .push((at, trimmed.len() != text.len()));
                }
                at += line.len();
            }
            map
        });
        let entries = index.get(tag)?;
        let first = entries.partition_point(|(start, _)| *start < from);
        entries[first..]
            .iter()
            .find(|(_, indented)| indented_end || !indented)
            .map(|(start, _)| *start)
    }

    fn read_heredoc_bodies(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for h in pending {
            let body_start = self.pos;
            let mut at = self.pos;
            let mut lines: Vec<&str> = Vec::new();
            // Where the body ends, from the index of line texts (no scan of the rest of the
            // file per heredoc: thousands of unterminated openers stay linear).
            let terminator = self.terminator_line(&h.tag, h.indented_end, body_start);
            let terminated = terminator.is_some();
            if let Some(term) = terminator {
                while at < term {
                    let end = self.line_end(at);
                    lines.push(self.src[at..end].trim_end_matches('\r'));
                    at = (end + 1).min(self.src.len());
                }
                at = self.line_end(term); // the terminator line's own newline is lexed as usual
            }
            if !terminated {
                self.error(
                    h.opener,
                    "unterminated heredoc",
                    &format!("no line `{}` closes this heredoc", h.tag),
                    &format!("end the text with a line holding only `{}`", h.tag),
                );
                // Resume right after the opener's line, as if the heredoc were empty.
                if let Some(t) = self.tokens.get_mut(h.token_index) {
                    t.tok = Tok::Other(self.src[h.opener.start..h.opener.end].to_string());
                }
                continue;
            }
            let indent = if h.squiggly {
                lines
                    .iter()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.len() - l.trim_start().len())
                    .min()
                    .unwrap_or(0)
            } else {
                0
            };
            let mut value = String::new();
            for l in &lines {
                value.push_str(l.get(indent..).unwrap_or(l.trim_start()));
                value.push('\n');
            }
            let interpolated = !h.raw && value.contains("#{");
            let body_end = at.max(body_start);
            if let Some(t) = self.tokens.get_mut(h.token_index) {
                t.tok = Tok::Str {
                    value,
                    interpolated,
                    body_end: Some(body_end),
                };
            }
            self.pos = body_end;
        }
    }
}
