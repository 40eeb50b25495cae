//! Sending a file's bytes on a transfer stream, the same for the viewer's
//! puts and the host's fetches: chunks of [`CHUNK`], the whole file hashed
//! (even the part the other side already has), then the end with its
//! SHA-256.

use lifeline_session::files::{CHUNK, FileMsg};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::secure::{SecureError, SecureSend};

/// Why the bytes did not all go.
#[derive(Debug, thiserror::Error)]
pub enum SendChunksError {
    #[error("reading: {0}")]
    Read(#[source] std::io::Error),
    #[error("the file shrank while it was being sent")]
    Shrank,
    #[error(transparent)]
    Send(#[from] SecureError),
}

/// Sends `size` bytes of `file` after the first `from` (the other side has
/// those), then [`FileMsg::End`]; tells `progress` the bytes done after
/// each chunk. Returns the SHA-256 of all `size` bytes.
pub async fn send_chunks(
    send: &mut SecureSend,
    file: &mut (impl AsyncRead + Unpin),
    size: u64,
    from: u64,
    mut progress: impl FnMut(u64),
) -> Result<[u8; 32], SendChunksError> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < size {
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
