//! What the relay does with what a paired peer says on its control stream,
//! and how a session's end is worded: pure decisions, so the bridging
//! task in [`crate::server`] only forwards, files and closes. Sans-IO:
//! a closed connection arrives as [`Closed`], which the async edge makes
//! from quinn's error, so nothing here names the transport.

use lifeline_proto::control::{CloseCode, Role, SessionReport, clean_text};

use crate::rules::refusal::Refusal;

/// How a connection ended, as far as the session's words need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// The peer (or the relay carrying it) closed it on purpose, with this
    /// application close code and reason.
    ByPeer { code: u64, reason: Vec<u8> },
    /// It went silent (idle timeout).
    TimedOut,
    /// Lost any other way.
    Lost,
}

/// A closed connection: how it ended, and the transport's own words for
/// it (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub how: Closed,
    pub text: String,
}

/// One side of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Host,
    Viewer,
}

impl From<Role> for Peer {
    fn from(role: Role) -> Self {
        match role {
            Role::Host => Peer::Host,
            Role::Viewer => Peer::Viewer,
        }
    }
}

impl From<Peer> for Role {
    fn from(peer: Peer) -> Self {
        match peer {
            Peer::Host => Role::Host,
            Peer::Viewer => Role::Viewer,
        }
    }
}

impl Peer {
    /// `host` or `viewer`, as the audit log says it.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Host => "host",
            Peer::Viewer => "viewer",
        }
    }

    /// The other side.
    pub fn other(self) -> Peer {
        match self {
            Peer::Host => Peer::Viewer,
            Peer::Viewer => Peer::Host,
        }
    }
}

/// What arrived on a peer's control stream during a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Report(SessionReport),
    /// A piece of the session's recording (the host's only).
    Record(Vec<u8>),
    /// A message that has no place in a session, or bytes that are none.
    Unexpected,
    /// The stream ended (the connection may live on).
    Ended,
}

/// What the bridge does about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// File the report for the audit log and go on.
    File(SessionReport),
    /// Store the recording's next chunk and go on.
    Record(Vec<u8>),
    /// The peer is ending the session on purpose: both sides are closed
    /// with `tell`; the audit log's end record says `reason`.
    End { tell: String, reason: String },
    /// The peer broke protocol: it is closed with a protocol error, the
    /// other side hears `tell`, the audit log says `reason`.
    BrokeProtocol { tell: String, reason: String },
    /// Stop listening to this stream.
    Quiet,
}

/// Decides what to do with what `peer` said.
pub fn on_control(peer: Peer, heard: Heard) -> Step {
    let side = peer.name();
    match heard {
        Heard::Report(SessionReport::Ending { reason }) => {
            let said = clean_text(&reason);
            let tell = if said.is_empty() {
                format!("the {side} ended the session")
            } else {
                said
            };
            Step::End {
                reason: format!("{side}: {tell}"),
                tell,
            }
        }
        Heard::Report(r) => Step::File(r),
        Heard::Record(chunk) => Step::Record(chunk),
        Heard::Unexpected => Step::BrokeProtocol {
            tell: format!("the {side} broke protocol"),
            reason: format!("{side} broke protocol"),
        },
        Heard::Ended => Step::Quiet,
    }
}

/// What one session may make the relay keep, whatever its peers send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Recording bytes stored for one session (default 4 GiB).
    pub recording_bytes: u64,
    /// Recording chunks stored for one session (default 262,144: three
    /// days at the host's one a second).
    pub recording_chunks: u64,
    /// Audit records one session's peer reports may add, both sides
    /// together (default 10,000).
    pub reports: u64,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            recording_bytes: 4 << 30,
            recording_chunks: 1 << 18,
            reports: 10_000,
        }
    }
}

/// Which of a session's caps a peer went past; its words end the session
/// (or, for an optional recording, the recording).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("the host's recording passed the relay's limit of {0} bytes for a session")]
    RecordingBytes(u64),
    #[error("the host's recording passed the relay's limit of {0} chunks for a session")]
    RecordingChunks(u64),
    #[error("the {side} sent more reports than the relay keeps for a session ({limit})")]
    Reports { side: &'static str, limit: u64 },
}

/// What a session's peers have made the relay keep so far, and what it
/// has heard of the key exchange: outlives the connections of one stretch
/// of forwarding.
#[derive(Debug, Default)]
pub struct Ledger {
    reports: u64,
    /// The host handed in its resume ticket, which it does only once the
    /// viewer's key confirmation opened: no wrong secret can come after.
    confirmed: bool,
    /// A wrong secret was counted against the technician already.
    mismatch_counted: bool,
    /// Each side's wrong-secret report was filed already (host, viewer).
    mismatch_filed: [bool; 2],
}

