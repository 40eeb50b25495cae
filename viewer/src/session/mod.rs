//! A connected viewer: joins, proves the code end to end, waits for the
//! user's decision, then keeps the remote screen decoded and sends input.
//!
//! [`Viewer`] is the handle the window, the script and the tests hold; the
//! task behind it ([`keeper`]) drives a sans-IO [`ViewerSession`] (what is
//! acknowledged, asked for, shown, allowed) over the real streams and
//! resumes a lost link.

mod device;
mod keeper;

pub use device::{DeviceKey, DeviceTarget};

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lifeline_common::framed::ControlError;
use lifeline_net::client::{ClientError, ViewerLink};
use lifeline_net::reconnect;
use lifeline_net::secure::{SecureError, Secured, handshake};
use lifeline_proto::SessionCode;
use lifeline_proto::control::{Mode, SessionReport};
use lifeline_session::e2e::{E2eError, Side};
use lifeline_session::messages::{
    HiddenBox, HostMsg, InputEvent, MAX_CLIPBOARD, Quality, ViewerMsg, Withheld,
};
use lifeline_session::screen::Image;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use crate::core::{Figures, Reply};
use crate::core::{NotSent, ViewerSession};
use crate::monitors::Screens;
use keeper::Keeper;

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
    #[error("the session did not resume within {0} s")]
    NotResumed(u64),
    #[error("the user allowed view only: input is not sent")]
    ViewOnly,
    #[error("{}", crate::words::WITHHELD_INPUT)]
    Withheld,
    #[error("cannot save the screenshot to {path}: {why}")]
    Save { path: String, why: String },
    #[error("the host refused: {0}")]
    Refused(String),
    #[error("the host did not answer within {0} s")]
    NoReply(u64),
    #[error("the clipboard text is {0} KiB; at most 1024 KiB is sent")]
    TooLarge(usize),
    #[error("another clipboard request is still waiting for its answer")]
    Busy,
    #[error("the file transfer failed: {0}")]
    Transfer(String),
    #[error("the file transfer stopped: {0}")]
    Stopped(String),
    #[error(transparent)]
    Device(#[from] lifeline_net::unattended::UnattendedError),
}

/// What the technician connects to: the host showing a code, or an
/// enrolled device.
#[derive(Debug, Clone)]
pub enum Target {
    /// The host waiting under a code, and why the technician joins
    /// (`--reason`; empty: no reason given).
    Code {
        code: SessionCode,
        reason: String,
    },
    Device(Box<DeviceTarget>),
}

/// Where the answer to the request under way goes.
type Pending = Arc<Mutex<Option<oneshot::Sender<Reply>>>>;

/// Where the session stands, for the window's status line and `--json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Connecting,
    /// The device's group needs a second person: the relay waits this
    /// many seconds for an approver.
    AwaitingApproval(u32),
    WaitingForUser,
    Sharing(Mode),
    Ended(String),
}

/// What the session task and the handle share: the session's state (the
/// remote screen among it) and the connection of the moment.
#[derive(Debug)]
struct Shared {
    core: ViewerSession,
    /// The connection to the relay now (a new one after each resume).
    conn: Option<quinn::Connection>,
}

