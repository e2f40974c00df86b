//! The doctor's HTTPS and proxy findings against Debian's nginx in front of the twin: nginx runs
//! as a child process with its own configuration in a temporary directory, on loopback ports,
//! with generated certificates (valid, expired, expiring in 10 days, wrong host, self-signed,
//! a leaf whose intermediate is not sent), an http listener that redirects to https and one that does not,
//! and a websocket location with and without the upgrade headers. The twin has no websocket
//! endpoint, so `/api/v4/websocket` goes to a small backend that answers like Mattermost's
//! (gorilla/websocket): 101 when `Upgrade`/`Connection` arrive, 400 when the proxy drops them.
//!
//! `.ci/run` installs nginx-light; outside CI a missing nginx skips these tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mm_harness::config::version::Profile;
use mm_harness::doctor::{DoctorInputs, DoctorReport, FindingKind, Prepared, diagnose};
use mm_harness::net::AddressBook;
use mm_harness::twin::bringup::{Twin, TwinOptions};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOST: &str = "mattermost.example.com";

/// nginx owned by the test: killed when dropped.
struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> Option<PathBuf> {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return Some(PathBuf::from(p));
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("nginx is not installed (apt-get install nginx-light; see .ci/run)");
    }
    eprintln!("skipped: nginx is not installed (apt-get install nginx-light)");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Certificates for the cases.
struct Pki {
    root: CertificateDer<'static>,
    /// name → (certificate chain PEM as nginx serves it, key PEM)
    files: Vec<(&'static str, String, String)>,
}

fn pki() -> Pki {
    let root_key = rcgen::KeyPair::generate().unwrap();
    let mut root_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Doctor Test Root");
    let root_cert = root_params.self_signed(&root_key).unwrap();
    let root = root_cert.der().clone();
    let root_issuer = rcgen::Issuer::new(root_params, root_key);

    let inter_key = rcgen::KeyPair::generate().unwrap();
    let mut inter_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    inter_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    inter_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Doctor Test Intermediate");
    let inter_cert = inter_params.signed_by(&inter_key, &root_issuer).unwrap();
    let inter_issuer = rcgen::Issuer::new(inter_params, inter_key);

    let leaf = |names: Vec<String>, expired: bool| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(names).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, HOST);
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        (p, key)
    };
    let mut files = Vec::new();
    let (p, k) = leaf(vec![HOST.into()], false);
    files.push((
        "valid",
        p.signed_by(&k, &root_issuer).unwrap().pem(),
        k.serialize_pem(),
    ));
    let (p, k) = leaf(vec![HOST.into()], true);
    files.push((
        "expired",
        p.signed_by(&k, &root_issuer).unwrap().pem(),
        k.serialize_pem(),
    ));
    let (p, k) = leaf(vec!["other.example.com".into()], false);
    files.push((
        "wrong-host",
        p.signed_by(&k, &root_issuer).unwrap().pem(),
        k.serialize_pem(),
    ));
    let (p, k) = leaf(vec![HOST.into()], false);
    files.push((
        "self-signed",
        p.self_signed(&k).unwrap().pem(),
        k.serialize_pem(),
    ));
    let (p, k) = leaf(vec![HOST.into()], false);
    let by_inter = p.signed_by(&k, &inter_issuer).unwrap();
    files.push(("leaf-only", by_inter.pem(), k.serialize_pem()));
    files.push((
        "full-chain",
        format!("{}{}", by_inter.pem(), inter_cert.pem()),
        k.serialize_pem(),
    ));
    let (mut p, k) = leaf(vec![HOST.into()], false);
    p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(10);
    files.push((
        "soon",
        p.signed_by(&k, &root_issuer).unwrap().pem(),
        k.serialize_pem(),
    ));
    Pki { root, files }
}

/// A backend answering the websocket handshake like Mattermost's gorilla upgrader.
async fn websocket_backend() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16384 {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                let upgrade = head
                    .lines()
                    .any(|l| l.starts_with("upgrade:") && l.contains("websocket"));
                let connection = head
                    .lines()
                    .any(|l| l.starts_with("connection:") && l.contains("upgrade"));
                let reply = if upgrade && connection {
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_string()
                } else {
                    let body = "websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header\n";
                    format!(
                        "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = s.write_all(reply.as_bytes()).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            });
        }
    });
    addr
}

/// One nginx server block: a TLS listener with a certificate, proxying to the twin, with or
/// without the websocket headers.
struct Site {
    cert: &'static str,
    port: u16,
    websocket_headers: bool,
}

