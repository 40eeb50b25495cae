//! The relay's async driver: accepts QUIC connections, runs the pairing
//! handshake on each control stream, then forwards everything else between
//! host and viewer without reading it.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lifeline_proto::Locator;
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::control::{
    CloseCode, Hello, HostEvent, HostRequest, JoinRefusal, PROTOCOL_VERSION, RecordingPolicy, Role,
    SessionReport, ViewerEvent, ViewerRequest, clean_text,
};
use quinn::Connection;
use rand::Rng;
use std::collections::HashMap;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::{AuditError, AuditLog};
use crate::cluster::{Claim, Cluster, unavailable};
use crate::recording::{AuditorStore, RecordingFile, RecordingMode};
use crate::resuming::{self, SessionMeta};
use crate::rules::bridge::{self, Heard, Peer, Step};
use crate::rules::refusal::Refusal;
use crate::rules::registry::{Gone, Registry};
use crate::rules::suspicion::{Suspicion, Verdict};
use crate::rules::throttle::Throttle;
use crate::rules::waiting::{self, Then, WaitEvent};
use crate::tokens::{Lookup, TechnicianStore, TokenCache, TokenError, token_hash};
use lifeline_common::framed::{Control, ControlError};
use lifeline_proto::link::LinkRequest;

/// Tunables of a relay; [`RelayConfig::new`] gives the production defaults.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub data_dir: PathBuf,
    /// How long an unused code lives.
    pub code_ttl: Duration,
    pub max_waiting_hosts: usize,
    pub max_connections: usize,
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
}

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

impl RelayConfig {
    /// Defaults: 10-minute codes, 20,000 waiting hosts, 50,000 connections,
    /// 5 failed joins at once then one per 12 s.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            code_ttl: Duration::from_secs(600),
            max_waiting_hosts: 20_000,
            max_connections: 50_000,
            hello_timeout: Duration::from_secs(10),
            throttle_burst: 5,
            throttle_drain: Duration::from_secs(12),
            resume_window: lifeline_proto::control::RESUME_WINDOW,
            confirm_every: Duration::from_secs(30 * 60),
            confirm_answer_within: Duration::from_secs(60),
            recording: None,
            record_keys: false,
            recording_retention: None,
            audit_export: None,
            forward_hook: None,
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
#[derive(Debug, Clone)]
pub(crate) struct Joiner {
    pub technician: String,
    pub ip: IpAddr,
    pub token_key: String,
    pub locator: Locator,
}

type HostHandle = mpsc::Sender<PairRequest>;

/// Shared state of one running relay.
#[derive(Debug)]
pub struct Relay {
    config: RelayConfig,
    registry: Mutex<Registry<HostHandle>>,
    ip_throttle: Mutex<Throttle<IpAddr>>,
    token_throttle: Mutex<Throttle<String>>,
    suspicion: Mutex<Suspicion>,
    tokens: Mutex<TokenCache>,
    pub(crate) audit: Arc<AuditLog>,
    connections: Arc<Semaphore>,
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
    /// In a cluster the log is not in the data directory, but the
    /// directory (resume tickets, recordings) is still this relay's alone.
    _dir_lock: Option<std::fs::File>,
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data
/// that is still consistent, so poisoning is ignored.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Closes `conn` with the refusal's code and sentence: the one place a
/// connection of a peer is closed on purpose.
pub(crate) fn close(conn: &Connection, why: &Refusal) {
    conn.close(
        quinn::VarInt::from_u32(why.code() as u32),
        why.sentence().as_bytes(),
    );
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
        Ok(Arc::new(Self {
            registry: Mutex::new(Registry::new(config.code_ttl, config.max_waiting_hosts)),
            ip_throttle: Mutex::new(Throttle::new(config.throttle_burst, config.throttle_drain)),
            token_throttle: Mutex::new(Throttle::new(config.throttle_burst, config.throttle_drain)),
            suspicion: Mutex::new(Suspicion::new()),
            tokens: Mutex::new(tokens),
            audit: Arc::new(audit),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            resumes: Mutex::new(resuming::Table::new(config.resume_window)),
            metas: Mutex::new(HashMap::new()),
            cluster,
            draining: CancellationToken::new(),
            live_sessions: std::sync::atomic::AtomicUsize::new(0),
            _dir_lock: dir_lock,
            config,
        }))
    }

    /// The cluster this relay belongs to, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// Runs `task` as one of the relay's, which shutdown waits for.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
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

    /// Whether `ip` may try again now (failed joins and resumes share one
    /// allowance per address); how long to wait otherwise.
    pub(crate) fn throttle_check(&self, now: Instant, ip: IpAddr) -> Result<(), Duration> {
        lock(&self.ip_throttle).check(now, &ip)
    }

