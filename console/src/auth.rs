//! Who is logged in to the console, sans-IO: sessions behind random
//! cookie ids, each with its own CSRF token, idle and absolute expiry.
//! Time is passed in, so expiry is tested without sleeping.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::Rng;

use super::users::{ConsoleUser, Role};

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: Role,
    /// Every form carries it; a post without it is refused.
    pub csrf: String,
    /// Still on the one-time password: only the password page is open.
    pub must_change: bool,
    /// The password hash this login was checked against: once the
    /// account's differs (reset, changed elsewhere) the session ends.
    pub password: String,
    /// Signed in with the identity provider: who it said (no local
    /// account or password behind the session).
    pub identity: Option<lifeline_proto::login::Identity>,
    created: Instant,
    seen: Instant,
}

/// The live sessions.
#[derive(Debug)]
pub struct Sessions {
    live: HashMap<String, Session>,
    idle: Duration,
    max_age: Duration,
}

/// 32 random bytes, hex: cookie ids and CSRF tokens.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill(&mut b);
    hex::encode(b)
}

/// Compares secrets without an early exit on the first differing byte.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    /// Sessions end after `idle` without a request, or `max_age` after login.
    pub fn new(idle: Duration, max_age: Duration) -> Self {
        Self {
            live: HashMap::new(),
            idle,
            max_age,
        }
    }

    /// Starts a session; returns its cookie id.
    pub fn open(&mut self, now: Instant, user: &ConsoleUser) -> String {
        self.insert(now, |csrf| Session {
            user: user.name.clone(),
            role: user.role,
            csrf,
            must_change: user.must_change,
            password: user.password.clone(),
            identity: None,
            created: now,
            seen: now,
        })
    }

    /// Starts a session for someone the identity provider vouched for,
    /// shown as `name`, with the `role` their groups give; returns its
    /// cookie id.
    pub fn open_signed_in(
        &mut self,
        now: Instant,
        name: &str,
        role: Role,
        identity: lifeline_proto::login::Identity,
    ) -> String {
        self.insert(now, |csrf| Session {
            user: name.to_owned(),
            role,
            csrf,
            must_change: false,
            password: String::new(),
            identity: Some(identity),
            created: now,
            seen: now,
        })
    }

    /// Forgets the sessions that ended by `now`, then keeps the one
    /// `session` makes with a fresh CSRF token; returns its cookie id.
    fn insert(&mut self, now: Instant, session: impl FnOnce(String) -> Session) -> String {
        self.live.retain(|_, s| {
            now.duration_since(s.seen) < self.idle && now.duration_since(s.created) < self.max_age
        });
        let id = random_token();
        self.live.insert(id.clone(), session(random_token()));
        id
    }

    /// The session behind a cookie id, if it is still live (and marks it used).
    pub fn get(&mut self, now: Instant, id: &str) -> Option<Session> {
        let s = self.live.get_mut(id)?;
        if now.duration_since(s.seen) >= self.idle || now.duration_since(s.created) >= self.max_age
        {
            self.live.remove(id);
            return None;
        }
        s.seen = now;
        Some(s.clone())
    }

    /// Logs a browser out.
    pub fn close(&mut self, id: &str) {
        self.live.remove(id);
    }

    /// The user chose their own password (now `hash`) in this session: the
    /// rest of the console opens, and their other sessions end.
    pub fn password_changed(&mut self, id: &str, hash: &str) {
        let Some(mut s) = self.live.remove(id) else {
            return;
        };
        self.end_user(&s.user);
        s.must_change = false;
        s.password = hash.to_owned();
        self.live.insert(id.to_owned(), s);
    }

    /// Ends every session of `user` (removed, or password reset).
    pub fn end_user(&mut self, user: &str) {
        self.live.retain(|_, s| s.user != user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, role: Role, must_change: bool) -> ConsoleUser {
        ConsoleUser {
            name: name.into(),
            role,
            password: "hash".into(),
            must_change,
            totp: None,
            created: "t".into(),
        }
    }

    #[test]
    fn sessions_expire_when_idle_or_old() {
        let t0 = Instant::now();
        let min = Duration::from_secs(60);
        let mut s = Sessions::new(30 * min, 12 * 60 * min);
        let id = s.open(t0, &user("ann", Role::Admin, false));
        assert_eq!(s.get(t0 + 29 * min, &id).unwrap().user, "ann");
        // Used at 29 min: idle counts from then.
        assert!(s.get(t0 + 58 * min, &id).is_some());
        assert!(s.get(t0 + 89 * min, &id).is_none(), "idle for 31 min");
        let id = s.open(t0, &user("ann", Role::Admin, false));
        for m in (0..12 * 60).step_by(20) {
            assert!(s.get(t0 + m * min, &id).is_some());
        }
        assert!(s.get(t0 + 12 * 60 * min, &id).is_none(), "12 h after login");
        assert!(s.get(t0, "not-an-id").is_none());
    }

    #[test]
    fn each_session_has_its_own_csrf_token_and_logout_ends_it() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Duration::from_secs(60), Duration::from_secs(600));
        let a = s.open(t0, &user("ann", Role::Auditor, true));
        let a2 = s.open(t0, &user("ann", Role::Auditor, true));
        let b = s.open(t0, &user("bob", Role::Admin, false));
        let (sa, sb) = (s.get(t0, &a).unwrap(), s.get(t0, &b).unwrap());
        assert_ne!(sa.csrf, sb.csrf);
        assert_eq!(sa.csrf.len(), 64);
        assert!(sa.must_change);
        s.password_changed(&a, "new hash");
        let sa = s.get(t0, &a).unwrap();
        assert!(!sa.must_change);
        assert_eq!(sa.password, "new hash");
        assert!(s.get(t0, &a2).is_none(), "the user's other session ended");
        s.close(&a);
        assert!(s.get(t0, &a).is_none());
        s.end_user("bob");
        assert!(s.get(t0, &b).is_none());
    }

    #[test]
    fn signed_in_sessions_carry_their_identity_and_expire_alike() {
        let t0 = Instant::now();
        let min = Duration::from_secs(60);
        let mut s = Sessions::new(30 * min, 12 * 60 * min);
        let who = lifeline_proto::login::Identity {
            issuer: "https://idp".into(),
            subject: "u1".into(),
        };
        let id = s.open_signed_in(t0, "ann@example.com", Role::Auditor, who.clone());
        let got = s.get(t0, &id).unwrap();
        assert_eq!(
            (got.user.as_str(), got.role),
            ("ann@example.com", Role::Auditor)
        );
        assert_eq!(got.identity, Some(who));
        assert!(!got.must_change);
        assert!(s.get(t0 + 31 * min, &id).is_none());
    }

    #[test]
    fn same_compares_whole_strings() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("", "a"));
    }
}
