//! The audit log's record format and its hash chain.
//!
//! One JSON object a line. Each line carries `prev`, the hash of the line
//! before it, and ends with `hash`, the SHA-256 of the line's own text up to
//! that field. Changing any byte breaks the line's own hash; removing or
//! reordering lines breaks `seq` and `prev`; cutting the tail is caught by the
//! *head* (the last `seq` and `hash`, kept beside the log).
//!
//! This module is pure: the relay supplies timestamps and does the writing.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_SUFFIX_START: &str = ",\"hash\":\"";
/// `,"hash":"` + 64 hex digits + `"}`.
const HASH_SUFFIX_LEN: usize = HASH_SUFFIX_START.len() + 64 + 2;

/// Something that happened, as security staff will read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    RelayStarted {
        version: String,
        listen: String,
    },
    RelayStopped {
        reason: String,
    },
    CodeIssued {
        session: String,
        locator: String,
        host_ip: String,
        host_name: String,
        os_user: String,
        expires_in_s: u64,
    },
    /// A code died without a session: expired, renewed, or its host left.
    CodeClosed {
        session: String,
        reason: String,
    },
    JoinAttempt {
        session: Option<String>,
        technician: Option<String>,
        ip: String,
        locator: String,
        ok: bool,
        reason: Option<String>,
        /// The identity provider's subject of a technician signed in with
        /// `lifeline-viewer login` (none for a static token, and on
        /// records from before).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    SessionStarted {
        session: String,
        technician: String,
        host_ip: String,
        viewer_ip: String,
        /// What the technician viewed with, when not the native viewer
        /// (records of native sessions, and all from before browsers,
        /// have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        viewer_kind: Option<ViewerKind>,
        /// Why the technician joined (`--reason`), as the user was shown
        /// it; none when they gave none (and on records from before).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// What a peer reported (mode granted, refusal, wrong secret): the
    /// relay's sentence for people, and its `kind` for code (records
    /// written before kinds existed have none: see
    /// [`AuditEvent::report_kind`]).
    PeerReport {
        session: String,
        from: String,
        report: String,
        mode: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<ReportKind>,
    },
    SessionEnded {
        session: String,
        reason: String,
        duration_ms: u64,
        bytes_host_to_viewer: u64,
        bytes_viewer_to_host: u64,
    },
    /// A technician's token failed on several different codes and is
    /// refused for a while (someone may be guessing codes).
    TokenSuspended {
        technician: Option<String>,
        ip: String,
        codes: u32,
        suspended_s: u64,
    },
    /// A side's connection was lost (or the relay restarted): the session
    /// waits up to `window_s` for both sides to come back.
    SessionInterrupted {
        session: String,
        reason: String,
        window_s: u64,
    },
    /// Both sides came back with the session's resume secret.
    SessionResumed {
        session: String,
        host_ip: String,
        viewer_ip: String,
    },
    /// Something was handed across: `kind` clipboard or file, `direction`
    /// to host or to viewer, its size, and for files name and SHA-256.
    /// Never the content.
    Transfer {
        session: String,
        kind: String,
        direction: String,
        bytes: u64,
        name: Option<String>,
        sha256: Option<String>,
    },
    /// A resume was refused; `from` is `host` or `viewer`.
    ResumeRefused {
        session: String,
        from: String,
        ip: String,
        reason: String,
    },
    /// The session's recording is complete: its file, chunk count, size
    /// and the end of the hash chain over its chunks (`audit verify`
    /// checks the file against them without opening it).
    RecordingSealed {
        session: String,
        file: String,
        chunks: u64,
        bytes: u64,
        sha256: String,
    },
    /// The session's recording could not be written; a required one ends
    /// the session.
    RecordingFailed {
        session: String,
        reason: String,
    },
    /// The recording's file was deleted: older than the relay's retention.
    RecordingExpired {
        session: String,
        file: String,
    },
    /// Someone on the relay's machine took a copy of the recording.
    RecordingFetched {
        session: String,
        by: String,
        to: String,
    },
    /// A login to the web console: the name as typed, from where, and
    /// why it was refused (wrong password, throttled, second factor).
    ///
    /// Refused attempts that were never checked (throttled, or the
    /// console too busy) are counted, not written one by one: one record
    /// a burst, whose `attempts` says how many it stands for (absent on a
    /// record of one attempt, and on every record written before bursts).
    ConsoleLogin {
        user: String,
        ip: String,
        ok: bool,
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempts: Option<u64>,
        /// A sign-in with the identity provider: its issuer and the
        /// person's subject there (`user` is then the name it gave).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issuer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    /// A command on the relay's machine changing who may do what
    /// (`technician add`, `auditor remove`, `console-user reset`, …), run
    /// by the OS user `by`, written before the change; a change that then
    /// fails is followed by one with `ACTION failed`.
    AdminAction {
        by: String,
        action: String,
        target: String,
    },
    /// Something a console user did (log out, change their password,
    /// add or revoke a technician, run a verify), and on what.
    ConsoleAction {
        user: String,
        ip: String,
        action: String,
        target: Option<String>,
    },
    /// A waiting host's code moved, unused, to relay `to` of a cluster
    /// (its relay was drained for a restart); the code is the same.
    CodeMoved {
        session: String,
        to: String,
    },
    /// Connections from one address refused by a per-address cap
    /// (`limit`: `connections_per_ip`, `waiting_per_ip`; `cap` its value),
    /// counted: one record a burst (`refused` of them over `over_s`
    /// seconds), never one a connection. `ip` is the address, an IPv6
    /// /64, or `other addresses` when too many were refused at once.
    ConnectionsRefused {
        ip: String,
        limit: String,
        cap: u64,
        refused: u64,
        over_s: u64,
    },
    /// A machine enrolled as `device` in `group` under `policy`, from
    /// `ip`, with a one-use ticket an admin made; `key` is its handshake
    /// key's fingerprint, as technicians pin it.
    DeviceEnrolled {
        device: String,
        group: String,
        policy: String,
        key: String,
        ip: String,
    },
    /// A technician asked for a session with an enrolled device, for
    /// `reason`, under the group's `policy`: put through (`refused` is
    /// `None`; the session's own records follow) or refused, and why.
    /// The device itself still checks the technician's certificate.
    DeviceSession {
        session: String,
        device: String,
        technician: String,
        policy: String,
        reason: String,
        ip: String,
        refused: Option<String>,
    },
    /// A device session that needs a second person's approval was
    /// approved or refused by the console user `by` (an approver), or
    /// lapsed undecided (`by` is `None`).
    DeviceApproval {
        session: String,
        device: String,
        technician: String,
        by: Option<String>,
        approved: bool,
    },
    /// A technician's sign-in with the identity provider
    /// (`lifeline-viewer login`): who the provider said it was (`name`,
    /// `subject`; none when it never said), from where, and whether a
    /// credential was issued (`expires`, RFC 3339) or why not.
    TechnicianLogin {
        name: Option<String>,
        issuer: String,
        subject: Option<String>,
        ip: String,
        ok: bool,
        reason: Option<String>,
        expires: Option<String>,
    },
}

/// What a technician viewed a session with, when it was not the native
/// viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewerKind {
    /// The page the relay serves (`serve --web`), over WebTransport.
    Browser,
}

