//! Shared setup of the Mattermost-side twin tests (twin_mattermost, twin_webhooks, twin_mail):
//! serving a router on 127.0.0.1:0, a test CA with one server certificate (rcgen), and a plain
//! reqwest API client that signs in to the twin's Mattermost and sends authenticated calls.
//! Included with `#[path]` so each test binary compiles only this file; it shares no code with
//! the harness's `drive` module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use serde_json::{Value, json};

/// The documented host name of the twin's Mattermost.
pub const MM_HOST: &str = "mattermost.example.com";
/// Its site URL over plain HTTP.
pub const MM_SITE: &str = "http://mattermost.example.com";

/// Serve a router on a fresh loopback port until the test ends.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// A test CA and one server certificate signed by it.
pub struct TestCerts {
    /// The CA certificate (what a client trusts).
    pub ca: CertificateDer<'static>,
    /// A rustls server configuration presenting the server certificate and the CA.
    pub server: Arc<rustls::ServerConfig>,
    /// The server certificate followed by the CA, PEM.
    pub cert_pem: String,
    /// The server's private key, PEM.
    pub key_pem: String,
}

/// A fresh CA and a certificate for `host` (already expired when `expired`).
pub fn test_certs(host: &str, expired: bool) -> TestCerts {
    mm_harness::crypto::install_default_provider();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Twin Test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = ca_cert.der().clone();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = params.signed_by(&key, &issuer).unwrap();
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone(), ca.clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    TestCerts {
        ca,
        server: Arc::new(server),
        cert_pem: format!("{}{}", cert.pem(), ca_cert.pem()),
        key_pem: key.serialize_pem(),
    }
}

/// A reqwest client reaching `mattermost.example.com` at `addr`, redirects not followed.
pub fn mm_client(addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .resolve(MM_HOST, addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A signed-in API client of the twin's Mattermost at [`MM_SITE`].
pub struct MmApi {
    pub http: reqwest::Client,
    pub token: String,
    /// The `Authorization` scheme it sends the token with: `Bearer` or `Token` (both accepted).
    pub scheme: &'static str,
}

impl MmApi {
    /// `POST /api/{version}/users/login` (version `v3` or `v4`); the error status and JSON when
    /// the login is refused.
    pub async fn login(
        addr: SocketAddr,
        version: &str,
        login_id: &str,
        password: &str,
    ) -> Result<MmApi, (u16, Value)> {
        let http = mm_client(addr);
        let resp = http
            .post(format!("{MM_SITE}/api/{version}/users/login"))
            .json(&json!({"login_id": login_id, "password": password}))
            .send()
            .await
            .unwrap();
        if resp.status() != 200 {
            let s = resp.status().as_u16();
            return Err((s, resp.json().await.unwrap()));
        }
        let token = resp.headers()["token"].to_str().unwrap().to_string();
        Ok(MmApi {
            http,
            token,
            scheme: "Bearer",
        })
    }

    /// The same session sent with another `Authorization` scheme.
    pub fn with_scheme(self, scheme: &'static str) -> MmApi {
        MmApi { scheme, ..self }
    }

    /// One authenticated call: status and JSON body (`Null` when the body is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{MM_SITE}{path}"))
            .header("Authorization", format!("{} {}", self.scheme, self.token));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// Assert that an API reply is Mattermost's error `want_id` with status `want_status`.
#[track_caller]
pub fn assert_app_error(status: u16, body: &Value, want_status: u16, want_id: &str) {
    assert_eq!(
        (status, body["id"].as_str()),
        (want_status, Some(want_id)),
        "{body}"
    );
}
