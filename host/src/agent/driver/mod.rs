//! The thin async driver: runs a [`HostSession`] over the real streams
//! and the platform's workers until it ends. It carries out the session's
//! actions, turns what happens (the viewer's messages, captures, the
//! user's words, time) into the session's events, and, when the link to
//! the relay is lost, gets the session back (`resume`). Every decision is
//! the session's, or [`crate::prompt`]'s for a typed line.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use lifeline_net::client::{ClientError, HostLink};
use lifeline_net::secure::{SecureRecv, SecureSend};
use lifeline_net::transfer::{Cancels, Interactive};
use lifeline_proto::control::{Mode, SessionReport};
use lifeline_session::e2e::ResumeSecret;
use lifeline_session::files::Progress;
use lifeline_session::messages::{HostMsg, InputEvent};
use lifeline_session::recording::Event as RecEvent;
use tokio::sync::{mpsc, oneshot};

use super::context::{AgentError, HostConfig, Io};
use super::recording::Recording;
use crate::clipboard::ClipboardWorker;
use crate::files::{self, FetchQuestion, FileDone, FileStopped, Transfers};
use crate::guard::Guard;
use crate::platform::{CaptureError, InputError};
use crate::receipt;
use crate::session::{Action, Ending, Event, HostSession, SessionStats};
use crate::workers::Grabbed;

mod resume;
mod wait;

/// What lets this session continue after its link is lost.
pub(in crate::agent) struct Ticket {
    pub(in crate::agent) session: String,
    pub(in crate::agent) secret: ResumeSecret,
    pub(in crate::agent) window: Duration,
}

/// What a session has beside its streams.
pub(in crate::agent) struct Extras<'a> {
    pub(in crate::agent) ticket: Option<&'a Ticket>,
    pub(in crate::agent) files: lifeline_session::e2e::FilesRoot,
    pub(in crate::agent) config: &'a HostConfig,
    pub(in crate::agent) recording: Option<Recording>,
}

/// File transfers, once sharing started.
struct FileSide {
    transfers: Arc<Transfers>,
    task: tokio::task::JoinHandle<()>,
}

/// What the driver waits on besides the session's own timer.
enum Wake {
    Event(Event),
    Timer,
    /// The user typed a line that is not an answer: ask again.
    AskAgain,
    /// The link to the relay was lost in a way a resume may mend.
    Lost(ClientError),
}

/// How a driven session ended, and what it leaves.
pub(super) struct Driven {
    pub(super) ending: Ending,
    pub(super) stats: SessionStats,
    pub(super) recording: Option<Recording>,
    /// What happened, for the user's receipt.
    pub(super) receipt: receipt::Log,
}

/// Runs `session` over the real streams until it ends.
pub(super) async fn drive<S: Future<Output = ()>>(
    mut session: HostSession,
    link: &mut HostLink,
    (send, mut recv): (SecureSend, SecureRecv),
    extras: Extras<'_>,
    io: &mut Io<'_, S>,
) -> Result<Driven, AgentError> {
    let ticket = extras.ticket;
    let mut d = Driver::new(link, send, extras);
    loop {
        while let Some(action) = session.poll_action() {
            if let Some(ending) = d.act(action, &mut session, io).await? {
                // Refused or ended: the viewer's stream ends cleanly.
                d.close().await;
                let audited = d.link.take_audited();
                d.receipt.audited(audited);
                return Ok(Driven {
                    ending,
                    stats: session.stats().clone(),
                    recording: d.recording.take(),
                    receipt: d.receipt,
                });
            }
        }
        let Some(wake) = d.wait(&session, &mut recv, io).await else {
            continue;
        };
        let now = Instant::now();
        match wake {
            Wake::Lost(why) => {
                let Some(ticket) = ticket else {
                    session.handle(now, Event::Closed(why.to_string()));
                    continue;
                };
                session.handle(now, Event::Interrupted);
                d.receipt.interrupted(SystemTime::now());
                let event = d.recover(ticket, &mut recv, io, &why).await;
                if matches!(event, Event::Resumed) {
                    d.receipt.resumed(SystemTime::now());
                }
                session.handle(Instant::now(), event);
            }
            Wake::Event(ev) => session.handle(now, ev),
            Wake::Timer => {
                session.handle(now, Event::PathRtt(d.conn.rtt()));
                session.handle_timeout(now);
            }
            Wake::AskAgain => {
                if let Some((t, reason)) = &d.asking {
                    io.ui.ask(t, reason.as_deref());
                } else if let Some((minutes, within_s)) = d.confirming {
                    io.ui.ask_continue(minutes, within_s);
                }
            }
        }
    }
}

