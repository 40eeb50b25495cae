//! Summaries of the audit log for security staff: one row a session.

use lifeline_proto::audit::{AuditEvent, Record, ReportKind, ViewerKind};
use serde::{Serialize, Serializer};

/// What happened in one session, gathered from its records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SessionSummary {
    pub session: String,
    pub code_issued: String,
    pub host_name: String,
    pub os_user: String,
    pub host_ip: String,
    pub technician: Option<String>,
    pub viewer_ip: Option<String>,
    /// What the technician viewed with, when not the native viewer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub viewer_kind: Option<ViewerKind>,
    pub started: Option<String>,
    pub mode: Option<String>,
    pub failed_joins: u32,
    pub ended: Option<String>,
    pub end_reason: Option<String>,
    pub duration_ms: Option<u64>,
    pub bytes_host_to_viewer: Option<u64>,
    pub bytes_viewer_to_host: Option<u64>,
    /// Times the session was interrupted and resumed.
    pub interruptions: u32,
    pub resumes: u32,
    /// Clipboard and file transfers.
    pub transfers: u32,
    /// The recording's state: sealed (its file), failed, expired.
    pub recording: Option<RecordingState>,
    /// Why the technician asked, as they gave it: a device session's
    /// reason, or a join's (`lifeline-viewer --reason`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The identity provider's subject of a technician who signed in
    /// (`lifeline-viewer login`), from the join that started the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// Where a session's recording stands, from its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingState {
    /// Sealed into this file, on the relay.
    Sealed(String),
    /// It could not be written, for this reason.
    Failed(String),
    /// Removed after the retention time.
    Expired,
}

impl RecordingState {
    /// Whether the file is (still) on the relay.
    pub fn is_kept(&self) -> bool {
        matches!(self, Self::Sealed(_))
    }
}

impl std::fmt::Display for RecordingState {
    /// As `audit list --json` and the console say it: the file, `failed:
    /// REASON` or `expired`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sealed(file) => f.write_str(file),
            Self::Failed(reason) => write!(f, "failed: {reason}"),
            Self::Expired => f.write_str("expired"),
        }
    }
}

impl Serialize for RecordingState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How a session turned out, for filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The code is live; nobody has joined yet.
    Waiting,
    /// Joined and not ended (or interrupted, waiting to resume).
    Open,
    /// Ended after the host granted a mode.
    Completed,
    /// Joined but ended before any mode was granted (refused by the user,
    /// wrong secret).
    Refused,
    /// The code died unused (expired, renewed, host left).
    NoSession,
}

impl Outcome {
    /// Every outcome, in the order a filter lists them.
    pub const ALL: [Outcome; 5] = [
        Outcome::Completed,
        Outcome::Refused,
        Outcome::NoSession,
        Outcome::Open,
        Outcome::Waiting,
    ];

    /// The word used in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Waiting => "waiting",
            Outcome::Open => "open",
            Outcome::Completed => "completed",
            Outcome::Refused => "refused",
            Outcome::NoSession => "no_session",
        }
    }
}

impl SessionSummary {
    /// How the session turned out so far.
    pub fn outcome(&self) -> Outcome {
        match (&self.started, &self.ended) {
            (None, None) => Outcome::Waiting,
            (Some(_), None) => Outcome::Open,
            (None, Some(_)) => Outcome::NoSession,
            (Some(_), Some(_)) if self.mode.is_some() => Outcome::Completed,
            (Some(_), Some(_)) => Outcome::Refused,
        }
    }
}

/// One summary a session, built one record at a time (the console keeps
/// one up to date as the log grows; `audit list` folds the whole log).
#[derive(Debug, Default)]
pub struct Summaries {
    rows: Vec<SessionSummary>,
    /// The latest row of each session id.
    by_id: std::collections::HashMap<String, usize>,
}

impl Summaries {
    /// The sessions so far, in the order their codes were issued.
    pub fn rows(&self) -> &[SessionSummary] {
        &self.rows
    }

    /// The latest session with this id.
    pub fn get(&self, id: &str) -> Option<(usize, &SessionSummary)> {
        let i = *self.by_id.get(id)?;
        Some((i, &self.rows[i]))
    }

