//! The gitlab.rb parser: a hand-written reader of the Ruby subset omnibus configuration uses
//! (docs/config.md, "The gitlab.rb grammar").
//!
//! Owns: [`parse_gitlab_rb`] and the syntax tree it returns ([`RbDocument`], [`RbSetting`],
//! [`RbNode`]). Settings are method calls (`external_url 'x'`) and index assignments
//! (`mattermost['gitlab_enable'] = true`, `gitlab_rails['env']['X'] = ...`) whose values are
//! literals: strings, numbers, `true`/`false`/`nil`, symbols, arrays, hashes. Anything else (string
//! interpolation, `ENV[...]`, `File.read`, conditionals, blocks) is kept as an *unevaluated*
//! expression with its span and reported as a warning: never a crash, never silently dropped.
//! Parsing never fails: syntax errors are error [`Diagnostic`]s with file:line:column and a caret.
//! No I/O happens here.

use crate::diag::{Diagnostic, Diagnostics, Location, Severity, SourceFile, Span};

use super::keys::is_secret_name;
use super::model::REDACTED;
use super::rb_lex::{Tok, Token, lex};

/// A literal value in a gitlab.rb, or an expression kept as written.
#[derive(Debug, Clone, PartialEq)]
pub enum RbValue {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Symbol(String),
    Array(Vec<RbNode>),
    Hash(Vec<RbPair>),
    /// Ruby the harness does not evaluate (interpolation, `ENV[...]`, method calls ...): the text.
    Unevaluated(String),
}

/// A value and the span of its text.
#[derive(Debug, Clone, PartialEq)]
pub struct RbNode {
    pub value: RbValue,
    pub span: Span,
}

/// One `key => value` (or `key: value`) entry of a hash literal.
#[derive(Debug, Clone, PartialEq)]
pub struct RbPair {
    pub key: RbNode,
    pub value: RbNode,
}

impl RbValue {
    /// Ruby's `to_s` for a literal (what an ERB template or an env file would write):
    /// `nil` → "", symbols without the colon, arrays/hashes in Ruby's `inspect` form.
    pub fn to_ruby_s(&self) -> String {
        match self {
            RbValue::Nil => String::new(),
            RbValue::Str(s) | RbValue::Symbol(s) | RbValue::Unevaluated(s) => s.clone(),
            _ => self.inspect(),
        }
    }

    /// Ruby's `inspect` form (`"a"`, `:a`, `[1, "b"]`, `{"k"=>true}`).
    pub fn inspect(&self) -> String {
        match self {
            RbValue::Nil => "nil".into(),
            RbValue::Bool(b) => b.to_string(),
            RbValue::Int(i) => i.to_string(),
            RbValue::Float(f) => {
                if f.fract() == 0.0 && f.is_finite() {
                    format!("{f:.1}")
                } else {
                    f.to_string()
                }
            }
            RbValue::Str(s) => format!("{s:?}"),
            RbValue::Symbol(s) => format!(":{s}"),
            RbValue::Array(items) => {
                let inner: Vec<String> = items.iter().map(|n| n.value.inspect()).collect();
                format!("[{}]", inner.join(", "))
            }
            RbValue::Hash(pairs) => {
                let inner: Vec<String> = pairs
                    .iter()
                    .map(|p| format!("{}=>{}", p.key.value.inspect(), p.value.value.inspect()))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
            RbValue::Unevaluated(s) => s.clone(),
        }
    }

    /// Whether this value, or anything inside it, is unevaluated.
    pub fn has_unevaluated(&self) -> bool {
        match self {
            RbValue::Unevaluated(_) => true,
            RbValue::Array(items) => items.iter().any(|n| n.value.has_unevaluated()),
            RbValue::Hash(pairs) => pairs
                .iter()
                .any(|p| p.key.value.has_unevaluated() || p.value.value.has_unevaluated()),
            _ => false,
        }
    }

    /// The string a hash key or index names (strings and symbols; others in `inspect` form).
    pub fn key_name(&self) -> String {
        match self {
            RbValue::Str(s) | RbValue::Symbol(s) => s.clone(),
            other => other.inspect(),
        }
    }
}

/// What a setting statement assigns to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingTarget {
    /// `external_url 'x'`: a top-level method call with one literal argument.
    Method { name: String },
    /// `root['k1']['k2'] = value`.
    Index { root: String, keys: Vec<String> },
}

impl SettingTarget {
    /// The top-level name: `external_url`, `mattermost`, `gitlab_rails`.
    pub fn root(&self) -> &str {
        match self {
            SettingTarget::Method { name } => name,
            SettingTarget::Index { root, .. } => root,
        }
    }
    /// The index keys (empty for method calls).
    pub fn keys(&self) -> &[String] {
        match self {
            SettingTarget::Method { .. } => &[],
            SettingTarget::Index { keys, .. } => keys,
        }
    }
}

impl std::fmt::Display for SettingTarget {
    /// `mattermost['gitlab_enable']`, `gitlab_rails['env']['X']`, `external_url`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingTarget::Method { name } => f.write_str(name),
            SettingTarget::Index { root, keys } => {
                f.write_str(root)?;
                for k in keys {
                    write!(f, "['{k}']")?;
                }
                Ok(())
            }
        }
    }
}

/// One setting statement.
#[derive(Debug, Clone, PartialEq)]
pub struct RbSetting {
    pub target: SettingTarget,
    /// The span of each index key's literal (for diagnostics on an unknown key).
    pub key_spans: Vec<Span>,
    /// The span of the target (`mattermost['gitlab_id']` or `external_url`).
    pub target_span: Span,
    pub value: RbNode,
    /// The whole statement.
    pub span: Span,
}

/// A statement or value the parser kept as written, without evaluating it.
#[derive(Debug, Clone, PartialEq)]
pub struct RbUnevaluated {
    pub text: String,
    pub span: Span,
    /// True for a whole statement (a conditional, a block, a call the grammar does not cover);
    /// false for a value inside a setting (the setting itself is in [`RbDocument::settings`]).
    pub whole_statement: bool,
}

/// A parsed gitlab.rb: its settings in file order, what was left unevaluated, and diagnostics.
/// Its `Debug` prints a summary, never values (they may be secrets).
#[derive(Clone)]
pub struct RbDocument {
    file: SourceFile,
    settings: Vec<RbSetting>,
    unevaluated: Vec<RbUnevaluated>,
    diagnostics: Diagnostics,
    secrets: Vec<String>,
}

impl std::fmt::Debug for RbDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let targets: Vec<String> = self.settings.iter().map(|s| s.target.to_string()).collect();
        f.debug_struct("RbDocument")
            .field("file", &self.file.name())
            .field("settings", &targets)
            .field("unevaluated", &self.unevaluated.len())
            .field("diagnostics", &self.diagnostics.as_slice())
            .finish()
    }
}

impl RbDocument {
    pub fn file(&self) -> &SourceFile {
        &self.file
    }
    /// Every setting statement, in file order (later ones win, as in Ruby).
    pub fn settings(&self) -> &[RbSetting] {
        &self.settings
    }
    /// Every statement or value kept unevaluated (each also has a warning in `diagnostics`).
    pub fn unevaluated(&self) -> &[RbUnevaluated] {
        &self.unevaluated
    }
    /// Syntax errors and unevaluated-expression warnings, in file order.
    /// (At most [`crate::diag::MAX_DIAGNOSTICS`]; [`RbDocument::diagnostic_list`] counts the rest.)
    pub fn diagnostics(&self) -> &[Diagnostic] {
        self.diagnostics.as_slice()
    }
    /// The kept diagnostics and the count of those left out.
    pub fn diagnostic_list(&self) -> &Diagnostics {
        &self.diagnostics
    }
    /// Whether the file has a syntax error (kept or counted).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.has_errors()
    }
    /// The literal values assigned to secret keys (`*secret*`, `*password*`, ... and secret-named
    /// hash entries), for scrubbing them from any text shown to a user.
    pub fn secret_values(&self) -> &[String] {
        &self.secrets
    }
    /// Where a span is, as file:line:column.
    pub fn locate(&self, span: Span) -> Location {
        self.file.locate(span)
    }
    /// The last value assigned to `root[keys...]` exactly (e.g. `("mattermost", &["gitlab_id"])`).
    pub fn get(&self, root: &str, keys: &[&str]) -> Option<&RbSetting> {
        self.settings.iter().rev().find(|s| {
            s.target.root() == root
                && s.target.keys().len() == keys.len()
                && s.target.keys().iter().zip(keys).all(|(a, b)| a == b)
        })
    }
}

