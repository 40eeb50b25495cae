//! Whether the relay is ready for more (`/readyz` beside the metrics, for
//! a load balancer): not shutting down or draining, its audit log written
//! (no append failed in the last 30 s, and its data directory takes a
//! file), its cluster's database answering. The relay's metrics, read now, too.

use super::*;
use crate::metrics::Reading;

/// Why the relay is not ready; each a sentence for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("shutting down")]
    ShuttingDown,
    #[error("draining for a restart: new hosts go to other relays")]
    Draining,
    #[error("an audit record could not be written in the last 30 s")]
    AuditFailing,
    #[error("the data directory cannot be written")]
    DataDir,
    #[error("the cluster's database does not answer")]
    Database,
}

/// How long the database has to answer a readiness check.
const DATABASE_WITHIN: Duration = Duration::from_secs(2);

impl Relay {
    /// Ready for more, or the first reason not.
    pub async fn ready(&self) -> Result<(), NotReady> {
        if self.shutdown.is_cancelled() {
            return Err(NotReady::ShuttingDown);
        }
        if self.draining.is_cancelled() {
            return Err(NotReady::Draining);
        }
        if self.audit.is_failing() {
            return Err(NotReady::AuditFailing);
        }
        let dir = self.config.data_dir.clone();
        match tokio::task::spawn_blocking(move || crate::private::writable(&dir)).await {
            Ok(Ok(())) => {}
            _ => return Err(NotReady::DataDir),
        }
        if let Some(c) = &self.cluster {
            match tokio::time::timeout(DATABASE_WITHIN, c.db.load(&c.node)).await {
                Ok(Ok(_)) => {}
                _ => return Err(NotReady::Database),
            }
        }
        Ok(())
    }

    /// The relay's metrics in Prometheus' text format, its gauges read now.
    pub fn metrics_text(&self) -> String {
        // Each value read under its own lock, none held into the next.
        let connections = lock(&self.endpoints)
            .iter()
            .map(quinn::Endpoint::open_connections)
            .sum();
        let devices_online = lock(&self.presence).online();
        let reading = Reading {
            connections,
            waiting_hosts: self.waiting_hosts(),
            sessions: self.live_sessions(),
            parked: self.parked_sessions(),
            devices_online,
            draining: self.draining.is_cancelled(),
            by_mode: self.sessions_by_mode(),
            cluster: self.cluster().map(|c| (c.links_open(), c.database_up())),
        };
        self.metrics.refresh(reading);
        self.metrics.text()
    }

    /// Sessions forwarding now by their host's last granted mode: view,
    /// control, none yet.
    fn sessions_by_mode(&self) -> [usize; 3] {
        let metas: Vec<_> = lock(&self.forwarding).values().cloned().collect();
        let mut by = [0; 3];
        for meta in metas {
            let i = match *lock(&meta.mode) {
                Some(lifeline_proto::control::Mode::View) => 0,
                Some(lifeline_proto::control::Mode::Control) => 1,
                None => 2,
            };
            by[i] += 1;
        }
        by
    }

    /// Stops counting `endpoint`'s connections, and lets it close once
    /// its server is done with it (the relay outlives its endpoints).
    pub(crate) fn forget_endpoint(&self, endpoint: &quinn::Endpoint) {
        let addr = endpoint.local_addr().ok();
        lock(&self.endpoints).retain(|e| e.local_addr().ok() != addr);
    }

    /// The relay's metrics, for what counts beside it (the console's
    /// sign-ins).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }
}