    /// Folds one record in; returns the row it touched, if any.
    pub fn apply(&mut self, r: &Record) -> Option<usize> {
        let id = r.event.session()?;
        let idx = match (&r.event, self.by_id.get(id)) {
            (AuditEvent::CodeIssued { .. }, _) | (_, None) => {
                self.rows.push(SessionSummary {
                    session: id.to_owned(),
                    ..Default::default()
                });
                self.by_id.insert(id.to_owned(), self.rows.len() - 1);
                self.rows.len() - 1
            }
            (_, Some(i)) => *i,
        };
        fold(&mut self.rows[idx], r);
        Some(idx)
    }
}

/// One summary a session, in the order their codes were issued.
pub fn summarize<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<SessionSummary> {
    let mut all = Summaries::default();
    for r in records {
        all.apply(r);
    }
    all.rows
}

/// [`fold`] for a device session's records.
fn fold_device(s: &mut SessionSummary, r: &Record) {
    match &r.event {
        AuditEvent::DeviceSession {
            device,
            technician,
            reason,
            refused,
            ..
        } => {
            s.code_issued.clone_from(&r.ts);
            s.host_name.clone_from(device);
            s.technician = Some(technician.clone());
            s.reason = Some(reason.clone());
            if let Some(why) = refused {
                s.ended = Some(r.ts.clone());
                s.end_reason = Some(format!("no session: {why}"));
            }
        }
        AuditEvent::DeviceApproval {
            approved: false,
            by,
            ..
        } => {
            s.ended = Some(r.ts.clone());
            s.end_reason = Some(match by {
                Some(by) => format!("no session: refused by {by}"),
                None => "no session: not approved in time".into(),
            });
        }
        AuditEvent::DeviceApproval { .. } => {}
        _ => {}
    }
}

/// Applies one of a session's records to its summary.
fn fold(s: &mut SessionSummary, r: &Record) {
    match &r.event {
        AuditEvent::CodeIssued {
            host_ip,
            host_name,
            os_user,
            ..
        } => {
            s.code_issued.clone_from(&r.ts);
            s.host_ip.clone_from(host_ip);
            s.host_name.clone_from(host_name);
            s.os_user.clone_from(os_user);
        }
        AuditEvent::DeviceSession { .. } | AuditEvent::DeviceApproval { .. } => fold_device(s, r),
        AuditEvent::JoinAttempt { ok: false, .. } => s.failed_joins += 1,
        AuditEvent::JoinAttempt {
            ok: true, subject, ..
        } => {
            if subject.is_some() {
                s.subject.clone_from(subject);
            }
        }
        AuditEvent::SessionStarted {
            technician,
            viewer_ip,
            viewer_kind,
            reason,
            ..
        } => {
            s.started = Some(r.ts.clone());
            s.technician = Some(technician.clone());
            s.viewer_ip = Some(viewer_ip.clone());
            s.viewer_kind = *viewer_kind;
            if reason.is_some() {
                s.reason.clone_from(reason);
            }
        }
        AuditEvent::PeerReport { mode: Some(m), .. } => s.mode = Some(m.clone()),
        AuditEvent::PeerReport { .. } => {}
        AuditEvent::CodeClosed { reason, .. } => {
            s.ended = Some(r.ts.clone());
            s.end_reason = Some(format!("no session: {reason}"));
        }
        AuditEvent::SessionEnded {
            reason,
            duration_ms,
            bytes_host_to_viewer,
            bytes_viewer_to_host,
            ..
        } => {
            s.ended = Some(r.ts.clone());
            s.end_reason = Some(reason.clone());
            s.duration_ms = Some(*duration_ms);
            s.bytes_host_to_viewer = Some(*bytes_host_to_viewer);
            s.bytes_viewer_to_host = Some(*bytes_viewer_to_host);
        }
        AuditEvent::SessionInterrupted { .. } => s.interruptions += 1,
        AuditEvent::SessionResumed { .. } => s.resumes += 1,
        AuditEvent::Transfer { .. } => s.transfers += 1,
        AuditEvent::RecordingSealed { file, .. } => {
            s.recording = Some(RecordingState::Sealed(file.clone()));
        }
        AuditEvent::RecordingFailed { reason, .. } => {
            s.recording = Some(RecordingState::Failed(reason.clone()));
        }
        AuditEvent::RecordingExpired { .. } => s.recording = Some(RecordingState::Expired),
        AuditEvent::RecordingFetched { .. } | AuditEvent::CodeMoved { .. } => {}
        AuditEvent::RelayStarted { .. }
        | AuditEvent::RelayStopped { .. }
        | AuditEvent::TokenSuspended { .. }
        | AuditEvent::ResumeRefused { .. }
        | AuditEvent::ConsoleLogin { .. }
        | AuditEvent::TechnicianLogin { .. }
        | AuditEvent::AdminAction { .. }
        | AuditEvent::ConsoleAction { .. }
        | AuditEvent::ConnectionsRefused { .. }
        | AuditEvent::DeviceEnrolled { .. } => {}
    }
}

