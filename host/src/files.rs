//! The user's side of file transfers: each transfer stream the viewer
//! opens is served here. A put is written to a hidden temporary file in
//! the download folder (opened beneath it, [`crate::beneath`], so no link
//! planted there leads a write outside), checked against its SHA-256, and only then given
//! its final name (a new one if taken, never overwriting); a transfer cut
//! short leaves nothing behind. A get (fetch) sends a file the technician
//! names, if the user allows it (`--allow-fetch`). Only in control mode.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lifeline_net::secure::{SecureError, SecureRecv, SecureSend, accept_transfer};
use lifeline_net::transfer::{
    CancelWatch, Cancels, Interactive, SendChunksError, Stop, between_chunks, send_chunks,
};
use lifeline_session::e2e::FilesRoot;
use lifeline_session::files::{CANCELLED_BY_USER, FileMsg, Pace, Progress, check_name};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

use crate::beneath::{Downloads, SaveError};

/// Whether the technician may fetch files from this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchPolicy {
    Yes,
    No,
    /// Ask the user each time (the default).
    Ask,
}

/// What a transfer came to, for the audit log and the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDone {
    /// `true`: the technician's file was saved here.
    pub to_host: bool,
    pub path: String,
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// A transfer that stopped before its end (cancelled, refused, failed),
/// for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStopped {
    /// `true`: the technician's file was coming here.
    pub to_host: bool,
    pub name: String,
    pub why: String,
}

/// The technician wants a file: may they have it?
#[derive(Debug)]
pub struct FetchQuestion {
    pub path: String,
    pub bytes: u64,
    pub answer: oneshot::Sender<bool>,
}

/// Says a transfer's progress at most once a second, and at its end.
struct Meter<'a> {
    tx: &'a mpsc::UnboundedSender<Progress>,
    p: Progress,
    pace: Pace,
}

impl<'a> Meter<'a> {
    fn new(tx: &'a mpsc::UnboundedSender<Progress>, to_host: bool, name: &str, of: u64) -> Self {
        let p = Progress {
            to_host,
            name: name.to_owned(),
            bytes: 0,
            of,
        };
        let pace = Pace::new(std::time::Instant::now(), std::time::Duration::from_secs(1));
        Self { tx, p, pace }
    }

    fn at(&mut self, bytes: u64) {
        if self.pace.due(std::time::Instant::now(), bytes, self.p.of) {
            self.p.bytes = bytes;
            let _ = self.tx.send(self.p.clone());
        }
    }
}

/// Everything serving transfers needs.
#[derive(Debug)]
pub struct Transfers {
    pub root: FilesRoot,
    pub dir: PathBuf,
    pub fetch: FetchPolicy,
    /// Transfers are for control mode only.
    pub control: std::sync::atomic::AtomicBool,
    /// Transfer ids seen: one replayed by the relay is refused.
    pub seen: Mutex<HashSet<u32>>,
    pub done: mpsc::UnboundedSender<FileDone>,
    pub ask: mpsc::UnboundedSender<FetchQuestion>,
    pub progress: mpsc::UnboundedSender<Progress>,
    /// Puts the link cut, by transfer id, to be continued.
    pub kept: Mutex<std::collections::HashMap<u32, Incoming>>,
    /// Fetches the link cut, by transfer id: allowed already, continued
    /// without asking again.
    pub kept_fetches: Mutex<std::collections::HashMap<u32, Outgoing>>,
    /// The user's cancel.
    pub cancels: Cancels,
    /// When the technician's input last came: transfers make room.
    pub interactive: Arc<Interactive>,
    pub stopped: mpsc::UnboundedSender<FileStopped>,
}

/// A fetch the user allowed.
#[derive(Debug, Clone)]
pub struct Outgoing {
    full: PathBuf,
    size: u64,
}

/// Why a transfer did not complete: what the viewer hears, and (once the
/// file is known) what the user is told.
struct Failure {
    why: String,
    to_host: bool,
    name: Option<String>,
}

impl From<String> for Failure {
    fn from(why: String) -> Self {
        Self {
            why,
            to_host: true,
            name: None,
        }
    }
}

fn named(to_host: bool, name: &str) -> impl Fn(String) -> Failure + '_ {
    move |why| Failure {
        why,
        to_host,
        name: Some(name.to_owned()),
    }
}

/// Serves every transfer stream opened on `conn` until it closes.
pub async fn serve(conn: quinn::Connection, t: Arc<Transfers>) {
    while let Ok((send, recv)) = conn.accept_bi().await {
        tokio::spawn(one(t.clone(), send, recv));
    }
}

