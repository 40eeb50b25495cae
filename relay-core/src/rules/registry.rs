//! Which hosts wait under which locator: a sans-IO state machine.
//!
//! Time is passed in, so expiry, reuse and capacity are unit-tested without
//! sleeping. A locator that was used, expired or withdrawn stays reserved as
//! a *tombstone* for a while, so a late or mistyped join hears "already used"
//! or "expired" instead of reaching a different host that drew the same
//! digits.
//!
//! Tombstones of codes withdrawn unused (renewed away, the host gone) are
//! kept apart from those of used and expired codes, each kind with its own
//! ceiling: a host renewing in a loop only pushes out its own kind, never
//! the tombstone that makes a late join on a used code hear "already used".

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use lifeline_proto::Locator;
use lifeline_proto::code::LOCATOR_SPACE;
use lifeline_proto::control::JoinRefusal;

/// Why a locator is no longer live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    Used,
    Expired,
    Withdrawn,
}

/// A host waiting for its technician.
#[derive(Debug)]
pub struct Waiting<H> {
    pub session: String,
    pub expires: Instant,
    pub handle: H,
}

/// Registration failed: too many hosts wait already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the relay has {0} hosts waiting, its limit; try again shortly")]
pub struct Full(pub usize);

/// The live codes and recent tombstones.
#[derive(Debug)]
pub struct Registry<H> {
    live: HashMap<Locator, Waiting<H>>,
    dead: HashMap<Locator, (Instant, Gone, String)>,
    /// Used and expired tombstones, oldest first.
    dead_order: VecDeque<(Instant, Locator)>,
    /// Withdrawn tombstones, oldest first.
    withdrawn_order: VecDeque<(Instant, Locator)>,
    ttl: Duration,
    tombstone_ttl: Duration,
    max_waiting: usize,
    max_tombstones: usize,
    max_withdrawn: usize,
}

impl<H> Registry<H> {
    /// `ttl`: how long an unused code lives. `max_waiting` is capped so that
    /// live codes and tombstones together never fill the locator space.
    pub fn new(ttl: Duration, max_waiting: usize) -> Self {
        let space = LOCATOR_SPACE as usize;
        Self {
            live: HashMap::new(),
            dead: HashMap::new(),
            dead_order: VecDeque::new(),
            withdrawn_order: VecDeque::new(),
            ttl,
            tombstone_ttl: Duration::from_secs(3600).max(ttl),
            max_waiting: max_waiting.min(space / 2),
            max_tombstones: space / 4,
            max_withdrawn: space / 8,
        }
    }

    /// How many hosts wait now.
    pub fn waiting(&self) -> usize {
        self.live.len()
    }

    /// The code lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How long a dead locator stays reserved.
    pub fn tombstone_ttl(&self) -> Duration {
        self.tombstone_ttl
    }

    /// Takes in a live code another relay of the cluster issued (its host
    /// moved here): the locator is the cluster database's to give, so a
    /// tombstone of this relay's for it gives way.
    pub fn adopt(
        &mut self,
        now: Instant,
        loc: Locator,
        session: String,
        handle: H,
        expires: Instant,
    ) -> Result<(), Full> {
        self.prune(now);
        if self.live.len() >= self.max_waiting {
            return Err(Full(self.live.len()));
        }
        self.dead.remove(&loc);
        self.live.insert(
            loc,
            Waiting {
                session,
                expires,
                handle,
            },
        );
        Ok(())
    }

    /// Drops a live code of `session` as if it had never been issued (a
    /// cluster's database found its locator taken elsewhere).
    pub fn forget(&mut self, loc: Locator, session: &str) -> bool {
        if self.live.get(&loc).is_some_and(|w| w.session == session) {
            self.live.remove(&loc);
            true
        } else {
            false
        }
    }

    fn prune(&mut self, now: Instant) {
        let ttl = self.tombstone_ttl;
        let queues = [
            (&mut self.dead_order, self.max_tombstones),
            (&mut self.withdrawn_order, self.max_withdrawn),
        ];
        for (order, max) in queues {
            while let Some(&(at, loc)) = order.front() {
                let stale = now.saturating_duration_since(at) >= ttl;
                if !stale && order.len() <= max {
                    break;
                }
                order.pop_front();
                if self.dead.get(&loc).is_some_and(|(t, _, _)| *t == at) {
                    self.dead.remove(&loc);
                }
            }
        }
    }

