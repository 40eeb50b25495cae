//! The relay-to-relay link: a viewer carried to the relay its host waits
//! on, or a side resuming carried to the relay that holds its session.
//!
//! Relay B won a code in the database whose host waits on relay A. B opens
//! a QUIC connection to A (mutual TLS, the cluster's CA on both sides),
//! sends one [`LinkRequest`] on the first stream, then splices: the
//! viewer's control stream to that stream frame by frame, every other
//! stream and datagram as the relay forwards a session's, unread. A takes
//! the link connection for the viewer's own and runs the session as if
//! the viewer had joined it; when either connection ends B closes the
//! other with the same code and reason, so the viewer hears A's words.
//! B gives the carried side a session's flow-control credit only once
//! A's first answer let it in (a join won, a session resumed): a side A
//! refuses never had more than a stranger's.
//!
//! The link knows nothing of the relay's sessions: what arrives over a
//! link goes to a [`Carrier`] (the relay implements it), and carrying a
//! side away needs only the forwarding taps (the byte counters, the test
//! hook) and the shutdown signal ([`Splice`]),
//! so the dependency goes one way, from the relay to the link.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use lifeline_common::framed::{Control, FramedRecv, FramedSend};
use lifeline_common::tls::LINK_SERVER_NAME;
use lifeline_proto::control::{CloseCode, HostEvent, Role, ViewerEvent};
use lifeline_proto::frame;
use lifeline_proto::link::LinkRequest;
use quinn::{Connection, ConnectionError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Cluster;
use crate::forward::{Taps, close, first_message, spawn_pumps};
use crate::rules::refusal::Refusal;

/// A task of the relay's (which its shutdown waits for).
pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Who takes the sides other relays carry here: the relay.
pub(crate) trait Carrier: Send + Sync + 'static {
    /// How long a link has to say what it carries.
    fn hello_timeout(&self) -> Duration;
    /// Runs `task` as one of the relay's.
    fn spawn(&self, task: Task);
    /// Serves a carried side as if it had connected here.
    fn carried(self: Arc<Self>, conn: Connection, ctl: Control, request: LinkRequest) -> Task;
}

/// What carrying a side to another relay needs from this one.
#[derive(Debug, Clone)]
pub(crate) struct Splice<'a> {
    /// What forwarded chunks pass: the relay's byte counters, its
    /// test-only hook.
    pub(crate) taps: Taps,
    /// Cancelled when the relay shuts down.
    pub(crate) shutdown: &'a CancellationToken,
}

/// Accepts other relays' links until the link endpoint closes.
pub(crate) async fn serve<C: Carrier>(carrier: Arc<C>, cluster: Arc<Cluster>) {
    while let Some(incoming) = cluster.link.accept().await {
        let c = carrier.clone();
        carrier.spawn(Box::pin(serve_link(c, incoming)));
    }
}

async fn serve_link<C: Carrier>(carrier: Arc<C>, incoming: quinn::Incoming) {
    let from = incoming.remote_address();
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            // Not signed by the cluster's CA, or not a relay at all.
            tracing::warn!(%from, error = %e, "refused a relay link");
            return;
        }
    };
    let first = first_message::<LinkRequest>(carrier.hello_timeout(), &conn).await;
    match first {
        Ok(Ok((ctl, req))) => carrier.carried(conn, ctl, req).await,
        Ok(Err(why)) => close(&conn, &Refusal::Protocol(why.to_string())),
        Err(_) => close(&conn, &Refusal::Timeout("no link request in time")),
    }
}

/// Carries `client` (a viewer that won a code whose host waits on relay
/// `node`, or a side resuming a session `node` holds) there. An error is
/// the sentence the client hears.
pub(crate) async fn forward(
    at: Splice<'_>,
    cluster: &Cluster,
    node: &str,
    request: LinkRequest,
    client: Connection,
    client_ctl: Control,
) -> Result<(), String> {
    let role = answering_role(&request);
    let link = connect(cluster, node).await.map_err(|e| {
        format!("cannot reach the relay that holds your session ({e}); ask for a new code")
    })?;
    let opened = async {
        let (send, recv) = link.open_bi().await.map_err(|e| e.to_string())?;
        let mut ctl = Control::new(send, recv);
        ctl.send(&request).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(ctl)
    }
    .await;
    let link_ctl = opened.map_err(|e| format!("the link to the host's relay failed: {e}"))?;
    splice(at, (client, client_ctl, role), link, link_ctl).await;
    Ok(())
}

async fn connect(cluster: &Cluster, node: &str) -> Result<Connection, String> {
    let addr = cluster
        .db
        .link_addr(node)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("relay {node} is no longer in the cluster"))?;
    let addr: SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(_) => tokio::net::lookup_host(&addr)
            .await
            .map_err(|e| format!("{addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr}: no address"))?,
    };
    let connecting = cluster
        .link
        .connect_with(cluster.link_client.clone(), addr, LINK_SERVER_NAME)
        .map_err(|e| e.to_string())?;
    connecting.await.map_err(|e| e.to_string())
}