async fn one(t: Arc<Transfers>, send: quinn::SendStream, recv: quinn::RecvStream) {
    let (id, mut send, mut recv) = match accept_transfer(&t.root, send, recv).await {
        Ok(x) => x,
        Err(e) => return tracing::warn!(error = %e, "transfer stream refused"),
    };
    let fresh = t.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
    if !fresh {
        return tracing::warn!(id, "a transfer id came twice; refused");
    }
    let cancel = t.cancels.watch();
    let (s, r) = (&mut send, &mut recv);
    let result = match recv_first(r).await {
        Ok(_) if !t.control.load(std::sync::atomic::Ordering::Relaxed) => {
            Err(VIEW_ONLY.to_owned().into())
        }
        Ok(FileMsg::Put { name, size }) => {
            let f = named(true, &name);
            receive(&t, s, r, (&name, size), id, cancel)
                .await
                .map_err(f)
        }
        Ok(FileMsg::Continue { id: old }) => resume_put(&t, s, r, old, cancel).await,
        Ok(FileMsg::Get { path }) => fetch(&t, s, r, &path, id, cancel).await,
        Ok(FileMsg::ContinueGet { id: old, from }) => {
            resume_fetch(&t, s, r, (old, from), id, cancel).await
        }
        Ok(other) => Err(format!("unexpected first message {other:?}").into()),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(done) => {
            let _ = t.done.send(done);
        }
        Err(f) => {
            tracing::info!(why = %f.why, "transfer refused or failed");
            if let Some(name) = f.name {
                let stopped = FileStopped {
                    to_host: f.to_host,
                    name,
                    why: f.why.clone(),
                };
                let _ = t.stopped.send(stopped);
            }
            if let Err(e) = send.send(&FileMsg::Refused(f.why)).await {
                tracing::debug!(error = %e, "the viewer left before hearing why");
            }
        }
    }
    send.finish();
}

async fn recv_first(recv: &mut SecureRecv) -> Result<FileMsg, String> {
    recv.recv::<FileMsg>().await.map_err(|e| e.to_string())
}

const VIEW_ONLY: &str = "the user allowed view only: files are sent in control mode only";

/// The refusal of every fetch under `--allow-fetch no`, whatever the path.
pub const FETCH_REFUSED: &str = "the user does not allow fetching files (--allow-fetch no)";

/// A put under way: its hidden temporary file and how far it got. Kept
/// when the link is lost mid-transfer, so the viewer can continue it after
/// the session resumes; removed when the session ends.
#[derive(Debug)]
pub struct Incoming {
    /// The download folder, opened beneath ([`Downloads`]).
    dir: Arc<Downloads>,
    /// The temporary file's name there, and the file, open for writing.
    temp: PathBuf,
    file: tokio::fs::File,
    rel: PathBuf,
    name: String,
    size: u64,
    got: u64,
    hash: Sha256,
}

/// How a put's data stopped before its end.
enum Stopped {
    /// The stream broke (the link was lost): the put may continue.
    Lost(String),
    /// Refused, cancelled or damaged: the temporary file goes.
    Failed(String),
}

impl Transfers {
    /// Removes every put kept for continuing (the session is over).
    pub fn discard_kept(&self) {
        let kept: Vec<Incoming> = self
            .kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, v)| v)
            .collect();
        for k in kept {
            k.dir.remove(&k.temp);
        }
        self.kept_fetches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// A put: the technician's file into the download folder.
async fn receive(
    t: &Transfers,
    send: &mut SecureSend,
    recv: &mut SecureRecv,
    (name, size): (&str, u64),
    id: u32,
    cancel: CancelWatch,
) -> Result<FileDone, String> {
    let rel = check_name(name).map_err(|e| e.to_string())?;
    let folder = t.dir.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let dir = Downloads::open(&folder)?;
        let (temp, file) = dir.create_temp(id)?;
        Ok::<_, SaveError>((Arc::new(dir), temp, file))
    })
    .await
    .map_err(|e| e.to_string())?;
    let (dir, temp, file) = opened.map_err(|e| e.to_string())?;
    let put = Incoming {
        dir,
        temp,
        file: tokio::fs::File::from_std(file),
        rel,
        name: name.to_owned(),
        size,
        got: 0,
        hash: Sha256::new(),
    };
    if let Err(e) = send.send(&FileMsg::Ready).await {
        put.dir.remove(&put.temp);
        return Err(e.to_string());
    }
    finish_put(t, send, recv, put, id, cancel).await
}

