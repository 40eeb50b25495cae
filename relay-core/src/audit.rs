//! The audit log on disk: `DIR/audit.jsonl` and its head `DIR/audit.head`.
//!
//! One writer thread owns the file. Callers hand it an event and wait until
//! the line is on disk (`fdatasync`) before they act, so a relay killed at
//! any moment has already written every record it acted on. Records that
//! arrive together are written and synced together (group commit), which
//! keeps pairing fast without weakening that promise.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::SystemTime;

use lifeline_proto::audit::{
    AuditEvent, Chain, ChainError, Head, Verified, check_line, verify_log,
};
use tokio::sync::oneshot;

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "audit log {path}: its last record is unreadable ({why}); run `lifeline-relay audit verify`"
    )]
    BadTail { path: PathBuf, why: String },
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("the audit writer has stopped")]
    Stopped,
    #[error("another lifeline-relay uses the data directory {0} (it holds relay.lock)")]
    Busy(PathBuf),
    #[error("audit log in the database: {0}")]
    Database(String),
}

/// The log's file names inside a data directory.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("audit.jsonl")
}

/// The head file beside the log.
pub fn head_path(dir: &Path) -> PathBuf {
    dir.join("audit.head")
}

/// A record once durable: its number and its own hash (hex), which a
/// session's host keeps for its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub seq: u64,
    pub hash: String,
}

pub(crate) type Ack = oneshot::Sender<Result<Sealed, String>>;

/// How long a failed audit write keeps the relay not ready.
pub const FAILING_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// Handle to the writer; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct AuditLog {
    sink: Sink,
    /// The sequence number of the last durable record.
    written: tokio::sync::watch::Receiver<u64>,
    /// How long each append took to be durable, for the metrics.
    latency: prometheus_client::metrics::histogram::Histogram,
    /// When the last append failed, if it did.
    failed: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Where records go: the data directory's file, or a cluster's database.
#[derive(Debug)]
enum Sink {
    File {
        tx: mpsc::Sender<(AuditEvent, Ack)>,
        path: PathBuf,
        /// Held while the log is open: one writer a data directory.
        _lock: File,
    },
    Database(crate::cluster::audit::Queue),
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Takes the data directory's lock (`relay.lock`), waiting up to 2 s for
/// a writer that is closing; one audit writer a directory, or the chain
/// would fork.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, AuditError> {
    let path = dir.join("relay.lock");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_at(&path))?;
    for _ in 0..20 {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) => {
                thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_at(&path)(e)),
        }
    }
    Err(AuditError::Busy(dir.to_owned()))
}

