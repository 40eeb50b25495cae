//! Console sign-ins sent to the provider and not back yet, sans-IO: each
//! by the `state` the provider hands back, bound to a random value in the
//! browser's cookie (so a callback from another browser finds nothing),
//! taken once, forgotten after [`PENDING_FOR`], and at most
//! [`MAX_PENDING`] at once (the oldest give way).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Pending;
use crate::auth::same;

/// How long a browser may stay at the provider's pages.
pub const PENDING_FOR: Duration = Duration::from_secs(600);
/// Sign-ins kept waiting at once.
pub const MAX_PENDING: usize = 1000;

/// The waiting sign-ins.
#[derive(Debug, Default)]
pub struct PendingLogins {
    by_state: HashMap<String, (Pending, Instant, String)>,
}

impl PendingLogins {
    /// Keeps `pending`, bound to the browser's `binding`, from `now`.
    pub fn insert(&mut self, now: Instant, pending: Pending, binding: String) {
        self.by_state
            .retain(|_, (_, at, _)| now.duration_since(*at) < PENDING_FOR);
        while self.by_state.len() >= MAX_PENDING {
            let oldest = self
                .by_state
                .iter()
                .min_by_key(|(_, (_, at, _))| *at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.by_state.remove(&k),
                None => break,
            };
        }
        self.by_state
            .insert(pending.state.clone(), (pending, now, binding));
    }

    /// Takes the sign-in for `state` if it is live and `binding` is the
    /// one it was started with; whatever the answer, `state` is used up.
    pub fn take(&mut self, now: Instant, state: &str, binding: &str) -> Option<Pending> {
        let (pending, at, bound) = self.by_state.remove(state)?;
        (now.duration_since(at) < PENDING_FOR && same(&bound, binding)).then_some(pending)
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
        p.insert(t0, pending("s1"), "b1".into());
        p.insert(t0, pending("s2"), "b2".into());
        p.insert(t0, pending("s3"), "b3".into());
        assert!(p.take(t0, "s1", "b2").is_none(), "another browser");
        assert!(p.take(t0, "s1", "b1").is_none(), "used up by the wrong try");
        assert_eq!(p.take(t0, "s2", "b2").unwrap().state, "s2");
        assert!(p.take(t0, "s2", "b2").is_none(), "once");
        assert!(p.take(t0 + PENDING_FOR, "s3", "b3").is_none(), "too late");
        assert!(p.take(t0, "nope", "b1").is_none());
        assert!(p.is_empty());
    }

    #[test]
    fn the_oldest_give_way_past_the_cap() {
        let t0 = Instant::now();
        let mut p = PendingLogins::default();
        for i in 0..MAX_PENDING + 5 {
            let at = t0 + Duration::from_millis(i as u64);
            p.insert(at, pending(&format!("s{i}")), "b".into());
        }
        assert_eq!(p.len(), MAX_PENDING);
        let now = t0 + Duration::from_secs(1);
        assert!(p.take(now, "s0", "b").is_none());
        assert!(p.take(now, &format!("s{}", MAX_PENDING + 4), "b").is_some());
    }
}