    fn bury(&mut self, now: Instant, loc: Locator, why: Gone, session: String) {
        self.dead.insert(loc, (now, why, session));
        match why {
            Gone::Withdrawn => self.withdrawn_order.push_back((now, loc)),
            Gone::Used | Gone::Expired => self.dead_order.push_back((now, loc)),
        }
        self.prune(now);
    }

    fn is_free(&self, loc: Locator) -> bool {
        !self.live.contains_key(&loc) && !self.dead.contains_key(&loc)
    }

    /// Registers a host under a fresh locator. `random` draws numbers below
    /// [`LOCATOR_SPACE`] (injected so tests are deterministic).
    pub fn register(
        &mut self,
        now: Instant,
        session: String,
        handle: H,
        mut random: impl FnMut() -> u32,
    ) -> Result<(Locator, Instant), Full> {
        self.prune(now);
        if self.live.len() >= self.max_waiting {
            return Err(Full(self.live.len()));
        }
        let pick = |v: u32| Locator::new(v % LOCATOR_SPACE);
        let mut found = None;
        for _ in 0..32 {
            if let Some(l) = pick(random()).filter(|l| self.is_free(*l)) {
                found = Some(l);
                break;
            }
        }
        if found.is_none() {
            // Dense registry: scan from a random point; the caps above
            // guarantee a free locator exists.
            let start = random() % LOCATOR_SPACE;
            found = (0..LOCATOR_SPACE)
                .filter_map(|i| pick(start.wrapping_add(i)))
                .find(|l| self.is_free(*l));
        }
        let loc = found.ok_or(Full(self.live.len()))?;
        let expires = now + self.ttl;
        self.live.insert(
            loc,
            Waiting {
                session,
                expires,
                handle,
            },
        );
        Ok((loc, expires))
    }

    /// A technician joins `loc`: on success the code is dead from now on.
    /// A refusal names the session the locator belonged to, when known, so
    /// the failed attempt is filed under it in the audit log.
    pub fn take(
        &mut self,
        now: Instant,
        loc: Locator,
    ) -> Result<Waiting<H>, (JoinRefusal, Option<String>)> {
        if let Some(w) = self.live.remove(&loc) {
            if now >= w.expires {
                let session = w.session.clone();
                self.bury(now, loc, Gone::Expired, w.session);
                return Err((JoinRefusal::ExpiredCode, Some(session)));
            }
            self.bury(now, loc, Gone::Used, w.session.clone());
            return Ok(w);
        }
        match self.dead.get(&loc) {
            Some((_, Gone::Used, s)) => Err((JoinRefusal::UsedCode, Some(s.clone()))),
            Some((_, Gone::Expired, s)) => Err((JoinRefusal::ExpiredCode, Some(s.clone()))),
            Some((_, Gone::Withdrawn, _)) | None => Err((JoinRefusal::UnknownCode, None)),
        }
    }

    /// Ends a live code that belongs to `session` (expiry, renewal, host
    /// gone). `false` when it was not live any more: a viewer took it first.
    pub fn close(&mut self, now: Instant, loc: Locator, session: &str, why: Gone) -> bool {
        if self.live.get(&loc).is_some_and(|w| w.session == session) {
            self.live.remove(&loc);
            self.bury(now, loc, why, session.to_owned());
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(start: u32) -> impl FnMut() -> u32 {
        let mut n = start;
        move || {
            n += 1;
            n
        }
    }

    #[test]
    fn an_adopted_code_replaces_a_tombstone_and_is_taken_once() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_secs(600), 1);
        let (loc, _) = r.register(t0, "s1".into(), 'a', counter(0)).unwrap();
        assert!(r.close(t0, loc, "s1", Gone::Expired));
        let until = t0 + Duration::from_secs(30);
        r.adopt(t0, loc, "s2".into(), 'b', until).unwrap();
        assert_eq!(
            r.adopt(t0, Locator::new(9).unwrap(), "s3".into(), 'c', until),
            Err(Full(1))
        );
        let w = r.take(t0, loc).unwrap();
        assert_eq!(
            (w.session.as_str(), w.handle, w.expires),
            ("s2", 'b', until)
        );
        assert_eq!(r.take(t0, loc).unwrap_err().0, JoinRefusal::UsedCode);
    }