/// Reads the last line of the log to continue its chain. A final line with
/// no newline was cut by a crash mid-write; it was never acknowledged, so it
/// is cut off.
fn resume(file: &mut File, path: &Path) -> Result<Chain, AuditError> {
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io_at(path))?;
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    if complete < text.len() {
        tracing::warn!(
            bytes = text.len() - complete,
            "cutting a torn final audit line"
        );
        file.set_len(complete as u64).map_err(io_at(path))?;
        file.sync_all().map_err(io_at(path))?;
        text.truncate(complete);
    }
    let mut chain = Chain::default();
    if let Some(last) = text.lines().last() {
        // Trust the tail for the chain's position; `audit verify` judges the rest.
        let lineno = text.lines().count();
        let v = check_line(last, lineno).map_err(|e| AuditError::BadTail {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        chain = Chain::resume_at(v.record.seq, v.hash);
    }
    file.seek(SeekFrom::End(0)).map_err(io_at(path))?;
    Ok(chain)
}

impl AuditLog {
    /// Opens (or creates) the log in `dir` and starts its writer thread.
    pub fn open(dir: &Path) -> Result<Self, AuditError> {
        crate::private::private_dir(dir).map_err(io_at(dir))?;
        let lock = lock_dir(dir)?;
        let path = log_path(dir);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_at(&path))?;
        let chain = resume(&mut file, &path)?;
        let hpath = head_path(dir);
        let head = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&hpath)
            .map_err(io_at(&hpath))?;
        for p in [&path, &hpath] {
            crate::private::private_file(p).map_err(io_at(p))?;
        }
        let mark = crate::integrity::WriteMark::open(dir).map_err(io_at(dir))?;
        let (tx, rx) = mpsc::channel();
        let (written_tx, written) = tokio::sync::watch::channel(chain.head().seq);
        let writer = Writer {
            file,
            head,
            mark,
            chain,
            path: path.clone(),
            head_path: hpath,
            written: written_tx,
        };
        thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(io_at(&path))?;
        Ok(Self {
            sink: Sink::File {
                tx,
                path,
                _lock: lock,
            },
            written,
            latency: crate::metrics::Metrics::audit_histogram(),
            failed: std::sync::Mutex::new(None),
        })
    }

    /// Opens the cluster's log in the database at `url` (one chain for
    /// every relay) and starts a writer on a connection of its own.
    pub async fn open_database(url: &str) -> Result<Self, AuditError> {
        let (tx, written) = crate::cluster::audit::spawn(url)
            .await
            .map_err(|e| AuditError::Database(e.to_string()))?;
        Ok(Self {
            sink: Sink::Database(tx),
            written,
            latency: crate::metrics::Metrics::audit_histogram(),
            failed: std::sync::Mutex::new(None),
        })
    }

    /// Whether records go to a cluster's database rather than a file.
    pub fn in_database(&self) -> bool {
        matches!(self.sink, Sink::Database(_))
    }

    /// Changes after every durable batch (to the last record's number).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.written.clone()
    }

    /// Appends `event` and returns its sequence number once it is durable.
    /// Every string in it is cut to its stated limit first
    /// ([`AuditEvent::bounded`]): whatever a peer or a console visitor
    /// sent, one record is at most `MAX_LINE_BYTES` on disk.
    pub async fn append(&self, event: AuditEvent) -> Result<u64, AuditError> {
        self.append_sealed(event).await.map(|s| s.seq)
    }

    /// [`AuditLog::append`], returning the record's hash too.
    pub async fn append_sealed(&self, event: AuditEvent) -> Result<Sealed, AuditError> {
        let started = std::time::Instant::now();
        let written = self.write(event).await;
        self.latency.observe(started.elapsed().as_secs_f64());
        *self.failed.lock().unwrap_or_else(|e| e.into_inner()) =
            written.is_err().then(std::time::Instant::now);
        written
    }

    /// The write latency histogram (shared: the metrics register it).
    pub fn latency(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.latency.clone()
    }

    /// Whether the last append failed (the disk, or the database) within
    /// the last [`FAILING_FOR`]: the relay is then not ready for more
    /// (`/readyz`). A quiet relay is ready again after it (a full disk is
    /// still caught by `/readyz`'s own write to the data directory).
    pub fn is_failing(&self) -> bool {
        let failed = *self.failed.lock().unwrap_or_else(|e| e.into_inner());
        failed.is_some_and(|at| at.elapsed() < FAILING_FOR)
    }

    async fn write(&self, event: AuditEvent) -> Result<Sealed, AuditError> {
        let event = event.bounded();
        let (ack, done) = oneshot::channel();
        let sent = match &self.sink {
            Sink::File { tx, .. } => tx.send((event, ack)).is_ok(),
            Sink::Database(tx) => tx.send((event, ack)).is_ok(),
        };
        if !sent {
            return Err(AuditError::Stopped);
        }
        match (done.await, &self.sink) {
            (Ok(Ok(sealed)), _) => Ok(sealed),
            (Ok(Err(why)), Sink::File { path, .. }) => Err(AuditError::Io {
                path: path.clone(),
                source: std::io::Error::other(why),
            }),
            (Ok(Err(why)), Sink::Database(_)) => Err(AuditError::Database(why)),
            (Err(_), _) => Err(AuditError::Stopped),
        }
    }
}

