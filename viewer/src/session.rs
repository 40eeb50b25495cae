//! A connected viewer: joins, proves the code end to end, waits for the
//! user's decision, then keeps the remote screen decoded and sends input.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lifeline_common::framed::ControlError;
use lifeline_net::client::{ClientError, ViewerLink};
use lifeline_net::secure::{SecureError, handshake};
use lifeline_proto::SessionCode;
use lifeline_proto::control::{CloseCode, Mode, SessionReport};
use lifeline_session::e2e::{E2eError, Side};
use lifeline_session::messages::{HostMsg, InputEvent, Quality, ViewerMsg};
use lifeline_session::screen::{Framebuffer, Image};
use tokio::sync::{mpsc, watch};

/// Everything that can stop a viewer, each with one line for the technician.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    #[error(transparent)]
    Relay(#[from] ClientError),
    #[error(
        "the code is wrong (the secret digits do not match); it no longer works, ask the user for a new one"
    )]
    WrongCode,
    #[error("the secure connection failed: {0}")]
    Secure(#[source] SecureError),
    #[error("the host did not start the secure connection")]
    NoHandshake,
    #[error("the host broke protocol: its first message was not the user's answer")]
    UnexpectedFirst,
    #[error("the user did not answer within {0} s")]
    NoAnswer(u64),
    #[error("the session ended: {0}")]
    Ended(String),
    #[error("no screen image has arrived yet")]
    NoFrame,
    #[error("the user allowed view only: input is not sent")]
    ViewOnly,
    #[error("cannot save the screenshot to {path}: {why}")]
    Save { path: String, why: String },
}

/// Where the session stands, for the window's status line and `--json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Connecting,
    WaitingForUser,
    Sharing(Mode),
    Ended(String),
}

/// Live figures for the toolbar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub frames: u64,
    /// Screen data in the updates (tile payloads).
    pub bytes: u64,
    /// Everything received on the session stream: sealed updates, pointer
    /// reports, their framing; what the session costs the network above QUIC.
    pub stream_bytes: u64,
    /// Frames in the last second.
    pub fps: f64,
    /// Bytes a second over the last second.
    pub bytes_per_s: f64,
    /// Input sent to the next update that arrived, last measured.
    pub input_to_update_ms: Option<f64>,
}

#[derive(Debug, Default)]
struct Shared {
    fb: Framebuffer,
    figures: Figures,
    window_start: Option<Instant>,
    window_frames: u64,
    window_bytes: u64,
    last_input: Option<Instant>,
    /// The remote pointer, in remote pixels.
    cursor: Option<(i32, i32)>,
}

