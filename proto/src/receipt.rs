//! The receipt a host writes for its user when a session ends, and the
//! check `lifeline-relay audit verify-receipt` runs on it.
//!
//! One text file: a part for people (who, why, when, for how long, what
//! happened), then the same as JSON between [`BEGIN`] and [`END`] lines,
//! with the numbers and hashes of the relay's audit records of the
//! session as the relay acknowledged them to the host while it ran. The
//! check finds each of those records in the log and compares it: a record
//! missing, altered since, or not the one acknowledged is named.
//!
//! Pure: the host supplies the times and writes the file; the relay reads
//! the log.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, ChainError, Verified, check_line, verify_log};

/// The line before the machine-readable part.
pub const BEGIN: &str = "-----BEGIN LIFELINE RECEIPT-----";
/// The line after it.
pub const END: &str = "-----END LIFELINE RECEIPT-----";
/// The machine-readable part's version.
pub const VERSION: u32 = 1;
/// The largest receipt file read (a session's every report, and chat).
pub const MAX_BYTES: usize = 64 << 20;

/// What a session's user keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub version: u32,
    /// The relay's id of the session.
    pub session: String,
    /// Who connected, as the relay named them.
    pub technician: String,
    /// Why, as they said (`lifeline-viewer --reason`).
    pub reason: Option<String>,
    /// The relay, as the host reached it (`HOST:PORT`).
    pub relay: String,
    /// When the technician joined and when the session ended (RFC 3339,
    /// UTC), and how long it lasted.
    pub started: String,
    pub ended: String,
    pub duration_s: u64,
    /// How it ended, in the host's words.
    pub ending: String,
    /// The auditors the session was recorded for; empty: not recorded.
    pub recorded_for: Vec<String>,
    /// Whether keystrokes and typed text were recorded too.
    pub keys_recorded: bool,
    /// What happened, in order.
    pub events: Vec<Happened>,
    /// Things that happened past what a receipt keeps, not listed.
    #[serde(default)]
    pub left_out: u64,
    /// The relay's audit records of the session, as acknowledged to the
    /// host: number and hash (hex).
    pub audit_records: Vec<Acked>,
}

/// One thing that happened in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Happened {
    /// The user allowed `view` or `control` (or took control back).
    Mode {
        at: String,
        mode: String,
    },
    /// Something was handed across: `clipboard` or `file`, `to host` or
    /// `to viewer`, its size, and for files its name and SHA-256 (hex).
    Transfer {
        at: String,
        what: String,
        direction: String,
        bytes: u64,
        name: Option<String>,
        sha256: Option<String>,
    },
    /// A chat message, `from` the user (`you`) or the technician.
    Chat {
        at: String,
        from: String,
        text: String,
    },
    /// The link to the relay was lost, and came back.
    Interrupted {
        at: String,
    },
    Resumed {
        at: String,
    },
}

/// An audit record the relay acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked {
    pub seq: u64,
    pub hash: String,
}

/// Why a file is not a receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("this is not a Lifeline receipt (no {BEGIN} line)")]
    NoBlock,
    #[error("the receipt's machine-readable part is unreadable: {0}")]
    Unreadable(String),
    #[error("the receipt is of version {0}; this relay reads version {VERSION}")]
    Version(u32),
    #[error("the receipt is larger than {} MiB", MAX_BYTES >> 20)]
    TooLarge,
}

