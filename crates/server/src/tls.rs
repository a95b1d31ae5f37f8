//! HTTPS: the certificate the server presents, the TLS listener that axum serves the product on, and the
//! plain-HTTP companion that answers ACME's HTTP-01 challenges and sends everything else to HTTPS.
//!
//! Browsers give a page the microphone only in a secure context, so a Stoa that people reach by name must
//! serve HTTPS. The certificate sits behind [`Certificates`], which a renewal replaces in place: handshakes
//! after the swap present the new one, connections already open keep theirs.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client has to finish its TLS handshake. A connection that opens and says nothing holds a
/// socket and a handshake slot for no longer than this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes under way at once. Beyond it, new connections wait in the kernel's accept queue: a flood of
/// half-open handshakes costs a bounded amount of memory and never starves the connections already served.
const HANDSHAKES_IN_FLIGHT: usize = 512;

/// HSTS: browsers that saw the header keep to HTTPS for a year. Subdomains are left out, as the operator
/// may run other things under the same name.
pub const HSTS: &str = "max-age=31536000";

/// Why a certificate could not be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(std::path::PathBuf, std::io::Error),
    /// The certificate file holds no PEM certificate.
    #[error("{0} holds no PEM certificate")]
    NoCertificate(String),
    /// The key file holds no PEM private key, or one rustls cannot sign with.
    #[error("{0} holds no usable PEM private key: {1}")]
    BadKey(String, String),
    /// The key does not belong to the certificate.
    #[error("the private key in {key} does not match the certificate in {cert}")]
    Mismatch {
        /// Where the certificate came from.
        cert: String,
        /// Where the key came from.
        key: String,
    },
    /// The certificate could not be parsed.
    #[error("the certificate in {0} cannot be parsed: {1}")]
    Parse(String, String),
}

/// The crypto rustls uses here: aws-lc-rs, as for WebRTC's DTLS.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Makes aws-lc-rs the process's default rustls provider, for libraries that ask rustls for the default
/// (reqwest does, and panics without one). Harmless when one is installed already.
pub fn install_default_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A certificate chain and its key, checked to belong together.
#[derive(Clone, Debug)]
pub struct Certificate {
    key: Arc<CertifiedKey>,
    /// The end-entity certificate's DNS names, in order.
    pub names: Vec<String>,
    /// When it expires, in seconds since the Unix epoch.
    pub not_after: i64,
}

impl Certificate {
    /// From a PEM chain (end-entity first) and a PEM private key. `cert_from` and `key_from` name where
    /// they came from, for errors.
    pub fn from_pem(chain: &[u8], key: &[u8], cert_from: &str, key_from: &str) -> Result<Certificate, TlsError> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(chain).filter_map(Result::ok).collect();
        let Some(leaf) = chain.first() else { return Err(TlsError::NoCertificate(cert_from.to_string())) };
        let (names, not_after) = describe(leaf).map_err(|e| TlsError::Parse(cert_from.to_string(), e))?;
        let key =
            PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::BadKey(key_from.to_string(), e.to_string()))?;
        let signing = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::BadKey(key_from.to_string(), e.to_string()))?;
        let certified = CertifiedKey::new(chain, signing);
        if certified.keys_match().is_err() {
            return Err(TlsError::Mismatch { cert: cert_from.to_string(), key: key_from.to_string() });
        }
        Ok(Certificate { key: Arc::new(certified), names, not_after })
    }

    /// From a PEM certificate file and a PEM key file.
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> Result<Certificate, TlsError> {
        let chain = std::fs::read(cert).map_err(|e| TlsError::Read(cert.to_path_buf(), e))?;
        let pem = std::fs::read(key).map_err(|e| TlsError::Read(key.to_path_buf(), e))?;
        Certificate::from_pem(&chain, &pem, &cert.display().to_string(), &key.display().to_string())
    }
}

/// The DNS names and the expiry of a DER certificate.
fn describe(der: &CertificateDer<'_>) -> Result<(Vec<String>, i64), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(n) = name {
                names.push(n.to_string());
            }
        }
    }
    Ok((names, cert.validity().not_after.timestamp()))
}

/// The certificate the server presents now. A renewal replaces it without a restart.
#[derive(Debug)]
pub struct Certificates {
    current: RwLock<Certificate>,
}

impl Certificates {
    /// Presents `cert` from now on.
    pub fn new(cert: Certificate) -> Arc<Certificates> {
        Arc::new(Certificates { current: RwLock::new(cert) })
    }

    /// Presents `cert` to every handshake from now on.
    pub fn replace(&self, cert: Certificate) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = cert;
    }

    /// The certificate presented now.
    pub fn current(&self) -> Certificate {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).key.clone())
    }
}

/// The rustls configuration of the HTTPS listener: TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1.
pub fn server_config(certs: Arc<Certificates>) -> Arc<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions")
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Counts of the TLS listener, for the operator.
#[derive(Debug, Default)]
pub struct TlsStats {
    /// Handshakes that failed: garbage, a client that distrusts the certificate, or a timeout.
    pub handshakes_failed: AtomicU64,
    /// Handshakes that completed.
    pub handshakes_done: AtomicU64,
}

/// A TCP listener whose connections axum gets once their TLS handshake is done. Handshakes run in their
/// own tasks, so a slow or silent client never holds up the next one.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp`.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>, stats: Arc<TlsStats>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        // Completed handshakes wait here for axum's accept loop, which takes them at once.
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let slots = Arc::new(Semaphore::new(HANDSHAKES_IN_FLIGHT));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else { return };
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors, most likely: wait rather than spin.
                        tracing::warn!(error = %e, "cannot accept an HTTPS connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, tx, stats) = (acceptor.clone(), tx.clone(), stats.clone());
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            stats.handshakes_done.fetch_add(1, Ordering::Relaxed);
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            stats.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            stats.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, "TLS handshake timed out");
                        }
                    }
                    drop(permit);
                });
            }
        });
        Ok(TlsListener { ready, local, accepting })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept task ended (only when it is aborted): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The key authorizations of ACME HTTP-01 challenges under way, by token.
pub type Challenges = Arc<RwLock<HashMap<String, String>>>;

#[derive(Clone)]
struct Plain {
    public_url: Arc<str>,
    challenges: Challenges,
}

/// The plain-HTTP side of a TLS server: ACME's HTTP-01 challenges, and a permanent redirect to the same
/// path on the public HTTPS URL for everything else. The redirect's target is the configured public URL,
/// never the request's `Host` header, so that it cannot be made to point elsewhere.
pub fn plain_http(public_url: Arc<str>, challenges: Challenges) -> Router {
    Router::new()
        .route("/.well-known/acme-challenge/{token}", get(challenge))
        .fallback(redirect)
        .with_state(Plain { public_url, challenges })
}

async fn challenge(State(plain): State<Plain>, Path(token): Path<String>) -> Response {
    let answer = plain.challenges.read().unwrap_or_else(|p| p.into_inner()).get(&token).cloned();
    match answer {
        Some(key_authorization) => {
            ([(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))], key_authorization)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "No such ACME challenge.\n").into_response(),
    }
}

async fn redirect(State(plain): State<Plain>, uri: Uri) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Redirect::permanent(&format!("{}{path}", plain.public_url.trim_end_matches('/'))).into_response()
}

/// Adds HSTS to every response of the HTTPS listener.
pub async fn hsts(mut response: Response) -> Response {
    response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    response
}
