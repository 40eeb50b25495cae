//! Sending a file's bytes on a transfer stream, the same for the viewer's
//! puts and the host's fetches: chunks of [`CHUNK`], the whole file hashed
//! (even the part the other side already has), then the end with its
//! SHA-256. Either side may cancel: this side between two chunks (the
//! caller then says why in a sealed [`FileMsg::Refused`]), the other side
//! by sending one while the data flows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lifeline_session::files::{CHUNK, FileMsg};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

use crate::secure::{SecureError, SecureRecv, SecureSend};

/// Why the bytes did not all go.
#[derive(Debug, thiserror::Error)]
pub enum SendChunksError {
    #[error("reading: {0}")]
    Read(#[source] std::io::Error),
    #[error("the file shrank while it was being sent")]
    Shrank,
    #[error(transparent)]
    Send(#[from] SecureError),
    /// This side cancelled; the other side is still to be told.
    #[error("{0}")]
    Cancelled(String),
    /// The other side refused the rest (it cancelled, or failed), and why.
    #[error("{0}")]
    Refused(String),
}

/// Cancels this side's transfers: each one under way stops at its next
/// chunk. Cheap to clone; one per session.
#[derive(Debug, Clone)]
pub struct Cancels(Arc<watch::Sender<u64>>);

impl Default for Cancels {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl Cancels {
    /// Stops every transfer under way now (later ones are not affected).
    pub fn cancel_all(&self) {
        self.0.send_modify(|n| *n += 1);
    }

    /// For one transfer starting now.
    pub fn watch(&self) -> CancelWatch {
        CancelWatch(self.0.subscribe())
    }
}

/// Whether the transfer holding it was cancelled.
#[derive(Debug, Clone)]
pub struct CancelWatch(watch::Receiver<u64>);

impl CancelWatch {
    /// Cancelled since this transfer started.
    pub fn is_cancelled(&self) -> bool {
        self.0.has_changed().unwrap_or(false)
    }

    /// Resolves once cancelled (never, once nobody can cancel).
    pub async fn cancelled(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// This side's say in a transfer: whether it was cancelled, the words
/// the other side hears then, and whether typing goes on meanwhile.
#[derive(Debug, Clone)]
pub struct Stop<'a> {
    pub watch: &'a CancelWatch,
    pub why: &'a str,
    pub pace: Option<&'a Interactive>,
}

/// How long after the last keystroke or click transfers make room.
pub const INTERACTIVE_WINDOW: Duration = Duration::from_millis(300);
/// The pause between two chunks meanwhile: at most 64 KiB per 2 ms
/// (32 MiB/s), leaving the cores to the session.
pub const INTERACTIVE_PAUSE: Duration = Duration::from_millis(2);

/// When the technician last typed or clicked. On a machine whose cores a
/// transfer keeps busy (hashing, sealing, writing at 150 MiB/s), a
/// keystroke's echo waits for a turn; while someone is typing, transfers
/// slow down and the echo does not wait.
#[derive(Debug)]
pub struct Interactive {
    start: Instant,
    /// Milliseconds after `start`, plus one (0: never).
    last: AtomicU64,
}

impl Default for Interactive {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }
}

impl Interactive {
    /// Someone typed or clicked just now.
    pub fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms.saturating_add(1), Ordering::Relaxed);
    }

    /// The pause a transfer takes before its next chunk.
    pub fn pause(&self) -> Option<Duration> {
        pause_at(self.last.load(Ordering::Relaxed), self.start.elapsed())
    }
}

/// Between two chunks: the session's own tasks (screen, input) get a turn,
/// and while someone types (`pace`), the cores a little while.
pub async fn between_chunks(pace: Option<&Interactive>) {
    match pace.and_then(Interactive::pause) {
        Some(pause) => tokio::time::sleep(pause).await,
        None => tokio::task::yield_now().await,
    }
}

/// The pause at `now` (since the start) after the last touch (`last`: its
/// milliseconds plus one, 0 for never).
fn pause_at(last: u64, now: Duration) -> Option<Duration> {
    let since = last
        .checked_sub(1)
        .map(|ms| now.saturating_sub(Duration::from_millis(ms)))?;
    (since < INTERACTIVE_WINDOW).then_some(INTERACTIVE_PAUSE)
}

/// Sends `size` bytes of `file` after the first `from` (the other side has
/// those), then [`FileMsg::End`]; tells `progress` the bytes done after
/// each chunk. Meanwhile `recv` is read for the other side's refusal.
/// Returns the SHA-256 of all `size` bytes.
pub async fn send_chunks(
    send: &mut SecureSend,
    recv: &mut SecureRecv,
    file: &mut (impl AsyncRead + Unpin),
    (size, from): (u64, u64),
    progress: impl FnMut(u64),
    stop: Stop<'_>,
) -> Result<[u8; 32], SendChunksError> {
    let refused = async {
        match next_refusal(recv).await {
            Some(why) => why,
            // A stream the other side finished, or broke: a break shows
            // on the sending side too.
            None => std::future::pending().await,
        }
    };
    let sent = tokio::select! {
        sent = chunks(send, file, (size, from), progress, &stop) => sent,
        why = refused => Err(SendChunksError::Refused(why)),
    };
    match sent {
        // The other side may have stopped reading on purpose (a cancel)
        // before its reason was read here: the reason is on its way, and
        // a stop is not a lost link to be continued.
        Err(SendChunksError::Send(SecureError::Stream(e))) => {
            match tokio::time::timeout(REASON_WAIT, next_refusal(recv)).await {
                Ok(Some(why)) => Err(SendChunksError::Refused(why)),
                _ => Err(SendChunksError::Send(SecureError::Stream(e))),
            }
        }
        other => other,
    }
}

/// How long a sender whose stream was stopped waits for the reason.
const REASON_WAIT: Duration = Duration::from_secs(2);

/// The other side's refusal, if it sends one before its stream ends.
async fn next_refusal(recv: &mut SecureRecv) -> Option<String> {
    loop {
        match recv.recv::<FileMsg>().await {
            Ok(FileMsg::Refused(why)) => return Some(why),
            // Nothing else is said while the data flows.
            Ok(other) => tracing::debug!(?other, "ignored during a transfer"),
            Err(_) => return None,
        }
    }
}

async fn chunks(
    send: &mut SecureSend,
    file: &mut (impl AsyncRead + Unpin),
    (size, from): (u64, u64),
    mut progress: impl FnMut(u64),
    stop: &Stop<'_>,
) -> Result<[u8; 32], SendChunksError> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < size {
        if stop.watch.is_cancelled() {
            // The caller tells the other side, as it tells any failure.
            return Err(SendChunksError::Cancelled(stop.why.to_owned()));
        }
        let n = file.read(&mut buf).await.map_err(SendChunksError::Read)?;
        if n == 0 {
            return Err(SendChunksError::Shrank);
        }
        // A file that grew meanwhile is sent as announced.
        let n = n.min(usize::try_from(size - done).unwrap_or(usize::MAX));
        hash.update(&buf[..n]);
        let start = done;
        done += n as u64;
        if done <= from {
            continue;
        }
        let skip = usize::try_from(from.saturating_sub(start)).unwrap_or(0);
        send.send(&FileMsg::Chunk(buf[skip..n].to_vec())).await?;
        progress(done);
        between_chunks(stop.pace).await;
    }
    let sha256: [u8; 32] = hash.finalize().into();
    send.send(&FileMsg::End { sha256 }).await?;
    Ok(sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_reaches_transfers_under_way_only() {
        let cancels = Cancels::default();
        let before = cancels.watch();
        assert!(!before.is_cancelled());
        cancels.cancel_all();
        assert!(before.is_cancelled());
        assert!(!cancels.watch().is_cancelled(), "a later transfer runs");
    }

    #[test]
    fn transfers_pause_only_while_someone_types() {
        let ms = Duration::from_millis;
        assert_eq!(pause_at(0, ms(5)), None, "nobody typed yet");
        assert_eq!(pause_at(0, ms(0)), None);
        // Typed at 1000 ms.
        assert_eq!(pause_at(1001, ms(1000)), Some(INTERACTIVE_PAUSE));
        assert_eq!(pause_at(1001, ms(1299)), Some(INTERACTIVE_PAUSE));
        assert_eq!(pause_at(1001, ms(1300)), None);
        let i = Interactive::default();
        assert_eq!(i.pause(), None);
        i.touch();
        assert_eq!(i.pause(), Some(INTERACTIVE_PAUSE));
    }
}
