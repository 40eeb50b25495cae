//! The relay's async driver: accepts QUIC connections, runs the pairing
//! handshake on each control stream, then forwards everything else between
//! host and viewer without reading it.
//!
//! Rooms: [`accept`] (hello and first requests), [`codes`] (the host's
//! side: codes issued, moved, retired, waiting), [`joins`] (the viewer's
//! side; [`login`], a technician signing in with the identity provider), [`segment`] (a paired session, forwarded until it ends or
//! parks), [`resuming`] (parking and resuming sessions), [`housekeeping`];
//! the pumps are [`crate::forward`]'s.

mod accept;
mod calls;
mod codes;
mod devices_port;
mod enroll;
mod health;
mod housekeeping;
mod joins;
mod login;
mod resuming;
mod segment;
mod told;
mod web;

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lifeline_proto::Locator;
use lifeline_proto::audit::{AuditEvent, ViewerKind};
use lifeline_proto::control::{
    Hello, HostEvent, HostRequest, JoinRefusal, PROTOCOL_VERSION, RecordingPolicy, Role,
    SessionReport, ViewerEvent, ViewerRequest, clean_text,
};
use quinn::Connection;
use rand::Rng;
use std::collections::HashMap;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::{AuditError, AuditLog};
use crate::cluster::{Claim, Cluster, unavailable};
use crate::recording::{AuditorStore, RecordingFile, RecordingMode};
use crate::rules::addresses::Source;
use crate::rules::bridge::{self, Heard, Peer, Step};
use crate::rules::refusal::Refusal;
use crate::rules::registry::{Gone, Registry};
use crate::rules::suspicion::{Suspicion, Verdict};
use crate::rules::throttle::Throttle;
use crate::rules::waiting::{self, Then, WaitEvent};
use crate::tokens::{Lookup, TechnicianStore, TokenCache, TokenError, token_hash};
pub(crate) use accept::forwarding;
use accept::*;
use codes::*;
use housekeeping::*;
pub(crate) use joins::serve_carried;
use joins::*;
use lifeline_common::framed::{Control, ControlError};
use lifeline_proto::link::LinkRequest;
use resuming::SessionMeta;
use segment::*;
pub(crate) use segment::{Sides, run_segment};

pub use crate::forward::{Direction, ForwardHook};
use crate::forward::{close, ending, first_message, spawn_pumps};
pub use devices_port::serve_devices;
pub use health::NotReady;
pub use web::{H3_ALPN, WebEntry, WebGate, WebTask};

/// Tunables of a relay; [`RelayConfig::new`] gives the production defaults.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub data_dir: PathBuf,
    /// How long an unused code lives.
    pub code_ttl: Duration,
    pub max_waiting_hosts: usize,
    pub max_connections: usize,
    /// Connections one address may hold at once that are not in a session
    /// (being set up, or a waiting host's; 0: no cap).
    pub max_connections_per_ip: usize,
    /// Hosts at one address that may wait for a technician at once (0:
    /// no cap).
    pub max_waiting_per_ip: usize,
    /// How long a new connection may take to say who it is and what it wants.
    pub hello_timeout: Duration,
    /// Failed joins allowed at once per source IP and per token …
    pub throttle_burst: u32,
    /// … and how fast that allowance comes back (one per this).
    pub throttle_drain: Duration,
    /// How long a session whose link was lost (or whose relay restarted)
    /// waits for both sides to come back.
    pub resume_window: Duration,
    /// How long control lasts before the user is asked whether to go on
    /// (zero: never).
    pub confirm_every: Duration,
    /// How long the user has to answer it (60 s; shorter in tests).
    pub confirm_answer_within: Duration,
    /// How long a device session needing approval waits for an approver
    /// (5 minutes).
    pub approval_within: Duration,
    /// Whether sessions are recorded; `None`: required when an auditor
    /// key exists, else off.
    pub recording: Option<RecordingMode>,
    /// Recordings include keystrokes and typed text (the user is told).
    pub record_keys: bool,
    /// Recordings older than this are deleted (audited); `None`: kept.
    pub recording_retention: Option<Duration>,
    /// Where audit records are shipped as they are written.
    pub audit_export: Option<crate::export::ExportTarget>,
    /// Test-only: sees, and may change, every forwarded chunk, to play a
    /// hostile relay. Nothing in the binary or its flags sets it.
    pub forward_hook: Option<ForwardHook>,
    /// What one session may make the relay keep: recording bytes and
    /// chunks, audit records from peer reports.
    pub session_caps: crate::rules::bridge::Caps,
    /// Serves browsers (`serve --web`): connections that negotiated
    /// [`H3_ALPN`] go to it; without one they are closed.
    pub web_gate: Option<Arc<dyn WebGate>>,
    /// The devices port (`serve --devices-listen`, served by
    /// [`serve_devices`]): devices coming online at the main port are sent
    /// there. `None`: they stay online at the main port.
    pub devices_port: Option<u16>,
    /// Every join must give a reason (`serve --require-reason`); device
    /// sessions follow their group's policy instead.
    pub require_reason: bool,
    /// Signs technicians in with the organisation's identity provider
    /// (`serve --oidc-issuer`); `None`: only tokens from `technician add`.
    pub sign_in: Option<Arc<dyn crate::signin::SignIn>>,
}

