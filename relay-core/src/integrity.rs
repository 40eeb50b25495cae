//! The whole check behind `audit verify` and the console's integrity page:
//! the log's hash chain and head, then every recording still kept against
//! the record that sealed it. One place, so both say the same thing.

use std::collections::HashSet;
use std::path::Path;

use lifeline_proto::audit::AuditEvent;

use crate::audit::read_verified;

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
