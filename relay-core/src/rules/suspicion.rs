//! Technicians who try codes that are not theirs. A valid token that joins
//! a locator by guessing reaches another user's waiting host, and its wrong
//! secret burns that user's code; the per-token throttle slows this, but a
//! token failing on *several different* codes is suspended outright for a
//! while, and the audit log says so. Sans-IO: time is passed in.
//!
//! A join's outcome may come after an await (a cluster's database): it is
//! [`Suspicion::begin`]-ed before and [`Suspicion::end`]-ed after, and a
//! join racing others of the same token is held back when, with theirs,
//! it could take the token past the suspension's count unseen.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use lifeline_proto::Locator;

/// How many different codes a token may fail on within [`WINDOW`].
pub const DISTINCT_FAILURES: usize = 3;
/// How far back failures count.
pub const WINDOW: Duration = Duration::from_secs(600);
/// How long a suspended token is refused.
pub const SUSPENSION: Duration = Duration::from_secs(1800);

#[derive(Debug, Default)]
struct Record {
    /// Failed joins, oldest first: when, and on which code.
    failures: VecDeque<(Instant, Locator)>,
    suspended_until: Option<Instant>,
}

/// What a failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing more than the throttle's own count.
    Noted,
    /// The token failed on this many different codes: suspended now.
    Suspended { codes: usize, for_s: u64 },
}

/// Why a join may not begin now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The token is suspended for this long.
    Suspended(Duration),
    /// Other joins of the token are under way and, with this one, could
    /// reach the suspension's count of codes: try again when they ended.
    Racing,
}

/// Failed joins per token (its hash), by code.
#[derive(Debug, Default)]
pub struct Suspicion {
    tokens: HashMap<String, Record>,
    /// Joins under way per token: the codes they try.
    pending: HashMap<String, Vec<Locator>>,
}

impl Suspicion {
    /// Nobody suspected yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `Err(wait)` while `token` is suspended.
    pub fn check(&self, now: Instant, token: &str) -> Result<(), Duration> {
        match self.tokens.get(token).and_then(|r| r.suspended_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// A join of `token` on `locator` begins (before any await): refused
    /// while the token is suspended, or while others of its joins are under
    /// way and the codes it failed on lately, theirs and this one would
    /// reach [`DISTINCT_FAILURES`]. Every `Ok` is followed by [`Suspicion::end`].
    pub fn begin(&mut self, now: Instant, token: &str, locator: Locator) -> Result<(), Hold> {
        self.check(now, token).map_err(Hold::Suspended)?;
        let pending = self.pending.entry(token.to_owned()).or_default();
        if !pending.is_empty() {
            let failed = self.tokens.get(token).map(|r| &r.failures);
            let recent = failed
                .into_iter()
                .flatten()
                .filter_map(|(t, l)| (now.saturating_duration_since(*t) <= WINDOW).then_some(*l));
            let mut codes: Vec<Locator> = recent.chain(pending.iter().copied()).collect();
            codes.push(locator);
            codes.sort();
            codes.dedup();
            if codes.len() >= DISTINCT_FAILURES {
                return Err(Hold::Racing);
            }
        }
        pending.push(locator);
        Ok(())
    }

    /// A join [`Suspicion::begin`] let through was decided (a failure is
    /// counted with [`Suspicion::fail`] as well).
    pub fn end(&mut self, token: &str, locator: Locator) {
        if let Some(pending) = self.pending.get_mut(token) {
            if let Some(i) = pending.iter().position(|l| *l == locator) {
                pending.swap_remove(i);
            }
            if pending.is_empty() {
                self.pending.remove(token);
            }
        }
    }

    /// `token` failed to join `locator` (no such code, expired, used, or a
    /// wrong secret).
    pub fn fail(&mut self, now: Instant, token: &str, locator: Locator) -> Verdict {
        let r = self.tokens.entry(token.to_owned()).or_default();
        r.failures.push_back((now, locator));
        while r
            .failures
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > WINDOW)
        {
            r.failures.pop_front();
        }
        let mut codes: Vec<Locator> = r.failures.iter().map(|(_, l)| *l).collect();
        codes.sort();
        codes.dedup();
        let suspended = r.suspended_until.is_some_and(|u| u > now);
        if codes.len() >= DISTINCT_FAILURES && !suspended {
            r.suspended_until = Some(now + SUSPENSION);
            r.failures.clear();
            return Verdict::Suspended {
                codes: codes.len(),
                for_s: SUSPENSION.as_secs(),
            };
        }
        if self.tokens.len() > 100_000 {
            self.tokens.retain(|_, r| {
                r.suspended_until.is_some_and(|u| u > now)
                    || r.failures
                        .back()
                        .is_some_and(|(t, _)| now.saturating_duration_since(*t) <= WINDOW)
            });
        }
        Verdict::Noted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(n: u32) -> Locator {
        Locator::new(n).unwrap()
    }

    #[test]
    fn failing_on_several_codes_suspends_the_token_for_a_while() {
        let t0 = Instant::now();
        let mut s = Suspicion::new();
        // The same code mistyped again and again is the throttle's business.
        for i in 0..5 {
            assert_eq!(
                s.fail(t0 + Duration::from_secs(i), "a", loc(1)),
                Verdict::Noted
            );
        }
        assert_eq!(s.fail(t0, "a", loc(2)), Verdict::Noted);
        assert!(s.check(t0, "a").is_ok());
        assert_eq!(
            s.fail(t0, "a", loc(3)),
            Verdict::Suspended {
                codes: 3,
                for_s: SUSPENSION.as_secs()
            }
        );
        assert!(
            s.check(t0 + SUSPENSION - Duration::from_secs(1), "a")
                .is_err()
        );
        assert!(s.check(t0, "b").is_ok(), "other tokens are not touched");
        assert!(s.check(t0 + SUSPENSION, "a").is_ok(), "it ends");
    }

    #[test]
    fn joins_racing_past_the_count_are_held_back() {
        let t0 = Instant::now();
        let mut s = Suspicion::new();
        s.fail(t0, "a", loc(1));
        // Two joins at once on new codes: with the failure on code 1 they
        // would make three codes before any of them is counted.
        assert_eq!(s.begin(t0, "a", loc(2)), Ok(()));
        assert_eq!(s.begin(t0, "a", loc(3)), Err(Hold::Racing));
        assert_eq!(s.begin(t0, "b", loc(3)), Ok(()), "other tokens go on");
        s.end("a", loc(2));
        assert_eq!(s.begin(t0, "a", loc(3)), Ok(()), "one at a time is fine");
        s.end("a", loc(3));
        assert!(!s.pending.contains_key("a"));
        s.fail(t0, "a", loc(2));
        s.fail(t0, "a", loc(3));
        assert!(matches!(s.begin(t0, "a", loc(4)), Err(Hold::Suspended(_))));
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t0 = Instant::now();
        let mut s = Suspicion::new();
        s.fail(t0, "a", loc(1));
        s.fail(t0, "a", loc(2));
        let later = t0 + WINDOW + Duration::from_secs(1);
        assert_eq!(s.fail(later, "a", loc(3)), Verdict::Noted);
        assert!(s.check(later, "a").is_ok());
    }
}
