//! The host agent's whole life, as a library: register with the relay,
//! show the code, wait for a technician, prove the code end to end, then
//! drive a [`HostSession`] with the real streams, the capture thread and
//! the input thread. The binary only parses options and calls [`run`].
//!
//! This is the thin async driver: every decision (consent, view-only,
//! flow control, whole frames) is the session's; here bytes are moved and
//! the platform is called.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lifeline_common::framed::ControlError;
use lifeline_net::client::{ClientError, Connector, HostLink, Registration};
use lifeline_net::reconnect;
use lifeline_net::secure::{self, SecureError, SecureRecv, SecureSend, Secured, handshake};
use lifeline_net::transfer::{Cancels, Interactive};
use lifeline_proto::control::{HostEvent, Mode, RecordingPolicy, SessionPolicy, SessionReport};
use lifeline_session::recording::Event as RecEvent;

use crate::recorder::RecordTap;
use lifeline_proto::{CodeError, Locator, SessionCode};
use lifeline_session::e2e::{E2eError, ResumeSecret, Side};
use lifeline_session::messages::{HostMsg, ViewerMsg};
use tokio::sync::{mpsc, oneshot};

use crate::clipboard::ClipboardWorker;
use crate::config::Trust;
use crate::files::{self, FetchPolicy, FetchQuestion, FileDone, FileStopped, Transfers};
use crate::platform::{CaptureError, ClipboardOpener, InputError, InputOpener, ScreenOpener};
use crate::session::{Action, Ending, Event, HostSession, SessionStats};
use crate::ui::{Answer, Said, Ui, parse_answer, parse_yes};
use crate::workers::{CaptureWorker, Grabbed, InputWorker};
use lifeline_session::files::Progress;

/// What the user (or their IT team) chose on the command line.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The relay, `HOST:PORT`.
    pub relay: String,
    /// Whom the connection to the relay trusts.
    pub trust: Trust,
    /// The consent question answered in advance.
    pub allow: Option<Mode>,
    /// For the audit log: this machine's name and the OS user.
    pub host_name: String,
    pub os_user: String,
    /// How long to keep reconnecting after the relay link is lost (zero:
    /// the session ends instead).
    pub resume_window: Duration,
    /// Where files from the technician are saved.
    pub download_dir: PathBuf,
    /// Whether the technician may fetch files.
    pub allow_fetch: FetchPolicy,
}

