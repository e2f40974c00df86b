//! The address book of a running stack: where each documented host name (`gitlab.example.com`,
//! `mattermost.example.com`) is really reachable, per URL scheme.
//!
//! Owns: plain data only. A stack publishes one (the twin's loopback listeners, the docker target's
//! mapped ports); clients on either side (the twin's outbound token/user requests, the harness
//! drivers) build their own HTTP clients from it, so that URLs, `Host` headers and TLS server names
//! stay the documented ones while the TCP connection goes to loopback. An http and an https listener
//! for one host name have different ports, so lookups are per scheme.

use std::net::SocketAddr;

use serde::Serialize;

/// One entry: requests for `scheme://host[:port]` connect to `addr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressEntry {
    /// `http`, `https` or `smtp`.
    pub scheme: String,
    /// The documented host name, lower-case, without port.
    pub host: String,
    /// The port written in (or implied by) the URL: 80 for http, 443 for https, 25/465/587 for smtp.
    pub port: u16,
    /// Where to connect instead.
    pub addr: SocketAddr,
}

/// All entries of one stack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AddressBook {
    pub entries: Vec<AddressEntry>,
}

impl AddressBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) the entry for `scheme://host:port`.
    pub fn insert(&mut self, scheme: &str, host: &str, port: u16, addr: SocketAddr) {
        let host = host.to_ascii_lowercase();
        self.entries
            .retain(|e| !(e.scheme == scheme && e.host == host && e.port == port));
        self.entries.push(AddressEntry {
            scheme: scheme.to_string(),
            host,
            port,
            addr,
        });
    }

    /// Where `scheme://host:port` really is, if this stack serves it.
    pub fn lookup(&self, scheme: &str, host: &str, port: u16) -> Option<SocketAddr> {
        self.entries
            .iter()
            .find(|e| e.scheme == scheme && e.host.eq_ignore_ascii_case(host) && e.port == port)
            .map(|e| e.addr)
    }

    /// Where a URL really is: its scheme, host and (explicit or default) port.
    pub fn lookup_url(&self, url: &url::Url) -> Option<SocketAddr> {
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        self.lookup(url.scheme(), host, port)
    }

    /// The entries for one scheme, as `(host, addr)` pairs (what a per-scheme HTTP client resolves).
    pub fn for_scheme<'a>(
        &'a self,
        scheme: &'a str,
    ) -> impl Iterator<Item = &'a AddressEntry> + 'a {
        self.entries.iter().filter(move |e| e.scheme == scheme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_per_scheme_and_port() {
        let mut book = AddressBook::new();
        let http: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let https: SocketAddr = "127.0.0.1:4001".parse().unwrap();
        book.insert("http", "Mattermost.Example.com", 80, http);
        book.insert("https", "mattermost.example.com", 443, https);
        let url = url::Url::parse("https://mattermost.example.com/login").unwrap();
        assert_eq!(book.lookup_url(&url), Some(https));
        let url = url::Url::parse("http://mattermost.example.com/").unwrap();
        assert_eq!(book.lookup_url(&url), Some(http));
        let url = url::Url::parse("http://mattermost.example.com:8065/").unwrap();
        assert_eq!(book.lookup_url(&url), None);
        book.insert("http", "mattermost.example.com", 80, https);
        assert_eq!(book.entries.len(), 2);
    }
}
