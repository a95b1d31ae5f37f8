//! A DTLS provider for str0m on one shared dimpl configuration. Building a configuration runs the crypto
//! provider's self-tests (a key exchange in every group and a signature check, P-384 included), which
//! str0m's own provider does for every peer: in a join storm that cost the server several times what the
//! handshakes themselves did. The SFU's provider also hands each handshake's SRTP keys to its fast path
//! ([`crypto_provider_with`]); clients (`stoa bot`, `stoa bench`, an edge's link) use [`crypto_provider`].

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use str0m::crypto::CryptoError;
use str0m::crypto::CryptoProvider;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion, SrtpProfile,
};

/// str0m's default crypto provider (aws-lc-rs, dimpl for DTLS), except that every DTLS instance shares one
/// dimpl configuration.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let base = str0m::crypto::from_feature_flags();
            Arc::new(CryptoProvider { dtls_provider: &Shared { on_keys: None }, ..base })
        })
        .clone()
}

/// The same, and every handshake's SRTP keying material is handed to `on_keys` on the thread that drives
/// it. Each call makes a provider that lives as long as the process: call it once and keep the result.
pub fn crypto_provider_with(on_keys: OnKeys) -> Arc<CryptoProvider> {
    let base = str0m::crypto::from_feature_flags();
    let shared: &'static Shared = Box::leak(Box::new(Shared { on_keys: Some(on_keys) }));
    Arc::new(CryptoProvider { dtls_provider: shared, ..base })
}

/// The dimpl configuration for an MTU, built once. It holds no state of a connection: each DTLS instance
/// draws its randoms and keys afresh.
fn dimpl_config(mtu: Option<usize>) -> Result<Arc<dimpl::Config>, CryptoError> {
    static CONFIGS: Mutex<Vec<(Option<usize>, Arc<dimpl::Config>)>> = Mutex::new(Vec::new());
    let mut configs = CONFIGS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, config)) = configs.iter().find(|(m, _)| *m == mtu) {
        return Ok(config.clone());
    }
    // As str0m's provider: ICE has checked return routability before DTLS, so server cookies add nothing.
    let provider =
        dimpl::crypto::CryptoProvider { key_provider: &KEYS, ..dimpl::crypto::aws_lc_rs::default_provider() };
    let mut builder = dimpl::Config::builder().use_server_cookie(false).with_crypto_provider(provider);
    if let Some(mtu) = mtu {
        builder = builder.mtu(mtu);
    }
    let config = Arc::new(builder.build().map_err(|e| CryptoError::Other(format!("dimpl config: {e}")))?);
    configs.push((mtu, config.clone()));
    Ok(config)
}

/// The certificates' private keys, each parsed once. dimpl parses the key of its certificate from PKCS#8 for
/// every handshake, which checks the key (a point multiplication) each time; a server uses one certificate
/// for all of its peers, so the parsed key is kept and shared. A few at most: a process has one or two
/// certificates (an SFU's, a bench's), and the oldest is forgotten past eight.
static KEYS: ParsedOnce = ParsedOnce { keys: Mutex::new(Vec::new()) };

type SharedKey = Arc<Mutex<Box<dyn dimpl::crypto::SigningKey>>>;

#[derive(Debug)]
struct ParsedOnce {
    keys: Mutex<Vec<(Vec<u8>, SharedKey)>>,
}

impl dimpl::crypto::KeyProvider for ParsedOnce {
    fn load_private_key(&self, key_der: &[u8]) -> Result<Box<dyn dimpl::crypto::SigningKey>, dimpl::CryptoError> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let key = match keys.iter().find(|(der, _)| der == key_der) {
            Some((_, key)) => key.clone(),
            None => {
                let key: SharedKey = Arc::new(Mutex::new(
                    dimpl::crypto::aws_lc_rs::default_provider().key_provider.load_private_key(key_der)?,
                ));
                if keys.len() == 8 {
                    keys.remove(0);
                }
                keys.push((key_der.to_vec(), key.clone()));
                key
            }
        };
        drop(keys);
        let (algorithm, hash_algorithm, supported) = {
            let k = key.lock().unwrap_or_else(|e| e.into_inner());
            (k.algorithm(), k.hash_algorithm(), k.supported_hash_algorithms().to_vec())
        };
        Ok(Box::new(SharedSigningKey { key, algorithm, hash_algorithm, supported }))
    }
}

/// One of [`KEYS`], as a handshake holds it.
#[derive(Debug)]
struct SharedSigningKey {
    key: SharedKey,
    algorithm: dimpl::crypto::SignatureAlgorithm,
    hash_algorithm: dimpl::crypto::HashAlgorithm,
    supported: Vec<dimpl::crypto::HashAlgorithm>,
}

impl dimpl::crypto::SigningKey for SharedSigningKey {
    fn sign(
        &mut self,
        data: &[u8],
        hash_alg: dimpl::crypto::HashAlgorithm,
        out: &mut dimpl::crypto::Buf,
    ) -> Result<(), dimpl::CryptoError> {
        self.key.lock().unwrap_or_else(|e| e.into_inner()).sign(data, hash_alg, out)
    }

    fn algorithm(&self) -> dimpl::crypto::SignatureAlgorithm {
        self.algorithm
    }

