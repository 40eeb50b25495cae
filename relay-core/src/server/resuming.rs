//! The relay's async side of resuming (the decisions are
//! [`crate::rules::resume`]'s): filing a session's resume ticket, parking a
//! session whose link was lost, pairing its sides again when both come
//! back with the secret, ending it when the window passes, and restoring
//! parked sessions from the data directory after a restart.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use lifeline_common::framed::Control;
use lifeline_proto::Locator;
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::control::{HostEvent, ResumeRefusal, ResumeRequest, ViewerEvent, clean_text};
use lifeline_proto::link::LinkRequest;
use quinn::Connection;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{Joiner, Relay, Sides, lock, run_segment};
use crate::forward::close;
use crate::resume_store::{self, Ticket};
use crate::rules::addresses::Source;
use crate::rules::bridge::Peer;
use crate::rules::refusal::Refusal;
use crate::rules::resume::{Arrival, Resumes};

/// A side that came back, handed to the task of the side that was first.
#[derive(Debug)]
pub(crate) struct Arrived {
    peer: Peer,
    conn: Connection,
    ctl: Control,
    /// Its address (as the relay it reached saw it, when carried over a
    /// link from another relay of the cluster).
    ip: IpAddr,
}

/// The relay's table of resumable sessions.
pub(crate) type Table = Resumes<oneshot::Sender<Arrived>, CancellationToken>;

/// Who a session is between and what it has cost so far; outlives the
/// connections of one stretch of forwarding.
#[derive(Debug)]
pub(crate) struct SessionMeta {
    pub session: String,
    pub joiner: Joiner,
    pub host_ip: IpAddr,
    pub started: Instant,
    /// The same moment by the wall clock, kept with a resume ticket.
    pub started_wall: SystemTime,
    pub h2v: Arc<AtomicU64>,
    pub v2h: Arc<AtomicU64>,
    /// The session's recording while it is written.
    pub recording: std::sync::Mutex<Option<crate::recording::RecordingFile>>,
    /// A recording that cannot be written ends the session.
    pub recording_required: bool,
    /// The recording reached its cap: later chunks are dropped.
    pub recording_full: std::sync::atomic::AtomicBool,
    /// What the session's peers made the relay keep, and whether the key
    /// exchange is behind it.
    pub ledger: std::sync::Mutex<crate::rules::bridge::Ledger>,
    /// The mode the host last said it granted (for the metrics only).
    pub mode: std::sync::Mutex<Option<lifeline_proto::control::Mode>>,
    /// Records about the session the host has not been told of yet
    /// ([`super::told`]).
    pub untold: std::sync::Mutex<Vec<crate::audit::Sealed>>,
    /// The host stopped taking them: none are told any more.
    pub untold_stopped: std::sync::atomic::AtomicBool,
    /// Cancelled when an admin ends the session ([`Relay::end_sessions_of`]).
    pub ended: CancellationToken,
}

impl SessionMeta {
    pub fn new(session: String, joiner: Joiner, host_ip: IpAddr) -> Self {
        Self {
            session,
            joiner,
            host_ip,
            started: Instant::now(),
            started_wall: SystemTime::now(),
            h2v: Arc::default(),
            v2h: Arc::default(),
            recording: std::sync::Mutex::new(None),
            recording_required: false,
            recording_full: std::sync::atomic::AtomicBool::new(false),
            ledger: std::sync::Mutex::default(),
            mode: std::sync::Mutex::new(None),
            untold: std::sync::Mutex::default(),
            untold_stopped: std::sync::atomic::AtomicBool::new(false),
            ended: CancellationToken::new(),
        }
    }

