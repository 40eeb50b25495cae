//! How long a record's fields may be: every string a peer, a visitor or
//! a command gives is cut to its limit before it is sealed, so no record
//! grows the log by more than [`MAX_LINE_BYTES`].

use super::AuditEvent;

/// The most a short field (an address, a session id, a locator, a mode,
/// a direction) takes in a record, in bytes as written (JSON-escaped).
pub const MAX_ID_BYTES: usize = 64;
/// The most a name from outside takes (host name, OS user, technician,
/// console user, file name, who fetched, where to), as written.
pub const MAX_NAME_BYTES: usize = 256;
/// The most a sentence takes (a reason, a report, an action, a target), as
/// written.
pub const MAX_TEXT_BYTES: usize = 512;
/// What ends a cut field: the field was longer than its limit.
pub const CUT_MARK: &str = "…";
/// The longest line a bounded record seals to (its fields at their limits,
/// each escaped at worst, plus the keys, `seq`, `ts`, `prev` and `hash`).
/// Tested against every kind of record.
pub const MAX_LINE_BYTES: usize = 2048;

/// How many bytes `c` takes inside a JSON string as serde_json writes it.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Cuts `s` (on a char boundary) so that it takes at most `max` bytes
/// escaped, ending it with [`CUT_MARK`] when anything was cut.
pub fn cut(s: &mut String, max: usize) {
    let mut total = 0;
    let mut keep = None;
    for (i, c) in s.char_indices() {
        if keep.is_none() && total + escaped_len(c) > max.saturating_sub(CUT_MARK.len()) {
            keep = Some(i);
        }
        total += escaped_len(c);
        if total > max {
            s.truncate(keep.unwrap_or(0));
            s.push_str(CUT_MARK);
            return;
        }
    }
}

fn cut_opt(s: &mut Option<String>, max: usize) {
    if let Some(s) = s {
        cut(s, max);
    }
}

impl AuditEvent {
    /// The event with every string field cut to its stated limit
    /// ([`MAX_ID_BYTES`], [`MAX_NAME_BYTES`], [`MAX_TEXT_BYTES`]), so no
    /// record seals to more than [`MAX_LINE_BYTES`]: whatever a peer or a
    /// visitor typed, the log grows by a bounded amount a record.
    pub fn bounded(mut self) -> Self {
        if !self.bound_first_kinds() && !self.bound_device_kinds() {
            self.bound_other_kinds();
        }
        self
    }

    /// [`AuditEvent::bounded`] for the enrolled devices' kinds; false for
    /// the others.
    fn bound_device_kinds(&mut self) -> bool {
        use AuditEvent as E;
        let (id, name, text) = (MAX_ID_BYTES, MAX_NAME_BYTES, MAX_TEXT_BYTES);
        match self {
            E::DeviceEnrolled {
                device,
                group,
                policy,
                key,
                ip,
            } => {
                cut(device, name);
                cut(group, name);
                cut(policy, id);
                cut(key, text);
                cut(ip, id);
            }
            E::DeviceSession {
                session,
                device,
                technician,
                policy,
                reason,
                ip,
                refused,
            } => {
                cut(session, id);
                cut(device, name);
                cut(technician, name);
                cut(policy, id);
                cut(reason, text);
                cut(ip, id);
                cut_opt(refused, text);
            }
            E::DeviceApproval {
                session,
                device,
                technician,
                by,
                ..
            } => {
                cut(session, id);
                cut(device, name);
                cut(technician, name);
                cut_opt(by, name);
            }
            _ => return false,
        }
        true
    }

