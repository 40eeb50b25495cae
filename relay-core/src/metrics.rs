//! What the relay counts for its operator (`serve --metrics`): counters
//! kept as things happen, gauges read from the relay at each scrape, in
//! Prometheus' text format (`prometheus-client`). No label carries a code,
//! a token, a name or an address: only fixed words (an outcome, a
//! direction, a mode), so a scrape says how much and how it went, never
//! who.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// How something went: one of a fixed set of words.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
}

/// A session's mode, as its host last said it granted.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabel {
    mode: &'static str,
}

/// Which way bytes went through the relay.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Way {
    direction: &'static str,
}

/// The relay-wide forwarded byte counters, one a direction, which every
/// session's pumps add to.
#[derive(Clone, Debug, Default)]
pub(crate) struct Forwarded {
    pub(crate) to_viewer: Counter<u64, AtomicU64>,
    pub(crate) to_host: Counter<u64, AtomicU64>,
}

/// Gauges set from the relay's state just before each scrape.
#[derive(Debug, Default)]
struct Now {
    connections: Gauge<i64, AtomicI64>,
    waiting_hosts: Gauge<i64, AtomicI64>,
    sessions: Gauge<i64, AtomicI64>,
    parked: Gauge<i64, AtomicI64>,
    devices_online: Gauge<i64, AtomicI64>,
    draining: Gauge<i64, AtomicI64>,
    resident: Gauge<i64, AtomicI64>,
    by_mode: Family<ModeLabel, Gauge<i64, AtomicI64>>,
    cluster_links: Gauge<i64, AtomicI64>,
    cluster_database_up: Gauge<i64, AtomicI64>,
}

/// The relay's metrics (see the module's documentation).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    now: Now,
    joins: Family<Outcome, Counter>,
    resumes: Family<Outcome, Counter>,
    suspended: Counter,
    sessions_started: Counter,
    console_logins: Family<Outcome, Counter>,
    technician_logins: Family<Outcome, Counter>,
    pub(crate) forwarded: Forwarded,
    /// Audit records the exporter has read and not shipped yet (set by
    /// the exporter).
    pub(crate) export_lag: Gauge<i64, AtomicI64>,
    /// When the certificate the relay presents expires (Unix time).
    certificate_not_after: Gauge<i64, AtomicI64>,
}

/// A family with a series for each of `words`, at 0 from the start, so
/// that a rate over it is defined before the first one happens.
fn outcomes(words: &[&'static str]) -> Family<Outcome, Counter> {
    let family = Family::<Outcome, Counter>::default();
    for &outcome in words {
        drop(family.get_or_create(&Outcome { outcome }));
    }
    family
}

/// A join's outcomes: admitted, a wrong secret (reported by the host),
/// or the refusal's word ([`refusal_word`]).
pub const JOIN_OUTCOMES: &[&str] = &[
    "admitted",
    "wrong_secret",
    "unknown_token",
    "revoked_token",
    "unknown_code",
    "expired_code",
    "used_code",
    "throttled",
    "suspended",
    "reason_required",
    "bad_reason",
    "expired_credential",
];
/// A side's resume: resumed, or refused.
pub const RESUME_OUTCOMES: &[&str] = &["resumed", "refused"];
/// A console sign-in's outcomes (the console's refusals' words).
pub const LOGIN_OUTCOMES: &[&str] = &[
    "ok",
    "throttled",
    "busy",
    "no_such_user",
    "wrong_password",
    "needs_code",
    "wrong_code",
    "code_reused",
    "no_role",
    "provider_failed",
    "stray",
];

/// What [`Metrics::refresh`] reads from the relay at a scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    pub connections: usize,
    pub waiting_hosts: usize,
    pub sessions: usize,
    pub parked: usize,
    pub devices_online: usize,
    pub draining: bool,
    /// Sessions forwarding by their host's last granted mode: view,
    /// control, none granted yet.
    pub by_mode: [usize; 3],
    /// In a cluster: links to and from other relays open now, and
    /// whether the last heartbeat reached the database.
    pub cluster: Option<(usize, bool)>,
}

