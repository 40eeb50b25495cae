//! The technician's side of file transfers: `put` sends a file (or every
//! file of a folder) to the user's download folder, `get` fetches a file
//! the technician names. Each transfer opens a stream of its own, sealed
//! with keys of its own, so screen updates and input never queue behind
//! file data. A transfer cut short (the viewer quits, the link is lost)
//! leaves no file behind on the receiving side.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use lifeline_net::secure::{SecureError, SecureRecv, SecureSend, start_transfer};
use lifeline_net::transfer::{SendChunksError, send_chunks};
use lifeline_session::files::{FileMsg, Pace, Progress};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::session::{Viewer, ViewerError};

/// A file handed across.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Where it is now: on the user's machine for a put, here for a get.
    pub path: String,
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// Tells `tx` of progress at most once a second, and at the end.
struct Meter<'a> {
    tx: &'a tokio::sync::watch::Sender<Option<Progress>>,
    p: Progress,
    pace: Pace,
}

impl Meter<'_> {
    fn at(&mut self, bytes: u64) {
        if self.pace.due(std::time::Instant::now(), bytes, self.p.of) {
            self.p.bytes = bytes;
            self.tx.send_replace(Some(self.p.clone()));
        }
    }
}

/// Why sending a put's data stopped.
enum Cut {
    /// The stream broke: the session may resume and the put continue.
    Lost(String),
    Fatal(ViewerError),
}

impl From<SecureError> for Cut {
    fn from(e: SecureError) -> Self {
        match e {
            SecureError::Stream(s) => Cut::Lost(s.to_string()),
            other => Cut::Fatal(failed(other)),
        }
    }
}

fn failed(why: impl std::fmt::Display) -> ViewerError {
    ViewerError::Transfer(why.to_string())
}

impl Viewer {
    fn meter(&self, to_host: bool, name: &str, of: u64) -> Meter<'_> {
        Meter {
            tx: &self.progress,
            p: Progress {
                to_host,
                name: name.to_owned(),
                bytes: 0,
                of,
            },
            pace: Pace::new(std::time::Instant::now(), std::time::Duration::from_secs(1)),
        }
    }

    /// The transfer under way, as it goes.
    pub fn progress(&self) -> tokio::sync::watch::Receiver<Option<Progress>> {
        self.progress.subscribe()
    }

    /// Opens a new transfer stream; its id too.
    async fn transfer(&self) -> Result<(SecureSend, SecureRecv, u32), ViewerError> {
        let conn = self.connection().ok_or_else(|| self.ended_error())?;
        let (s, r) = conn.open_bi().await.map_err(failed)?;
        let id = self.next_transfer.fetch_add(1, Ordering::Relaxed);
        let (send, recv) = start_transfer(&self.files_root, id, s, r)
            .await
            .map_err(failed)?;
        Ok((send, recv, id))
    }

    /// Sends `local` (a file, or each file in a folder) to the user's
    /// download folder; returns where each was saved.
    pub async fn put(&self, local: &Path) -> Result<Vec<Moved>, ViewerError> {
        let meta = tokio::fs::metadata(local)
            .await
            .map_err(|e| failed(format!("cannot read {}: {e}", local.display())))?;
        let base = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| failed(format!("{} has no file name", local.display())))?;
        if meta.is_file() {
            return Ok(vec![self.put_file(local, &base).await?]);
        }
        let mut out = Vec::new();
        for (path, rel) in walk(local, &base)? {
            out.push(self.put_file(&path, &rel).await?);
        }
        Ok(out)
    }

    /// Sends one file, to be saved as `name` (relative) on the user's
    /// side. If the link is lost on the way and the session resumes, the
    /// put continues where the user's side says it stopped.
    pub async fn put_file(&self, local: &Path, name: &str) -> Result<Moved, ViewerError> {
        let size = tokio::fs::metadata(local)
            .await
            .map_err(|e| failed(format!("cannot read {}: {e}", local.display())))?
            .len();
        let (mut send, mut recv, id) = self.transfer().await?;
        let put = FileMsg::Put {
            name: name.to_owned(),
            size,
        };
        send.send(&put).await.map_err(failed)?;
        match recv.recv::<FileMsg>().await.map_err(failed)? {
            FileMsg::Ready => {}
            FileMsg::Refused(why) => return Err(ViewerError::Refused(why)),
            other => return Err(failed(format!("unexpected answer {other:?}"))),
        }
        let mut from = 0;
        loop {
            match self
                .send_data(local, name, size, from, &mut send, &mut recv)
                .await
            {
                Ok(moved) => return Ok(moved),
                Err(Cut::Fatal(e)) => return Err(e),
                Err(Cut::Lost(why)) => {
                    tracing::info!(%why, "put cut; continuing once the session is back");
                    self.back().await?;
                    let (s, r, _) = self.transfer().await?;
                    (send, recv) = (s, r);
                    send.send(&FileMsg::Continue { id }).await.map_err(failed)?;
                    from = match recv.recv::<FileMsg>().await.map_err(failed)? {
                        FileMsg::Have { bytes } if bytes <= size => bytes,
                        FileMsg::Refused(why) => return Err(ViewerError::Refused(why)),
                        other => return Err(failed(format!("unexpected answer {other:?}"))),
                    };
                }
            }
        }
    }

    /// Waits until the session is live again after a lost link (or over).
    async fn back(&self) -> Result<(), ViewerError> {
        let mut r = self.reconnecting();
        let wait = async {
            loop {
                if self.ended().is_some() {
                    return Err(self.ended_error());
                }
                // The keeper may not have noticed the loss yet.
                tokio::time::sleep(Duration::from_millis(200)).await;
                if r.borrow_and_update().is_none() && self.ended().is_none() {
                    return Ok(());
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), r.changed()).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(300), wait)
            .await
            .map_err(|_| failed("the session did not come back"))?
    }

    /// Sends the file's bytes from `from` on (hashing all of it), the end,
    /// and waits for the saved path.
    async fn send_data(
        &self,
        local: &Path,
        name: &str,
        size: u64,
        from: u64,
        send: &mut SecureSend,
        recv: &mut SecureRecv,
    ) -> Result<Moved, Cut> {
        let fatal = |why: String| Cut::Fatal(failed(why));
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| fatal(format!("cannot read {}: {e}", local.display())))?;
        let mut meter = self.meter(true, name, size);
        let sha256 = send_chunks(send, &mut file, size, from, |done| meter.at(done))
            .await
            .map_err(|e| match e {
                SendChunksError::Read(e) => fatal(format!("cannot read {}: {e}", local.display())),
                SendChunksError::Shrank => {
                    fatal(format!("{} shrank while sending", local.display()))
                }
                SendChunksError::Send(e) => Cut::from(e),
            })?;
        send.finish();
        match recv.recv::<FileMsg>().await.map_err(Cut::from)? {
            FileMsg::Saved { path } => Ok(Moved {
                path,
                bytes: size,
                sha256,
            }),
            FileMsg::Refused(why) => Err(Cut::Fatal(ViewerError::Refused(why))),
            other => Err(Cut::Fatal(failed(format!("unexpected answer {other:?}")))),
        }
    }

    /// Fetches `remote` from the user's machine into `local` (written
    /// under a temporary name, renamed once its SHA-256 checks out).
    pub async fn get(&self, remote: &str, local: &Path) -> Result<Moved, ViewerError> {
        let (mut send, mut recv, _) = self.transfer().await?;
        let get = FileMsg::Get {
            path: remote.to_owned(),
        };
        send.send(&get).await.map_err(failed)?;
        send.finish();
        let size = match recv.recv::<FileMsg>().await.map_err(failed)? {
            FileMsg::Offer { size, .. } => size,
            FileMsg::Refused(why) => return Err(ViewerError::Refused(why)),
            other => return Err(failed(format!("unexpected answer {other:?}"))),
        };
        let part = PathBuf::from(format!("{}.lifeline-part", local.display()));
        let io = |e: std::io::Error| failed(format!("cannot write {}: {e}", part.display()));
        let mut file = tokio::fs::File::create(&part).await.map_err(io)?;
        let mut meter = self.meter(false, remote, size);
        let received = receive(&mut recv, &mut file, size, &mut meter).await;
        let sha256 = match received {
            Ok(sha) => sha,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(e);
            }
        };
        file.sync_all().await.map_err(io)?;
        tokio::fs::rename(&part, local).await.map_err(io)?;
        Ok(Moved {
            path: local.display().to_string(),
            bytes: size,
            sha256,
        })
    }
}