fn start_nginx(
    pki: &Pki,
    sites: &[Site],
    redirect_port: u16,
    plain_port: u16,
    twin: SocketAddr,
    ws: SocketAddr,
) -> Option<Nginx> {
    let bin = nginx_binary()?;
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().to_path_buf();
    std::fs::create_dir_all(prefix.join("tmp")).unwrap();
    let mut servers = String::new();
    for site in sites {
        let (_, chain, key) = pki.files.iter().find(|(n, _, _)| *n == site.cert).unwrap();
        let crt = prefix.join(format!("{}.crt", site.cert));
        let keyp = prefix.join(format!("{}.key", site.cert));
        std::fs::write(&crt, chain).unwrap();
        std::fs::write(&keyp, key).unwrap();
        let ws_headers = if site.websocket_headers {
            "proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection \"upgrade\";"
        } else {
            ""
        };
        servers.push_str(&format!(
            "  server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name {HOST};\n    ssl_certificate {crt};\n    ssl_certificate_key {key};\n\
             \x20   location /api/v4/websocket {{\n        proxy_pass http://{ws};\n        {ws_headers}\n    }}\n\
             \x20   location / {{\n        proxy_pass http://{twin};\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-Proto https;\n    }}\n  }}\n",
            port = site.port,
            crt = crt.display(),
            key = keyp.display(),
        ));
    }
    let p = prefix.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {p}/tmp/body;\n  proxy_temp_path {p}/tmp/proxy;\n  fastcgi_temp_path {p}/tmp/fcgi;\n  uwsgi_temp_path {p}/tmp/uwsgi;\n  scgi_temp_path {p}/tmp/scgi;\n\
         \x20 server {{\n    listen 127.0.0.1:{redirect_port};\n    server_name {HOST};\n    return 301 https://$host$request_uri;\n  }}\n\
         \x20 server {{\n    listen 127.0.0.1:{plain_port};\n    server_name {HOST};\n    location / {{ proxy_pass http://{twin}; proxy_set_header Host $host; }}\n  }}\n\
         {servers}}}\n"
    );
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, &conf).unwrap();
    let child = Command::new(bin)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    let mut nginx = Nginx { child, _dir: dir };
    // Ready when every listener accepts (bounded).
    let mut ports: Vec<u16> = sites.iter().map(|s| s.port).collect();
    ports.push(redirect_port);
    ports.push(plain_port);
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !ports
        .iter()
        .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
    {
        // nginx refusing its configuration exits: say why.
        if let Ok(Some(status)) = nginx.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = nginx.child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("nginx exited ({status}): {err}");
        }
        if std::time::Instant::now() >= until {
            let t = Command::new(nginx_binary().unwrap())
                .arg("-t")
                .arg("-p")
                .arg(&prefix)
                .arg("-c")
                .arg(&conf_path)
                .output()
                .unwrap();
            eprintln!("nginx -t: {}", String::from_utf8_lossy(&t.stderr));
        }
        assert!(
            std::time::Instant::now() < until,
            "nginx did not listen on {:?}: {}",
            ports
                .iter()
                .filter(|p| std::net::TcpStream::connect(("127.0.0.1", **p)).is_err())
                .collect::<Vec<_>>(),
            std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(nginx)
}

async fn diagnose_site(port: u16, http_port: u16, root: &CertificateDer<'static>) -> DoctorReport {
    let mut book = AddressBook::new();
    book.insert("https", HOST, 443, SocketAddr::from(([127, 0, 0, 1], port)));
    book.insert(
        "http",
        HOST,
        80,
        SocketAddr::from(([127, 0, 0, 1], http_port)),
    );
    let mut i = DoctorInputs::new();
    i.mattermost = Some(format!("https://{HOST}").parse().unwrap());
    i.book = book;
    i.roots = vec![root.clone()];
    i.timeout = Duration::from_secs(5);
    diagnose(Prepared::new(i).unwrap()).await
}

fn ids(r: &DoctorReport, prefix: &str) -> Vec<&'static str> {
    r.findings()
        .map(|(_, f)| f.kind.id())
        .filter(|id| id.starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn nginx_certificates_redirects_and_websocket_headers() {
    let pki = pki();
    let twin = Twin::start(TwinOptions::single_server(Profile::Gitlab18_11))
        .await
        .unwrap();
    let twin_addr = twin.address_book().lookup("http", HOST, 80).unwrap();
    let ws = websocket_backend().await;
    let names = [
        "valid",
        "expired",
        "wrong-host",
        "self-signed",
        "leaf-only",
        "full-chain",
        "soon",
    ];
    let mut sites: Vec<Site> = names
        .iter()
        .map(|n| Site {
            cert: n,
            port: free_port(),
            websocket_headers: true,
        })
        .collect();
    sites.push(Site {
        cert: "valid",
        port: free_port(),
        websocket_headers: false,
    });
    let (redirect_port, plain_port) = (free_port(), free_port());
    let Some(_nginx) = start_nginx(&pki, &sites, redirect_port, plain_port, twin_addr, ws) else {
        return;
    };
    let port = |i: usize| sites[i].port;

    // The healthy site: certificate, redirect, websocket, ping through the proxy.
    let r = diagnose_site(port(0), redirect_port, &pki.root).await;
    assert_eq!(ids(&r, "tls."), vec!["tls.ok"]);
    assert!(r.has(FindingKind::ProxyHttpRedirectOk), "{:?}", ids(&r, ""));
    assert!(r.has(FindingKind::ProxyWebsocketOk), "{:?}", ids(&r, ""));
    assert!(r.has(FindingKind::ReachMattermostOk), "{:?}", ids(&r, ""));

    for (i, want) in [
        (1, "tls.expired"),
        (2, "tls.wrong-host"),
        (3, "tls.untrusted"),
        (4, "tls.chain-incomplete"),
        (5, "tls.ok"),
        (6, "tls.expires-soon"),
    ] {
        let r = diagnose_site(port(i), redirect_port, &pki.root).await;
        assert_eq!(ids(&r, "tls."), vec![want], "{}", names[i]);
    }

    // The proxy that drops Upgrade/Connection, and an http listener that serves instead of
    // redirecting.
    let r = diagnose_site(port(7), plain_port, &pki.root).await;
    // (The http twin behind this nginx sets X-Forwarded-Proto http itself, so the login check
    // also sees `proxy.forwarded-proto-missing`; that is the twin's listener, not nginx.)
    let proxy = ids(&r, "proxy.");
    assert_eq!(
        &proxy[..2],
        ["proxy.http-not-redirected", "proxy.websocket-dropped"],
        "{proxy:?}"
    );
    let dropped = r
        .findings()
        .find(|(_, f)| f.kind == FindingKind::ProxyWebsocketDropped)
        .unwrap()
        .1;
    assert!(dropped.evidence.contains("400"), "{}", dropped.evidence);
    assert_eq!(r.exit().code(), 1);
    twin.shutdown().await;
}