impl Metrics {
    /// Every metric registered; `audit_write`, the audit log's write
    /// latency, is the log's own.
    pub fn new(audit_write: Histogram) -> Self {
        let bytes = Family::<Way, Counter>::default();
        // One at a time: the guard `get_or_create` returns holds the
        // family's lock until its statement ends.
        let to_viewer = bytes
            .get_or_create(&Way {
                direction: "host_to_viewer",
            })
            .clone();
        let to_host = bytes
            .get_or_create(&Way {
                direction: "viewer_to_host",
            })
            .clone();
        let mut m = Self {
            registry: Registry::with_prefix("lifeline"),
            now: Now::default(),
            joins: outcomes(JOIN_OUTCOMES),
            resumes: outcomes(RESUME_OUTCOMES),
            suspended: Counter::default(),
            sessions_started: Counter::default(),
            console_logins: outcomes(LOGIN_OUTCOMES),
            technician_logins: outcomes(SIGN_IN_OUTCOMES),
            forwarded: Forwarded { to_viewer, to_host },
            export_lag: Gauge::default(),
            certificate_not_after: Gauge::default(),
        };
        m.register_now();
        let r = &mut m.registry;
        let counters = [
            (
                "sessions_started",
                "Sessions paired (a code's or a device's)",
                &m.sessions_started,
            ),
            (
                "tokens_suspended",
                "Technician tokens suspended for failing on several codes",
                &m.suspended,
            ),
        ];
        for (name, help, counter) in counters {
            r.register(name, help, counter.clone());
        }
        let families = [
            ("joins", "Technicians' joins by outcome", &m.joins),
            (
                "resumes",
                "Sessions resumed, and sides refused a resume",
                &m.resumes,
            ),
            (
                "console_logins",
                "Console sign-ins by outcome",
                &m.console_logins,
            ),
            (
                "technician_logins",
                "Technicians' sign-ins with the identity provider by outcome",
                &m.technician_logins,
            ),
        ];
        for (name, help, family) in families {
            r.register(name, help, family.clone());
        }
        r.register_with_unit(
            "certificate_not_after",
            "When the certificate the relay presents now expires (Unix time)",
            Unit::Seconds,
            m.certificate_not_after.clone(),
        );
        r.register(
            "export_lag_records",
            "Audit records read for export, not yet shipped",
            m.export_lag.clone(),
        );
        r.register_with_unit(
            "forwarded",
            "Bytes forwarded between host and viewer",
            Unit::Bytes,
            bytes,
        );
        r.register_with_unit(
            "audit_write",
            "Time to write an audit record durably",
            Unit::Seconds,
            audit_write,
        );
        m
    }

    /// Registers the gauges read at each scrape.
    fn register_now(&mut self) {
        let (n, r) = (&self.now, &mut self.registry);
        let gauges = [
            ("connections", "QUIC connections open now", &n.connections),
            (
                "waiting_hosts",
                "Hosts waiting with a live code",
                &n.waiting_hosts,
            ),
            ("sessions_active", "Sessions forwarding now", &n.sessions),
            (
                "sessions_parked",
                "Sessions waiting for a side to resume",
                &n.parked,
            ),
            (
                "devices_online",
                "Enrolled devices online now",
                &n.devices_online,
            ),
            (
                "draining",
                "1 while this relay drains for a restart",
                &n.draining,
            ),
            (
                "cluster_links",
                "Links to and from other relays of the cluster open now",
                &n.cluster_links,
            ),
            (
                "cluster_database_up",
                "1 when this relay's last heartbeat reached the cluster's database (0 outside a cluster)",
                &n.cluster_database_up,
            ),
        ];
        for (name, help, gauge) in gauges {
            r.register(name, help, gauge.clone());
        }
        let by_mode = "Sessions forwarding, by the mode their host last granted";
        r.register("sessions_by_mode", by_mode, n.by_mode.clone());
        let resident = "The relay's resident memory";
        r.register_with_unit(
            "process_resident",
            resident,
            Unit::Bytes,
            n.resident.clone(),
        );
    }

    /// A histogram for the audit log's write latency: 100 µs to about 3 s.
    pub fn audit_histogram() -> Histogram {
        Histogram::new(exponential_buckets(0.0001, 2.0, 16))
    }

    /// A join decided: `admitted`, or the refusal's word.
    pub(crate) fn join(&self, outcome: &'static str) {
        self.joins.get_or_create(&Outcome { outcome }).inc();
    }

    /// A side's resume decided: `resumed`, or why not.
    pub(crate) fn resume(&self, outcome: &'static str) {
        self.resumes.get_or_create(&Outcome { outcome }).inc();
    }

    /// A session paired.
    pub(crate) fn session_started(&self) {
        self.sessions_started.inc();
    }

    /// A technician's token suspended.
    pub(crate) fn token_suspended(&self) {
        self.suspended.inc();
    }

    /// A console sign-in: `ok`, `wrong_password`, `wrong_code`,
    /// `throttled`…
    pub fn console_login(&self, outcome: &'static str) {
        self.console_logins
            .get_or_create(&Outcome { outcome })
            .inc();
    }