/// Writes a fetched file's chunks; its SHA-256 once it checks out.
async fn receive(
    recv: &mut SecureRecv,
    file: &mut tokio::fs::File,
    size: u64,
    meter: &mut Meter<'_>,
) -> Result<[u8; 32], ViewerError> {
    let mut hash = Sha256::new();
    let mut got = 0u64;
    loop {
        match recv.recv::<FileMsg>().await.map_err(failed)? {
            FileMsg::Chunk(data) => {
                got += data.len() as u64;
                if got > size {
                    return Err(failed("the host sent more than it announced"));
                }
                hash.update(&data);
                file.write_all(&data).await.map_err(failed)?;
                meter.at(got);
            }
            FileMsg::End { sha256 } => {
                let ours: [u8; 32] = hash.finalize().into();
                if got != size || ours != sha256 {
                    return Err(failed("the file arrived damaged (SHA-256 or size differ)"));
                }
                return Ok(sha256);
            }
            FileMsg::Refused(why) => return Err(ViewerError::Refused(why)),
            other => return Err(failed(format!("unexpected {other:?} in a fetch"))),
        }
    }
}

/// Every file under `dir`, with its name relative to the folder's parent
/// (`base/sub/file`), in a stable order.
fn walk(dir: &Path, base: &str) -> Result<Vec<(PathBuf, String)>, ViewerError> {
    let mut out = Vec::new();
    let mut todo = vec![(dir.to_path_buf(), base.to_owned())];
    while let Some((d, rel)) = todo.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .map_err(|e| failed(format!("cannot read {}: {e}", d.display())))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let kind = e.file_type().map_err(failed)?;
            if kind.is_dir() {
                todo.push((path, format!("{rel}/{name}")));
            } else if kind.is_file() {
                out.push((path, format!("{rel}/{name}")));
            }
        }
    }
    Ok(out)
}
