//! Which sessions may be resumed, and who is back: a pure table with time
//! passed in, so every path (first side back, second side back, a side
//! trying twice, a wrong secret, the window passing, a session ended on
//! purpose) is tested without sockets. [`crate::server`]'s resuming carries out
//! what it decides.
//!
//! A session becomes resumable when its host reports the hash of the
//! end-to-end resume secret. When a side's connection is lost (or the
//! relay stops) it is *parked*: both sides must come back with the secret
//! within the window; the viewer also with the token of the technician
//! who joined (its SHA-256, as the relay keeps it), so that a host, who
//! knows the secret too, cannot come back as the viewer. `H` is how the
//! first side back is reached by the
//! second; `S` stops a session that still looks live to the relay when a
//! side already came back (it noticed the loss first).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lifeline_proto::control::ResumeRefusal;

use crate::rules::bridge::Peer;

/// Where one resumable session stands.
#[derive(Debug)]
enum State<H, S> {
    /// Paired and forwarding; `stop` interrupts it.
    Live { stop: Option<S> },
    /// Waiting for both sides until `deadline`; `back` is the first one.
    Parked {
        deadline: Instant,
        back: Option<(Peer, H)>,
    },
    /// Over: a resume is refused with `why` (ended, or the window passed)
    /// until `until`, then the session is forgotten.
    Ended { until: Instant, why: ResumeRefusal },
}

#[derive(Debug)]
struct Entry<H, S> {
    hash: [u8; 32],
    /// The joining technician's token key: the only one a viewer may
    /// resume with.
    viewer: String,
    state: State<H, S>,
}

/// What an arriving side does next.
#[derive(Debug)]
pub enum Arrival<H, S> {
    /// Wait for the other side; `stop` (if any) interrupts the session the
    /// relay still thought live; `replaced` is this side's earlier attempt,
    /// to be closed.
    Wait {
        stop: Option<S>,
        replaced: Option<H>,
    },
    /// The other side is waiting: hand yourself over through `H`.
    Pair(H),
}

/// Every resumable session this relay knows.
#[derive(Debug)]
pub struct Resumes<H, S> {
    window: Duration,
    map: HashMap<String, Entry<H, S>>,
}