    fn hash_algorithm(&self) -> dimpl::crypto::HashAlgorithm {
        self.hash_algorithm
    }

    fn supported_hash_algorithms(&self) -> &[dimpl::crypto::HashAlgorithm] {
        &self.supported
    }
}

/// What a DTLS instance calls with the SRTP keying material its handshake exported, its profile, and
/// whether this end was the client (active).
pub type OnKeys = fn(&[u8], SrtpProfile, bool);

/// DTLS instances on the shared configuration; `on_keys` is told their SRTP keys.
struct Shared {
    on_keys: Option<OnKeys>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").field("on_keys", &self.on_keys.is_some()).finish()
    }
}

impl DtlsProvider for Shared {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        dimpl::certificate::generate_self_signed_certificate()
            .ok()
            .map(|cert| DtlsCert { certificate: cert.certificate, private_key: cert.private_key })
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let config = dimpl_config(mtu)?;
        let cert =
            dimpl::DtlsCertificate { certificate: cert.certificate.clone(), private_key: cert.private_key.clone() };
        let dtls = match dtls_version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            other => return Err(CryptoError::Other(format!("unsupported DTLS version: {other}"))),
        };
        Ok(Box::new(Instance { dtls, on_keys: self.on_keys }))
    }
}

struct Instance {
    dtls: dimpl::Dtls,
    on_keys: Option<OnKeys>,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance").field("on_keys", &self.on_keys.is_some()).finish_non_exhaustive()
    }
}

impl DtlsInstance for Instance {
    fn set_active(&mut self, active: bool) {
        self.dtls.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.dtls.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        let output = self.dtls.poll_output(buf);
        if let (Some(on_keys), DtlsOutput::KeyingMaterial(material, profile)) = (self.on_keys, &output) {
            on_keys(material, *profile, self.dtls.is_active());
        }
        output
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.dtls.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.dtls.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.dtls.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.dtls.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.dtls.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.dtls.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.dtls.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls `from` until it waits for a timer, handing its packets to `to`; keeps the keys it exports.
    fn pump(from: &mut dyn DtlsInstance, to: &mut dyn DtlsInstance, keys: &mut Option<Vec<u8>>) {
        let mut buf = vec![0u8; 2048];
        loop {
            match from.poll_output(&mut buf) {
                DtlsOutput::Packet(p) => {
                    let _ = to.handle_packet(p);
                }
                DtlsOutput::KeyingMaterial(material, _) => *keys = Some(material.to_vec()),
                DtlsOutput::Timeout(_) => return,
                _ => {}
            }
        }
    }

    /// A handshake between a client with `client`'s certificate and a server with `server`'s; the SRTP
    /// keying material it exported, the same at both ends.
    fn handshake(client: &DtlsCert, server: &DtlsCert) -> Vec<u8> {
        let dtls = crypto_provider().dtls_provider;
        let now = Instant::now();
        let mut client = dtls.new_dtls(client, now, DtlsVersion::Dtls12, None).unwrap();
        let mut server = dtls.new_dtls(server, now, DtlsVersion::Dtls12, None).unwrap();
        client.set_active(true);
        server.set_active(false);
        client.handle_timeout(now).unwrap();
        server.handle_timeout(now).unwrap();
        let (mut client_keys, mut server_keys) = (None, None);
        for _ in 0..20 {
            pump(client.as_mut(), server.as_mut(), &mut client_keys);
            pump(server.as_mut(), client.as_mut(), &mut server_keys);
        }
        let keys = client_keys.expect("the handshake completed");
        assert_eq!(Some(&keys), server_keys.as_ref(), "both ends export the same keys");
        keys
    }

    /// Peers share one dimpl configuration and never their keys: two handshakes on it export different
    /// SRTP keying material, each the same at both of its ends.
    #[test]
    fn handshakes_on_the_shared_configuration_export_their_own_keys() {
        assert!(Arc::ptr_eq(&dimpl_config(Some(1100)).unwrap(), &dimpl_config(Some(1100)).unwrap()));
        let cert = crypto_provider().dtls_provider.generate_certificate().unwrap();
        assert_ne!(
            handshake(&cert, &cert),
            handshake(&cert, &cert),
            "two handshakes on one configuration share no keys"
        );
    }

    /// A certificate's private key is parsed once and then shared by its handshakes; each certificate signs
    /// with its own (a handshake whose server signed with another key than its certificate's would fail the
    /// client's check of the signature).
    #[test]
    fn a_certificates_key_is_parsed_once_and_each_certificate_signs_with_its_own() {
        let dtls = crypto_provider().dtls_provider;
        let (a, b) = (dtls.generate_certificate().unwrap(), dtls.generate_certificate().unwrap());
        let parsed = |cert: &DtlsCert| {
            KEYS.keys.lock().unwrap().iter().filter(|(der, _)| der.as_slice() == cert.private_key.as_slice()).count()
        };
        assert_eq!((parsed(&a), parsed(&b)), (0, 0));
        handshake(&a, &b);
        handshake(&b, &a);
        handshake(&a, &a);
        assert_eq!((parsed(&a), parsed(&b)), (1, 1), "each key parsed once, whatever the handshakes");
    }
}
