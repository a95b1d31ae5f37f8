//! TLS for the client's HTTPS and WSS: the web PKI's roots (Mozilla's, from `webpki-roots`, so that a
//! bare machine needs no system store), plus whatever CA the user names, for a private CA or a server
//! with a self-signed certificate.

use anyhow::Context;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
static HTTP: OnceLock<reqwest::Client> = OnceLock::new();

/// Trusts the certificates in these PEM files as well as the web PKI, for every connection this process
/// makes from now on. Call it before the first connection; it fails if one was already made.
pub fn trust(extra: &[PathBuf]) -> anyhow::Result<()> {
    let config = build(extra)?;
    CONFIG.set(config).map_err(|_| anyhow::anyhow!("the client's TLS roots were already fixed"))
}

fn build(extra: &[PathBuf]) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for path in extra {
        let pem = std::fs::read(path).with_context(|| format!("cannot read the CA file {}", path.display()))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
        anyhow::ensure!(!certs.is_empty(), "{} holds no PEM certificate", path.display());
        for cert in certs {
            roots.add(cert).with_context(|| format!("{} holds a certificate that cannot be a root", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The TLS configuration of every connection.
pub fn config() -> Arc<rustls::ClientConfig> {
    CONFIG.get_or_init(|| build(&[]).expect("the web PKI's roots load")).clone()
}

/// The process's HTTP client (one connection pool), on [`config`].
pub fn http() -> reqwest::Client {
    HTTP.get_or_init(|| {
        // reqwest asks rustls for a default provider when it builds anything; make it ours.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        reqwest::Client::builder()
            .use_preconfigured_tls((*config()).clone())
            .build()
            .expect("an HTTP client on a rustls configuration")
    })
    .clone()
}
