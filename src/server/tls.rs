//! SIP over TLS (RFC 3261 §26): the server side's certificate chain and key
//! from PEM files (`[sip] tls_cert`, `tls_key`) as a rustls acceptor. The
//! connections themselves are served by [`super::sip_io`] like TCP ones.
//! The client side ([`connector`]) is a `[[trunk]]`'s with `transport = "tls"`.

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

/// Where Debian, Fedora/RHEL, openSUSE and Alpine keep the system's CA bundle.
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// A `[[trunk]]`'s TLS client: the registrar's (or outbound proxy's)
/// certificate must chain to a CA of `ca` (PEM), or of the system's bundle
/// when `ca` is None. Every problem names the file.
pub fn connector(ca: Option<&Path>) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let path = match ca {
        Some(p) => p.to_path_buf(),
        None => SYSTEM_CA_FILES
            .iter()
            .map(Path::new)
            .find(|p| p.exists())
            .map(Path::to_path_buf)
            .context("no system CA bundle found (install ca-certificates or set the trunk's tls_ca)")?,
    };
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(&path).with_context(|| format!("tls_ca {}", path.display()))?,
    ))
    .collect::<Result<_, _>>()
    .with_context(|| format!("tls_ca {}: not PEM certificates", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        bail!("tls_ca {}: no usable CA certificate in it", path.display());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// True when a TLS connection failed because the server's certificate was
/// not accepted (untrusted, expired, wrong name): retrying soon cannot help.
pub fn is_certificate_error(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)))
}
