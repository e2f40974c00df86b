//! Reading a received message the way a person's mail client would show it, without trusting it.
//!
//! Owns: [`parse`] → [`ParsedMail`]: header fields (unfolded, RFC 2047 encoded words decoded),
//! the addresses of From/To/Cc/Reply-To, every MIME part with its decoded text
//! (quoted-printable and base64; UTF-8, US-ASCII and ISO-8859-1 charsets), the first text/plain
//! and text/html bodies, and the links found in them (HTML `href`s with entities decoded, bare
//! `http(s)://` URLs in text).
//!
//! The multipart tree is walked with an explicit stack (never recursion), at most
//! `max_depth` levels and `max_parts` parts; anything cut off or malformed is noted in
//! [`ParsedMail::problems`] rather than failing. Memory stays linear in the message: decoded parts
//! are never larger than their encoded form.

use base64::Engine as _;
use serde::Serialize;

/// Bounds of one parse.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    pub max_parts: usize,
    pub max_depth: usize,
    pub max_links: usize,
}

/// An address as Mailpit reports it (Go's `net/mail.Address`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailAddress {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Address")]
    pub address: String,
}

/// One leaf MIME part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailPart {
    /// Position in the tree, Mailpit style: `1`, `2.1`, ...
    pub part_id: String,
    /// `type/subtype`, lower-case.
    pub content_type: String,
    pub charset: Option<String>,
    /// `Content-Transfer-Encoding`, lower-case (`7bit` when absent).
    pub transfer_encoding: String,
    pub disposition: Option<String>,
    pub filename: Option<String>,
    /// Decoded size in bytes.
    pub size: usize,
    /// The decoded text, for `text/*` parts.
    pub text: Option<String>,
}

/// A parsed message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ParsedMail {
    /// Header fields in order: name as sent, value unfolded and decoded.
    pub headers: Vec<(String, String)>,
    pub subject: String,
    pub from: Option<MailAddress>,
    pub to: Vec<MailAddress>,
    pub cc: Vec<MailAddress>,
    pub reply_to: Vec<MailAddress>,
    /// `Message-ID` without angle brackets.
    pub message_id: String,
    pub date: Option<String>,
    pub parts: Vec<MailPart>,
    /// The first text/plain body.
    pub text: String,
    /// The first text/html body.
    pub html: String,
    pub links: Vec<String>,
    /// What was malformed or cut off.
    pub problems: Vec<String>,
}

