//! The relay's [`WebGate`]: a browser's WebTransport session carried to the
//! relay's engine over a QUIC connection of the gate's own, on loopback,
//! stream for stream and datagram for datagram, unread. The engine serves
//! that connection as a viewer from the browser's address
//! ([`WebEntry::viewer`]), exactly as it serves a native viewer's; closing
//! either side closes the other with the same code and sentence.
//!
//! The gate's connections arrive at an endpoint only it knows, bound to
//! loopback, with a CA made in memory at start; each browser's comes from
//! a client socket of its own, whose address says whose it is.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lifeline_common::tls;
use lifeline_relay_core::{WebEntry, WebGate, WebTask};
use quinn::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use web_transport_quinn::{Request, Session};

/// The path of the relay's WebTransport endpoint (the page connects to
/// `https://HOST:PORT/lifeline`).
pub const WEBTRANSPORT_PATH: &str = "/lifeline";

/// How long a refused browser's connection stays open for it to read
/// why (as the relay waits after a refused join).
const REFUSAL_READ: std::time::Duration = std::time::Duration::from_secs(2);

/// Why the gate could not start.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Cert(#[from] lifeline_certs::CertError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot bind the gate's loopback endpoint: {0}")]
    Bind(#[from] std::io::Error),
}

type Pending = Arc<Mutex<HashMap<SocketAddr, oneshot::Sender<Connection>>>>;

/// Carries browsers' sessions into the relay.
#[derive(Debug, Clone)]
pub struct Gate {
    engine: SocketAddr,
    client: quinn::ClientConfig,
    pending: Pending,
}

impl Gate {
    /// Binds the gate's loopback endpoint and starts accepting its own
    /// connections there (within a tokio runtime).
    pub fn start() -> Result<Arc<Self>, GateError> {
        let id = lifeline_certs::web::bridge_identity()?;
        let server = tls::server_config(id.chain, id.key, std::time::Duration::from_secs(10))?;
        let endpoint = tls::endpoint("127.0.0.1:0".parse().expect("an address"), Some(server))?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(id.ca)
            .map_err(|e| tls::TlsError::Quic(e.to_string()))?;
        let client = tls::client_config_with(roots)?;
        let gate = Arc::new(Self {
            engine: endpoint.local_addr()?,
            client,
            pending: Pending::default(),
        });
        tokio::spawn(accept_own(endpoint, gate.pending.clone()));
        Ok(gate)
    }
}