/// Copies control frames one way until either side ends; then ends the
/// other's stream too.
async fn frames(mut from: FramedRecv, mut to: FramedSend) {
    while let Ok(frame) = from.recv_bytes().await {
        if to.send_bytes(&frame).await.is_err() {
            return;
        }
    }
    to.finish();
}

/// What to tell the side left behind when `err` ended the other: the
/// same words, or (a connection lost, not closed) `Reconnect`, which the
/// relay holding the session takes as a lost link it may park for resume.
fn mirror(err: &ConnectionError, who: &str) -> (u32, String) {
    match err {
        ConnectionError::ApplicationClosed(ac) => (
            u32::try_from(ac.error_code.into_inner()).unwrap_or(CloseCode::PeerGone as u32),
            String::from_utf8_lossy(&ac.reason).into_owned(),
        ),
        other => (
            CloseCode::Reconnect as u32,
            format!("{who}'s connection was lost ({other}); reconnecting…"),
        ),
    }
}

/// Whose events the far relay answers `request` with.
fn answering_role(request: &LinkRequest) -> Role {
    match request {
        LinkRequest::Join { .. }
        | LinkRequest::JoinFor { .. }
        | LinkRequest::ResumeViewer { .. } => Role::Viewer,
        LinkRequest::Resume { role, .. } => *role,
    }
}

/// Whether the far relay's first answer to a `role` side lets it in: a
/// join won or a session resumed (not a refusal, nor anything else).
pub(crate) fn lets_in(role: Role, frame: &[u8]) -> bool {
    match role {
        Role::Viewer => matches!(
            frame::decode::<ViewerEvent>(frame),
            Ok(ViewerEvent::Joined { .. } | ViewerEvent::Resumed)
        ),
        Role::Host => matches!(
            frame::decode::<HostEvent>(frame),
            Ok(HostEvent::Resumed | HostEvent::Paired { .. } | HostEvent::Policy(_))
        ),
    }
}

/// The far relay's frames to the client: its first answer, then (only if
/// that let the client in) the session's credit and forwarding both ways,
/// until aborted.
async fn answer_then_forward(
    taps: Taps,
    (client, role): (Connection, Role),
    link: Connection,
    mut from: FramedRecv,
    mut to: FramedSend,
) {
    let Ok(first) = from.recv_bytes().await else {
        to.finish();
        return;
    };
    if to.send_bytes(&first).await.is_err() {
        return;
    }
    let counters = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // The pumps take the link for the host's side: when the client is the
    // host, its bytes go the other way in the relay's counters.
    let taps = match role {
        Role::Host => taps.reversed(),
        Role::Viewer => taps,
    };
    let _pumps =
        lets_in(role, &first).then(|| spawn_pumps(&taps, &link, &client, &counters.0, &counters.1));
    frames(from, to).await;
    std::future::pending::<()>().await;
}

async fn splice(
    at: Splice<'_>,
    (client, client_ctl, role): (Connection, Control, Role),
    link: Connection,
    link_ctl: Control,
) {
    let (c_send, c_recv) = client_ctl.into_parts();
    let (l_send, l_recv) = link_ctl.into_parts();
    let mut controls = JoinSet::new();
    controls.spawn(frames(c_recv, l_send));
    controls.spawn(answer_then_forward(
        at.taps.clone(),
        (client.clone(), role),
        link.clone(),
        l_recv,
        c_send,
    ));
    let (code, reason) = tokio::select! {
        e = link.closed() => mirror(&e, "the session's relay"),
        e = client.closed() => mirror(&e, "the other side"),
        () = at.shutdown.cancelled() => (Refusal::Shutdown.code() as u32, Refusal::Shutdown.to_string()),
    };
    for conn in [&client, &link] {
        conn.close(quinn::VarInt::from_u32(code), reason.as_bytes());
    }
    controls.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_proto::control::{JoinRefusal, ResumeRefusal};

    fn payload<T: serde::Serialize>(msg: &T) -> Vec<u8> {
        let framed = frame::encode(msg, frame::MAX_CONTROL_FRAME).unwrap_or_default();
        framed.get(frame::HEADER_LEN..).unwrap_or_default().to_vec()
    }

    #[test]
    fn only_a_join_won_or_a_session_resumed_lets_a_carried_side_in() {
        let joined = ViewerEvent::Joined {
            session: "s".into(),
            host_name: "pc".into(),
            os_user: "ann".into(),
        };
        assert!(lets_in(Role::Viewer, &payload(&joined)));
        assert!(lets_in(Role::Viewer, &payload(&ViewerEvent::Resumed)));
        assert!(lets_in(Role::Host, &payload(&HostEvent::Resumed)));
        let refused = [
            payload(&ViewerEvent::Refused(JoinRefusal::UsedCode)),
            payload(&ViewerEvent::ResumeRefused(ResumeRefusal::NotYours)),
            payload(&ViewerEvent::ResumeRefused(ResumeRefusal::WrongSecret)),
            b"not a message".to_vec(),
        ];
        for frame in &refused {
            assert!(!lets_in(Role::Viewer, frame));
        }
        let host_refused = payload(&HostEvent::ResumeRefused(ResumeRefusal::WrongSecret));
        assert!(!lets_in(Role::Host, &host_refused));
        assert!(!lets_in(Role::Host, &payload(&HostEvent::Expired)));
    }
}
