//! What a waiting host's task does when something happens before a
//! technician joins: a pure decision, so that every path (renew, expiry,
//! a host that breaks protocol or leaves, shutdown) is tested without
//! sockets, and the async task in [`crate::server`] only carries it out.

use std::time::Duration;

use crate::rules::refusal::Refusal;
use crate::rules::registry::Gone;

/// New codes one connection may ask for at once …
pub const RENEW_BURST: u32 = 5;
/// … then one per this (each costs two durable audit records and a
/// locator reserved for an hour) …
pub const RENEW_DRAIN: Duration = Duration::from_secs(10);
/// … and this many more are answered late, one per [`RENEW_DRAIN`];
/// past them the connection is closed.
pub const RENEW_QUEUE: u32 = 3;
/// New codes the hosts of one address may ask for at once …
pub const RENEW_BURST_PER_ADDRESS: u32 = 20;
/// … then one per this, …
pub const RENEW_DRAIN_PER_ADDRESS: Duration = Duration::from_secs(3);
/// … this many more answered late.
pub const RENEW_QUEUE_PER_ADDRESS: u32 = 20;

/// When a host's request for a new code is answered: `Ok(wait)` (zero
/// within the allowance), or `Err` (the connection is closed, saying so).
/// `conn` and `addr` are what the connection's and the address's
/// allowances said (`Err(wait)` when their queue is full).
pub fn renew_pace(
    conn: Result<Duration, Duration>,
    addr: Result<Duration, Duration>,
) -> Result<Duration, Refusal> {
    match (conn, addr) {
        (Ok(a), Ok(b)) => Ok(a.max(b)),
        (Err(wait), _) | (_, Err(wait)) => Err(Refusal::Busy(format!(
            "too many new codes asked for; wait {} s and ask again",
            wait.as_secs() + 1
        ))),
    }
}

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
    fn renewals_are_slowed_then_refused() {
        let s = Duration::from_secs;
        assert_eq!(renew_pace(Ok(s(0)), Ok(s(0))), Ok(s(0)));
        assert_eq!(renew_pace(Ok(s(10)), Ok(s(3))), Ok(s(10)));
        let refused = renew_pace(Ok(s(0)), Err(s(7))).unwrap_err();
        assert_eq!(refused.code(), lifeline_proto::control::CloseCode::Busy);
        assert_eq!(
            refused.sentence(),
            "too many new codes asked for; wait 8 s and ask again"
        );
        assert!(renew_pace(Err(s(1)), Ok(s(0))).is_err());
    }

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