/// A connected session.
#[derive(Debug)]
pub struct Viewer {
    pub link_session: String,
    pub host_name: String,
    pub os_user: String,
    pub mode: Mode,
    out: mpsc::Sender<ViewerMsg>,
    shared: Arc<Mutex<Shared>>,
    frames: watch::Receiver<u64>,
    /// Bumped on every update and pointer move, to repaint a window.
    changes: watch::Receiver<u64>,
    ended: watch::Receiver<Option<String>>,
    link: tokio::sync::Mutex<Option<ViewerLink>>,
    conn: quinn::Connection,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long the user at the host has to answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

async fn secure_error(conn: &quinn::Connection, e: SecureError) -> ViewerError {
    match e {
        SecureError::E2e(E2eError::WrongCode) => ViewerError::WrongCode,
        SecureError::Stream(s) => ViewerError::Relay(why_closed(conn, s).await),
        other => ViewerError::Secure(other),
    }
}

/// The stream ended: the reason is in the connection's close, which may
/// arrive just after the stream's end; wait a moment for it.
async fn why_closed(conn: &quinn::Connection, e: ControlError) -> ClientError {
    if matches!(e, ControlError::Closed) && conn.close_reason().is_none() {
        let _ = tokio::time::timeout(Duration::from_secs(3), conn.closed()).await;
    }
    ClientError::from_control(conn, e)
}

impl Viewer {
    /// Joins `code` on `relay` with `token` and waits until the user at the
    /// host has decided. `status` hears each step.
    pub async fn connect(
        relay: &str,
        ca: Option<&Path>,
        token: &str,
        code: &SessionCode,
        status: impl Fn(Status),
    ) -> Result<Self, ViewerError> {
        status(Status::Connecting);
        let mut link = ViewerLink::join(relay, ca, token, code.locator()).await?;
        let conn = link.conn.clone();
        let accepted = tokio::time::timeout(Duration::from_secs(30), conn.accept_bi()).await;
        let (send, recv) = match accepted {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(ClientError::from_connection(&e).into()),
            Err(_) => {
                return Err(ViewerError::NoHandshake);
            }
        };
        let (mut send, mut recv) =
            match handshake(Side::Viewer, send, recv, code, &link.session).await {
                Ok(pair) => pair,
                Err(e) => {
                    let err = secure_error(&conn, e).await;
                    if matches!(err, ViewerError::WrongCode) {
                        // One guess per code: tell the relay, for the audit log.
                        if let Err(e) = link.report(SessionReport::SecretMismatch).await {
                            tracing::debug!(error = %e, "could not report the wrong code");
                        }
                    }
                    return Err(err);
                }
            };
        status(Status::WaitingForUser);
        let mode = match tokio::time::timeout(ANSWER_TIMEOUT, recv.recv::<HostMsg>()).await {
            Ok(Ok(HostMsg::Mode(m))) => m,
            Ok(Ok(_)) => return Err(ViewerError::UnexpectedFirst),
            Ok(Err(e)) => return Err(secure_error(&conn, e).await),
            Err(_) => return Err(ViewerError::NoAnswer(ANSWER_TIMEOUT.as_secs())),
        };
        status(Status::Sharing(mode));

        let (out, mut out_rx) = mpsc::channel::<ViewerMsg>(256);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (frames_tx, frames) = watch::channel(0u64);
        let (ended_tx, ended) = watch::channel(None::<String>);
        let (changes_tx, changes) = watch::channel(0u64);
        // Writer: acks and input, in order.
        tokio::spawn(async move {
            while let Some(msg) = out_rx.recv().await {
                if let Err(e) = send.send(&msg).await {
                    tracing::debug!(error = %e, "session writer stopped");
                    break;
                }
            }
        });
        // Reader: decode, acknowledge, count.
        let (sh, acks, conn2) = (shared.clone(), out.clone(), conn.clone());
        tokio::spawn(async move {
            let reason = loop {
                let msg = recv.recv::<HostMsg>().await;
                lock(&sh).figures.stream_bytes = recv.bytes_received();
                match msg {
                    Ok(HostMsg::Frame(upd)) => {
                        let size = upd.payload_bytes() as u64;
                        let applied = {
                            let mut s = lock(&sh);
                            let r = s.fb.apply(&upd);
                            note_frame(&mut s, size);
                            r
                        };
                        let msg = match applied {
                            Ok(()) => ViewerMsg::Ack { seq: upd.seq },
                            Err(e) => {
                                tracing::warn!(error = %e, "bad update; asking for a whole frame");
                                ViewerMsg::RequestFull
                            }
                        };
                        if acks.send(msg).await.is_err() {
                            break "the session writer stopped".to_owned();
                        }
                        frames_tx.send_modify(|n| *n += 1);
                        changes_tx.send_modify(|n| *n += 1);
                    }
                    Ok(HostMsg::Cursor { x, y }) => {
                        lock(&sh).cursor = Some((x, y));
                        changes_tx.send_modify(|n| *n += 1);
                    }
                    Ok(HostMsg::Mode(_)) => {}
                    Err(SecureError::Stream(e)) => break why_closed(&conn2, e).await.to_string(),
                    Err(e) => {
                        let why = e.to_string();
                        conn2.close(
                            quinn::VarInt::from_u32(CloseCode::Ended as u32),
                            why.as_bytes(),
                        );
                        break why;
                    }
                }
            };
            let _ = ended_tx.send(Some(reason));
        });
        let link_session = link.session.clone();
        let (host_name, os_user) = (link.host_name.clone(), link.os_user.clone());
        Ok(Self {
            link_session,
            host_name,
            os_user,
            mode,
            out,
            shared,
            frames,
            changes,
            ended,
            link: tokio::sync::Mutex::new(Some(link)),
            conn,
        })
    }

    /// Tells the host what the technician prefers when the link is short:
    /// `auto` follows the link, `exact` never approximates.
    pub async fn set_quality(&self, quality: Quality) -> Result<(), ViewerError> {
        self.out
            .send(ViewerMsg::Quality(quality))
            .await
            .map_err(|_| self.ended_error())
    }

