//! Certificates from an ACME CA (RFC 8555; Let's Encrypt unless told otherwise), by the HTTP-01 challenge.
//!
//! At start the server presents the certificate it keeps in `DATA/acme/` when that one names the configured
//! domains and is good for longer than the renewal margin (30 days); otherwise it orders one before it
//! serves anything, answering the CA's challenge on the plain-HTTP listener. Afterwards a task renews the
//! certificate that long before it expires and swaps it in without a restart. The ACME account's key is
//! kept in the same folder, so a restart neither asks the CA again nor opens a second account.

use crate::tls::{Certificate, Certificates, Challenges, TlsError};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// How long before its expiry a certificate is renewed: Let's Encrypt's own advice for its 90-day
/// certificates, which leaves weeks to notice and fix a failing renewal.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// After a failed renewal, the wait before the next try: often enough to renew well within the margin,
/// rarely enough to stay far below any CA's rate limits.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3600);

/// How the server gets its certificate from an ACME CA.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The names the certificate is for; the first is the public URL's host.
    pub domains: Vec<String>,
    /// The CA's directory URL.
    pub directory: String,
    /// A PEM root to trust for the CA's own HTTPS (a private or test CA), besides the web PKI's roots.
    pub ca_root: Option<PathBuf>,
    /// How long before expiry to renew ([`RENEW_BEFORE`]; tests shorten the life instead by lengthening it).
    pub renew_before: Duration,
}

