//! SIP over TLS (RFC 3261 §26): the server side's certificate chain and key
//! from PEM files (`[sip] tls_cert`, `tls_key`) as a rustls acceptor. The
//! connections themselves are served by [`super::sip_io`] like TCP ones.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio_rustls::TlsAcceptor;

/// Reads the certificate chain and private key; every problem names the file.
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).with_context(|| format!("sip.tls_cert {}", cert.display()))?,
    ))
    .collect::<Result<_, _>>()
    .with_context(|| format!("sip.tls_cert {}: not PEM certificates", cert.display()))?;
    if certs.is_empty() {
        bail!("sip.tls_cert {}: no certificate in it", cert.display());
    }
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).with_context(|| format!("sip.tls_key {}", key.display()))?,
    ))
    .with_context(|| format!("sip.tls_key {}: not a PEM private key", key.display()))?
    .with_context(|| format!("sip.tls_key {}: no private key in it", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("sip.tls_cert / sip.tls_key: the key does not fit the certificate")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