impl ParsedMail {
    /// The first header of that name (case-insensitive), decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Split an entity into its header block and body (at the first empty line).
fn split_entity(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    // An entity that starts with an empty line has no headers.
    if raw.starts_with(b"\r\n") {
        return (&[], &raw[2..]);
    }
    if raw.starts_with(b"\n") {
        return (&[], &raw[1..]);
    }
    while i < raw.len() {
        if raw[i] == b'\n' {
            let rest = &raw[i + 1..];
            if rest.starts_with(b"\r\n") {
                return (&raw[..i + 1], &rest[2..]);
            }
            if rest.starts_with(b"\n") {
                return (&raw[..i + 1], &rest[1..]);
            }
        }
        i += 1;
    }
    (raw, &[])
}

/// Unfolded header fields (raw values, not yet decoded).
fn header_fields(block: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(block);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `value; key=val; key="val"` → (value lower-case, params with lower-case keys).
fn parse_params(value: &str) -> (String, Vec<(String, String)>) {
    let mut items = split_outside_quotes(value, ';').into_iter();
    let head = items.next().unwrap_or_default().trim().to_ascii_lowercase();
    let params = items
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
                .replace("\\\"", "\"");
            Some((k.trim().to_ascii_lowercase(), v))
        })
        .collect();
    (head, params)
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut angle = 0usize;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            '<' if !quoted => {
                angle += 1;
                cur.push(c);
            }
            '>' if !quoted => {
                angle = angle.saturating_sub(1);
                cur.push(c);
            }
            c if c == sep && !quoted && angle == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Decode bytes in `charset` (UTF-8, US-ASCII, ISO-8859-1 / Latin-1 / Windows-1252 as Latin-1);
/// anything else is read as UTF-8 with replacement characters.
fn decode_charset(bytes: &[u8], charset: Option<&str>) -> (String, bool) {
    let cs = charset.unwrap_or("utf-8").to_ascii_lowercase();
    match cs.as_str() {
        "utf-8" | "utf8" | "us-ascii" | "ascii" => {
            (String::from_utf8_lossy(bytes).into_owned(), true)
        }
        "iso-8859-1" | "latin1" | "latin-1" | "iso8859-1" | "windows-1252" | "cp1252" => {
            (bytes.iter().map(|&b| b as char).collect(), true)
        }
        _ => (String::from_utf8_lossy(bytes).into_owned(), false),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` escapes and `=` soft line breaks; malformed escapes
/// are kept as written.
pub fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'=' {
            // Soft line break: "=" followed by optional whitespace and a line end.
            let mut j = i + 1;
            while j < input.len() && (input[j] == b' ' || input[j] == b'\t') {
                j += 1;
            }
            if input.get(j) == Some(&b'\r') && input.get(j + 1) == Some(&b'\n') {
                i = j + 2;
                continue;
            }
            if input.get(j) == Some(&b'\n') {
                i = j + 1;
                continue;
            }
            if j >= input.len() {
                i = j;
                continue;
            }
            if let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Base64 with line breaks and stray characters ignored; `None` when it still does not decode.
fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    let clean: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        .collect();
    let trimmed: Vec<u8> = clean.iter().copied().filter(|&b| b != b'=').collect();
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&trimmed)
        .ok()
}

/// RFC 2047: decode `=?charset?B|Q?text?=` words; whitespace between two encoded words goes.
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    let mut pending_ws = String::new();
    while !rest.is_empty() {
        if let Some(start) = rest.find("=?") {
            let (before, from) = rest.split_at(start);
            if let Some((decoded, len)) = encoded_word(from) {
                if !(last_was_word && before.chars().all(char::is_whitespace)) {
                    out.push_str(&pending_ws);
                    out.push_str(before);
                }
                pending_ws.clear();
                out.push_str(&decoded);
                last_was_word = true;
                rest = &from[len..];
                continue;
            }
            out.push_str(&pending_ws);
            pending_ws.clear();
            out.push_str(before);
            out.push_str("=?");
            rest = &from[2..];
            last_was_word = false;
        } else {
            if !(last_was_word && rest.chars().all(char::is_whitespace)) {
                out.push_str(&pending_ws);
                out.push_str(rest);
            }
            break;
        }
    }
    out
}

/// One encoded word at the start of `s`: its text and its length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix("=?")?;
    let (charset, rest) = body.split_once('?')?;
    let (enc, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if text.contains(' ') || charset.is_empty() || charset.len() > 40 {
        return None;
    }
    let bytes = match enc {
        "B" | "b" => decode_base64(text.as_bytes())?,
        "Q" | "q" => decode_quoted_printable(text.replace('_', " ").as_bytes()),
        _ => return None,
    };
    // RFC 2231 language suffix: `utf-8*en`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let (decoded, _) = decode_charset(&bytes, Some(charset));
    // `=?` charset `?` enc `?` text `?=`, measured on the raw word (before the `*` split).
    let raw_charset_len = body.find('?').unwrap_or(0);
    Some((decoded, 2 + raw_charset_len + 1 + enc.len() + 1 + end + 2))
}

/// An address list (`"Name" <a@b>, c@d`).
pub fn parse_addresses(value: &str) -> Vec<MailAddress> {
    split_outside_quotes(value, ',')
        .into_iter()
        .filter_map(|item| parse_address(item.trim()))
        .collect()
}

fn parse_address(item: &str) -> Option<MailAddress> {
    if item.is_empty() {
        return None;
    }
    if let (Some(open), Some(close)) = (item.rfind('<'), item.rfind('>'))
        && open < close
    {
        let address = item[open + 1..close].trim().to_string();
        let raw_name = item[..open].trim();
        let name = raw_name
            .strip_prefix('"')
            .and_then(|n| n.strip_suffix('"'))
            .unwrap_or(raw_name)
            .replace("\\\"", "\"");
        return Some(MailAddress {
            name: decode_words(&name),
            address,
        });
    }
    Some(MailAddress {
        name: String::new(),
        address: item.to_string(),
    })
}

/// The HTML entities Mattermost's and GitLab's templates use, plus numeric ones.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find(';').filter(|&e| e <= 10);
        let replaced = end.and_then(|e| {
            let name = &tail[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let n = if let Some(h) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                        u32::from_str_radix(h, 16).ok()
                    } else {
                        name.strip_prefix('#').and_then(|d| d.parse().ok())
                    };
                    n.and_then(char::from_u32)
                }
            }?;
            Some((c, e + 1))
        });
        match replaced {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Links in an HTML body: every `href` value, entities decoded.
fn html_links(html: &str, out: &mut Vec<String>, max: usize) {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("href") {
        let at = from + i + 4;
        from = at;
        let rest = html[at..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or(""),
            _ => rest
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        };
        push_link(out, decode_entities(value.trim()), max);
    }
}

/// Bare `http://` / `https://` URLs in text.
fn text_links(text: &str, out: &mut Vec<String>, max: usize) {
    for (i, _) in text.match_indices("http") {
        let tail = &text[i..];
        if !(tail.starts_with("http://") || tail.starts_with("https://")) {
            continue;
        }
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | ')' | ']'))
            .unwrap_or(tail.len());
        let link = tail[..end].trim_end_matches(['.', ',', ';', ':']);
        push_link(out, link.to_string(), max);
    }
}

fn push_link(out: &mut Vec<String>, link: String, max: usize) {
    if link.is_empty() || out.len() >= max || out.contains(&link) {
        return;
    }
    out.push(link);
}

/// Find the parts of a multipart body between `--boundary` lines.
fn multipart_children<'a>(body: &'a [u8], boundary: &str) -> (Vec<&'a [u8]>, bool) {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut children = Vec::new();
    let mut start: Option<usize> = None;
    let mut closed = false;
    let mut pos = 0;
    while pos < body.len() {
        let line_end = body[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|e| pos + e + 1)
            .unwrap_or(body.len());
        let line = &body[pos..line_end];
        let trimmed = trim_line_end(line);
        if trimmed.starts_with(delim) {
            let after = &trimmed[delim.len()..];
            let is_close = after.starts_with(b"--");
            if after.iter().all(|b| *b == b' ' || *b == b'\t') || is_close {
                if let Some(s) = start {
                    // The line break before the delimiter belongs to the delimiter.
                    let mut end = pos;
                    if end > s && body[end - 1] == b'\n' {
                        end -= 1;
                        if end > s && body[end - 1] == b'\r' {
                            end -= 1;
                        }
                    }
                    children.push(&body[s..end]);
                }
                if is_close {
                    closed = true;
                    break;
                }
                start = Some(line_end);
            }
        }
        pos = line_end;
    }
    if !closed && let Some(s) = start {
        children.push(&body[s..]);
    }
    (children, closed)
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let Some((last, rest)) = l.split_last() {
        if *last == b'\n' || *last == b'\r' {
            l = rest;
        } else {
            break;
        }
    }
    l
}