/// What to do with a `SecretMismatch` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// File it in the audit log.
    pub file: bool,
    /// Count it as a failed join against the technician's token and IP.
    pub count: bool,
}

impl Ledger {
    /// A session the relay knows only from its resume ticket (after a
    /// restart): the key exchange is behind it.
    pub fn confirmed() -> Self {
        Self {
            confirmed: true,
            ..Self::default()
        }
    }

    /// The key exchange succeeded (the host's resume ticket came).
    pub fn confirm(&mut self) {
        self.confirmed = true;
    }

    /// A side reported a wrong secret. Only the host's first report before
    /// key confirmation counts against the technician (a hostile host could
    /// otherwise lock the technician out with a flood of them); each side's
    /// first is filed, later ones are dropped.
    pub fn mismatch(&mut self, peer: Peer) -> Mismatch {
        let slot = &mut self.mismatch_filed[usize::from(peer == Peer::Viewer)];
        let file = !std::mem::replace(slot, true) && !self.confirmed;
        let count = file && peer == Peer::Host && !self.mismatch_counted;
        self.mismatch_counted |= count;
        Mismatch { file, count }
    }

    /// One more report to file from `peer`; `Err` past the cap.
    pub fn report(&mut self, caps: &Caps, peer: Peer) -> Result<(), Exceeded> {
        if self.reports >= caps.reports {
            return Err(Exceeded::Reports {
                side: peer.name(),
                limit: caps.reports,
            });
        }
        self.reports += 1;
        Ok(())
    }
}

/// Whether a recording that holds `written` (chunks, bytes) may take a
/// chunk of `len` bytes.
pub fn recording_fits(caps: &Caps, written: (u64, u64), len: usize) -> Result<(), Exceeded> {
    let (chunks, bytes) = written;
    if chunks >= caps.recording_chunks {
        return Err(Exceeded::RecordingChunks(caps.recording_chunks));
    }
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    if bytes.saturating_add(len) > caps.recording_bytes {
        return Err(Exceeded::RecordingBytes(caps.recording_bytes));
    }
    Ok(())
}

/// How `peer`'s connection ended: what the other side is told (its close
/// code and words), and the audit log's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gone {
    pub tell: Refusal,
    pub reason: String,
    /// The session waits for both sides to resume instead of ending.
    pub park: bool,
}

