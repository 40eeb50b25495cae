//! QUIC endpoint configuration for the relay and its clients.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lifeline_certs::CertError;
use lifeline_proto::control::ALPN;

pub use crate::live_cert::LiveCert;
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

/// ring's provider with AES-128-GCM/SHA-256 preferred: as strong as this
/// use needs, and cheaper per packet and per handshake than AES-256/SHA-384,
/// which matters on a relay that decrypts and re-encrypts every packet.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::ring::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    };
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites = vec![
        TLS13_AES_128_GCM_SHA256,
        TLS13_CHACHA20_POLY1305_SHA256,
        TLS13_AES_256_GCM_SHA384,
    ];
    Arc::new(p)
}

/// Flow control of one stream: 8 MiB, large enough for a 1080p screen on
/// a fast link. Per endpoint in quinn; the connection window below bounds
/// what all of a connection's streams may buffer together.
const STREAM_WINDOW: u32 = 8 << 20;
/// Flow control of a paired connection (and of every client and link).
pub const SESSION_WINDOW: u32 = 32 << 20;
/// Streams a paired connection may have open at once, each way.
pub const SESSION_STREAMS: u32 = 64;
/// What a connection the relay has not paired yet may make it buffer, all
/// streams together: its first messages (a hello and a request, a few
/// hundred bytes) and what it says while it waits, read as it comes.
pub const UNPAIRED_WINDOW: u32 = 64 << 10;
/// Streams an unpaired connection may open: its control stream. None of
/// the other kind; a stream opened once the relay says "paired" waits for
/// the credit [`open_for_session`] gives, a moment later.
pub const UNPAIRED_BI_STREAMS: u32 = 1;
/// Datagrams the relay holds for a connection until it reads them (quinn
/// drops the oldest beyond it). Hosts and viewers send none; a paired
/// session's pump reads them as they come; an unpaired one never does.
pub const DATAGRAM_BUFFER: usize = 64 << 10;

/// Flow-control windows large enough for a 1080p screen on a fast link.
fn transport(
    idle: Duration,
    keep_alive: Option<Duration>,
) -> Result<quinn::TransportConfig, TlsError> {
    let mut t = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(idle).map_err(|e| TlsError::Quic(e.to_string()))?;
    t.max_idle_timeout(Some(idle));
    t.keep_alive_interval(keep_alive);
    t.stream_receive_window(quinn::VarInt::from_u32(STREAM_WINDOW));
    t.receive_window(quinn::VarInt::from_u32(SESSION_WINDOW));
    t.send_window(u64::from(SESSION_WINDOW));
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(SESSION_STREAMS));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(SESSION_STREAMS));
    t.datagram_receive_buffer_size(Some(4 << 20));
    Ok(t)
}

/// The relay's public side: every connection starts with the credit its
/// first messages need ([`UNPAIRED_WINDOW`], one stream) and gets a
/// session's ([`open_for_session`]) once the relay pairs it, so anonymous
/// connections cannot make the relay buffer what it never reads.
fn relay_transport(idle: Duration) -> Result<quinn::TransportConfig, TlsError> {
    let mut t = transport(idle, None)?;
    t.receive_window(quinn::VarInt::from_u32(UNPAIRED_WINDOW));
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(UNPAIRED_BI_STREAMS));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
    t.datagram_receive_buffer_size(Some(DATAGRAM_BUFFER));
    Ok(t)
}

/// Gives a connection the relay has paired (or resumed) a session's
/// credit: the connection window and the streams a session opens. The
/// peer hears of it at once (MAX_DATA, MAX_STREAMS); whatever it was
/// waiting to send goes on.
pub fn open_for_session(conn: &quinn::Connection) {
    conn.set_receive_window(quinn::VarInt::from_u32(SESSION_WINDOW));
    conn.set_max_concurrent_bi_streams(quinn::VarInt::from_u32(SESSION_STREAMS));
    conn.set_max_concurrent_uni_streams(quinn::VarInt::from_u32(SESSION_STREAMS));
}

