//! Mattermost's `AppError` as the twin's Mattermost puts it on the wire.
//!
//! Owns: the error value every handler returns (`id`, English `message`, `detailed_error`,
//! HTTP status), its JSON shape on API routes (`{"id","message","detailed_error","request_id",
//! "status_code"}` plus `X-Request-Id`), and the two ways web routes render it:
//! - Mattermost 10.x `utils.RenderWebError`: 3xx statuses redirect to
//!   `<subpath>/error?<params>&s=<signature>` (relative to the server), every other status answers an HTML page with that
//!   status whose script, `<noscript>` refresh and link all point at the same `/error` URL. The
//!   signature is ECDSA P-256 / SHA-256 over `"/error?" + params` with the server's asymmetric
//!   signing key, URL-safe base64 (as the real server does, so the web app can check it).
//! - Mattermost 3.4 `RenderWebError`: a redirect to `/error?title=&message=&details=&link=&linkmessage=`
//!   (relative, `details` blank as with `EnableDeveloper` off) with status 307 for 500 errors
//!   and the error's own status otherwise.
//!
//! Messages are the English texts of Mattermost's `i18n/en.json` with the template parameters
//! filled in. Like the real server in its default (non-developer) mode, `detailed_error` is blanked
//! before an error leaves the server ([`AppError::wire_detail`] keeps it for the twin's own log).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

/// One Mattermost application error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// The i18n id, e.g. `api.user.authorize_oauth_user.bad_response.app_error`.
    pub id: &'static str,
    /// The English message with parameters filled in.
    pub message: String,
    /// What went wrong underneath (kept server-side; blanked on the wire like the real default).
    pub detail: String,
    /// The HTTP status.
    pub status: u16,
}

impl AppError {
    pub fn new(id: &'static str, message: impl Into<String>, status: u16) -> AppError {
        AppError {
            id,
            message: message.into(),
            detail: String::new(),
            status,
        }
    }

    /// The same error with an explanation for the server-side log.
    pub fn with_detail(mut self, detail: impl Into<String>) -> AppError {
        self.detail = detail.into();
        self
    }

    /// What `detailed_error` carries on the wire: empty, as with `EnableDeveloper` off.
    pub fn wire_detail(&self) -> &str {
        ""
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The JSON body of an API error; Mattermost 3.x (`v3`) added `is_oauth`.
    pub fn to_json(&self, request_id: &str, v3: bool) -> serde_json::Value {
        let mut body = serde_json::json!({
            "id": self.id,
            "message": self.message,
            "detailed_error": self.wire_detail(),
            "request_id": request_id,
            "status_code": self.status,
        });
        if v3 {
            body["is_oauth"] = serde_json::Value::Bool(false);
        }
        body
    }

    /// The API response: status, JSON body and `X-Request-Id`.
    pub fn api_response(&self, request_id: &str, v3: bool) -> Response {
        let body = self.to_json(request_id, v3);
        let mut resp = (self.status_code(), axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        resp
    }
}

/// A handler's error on its way out of an API route: the bare status with the error in the
/// response extensions, which the twin's request plumbing renders as the profile's JSON shape
/// with the request id ([`AppError::api_response`]).
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut resp = self.status_code().into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.id, self.message)?;
        if !self.detail.is_empty() {
            write!(f, ", {}", self.detail)?;
        }
        Ok(())
    }
}

/// The key that signs `/error` URLs (Mattermost's `AsymmetricSigningKey`, P-256).
pub struct ErrorSigner {
    key: ring::signature::EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
}

impl ErrorSigner {
    /// A fresh key, as a new Mattermost database gets on first start.
    pub fn generate() -> Option<ErrorSigner> {
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).ok()?;
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).ok()?;
        Some(ErrorSigner { key, rng })
    }

    /// The public key (uncompressed SEC1 point), for anyone who wants to verify `s=`.
    pub fn public_key(&self) -> Vec<u8> {
        use ring::signature::KeyPair as _;
        self.key.public_key().as_ref().to_vec()
    }

    /// Whether `signature` (URL-safe base64, as in `&s=`) is this key's signature of `data`:
    /// what the web app checks before it trusts an error page's parameters.
    pub fn verify(&self, data: &[u8], signature: &str) -> bool {
        let Ok(sig) = base64::engine::general_purpose::URL_SAFE.decode(signature) else {
            return false;
        };
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_ASN1,
            self.public_key(),
        )
        .verify(data, &sig)
        .is_ok()
    }

    fn sign(&self, data: &[u8]) -> Option<String> {
        let sig = self.key.sign(&self.rng, data).ok()?;
        Some(base64::engine::general_purpose::URL_SAFE.encode(sig.as_ref()))
    }
}