    fn ticket(&self, hash: [u8; 32]) -> Ticket {
        Ticket {
            session: self.session.clone(),
            hash: hex::encode(hash),
            technician: self.joiner.technician.clone(),
            token_key: self.joiner.token_key.clone(),
            locator: self.joiner.locator.value(),
            host_ip: self.host_ip.to_string(),
            viewer_ip: self.joiner.ip.to_string(),
            started_unix_ms: self
                .started_wall
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    fn from_ticket(t: &Ticket) -> Option<Self> {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let joiner = Joiner {
            technician: t.technician.clone(),
            ip: ip(&t.viewer_ip)?,
            kind: None,
            token_key: t.token_key.clone(),
            locator: Locator::new(t.locator)?,
            // Filed with the session's start, before the restart.
            reason: None,
        };
        let mut meta = Self::new(t.session.clone(), joiner, ip(&t.host_ip)?);
        meta.ledger = std::sync::Mutex::new(crate::rules::bridge::Ledger::confirmed());
        // The duration counts from the session's start, not the restart.
        let wall = SystemTime::UNIX_EPOCH + Duration::from_millis(t.started_unix_ms);
        if let Ok(ago) = SystemTime::now().duration_since(wall)
            && let Some(started) = Instant::now().checked_sub(ago)
        {
            meta.started = started;
            meta.started_wall = wall;
        }
        Some(meta)
    }
}

/// The host handed in the session's resume ticket: kept on disk first
/// (so it survives a crash), then in the table. A disk that refuses it
/// leaves the session running, just not resumable.
pub(crate) async fn file_ticket(
    relay: &Relay,
    meta: &Arc<SessionMeta>,
    hash: [u8; 32],
    stop: &CancellationToken,
) {
    let off = relay.config().resume_window.is_zero();
    if off || lock(&relay.resumes).is_resumable(&meta.session) {
        return;
    }
    let dir = relay.config().data_dir.clone();
    let ticket = meta.ticket(hash);
    let saved = tokio::task::spawn_blocking(move || resume_store::save(&dir, &ticket)).await;
    match saved {
        Ok(Ok(())) => {
            lock(&relay.metas).insert(meta.session.clone(), meta.clone());
            let viewer = &meta.joiner.token_key;
            lock(&relay.resumes).ticket(&meta.session, hash, viewer, stop.clone());
        }
        Ok(Err(e)) => tracing::error!(error = %e, "session will not be resumable"),
        Err(e) => tracing::error!(error = %e, "session will not be resumable"),
    }
}

/// Writes a session's end record from its totals.
async fn write_end(relay: &Relay, meta: &SessionMeta, reason: String) {
    let ended = AuditEvent::SessionEnded {
        session: meta.session.clone(),
        reason,
        duration_ms: u64::try_from(meta.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        bytes_host_to_viewer: meta.h2v.load(Ordering::Relaxed),
        bytes_viewer_to_host: meta.v2h.load(Ordering::Relaxed),
    };
    if let Err(e) = relay.audit.append(ended).await {
        tracing::error!(error = %e, "audit write failed for a session end");
    }
    if let Some(c) = relay.cluster()
        && let Err(e) = c.db.session_ended(&meta.session).await
    {
        tracing::error!(error = %e, "could not take an ended session off the database");
    }
}

/// Seals the session's recording into the audit log.
async fn seal_recording(relay: &Relay, meta: &SessionMeta) {
    let Some(file) = lock(&meta.recording).take() else {
        return;
    };
    let event = file.seal().unwrap_or_else(|e| AuditEvent::RecordingFailed {
        session: meta.session.clone(),
        reason: format!("the relay cannot make the recording durable: {e}"),
    });
    if let Err(e) = relay.audit.append(event).await {
        tracing::error!(error = %e, "audit write failed for a recording's seal");
    }
}

/// Forgets a session's resume state, on disk and in memory.
fn forget(relay: &Relay, session: &str) {
    lock(&relay.metas).remove(session);
    if let Err(e) = resume_store::remove(&relay.config().data_dir, session) {
        tracing::error!(error = %e, "a stale resume ticket stays on disk");
    }
}

/// The session is over for good: the end record, and no more resumes (a
/// side already back is told it ended).
pub(crate) async fn finish(relay: &Relay, meta: &SessionMeta, reason: String) {
    seal_recording(relay, meta).await;
    write_end(relay, meta, reason).await;
    let waiting = lock(&relay.resumes).end(Instant::now(), &meta.session);
    drop(waiting);
    forget(relay, &meta.session);
}

/// A link was lost: the session waits for both sides (or ends, if it
/// stopped being resumable meanwhile).
pub(crate) async fn park(relay: &Relay, meta: &SessionMeta, reason: String) {
    if !lock(&relay.resumes).interrupt(Instant::now(), &meta.session) {
        return finish(relay, meta, reason).await;
    }
    tracing::info!(session = %meta.session, %reason, "session parked until its sides resume");
    let event = AuditEvent::SessionInterrupted {
        session: meta.session.clone(),
        reason,
        window_s: relay.config().resume_window.as_secs(),
    };
    if let Err(e) = super::told::audit(relay, meta, event).await {
        tracing::error!(error = %e, "audit write failed for an interruption");
    }
}

/// A side asks to continue `req.session`, from `ip`; a viewer with the
/// key of the token it presented (`None`: it presented none).
pub(crate) async fn serve_resume(
    relay: &Arc<Relay>,
    conn: Connection,
    ctl: Control,
    (peer, token_key): (Peer, Option<String>),
    req: ResumeRequest,
    ip: IpAddr,
) {
    let now = Instant::now();
    let me = Arrived {
        peer,
        conn,
        ctl,
        ip,
    };
    // Resumes name no technician the relay checked first: they take a
    // unit of the address's anonymous allowance before any await, given
    // back unless the resume failed on its secret, session or token.
    let reserved = lock(&relay.guards.anon).reserve(now, &Source::of(ip));
    if let Err(wait) = reserved {
        let retry_after_s = u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX);
        let refusal = ResumeRefusal::Throttled { retry_after_s };
        return refuse(relay, me, &req.session, refusal).await;
    }
    let hash: [u8; 32] = Sha256::digest(req.secret).into();
    let (tx, rx) = oneshot::channel();
    let who = (peer, token_key.as_deref());
    let arrival = lock(&relay.resumes).arrive(now, &req.session, &hash, who, tx);
    let failed = matches!(
        arrival,
        Err(ResumeRefusal::WrongSecret | ResumeRefusal::UnknownSession | ResumeRefusal::NotYours)
    );
    if !failed {
        lock(&relay.guards.anon).refund(now, &Source::of(ip));
    }
    match arrival {
        Err(ResumeRefusal::UnknownSession) if relay.cluster().is_some() => {
            elsewhere(relay, me, req, token_key).await;
        }
        Err(refusal) => refuse(relay, me, &req.session, refusal).await,
        Ok(Arrival::Pair(first)) => {
            if let Err(me) = first.send(me) {
                // The first side's task is gone with its connection: park
                // again and let this side try once more.
                lock(&relay.resumes).interrupt(Instant::now(), &req.session);
                close(
                    &me.conn,
                    &Refusal::Reconnect("the other side is reconnecting".into()),
                );
            }
        }
        Ok(Arrival::Wait { stop, replaced }) => {
            if let Some(stop) = stop {
                stop.cancel();
            }
            drop(replaced);
            wait_for_other(relay, req.session, me, rx).await;
        }
    }
}

/// A session this relay does not know may run on another relay of the
/// cluster: the side is carried there (its unit of the anonymous
/// allowance, taken before the database was asked, given back); else it
/// is refused as unknown.
async fn elsewhere(relay: &Arc<Relay>, me: Arrived, req: ResumeRequest, token_key: Option<String>) {
    let Some(cluster) = relay.cluster() else {
        return;
    };
    let node = match cluster.db.session_node(&req.session).await {
        Ok(Some(node)) if node != cluster.node => node,
        Ok(_) => {
            let session = req.session.clone();
            return refuse(relay, me, &session, ResumeRefusal::UnknownSession).await;
        }
        Err(e) => {
            let why = crate::cluster::unavailable("looking up a session's relay", &e);
            return close(&me.conn, &Refusal::Reconnect(why.to_string()));
        }
    };
    lock(&relay.guards.anon).refund(Instant::now(), &Source::of(me.ip));
    let ip = me.ip.to_string();
    let request = match (me.peer, token_key) {
        (Peer::Viewer, Some(token_key)) => LinkRequest::ResumeViewer {
            ip,
            request: req,
            token_key,
        },
        (peer, _) => LinkRequest::Resume {
            role: peer.into(),
            ip,
            request: req,
        },
    };
    let carried = crate::cluster::link::forward(
        relay.splice(),
        cluster,
        &node,
        request,
        me.conn.clone(),
        me.ctl,
    )
    .await;
    if let Err(why) = carried {
        close(&me.conn, &Refusal::Reconnect(why.to_string()));
    }
}

/// Holds the first side back until the second arrives, the session ends,
/// the window passes, or the relay stops.
async fn wait_for_other(
    relay: &Arc<Relay>,
    session: String,
    me: Arrived,
    rx: oneshot::Receiver<Arrived>,
) {
    tokio::select! {
        other = rx => match other {
            Ok(other) => resume_segment(relay, &session, me, other).await,
            Err(_) => {
                let why = lock(&relay.resumes).refusal(&session);
                match why {
                    Some(why) => tell_refused(me, why).await,
                    None => close(&me.conn, &Refusal::Ended("replaced by a newer attempt".into())),
                }
            }
        },
        _ = me.conn.closed() => {}
        () = relay.shutdown.cancelled() => {
            close(&me.conn, &Refusal::Shutdown);
        }
    }
}

/// Both sides are back: tell them, file it, and forward again.
async fn resume_segment(relay: &Arc<Relay>, session: &str, a: Arrived, b: Arrived) {
    let (mut host, mut viewer) = match a.peer {
        Peer::Host => (a, b),
        Peer::Viewer => (b, a),
    };
    let meta = lock(&relay.metas).get(session).cloned();
    let Some(meta) = meta else {
        for side in [&host, &viewer] {
            close(&side.conn, &Refusal::Ended("the session is over".into()));
        }
        return;
    };
    let event = AuditEvent::SessionResumed {
        session: session.to_owned(),
        host_ip: host.ip.to_string(),
        viewer_ip: viewer.ip.to_string(),
    };
    if let Err(e) = super::told::audit(relay, &meta, event).await {
        let why = Refusal::AuditFailed(e.to_string());
        close(&host.conn, &why);
        close(&viewer.conn, &why);
        return finish(relay, &meta, why.to_string()).await;
    }
    let told = match host.ctl.send(&HostEvent::Resumed).await {
        Ok(()) => viewer.ctl.send(&ViewerEvent::Resumed).await,
        Err(e) => Err(e),
    };
    if let Err(e) = told {
        for side in [&host, &viewer] {
            close(&side.conn, &Refusal::Reconnect("reconnect again".into()));
        }
        return park(relay, &meta, format!("lost again while resuming: {e}")).await;
    }
    relay.metrics.resume("resumed");
    tracing::info!(%session, "session resumed");
    let sides = Sides {
        host: &host.conn,
        viewer: &viewer.conn,
    };
    run_segment(relay, &meta, sides, host.ctl, viewer.ctl).await;
}

/// Files a refused resume and tells the side why.
async fn refuse(relay: &Relay, me: Arrived, session: &str, why: ResumeRefusal) {
    relay.metrics.resume("refused");
    let event = AuditEvent::ResumeRefused {
        session: clean_text(session),
        from: me.peer.name().into(),
        ip: me.ip.to_string(),
        reason: why.as_str().into(),
    };
    if let Err(e) = relay.audit.append(event).await {
        return close(&me.conn, &Refusal::AuditFailed(e.to_string()));
    }
    tell_refused(me, why).await;
}

async fn tell_refused(mut me: Arrived, why: ResumeRefusal) {
    let sent = match me.peer {
        Peer::Host => me.ctl.send(&HostEvent::ResumeRefused(why)).await,
        Peer::Viewer => me.ctl.send(&ViewerEvent::ResumeRefused(why)).await,
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, "side gone before hearing its refusal");
    }
    me.ctl.finish();
    let _ = tokio::time::timeout(Duration::from_secs(2), me.conn.closed()).await;
    close(&me.conn, &Refusal::Refused(why.to_string()));
}

/// Loads the sessions a previous run left resumable: parked for a whole
/// window from now. Returns their ids (their audit records stay open).
pub(crate) fn restore(relay: &Relay) -> Vec<String> {
    let (tickets, bad) = resume_store::load_all(&relay.config().data_dir);
    for e in bad {
        tracing::error!(error = %e, "resume state ignored");
    }
    let now = Instant::now();
    let mut ids = Vec::new();
    let mut metas: HashMap<String, Arc<SessionMeta>> = HashMap::new();
    for t in tickets {
        let (Some(hash), Some(meta)) = (t.hash_bytes(), SessionMeta::from_ticket(&t)) else {
            tracing::error!(session = %t.session, "resume state unreadable; ignored");
            continue;
        };
        let mut meta = meta;
        match crate::recording::RecordingFile::reopen(&relay.config().data_dir, &t.session) {
            Ok(Some(file)) => {
                meta.recording = std::sync::Mutex::new(Some(file));
                meta.recording_required = relay
                    .config()
                    .recording
                    .unwrap_or(crate::recording::RecordingMode::Required)
                    == crate::recording::RecordingMode::Required;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(session = %t.session, error = %e, "its recording cannot go on")
            }
        }
        lock(&relay.resumes).restore(now, &t.session, hash, &t.token_key);
        metas.insert(t.session.clone(), Arc::new(meta));
        ids.push(t.session);
    }
    lock(&relay.metas).extend(metas);
    ids
}

/// Ends parked sessions whose window passed, once a second.
pub(crate) async fn sweep(relay: Arc<Relay>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let over = lock(&relay.resumes).expire(Instant::now());
        for (session, waiting) in over {
            // The side that was waiting hears the window passed.
            drop(waiting);
            let meta = lock(&relay.metas).get(&session).cloned();
            if let Some(meta) = meta {
                let window = relay.config().resume_window.as_secs();
                let reason = format!("connection lost and not resumed within {window} s");
                seal_recording(&relay, &meta).await;
                write_end(&relay, &meta, reason).await;
            }
            forget(&relay, &session);
        }
    }
}