/// The relay's server configuration, presenting `chain` and `key`.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    idle: Duration,
) -> Result<quinn::ServerConfig, TlsError> {
    server_config_live(&LiveCert::new(chain, key)?, idle)
}

/// The relay's server configuration, presenting whatever `cert` holds at
/// each handshake (renewed and reloaded certificates).
pub fn server_config_live(
    cert: &LiveCert,
    idle: Duration,
) -> Result<quinn::ServerConfig, TlsError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(cert.resolver());
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(Arc::new(relay_transport(idle)?));
    Ok(cfg)
}

/// ALPN of a browser's WebTransport (HTTP/3).
pub const H3_ALPN: &[u8] = b"h3";

/// Streams of each kind an unpaired connection may open on a relay that
/// serves browsers: HTTP/3 needs three unidirectional ones (its control
/// stream and QPACK's two) and a request stream beside the control stream.
pub const WEB_UNPAIRED_UNI_STREAMS: u32 = 3;
pub const WEB_UNPAIRED_BI_STREAMS: u32 = 2;

/// The relay's server configuration when it serves browsers too: ALPN
/// `lifeline/1` and `h3` on the same port; a browser (a ClientHello
/// offering `h3`) gets `web`'s certificate, everyone else the relay's.
pub fn server_config_web(
    native: &LiveCert,
    web: Arc<dyn rustls::server::ResolvesServerCert>,
    idle: Duration,
) -> Result<quinn::ServerConfig, TlsError> {
    let resolver = ByAlpn {
        native: native.clone(),
        web,
    };
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    tls.alpn_protocols = vec![ALPN.to_vec(), H3_ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut t = relay_transport(idle)?;
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(WEB_UNPAIRED_BI_STREAMS));
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(WEB_UNPAIRED_UNI_STREAMS));
    cfg.transport_config(Arc::new(t));
    Ok(cfg)
}

/// Picks the certificate by what the client asks for.
#[derive(Debug)]
struct ByAlpn {
    native: LiveCert,
    web: Arc<dyn rustls::server::ResolvesServerCert>,
}

impl rustls::server::ResolvesServerCert for ByAlpn {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let mut offered = hello.alpn().into_iter().flatten();
        if offered.any(|p| p == H3_ALPN) {
            self.web.resolve(hello)
        } else {
            Some(self.native.current())
        }
    }
}

/// How long a peer may go silent before the relay or peer gives up on it.
/// Keep-alives every second keep a live link well inside it, and a vanished
/// peer is noticed within this time.
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(3);

/// The round trip a client assumes before it has measured one.
pub const CLIENT_INITIAL_RTT: Duration = Duration::from_millis(100);

/// A client configuration trusting `ca` (or the system's roots).
pub fn client_config(ca: Option<&Path>) -> Result<quinn::ClientConfig, TlsError> {
    client_config_with(lifeline_certs::client_roots(ca)?)
}

/// How often an enrolled device's online link says it is alive: rarely
/// enough that a relay holds 10,000 of them cheaply, often enough that a
/// device notices a restarted relay (whose stateless reset answers its
/// next keep-alive, the relay's reset key being kept across restarts)
/// within 4 s.
pub const DEVICE_KEEP_ALIVE: Duration = Duration::from_secs(4);
/// An enrolled device's online link is given up after this long silent.
pub const DEVICE_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A client configuration for an enrolled device's online link (trusting
/// `ca`): [`DEVICE_KEEP_ALIVE`], [`DEVICE_IDLE_TIMEOUT`].
pub fn device_client_config(ca: Option<&Path>) -> Result<quinn::ClientConfig, TlsError> {
    client_config_timed(
        lifeline_certs::client_roots(ca)?,
        DEVICE_IDLE_TIMEOUT,
        DEVICE_KEEP_ALIVE,
        true,
    )
}

