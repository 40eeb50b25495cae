//! QUIC endpoint configuration for the relay and its clients.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lifeline_certs::CertError;
use lifeline_common::proto::ALPN;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// TLS or QUIC configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("QUIC configuration: {0}")]
    Quic(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Flow-control windows large enough for a 1080p screen on a fast link.
fn transport(
    idle: Duration,
    keep_alive: Option<Duration>,
) -> Result<quinn::TransportConfig, TlsError> {
    let mut t = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(idle).map_err(|e| TlsError::Quic(e.to_string()))?;
    t.max_idle_timeout(Some(idle));
    t.keep_alive_interval(keep_alive);
    t.stream_receive_window(quinn::VarInt::from_u32(8 << 20));
    t.receive_window(quinn::VarInt::from_u32(32 << 20));
    t.send_window(32 << 20);
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(64));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(64));
    t.datagram_receive_buffer_size(Some(4 << 20));
    Ok(t)
}

/// The relay's server configuration.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    idle: Duration,
) -> Result<quinn::ServerConfig, TlsError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport(idle, None)?));
    Ok(cfg)
}

/// How long a peer may go silent before the relay or peer gives up on it.
/// Keep-alives every second keep a live link well inside it, and a vanished
/// peer is noticed within this time.
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// A client configuration trusting `ca` (or the system's roots).
pub fn client_config(ca: Option<&Path>) -> Result<quinn::ClientConfig, TlsError> {
    let roots = lifeline_certs::client_roots(ca)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport(
        CLIENT_IDLE_TIMEOUT,
        Some(Duration::from_secs(1)),
    )?));
    Ok(cfg)
}
