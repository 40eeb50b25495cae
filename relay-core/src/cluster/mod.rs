//! Several relays behind one name, sharing their state in PostgreSQL
//! (`serve --database`).
//!
//! What must hold for the whole cluster lives in the database
//! ([`db`]): technicians, live codes (one-time use is one UPDATE), the
//! relays themselves, the cluster's CA, and the audit log with one hash
//! chain ([`audit`]). A viewer that joins through one relay a code whose
//! host waits on another is carried to it over a relay-to-relay link
//! ([`link`]): mutual TLS with the cluster's CA, the viewer's streams
//! forwarded as they are. Each relay files a heartbeat with its load;
//! one silent for longer than the node timeout is removed by another,
//! which releases its waiting codes (audited).

pub mod audit;
pub mod db;
pub(crate) mod link;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lifeline_certs::CertError;
use lifeline_certs::cluster::{link_identity, new_cluster_ca};
use lifeline_common::tls::{TlsError, link_configs};
use lifeline_proto::audit::AuditEvent;
use rand::Rng;

use crate::audit::AuditLog;
pub use db::{Claim, Db, DbError};

/// Why a relay could not join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the cluster's CA: {0}")]
    Cert(#[from] CertError),
    #[error("the relay-to-relay link: {0}")]
    Tls(#[from] TlsError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// How often a relay files its heartbeat, and how long silence means dead.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub heartbeat: Duration,
    pub node_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(1),
            node_timeout: Duration::from_secs(10),
        }
    }
}

/// This relay's membership of a cluster.
#[derive(Debug)]
pub struct Cluster {
    pub db: Arc<Db>,
    /// This relay's id, kept in its data directory (`node-id`).
    pub node: String,
    /// Where hosts and viewers reach this relay, and where relays do.
    addr: String,
    link_addr: String,
    link: quinn::Endpoint,
    link_client: quinn::ClientConfig,
    timing: Timing,
    /// Whether the last heartbeat reached the database.
    database_up: std::sync::atomic::AtomicBool,
}

/// This relay's id in the cluster: `DIR/node-id`, drawn on first start so
/// a restart is the same relay (and releases its own leftover codes).
pub fn node_id(dir: &Path) -> Result<String, ClusterError> {
    let path = dir.join("node-id");
    let io = |source| ClusterError::Io {
        what: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    crate::private::private_dir(dir).map_err(io)?;
    let id = format!("relay-{:08x}", rand::rng().random::<u32>());
    crate::private::replace_file(&path, id.as_bytes()).map_err(io)?;
    Ok(id)
}

/// The id a data directory's relay has, if it ever joined a cluster.
pub fn node_id_of(dir: &Path) -> Result<String, ClusterError> {
    let path = dir.join("node-id");
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| ClusterError::Io {
            what: format!("{} (pass --node ID)", path.display()),
            source,
        })
}

impl Cluster {
    /// Joins the cluster in `db` as `node`: signs a link certificate with
    /// the cluster's CA, listens for other relays on `link_bind`, and files
    /// this relay with `addr` (for hosts and viewers) and `link_addr` (for
    /// relays; the bound address when `None`).
    pub async fn join(
        db: Arc<Db>,
        node: String,
        addr: String,
        link_bind: SocketAddr,
        link_addr: Option<String>,
        timing: Timing,
    ) -> Result<Arc<Self>, ClusterError> {
        let (ca, ca_key) = db.cluster_ca(new_cluster_ca).await??;
        let id = link_identity(&ca, &ca_key, &node)?;
        let (server, client) = link_configs(id.ca, id.chain, id.key)?;
        let link = lifeline_common::tls::endpoint(link_bind, Some(server)).map_err(|source| {
            ClusterError::Io {
                what: format!("cannot listen for relays on {link_bind}"),
                source,
            }
        })?;
        let bound = link.local_addr().map_err(|source| ClusterError::Io {
            what: "the link's address".into(),
            source,
        })?;
        let link_addr = link_addr.unwrap_or_else(|| bound.to_string());
        db.register_node(&node, &addr, &link_addr).await?;
        Ok(Arc::new(Self {
            db,
            node,
            addr,
            link_addr,
            link,
            link_client: client,
            timing,
            database_up: std::sync::atomic::AtomicBool::new(true),
        }))
    }

    /// Where this relay listens for other relays.
    pub fn link_local_addr(&self) -> std::io::Result<SocketAddr> {
        self.link.local_addr()
    }

    /// Its heartbeat and node timeout.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// Links to and from other relays open now (each carries a session's
    /// side, or a host's wait, between two relays).
    pub fn links_open(&self) -> usize {
        self.link.open_connections()
    }

