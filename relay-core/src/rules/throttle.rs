//! Failed-join throttling: a leaky bucket per key (source IP, token).
//!
//! Each failure pours one unit in; the bucket drains one unit per `drain`.
//! When a further failure would overflow `burst`, attempts are refused until
//! enough has drained. Sans-IO: time is passed in.

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

    /// Records one failure for `key`.
    pub fn fail(&mut self, now: Instant, key: &K) {
        let level = self.level(now, key) + 1.0;
        self.buckets.insert(key.clone(), Bucket { level, at: now });
        if self.buckets.len() > 100_000 {
            let drain = self.drain.as_secs_f64();
            self.buckets.retain(|_, b| {
                b.level - now.saturating_duration_since(b.at).as_secs_f64() / drain > 0.0
            });
        }
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
}