/// Words for a connection that ended under the session. A link lost
/// without a word (not closed on purpose) parks a `resumable` session:
/// the other side is asked to reconnect too.
pub fn on_closed(peer: Peer, err: &Ending, resumable: bool) -> Gone {
    let side = peer.name();
    let text = &err.text;
    // Closed on purpose, unless with `Reconnect`: what the relay carrying
    // a side from another relay of the cluster says when that side's own
    // connection was lost.
    let on_purpose = matches!(&err.how, Closed::ByPeer { code, .. }
        if *code != CloseCode::Reconnect as u64);
    if resumable && !on_purpose {
        return Gone {
            tell: Refusal::Reconnect(format!("the {side}'s connection was lost; reconnecting…")),
            reason: format!("{side} connection lost: {text}"),
            park: true,
        };
    }
    match &err.how {
        Closed::ByPeer { reason, .. } => {
            let said = clean_text(&String::from_utf8_lossy(reason));
            let tell = if said.is_empty() {
                format!("the {side} disconnected")
            } else {
                said
            };
            Gone {
                reason: format!("{side}: {tell}"),
                tell: Refusal::Ended(tell),
                park: false,
            }
        }
        Closed::TimedOut => Gone {
            tell: Refusal::PeerGone(format!("the {side} vanished (its connection went silent)")),
            reason: format!("{side} vanished (no answer)"),
            park: false,
        },
        Closed::Lost => Gone {
            tell: Refusal::PeerGone(format!("the {side}'s connection was lost")),
            reason: format!("{side} connection lost: {text}"),
            park: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use lifeline_proto::control::Mode;

    use super::*;

    fn timed_out() -> Ending {
        Ending {
            how: Closed::TimedOut,
            text: "timed out".into(),
        }
    }

    fn lost() -> Ending {
        Ending {
            how: Closed::Lost,
            text: "closed".into(),
        }
    }

    fn by_peer(code: u64, reason: &[u8]) -> Ending {
        Ending {
            how: Closed::ByPeer {
                code,
                reason: reason.to_vec(),
            },
            text: format!("closed by peer: {code}"),
        }
    }

    #[test]
    fn reports_are_filed_and_an_ending_ends_with_its_words() {
        let granted = SessionReport::ModeGranted(Mode::View);
        assert_eq!(
            on_control(Peer::Host, Heard::Report(granted.clone())),
            Step::File(granted)
        );
        let ending = |reason: &str| {
            on_control(
                Peer::Viewer,
                Heard::Report(SessionReport::Ending {
                    reason: reason.into(),
                }),
            )
        };
        assert_eq!(
            ending("bye\u{1b}[2J"),
            Step::End {
                tell: "bye[2J".into(),
                reason: "viewer: bye[2J".into()
            }
        );
        assert_eq!(
            ending(""),
            Step::End {
                tell: "the viewer ended the session".into(),
                reason: "viewer: the viewer ended the session".into()
            }
        );
    }

    #[test]
    fn a_peer_that_breaks_protocol_is_named() {
        assert_eq!(
            on_control(Peer::Host, Heard::Unexpected),
            Step::BrokeProtocol {
                tell: "the host broke protocol".into(),
                reason: "host broke protocol".into()
            }
        );
        assert_eq!(on_control(Peer::Viewer, Heard::Ended), Step::Quiet);
        assert_eq!(Peer::Host.other(), Peer::Viewer);
    }

    #[test]
    fn a_silent_connection_is_a_vanished_peer() {
        let gone = on_closed(Peer::Host, &timed_out(), false);
        assert_eq!(gone.tell.code(), CloseCode::PeerGone);
        assert_eq!(gone.reason, "host vanished (no answer)");
        assert!(!gone.park);
        let gone = on_closed(Peer::Viewer, &lost(), false);
        assert_eq!(gone.tell.sentence(), "the viewer's connection was lost");
    }

    #[test]
    fn a_lost_link_parks_a_resumable_session_but_a_goodbye_ends_it() {
        let gone = on_closed(Peer::Host, &timed_out(), true);
        assert_eq!(gone.tell.code(), CloseCode::Reconnect);
        assert!(gone.park);
        let bye = by_peer(0, b"ended by the user");
        let gone = on_closed(Peer::Host, &bye, true);
        assert_eq!(gone.tell.code(), CloseCode::Ended);
        assert_eq!(gone.tell.sentence(), "ended by the user");
        assert!(!gone.park);
    }

    #[test]
    fn a_side_lost_behind_another_relay_parks_like_a_lost_link() {
        // The relay that carried the viewer closes its link with Reconnect
        // when the viewer's own connection is lost.
        let lost = by_peer(
            CloseCode::Reconnect as u64,
            b"the other side's connection was lost",
        );
        let gone = on_closed(Peer::Viewer, &lost, true);
        assert!(gone.park);
        assert_eq!(gone.tell.code(), CloseCode::Reconnect);
        assert!(!on_closed(Peer::Viewer, &lost, false).park);
    }
    #[test]
    fn only_the_hosts_first_mismatch_before_confirmation_counts() {
        let mut l = Ledger::default();
        assert_eq!(
            l.mismatch(Peer::Viewer),
            Mismatch {
                file: true,
                count: false
            }
        );
        assert_eq!(
            l.mismatch(Peer::Host),
            Mismatch {
                file: true,
                count: true
            }
        );
        for _ in 0..2_000 {
            for peer in [Peer::Host, Peer::Viewer] {
                assert_eq!(
                    l.mismatch(peer),
                    Mismatch {
                        file: false,
                        count: false
                    }
                );
            }
        }
        let mut after = Ledger::default();
        after.confirm();
        assert!(!after.mismatch(Peer::Host).count, "the key was confirmed");
        assert!(!Ledger::confirmed().mismatch(Peer::Host).file);
    }

    #[test]
    fn reports_and_recordings_stop_at_their_caps() {
        let caps = Caps {
            recording_bytes: 100,
            recording_chunks: 3,
            reports: 2,
        };
        let mut l = Ledger::default();
        assert!(l.report(&caps, Peer::Host).is_ok());
        assert!(l.report(&caps, Peer::Viewer).is_ok());
        let over = l.report(&caps, Peer::Host).unwrap_err();
        assert_eq!(
            over,
            Exceeded::Reports {
                side: "host",
                limit: 2
            }
        );
        assert_eq!(
            over.to_string(),
            "the host sent more reports than the relay keeps for a session (2)"
        );
        assert!(recording_fits(&caps, (2, 60), 40).is_ok());
        assert_eq!(
            recording_fits(&caps, (2, 60), 41),
            Err(Exceeded::RecordingBytes(100))
        );
        assert_eq!(
            recording_fits(&caps, (3, 0), 1),
            Err(Exceeded::RecordingChunks(3))
        );
    }
}
