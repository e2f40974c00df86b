//! The process-wide rustls crypto provider.
//!
//! Owns: choosing `ring` once for the whole process. Several dependencies enable different rustls
//! providers (reqwest could bring aws-lc-rs, testcontainers ring); with more than one compiled in,
//! rustls refuses to pick and TLS servers panic. Every entry point (the CLI, tests, benches) calls
//! [`install_default_provider`] before any TLS is used; calling it again is harmless.

/// Install `ring` as the process-wide rustls provider if none is installed yet.
pub fn install_default_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing the same provider is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