struct Writer {
    file: File,
    head: File,
    /// Where the write under way ends, for `audit verify` ([`crate::integrity`]).
    mark: crate::integrity::WriteMark,
    chain: Chain,
    path: PathBuf,
    head_path: PathBuf,
    written: tokio::sync::watch::Sender<u64>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<(AuditEvent, Ack)>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < 4096 {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            self.write_batch(batch);
        }
    }

    fn write_batch(&mut self, batch: Vec<(AuditEvent, Ack)>) {
        let mut chain = self.chain.clone();
        let mut text = String::new();
        let mut acks = Vec::with_capacity(batch.len());
        for (event, ack) in batch {
            let ts = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
            match chain.seal(ts, event) {
                Ok((line, hash)) => {
                    text.push_str(&line);
                    text.push('\n');
                    let seq = chain.head().seq + 1;
                    acks.push((
                        ack,
                        Sealed {
                            seq,
                            hash: hash.clone(),
                        },
                    ));
                    chain.advance(hash);
                }
                Err(e) => {
                    let _ = ack.send(Err(e.to_string()));
                }
            }
        }
        if acks.is_empty() {
            return;
        }
        match self.persist(&text, &chain) {
            Ok(()) => {
                self.chain = chain;
                self.written.send_replace(self.chain.head().seq);
                for (ack, sealed) in acks {
                    // A caller that gave up waiting needs no answer.
                    let _ = ack.send(Ok(sealed));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "audit write failed");
                for (ack, _) in acks {
                    let _ = ack.send(Err(e.to_string()));
                }
            }
        }
    }

    fn persist(&mut self, text: &str, chain: &Chain) -> Result<(), AuditError> {
        let before = self.file.metadata().map_err(io_at(&self.path))?.len();
        // Marked (and synced) first: `audit verify` lets the log run past
        // its head only as far as this write.
        let mp = crate::integrity::writing_path(self.path.parent().unwrap_or(Path::new(".")));
        self.mark.mark(chain.head().seq).map_err(io_at(&mp))?;
        let written = self
            .file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Leave no half batch behind: the records were never acknowledged.
            if let Err(cut) = self.file.set_len(before) {
                tracing::error!(error = %cut, "could not cut a failed audit write");
            }
            return Err(AuditError::Io {
                path: self.path.clone(),
                source: e,
            });
        }
        // Fixed width, so an in-place overwrite never leaves stale digits.
        // Not synced: it is written only after the log is durable, so after
        // a crash it can lag the log (which verification accepts) but never
        // lead it; one fsync per batch instead of two.
        let head = chain.head();
        let line = format!("{:020} {}\n", head.seq, head.hash);
        let hp = self.head_path.clone();
        self.head.seek(SeekFrom::Start(0)).map_err(io_at(&hp))?;
        self.head.write_all(line.as_bytes()).map_err(io_at(&hp))
    }
}

/// Reads and verifies the log in `dir`: every record, or the first bad one.
pub fn read_verified(dir: &Path) -> Result<Vec<Verified>, AuditError> {
    let path = log_path(dir);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(AuditError::Io { path, source: e }),
    };
    let hpath = head_path(dir);
    let head = match fs::read_to_string(&hpath) {
        Ok(t) if t.trim().is_empty() => None,
        Ok(t) => Some(Head::parse(&t).ok_or_else(|| AuditError::BadTail {
            path: hpath.clone(),
            why: "the head file is not `SEQ HASH`".into(),
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(AuditError::Io {
                path: hpath,
                source: e,
            });
        }
    };
    Ok(verify_log(&text, head.as_ref())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u32) -> AuditEvent {
        AuditEvent::CodeClosed {
            session: format!("s{i}"),
            reason: "expired".into(),
        }
    }

    #[test]
    fn the_log_and_its_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("data");
        drop(AuditLog::open(&dir).unwrap());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&log_path(&dir)), 0o600);
        assert_eq!(mode(&head_path(&dir)), 0o600);
    }

    #[tokio::test]
    async fn a_huge_field_is_cut_before_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        let event = AuditEvent::CodeClosed {
            session: "s".into(),
            reason: "x".repeat(600_000),
        };
        log.append(event).await.unwrap();
        let size = fs::metadata(log_path(dir.path())).unwrap().len();
        assert!(
            size <= lifeline_proto::audit::MAX_LINE_BYTES as u64 + 1,
            "{size}"
        );
        let recs = read_verified(dir.path()).unwrap();
        let AuditEvent::CodeClosed { reason, .. } = &recs[0].record.event else {
            panic!("{:?}", recs[0]);
        };
        assert_eq!(reason.len(), lifeline_proto::audit::MAX_TEXT_BYTES);
        assert!(reason.ends_with(lifeline_proto::audit::CUT_MARK));
    }

    #[tokio::test]
    async fn appends_resume_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = AuditLog::open(dir.path()).unwrap();
            assert_eq!(log.append(ev(1)).await.unwrap(), 1);
            assert_eq!(log.append(ev(2)).await.unwrap(), 2);
        }
        // A torn final line (crash mid-write) is cut; the chain continues.
        let mut f = OpenOptions::new()
            .append(true)
            .open(log_path(dir.path()))
            .unwrap();
        f.write_all(b"{\"seq\":3,\"ts\":").unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        let futs: Vec<_> = (3..10).map(|i| log.append(ev(i))).collect();
        for f in futs {
            f.await.unwrap();
        }
        let recs = read_verified(dir.path()).unwrap();
        assert_eq!(recs.len(), 9);
        assert_eq!(recs[8].record.seq, 9);
    }
}