    /// Sends one input event (refused locally in view-only mode).
    pub async fn input(&self, ev: InputEvent) -> Result<(), ViewerError> {
        if self.mode == Mode::View {
            return Err(ViewerError::ViewOnly);
        }
        lock(&self.shared).last_input = Some(Instant::now());
        self.out
            .send(ViewerMsg::Input(ev))
            .await
            .map_err(|_| self.ended_error())
    }

    fn ended_error(&self) -> ViewerError {
        ViewerError::Ended(
            self.ended
                .borrow()
                .clone()
                .unwrap_or_else(|| "connection closed".into()),
        )
    }

    /// Why the session ended, once it has.
    pub fn ended(&self) -> Option<String> {
        self.ended.borrow().clone()
    }

    /// The number of updates received so far; changes on each.
    pub fn frames(&self) -> watch::Receiver<u64> {
        self.frames.clone()
    }

    /// Changes whenever something visible changed (screen or pointer).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// Where the remote pointer is.
    pub fn cursor(&self) -> Option<(i32, i32)> {
        lock(&self.shared).cursor
    }

    /// Runs `f` on the current remote screen without copying it (a
    /// benchmark looks at one region after every update).
    pub fn with_image<R>(&self, f: impl FnOnce(Option<&Image>) -> R) -> R {
        f(lock(&self.shared).fb.image())
    }

    /// UDP bytes received on the connection to the relay, QUIC headers,
    /// acknowledgements and keep-alives included.
    pub fn udp_bytes_received(&self) -> u64 {
        self.conn.stats().udp_rx.bytes
    }

    /// A copy of the current remote screen.
    pub fn image(&self) -> Option<Image> {
        lock(&self.shared).fb.image().cloned()
    }

    /// The live figures; rates fall to zero when updates stop coming.
    pub fn figures(&self) -> Figures {
        let s = lock(&self.shared);
        let mut f = s.figures.clone();
        if s.window_start
            .is_some_and(|t| t.elapsed() > Duration::from_secs(2))
        {
            f.fps = 0.0;
            f.bytes_per_s = 0.0;
        }
        f
    }

    /// Waits for the first whole screen, then until no update has arrived
    /// for `quiet`; fails if the session ends or `limit` passes.
    pub async fn settle(&self, quiet: Duration, limit: Duration) -> Result<(), ViewerError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut frames = self.frames();
        loop {
            if self.ended().is_some() {
                return Err(self.ended_error());
            }
            let have = lock(&self.shared).fb.image().is_some();
            let wait = if have { quiet } else { limit };
            match tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + wait),
                frames.changed(),
            )
            .await
            {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(self.ended_error()),
                Err(_) if have => return Ok(()),
                Err(_) => return Err(ViewerError::NoFrame),
            }
        }
    }

    /// Saves the current screen as a PNG.
    pub fn screenshot(&self, path: &Path) -> Result<(), ViewerError> {
        let img = self.image().ok_or(ViewerError::NoFrame)?;
        save_png(&img, path)
    }

    /// Ends the session on purpose (once; later calls do nothing).
    pub async fn disconnect(&self, reason: &str) {
        if let Some(link) = self.link.lock().await.take() {
            link.end(reason).await;
        }
    }
}

fn note_frame(s: &mut Shared, size: u64) {
    let now = Instant::now();
    s.figures.frames += 1;
    s.figures.bytes += size;
    if let Some(t) = s.last_input.take() {
        s.figures.input_to_update_ms = Some((now - t).as_secs_f64() * 1e3);
    }
    let start = *s.window_start.get_or_insert(now);
    s.window_frames += 1;
    s.window_bytes += size;
    let span = (now - start).as_secs_f64();
    if span >= 1.0 {
        s.figures.fps = s.window_frames as f64 / span;
        s.figures.bytes_per_s = s.window_bytes as f64 / span;
        s.window_start = Some(now);
        s.window_frames = 0;
        s.window_bytes = 0;
    }
}

/// Writes an image as PNG.
pub fn save_png(img: &Image, path: &Path) -> Result<(), ViewerError> {
    let rgb: Vec<u8> = img
        .pixels
        .iter()
        .flat_map(|p| [(p >> 16) as u8, (p >> 8) as u8, *p as u8])
        .collect();
    let err = |why: String| ViewerError::Save {
        path: path.display().to_string(),
        why,
    };
    let buf = image::RgbImage::from_raw(img.width, img.height, rgb)
        .ok_or_else(|| err("bad image size".into()))?;
    buf.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| err(e.to_string()))
}
