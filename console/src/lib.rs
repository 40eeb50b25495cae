//! The security team's web console (`serve --console ADDR`): sessions,
//! timelines, the chain's integrity, technicians and recordings, over
//! HTTPS with the relay's certificate.
//!
//! Pieces: [`users`] (accounts, Argon2id, TOTP), [`auth`] (sessions and
//! CSRF tokens, sans-IO), [`gate`] (the login throttle, reserved before
//! each check, and its counted refusals, sans-IO), [`index`] (the audit log indexed as it grows,
//! sans-IO core), [`pages`] (pure HTML rendering), [`routes`] (the HTTP
//! handlers), [`serve`] (TLS accept loop, mini-redis style
//! `serve(listener, …, shutdown)`), [`metrics`] (the relay's metrics and
//! health over plain HTTP, `serve --metrics`), [`oidc`] (signing in with the
//! organisation's identity provider: the console's users, and technicians
//! through the relay). Every login and every change is an
//! audit record, written before the change is made.

pub mod auth;
pub mod gate;
pub mod index;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod routes;
pub mod serve;
pub mod users;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lifeline_relay_core::audit::AuditLog;
use lifeline_relay_core::tokens::TechnicianStore;

pub use serve::{serve, serve_plain, serve_router, tls_config};

/// Failed logins allowed at once per account name …
pub const LOGIN_BURST: u32 = 5;
/// … and how fast that allowance comes back (one per this).
pub const LOGIN_DRAIN: Duration = Duration::from_secs(60);
/// Failed logins allowed at once per address (across names: guessing
/// many accounts), coming back one per [`ADDRESS_DRAIN`].
pub const ADDRESS_BURST: u32 = 20;
pub const ADDRESS_DRAIN: Duration = Duration::from_secs(15);
/// Password checks (Argon2id, 19 MiB each) run at once; more wait …
pub const CHECKS_AT_ONCE: usize = 2;
/// … this long for a turn, then are told the console is busy.
pub const CHECK_WAIT: Duration = Duration::from_secs(3);

/// The console's shared state.
#[derive(Debug)]
pub struct Console {
    dir: PathBuf,
    /// The relay's audit log: every login and change is written there.
    audit: Arc<AuditLog>,
    users: users::UserStore,
    technicians: TechnicianStore,
    index: Mutex<index::AuditIndex>,
    sessions: Mutex<auth::Sessions>,
    /// Failed logins by account name and by address, reserved before
    /// each check; refusals counted into bursts.
    gate: Mutex<gate::LoginGate>,
    /// Turns at the password check (Argon2 is memory-hard: bounded).
    checks: Arc<tokio::sync::Semaphore>,
    /// The last second-factor step each account logged in with.
    totp_steps: Mutex<std::collections::HashMap<String, u64>>,
    /// The last integrity check's failure, shown on every page.
    failed_check: Mutex<Option<String>>,
    /// The enrolled devices (the data directory's).
    devices: lifeline_relay_core::devices::DeviceStore,
    /// The relay this console runs beside, for what only it knows (which
    /// devices are online, which sessions wait for approval); `None` for
    /// a console over a data directory alone.
    relay: Option<Arc<lifeline_relay_core::Relay>>,
    /// The organisation's identity provider (`serve --oidc-issuer`), and
    /// the sign-ins sent there and not back yet, by their `state`.
    oidc: Option<Arc<oidc::Oidc>>,
    oidc_pending: Mutex<oidc::PendingLogins>,
}

impl Console {
    /// A console over the relay's data directory `dir`, writing to its
    /// audit log `audit`; sessions end after 30 minutes idle or 12 hours.
    pub fn new(dir: PathBuf, audit: Arc<AuditLog>) -> Arc<Self> {
        Self::build(dir, audit, None, None)
    }

    /// The console of the running `relay` (its data directory and log),
    /// signing in with `oidc` too when given.
    pub fn of_relay(
        relay: &Arc<lifeline_relay_core::Relay>,
        oidc: Option<Arc<oidc::Oidc>>,
    ) -> Arc<Self> {
        Self::build(
            relay.data_dir().to_owned(),
            relay.audit_handle(),
            Some(relay.clone()),
            oidc,
        )
    }

    fn build(
        dir: PathBuf,
        audit: Arc<AuditLog>,
        relay: Option<Arc<lifeline_relay_core::Relay>>,
        oidc: Option<Arc<oidc::Oidc>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            oidc,
            oidc_pending: Mutex::new(oidc::PendingLogins::default()),
            devices: lifeline_relay_core::devices::DeviceStore::new(&dir),
            relay,
            users: users::UserStore::in_dir(&dir),
            technicians: TechnicianStore::in_dir(&dir),
            index: Mutex::new(index::AuditIndex::default()),
            sessions: Mutex::new(auth::Sessions::new(
                Duration::from_secs(30 * 60),
                Duration::from_secs(12 * 3600),
            )),
            gate: Mutex::new(gate::LoginGate::new(
                LOGIN_BURST,
                LOGIN_DRAIN,
                ADDRESS_BURST,
                ADDRESS_DRAIN,
            )),
            checks: Arc::new(tokio::sync::Semaphore::new(CHECKS_AT_ONCE)),
            totp_steps: Mutex::new(std::collections::HashMap::new()),
            failed_check: Mutex::new(None),
            dir,
            audit,
        })
    }

    /// Runs `f` on the index brought up to date with the log (blocking:
    /// call it off the async threads); `f` may read the log too.
    pub fn with_index<T>(
        &self,
        f: impl FnOnce(&index::AuditIndex) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let mut idx = lock(&self.index);
        idx.refresh(&lifeline_relay_core::audit::log_path(&self.dir))?;
        f(&idx)
    }
}

impl Console {
    /// Writes the records of the refused-login bursts that are over (all
    /// of them when `all`, at shutdown). A record that cannot be written
    /// is logged; its count is lost.
    pub async fn write_bursts(&self, all: bool) {
        let due = lock(&self.gate).due(std::time::Instant::now(), all);
        for event in due {
            if let Err(e) = self.audit.append(event).await {
                tracing::error!(error = %e, "console: a refused-login burst could not be logged");
            }
        }
    }
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data
/// that is still consistent, so poisoning is ignored.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