/// Encode query parameters the way Go's `url.Values.Encode` does: keys sorted, `QueryEscape`d.
pub fn go_values_encode(params: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", go_query_escape(k), go_query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Go's `url.QueryEscape`: space as `+`, unreserved `A-Za-z0-9-_.~` kept, everything else `%XX`.
pub fn go_query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&#39;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
}

/// Go's `template.JSEscapeString` for the characters a URL can contain.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            _ => out.push(c),
        }
    }
    out
}

/// Mattermost 10.x `utils.RenderWebError(config, w, r, status, params, signer)`.
pub fn render_web_error(
    site_url: &str,
    status: u16,
    params: &[(&str, String)],
    signer: &ErrorSigner,
) -> Response {
    let query = go_values_encode(params);
    // ECDSA_P256_SHA256 hashes with SHA-256 itself: the same digest the real server signs.
    let Some(signature) = signer.sign(format!("/error?{query}").as_bytes()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let destination = format!("{site_url}/error?{query}&s={signature}");
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if (300..400).contains(&status) {
        return redirect(status_code, &destination);
    }
    let body = format!(
        "<!DOCTYPE html><html><head></head>\n\
         <body onload=\"window.location = '{js}'\">\n\
         <noscript><meta http-equiv=\"refresh\" content=\"0; url={h}\"></noscript>\n\
         <!-- web error message -->\n\
         <a href=\"{h}\" style=\"color: #c0c0c0;\">...</a>\n\
         </body></html>\n",
        js = html_escape(&js_escape(&destination)),
        h = html_escape(&destination),
    );
    let mut resp = (status_code, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}

/// Mattermost 10.x `utils.RenderWebAppError`: the error's message as `message=`.
pub fn render_web_app_error(site_url: &str, err: &AppError, signer: &ErrorSigner) -> Response {
    render_web_error(
        site_url,
        err.status,
        &[("message", err.message.clone())],
        signer,
    )
}

/// Mattermost 3.4 `api.RenderWebError`: a redirect to the web app's error page, relative to the
/// server (`/error?title=&message=&details=&link=&linkmessage=`), 307 for 500 errors and the
/// error's own status otherwise. `details` is the detailed error, which `Context.ServeHTTP` blanks
/// unless `EnableDeveloper` is on (api/context.go v3.4.0); omnibus 8.12 leaves it off
/// (`service_enable_developer = false`), so it is always empty here.
pub fn render_web_error_v3(site_name: &str, err: &AppError) -> Response {
    let title = format!("{site_name} needs your help:");
    let status = if err.status == 500 { 307 } else { err.status };
    let destination = format!(
        "/error?title={}&message={}&details={}&link={}&linkmessage={}",
        go_query_escape(&title),
        go_query_escape(&err.message),
        go_query_escape(err.wire_detail()),
        go_query_escape("/"),
        go_query_escape("Go back to Mattermost"),
    );
    redirect(
        StatusCode::from_u16(status).unwrap_or(StatusCode::TEMPORARY_REDIRECT),
        &destination,
    )
}

/// Go's `http.Redirect`: the status, a `Location`, and for GET a tiny HTML body.
pub fn redirect(status: StatusCode, location: &str) -> Response {
    let body = format!(
        "<a href=\"{}\">{}</a>.\n\n",
        html_escape(location),
        status.canonical_reason().unwrap_or("Found")
    );
    let mut resp = (status, body).into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_query_escape_matches_go() {
        assert_eq!(go_query_escape("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            go_values_encode(&[("type", "x".into()), ("service", "Gitlab".into())]),
            "service=Gitlab&type=x"
        );
    }

    #[test]
    fn signed_error_urls_verify_with_the_public_key() {
        let signer = ErrorSigner::generate().unwrap();
        let resp = render_web_error(
            "http://mm.example.com",
            307,
            &[("message", "Bad token type.".into())],
            &signer,
        );
        let loc = resp.headers()["location"].to_str().unwrap().to_string();
        let (unsigned, sig) = loc.split_once("&s=").unwrap();
        let path = unsigned.strip_prefix("http://mm.example.com").unwrap();
        let sig = base64::engine::general_purpose::URL_SAFE
            .decode(sig)
            .unwrap();
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_ASN1,
            signer.public_key(),
        );
        key.verify(path.as_bytes(), &sig).unwrap();
    }
}