/// A capture under way on the capture thread.
type Grabbing = oneshot::Receiver<Result<Grabbed, CaptureError>>;

/// What the driver holds between the session's actions and its events.
struct Driver<'l> {
    files_root: lifeline_session::e2e::FilesRoot,
    config: &'l HostConfig,
    files: Option<FileSide>,
    fetch_tx: mpsc::UnboundedSender<FetchQuestion>,
    fetch_rx: mpsc::UnboundedReceiver<FetchQuestion>,
    done_tx: mpsc::UnboundedSender<FileDone>,
    done_rx: mpsc::UnboundedReceiver<FileDone>,
    progress_tx: mpsc::UnboundedSender<Progress>,
    progress_rx: mpsc::UnboundedReceiver<Progress>,
    stopped_tx: mpsc::UnboundedSender<FileStopped>,
    stopped_rx: mpsc::UnboundedReceiver<FileStopped>,
    /// The user's cancel of transfers under way.
    cancels: Cancels,
    /// When the technician's input last came.
    interactive: Arc<Interactive>,
    /// The continue question is open: (minutes of control, seconds left).
    confirming: Option<(u64, u64)>,
    /// The user is being asked whether the technician may fetch a file.
    fetch_pending: Option<tokio::sync::oneshot::Sender<bool>>,
    link: &'l mut HostLink,
    conn: quinn::Connection,
    /// To the writer task; `None` once the session ended.
    out: Option<mpsc::Sender<HostMsg>>,
    /// The writer task; it hands the sealed channel back when it stops.
    writer: Option<tokio::task::JoinHandle<SecureSend>>,
    grabbing: Option<Grabbing>,
    /// The technician the user is being asked about, and their reason.
    asking: Option<(String, Option<String>)>,
    /// A lost link is resumed rather than the end.
    resumable: bool,
    /// Results of work done beside the session (the clipboard).
    side_tx: mpsc::UnboundedSender<Event>,
    side_rx: mpsc::UnboundedReceiver<Event>,
    /// Whether the user's typing can still be read.
    lines_open: bool,
    recording: Option<Recording>,
    /// Keeps remote input off the host's own questions.
    guard: Option<Guard>,
    /// Whether the relay's side of the control stream can still be read
    /// (the session's audit records come on it).
    ctl_open: bool,
    /// What happened, for the user's receipt.
    receipt: receipt::Log,
}

impl<'l> Driver<'l> {
    fn new(link: &'l mut HostLink, send: SecureSend, extras: Extras<'l>) -> Self {
        let (out, writer) = spawn_writer(send);
        let (side_tx, side_rx) = mpsc::unbounded_channel();
        let (fetch_tx, fetch_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (progress_tx, progress_rx) = mpsc::unbounded_channel();
        let (stopped_tx, stopped_rx) = mpsc::unbounded_channel();
        Self {
            conn: link.conn.clone(),
            link,
            out: Some(out),
            writer: Some(writer),
            grabbing: None,
            asking: None,
            resumable: extras.ticket.is_some(),
            side_tx,
            side_rx,
            lines_open: true,
            files_root: extras.files,
            config: extras.config,
            files: None,
            fetch_tx,
            fetch_rx,
            done_tx,
            done_rx,
            progress_tx,
            progress_rx,
            stopped_tx,
            stopped_rx,
            cancels: Cancels::default(),
            interactive: Arc::default(),
            confirming: None,
            fetch_pending: None,
            recording: extras.recording,
            guard: None,
            ctl_open: true,
            receipt: receipt::Log::new(SystemTime::now()),
        }
    }

    /// The session is over: transfers stop, the viewer's stream ends.
    async fn close(&mut self) {
        if let Some(f) = self.files.take() {
            f.task.abort();
            f.transfers.discard_kept();
        }
        drop(self.out.take());
        if let Some(writer) = self.writer.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
        }
    }

