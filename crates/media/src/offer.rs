//! How a peer that offers to an SFU is configured.

use str0m::RtcConfig;
use str0m::crypto::dtls::DtlsCert;
use str0m::rtp::{Extension, ExtensionMap};

/// The configuration of a peer that offers to an SFU (an edge's link, a bot, the bench's listeners): Opus,
/// with RED (RFC 2198) offered or not, the audio level, and one DTLS certificate shared by every such peer
/// of this process (each would otherwise make a key pair and rerun the crypto self-tests).
pub fn offerer_config(red: bool) -> RtcConfig {
    static CERT: std::sync::OnceLock<Option<DtlsCert>> = std::sync::OnceLock::new();
    let provider = crate::dtls::crypto_provider();
    let mut config = RtcConfig::new().set_crypto_provider(provider.clone()).set_rtp_mode(true).clear_codecs();
    if let Some(cert) = CERT.get_or_init(|| provider.dtls_provider.generate_certificate()) {
        config = config.set_dtls_cert(cert.clone());
    }
    crate::red::add_opus(config.codec_config(), red, false);
    let mut exts = ExtensionMap::empty();
    exts.set(1, Extension::AudioLevel);
    config.set_extension_map(exts)
}