impl<H, S> Resumes<H, S> {
    /// Sides get `window` to come back after a loss.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            map: HashMap::new(),
        }
    }

    /// How long sides get to come back.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// A live session became resumable with this secret hash, for the
    /// viewer whose token key is `viewer`.
    pub fn ticket(&mut self, session: &str, hash: [u8; 32], viewer: &str, stop: S) {
        self.insert(session, hash, viewer, State::Live { stop: Some(stop) });
    }

    /// A session known from the data directory after a restart: parked
    /// until `now + window`.
    pub fn restore(&mut self, now: Instant, session: &str, hash: [u8; 32], viewer: &str) {
        let state = State::Parked {
            deadline: now + self.window,
            back: None,
        };
        self.insert(session, hash, viewer, state);
    }

    fn insert(&mut self, session: &str, hash: [u8; 32], viewer: &str, state: State<H, S>) {
        let viewer = viewer.to_owned();
        let entry = Entry {
            hash,
            viewer,
            state,
        };
        self.map.insert(session.to_owned(), entry);
    }

    /// Whether `session` can be resumed if its link breaks now.
    pub fn is_resumable(&self, session: &str) -> bool {
        matches!(
            self.map.get(session).map(|e| &e.state),
            Some(State::Live { .. } | State::Parked { .. })
        )
    }

    /// A live session lost a side: park it. False if it is not resumable
    /// (then it simply ends). Already parked (a side came back first): true.
    pub fn interrupt(&mut self, now: Instant, session: &str) -> bool {
        let window = self.window;
        match self.map.get_mut(session) {
            Some(e) => match e.state {
                State::Live { .. } => {
                    e.state = State::Parked {
                        deadline: now + window,
                        back: None,
                    };
                    true
                }
                State::Parked { .. } => true,
                State::Ended { .. } => false,
            },
            None => false,
        }
    }

    /// The session ended for good: later resumes are refused as ended.
    /// Returns the side that was waiting, if any, to be told.
    pub fn end(&mut self, now: Instant, session: &str) -> Option<H> {
        let e = self.map.get_mut(session)?;
        let until = now + self.window;
        let why = ResumeRefusal::Ended;
        match std::mem::replace(&mut e.state, State::Ended { until, why }) {
            State::Parked { back, .. } => back.map(|(_, h)| h),
            _ => None,
        }
    }

    /// A side came back with `hash` (of the secret it presented); a
    /// viewer with `token_key` (of the token it presented, if any).
    pub fn arrive(
        &mut self,
        now: Instant,
        session: &str,
        hash: &[u8; 32],
        (peer, token_key): (Peer, Option<&str>),
        handle: H,
    ) -> Result<Arrival<H, S>, ResumeRefusal> {
        let window = self.window;
        let e = self
            .map
            .get_mut(session)
            .ok_or(ResumeRefusal::UnknownSession)?;
        if &e.hash != hash {
            return Err(ResumeRefusal::WrongSecret);
        }
        if peer == Peer::Viewer && token_key != Some(e.viewer.as_str()) {
            return Err(ResumeRefusal::NotYours);
        }
        match &mut e.state {
            State::Ended { why, .. } => Err(*why),
            State::Parked { deadline, .. } if now >= *deadline => {
                let why = ResumeRefusal::WindowPassed;
                e.state = State::Ended {
                    until: now + window,
                    why,
                };
                Err(why)
            }
            State::Live { stop } => {
                let stop = stop.take();
                e.state = State::Parked {
                    deadline: now + window,
                    back: Some((peer, handle)),
                };
                Ok(Arrival::Wait {
                    stop,
                    replaced: None,
                })
            }
            State::Parked { back, .. } => match back.take() {
                Some((waiting, h)) if waiting != peer => {
                    e.state = State::Live { stop: None };
                    Ok(Arrival::Pair(h))
                }
                earlier => {
                    *back = Some((peer, handle));
                    Ok(Arrival::Wait {
                        stop: None,
                        replaced: earlier.map(|(_, h)| h),
                    })
                }
            },
        }
    }

    /// Why a side waiting for `session` was let go: the session ended or
    /// its window passed; `None` while it is still resumable (the side was
    /// replaced by a later attempt of its own).
    pub fn refusal(&self, session: &str) -> Option<ResumeRefusal> {
        match self.map.get(session).map(|e| &e.state) {
            Some(State::Ended { why, .. }) => Some(*why),
            None => Some(ResumeRefusal::UnknownSession),
            _ => None,
        }
    }

    /// A resumed session got its stopper (it was paired without one).
    pub fn resumed(&mut self, session: &str, stop: S) {
        if let Some(Entry {
            state: State::Live { stop: slot },
            ..
        }) = self.map.get_mut(session)
        {
            *slot = Some(stop);
        }
    }

    /// Time passed: parked sessions whose window is over end (returned,
    /// with the side that was waiting), tombstones past theirs are dropped.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Option<H>)> {
        let window = self.window;
        let mut over = Vec::new();
        self.map.retain(|id, e| match &mut e.state {
            State::Parked { deadline, back } if now >= *deadline => {
                over.push((id.clone(), back.take().map(|(_, h)| h)));
                e.state = State::Ended {
                    until: now + window,
                    why: ResumeRefusal::WindowPassed,
                };
                true
            }
            State::Ended { until, .. } => now < *until,
            _ => true,
        });
        over
    }

    /// Sessions parked right now.
    pub fn parked(&self) -> usize {
        self.map
            .values()
            .filter(|e| matches!(e.state, State::Parked { .. }))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(120);
    type T = Resumes<&'static str, &'static str>;

    fn key(p: Peer) -> Option<&'static str> {
        (p == Peer::Viewer).then_some("tk")
    }

    fn live(now: Instant) -> T {
        let mut r = T::new(W);
        r.ticket("s", [1; 32], "tk", "stop-1");
        assert!(r.interrupt(now, "s"));
        r
    }

    #[test]
    fn both_sides_back_pair_in_either_order() {
        let t = Instant::now();
        for (first, second) in [(Peer::Host, Peer::Viewer), (Peer::Viewer, Peer::Host)] {
            let mut r = live(t);
            assert_eq!(r.parked(), 1);
            let a = r
                .arrive(t, "s", &[1; 32], (first, key(first)), "first")
                .unwrap();
            assert!(matches!(
                a,
                Arrival::Wait {
                    stop: None,
                    replaced: None
                }
            ));
            let b = r
                .arrive(t, "s", &[1; 32], (second, key(second)), "second")
                .unwrap();
            assert!(matches!(b, Arrival::Pair("first")));
            assert_eq!(r.parked(), 0);
            assert!(r.is_resumable("s"), "it may break and resume again");
        }
    }

    #[test]
    fn a_side_trying_again_replaces_its_earlier_attempt() {
        let t = Instant::now();
        let mut r = live(t);
        r.arrive(t, "s", &[1; 32], (Peer::Host, None), "h1")
            .unwrap();
        let again = r
            .arrive(t, "s", &[1; 32], (Peer::Host, None), "h2")
            .unwrap();
        assert!(matches!(
            again,
            Arrival::Wait {
                replaced: Some("h1"),
                ..
            }
        ));
        let v = r
            .arrive(t, "s", &[1; 32], (Peer::Viewer, Some("tk")), "v")
            .unwrap();
        assert!(matches!(v, Arrival::Pair("h2")));
    }

    #[test]
    fn a_side_back_before_the_relay_noticed_stops_the_live_session() {
        let t = Instant::now();
        let mut r = T::new(W);
        r.ticket("s", [1; 32], "tk", "stop-1");
        let a = r
            .arrive(t, "s", &[1; 32], (Peer::Viewer, Some("tk")), "v")
            .unwrap();
        assert!(matches!(
            a,
            Arrival::Wait {
                stop: Some("stop-1"),
                ..
            }
        ));
        // The stopped session's task then parks it: the waiting side stays.
        assert!(r.interrupt(t, "s"));
        let h = r.arrive(t, "s", &[1; 32], (Peer::Host, None), "h").unwrap();
        assert!(matches!(h, Arrival::Pair("v")));
    }

    #[test]
    fn wrong_secret_unknown_ended_and_late_are_refused() {
        let t = Instant::now();
        let mut r = live(t);
        let wrong = r.arrive(t, "s", &[2; 32], (Peer::Host, None), "h");
        assert_eq!(wrong.unwrap_err(), ResumeRefusal::WrongSecret);
        let unknown = r.arrive(t, "x", &[1; 32], (Peer::Host, None), "h");
        assert_eq!(unknown.unwrap_err(), ResumeRefusal::UnknownSession);
        let late = r.arrive(t + W, "s", &[1; 32], (Peer::Host, None), "h");
        assert_eq!(late.unwrap_err(), ResumeRefusal::WindowPassed);
        let again = r.arrive(t + W, "s", &[1; 32], (Peer::Host, None), "h");
        assert_eq!(again.unwrap_err(), ResumeRefusal::WindowPassed);
        assert_eq!(r.refusal("s"), Some(ResumeRefusal::WindowPassed));

        let mut r = live(t);
        r.arrive(t, "s", &[1; 32], (Peer::Host, None), "h").unwrap();
        assert_eq!(r.refusal("s"), None, "still waiting");
        assert_eq!(r.end(t, "s"), Some("h"), "the waiting side is told");
        assert_eq!(r.refusal("s"), Some(ResumeRefusal::Ended));
        let ended = r.arrive(t, "s", &[1; 32], (Peer::Viewer, Some("tk")), "v");
        assert_eq!(ended.unwrap_err(), ResumeRefusal::Ended);
        assert!(!r.interrupt(t, "s"), "an ended session does not park");
    }

    #[test]
    fn the_window_passing_ends_parked_sessions_then_forgets_them() {
        let t = Instant::now();
        let mut r = live(t);
        r.arrive(t, "s", &[1; 32], (Peer::Host, None), "h").unwrap();
        assert!(r.expire(t + W - Duration::from_secs(1)).is_empty());
        assert_eq!(r.expire(t + W), vec![("s".to_owned(), Some("h"))]);
        assert!(r.expire(t + W).is_empty(), "ended only once");
        assert!(!r.is_resumable("s"));
        r.expire(t + W * 2);
        let gone = r.arrive(t + W * 2, "s", &[1; 32], (Peer::Host, None), "h");
        assert_eq!(gone.unwrap_err(), ResumeRefusal::UnknownSession);
    }

    #[test]
    fn restored_sessions_wait_a_whole_window_from_the_restart() {
        let t = Instant::now();
        let mut r = T::new(W);
        r.restore(t, "s", [1; 32], "tk");
        assert_eq!(r.parked(), 1);
        assert!(r.expire(t + W - Duration::from_millis(1)).is_empty());
        assert_eq!(r.expire(t + W).len(), 1);
    }

    #[test]
    fn a_viewer_resumes_only_with_the_token_that_joined() {
        let t = Instant::now();
        let mut r = live(t);
        // The host knows the secret: as the "viewer" it is refused without
        // a token or with another technician's.
        for other in [None, Some("someone else")] {
            let fake = r.arrive(t, "s", &[1; 32], (Peer::Viewer, other), "fake");
            assert_eq!(fake.unwrap_err(), ResumeRefusal::NotYours);
        }
        assert_eq!(r.refusal("s"), None, "the session still waits");
        r.arrive(t, "s", &[1; 32], (Peer::Host, None), "h").unwrap();
        let v = r.arrive(t, "s", &[1; 32], (Peer::Viewer, Some("tk")), "v");
        assert!(matches!(v.unwrap(), Arrival::Pair("h")));
    }
}
