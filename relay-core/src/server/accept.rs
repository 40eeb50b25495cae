//! A new connection's first words: the hello (version, role) within the
//! deadline, and each side's first request; anything else closes it with
//! a [`Refusal`]. Here too the per-address caps: a connection, and a
//! host, holds a slot of its address's ([`crate::rules::addresses`])
//! until the relay forwards a session for it (or it ends); refusals are
//! audited one counted record a burst.

use std::sync::LazyLock;

use super::*;
use crate::rules::addresses::{Bursts, Caps, Limit};

/// What the relay counts per source address: the slots held, and the
/// refusals of the burst going on.
#[derive(Debug)]
pub(crate) struct Addresses {
    caps: Caps,
    bursts: Bursts,
}

impl Addresses {
    pub(crate) fn new(config: &RelayConfig) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Self {
            caps: Caps::new(config.max_connections_per_ip, config.max_waiting_per_ip),
            bursts: Bursts::default(),
        }))
    }
}

/// One slot of an address's, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    addresses: Arc<Mutex<Addresses>>,
    ip: IpAddr,
    limit: Limit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.addresses).caps.give_back(self.ip, self.limit);
    }
}

/// Takes a slot of `limit` for `ip`; the refusal (counted in its burst)
/// when its address holds the cap.
fn take_slot(relay: &Relay, ip: IpAddr, limit: Limit) -> Result<Slot, Refusal> {
    let mut a = lock(&relay.addresses);
    match a.caps.take(ip, limit) {
        Ok(()) => Ok(Slot {
            addresses: relay.addresses.clone(),
            ip,
            limit,
        }),
        Err(cap) => {
            a.bursts.refused(Instant::now(), ip, limit, cap);
            Err(Refusal::TooMany { limit, cap })
        }
    }
}

/// The slots of connections not in a session yet, by connection
/// ([`Connection::stable_id`]): given back when the relay starts
/// forwarding a session for the connection ([`forwarding`]) or its task
/// ends. Process-wide because the pumps that start a session know
/// connections, not relays; a relay's slot knows its own counts.
static UNPAIRED: LazyLock<Mutex<HashMap<usize, Held>>> = LazyLock::new(Default::default);

/// What [`UNPAIRED`] keeps for a connection: its slots.
#[derive(Default)]
struct Held {
    slots: Vec<Slot>,
}

/// A browser's connection by the bridged connection that carries it
/// ([`Connection::stable_id`]): it gets a session's credit when the bridged
/// one does. Kept while the bridged connection lives ([`Bridged`]), which
/// is longer than its [`Unpaired`] entry (a viewer's task hands it over
/// to the host's and ends before the pairing).
static BRIDGED: LazyLock<Mutex<HashMap<usize, Connection>>> = LazyLock::new(Default::default);

/// A bridged connection's entry in [`BRIDGED`], removed when dropped.
pub(super) struct Bridged(Connection);

impl Bridged {
    pub(super) fn hold(inner: &Connection, outer: Connection) -> Self {
        lock(&BRIDGED).insert(inner.stable_id(), outer);
        Bridged(inner.clone())
    }
}

impl Drop for Bridged {
    fn drop(&mut self) {
        lock(&BRIDGED).remove(&self.0.stable_id());
    }
}

/// A connection's entry in [`UNPAIRED`], removed (its slots given back)
/// when the connection's task ends. Holds the connection so that its id
/// is not reused before then.
pub(super) struct Unpaired(Connection);

impl Unpaired {
    pub(super) fn hold(conn: &Connection, slot: Slot) -> Self {
        let held = Held { slots: vec![slot] };
        lock(&UNPAIRED).insert(conn.stable_id(), held);
        Unpaired(conn.clone())
    }

    /// Adds a slot, held until the same moment (none when the relay
    /// already forwards a session for the connection).
    fn add(&self, slot: Slot) {
        if let Some(held) = lock(&UNPAIRED).get_mut(&self.0.stable_id()) {
            held.slots.push(slot);
        }
    }
}

impl Drop for Unpaired {
    fn drop(&mut self) {
        let slots = lock(&UNPAIRED).remove(&self.0.stable_id());
        drop(slots);
    }
}

/// The relay starts forwarding a session for `conn` (a fresh pairing or a
/// resume, here or carried over a link): it gets a session's flow-control
/// credit, and gives back its address's slots (a connection in a session
/// is a technician's, counted by the relay's own limits).
pub(crate) fn forwarding(conn: &Connection) {
    lifeline_common::tls::open_for_session(conn);
    let held = lock(&UNPAIRED).remove(&conn.stable_id());
    drop(held);
    if let Some(outer) = lock(&BRIDGED).get(&conn.stable_id()) {
        lifeline_common::tls::open_for_session(outer);
    }
}

/// Writes one audit record for each burst of refusals that is over (all
/// of them when `all`, as the relay stops).
pub(crate) async fn report_refusals(relay: &Relay, all: bool) {
    let bursts = {
        let mut a = lock(&relay.addresses);
        if all {
            a.bursts.all()
        } else {
            a.bursts.over(Instant::now())
        }
    };
    for b in bursts {
        let event = AuditEvent::ConnectionsRefused {
            ip: b
                .source
                .map_or_else(|| "other addresses".into(), |s| s.to_string()),
            limit: b.limit.word().into(),
            cap: b.cap as u64,
            refused: b.refused,
            over_s: b.lasted.as_secs(),
        };
        if let Err(e) = relay.audit.append(event).await {
            tracing::error!(error = %e, "audit write failed for refused connections");
        }
    }
}