/// Hands each connection on the gate's endpoint to the browser task that
/// made it; any other is closed.
async fn accept_own(endpoint: quinn::Endpoint, pending: Pending) {
    while let Some(incoming) = endpoint.accept().await {
        let waiting = lock(&pending).remove(&incoming.remote_address());
        let Some(waiting) = waiting else {
            incoming.refuse();
            continue;
        };
        tokio::spawn(async move {
            if let Ok(conn) = incoming.await {
                let _ = waiting.send(conn);
            }
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl WebGate for Gate {
    fn serve(&self, conn: Connection, entry: WebEntry) -> WebTask {
        Box::pin(self.clone().browser(conn, entry))
    }
}

impl Gate {
    /// One browser: WebTransport within the hello deadline, then its
    /// session carried until either side ends.
    async fn browser(self, conn: Connection, entry: WebEntry) {
        let peer = entry.peer();
        let accepted = tokio::time::timeout(entry.hello_timeout(), async {
            let req = Request::accept(conn.clone())
                .await
                .map_err(|e| e.to_string())?;
            if req.url.path() != WEBTRANSPORT_PATH {
                let why = format!("no WebTransport endpoint at {}", req.url.path());
                let _ = req
                    .reject(web_transport_quinn::http::StatusCode::NOT_FOUND)
                    .await;
                return Err(why);
            }
            req.ok().await.map_err(|e| e.to_string())
        })
        .await;
        let session = match accepted {
            Ok(Ok(s)) => s,
            Ok(Err(why)) => {
                tracing::debug!(%peer, %why, "browser's WebTransport refused");
                // Let the browser read the refusal (a 404) and hang up
                // first: dropping the connection now would close it with
                // the answer still unsent.
                let _ = tokio::time::timeout(REFUSAL_READ, conn.closed()).await;
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "browser's WebTransport handshake took too long");
                conn.close(0u32.into(), b"no WebTransport request in time");
                return;
            }
        };
        let (ours, theirs) = match self.connect().await {
            Ok(pair) => pair,
            Err(e) => {
                tracing::error!(error = %e, "the gate could not reach the relay's engine");
                session.close(0, b"the relay cannot take browsers now");
                return;
            }
        };
        tokio::join!(
            entry.viewer(theirs, conn.clone()),
            carry(session, ours, conn)
        );
    }

    /// A connection to the engine: our end, and the engine's.
    async fn connect(&self) -> Result<(Connection, Connection), GateError> {
        let socket = tls::udp_socket("127.0.0.1:0".parse().expect("an address"))?;
        let local = socket.local_addr()?;
        let mut client = tls::endpoint_on(socket, None)?;
        client.set_default_client_config(self.client.clone());
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(local, tx);
        let result = async {
            let ours = client
                .connect(self.engine, tls::LINK_SERVER_NAME)
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let theirs = rx
                .await
                .map_err(|_| std::io::Error::other("the engine's end never came"))?;
            Ok::<_, GateError>((ours, theirs))
        }
        .await;
        lock(&self.pending).remove(&local);
        result
    }
}

/// Carries everything between the browser's session and our connection
/// to the engine until one ends, then ends the other the same way.
async fn carry(session: Session, ours: Connection, outer: Connection) {
    let mut pumps = JoinSet::new();
    pumps.spawn(bi_from_browser(session.clone(), ours.clone()));
    pumps.spawn(bi_from_engine(ours.clone(), session.clone()));
    pumps.spawn(uni_from_browser(session.clone(), ours.clone()));
    pumps.spawn(uni_from_engine(ours.clone(), session.clone()));
    pumps.spawn(datagrams_from_browser(session.clone(), ours.clone()));
    pumps.spawn(datagrams_from_engine(ours.clone(), session.clone()));
    tokio::select! {
        e = ours.closed() => {
            // The engine's code and sentence, on the browser's QUIC
            // connection itself: Chromium 156's renderer can hang on a
            // WebTransport close capsule that races the session's streams.
            let (code, reason) = match &e {
                quinn::ConnectionError::ApplicationClosed(c) => (c.error_code, c.reason.to_vec()),
                other => (0u32.into(), other.to_string().into_bytes()),
            };
            outer.close(code, &reason);
        }
        e = session.closed() => {
            let (code, reason) = match &e {
                web_transport_quinn::SessionError::WebTransportError(
                    web_transport_quinn::WebTransportError::Closed(code, reason),
                ) => (*code, reason.clone().into_bytes()),
                other => (0, other.to_string().into_bytes()),
            };
            ours.close(code.into(), &reason);
        }
    }
    pumps.abort_all();
}

/// Reads chunks from one side of a carried stream.
trait Source: Send + 'static {
    fn chunk(&mut self) -> impl Future<Output = Option<Bytes>> + Send;
}

/// Writes them on the other.
trait Sink: Send + 'static {
    fn put(&mut self, b: Bytes) -> impl Future<Output = bool> + Send;
    fn end(&mut self);
}

impl Source for quinn::RecvStream {
    async fn chunk(&mut self) -> Option<Bytes> {
        self.read_chunk(usize::MAX, true)
            .await
            .ok()
            .flatten()
            .map(|c| c.bytes)
    }
}

impl Source for web_transport_quinn::RecvStream {
    async fn chunk(&mut self) -> Option<Bytes> {
        self.read_chunk(usize::MAX, true)
            .await
            .ok()
            .flatten()
            .map(|c| c.bytes)
    }
}

impl Sink for quinn::SendStream {
    async fn put(&mut self, b: Bytes) -> bool {
        self.write_chunk(b).await.is_ok()
    }
    fn end(&mut self) {
        let _ = self.finish();
    }
}

impl Sink for web_transport_quinn::SendStream {
    async fn put(&mut self, b: Bytes) -> bool {
        self.write_chunk(b).await.is_ok()
    }
    fn end(&mut self) {
        let _ = self.finish();
    }
}

/// Copies one stream until it ends (or the other side stops taking it).
async fn pipe(mut from: impl Source, mut to: impl Sink) {
    while let Some(b) = from.chunk().await {
        if !to.put(b).await {
            return;
        }
    }
    to.end();
}

async fn bi_from_browser(session: Session, ours: Connection) {
    let mut pipes = JoinSet::new();
    while let Ok((b_send, b_recv)) = session.accept_bi().await {
        let Ok((o_send, o_recv)) = ours.open_bi().await else {
            return;
        };
        pipes.spawn(pipe(b_recv, o_send));
        pipes.spawn(pipe(o_recv, b_send));
        while pipes.try_join_next().is_some() {}
    }
}

async fn bi_from_engine(ours: Connection, session: Session) {
    let mut pipes = JoinSet::new();
    while let Ok((o_send, o_recv)) = ours.accept_bi().await {
        let Ok((b_send, b_recv)) = session.open_bi().await else {
            return;
        };
        pipes.spawn(pipe(o_recv, b_send));
        pipes.spawn(pipe(b_recv, o_send));
        while pipes.try_join_next().is_some() {}
    }
}

async fn uni_from_browser(session: Session, ours: Connection) {
    let mut pipes = JoinSet::new();
    while let Ok(b_recv) = session.accept_uni().await {
        let Ok(o_send) = ours.open_uni().await else {
            return;
        };
        pipes.spawn(pipe(b_recv, o_send));
        while pipes.try_join_next().is_some() {}
    }
}

async fn uni_from_engine(ours: Connection, session: Session) {
    let mut pipes = JoinSet::new();
    while let Ok(o_recv) = ours.accept_uni().await {
        let Ok(b_send) = session.open_uni().await else {
            return;
        };
        pipes.spawn(pipe(o_recv, b_send));
        while pipes.try_join_next().is_some() {}
    }
}

async fn datagrams_from_browser(session: Session, ours: Connection) {
    while let Ok(d) = session.read_datagram().await {
        // Unreliable by contract: one that does not fit is dropped.
        let _ = ours.send_datagram(d);
    }
}

async fn datagrams_from_engine(ours: Connection, session: Session) {
    while let Ok(d) = ours.read_datagram().await {
        let _ = session.send_datagram(d);
    }
}