/// A put the link cut, continued on a new stream: tells the viewer how
/// much is saved, then takes the rest.
async fn resume_put(
    t: &Transfers,
    send: &mut SecureSend,
    recv: &mut SecureRecv,
    id: u32,
    cancel: CancelWatch,
) -> Result<FileDone, Failure> {
    let put = t
        .kept
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id)
        .ok_or_else(|| format!("no transfer {id} to continue"))?;
    let name = put.name.clone();
    let have = FileMsg::Have { bytes: put.got };
    if let Err(e) = send.send(&have).await {
        t.kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, put);
        return Err(e.to_string().into());
    }
    let f = named(true, &name);
    finish_put(t, send, recv, put, id, cancel).await.map_err(f)
}

fn io(e: std::io::Error) -> String {
    format!("cannot save the file: {e}")
}

/// Takes a put's data to its end and gives the file its final name; if
/// the link is lost on the way, keeps it for continuing.
async fn finish_put(
    t: &Transfers,
    send: &mut SecureSend,
    recv: &mut SecureRecv,
    mut put: Incoming,
    id: u32,
    cancel: CancelWatch,
) -> Result<FileDone, String> {
    match take_data(t, recv, &mut put, cancel).await {
        Ok(sha256) => save(send, put, sha256).await,
        Err(Stopped::Lost(why)) => {
            tracing::info!(%why, got = put.got, "put cut; kept to continue");
            t.kept
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, put);
            Err(why)
        }
        Err(Stopped::Failed(why)) => {
            put.dir.remove(&put.temp);
            Err(why)
        }
    }
}

/// Appends chunks until the end; the SHA-256 the viewer sent.
async fn take_data(
    t: &Transfers,
    recv: &mut SecureRecv,
    put: &mut Incoming,
    mut cancel: CancelWatch,
) -> Result<[u8; 32], Stopped> {
    let failed = |e: std::io::Error| Stopped::Failed(io(e));
    let mut meter = Meter::new(&t.progress, true, &put.name, put.size);
    loop {
        let got = tokio::select! {
            got = recv.recv::<FileMsg>() => got,
            () = cancel.cancelled() => return Err(Stopped::Failed(CANCELLED_BY_USER.into())),
        };
        let msg = match got {
            Ok(m) => m,
            Err(SecureError::Stream(e)) => return Err(Stopped::Lost(e.to_string())),
            Err(e) => return Err(Stopped::Failed(e.to_string())),
        };
        match msg {
            FileMsg::Chunk(data) => {
                if put.got + data.len() as u64 > put.size {
                    let why = format!("more data than the {} bytes announced", put.size);
                    return Err(Stopped::Failed(why));
                }
                put.file.write_all(&data).await.map_err(failed)?;
                put.got += data.len() as u64;
                put.hash.update(&data);
                meter.at(put.got);
                between_chunks(Some(&t.interactive)).await;
            }
            FileMsg::End { sha256 } => {
                put.file.sync_all().await.map_err(failed)?;
                return Ok(sha256);
            }
            FileMsg::Refused(why) => return Err(Stopped::Failed(why)),
            other => return Err(Stopped::Failed(format!("unexpected {other:?} in a put"))),
        }
    }
}

/// Checks the whole file's SHA-256 and gives it its final name.
async fn save(send: &mut SecureSend, put: Incoming, sha256: [u8; 32]) -> Result<FileDone, String> {
    let ours: [u8; 32] = put.hash.finalize().into();
    if put.got != put.size || ours != sha256 {
        put.dir.remove(&put.temp);
        return Err(format!(
            "the file arrived damaged ({} of {} bytes, SHA-256 {})",
            put.got,
            put.size,
            if ours == sha256 { "matches" } else { "differs" }
        ));
    }
    drop(put.file);
    let (dir, temp, rel) = (put.dir.clone(), put.temp.clone(), put.rel.clone());
    let placed = tokio::task::spawn_blocking(move || dir.place(&temp, &rel)).await;
    let dest = match placed {
        Ok(Ok(dest)) => dest,
        Ok(Err(e)) => {
            put.dir.remove(&put.temp);
            return Err(e.to_string());
        }
        Err(e) => return Err(e.to_string()),
    };
    let path = dest.display().to_string();
    send.send(&FileMsg::Saved { path: path.clone() })
        .await
        .map_err(|e| e.to_string())?;
    Ok(FileDone {
        to_host: true,
        path,
        bytes: put.got,
        sha256,
    })
}