    /// A technician's sign-in with the identity provider: `ok`, or a
    /// refusal's [`sign_in_word`].
    pub fn technician_login(&self, outcome: &'static str) {
        self.technician_logins
            .get_or_create(&Outcome { outcome })
            .inc();
    }

    /// Sets the gauges from `reading` and this process's memory.
    pub fn refresh(&self, reading: Reading) {
        let n = &self.now;
        let set = |g: &Gauge<i64, AtomicI64>, v: usize| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        set(&n.connections, reading.connections);
        set(&n.waiting_hosts, reading.waiting_hosts);
        set(&n.sessions, reading.sessions);
        set(&n.parked, reading.parked);
        set(&n.devices_online, reading.devices_online);
        n.draining.set(i64::from(reading.draining));
        set(&n.resident, resident_bytes().unwrap_or(0) as usize);
        let (links, database_up) = reading.cluster.unwrap_or((0, false));
        set(&n.cluster_links, links);
        n.cluster_database_up.set(i64::from(database_up));
        for (mode, count) in ["view", "control", "none"].into_iter().zip(reading.by_mode) {
            set(&n.by_mode.get_or_create(&ModeLabel { mode }), count);
        }
    }

    /// The certificate presented now expires at `t` (set at start and at
    /// each reload or reissue).
    pub fn set_certificate_not_after(&self, t: std::time::SystemTime) {
        let secs = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.certificate_not_after
            .set(i64::try_from(secs).unwrap_or(i64::MAX));
    }

    /// Every metric in Prometheus' text format.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

/// A join refusal's word in the metrics (the audit log's, in snake case).
pub(crate) fn refusal_word(r: &lifeline_proto::control::JoinRefusal) -> &'static str {
    use lifeline_proto::control::JoinRefusal as R;
    match r {
        R::UnknownToken => "unknown_token",
        R::RevokedToken => "revoked_token",
        R::UnknownCode => "unknown_code",
        R::ExpiredCode => "expired_code",
        R::UsedCode => "used_code",
        R::Throttled { .. } => "throttled",
        R::Suspended { .. } => "suspended",
        R::ReasonRequired => "reason_required",
        R::BadReason => "bad_reason",
        R::ExpiredToken => "expired_credential",
    }
}

/// The outcomes of technicians' sign-ins, each counted from the start.
pub const SIGN_IN_OUTCOMES: &[&str] = &[
    "ok",
    "off",
    "not_technician",
    "denied",
    "timed_out",
    "provider_down",
    "invalid",
    "unavailable",
    "name_taken",
    "abandoned",
];

/// A sign-in refusal's word in the metrics.
pub fn sign_in_word(r: lifeline_proto::login::LoginRefusal) -> &'static str {
    use lifeline_proto::login::LoginRefusal as R;
    match r {
        R::Off => "off",
        R::NotTechnician => "not_technician",
        R::Denied => "denied",
        R::TimedOut => "timed_out",
        R::ProviderDown => "provider_down",
        R::Invalid => "invalid",
        R::Unavailable => "unavailable",
        R::NameTaken => "name_taken",
    }
}

/// This process's resident memory, from `/proc/self/status` (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_and_sign_in_has_its_counted_word() {
        for r in lifeline_proto::control::JoinRefusal::ALL {
            assert!(JOIN_OUTCOMES.contains(&refusal_word(&r)), "{r:?}");
        }
        for l in lifeline_proto::login::LoginRefusal::ALL {
            assert!(SIGN_IN_OUTCOMES.contains(&sign_in_word(l)), "{l:?}");
        }
    }

    /// A scrape names every family, counts what happened, and carries no
    /// label but the fixed words.
    #[test]
    fn a_scrape_counts_and_names_no_one() {
        let m = Metrics::new(Metrics::audit_histogram());
        m.join("admitted");
        m.join("unknown_token");
        m.join("admitted");
        m.forwarded.to_viewer.inc_by(1200);
        m.console_login("ok");
        m.refresh(Reading {
            sessions: 1,
            waiting_hosts: 2,
            draining: true,
            ..Reading::default()
        });
        let text = m.text();
        for line in [
            r#"lifeline_joins_total{outcome="admitted"} 2"#,
            r#"lifeline_joins_total{outcome="unknown_token"} 1"#,
            r#"lifeline_forwarded_bytes_total{direction="host_to_viewer"} 1200"#,
            r#"lifeline_console_logins_total{outcome="ok"} 1"#,
            "lifeline_sessions_active 1",
            "lifeline_waiting_hosts 2",
            "lifeline_draining 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(
            text.contains("lifeline_audit_write_seconds_bucket"),
            "{text}"
        );
        assert!(text.contains("lifeline_process_resident_bytes "), "{text}");
    }
}