    /// [`AuditEvent::bounded`] for the kinds up to `token_suspended`;
    /// false for the others.
    fn bound_first_kinds(&mut self) -> bool {
        use AuditEvent as E;
        let (id, name, text) = (MAX_ID_BYTES, MAX_NAME_BYTES, MAX_TEXT_BYTES);
        match self {
            E::RelayStarted { version, listen } => {
                cut(version, id);
                cut(listen, name);
            }
            E::RelayStopped { reason } => cut(reason, text),
            E::CodeIssued {
                session,
                locator,
                host_ip,
                host_name,
                os_user,
                ..
            } => {
                for f in [session, locator, host_ip] {
                    cut(f, id);
                }
                cut(host_name, name);
                cut(os_user, name);
            }
            E::CodeClosed { session, reason }
            | E::SessionInterrupted {
                session, reason, ..
            }
            | E::RecordingFailed { session, reason } => {
                cut(session, id);
                cut(reason, text);
            }
            E::JoinAttempt {
                session,
                technician,
                ip,
                locator,
                reason,
                subject,
                ..
            } => {
                cut_opt(session, id);
                cut_opt(technician, name);
                cut(ip, id);
                cut(locator, id);
                cut_opt(reason, text);
                cut_opt(subject, name);
            }
            E::SessionStarted {
                session,
                technician,
                host_ip,
                viewer_ip,
                reason,
                ..
            } => {
                for f in [session, host_ip, viewer_ip] {
                    cut(f, id);
                }
                cut(technician, name);
                cut_opt(reason, text);
            }
            E::PeerReport {
                session,
                from,
                report,
                mode,
                ..
            } => {
                cut(session, id);
                cut(from, id);
                cut(report, text);
                cut_opt(mode, id);
            }
            E::SessionEnded {
                session, reason, ..
            } => {
                cut(session, id);
                cut(reason, text);
            }
            E::TokenSuspended { technician, ip, .. } => {
                cut_opt(technician, name);
                cut(ip, id);
            }
            _ => return false,
        }
        true
    }

    /// [`AuditEvent::bounded`] for the kinds [`Self::bound_first_kinds`]
    /// leaves (every kind is in one of the two: the bounded-record test
    /// seals each kind).
    fn bound_other_kinds(&mut self) {
        use AuditEvent as E;
        let (id, name, text) = (MAX_ID_BYTES, MAX_NAME_BYTES, MAX_TEXT_BYTES);
        match self {
            E::SessionResumed {
                session,
                host_ip,
                viewer_ip,
            } => {
                for f in [session, host_ip, viewer_ip] {
                    cut(f, id);
                }
            }
            E::Transfer {
                session,
                kind,
                direction,
                name: file,
                sha256,
                ..
            } => {
                for f in [session, kind, direction] {
                    cut(f, id);
                }
                cut_opt(file, name);
                cut_opt(sha256, id);
            }
            E::ResumeRefused {
                session,
                from,
                ip,
                reason,
            } => {
                for f in [session, from, ip] {
                    cut(f, id);
                }
                cut(reason, text);
            }
            E::RecordingSealed {
                session,
                file,
                sha256,
                ..
            } => {
                cut(session, id);
                cut(file, name);
                cut(sha256, id);
            }
            E::ConnectionsRefused { ip, limit, .. } => {
                cut(ip, id);
                cut(limit, id);
            }
            E::RecordingExpired { session, file } | E::CodeMoved { session, to: file } => {
                cut(session, id);
                cut(file, name);
            }
            E::RecordingFetched { session, by, to } => {
                cut(session, id);
                cut(by, name);
                cut(to, name);
            }
            _ => self.bound_people_kinds(),
        }
    }

    /// [`AuditEvent::bounded`] for what people did: logins, sign-ins,
    /// commands and console actions.
    fn bound_people_kinds(&mut self) {
        use AuditEvent as E;
        let (id, name, text) = (MAX_ID_BYTES, MAX_NAME_BYTES, MAX_TEXT_BYTES);
        match self {
            E::ConsoleLogin {
                user,
                ip,
                reason,
                issuer,
                subject,
                ..
            } => {
                cut(user, name);
                cut(ip, id);
                cut_opt(reason, text);
                cut_opt(issuer, text);
                cut_opt(subject, name);
            }
            E::TechnicianLogin {
                name: who,
                issuer,
                subject,
                ip,
                reason,
                expires,
                ..
            } => {
                cut_opt(who, name);
                cut(issuer, text);
                cut_opt(subject, name);
                cut(ip, id);
                cut_opt(reason, text);
                cut_opt(expires, id);
            }
            E::AdminAction { by, action, target } => {
                cut(by, name);
                cut(action, text);
                cut(target, text);
            }
            E::ConsoleAction {
                user,
                ip,
                action,
                target,
            } => {
                cut(user, name);
                cut(ip, id);
                cut(action, text);
                cut_opt(target, text);
            }
            _ => {}
        }
    }
}