/// Why a certificate could not be had from the CA.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// The CA's directory could not be reached or read.
    #[error("cannot reach the ACME directory at {url}: {detail}")]
    Unreachable {
        /// The directory URL.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The CA refused a request: the account, the order, a challenge or the finalization.
    #[error("the ACME CA refused {what}: {detail}")]
    Refused {
        /// What was asked.
        what: String,
        /// The CA's explanation.
        detail: String,
        /// Whether asking again may succeed.
        retry: Retry,
    },
    /// The account or the certificate could not be kept in the data folder.
    #[error("cannot keep ACME state in {path}: {detail}")]
    Storage {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The `--acme-ca-root` file is unusable.
    #[error("cannot use the ACME CA root {path}: {detail}")]
    CaRoot {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// What the CA issued cannot be served.
    #[error("the certificate the ACME CA issued cannot be used: {0}")]
    Issued(#[from] TlsError),
}

/// Whether a refused request may succeed if asked again (RFC 8555 §6.5, §6.6, §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retry {
    /// No: the CA said no, and will say it again.
    No,
    /// At once, with a fresh nonce: the CA refused the nonce (`badNonce`), which a busy CA does to any
    /// request at any time and which says nothing about the request.
    Now,
    /// After a while: the CA is busy or failing (`rateLimited`, `serverInternal`, a 5xx).
    Later,
}

impl Retry {
    fn of(e: &instant_acme::Error) -> Retry {
        let instant_acme::Error::Api(problem) = e else { return Retry::No };
        match problem.r#type.as_deref().and_then(|t| t.strip_prefix("urn:ietf:params:acme:error:")) {
            Some("badNonce") => Retry::Now,
            Some("rateLimited" | "serverInternal") => Retry::Later,
            _ if problem.status.is_some_and(|s| s >= 500) => Retry::Later,
            _ => Retry::No,
        }
    }
}

/// How long a start (or a renewal) keeps asking a busy CA before it gives up: long enough to ride out a
/// rate limit's window or a CA's restart.
const PATIENCE: Duration = Duration::from_secs(600);
/// How many refused nonces in a row an order takes before it counts them as a failure. A CA rejecting a
/// third of them (pebble's test setting) refuses 64 in a row once in 10^30 orders.
const NONCE_RETRIES: u32 = 64;

/// The account as kept on disk, with the directory it belongs to (an account is per CA).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// Gets and renews the certificate.
pub struct Acme {
    config: AcmeConfig,
    folder: PathBuf,
    challenges: Challenges,
    http: Arc<rustls::ClientConfig>,
}

impl Acme {
    /// For the data folder `data`; challenges are answered from `challenges`, which the plain-HTTP
    /// listener serves.
    pub fn new(config: AcmeConfig, data: &Path, challenges: Challenges) -> Result<Acme, AcmeError> {
        let http = client_config(config.ca_root.as_deref())?;
        Ok(Acme { config, folder: data.join("acme"), challenges, http })
    }

    fn cert_path(&self) -> PathBuf {
        self.folder.join("cert.pem")
    }

    fn key_path(&self) -> PathBuf {
        self.folder.join("key.pem")
    }

    /// The kept certificate, if it names every configured domain.
    pub fn stored(&self) -> Option<Certificate> {
        let cert = Certificate::from_files(&self.cert_path(), &self.key_path()).ok()?;
        self.config.domains.iter().all(|d| cert.names.iter().any(|n| n.eq_ignore_ascii_case(d))).then_some(cert)
    }

    /// When `cert` is due for renewal.
    pub fn renew_at(&self, cert: &Certificate) -> SystemTime {
        let expiry = UNIX_EPOCH + Duration::from_secs(cert.not_after.max(0) as u64);
        expiry.checked_sub(self.config.renew_before).unwrap_or(UNIX_EPOCH)
    }

    /// The kept certificate when it is not due; otherwise a new one from the CA, kept for next time.
    pub async fn certificate(&self) -> Result<Certificate, AcmeError> {
        match self.stored() {
            Some(cert) if self.renew_at(&cert) > SystemTime::now() => {
                tracing::info!(domains = ?self.config.domains, "using the kept ACME certificate");
                Ok(cert)
            }
            _ => self.obtain().await,
        }
    }

    /// Orders a certificate for the configured domains, answers the HTTP-01 challenges, and keeps the
    /// result (and the account) in the data folder. A refused nonce is asked again at once, and never counts
    /// as a failure; a busy or failing CA is asked again with backoff for [`PATIENCE`].
    pub async fn obtain(&self) -> Result<Certificate, AcmeError> {
        let started = tokio::time::Instant::now();
        let (mut nonces, mut backoff) = (0, Duration::from_secs(2));
        loop {
            let e = match self.order().await {
                Ok(cert) => return Ok(cert),
                Err(e) => e,
            };
            match &e {
                AcmeError::Refused { retry: Retry::Now, .. } if nonces < NONCE_RETRIES => {
                    nonces += 1;
                    tracing::debug!(error = %e, "the ACME CA refused a nonce; asking again");
                }
                AcmeError::Refused { retry: Retry::Later, .. } if started.elapsed() + backoff < PATIENCE => {
                    tracing::warn!(error = %e, wait_s = backoff.as_secs(), "the ACME CA is busy; asking again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
                _ => return Err(e),
            }
        }
    }

    /// One order, from the account to the kept certificate.
    async fn order(&self) -> Result<Certificate, AcmeError> {
        let domains = &self.config.domains;
        tracing::info!(?domains, directory = %self.config.directory, "ordering a certificate over ACME");
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
        let refused = |what: &str, e: instant_acme::Error| AcmeError::Refused {
            what: format!("{what} for {}", domains.join(", ")),
            detail: e.to_string(),
            retry: Retry::of(&e),
        };
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await.map_err(|e| refused("the order", e))?;
        let mut tokens = Vec::new();
        let answered = async {
            // The authorizations borrow the order until the challenges are answered.
            let mut authorizations = order.authorizations();
            while let Some(authz) = authorizations.next().await {
                let mut authz = authz.map_err(|e| refused("an authorization", e))?;
                if authz.status == AuthorizationStatus::Valid {
                    continue;
                }
                let mut challenge = authz.challenge(ChallengeType::Http01).ok_or_else(|| AcmeError::Refused {
                    what: format!("the order for {}", domains.join(", ")),
                    detail: "the CA offers no HTTP-01 challenge".into(),
                    retry: Retry::No,
                })?;
                let key_authorization = challenge.key_authorization().as_str().to_string();
                self.challenges
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(challenge.token.clone(), key_authorization);
                tokens.push(challenge.token.clone());
                challenge.set_ready().await.map_err(|e| refused("the HTTP-01 challenge", e))?;
            }
            let status = order.poll_ready(&RetryPolicy::default()).await.map_err(|e| refused("the order", e))?;
            if status != OrderStatus::Ready {
                // The reason is in the authorization the CA could not validate.
                let mut detail = format!("the order became {status:?}");
                let mut authorizations = order.authorizations();
                while let Some(Ok(authz)) = authorizations.next().await {
                    for c in &authz.challenges {
                        if let Some(e) = &c.error {
                            detail = format!("{detail}: {e}");
                        }
                    }
                }
                let what = format!("the order for {}", domains.join(", "));
                return Err(AcmeError::Refused { what, detail, retry: Retry::No });
            }
            let key = order.finalize().await.map_err(|e| refused("the finalization", e))?;
            let chain =
                order.poll_certificate(&RetryPolicy::default()).await.map_err(|e| refused("the certificate", e))?;
            Ok((chain, key))
        }
        .await;
        {
            let mut challenges = self.challenges.write().unwrap_or_else(|p| p.into_inner());
            for t in &tokens {
                challenges.remove(t);
            }
        }
        let (chain, key) = answered?;
        let cert = Certificate::from_pem(chain.as_bytes(), key.as_bytes(), "the ACME order", "the ACME order")?;
        write_private(&self.key_path(), key.as_bytes())?;
        write_private(&self.cert_path(), chain.as_bytes())?;
        tracing::info!(?domains, not_after = cert.not_after, "obtained a certificate over ACME");
        Ok(cert)
    }

    /// The kept account for this directory, or a new one (kept).
    async fn account(&self) -> Result<Account, AcmeError> {
        let path = self.folder.join("account.json");
        let http = || {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*self.http).clone())
                .https_or_http()
                .enable_http1()
                .build();
            let client: hyper_util::client::legacy::Client<_, instant_acme::BodyWrapper<bytes::Bytes>> =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
            Account::builder_with_http(Box::new(client))
        };
        let unreachable = |e: instant_acme::Error| AcmeError::Unreachable {
            url: self.config.directory.clone(),
            detail: error_chain(&e),
        };
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(stored) = serde_json::from_str::<StoredAccount>(&text)
            && stored.directory == self.config.directory
        {
            return http().from_credentials(stored.credentials).await.map_err(unreachable);
        }
        let new = NewAccount { contact: &[], terms_of_service_agreed: true, only_return_existing: false };
        let (account, credentials) =
            http().create(&new, self.config.directory.clone(), None).await.map_err(|e| match e {
                instant_acme::Error::Api(problem) => {
                    let retry = Retry::of(&instant_acme::Error::Api(problem.clone()));
                    AcmeError::Refused { what: "a new account".into(), detail: problem.to_string(), retry }
                }
                other => unreachable(other),
            })?;
        let stored = StoredAccount { directory: self.config.directory.clone(), credentials };
        let json = serde_json::to_vec_pretty(&stored)
            .map_err(|e| AcmeError::Storage { path: path.clone(), detail: e.to_string() })?;
        write_private(&path, &json)?;
        Ok(account)
    }

    /// Renews `certs` when it is due, for as long as the server runs; a failure is logged and retried an
    /// hour later, while the current certificate is still served.
    pub fn keep_renewed(self: Arc<Self>, certs: Arc<Certificates>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut wait = next_renewal(self.renew_at(&certs.current()), SystemTime::now());
            loop {
                tokio::time::sleep(wait).await;
                match self.obtain().await {
                    Ok(cert) => {
                        wait = next_renewal(self.renew_at(&cert), SystemTime::now());
                        certs.replace(cert);
                        tracing::info!("renewed the certificate over ACME");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not renew the certificate; the current one is still served");
                        wait = RETRY_AFTER_FAILURE;
                    }
                }
            }
        })
    }
}

