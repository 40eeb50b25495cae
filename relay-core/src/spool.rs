//! Audit records that commands on the relay's machine ask the running
//! relay to write, since it holds the log's one writer: `recording fetch`
//! and the commands that change who may do what (technicians, auditors,
//! console accounts). One file a request in `DIR/requests/` (NAME.req, the
//! event as JSON); the relay writes the record and renames the file
//! NAME.ok once it is durable (NAME.failed or NAME.bad otherwise). Only
//! those kinds of record are taken, so nothing else reaches the log this
//! way.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use lifeline_proto::audit::AuditEvent;

/// Where requests wait for the running relay.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("requests")
}

/// Whether a command may ask for this record.
fn allowed(event: &AuditEvent) -> bool {
    matches!(
        event,
        AuditEvent::RecordingFetched { .. } | AuditEvent::AdminAction { .. }
    )
}

/// Leaves a request for the running relay; returns its file.
pub fn submit(data_dir: &Path, event: &AuditEvent) -> io::Result<PathBuf> {
    let text = serde_json::to_vec(event).map_err(io::Error::other)?;
    let name = dir(data_dir).join(format!("{:016x}.req", rand::random::<u64>()));
    crate::private::replace_file(&name, &text)?;
    Ok(name)
}

/// The requests waiting, each with its file; `None` for one that is
/// unreadable or asks for a record commands may not write.
pub fn waiting(data_dir: &Path) -> Vec<(PathBuf, Option<AuditEvent>)> {
    let Ok(entries) = fs::read_dir(dir(data_dir)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "req"))
        .map(|p| {
            let event = fs::read_to_string(&p)
                .ok()
                .and_then(|t| serde_json::from_str::<AuditEvent>(&t).ok())
                .filter(allowed);
            (p, event)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fetches_and_admin_actions_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        let ok = AuditEvent::AdminAction {
            by: "root".into(),
            action: "technician add".into(),
            target: "bob".into(),
        };
        let forged = AuditEvent::SessionEnded {
            session: "s".into(),
            reason: "r".into(),
            duration_ms: 0,
            bytes_host_to_viewer: 0,
            bytes_viewer_to_host: 0,
        };
        let a = submit(dir.path(), &ok).unwrap();
        let b = submit(dir.path(), &forged).unwrap();
        let mut got = waiting(dir.path());
        got.sort_by_key(|(p, _)| (p != &a, p.clone()));
        assert_eq!(got, vec![(a, Some(ok)), (b, None)]);
    }
}
