//! Messages between a peer (host or viewer) and the relay, on the first
//! bidirectional QUIC stream of a connection (the *control stream*).
//!
//! Everything after pairing that host and viewer say to each other travels
//! on further streams and datagrams that the relay forwards without reading.
//!
//! Every message is a [`crate::frame`] of postcard bytes. Variant order is
//! part of the wire format: append new variants, never reorder.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::code::Locator;
use crate::devices::{DeviceEntry, DevicePolicy, DeviceRefusal, EnrollRefusal, EnrollRequest};
use crate::login::{Credential, LoginCode, LoginRefusal};

/// ALPN protocol id negotiated in the TLS handshake.
pub const ALPN: &[u8] = b"lifeline/1";

/// Version carried in [`Hello`]; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 1;

/// How long, by default, a session whose link was lost waits for its
/// sides to come back (host, viewer and relay each take `--resume-window`).
pub const RESUME_WINDOW: std::time::Duration = std::time::Duration::from_secs(120);

/// Longest host name, OS user, technician name or reason the relay keeps.
pub const MAX_TEXT: usize = 256;

/// Which side a peer plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Host,
    Viewer,
}

/// First frame on every control stream; its layout never changes so that a
/// relay can always tell an old or new peer what it speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u16,
    pub role: Role,
}

/// What the user at the host allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    View,
    Control,
}

impl Mode {
    /// The word PRODUCT.md uses: `view` or `control`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::View => "view",
            Mode::Control => "control",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Metadata a peer reports about its session, for the audit log only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionReport {
    /// The host's user granted this mode.
    ModeGranted(Mode),
    /// The host's user refused the technician.
    Refused,
    /// The key exchange failed: the technician typed a wrong secret.
    SecretMismatch,
    /// The peer is ending the session, and why.
    Ending { reason: String },
    /// The SHA-256 of the session's resume secret (derived end to end; the
    /// relay never sees the secret until a peer resumes with it). Sent by
    /// the host once the key exchange succeeded; the relay keeps it on disk.
    ResumeTicket { hash: [u8; 32] },
    /// Something was handed across (never its content): for the audit log.
    Transfer(Transfer),
}

/// What was handed across in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferKind {
    Clipboard,
    File,
}

impl TransferKind {
    /// `clipboard` or `file`, as the audit log says it.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Clipboard => "clipboard",
            TransferKind::File => "file",
        }
    }
}

/// A transfer the host reports for the audit log: what, which way, how
/// much, and for files the name and SHA-256; never the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub kind: TransferKind,
    /// Technician → user (`true`) or user → technician.
    pub to_host: bool,
    pub bytes: u64,
    pub name: Option<String>,
    pub sha256: Option<[u8; 32]>,
}

impl Transfer {
    /// `to host` or `to viewer`, as the audit log says it.
    pub fn direction(&self) -> &'static str {
        if self.to_host { "to host" } else { "to viewer" }
    }
}

/// A peer whose connection to the relay was lost asks to continue its
/// session: the session's id and the secret whose hash the relay holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeRequest {
    pub session: String,
    pub secret: [u8; 32],
}

/// Why the relay refused a resume; each has one clear line for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResumeRefusal {
    /// No such session is known (never, or long gone).
    UnknownSession,
    /// The session was ended (by a side, or it was never resumable).
    Ended,
    /// The resume window passed before both sides came back.
    WindowPassed,
    /// The secret does not match the session's ticket.
    WrongSecret,
    /// The relay cannot write its audit log or resume state.
    Unavailable,
    /// Too many failed resumes from this address.
    Throttled { retry_after_s: u32 },
    /// A viewer came back without the token of the technician who joined
    /// (or with another's): only that technician may resume the session.
    NotYours,
}

impl ResumeRefusal {
    /// Short machine-friendly words used in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            ResumeRefusal::UnknownSession => "unknown session",
            ResumeRefusal::Ended => "session ended",
            ResumeRefusal::WindowPassed => "resume window passed",
            ResumeRefusal::WrongSecret => "wrong resume secret",
            ResumeRefusal::Unavailable => "relay unavailable",
            ResumeRefusal::Throttled { .. } => "throttled",
            ResumeRefusal::NotYours => "not the technician who joined",
        }
    }
}

