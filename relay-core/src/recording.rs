//! Recordings at the relay. The auditors' public keys live in
//! `auditors.json` in the data directory; a relay with one or more records
//! every session (as `--recording` says). Each session's recording is a
//! file in `recordings/`, written as its sealed chunks come from the host:
//! the relay holds no key and cannot read them. It hash-chains the chunks
//! as it writes them and files the chain's end in the audit log when the
//! session ends, so `audit verify` proves each recording whole.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use lifeline_proto::audit::AuditEvent;
use lifeline_proto::control::Auditor;
use lifeline_record::AuditorPublic;
use lifeline_record::chain::{Chain, frame, split};
use serde::{Deserialize, Serialize};

use crate::store::{JsonFile, StoreError};

/// Whether sessions are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingMode {
    /// Every session is recorded; one whose recording cannot be written
    /// ends.
    Required,
    /// Every session is recorded where it can be.
    Optional,
    Off,
}

/// Errors of the auditor store and recording files.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("auditor names are 1-64 letters, digits, '.', '_', '-' or '@'; {0:?} is not")]
    BadName(String),
    #[error("auditor {0:?} already exists; remove it first or pick another name")]
    Exists(String),
    #[error("auditor {0:?} already has this public key")]
    SameKey(String),
    #[error("no auditor is named {0:?}; see `lifeline-relay auditor list`")]
    NoSuch(String),
    #[error("{0}")]
    Key(#[from] lifeline_record::KeyError),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RecordingError + '_ {
    move |source| RecordingError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One auditor as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditorEntry {
    pub name: String,
    /// The one-line public key.
    pub public_key: String,
    pub added: String,
}

impl AuditorEntry {
    /// The fingerprint of its key (for lists).
    pub fn fingerprint(&self) -> String {
        AuditorPublic::from_text(&self.public_key)
            .map(|k| k.fingerprint())
            .unwrap_or_default()
    }
}

/// The auditors' public keys.
#[derive(Debug, Clone)]
pub struct AuditorStore {
    file: JsonFile,
}

impl AuditorStore {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            file: JsonFile::in_dir(dir, "auditors.json", "auditor"),
        }
    }

    /// Every auditor, in the order added.
    pub fn list(&self) -> Result<Vec<AuditorEntry>, RecordingError> {
        let entries: Vec<AuditorEntry> = self.file.read()?;
        for e in &entries {
            AuditorPublic::from_text(&e.public_key)
                .map_err(|k| self.file.corrupt(format!("{}: {k}", e.name)))?;
        }
        Ok(entries)
    }

    /// The keys recordings are sealed to.
    pub fn auditors(&self) -> Result<Vec<Auditor>, RecordingError> {
        self.list()?
            .into_iter()
            .map(|e| {
                Ok(Auditor {
                    public_key: AuditorPublic::from_text(&e.public_key)?.0,
                    name: e.name,
                })
            })
            .collect()
    }

    fn write(&self, entries: &[AuditorEntry]) -> Result<(), RecordingError> {
        Ok(self.file.write(entries)?)
    }

    /// Adds an auditor with the public key in `text`.
    pub fn add(&self, name: &str, text: &str) -> Result<AuditorEntry, RecordingError> {
        if !crate::tokens::valid_name(name) {
            return Err(RecordingError::BadName(name.to_owned()));
        }
        let key = AuditorPublic::from_text(text)?;
        let mut entries = self.list()?;
        if entries.iter().any(|e| e.name == name) {
            return Err(RecordingError::Exists(name.to_owned()));
        }
        if let Some(e) = entries.iter().find(|e| e.public_key == key.to_text()) {
            return Err(RecordingError::SameKey(e.name.clone()));
        }
        let entry = AuditorEntry {
            name: name.to_owned(),
            public_key: key.to_text(),
            added: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        entries.push(entry.clone());
        self.write(&entries)?;
        Ok(entry)
    }

    /// Removes an auditor: later sessions are not sealed to them (their
    /// earlier recordings stay readable with their key).
    pub fn remove(&self, name: &str) -> Result<(), RecordingError> {
        let mut entries = self.list()?;
        let before = entries.len();
        entries.retain(|e| e.name != name);
        if entries.len() == before {
            return Err(RecordingError::NoSuch(name.to_owned()));
        }
        self.write(&entries)
    }
}

/// Where a session's recording is kept, relative to the data directory.
pub fn file_name(session: &str) -> String {
    format!("recordings/{session}.llrec")
}