/// A client configuration trusting `ca` with another idle timeout and
/// keep-alive, and acks asked for at once or not (`immediate_acks`): for
/// the idle-device benchmark's comparisons only.
#[doc(hidden)]
pub fn client_config_timed_for_bench(
    ca: Option<&Path>,
    idle: Duration,
    keep_alive: Duration,
    immediate_acks: bool,
) -> Result<quinn::ClientConfig, TlsError> {
    let roots = lifeline_certs::client_roots(ca)?;
    client_config_timed(roots, idle, keep_alive, immediate_acks)
}

/// A client configuration trusting exactly `roots`.
pub fn client_config_with(roots: rustls::RootCertStore) -> Result<quinn::ClientConfig, TlsError> {
    client_config_timed(roots, CLIENT_IDLE_TIMEOUT, Duration::from_secs(1), false)
}

/// `rare`: a device's online link, mostly keep-alives (see below).
fn client_config_timed(
    roots: rustls::RootCertStore,
    idle: Duration,
    keep_alive: Duration,
    rare: bool,
) -> Result<quinn::ClientConfig, TlsError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    let mut t = transport(idle, Some(keep_alive))?;
    if rare {
        // A rare keep-alive is acked at once (QUIC's ACK frequency
        // extension, which quinn speaks on both ends): the relay acks in
        // the same wake-up that read the keep-alive instead of arming a
        // 25 ms timer and waking again for it. Sessions keep the default,
        // where acking every other packet saves more than it costs.
        let mut ack = quinn::AckFrequencyConfig::default();
        ack.ack_eliciting_threshold(quinn::VarInt::from_u32(0));
        t.ack_frequency_config(Some(ack));
    }
    // A handshake whose first packet is lost (a relay restarting, a
    // network coming up) is retried after ~3 initial RTTs; 100 ms instead
    // of QUIC's default 333 ms finds a relay back within about 300 ms.
    t.initial_rtt(CLIENT_INITIAL_RTT);
    cfg.transport_config(Arc::new(t));
    Ok(cfg)
}

/// The name every relay's link certificate carries: on a link, who a relay
/// is matters less than that the cluster's CA signed it.
pub const LINK_SERVER_NAME: &str = "lifeline-link";

/// Both ends of a relay-to-relay link: mutual TLS, each side's certificate
/// signed by the cluster's CA (`ca`), ALPN `lifeline-link/1`. Keep-alives
/// on both ends, so a dead relay is noticed within the client idle timeout.
pub fn link_configs(
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<(quinn::ServerConfig, quinn::ClientConfig), TlsError> {
    use lifeline_proto::link::LINK_ALPN;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca)?;
    let roots = Arc::new(roots);
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| TlsError::Quic(format!("link client verifier: {e}")))?;
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())?;
    server.alpn_protocols = vec![LINK_ALPN.to_vec()];
    let mut client = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    client.alpn_protocols = vec![LINK_ALPN.to_vec()];
    let link = || transport(CLIENT_IDLE_TIMEOUT, Some(Duration::from_secs(1)));
    let crypto = QuicServerConfig::try_from(server).map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(Arc::new(link()?));
    let crypto = QuicClientConfig::try_from(client).map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    client.transport_config(Arc::new(link()?));
    Ok((server, client))
}

/// Socket buffer size asked for; the kernel caps it at `net.core.rmem_max`.
const SOCKET_BUFFER: usize = 8 << 20;

/// A UDP socket with large kernel buffers. With the default (~200 KiB) a
/// burst of handshakes or keep-alives from thousands of peers overflows it
/// and packets are dropped, which QUIC then sees as loss or dead peers.
pub fn udp_socket(addr: std::net::SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Accept IPv4-mapped peers too when bound to [::].
        socket.set_only_v6(false)?;
    }
    for (what, result) in [
        ("receive", socket.set_recv_buffer_size(SOCKET_BUFFER)),
        ("send", socket.set_send_buffer_size(SOCKET_BUFFER)),
    ] {
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot enlarge the UDP {what} buffer; keeping the default");
        }
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A QUIC endpoint on [`udp_socket`]; a server when `server` is given.
pub fn endpoint(
    addr: std::net::SocketAddr,
    server: Option<quinn::ServerConfig>,
) -> std::io::Result<quinn::Endpoint> {
    endpoint_on(udp_socket(addr)?, server)
}

