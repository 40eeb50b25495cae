//! Who may try a console password now, sans-IO (time is passed in).
//!
//! Each login *reserves* its slot in the name's and the address's leaky
//! buckets before the password is checked, so concurrent attempts cannot
//! all pass the check at once: of 60 raced wrong logins for one name, at
//! most [`crate::LOGIN_BURST`] reach Argon2. A login that succeeds (or
//! that was never checked) gives its slots back; a failed one keeps them.
//!
//! Attempts refused unchecked (throttled, or the console too busy) are
//! not logged one by one: they are counted into a *burst* per name (or
//! per address), which [`LoginGate::due`] hands out as one record once
//! it has been quiet for five seconds or open for a minute (the relay's
//! [`Bursts`], as its address caps count theirs). The buckets are the
//! relay's [`Throttle`], never fuller than their burst.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use lifeline_proto::audit::{AuditEvent, MAX_NAME_BYTES, cut};
use lifeline_relay_core::rules::addresses::Source;
use lifeline_relay_core::rules::bursts::Bursts;
use lifeline_relay_core::rules::throttle::Throttle;

/// A login's reserved slots: give them back ([`LoginGate::release`]) or
/// keep them ([`LoginGate::failed`]).
#[derive(Debug)]
#[must_use]
pub struct Reservation {
    name: String,
    ip: IpAddr,
}

/// Why an attempt was refused without a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unchecked {
    /// The name had too many failed logins.
    ThrottledName,
    /// The address had too many failed logins.
    ThrottledAddress,
    /// Too many logins were being checked at once.
    Busy,
}

impl Unchecked {
    /// The audit log's words for a burst of these.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ThrottledName => "throttled: too many failed logins for this name",
            Self::ThrottledAddress => "throttled: too many failed logins from this address",
            Self::Busy => "busy: too many logins being checked at once",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum BurstKey {
    Name(Unchecked, String),
    Address(Unchecked, Source),
    /// Everything past [`lifeline_relay_core::rules::bursts::BURST_KEYS`].
    Overflow,
}

/// What a burst's record names: its first attempt's name, address and
/// reason.
#[derive(Debug)]
struct First {
    user: String,
    ip: IpAddr,
    why: Unchecked,
}

/// The console's login throttle and its counted refusals.
#[derive(Debug)]
pub struct LoginGate {
    names: Throttle<String>,
    /// Per address, as the relay counts one: an IPv4 address or an IPv6 /64.
    addresses: Throttle<Source>,
    bursts: Bursts<BurstKey, First>,
}

/// The name a throttle and a record know an attempt by: cut like the
/// log cuts it, so a 600 kB name costs no more than a short one.
pub fn name_key(user: &str) -> String {
    let mut name = user.to_owned();
    cut(&mut name, MAX_NAME_BYTES);
    name
}

impl LoginGate {
    /// `name_burst` failures per name, one back per `name_drain`; the
    /// same per address.
    pub fn new(name_burst: u32, name_drain: Duration, ip_burst: u32, ip_drain: Duration) -> Self {
        Self {
            names: Throttle::new(name_burst, name_drain),
            addresses: Throttle::new(ip_burst, ip_drain),
            bursts: Bursts::default(),
        }
    }

    /// Takes a slot for `user` and one for `ip`, or refuses with how long
    /// to wait (and counts the refusal into its burst).
    pub fn reserve(
        &mut self,
        now: Instant,
        user: &str,
        ip: IpAddr,
    ) -> Result<Reservation, Duration> {
        let name = name_key(user);
        let by_name = self.names.check(now, &name).err();
        let by_address = self.addresses.check(now, &Source::of(ip)).err();
        match (by_name, by_address) {
            (None, None) => {
                self.names.fail(now, &name);
                self.addresses.fail(now, &Source::of(ip));
                Ok(Reservation { name, ip })
            }
            (wait_name, wait_ip) => {
                let why = if wait_name.is_some() {
                    Unchecked::ThrottledName
                } else {
                    Unchecked::ThrottledAddress
                };
                self.unchecked(now, why, &name, ip);
                Err(wait_name.max(wait_ip).unwrap_or_default())
            }
        }
    }

    /// The login succeeded, or was never checked: its slots are free again.
    pub fn release(&mut self, now: Instant, r: Reservation) {
        self.names.refund(now, &r.name);
        self.addresses.refund(now, &Source::of(r.ip));
    }

    /// The login failed: its slots stay taken until they drain.
    pub fn failed(&mut self, r: Reservation) {
        drop(r);
    }

    /// Counts an attempt refused without a check into its burst.
    pub fn unchecked(&mut self, now: Instant, why: Unchecked, user: &str, ip: IpAddr) {
        let name = name_key(user);
        let key = match why {
            Unchecked::ThrottledName => BurstKey::Name(why, name.clone()),
            Unchecked::ThrottledAddress | Unchecked::Busy => BurstKey::Address(why, Source::of(ip)),
        };
        let first = || First {
            user: name,
            ip,
            why,
        };
        self.bursts.count(now, key, BurstKey::Overflow, first);
    }

