//! A plain HTTP "browser" for the twin's integration tests: reqwest clients per scheme sharing one
//! cookie jar, resolving the documented host names through the twin's address book, redirects
//! followed by hand, and scraper for forms. It shares no code with the harness's `drive` module.
#![allow(dead_code)]

pub mod docker;
pub mod hostile;
pub mod mattermost;
pub mod webdriver;

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use mm_harness::net::AddressBook;
use mm_harness::twin::bringup::TwinHandle;
use reqwest::cookie::Jar;
use reqwest::{Client, Response, StatusCode};
use scraper::{Html, Selector};

/// A browser-like client for one twin.
pub struct Browser {
    pub jar: Arc<Jar>,
    http: Client,
    https: Client,
}

impl Browser {
    /// Trusting `ca_pem` (if given) and nothing else.
    pub fn new(book: &AddressBook, ca_pem: Option<&str>) -> Browser {
        let jar = Arc::new(Jar::default());
        Browser {
            http: client_for(book, "http", ca_pem, Some(jar.clone()), false),
            https: client_for(book, "https", ca_pem, Some(jar.clone()), false),
            jar,
        }
    }

    /// A browser that clicks through certificate warnings.
    pub fn insecure(book: &AddressBook) -> Browser {
        let jar = Arc::new(Jar::default());
        Browser {
            http: client_for(book, "http", None, Some(jar.clone()), true),
            https: client_for(book, "https", None, Some(jar.clone()), true),
            jar,
        }
    }

    fn client(&self, url: &str) -> &Client {
        if url.starts_with("https://") {
            &self.https
        } else {
            &self.http
        }
    }

    pub async fn get(&self, url: &str) -> Response {
        self.client(url)
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e:?}"))
    }

    /// GET a page and return its text (whatever the status).
    pub async fn page(&self, url: &str) -> String {
        self.get(url)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e:?}"))
    }

    pub async fn try_get(&self, url: &str) -> reqwest::Result<Response> {
        self.client(url).get(url).send().await
    }

    pub async fn post_form(&self, url: &str, fields: &[(String, String)]) -> Response {
        self.client(url)
            .post(url)
            .form(fields)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e:?}"))
    }

    /// GET and follow 3xx until a non-redirect answer; returns it with the final URL.
    pub async fn follow(&self, url: &str) -> (String, Response) {
        let mut url = url.to_string();
        for _ in 0..10 {
            let resp = self.get(&url).await;
            if !resp.status().is_redirection() {
                return (url, resp);
            }
            url = location(&resp);
        }
        panic!("too many redirects from {url}");
    }

    /// Continue from a response: follow it if it is a redirect.
    pub async fn follow_response(&self, resp: Response) -> (String, Response) {
        if resp.status().is_redirection() {
            self.follow(&location(&resp)).await
        } else {
            (resp.url().to_string(), resp)
        }
    }

    /// Sign in to GitLab at `base` (GET the form, POST it) and return the POST's response.
    pub async fn sign_in(&self, base: &str, login: &str, password: &str) -> Response {
        let page = self.page(&format!("{base}/users/sign_in")).await;
        let mut fields = form_fields(&page, "form#new_user");
        set(&mut fields, "user[login]", login);
        set(&mut fields, "user[password]", password);
        self.post_form(&format!("{base}/users/sign_in"), &fields)
            .await
    }

    /// Approve GitLab's consent `page` (POST its form without `_method=delete`, the other one
    /// denies) at `base`; returns GitLab's answer.
    pub async fn approve_consent(&self, base: &str, page: &str) -> Response {
        let forms = all_forms(page);
        let approve = forms
            .iter()
            .find(|f| field(f, "_method").is_none())
            .unwrap_or_else(|| panic!("no approve form in:\n{page}"));
        self.post_form(&format!("{base}/oauth/authorize"), approve)
            .await
    }
}

/// GitLab's `/oauth/authorize` URL at `base` for an authorization code, as Mattermost's GitLab
/// button builds it.
pub fn authorize_url(base: &str, client_id: &str, redirect_uri: &str, state: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .finish();
    format!("{base}/oauth/authorize?{q}")
}

/// A resolver that resolves nothing: every name the tests use is in the twin's address book, and
/// nothing may leave loopback.
struct NoDns;

