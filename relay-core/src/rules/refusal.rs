//! Why the relay closes a connection: one enum whose every variant knows
//! its [`CloseCode`] and its sentence, mapped here and nowhere else (as
//! rustls maps its errors to TLS alerts in one place). The async code
//! builds a [`Refusal`] and hands it to one `close`; the words and codes
//! on the wire are the ones peers and tests have always seen.

use std::borrow::Cow;

use lifeline_proto::control::CloseCode;

use super::addresses::Limit;

/// Why a connection is closed, with what the peer is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The first message was not a Lifeline hello (the decoder's words).
    NotHello(String),
    /// The peer broke protocol (what it did wrong, in the peer's terms).
    Protocol(String),
    /// The peer speaks another protocol version than this relay.
    Version { relay: u16, client: u16 },
    /// The peer said nothing in time; the sentence names what was due
    /// ("no hello in time").
    Timeout(&'static str),
    /// A capacity limit, a draining relay or an unreachable database
    /// (the sentence as the limit words it).
    Busy(String),
    /// The audit log cannot be written (its error); nothing is done
    /// unaudited.
    AuditFailed(String),
    /// A join or resume was refused (the refusal's words).
    Refused(String),
    /// The other side went away without a word (what happened to it).
    PeerGone(String),
    /// The session ended normally (who ended it, or why).
    Ended(String),
    /// The peer's address holds as many connections, or waiting hosts,
    /// as the relay allows one address (`cap`).
    TooMany { limit: Limit, cap: usize },
    /// The relay is shutting down.
    Shutdown,
    /// The relay is shutting down, in other words than the usual ones.
    ShutdownSaying(String),
    /// The other side's connection was lost: reconnect and resume (why).
    Reconnect(String),
}

impl Refusal {
    /// Every kind of refusal, with a sample sentence (for tests and docs).
    pub fn samples() -> Vec<Refusal> {
        vec![
            Refusal::NotHello("bad frame".into()),
            Refusal::Protocol("malformed message".into()),
            Refusal::Version {
                relay: 2,
                client: 1,
            },
            Refusal::Timeout("no hello in time"),
            Refusal::Busy("this relay is draining too".into()),
            Refusal::AuditFailed("disk full".into()),
            Refusal::Refused("unknown code".into()),
            Refusal::PeerGone("the host disconnected".into()),
            Refusal::Ended("ended by the user".into()),
            Refusal::Shutdown,
            Refusal::TooMany {
                limit: Limit::Connections,
                cap: 4,
            },
            Refusal::TooMany {
                limit: Limit::WaitingHosts,
                cap: 2,
            },
            Refusal::ShutdownSaying("relay stopping".into()),
            Refusal::Reconnect("reconnect again".into()),
        ]
    }

    /// The close code the peer sees.
    pub fn code(&self) -> CloseCode {
        match self {
            Refusal::NotHello(_) | Refusal::Protocol(_) => CloseCode::ProtocolError,
            Refusal::Version { .. } => CloseCode::Version,
            Refusal::Timeout(_) => CloseCode::Timeout,
            Refusal::Busy(_) | Refusal::TooMany { .. } => CloseCode::Busy,
            Refusal::AuditFailed(_) => CloseCode::AuditFailed,
            Refusal::Refused(_) => CloseCode::Refused,
            Refusal::PeerGone(_) => CloseCode::PeerGone,
            Refusal::Ended(_) => CloseCode::Ended,
            Refusal::Shutdown | Refusal::ShutdownSaying(_) => CloseCode::Shutdown,
            Refusal::Reconnect(_) => CloseCode::Reconnect,
        }
    }

    /// The sentence the peer is told (the close reason).
    pub fn sentence(&self) -> Cow<'_, str> {
        match self {
            Refusal::NotHello(why) => format!("expected a Lifeline hello: {why}").into(),
            Refusal::Version { relay, client } => format!(
                "this relay speaks Lifeline protocol {relay}, the client {client}: update the older one"
            )
            .into(),
            Refusal::Timeout(what) => Cow::Borrowed(what),
            Refusal::AuditFailed(e) => format!("relay cannot write its audit log: {e}").into(),
            Refusal::Shutdown => Cow::Borrowed("relay shutting down"),
            Refusal::TooMany {
                limit: Limit::Connections,
                cap,
            } => format!(
                "too many connections from your address (this relay allows {cap}); try again later"
            )
            .into(),
            Refusal::TooMany {
                limit: Limit::WaitingHosts,
                cap,
            } => format!(
                "too many computers at your address are waiting for a technician \
                 (this relay allows {cap}); try again when one has been helped"
            )
            .into(),
            Refusal::Protocol(s)
            | Refusal::Busy(s)
            | Refusal::Refused(s)
            | Refusal::PeerGone(s)
            | Refusal::Ended(s)
            | Refusal::ShutdownSaying(s)
            | Refusal::Reconnect(s) => Cow::Borrowed(s),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sentence())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_code_and_a_sentence() {
        for r in Refusal::samples() {
            assert!(!r.sentence().trim().is_empty(), "{r:?} says nothing");
            assert!(CloseCode::from_u32(r.code() as u32).is_some(), "{r:?}");
        }
    }

    #[test]
    fn the_codes_are_the_ones_peers_have_always_seen() {
        let codes: Vec<(CloseCode, u32)> = Refusal::samples()
            .iter()
            .map(|r| (r.code(), r.code() as u32))
            .collect();
        assert_eq!(
            codes,
            [
                (CloseCode::ProtocolError, 1),
                (CloseCode::ProtocolError, 1),
                (CloseCode::Version, 2),
                (CloseCode::Timeout, 8),
                (CloseCode::Busy, 6),
                (CloseCode::AuditFailed, 7),
                (CloseCode::Refused, 3),
                (CloseCode::PeerGone, 4),
                (CloseCode::Ended, 0),
                (CloseCode::Shutdown, 5),
                (CloseCode::Busy, 6),
                (CloseCode::Busy, 6),
                (CloseCode::Shutdown, 5),
                (CloseCode::Reconnect, 9),
            ]
        );
    }

    #[test]
    fn the_sentences_are_the_ones_peers_have_always_seen() {
        assert_eq!(
            Refusal::NotHello("eof".into()).sentence(),
            "expected a Lifeline hello: eof"
        );
        assert_eq!(
            Refusal::Version {
                relay: 3,
                client: 2
            }
            .sentence(),
            "this relay speaks Lifeline protocol 3, the client 2: update the older one"
        );
        assert_eq!(
            Refusal::AuditFailed("disk full".into()).sentence(),
            "relay cannot write its audit log: disk full"
        );
        assert_eq!(Refusal::Shutdown.sentence(), "relay shutting down");
        assert_eq!(
            Refusal::Timeout("no request in time").to_string(),
            "no request in time"
        );
        assert_eq!(Refusal::Busy("full".into()).to_string(), "full");
        assert_eq!(
            Refusal::TooMany {
                limit: Limit::Connections,
                cap: 4
            }
            .sentence(),
            "too many connections from your address (this relay allows 4); try again later"
        );
        assert_eq!(
            Refusal::TooMany {
                limit: Limit::WaitingHosts,
                cap: 2
            }
            .sentence(),
            "too many computers at your address are waiting for a technician \
             (this relay allows 2); try again when one has been helped"
        );
    }
}
