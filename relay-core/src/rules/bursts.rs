//! Refusals that come in floods, counted rather than logged one by one:
//! each key (an address under a cap, a console name under its throttle)
//! gathers its refusals into a *burst*, which is over once it has been
//! quiet for [`BURST_QUIET`] or open for [`BURST_LONGEST`], and then
//! becomes one audit record. At most [`BURST_KEYS`] keys are counted
//! apart; refusals for any more go to one overflow key the caller names,
//! so a flood from many sources is still a handful of records. Sans-IO:
//! time is passed in.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A burst ends after this long without a refusal for its key …
pub const BURST_QUIET: Duration = Duration::from_secs(5);
/// … or, a flood that goes on, after this long (a new one starts).
pub const BURST_LONGEST: Duration = Duration::from_secs(60);
/// Keys counted apart at once; refusals for more are counted together.
pub const BURST_KEYS: usize = 1024;

/// A burst that is over: its key, what its first refusal said, how many
/// refusals it counted and when the first and the last came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted<K, D> {
    pub key: K,
    pub data: D,
    pub count: u64,
    pub first: Instant,
    pub last: Instant,
}

/// Refusals counted per key until their burst is over.
#[derive(Debug)]
pub struct Bursts<K, D> {
    open: HashMap<K, Counted<K, D>>,
}

impl<K, D> Default for Bursts<K, D> {
    fn default() -> Self {
        Self {
            open: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, D> Bursts<K, D> {
    /// Counts a refusal for `key` at `now`, or for `overflow` when
    /// [`BURST_KEYS`] others are open; a burst it opens keeps `data`.
    pub fn count(&mut self, now: Instant, key: K, overflow: K, data: impl FnOnce() -> D) {
        let key = if self.open.contains_key(&key) || self.open.len() < BURST_KEYS {
            key
        } else {
            overflow
        };
        let burst = self.open.entry(key.clone()).or_insert_with(|| Counted {
            key,
            data: data(),
            count: 0,
            first: now,
            last: now,
        });
        burst.count += 1;
        burst.last = now;
    }

    /// The bursts over at `now` (quiet for [`BURST_QUIET`], or open for
    /// [`BURST_LONGEST`]), each handed out once and forgotten.
    pub fn over(&mut self, now: Instant) -> Vec<Counted<K, D>> {
        self.take(|b| {
            now.saturating_duration_since(b.last) >= BURST_QUIET
                || now.saturating_duration_since(b.first) >= BURST_LONGEST
        })
    }

    /// Every burst still open (at shutdown).
    pub fn all(&mut self) -> Vec<Counted<K, D>> {
        self.take(|_| true)
    }

    fn take(&mut self, done: impl Fn(&Counted<K, D>) -> bool) -> Vec<Counted<K, D>> {
        let keys: Vec<K> = self
            .open
            .iter()
            .filter(|(_, b)| done(b))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| self.open.remove(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_keeps_its_first_data_and_counts_the_rest() {
        let t0 = Instant::now();
        let mut b: Bursts<&str, u32> = Bursts::default();
        b.count(t0, "a", "rest", || 1);
        b.count(t0 + Duration::from_secs(1), "a", "rest", || 2);
        assert!(b.over(t0 + Duration::from_secs(5)).is_empty());
        let over = b.over(t0 + Duration::from_secs(6));
        assert_eq!(
            over,
            [Counted {
                key: "a",
                data: 1,
                count: 2,
                first: t0,
                last: t0 + Duration::from_secs(1),
            }]
        );
    }

    #[test]
    fn past_the_keys_counted_apart_the_rest_share_the_overflow() {
        let t0 = Instant::now();
        let mut b: Bursts<u32, ()> = Bursts::default();
        for k in 0..(BURST_KEYS as u32 + 10) {
            b.count(t0, k, u32::MAX, || ());
        }
        let all = b.all();
        assert_eq!(all.len(), BURST_KEYS + 1);
        let rest = all.iter().find(|c| c.key == u32::MAX);
        assert_eq!(rest.map(|c| c.count), Some(10));
    }
}