impl reqwest::dns::Resolve for NoDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_string();
        Box::pin(async move { Err(format!("{name} is not in the twin's address book").into()) })
    }
}

/// One client per scheme resolving every documented host of that scheme to its loopback address.
pub fn client_for(
    book: &AddressBook,
    scheme: &str,
    ca_pem: Option<&str>,
    jar: Option<Arc<Jar>>,
    insecure: bool,
) -> Client {
    mm_harness::crypto::install_default_provider();
    let mut b = Client::builder()
        .dns_resolver(Arc::new(NoDns))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .no_proxy();
    for e in book.for_scheme(scheme) {
        b = b.resolve(&e.host, e.addr);
    }
    if let Some(jar) = jar {
        b = b.cookie_provider(jar);
    }
    if insecure {
        b = b.tls_danger_accept_invalid_certs(true);
    } else {
        let certs: Vec<reqwest::Certificate> = ca_pem
            .map(|p| vec![reqwest::Certificate::from_pem(p.as_bytes()).unwrap()])
            .unwrap_or_default();
        b = b.tls_certs_only(certs);
    }
    b.build().unwrap()
}

/// The Location header of a redirect.
pub fn location(resp: &Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on {} {}", resp.status(), resp.url()))
        .to_str()
        .unwrap()
        .to_string()
}

fn fields_of(form: scraper::ElementRef<'_>) -> Vec<(String, String)> {
    let input_sel = Selector::parse("input, textarea").unwrap();
    form.select(&input_sel)
        .filter_map(|i| {
            let name = i.value().attr("name")?.to_string();
            if i.value().attr("type") == Some("checkbox") {
                return None;
            }
            let value = if i.value().name() == "textarea" {
                i.text().collect()
            } else {
                i.value().attr("value").unwrap_or("").to_string()
            };
            Some((name, value))
        })
        .collect()
}

/// Name/value pairs of the inputs of the first form matching `selector` (checkboxes left out).
pub fn form_fields(html: &str, selector: &str) -> Vec<(String, String)> {
    let doc = Html::parse_document(html);
    let form_sel = Selector::parse(selector).unwrap();
    let form = doc
        .select(&form_sel)
        .next()
        .unwrap_or_else(|| panic!("no {selector} in:\n{html}"));
    fields_of(form)
}

/// All forms' field lists in document order.
pub fn all_forms(html: &str) -> Vec<Vec<(String, String)>> {
    let doc = Html::parse_document(html);
    doc.select(&Selector::parse("form").unwrap())
        .map(fields_of)
        .collect()
}

pub fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    fields.retain(|(k, _)| k != name);
    fields.push((name.to_string(), value.to_string()));
}

pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Text of the first element matching `selector`.
pub fn text_of(html: &str, selector: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).unwrap();
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect::<String>())
}

/// Attribute of the first element matching `selector`.
pub fn attr_of(html: &str, selector: &str, attr: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(selector).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr(attr).map(str::to_string))
}

/// Query parameters of a URL.
pub fn query(url: &str) -> Vec<(String, String)> {
    // A relative URL (Mattermost's `/error?...`) is read against a placeholder base.
    url::Url::parse(url)
        .or_else(|_| url::Url::parse("http://relative.invalid/").and_then(|b| b.join(url)))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub fn assert_status(resp: &Response, status: StatusCode) {
    assert_eq!(resp.status(), status, "{} {}", resp.url(), resp.status());
}

/// Log in to the twin's Mattermost (API v4, 10.11) as its seeded system admin; returns a client
/// for Mattermost's scheme (trusting the twin CA) and the session token.
pub async fn mattermost_admin_session(h: &TwinHandle) -> (Client, String) {
    let mm = h.mattermost().expect("the twin runs Mattermost");
    let scheme = if mm.url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    let c = client_for(h.address_book(), scheme, Some(h.ca_pem()), None, false);
    let resp = c
        .post(format!("{}/api/v4/users/login", mm.url))
        .json(&serde_json::json!({"login_id": mm.admin_username, "password": mm.admin_password.expose()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "admin login");
    let token = resp.headers()["token"].to_str().unwrap().to_string();
    (c, token)
}

/// The mm-harness binary under test, without colour.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mm-harness"));
    c.env("NO_COLOR", "1");
    c
}

/// stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