/// Reports refusals' bursts as they end, every second, until aborted.
pub(crate) async fn refusals_reporter(relay: Arc<Relay>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        report_refusals(&relay, false).await;
    }
}

/// Handshakes at once to tell capped peers why they are refused.
pub(crate) const TURN_AWAYS: usize = 256;

/// Completes the handshake of a connection refused by a cap (so that it
/// hears why, with the close code) and closes it. It holds no permit of
/// `--max-connections` meanwhile, only one of [`TURN_AWAYS`]; with none
/// free the peer is refused before its handshake, unheard.
async fn turn_away(relay: &Relay, incoming: quinn::Incoming, why: Refusal) {
    let Ok(_turning) = relay.turn_aways.clone().try_acquire_owned() else {
        incoming.refuse();
        return;
    };
    match tokio::time::timeout(Duration::from_secs(5), incoming).await {
        Ok(Ok(conn)) => close(&conn, &why),
        Ok(Err(e)) => tracing::debug!(error = %e, "refused peer's handshake failed"),
        Err(_) => tracing::debug!("refused peer's handshake took too long"),
    }
}

/// A connection's place under `--max-connections`.
pub(super) type Permit = tokio::sync::OwnedSemaphorePermit;

/// A new connection with its place under `--max-connections`; with none
/// free it is refused before its handshake (and `None` returned).
pub(super) fn place(relay: &Relay, incoming: quinn::Incoming) -> Option<(quinn::Incoming, Permit)> {
    match relay.connections.clone().try_acquire_owned() {
        Ok(permit) => Some((incoming, permit)),
        Err(_) => {
            tracing::warn!(peer = %incoming.remote_address(), "connection limit reached; refusing");
            incoming.refuse();
            None
        }
    }
}

/// A new connection's handshake, once its address has a slot free (else
/// it is turned away, `permit` given back first); `None` when it is
/// turned away or its handshake fails.
pub(super) async fn admit(
    relay: &Relay,
    incoming: quinn::Incoming,
    permit: Permit,
) -> Option<(Connection, Slot, Permit)> {
    let peer = incoming.remote_address();
    let slot = match take_slot(relay, peer.ip(), Limit::Connections) {
        Ok(slot) => slot,
        Err(why) => {
            drop(permit);
            turn_away(relay, incoming, why).await;
            return None;
        }
    };
    match incoming.await {
        Ok(c) => Some((c, slot, permit)),
        Err(e) => {
            tracing::debug!(%peer, error = %e, "handshake failed");
            None
        }
    }
}

/// Serves one new connection (holding `permit`, its place under
/// `--max-connections`, until it ends): its hello, then the host's or the
/// viewer's side.
pub(crate) async fn serve_connection(
    relay: &Arc<Relay>,
    incoming: quinn::Incoming,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let peer = incoming.remote_address();
    let Some((conn, slot, _permit)) = admit(relay, incoming, permit).await else {
        return;
    };
    if super::web::is_h3(&conn) {
        return super::web::serve(relay, conn, peer, slot).await;
    }
    let unpaired = Unpaired::hold(&conn, slot);
    let via = Via {
        ip: peer.ip(),
        kind: None,
    };
    greet(relay, conn, unpaired, via).await;
}

/// A connection's hello within the deadline, then the host's or the
/// viewer's side (`via`: where the viewer comes from).
pub(super) async fn greet(relay: &Arc<Relay>, conn: Connection, unpaired: Unpaired, via: Via) {
    let Some((ctl, hello)) = hello(relay, &conn).await else {
        return;
    };
    match (hello.role, via.kind) {
        (Role::Host, None) => {
            match take_slot(relay, via.ip, Limit::WaitingHosts) {
                Ok(slot) => unpaired.add(slot),
                Err(why) => return close(&conn, &why),
            };
            serve_host(relay, conn, ctl).await
        }
        (Role::Host, Some(_)) => close(&conn, &Refusal::Protocol("a browser may only view".into())),
        (Role::Viewer, _) => serve_viewer(relay, conn, ctl, via).await,
    }
}

/// A connection's hello, within the deadline and of this relay's
/// version; otherwise the connection is closed with why and `None`
/// returned.
pub(super) async fn hello(relay: &Relay, conn: &Connection) -> Option<(Control, Hello)> {
    let (ctl, hello) = match first_message::<Hello>(relay.config.hello_timeout, conn).await {
        Ok(Ok(x)) => x,
        Ok(Err(why)) => {
            let ip = conn.remote_address().ip();
            tracing::info!(%ip, %why, "dropping peer before hello");
            close(conn, &Refusal::NotHello(why));
            return None;
        }
        Err(_) => {
            close(conn, &Refusal::Timeout("no hello in time"));
            return None;
        }
    };
    if hello.version != PROTOCOL_VERSION {
        let refusal = Refusal::Version {
            relay: PROTOCOL_VERSION,
            client: hello.version,
        };
        close(conn, &refusal);
        return None;
    }
    Some((ctl, hello))
}

/// Reads the first request with the hello deadline; closes the connection
/// with a reason on anything else.
pub(crate) async fn first_request<T: serde::de::DeserializeOwned>(
    relay: &Relay,
    conn: &Connection,
    ctl: &mut Control,
) -> Option<T> {
    match tokio::time::timeout(relay.config.hello_timeout, ctl.recv::<T>()).await {
        Ok(Ok(req)) => Some(req),
        Ok(Err(ControlError::Frame(e))) => {
            close(conn, &Refusal::Protocol(e.to_string()));
            None
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "peer left before its first request");
            None
        }
        Err(_) => {
            close(conn, &Refusal::Timeout("no request in time"));
            None
        }
    }
}
