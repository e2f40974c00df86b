//! Serving the twin's routers on loopback, as omnibus's nginx fronts GitLab and Mattermost.
//!
//! Owns: the accept loops (plain HTTP, or TLS through tokio-rustls), HTTP/1.1 and HTTP/2 through
//! hyper-util's auto builder, the http→https redirect listener of `redirect_http_to_https`
//! (omnibus `gitlab-http.conf.erb` / `mattermost-http.conf.erb`:
//! `return 301 https://<fqdn>:<port>$request_uri;`) and the closed port (an address nobody
//! listens on), and the headers nginx adds to proxied requests ([`behind_nginx`]). The slow endpoint is the GitLab twin's own (`GitlabTwinConfig::slow`): only the
//! endpoints Mattermost's server calls are held back, not the pages a browser signs in on.
//! A [`ServedListener`] owns its accept task and every connection task: dropping it aborts them all.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete the TLS handshake before its connection is closed.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A router being served on a loopback address. Dropping it stops the listener and every open
/// connection.
#[derive(Debug)]
pub struct ServedListener {
    addr: SocketAddr,
    tls: bool,
    task: JoinHandle<()>,
}

impl ServedListener {
    /// The loopback address the listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether it speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Stop accepting and close every connection.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for ServedListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a listener could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot bind a loopback listener: {0}")]
    Bind(#[source] std::io::Error),
    #[error("refusing to listen on {0}: the twin serves loopback (127.0.0.0/8) only")]
    NotLoopback(SocketAddr),
}

/// Bind `127.0.0.1:0`.
pub async fn bind_loopback() -> Result<TcpListener, ListenError> {
    TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(ListenError::Bind)
}

/// An address on loopback where nothing listens (fault "closed port"): a port is bound, read and
/// released, so connecting to it is refused.
pub fn closed_port() -> Result<SocketAddr, ListenError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(ListenError::Bind)?;
    listener.local_addr().map_err(ListenError::Bind)
}

/// Serve `router` on `listener` until the returned handle is dropped: over TLS with `tls` (an
/// `https` listener), else plain HTTP.
pub fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<ServedListener, ListenError> {
    let addr = listener.local_addr().map_err(ListenError::Bind)?;
    if !addr.ip().is_loopback() {
        return Err(ListenError::NotLoopback(addr));
    }
    let tls = tls.map(TlsAcceptor::from);
    let is_tls = tls.is_some();
    let task = tokio::spawn(accept_loop(listener, router, tls));
    Ok(ServedListener {
        addr,
        tls: is_tls,
        task,
    })
}

async fn accept_loop(listener: TcpListener, router: Router, tls: Option<TlsAcceptor>) {
    // Connection tasks live in this set: aborting the accept task drops the set, which aborts them.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Transient accept errors (e.g. too many open files): back off briefly.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let tls = tls.clone();
                connections.spawn(async move {
                    let builder = Builder::new(TokioExecutor::new());
                    match tls {
                        Some(acceptor) => {
                            // A client that rejects our certificate ends the handshake (not our
                            // error); one that never finishes it is dropped after the timeout.
                            let handshake =
                                tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                            if let Ok(Ok(tls_stream)) = handshake.await {
                                let _ = builder
                                    .serve_connection_with_upgrades(TokioIo::new(tls_stream), service)
                                    .await;
                            }
                        }
                        None => {
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// What omnibus nginx adds to every request it proxies to GitLab or Mattermost
/// (omnibus `libraries/nginx.rb` `parse_proxy_headers`, 8.12.0 and 18.11.0 alike): over https
/// `X-Forwarded-Proto: https` and `X-Forwarded-Ssl: on`, over http `X-Forwarded-Proto: http`,
/// replacing whatever the client sent (`proxy_set_header`). Mattermost's `GetProtocol` reads it
/// (secure cookies, the site URL of a request).
pub fn behind_nginx(router: Router, https: bool) -> Router {
    router.layer(axum::middleware::map_request(
        move |mut req: Request| async move {
            let headers = req.headers_mut();
            let proto = if https { "https" } else { "http" };
            headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
            if https {
                headers.insert("x-forwarded-ssl", HeaderValue::from_static("on"));
            }
            req
        },
    ))
}

/// The router of omnibus nginx's port-80 server block when `redirect_http_to_https` is set:
/// every request answers `301` to `https://<host>:<port><request_uri>`.
pub fn redirect_to_https_router(host: &str, https_port: u16) -> Router {
    let base = format!("https://{}:{}", host.to_ascii_lowercase(), https_port);
    Router::new().fallback(move |req: Request| {
        let base = base.clone();
        async move {
            let request_uri = req
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str().to_string())
                .unwrap_or_else(|| "/".to_string());
            let target = format!("{base}{request_uri}");
            redirect_response(&target)
        }
    })
}

fn redirect_response(target: &str) -> Response {
    let body = "<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n\
                <center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx</center>\r\n\
                </body>\r\n</html>\r\n";
    let mut resp = (StatusCode::MOVED_PERMANENTLY, body).into_response();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(target) {
        headers.insert(header::LOCATION, v);
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    headers.insert(header::SERVER, HeaderValue::from_static("nginx"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn raw_get(addr: SocketAddr, request: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn redirect_keeps_the_request_uri() {
        let listener = bind_loopback().await.unwrap();
        let served = serve(
            listener,
            redirect_to_https_router("GitLab.example.com", 443),
            None,
        )
        .unwrap();
        let reply = raw_get(
            served.addr(),
            "GET /users/sign_in?x=1 HTTP/1.1\r\nHost: gitlab.example.com\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(reply.starts_with("HTTP/1.1 301"), "{reply}");
        assert!(
            reply
                .to_ascii_lowercase()
                .contains("location: https://gitlab.example.com:443/users/sign_in?x=1"),
            "{reply}"
        );
    }

    #[tokio::test]
    async fn dropping_the_handle_closes_the_port() {
        let listener = bind_loopback().await.unwrap();
        let served = serve(
            listener,
            Router::new().route("/", axum::routing::get(|| async { "ok" })),
            None,
        )
        .unwrap();
        let addr = served.addr();
        let reply = raw_get(
            addr,
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(reply.ends_with("ok"), "{reply}");
        drop(served);
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn tls_listener_completes_a_handshake_with_the_twin_ca() {
        crate::crypto::install_default_provider();
        let ca = crate::twin::tls::TwinCa::generate();
        let listener = bind_loopback().await.unwrap();
        let served = serve(
            listener,
            Router::new().route("/", axum::routing::get(|| async { "ok" })),
            Some(ca.server_config("gitlab.example.com", crate::twin::tls::CertKind::Valid)),
        )
        .unwrap();
        assert!(served.is_tls());
        let connector = tokio_rustls::TlsConnector::from(ca.client_config());
        let tcp = tokio::net::TcpStream::connect(served.addr()).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("gitlab.example.com").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nHost: gitlab.example.com\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        let reply = String::from_utf8_lossy(&out);
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }

    #[tokio::test]
    async fn closed_port_refuses_connections() {
        let addr = closed_port().unwrap();
        assert!(addr.ip().is_loopback());
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
