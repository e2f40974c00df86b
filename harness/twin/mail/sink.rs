//! The twin's side of the mail sink: the twin's CA issues the sink's certificates, and the
//! twin's faults become the sink's switches. The sink itself (`crate::mailsink`) is a harness
//! component, not part of the twin; this file only plugs the two together.
//!
//! Owns: `impl CertIssuer for TwinCa`.

use std::sync::Arc;

use crate::mailsink::{CertIssuer, SinkCert};
use crate::twin::tls::{CertKind, TwinCa};

impl CertIssuer for TwinCa {
    fn sink_server_config(
        &self,
        host: &str,
        cert: SinkCert,
    ) -> Result<Arc<rustls::ServerConfig>, String> {
        let kind = match cert {
            SinkCert::Valid => CertKind::Valid,
            SinkCert::Expired => CertKind::Expired,
            SinkCert::WrongHost => CertKind::WrongHost,
            SinkCert::Untrusted => CertKind::Untrusted,
        };
        let config = self
            .try_server_config(host, kind)
            .map_err(|e| e.to_string())?;
        // The HTTPS listeners' ALPN (http/1.1) means nothing to SMTP clients.
        let mut config = (*config).clone();
        config.alpn_protocols.clear();
        Ok(Arc::new(config))
    }
}