/// A get: a file of the user's to the technician, if allowed.
async fn fetch(
    t: &Transfers,
    send: &mut SecureSend,
    recv: &mut SecureRecv,
    path: &str,
    id: u32,
    cancel: CancelWatch,
) -> Result<FileDone, Failure> {
    let full = resolve(path);
    let shown = full.display().to_string();
    let f = named(false, &shown);
    // The policy first: a refused fetch says nothing about the path
    // (whether it exists, what it is).
    if t.fetch == FetchPolicy::No {
        return Err(f(FETCH_REFUSED.into()));
    }
    let meta = tokio::fs::metadata(&full)
        .await
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a file").into());
    }
    match t.fetch {
        FetchPolicy::Yes | FetchPolicy::No => {}
        FetchPolicy::Ask => {
            let (answer, heard) = oneshot::channel();
            let q = FetchQuestion {
                path: shown.clone(),
                bytes: meta.len(),
                answer,
            };
            let asked = t.ask.send(q).is_ok();
            if !(asked && heard.await.unwrap_or(false)) {
                // The user said no: they know.
                return Err(format!("the user refused to send {shown}").into());
            }
        }
    }
    let out = Outgoing {
        full,
        size: meta.len(),
    };
    send_file(t, (send, recv), out, (0, id), cancel)
        .await
        .map_err(f)
}

/// A fetch the link cut, continued on a new stream from where the viewer
/// says it stopped (the user allowed it already).
async fn resume_fetch(
    t: &Transfers,
    send: &mut SecureSend,
    recv: &mut SecureRecv,
    (old, from): (u32, u64),
    id: u32,
    cancel: CancelWatch,
) -> Result<FileDone, Failure> {
    let out = t
        .kept_fetches
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&old)
        .ok_or_else(|| format!("no fetch {old} to continue"))?;
    let shown = out.full.display().to_string();
    let f = named(false, &shown);
    let now = tokio::fs::metadata(&out.full)
        .await
        .map_err(|e| f(format!("cannot read {shown}: {e}")))?;
    if now.len() != out.size || from > out.size {
        return Err(f(format!("{shown} changed while the link was down")));
    }
    send_file(t, (send, recv), out, (from, id), cancel)
        .await
        .map_err(f)
}

/// Offers the file and sends it from `from` on; a fetch the link cuts is
/// kept under `id` for continuing.
async fn send_file(
    t: &Transfers,
    (send, recv): (&mut SecureSend, &mut SecureRecv),
    out: Outgoing,
    (from, id): (u64, u32),
    cancel: CancelWatch,
) -> Result<FileDone, String> {
    let shown = out.full.display().to_string();
    let mut file = tokio::fs::File::open(&out.full)
        .await
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let name = out
        .full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let size = out.size;
    send.send(&FileMsg::Offer { name, size })
        .await
        .map_err(|e| e.to_string())?;
    let mut meter = Meter::new(&t.progress, false, &shown, size);
    let stop = Stop {
        watch: &cancel,
        why: CANCELLED_BY_USER,
        pace: Some(&t.interactive),
    };
    let sent = send_chunks(send, recv, &mut file, (size, from), |d| meter.at(d), stop).await;
    let sha256 = sent.map_err(|e| match e {
        SendChunksError::Read(e) => format!("cannot read {shown}: {e}"),
        SendChunksError::Shrank => format!("{shown} shrank while it was being sent"),
        SendChunksError::Send(SecureError::Stream(e)) => {
            tracing::info!(error = %e, "fetch cut; kept to continue");
            let mut kept = t.kept_fetches.lock().unwrap_or_else(|e| e.into_inner());
            kept.insert(id, out.clone());
            e.to_string()
        }
        SendChunksError::Send(e) => e.to_string(),
        SendChunksError::Cancelled(why) | SendChunksError::Refused(why) => why,
    })?;
    Ok(FileDone {
        to_host: false,
        path: shown,
        bytes: size,
        sha256,
    })
}

/// A path the technician named: absolute as given, relative to the
/// user's home folder otherwise.
fn resolve(path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    match lifeline_common::folders::this().home() {
        Some(home) => home.join(p),
        None => p.to_path_buf(),
    }
}

/// The default download folder: `~/Downloads/Lifeline`
/// (`%USERPROFILE%\Downloads\Lifeline` on Windows).
pub fn default_dir() -> PathBuf {
    let downloads = lifeline_common::folders::this()
        .downloads()
        .unwrap_or_else(|| PathBuf::from("Downloads"));
    downloads.join("Lifeline")
}