/// A session's recording as it is written.
#[derive(Debug)]
pub struct RecordingFile {
    session: String,
    name: String,
    path: PathBuf,
    file: File,
    chain: Chain,
}

impl RecordingFile {
    /// Creates the session's file (readable by the relay's user only).
    pub fn create(data_dir: &Path, session: &str) -> Result<Self, RecordingError> {
        let dir = data_dir.join("recordings");
        crate::private::private_dir(&dir).map_err(io(&dir))?;
        let name = file_name(session);
        let path = data_dir.join(&name);
        let file = File::options()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        crate::private::private_file(&path).map_err(io(&path))?;
        Ok(Self {
            session: session.to_owned(),
            name,
            path,
            file,
            chain: Chain::new(session),
        })
    }

    /// Opens a session's file again after a restart, to go on where the
    /// killed run stopped: the chain is taken up again over what is there,
    /// and a chunk the kill cut short is dropped (the host sends it again).
    /// `None` when the session has no recording.
    pub fn reopen(data_dir: &Path, session: &str) -> Result<Option<Self>, RecordingError> {
        let name = file_name(session);
        let path = data_dir.join(&name);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let (chunks, whole) = match split(&data) {
            Ok(c) => (c, data.len()),
            Err(cut) => (split(&data[..cut.offset]).unwrap_or_default(), cut.offset),
        };
        let mut chain = Chain::new(session);
        for c in &chunks {
            chain.push(c);
        }
        let file = File::options().write(true).open(&path).map_err(io(&path))?;
        file.set_len(whole as u64).map_err(io(&path))?;
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).map_err(io(&path))?;
        Ok(Some(Self {
            session: session.to_owned(),
            name,
            path,
            file,
            chain,
        }))
    }

    /// Chunks and bytes written so far (with those a restart found), to
    /// hold a session to its caps.
    pub fn written(&self) -> (u64, u64) {
        (self.chain.chunks(), self.chain.bytes())
    }

    /// Writes the next chunk as it came.
    pub fn append(&mut self, chunk: &[u8]) -> Result<(), RecordingError> {
        self.file.write_all(&frame(chunk)).map_err(io(&self.path))?;
        self.chain.push(chunk);
        Ok(())
    }

    /// Makes the file durable; the audit record that seals it.
    pub fn seal(self) -> Result<AuditEvent, RecordingError> {
        self.file.sync_all().map_err(io(&self.path))?;
        Ok(AuditEvent::RecordingSealed {
            session: self.session,
            file: self.name,
            chunks: self.chain.chunks(),
            bytes: self.chain.bytes(),
            sha256: self.chain.hash_hex(),
        })
    }
}

/// Recordings whose files are older than `keep` at `now`: (session, file
/// name relative to the data directory, path).
pub fn expired(
    data_dir: &Path,
    keep: std::time::Duration,
    now: std::time::SystemTime,
) -> Vec<(String, String, PathBuf)> {
    let Ok(entries) = fs::read_dir(data_dir.join("recordings")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let session = path
                .file_name()?
                .to_str()?
                .strip_suffix(".llrec")?
                .to_owned();
            let age = now
                .duration_since(e.metadata().ok()?.modified().ok()?)
                .ok()?;
            let file = file_name(&session);
            (age > keep).then_some((session, file, path))
        })
        .collect()
}

/// Checks a sealed recording against its audit record: `None` when whole,
/// else what is wrong.
pub fn verify(data_dir: &Path, event: &AuditEvent) -> Option<String> {
    let AuditEvent::RecordingSealed {
        session,
        file,
        chunks,
        bytes,
        sha256,
    } = event
    else {
        return None;
    };
    if file != &file_name(session) {
        return Some(format!(
            "{file}: not where this session's recording belongs"
        ));
    }
    let path = data_dir.join(file);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    let parts = match split(&data) {
        Ok(p) => p,
        Err(e) => return Some(format!("{}: {e}", path.display())),
    };
    let mut chain = Chain::new(session);
    for p in &parts {
        chain.push(p);
    }
    let found = (chain.chunks(), chain.bytes(), chain.hash_hex());
    if found != (*chunks, *bytes, sha256.clone()) {
        return Some(format!(
            "{}: {} chunks, {} bytes, chain {} where the audit log sealed {chunks} chunks, {bytes} bytes, chain {sha256}: the recording was altered or cut",
            path.display(),
            found.0,
            found.1,
            found.2
        ));
    }
    None
}
