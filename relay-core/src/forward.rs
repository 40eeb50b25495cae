//! Forwarding between two connected sides, blind: the pumps that copy
//! streams and datagrams (through the test-only [`ForwardHook`]), the
//! one `close` every connection is closed on purpose with (a
//! [`Refusal`]'s code and sentence), and quinn's error for a closed
//! connection read as the bridge's [`bridge::Ending`]. Used by the relay's
//! sessions and by the cluster's links alike; needs no `Relay`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lifeline_common::framed::Control;
use quinn::Connection;
use tokio::task::JoinSet;

use crate::rules::bridge;
use crate::rules::refusal::Refusal;

/// Which way a forwarded chunk travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HostToViewer,
    ViewerToHost,
}

/// See [`RelayConfig::forward_hook`].
#[derive(Clone)]
pub struct ForwardHook(pub Arc<dyn Fn(Direction, bytes::Bytes) -> bytes::Bytes + Send + Sync>);
impl std::fmt::Debug for ForwardHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForwardHook")
    }
}

/// Closes `conn` with the refusal's code and sentence: the one place a
/// connection of a peer is closed on purpose.
pub(crate) fn close(conn: &Connection, why: &Refusal) {
    conn.close(
        quinn::VarInt::from_u32(why.code() as u32),
        why.sentence().as_bytes(),
    );
}

/// Starts forwarding every stream and datagram both ways, counting bytes;
/// both connections get a session's credit first ([`crate::server::forwarding`]).
pub(crate) fn spawn_pumps(
    taps: &Taps,
    host: &Connection,
    viewer: &Connection,
    h2v: &Arc<AtomicU64>,
    v2h: &Arc<AtomicU64>,
) -> JoinSet<()> {
    let to_viewer = Leg {
        counter: h2v.clone(),
        total: taps.totals.to_viewer.clone(),
        dir: Direction::HostToViewer,
        hook: taps.hook.clone(),
    };
    let to_host = Leg {
        counter: v2h.clone(),
        total: taps.totals.to_host.clone(),
        dir: Direction::ViewerToHost,
        hook: taps.hook.clone(),
    };
    crate::server::forwarding(host);
    crate::server::forwarding(viewer);
    let (h, v) = (host.clone(), viewer.clone());
    let mut pumps = JoinSet::new();
    pumps.spawn(forward_bi(
        h.clone(),
        v.clone(),
        to_viewer.clone(),
        to_host.clone(),
    ));
    pumps.spawn(forward_bi(
        v.clone(),
        h.clone(),
        to_host.clone(),
        to_viewer.clone(),
    ));
    pumps.spawn(forward_uni(h.clone(), v.clone(), to_viewer.clone()));
    pumps.spawn(forward_uni(v.clone(), h.clone(), to_host.clone()));
    pumps.spawn(forward_datagrams(h.clone(), v.clone(), to_viewer));
    pumps.spawn(forward_datagrams(v, h, to_host));
    pumps
}

/// quinn's error for a closed connection, as the bridge's rules read it.
pub(crate) fn ending(e: &quinn::ConnectionError) -> bridge::Ending {
    let how = match e {
        quinn::ConnectionError::ApplicationClosed(ac) => bridge::Closed::ByPeer {
            code: ac.error_code.into_inner(),
            reason: ac.reason.to_vec(),
        },
        quinn::ConnectionError::TimedOut => bridge::Closed::TimedOut,
        _ => bridge::Closed::Lost,
    };
    bridge::Ending {
        how,
        text: e.to_string(),
    }
}

/// What every forwarded chunk passes through besides its session's
/// counter: the relay-wide byte counters and the test hook.
#[derive(Debug, Clone)]
pub(crate) struct Taps {
    pub(crate) hook: Option<ForwardHook>,
    pub(crate) totals: crate::metrics::Forwarded,
}

impl Taps {
    /// The same, its byte counters' directions swapped.
    pub(crate) fn reversed(self) -> Self {
        let crate::metrics::Forwarded { to_viewer, to_host } = self.totals;
        Self {
            hook: self.hook,
            totals: crate::metrics::Forwarded {
                to_viewer: to_host,
                to_host: to_viewer,
            },
        }
    }
}