/// A connected session.
#[derive(Debug)]
pub struct Viewer {
    /// A device session's device key, as checked against its pin.
    pub device_key: Option<DeviceKey>,
    pub link_session: String,
    pub host_name: String,
    pub os_user: String,
    /// The mode the user allows now (they may take control back).
    mode: watch::Receiver<Mode>,
    out: mpsc::Sender<ViewerMsg>,
    shared: Arc<Mutex<Shared>>,
    frames: watch::Receiver<u64>,
    /// Bumped on every update and pointer move, to repaint a window.
    changes: watch::Receiver<u64>,
    ended: watch::Receiver<Option<String>>,
    /// Why the link was lost, while reconnecting; `None` while live.
    reconnecting: watch::Receiver<Option<String>>,
    /// How long a lost link is retried before the session ends.
    resume_window: Duration,
    screens: watch::Receiver<Option<Screens>>,
    /// Why the host's screen cannot be shown now, while it cannot.
    withheld: watch::Receiver<Option<Withheld>>,
    hidden: watch::Receiver<Vec<HiddenBox>>,
    link: Arc<tokio::sync::Mutex<Option<ViewerLink>>>,
    pending: Pending,
    chats: broadcast::Sender<String>,
    pub(crate) files_root: lifeline_session::e2e::FilesRoot,
    /// The next file transfer's id (never reused in a session).
    pub(crate) next_transfer: std::sync::atomic::AtomicU32,
    pub(crate) progress: watch::Sender<Option<lifeline_session::files::Progress>>,
    /// The technician's cancel of transfers under way.
    pub(crate) cancels: lifeline_net::transfer::Cancels,
    /// When the technician last typed or clicked: puts make room.
    pub(crate) interactive: lifeline_net::transfer::Interactive,
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

async fn why_closed(conn: &quinn::Connection, e: ControlError) -> ClientError {
    ClientError::after_stream(conn, e).await
}

/// Runs the key exchange on the stream the host opens; a wrong code is
/// reported to the relay, for the audit log.
async fn secure(link: &mut ViewerLink, code: &SessionCode) -> Result<Secured, ViewerError> {
    let conn = link.conn.clone();
    let accepted = tokio::time::timeout(Duration::from_secs(30), conn.accept_bi()).await;
    let (send, recv) = match accepted {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ClientError::from_connection(&e).into()),
        Err(_) => {
            return Err(ViewerError::NoHandshake);
        }
    };
    match handshake(Side::Viewer, send, recv, code, &link.session).await {
        Ok(secured) => Ok(secured),
        Err(e) => {
            let err = secure_error(&conn, e).await;
            if matches!(err, ViewerError::WrongCode) {
                // One guess per code: tell the relay, for the audit log.
                if let Err(e) = link.report(SessionReport::SecretMismatch).await {
                    tracing::debug!(error = %e, "could not report the wrong code");
                }
            }
            Err(err)
        }
    }
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
        Self::connect_with(relay, ca, token, code, reconnect::DEFAULT_WINDOW, status).await
    }

    /// [`Viewer::connect`], reconnecting for up to `resume_window` when the
    /// link to the relay is lost (zero: the session ends instead).
    pub async fn connect_with(
        relay: &str,
        ca: Option<&Path>,
        token: &str,
        code: &SessionCode,
        resume_window: Duration,
        status: impl Fn(Status),
    ) -> Result<Self, ViewerError> {
        let target = Target::Code {
            code: *code,
            reason: String::new(),
        };
        Self::connect_to(relay, ca, token, &target, resume_window, status).await
    }

    /// [`Viewer::connect_with`] to a code's host or an enrolled device.
    pub async fn connect_to(
        relay: &str,
        ca: Option<&Path>,
        token: &str,
        target: &Target,
        resume_window: Duration,
        status: impl Fn(Status),
    ) -> Result<Self, ViewerError> {
        status(Status::Connecting);
        let (link, secured, device_key) = reach(relay, ca, token, target, &status).await?;
        let conn = link.conn.clone();
        let Secured {
            send,
            mut recv,
            resume,
            files,
        } = secured;
        status(Status::WaitingForUser);
        let mode = match tokio::time::timeout(ANSWER_TIMEOUT, recv.recv::<HostMsg>()).await {
            Ok(Ok(HostMsg::Mode(m))) => m,
            Ok(Ok(_)) => return Err(ViewerError::UnexpectedFirst),
            Ok(Err(e)) => return Err(secure_error(&conn, e).await),
            Err(_) => return Err(ViewerError::NoAnswer(ANSWER_TIMEOUT.as_secs())),
        };
        status(Status::Sharing(mode));

        let (out, out_rx) = mpsc::channel::<ViewerMsg>(256);
        let shared = Arc::new(Mutex::new(Shared {
            core: ViewerSession::new(mode),
            conn: Some(conn.clone()),
        }));
        let (frames_tx, frames) = watch::channel(0u64);
        let (ended_tx, ended) = watch::channel(None::<String>);
        let (changes_tx, changes) = watch::channel(0u64);
        let (reconnecting_tx, reconnecting) = watch::channel(None::<String>);
        let (screens_tx, screens) = watch::channel(None::<Screens>);
        let (mode_tx, mode_rx) = watch::channel(mode);
        let (withheld_tx, withheld) = watch::channel(None::<Withheld>);
        let (hidden_tx, hidden) = watch::channel(Vec::new());
        let pending = Pending::default();
        let (chats, _) = broadcast::channel(64);
        let keeper = Keeper {
            pending: pending.clone(),
            chats: chats.clone(),
            shared: shared.clone(),
            frames: frames_tx,
            changes: changes_tx,
            reconnecting: reconnecting_tx,
            screens: screens_tx,
            mode: mode_tx,
            withheld: withheld_tx,
            hidden: hidden_tx,
            resumer: link.resumer(),
            secret: (!resume_window.is_zero()).then_some(resume),
            window: resume_window,
            conn,
        };
        let link_session = link.session.clone();
        let (host_name, os_user) = (link.host_name.clone(), link.os_user.clone());
        let link = Arc::new(tokio::sync::Mutex::new(Some(link)));
        tokio::spawn(keeper.run(send, recv, out_rx, link.clone(), ended_tx));
        Ok(Self {
            device_key,
            link_session,
            host_name,
            os_user,
            mode: mode_rx,
            out,
            shared,
            frames,
            changes,
            ended,
            reconnecting,
            resume_window,
            screens,
            withheld,
            hidden,
            link,
            pending,
            chats,
            files_root: files,
            next_transfer: std::sync::atomic::AtomicU32::new(1),
            progress: watch::Sender::new(None),
            cancels: lifeline_net::transfer::Cancels::default(),
            interactive: lifeline_net::transfer::Interactive::default(),
        })
    }

    /// The connection to the relay now (a new one after each resume).
    pub(crate) fn connection(&self) -> Option<quinn::Connection> {
        lock(&self.shared).conn.clone()
    }

    /// Puts `text` on the host's clipboard (control mode only); returns
    /// once the host has it.
    pub async fn clipboard_set(&self, text: &str) -> Result<(), ViewerError> {
        // View-only is the host's to enforce (and to word).
        if text.len() > MAX_CLIPBOARD {
            return Err(ViewerError::TooLarge(text.len().div_ceil(1024)));
        }
        match self.ask(ViewerMsg::ClipboardSet(text.to_owned())).await? {
            Reply::Set => Ok(()),
            Reply::Refused(why) => Err(ViewerError::Refused(why)),
            Reply::Clipboard(_) => Err(ViewerError::Refused("unexpected answer".into())),
        }
    }

    /// The text on the host's clipboard.
    pub async fn clipboard_get(&self) -> Result<String, ViewerError> {
        match self.ask(ViewerMsg::ClipboardGet).await? {
            Reply::Clipboard(text) => Ok(text),
            Reply::Refused(why) => Err(ViewerError::Refused(why)),
            Reply::Set => Err(ViewerError::Refused("unexpected answer".into())),
        }
    }

    /// Sends a request and waits for the host's answer (one at a time).
    async fn ask(&self, msg: ViewerMsg) -> Result<Reply, ViewerError> {
        const WAIT: Duration = Duration::from_secs(30);
        let rx = self.request(msg).await?;
        match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(self.ended_error()),
            Err(_) => Err(ViewerError::NoReply(WAIT.as_secs())),
        }
    }

    /// Sends a request whose answer (or refusal) comes on the receiver;
    /// one request waits at a time.
    pub(crate) async fn request(
        &self,
        msg: ViewerMsg,
    ) -> Result<oneshot::Receiver<Reply>, ViewerError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if p.as_ref().is_some_and(|s| !s.is_closed()) {
                return Err(ViewerError::Busy);
            }
            *p = Some(tx);
        }
        self.out.send(msg).await.map_err(|_| self.ended_error())?;
        Ok(rx)
    }

    /// The mode the user allows now.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// The mode, as the user changes it.
    pub fn modes(&self) -> watch::Receiver<Mode> {
        self.mode.clone()
    }

    /// What the host said of its monitors, as it changes.
    pub fn screens_rx(&self) -> watch::Receiver<Option<Screens>> {
        self.screens.clone()
    }

    /// Why the host's screen cannot be shown now (`None` while it can),
    /// as it changes.
    pub fn withheld(&self) -> watch::Receiver<Option<Withheld>> {
        self.withheld.clone()
    }

    /// The parts of the picture the user hides from the technician
    /// (blank in the frames; in its pixels), as they change.
    pub fn hidden(&self) -> watch::Receiver<Vec<HiddenBox>> {
        self.hidden.clone()
    }

    /// Sends the user a message.
    pub async fn chat(&self, text: &str) -> Result<(), ViewerError> {
        self.out
            .send(ViewerMsg::Chat(text.to_owned()))
            .await
            .map_err(|_| self.ended_error())
    }

    /// Messages from the user, as they come.
    pub fn chats(&self) -> broadcast::Receiver<String> {
        self.chats.subscribe()
    }

    /// Moves the session to a new local UDP socket (a laptop on a new
    /// network): QUIC migrates the connection at once, no reconnect.
    pub async fn rebind(&self, socket: std::net::UdpSocket) -> std::io::Result<()> {
        match self.link.lock().await.as_ref() {
            Some(link) => lifeline_common::tls::rebind(&link.endpoint, socket),
            None => Err(std::io::Error::other("the session is over")),
        }
    }

    /// Why the link to the relay was lost, while reconnecting to it.
    pub fn reconnecting(&self) -> watch::Receiver<Option<String>> {
        self.reconnecting.clone()
    }

    /// How long a lost link is retried before the session ends (zero: a
    /// lost link ends it).
    pub fn resume_window(&self) -> Duration {
        self.resume_window
    }

    /// Tells the host what the technician prefers when the link is short:
    /// `auto` follows the link, `exact` never approximates.
    pub async fn set_quality(&self, quality: Quality) -> Result<(), ViewerError> {
        self.out
            .send(ViewerMsg::Quality(quality))
            .await
            .map_err(|_| self.ended_error())
    }

    /// Sends one input event (refused locally in view-only mode, and
    /// while the host's screen is withheld).
    pub async fn input(&self, ev: InputEvent) -> Result<(), ViewerError> {
        lock(&self.shared)
            .core
            .check_input(Instant::now())
            .map_err(|e| match e {
                NotSent::ViewOnly => ViewerError::ViewOnly,
                NotSent::Withheld(_) => ViewerError::Withheld,
            })?;
        self.interactive.touch();
        self.out
            .send(ViewerMsg::Input(ev))
            .await
            .map_err(|_| self.ended_error())
    }

    pub(crate) fn ended_error(&self) -> ViewerError {
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
        lock(&self.shared).core.cursor()
    }

    /// Runs `f` on the current remote screen without copying it (a
    /// benchmark looks at one region after every update).
    pub fn with_image<R>(&self, f: impl FnOnce(Option<&Image>) -> R) -> R {
        f(lock(&self.shared).core.image())
    }

    /// UDP bytes received on the connection to the relay, QUIC headers,
    /// acknowledgements and keep-alives included.
    pub fn udp_bytes_received(&self) -> u64 {
        lock(&self.shared)
            .conn
            .as_ref()
            .map_or(0, |c| c.stats().udp_rx.bytes)
    }

    /// A copy of the current remote screen.
    pub fn image(&self) -> Option<Image> {
        lock(&self.shared).core.image().cloned()
    }

    /// The live figures; rates fall to zero when updates stop coming.
    pub fn figures(&self) -> Figures {
        lock(&self.shared).core.figures(Instant::now())
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
            let have = lock(&self.shared).core.image().is_some();
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
        // Goodbye through the host first: it ends the session itself, after
        // closing its recording. The relay is told directly if the host
        // has not ended it within 2 s.
        if self
            .out
            .send(ViewerMsg::Bye(reason.to_owned()))
            .await
            .is_ok()
        {
            let mut ended = self.ended.clone();
            let said = ended.wait_for(Option::is_some);
            let _ = tokio::time::timeout(Duration::from_secs(2), said).await;
        }
        if let Some(link) = self.link.lock().await.take() {
            link.end(reason).await;
        }
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

/// The link to `target` and its secured channel (and, for a device, the
/// key the device proved).
async fn reach(
    relay: &str,
    ca: Option<&Path>,
    token: &str,
    target: &Target,
    status: &impl Fn(Status),
) -> Result<(ViewerLink, Secured, Option<device::DeviceKey>), ViewerError> {
    let connector = lifeline_net::client::Connector::new(relay, ca).await?;
    Ok(match target {
        Target::Code { code, reason } => {
            let mut link = ViewerLink::join_for(&connector, token, code.locator(), reason).await?;
            let secured = secure(&mut link, code).await?;
            (link, secured, None)
        }
        Target::Device(d) => {
            let waiting = |s| status(Status::AwaitingApproval(s));
            let mut link =
                ViewerLink::connect_device(&connector, token, (&d.name, &d.reason), waiting)
                    .await?;
            let (secured, key) = device::secure(&mut link, d).await?;
            (link, secured, Some(key))
        }
    })
}
