//! The user's receipt of a session (issue #34): what the session's driver
//! saw happen, gathered as it happens ([`Log`]), and the file written
//! when the session ends, in the format of [`lifeline_proto::receipt`]:
//! by default in `Documents/Lifeline receipts` of the user's home folder
//! (`%USERPROFILE%\Documents\Lifeline receipts` on Windows).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use lifeline_proto::control::{Mode, Transfer};
use lifeline_proto::receipt::{Acked, Happened, Receipt, VERSION};

/// Most things one receipt lists (a session's reports are capped by the
/// relay at 10,000 by default; chat is the user's and the technician's).
const MAX_EVENTS: usize = 100_000;
/// Most bytes of them a receipt keeps (its text holds them twice, and
/// the whole file must stay readable by `verify-receipt`), counted as
/// their text.
const MAX_EVENT_BYTES: usize = 8 << 20;
/// Longest chat message a receipt keeps, in bytes.
const MAX_CHAT: usize = 4096;

/// A session's record as it goes.
#[derive(Debug)]
pub struct Log {
    started: SystemTime,
    events: Vec<Happened>,
    /// Their size so far, and how many did not fit.
    bytes: usize,
    left_out: u64,
    audited: Vec<Acked>,
}

/// What the receipt says about the session as a whole.
#[derive(Debug, Clone)]
pub struct About {
    pub session: String,
    pub technician: String,
    pub reason: Option<String>,
    pub relay: String,
    /// The auditors it was recorded for (empty: not recorded), and
    /// whether keystrokes were.
    pub recorded_for: Vec<String>,
    pub keys_recorded: bool,
}

/// RFC 3339, UTC, to the second.
fn stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

impl Log {
    /// The session started (the technician joined) at `now`.
    pub fn new(now: SystemTime) -> Self {
        Self {
            started: now,
            events: Vec::new(),
            bytes: 0,
            left_out: 0,
            audited: Vec::new(),
        }
    }

    fn push(&mut self, e: Happened) {
        let size = e.to_string().len();
        if self.events.len() < MAX_EVENTS && self.bytes + size <= MAX_EVENT_BYTES {
            self.bytes += size;
            self.events.push(e);
        } else {
            self.left_out += 1;
        }
    }

    /// The user allowed `mode`, or took control back.
    pub fn mode(&mut self, mode: Mode, now: SystemTime) {
        self.push(Happened::Mode {
            at: stamp(now),
            mode: mode.as_str().into(),
        });
    }

    /// Something was handed across, as the relay was told.
    pub fn transfer(&mut self, t: &Transfer, now: SystemTime) {
        self.push(Happened::Transfer {
            at: stamp(now),
            what: t.kind.as_str().into(),
            direction: t.direction().into(),
            bytes: t.bytes,
            name: t.name.clone(),
            sha256: t.sha256.map(hex::encode),
        });
    }

    /// A chat message, from the user or the technician.
    pub fn chat(&mut self, from_user: bool, text: &str, now: SystemTime) {
        let mut text = text.to_owned();
        if text.len() > MAX_CHAT {
            let mut cut = MAX_CHAT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        let from = if from_user { "you" } else { "technician" };
        self.push(Happened::Chat {
            at: stamp(now),
            from: from.into(),
            text,
        });
    }

    /// The link to the relay was lost; and it came back.
    pub fn interrupted(&mut self, now: SystemTime) {
        self.push(Happened::Interrupted { at: stamp(now) });
    }
    pub fn resumed(&mut self, now: SystemTime) {
        self.push(Happened::Resumed { at: stamp(now) });
    }

    /// Records the relay acknowledged as durable (number, hash).
    pub fn audited(&mut self, records: Vec<(u64, [u8; 32])>) {
        for (seq, hash) in records {
            if self.audited.len() < MAX_EVENTS {
                self.audited.push(Acked {
                    seq,
                    hash: hex::encode(hash),
                });
            }
        }
    }

    /// Whether the user shared their screen at all (allowed a mode).
    pub fn shared(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Happened::Mode { .. }))
    }

    /// The receipt of the session, which ended at `ended` as `ending` says.
    pub fn finish(self, about: About, ending: &str, ended: SystemTime) -> Receipt {
        let duration_s = ended
            .duration_since(self.started)
            .map_or(0, |d| d.as_secs());
        Receipt {
            version: VERSION,
            session: about.session,
            technician: about.technician,
            reason: about.reason,
            relay: about.relay,
            started: stamp(self.started),
            ended: stamp(ended),
            duration_s,
            ending: ending.into(),
            recorded_for: about.recorded_for,
            keys_recorded: about.keys_recorded,
            events: self.events,
            left_out: self.left_out,
            audit_records: self.audited,
        }
    }
}

