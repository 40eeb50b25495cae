//! Sending a file's bytes on a transfer stream, the same for the viewer's
//! puts and the host's fetches: chunks of [`CHUNK`], the whole file hashed
//! (even the part the other side already has), then the end with its
//! SHA-256. Either side may cancel: this side between two chunks (the
//! caller then says why in a sealed [`FileMsg::Refused`]), the other side
//! by sending one while the data flows.

use std::sync::Arc;

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

/// This side's say in a transfer: whether it was cancelled, and the words
/// the other side hears then.
#[derive(Debug, Clone)]
pub struct Stop<'a> {
    pub watch: &'a CancelWatch,
    pub why: &'a str,
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
        loop {
            match recv.recv::<FileMsg>().await {
                Ok(FileMsg::Refused(why)) => return why,
                // Nothing else is said while the data flows.
                Ok(other) => tracing::debug!(?other, "ignored during a transfer"),
                // A stream the other side finished, or broke: a break
                // shows on the sending side too.
                Err(_) => std::future::pending::<()>().await,
            }
        }
    };
    tokio::select! {
        sent = chunks(send, file, (size, from), progress, &stop) => sent,
        why = refused => Err(SendChunksError::Refused(why)),
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
        // Let the session's own tasks (screen, input) run between chunks.
        tokio::task::yield_now().await;
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
}
