//! Failed-attempt throttling: a leaky bucket per key (source IP, token).
//!
//! Each failure pours one unit in; the bucket drains one unit per `drain`.
//! When a further failure would overflow `burst`, attempts are refused until
//! enough has drained. A bucket never holds more than `burst`: however many
//! failures are poured in (say, by someone who wants a technician locked
//! out), the wait is at most one `drain`. Sans-IO: time is passed in.
//!
//! An attempt whose outcome is only known after an await (a cluster's
//! database) *reserves* its unit before the await ([`Throttle::reserve`]),
//! so attempts racing through the check cannot all pass it; a success
//! gives the unit back ([`Throttle::refund`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: f64,
    at: Instant,
}

/// Per-key failure limiter.
#[derive(Debug)]
pub struct Throttle<K> {
    buckets: HashMap<K, Bucket>,
    burst: f64,
    drain: Duration,
}

/// Most keys a throttle remembers before it forgets the empty ones.
const MAX_KEYS: usize = 100_000;

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// Allows `burst` failures at once, then one per `drain`.
    pub fn new(burst: u32, drain: Duration) -> Self {
        Self {
            buckets: HashMap::new(),
            burst: f64::from(burst.max(1)),
            drain: drain.max(Duration::from_millis(1)),
        }
    }

    fn level(&self, now: Instant, key: &K) -> f64 {
        self.buckets.get(key).map_or(0.0, |b| {
            let drained =
                now.saturating_duration_since(b.at).as_secs_f64() / self.drain.as_secs_f64();
            (b.level - drained).max(0.0)
        })
    }

    /// `Err(wait)` while `key` may not try again.
    pub fn check(&self, now: Instant, key: &K) -> Result<(), Duration> {
        let level = self.level(now, key);
        if level + 1.0 > self.burst {
            Err(self.drain.mul_f64(level + 1.0 - self.burst))
        } else {
            Ok(())
        }
    }

    fn set(&mut self, now: Instant, key: &K, level: f64) {
        self.buckets.insert(key.clone(), Bucket { level, at: now });
        if self.buckets.len() > MAX_KEYS {
            let drain = self.drain.as_secs_f64();
            self.buckets.retain(|_, b| {
                b.level - now.saturating_duration_since(b.at).as_secs_f64() / drain > 0.0
            });
        }
    }

    /// Records one failure for `key` (never past the burst).
    pub fn fail(&mut self, now: Instant, key: &K) {
        let level = (self.level(now, key) + 1.0).min(self.burst);
        self.set(now, key, level);
    }

    /// Checks `key` and, if it may try, takes its unit now, before the
    /// attempt's outcome is known: `Err(wait)` as [`Throttle::check`].
    pub fn reserve(&mut self, now: Instant, key: &K) -> Result<(), Duration> {
        self.check(now, key)?;
        self.fail(now, key);
        Ok(())
    }

    /// Gives back a unit [`Throttle::reserve`] took: the attempt succeeded.
    pub fn refund(&mut self, now: Instant, key: &K) {
        let level = (self.level(now, key) - 1.0).max(0.0);
        if level <= 0.0 {
            self.buckets.remove(key);
        } else {
            self.set(now, key, level);
        }
    }

    /// Takes a unit for `key` even past the burst, by up to `queue` units:
    /// how long to wait before acting (zero within the burst), or `Err`
    /// (nothing taken) when even the queue is full. For requests that are
    /// slowed rather than refused (a host asking for new codes).
    pub fn queue(&mut self, now: Instant, key: &K, queue: u32) -> Result<Duration, Duration> {
        let level = self.level(now, key);
        let over = level + 1.0 - self.burst;
        if over > f64::from(queue) {
            return Err(self.drain.mul_f64(over));
        }
        self.set(now, key, level + 1.0);
        Ok(self.drain.mul_f64(over.max(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_drain() {
        let t0 = Instant::now();
        let mut t = Throttle::new(3, Duration::from_secs(10));
        for _ in 0..3 {
            assert!(t.check(t0, &"ip").is_ok());
            t.fail(t0, &"ip");
        }
        let wait = t.check(t0, &"ip").unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        assert!(t.check(t0, &"other").is_ok());
        assert!(t.check(t0 + Duration::from_secs(10), &"ip").is_ok());
        assert!(t.check(t0 + Duration::from_secs(9), &"ip").is_err());
    }

    #[test]
    fn a_bucket_never_holds_more_than_its_burst() {
        let t0 = Instant::now();
        let mut t = Throttle::new(5, Duration::from_secs(12));
        for _ in 0..2_000 {
            t.fail(t0, &"token");
        }
        assert_eq!(t.check(t0, &"token"), Err(Duration::from_secs(12)));
        assert!(t.check(t0 + Duration::from_secs(12), &"token").is_ok());
    }

    #[test]
    fn reserved_units_stop_a_race_and_a_success_gives_its_back() {
        let t0 = Instant::now();
        let mut t = Throttle::new(2, Duration::from_secs(10));
        // Three attempts pass the check before any outcome is known: only
        // two may.
        assert!(t.reserve(t0, &"ip").is_ok());
        assert!(t.reserve(t0, &"ip").is_ok());
        assert!(t.reserve(t0, &"ip").is_err());
        t.refund(t0, &"ip");
        assert!(t.reserve(t0, &"ip").is_ok(), "a success frees its unit");
        t.refund(t0, &"ip");
        t.refund(t0, &"ip");
        t.refund(t0, &"ip");
        assert!(t.check(t0, &"ip").is_ok());
        assert!(t.buckets.is_empty(), "an empty bucket is forgotten");
    }

    #[test]
    fn a_queue_slows_then_refuses() {
        let t0 = Instant::now();
        let mut t = Throttle::new(2, Duration::from_secs(5));
        assert_eq!(t.queue(t0, &"c", 2), Ok(Duration::ZERO));
        assert_eq!(t.queue(t0, &"c", 2), Ok(Duration::ZERO));
        assert_eq!(t.queue(t0, &"c", 2), Ok(Duration::from_secs(5)));
        assert_eq!(t.queue(t0, &"c", 2), Ok(Duration::from_secs(10)));
        assert_eq!(t.queue(t0, &"c", 2), Err(Duration::from_secs(15)));
        assert_eq!(
            t.queue(t0 + Duration::from_secs(5), &"c", 2),
            Ok(Duration::from_secs(10))
        );
    }
}