impl Receipt {
    /// The whole file: the part for people, then the JSON block.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        self.write_people(&mut t);
        let json = serde_json::to_string_pretty(self).unwrap_or_default();
        let _ = write!(t, "\n{BEGIN}\n{json}\n{END}\n");
        t
    }

    fn write_people(&self, t: &mut String) {
        let _ = writeln!(t, "Lifeline session receipt");
        let _ = writeln!(t, "========================");
        let _ = writeln!(
            t,
            "Keep this file: it says who used your computer, when, and what they did.\nAnyone can check it against the relay's audit log (lifeline-relay audit verify-receipt FILE).\n"
        );
        let row = |t: &mut String, k: &str, v: &str| {
            let _ = writeln!(t, "{k:<12}{}", one_line(v));
        };
        row(t, "Technician", &self.technician);
        row(
            t,
            "Reason",
            self.reason.as_deref().unwrap_or("(none given)"),
        );
        row(t, "Relay", &self.relay);
        row(t, "Session", &self.session);
        row(t, "Started", &self.started);
        let ended = format!(
            "{} ({}): {}",
            self.ended,
            human_duration(self.duration_s),
            self.ending
        );
        row(t, "Ended", &ended);
        let recorded = if self.recorded_for.is_empty() {
            "no".to_owned()
        } else {
            let keys = if self.keys_recorded {
                ", keystrokes too"
            } else {
                ""
            };
            format!("yes, for {}{keys}", self.recorded_for.join(", "))
        };
        row(t, "Recorded", &recorded);
        let _ = writeln!(t, "\nWhat happened");
        if self.events.is_empty() {
            let _ = writeln!(t, "  nothing was allowed");
        }
        for e in &self.events {
            let _ = writeln!(t, "  {}", one_line(&e.to_string()));
        }
        if self.left_out > 0 {
            let _ = writeln!(
                t,
                "  … and {} more, not kept (a receipt keeps the first few megabytes)",
                self.left_out
            );
        }
        let _ = writeln!(
            t,
            "\nThe relay's audit records of this session, as it acknowledged them:"
        );
        if self.audit_records.is_empty() {
            let _ = writeln!(t, "  none acknowledged");
        }
        for a in &self.audit_records {
            let _ = writeln!(t, "  record {:<8} {}", a.seq, a.hash);
        }
    }

    /// Reads a receipt back from its file's text (the JSON block; the
    /// part for people is not trusted).
    pub fn from_text(text: &str) -> Result<Self, ReceiptError> {
        if text.len() > MAX_BYTES {
            return Err(ReceiptError::TooLarge);
        }
        let start = text
            .lines()
            .position(|l| l.trim() == BEGIN)
            .ok_or(ReceiptError::NoBlock)?;
        let block: Vec<&str> = text
            .lines()
            .skip(start + 1)
            .take_while(|l| l.trim() != END)
            .collect();
        let value: serde_json::Value = serde_json::from_str(&block.join("\n"))
            .map_err(|e| ReceiptError::Unreadable(e.to_string()))?;
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(VERSION) => {}
            Some(v) => return Err(ReceiptError::Version(u32::try_from(v).unwrap_or(u32::MAX))),
            None => return Err(ReceiptError::Unreadable("no version".into())),
        }
        serde_json::from_value(value).map_err(|e| ReceiptError::Unreadable(e.to_string()))
    }
}

impl fmt::Display for Happened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Happened::Mode { at, mode } => match mode.as_str() {
                "control" => write!(f, "{at}  you allowed them to see and control your screen"),
                "view" => write!(f, "{at}  they could see your screen only"),
                other => write!(f, "{at}  mode: {other}"),
            },
            Happened::Transfer {
                at,
                what,
                direction,
                bytes,
                name,
                sha256,
            } => {
                let way = if direction == "to host" {
                    "to you"
                } else {
                    "from you to the technician"
                };
                write!(f, "{at}  {what} {way}: {bytes} bytes")?;
                if let Some(n) = name {
                    write!(f, ", {n}")?;
                }
                if let Some(h) = sha256 {
                    write!(f, ", SHA-256 {h}")?;
                }
                Ok(())
            }
            Happened::Chat { at, from, text } => write!(f, "{at}  chat, {from}: {text}"),
            Happened::Interrupted { at } => write!(f, "{at}  the connection was lost"),
            Happened::Resumed { at } => write!(f, "{at}  the connection came back"),
        }
    }
}

/// Text on one line: control characters (a peer's newlines among them)
/// shown as spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `2 h 5 min`, `3 min 8 s`, `42 s`.
pub fn human_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min"),
    }
}

