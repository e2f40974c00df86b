//! Throughput of the mail sink: messages per second it accepts over STARTTLS from 4 concurrent
//! lettre clients (one connection per message, as Mattermost sends), side by side in the same
//! run with aiosmtpd (PyPI, `pip install aiosmtpd`) receiving the same load with its `Sink`
//! handler and STARTTLS on the same certificate. Prints both figures and their ratio.
//!
//! `cargo bench --bench mailsink` (a plain `main`, not criterion: the figure is a rate over a
//! fixed load, best of `ROUNDS`). Without python3/aiosmtpd the aiosmtpd half is skipped with a
//! printed reason.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mm_harness::mailsink::{
    CertIssuer, ListenerMode, ListenerSpec, MailSink, SinkCert, SinkOptions,
};

const HOST: &str = "smtp.example.com";
const CLIENTS: usize = 4;
const PER_CLIENT: usize = 50;
const ROUNDS: usize = 3;

struct Certs {
    ca_der: Vec<u8>,
    cert_pem: String,
    key_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn certs() -> Certs {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![HOST.to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    Certs {
        ca_der: ca.der().to_vec(),
        cert_pem: format!("{}{}", leaf.pem(), ca.pem()),
        key_pem: key.serialize_pem(),
        server: Arc::new(server),
    }
}

struct Fixed(Arc<rustls::ServerConfig>);

impl CertIssuer for Fixed {
    fn sink_server_config(
        &self,
        _host: &str,
        _cert: SinkCert,
    ) -> Result<Arc<rustls::ServerConfig>, String> {
        Ok(self.0.clone())
    }
}

fn message(i: usize) -> Message {
    Message::builder()
        .from("GitLab Mattermost <mattermost@example.com>".parse::<Mailbox>().unwrap())
        .to("alice@example.com".parse::<Mailbox>().unwrap())
        .subject(format!("[GitLab Mattermost] Notification {i}"))
        .body(format!(
            "<p>@bob mentioned you.</p><p><a href=\"https://mattermost.example.com/t/pl/{i}\">View</a></p>"
        ))
        .unwrap()
}

/// Send CLIENTS × PER_CLIENT messages over STARTTLS to `addr`; messages per second.
async fn load(addr: SocketAddr, ca_der: &[u8]) -> f64 {
    let params = TlsParameters::builder(HOST.to_string())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_der(ca_der.to_vec()).unwrap())
        .build_rustls()
        .unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .tls(Tls::Required(params))
        .timeout(Some(Duration::from_secs(10)))
        .build();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let t = transport.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_CLIENT {
                t.send(message(c * PER_CLIENT + i)).await.expect("accepted");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (CLIENTS * PER_CLIENT) as f64 / started.elapsed().as_secs_f64()
}

fn best(rates: &[f64]) -> f64 {
    rates.iter().copied().fold(0.0, f64::max)
}

struct Aiosmtpd(Child);

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start aiosmtpd with STARTTLS on a free loopback port, or say why not.
fn start_aiosmtpd(c: &Certs, dir: &std::path::Path) -> Result<(Aiosmtpd, SocketAddr), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &c.cert_pem).map_err(|e| e.to_string())?;
    std::fs::write(&key, &c.key_pem).map_err(|e| e.to_string())?;
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Sink", "--tlscert"])
        .arg(&cert)
        .arg("--tlskey")
        .arg(&key)
        .arg("--no-requiretls")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    let mut guard = Aiosmtpd(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = guard.0.try_wait() {
            return Err(format!(
                "aiosmtpd exited ({status}); is it installed? pip install aiosmtpd"
            ));
        }
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok((guard, addr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("aiosmtpd did not listen within 20 s".to_string())
}

fn main() {
    mm_harness::crypto::install_default_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = certs();
    let mut opts = SinkOptions::new(HOST)
        .with_listener(ListenerSpec::loopback("submission", ListenerMode::StartTls))
        .with_certificates(Arc::new(Fixed(c.server.clone())));
    opts.http_bind = None;
    opts.limits.max_messages = 100;
    let sink = rt.block_on(MailSink::start(opts)).unwrap();
    let sink_addr = sink.addr(ListenerMode::StartTls).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let aiosmtpd = start_aiosmtpd(&c, dir.path());

    let mut sink_rates = Vec::new();
    let mut aio_rates = Vec::new();
    for _ in 0..ROUNDS {
        sink_rates.push(rt.block_on(load(sink_addr, &c.ca_der)));
        if let Ok((_, addr)) = &aiosmtpd {
            aio_rates.push(rt.block_on(load(*addr, &c.ca_der)));
        }
    }
    let s = best(&sink_rates);
    println!(
        "mailsink: {s:.0} messages/s over STARTTLS ({CLIENTS} lettre clients x {PER_CLIENT}, best of {ROUNDS})"
    );
    match &aiosmtpd {
        Ok(_) => {
            let a = best(&aio_rates);
            println!("aiosmtpd: {a:.0} messages/s, same load");
            println!("ratio mailsink/aiosmtpd: {:.2}", s / a);
        }
        Err(why) => println!("aiosmtpd: skipped ({why})"),
    }
}
