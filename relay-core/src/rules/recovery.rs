//! After a crash: the sessions and codes a previous run of the relay left
//! open in the audit log, and the records that close them. A pure function
//! of the records; the relay appends what it returns before it serves.
//!
//! A relay killed with SIGKILL (or a power cut) writes no end records; the
//! next run must not leave `audit list` showing those sessions open
//! forever, nor lose how long they had lasted.

use lifeline_proto::audit::{AuditEvent, Record};

/// The reason written for what a previous run left open.
pub const REASON: &str = "relay stopped unexpectedly";
/// Why a resumable session a previous run held is interrupted.
pub const RESTARTED: &str = "relay restarted";

/// The end records for everything `records` leaves open: a session that
/// started ends (its duration up to the last record the old run wrote), a
/// code that never paired closes. Sessions in `resumable` stay open: the
/// relay holds them (parked) until both sides resume or `window_s` passes;
/// those not yet marked interrupted get a record saying so.
pub fn close_left_open(records: &[Record], resumable: &[&str], window_s: u64) -> Vec<AuditEvent> {
    let last_ts = records.last().map(|r| r.ts.as_str());
    // Per session still open: when it started (if it did), and whether its
    // last word was an interruption.
    let mut open: Vec<(String, Option<&str>, bool)> = Vec::new();
    for r in records {
        let Some(id) = r.event.session() else {
            continue;
        };
        let entry = |open: &mut Vec<(String, Option<&str>, bool)>| {
            open.iter_mut()
                .rev()
                .position(|o| o.0 == id)
                .map(|i| open.len() - 1 - i)
        };
        match &r.event {
            AuditEvent::CodeIssued { .. } => open.push((id.to_owned(), None, false)),
            AuditEvent::SessionStarted { .. } => {
                if let Some(i) = entry(&mut open) {
                    open[i].1 = Some(r.ts.as_str());
                }
            }
            AuditEvent::SessionInterrupted { .. } | AuditEvent::SessionResumed { .. } => {
                if let Some(i) = entry(&mut open) {
                    open[i].2 = matches!(r.event, AuditEvent::SessionInterrupted { .. });
                }
            }
            AuditEvent::CodeClosed { .. } | AuditEvent::SessionEnded { .. } => {
                open.retain(|o| o.0 != id);
            }
            _ => {}
        }
    }
    open.into_iter()
        .filter_map(|(session, started, interrupted)| match started {
            Some(_) if resumable.contains(&session.as_str()) => {
                (!interrupted).then(|| AuditEvent::SessionInterrupted {
                    session,
                    reason: RESTARTED.into(),
                    window_s,
                })
            }
            Some(start) => Some(AuditEvent::SessionEnded {
                session,
                reason: REASON.into(),
                duration_ms: last_ts.map_or(0, |end| millis_between(start, end)),
                bytes_host_to_viewer: 0,
                bytes_viewer_to_host: 0,
            }),
            None => Some(AuditEvent::CodeClosed {
                session,
                reason: REASON.into(),
            }),
        })
        .collect()
}

/// Milliseconds from one record's time to another's (0 if unreadable).
fn millis_between(from: &str, to: &str) -> u64 {
    let parse = |t: &str| humantime::parse_rfc3339(t).ok();
    match (parse(from), parse(to)) {
        (Some(a), Some(b)) => b
            .duration_since(a)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn ts(secs: u64) -> String {
        humantime::format_rfc3339_millis(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .to_string()
    }

    fn rec(seq: u64, at: u64, event: AuditEvent) -> Record {
        Record {
            seq,
            ts: ts(at),
            prev: String::new(),
            event,
        }
    }

    fn issued(s: &str) -> AuditEvent {
        AuditEvent::CodeIssued {
            session: s.into(),
            locator: "00001".into(),
            host_ip: "ip".into(),
            host_name: "h".into(),
            os_user: "u".into(),
            expires_in_s: 600,
        }
    }

    fn started(s: &str) -> AuditEvent {
        AuditEvent::SessionStarted {
            session: s.into(),
            technician: "bob".into(),
            host_ip: "ip".into(),
            viewer_ip: "ip".into(),
            viewer_kind: None,
            reason: None,
        }
    }

    #[test]
    fn what_a_killed_relay_left_open_is_closed_and_nothing_else() {
        let records = vec![
            rec(1, 100, issued("done")),
            rec(2, 101, started("done")),
            rec(
                3,
                102,
                AuditEvent::SessionEnded {
                    session: "done".into(),
                    reason: "host: bye".into(),
                    duration_ms: 1000,
                    bytes_host_to_viewer: 1,
                    bytes_viewer_to_host: 1,
                },
            ),
            rec(4, 110, issued("live")),
            rec(5, 120, started("live")),
            rec(6, 130, issued("waiting")),
            rec(
                7,
                135,
                AuditEvent::RelayStarted {
                    version: "x".into(),
                    listen: "y".into(),
                },
            ),
            rec(8, 140, issued("expired")),
            rec(
                9,
                150,
                AuditEvent::CodeClosed {
                    session: "expired".into(),
                    reason: "expired unused".into(),
                },
            ),
        ];
        assert_eq!(
            close_left_open(&records, &["live"], 120),
            [
                AuditEvent::SessionInterrupted {
                    session: "live".into(),
                    reason: RESTARTED.into(),
                    window_s: 120,
                },
                AuditEvent::CodeClosed {
                    session: "waiting".into(),
                    reason: REASON.into(),
                }
            ],
            "a resumable session stays open for its sides to come back"
        );
        let mut parked = records.clone();
        parked.push(rec(
            10,
            160,
            AuditEvent::SessionInterrupted {
                session: "live".into(),
                reason: "relay shutting down".into(),
                window_s: 120,
            },
        ));
        assert_eq!(
            close_left_open(&parked, &["live"], 120).len(),
            1,
            "a session already marked interrupted is not marked twice"
        );
        let closes = close_left_open(&records, &[], 120);
        assert_eq!(
            closes,
            [
                AuditEvent::SessionEnded {
                    session: "live".into(),
                    reason: REASON.into(),
                    duration_ms: 30_000,
                    bytes_host_to_viewer: 0,
                    bytes_viewer_to_host: 0,
                },
                AuditEvent::CodeClosed {
                    session: "waiting".into(),
                    reason: REASON.into(),
                },
            ]
        );
        assert!(close_left_open(&[], &[], 120).is_empty());
    }
}
