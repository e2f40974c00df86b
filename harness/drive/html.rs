//! Reading HTML pages as a person does: forms and their fields, links, visible text. Built on
//! scraper; knows nothing of GitLab or Mattermost. A page is checked against the bounds of
//! `html_scan` before it is parsed, and every walk over the tree is iterative.

use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::error::DriveError;
use super::html_scan;
use super::http::{Page, url_text};

/// A form on a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// `action`, resolved against the page URL.
    pub action: Option<Url>,
    /// `method` (lower-case; `get` when absent).
    pub method: String,
    /// Every named `input` (and `textarea`/`select` with a value), in document order.
    pub fields: Vec<(String, String)>,
    /// Names of text and password inputs (what a person fills in).
    pub editable: Vec<String>,
    /// Text of the submit buttons.
    pub buttons: Vec<String>,
}

impl Form {
    pub fn has_field(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name) || self.editable.iter().any(|n| n == name)
    }
    pub fn value(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// The form's fields with `overrides` replacing or adding values.
    pub fn fill(&self, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .fields
            .iter()
            .filter(|(n, _)| !overrides.iter().any(|(o, _)| o == n))
            .cloned()
            .collect();
        for (k, v) in overrides {
            out.push((k.to_string(), v.to_string()));
        }
        out
    }
}

fn sel(s: &str) -> Selector {
    // The selectors used here are constants of this module; a failure is a programming error
    // caught by the unit tests below, never input-dependent.
    Selector::parse(s).unwrap_or_else(|_| Selector::parse("*").expect("`*` is a valid selector"))
}

/// A parsed page, within the bounds of [`html_scan`]: at most
/// [`html_scan::MAX_HTML_BYTES`] bytes, at most [`html_scan::MAX_DEPTH`] nested elements. Parse once, then ask.
/// Every walk over it is iterative (ego-tree's iterators), never recursive on its depth.
pub struct Document {
    doc: Html,
    base: Url,
}

impl Document {
    /// Parse a page served at `base`, refusing it before parsing when it is too large or nested
    /// too deep (a protocol error naming the page and the limit).
    pub fn parse(html: &str, base: &Url) -> Result<Document, DriveError> {
        html_scan::prescan(html).map_err(|limit| {
            DriveError::protocol(format!("the page at {} {limit}", url_text(base)))
        })?;
        Ok(Document {
            doc: Html::parse_document(html),
            base: base.clone(),
        })
    }

    /// Parse an answer's body.
    pub fn of(page: &Page) -> Result<Document, DriveError> {
        Self::parse(&page.body, &page.url)
    }

    /// Every form of the page.
    pub fn forms(&self) -> Vec<Form> {
        let form_sel = sel("form");
        let input_sel = sel("input, textarea, select, button");
        self.doc
            .select(&form_sel)
            .map(|f| read_form(f, &input_sel, &self.base))
            .collect()
    }

    /// Every `<a href>`, resolved against the page URL.
    pub fn links(&self) -> Vec<Url> {
        self.doc
            .select(&sel("a[href]"))
            .filter_map(|a| a.value().attr("href"))
            .filter_map(|h| self.base.join(h).ok())
            .collect()
    }