/// Keywords that open a block closed by `end` when they start a statement.
fn is_block_opener(word: &str) -> bool {
    matches!(
        word,
        "if" | "unless" | "while" | "until" | "case" | "begin" | "def" | "class" | "module" | "for"
    )
}

/// Ruby keywords and common calls that never start a setting.
fn is_keyword(word: &str) -> bool {
    is_block_opener(word)
        || matches!(
            word,
            "do" | "end"
                | "then"
                | "else"
                | "elsif"
                | "when"
                | "rescue"
                | "ensure"
                | "and"
                | "or"
                | "not"
                | "return"
                | "yield"
                | "require"
                | "require_relative"
                | "include"
                | "puts"
                | "raise"
                | "lambda"
                | "proc"
        )
}

/// Parse a gitlab.rb. Never fails: problems are in [`RbDocument::diagnostics`].
pub fn parse_gitlab_rb(file: &SourceFile) -> RbDocument {
    let (tokens, mut diagnostics) = lex(file);
    // Secret values (and a URL's password) are masked in every source line a diagnostic shows.
    let file = &file.with_masks(secret_masks(file, &tokens));
    for d in diagnostics.iter_mut() {
        d.relocate(file);
    }
    let mut next_token = vec![tokens.len(); tokens.len() + 1];
    for j in (0..tokens.len()).rev() {
        next_token[j] = if tokens[j].tok == Tok::Newline {
            next_token[j + 1]
        } else {
            j
        };
    }
    let mut p = Parser {
        file,
        toks: &tokens,
        next_token,
        diagnostics: Diagnostics::new(),
        settings: Vec::new(),
        unevaluated: Vec::new(),
        depth: 0,
    };
    p.run();
    diagnostics.merge(p.diagnostics);
    let mut secrets = Vec::new();
    for s in &p.settings {
        let secret = s.target.keys().iter().any(|k| is_secret_name(k));
        collect_secrets(&s.value.value, secret, &mut secrets);
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    RbDocument {
        file: file.clone(),
        settings: p.settings,
        unevaluated: p.unevaluated,
        diagnostics,
        secrets,
    }
}

/// The byte ranges of a gitlab.rb that hold secrets, found on the tokens (so also inside blocks
/// and unevaluated code): the literal assigned to a secret-named index (`['gitlab_secret'] =`)
/// or hash entry (`'password' =>`, `password:`), the password of a URL's userinfo in any string,
/// and `password: value` lines inside a heredoc or multi-line string (LDAP YAML).
pub(crate) fn secret_masks(file: &SourceFile, toks: &[Token]) -> Vec<Span> {
    let text = file.text();
    let mut masks = Vec::new();
    let inner = |t: &Token| -> Span {
        let raw = file.slice(t.span);
        match raw.as_bytes().first() {
            Some(b'\'' | b'"') if raw.len() >= 2 => Span::new(t.span.start + 1, t.span.end - 1),
            Some(b'%') if raw.len() >= 4 => Span::new(t.span.start + 3, t.span.end - 1),
            _ => t.span,
        }
    };
    // The text a string token stands on: its quoted span, or a heredoc's body lines.
    let body = |t: &Token| -> Span {
        match &t.tok {
            Tok::Str {
                body_end: Some(e), ..
            } if *e > t.span.end => {
                let line_end = text[t.span.end..]
                    .find('\n')
                    .map(|i| t.span.end + i + 1)
                    .unwrap_or(text.len());
                Span::new(line_end.min(*e), *e)
            }
            _ => t.span,
        }
    };
    for (i, t) in toks.iter().enumerate() {
        // A secret name followed by what assigns to it.
        let name = match &t.tok {
            Tok::Str { value, .. } | Tok::Symbol(value) | Tok::Label(value) => Some(value),
            _ => None,
        };
        if let Some(name) = name
            && is_secret_name(name)
        {
            let mut j = i + 1;
            let assigns = match &t.tok {
                Tok::Label(_) => true,
                _ => match toks.get(j).map(|t| &t.tok) {
                    Some(Tok::Punct("=>")) => {
                        j += 1;
                        true
                    }
                    Some(Tok::Punct("]"))
                        if toks.get(j + 1).map(|t| &t.tok) == Some(&Tok::Punct("=")) =>
                    {
                        j += 2;
                        true
                    }
                    _ => false,
                },
            };
            // A literal value is the secret. In an expression (`ENV['SMTP_PASSWORD'] ||
            // 'changeme'`) only its top-level literals are: `ENV['X']` and `File.read('/run/x')`
            // name where the secret is, and stay readable.
            let literal = matches!(
                toks.get(j).map(|t| &t.tok),
                Some(
                    Tok::Str { .. }
                        | Tok::Int(_)
                        | Tok::Float(_)
                        | Tok::Symbol(_)
                        | Tok::Words { .. }
                        | Tok::Punct("[" | "{" | "(")
                )
            );
            if assigns {
                let mut depth = 0usize;
                while let Some(v) = toks.get(j) {
                    match &v.tok {
                        Tok::Newline if depth == 0 => break,
                        Tok::Punct("[" | "{" | "(") => depth += 1,
                        Tok::Punct("]" | "}" | ")") => {
                            if depth == 0 {
                                break;
                            }
                            depth -= 1;
                        }
                        Tok::Punct(",") if depth == 0 => break,
                        Tok::Str { body_end, .. } if literal || depth == 0 => {
                            masks.push(match body_end {
                                Some(_) => body(v),
                                None => inner(v),
                            })
                        }
                        Tok::Int(_) | Tok::Float(_) | Tok::Symbol(_) | Tok::Words { .. }
                            if literal || depth == 0 =>
                        {
                            masks.push(v.span)
                        }
                        _ => {}
                    }
                    j += 1;
                }
            }
        }
        if let Tok::Str { .. } = &t.tok {
            for span in [t.span, body(t)] {
                masks.extend(url_password_spans(file.slice(span), span.start));
                if file.slice(span).contains('\n') {
                    masks.extend(yaml_secret_spans(file.slice(span), span.start));
                }
            }
        }
    }
    masks
}

/// The password part of every `scheme://user:password@host` in `text` (offsets from `base`).
pub(crate) fn url_password_spans(text: &str, base: usize) -> Vec<Span> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("://") {
        let auth_start = from + i + 3;
        let auth_end = text[auth_start..]
            .find(|c: char| matches!(c, '/' | '?' | '#' | '\'' | '"' | '`') || c.is_whitespace())
            .map(|e| auth_start + e)
            .unwrap_or(text.len());
        let authority = &text[auth_start..auth_end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
            && colon + 1 < at
        {
            out.push(Span::new(
                base + auth_start + colon + 1,
                base + auth_start + at,
            ));
        }
        from = auth_end.max(auth_start);
    }
    out
}

/// The values of `secret_name: value` lines (YAML inside a heredoc: LDAP's `password:`).
fn yaml_secret_spans(text: &str, base: usize) -> Vec<Span> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let lead = line.len() - trimmed.len();
        if let Some(colon) = trimmed.find(':') {
            let key = trimmed[..colon]
                .trim_matches(|c: char| c == '\'' || c == '"' || c == '-' || c.is_whitespace());
            let value = trimmed[colon + 1..].trim_end_matches(['\n', '\r']);
            let value_start = colon + 1 + (value.len() - value.trim_start().len());
            let value = value.trim();
            if !key.is_empty()
                && key.chars().all(|c| c.is_alphanumeric() || c == '_')
                && is_secret_name(key)
                && !value.is_empty()
            {
                let start = base + offset + lead + value_start;
                out.push(Span::new(start, start + value.len()));
            }
        }
        offset += line.len();
    }
    out
}