impl fmt::Display for ResumeRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let again = "start a new one with a new code";
        match self {
            ResumeRefusal::UnknownSession => {
                write!(f, "the relay does not know this session any more; {again}")
            }
            ResumeRefusal::Ended => {
                write!(f, "this session was ended and cannot be resumed; {again}")
            }
            ResumeRefusal::WindowPassed => write!(
                f,
                "the time to reconnect to this session has passed; {again}"
            ),
            ResumeRefusal::WrongSecret => f.write_str(
                "the relay refused to resume: the resume ticket does not match this session",
            ),
            ResumeRefusal::Unavailable => f.write_str(
                "the relay cannot record the resume (its disk may be full); try again shortly",
            ),
            ResumeRefusal::Throttled { retry_after_s } => write!(
                f,
                "too many failed attempts to resume; wait {retry_after_s} s before trying again"
            ),
            ResumeRefusal::NotYours => f.write_str(
                "the relay refused to resume: only the technician who joined this session, with the same token, may resume it",
            ),
        }
    }
}

/// Host → relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostRequest {
    /// Ask for a code; the name and user are for the audit log.
    Register {
        host_name: String,
        os_user: String,
    },
    /// Drop the current code and issue a fresh one.
    Renew,
    Report(SessionReport),
    /// Instead of `Register`: continue a session whose connection was lost.
    Resume(ResumeRequest),
    /// The next piece of the session's recording, sealed for the auditors:
    /// the relay stores it and cannot read it.
    Record(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Instead of `Register`: take over this host's live, unused code from
    /// a relay of the cluster that is draining ([`HostEvent::MoveTo`]).
    /// Answered with `Registered` (the same code), or `Expired`.
    Move {
        session: String,
        locator: Locator,
        host_name: String,
        os_user: String,
    },
    /// Instead of `Register`: enroll this machine as a device with a
    /// ticket's secret ([`HostEvent::Enrolled`] or
    /// [`HostEvent::EnrollRefused`] answers; the relay then hangs up).
    Enroll(EnrollRequest),
    /// Instead of `Register`: an enrolled device's service comes online
    /// with the token enrollment gave it, and stays connected
    /// ([`HostEvent::Online`] answers; a wrong token is hung up on).
    Online {
        device: String,
        token: String,
    },
    /// Instead of `Register`: an enrolled device takes the session the
    /// relay called it for ([`HostEvent::Call`]) on a connection of its
    /// own; answered as a code's join is (`Policy`, then `Paired`).
    Answer {
        device: String,
        token: String,
        session: String,
        os_user: String,
    },
}

/// Relay → host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostEvent {
    /// A code is live: the host appends its own secret digits to `locator`.
    Registered {
        session: String,
        locator: Locator,
        expires_in_s: u32,
    },
    /// The code died unused; ask for another with [`HostRequest::Renew`].
    Expired,
    /// A technician joined; from now on streams are forwarded.
    Paired {
        session: String,
        technician: String,
    },
    /// Both sides are back: streams are forwarded again.
    Resumed,
    ResumeRefused(ResumeRefusal),
    /// The relay's rules for the session about to start; sent just before
    /// [`HostEvent::Paired`].
    Policy(SessionPolicy),
    /// This relay is draining for a restart: connect to `relay` (another
    /// of its cluster, `HOST:PORT`) and move the code there with
    /// [`HostRequest::Move`]; the code stays the same.
    MoveTo {
        relay: String,
    },
    /// The machine is enrolled as `device`, in `group`, under `policy`;
    /// `token` is its own secret for coming online at this relay (the
    /// relay keeps its hash). It opens no session: that takes a
    /// technician the organisation vouches for.
    Enrolled {
        device: String,
        group: String,
        policy: DevicePolicy,
        token: String,
    },
    EnrollRefused(EnrollRefusal),
    /// The device is listed online for as long as this connection lasts.
    Online,
    /// On a device's online connection: a technician asks for a session,
    /// `session`; the device answers on a new connection
    /// ([`HostRequest::Answer`]). Who asks, and why, the device learns
    /// from the technician's handshake, not from the relay.
    Call {
        session: String,
    },
    /// On a device's online connection: the organisation's newest signed
    /// revocation list the relay holds (`lifeline-revocations:` text), as
    /// the admin published it. The relay cannot forge one; a device keeps
    /// it only when the anchor signed it and it is newer than its own.
    Revocations {
        #[serde(with = "serde_bytes")]
        signed: Vec<u8>,
    },
    /// Instead of [`HostEvent::Online`], on the relay's main port: this
    /// relay takes devices' online links on UDP `port` of the same host
    /// (its devices port); come online there with the same request.
    OnlineAt {
        port: u16,
    },
    /// Why the technician about to join asks ([`ViewerRequest::JoinFor`]),
    /// as the relay audited it; sent just before [`HostEvent::Paired`],
    /// and only when there is one.
    JoinReason(String),
    /// A record the relay wrote to its audit log about this session is
    /// durable: its number and its own hash. The host keeps them for the
    /// user's receipt, which `lifeline-relay audit verify-receipt` checks
    /// against the log.
    Audited {
        seq: u64,
        hash: [u8; 32],
    },
}

