//! One HTTP request as GitLab's Rails and Grape stacks see it, and the response shapes they send.
//!
//! Owns: reading query and body parameters (form-urlencoded or JSON, as Rails' params parsing
//! accepts both), Rails' `_method` override for HTML forms, cookies, the `_gitlab_session` cookie
//! header, HTML/JSON/redirect responses with GitLab's headers, and HTML escaping.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Request bodies larger than this are refused (GitLab's nginx `client_max_body_size` is larger;
/// nothing the twin serves needs more).
const MAX_BODY: usize = 1024 * 1024;

/// The session cookie name.
pub const SESSION_COOKIE: &str = "_gitlab_session";

/// A parsed request.
pub struct GitlabRequest {
    /// The effective method (after `_method` on a form POST).
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// Body parameters (form or JSON object with scalar values).
    pub form: Vec<(String, String)>,
    /// The body could not be read or parsed.
    pub malformed_body: bool,
}

impl std::fmt::Debug for GitlabRequest {
    /// Parameter and header names only: their values carry passwords, client secrets, codes,
    /// tokens and the session cookie.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |pairs: &[(String, String)]| -> Vec<String> {
            pairs.iter().map(|(k, _)| k.clone()).collect()
        };
        f.debug_struct("GitlabRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &names(&self.query))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("form", &names(&self.form))
            .field("malformed_body", &self.malformed_body)
            .finish()
    }
}

impl GitlabRequest {
    pub async fn read(req: Request) -> GitlabRequest {
        let (parts, body) = req.into_parts();
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut malformed_body = false;
        let form = match to_bytes(Body::new(body), MAX_BODY).await {
            Ok(bytes) if bytes.is_empty() => Vec::new(),
            Ok(bytes) if content_type.starts_with("application/json") => {
                match serde_json::from_slice::<serde_json::Value>(&bytes) {
                    Ok(serde_json::Value::Object(map)) => map
                        .into_iter()
                        .filter_map(|(k, v)| match v {
                            serde_json::Value::String(s) => Some((k, s)),
                            serde_json::Value::Bool(b) => Some((k, b.to_string())),
                            serde_json::Value::Number(n) => Some((k, n.to_string())),
                            _ => None,
                        })
                        .collect(),
                    _ => {
                        malformed_body = true;
                        Vec::new()
                    }
                }
            }
            Ok(bytes) => url::form_urlencoded::parse(&bytes).into_owned().collect(),
            Err(_) => {
                malformed_body = true;
                Vec::new()
            }
        };
        let mut method = parts.method;
        if method == Method::POST {
            let overridden = form
                .iter()
                .find(|(k, _)| k == "_method")
                .map(|(_, v)| v.to_ascii_uppercase());
            match overridden.as_deref() {
                Some("DELETE") => method = Method::DELETE,
                Some("PUT") => method = Method::PUT,
                Some("PATCH") => method = Method::PATCH,
                _ => {}
            }
        }
        GitlabRequest {
            method,
            path: parts.uri.path().to_string(),
            query,
            headers: parts.headers,
            form,
            malformed_body,
        }
    }

    /// A query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A body parameter.
    pub fn form_param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter from the body, else the query (Rails merges both into `params`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form_param(name).or_else(|| self.query_param(name))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of a cookie.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// The path with its query string, as Devise stores it for after sign-in.
    pub fn fullpath(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(self.query.iter())
                .finish();
            format!("{}?{}", self.path, q)
        }
    }
}

/// An HTML page response.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
    resp
}

/// A JSON response.
pub fn json(status: StatusCode, value: serde_json::Value) -> Response {
    let mut resp = (status, value.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A `302 Found` to an absolute URL (Rails' `redirect_to`).
pub fn redirect(location: &str) -> Response {
    let body = format!(
        "<html><body>You are being <a href=\"{}\">redirected</a>.</body></html>",
        escape(location)
    );
    let mut resp = html(StatusCode::FOUND, body);
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Attach a `_gitlab_session` cookie.
pub fn with_session_cookie(mut resp: Response, session_id: &str, secure: bool) -> Response {
    let mut cookie = format!("{SESSION_COOKIE}={session_id}; path=/; HttpOnly; SameSite=Lax");
    if secure {
        cookie.push_str("; secure");
    }
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// Escape text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `url?k=v&...` with the pairs appended (to an existing query if there is one).
pub fn append_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let encoded: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish();
    if encoded.is_empty() {
        base.to_string()
    } else if base.contains('?') {
        format!("{base}&{encoded}")
    } else {
        format!("{base}?{encoded}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x?a=1&b='2'\">"),
            "&lt;a href=&quot;x?a=1&amp;b=&#39;2&#39;&quot;&gt;"
        );
    }

    #[test]
    fn appends_query_pairs() {
        assert_eq!(
            append_query("http://m/cb", &[("code", "a b"), ("state", "x=")]),
            "http://m/cb?code=a+b&state=x%3D"
        );
        assert_eq!(
            append_query("http://m/cb?x=1", &[("code", "c")]),
            "http://m/cb?x=1&code=c"
        );
    }

    #[tokio::test]
    async fn form_method_override_and_cookies() {
        let req = Request::builder()
            .method("POST")
            .uri("/oauth/authorize?state=s")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", "a=1; _gitlab_session=abc")
            .body(Body::from("_method=delete&client_id=x"))
            .unwrap();
        let req = GitlabRequest::read(req).await;
        assert_eq!(req.method, Method::DELETE);
        assert_eq!(req.param("client_id"), Some("x"));
        assert_eq!(req.param("state"), Some("s"));
        assert_eq!(req.cookie(SESSION_COOKIE).as_deref(), Some("abc"));
    }

    #[tokio::test]
    async fn debug_output_names_parameters_without_their_values() {
        let req = Request::builder()
            .method("POST")
            .uri("/oauth/token?code=code-in-query")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", "_gitlab_session=session-id-1")
            .header("private-token", "glpat-secret-1")
            .body(Body::from("client_secret=secret-in-body&password=pass-1"))
            .unwrap();
        let text = format!("{:?}", GitlabRequest::read(req).await);
        for secret in [
            "code-in-query",
            "session-id-1",
            "glpat-secret-1",
            "secret-in-body",
            "pass-1",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(
            text.contains("client_secret") && text.contains("/oauth/token"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn json_bodies_are_params_too() {
        let req = Request::builder()
            .method("POST")
            .uri("/api/v4/applications")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"name":"x","confidential":false,"n":3}"#))
            .unwrap();
        let req = GitlabRequest::read(req).await;
        assert_eq!(req.param("confidential"), Some("false"));
        assert_eq!(req.param("n"), Some("3"));
        let bad = Request::builder()
            .method("POST")
            .uri("/api/v4/applications")
            .header("content-type", "application/json")
            .body(Body::from("{"))
            .unwrap();
        assert!(GitlabRequest::read(bad).await.malformed_body);
    }
}