    #[test]
    fn a_forgotten_code_leaves_no_tombstone() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_secs(600), 10);
        let (loc, _) = r.register(t0, "s1".into(), 'h', counter(0)).unwrap();
        assert!(!r.forget(loc, "other"));
        assert!(r.forget(loc, "s1"));
        assert_eq!(r.waiting(), 0);
        assert_eq!(
            r.take(t0, loc).unwrap_err(),
            (JoinRefusal::UnknownCode, None)
        );
        let (again, _) = r.register(t0, "s2".into(), 'h', counter(0)).unwrap();
        assert_eq!(again, loc, "the locator is free again");
    }

    #[test]
    fn a_code_is_taken_once() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_secs(600), 10);
        let (loc, exp) = r.register(t0, "s1".into(), 'h', counter(0)).unwrap();
        assert_eq!(exp, t0 + Duration::from_secs(600));
        let w = r.take(t0, loc).unwrap();
        assert_eq!((w.session.as_str(), w.handle), ("s1", 'h'));
        assert_eq!(
            r.take(t0, loc).unwrap_err(),
            (JoinRefusal::UsedCode, Some("s1".into()))
        );
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn codes_expire() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_secs(10), 10);
        let (a, _) = r.register(t0, "a".into(), (), counter(0)).unwrap();
        let (b, _) = r.register(t0, "b".into(), (), counter(5)).unwrap();
        let later = t0 + Duration::from_secs(10);
        assert_eq!(r.take(later, a).unwrap_err().0, JoinRefusal::ExpiredCode);
        assert_eq!(
            r.take(later, a).unwrap_err(),
            (JoinRefusal::ExpiredCode, Some("a".into()))
        );
        assert!(r.close(later, b, "b", Gone::Expired));
        assert_eq!(r.take(later, b).unwrap_err().0, JoinRefusal::ExpiredCode);
    }

    #[test]
    fn unknown_and_withdrawn_codes() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_secs(10), 10);
        assert_eq!(
            r.take(t0, Locator::new(42).unwrap()).unwrap_err(),
            (JoinRefusal::UnknownCode, None)
        );
        let (a, _) = r.register(t0, "a".into(), (), counter(0)).unwrap();
        assert!(!r.close(t0, a, "someone else", Gone::Withdrawn));
        assert!(r.close(t0, a, "a", Gone::Withdrawn));
        assert!(!r.close(t0, a, "a", Gone::Withdrawn));
        assert_eq!(r.take(t0, a).unwrap_err(), (JoinRefusal::UnknownCode, None));
    }

    #[test]
    fn locators_are_not_reused_while_reserved() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_secs(10), 10);
        // A random source stuck on one value still yields distinct locators.
        let (a, _) = r.register(t0, "a".into(), (), || 7).unwrap();
        r.take(t0, a).unwrap();
        let (b, _) = r.register(t0, "b".into(), (), || 7).unwrap();
        let (c, _) = r.register(t0, "c".into(), (), || 7).unwrap();
        assert!(a != b && b != c && a != c);
        // After the tombstone lifetime the digits may come back.
        let much_later = t0 + Duration::from_secs(7200);
        r.close(much_later, b, "b", Gone::Withdrawn);
        r.close(much_later, c, "c", Gone::Withdrawn);
        let (d, _) = r
            .register(much_later + Duration::from_secs(3600), "d".into(), (), || 7)
            .unwrap();
        assert_eq!(d, a);
    }

    #[test]
    fn capacity_is_enforced() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_secs(10), 3);
        let mut rng = counter(0);
        for i in 0..3 {
            r.register(t0, format!("s{i}"), (), &mut rng).unwrap();
        }
        assert_eq!(
            r.register(t0, "x".into(), (), &mut rng).unwrap_err(),
            Full(3)
        );
    }
    #[test]
    fn codes_renewed_away_never_push_out_a_used_codes_tombstone() {
        let t0 = Instant::now();
        let mut r = Registry::new(Duration::from_secs(600), 10);
        let mut rng = counter(0);
        let (used, _) = r.register(t0, "used".into(), (), &mut rng).unwrap();
        r.take(t0, used).unwrap();
        // A host renewing in a loop withdraws far more codes than the
        // withdrawn tombstones' ceiling.
        let renewals = LOCATOR_SPACE as usize / 8 + 1_000;
        for i in 0..renewals {
            let (loc, _) = r.register(t0, format!("w{i}"), (), &mut rng).unwrap();
            assert!(r.close(t0, loc, &format!("w{i}"), Gone::Withdrawn));
        }
        assert!(r.withdrawn_order.len() <= LOCATOR_SPACE as usize / 8);
        assert_eq!(
            r.take(t0, used).unwrap_err(),
            (JoinRefusal::UsedCode, Some("used".into()))
        );
    }
}
