//! The twin over HTTPS, seen by real rustls clients (reqwest): the generated CA, the omnibus
//! http→https redirect listener, and each certificate fault (expired, wrong host, untrusted).

use crate::support::*;
use mm_harness::config::version::Profile;
use mm_harness::twin::bringup::{Twin, TwinHandle, TwinOptions};
use mm_harness::twin::fault::Fault;
use reqwest::StatusCode;

const GITLAB: &str = "https://gitlab.example.com";

async fn start(faults: &[Fault]) -> TwinHandle {
    let mut opts = TwinOptions::single_server_https(Profile::Gitlab18_11);
    for f in faults {
        opts = opts.with_fault(*f);
    }
    Twin::start(opts).await.unwrap()
}

/// The full error chain of a failed request, for matching the rustls reason.
fn chain(err: &reqwest::Error) -> String {
    let mut out = format!("{err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        out.push_str(&format!(" / {s:?}"));
        source = s.source();
    }
    out
}

#[tokio::test]
async fn https_with_the_twin_ca_is_trusted() {
    let h = start(&[]).await;
    let b = Browser::new(h.address_book(), Some(h.ca_pem()));
    let resp = b.get(&format!("{GITLAB}/users/sign_in")).await;
    assert_status(&resp, StatusCode::OK);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("secure"),
        "session cookie is secure on https: {cookie}"
    );
    assert!(h.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
}

#[tokio::test]
async fn https_without_the_ca_is_refused() {
    let h = start(&[]).await;
    let b = Browser::new(h.address_book(), None);
    let err = b
        .try_get(&format!("{GITLAB}/users/sign_in"))
        .await
        .unwrap_err();
    assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));
}

#[tokio::test]
async fn http_listener_redirects_to_https_like_omnibus_nginx() {
    let h = start(&[]).await;
    let b = Browser::new(h.address_book(), Some(h.ca_pem()));
    for host in ["gitlab.example.com", "mattermost.example.com"] {
        let resp = b.get(&format!("http://{host}/users/sign_in?x=1")).await;
        assert_status(&resp, StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            location(&resp),
            format!("https://{host}:443/users/sign_in?x=1")
        );
    }
    let (url, resp) = b.follow("http://gitlab.example.com/users/sign_in").await;
    assert_eq!(url, "https://gitlab.example.com:443/users/sign_in");
    assert_status(&resp, StatusCode::OK);
}

#[tokio::test]
async fn no_redirect_listener_without_redirect_http_to_https() {
    let mut opts = TwinOptions::single_server_https(Profile::Gitlab18_11);
    opts.hosts[0].gitlab_nginx.redirect_http_to_https = false;
    let h = Twin::start(opts).await.unwrap();
    assert!(
        h.address_book()
            .lookup("http", "gitlab.example.com", 80)
            .is_none()
    );
    assert!(
        h.address_book()
            .lookup("http", "mattermost.example.com", 80)
            .is_some()
    );
    assert!(
        h.address_book()
            .lookup("https", "gitlab.example.com", 443)
            .is_some()
    );
}

/// Each certificate fault, seen by a rustls client given the twin CA.
#[tokio::test]
async fn certificate_faults_are_rejected_by_rustls() {
    for (fault, rustls_error) in [
        (Fault::ExpiredCertificate, "Expired"),
        (Fault::WrongHostCertificate, "NotValidForName"),
        // Signed by a CA nobody trusts: rejected even with the twin CA.
        (Fault::UntrustedCertificate, "UnknownIssuer"),
    ] {
        let h = start(&[fault]).await;
        let b = Browser::new(h.address_book(), Some(h.ca_pem()));
        let err = b.try_get(&format!("{GITLAB}/")).await.unwrap_err();
        assert!(
            chain(&err).contains(rustls_error),
            "{fault}: {}",
            chain(&err)
        );
    }
}

#[tokio::test]
async fn certificate_faults_touch_gitlab_only() {
    let h = start(&[Fault::ExpiredCertificate]).await;
    let b = Browser::new(h.address_book(), Some(h.ca_pem()));
    // Mattermost's own listener keeps a valid certificate: the handshake succeeds.
    let resp = b.try_get("https://mattermost.example.com/").await;
    assert!(resp.is_ok(), "{:?}", resp.err().map(|e| chain(&e)));
    // A user clicking through the warning still reaches GitLab.
    let insecure = Browser::insecure(h.address_book());
    let resp = insecure.get(&format!("{GITLAB}/users/sign_in")).await;
    assert_status(&resp, StatusCode::OK);
}

#[tokio::test]
async fn certificate_fault_without_tls_is_a_clear_error() {
    let opts =
        TwinOptions::single_server(Profile::Gitlab18_11).with_fault(Fault::ExpiredCertificate);
    let err = Twin::start(opts).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("expired-certificate"), "{text}");
    assert!(text.contains("https"), "{text}");
}

#[tokio::test]
async fn dropping_the_handle_closes_every_listener() {
    let h = start(&[]).await;
    let addrs: Vec<_> = h.listener_addrs();
    assert_eq!(
        addrs.len(),
        4,
        "https + redirect for each of GitLab and Mattermost"
    );
    assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    h.shutdown().await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for a in addrs {
        assert!(
            tokio::net::TcpStream::connect(a).await.is_err(),
            "{a} still open"
        );
    }
}