/// The default folder for receipts: `Documents/Lifeline receipts` in
/// the home folder.
pub fn default_dir() -> PathBuf {
    lifeline_common::folders::this()
        .home()
        .unwrap_or_default()
        .join("Documents")
        .join("Lifeline receipts")
}

/// Writes `receipt` into `dir` (made if missing) as a new file named by
/// its start time (`Lifeline receipt 2026-12-07 05-00-00.txt`, with a
/// number added when that is taken); never overwrites.
pub fn write(dir: &Path, receipt: &Receipt) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let when: String = receipt
        .started
        .trim_end_matches('Z')
        .replace('T', " ")
        .replace(':', "-");
    let text = receipt.to_text();
    for n in 1..1000 {
        let name = if n == 1 {
            format!("Lifeline receipt {when}.txt")
        } else {
            format!("Lifeline receipt {when} ({n}).txt")
        };
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "a thousand receipts started in the same second",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_proto::control::TransferKind;
    use std::time::Duration;

    #[test]
    fn a_chat_flood_is_cut_to_what_a_receipt_keeps_and_counted() {
        let t0 = SystemTime::UNIX_EPOCH;
        let mut log = Log::new(t0);
        let long = "x".repeat(MAX_CHAT);
        for _ in 0..(MAX_EVENT_BYTES / MAX_CHAT + 10) {
            log.chat(false, &long, t0);
        }
        log.audited(vec![(1, [2; 32])]);
        let about = About {
            session: "s".into(),
            technician: "t".into(),
            reason: None,
            relay: "r:1".into(),
            recorded_for: Vec::new(),
            keys_recorded: false,
        };
        let r = log.finish(about, "ended", t0);
        assert!(r.left_out >= 10, "{}", r.left_out);
        assert_eq!(r.audit_records.len(), 1, "the records are always kept");
        let text = r.to_text();
        assert!(
            text.len() < lifeline_proto::receipt::MAX_BYTES,
            "{}",
            text.len()
        );
        assert_eq!(Receipt::from_text(&text).unwrap(), r);
    }

    #[test]
    fn a_session_log_becomes_a_receipt_and_a_new_file_each_time() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let mut log = Log::new(t0);
        log.mode(Mode::Control, t0 + Duration::from_secs(2));
        log.transfer(
            &Transfer {
                kind: TransferKind::File,
                to_host: true,
                bytes: 5,
                name: Some("a.txt".into()),
                sha256: Some([0xab; 32]),
            },
            t0 + Duration::from_secs(3),
        );
        log.chat(true, &"é".repeat(MAX_CHAT), t0 + Duration::from_secs(4));
        log.audited(vec![(7, [1; 32])]);
        let about = About {
            session: "s1".into(),
            technician: "alice".into(),
            reason: Some("INC-1".into()),
            relay: "r:1".into(),
            recorded_for: Vec::new(),
            keys_recorded: false,
        };
        let r = log.finish(about, "ended by you", t0 + Duration::from_secs(130));
        assert_eq!(r.duration_s, 130);
        assert_eq!(r.started, "2026-11-30T00:53:20Z");
        assert_eq!(r.audit_records[0].hash, "01".repeat(32));
        match &r.events[1] {
            Happened::Transfer { sha256, .. } => assert_eq!(sha256, &Some("ab".repeat(32))),
            other => panic!("{other:?}"),
        }
        match &r.events[2] {
            Happened::Chat { text, from, .. } => {
                assert_eq!(from, "you");
                assert!(text.len() <= MAX_CHAT && text.chars().all(|c| c == 'é'));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.left_out, 0);
        let dir = tempfile::tempdir().unwrap();
        let first = write(&dir.path().join("new"), &r).unwrap();
        let second = write(&dir.path().join("new"), &r).unwrap();
        assert_eq!(
            first.file_name().unwrap(),
            "Lifeline receipt 2026-11-30 00-53-20.txt"
        );
        assert_eq!(
            second.file_name().unwrap(),
            "Lifeline receipt 2026-11-30 00-53-20 (2).txt"
        );
        let back = Receipt::from_text(&std::fs::read_to_string(&first).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