/// A technician whose token failed on several different codes, or was
/// suspended for it: someone may be guessing codes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Suspect {
    pub technician: String,
    /// Failed joins (no such code, expired, used, wrong secret).
    pub failed_joins: u32,
    /// Of those, on how many different codes.
    pub codes: u32,
    pub suspensions: u32,
    pub last: String,
}

/// Whether the audit log's reason for a refused join is a failure on the
/// code itself (the words are `JoinRefusal::as_str`'s).
fn is_code_failure(why: &str) -> bool {
    use lifeline_proto::control::JoinRefusal;
    matches!(
        JoinRefusal::from_word(why),
        Some(JoinRefusal::UnknownCode | JoinRefusal::ExpiredCode | JoinRefusal::UsedCode)
    )
}

/// Every technician with failed joins on two or more codes, or suspended,
/// most codes first.
pub fn suspicious<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<Suspect> {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    let mut joined: HashMap<String, (String, String)> = HashMap::new();
    let mut by: BTreeMap<String, (Suspect, BTreeSet<String>)> = BTreeMap::new();
    let mut note = |tech: &str, locator: Option<&str>, ts: &str, suspended: bool| {
        let (s, codes) = by.entry(tech.to_owned()).or_default();
        s.technician = tech.to_owned();
        s.last = ts.to_owned();
        match locator {
            Some(l) => {
                s.failed_joins += 1;
                codes.insert(l.to_owned());
            }
            None if suspended => s.suspensions += 1,
            None => {}
        }
    };
    for r in records {
        match &r.event {
            AuditEvent::JoinAttempt {
                session: Some(id),
                technician: Some(t),
                locator,
                ok: true,
                ..
            } => {
                joined.insert(id.clone(), (t.clone(), locator.clone()));
            }
            // Only failures on a code count (not a throttled, suspended or
            // revoked token, which touched no code).
            AuditEvent::JoinAttempt {
                technician: Some(t),
                locator,
                ok: false,
                reason: Some(why),
                ..
            } if is_code_failure(why) => note(t, Some(locator), &r.ts, false),
            event @ AuditEvent::PeerReport { session, .. }
                if event.report_kind() == Some(ReportKind::WrongSecret) =>
            {
                if let Some((t, l)) = joined.get(session) {
                    note(t, Some(l), &r.ts, false);
                }
            }
            AuditEvent::TokenSuspended {
                technician: Some(t),
                ..
            } => note(t, None, &r.ts, true),
            _ => {}
        }
    }
    let mut out: Vec<Suspect> = by
        .into_values()
        .map(|(mut s, codes)| {
            s.codes = u32::try_from(codes.len()).unwrap_or(u32::MAX);
            s
        })
        .filter(|s| s.codes >= 2 || s.suspensions > 0)
        .collect();
    out.sort_by(|a, b| b.codes.cmp(&a.codes).then(a.technician.cmp(&b.technician)));
    out
}

/// An event's name and its non-empty fields, in the record's order.
pub fn fields(event: &AuditEvent) -> (String, Vec<(String, serde_json::Value)>) {
    let mut map = match serde_json::to_value(event) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let name = map
        .shift_remove("event")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let rest = map.into_iter().filter(|(_, v)| !v.is_null()).collect();
    (name, rest)
}