    /// The bursts that are over (quiet for five seconds, or open for a
    /// minute), as records; `all` hands out every open one (at shutdown).
    pub fn due(&mut self, now: Instant, all: bool) -> Vec<AuditEvent> {
        let over = if all {
            self.bursts.all()
        } else {
            self.bursts.over(now)
        };
        over.into_iter()
            .map(|b| {
                let overflow = b.key == BurstKey::Overflow;
                let First { user, ip, why } = b.data;
                AuditEvent::ConsoleLogin {
                    user: if overflow { String::new() } else { user },
                    ip: if overflow {
                        String::new()
                    } else {
                        ip.to_string()
                    },
                    ok: false,
                    reason: Some(if overflow {
                        format!("{} (and other names and addresses)", why.as_str())
                    } else {
                        why.as_str().to_owned()
                    }),
                    attempts: Some(b.count),
                    issuer: None,
                    subject: None,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_relay_core::rules::bursts::{BURST_KEYS, BURST_QUIET};

    fn gate() -> LoginGate {
        LoginGate::new(5, Duration::from_secs(60), 20, Duration::from_secs(15))
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn raced_attempts_reserve_before_the_check() {
        let t0 = Instant::now();
        let mut g = gate();
        // 60 attempts arrive before any check ends: 5 get a slot.
        let got: Vec<_> = (0..60)
            .filter_map(|_| g.reserve(t0, "ann", IP).ok())
            .collect();
        assert_eq!(got.len(), 5);
        for r in got {
            g.failed(r);
        }
        assert!(g.reserve(t0, "ann", IP).is_err());
        let wait = g
            .reserve(t0 + Duration::from_secs(59), "ann", IP)
            .unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(g.reserve(t0 + Duration::from_secs(60), "ann", IP).is_ok());
    }

    #[test]
    fn addresses_in_one_ipv6_64_share_a_bucket() {
        let t0 = Instant::now();
        let mut g = LoginGate::new(100, Duration::from_secs(60), 2, Duration::from_secs(60));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IP);
        for last in ["2001:db8:7:7::1", "2001:db8:7:7::2"] {
            let r = g.reserve(t0, last, ip(last)).unwrap();
            g.failed(r);
        }
        // A third address of the same /64 (another name too) is held back;
        // the next /64 is not.
        assert!(g.reserve(t0, "c", ip("2001:db8:7:7:ffff::3")).is_err());
        assert!(g.reserve(t0, "d", ip("2001:db8:7:8::1")).is_ok());
    }

    #[test]
    fn a_success_gives_its_slots_back() {
        let t0 = Instant::now();
        let mut g = gate();
        for _ in 0..50 {
            let r = g.reserve(t0, "ann", IP).unwrap();
            g.release(t0, r);
        }
        let held: Vec<_> = (0..5).map(|_| g.reserve(t0, "ann", IP).unwrap()).collect();
        assert!(g.reserve(t0, "ann", IP).is_err());
        // Another name from the same address still has room.
        assert!(g.reserve(t0, "bob", IP).is_ok());
        drop(held);
    }

    #[test]
    fn the_address_limits_many_names() {
        let t0 = Instant::now();
        let mut g = gate();
        let ok = (0..100)
            .filter(|i| g.reserve(t0, &format!("n{i}"), IP).is_ok())
            .count();
        assert_eq!(ok, 20);
    }

    #[test]
    fn refusals_become_one_counted_record_a_burst() {
        let t0 = Instant::now();
        let mut g = gate();
        let long = "a".repeat(600_000);
        for _ in 0..5 {
            let r = g.reserve(t0, &long, IP).unwrap();
            g.failed(r);
        }
        for i in 0..1000 {
            let at = t0 + Duration::from_millis(i);
            assert!(g.reserve(at, &long, IP).is_err());
            assert!(g.due(at, false).is_empty(), "still going at {i}");
        }
        let later = t0 + Duration::from_millis(999) + BURST_QUIET;
        let records = g.due(later, false);
        assert_eq!(records.len(), 1);
        let AuditEvent::ConsoleLogin {
            user,
            attempts,
            reason,
            ..
        } = &records[0]
        else {
            panic!("{records:?}");
        };
        assert_eq!(*attempts, Some(1000));
        assert!(user.len() <= MAX_NAME_BYTES);
        assert_eq!(reason.as_deref(), Some(Unchecked::ThrottledName.as_str()));
        assert!(g.due(later, true).is_empty());
    }

    #[test]
    fn a_steady_attack_gives_a_record_a_minute_and_bursts_are_bounded() {
        let t0 = Instant::now();
        let mut g = gate();
        let mut records = 0;
        for s in 0..180 {
            let at = t0 + Duration::from_secs(s);
            g.unchecked(at, Unchecked::ThrottledName, "ann", IP);
            records += g.due(at, false).len();
        }
        assert_eq!(records, 2, "one at 60 s, one at 120 s");
        for i in 0..5000u32 {
            let ip = IpAddr::V4(i.into());
            g.unchecked(t0, Unchecked::ThrottledAddress, "x", ip);
        }
        let all = g.due(t0, true);
        assert_eq!(all.len(), BURST_KEYS + 1);
        let total: u64 = all
            .iter()
            .map(|e| match e {
                AuditEvent::ConsoleLogin { attempts, .. } => attempts.unwrap_or(0),
                _ => 0,
            })
            .sum();
        assert_eq!(total, 5000 + 58, "every attempt is counted once");
    }
}