impl RelayConfig {
    /// Defaults: 10-minute codes, 20,000 waiting hosts, 50,000 connections
    /// (500 and 200 waiting hosts an address), 5 failed joins at once then
    /// one per 12 s.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            code_ttl: Duration::from_secs(600),
            max_waiting_hosts: 20_000,
            max_connections: 50_000,
            max_connections_per_ip: 500,
            max_waiting_per_ip: 200,
            hello_timeout: Duration::from_secs(10),
            throttle_burst: 5,
            throttle_drain: Duration::from_secs(12),
            resume_window: lifeline_proto::control::RESUME_WINDOW,
            confirm_every: Duration::from_secs(30 * 60),
            confirm_answer_within: Duration::from_secs(60),
            approval_within: Duration::from_secs(300),
            recording: None,
            record_keys: false,
            recording_retention: None,
            audit_export: None,
            forward_hook: None,
            session_caps: crate::rules::bridge::Caps::default(),
            web_gate: None,
            devices_port: None,
            require_reason: false,
            sign_in: None,
        }
    }
}

/// The relay could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Tokens(#[from] TokenError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
}

/// A viewer that won a code, handed to the waiting host's task.
#[derive(Debug)]
struct PairRequest {
    viewer: Connection,
    ctl: Control,
    joiner: Joiner,
}

/// Who joined, for the audit log and for counting their failures.
/// Where a viewer comes from: its address (a browser's, not the gate's
/// own), and what it views with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Via {
    pub ip: IpAddr,
    pub kind: Option<ViewerKind>,
}

#[derive(Debug, Clone)]
pub(crate) struct Joiner {
    pub technician: String,
    pub ip: IpAddr,
    /// What the technician views with, when not the native viewer.
    pub kind: Option<ViewerKind>,
    pub token_key: String,
    pub locator: Locator,
    /// Why the technician joined (`--reason`), checked and cleaned.
    pub reason: Option<String>,
}