impl ViewerKind {
    /// The word records and reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            ViewerKind::Browser => "browser",
        }
    }
}

/// What a peer reported, as code reads it (never from the sentence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// The host's user granted a mode (the record's `mode`).
    ModeGranted,
    /// The host's user refused the technician.
    Refused,
    /// The key exchange failed: the technician typed a wrong secret.
    WrongSecret,
}

impl ReportKind {
    pub const ALL: [ReportKind; 3] = [Self::ModeGranted, Self::Refused, Self::WrongSecret];

    /// The sentence the relay files with it, for people reading the log.
    pub fn sentence(self) -> &'static str {
        match self {
            Self::ModeGranted => "mode granted",
            Self::Refused => "refused by the user",
            Self::WrongSecret => "wrong secret (key exchange failed)",
        }
    }
}

impl AuditEvent {
    /// A peer report's kind: the one it carries, or, for a record written
    /// before kinds existed, the kind whose fixed sentence it carries
    /// exactly (the relay wrote only those). `None` for other records.
    pub fn report_kind(&self) -> Option<ReportKind> {
        let AuditEvent::PeerReport { report, kind, .. } = self else {
            return None;
        };
        kind.or_else(|| ReportKind::ALL.into_iter().find(|k| k.sentence() == report))
    }

    /// The record's `event` field (its kind), as serialised.
    pub fn name(&self) -> &'static str {
        match self {
            AuditEvent::RelayStarted { .. } => "relay_started",
            AuditEvent::RelayStopped { .. } => "relay_stopped",
            AuditEvent::CodeIssued { .. } => "code_issued",
            AuditEvent::CodeClosed { .. } => "code_closed",
            AuditEvent::JoinAttempt { .. } => "join_attempt",
            AuditEvent::SessionStarted { .. } => "session_started",
            AuditEvent::PeerReport { .. } => "peer_report",
            AuditEvent::SessionEnded { .. } => "session_ended",
            AuditEvent::TokenSuspended { .. } => "token_suspended",
            AuditEvent::SessionInterrupted { .. } => "session_interrupted",
            AuditEvent::SessionResumed { .. } => "session_resumed",
            AuditEvent::Transfer { .. } => "transfer",
            AuditEvent::ResumeRefused { .. } => "resume_refused",
            AuditEvent::RecordingSealed { .. } => "recording_sealed",
            AuditEvent::RecordingFailed { .. } => "recording_failed",
            AuditEvent::RecordingExpired { .. } => "recording_expired",
            AuditEvent::RecordingFetched { .. } => "recording_fetched",
            AuditEvent::ConsoleLogin { .. } => "console_login",
            AuditEvent::AdminAction { .. } => "admin_action",
            AuditEvent::ConsoleAction { .. } => "console_action",
            AuditEvent::CodeMoved { .. } => "code_moved",
            AuditEvent::ConnectionsRefused { .. } => "connections_refused",
            AuditEvent::DeviceEnrolled { .. } => "device_enrolled",
            AuditEvent::DeviceSession { .. } => "device_session",
            AuditEvent::DeviceApproval { .. } => "device_approval",
            AuditEvent::TechnicianLogin { .. } => "technician_login",
        }
    }

    /// The session this event belongs to, if any.
    pub fn session(&self) -> Option<&str> {
        match self {
            AuditEvent::RelayStarted { .. }
            | AuditEvent::RelayStopped { .. }
            | AuditEvent::TokenSuspended { .. }
            | AuditEvent::ConsoleLogin { .. }
            | AuditEvent::TechnicianLogin { .. }
            | AuditEvent::AdminAction { .. }
            | AuditEvent::ConsoleAction { .. }
            | AuditEvent::ConnectionsRefused { .. }
            | AuditEvent::DeviceEnrolled { .. } => None,
            AuditEvent::JoinAttempt { session, .. } => session.as_deref(),
            AuditEvent::DeviceSession { session, .. }
            | AuditEvent::DeviceApproval { session, .. } => Some(session),
            AuditEvent::CodeIssued { session, .. }
            | AuditEvent::CodeClosed { session, .. }
            | AuditEvent::CodeMoved { session, .. }
            | AuditEvent::SessionStarted { session, .. }
            | AuditEvent::PeerReport { session, .. }
            | AuditEvent::SessionEnded { session, .. }
            | AuditEvent::SessionInterrupted { session, .. }
            | AuditEvent::SessionResumed { session, .. }
            | AuditEvent::ResumeRefused { session, .. }
            | AuditEvent::Transfer { session, .. }
            | AuditEvent::RecordingSealed { session, .. }
            | AuditEvent::RecordingFailed { session, .. }
            | AuditEvent::RecordingExpired { session, .. }
            | AuditEvent::RecordingFetched { session, .. } => Some(session),
        }
    }
}

