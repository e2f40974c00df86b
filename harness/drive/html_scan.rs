//! The bounds of a page before it is parsed: at most [`MAX_HTML_BYTES`] bytes and at most
//! [`MAX_DEPTH`] nested elements, told by one linear pass over the raw text. html5ever builds its
//! tree without recursion, but its scope checks walk the stack of open elements for each tag, so
//! a page nested 200,000 deep costs time quadratic in its size (and, before this scan, crashed the
//! recursive text collection); refusing it before the parser runs keeps the work linear.
//!
//! The scan follows the HTML tokenizer closely enough to give an upper bound of the depth
//! html5ever builds: start tags push (void elements, self-closing tags in SVG/MathML and the
//! contents of raw-text elements such as `<script>` do not), an end tag pops only when it matches
//! the innermost open element, or when only elements whose end tag is optional (`p`, `li`, `td`…)
//! stand above the one it names. Wherever the tree builder closes more than that (implied end
//! tags, foster parenting, breaking out of SVG), the scan counts more, never less. A well-formed
//! page is counted exactly; GitLab's and Mattermost's pages nest 20 to 40 deep.

/// The deepest nesting of elements a page may have (counted as above).
pub const MAX_DEPTH: usize = 512;

/// The largest page parsed: the body cap (no driver reads a longer answer).
pub const MAX_HTML_BYTES: usize = super::http::BODY_CAP;

/// Why a page is refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HtmlLimit {
    /// Longer than [`MAX_HTML_BYTES`].
    TooLarge { bytes: usize },
    /// More than [`MAX_DEPTH`] elements open at once, first at this 1-based line.
    TooDeep { line: usize },
}

impl std::fmt::Display for HtmlLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HtmlLimit::TooLarge { bytes } => write!(
                f,
                "is {bytes} bytes long; the harness parses pages of at most {MAX_HTML_BYTES} bytes"
            ),
            HtmlLimit::TooDeep { line } => write!(
                f,
                "nests elements more than {MAX_DEPTH} deep (line {line}); the harness refuses \
                 deeper pages before parsing them"
            ),
        }
    }
}

/// Elements with no content and no end tag.
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
    "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// Elements whose end tag may be left out: an end tag of an enclosing element closes them.
const OPTIONAL_END: &[&str] = &[
    "p", "li", "dt", "dd", "option", "optgroup", "rb", "rp", "rt", "rtc", "td", "th", "tr",
    "tbody", "thead", "tfoot", "caption", "colgroup",
];

/// Start tags that leave SVG or MathML for HTML (the tree builder's "breakout" list).
const BREAKOUT: &[&str] = &[
    "b",
    "big",
    "blockquote",
    "body",
    "br",
    "center",
    "code",
    "dd",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "i",
    "img",
    "li",
    "listing",
    "menu",
    "meta",
    "nobr",
    "ol",
    "p",
    "pre",
    "ruby",
    "s",
    "small",
    "span",
    "strong",
    "strike",
    "sub",
    "sup",
    "table",
    "tt",
    "u",
    "ul",
    "var",
];

/// SVG and MathML elements whose children are HTML again.
const INTEGRATION_POINTS: &[&str] = &[
    "foreignobject",
    "desc",
    "title",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "annotation-xml",
];

/// Elements whose content is text up to their end tag (with scripting on, as scraper parses).
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
];

/// Inside `<select>`, only these start a raw-text element (the others are ignored there).
const RAW_TEXT_IN_SELECT: &[&str] = &["script", "textarea"];

#[derive(Debug)]
struct Open {
    name: String,
    /// An SVG/MathML element.
    foreign: bool,
    /// An SVG/MathML element whose children are HTML.
    integration: bool,
}