type HostHandle = mpsc::Sender<PairRequest>;
/// Shared state of one running relay.
#[derive(Debug)]
pub struct Relay {
    config: RelayConfig,
    registry: Mutex<Registry<HostHandle>>,
    ip_throttle: Mutex<Throttle<Source>>,
    token_throttle: Mutex<Throttle<String>>,
    suspicion: Mutex<Suspicion>,
    guards: Guards,
    tokens: Mutex<TokenCache>,
    pub(crate) audit: Arc<AuditLog>,
    connections: Arc<Semaphore>,
    /// Handshakes under way only to tell a capped peer why it is refused
    /// (they hold no `connections` permit; past these, refused unheard).
    turn_aways: Arc<Semaphore>,
    /// What each source address holds, and its refusals.
    addresses: Arc<Mutex<Addresses>>,
    pub(crate) shutdown: CancellationToken,
    tasks: TaskTracker,
    pub(crate) resumes: Mutex<resuming::Table>,
    /// Who each resumable session is between, by session id.
    pub(crate) metas: Mutex<HashMap<String, Arc<SessionMeta>>>,
    /// The cluster this relay belongs to (`serve --database`), if any.
    cluster: Option<Arc<Cluster>>,
    /// Cancelled when the cluster tells this relay to drain.
    pub(crate) draining: CancellationToken,
    /// Sessions forwarding right now (parked ones are counted apart).
    live_sessions: std::sync::atomic::AtomicUsize,
    /// The same sessions by id, for their modes in the metrics.
    pub(crate) forwarding: Mutex<HashMap<String, Arc<SessionMeta>>>,
    /// The endpoints it serves (the main port, the devices port), for
    /// the connections they hold.
    pub(crate) endpoints: Mutex<Vec<quinn::Endpoint>>,
    /// Enrolled devices and their tickets (the data directory's).
    pub(crate) devices: Arc<crate::devices::DeviceStore>,
    /// Which enrolled devices are connected now.
    pub(crate) presence: Mutex<crate::devices::Presence<calls::Line>>,
    /// Device sessions waiting for their device to answer.
    pub(crate) calls: calls::Calls,
    /// Device sessions waiting for an approver (shared with the console).
    pub(crate) approvals: Arc<crate::approvals::Approvals>,
    /// What the relay counts for its operator (`serve --metrics`).
    pub(crate) metrics: crate::metrics::Metrics,
    /// In a cluster the log is not in the data directory, but the
    /// directory (resume tickets, recordings) is still this relay's alone.
    _dir_lock: Option<std::fs::File>,
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data
/// that is still consistent, so poisoning is ignored.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Relay {
    /// Opens the relay's audit log and technician store in `config.data_dir`.
    pub fn open(config: RelayConfig) -> Result<Arc<Self>, RelayError> {
        let audit = AuditLog::open(&config.data_dir)?;
        Self::build(config, audit, None, None)
    }

    /// Opens a relay of `cluster`: the audit log and technicians are the
    /// cluster's database's; the data directory keeps what is this relay's.
    pub async fn open_in_cluster(
        config: RelayConfig,
        cluster: Arc<Cluster>,
    ) -> Result<Arc<Self>, RelayError> {
        crate::private::private_dir(&config.data_dir).map_err(|source| AuditError::Io {
            path: config.data_dir.clone(),
            source,
        })?;
        let lock = crate::audit::lock_dir(&config.data_dir)?;
        let audit = AuditLog::open_database(cluster.db.url()).await?;
        Self::build(config, audit, Some(cluster), Some(lock))
    }

    fn build(
        config: RelayConfig,
        audit: AuditLog,
        cluster: Option<Arc<Cluster>>,
        dir_lock: Option<std::fs::File>,
    ) -> Result<Arc<Self>, RelayError> {
        let tokens = TokenCache::new(TechnicianStore::in_dir(&config.data_dir))?;
        let metrics = crate::metrics::Metrics::new(audit.latency());
        Ok(Arc::new(Self {
            registry: Mutex::new(Registry::new(config.code_ttl, config.max_waiting_hosts)),
            ip_throttle: Mutex::new(Throttle::new(config.throttle_burst, config.throttle_drain)),
            token_throttle: Mutex::new(Throttle::new(config.throttle_burst, config.throttle_drain)),
            suspicion: Mutex::new(Suspicion::new()),
            guards: Guards::new(&config),
            tokens: Mutex::new(tokens),
            audit: Arc::new(audit),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            turn_aways: Arc::new(Semaphore::new(TURN_AWAYS)),
            addresses: Addresses::new(&config),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            resumes: Mutex::new(resuming::Table::new(config.resume_window)),
            metas: Mutex::new(HashMap::new()),
            cluster,
            draining: CancellationToken::new(),
            live_sessions: std::sync::atomic::AtomicUsize::new(0),
            forwarding: Mutex::default(),
            endpoints: Mutex::default(),
            devices: Arc::new(crate::devices::DeviceStore::new(&config.data_dir)),
            presence: Mutex::new(crate::devices::Presence::default()),
            calls: calls::Calls::default(),
            approvals: Arc::default(),
            metrics,
            _dir_lock: dir_lock,
            config,
        }))
    }