    /// Counts a failed attempt from `ip`.
    pub(crate) fn throttle_fail(&self, now: Instant, ip: IpAddr) {
        lock(&self.ip_throttle).fail(now, &ip);
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
    let listen = endpoint
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let restored = resuming::restore(&relay);
    let listen = match &relay.cluster {
        None => {
            close_left_open(&relay, &restored).await?;
            listen
        }
        Some(c) => {
            crate::cluster::start(&relay, c, &restored)
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
    let membership = relay.cluster.clone().map(|c| {
        tokio::spawn(crate::cluster::link::serve(relay.clone(), c.clone()));
        tokio::spawn(crate::cluster::keep_alive(relay.clone(), c))
    });
    let sweeper = tokio::spawn(resuming::sweep(relay.clone()));
    let retention = tokio::spawn(expire_recordings(relay.clone()));
    let fetches = tokio::spawn(audit_fetches(relay.clone()));
    let exporter = relay.config.audit_export.clone().map(|target| {
        let dir = relay.config.data_dir.clone();
        tokio::spawn(crate::export::run(dir, target, relay.audit.subscribe()))
    });
    tokio::pin!(shutdown);
    let mut stopped = "shutdown requested";
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = drained(&relay) => {
                stopped = "drained: no hosts or sessions left";
                break;
            }
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let Ok(permit) = relay.connections.clone().try_acquire_owned() else {
                    tracing::warn!(peer = %incoming.remote_address(), "connection limit reached; refusing");
                    incoming.refuse();
                    continue;
                };
                let relay2 = relay.clone();
                relay.tasks.spawn(async move {
                    serve_connection(&relay2, incoming).await;
                    drop(permit);
                });
            }
        }
    }
    relay.shutdown.cancel();
    if let Some(m) = membership {
        m.abort();
    }
    sweeper.abort();
    retention.abort();
    fetches.abort();
    relay.tasks.close();
    if tokio::time::timeout(Duration::from_secs(10), relay.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not end within 10 s of shutdown");
    }
    if let Some(c) = &relay.cluster {
        crate::cluster::leave(&relay, c).await;
    }
    relay
        .audit
        .append(AuditEvent::RelayStopped {
            reason: stopped.into(),
        })
        .await?;
    endpoint.close(
        quinn::VarInt::from_u32(CloseCode::Shutdown as u32),
        b"relay shutting down",
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

/// Returns once the relay was told to drain and nobody is left on it: no
/// connection (a moved host has hung up, so it heard where to go), no
/// session running (its sides may both come over links) or parked.
async fn drained(relay: &Relay) {
    relay.draining.cancelled().await;
    loop {
        let sessions = relay.live_sessions() + relay.parked_sessions();
        if relay.connections() == 0 && sessions == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Deletes recordings past the retention, now and then from time to time
/// (a quarter of the retention, between a second and an hour); each
/// deletion is audited.
async fn expire_recordings(relay: Arc<Relay>) {
    let Some(keep) = relay.config.recording_retention else {
        return;
    };
    let every = (keep / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        let now = std::time::SystemTime::now();
        for (session, file, path) in crate::recording::expired(&relay.config.data_dir, keep, now) {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::error!(path = %path.display(), error = %e, "cannot delete an expired recording");
                continue;
            }
            let event = AuditEvent::RecordingExpired { session, file };
            if let Err(e) = relay.audit.append(event).await {
                tracing::error!(error = %e, "audit write failed for an expired recording");
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Writes the records commands on this machine ask for (`recording
/// fetch`, changes to technicians, auditors, console accounts), answering
/// each once it is durable.
async fn audit_fetches(relay: Arc<Relay>) {
    loop {
        for (path, event) in crate::spool::waiting(&relay.config.data_dir) {
            let answer = match event {
                Some(event) => match relay.audit.append(event).await {
                    Ok(_) => path.with_extension("ok"),
                    Err(e) => {
                        tracing::error!(error = %e, "audit write failed for a command's record");
                        path.with_extension("failed")
                    }
                },
                None => path.with_extension("bad"),
            };
            if let Err(e) = std::fs::rename(&path, &answer) {
                tracing::error!(path = %path.display(), error = %e, "cannot answer a command's audit request");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes the end of every session and code a previous run left open (it
/// was killed before it could), so the log never shows them open forever.
async fn close_left_open(relay: &Relay, resumable: &[String]) -> Result<(), RelayError> {
    let records = match crate::audit::read_verified(&relay.config.data_dir) {
        Ok(v) => v.into_iter().map(|v| v.record).collect::<Vec<_>>(),
        Err(e) => {
            // A log that does not verify is for `audit verify` to report;
            // serving goes on, and nothing is guessed from it.
            tracing::error!(error = %e, "audit log does not verify; not closing earlier sessions");
            return Ok(());
        }
    };
    let resumable: Vec<&str> = resumable.iter().map(String::as_str).collect();
    let window_s = relay.config.resume_window.as_secs();
    for event in crate::rules::recovery::close_left_open(&records, &resumable, window_s) {
        tracing::warn!(session = ?event.session(), "closing (or holding) what the last run left open");
        relay.audit.append(event).await?;
    }
    Ok(())
}

/// The first stream `conn` opens and the first message on it, within the
/// hello timeout (`Err(Elapsed)` past it; the inner error says what was
/// wrong instead).
pub(crate) async fn first_message<T: serde::de::DeserializeOwned>(
    relay: &Relay,
    conn: &Connection,
) -> Result<Result<(Control, T), String>, tokio::time::error::Elapsed> {
    tokio::time::timeout(relay.config.hello_timeout, async {
        let (send, recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
        let mut ctl = Control::new(send, recv);
        let first: T = ctl.recv().await.map_err(|e| e.to_string())?;
        Ok((ctl, first))
    })
    .await
}

async fn serve_connection(relay: &Arc<Relay>, incoming: quinn::Incoming) {
    let peer = incoming.remote_address();
    let conn = match incoming.await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "handshake failed");
            return;
        }
    };
    let greeting = first_message::<Hello>(relay, &conn).await;
    let (ctl, hello) = match greeting {
        Ok(Ok(x)) => x,
        Ok(Err(why)) => {
            tracing::info!(%peer, %why, "dropping peer before hello");
            close(&conn, &Refusal::NotHello(why));
            return;
        }
        Err(_) => {
            close(&conn, &Refusal::Timeout("no hello in time"));
            return;
        }
    };
    if hello.version != PROTOCOL_VERSION {
        let refusal = Refusal::Version {
            relay: PROTOCOL_VERSION,
            client: hello.version,
        };
        close(&conn, &refusal);
        return;
    }
    match hello.role {
        Role::Host => serve_host(relay, conn, ctl).await,
        Role::Viewer => serve_viewer(relay, conn, ctl).await,
    }
}

/// Reads the first request with the hello deadline; closes the connection
/// with a reason on anything else.
async fn first_request<T: serde::de::DeserializeOwned>(
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

/// How long a host whose code a join won in the cluster's database waits
/// for that viewer to arrive (over a link, at worst a handshake away).
const PAIR_IN_FLIGHT: Duration = Duration::from_secs(5);

/// A live code held by a host task.
struct LiveCode {
    session: String,
    locator: Locator,
    expires: Instant,
    rx: mpsc::Receiver<PairRequest>,
}

/// What the host told us about itself, for the audit log.
struct HostInfo {
    conn: Connection,
    ip: IpAddr,
    name: String,
    user: String,
}

fn new_session_id() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

async fn issue_code(
    relay: &Relay,
    host: &HostInfo,
    ctl: &mut Control,
) -> Result<LiveCode, Refusal> {
    let session = new_session_id();
    let (tx, rx) = mpsc::channel(1);
    let (locator, expires) = match &relay.cluster {
        None => {
            let mut reg = lock(&relay.registry);
            let mut rng = rand::rng();
            reg.register(Instant::now(), session.clone(), tx, || rng.random())
                .map_err(|full| Refusal::Busy(full.to_string()))?
        }
        Some(cluster) => file_code(relay, cluster, &session, tx).await?,
    };
    let ttl = relay.config.code_ttl.as_secs();
    let event = AuditEvent::CodeIssued {
        session: session.clone(),
        locator: locator.to_string(),
        host_ip: host.ip.to_string(),
        host_name: host.name.clone(),
        os_user: host.user.clone(),
        expires_in_s: ttl,
    };
    let code = LiveCode {
        session,
        locator,
        expires,
        rx,
    };
    hand_out(relay, ctl, event, code, relay.config.code_ttl).await
}

/// Audits a live code (`event`) and tells its host; a code that cannot be
/// audited is withdrawn, here and in the cluster's database.
async fn hand_out(
    relay: &Relay,
    ctl: &mut Control,
    event: AuditEvent,
    code: LiveCode,
    left: Duration,
) -> Result<LiveCode, Refusal> {
    if let Err(e) = relay.audit.append(event).await {
        if let Some(c) = &relay.cluster
            && let Err(e) =
                c.db.close_code(code.locator, &code.session, Gone::Withdrawn)
                    .await
        {
            tracing::error!(error = %e, "could not withdraw an unaudited code from the database");
        }
        lock(&relay.registry).close(Instant::now(), code.locator, &code.session, Gone::Withdrawn);
        return Err(Refusal::AuditFailed(e.to_string()));
    }
    let msg = HostEvent::Registered {
        session: code.session.clone(),
        locator: code.locator,
        expires_in_s: secs(left),
    };
    ctl.send(&msg)
        .await
        .map_err(|e| Refusal::Protocol(e.to_string()))?;
    Ok(code)
}

/// A host moved here from a draining relay of the cluster: its code,
/// still unused, is this relay's now (the same locator, the time it had
/// left); `None` (the host told `Expired`) when it died meanwhile.
async fn adopt_code(
    relay: &Relay,
    ctl: &mut Control,
    session: String,
    locator: Locator,
) -> Result<Option<LiveCode>, Refusal> {
    let Some(cluster) = &relay.cluster else {
        return Err(Refusal::Protocol(
            "this relay is not in a cluster: register for a new code".into(),
        ));
    };
    if relay.draining.is_cancelled() {
        return Err(Refusal::Busy("this relay is draining too".into()));
    }
    let moved = cluster
        .db
        .move_code(locator, &session, &cluster.node)
        .await
        .map_err(|e| Refusal::Busy(unavailable("moving a code", &e)))?;
    let Some(left) = moved else {
        ctl.send(&HostEvent::Expired)
            .await
            .map_err(|e| Refusal::Protocol(e.to_string()))?;
        return Ok(None);
    };
    let (tx, rx) = mpsc::channel(1);
    let now = Instant::now();
    lock(&relay.registry)
        .adopt(now, locator, session.clone(), tx, now + left)
        .map_err(|full| Refusal::Busy(full.to_string()))?;
    let event = AuditEvent::CodeMoved {
        session: session.clone(),
        to: cluster.node.clone(),
    };
    let code = LiveCode {
        session,
        locator,
        expires: now + left,
        rx,
    };
    hand_out(relay, ctl, event, code, left).await.map(Some)
}

/// This relay drains: sends the waiting host to the least loaded other
/// relay, where it takes its code along; the code stays live in the
/// database meanwhile. With no other relay (or no answer) it stays here.
async fn move_host(relay: &Relay, ctl: &mut Control, code: LiveCode) -> Option<LiveCode> {
    let cluster = relay.cluster.as_ref()?;
    let timeout = cluster.timing().node_timeout;
    let target = match cluster.db.move_target(&cluster.node, timeout).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            tracing::warn!("draining, but no other relay takes hosts; this one waits here");
            return Some(code);
        }
        Err(e) => {
            tracing::error!(error = %e, "draining: cannot pick a relay for a waiting host");
            return Some(code);
        }
    };
    if !lock(&relay.registry).forget(code.locator, &code.session) {
        // A viewer took it this instant: the pair is on its way.
        return Some(code);
    }
    if let Err(e) = ctl.send(&HostEvent::MoveTo { relay: target }).await {
        tracing::debug!(error = %e, "host gone before it could move");
    }
    None
}

/// Files a code in the cluster: a locator free on this relay that the
/// database also takes (free, or its tombstone old enough, cluster-wide).
async fn file_code(
    relay: &Relay,
    cluster: &Cluster,
    session: &str,
    tx: HostHandle,
) -> Result<(Locator, Instant), Refusal> {
    if relay.draining.is_cancelled() {
        return Err(Refusal::Busy(
            "this relay is draining for a restart; connect again to reach another".into(),
        ));
    }
    for _ in 0..16 {
        let (locator, expires, ttl, tombstone) = {
            let mut reg = lock(&relay.registry);
            let mut rng = rand::rng();
            let (l, e) = reg
                .register(Instant::now(), session.to_owned(), tx.clone(), || {
                    rng.random()
                })
                .map_err(|full| Refusal::Busy(full.to_string()))?;
            (l, e, reg.ttl(), reg.tombstone_ttl())
        };
        let filed = cluster
            .db
            .insert_code(locator, session, &cluster.node, ttl, tombstone)
            .await;
        if !matches!(filed, Ok(true)) {
            lock(&relay.registry).forget(locator, session);
        }
        match filed {
            Ok(true) => return Ok((locator, expires)),
            Ok(false) => continue,
            Err(e) => return Err(Refusal::Busy(unavailable("filing a code", &e))),
        }
    }
    recycle_code(relay, cluster, session, tx).await
}

/// The cluster's locators are crowded: the oldest tombstone gives way, or
/// (none left) the database finds a locator nobody holds.
async fn recycle_code(
    relay: &Relay,
    cluster: &Cluster,
    session: &str,
    tx: HostHandle,
) -> Result<(Locator, Instant), Refusal> {
    let ttl = relay.config.code_ttl;
    let busy = |why: String| Refusal::Busy(why);
    let db_busy = |e: crate::cluster::DbError| busy(unavailable("recycling a code", &e));
    let mut found = cluster
        .db
        .recycle_oldest(session, &cluster.node, ttl)
        .await
        .map_err(db_busy)?;
    if found.is_none() {
        found = cluster
            .db
            .insert_free(session, &cluster.node, ttl)
            .await
            .map_err(db_busy)?;
    }
    let Some(locator) = found else {
        return Err(busy(
            "every code of the cluster is in use; try again shortly".into(),
        ));
    };
    let expires = Instant::now() + ttl;
    let adopted =
        lock(&relay.registry).adopt(Instant::now(), locator, session.to_owned(), tx, expires);
    if let Err(full) = adopted {
        if let Err(e) = cluster
            .db
            .close_code(locator, session, Gone::Withdrawn)
            .await
        {
            tracing::error!(error = %e, "could not withdraw a code this relay has no room for");
        }
        return Err(busy(full.to_string()));
    }
    Ok((locator, expires))
}

/// Ends a live code. If a viewer took it meanwhile, returns its request so
/// the session still starts (the viewer won the race fairly).
async fn retire(
    relay: &Relay,
    mut code: LiveCode,
    why: Gone,
    reason: &str,
) -> Option<(String, PairRequest)> {
    if let Some(c) = &relay.cluster {
        match c.db.close_code(code.locator, &code.session, why).await {
            Ok(true) => {}
            Ok(false) => {
                // A join won it in the database: its viewer is on its way,
                // from this relay or over a link. (Or the code was released
                // as a dead relay's: then nobody comes.)
                let pair = tokio::time::timeout(PAIR_IN_FLIGHT, code.rx.recv()).await;
                lock(&relay.registry).close(Instant::now(), code.locator, &code.session, why);
                return pair.ok().flatten().map(|pair| (code.session, pair));
            }
            Err(e) => tracing::error!(error = %e, "could not close a code in the database"),
        }
    }
    let closed = lock(&relay.registry).close(Instant::now(), code.locator, &code.session, why);
    if closed {
        let event = AuditEvent::CodeClosed {
            session: code.session.clone(),
            reason: reason.into(),
        };
        if let Err(e) = relay.audit.append(event).await {
            tracing::error!(error = %e, "audit write failed for a closed code");
        }
        return None;
    }
    code.rx.recv().await.map(|pair| (code.session, pair))
}

async fn serve_host(relay: &Arc<Relay>, conn: Connection, mut ctl: Control) {
    let Some(first) = first_request::<HostRequest>(relay, &conn, &mut ctl).await else {
        return;
    };
    let info = |host_name: &str, os_user: &str, conn: Connection| HostInfo {
        ip: conn.remote_address().ip(),
        name: clean_text(host_name),
        user: clean_text(os_user),
        conn,
    };
    let (host, code) = match first {
        HostRequest::Register { host_name, os_user } => {
            let host = info(&host_name, &os_user, conn);
            match issue_code(relay, &host, &mut ctl).await {
                Ok(c) => (host, Some(c)),
                Err(why) => return close(&host.conn, &why),
            }
        }
        HostRequest::Move {
            session,
            locator,
            host_name,
            os_user,
        } => {
            let host = info(&host_name, &os_user, conn);
            match adopt_code(relay, &mut ctl, session, locator).await {
                Ok(c) => (host, c),
                Err(why) => return close(&host.conn, &why),
            }
        }
        HostRequest::Resume(req) => {
            let ip = conn.remote_address().ip();
            return resuming::serve_resume(relay, conn, ctl, Peer::Host, req, ip).await;
        }
        _ => {
            close(
                &conn,
                &Refusal::Protocol("a host must register first".into()),
            );
            return;
        }
    };
    wait_for_viewer(relay, host, ctl, code).await;
}

/// A registered host's task until a viewer pairs with it or it leaves:
/// expiry, renewals, shutdown, and (draining) moving it to another relay.
async fn wait_for_viewer(
    relay: &Arc<Relay>,
    host: HostInfo,
    mut ctl: Control,
    mut code: Option<LiveCode>,
) {
    let mut may_move = relay.cluster.is_some();
    loop {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let deadline = tokio::time::Instant::from_std(code.as_ref().map_or(far, |c| c.expires));
        let has_code = code.is_some();
        let event = tokio::select! {
            biased;
            pair = async {
                match code.as_mut() {
                    Some(c) => c.rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let Some(c) = code.take() else { continue };
                match pair {
                    Some(pair) => return run_session(relay, host, ctl, c.session, pair).await,
                    None => {
                        // The viewer's task failed after taking the code.
                        if let Err(e) = ctl.send(&HostEvent::Expired).await {
                            tracing::debug!(error = %e, "host gone");
                            return;
                        }
                        continue;
                    }
                }
            }
            () = relay.shutdown.cancelled() => WaitEvent::Shutdown,
            () = relay.draining.cancelled(), if has_code && may_move => {
                may_move = false;
                if let Some(c) = code.take() {
                    code = move_host(relay, &mut ctl, c).await;
                }
                continue;
            }
            () = tokio::time::sleep_until(deadline), if has_code => WaitEvent::Expired,
            req = ctl.recv::<HostRequest>() => match req {
                Ok(HostRequest::Renew) => WaitEvent::Renew,
                Ok(_) => WaitEvent::Unexpected,
                Err(ControlError::Frame(_)) => WaitEvent::Malformed,
                Err(_) => WaitEvent::Left,
            },
        };
        let step = waiting::on(event);
        if let Some(c) = code.take()
            && let Some((session, pair)) = retire(relay, c, step.retire.0, step.retire.1).await
        {
            return run_session(relay, host, ctl, session, pair).await;
        }
        match step.then {
            Then::Reissue => {
                code = match issue_code(relay, &host, &mut ctl).await {
                    Ok(c) => Some(c),
                    Err(why) => return close(&host.conn, &why),
                };
            }
            Then::TellExpired => {
                if ctl.send(&HostEvent::Expired).await.is_err() {
                    return;
                }
            }
            Then::Close(why) => return close(&host.conn, &why),
            Then::Leave => return,
        }
    }
}

/// The verdict on a join before any code is touched: throttles and token.
fn check_join(
    relay: &Relay,
    now: Instant,
    ip: IpAddr,
    token_key: &str,
    lookup: &Lookup,
) -> Result<String, JoinRefusal> {
    if let Err(wait) = lock(&relay.suspicion).check(now, token_key) {
        let retry_after_s = u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX);
        return Err(JoinRefusal::Suspended { retry_after_s });
    }
    let throttled = lock(&relay.ip_throttle)
        .check(now, &ip)
        .and_then(|()| lock(&relay.token_throttle).check(now, &token_key.to_owned()));
    if let Err(wait) = throttled {
        let retry_after_s = u32::try_from(wait.as_secs() + 1).unwrap_or(u32::MAX);
        return Err(JoinRefusal::Throttled { retry_after_s });
    }
    match lookup {
        Lookup::Valid(name) => Ok(name.clone()),
        Lookup::Revoked(_) => Err(JoinRefusal::RevokedToken),
        Lookup::Unknown => Err(JoinRefusal::UnknownToken),
    }
}

async fn serve_viewer(relay: &Arc<Relay>, conn: Connection, mut ctl: Control) {
    let Some(first) = first_request::<ViewerRequest>(relay, &conn, &mut ctl).await else {
        return;
    };
    let (token, locator) = match first {
        ViewerRequest::Join { token, locator } => (token, locator),
        ViewerRequest::Resume(req) => {
            let ip = conn.remote_address().ip();
            return resuming::serve_resume(relay, conn, ctl, Peer::Viewer, req, ip).await;
        }
        ViewerRequest::Report(_) => {
            close(&conn, &Refusal::Protocol("a viewer must join first".into()));
            return;
        }
    };
    let ip = conn.remote_address().ip();
    let token_key = token_hash(&token);
    let lookup = match lookup_token(relay, &token, &token_key).await {
        Ok(l) => l,
        Err(why) => return close(&conn, &Refusal::Busy(why.to_string())),
    };
    let technician = match &lookup {
        Lookup::Valid(n) | Lookup::Revoked(n) => Some(n.clone()),
        Lookup::Unknown => None,
    };
    let now = Instant::now();
    let verdict = match check_join(relay, now, ip, &token_key, &lookup) {
        Err(refusal) => Err((refusal, None)),
        Ok(name) => match win_code(relay, now, locator).await {
            Ok(won) => Ok((name, won)),
            Err(Lost::Refused(refusal, session)) => Err((refusal, session)),
            Err(Lost::Db(why)) => return close(&conn, &Refusal::Busy(why.to_string())),
        },
    };
    let attempt =
        |session: Option<String>, ok: bool, reason: Option<&str>| AuditEvent::JoinAttempt {
            session,
            technician: technician.clone(),
            ip: ip.to_string(),
            locator: locator.to_string(),
            ok,
            reason: reason.map(str::to_owned),
        };
    match verdict {
        Err((refusal, session)) => {
            match refusal {
                JoinRefusal::Throttled { .. } | JoinRefusal::Suspended { .. } => {}
                JoinRefusal::UnknownToken | JoinRefusal::RevokedToken => {
                    lock(&relay.ip_throttle).fail(now, &ip);
                    lock(&relay.token_throttle).fail(now, &token_key);
                }
                JoinRefusal::UnknownCode | JoinRefusal::ExpiredCode | JoinRefusal::UsedCode => {
                    failed_join(relay, now, ip, &token_key, technician.as_deref(), locator).await;
                }
            }
            if let Err(e) = relay
                .audit
                .append(attempt(session, false, Some(refusal.as_str())))
                .await
            {
                return close(&conn, &Refusal::AuditFailed(e.to_string()));
            }
            refuse(&conn, &mut ctl, refusal).await;
        }
        Ok((name, won)) => {
            if let Err(e) = relay
                .audit
                .append(attempt(Some(won.session().to_owned()), true, None))
                .await
            {
                // Dropping the handle tells the host task its code is gone.
                return close(&conn, &Refusal::AuditFailed(e.to_string()));
            }
            let joiner = Joiner {
                technician: name,
                ip,
                token_key,
                locator,
            };
            match won {
                Won::Here(waiting) => hand_over(conn, ctl, joiner, waiting.handle).await,
                Won::There {
                    session,
                    node,
                    cluster,
                } => {
                    let request = LinkRequest::Join {
                        session,
                        locator,
                        technician: joiner.technician,
                        viewer_ip: ip.to_string(),
                        token_key: joiner.token_key,
                    };
                    let carried = crate::cluster::link::forward(
                        relay,
                        &cluster,
                        &node,
                        request,
                        conn.clone(),
                        ctl,
                    )
                    .await;
                    if let Err(why) = carried {
                        close(&conn, &Refusal::PeerGone(why.to_string()));
                    }
                }
            }
        }
    }
}

/// Gives the viewer to the task of the host it won.
async fn hand_over(conn: Connection, ctl: Control, joiner: Joiner, host: HostHandle) {
    let request = PairRequest {
        viewer: conn.clone(),
        ctl,
        joiner,
    };
    if host.send(request).await.is_err() {
        close(
            &conn,
            &Refusal::PeerGone("the host left just as you joined; ask for a new code".into()),
        );
    }
}

/// Who a token belongs to: the data directory's technicians, or the
/// cluster's. An error is the sentence the viewer hears.
async fn lookup_token(relay: &Relay, token: &str, token_key: &str) -> Result<Lookup, String> {
    if let Some(c) = &relay.cluster {
        return (c.db.lookup(token_key).await).map_err(|e| unavailable("a technician lookup", &e));
    }
    let (lookup, store_err) = lock(&relay.tokens).lookup(token);
    if let Some(e) = store_err {
        tracing::error!(error = %e, "technician store unreadable; serving the last good copy");
    }
    Ok(lookup)
}

/// A code a join won: its host waits here, or on another relay.
enum Won {
    Here(crate::rules::registry::Waiting<HostHandle>),
    There {
        session: String,
        node: String,
        cluster: Arc<Cluster>,
    },
}

impl Won {
    fn session(&self) -> &str {
        match self {
            Won::Here(w) => &w.session,
            Won::There { session, .. } => session,
        }
    }
}

/// Why a join did not win its code.
enum Lost {
    Refused(JoinRefusal, Option<String>),
    /// The cluster's database did not answer; the sentence for the viewer.
    Db(String),
}

/// Takes the code under `locator`: from this relay's registry, or (in a
/// cluster) from the database first, which lets one join win it.
async fn win_code(relay: &Relay, now: Instant, locator: Locator) -> Result<Won, Lost> {
    let take_here = || {
        lock(&relay.registry)
            .take(now, locator)
            .map(Won::Here)
            .map_err(|(r, s)| Lost::Refused(r, s))
    };
    let Some(cluster) = &relay.cluster else {
        return take_here();
    };
    match cluster.db.claim(locator).await {
        Ok(Claim::Won { node, .. }) if node == cluster.node => take_here(),
        Ok(Claim::Won { session, node }) => Ok(Won::There {
            session,
            node,
            cluster: cluster.clone(),
        }),
        Ok(Claim::Refused(r, s)) => Err(Lost::Refused(r, s)),
        Err(e) => Err(Lost::Db(unavailable("claiming a code", &e))),
    }
}

/// A side another relay of the cluster carried here: a viewer that won,
/// in the database there, a code whose host waits here; or a side
/// resuming a session this relay holds.
pub(crate) async fn serve_carried(
    relay: &Arc<Relay>,
    conn: Connection,
    ctl: Control,
    request: LinkRequest,
) {
    let ip = match &request {
        LinkRequest::Join { viewer_ip, .. } => viewer_ip,
        LinkRequest::Resume { ip, .. } => ip,
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return close(
            &conn,
            &Refusal::Protocol("the link did not name the side's address".into()),
        );
    };
    let (session, locator, technician, token_key) = match request {
        LinkRequest::Resume { role, request, .. } => {
            return resuming::serve_resume(relay, conn, ctl, role.into(), request, ip).await;
        }
        LinkRequest::Join {
            session,
            locator,
            technician,
            token_key,
            ..
        } => (session, locator, technician, token_key),
    };
    let taken = lock(&relay.registry).take(Instant::now(), locator);
    match taken {
        Ok(waiting) if waiting.session == session => {
            let joiner = Joiner {
                technician: clean_text(&technician),
                ip,
                token_key,
                locator,
            };
            hand_over(conn, ctl, joiner, waiting.handle).await;
        }
        _ => close(
            &conn,
            &Refusal::PeerGone("the host left just as you joined; ask for a new code".into()),
        ),
    }
}

async fn refuse(conn: &Connection, ctl: &mut Control, refusal: JoinRefusal) {
    if let Err(e) = ctl.send(&ViewerEvent::Refused(refusal)).await {
        tracing::debug!(error = %e, "viewer gone before hearing its refusal");
    }
    ctl.finish();
    // Let the viewer read the refusal and hang up first; the close reason
    // repeats it for a viewer that does not.
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
    close(conn, &Refusal::Refused(refusal.to_string()));
}

async fn run_session(
    relay: &Arc<Relay>,
    host: HostInfo,
    mut host_ctl: Control,
    session: String,
    pair: PairRequest,
) {
    let PairRequest {
        viewer,
        ctl: mut viewer_ctl,
        joiner,
    } = pair;
    let started = AuditEvent::SessionStarted {
        session: session.clone(),
        technician: joiner.technician.clone(),
        host_ip: host.ip.to_string(),
        viewer_ip: joiner.ip.to_string(),
    };
    if let Err(e) = relay.audit.append(started).await {
        let why = Refusal::AuditFailed(e.to_string());
        close(&host.conn, &why);
        close(&viewer, &why);
        return;
    }
    if let Some(c) = &relay.cluster
        && let Err(e) = c.db.session_started(&session, &c.node).await
    {
        // Only a dead relay's sessions are read back; this one is alive.
        tracing::error!(error = %e, "could not file a session in the database");
    }
    let mut meta = SessionMeta::new(session.clone(), joiner, host.ip);
    let recording = match start_recording(relay, &mut meta).await {
        Ok(r) => r,
        Err(why) => {
            close(&host.conn, &Refusal::Ended(why.to_string()));
            close(&viewer, &Refusal::Ended(why.to_string()));
            return resuming::finish(relay, &meta, why).await;
        }
    };
    let meta = Arc::new(meta);
    let paired = HostEvent::Paired {
        session: session.clone(),
        technician: meta.joiner.technician.clone(),
    };
    let joined = ViewerEvent::Joined {
        session,
        host_name: host.name.clone(),
        os_user: host.user.clone(),
    };
    let policy = HostEvent::Policy(lifeline_proto::control::SessionPolicy {
        confirm_every_s: secs(relay.config.confirm_every),
        answer_within_s: secs(relay.config.confirm_answer_within),
        recording,
    });
    let greeted = match async {
        host_ctl.send(&policy).await?;
        host_ctl.send(&paired).await
    }
    .await
    {
        Ok(()) => viewer_ctl
            .send(&joined)
            .await
            .map_err(|e| format!("viewer: {e}")),
        Err(e) => Err(format!("host: {e}")),
    };
    if let Err(why) = greeted {
        let why = format!("could not start: {why}");
        close(&host.conn, &Refusal::PeerGone(why.to_string()));
        close(&viewer, &Refusal::PeerGone(why.to_string()));
        return resuming::finish(relay, &meta, why).await;
    }
    let sides = Sides {
        host: &host.conn,
        viewer: &viewer,
    };
    run_segment(relay, &meta, sides, host_ctl, viewer_ctl).await;
}

/// Opens the session's recording as the relay's settings say: the policy
/// for the host, or (when a required recording cannot be written) why
/// the session cannot start. Every failure is audited.
async fn start_recording(
    relay: &Relay,
    meta: &mut SessionMeta,
) -> Result<Option<RecordingPolicy>, String> {
    let dir = &relay.config.data_dir;
    let auditors = AuditorStore::in_dir(dir).auditors();
    let mode = match (&relay.config.recording, &auditors) {
        (Some(m), _) => *m,
        (None, Ok(a)) if a.is_empty() => RecordingMode::Off,
        (None, _) => RecordingMode::Required,
    };
    if mode == RecordingMode::Off {
        return Ok(None);
    }
    let opened = auditors.and_then(|a| {
        if a.is_empty() {
            return Err(crate::recording::RecordingError::NoSuch("(any)".into()));
        }
        RecordingFile::create(dir, &meta.session).map(|f| (a, f))
    });
    match opened {
        Ok((auditors, file)) => {
            meta.recording = std::sync::Mutex::new(Some(file));
            meta.recording_required = mode == RecordingMode::Required;
            Ok(Some(RecordingPolicy {
                auditors,
                keys: relay.config.record_keys,
                required: mode == RecordingMode::Required,
            }))
        }
        Err(e) => {
            let reason = format!("the relay cannot record this session: {e}");
            let failed = AuditEvent::RecordingFailed {
                session: meta.session.clone(),
                reason: reason.clone(),
            };
            if let Err(e) = relay.audit.append(failed).await {
                tracing::error!(error = %e, "audit write failed for a recording failure");
            }
            match mode {
                RecordingMode::Required => Err(format!(
                    "{reason}; recording is required, so the session cannot start"
                )),
                _ => Ok(None),
            }
        }
    }
}

/// Writes a recording chunk from the host; `Some(reason)` when the
/// session must end for it (a required recording that cannot be written).
async fn record_chunk(relay: &Relay, meta: &SessionMeta, chunk: &[u8]) -> Option<String> {
    let failed = {
        let mut slot = lock(&meta.recording);
        let file = slot.as_mut()?;
        let e = file.append(chunk).err()?;
        *slot = None;
        e
    };
    let reason = format!("the relay cannot write this session's recording: {failed}");
    let event = AuditEvent::RecordingFailed {
        session: meta.session.clone(),
        reason: reason.clone(),
    };
    if let Err(e) = relay.audit.append(event).await {
        tracing::error!(error = %e, "audit write failed for a recording failure");
    }
    meta.recording_required
        .then(|| format!("{reason}; recording is required, so the session ends"))
}

/// How a stretch of forwarding ended.
#[derive(Debug)]
pub(crate) enum Over {
    /// The session is over; the audit log's reason.
    Ended(String),
    /// A link was lost (or the relay stops) and the session is resumable:
    /// both sides were asked to reconnect.
    Parked(String),
}

/// Forwards between two connected sides until the session ends or parks;
/// files the end, or the interruption.
pub(crate) async fn run_segment(
    relay: &Arc<Relay>,
    meta: &Arc<SessionMeta>,
    sides: Sides<'_>,
    host_ctl: Control,
    viewer_ctl: Control,
) {
    let stop = CancellationToken::new();
    lock(&relay.resumes).resumed(&meta.session, stop.clone());
    relay.live_sessions.fetch_add(1, Ordering::Relaxed);
    let _counted = scopeguard(|| {
        relay.live_sessions.fetch_sub(1, Ordering::Relaxed);
    });
    let mut pumps = spawn_pumps(relay, sides.host, sides.viewer, &meta.h2v, &meta.v2h);
    let over = bridge_controls(relay, meta, sides, host_ctl, viewer_ctl, &stop).await;
    pumps.abort_all();
    match over {
        Over::Ended(reason) => resuming::finish(relay, meta, reason).await,
        Over::Parked(reason) => resuming::park(relay, meta, reason).await,
    }
}

/// Runs `f` when dropped (however the enclosing future ends).
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

/// Both sides' connections of a session.
#[derive(Clone, Copy)]
pub(crate) struct Sides<'a> {
    pub host: &'a Connection,
    pub viewer: &'a Connection,
}

impl<'a> Sides<'a> {
    fn of(&self, peer: Peer) -> &'a Connection {
        match peer {
            Peer::Host => self.host,
            Peer::Viewer => self.viewer,
        }
    }
}

/// Starts forwarding every stream and datagram both ways, counting bytes.
pub(crate) fn spawn_pumps(
    relay: &Relay,
    host: &Connection,
    viewer: &Connection,
    h2v: &Arc<AtomicU64>,
    v2h: &Arc<AtomicU64>,
) -> JoinSet<()> {
    let hook = relay.config.forward_hook.clone();
    let to_viewer = Leg {
        counter: h2v.clone(),
        dir: Direction::HostToViewer,
        hook: hook.clone(),
    };
    let to_host = Leg {
        counter: v2h.clone(),
        dir: Direction::ViewerToHost,
        hook,
    };
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

/// Reads both control streams until the session ends or parks; files
/// reports on the way. `stop` fires when a side came back on a new
/// connection before the relay noticed the old one was lost.
async fn bridge_controls(
    relay: &Relay,
    meta: &Arc<SessionMeta>,
    sides: Sides<'_>,
    mut host_ctl: Control,
    mut viewer_ctl: Control,
    stop: &CancellationToken,
) -> Over {
    let (mut host_ctl_open, mut viewer_ctl_open) = (true, true);
    let resumable = || lock(&relay.resumes).is_resumable(&meta.session);
    loop {
        let (peer, heard) = tokio::select! {
            r = host_ctl.recv::<HostRequest>(), if host_ctl_open => (Peer::Host, match r {
                Ok(HostRequest::Report(rep)) => Heard::Report(rep),
                Ok(HostRequest::Record(chunk)) => Heard::Record(chunk),
                Ok(_) | Err(ControlError::Frame(_)) => Heard::Unexpected,
                Err(_) => Heard::Ended,
            }),
            r = viewer_ctl.recv::<ViewerRequest>(), if viewer_ctl_open => (Peer::Viewer, match r {
                Ok(ViewerRequest::Report(rep)) => Heard::Report(rep),
                Ok(_) | Err(ControlError::Frame(_)) => Heard::Unexpected,
                Err(_) => Heard::Ended,
            }),
            e = sides.host.closed() => return gone(sides, Peer::Host, &e, resumable()),
            e = sides.viewer.closed() => return gone(sides, Peer::Viewer, &e, resumable()),
            () = stop.cancelled() => {
                let tell = "the other side reconnected; reconnecting…";
                close(sides.host, &Refusal::Reconnect(tell.to_string()));
                close(sides.viewer, &Refusal::Reconnect(tell.to_string()));
                return Over::Parked("a side reconnected on a new connection".into());
            }
            () = relay.shutdown.cancelled() => {
                let why = "relay shutting down";
                close(sides.host, &Refusal::ShutdownSaying(why.to_string()));
                close(sides.viewer, &Refusal::ShutdownSaying(why.to_string()));
                return if resumable() {
                    Over::Parked(why.into())
                } else {
                    Over::Ended(why.into())
                };
            }
        };
        match bridge::on_control(peer, heard) {
            Step::File(rep) => report(relay, meta, peer.name(), &rep, stop).await,
            Step::Record(chunk) => {
                if let Some(tell) = record_chunk(relay, meta, &chunk).await {
                    close(sides.host, &Refusal::Ended(tell.to_string()));
                    close(sides.viewer, &Refusal::Ended(tell.to_string()));
                    return Over::Ended(tell);
                }
            }
            Step::End { tell, reason } => {
                close(sides.of(peer.other()), &Refusal::Ended(tell.to_string()));
                close(sides.of(peer), &Refusal::Ended(tell.to_string()));
                return Over::Ended(reason);
            }
            Step::BrokeProtocol { tell, reason } => {
                close(
                    sides.of(peer),
                    &Refusal::Protocol("unexpected control message during a session".into()),
                );
                close(sides.of(peer.other()), &Refusal::PeerGone(tell.to_string()));
                return Over::Ended(reason);
            }
            Step::Quiet => match peer {
                Peer::Host => host_ctl_open = false,
                Peer::Viewer => viewer_ctl_open = false,
            },
        }
    }
}

/// `peer`'s connection ended: the other side is told (asked to reconnect
/// when the session parks).
fn gone(sides: Sides<'_>, peer: Peer, e: &quinn::ConnectionError, resumable: bool) -> Over {
    let gone = bridge::on_closed(peer, &ending(e), resumable);
    close(sides.of(peer.other()), &gone.tell);
    if gone.park {
        Over::Parked(gone.reason)
    } else {
        Over::Ended(gone.reason)
    }
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

/// A join that failed on a code (none there, expired, used, or a wrong
/// secret): throttled per IP and token, and counted per token across
/// codes; a token failing on several is suspended, and the log says so.
async fn failed_join(
    relay: &Relay,
    now: Instant,
    ip: IpAddr,
    token_key: &str,
    technician: Option<&str>,
    locator: Locator,
) {
    lock(&relay.ip_throttle).fail(now, &ip);
    lock(&relay.token_throttle).fail(now, &token_key.to_owned());
    let verdict = lock(&relay.suspicion).fail(now, token_key, locator);
    if let Verdict::Suspended { codes, for_s } = verdict {
        tracing::warn!(
            ?technician,
            codes,
            "token suspended: failed joins on several codes"
        );
        let event = AuditEvent::TokenSuspended {
            technician: technician.map(str::to_owned),
            ip: ip.to_string(),
            codes: u32::try_from(codes).unwrap_or(u32::MAX),
            suspended_s: for_s,
        };
        if let Err(e) = relay.audit.append(event).await {
            tracing::error!(error = %e, "audit write failed for a token suspension");
        }
    }
}

/// Files a peer's report; a wrong secret counts as a failed join for the
/// viewer's IP and token, so guessing stays throttled.
async fn report(
    relay: &Relay,
    meta: &Arc<SessionMeta>,
    from: &str,
    rep: &SessionReport,
    stop: &CancellationToken,
) {
    let (session, joiner) = (meta.session.as_str(), &meta.joiner);
    let (what, mode) = match rep {
        SessionReport::ModeGranted(m) => ("mode granted".to_owned(), Some(m.as_str().to_owned())),
        SessionReport::Refused => ("refused by the user".to_owned(), None),
        SessionReport::SecretMismatch => {
            let j = joiner;
            let who = Some(j.technician.as_str());
            failed_join(relay, Instant::now(), j.ip, &j.token_key, who, j.locator).await;
            ("wrong secret (key exchange failed)".to_owned(), None)
        }
        // The reason is filed with the session's end record.
        SessionReport::Ending { .. } => return,
        SessionReport::ResumeTicket { hash } if from == "host" => {
            return resuming::file_ticket(relay, meta, *hash, stop).await;
        }
        SessionReport::ResumeTicket { .. } => return,
        SessionReport::Transfer(t) if from == "host" => {
            let event = AuditEvent::Transfer {
                session: session.into(),
                kind: t.kind.as_str().into(),
                direction: t.direction().into(),
                bytes: t.bytes,
                name: t.name.as_deref().map(clean_text),
                sha256: t.sha256.map(hex::encode),
            };
            if let Err(e) = relay.audit.append(event).await {
                tracing::error!(error = %e, "audit write failed for a transfer");
            }
            return;
        }
        // Only the host reports transfers (it applies them).
        SessionReport::Transfer(_) => return,
    };
    let event = AuditEvent::PeerReport {
        session: session.into(),
        from: from.into(),
        report: what,
        mode,
    };
    if let Err(e) = relay.audit.append(event).await {
        tracing::error!(error = %e, "audit write failed for a peer report");
    }
}

/// Whole seconds, saturating.
fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// One direction of a session: its byte counter, and the test hook.
#[derive(Debug, Clone)]
struct Leg {
    counter: Arc<AtomicU64>,
    dir: Direction,
    hook: Option<ForwardHook>,
}

impl Leg {
    fn pass(&self, bytes: bytes::Bytes) -> bytes::Bytes {
        self.counter
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        match &self.hook {
            Some(hook) => (hook.0)(self.dir, bytes),
            None => bytes,
        }
    }
}

/// Copies one stream until it ends, mirroring finish, reset and stop.
async fn pipe(mut from: quinn::RecvStream, mut to: quinn::SendStream, leg: Leg) {
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
async fn forward_bi(from: Connection, to: Connection, fwd: Leg, back: Leg) {
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

async fn forward_uni(from: Connection, to: Connection, leg: Leg) {
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

async fn forward_datagrams(from: Connection, to: Connection, leg: Leg) {
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