/// Parse a message within `limits`.
pub fn parse(raw: &[u8], limits: ParseLimits) -> ParsedMail {
    let mut mail = ParsedMail::default();
    let (head, _) = split_entity(raw);
    let fields = header_fields(head);
    mail.headers = fields
        .iter()
        .map(|(k, v)| (k.clone(), decode_words(v)))
        .collect();
    mail.subject = field(&fields, "subject")
        .map(decode_words)
        .unwrap_or_default();
    mail.from = field(&fields, "from").and_then(|v| parse_addresses(v).into_iter().next());
    mail.to = field(&fields, "to")
        .map(parse_addresses)
        .unwrap_or_default();
    mail.cc = field(&fields, "cc")
        .map(parse_addresses)
        .unwrap_or_default();
    mail.reply_to = field(&fields, "reply-to")
        .map(parse_addresses)
        .unwrap_or_default();
    mail.message_id = field(&fields, "message-id")
        .map(|v| {
            v.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
        .unwrap_or_default();
    mail.date = field(&fields, "date").map(str::to_string);

    // The tree walk: (entity, part id, depth), explicit stack.
    let mut stack: Vec<(&[u8], String, usize)> = vec![(raw, String::new(), 0)];
    let mut walked = 0usize;
    while let Some((entity, id, depth)) = stack.pop() {
        walked += 1;
        if walked > limits.max_parts {
            mail.problems.push(format!(
                "more than {} MIME parts: the rest was not read",
                limits.max_parts
            ));
            break;
        }
        let (head, body) = split_entity(entity);
        let fields = header_fields(head);
        let (ctype, ct_params) = field(&fields, "content-type")
            .map(parse_params)
            .unwrap_or_else(|| ("text/plain".to_string(), Vec::new()));
        let ctype = if ctype.contains('/') {
            ctype
        } else {
            "text/plain".to_string()
        };
        if ctype.starts_with("multipart/") {
            let Some(boundary) = param(&ct_params, "boundary").filter(|b| !b.is_empty()) else {
                mail.problems.push(format!(
                    "part {}: {ctype} without a boundary",
                    display_id(&id)
                ));
                continue;
            };
            if depth >= limits.max_depth {
                mail.problems.push(format!(
                    "part {}: nested deeper than {} levels: not read",
                    display_id(&id),
                    limits.max_depth
                ));
                continue;
            }
            let (children, closed) = multipart_children(body, boundary);
            if !closed {
                mail.problems.push(format!(
                    "part {}: the closing boundary --{boundary}-- is missing",
                    display_id(&id)
                ));
            }
            for (i, child) in children.iter().enumerate().rev() {
                let child_id = if id.is_empty() {
                    format!("{}", i + 1)
                } else {
                    format!("{id}.{}", i + 1)
                };
                stack.push((child, child_id, depth + 1));
            }
            continue;
        }
        let cte = field(&fields, "content-transfer-encoding")
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_else(|| "7bit".to_string());
        let decoded = match cte.as_str() {
            "quoted-printable" => decode_quoted_printable(body),
            "base64" => match decode_base64(body) {
                Some(d) => d,
                None => {
                    mail.problems
                        .push(format!("part {}: invalid base64", display_id(&id)));
                    body.to_vec()
                }
            },
            _ => body.to_vec(),
        };
        let (disposition, disp_params) = field(&fields, "content-disposition")
            .map(|v| {
                let (d, p) = parse_params(v);
                (Some(d), p)
            })
            .unwrap_or((None, Vec::new()));
        let filename = param(&disp_params, "filename")
            .or_else(|| param(&ct_params, "name"))
            .map(decode_words);
        let charset = param(&ct_params, "charset").map(|c| c.to_ascii_lowercase());
        let text = if ctype.starts_with("text/") {
            let (t, known) = decode_charset(&decoded, charset.as_deref());
            if !known {
                mail.problems.push(format!(
                    "part {}: charset {:?} read as UTF-8",
                    display_id(&id),
                    charset.as_deref().unwrap_or("")
                ));
            }
            Some(t)
        } else {
            None
        };
        let attachment = disposition.as_deref() == Some("attachment");
        if let Some(t) = &text
            && !attachment
        {
            if ctype == "text/plain" && mail.text.is_empty() {
                mail.text = t.clone();
            } else if ctype == "text/html" && mail.html.is_empty() {
                mail.html = t.clone();
            }
        }
        mail.parts.push(MailPart {
            part_id: display_id(&id),
            content_type: ctype,
            charset,
            transfer_encoding: cte,
            disposition,
            filename,
            size: decoded.len(),
            text,
        });
    }
    let mut links = Vec::new();
    html_links(&mail.html, &mut links, limits.max_links);
    text_links(&mail.text, &mut links, limits.max_links);
    mail.links = links;
    mail
}

fn display_id(id: &str) -> String {
    if id.is_empty() {
        "1".to_string()
    } else {
        id.to_string()
    }
}

/// Up to `max` characters of readable text: the text body, else the HTML body without tags;
/// whitespace collapsed (Mailpit's snippet).
pub fn snippet(mail: &ParsedMail, max: usize) -> String {
    let source = if mail.text.trim().is_empty() {
        let mut out = String::new();
        let mut in_tag = false;
        for c in mail.html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    out.push(' ');
                }
                _ if !in_tag => out.push(c),
                _ => {}
            }
        }
        decode_entities(&out)
    } else {
        mail.text.clone()
    };
    source
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParseLimits = ParseLimits {
        max_parts: 64,
        max_depth: 8,
        max_links: 200,
    };

    #[test]
    fn quoted_printable_soft_breaks_and_escapes_decode() {
        assert_eq!(
            decode_quoted_printable(b"a=3Db=\r\nc =C3=A9=\nd"),
            "a=bc éd".as_bytes()
        );
        // Malformed escapes stay as written.
        assert_eq!(decode_quoted_printable(b"100=% =ZZ"), b"100=% =ZZ");
    }

    #[test]
    fn encoded_words_decode_and_adjacent_words_join() {
        assert_eq!(decode_words("=?UTF-8?q?T=C3=A9st?="), "Tést");
        assert_eq!(
            decode_words("=?utf-8?B?W01hdHRlcm1vc3Rd?= =?utf-8?B?IFRlc3Q=?= tail"),
            "[Mattermost] Test tail"
        );
        assert_eq!(decode_words("plain =? text"), "plain =? text");
    }

    #[test]
    fn addresses_with_quoted_names_and_commas() {
        let a = parse_addresses("\"Doe, John\" <john@example.com>, jane@example.com");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].name, "Doe, John");
        assert_eq!(a[0].address, "john@example.com");
        assert_eq!(a[1].address, "jane@example.com");
    }

    #[test]
    fn multipart_alternative_with_quoted_printable_html_yields_decoded_link() {
        let raw = b"From: \"GitLab Mattermost\" <mm@example.com>\r\nTo: <alice@example.com>\r\nSubject: =?UTF-8?q?Verify?=\r\nMessage-ID: <abc@host>\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nVerify: http://mm.example.com/do_verify_email?token=3Dabc&email=3Da\r\n--b1\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<a href=3D\"http://mm.example.com/do_verify_email?token=3Dabc&amp;email=3Da=\r\n%40b.c\">Verify</a>\r\n--b1--\r\n";
        let m = parse(raw, LIMITS);
        assert_eq!(m.subject, "Verify");
        assert_eq!(m.message_id, "abc@host");
        assert_eq!(m.from.as_ref().unwrap().name, "GitLab Mattermost");
        assert_eq!(m.parts.len(), 2);
        assert_eq!(m.parts[0].part_id, "1");
        assert_eq!(m.parts[1].part_id, "2");
        assert_eq!(
            m.links,
            vec![
                "http://mm.example.com/do_verify_email?token=abc&email=a%40b.c".to_string(),
                "http://mm.example.com/do_verify_email?token=abc&email=a".to_string(),
            ]
        );
        assert!(m.problems.is_empty(), "{:?}", m.problems);
    }

    #[test]
    fn single_part_base64_html_decodes() {
        let body = base64::engine::general_purpose::STANDARD
            .encode("<p>Hi <a href='https://x.example/'>x</a></p>");
        let raw = format!(
            "Subject: hi\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
        );
        let m = parse(raw.as_bytes(), LIMITS);
        assert_eq!(m.html, "<p>Hi <a href='https://x.example/'>x</a></p>");
        assert_eq!(m.links, vec!["https://x.example/".to_string()]);
        assert_eq!(snippet(&m, 250), "Hi x");
    }

    #[test]
    fn deep_nesting_and_part_floods_are_cut_off_not_recursed() {
        let mut raw = String::from("Subject: deep\r\n");
        let depth = 5_000;
        for i in 0..depth {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
        let m = parse(raw.as_bytes(), LIMITS);
        assert!(
            m.problems
                .iter()
                .any(|p| p.contains("nested deeper than 8")),
            "{:?}",
            m.problems
        );

        let mut raw = String::from("Content-Type: multipart/mixed; boundary=x\r\n\r\n");
        for _ in 0..1_000 {
            raw.push_str("--x\r\nContent-Type: text/plain\r\n\r\npart\r\n");
        }
        raw.push_str("--x--\r\n");
        let m = parse(raw.as_bytes(), LIMITS);
        assert!(m.parts.len() < 64);
        assert!(
            m.problems
                .iter()
                .any(|p| p.contains("more than 64 MIME parts"))
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        for raw in [
            &b""[..],
            b"\r\n\r\n",
            b"Content-Type: multipart/mixed\r\n\r\n--",
            b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n----\r\n",
            b"Subject: =?utf-8?B?####?=\r\n\r\n",
            b"Content-Transfer-Encoding: base64\r\n\r\n!!!!",
            b"\xff\xfe: \xff\r\n\r\n\xff",
        ] {
            let _ = parse(raw, LIMITS);
        }
    }
}