    /// Whether device `name` is online now, and when it was last seen.
    pub fn device_presence(&self, name: &str) -> (bool, Option<String>) {
        lock(&self.presence).of(name)
    }

    /// The device sessions waiting for an approver, for the console.
    pub fn approvals(&self) -> Arc<crate::approvals::Approvals> {
        self.approvals.clone()
    }

    /// The cluster this relay belongs to, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// Ends every session technician `name` is forwarding in now (an
    /// admin revoked them); returns how many. Each ends as a session
    /// does, with its `session_ended` record.
    pub fn end_sessions_of(&self, name: &str) -> usize {
        let of = lock(&self.forwarding);
        let theirs: Vec<_> = of
            .values()
            .filter(|m| m.joiner.technician == name)
            .collect();
        for m in &theirs {
            m.ended.cancel();
        }
        theirs.len()
    }

    /// How many sessions technician `name` is forwarding in now.
    pub fn sessions_of(&self, name: &str) -> usize {
        lock(&self.forwarding)
            .values()
            .filter(|m| m.joiner.technician == name)
            .count()
    }

    /// Sessions forwarding right now.
    pub fn live_sessions(&self) -> usize {
        self.live_sessions.load(Ordering::Relaxed)
    }

    /// Takes no new hosts from now on, moves the waiting ones, and lets
    /// [`run`] return once the last session is over.
    pub fn drain(&self) {
        self.draining.cancel();
    }

    /// Open connections right now.
    pub fn connections(&self) -> usize {
        self.config
            .max_connections
            .saturating_sub(self.connections.available_permits())
    }

    /// The relay's settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    /// Its audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// A shared handle to its audit log, for writers beside the relay
    /// (the console writes its logins and actions there).
    pub fn audit_handle(&self) -> Arc<AuditLog> {
        Arc::clone(&self.audit)
    }

    /// Sessions waiting for their sides to resume right now.
    pub fn parked_sessions(&self) -> usize {
        lock(&self.resumes).parked()
    }

    /// Hosts waiting for a technician right now.
    pub fn waiting_hosts(&self) -> usize {
        lock(&self.registry).waiting()
    }
}

/// Serves `endpoint` until `shutdown` resolves, then ends every session
/// (writing its end record) and the relay's own run in the audit log.
pub async fn run(
    endpoint: quinn::Endpoint,
    relay: Arc<Relay>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RelayError> {
    lock(&relay.endpoints).push(endpoint.clone());
    start(&endpoint, &relay).await?;
    let membership = relay.cluster.clone().map(|c| {
        tokio::spawn(crate::cluster::link::serve(relay.clone(), c.clone()));
        tokio::spawn(crate::cluster::keep_alive(relay.clone(), c))
    });
    let sweeper = tokio::spawn(resuming::sweep(relay.clone()));
    let retention = tokio::spawn(expire_recordings(relay.clone()));
    let fetches = tokio::spawn(audit_fetches(relay.clone()));
    let exporter = relay.config.audit_export.clone().map(|target| {
        let dir = relay.config.data_dir.clone();
        let lag = relay.metrics.export_lag.clone();
        tokio::spawn(crate::export::run(
            dir,
            target,
            relay.audit.subscribe(),
            lag,
        ))
    });
    let refusals = tokio::spawn(refusals_reporter(relay.clone()));
    let stopped = serve_until(&endpoint, &relay, shutdown).await;
    relay.shutdown.cancel();
    refusals.abort();
    if let Some(m) = membership {
        m.abort();
    }
    sweeper.abort();
    retention.abort();
    fetches.abort();
    let stopped = stop(&endpoint, &relay, stopped, exporter).await;
    relay.forget_endpoint(&endpoint);
    stopped
}

/// Closes what a previous run left open (or joins the cluster) and writes
/// the relay's start record.
async fn start(endpoint: &quinn::Endpoint, relay: &Arc<Relay>) -> Result<(), RelayError> {
    let listen = endpoint
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let restored = resuming::restore(relay);
    let listen = match &relay.cluster {
        None => {
            close_left_open(relay, &restored).await?;
            listen
        }
        Some(c) => {
            crate::cluster::start(&relay.audit, c, &restored)
                .await
                .map_err(crate::cluster::ClusterError::from)?;
            format!("{listen} as {} in a cluster", c.node)
        }
    };
    relay
        .audit
        .append(AuditEvent::RelayStarted {
            version: env!("CARGO_PKG_VERSION").into(),
            listen,
        })
        .await?;
    Ok(())
}

/// Takes connections, each on a task of the relay's, until `shutdown`
/// resolves or the relay has drained; why it stopped.
async fn serve_until(
    endpoint: &quinn::Endpoint,
    relay: &Arc<Relay>,
    shutdown: impl Future<Output = ()>,
) -> &'static str {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return "shutdown requested",
            () = drained(relay) => return "drained: no hosts or sessions left",
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { return "shutdown requested" };
                let Some((incoming, permit)) = place(relay, incoming) else { continue };
                let relay2 = relay.clone();
                relay.tasks.spawn(async move {
                    serve_connection(&relay2, incoming, permit).await;
                });
            }
        }
    }
}

