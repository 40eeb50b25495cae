//! The host agent's whole life, as a library: register with the relay,
//! show the code, wait for a technician, prove the code end to end, then
//! drive a [`HostSession`] with the real streams, the capture thread and
//! the input thread. The binary only parses options and calls [`run`].
//!
//! - `lobby`: registration, the code shown, waiting for a technician
//!   (new codes, a code moved off a draining relay);
//! - `driver`: the thin async driver that runs a [`HostSession`] over the
//!   real streams and workers, reconnecting when the link is lost; every
//!   decision (consent, view-only, flow control, whole frames) is the
//!   session's, and what a typed line means is [`crate::prompt`]'s;
//! - `recording`: the session's recording on its way to the relay.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use lifeline_net::client::{ClientError, HostLink};
use lifeline_net::secure::{SecureError, Secured, handshake};
use lifeline_proto::control::{Mode, SessionReport};
use lifeline_proto::{CodeError, SessionCode};
use lifeline_session::e2e::{E2eError, Side};
use tokio::sync::mpsc;

use crate::clipboard::ClipboardWorker;
use crate::config::Trust;
use crate::files::FetchPolicy;
use crate::platform::{CaptureError, ClipboardOpener, InputError, InputOpener, ScreenOpener};
use crate::prompt::Said;
use crate::session::HostSession;
use crate::ui::Ui;
use crate::workers::{CaptureWorker, InputWorker};

mod driver;
mod lobby;
mod recording;

use driver::{Extras, Ticket, drive};
use lobby::{Paired, wait_for_technician};
use recording::Recording;

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

/// One code, from registration to the end of its session.
async fn serve_one<S: Future<Output = ()>>(
    config: &HostConfig,
    io: &mut Io<'_, S>,
) -> Result<Outcome, AgentError> {
    let Some(paired) = wait_for_technician(config, io).await? else {
        return Ok(Outcome::Done);
    };
    let Paired {
        link,
        code,
        session,
        technician,
        policy,
    } = paired;
    let (
        mut link,
        Secured {
            send,
            recv,
            resume,
            files,
        },
    ) = match prove(link, &code, &session, io).await? {
        Ok(proved) => proved,
        Err(outcome) => return Ok(outcome),
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

/// Proves both sides hold the same code before the user is even asked:
/// the sealed channel, or how this code's life ends (a wrong code, a
/// handshake that failed or took too long).
async fn prove<S>(
    mut link: HostLink,
    code: &SessionCode,
    session: &str,
    io: &mut Io<'_, S>,
) -> Result<Result<(HostLink, Secured), Outcome>, AgentError> {
    let (send, recv) = link
        .conn
        .open_bi()
        .await
        .map_err(|e| ClientError::from_connection(&e))?;
    let secured = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(Side::Host, send, recv, code, session),
    )
    .await;
    let reason = match secured {
        Ok(Ok(secured)) => return Ok(Ok((link, secured))),
        Ok(Err(SecureError::E2e(E2eError::WrongCode))) => {
            link.report(SessionReport::SecretMismatch).await?;
            link.end("wrong code").await;
            return Ok(Err(Outcome::WrongCode));
        }
        Ok(Err(e)) => format!("the secure connection failed: {}", explain(&link, e)),
        Err(_) => {
            "the technician's viewer did not complete the secure connection in time".to_owned()
        }
    };
    link.end(&reason).await;
    io.ui.ended(&reason);
    Ok(Err(Outcome::Done))
}

fn explain(link: &HostLink, e: SecureError) -> String {
    match e {
        SecureError::Stream(s) => ClientError::from_control(&link.conn, s).to_string(),
        other => other.to_string(),
    }
}