/// Why the agent stopped before or outside a session.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot capture the screen: {0}")]
    Capture(#[from] CaptureError),
    #[error("cannot apply input: {0}")]
    Input(#[from] InputError),
    #[error(transparent)]
    Relay(#[from] ClientError),
    #[error("the relay issued an unusable code: {0}")]
    Code(#[from] CodeError),
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The line that cancels the transfers under way (anything else typed
/// while sharing is a message for the technician).
pub const CANCEL_LINE: &str = "/cancel";

/// How long the viewer has to complete the key exchange.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// The platform, opened on threads of its own.
#[derive(Debug)]
pub struct Desktop {
    capture: CaptureWorker,
    input: InputWorker,
    clipboard: ClipboardWorker,
    /// The desktop asks the user itself once sharing starts (a portal).
    second_dialog: bool,
}

impl Desktop {
    /// Says that the desktop shows a dialog of its own when sharing starts,
    /// so the user is told what it is.
    pub fn with_second_dialog(mut self, yes: bool) -> Self {
        self.second_dialog = yes;
        self
    }

    /// Opens the screen and the input device; fails before anything else
    /// happens (a missing display is said before the relay is bothered).
    /// The clipboard opens when first used.
    pub fn open(
        screen: ScreenOpener,
        input: InputOpener,
        clipboard: ClipboardOpener,
    ) -> Result<Self, AgentError> {
        Ok(Self {
            capture: CaptureWorker::start(screen)?,
            input: InputWorker::start(input)?,
            clipboard: ClipboardWorker::start(clipboard).map_err(AgentError::Thread)?,
            second_dialog: false,
        })
    }
}

/// What the user says: lines typed at the terminal (the answer to the
/// question, Enter for a new code), or the window's buttons; `None` once
/// input is closed.
pub type Lines = mpsc::UnboundedReceiver<Said>;

/// Runs the agent until a session ends, the user cancels (`stop`), or the
/// relay cannot be used. A technician who types a wrong code gets the user
/// a fresh code, and the agent goes on.
pub async fn run(
    config: &HostConfig,
    ui: Ui,
    desktop: &mut Desktop,
    lines: &mut Lines,
    stop: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    tokio::pin!(stop);
    let mut io = Io {
        ui,
        desktop,
        lines,
        stop,
    };
    loop {
        match serve_one(config, &mut io).await? {
            Outcome::Done => return Ok(()),
            Outcome::WrongCode => io.ui.wrong_code(),
        }
    }
}

struct Io<'a, S> {
    ui: Ui,
    desktop: &'a mut Desktop,
    lines: &'a mut Lines,
    stop: Pin<&'a mut S>,
}

/// How one code's life ended.
enum Outcome {
    /// The program is done (session over, refused, cancelled).
    Done,
    /// The technician typed a wrong code: start again with a fresh one.
    WrongCode,
}

fn new_code(locator: Locator) -> Result<SessionCode, CodeError> {
    use rand::Rng;
    // The secret never leaves this machine except as typed by the technician.
    SessionCode::new(locator, rand::rng().random_range(0..1_000_000))
}

/// Moves `code` to `relay` (its relay is draining): the same code,
/// `None` if it died meanwhile.
async fn move_code(
    config: &HostConfig,
    relay: &str,
    session: &str,
    code: &SessionCode,
) -> Result<(HostLink, Option<Registration>), ClientError> {
    let tls = config.trust.client_config()?;
    let connector = Connector::with_config(relay, tls).await?;
    HostLink::move_with(
        &connector,
        session,
        code.locator(),
        &config.host_name,
        &config.os_user,
    )
    .await
}

/// A technician joined this code.
struct Paired {
    link: HostLink,
    code: SessionCode,
    session: String,
    technician: String,
    /// The relay's rules for the session.
    policy: Option<SessionPolicy>,
}

/// One code, from registration to the end of its session.
async fn serve_one<S: Future<Output = ()>>(
    config: &HostConfig,
    io: &mut Io<'_, S>,
) -> Result<Outcome, AgentError> {
    let Some(paired) = wait_for_technician(config, io).await? else {
        return Ok(Outcome::Done);
    };
    let Paired {
        mut link,
        code,
        session,
        technician,
        policy,
    } = paired;
    // Prove both sides hold the same code before the user is even asked.
    let (send, recv) = link
        .conn
        .open_bi()
        .await
        .map_err(|e| ClientError::from_connection(&e))?;
    let secured = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(Side::Host, send, recv, &code, &session),
    )
    .await;
    let Secured {
        send,
        recv,
        resume,
        files,
    } = match secured {
        Ok(Ok(secured)) => secured,
        Ok(Err(SecureError::E2e(E2eError::WrongCode))) => {
            link.report(SessionReport::SecretMismatch).await?;
            link.end("wrong code").await;
            return Ok(Outcome::WrongCode);
        }
        Ok(Err(e)) => {
            let reason = format!("the secure connection failed: {}", explain(&link, e));
            link.end(&reason).await;
            io.ui.ended(&reason);
            return Ok(Outcome::Done);
        }
        Err(_) => {
            let reason = "the technician's viewer did not complete the secure connection in time";
            link.end(reason).await;
            io.ui.ended(reason);
            return Ok(Outcome::Done);
        }
    };
    let recording = match policy.as_ref().and_then(|p| p.recording.as_ref()) {
        Some(rp) => Some(Recording::start(&session, rp, io)?),
        None => None,
    };
    let ticket = (!config.resume_window.is_zero()).then_some(Ticket {
        session,
        secret: resume,
        window: config.resume_window,
    });
    if let Some(t) = &ticket {
        let hash = t.secret.hash();
        link.report(SessionReport::ResumeTicket { hash }).await?;
    }
    let rtt = link.conn.rtt();
    let now = Instant::now();
    let mut session = HostSession::with_path_rtt(&technician, config.allow, now, rtt);
    if let Some(p) = &policy {
        let every = Duration::from_secs(u64::from(p.confirm_every_s));
        let within = Duration::from_secs(u64::from(p.answer_within_s));
        session = session.confirm_every(every, within, now);
    }
    let streams = (send, recv);
    let extras = Extras {
        ticket: ticket.as_ref(),
        files,
        config,
        recording,
    };
    let (ending, stats, recording) = drive(session, &mut link, streams, extras, io).await?;
    tracing::info!(?ending, ?stats, "session over");
    if let Some(r) = recording {
        r.finish(ending.reason(), &mut link, io).await;
    }
    if ending.tell_relay() {
        link.end(ending.reason()).await;
    }
    io.ui.session_ended(ending.reason(), &stats);
    Ok(Outcome::Done)
}

/// Registers, shows the code (a new one on expiry when the user asks) and
/// waits until a technician joins; `None` when the user gave up first.
/// A relay that drains sends the code elsewhere; a link lost meanwhile
/// (the relay restarted or died) is registered again, with a new code.
async fn wait_for_technician<S: Future<Output = ()>>(
    config: &HostConfig,
    io: &mut Io<'_, S>,
) -> Result<Option<Paired>, AgentError> {
    let ui = io.ui.clone();
    let (link, reg) = register(config).await?;
    let mut shown = Shown {
        link,
        code: new_code(reg.locator)?,
        session: String::new(),
        expired: false,
    };
    shown.show(&ui, reg);
    loop {
        tokio::select! {
            () = io.stop.as_mut() => {
                shown.link.end("cancelled by the user").await;
                ui.ended("cancelled by the user");
                return Ok(None);
            }
            ev = shown.link.next_event() => match ev {
                Ok(HostEvent::Registered { locator, expires_in_s, session }) => {
                    shown.code = new_code(locator)?;
                    shown.show(&ui, Registration { session, locator, expires_in_s });
                }
                Ok(HostEvent::MoveTo { relay }) => shown.follow(config, &ui, &relay).await?,
                Ok(HostEvent::Expired) => {
                    shown.expired = true;
                    ui.expired();
                }
                Ok(HostEvent::Paired { session, technician }) => {
                    let Shown { link, code, .. } = shown;
                    let policy = link.policy();
                    return Ok(Some(Paired { link, code, session, technician, policy }));
                }
                Ok(other @ (HostEvent::Resumed | HostEvent::ResumeRefused(_) | HostEvent::Policy(_))) => {
                    let what = format!("{other:?} while waiting for a technician");
                    return Err(ClientError::Protocol(what).into());
                }
                Err(e) if e.resumable() && !config.resume_window.is_zero() => {
                    shown.register_again(config, &ui, &e).await?;
                }
                Err(e) => return Err(e.into()),
            },
            line = io.lines.recv(), if shown.expired => match line {
                Some(_) => shown.link.renew().await?,
                None => {
                    shown.link.end("code expired").await;
                    ui.ended("code expired");
                    return Ok(None);
                }
            },
        }
    }
}

/// Registers with the relay named in the configuration, looking its name
/// up again (behind DNS round robin, a relay that is up).
async fn register(config: &HostConfig) -> Result<(HostLink, Registration), ClientError> {
    let tls = config.trust.client_config()?;
    let connector = Connector::with_config(&config.relay, tls).await?;
    HostLink::register_with(&connector, &config.host_name, &config.os_user).await
}

/// The code a waiting host shows and the link it holds it on.
struct Shown {
    link: HostLink,
    code: SessionCode,
    session: String,
    expired: bool,
}

impl Shown {
    /// Shows `reg`'s code: `code`, drawn for it (or the same one, moved).
    fn show(&mut self, ui: &Ui, reg: Registration) {
        self.session = reg.session;
        self.expired = false;
        ui.code(&self.code, reg.expires_in_s);
    }

    /// The relay drains: the code moves to `relay`, or (if that fails) a
    /// new one comes from the configured relay.
    async fn follow(
        &mut self,
        config: &HostConfig,
        ui: &Ui,
        relay: &str,
    ) -> Result<(), AgentError> {
        match move_code(config, relay, &self.session, &self.code).await {
            Ok((link, Some(reg))) => {
                self.link = link;
                self.show(ui, reg);
            }
            Ok((link, None)) => {
                self.link = link;
                self.expired = true;
                ui.expired();
            }
            Err(e) => {
                tracing::warn!(error = %e, %relay, "could not move the code; asking for a new one");
                let (link, reg) = register(config).await?;
                self.link = link;
                self.code = new_code(reg.locator)?;
                self.show(ui, reg);
            }
        }
        Ok(())
    }

    /// The link was lost while waiting: registers again within the resume
    /// window (the relay may be restarting) and shows the new code.
    async fn register_again(
        &mut self,
        config: &HostConfig,
        ui: &Ui,
        lost: &ClientError,
    ) -> Result<(), AgentError> {
        let window = config.resume_window;
        ui.reconnecting(&lost.to_string(), window.as_secs());
        let (link, reg) = reconnect::retry(Instant::now(), window, || register(config)).await?;
        self.link = link;
        self.code = new_code(reg.locator)?;
        self.show(ui, reg);
        Ok(())
    }
}

/// What lets this session continue after its link is lost.
struct Ticket {
    session: String,
    secret: ResumeSecret,
    window: Duration,
}

/// What a session has beside its streams.
struct Extras<'a> {
    ticket: Option<&'a Ticket>,
    files: lifeline_session::e2e::FilesRoot,
    config: &'a HostConfig,
    recording: Option<Recording>,
}

/// The session's recording: who records, and its sealed chunks on their
/// way to the relay.
struct Recording {
    tap: RecordTap,
    chunks: mpsc::UnboundedReceiver<Vec<u8>>,
    /// Chunks the relay did not take (the link was lost): sent again, in
    /// order, once it is back, so a resumed session's recording has no gap.
    unsent: std::collections::VecDeque<Vec<u8>>,
}

impl Recording {
    /// Starts recording as the relay's policy says; the user is told who
    /// will be able to watch it.
    fn start<S>(
        session: &str,
        policy: &RecordingPolicy,
        io: &mut Io<'_, S>,
    ) -> Result<Self, AgentError> {
        let (tap, chunks) = RecordTap::start(session, policy);
        io.ui.recording = Some(tap.clone());
        let names: Vec<String> = policy.auditors.iter().map(|a| a.name.clone()).collect();
        io.ui.recorded(&names, policy.keys);
        io.desktop.capture.record(Some(tap.clone()))?;
        Ok(Self {
            tap,
            chunks,
            unsent: std::collections::VecDeque::new(),
        })
    }

    /// Sends what waits, then `chunk`; keeps what the link did not take.
    async fn send(&mut self, link: &mut HostLink, chunk: Option<Vec<u8>>) {
        self.unsent.extend(chunk);
        while let Some(next) = self.unsent.pop_front() {
            if let Err(e) = link.record(next.clone()).await {
                tracing::warn!(error = %e, "a recording chunk waits for the link to the relay");
                self.unsent.push_front(next);
                return;
            }
        }
    }

    /// Records the end and hands the relay what is left.
    async fn finish<S>(mut self, reason: &str, link: &mut HostLink, io: &mut Io<'_, S>) {
        io.ui.recording = None;
        if let Err(e) = io.desktop.capture.record(None) {
            tracing::warn!(error = %e, "the capture thread stopped before the recording ended");
        }
        self.tap.finish(reason);
        while let Ok(chunk) = self.chunks.try_recv() {
            self.unsent.push_back(chunk);
        }
        self.send(link, None).await;
        if !self.unsent.is_empty() {
            tracing::warn!(
                left = self.unsent.len(),
                "the recording's last chunks did not reach the relay"
            );
        }
    }
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

/// Runs `session` over the real streams until it ends.
async fn drive<S: Future<Output = ()>>(
    mut session: HostSession,
    link: &mut HostLink,
    (send, mut recv): (SecureSend, SecureRecv),
    extras: Extras<'_>,
    io: &mut Io<'_, S>,
) -> Result<(Ending, SessionStats, Option<Recording>), AgentError> {
    let ticket = extras.ticket;
    let mut d = Driver::new(link, send, extras);
    loop {
        while let Some(action) = session.poll_action() {
            if let Some(ending) = d.act(action, &mut session, io).await? {
                // Refused or ended: the viewer's stream ends cleanly.
                d.close().await;
                return Ok((ending, session.stats().clone(), d.recording.take()));
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
                let event = d.recover(ticket, &mut recv, io, &why).await;
                session.handle(Instant::now(), event);
            }
            Wake::Event(ev) => session.handle(now, ev),
            Wake::Timer => {
                session.handle(now, Event::PathRtt(d.conn.rtt()));
                session.handle_timeout(now);
            }
            Wake::AskAgain => {
                if let Some(t) = &d.asking {
                    io.ui.ask(t);
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
    /// The technician the user is being asked about.
    asking: Option<String>,
    /// A lost link is resumed rather than the end.
    resumable: bool,
    /// Results of work done beside the session (the clipboard).
    side_tx: mpsc::UnboundedSender<Event>,
    side_rx: mpsc::UnboundedReceiver<Event>,
    /// Whether the user's typing can still be read.
    lines_open: bool,
    recording: Option<Recording>,
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

    /// After a lost link: takes the sealed channel back from the writer,
    /// resumes, and starts a new writer; the event for the session.
    async fn recover<S: Future<Output = ()>>(
        &mut self,
        ticket: &Ticket,
        recv: &mut SecureRecv,
        io: &mut Io<'_, S>,
        why: &ClientError,
    ) -> Event {
        drop(self.out.take());
        let Some(Ok(mut send)) = (match self.writer.take() {
            Some(w) => Some(w.await),
            None => None,
        }) else {
            return Event::Failed("the session writer failed".into());
        };
        let event = match self.resume(ticket, &mut send, recv, io, why).await {
            Ok(true) => {
                self.serve_files_again();
                if let Some(r) = self.recording.as_mut() {
                    r.send(self.link, None).await;
                }
                Event::Resumed
            }
            Ok(false) => Event::Stop,
            Err(e) => Event::Closed(e.to_string()),
        };
        let (out, writer) = spawn_writer(send);
        (self.out, self.writer) = (Some(out), Some(writer));
        event
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
                io.ui.ask(&technician);
                self.asking = Some(technician);
            }
            Action::Report(r) => {
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
            Action::ResetCapture => io.desktop.capture.reset()?,
            Action::Show(showing) => io.desktop.capture.show(showing)?,
            Action::Grab { full, tuning } => {
                self.grabbing = Some(io.desktop.capture.grab(full, tuning));
            }
            Action::Apply(ev) => {
                self.interactive.touch();
                if let Some(r) = &self.recording {
                    r.tap.record(RecEvent::Input(ev.clone()));
                }
                match io.desktop.input.apply(ev) {
                    Ok(()) => {}
                    Err(InputError::Flooded(_)) => {
                        session.handle(Instant::now(), Event::InputFlooded);
                    }
                    Err(e) => session.handle(Instant::now(), Event::Failed(e.to_string())),
                }
            }
            Action::Sharing { technician, mode } => {
                self.asking = None;
                io.ui.joined(&technician, mode);
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
            Action::FileMoved {
                to_host,
                path,
                bytes,
                sha256,
            } => io.ui.file(to_host, &path, bytes, &sha256),
            Action::SetClipboard(text) => self.clipboard(&io.desktop.clipboard, Some(text)),
            Action::GetClipboard => self.clipboard(&io.desktop.clipboard, None),
            Action::ClipboardMoved { to_host, bytes } => io.ui.clipboard(to_host, bytes),
            Action::Chat(text) => io.ui.chat(&text),
            Action::AskContinue { minutes, within_s } => {
                self.confirming = Some((minutes, within_s));
                io.ui.ask_continue(minutes, within_s);
            }
            Action::End(ending) => return Ok(Some(ending)),
        }
        Ok(None)
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

    /// What the user said: the answer to an open question (a fetch, going
    /// on, the consent question), a cancel, or a message for the technician.
    fn on_line(&mut self, asking: bool, said: Option<Said>) -> Option<Wake> {
        let Some(said) = said else {
            self.lines_open = false;
            if let Some(answer) = self.fetch_pending.take() {
                let _ = answer.send(false);
            }
            // Nobody can answer any more: that is a no.
            return asking.then_some(Wake::Event(Event::Answer(Answer::Refuse)));
        };
        let said = match said {
            Said::Line(l) => match self.read_line(asking, &l) {
                Some(s) => s,
                None => return Some(Wake::AskAgain),
            },
            other => other,
        };
        match said {
            Said::Answer(a) if asking => Some(Wake::Event(Event::Answer(a))),
            Said::Fetch(yes) => {
                if let Some(answer) = self.fetch_pending.take() {
                    let _ = answer.send(yes);
                }
                None
            }
            Said::Continue(go_on) => {
                self.confirming = None;
                Some(Wake::Event(Event::Continue(go_on)))
            }
            Said::CancelTransfers => {
                self.cancels.cancel_all();
                None
            }
            Said::ViewOnly => Some(Wake::Event(Event::ViewOnly)),
            Said::Chat(text) => Some(Wake::Event(Event::UserChat(text))),
            Said::Answer(_) | Said::NewCode | Said::Line(_) => None,
        }
    }

    /// What a typed line means now; `None` for a line that answers the
    /// open question with nothing it knows (the question is asked again).
    fn read_line(&self, asking: bool, line: &str) -> Option<Said> {
        if self.fetch_pending.is_some() {
            return Some(Said::Fetch(parse_yes(line) == Some(true)));
        }
        if self.confirming.is_some() {
            return parse_yes(line).map(Said::Continue);
        }
        if asking {
            return parse_answer(line).map(Said::Answer);
        }
        if line.trim() == CANCEL_LINE {
            return Some(Said::CancelTransfers);
        }
        // While sharing, a line is a message for the technician.
        Some(Said::Chat(line.to_owned()))
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

    /// Gets the session back after its link was lost: reconnects with
    /// backoff, then resumes the sealed channel on a new stream, until the
    /// window passes. `Ok(false)`: the user stopped meanwhile.
    async fn resume<S: Future<Output = ()>>(
        &mut self,
        ticket: &Ticket,
        send: &mut SecureSend,
        recv: &mut SecureRecv,
        io: &mut Io<'_, S>,
        why: &ClientError,
    ) -> Result<bool, ClientError> {
        let started = Instant::now();
        io.ui
            .reconnecting(&why.to_string(), ticket.window.as_secs());
        let connector = self.link.connector.clone();
        let (session, secret) = (ticket.session.as_str(), ticket.secret.0);
        loop {
            let attempt = reconnect::retry(started, ticket.window, || {
                HostLink::resume(&connector, session, secret)
            });
            let link = tokio::select! {
                () = io.stop.as_mut() => return Ok(false),
                link = attempt => link?,
            };
            *self.link = link;
            self.conn = self.link.conn.clone();
            match resume_stream(&self.conn, send, recv).await {
                Ok(lost) => {
                    tracing::info!(lost, "session resumed");
                    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    io.ui.resumed(ms);
                    return Ok(true);
                }
                Err(SecureError::E2e(e)) => return Err(ClientError::Protocol(e.to_string())),
                Err(e) => tracing::info!(error = %e, "resume interrupted; trying again"),
            }
        }
    }

    /// Waits for whatever happens first; `None` for something only logged.
    async fn wait<S: Future<Output = ()>>(
        &mut self,
        session: &HostSession,
        recv: &mut SecureRecv,
        io: &mut Io<'_, S>,
    ) -> Option<Wake> {
        let deadline = session.poll_timeout();
        let asking = self.asking.is_some();
        if let Some(r) = &self.recording {
            r.tap.tick();
        }
        let wake = tokio::select! {
            () = io.stop.as_mut() => Wake::Event(Event::Stop),
            Some(chunk) = async {
                match self.recording.as_mut() {
                    Some(r) => r.chunks.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(r) = self.recording.as_mut() {
                    r.send(self.link, Some(chunk)).await;
                }
                return None;
            }
            Some(q) = self.fetch_rx.recv() => {
                if self.fetch_pending.is_some() {
                    // One question at a time; the technician may ask again.
                    let _ = q.answer.send(false);
                } else {
                    io.ui.ask_fetch(&q.path, q.bytes);
                    self.fetch_pending = Some(q.answer);
                }
                return None;
            }
            Some(f) = self.stopped_rx.recv() => {
                io.ui.file_stopped(&f);
                return None;
            }
            Some(p) = self.progress_rx.recv() => {
                io.ui.file_progress(&p);
                return None;
            }
            Some(done) = self.done_rx.recv() => Wake::Event(Event::FileMoved {
                to_host: done.to_host,
                path: done.path,
                bytes: done.bytes,
                sha256: done.sha256,
            }),
            line = io.lines.recv(), if self.lines_open => match self.on_line(asking, line) {
                Some(w) => w,
                None => return None,
            },
            Some(ev) = self.side_rx.recv() => Wake::Event(ev),
            msg = recv.recv::<ViewerMsg>() => match msg {
                Ok(m) => Wake::Event(Event::Viewer(m)),
                Err(e) => viewer_gone(&self.conn, e, self.resumable).await,
            },
            () = io.desktop.capture.changed() => Wake::Event(Event::Drawn),
            got = async {
                match self.grabbing.as_mut() {
                    Some(g) => g.await,
                    None => std::future::pending().await,
                }
            } => {
                self.grabbing = None;
                Wake::Event(match got {
                    Ok(Ok(g)) => Event::Grabbed {
                        update: g.update,
                        pointer: g.pointer,
                        refinement: g.refinement,
                        view: g.view,
                    },
                    Ok(Err(e)) => Event::Failed(e.to_string()),
                    Err(_) => Event::Failed(CaptureError::Stopped.to_string()),
                })
            }
            Some(e) = io.desktop.input.next_error() => {
                tracing::warn!(error = %e, "input not applied");
                return None;
            }
            () = sleep_until(deadline) => Wake::Timer,
        };
        Some(wake)
    }
}

/// Opens the session's new stream to the viewer and continues the sealed
/// channel on it.
async fn resume_stream(
    conn: &quinn::Connection,
    send: &mut SecureSend,
    recv: &mut SecureRecv,
) -> Result<u64, SecureError> {
    let (s, r) = conn.open_bi().await.map_err(|e| {
        SecureError::Stream(ControlError::Read(quinn::ReadError::ConnectionLost(e)))
    })?;
    match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        secure::resume(Side::Host, send, recv, s, r),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(SecureError::Stream(ControlError::Closed)),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
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

/// The viewer's stream failed: its end is the other side leaving (the
/// relay says why) or a lost link (resumed when `resumable`); anything
/// else (a message that fails to open or parse) is an attack or a bug, and
/// this side ends the session.
async fn viewer_gone(conn: &quinn::Connection, e: SecureError, resumable: bool) -> Wake {
    Wake::Event(match e {
        SecureError::Stream(s @ ControlError::Frame(_)) => {
            Event::Failed(format!("the host ended the session: {s}"))
        }
        SecureError::Stream(s) => {
            let why = ClientError::after_stream(conn, s).await;
            if resumable && why.resumable() {
                return Wake::Lost(why);
            }
            Event::Closed(why.to_string())
        }
        other => Event::Failed(format!("the host ended the session: {other}")),
    })
}

fn explain(link: &HostLink, e: SecureError) -> String {
    match e {
        SecureError::Stream(s) => ClientError::from_control(&link.conn, s).to_string(),
        other => other.to_string(),
    }
}