mod bounds;
pub use bounds::{CUT_MARK, MAX_ID_BYTES, MAX_LINE_BYTES, MAX_NAME_BYTES, MAX_TEXT_BYTES, cut};

/// One line of the log, without its trailing `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub ts: String,
    pub prev: String,
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// The last record's `seq` and `hash`: what the tail of the log must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    /// `SEQ HASH\n`, written to the head file.
    pub fn to_line(&self) -> String {
        format!("{} {}\n", self.seq, self.hash)
    }

    /// Parses what [`Head::to_line`] wrote.
    pub fn parse(s: &str) -> Option<Self> {
        let (seq, hash) = s.trim().split_once(' ')?;
        let seq = seq.parse().ok()?;
        is_hash(hash).then(|| Head {
            seq,
            hash: hash.to_owned(),
        })
    }
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where the chain stands: the next record's number and the last hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    next_seq: u64,
    prev: String,
}

impl Default for Chain {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev: GENESIS.to_owned(),
        }
    }
}

/// Why a line failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("line {line}: {what}")]
    BadRecord {
        line: usize,
        seq: Option<u64>,
        what: String,
    },
    #[error(
        "the log ends at record {last} but its head says {head}: records were removed from the end"
    )]
    Truncated { last: u64, head: u64 },
    #[error("the head file does not match record {seq}: the log's end was changed")]
    HeadMismatch { seq: u64 },
    #[error("serialising an audit record failed: {0}")]
    Encode(String),
}

