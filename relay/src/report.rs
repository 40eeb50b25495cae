//! Summaries of the audit log for security staff: one row a session.

use lifeline_proto::audit::{AuditEvent, Record};
use serde::Serialize;

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
    pub started: Option<String>,
    pub mode: Option<String>,
    pub failed_joins: u32,
    pub ended: Option<String>,
    pub end_reason: Option<String>,
    pub duration_ms: Option<u64>,
    pub bytes_host_to_viewer: Option<u64>,
    pub bytes_viewer_to_host: Option<u64>,
}

/// One summary a session, in the order their codes were issued.
pub fn summarize<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<SessionSummary> {
    let mut out: Vec<SessionSummary> = Vec::new();
    let find = |out: &mut Vec<SessionSummary>, id: &str| out.iter().rposition(|s| s.session == id);
    for r in records {
        let Some(id) = r.event.session() else {
            continue;
        };
        let idx = match (&r.event, find(&mut out, id)) {
            (AuditEvent::CodeIssued { .. }, _) | (_, None) => {
                out.push(SessionSummary {
                    session: id.to_owned(),
                    ..Default::default()
                });
                out.len() - 1
            }
            (_, Some(i)) => i,
        };
        let s = &mut out[idx];
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
            AuditEvent::JoinAttempt { ok: false, .. } => s.failed_joins += 1,
            AuditEvent::JoinAttempt { ok: true, .. } => {}
            AuditEvent::SessionStarted {
                technician,
                viewer_ip,
                ..
            } => {
                s.started = Some(r.ts.clone());
                s.technician = Some(technician.clone());
                s.viewer_ip = Some(viewer_ip.clone());
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
            AuditEvent::RelayStarted { .. } | AuditEvent::RelayStopped { .. } => {}
        }
    }
    out
}

/// A record as one readable line: time, event, then its fields.
pub fn describe(r: &Record) -> String {
    let mut fields = match serde_json::to_value(&r.event) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let event = fields
        .remove("event")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let rest: Vec<String> = fields
        .into_iter()
        .filter(|(_, v)| !v.is_null())
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
                },
            ),
            rec(
                3,
                AuditEvent::SessionStarted {
                    session: "s".into(),
                    technician: "bob".into(),
                    host_ip: "10.0.0.1".into(),
                    viewer_ip: "10.0.0.2".into(),
                },
            ),
            rec(
                4,
                AuditEvent::PeerReport {
                    session: "s".into(),
                    from: "host".into(),
                    report: "mode granted".into(),
                    mode: Some("view".into()),
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
        assert_eq!(s[0].mode.as_deref(), Some("view"));
        assert_eq!(s[0].end_reason.as_deref(), Some("host: ended by the user"));
        assert_eq!(s[0].bytes_host_to_viewer, Some(10));
        assert!(describe(&recs[4]).contains("reason=\"host: ended by the user\""));
    }
}