/// Waits (up to 10 s) for the connections' tasks, leaves the cluster,
/// writes the stop record, closes the endpoint and lets the exporter
/// ship the last records.
async fn stop(
    endpoint: &quinn::Endpoint,
    relay: &Arc<Relay>,
    stopped: &str,
    exporter: Option<tokio::task::JoinHandle<()>>,
) -> Result<(), RelayError> {
    relay.tasks.close();
    if tokio::time::timeout(Duration::from_secs(10), relay.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not end within 10 s of shutdown");
    }
    if let Some(c) = &relay.cluster {
        crate::cluster::leave(&relay.audit, c).await;
    }
    report_refusals(relay, true).await;
    relay
        .audit
        .append(AuditEvent::RelayStopped {
            reason: stopped.into(),
        })
        .await?;
    let bye = Refusal::Shutdown;
    endpoint.close(
        quinn::VarInt::from_u32(bye.code() as u32),
        bye.sentence().as_bytes(),
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    if let Some(e) = exporter {
        // Ship the last records (the stop) while the sink takes them;
        // what it does not is shipped by the next start.
        let dir = relay.config.data_dir.clone();
        let caught_up = crate::export::caught_up(&dir);
        let _ = tokio::time::timeout(Duration::from_secs(2), caught_up).await;
        e.abort();
    }
    Ok(())
}

impl crate::cluster::link::Carrier for Relay {
    fn hello_timeout(&self) -> Duration {
        self.config.hello_timeout
    }

    fn spawn(&self, task: crate::cluster::link::Task) {
        self.tasks.spawn(task);
    }

    fn carried(
        self: Arc<Self>,
        conn: Connection,
        ctl: Control,
        request: LinkRequest,
    ) -> crate::cluster::link::Task {
        Box::pin(async move { serve_carried(&self, conn, ctl, request).await })
    }
}

impl Relay {
    /// What carrying a side to another relay needs from this one.
    pub(crate) fn splice(&self) -> crate::cluster::link::Splice<'_> {
        crate::cluster::link::Splice {
            taps: self.taps(),
            shutdown: &self.shutdown,
        }
    }

    /// What forwarded chunks pass: the metrics' byte counters, the hook.
    pub(crate) fn taps(&self) -> crate::forward::Taps {
        crate::forward::Taps {
            hook: self.config.forward_hook.clone(),
            totals: self.metrics.forwarded.clone(),
        }
    }
}

impl crate::cluster::Member for Relay {
    fn load(&self) -> (usize, usize) {
        (self.waiting_hosts(), self.connections())
    }

    fn drain(&self) {
        Relay::drain(self);
    }

    fn audit(&self) -> &AuditLog {
        &self.audit
    }
}