/// A parsed, verified line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub record: Record,
    pub hash: String,
}

/// Parses one line and checks its own hash (not its place in the chain).
pub fn check_line(line: &str, lineno: usize) -> Result<Verified, ChainError> {
    let bad = |seq: Option<u64>, what: &str| ChainError::BadRecord {
        line: lineno,
        seq,
        what: what.to_owned(),
    };
    if line.len() < HASH_SUFFIX_LEN || !line.is_char_boundary(line.len() - HASH_SUFFIX_LEN) {
        return Err(bad(None, "not an audit record (no hash)"));
    }
    let (body_part, suffix) = line.split_at(line.len() - HASH_SUFFIX_LEN);
    let hash = suffix
        .strip_prefix(HASH_SUFFIX_START)
        .and_then(|s| s.strip_suffix("\"}"))
        .filter(|h| is_hash(h))
        .ok_or_else(|| bad(None, "not an audit record (no hash)"))?;
    let body = format!("{body_part}}}");
    let record: Record =
        serde_json::from_str(&body).map_err(|e| bad(None, &format!("not a valid record ({e})")))?;
    if sha256_hex(body.as_bytes()) != hash {
        return Err(bad(
            Some(record.seq),
            &format!("record {} was altered (hash mismatch)", record.seq),
        ));
    }
    Ok(Verified {
        record,
        hash: hash.to_owned(),
    })
}

impl Chain {
    /// Seals `event` as the next record, returning the line to append
    /// (without newline) and its hash. The chain advances only when the
    /// caller confirms with [`Chain::advance`], after the line is durable.
    pub fn seal(&self, ts: String, event: AuditEvent) -> Result<(String, String), ChainError> {
        let record = Record {
            seq: self.next_seq,
            ts,
            prev: self.prev.clone(),
            event,
        };
        let body = serde_json::to_string(&record).map_err(|e| ChainError::Encode(e.to_string()))?;
        let hash = sha256_hex(body.as_bytes());
        let mut line = body;
        line.pop(); // the closing brace; the hash goes before it
        line.push_str(HASH_SUFFIX_START);
        line.push_str(&hash);
        line.push_str("\"}");
        Ok((line, hash))
    }

    /// The chain after a record already on disk with this `seq` and `hash`.
    pub fn resume_at(seq: u64, hash: String) -> Self {
        Self {
            next_seq: seq + 1,
            prev: hash,
        }
    }

    /// Moves past a sealed record.
    pub fn advance(&mut self, hash: String) {
        self.next_seq += 1;
        self.prev = hash;
    }

    /// The head after the last advanced record.
    pub fn head(&self) -> Head {
        Head {
            seq: self.next_seq - 1,
            hash: self.prev.clone(),
        }
    }

    /// Checks one line as the next in the chain and advances past it.
    pub fn verify_next(&mut self, line: &str, lineno: usize) -> Result<Verified, ChainError> {
        let v = check_line(line, lineno)?;
        let seq = v.record.seq;
        if seq != self.next_seq {
            return Err(ChainError::BadRecord {
                line: lineno,
                seq: Some(seq),
                what: format!(
                    "record {seq} found where record {} was expected: records were removed or reordered",
                    self.next_seq
                ),
            });
        }
        if v.record.prev != self.prev {
            return Err(ChainError::BadRecord {
                line: lineno,
                seq: Some(seq),
                what: format!("record {seq} does not follow the record before it (chain broken)"),
            });
        }
        self.advance(v.hash.clone());
        Ok(v)
    }