/// What the relay's operator asks of every session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPolicy {
    /// After this many seconds of control the host asks the user whether
    /// to go on; 0: never.
    pub confirm_every_s: u32,
    /// How long the user has to answer before the session ends.
    pub answer_within_s: u32,
    /// Record the session for these auditors; `None`: not recorded.
    pub recording: Option<RecordingPolicy>,
}

/// How a session is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingPolicy {
    /// Who can open the recording: names and X25519 public keys.
    pub auditors: Vec<Auditor>,
    /// Keystrokes and typed text are recorded too (the user is told).
    pub keys: bool,
    /// A session whose recording cannot be written ends.
    pub required: bool,
}

/// An auditor a recording is sealed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auditor {
    pub name: String,
    pub public_key: [u8; 32],
}

/// Viewer → relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewerRequest {
    Join {
        token: String,
        locator: Locator,
    },
    Report(SessionReport),
    /// Instead of `Join`: continue a session whose connection was lost.
    /// The relay refuses it from a viewer: a viewer resumes with
    /// [`ViewerRequest::ResumeAs`].
    Resume(ResumeRequest),
    /// Instead of `Join`: continue a session whose connection was lost,
    /// as the technician whose token joined it (the relay checks it, so
    /// a host that knows the resume secret cannot come back as the viewer).
    ResumeAs {
        request: ResumeRequest,
        token: String,
    },
    /// Instead of `Join`: the enrolled devices, for a technician's token
    /// ([`ViewerEvent::Devices`], or `Refused` for a bad token).
    Devices {
        token: String,
    },
    /// Instead of `Join`: a session with the enrolled device `device`,
    /// for `reason` (required by an unattended group; written to the
    /// audit log). Answered with `Joined` once the device takes it, or
    /// `DeviceRefused`.
    Connect {
        token: String,
        device: String,
        reason: String,
    },
    /// `Join`, giving why (`--reason`: a ticket number or a few words,
    /// [`crate::devices::valid_reason`]): the user's question shows it
    /// and the audit log keeps it with the session. A viewer with no
    /// reason sends `Join`, which a relay with `--require-reason` refuses.
    JoinFor {
        token: String,
        locator: Locator,
        reason: String,
    },
    /// Instead of `Join`: sign in with the relay's identity provider
    /// (`lifeline-viewer login`). Answered with [`ViewerEvent::LoginCode`],
    /// then [`ViewerEvent::LoggedIn`] or [`ViewerEvent::LoginRefused`].
    Login,
}

/// Relay → viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewerEvent {
    /// Paired with the host; streams are forwarded from now on.
    Joined {
        session: String,
        host_name: String,
        os_user: String,
    },
    Refused(JoinRefusal),
    /// Both sides are back: streams are forwarded again.
    Resumed,
    ResumeRefused(ResumeRefusal),
    /// The enrolled devices (at most [`crate::devices::MAX_LISTED`]).
    Devices(Vec<DeviceEntry>),
    /// The relay did not put the technician through to the device.
    DeviceRefused(DeviceRefusal),
    /// The device's group needs a second person's approval: the request
    /// waits for an approver in the console, at most `within_s` seconds.
    AwaitingApproval {
        within_s: u32,
    },
    /// Sign in at the provider's page with this code (`Login`'s first answer).
    LoginCode(LoginCode),
    /// Signed in: the credential to join with until it expires.
    LoggedIn(Credential),
    LoginRefused(LoginRefusal),
}

/// Why the relay refused a join; each has one clear line for the technician.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinRefusal {
    UnknownToken,
    RevokedToken,
    UnknownCode,
    ExpiredCode,
    UsedCode,
    Throttled {
        retry_after_s: u32,
    },
    /// The token failed on several different codes and is suspended.
    Suspended {
        retry_after_s: u32,
    },
    /// The relay asks a reason of every join (`serve --require-reason`)
    /// and none was given.
    ReasonRequired,
    /// The reason is empty, longer than 256 characters, or not one line.
    BadReason,
    /// A credential from `lifeline-viewer login` past its end.
    ExpiredToken,
}