/// Secret literal texts inside a value (`secret`: the value itself is a secret).
fn collect_secrets(v: &RbValue, secret: bool, out: &mut Vec<String>) {
    match v {
        RbValue::Array(items) => {
            for n in items {
                collect_secrets(&n.value, secret, out);
            }
        }
        RbValue::Hash(pairs) => {
            for p in pairs {
                let key_secret = secret || is_secret_name(&p.key.value.key_name());
                collect_secrets(&p.value.value, key_secret, out);
            }
        }
        RbValue::Nil | RbValue::Bool(_) => {}
        other if secret => {
            let text = other.to_ruby_s();
            for line in text.lines() {
                let line = line.trim();
                if !line.is_empty() {
                    out.push(line.to_string());
                }
            }
        }
        _ => {}
    }
}

/// Replace every secret text in `text` with the redaction marker. An occurrence inside a longer
/// word is left alone (the seed's example password `password` must not eat the key name
/// `email_smtp_password`); a secret standing alone, quoted or inside a URL is replaced.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = text.to_string();
    for s in secrets {
        if s.is_empty() || !out.contains(s.as_str()) {
            continue;
        }
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        let mut before: Option<char> = None;
        while let Some(i) = rest.find(s.as_str()) {
            let prev = rest[..i].chars().last().or(before);
            let next = rest[i + s.len()..].chars().next();
            let inside_word =
                (word(prev) && word(s.chars().next())) || (word(next) && word(s.chars().last()));
            result.push_str(&rest[..i]);
            if inside_word {
                result.push_str(s);
            } else {
                result.push_str(REDACTED);
            }
            before = s.chars().last();
            rest = &rest[i + s.len()..];
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// Scrub a diagnostic's message, label, hint and source line.
pub fn scrub_diagnostic(d: &mut Diagnostic, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    d.message = scrub(&d.message, secrets);
    d.label = d.label.as_deref().map(|l| scrub(l, secrets));
    d.hint = d.hint.as_deref().map(|h| scrub(h, secrets));
    if let Some(loc) = &mut d.location {
        loc.source_line = scrub(&loc.source_line, secrets);
    }
}

struct Parser<'a> {
    file: &'a SourceFile,
    toks: &'a [Token],
    /// `next_token[j]`: the first token at or after `j` that is not a newline (`toks.len()` if none).
    next_token: Vec<usize>,
    diagnostics: Diagnostics,
    settings: Vec<RbSetting>,
    unevaluated: Vec<RbUnevaluated>,
    /// Nesting of the value being parsed (arrays and hashes in arrays and hashes ...).
    depth: usize,
}

/// Deeper literals are kept unevaluated: no real gitlab.rb nests this far, and the recursion
/// must not overflow the stack on hostile input.
const MAX_NESTING: usize = 64;

fn is_separator(t: &Token) -> bool {
    matches!(t.tok, Tok::Newline | Tok::Punct(";"))
}

fn closer_of(open: &str) -> &'static str {
    match open {
        "[" => "]",
        "{" => "}",
        _ => ")",
    }
}

/// Whether a statement continues on the next line after this token (Ruby's rule: a line ending in
/// a binary operator, a comma, `=` or an opening bracket goes on).
fn continues_line(t: &Token) -> bool {
    match &t.tok {
        Tok::Punct(p) => matches!(*p, "," | "=" | "=>" | "(" | "[" | "{" | "." | "::"),
        Tok::Other(op) => {
            op.ends_with(['+', '-', '*', '/', '%', '<', '>', '=', '&', '|', '^', '~'])
        }
        Tok::Ident(w) => matches!(w.as_str(), "and" | "or" | "not"),
        _ => false,
    }
}

impl<'a> Parser<'a> {
    fn text(&self, span: Span) -> String {
        self.file.slice(span).to_string()
    }

    fn at_line_start(&self, t: &Token) -> bool {
        t.span.start == 0 || self.file.text().as_bytes().get(t.span.start - 1) == Some(&b'\n')
    }

    /// Split the token stream into statements and parse each.
    fn run(&mut self) {
        // Every statement first (brackets checked once), then blocks matched with their `end`
        // in one pass: a file of thousands of unclosed `if`s stays linear.
        let mut stmts: Vec<Vec<&'a Token>> = Vec::new();
        let mut i = 0;
        while let Some(stmt) = self.next_statement(&mut i) {
            stmts.push(stmt);
        }
        let close = block_ends(&stmts);
        let mut k = 0;
        while k < stmts.len() {
            let stmt = &stmts[k];
            // Conditionals, loops, definitions and `do ... end` blocks: keep the whole block.
            let opens_block = match &stmt[0].tok {
                Tok::Ident(w) => is_block_opener(w),
                _ => false,
            } || opens_do_block(stmt);
            if !opens_block {
                self.statement(stmt);
                k += 1;
                continue;
            }
            match close[k] {
                Some(j) => {
                    let start = stmt[0].span.start;
                    let end = stmts[k..=j]
                        .iter()
                        .flat_map(|s| s.iter().map(|t| t.extent_end()))
                        .max()
                        .unwrap_or(stmt[0].span.end);
                    self.keep_unevaluated(
                        Span::new(start, end),
                        true,
                        "conditional or block: the settings inside are not applied",
                    );
                    k = j + 1;
                }
                None => {
                    // No `end`: report the opener, keep only its own statement, parse on after it.
                    let kw_span = stmt[0].span;
                    let kw = self.text(kw_span);
                    self.report(Severity::Error, |this| {
                        Diagnostic::error("rb.syntax", "block without `end`")
                            .at(this.file, kw_span)
                            .with_label(format!("`{kw}` opened here and never closed"))
                            .with_hint("close the block with `end`")
                    });
                    let span = Self::stmt_span(stmt);
                    self.keep_unevaluated(span, true, "an unclosed block is not evaluated");
                    k += 1;
                }
            }
        }
    }

