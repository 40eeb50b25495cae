//! What the agent is given and works with: the user's choices
//! ([`HostConfig`]), the platform opened on threads of its own
//! ([`Desktop`]), what the user says ([`Lines`]), the user interface and
//! the stop signal bundled for the lobby and the driver, and why the
//! agent stops ([`AgentError`]).

use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use lifeline_net::client::ClientError;
use lifeline_proto::CodeError;
use lifeline_proto::control::Mode;

use crate::clipboard::ClipboardWorker;
use crate::config::Trust;
use crate::files::FetchPolicy;
use crate::hidden::Privacy;
use crate::platform::{CaptureError, ClipboardOpener, InputError, InputOpener, ScreenOpener};
use crate::ui::Ui;
use crate::workers::{CaptureWorker, InputWorker};

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
    /// Where the user's receipts of sessions are written.
    pub receipts_dir: PathBuf,
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
    /// The last wrong code a run takes came (a hostile relay's guesses,
    /// or a technician who cannot type the code).
    #[error(
        "a wrong code was entered {0} times, so Lifeline stopped; start it again for a new code"
    )]
    WrongCodes(u32),
}

/// How long the viewer has to complete the key exchange.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// The platform, opened on threads of its own.
#[derive(Debug)]
pub struct Desktop {
    pub(super) capture: CaptureWorker,
    pub(super) input: InputWorker,
    pub(super) clipboard: ClipboardWorker,
    /// The desktop asks the user itself once sharing starts (a portal).
    pub(super) second_dialog: bool,
}

impl Desktop {
    /// Says that the desktop shows a dialog of its own when sharing starts,
    /// so the user is told what it is.
    pub fn with_second_dialog(mut self, yes: bool) -> Self {
        self.second_dialog = yes;
        self
    }

    /// [`Desktop::open`] with `backend`'s openers; a portal desktop is
    /// known to ask the user itself.
    /// With `hiding`, the user's private windows are blanked and input
    /// aimed at them dropped.
    pub fn for_backend(
        backend: crate::backend::Backend,
        hiding: Option<Privacy>,
    ) -> Result<Self, AgentError> {
        let o = crate::backend::openers(backend);
        Ok(Self::open_hiding(o.screen, o.input, o.clipboard, hiding)?
            .with_second_dialog(backend == crate::backend::Backend::Portal))
    }

    /// Opens the screen and the input device; fails before anything else
    /// happens (a missing display is said before the relay is bothered).
    /// The clipboard opens when first used.
    pub fn open(
        screen: ScreenOpener,
        input: InputOpener,
        clipboard: ClipboardOpener,
    ) -> Result<Self, AgentError> {
        Self::open_hiding(screen, input, clipboard, None)
    }

    /// [`Desktop::open`], hiding what `hiding` says.
    pub fn open_hiding(
        screen: ScreenOpener,
        input: InputOpener,
        clipboard: ClipboardOpener,
        hiding: Option<Privacy>,
    ) -> Result<Self, AgentError> {
        Ok(Self {
            capture: CaptureWorker::start(screen, hiding.clone())?,
            input: InputWorker::start(input, hiding)?,
            clipboard: ClipboardWorker::start(clipboard).map_err(AgentError::Thread)?,
            second_dialog: false,
        })
    }
}

pub use crate::typed::Lines;

pub(super) struct Io<'a, S> {
    pub(super) ui: Ui,
    pub(super) desktop: &'a mut Desktop,
    pub(super) lines: &'a mut Lines,
    pub(super) stop: Pin<&'a mut S>,
}