    /// The page's visible text, whitespace collapsed (scripts and styles left out).
    pub fn visible_text(&self) -> String {
        let body = self.doc.select(&sel("body")).next();
        let root = body.unwrap_or_else(|| self.doc.root_element());
        let mut out = String::new();
        // After a script/style/noscript element, the walk skips to its last descendant.
        let mut skip_to = None;
        for node in root.descendants() {
            if let Some(end) = skip_to {
                if node.id() == end {
                    skip_to = None;
                }
                continue;
            }
            if let Some(e) = node.value().as_element() {
                if HIDDEN.contains(&e.name()) {
                    let mut last = node;
                    while let Some(child) = last.last_child() {
                        last = child;
                    }
                    skip_to = (last.id() != node.id()).then_some(last.id());
                }
            } else if let Some(t) = node.value().as_text() {
                out.push_str(t);
                out.push(' ');
            }
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Text of the first element matching a CSS selector, whitespace collapsed.
    pub fn first_text(&self, selector: &str) -> Option<String> {
        let s = Selector::parse(selector).ok()?;
        self.doc.select(&s).next().map(|e| {
            e.text()
                .collect::<Vec<_>>()
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// The `value` of the first element matching a selector when it is a form control (current
    /// GitLab shows ids and secrets in read-only inputs), else its text (GitLab 8.x shows them in
    /// `<code>`). Empty results count as absent.
    pub fn value_or_text(&self, selector: &str) -> Option<String> {
        let s = Selector::parse(selector).ok()?;
        let e = self.doc.select(&s).next()?;
        let v = match e.value().attr("value") {
            Some(v) => v.trim().to_string(),
            None => e.text().collect::<String>().trim().to_string(),
        };
        Some(v).filter(|v| !v.is_empty())
    }

    /// The text of the table cell after the one whose text is `label` (a trailing `:` ignored).
    pub fn cell_after(&self, label: &str) -> Option<String> {
        let cells: Vec<String> = self.doc.select(&sel("td, th")).map(text_of).collect();
        let i = cells
            .iter()
            .position(|c| c.trim_end_matches(':').eq_ignore_ascii_case(label))?;
        cells.get(i + 1).cloned().filter(|c| !c.is_empty())
    }

    /// The `/error?...` destination an error page points to. Mattermost's `RenderWebError` writes
    /// it three times: an `onload` script (JS-escaped), a `<meta http-equiv="refresh">` inside
    /// `<noscript>` (which an HTML parser with scripting on keeps as raw text), and a link. Links
    /// first, then the refresh tag read from the raw text of the page (`raw`).
    pub fn error_destination(&self, raw: &str) -> Option<Url> {
        if let Some(u) = self
            .links()
            .into_iter()
            .find(|u| u.path().ends_with("/error"))
        {
            return Some(u);
        }
        let lower = raw.to_ascii_lowercase();
        let at = lower.find("http-equiv=\"refresh\"")?;
        let rest = &raw[at..];
        let url_at = rest.to_ascii_lowercase().find("url=")?;
        let tail = &rest[url_at + 4..];
        let end = tail.find(['"', '\'', '>']).unwrap_or(tail.len());
        self.base.join(&html_unescape(tail[..end].trim())).ok()
    }
}

/// Elements whose text a person does not see.
const HIDDEN: &[&str] = &["script", "style", "noscript"];

fn read_form(f: ElementRef<'_>, input_sel: &Selector, base: &Url) -> Form {
    let action = f.value().attr("action").and_then(|a| base.join(a).ok());
    let method = f
        .value()
        .attr("method")
        .unwrap_or("get")
        .to_ascii_lowercase();
    let mut fields = Vec::new();
    let mut editable = Vec::new();
    let mut buttons = Vec::new();
    for i in f.select(input_sel) {
        let tag = i.value().name();
        let ty = i
            .value()
            .attr("type")
            .unwrap_or("text")
            .to_ascii_lowercase();
        if tag == "button" || ty == "submit" {
            let label = i
                .value()
                .attr("value")
                .map(str::to_string)
                .unwrap_or_else(|| text_of(i));
            buttons.push(label);
            continue;
        }
        let Some(name) = i.value().attr("name") else {
            continue;
        };
        match ty.as_str() {
            "text" | "password" | "email" => {
                editable.push(name.to_string());
                if let Some(v) = i.value().attr("value") {
                    fields.push((name.to_string(), v.to_string()));
                }
            }
            "checkbox" | "radio" => {
                if i.value().attr("checked").is_some() {
                    let v = i.value().attr("value").unwrap_or("on");
                    fields.push((name.to_string(), v.to_string()));
                }
            }
            _ => {
                let v = if tag == "textarea" {
                    text_of(i)
                } else {
                    i.value().attr("value").unwrap_or("").to_string()
                };
                fields.push((name.to_string(), v));
            }
        }
    }
    Form {
        action,
        method,
        fields,
        editable,
        buttons,
    }
}

fn text_of(e: ElementRef<'_>) -> String {
    e.text().collect::<String>().trim().to_string()
}

/// Undo Go's `template.HTMLEscapeString`.
fn html_unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_forms_fields_and_buttons() {
        let base = Url::parse("http://gitlab.example.com/oauth/authorize?x=1").unwrap();
        let html = r#"<html><body><form action="/oauth/authorize" method="post">
            <input type="hidden" name="authenticity_token" value="tok">
            <input type="hidden" name="client_id" value="cid">
            <input type="text" name="user[login]">
            <input type="checkbox" name="remember" value="1">
            <button type="submit">Authorize</button></form>
            <a href="http://mattermost.example.com/signup/gitlab/complete?code=c&amp;state=s">go</a>
            <script>var x = "hidden";</script><p>Hello   world</p></body></html>"#;
        let doc = Document::parse(html, &base).unwrap();
        let f = doc.forms();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].action.as_ref().unwrap().path(), "/oauth/authorize");
        assert_eq!(f[0].method, "post");
        assert_eq!(f[0].value("client_id"), Some("cid"));
        assert!(f[0].has_field("user[login]"));
        assert!(f[0].value("remember").is_none());
        assert_eq!(f[0].buttons, vec!["Authorize".to_string()]);
        let l = doc.links();
        assert_eq!(l[0].query(), Some("code=c&state=s"));
        let t = doc.visible_text();
        assert!(t.contains("Hello world"));
        assert!(!t.contains("hidden"));
    }

    #[test]
    fn finds_mattermost_error_destination() {
        let base = Url::parse("http://mattermost.example.com/signup/gitlab/complete").unwrap();
        let html = "<!DOCTYPE html><html><head></head>\n<body onload=\"window.location = '/error?message=Bad+response+from+token+request.&amp;s=abc'\">\n<noscript><meta http-equiv=\"refresh\" content=\"0; url=/error?message=Bad+response+from+token+request.&amp;s=abc\"></noscript>\n</body></html>";
        let u = Document::parse(html, &base)
            .unwrap()
            .error_destination(html)
            .unwrap();
        assert_eq!(u.path(), "/error");
        let msg = u
            .query_pairs()
            .find(|(k, _)| k == "message")
            .map(|(_, v)| v.into_owned());
        assert_eq!(msg.as_deref(), Some("Bad response from token request."));
        let with_link = "<body><a href=\"http://mattermost.example.com/error?message=Token+request+failed.&amp;s=x\">...</a></body>";
        let u = Document::parse(with_link, &base)
            .unwrap()
            .error_destination(with_link)
            .unwrap();
        assert_eq!(
            u.query_pairs()
                .find(|(k, _)| k == "message")
                .map(|(_, v)| v.into_owned())
                .as_deref(),
            Some("Token request failed.")
        );
    }

    #[test]
    fn deep_pages_are_refused_before_parsing_and_shallow_ones_read_without_recursion() {
        let base = Url::parse("http://mattermost.example.com/x").unwrap();
        for depth in [20_000, 200_000] {
            let page = format!(
                "<body>{}deep{}",
                "<div>".repeat(depth),
                "</div>".repeat(depth)
            );
            let err = Document::parse(&page, &base).err().expect("refused");
            assert!(
                err.message.contains("nests elements more than 512 deep"),
                "{}",
                err.message
            );
        }
        let depth = html_scan::MAX_DEPTH - 10;
        let page = format!("<body>{}deep{}", "<b>".repeat(depth), "</b>".repeat(depth));
        let doc = Document::parse(&page, &base).unwrap();
        assert_eq!(doc.visible_text(), "deep");
    }
}