    /// The next non-empty statement from `*i` (separators skipped), advancing `*i` past it;
    /// `None` at the end of the file.
    fn next_statement(&mut self, i: &mut usize) -> Option<Vec<&'a Token>> {
        while *i < self.toks.len() {
            if is_separator(&self.toks[*i]) {
                *i += 1;
                continue;
            }
            let (stmt, next) = self.split_statement(*i);
            *i = next;
            if !stmt.is_empty() {
                return Some(stmt);
            }
        }
        None
    }

    /// The tokens of one statement from `start` (separators inside brackets dropped) and the index
    /// after it. Reports unbalanced brackets.
    fn split_statement(&mut self, start: usize) -> (Vec<&'a Token>, usize) {
        let toks = self.toks;
        let mut out: Vec<&'a Token> = Vec::new();
        let mut stack: Vec<&'a Token> = Vec::new();
        let mut j = start;
        while j < toks.len() {
            let t = &toks[j];
            if is_separator(t) {
                let next = self.next_token.get(j + 1).and_then(|&n| toks.get(n));
                if stack.is_empty() {
                    let cont = out.last().is_some_and(|l| continues_line(l))
                        || matches!(
                            next,
                            Some(Token {
                                tok: Tok::Punct("."),
                                ..
                            })
                        );
                    if !cont || matches!(t.tok, Tok::Punct(";")) {
                        return (out, j + 1);
                    }
                } else if let Some(n) = next
                    && self.at_line_start(n)
                    && matches!(n.tok, Tok::Ident(_) | Tok::Const(_))
                {
                    // Recovery: an unindented name on a new line starts a new statement, so an
                    // unclosed bracket cannot swallow the rest of the file.
                    for open in stack.drain(..) {
                        self.unclosed(open);
                    }
                    return (out, j + 1);
                }
                j += 1;
                continue;
            }
            match &t.tok {
                Tok::Punct(p @ ("[" | "{" | "(")) => {
                    let _ = p;
                    stack.push(t);
                }
                Tok::Punct(p @ ("]" | "}" | ")")) => match stack.last() {
                    Some(open) if closer_of(self.punct(open)) == *p => {
                        stack.pop();
                    }
                    Some(open) => {
                        let want = closer_of(self.punct(open));
                        self.report(Severity::Error, |this| {
                            Diagnostic::error("rb.syntax", format!("mismatched `{p}`"))
                                .at(this.file, t.span)
                                .with_label(format!("expected `{want}` here"))
                                .with_hint(format!(
                                    "the `{}` at {} is closed by `{want}`",
                                    this.punct(open),
                                    this.file.locate(open.span)
                                ))
                        });
                        stack.pop();
                    }
                    None => {
                        self.report(Severity::Error, |this| {
                            Diagnostic::error("rb.syntax", format!("unmatched `{p}`"))
                                .at(this.file, t.span)
                                .with_label("nothing to close here")
                                .with_hint("remove it or add the opening bracket")
                        });
                        j += 1;
                        continue;
                    }
                },
                _ => {}
            }
            out.push(t);
            j += 1;
        }
        for open in stack.drain(..) {
            self.unclosed(open);
        }
        (out, j)
    }

    /// Keep a diagnostic built by `build`, or only count it when the file already has the most
    /// kept (nothing is located or formatted then).
    fn report(&mut self, severity: Severity, build: impl FnOnce(&Self) -> Diagnostic) {
        if self.diagnostics.has_room(severity) {
            let d = build(self);
            self.diagnostics.push(d);
        } else {
            self.diagnostics.count_omitted(severity);
        }
    }

    fn punct(&self, t: &Token) -> &'static str {
        match t.tok {
            Tok::Punct(p) => p,
            _ => "",
        }
    }

    fn unclosed(&mut self, open: &Token) {
        let p = self.punct(open);
        self.report(Severity::Error, |this| {
            Diagnostic::error("rb.syntax", format!("unclosed `{p}`"))
                .at(this.file, open.span)
                .with_label("opened here and never closed")
                .with_hint(format!("add the matching `{}`", closer_of(p)))
        });
    }

    fn keep_unevaluated(&mut self, span: Span, whole_statement: bool, why: &str) {
        let text = self.text(span);
        // Quoted from the masked file (no secret in a message), at most a short first line.
        let mut head_end = span.end.min(span.start + 400);
        while !self.file.text().is_char_boundary(head_end) {
            head_end -= 1;
        }
        let mut shown = shorten(&self.file.masked_slice(Span::new(span.start, head_end)));
        if head_end < span.end && !shown.ends_with('…') {
            shown.push_str(" …");
        }
        let (code, message) = if whole_statement {
            (
                "rb.unevaluated-statement",
                format!("statement not evaluated: `{shown}`"),
            )
        } else {
            ("rb.unevaluated", format!("value not evaluated: `{shown}`"))
        };
        self.report(Severity::Warning, |this| {
            Diagnostic::warning(code, message)
                .at(this.file, span)
                .with_label(why.to_string())
                .with_hint(
                    "mm-harness reads literal values only; write the value out literally \
                     (a quoted string, number, true/false/nil, array or hash)",
                )
        });
        self.unevaluated.push(RbUnevaluated {
            text,
            span,
            whole_statement,
        });
    }

    fn stmt_span(stmt: &[&Token]) -> Span {
        let start = stmt[0].span.start;
        let end = stmt.iter().map(|t| t.extent_end()).max().unwrap_or(start);
        Span::new(start, end)
    }

    fn statement(&mut self, stmt: &[&'a Token]) {
        let span = Self::stmt_span(stmt);
        if let Some(why) = self.try_index_assignment(stmt, span) {
            self.keep_unevaluated(span, true, why);
        }
    }

    /// Parse `root['k']... = value` or `name value`; returns why not when the statement is kept
    /// unevaluated. Settings are recorded directly.
    fn try_index_assignment(&mut self, stmt: &[&'a Token], span: Span) -> Option<&'static str> {
        let Tok::Ident(root) = &stmt[0].tok else {
            return Some("not a setting: gitlab.rb settings start with a lower-case name");
        };
        if is_keyword(root) {
            return Some("Ruby code, not a setting");
        }
        let adjacent_index = stmt
            .get(1)
            .is_some_and(|t| t.tok == Tok::Punct("[") && t.span.start == stmt[0].span.end);
        if !adjacent_index {
            if stmt.get(1).is_some_and(|t| t.tok == Tok::Punct("=")) {
                return Some(
                    "assigns a Ruby local variable, which omnibus never reads (a setting is `name 'value'` or `name['key'] = value`)",
                );
            }
            return self.try_method_call(stmt, span);
        }
        // root['k1']['k2'] ... = value
        let mut keys = Vec::new();
        let mut key_spans = Vec::new();
        let mut i = 1;
        while stmt.get(i).is_some_and(|t| t.tok == Tok::Punct("[")) {
            let key = match (stmt.get(i + 1), stmt.get(i + 2)) {
                (Some(k), Some(close)) if close.tok == Tok::Punct("]") => match &k.tok {
                    Tok::Str {
                        value,
                        interpolated: false,
                        ..
                    }
                    | Tok::Symbol(value) => (value.clone(), k.span),
                    _ => return Some("the index is not a literal string or symbol"),
                },
                _ => return Some("the index is not a literal string or symbol"),
            };
            keys.push(key.0);
            key_spans.push(key.1);
            i += 3;
        }
        let target_span = Span::new(stmt[0].span.start, stmt[i - 1].span.end);
        match stmt.get(i) {
            Some(t) if t.tok == Tok::Punct("=") => {}
            Some(_) => return Some("not an assignment of a literal (`root['key'] = value`)"),
            None => return Some("an index without an assignment does nothing"),
        }
        let rest = &stmt[i + 1..];
        if rest.is_empty() {
            self.report(Severity::Error, |this| {
                Diagnostic::error("rb.syntax", "missing value after `=`")
                    .at(this.file, stmt[i].span)
                    .with_label("nothing is assigned")
                    .with_hint("write a value, e.g. `= true` or `= \"text\"`")
            });
            return None;
        }
        // `a['x'] = b['y'] = v` (Ruby's chained assignment; often a value left out at the end of
        // a line, so the next line's assignment becomes this one's value).
        let chained = matches!(rest[0].tok, Tok::Ident(_))
            && rest
                .get(1)
                .is_some_and(|t| t.tok == Tok::Punct("[") && t.span.start == rest[0].span.end)
            && split_top_level(rest, "=").len() > 1
            && self.depth < MAX_NESTING;
        if chained {
            let inner_span = Self::stmt_span(rest);
            let before = self.settings.len();
            self.depth += 1;
            let why = self.try_index_assignment(rest, inner_span);
            self.depth -= 1;
            if let Some(why) = why {
                self.keep_unevaluated(inner_span, true, why);
            }
            let inner = (self.settings.len() > before)
                .then(|| self.settings.last().cloned())
                .flatten();
            let eq = stmt[i];
            let dangling = self.file.text()[eq.span.end..rest[0].span.start].contains('\n');
            if dangling && let Some(inner) = &inner {
                let inner_target = inner.target.to_string();
                let outer_target = format!("{root}{}", {
                    let mut k = String::new();
                    for key in &keys {
                        k.push_str(&format!("['{key}']"));
                    }
                    k
                });
                self.report(Severity::Warning, |this| {
                    Diagnostic::warning(
                        "rb.chained-assignment",
                        format!("`{outer_target}` takes its value from the next line"),
                    )
                    .at(this.file, eq.span)
                    .with_label(format!(
                        "nothing follows `=`, so Ruby reads `{outer_target} = {inner_target} = ...`"
                    ))
                    .with_hint("write the value after `=` on this line, or delete the line")
                });
            }
            let value = match inner {
                Some(inner) => inner.value,
                None => RbNode {
                    value: RbValue::Unevaluated(self.text(inner_span)),
                    span: inner_span,
                },
            };
            self.settings.push(RbSetting {
                target: SettingTarget::Index {
                    root: root.clone(),
                    keys,
                },
                key_spans,
                target_span,
                value,
                span,
            });
            return None;
        }
        let value = self.value(rest);
        self.settings.push(RbSetting {
            target: SettingTarget::Index {
                root: root.clone(),
                keys,
            },
            key_spans,
            target_span,
            value,
            span,
        });
        None
    }

    /// `name literal` or `name(literal)`.
    fn try_method_call(&mut self, stmt: &[&'a Token], span: Span) -> Option<&'static str> {
        let Tok::Ident(name) = &stmt[0].tok else {
            return Some("not a setting");
        };
        let args: &[&'a Token] = if stmt.len() >= 3
            && stmt[1].tok == Tok::Punct("(")
            && stmt[1].span.start == stmt[0].span.end
            && stmt.last().is_some_and(|t| t.tok == Tok::Punct(")"))
            && matching_close(&stmt[1..]) == Some(stmt.len() - 2)
        {
            &stmt[2..stmt.len() - 1]
        } else {
            &stmt[1..]
        };
        if args.is_empty() {
            return Some("a bare name is not a setting");
        }
        let literal_start = match &args[0].tok {
            Tok::Str { .. }
            | Tok::Int(_)
            | Tok::Float(_)
            | Tok::Symbol(_)
            | Tok::Words { .. }
            | Tok::Punct("[" | "{" | "(") => true,
            Tok::Ident(w) => matches!(w.as_str(), "true" | "false" | "nil"),
            Tok::Other(op) => op == "-",
            _ => false,
        };
        if !literal_start {
            return Some("not a setting: a call whose argument is not a literal");
        }
        if split_top_level(args, ",").len() > 1 {
            return Some("a call with several arguments is not a setting");
        }
        let value = self.value(args);
        self.settings.push(RbSetting {
            target: SettingTarget::Method { name: name.clone() },
            key_spans: Vec::new(),
            target_span: stmt[0].span,
            value,
            span,
        });
        None
    }

    /// A value from its tokens; anything but a literal is kept as [`RbValue::Unevaluated`].
    fn value(&mut self, ts: &[&'a Token]) -> RbNode {
        let span = Self::stmt_span(ts);
        let parsed = if self.depth >= MAX_NESTING {
            Err("nested too deeply to read")
        } else {
            self.depth += 1;
            let v = self.literal(ts, span);
            self.depth -= 1;
            v
        };
        match parsed {
            Ok(v) => RbNode { value: v, span },
            Err(why) => {
                self.keep_unevaluated(span, false, why);
                RbNode {
                    value: RbValue::Unevaluated(self.text(span)),
                    span,
                }
            }
        }
    }

    fn literal(&mut self, ts: &[&'a Token], span: Span) -> Result<RbValue, &'static str> {
        if ts.len() == 1 {
            return match &ts[0].tok {
                Tok::Str {
                    value,
                    interpolated,
                    ..
                } => {
                    if *interpolated {
                        Err("string interpolation `#{...}` is Ruby code and is not evaluated")
                    } else {
                        Ok(RbValue::Str(value.clone()))
                    }
                }
                Tok::Int(i) => Ok(RbValue::Int(*i)),
                Tok::Float(f) => Ok(RbValue::Float(*f)),
                Tok::Symbol(s) => Ok(RbValue::Symbol(s.clone())),
                Tok::Words { words, symbols } => Ok(RbValue::Array(
                    words
                        .iter()
                        .map(|w| RbNode {
                            value: if *symbols {
                                RbValue::Symbol(w.clone())
                            } else {
                                RbValue::Str(w.clone())
                            },
                            span,
                        })
                        .collect(),
                )),
                Tok::Ident(w) if w == "true" => Ok(RbValue::Bool(true)),
                Tok::Ident(w) if w == "false" => Ok(RbValue::Bool(false)),
                Tok::Ident(w) if w == "nil" => Ok(RbValue::Nil),
                Tok::Const(_) => Err("a constant is Ruby code and is not evaluated"),
                _ => Err("not a literal"),
            };
        }
        if ts.len() == 2
            && ts[0].tok == Tok::Other("-".into())
            && ts[0].span.end == ts[1].span.start
        {
            match ts[1].tok {
                Tok::Int(i) => return Ok(RbValue::Int(-i)),
                Tok::Float(f) => return Ok(RbValue::Float(-f)),
                _ => {}
            }
        }
        let Tok::Punct(open @ ("[" | "{" | "(")) = ts[0].tok else {
            return Err(
                if ts
                    .iter()
                    .any(|t| matches!(&t.tok, Tok::Const(c) if c == "ENV"))
                {
                    "`ENV[...]` is read when omnibus runs, not by mm-harness"
                } else if ts.iter().any(|t| t.tok == Tok::Punct(".")) {
                    "a method call is Ruby code and is not evaluated"
                } else {
                    "not a literal"
                },
            );
        };
        if matching_close(ts) != Some(ts.len() - 1) {
            return Err("an expression around a bracketed value is not evaluated");
        }
        let inner = &ts[1..ts.len() - 1];
        match open {
            "(" => {
                if inner.is_empty() {
                    return Ok(RbValue::Nil);
                }
                Ok(self.value(inner).value)
            }
            "[" => {
                let mut items = Vec::new();
                for part in split_top_level(inner, ",") {
                    if part.is_empty() {
                        continue; // trailing comma
                    }
                    items.push(self.value(part));
                }
                Ok(RbValue::Array(items))
            }
            _ => {
                let mut pairs = Vec::new();
                for part in split_top_level(inner, ",") {
                    if part.is_empty() {
                        continue;
                    }
                    pairs.push(self.hash_entry(part)?);
                }
                Ok(RbValue::Hash(pairs))
            }
        }
    }

    fn hash_entry(&mut self, part: &[&'a Token]) -> Result<RbPair, &'static str> {
        // `key: value`
        if let Tok::Label(name) = &part[0].tok {
            if part.len() < 2 {
                return Err("a hash entry without a value");
            }
            let key = RbNode {
                value: RbValue::Symbol(name.clone()),
                span: Span::new(part[0].span.start, part[0].span.end - 1),
            };
            return Ok(RbPair {
                key,
                value: self.value(&part[1..]),
            });
        }
        // `'key': value`
        if part.len() >= 3
            && matches!(part[0].tok, Tok::Str { .. })
            && part[1].tok == Tok::Punct(":")
            && part[1].span.start == part[0].span.end
        {
            let key = match self.value(&part[..1]).value {
                RbValue::Str(s) => RbValue::Symbol(s),
                other => other,
            };
            return Ok(RbPair {
                key: RbNode {
                    value: key,
                    span: part[0].span,
                },
                value: self.value(&part[2..]),
            });
        }
        let arrow = split_top_level(part, "=>");
        if arrow.len() == 2 && !arrow[0].is_empty() && arrow[1].is_empty() {
            // `"key" =>` then `,` or the closing bracket: Ruby refuses to load the file.
            let arrow_tok = part[arrow[0].len()];
            self.report(Severity::Error, |this| {
                Diagnostic::error("rb.syntax", "missing value after `=>`")
                    .at(this.file, arrow_tok.span)
                    .with_label("this hash entry has no value")
                    .with_hint("write the value after `=>` (a commented-out value leaves none), or delete the entry")
            });
            return Err("a hash entry without a value");
        }
        if arrow.len() != 2 || arrow[0].is_empty() || arrow[1].is_empty() {
            return Err("a hash entry is not `key => value` or `key: value`");
        }
        Ok(RbPair {
            key: self.value(arrow[0]),
            value: self.value(arrow[1]),
        })
    }
}

/// For each statement, the index of the statement whose `end` closes the block it opens (the
/// first later statement where the running opener/`end` balance falls back to where it was
/// before it), or `None` when no `end` ever does. One right-to-left pass with a monotonic stack.
fn block_ends(stmts: &[Vec<&Token>]) -> Vec<Option<usize>> {
    let net = |stmt: &[&Token]| -> isize {
        let lead = match &stmt[0].tok {
            Tok::Ident(w) => isize::from(is_block_opener(w)),
            _ => 0,
        };
        let ends = isize::from(matches!(&stmt[0].tok, Tok::Ident(w) if w == "end"));
        lead + isize::from(opens_do_block(stmt)) - ends
    };
    // q[m]: the balance before statement m (q[0] = 0); statement k closes where the balance
    // first returns to q[k] or below: the first m > k with q[m] <= q[k], statement m - 1.
    let mut q = Vec::with_capacity(stmts.len() + 1);
    q.push(0isize);
    for s in stmts {
        let last = *q.last().unwrap_or(&0);
        q.push(last + net(s.as_slice()));
    }
    let mut out = vec![None; stmts.len()];
    let mut stack: Vec<usize> = Vec::new();
    for m in (0..q.len()).rev() {
        while stack.last().is_some_and(|&top| q[top] > q[m]) {
            stack.pop();
        }
        if m < stmts.len() {
            out[m] = stack.last().map(|&top| top - 1);
        }
        stack.push(m);
    }
    out
}

/// `foo do` / `foo do |x|`: a statement opening a `do ... end` block.
fn opens_do_block(stmt: &[&Token]) -> bool {
    stmt.iter().enumerate().any(|(i, t)| {
        matches!(&t.tok, Tok::Ident(w) if w == "do")
            && match stmt.get(i + 1) {
                None => true,
                Some(n) => matches!(&n.tok, Tok::Other(op) if op.starts_with('|')),
            }
    })
}

/// Index of the bracket closing `ts[0]`, if `ts[0]` is an opening bracket.
fn matching_close(ts: &[&Token]) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in ts.iter().enumerate() {
        match t.tok {
            Tok::Punct("[" | "{" | "(") => depth += 1,
            Tok::Punct("]" | "}" | ")") => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Split at `sep` tokens outside brackets.
fn split_top_level<'t, 'a>(ts: &'t [&'a Token], sep: &str) -> Vec<&'t [&'a Token]> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, t) in ts.iter().enumerate() {
        match t.tok {
            Tok::Punct("[" | "{" | "(") => depth += 1,
            Tok::Punct("]" | "}" | ")") => depth = depth.saturating_sub(1),
            Tok::Punct(p) if depth == 0 && p == sep => {
                parts.push(&ts[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&ts[start..]);
    parts
}

/// One line of at most 60 characters for messages.
fn shorten(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(60).collect();
    if out.len() < first.len() || text.lines().nth(1).is_some() {
        out.push_str(" …");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Severity;

    fn parse(text: &str) -> RbDocument {
        parse_gitlab_rb(&SourceFile::new("gitlab.rb", text))
    }

    /// The single setting of a one-statement file, asserting no diagnostics.
    fn one(text: &str) -> RbSetting {
        let doc = parse(text);
        assert!(
            doc.diagnostics().is_empty(),
            "{text}: {:?}",
            doc.diagnostics()
        );
        assert_eq!(doc.settings().len(), 1, "{text}");
        doc.settings()[0].clone()
    }

    fn value(text: &str) -> RbValue {
        one(&format!("x['k'] = {text}\n")).value.value
    }

    fn s(v: &str) -> RbValue {
        RbValue::Str(v.into())
    }

    #[test]
    fn method_call_settings() {
        let st = one("external_url 'http://gitlab.example.com'\n");
        assert_eq!(
            st.target,
            SettingTarget::Method {
                name: "external_url".into()
            }
        );
        assert_eq!(st.value.value, s("http://gitlab.example.com"));
        let st = one("mattermost_external_url \"https://mm.example.com\"");
        assert_eq!(st.target.to_string(), "mattermost_external_url");
        let st = one("external_url('http://x')\n");
        assert_eq!(st.value.value, s("http://x"));
        let st = one("roles ['redis_sentinel_role', 'redis_master_role']\n");
        assert!(matches!(st.value.value, RbValue::Array(ref a) if a.len() == 2));
        let st = one(
            "git_data_dirs({\n  \"default\" => {\n    \"path\" => \"/mnt/nfs-01/git-data\"\n   }\n})\n",
        );
        assert!(matches!(st.value.value, RbValue::Hash(ref h) if h.len() == 1));
    }

    #[test]
    fn index_assignments_and_nesting() {
        let st = one("mattermost['gitlab_enable'] = true\n");
        assert_eq!(st.target.root(), "mattermost");
        assert_eq!(st.target.keys(), ["gitlab_enable"]);
        assert_eq!(st.value.value, RbValue::Bool(true));
        let st = one("gitlab_rails['env']['X'] = \"y\"\n");
        assert_eq!(st.target.keys(), ["env", "X"]);
        assert_eq!(st.target.to_string(), "gitlab_rails['env']['X']");
        let st = one("nginx[:listen_port] = 8080\n");
        assert_eq!(st.target.keys(), ["listen_port"]);
        let st = one("mattermost[\"gitlab_id\"]=\"12\"");
        assert_eq!(st.value.value, s("12"));
    }

    #[test]
    fn string_escapes() {
        assert_eq!(value(r#""a\tb\nc\\d\"e\#{f}""#), s("a\tb\nc\\d\"e#{f}"));
        assert_eq!(
            value(r#""\u00e9\u{1F600 41}\x41\101\s\e""#),
            s("é😀AAA \u{1b}")
        );
        assert_eq!(value(r"'it\'s a \\ and \n'"), s("it's a \\ and \\n"));
        assert_eq!(value("'multi\nline'"), s("multi\nline"));
        assert_eq!(value("\"\""), s(""));
    }

    #[test]
    fn numbers_and_keywords() {
        assert_eq!(value("42"), RbValue::Int(42));
        assert_eq!(value("-1"), RbValue::Int(-1));
        assert_eq!(value("52_428_800"), RbValue::Int(52428800));
        assert_eq!(value("0x1F"), RbValue::Int(31));
        assert_eq!(value("1.5"), RbValue::Float(1.5));
        assert_eq!(value("-2.5e3"), RbValue::Float(-2500.0));
        assert_eq!(value("true"), RbValue::Bool(true));
        assert_eq!(value("false"), RbValue::Bool(false));
        assert_eq!(value("nil"), RbValue::Nil);
        assert_eq!(value(":plain"), RbValue::Symbol("plain".into()));
        assert_eq!(
            value(":\"quoted sym\""),
            RbValue::Symbol("quoted sym".into())
        );
    }

    #[test]
    fn arrays_hashes_and_word_lists() {
        let RbValue::Array(items) = value("[1, 'two', [3], ]") else {
            panic!()
        };
        assert_eq!(items.len(), 3);
        let RbValue::Array(words) = value("%w(gitlab-psql postgres pgbouncer)") else {
            panic!()
        };
        assert_eq!(words[1].value, s("postgres"));
        assert_eq!(value("%q(it's raw)"), s("it's raw"));
        assert_eq!(value("%Q[plain]"), s("plain"));
        let RbValue::Array(syms) = value("%i[a b]") else {
            panic!()
        };
        assert_eq!(syms[0].value, RbValue::Symbol("a".into()));
        let RbValue::Hash(pairs) = value("{ 'k' => 1, k2: 'v', 'k3': nil, :k4 => [true] }") else {
            panic!()
        };
        let keys: Vec<_> = pairs.iter().map(|p| p.key.value.key_name()).collect();
        assert_eq!(keys, ["k", "k2", "k3", "k4"]);
        assert_eq!(pairs[2].key.value, RbValue::Symbol("k3".into()));
        assert_eq!(value("{}"), RbValue::Hash(vec![]));
        assert_eq!(value("[]"), RbValue::Array(vec![]));
    }

    #[test]
    fn comments_and_multi_line_values() {
        let doc = parse(
            "# a comment\nmattermost['env'] = { # trailing\n  'A' => 'b', # more\n  # 'C' => 'd',\n  'E' =>\n    'f'\n}\n=begin\nmattermost['x'] = 1\n=end\nnginx['enable'] = \\\n  false\n",
        );
        assert!(doc.diagnostics().is_empty(), "{:?}", doc.diagnostics());
        assert_eq!(doc.settings().len(), 2);
        let RbValue::Hash(pairs) = &doc.settings()[0].value.value else {
            panic!()
        };
        assert_eq!(pairs.len(), 2);
        assert_eq!(doc.locate(doc.settings()[0].span).end_line, 7);
        assert_eq!(doc.settings()[1].value.value, RbValue::Bool(false));
        assert_eq!(doc.locate(doc.settings()[1].span).line, 11);
    }

    #[test]
    fn positions_point_at_values() {
        let doc = parse("\n\n  mattermost['gitlab_id'] = \"x\"\n");
        let st = &doc.settings()[0];
        let loc = doc.locate(st.value.span);
        assert_eq!((loc.line, loc.column), (3, 29));
        let key = doc.locate(st.key_spans[0]);
        assert_eq!((key.line, key.column), (3, 14));
    }

    #[test]
    fn unevaluated_expressions_are_kept_and_warned() {
        let cases = [
            (
                "x['k'] = \"http://#{node['fqdn']}\"\n",
                "rb.unevaluated",
                "interpolation",
            ),
            ("x['k'] = ENV['SECRET']\n", "rb.unevaluated", "ENV"),
            (
                "x['k'] = File.read('/etc/x')\n",
                "rb.unevaluated",
                "method call",
            ),
            ("x['k'] = 'a' + 'b'\n", "rb.unevaluated", "not a literal"),
            (
                "x['k'] = YAML.load <<-'EOS'\n  a: 1\nEOS\n",
                "rb.unevaluated",
                "method call",
            ),
            (
                "if node['x']\n  x['k'] = 1\nend\n",
                "rb.unevaluated-statement",
                "conditional",
            ),
            (
                "[1, 2].each do |i|\n  x[i] = 1\nend\n",
                "rb.unevaluated-statement",
                "conditional or block",
            ),
            ("x['k'] ||= 1\n", "rb.unevaluated-statement", "assignment"),
            ("x[key] = 1\n", "rb.unevaluated-statement", "literal string"),
            ("puts 'hello'\n", "rb.unevaluated-statement", "Ruby code"),
        ];
        for (text, code, why) in cases {
            let doc = parse(text);
            assert!(!doc.has_errors(), "{text}: {:?}", doc.diagnostics());
            let d = doc
                .diagnostics()
                .iter()
                .find(|d| d.code == code)
                .unwrap_or_else(|| panic!("{text}: {:?}", doc.diagnostics()));
            assert_eq!(d.severity, Severity::Warning);
            assert!(
                d.label.as_deref().unwrap_or("").contains(why),
                "{text}: {:?}",
                d.label
            );
            assert_eq!(
                doc.unevaluated().len(),
                1,
                "{text}: {:?}",
                doc.unevaluated()
            );
            assert_eq!(d.location.as_ref().map(|l| l.line), Some(1), "{text}");
        }
        // The statement after a block is parsed again.
        let doc = parse("if x\n  a['b'] = 1\nend\nmattermost['gitlab_id'] = 'id'\n");
        assert_eq!(doc.settings().len(), 1);
        assert_eq!(doc.unevaluated()[0].text, "if x\n  a['b'] = 1\nend");
        // A heredoc value spans its body.
        let doc = parse("x['k'] = YAML.load <<-'EOS'\n  a: 1\n  EOS\ny['z'] = 2\n");
        assert_eq!(doc.locate(doc.settings()[0].span).end_line, 3);
        assert_eq!(doc.settings()[1].value.value, RbValue::Int(2));
    }

    #[test]
    fn syntax_errors_are_located_and_recovered() {
        let doc = parse("x['a'] = \"open\ny['b'] = 2\n");
        assert!(doc.has_errors());
        let e = &doc.diagnostics()[0];
        assert_eq!(e.message, "unterminated string");
        assert_eq!(
            e.location.as_ref().map(|l| (l.line, l.column)),
            Some((1, 10))
        );
        assert_eq!(
            doc.get("y", &["b"]).map(|s| &s.value.value),
            Some(&RbValue::Int(2))
        );

        let doc = parse("x['a'] = [1, 2\ny['b'] = 3\n");
        assert_eq!(doc.diagnostics()[0].message, "unclosed `[`");
        assert_eq!(
            doc.get("y", &["b"]).map(|s| &s.value.value),
            Some(&RbValue::Int(3))
        );

        let doc = parse("x['a'] = 1)\n");
        assert_eq!(doc.diagnostics()[0].message, "unmatched `)`");
        let doc = parse("x['a'] = (1]\n");
        assert_eq!(doc.diagnostics()[0].message, "mismatched `]`");
        let doc = parse("x['a'] =");
        assert_eq!(doc.diagnostics()[0].message, "missing value after `=`");
        let doc = parse("x['a'] = <<EOS\nbody\n");
        assert_eq!(doc.diagnostics()[0].message, "unterminated heredoc");
        let doc = parse("if x\n  y['a'] = 1\n");
        assert_eq!(doc.diagnostics()[0].message, "block without `end`");
        assert_eq!(
            doc.settings().len(),
            1,
            "the body is parsed after an unclosed block"
        );
        let doc = parse("x['a'] = \"\\u{zz}\"\n");
        assert_eq!(doc.diagnostics()[0].message, "invalid unicode escape");
    }

    #[test]
    fn secrets_are_scrubbed_from_diagnostics() {
        let doc = parse(
            "mattermost['gitlab_secret'] = 'hunter2'; oops(\nmattermost['email_smtp_password'] = ['pw-x'] + 1\n",
        );
        assert!(doc.secret_values().iter().any(|v| v == "hunter2"));
        for d in doc.diagnostics() {
            let text = d.render();
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert_eq!(
            scrub(
                "password email_smtp_password \"password\"",
                &["password".into()]
            ),
            format!("{REDACTED} email_smtp_password \"{REDACTED}\"")
        );
    }

    #[test]
    fn crlf_and_byte_order_mark() {
        let doc = parse(
            "\u{feff}external_url 'http://x'\r\nmattermost['a'] = <<-EOS\r\n  b\r\n  EOS\r\n",
        );
        assert!(doc.diagnostics().is_empty(), "{:?}", doc.diagnostics());
        assert_eq!(doc.settings()[0].target.to_string(), "external_url");
        assert_eq!(doc.settings()[1].value.value, s("  b\n"));
    }

    #[test]
    fn deep_nesting_is_kept_not_overflowed() {
        let deep = format!("x['k'] = {}1{}\n", "[".repeat(20_000), "]".repeat(20_000));
        let doc = parse(&deep);
        assert!(!doc.has_errors());
        assert!(doc.settings()[0].value.value.has_unevaluated());
        assert!(
            doc.diagnostics()
                .iter()
                .any(|d| d.label.as_deref() == Some("nested too deeply to read"))
        );
    }

    #[test]
    fn later_settings_win_in_get() {
        let doc = parse("a['b'] = 1\na['b'] = 2\n");
        assert_eq!(
            doc.get("a", &["b"]).map(|s| &s.value.value),
            Some(&RbValue::Int(2))
        );
        assert!(doc.get("a", &["c"]).is_none());
    }

    #[test]
    fn ruby_to_s_and_inspect() {
        assert_eq!(RbValue::Nil.to_ruby_s(), "");
        assert_eq!(RbValue::Bool(true).to_ruby_s(), "true");
        assert_eq!(RbValue::Float(2.0).inspect(), "2.0");
        assert_eq!(value("[1, 'a', :b, nil]").inspect(), "[1, \"a\", :b, nil]");
        assert_eq!(value("{'k' => true}").inspect(), "{\"k\"=>true}");
    }

    #[test]
    fn lower_case_heredoc_tags_are_heredocs() {
        for (text, tag) in [
            (
                "x['ldap_servers'] = YAML.load <<-eos\n  main:\n    password: 'hunter2'\neos\n",
                "-eos",
            ),
            (
                "x['ldap_servers'] = YAML.load <<~eos\n  main:\n    password: 'hunter2'\n  eos\n",
                "~eos",
            ),
            (
                "x['ldap_servers'] = YAML.load <<EOS\n  main:\n    password: 'hunter2'\nEOS\n",
                "EOS",
            ),
            (
                "x['ldap_servers'] = <<eos\n  main:\n    password: 'hunter2'\neos\n",
                "eos",
            ),
        ] {
            let doc = parse(text);
            assert!(!doc.has_errors(), "{tag}: {:?}", doc.diagnostics());
            // One setting, one warning (the YAML.load call or none): the body is no statement.
            assert_eq!(doc.settings().len(), 1, "{tag}: {:?}", doc.diagnostics());
            assert!(
                doc.diagnostics().len() <= 1,
                "{tag}: {:?}",
                doc.diagnostics()
            );
            for d in doc.diagnostics() {
                assert!(!d.render().contains("hunter2"), "{tag}: {}", d.render());
            }
        }
        // `a << b` stays an operator.
        let doc = parse("x['k'] = a << b\n");
        assert!(!doc.has_errors(), "{:?}", doc.diagnostics());
    }

    #[test]
    fn every_ruby_integer_form() {
        assert_eq!(value("0644"), RbValue::Int(420));
        assert_eq!(value("0o644"), RbValue::Int(420));
        assert_eq!(value("0O17"), RbValue::Int(15));
        assert_eq!(value("0_644"), RbValue::Int(420));
        assert_eq!(value("0x1F"), RbValue::Int(31));
        assert_eq!(value("0Xff_ff"), RbValue::Int(65535));
        assert_eq!(value("0b1010"), RbValue::Int(10));
        assert_eq!(value("0d99"), RbValue::Int(99));
        assert_eq!(value("1_000_000"), RbValue::Int(1_000_000));
        assert_eq!(value("0"), RbValue::Int(0));
        assert_eq!(value("-0644"), RbValue::Int(-420));
        assert_eq!(value("0.5"), RbValue::Float(0.5));
        assert_eq!(value("1_0.2_5"), RbValue::Float(10.25));
        for bad in ["09", "0b102", "0x", "1__0", "1_", "0o8", "0x_1"] {
            let doc = parse(&format!("x['k'] = {bad}\n"));
            assert!(doc.has_errors(), "{bad}: {:?}", doc.diagnostics());
            assert!(
                doc.diagnostics()[0].message.starts_with("invalid number"),
                "{bad}: {:?}",
                doc.diagnostics()
            );
        }
    }

    #[test]
    fn a_hash_entry_without_a_value_is_a_syntax_error() {
        let doc = parse(
            "x['p'] = [\n  {\n    \"name\" => \"twitter\",\n    \"app_secret\" => \n    #\"args\" => { }\n  }\n]\n",
        );
        assert!(doc.has_errors(), "{:?}", doc.diagnostics());
        let e = doc
            .diagnostics()
            .iter()
            .find(|d| d.severity == Severity::Error)
            .expect("an error");
        assert_eq!(e.message, "missing value after `=>`");
        assert_eq!(
            e.location.as_ref().map(|l| (l.line, l.column)),
            Some((4, 18))
        );
    }

    #[test]
    fn a_dangling_equals_takes_the_next_line_as_its_value() {
        let doc = parse("x['smtp_password'] = \nx['smtp_domain'] = \"mail.example.com\"\n");
        assert!(!doc.has_errors(), "{:?}", doc.diagnostics());
        assert_eq!(
            doc.get("x", &["smtp_domain"]).map(|s| &s.value.value),
            Some(&s("mail.example.com"))
        );
        assert_eq!(
            doc.get("x", &["smtp_password"]).map(|s| &s.value.value),
            Some(&s("mail.example.com"))
        );
        let w = doc
            .diagnostics()
            .iter()
            .find(|d| d.code == "rb.chained-assignment")
            .expect("a warning");
        assert_eq!(w.location.as_ref().map(|l| l.line), Some(1));
    }

    #[test]
    fn a_local_variable_is_named_as_such() {
        let doc = parse("pages_external_url = nil\n");
        let d = &doc.diagnostics()[0];
        assert_eq!(d.code, "rb.unevaluated-statement");
        assert!(
            d.label.as_deref().unwrap_or("").contains("local variable"),
            "{:?}",
            d.label
        );
    }

    #[test]
    fn secrets_are_masked_where_they_are_shown_not_everywhere() {
        // The password is `gitlab`: labels and names holding the word stay readable.
        let doc = parse(
            "gitlab_rails['smtp_password'] = 'gitlab'; oops(\ngitlab_rails['smtp_user_name'] = 'gitlab@example.com'\n",
        );
        let all: String = doc.diagnostics().iter().map(|d| d.render()).collect();
        assert!(
            all.contains("gitlab_rails['smtp_password'] = '******'"),
            "{all}"
        );
        // A URL's password and a YAML password inside a heredoc are masked too.
        let doc = parse(
            "x['u'] = 'https://user:pa55@h.example.com/x' + 1\nx['l'] = YAML.load <<-eos\n  password: 'hunter2'\n  bind_dn: 'cn=x'\neos\n",
        );
        assert_eq!(doc.file().masks().len(), 2, "{:?}", doc.file().masks());
        let all: String = doc.diagnostics().iter().map(|d| d.render()).collect();
        assert!(all.contains("https://user:****@h.example.com/x"), "{all}");
        assert!(!all.contains("pa55") && !all.contains("hunter2"), "{all}");
    }
}