/// One direction of a session: its byte counter, the relay's for that
/// direction, and the test hook.
#[derive(Debug, Clone)]
pub(crate) struct Leg {
    pub(crate) counter: Arc<AtomicU64>,
    pub(crate) total: prometheus_client::metrics::counter::Counter,
    pub(crate) dir: Direction,
    pub(crate) hook: Option<ForwardHook>,
}

impl Leg {
    fn pass(&self, bytes: bytes::Bytes) -> bytes::Bytes {
        self.counter
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.total.inc_by(bytes.len() as u64);
        match &self.hook {
            Some(hook) => (hook.0)(self.dir, bytes),
            None => bytes,
        }
    }
}

/// Copies one stream until it ends, mirroring finish, reset and stop.
pub(crate) async fn pipe(mut from: quinn::RecvStream, mut to: quinn::SendStream, leg: Leg) {
    loop {
        match from.read_chunk(usize::MAX, true).await {
            Ok(Some(chunk)) => {
                if let Err(e) = to.write_chunk(leg.pass(chunk.bytes)).await {
                    let code = match e {
                        quinn::WriteError::Stopped(code) => code,
                        _ => quinn::VarInt::from_u32(0),
                    };
                    tracing::debug!(error = %e, "forward target closed");
                    let _ = from.stop(code);
                    return;
                }
            }
            Ok(None) => {
                let _ = to.finish();
                return;
            }
            Err(quinn::ReadError::Reset(code)) => {
                let _ = to.reset(code);
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "forward source ended");
                return;
            }
        }
    }
}

/// Forwards every bidirectional stream `from` opens. Streams the host
/// opens carry the session (screen, input) and go before the viewer's,
/// which carry bulk file data: a scheduling hint from who opened the
/// stream, never from what it carries.
pub(crate) async fn forward_bi(from: Connection, to: Connection, fwd: Leg, back: Leg) {
    let mut pipes = JoinSet::new();
    let priority = match fwd.dir {
        Direction::HostToViewer => 1,
        Direction::ViewerToHost => 0,
    };
    loop {
        let Ok((from_send, from_recv)) = from.accept_bi().await else {
            break;
        };
        let Ok((to_send, to_recv)) = to.open_bi().await else {
            break;
        };
        for s in [&to_send, &from_send] {
            if let Err(e) = s.set_priority(priority) {
                tracing::debug!(error = %e, "stream closed before its priority was set");
            }
        }
        pipes.spawn(pipe(from_recv, to_send, fwd.clone()));
        pipes.spawn(pipe(to_recv, from_send, back.clone()));
        while pipes.try_join_next().is_some() {}
    }
    while pipes.join_next().await.is_some() {}
}

pub(crate) async fn forward_uni(from: Connection, to: Connection, leg: Leg) {
    let mut pipes = JoinSet::new();
    loop {
        let Ok(from_recv) = from.accept_uni().await else {
            break;
        };
        let Ok(to_send) = to.open_uni().await else {
            break;
        };
        pipes.spawn(pipe(from_recv, to_send, leg.clone()));
        while pipes.try_join_next().is_some() {}
    }
    while pipes.join_next().await.is_some() {}
}

pub(crate) async fn forward_datagrams(from: Connection, to: Connection, leg: Leg) {
    while let Ok(d) = from.read_datagram().await {
        match to.send_datagram(leg.pass(d)) {
            Ok(()) => {}
            Err(quinn::SendDatagramError::ConnectionLost(_)) => break,
            // Datagrams are unreliable by contract; one that does not fit
            // the other path is dropped, as the network would.
            Err(e) => tracing::debug!(error = %e, "datagram dropped"),
        }
    }
}

/// Accepts a new connection's first stream and reads its first message,
/// within `timeout`; `Err` inside is why it was not one.
pub(crate) async fn first_message<T: serde::de::DeserializeOwned>(
    timeout: std::time::Duration,
    conn: &Connection,
) -> Result<Result<(Control, T), String>, tokio::time::error::Elapsed> {
    tokio::time::timeout(timeout, async {
        let (send, recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
        let mut ctl = Control::new(send, recv);
        let first: T = ctl.recv().await.map_err(|e| e.to_string())?;
        Ok((ctl, first))
    })
    .await
}