/// [`endpoint`] whose stateless resets are keyed by `reset_key`: a relay
/// that keeps the key across restarts answers a packet of a connection
/// its last run held with a reset the peer accepts, so the peer knows at
/// once that the connection is gone (instead of after its idle timeout).
pub fn endpoint_with_reset_key(
    addr: std::net::SocketAddr,
    server: Option<quinn::ServerConfig>,
    reset_key: &[u8; 32],
) -> std::io::Result<quinn::Endpoint> {
    let runtime = runtime()?;
    let socket = wrap_socket(udp_socket(addr)?, &*runtime)?;
    quinn::Endpoint::new_with_abstract_socket(reset_keyed(reset_key), server, socket, runtime)
}

/// The relay's devices port: a server endpoint on `socket` (from
/// [`udp_socket`]) read on a clock ([`crate::ticking_udp`]), its resets
/// keyed by `reset_key` as [`endpoint_with_reset_key`]'s. Its tasks run on
/// the runtime it is made in.
pub fn ticking_endpoint(
    socket: std::net::UdpSocket,
    server: quinn::ServerConfig,
    reset_key: &[u8; 32],
) -> std::io::Result<quinn::Endpoint> {
    let socket = Arc::new(crate::ticking_udp::TickingUdp::new(socket)?);
    quinn::Endpoint::new_with_abstract_socket(
        reset_keyed(reset_key),
        Some(server),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
}

/// An endpoint configuration whose stateless resets, and connection ids'
/// check, are keyed by `reset_key`.
fn reset_keyed(reset_key: &[u8; 32]) -> quinn::EndpointConfig {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, reset_key);
    let mut config = quinn::EndpointConfig::new(Arc::new(key));
    // The connection ids carry a check keyed per process by default, and a
    // packet whose id fails it is dropped unanswered: key it by the reset
    // key too, so that the last run's ids pass and get their reset.
    let cid_key = u64::from_le_bytes(
        ring::digest::digest(&ring::digest::SHA256, reset_key).as_ref()[..8]
            .try_into()
            .unwrap_or([0; 8]),
    );
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    config
}

/// [`endpoint`] on a socket bound already (from [`udp_socket`]).
pub fn endpoint_on(
    socket: std::net::UdpSocket,
    server: Option<quinn::ServerConfig>,
) -> std::io::Result<quinn::Endpoint> {
    let runtime = runtime()?;
    let socket = wrap_socket(socket, &*runtime)?;
    quinn::Endpoint::new_with_abstract_socket(
        quinn::EndpointConfig::default(),
        server,
        socket,
        runtime,
    )
}

fn runtime() -> std::io::Result<Arc<dyn quinn::Runtime>> {
    quinn::default_runtime().ok_or_else(|| std::io::Error::other("no async runtime for QUIC"))
}

/// `socket` for QUIC: quinn's own (ECN, segmentation offload), or, where
/// the system refuses its socket options (Wine), a plain one
/// ([`crate::plain_udp`]). Needs a tokio runtime.
pub fn wrap_socket(
    socket: std::net::UdpSocket,
    runtime: &dyn quinn::Runtime,
) -> std::io::Result<Arc<dyn quinn::AsyncUdpSocket>> {
    let spare = socket.try_clone()?;
    match runtime.wrap_udp_socket(socket) {
        Ok(wrapped) => Ok(wrapped),
        Err(e) => {
            tracing::info!(error = %e, "the system refuses QUIC's socket options; using a plain UDP socket");
            Ok(Arc::new(crate::plain_udp::PlainUdp::new(spare)?))
        }
    }
}

/// Moves `endpoint` to `socket` (a new address), as [`wrap_socket`] wraps it.
pub fn rebind(endpoint: &quinn::Endpoint, socket: std::net::UdpSocket) -> std::io::Result<()> {
    endpoint.rebind_abstract(wrap_socket(socket, &*runtime()?)?)
}
