//! What a resumable session needs to survive a relay restart, one small
//! file a session in `DATA_DIR/resume/`: the hash of its resume secret and
//! who it is between (for the audit log). Written durably (temporary file,
//! fsync, rename) when the host hands in the ticket; removed when the
//! session ends for good. The secret itself is never stored.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::private::{private_dir, private_file};

/// One resumable session, as kept on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub session: String,
    /// SHA-256 of the resume secret, hex.
    pub hash: String,
    pub technician: String,
    /// The technician's token hash, to count a wrong secret against it.
    pub token_key: String,
    pub locator: u32,
    pub host_ip: String,
    pub viewer_ip: String,
    /// When the session started (Unix milliseconds), so that its duration
    /// counts from then even after a restart.
    #[serde(default)]
    pub started_unix_ms: u64,
}

impl Ticket {
    /// The hash as bytes, if the file holds a well-formed one.
    pub fn hash_bytes(&self) -> Option<[u8; 32]> {
        hex::decode(&self.hash).ok()?.try_into().ok()
    }
}

/// Why a stored ticket could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write the resume state {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the resume state in {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unreadable resume state {path}: {why}")]
    Bad { path: PathBuf, why: String },
}

/// The folder of tickets in a data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("resume")
}

/// Session ids are the relay's own 16 hex digits; anything else never
/// becomes a file name.
fn file(data_dir: &Path, session: &str) -> Option<PathBuf> {
    let ok = !session.is_empty()
        && session.len() <= 32
        && session.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| dir(data_dir).join(format!("{session}.json")))
}

/// Writes `ticket` so that a crash leaves either the old state or the new.
pub fn save(data_dir: &Path, ticket: &Ticket) -> Result<(), StoreError> {
    let Some(path) = file(data_dir, &ticket.session) else {
        return Err(StoreError::Bad {
            path: dir(data_dir),
            why: format!("not a session id: {:?}", ticket.session),
        });
    };
    let err = |source| StoreError::Write {
        path: path.clone(),
        source,
    };
    private_dir(&dir(data_dir)).map_err(err)?;
    let tmp = path.with_extension("tmp");
    let body = serde_json::to_vec(ticket).map_err(|e| err(io::Error::other(e)))?;
    let mut f = fs::File::create(&tmp).map_err(err)?;
    private_file(&tmp).map_err(err)?;
    f.write_all(&body).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::rename(&tmp, &path).map_err(err)?;
    fs::File::open(dir(data_dir))
        .and_then(|d| d.sync_all())
        .map_err(err)
}

/// Forgets a session's ticket (it ended for good); missing is fine.
pub fn remove(data_dir: &Path, session: &str) -> Result<(), StoreError> {
    let Some(path) = file(data_dir, session) else {
        return Ok(());
    };
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Write { path, source }),
    }
}

/// Every stored ticket; a file that cannot be read is reported beside the
/// good ones (and left for the operator), never fatal.
pub fn load_all(data_dir: &Path) -> (Vec<Ticket>, Vec<StoreError>) {
    let d = dir(data_dir);
    let entries = match fs::read_dir(&d) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (vec![], vec![]),
        Err(source) => return (vec![], vec![StoreError::Read { path: d, source }]),
    };
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let parsed = fs::read(&path)
            .map_err(|source| StoreError::Read {
                path: path.clone(),
                source,
            })
            .and_then(|bytes| {
                serde_json::from_slice::<Ticket>(&bytes).map_err(|e| StoreError::Bad {
                    path: path.clone(),
                    why: e.to_string(),
                })
            });
        match parsed {
            Ok(t) if t.hash_bytes().is_some() && file(data_dir, &t.session).is_some() => {
                good.push(t)
            }
            Ok(_) => bad.push(StoreError::Bad {
                path,
                why: "bad session id or hash".into(),
            }),
            Err(e) => bad.push(e),
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn ticket(id: &str) -> Ticket {
        Ticket {
            session: id.into(),
            hash: "ab".repeat(32),
            technician: "bo".into(),
            token_key: "k".into(),
            locator: 42,
            host_ip: "127.0.0.1".into(),
            viewer_ip: "127.0.0.2".into(),
            started_unix_ms: 1,
        }
    }

    #[test]
    fn saved_tickets_load_back_private_and_go_when_removed() {
        let d = tempfile::tempdir().unwrap();
        save(d.path(), &ticket("00ff")).unwrap();
        save(d.path(), &ticket("01ff")).unwrap();
        let (mut got, bad) = load_all(d.path());
        got.sort_by(|a, b| a.session.cmp(&b.session));
        assert!(bad.is_empty());
        assert_eq!(got, vec![ticket("00ff"), ticket("01ff")]);
        assert_eq!(got[0].hash_bytes(), Some([0xab; 32]));
        let mode = fs::metadata(dir(d.path()).join("00ff.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        remove(d.path(), "00ff").unwrap();
        remove(d.path(), "00ff").unwrap();
        assert_eq!(load_all(d.path()).0.len(), 1);
    }

    #[test]
    fn odd_ids_never_become_paths_and_bad_files_are_reported() {
        let d = tempfile::tempdir().unwrap();
        assert!(save(d.path(), &ticket("../x")).is_err());
        remove(d.path(), "../../etc/passwd").unwrap();
        save(d.path(), &ticket("aa")).unwrap();
        fs::write(dir(d.path()).join("bb.json"), "{not json").unwrap();
        let (good, bad) = load_all(d.path());
        assert_eq!(good.len(), 1);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].to_string().contains("bb.json"), "{}", bad[0]);
    }
}