/// Check a page against [`MAX_HTML_BYTES`] and [`MAX_DEPTH`] in one pass, without recursion and
/// in memory proportional to the depth (never more than [`MAX_DEPTH`] entries).
pub fn prescan(html: &str) -> Result<(), HtmlLimit> {
    let b = html.as_bytes();
    if b.len() > MAX_HTML_BYTES {
        return Err(HtmlLimit::TooLarge { bytes: b.len() });
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut selects = 0usize;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let at = i + off;
        let rest = &b[at + 1..];
        if rest.starts_with(b"!--") {
            i = comment_end(b, at + 4);
            continue;
        }
        if matches!(rest.first(), Some(b'!' | b'?')) {
            i = find_byte(b, at + 1, b'>').map_or(b.len(), |p| p + 1);
            continue;
        }
        let end_tag = rest.first() == Some(&b'/');
        let name_start = at + 1 + usize::from(end_tag);
        if !b.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
            i = at + 1;
            continue;
        }
        let mut j = name_start;
        while j < b.len() && !is_space(b[j]) && b[j] != b'/' && b[j] != b'>' {
            j += 1;
        }
        let name = String::from_utf8_lossy(&b[name_start..j]).to_ascii_lowercase();
        let Some((tag_end, self_closing)) = tag_end(b, j) else {
            // A tag cut off by the end of the page is dropped by the tokenizer.
            return Ok(());
        };
        i = tag_end;
        if end_tag {
            if let Some(popped) = close(&mut stack, &name) {
                selects -= popped;
            }
            continue;
        }
        let top = stack.last();
        let foreign_context = top.is_some_and(|o| o.foreign && !o.integration);
        let (foreign, integration) = if foreign_context && !BREAKOUT.contains(&name.as_str()) {
            (true, INTEGRATION_POINTS.contains(&name.as_str()))
        } else {
            (name == "svg" || name == "math", false)
        };
        if foreign {
            if self_closing {
                continue;
            }
        } else {
            if VOID.contains(&name.as_str()) {
                continue;
            }
            let raw = if selects > 0 {
                RAW_TEXT_IN_SELECT.contains(&name.as_str())
            } else {
                RAW_TEXT.contains(&name.as_str())
            };
            if raw {
                i = raw_text_end(b, i, &name);
                continue;
            }
            if name == "plaintext" && selects == 0 {
                // Everything after it is text.
                return Ok(());
            }
            if top.is_some_and(|o| !o.foreign && closes_sibling(&o.name, &name)) {
                stack.pop();
            }
        }
        if name == "select" && !foreign {
            selects += 1;
        }
        stack.push(Open {
            name,
            foreign,
            integration,
        });
        if stack.len() > MAX_DEPTH {
            let line = 1 + b[..at].iter().filter(|&&c| c == b'\n').count();
            return Err(HtmlLimit::TooDeep { line });
        }
    }
    Ok(())
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

fn find_byte(b: &[u8], from: usize, c: u8) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|&x| x == c)
        .map(|p| from + p)
}

/// Where a comment opened by `<!--` (its text starting at `from`) ends: after `-->` or `--!>`;
/// `<!-->` and `<!--->` are whole (empty) comments.
fn comment_end(b: &[u8], from: usize) -> usize {
    let rest = &b[from.min(b.len())..];
    if rest.starts_with(b">") {
        return from + 1;
    }
    if rest.starts_with(b"->") {
        return from + 2;
    }
    let mut k = from;
    while let Some(p) = find_byte(b, k, b'-') {
        if b[p..].starts_with(b"-->") {
            return p + 3;
        }
        if b[p..].starts_with(b"--!>") {
            return p + 4;
        }
        k = p + 1;
    }
    b.len()
}

/// The end of a tag whose name ends at `from`: the index after its `>` and whether it closed with
/// `/>`. Follows the tokenizer's attribute states, so a `>` inside a quoted value does not end it
/// and a quote that does not start a value does not open one. `None` when the page ends first.
fn tag_end(b: &[u8], from: usize) -> Option<(usize, bool)> {
    #[derive(Clone, Copy)]
    enum S {
        BeforeName,
        Name,
        AfterName,
        BeforeValue,
        Quoted(u8),
        AfterQuoted,
        Unquoted,
        SelfClosing,
    }
    let mut s = S::BeforeName;
    let mut k = from;
    while k < b.len() {
        let c = b[k];
        k += 1;
        s = match s {
            S::BeforeName => match c {
                b'/' => S::SelfClosing,
                b'>' => return Some((k, false)),
                c if is_space(c) => S::BeforeName,
                _ => S::Name,
            },
            S::Name => match c {
                b'/' => S::SelfClosing,
                b'>' => return Some((k, false)),
                b'=' => S::BeforeValue,
                c if is_space(c) => S::AfterName,
                _ => S::Name,
            },
            S::AfterName => match c {
                b'/' => S::SelfClosing,
                b'>' => return Some((k, false)),
                b'=' => S::BeforeValue,
                c if is_space(c) => S::AfterName,
                _ => S::Name,
            },
            S::BeforeValue => match c {
                b'"' | b'\'' => S::Quoted(c),
                b'>' => return Some((k, false)),
                c if is_space(c) => S::BeforeValue,
                _ => S::Unquoted,
            },
            S::Quoted(q) => {
                if c == q {
                    S::AfterQuoted
                } else {
                    S::Quoted(q)
                }
            }
            S::AfterQuoted => match c {
                b'/' => S::SelfClosing,
                b'>' => return Some((k, false)),
                _ => S::BeforeName,
            },
            S::Unquoted => match c {
                b'>' => return Some((k, false)),
                c if is_space(c) => S::BeforeName,
                _ => S::Unquoted,
            },
            S::SelfClosing => match c {
                b'>' => return Some((k, true)),
                _ => {
                    // Reconsumed in the before-attribute-name state.
                    k -= 1;
                    S::BeforeName
                }
            },
        };
    }
    None
}