/// How long to wait before renewing a certificate due at `renew_at`: until then, but never less than the
/// retry interval, so that a certificate already due (or a margin longer than its life) cannot make the
/// server ask the CA without pause.
fn next_renewal(renew_at: SystemTime, now: SystemTime) -> Duration {
    renew_at.duration_since(now).unwrap_or_default().max(RETRY_AFTER_FAILURE)
}

/// The TLS client configuration for talking to the CA: the web PKI's roots, plus `ca_root`.
fn client_config(ca_root: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, AcmeError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_root {
        let bad = |detail: String| AcmeError::CaRoot { path: path.to_path_buf(), detail };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
        if certs.is_empty() {
            return Err(bad("it holds no PEM certificate".into()));
        }
        for c in certs {
            roots.add(c).map_err(|e| bad(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AcmeError::CaRoot { path: PathBuf::new(), detail: e.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An error with its sources, for a message that says why (a refused connection, a bad certificate).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Wrappers often print their source already; say each thing once.
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Writes a file that only the server's user may read (a private key, the account's key), through a
/// temporary file and a rename, so that a crash never leaves half a key.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), AcmeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let storage = |e: std::io::Error| AcmeError::Storage { path: path.to_path_buf(), detail: e.to_string() };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(storage)?;
    }
    let tmp = path.with_extension("tmp");
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(storage)?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(storage)?;
    std::fs::rename(&tmp, path).map_err(storage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_waits_until_the_margin_and_never_less_than_the_retry_interval() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let day = Duration::from_secs(24 * 3600);
        // A 90-day certificate issued now is due in 60 days.
        assert_eq!(next_renewal(now + 60 * day, now), 60 * day);
        // Due already, or due in a minute: wait the retry interval, not zero.
        assert_eq!(next_renewal(now - day, now), RETRY_AFTER_FAILURE);
        assert_eq!(next_renewal(now + Duration::from_secs(60), now), RETRY_AFTER_FAILURE);
    }
}