    /// Carries out one action; the session's end, when that is what it was.
    async fn act<S>(
        &mut self,
        action: Action,
        session: &mut HostSession,
        io: &mut Io<'_, S>,
    ) -> Result<Option<Ending>, AgentError> {
        match action {
            Action::Ask { technician } => {
                self.question_opens(io);
                // The reason the relay passed on with the join (none on a
                // device's session: its technician's words carry it).
                let reason = self.link.join_reason();
                io.ui.ask(&technician, reason.as_deref());
                self.asking = Some((technician, reason));
            }
            Action::Report(r) => {
                match &r {
                    SessionReport::ModeGranted(m) => self.receipt.mode(*m, SystemTime::now()),
                    SessionReport::Transfer(t) => self.receipt.transfer(t, SystemTime::now()),
                    _ => {}
                }
                if let Err(e) = self.link.report(r).await {
                    // The relay closed the session meanwhile (the viewer
                    // disconnected): the session is over, not the agent.
                    if e.resumable() || self.conn.close_reason().is_none() {
                        return Err(e.into());
                    }
                    session.handle(Instant::now(), Event::Closed(e.to_string()));
                }
            }
            Action::Send(msg) => {
                if let HostMsg::Chat(text) = &msg {
                    self.receipt.chat(true, text, SystemTime::now());
                }
                self.send(msg, session).await;
            }
            Action::ResetCapture => io.desktop.capture.reset()?,
            Action::Show(showing) => io.desktop.capture.show(showing)?,
            Action::Grab { full, tuning } => {
                self.grabbing = Some(io.desktop.capture.grab(full, tuning));
            }
            Action::Apply(ev) => self.apply(ev, session, io),
            Action::Sharing { technician, mode } => self.sharing(&technician, mode, io),
            Action::FileMoved {
                to_host,
                path,
                bytes,
                sha256,
            } => io.ui.file(to_host, &path, bytes, &sha256),
            Action::SetClipboard(text) => self.clipboard(&io.desktop.clipboard, Some(text)),
            Action::GetClipboard => self.clipboard(&io.desktop.clipboard, None),
            Action::ClipboardMoved { to_host, bytes } => io.ui.clipboard(to_host, bytes),
            Action::Chat(text) => {
                self.receipt.chat(false, &text, SystemTime::now());
                io.ui.chat(&text);
            }
            Action::AskContinue { minutes, within_s } => {
                self.confirming = Some((minutes, within_s));
                self.question_opens(io);
                io.ui.ask_continue(minutes, within_s);
            }
            Action::End(ending) => return Ok(Some(ending)),
        }
        Ok(None)
    }

    /// Hands `msg` to the writer task.
    async fn send(&mut self, msg: HostMsg, session: &mut HostSession) {
        if let HostMsg::Frame(u) = &msg {
            tracing::debug!(
                seq = u.seq,
                bytes = u.payload_bytes(),
                full = u.full,
                copies = u.copies.len(),
                pictures = u.pictures.len(),
                photos = u.photos.len(),
                tiles = u.tiles.len(),
                "update"
            );
        }
        let sent = match &self.out {
            Some(tx) => tx.send(msg).await.is_ok(),
            None => false,
        };
        // A writer stopped by a lost connection is the reader's to
        // report (it may be resumed); anything else ends the session.
        if !sent && self.conn.close_reason().is_none() {
            let stopped = Event::Failed("the session stream stopped".into());
            session.handle(Instant::now(), stopped);
        }
    }

    /// Whether one of the host's questions is open (remote input must
    /// not answer it).
    fn question_open(&self) -> bool {
        self.asking.is_some() || self.fetch_pending.is_some() || self.confirming.is_some()
    }

    /// A question of the host's opens: what was typed before is not its
    /// answer, and what the technician holds down is released (presses
    /// are dropped while it is open, so nothing stays down).
    fn question_opens<S>(&mut self, io: &mut Io<'_, S>) {
        io.lines.fresh();
        let Some(guard) = self.guard.as_mut() else {
            return;
        };
        for ev in guard.release_held() {
            if let Some(r) = &self.recording {
                r.tap.record(RecEvent::Input(ev.clone()));
            }
            if let Err(e) = io.desktop.input.apply(ev) {
                tracing::warn!(error = %e, "a held key or button not released");
            }
        }
    }