/// Where the text of a raw-text element `name` ends: at its end tag (`</name` followed by a space,
/// `/` or `>`, any case), or at the end of the page.
fn raw_text_end(b: &[u8], from: usize, name: &str) -> usize {
    let n = name.len();
    let mut k = from;
    while let Some(p) = find_byte(b, k, b'<') {
        let cand = &b[p..];
        if cand.len() > n + 2
            && cand[1] == b'/'
            && cand[2..2 + n].eq_ignore_ascii_case(name.as_bytes())
            && (is_space(cand[2 + n]) || cand[2 + n] == b'/' || cand[2 + n] == b'>')
        {
            return p;
        }
        k = p + 1;
    }
    b.len()
}

/// Whether opening `new` closes the open `top` (`<p>` after `<p>`, `<li>` after `<li>`…).
fn closes_sibling(top: &str, new: &str) -> bool {
    match new {
        "p" | "li" | "option" | "tr" => top == new,
        "dt" | "dd" => top == "dt" || top == "dd",
        "td" | "th" => top == "td" || top == "th",
        "optgroup" => top == "option" || top == "optgroup",
        _ => false,
    }
}

/// Apply an end tag: pop the element it names when it is the innermost open one, or when only
/// elements with optional end tags stand above it; otherwise ignore it. Returns how many `select`
/// elements were closed, or `None` when nothing was.
fn close(stack: &mut Vec<Open>, name: &str) -> Option<usize> {
    let pos = stack.iter().rposition(|o| o.name == name)?;
    if !stack[pos + 1..]
        .iter()
        .all(|o| !o.foreign && OPTIONAL_END.contains(&o.name.as_str()))
    {
        return None;
    }
    let closed = stack
        .drain(pos..)
        .filter(|o| o.name == "select" && !o.foreign)
        .count();
    Some(closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> String {
        format!("{}x{}", "<div>".repeat(n), "</div>".repeat(n))
    }

    #[test]
    fn counts_well_formed_nesting_exactly() {
        assert_eq!(prescan(&nested(MAX_DEPTH - 2)), Ok(()));
        assert!(matches!(
            prescan(&nested(MAX_DEPTH + 1)),
            Err(HtmlLimit::TooDeep { line: 1 })
        ));
        // Siblings do not add up.
        let flat = "<div><p>x</p></div>".repeat(100_000);
        assert_eq!(prescan(&flat), Ok(()));
    }

    #[test]
    fn void_self_closing_svg_and_raw_text_do_not_nest() {
        let page = format!(
            "<html><head><meta charset=utf-8><title><div></title><script>{}</script></head><body>\
             <svg>{}</svg>{}<input name=a><br><img src=x><!-- {} --><textarea>{}</textarea>\
             <style>{}</style></body></html>",
            "<div>".repeat(2000),
            "<path d='M0 0'/>".repeat(2000),
            "<li>item".repeat(2000),
            "<div>".repeat(2000),
            "<div>".repeat(2000),
            "<div>".repeat(2000),
        );
        assert_eq!(prescan(&page), Ok(()));
        // Unclosed paragraphs inside a closed container are closed with it.
        let paragraphs = "<div><p>a<p>b<p>c</div>".repeat(1000);
        assert_eq!(prescan(&paragraphs), Ok(()));
    }

    #[test]
    fn tricks_that_nest_for_the_parser_are_counted() {
        // A self-closing div opens a div; an end tag that does not match the innermost element
        // closes nothing the parser would keep open; a quote that opens no value hides nothing.
        for page in [
            "<div/>".repeat(MAX_DEPTH + 1),
            "<span><div></span>".repeat(MAX_DEPTH),
            "<div =\">".repeat(MAX_DEPTH + 1),
            format!("<svg><p>{}", "<path/>".repeat(MAX_DEPTH + 1)),
            format!("<svg><title>{}", "<div>".repeat(MAX_DEPTH + 1)),
            format!(
                "<select><noscript></select>{}",
                "<div>".repeat(MAX_DEPTH + 1)
            ),
            format!("<!-->{}", "<div>".repeat(MAX_DEPTH + 1)),
            format!("<a title='>'>{}", "<b>".repeat(MAX_DEPTH + 1)),
        ] {
            assert!(
                matches!(prescan(&page), Err(HtmlLimit::TooDeep { .. })),
                "{}",
                &page[..80.min(page.len())]
            );
        }
    }

    #[test]
    fn too_large_is_refused_by_length_alone() {
        let page = "a".repeat(MAX_HTML_BYTES + 1);
        assert_eq!(
            prescan(&page),
            Err(HtmlLimit::TooLarge {
                bytes: MAX_HTML_BYTES + 1
            })
        );
    }
}
