//! Browsers' way in. A connection that negotiated HTTP/3 (ALPN `h3`: a
//! browser's WebTransport) goes to the [`WebGate`] the binary set, which
//! completes WebTransport and carries the browser's streams, unread, over
//! a connection of its own to this engine; [`WebEntry::viewer`] serves
//! that one as a viewer from the browser's address, marked as a browser
//! in the audit log. This crate links no HTTP: the gate is elsewhere.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use super::*;

pub use lifeline_common::tls::H3_ALPN;

/// One browser connection's task, as a gate runs it.
pub type WebTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Serves browsers' connections (set by the binary with `serve --web`).
pub trait WebGate: Send + Sync + std::fmt::Debug + 'static {
    /// Serves `conn` (ALPN `h3`, handshake done): completes WebTransport,
    /// then hands the session to `entry` as a bridged connection. Returns
    /// when the browser is gone.
    fn serve(&self, conn: Connection, entry: WebEntry) -> WebTask;
}

/// Whether `conn` negotiated HTTP/3.
pub(crate) fn is_h3(conn: &Connection) -> bool {
    conn.handshake_data()
        .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|h| h.protocol)
        .is_some_and(|p| p == H3_ALPN)
}

/// A browser's place in the relay: its address and its address's slot,
/// held until the relay forwards a session for it (as any connection's).
#[derive(Debug)]
pub struct WebEntry {
    relay: Arc<Relay>,
    peer: SocketAddr,
    slot: Slot,
}

impl WebEntry {
    /// The browser's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// How long the browser may take to say what it wants (the relay's
    /// hello deadline, for the WebTransport handshake too).
    pub fn hello_timeout(&self) -> Duration {
        self.relay.config.hello_timeout
    }

    /// Serves `inner`, the relay's end of the gate's own connection that
    /// carries the browser's streams, as a viewer from the browser's
    /// address; `outer`, the browser's connection, gets a session's
    /// credit when `inner` does. Returns when `inner` is closed.
    pub async fn viewer(self, inner: Connection, outer: Connection) {
        let bridged = Bridged::hold(&inner, outer);
        let unpaired = Unpaired::hold(&inner, self.slot);
        let via = Via {
            ip: self.peer.ip(),
            kind: Some(ViewerKind::Browser),
        };
        greet(&self.relay, inner.clone(), unpaired, via).await;
        // The pairing may come after the viewer's task handed the
        // connection over: the browser's credit must follow it until then.
        inner.closed().await;
        drop(bridged);
    }
}

/// A browser's connection: to the gate, or closed when there is none.
pub(crate) async fn serve(relay: &Arc<Relay>, conn: Connection, peer: SocketAddr, slot: Slot) {
    let Some(gate) = relay.config.web_gate.clone() else {
        return close(
            &conn,
            &Refusal::Protocol("this relay serves no browsers".into()),
        );
    };
    let entry = WebEntry {
        relay: relay.clone(),
        peer,
        slot,
    };
    gate.serve(conn, entry).await;
}