/// A record as one readable line: time, event, then its fields.
pub fn describe(r: &Record) -> String {
    let (event, rest) = fields(&r.event);
    let rest: Vec<String> = rest
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s:?}"),
            other => format!("{k}={other}"),
        })
        .collect();
    format!("#{:<5} {}  {:<16} {}", r.seq, r.ts, event, rest.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technicians_failing_on_several_codes_are_suspects() {
        let attempt = |seq, tech: &str, loc: &str, ok, session: Option<&str>| {
            rec(
                seq,
                AuditEvent::JoinAttempt {
                    session: session.map(str::to_owned),
                    technician: Some(tech.into()),
                    ip: "ip".into(),
                    locator: loc.into(),
                    ok,
                    reason: (!ok).then(|| "unknown code".into()),
                    subject: None,
                },
            )
        };
        let recs = vec![
            // A typo, twice on the same code: not suspicious.
            attempt(1, "honest", "00001", false, None),
            attempt(2, "honest", "00001", false, None),
            // Unknown codes and a wrong secret on a third one.
            attempt(3, "mallory", "11111", false, None),
            attempt(4, "mallory", "22222", false, None),
            attempt(5, "mallory", "33333", true, Some("s3")),
            rec(
                6,
                AuditEvent::PeerReport {
                    session: "s3".into(),
                    from: "viewer".into(),
                    report: "wrong secret (key exchange failed)".into(),
                    mode: None,
                    kind: None,
                },
            ),
            rec(
                7,
                AuditEvent::TokenSuspended {
                    technician: Some("mallory".into()),
                    ip: "ip".into(),
                    codes: 3,
                    suspended_s: 1800,
                },
            ),
        ];
        let s = suspicious(&recs);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].technician, "mallory");
        assert_eq!((s[0].failed_joins, s[0].codes, s[0].suspensions), (3, 3, 1));
    }

    fn rec(seq: u64, event: AuditEvent) -> Record {
        Record {
            seq,
            ts: format!("t{seq}"),
            prev: String::new(),
            event,
        }
    }

    #[test]
    fn a_whole_session_is_summarised() {
        let recs = vec![
            rec(
                1,
                AuditEvent::CodeIssued {
                    session: "s".into(),
                    locator: "00001".into(),
                    host_ip: "10.0.0.1".into(),
                    host_name: "pc".into(),
                    os_user: "ann".into(),
                    expires_in_s: 600,
                },
            ),
            rec(
                2,
                AuditEvent::JoinAttempt {
                    session: Some("s".into()),
                    technician: Some("bob".into()),
                    ip: "10.0.0.2".into(),
                    locator: "00001".into(),
                    ok: true,
                    reason: None,
                    subject: Some("u-bob".into()),
                },
            ),
            rec(
                3,
                AuditEvent::SessionStarted {
                    session: "s".into(),
                    technician: "bob".into(),
                    host_ip: "10.0.0.1".into(),
                    viewer_ip: "10.0.0.2".into(),
                    viewer_kind: None,
                    reason: None,
                },
            ),
            rec(
                4,
                AuditEvent::PeerReport {
                    session: "s".into(),
                    from: "host".into(),
                    report: "mode granted".into(),
                    mode: Some("view".into()),
                    kind: Some(ReportKind::ModeGranted),
                },
            ),
            rec(
                5,
                AuditEvent::SessionEnded {
                    session: "s".into(),
                    reason: "host: ended by the user".into(),
                    duration_ms: 5000,
                    bytes_host_to_viewer: 10,
                    bytes_viewer_to_host: 2,
                },
            ),
        ];
        let s = summarize(&recs);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].technician.as_deref(), Some("bob"));
        assert_eq!(s[0].subject.as_deref(), Some("u-bob"), "from the join");
        assert_eq!(s[0].mode.as_deref(), Some("view"));
        assert_eq!(s[0].end_reason.as_deref(), Some("host: ended by the user"));
        assert_eq!(s[0].bytes_host_to_viewer, Some(10));
        assert!(describe(&recs[4]).contains("reason=\"host: ended by the user\""));
    }
}