impl JoinRefusal {
    /// Short machine-friendly word used in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            JoinRefusal::UnknownToken => "unknown token",
            JoinRefusal::RevokedToken => "revoked token",
            JoinRefusal::UnknownCode => "unknown code",
            JoinRefusal::ExpiredCode => "expired code",
            JoinRefusal::UsedCode => "code already used",
            JoinRefusal::Throttled { .. } => "throttled",
            JoinRefusal::Suspended { .. } => "token suspended",
            JoinRefusal::ReasonRequired => "reason required",
            JoinRefusal::BadReason => "bad reason",
            JoinRefusal::ExpiredToken => "expired credential",
        }
    }

    /// The refusal an audit record's word names (its waits read as 0),
    /// for code that reads the log back; `None` for any other text.
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == word)
    }

    /// Every refusal (waits as 0), for what lists or counts them all.
    pub const ALL: [Self; 10] = [
        JoinRefusal::UnknownToken,
        JoinRefusal::RevokedToken,
        JoinRefusal::UnknownCode,
        JoinRefusal::ExpiredCode,
        JoinRefusal::UsedCode,
        JoinRefusal::Throttled { retry_after_s: 0 },
        JoinRefusal::Suspended { retry_after_s: 0 },
        JoinRefusal::ReasonRequired,
        JoinRefusal::BadReason,
        JoinRefusal::ExpiredToken,
    ];
}

impl fmt::Display for JoinRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinRefusal::UnknownToken => f.write_str(
                "the relay does not know this technician token; check --token or LIFELINE_TOKEN",
            ),
            JoinRefusal::RevokedToken => f.write_str(
                "this technician token was revoked; ask the relay's operator for a new one",
            ),
            JoinRefusal::UnknownCode => f.write_str(
                "no host is waiting with this code; check it with the user or ask for a new one",
            ),
            JoinRefusal::ExpiredCode => {
                f.write_str("this code has expired; ask the user for a new one")
            }
            JoinRefusal::UsedCode => f.write_str(
                "this code was already used (codes work once); ask the user for a new one",
            ),
            JoinRefusal::Throttled { retry_after_s } => write!(
                f,
                "too many failed attempts; wait {retry_after_s} s before trying again"
            ),
            JoinRefusal::Suspended { retry_after_s } => write!(
                f,
                "this token failed on several different codes and is suspended for {} more minutes; if that was not you, ask the relay's operator",
                retry_after_s.div_ceil(60)
            ),
            JoinRefusal::ReasonRequired => f.write_str(
                "this relay asks a reason with every session: give one (--reason, or the Reason field), a ticket number or a few words",
            ),
            JoinRefusal::BadReason => {
                f.write_str("a reason is at most 256 characters, on one line")
            }
            JoinRefusal::ExpiredToken => f.write_str(
                "your sign-in has expired; sign in again with `lifeline-viewer login --relay HOST:PORT`",
            ),
        }
    }
}

/// QUIC application close codes, so that the side left behind can say why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum CloseCode {
    /// Normal end; the reason text says who ended it.
    Ended = 0,
    /// The peer sent something that is not this protocol.
    ProtocolError = 1,
    /// The peer speaks another protocol version.
    Version = 2,
    /// A join was refused; the control stream carried why.
    Refused = 3,
    /// The other side of the session went away without a word.
    PeerGone = 4,
    /// The relay is shutting down.
    Shutdown = 5,
    /// The relay is at a capacity limit.
    Busy = 6,
    /// The relay could not write its audit log and will not act unaudited.
    AuditFailed = 7,
    /// The peer took too long to say what it wants.
    Timeout = 8,
    /// The other side's connection was lost: reconnect and resume.
    Reconnect = 9,
}

impl CloseCode {
    /// The code from its wire value, if known.
    pub fn from_u32(v: u32) -> Option<Self> {
        use CloseCode::*;
        [
            Ended,
            ProtocolError,
            Version,
            Refused,
            PeerGone,
            Shutdown,
            Busy,
            AuditFailed,
            Timeout,
            Reconnect,
        ]
        .into_iter()
        .find(|c| *c as u32 == v)
    }
}

/// Cuts peer-supplied text to [`MAX_TEXT`] bytes and drops control
/// characters, so the audit log and terminals only ever show plain text.
pub fn clean_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_TEXT {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
