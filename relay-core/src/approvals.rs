//! Device sessions waiting for a second person's approval: a device of a
//! group enrolled with `--approval` is called only once a console user
//! with the `approver` role approved the technician's request. A request
//! waits at most the relay's approval time (`serve --approval-within`,
//! 5 minutes), then lapses as refused. The relay keeps them in memory
//! only: a restart drops them, and the technician asks again.
//!
//! The approval is the relay's check, on top of the device's own (the
//! organisation's certificate, which the relay cannot make): a relay
//! taken over can skip it, never forge the rest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::sync::oneshot;

/// One request, as an approver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The relay's session id it would start.
    pub session: String,
    pub device: String,
    pub group: String,
    pub technician: String,
    pub reason: String,
    /// When it was asked (RFC 3339).
    pub asked: String,
    /// When it lapses.
    pub until: SystemTime,
}

/// An approver's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub by: String,
    pub approved: bool,
}

/// Why a decision was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("no such request: it was decided already, lapsed, or the technician gave up")]
    Gone,
}

#[derive(Debug)]
struct Waiting {
    request: Request,
    answer: oneshot::Sender<Decision>,
}

/// The requests waiting now, shared by the relay and its console.
#[derive(Debug, Default)]
pub struct Approvals {
    waiting: Mutex<HashMap<String, Waiting>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Approvals {
    /// Files `request`; its decision arrives on the receiver (closed when
    /// the request is withdrawn).
    pub fn ask(&self, request: Request) -> oneshot::Receiver<Decision> {
        let (answer, decided) = oneshot::channel();
        let session = request.session.clone();
        lock(&self.waiting).insert(session, Waiting { request, answer });
        decided
    }

    /// Withdraws the request for `session` (lapsed, or the technician
    /// left).
    pub fn withdraw(&self, session: &str) {
        lock(&self.waiting).remove(session);
    }

    /// The requests waiting, oldest first.
    pub fn list(&self) -> Vec<Request> {
        let mut all: Vec<Request> = lock(&self.waiting)
            .values()
            .map(|w| w.request.clone())
            .collect();
        all.sort_by(|a, b| a.asked.cmp(&b.asked));
        all
    }

    /// Decides the request for `session`: the request decided, or why not.
    pub fn decide(&self, session: &str, decision: Decision) -> Result<Request, DecideError> {
        let waiting = lock(&self.waiting)
            .remove(session)
            .ok_or(DecideError::Gone)?;
        waiting
            .answer
            .send(decision)
            .map_err(|_| DecideError::Gone)?;
        Ok(waiting.request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(session: &str) -> Request {
        Request {
            session: session.into(),
            device: "desk".into(),
            group: "lab".into(),
            technician: "ann".into(),
            reason: "INC-1".into(),
            asked: format!("2026-12-06T00:00:0{session}Z"),
            until: SystemTime::now(),
        }
    }

    #[test]
    fn a_request_is_decided_once_and_withdrawn_ones_are_gone() {
        let a = Approvals::default();
        let mut first = a.ask(request("1"));
        let _second = a.ask(request("2"));
        assert_eq!(
            a.list()
                .iter()
                .map(|r| r.session.as_str())
                .collect::<Vec<_>>(),
            ["1", "2"]
        );
        let yes = Decision {
            by: "carol".into(),
            approved: true,
        };
        assert_eq!(a.decide("1", yes.clone()).unwrap().technician, "ann");
        assert_eq!(first.try_recv().unwrap(), yes);
        assert_eq!(a.decide("1", yes.clone()), Err(DecideError::Gone));
        a.withdraw("2");
        assert_eq!(a.decide("2", yes), Err(DecideError::Gone));
        assert!(a.list().is_empty());
    }

    #[test]
    fn a_request_whose_technician_left_cannot_be_approved() {
        let a = Approvals::default();
        drop(a.ask(request("3")));
        let no = Decision {
            by: "carol".into(),
            approved: false,
        };
        assert_eq!(a.decide("3", no), Err(DecideError::Gone));
    }
}