/// What checking a receipt against the log found about one record it
/// names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// No record of that number in the log (removed, or the log cut).
    Missing { seq: u64 },
    /// The record's text no longer matches its own hash: it was edited.
    Altered { seq: u64 },
    /// The record is whole but not the one the relay acknowledged: the
    /// log was rewritten (hashes recomputed), or the receipt was.
    Differs { seq: u64 },
    /// The record is about another session.
    OtherSession { seq: u64 },
    /// The session's start record says another technician or reason
    /// (`what`) than the receipt: what the user was shown and what the
    /// relay logged disagree.
    Disagrees { seq: u64, what: &'static str },
    /// None of the records is the session's start, unchanged: who joined
    /// and why cannot be checked.
    NoStart,
}

impl Finding {
    /// The record named, if one is.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Finding::Missing { seq }
            | Finding::Altered { seq }
            | Finding::Differs { seq }
            | Finding::OtherSession { seq }
            | Finding::Disagrees { seq, .. } => Some(*seq),
            Finding::NoStart => None,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Missing { seq } => write!(f, "record {seq}: not in the log"),
            Finding::Altered { seq } => write!(
                f,
                "record {seq}: altered in the log (its text no longer matches its hash)"
            ),
            Finding::Differs { seq } => write!(
                f,
                "record {seq}: not the record the relay acknowledged to the host (the log or the receipt was rewritten)"
            ),
            Finding::OtherSession { seq } => {
                write!(f, "record {seq}: about another session than the receipt's")
            }
            Finding::Disagrees { seq, what } => write!(
                f,
                "record {seq}: the session's start names another {what} than the receipt"
            ),
            Finding::NoStart => f.write_str(
                "the receipt names no start record of its session (who joined and why cannot be checked)",
            ),
        }
    }
}

/// A receipt checked against a log.
#[derive(Debug)]
pub struct Checked {
    /// How many records the receipt names.
    pub named: usize,
    /// What is wrong with them, in the receipt's order; empty: every one
    /// is in the log, unchanged.
    pub findings: Vec<Finding>,
    /// The whole log's own verification (its chain), apart from the
    /// receipt's records.
    pub chain: Result<(), ChainError>,
}

/// Checks every record `receipt` names against the log's text.
pub fn check(receipt: &Receipt, log: &str) -> Checked {
    // Each line's own check, by record number: whole (with its hash and
    // session), or altered.
    let mut lines: HashMap<u64, Result<Verified, ()>> = HashMap::new();
    for (i, line) in log.split_terminator('\n').enumerate() {
        // The first line of a number stands; a second one is not it.
        match check_line(line, i + 1) {
            Ok(v) => {
                lines.entry(v.record.seq).or_insert(Ok(v));
            }
            Err(ChainError::BadRecord { seq: Some(s), .. }) => {
                lines.entry(s).or_insert(Err(()));
            }
            Err(_) => {}
        }
    }
    let mut findings: Vec<Finding> = Vec::new();
    let mut start = None;
    for a in &receipt.audit_records {
        let seq = a.seq;
        match lines.get(&seq) {
            None => findings.push(Finding::Missing { seq }),
            Some(Err(())) => findings.push(Finding::Altered { seq }),
            Some(Ok(v)) if v.hash != a.hash => findings.push(Finding::Differs { seq }),
            Some(Ok(v)) if v.record.event.session() != Some(receipt.session.as_str()) => {
                findings.push(Finding::OtherSession { seq });
            }
            Some(Ok(v)) => {
                if let AuditEvent::SessionStarted {
                    technician, reason, ..
                } = &v.record.event
                {
                    start.get_or_insert((seq, technician, reason));
                }
            }
        }
    }
    match start {
        None => findings.push(Finding::NoStart),
        Some((seq, technician, reason)) => {
            if *technician != receipt.technician {
                findings.push(Finding::Disagrees {
                    seq,
                    what: "technician",
                });
            }
            if *reason != receipt.reason {
                findings.push(Finding::Disagrees {
                    seq,
                    what: "reason",
                });
            }
        }
    }
    Checked {
        named: receipt.audit_records.len(),
        findings,
        chain: verify_log(log, None).map(|_| ()),
    }
}

#[cfg(test)]
mod tests;
