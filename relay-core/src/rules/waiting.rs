//! What a waiting host's task does when something happens before a
//! technician joins: a pure decision, so that every path (renew, expiry,
//! a host that breaks protocol or leaves, shutdown) is tested without
//! sockets, and the async task in [`crate::server`] only carries it out.

use crate::rules::refusal::Refusal;
use crate::rules::registry::Gone;

/// Something that happened while a host waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEvent {
    /// The host asked for a fresh code.
    Renew,
    /// The host sent a well-formed message that makes no sense now.
    Unexpected,
    /// The host sent bytes that are not a message.
    Malformed,
    /// The host's control stream ended.
    Left,
    /// The code's time ran out.
    Expired,
    /// The relay is shutting down.
    Shutdown,
}

/// What to do after retiring the live code (if there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// Issue a fresh code and keep waiting.
    Reissue,
    /// Tell the host its code expired; it may ask for another.
    TellExpired,
    /// Close the host's connection, saying why.
    Close(Refusal),
    /// The host is gone: stop, nobody to tell.
    Leave,
}

/// The decision: retire the live code (why, and the audit log's words),
/// then [`Then`]. A viewer that took the code meanwhile wins the race and
/// the session starts instead; the caller checks that when retiring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub retire: (Gone, &'static str),
    pub then: Then,
}

/// Decides what a waiting host's task does on `event`.
pub fn on(event: WaitEvent) -> Step {
    let (retire, then) = match event {
        WaitEvent::Renew => ((Gone::Withdrawn, "renewed by the host"), Then::Reissue),
        WaitEvent::Unexpected => (
            (Gone::Withdrawn, "host broke protocol"),
            Then::Close(Refusal::Protocol("unexpected message while waiting".into())),
        ),
        WaitEvent::Malformed => (
            (Gone::Withdrawn, "host broke protocol"),
            Then::Close(Refusal::Protocol("malformed message".into())),
        ),
        WaitEvent::Left => ((Gone::Withdrawn, "host left"), Then::Leave),
        WaitEvent::Expired => ((Gone::Expired, "expired unused"), Then::TellExpired),
        WaitEvent::Shutdown => (
            (Gone::Withdrawn, "relay shutting down"),
            Then::Close(Refusal::Shutdown),
        ),
    };
    Step { retire, then }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_retires_the_code_and_says_what_next() {
        assert_eq!(on(WaitEvent::Renew).then, Then::Reissue);
        assert_eq!(on(WaitEvent::Expired).retire.0, Gone::Expired);
        assert_eq!(on(WaitEvent::Expired).then, Then::TellExpired);
        assert_eq!(on(WaitEvent::Left).then, Then::Leave);
        for bad in [WaitEvent::Unexpected, WaitEvent::Malformed] {
            let step = on(bad);
            assert_eq!(step.retire, (Gone::Withdrawn, "host broke protocol"));
            assert!(matches!(step.then, Then::Close(Refusal::Protocol(_))));
        }
        assert_eq!(on(WaitEvent::Shutdown).then, Then::Close(Refusal::Shutdown));
    }
}
