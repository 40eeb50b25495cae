//! The technician's side of file transfers: `put` sends a file (or every
//! file of a folder) to the user's download folder, `get` fetches a file
//! the technician names. Each transfer opens a stream of its own, sealed
//! with keys of its own, so screen updates and input never queue behind
//! file data. A transfer cut by a lost link continues once the session
//! resumes; one cancelled (by either side) or failed leaves no file
//! behind on the receiving side.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use lifeline_net::secure::{SecureError, SecureRecv, SecureSend, start_transfer};
use lifeline_net::transfer::{CancelWatch, SendChunksError, Stop, send_chunks};
use lifeline_session::files::{CANCELLED_BY_TECHNICIAN, FileMsg, Pace, Progress};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::fetched::Target;
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

    /// Stops every transfer under way (the user hears *cancelled by the
    /// technician*; nothing is left on the receiving side).
    pub fn cancel_transfers(&self) {
        self.cancels.cancel_all();
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
        let cancel = self.cancels.watch();
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
            let streams = (&mut send, &mut recv);
            match self
                .send_data(local, (name, size, from), streams, &cancel)
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
        (name, size, from): (&str, u64, u64),
        (send, recv): (&mut SecureSend, &mut SecureRecv),
        cancel: &CancelWatch,
    ) -> Result<Moved, Cut> {
        let fatal = |why: String| Cut::Fatal(failed(why));
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| fatal(format!("cannot read {}: {e}", local.display())))?;
        let mut meter = self.meter(true, name, size);
        let stop = Stop {
            watch: cancel,
            why: CANCELLED_BY_TECHNICIAN,
            pace: Some(&self.interactive),
        };
        let sent = send_chunks(send, recv, &mut file, (size, from), |d| meter.at(d), stop).await;
        let sha256 = match sent {
            Ok(sha) => sha,
            Err(SendChunksError::Read(e)) => {
                return Err(fatal(format!("cannot read {}: {e}", local.display())));
            }
            Err(SendChunksError::Shrank) => {
                return Err(fatal(format!("{} shrank while sending", local.display())));
            }
            Err(SendChunksError::Send(e)) => return Err(Cut::from(e)),
            Err(SendChunksError::Cancelled(why)) => {
                say_stop(send, &why).await;
                return Err(Cut::Fatal(ViewerError::Stopped(why)));
            }
            Err(SendChunksError::Refused(why)) => {
                return Err(Cut::Fatal(ViewerError::Stopped(why)));
            }
        };
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
    /// under a temporary name, renamed once its SHA-256 checks out). If
    /// the link is lost on the way and the session resumes, the fetch
    /// continues where it stopped.
    pub async fn get(&self, remote: &str, local: &Path) -> Result<Moved, ViewerError> {
        let mut cancel = self.cancels.watch();
        let (mut send, mut recv, id) = self.transfer().await?;
        let get = FileMsg::Get {
            path: remote.to_owned(),
        };
        send.send(&get).await.map_err(failed)?;
        // The send side stays open: a cancel is said on it.
        let size = offered(&mut recv).await?;
        // Beneath the folder, never through a link planted in it.
        let at = local.to_owned();
        let (target, file) = tokio::task::spawn_blocking(move || Target::create(&at))
            .await
            .map_err(failed)?
            .map_err(failed)?;
        let part = target.part_path();
        let io = |e: std::io::Error| failed(format!("cannot write {}: {e}", part.display()));
        let mut into = Fetching {
            file: tokio::fs::File::from_std(file),
            hash: Sha256::new(),
            got: 0,
            size,
        };
        let mut meter = self.meter(false, remote, size);
        let received = loop {
            let streams = (&mut send, &mut recv);
            match receive(streams, &mut into, &mut meter, &mut cancel).await {
                Err(Cut::Lost(why)) => {
                    tracing::info!(%why, "fetch cut; continuing once the session is back");
                    let again = async {
                        self.back().await?;
                        let (mut s, mut r, _) = self.transfer().await?;
                        let from = into.got;
                        s.send(&FileMsg::ContinueGet { id, from })
                            .await
                            .map_err(failed)?;
                        match offered(&mut r).await? {
                            n if n == size => Ok((s, r)),
                            _ => Err(failed("the file changed size while the link was down")),
                        }
                    };
                    match again.await {
                        Ok((s, r)) => (send, recv) = (s, r),
                        Err(e) => break Err(e),
                    }
                }
                Err(Cut::Fatal(e)) => break Err(e),
                Ok(sha) => break Ok(sha),
            }
        };
        let sha256 = match received {
            Ok(sha) => sha,
            Err(e) => {
                target.discard();
                return Err(e);
            }
        };
        send.finish();
        into.file.sync_all().await.map_err(io)?;
        let placing = target.clone();
        tokio::task::spawn_blocking(move || placing.finish())
            .await
            .map_err(failed)?
            .map_err(failed)?;
        Ok(Moved {
            path: local.display().to_string(),
            bytes: size,
            sha256,
        })
    }
}

/// Tells the other side this side stopped the transfer, and why.
async fn say_stop(send: &mut SecureSend, why: &str) {
    if let Err(e) = send.send(&FileMsg::Refused(why.to_owned())).await {
        tracing::debug!(error = %e, "the other side left before hearing why");
    }
    send.finish();
}

/// The host's answer to a fetch: the file's size, or why not.
async fn offered(recv: &mut SecureRecv) -> Result<u64, ViewerError> {
    match recv.recv::<FileMsg>().await.map_err(failed)? {
        FileMsg::Offer { size, .. } => Ok(size),
        FileMsg::Refused(why) => Err(ViewerError::Refused(why)),
        other => Err(failed(format!("unexpected answer {other:?}"))),
    }
}

/// A fetch being written: its file, its hash so far, how much came.
struct Fetching {
    file: tokio::fs::File,
    hash: Sha256,
    got: u64,
    size: u64,
}

/// Writes a fetched file's chunks; its SHA-256 once it checks out.
async fn receive(
    (send, recv): (&mut SecureSend, &mut SecureRecv),
    into: &mut Fetching,
    meter: &mut Meter<'_>,
    cancel: &mut CancelWatch,
) -> Result<[u8; 32], Cut> {
    loop {
        let msg = tokio::select! {
            msg = recv.recv::<FileMsg>() => msg.map_err(Cut::from)?,
            () = cancel.cancelled() => {
                say_stop(send, CANCELLED_BY_TECHNICIAN).await;
                return Err(Cut::Fatal(ViewerError::Stopped(CANCELLED_BY_TECHNICIAN.into())));
            }
        };
        match msg {
            FileMsg::Chunk(data) => {
                into.got += data.len() as u64;
                if into.got > into.size {
                    return Err(Cut::Fatal(failed("the host sent more than it announced")));
                }
                into.hash.update(&data);
                into.file
                    .write_all(&data)
                    .await
                    .map_err(|e| Cut::Fatal(failed(e)))?;
                meter.at(into.got);
            }
            FileMsg::End { sha256 } => {
                let ours: [u8; 32] = into.hash.clone().finalize().into();
                if into.got != into.size || ours != sha256 {
                    let why = "the file arrived damaged (SHA-256 or size differ)";
                    return Err(Cut::Fatal(failed(why)));
                }
                return Ok(sha256);
            }
            FileMsg::Refused(why) => return Err(Cut::Fatal(ViewerError::Stopped(why))),
            other => {
                return Err(Cut::Fatal(failed(format!(
                    "unexpected {other:?} in a fetch"
                ))));
            }
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
