//! Console sign-ins sent to the provider and not back yet, sans-IO: each
//! by the `state` the provider hands back, bound to a random value in the
//! browser's cookie (so a callback from another browser finds nothing),
//! taken once, forgotten after [`PENDING_FOR`], at most [`MAX_PENDING`]
//! at once and [`MAX_PENDING_PER_ADDRESS`] from one address (the oldest
//! give way: one address cannot push everyone else's out).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::Pending;
use crate::auth::same;

/// How long a browser may stay at the provider's pages.
pub const PENDING_FOR: Duration = Duration::from_secs(600);
/// Sign-ins kept waiting at once …
pub const MAX_PENDING: usize = 1000;
/// … and from one address.
pub const MAX_PENDING_PER_ADDRESS: usize = 20;

/// The waiting sign-ins.
#[derive(Debug, Default)]
pub struct PendingLogins {
    by_state: HashMap<String, Waiting>,
}

/// One sign-in at the provider: what it needs back, when it left, the
/// browser's binding and its address.
#[derive(Debug)]
struct Waiting {
    pending: Pending,
    at: Instant,
    binding: String,
    from: IpAddr,
}

impl PendingLogins {
    /// Keeps `pending`, bound to the browser's `binding`, from `now`
    /// for a browser at `from`.
    pub fn insert(&mut self, now: Instant, from: IpAddr, pending: Pending, binding: String) {
        self.by_state
            .retain(|_, w| now.duration_since(w.at) < PENDING_FOR);
        // An IPv6 /64 is one address, as for the console's connections.
        let from = crate::serve::address_key(from);
        let theirs = self.by_state.values().filter(|w| w.from == from).count();
        if theirs >= MAX_PENDING_PER_ADDRESS {
            self.drop_oldest(|w| w.from == from);
        }
        if self.by_state.len() >= MAX_PENDING {
            self.drop_oldest(|_| true);
        }
        self.by_state.insert(
            pending.state.clone(),
            Waiting {
                pending,
                at: now,
                binding,
                from,
            },
        );
    }

    /// Forgets the oldest sign-in `which` picks.
    fn drop_oldest(&mut self, which: impl Fn(&Waiting) -> bool) {
        let oldest = self
            .by_state
            .iter()
            .filter(|(_, w)| which(w))
            .min_by_key(|(_, w)| w.at)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.by_state.remove(&k);
        }
    }

    /// Takes the sign-in for `state` if it is live and `binding` is the
    /// one it was started with; whatever the answer, `state` is used up.
    pub fn take(&mut self, now: Instant, state: &str, binding: &str) -> Option<Pending> {
        let w = self.by_state.remove(state)?;
        (now.duration_since(w.at) < PENDING_FOR && same(&w.binding, binding)).then_some(w.pending)
    }

    pub fn len(&self) -> usize {
        self.by_state.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_state.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(state: &str) -> Pending {
        Pending::for_test(state)
    }

    #[test]
    fn a_sign_in_is_taken_once_by_its_own_browser_in_time() {
        let t0 = Instant::now();
        let mut p = PendingLogins::default();
        p.insert(t0, ip(1), pending("s1"), "b1".into());
        p.insert(t0, ip(1), pending("s2"), "b2".into());
        p.insert(t0, ip(1), pending("s3"), "b3".into());
        assert!(p.take(t0, "s1", "b2").is_none(), "another browser");
        assert!(p.take(t0, "s1", "b1").is_none(), "used up by the wrong try");
        assert_eq!(p.take(t0, "s2", "b2").unwrap().state, "s2");
        assert!(p.take(t0, "s2", "b2").is_none(), "once");
        assert!(p.take(t0 + PENDING_FOR, "s3", "b3").is_none(), "too late");
        assert!(p.take(t0, "nope", "b1").is_none());
        assert!(p.is_empty());
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, n / 100, n % 100])
    }

    #[test]
    fn the_oldest_give_way_past_the_caps() {
        let t0 = Instant::now();
        let mut p = PendingLogins::default();
        // Someone's real sign-in, then one address floods.
        p.insert(t0, ip(1), pending("real"), "b".into());
        for i in 0..MAX_PENDING + 5 {
            let at = t0 + Duration::from_millis(i as u64 + 1);
            p.insert(at, ip(2), pending(&format!("s{i}")), "b".into());
        }
        assert_eq!(
            p.len(),
            MAX_PENDING_PER_ADDRESS + 1,
            "the flood keeps its newest only"
        );
        let now = t0 + Duration::from_secs(2);
        assert!(p.take(now, "real", "b").is_some(), "the real one stays");
        assert!(p.take(now, "s0", "b").is_none());
        assert!(p.take(now, &format!("s{}", MAX_PENDING + 4), "b").is_some());
        // One IPv6 /64 is one address, however many it uses.
        let mut p = PendingLogins::default();
        for i in 0..MAX_PENDING {
            let ip = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, i as u16]);
            p.insert(t0, ip, pending(&format!("v{i}")), "b".into());
        }
        assert_eq!(p.len(), MAX_PENDING_PER_ADDRESS);
        // Many addresses: the whole cap holds.
        let mut p = PendingLogins::default();
        for i in 0..MAX_PENDING + 5 {
            let at = t0 + Duration::from_millis(i as u64);
            p.insert(
                at,
                ip((i % 200) as u8),
                pending(&format!("s{i}")),
                "b".into(),
            );
        }
        assert!(p.len() <= MAX_PENDING);
        assert!(p.take(now, "s0", "b").is_none());
    }
}
