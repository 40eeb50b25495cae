//! The whole check behind `audit verify` and the console's integrity page:
//! the log's hash chain and head, then every recording still kept against
//! the record that sealed it. One place, so both say the same thing.
//!
//! The head lags the log by at most the write under way (the relay writes
//! the log, then the head). So that a record appended by hand after the
//! head (with a correct chain) is not taken for such a write, the writer
//! first marks, durably, where the write it begins will end
//! (`audit.writing`, [`WriteMark`]); the log may run ahead of its head only
//! up to that mark.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use lifeline_proto::audit::{AuditEvent, Head};

use crate::audit::{head_path, read_verified};

/// The file beside the log that marks where the write under way ends.
pub fn writing_path(dir: &Path) -> PathBuf {
    dir.join("audit.writing")
}

/// A log that runs ahead of its head by more than the write under way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "records {first} to {last} come after the log's head (record {head}) and after the last write the relay began (it ends at record {marked}): they were added to the log by something other than the relay"
)]
pub struct AheadError {
    pub first: u64,
    pub last: u64,
    pub head: u64,
    pub marked: u64,
}

/// Checks that a log whose last record is `last` runs ahead of its head
/// (`head`, 0 for none) by no more than the write marked (`marked`).
pub fn ahead(last: u64, head: u64, marked: Option<u64>) -> Result<(), AheadError> {
    let marked = marked.unwrap_or(head);
    let allowed = head.max(marked);
    if last <= allowed {
        return Ok(());
    }
    Err(AheadError {
        first: allowed + 1,
        last,
        head,
        marked,
    })
}

/// The writer's mark: before each write it records (and syncs) the number
/// of the last record that write adds, in fixed width.
#[derive(Debug)]
pub struct WriteMark {
    file: File,
}

impl WriteMark {
    /// Opens (or creates) the mark in `dir`, private.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let path = writing_path(dir);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        crate::private::private_file(&path)?;
        Ok(Self { file })
    }

    /// Marks that the write about to begin ends at record `seq`; durable
    /// before it returns.
    pub fn mark(&mut self, seq: u64) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(format!("{seq:020}\n").as_bytes())?;
        self.file.sync_data()
    }
}

/// The mark in `dir`, if the relay has written one.
fn marked(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(writing_path(dir)).ok()?;
    text.trim().parse().ok()
}

/// The head's record number in `dir` (0: none yet).
fn head_seq(dir: &Path) -> u64 {
    std::fs::read_to_string(head_path(dir))
        .ok()
        .and_then(|t| Head::parse(&t))
        .map_or(0, |h| h.seq)
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integrity {
    /// Records in the log (when the chain is intact).
    pub records: usize,
    /// The chain's first problem, naming the bad record; `None`: intact.
    pub chain: Option<String>,
    /// Sealed recordings checked (expired ones are not missing).
    pub recordings: usize,
    /// What is wrong with each recording that failed.
    pub bad_recordings: Vec<String>,
}

impl Integrity {
    /// Whether everything checked out.
    pub fn intact(&self) -> bool {
        self.chain.is_none() && self.bad_recordings.is_empty()
    }
}

/// Checks the log in `dir`, then its recordings.
pub fn check(dir: &Path) -> Integrity {
    let recs = match read_verified(dir) {
        Ok(recs) => recs,
        Err(e) => {
            return Integrity {
                records: 0,
                chain: Some(e.to_string()),
                recordings: 0,
                bad_recordings: Vec::new(),
            };
        }
    };
    let last = recs.last().map_or(0, |r| r.record.seq);
    if let Err(e) = ahead(last, head_seq(dir), marked(dir)) {
        return Integrity {
            records: recs.len(),
            chain: Some(e.to_string()),
            recordings: 0,
            bad_recordings: Vec::new(),
        };
    }
    let expired: HashSet<&str> = recs
        .iter()
        .filter_map(|r| match &r.record.event {
            AuditEvent::RecordingExpired { session, .. } => Some(session.as_str()),
            _ => None,
        })
        .collect();
    let sealed: Vec<_> = recs
        .iter()
        .filter(|r| matches!(&r.record.event, AuditEvent::RecordingSealed { session, .. } if !expired.contains(session.as_str())))
        .collect();
    let bad_recordings = sealed
        .iter()
        .filter_map(|r| crate::recording::verify(dir, &r.record.event))
        .collect();
    Integrity {
        records: recs.len(),
        chain: None,
        recordings: sealed.len(),
        bad_recordings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_may_run_ahead_of_its_head_only_by_the_write_marked() {
        // Caught up, or one write ahead (a crash before the head moved).
        assert_eq!(ahead(7, 7, Some(7)), Ok(()));
        assert_eq!(ahead(9, 7, Some(9)), Ok(()));
        // A write marked but never made: nothing is missing.
        assert_eq!(ahead(7, 7, Some(9)), Ok(()));
        // Past the mark: added by hand.
        let e = ahead(8, 7, Some(7)).unwrap_err();
        assert_eq!((e.first, e.last, e.head, e.marked), (8, 8, 7, 7));
        assert!(e.to_string().contains("records 8 to 8"), "{e}");
        assert!(ahead(12, 7, Some(9)).is_err());
        // No mark (a log from before marks): the head alone.
        assert!(ahead(8, 7, None).is_err());
        assert_eq!(ahead(0, 0, None), Ok(()));
    }

    #[test]
    fn the_mark_is_fixed_width_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = WriteMark::open(dir.path()).unwrap();
        m.mark(123_456).unwrap();
        m.mark(7).unwrap();
        assert_eq!(marked(dir.path()), Some(7));
        let text = std::fs::read_to_string(writing_path(dir.path())).unwrap();
        assert_eq!(text, format!("{:020}\n", 7));
    }
}
