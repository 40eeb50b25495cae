//! Technicians who try codes that are not theirs. A valid token that joins
//! a locator by guessing reaches another user's waiting host, and its wrong
//! secret burns that user's code; the per-token throttle slows this, but a
//! token failing on *several different* codes is suspended outright for a
//! while, and the audit log says so. Sans-IO: time is passed in.

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

/// Failed joins per token (its hash), by code.
#[derive(Debug, Default)]
pub struct Suspicion {
    tokens: HashMap<String, Record>,
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