    /// Checks that the chain's end agrees with the head file, if any. A log
    /// ahead of its head is fine: the relay writes the log first.
    pub fn check_head(
        &self,
        head: Option<&Head>,
        hash_at: impl Fn(u64) -> Option<String>,
    ) -> Result<(), ChainError> {
        let Some(head) = head else { return Ok(()) };
        let last = self.next_seq - 1;
        if last < head.seq {
            return Err(ChainError::Truncated {
                last,
                head: head.seq,
            });
        }
        match hash_at(head.seq) {
            Some(h) if h == head.hash => Ok(()),
            _ if head.seq == 0 => Ok(()),
            _ => Err(ChainError::HeadMismatch { seq: head.seq }),
        }
    }
}

/// Verifies a whole log. Returns every record, or the first bad one.
pub fn verify_log(text: &str, head: Option<&Head>) -> Result<Vec<Verified>, ChainError> {
    let mut chain = Chain::default();
    let mut out = Vec::new();
    for (i, line) in text.split_terminator('\n').enumerate() {
        out.push(chain.verify_next(line, i + 1)?);
    }
    chain.check_head(head, |seq| {
        usize::try_from(seq)
            .ok()
            .and_then(|s| out.get(s.checked_sub(1)?))
            .map(|v| v.hash.clone())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_log(n: u64) -> (String, Head) {
        let mut chain = Chain::default();
        let mut text = String::new();
        for i in 0..n {
            let (line, hash) = chain
                .seal(
                    format!("2026-01-01T00:00:{i:02}Z"),
                    AuditEvent::CodeClosed {
                        session: format!("s{i}"),
                        reason: "expired".into(),
                    },
                )
                .unwrap();
            chain.advance(hash);
            text.push_str(&line);
            text.push('\n');
        }
        (text, chain.head())
    }

    #[test]
    fn a_peer_report_carries_its_kind_and_old_ones_read_the_same() {
        let new = AuditEvent::PeerReport {
            session: "s".into(),
            from: "host".into(),
            report: ReportKind::WrongSecret.sentence().into(),
            mode: None,
            kind: Some(ReportKind::WrongSecret),
        };
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(
            text,
            r#"{"event":"peer_report","session":"s","from":"host","report":"wrong secret (key exchange failed)","mode":null,"kind":"wrong_secret"}"#
        );
        assert_eq!(new.report_kind(), Some(ReportKind::WrongSecret));
        // A record from before kinds: parsed, written back byte for byte
        // (so its hash still holds), and typed from its fixed sentence.
        let old = r#"{"event":"peer_report","session":"s","from":"host","report":"mode granted","mode":"control"}"#;
        let parsed: AuditEvent = serde_json::from_str(old).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), old);
        assert_eq!(parsed.report_kind(), Some(ReportKind::ModeGranted));
        // Any other text is no kind at all (a sentence is never guessed at).
        let odd = AuditEvent::PeerReport {
            session: "s".into(),
            from: "host".into(),
            report: "wrong secret, or so".into(),
            mode: None,
            kind: None,
        };
        assert_eq!(odd.report_kind(), None);
    }

    #[test]
    fn line_format_is_stable() {
        let chain = Chain::default();
        let (line, hash) = chain
            .seal(
                "T".into(),
                AuditEvent::RelayStopped {
                    reason: "signal".into(),
                },
            )
            .unwrap();
        assert_eq!(
            line,
            format!(
                "{{\"seq\":1,\"ts\":\"T\",\"prev\":\"{GENESIS}\",\"event\":\"relay_stopped\",\"reason\":\"signal\",\"hash\":\"{hash}\"}}"
            )
        );
    }

    #[test]
    fn resume_records_are_stable() {
        let chain = Chain::default();
        let cases = [
            (
                AuditEvent::SessionInterrupted {
                    session: "s".into(),
                    reason: "r".into(),
                    window_s: 120,
                },
                r#""event":"session_interrupted","session":"s","reason":"r","window_s":120"#,
            ),
            (
                AuditEvent::SessionResumed {
                    session: "s".into(),
                    host_ip: "h".into(),
                    viewer_ip: "v".into(),
                },
                r#""event":"session_resumed","session":"s","host_ip":"h","viewer_ip":"v""#,
            ),
            (
                AuditEvent::ResumeRefused {
                    session: "s".into(),
                    from: "viewer".into(),
                    ip: "i".into(),
                    reason: "r".into(),
                },
                r#""event":"resume_refused","session":"s","from":"viewer","ip":"i","reason":"r""#,
            ),
            (
                AuditEvent::RecordingSealed {
                    session: "s".into(),
                    file: "recordings/s.llrec".into(),
                    chunks: 3,
                    bytes: 99,
                    sha256: "ab".into(),
                },
                r#""event":"recording_sealed","session":"s","file":"recordings/s.llrec","chunks":3,"bytes":99,"sha256":"ab""#,
            ),
            (
                AuditEvent::RecordingFailed {
                    session: "s".into(),
                    reason: "r".into(),
                },
                r#""event":"recording_failed","session":"s","reason":"r""#,
            ),
            (
                AuditEvent::RecordingExpired {
                    session: "s".into(),
                    file: "recordings/s.llrec".into(),
                },
                r#""event":"recording_expired","session":"s","file":"recordings/s.llrec""#,
            ),
            (
                AuditEvent::RecordingFetched {
                    session: "s".into(),
                    by: "root".into(),
                    to: "/tmp/s.llrec".into(),
                },
                r#""event":"recording_fetched","session":"s","by":"root","to":"/tmp/s.llrec""#,
            ),
            (
                AuditEvent::ConsoleLogin {
                    user: "ann".into(),
                    ip: "i".into(),
                    ok: false,
                    reason: Some("r".into()),
                    attempts: None,
                    issuer: None,
                    subject: None,
                },
                r#""event":"console_login","user":"ann","ip":"i","ok":false,"reason":"r","hash""#,
            ),
            (
                AuditEvent::ConsoleLogin {
                    user: "ann".into(),
                    ip: "i".into(),
                    ok: false,
                    reason: Some("r".into()),
                    attempts: Some(41),
                    issuer: None,
                    subject: None,
                },
                r#""event":"console_login","user":"ann","ip":"i","ok":false,"reason":"r","attempts":41,"hash""#,
            ),
            (
                AuditEvent::AdminAction {
                    by: "root".into(),
                    action: "technician add".into(),
                    target: "bob".into(),
                },
                r#""event":"admin_action","by":"root","action":"technician add","target":"bob""#,
            ),
            (
                AuditEvent::ConsoleAction {
                    user: "ann".into(),
                    ip: "i".into(),
                    action: "technician_revoked".into(),
                    target: Some("bob".into()),
                },
                r#""event":"console_action","user":"ann","ip":"i","action":"technician_revoked","target":"bob""#,
            ),
            (
                AuditEvent::CodeMoved {
                    session: "s".into(),
                    to: "relay-1".into(),
                },
                r#""event":"code_moved","session":"s","to":"relay-1""#,
            ),
            (
                AuditEvent::DeviceEnrolled {
                    device: "desk-7".into(),
                    group: "lab".into(),
                    policy: "unattended".into(),
                    key: "SHA256:ab".into(),
                    ip: "i".into(),
                },
                r#""event":"device_enrolled","device":"desk-7","group":"lab","policy":"unattended","key":"SHA256:ab","ip":"i""#,
            ),
            (
                AuditEvent::DeviceSession {
                    session: "s".into(),
                    device: "desk-7".into(),
                    technician: "bob".into(),
                    policy: "unattended".into(),
                    reason: "INC-4821".into(),
                    ip: "i".into(),
                    refused: None,
                },
                r#""event":"device_session","session":"s","device":"desk-7","technician":"bob","policy":"unattended","reason":"INC-4821","ip":"i","refused":null"#,
            ),
            (
                AuditEvent::DeviceApproval {
                    session: "s".into(),
                    device: "desk-7".into(),
                    technician: "bob".into(),
                    by: Some("carol".into()),
                    approved: true,
                },
                r#""event":"device_approval","session":"s","device":"desk-7","technician":"bob","by":"carol","approved":true"#,
            ),
            (
                AuditEvent::TechnicianLogin {
                    name: Some("bob@example.com".into()),
                    issuer: "https://idp".into(),
                    subject: Some("u1".into()),
                    ip: "i".into(),
                    ok: true,
                    reason: None,
                    expires: Some("2026-12-07T23:00:00Z".into()),
                },
                r#""event":"technician_login","name":"bob@example.com","issuer":"https://idp","subject":"u1","ip":"i","ok":true,"reason":null,"expires":"2026-12-07T23:00:00Z""#,
            ),
            (
                AuditEvent::ConsoleLogin {
                    user: "ann@example.com".into(),
                    ip: "i".into(),
                    ok: true,
                    reason: None,
                    attempts: None,
                    issuer: Some("https://idp".into()),
                    subject: Some("u2".into()),
                },
                r#""event":"console_login","user":"ann@example.com","ip":"i","ok":true,"reason":null,"issuer":"https://idp","subject":"u2","hash""#,
            ),
            (
                AuditEvent::JoinAttempt {
                    session: Some("s".into()),
                    technician: Some("bob@example.com".into()),
                    ip: "i".into(),
                    locator: "l".into(),
                    ok: true,
                    reason: None,
                    subject: Some("u1".into()),
                },
                r#""event":"join_attempt","session":"s","technician":"bob@example.com","ip":"i","locator":"l","ok":true,"reason":null,"subject":"u1","hash""#,
            ),
        ];
        for (event, body) in cases {
            let name = format!("\"event\":\"{}\"", event.name());
            let (line, _) = chain.seal("T".into(), event).unwrap();
            assert!(line.contains(body), "{line}");
            assert!(line.contains(&name), "{name} in {line}");
        }
    }

    #[test]
    fn a_console_login_from_before_bursts_reads_back_the_same() {
        let old = r#"{"event":"console_login","user":"ann","ip":"i","ok":true,"reason":null}"#;
        let parsed: AuditEvent = serde_json::from_str(old).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), old);
    }

    #[test]
    fn cut_keeps_short_strings_and_marks_long_ones() {
        let mut short = "ann".to_owned();
        cut(&mut short, 3);
        assert_eq!(short, "ann");
        let mut long = "a".repeat(600_000);
        cut(&mut long, MAX_NAME_BYTES);
        assert_eq!(long.len(), MAX_NAME_BYTES);
        assert!(long.ends_with(CUT_MARK));
        // A char boundary is kept: 'é' is two bytes.
        let mut accents = "é".repeat(300);
        cut(&mut accents, 11);
        assert_eq!(accents, "éééé…");
        // Escaped size counts: a control character writes as \u0001.
        let mut control = "\u{1}".repeat(100);
        cut(&mut control, 64);
        let written = serde_json::to_string(&control).unwrap();
        assert!(written.len() <= 64 + 2, "{written}");
        assert!(control.ends_with(CUT_MARK));
        let mut tiny = "abcdef".to_owned();
        cut(&mut tiny, 2);
        assert_eq!(tiny, CUT_MARK);
    }

    /// Every kind of record with every string at a hostile size: each
    /// seals to at most `MAX_LINE_BYTES`.
    #[test]
    fn every_bounded_record_fits_the_stated_line_length() {
        let worst = || "\u{1}\"".repeat(100_000);
        let w = || Some(worst());
        let events = [
            AuditEvent::RelayStarted {
                version: worst(),
                listen: worst(),
            },
            AuditEvent::RelayStopped { reason: worst() },
            AuditEvent::CodeIssued {
                session: worst(),
                locator: worst(),
                host_ip: worst(),
                host_name: worst(),
                os_user: worst(),
                expires_in_s: u64::MAX,
            },
            AuditEvent::CodeClosed {
                session: worst(),
                reason: worst(),
            },
            AuditEvent::JoinAttempt {
                session: w(),
                technician: w(),
                ip: worst(),
                locator: worst(),
                ok: false,
                reason: w(),
                subject: w(),
            },
            AuditEvent::SessionStarted {
                session: worst(),
                technician: worst(),
                host_ip: worst(),
                viewer_ip: worst(),
                viewer_kind: None,
                reason: Some(worst()),
            },
            AuditEvent::PeerReport {
                session: worst(),
                from: worst(),
                report: worst(),
                mode: w(),
                kind: Some(ReportKind::WrongSecret),
            },
            AuditEvent::SessionEnded {
                session: worst(),
                reason: worst(),
                duration_ms: u64::MAX,
                bytes_host_to_viewer: u64::MAX,
                bytes_viewer_to_host: u64::MAX,
            },
            AuditEvent::TokenSuspended {
                technician: w(),
                ip: worst(),
                codes: u32::MAX,
                suspended_s: u64::MAX,
            },
            AuditEvent::SessionInterrupted {
                session: worst(),
                reason: worst(),
                window_s: u64::MAX,
            },
            AuditEvent::SessionResumed {
                session: worst(),
                host_ip: worst(),
                viewer_ip: worst(),
            },
            AuditEvent::Transfer {
                session: worst(),
                kind: worst(),
                direction: worst(),
                bytes: u64::MAX,
                name: w(),
                sha256: w(),
            },
            AuditEvent::ResumeRefused {
                session: worst(),
                from: worst(),
                ip: worst(),
                reason: worst(),
            },
            AuditEvent::RecordingSealed {
                session: worst(),
                file: worst(),
                chunks: u64::MAX,
                bytes: u64::MAX,
                sha256: worst(),
            },
            AuditEvent::RecordingFailed {
                session: worst(),
                reason: worst(),
            },
            AuditEvent::RecordingExpired {
                session: worst(),
                file: worst(),
            },
            AuditEvent::RecordingFetched {
                session: worst(),
                by: worst(),
                to: worst(),
            },
            AuditEvent::ConsoleLogin {
                user: worst(),
                ip: worst(),
                ok: false,
                reason: w(),
                attempts: Some(u64::MAX),
                issuer: None,
                subject: None,
            },
            AuditEvent::AdminAction {
                by: worst(),
                action: worst(),
                target: worst(),
            },
            AuditEvent::ConsoleAction {
                user: worst(),
                ip: worst(),
                action: worst(),
                target: w(),
            },
            AuditEvent::CodeMoved {
                session: worst(),
                to: worst(),
            },
            AuditEvent::DeviceEnrolled {
                device: worst(),
                group: worst(),
                policy: worst(),
                key: worst(),
                ip: worst(),
            },
            AuditEvent::DeviceSession {
                session: worst(),
                device: worst(),
                technician: worst(),
                policy: worst(),
                reason: worst(),
                ip: worst(),
                refused: w(),
            },
            AuditEvent::DeviceApproval {
                session: worst(),
                device: worst(),
                technician: worst(),
                by: w(),
                approved: true,
            },
            AuditEvent::TechnicianLogin {
                name: w(),
                issuer: worst(),
                subject: w(),
                ip: worst(),
                ok: false,
                reason: w(),
                expires: w(),
            },
        ];
        let chain = Chain::resume_at(u64::MAX - 1, "f".repeat(64));
        for event in events {
            let name = event.name();
            let (line, _) = chain
                .seal("2026-11-23T00:00:00.000Z".into(), event.bounded())
                .unwrap();
            assert!(line.len() <= MAX_LINE_BYTES, "{name}: {} bytes", line.len());
            check_line(&line, 1).unwrap();
        }
    }

    #[test]
    fn intact_log_verifies() {
        let (text, head) = sample_log(5);
        let recs = verify_log(&text, Some(&head)).unwrap();
        assert_eq!(recs.len(), 5);
        assert_eq!(recs[4].record.event.session(), Some("s4"));
        assert!(verify_log("", None).unwrap().is_empty());
    }

    #[test]
    fn any_changed_byte_is_caught_and_named() {
        let (text, head) = sample_log(4);
        let bytes = text.as_bytes();
        for pos in 0..bytes.len() {
            let mut changed = bytes.to_vec();
            changed[pos] = if changed[pos] == b'x' { b'y' } else { b'x' };
            let Ok(s) = String::from_utf8(changed) else {
                continue;
            };
            let lineno = text[..pos].matches('\n').count() + 1;
            match verify_log(&s, Some(&head)) {
                Err(ChainError::BadRecord { line, .. }) => assert!(line <= lineno + 1, "pos {pos}"),
                Err(ChainError::Truncated { .. }) if bytes[pos] == b'\n' => {}
                other => panic!("byte {pos} changed but verify said {other:?}"),
            }
        }
    }

    #[test]
    fn removed_lines_are_caught() {
        let (text, head) = sample_log(4);
        let lines: Vec<&str> = text.lines().collect();
        for skip in 0..4 {
            let s: String = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, l)| format!("{l}\n"))
                .collect();
            assert!(verify_log(&s, Some(&head)).is_err(), "removing line {skip}");
        }
        // The last line removed: only the head can tell.
        let cut: String = lines[..3].iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(
            verify_log(&cut, Some(&head)),
            Err(ChainError::Truncated { last: 3, head: 4 })
        );
    }

    #[test]
    fn head_round_trips() {
        let h = Head {
            seq: 7,
            hash: "ab".repeat(32),
        };
        assert_eq!(Head::parse(&h.to_line()), Some(h));
        assert_eq!(Head::parse("7 zz"), None);
    }
}