    /// Whether this relay's last heartbeat reached the cluster's database.
    pub fn database_up(&self) -> bool {
        self.database_up.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops listening for other relays.
    pub(crate) fn close(&self) {
        self.link
            .close(quinn::VarInt::from_u32(0), b"relay stopping");
    }
}

/// What a host or viewer hears when the database does not answer; the
/// error itself (`what` failed) goes to the relay's log, not to the peer.
pub(crate) fn unavailable(what: &str, e: &DbError) -> String {
    tracing::error!(error = %e, "{what} failed");
    "the relay cannot reach its database; try again shortly".to_owned()
}

/// Audits each released code: which session's code and why.
async fn audit_released(audit: &AuditLog, released: Vec<(String, String)>, why: &str) {
    for (session, node) in released {
        let event = AuditEvent::CodeClosed {
            session,
            reason: format!("{why} (relay {node})"),
        };
        if let Err(e) = audit.append(event).await {
            tracing::error!(error = %e, "audit write failed for a released code");
        }
    }
}

/// Ends each session a dead relay held, in the log: how long it had run;
/// what it forwarded died with that relay (0 here).
async fn audit_orphans(audit: &AuditLog, orphans: Vec<db::Orphan>, why: &str) {
    for o in orphans {
        let event = AuditEvent::SessionEnded {
            session: o.session,
            reason: format!("{why} (relay {})", o.node),
            duration_ms: o.ran_ms,
            bytes_host_to_viewer: 0,
            bytes_viewer_to_host: 0,
        };
        if let Err(e) = audit.append(event).await {
            tracing::error!(error = %e, "audit write failed for a dead relay's session");
        }
    }
}

async fn audit_all(audit: &AuditLog, released: db::Released, why: &str) {
    audit_released(audit, released.codes, why).await;
    audit_orphans(audit, released.sessions, why).await;
}

/// At start: the codes this relay's last run left waiting are released
/// (their hosts' connections died with it) and its sessions ended, except
/// those it restored to resume (`resumable`); any dead relay's too.
pub(crate) async fn start(
    audit: &AuditLog,
    cluster: &Cluster,
    resumable: &[String],
) -> Result<(), DbError> {
    let why = "relay stopped unexpectedly";
    let own = cluster.db.release_own(&cluster.node).await?;
    audit_released(audit, own, why).await;
    let sessions = cluster.db.own_sessions(&cluster.node, resumable).await?;
    audit_orphans(audit, sessions, why).await;
    let orphans = cluster.db.release_orphans().await?;
    audit_all(audit, orphans, "its relay stopped answering").await;
    Ok(())
}

/// At a clean stop: codes still filed under this relay are released
/// (audited), it stops listening for relays and leaves the list.
pub(crate) async fn leave(audit: &AuditLog, cluster: &Cluster) {
    cluster.close();
    match cluster.db.release_own(&cluster.node).await {
        Ok(own) => audit_released(audit, own, "the relay stopped").await,
        Err(e) => tracing::error!(error = %e, "could not release this relay's codes"),
    }
    if let Err(e) = cluster.db.remove_node(&cluster.node).await {
        tracing::warn!(error = %e, "could not take this relay off the cluster's list");
    }
}

/// What the heartbeat needs from the relay it runs for (the relay
/// implements it), so the cluster does not depend on the relay's state.
pub(crate) trait Member: Send + Sync + 'static {
    /// Hosts waiting and connections open right now.
    fn load(&self) -> (usize, usize);
    /// The cluster told this relay to drain.
    fn drain(&self);
    /// Where released codes and dead relays' sessions are written.
    fn audit(&self) -> &AuditLog;
}

/// Files the heartbeat with this relay's load, and removes relays that
/// went silent (releasing their codes), until the relay stops.
pub(crate) async fn keep_alive<M: Member>(relay: Arc<M>, cluster: Arc<Cluster>) {
    let mut tick = tokio::time::interval(cluster.timing.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let load = relay.load();
        let beat = cluster.db.heartbeat(&cluster.node, load.0, load.1).await;
        cluster
            .database_up
            .store(beat.is_ok(), std::sync::atomic::Ordering::Relaxed);
        match beat {
            Ok(Some(drain)) => {
                if drain {
                    relay.drain();
                }
            }
            Ok(None) => {
                tracing::warn!(
                    node = %cluster.node,
                    "this relay was taken for dead (its codes were released); filing it again"
                );
                let (addr, link) = (&cluster.addr, &cluster.link_addr);
                if let Err(e) = cluster.db.register_node(&cluster.node, addr, link).await {
                    tracing::error!(error = %e, "cannot file this relay again");
                }
            }
            Err(e) => tracing::error!(error = %e, "heartbeat failed"),
        }
        match cluster.db.sweep(cluster.timing.node_timeout).await {
            Ok(released) => audit_all(relay.audit(), released, "its relay stopped answering").await,
            Err(e) => tracing::error!(error = %e, "sweeping dead relays failed"),
        }
    }
}