    /// Hands one input event to the desktop (and the recording), unless
    /// the guard drops it: this is the one place remote input is applied,
    /// whatever the backend.
    fn apply<S>(&mut self, ev: InputEvent, session: &mut HostSession, io: &mut Io<'_, S>) {
        self.interactive.touch();
        let open = self.question_open();
        let guard = self
            .guard
            .get_or_insert_with(|| Guard::new(io.ui.own_window.clone()));
        for ev in guard.admit(open, ev) {
            if let Some(r) = &self.recording {
                r.tap.record(RecEvent::Input(ev.clone()));
            }
            match io.desktop.input.apply(ev) {
                Ok(()) => {}
                Err(InputError::Flooded(_)) => {
                    session.handle(Instant::now(), Event::InputFlooded);
                }
                Err(e @ (InputError::SecureAttention | InputError::Blocked)) => {
                    session.handle(Instant::now(), Event::InputRefused(e.to_string()));
                }
                Err(e) => session.handle(Instant::now(), Event::Failed(e.to_string())),
            }
        }
    }

    /// Sharing started, or its mode changed: the user is told, and file
    /// transfers start (or follow the mode).
    fn sharing<S>(&mut self, technician: &str, mode: Mode, io: &mut Io<'_, S>) {
        self.asking = None;
        io.ui.joined(technician, mode);
        match &self.files {
            // The user took control back: no more files, and
            // those under way stop.
            Some(f) => {
                let control = mode == Mode::Control;
                f.transfers.control.store(control, Ordering::Relaxed);
                if !control {
                    self.cancels.cancel_all();
                }
            }
            None => {
                if io.desktop.second_dialog {
                    io.ui.desktop_asks();
                }
                self.serve_files(mode);
            }
        }
    }

    /// Sets (`Some`) or reads the desktop's clipboard beside the session;
    /// the outcome comes back as an event.
    fn clipboard(&self, clip: &ClipboardWorker, set: Option<String>) {
        let (clip, tx) = (clip.clone(), self.side_tx.clone());
        tokio::spawn(async move {
            let event = match set {
                Some(text) => {
                    let bytes = text.len() as u64;
                    let r = clip.set(text).await.map(|()| bytes);
                    Event::ClipboardSet(r.map_err(|e| e.to_string()))
                }
                None => Event::ClipboardGot(clip.get().await.map_err(|e| e.to_string())),
            };
            // The session may have ended meanwhile; nobody to tell.
            let _ = tx.send(event);
        });
    }

    /// Starts serving the viewer's file transfers (refused unless `mode`
    /// is control).
    fn serve_files(&mut self, mode: Mode) {
        let transfers = Arc::new(Transfers {
            root: self.files_root.clone(),
            dir: self.config.download_dir.clone(),
            fetch: self.config.allow_fetch,
            control: (mode == Mode::Control).into(),
            seen: std::sync::Mutex::default(),
            done: self.done_tx.clone(),
            ask: self.fetch_tx.clone(),
            progress: self.progress_tx.clone(),
            kept: std::sync::Mutex::default(),
            kept_fetches: std::sync::Mutex::default(),
            cancels: self.cancels.clone(),
            interactive: self.interactive.clone(),
            stopped: self.stopped_tx.clone(),
        });
        let task = tokio::spawn(files::serve(self.conn.clone(), transfers.clone()));
        self.files = Some(FileSide { transfers, task });
    }

    /// After a resume: transfers come on the new connection.
    fn serve_files_again(&mut self) {
        if let Some(f) = self.files.take() {
            f.task.abort();
            let task = tokio::spawn(files::serve(self.conn.clone(), f.transfers.clone()));
            self.files = Some(FileSide {
                transfers: f.transfers,
                task,
            });
        }
    }
}

/// A task that seals and sends, so a slow stream holds back the session
/// (through the small channel) without blocking its other work.
/// The task hands the sealed channel back when it stops (the channel is
/// closed, or sending failed), so a resumed session keeps its counters.
fn spawn_writer(send: SecureSend) -> (mpsc::Sender<HostMsg>, tokio::task::JoinHandle<SecureSend>) {
    let (tx, mut rx) = mpsc::channel::<HostMsg>(4);
    let task = tokio::spawn(async move {
        let mut send = send;
        while let Some(msg) = rx.recv().await {
            if let Err(e) = send.send(&msg).await {
                tracing::debug!(error = %e, "session writer stopped");
                return send;
            }
        }
        send.finish();
        send
    });
    (tx, task)
}
