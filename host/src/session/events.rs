//! What goes in and out of a [`super::HostSession`]: the user's
//! [`Answer`], the [`Event`]s it reacts to, the [`Action`]s the driver
//! carries out, how the session [`Ending`]s, and its [`SessionStats`].

use std::time::Duration;

use lifeline_proto::control::{Mode, SessionReport};
use lifeline_session::messages::{HiddenBox, HostMsg, Showing, ViewerMsg, Withheld};
use lifeline_session::screen::{FrameUpdate, Tuning};

use crate::view::ViewReport;
use crate::words;

/// What the user answered to the consent question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Allow(Mode),
    Refuse,
}

/// Something that happened, for the session to react to.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The user answered the consent question.
    Answer(Answer),
    /// The user stopped: Ctrl+C, or the window's "Stop sharing".
    Stop,
    /// The user took control back: see only from now on.
    ViewOnly,
    /// The user answered whether to go on after a long stretch of control.
    Continue(bool),
    /// A message from the viewer, opened and decoded.
    Viewer(ViewerMsg),
    /// The screen source saw drawing: capture now rather than at the tick.
    Drawn,
    /// A capture asked for by [`Action::Grab`] finished; `refinement`:
    /// the update only sharpens what the viewer has (nothing was drawn).
    Grabbed {
        update: Option<FrameUpdate>,
        pointer: Option<(i32, i32)>,
        refinement: bool,
        /// What is shown, when it changed.
        view: Option<ViewReport>,
        /// The screen may not be shown now, and why (Windows' secure
        /// desktop): no update comes with it.
        withheld: Option<Withheld>,
        /// The parts of the picture the user hides, when news.
        hidden: Option<Vec<HiddenBox>>,
    },
    /// The viewer sent input faster than the desktop takes it.
    InputFlooded,
    /// The desktop refused one input event (Ctrl+Alt+Del on Windows):
    /// the technician is told why, and the session goes on.
    InputRefused(String),
    /// QUIC's round-trip estimate of the path to the viewer.
    PathRtt(Duration),
    /// The link to the relay was lost; the driver is reconnecting. Nothing
    /// is captured or sent, and an answer given meanwhile waits.
    Interrupted,
    /// The session continues on a new link: what was in flight is gone,
    /// so the next update is whole.
    Resumed,
    /// The clipboard now holds the viewer's text (its size), or why not.
    ClipboardSet(Result<u64, String>),
    /// The clipboard's text, as asked for, or why there is none.
    ClipboardGot(Result<String, String>),
    /// The user typed a message for the technician.
    UserChat(String),
    /// A file was handed across (`to_host`: saved at `path` on this
    /// machine; else sent from `path`).
    FileMoved {
        to_host: bool,
        path: String,
        bytes: u64,
        sha256: [u8; 32],
    },
    /// The viewer or the relay ended the session, saying this.
    Closed(String),
    /// Something on our side failed (capture, sending); the session ends.
    Failed(String),
}

/// Something the driver must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ask the user: see only, see and control, or refuse.
    Ask { technician: String },
    /// Tell the relay, for the audit log.
    Report(SessionReport),
    /// Seal and send to the viewer.
    Send(HostMsg),
    /// Forget what any earlier viewer had: the next update is whole.
    ResetCapture,
    /// Capture and encode what changed; `full` sends the whole screen,
    /// `tuning` says how lossy it may be for this link.
    Grab { full: bool, tuning: Tuning },
    /// Show this part of the screen from the next grab on.
    Show(Showing),
    /// Ask the user whether to go on (control has lasted `minutes`).
    AskContinue { minutes: u64, within_s: u64 },
    /// Hand one input event to the desktop.
    Apply(lifeline_session::messages::InputEvent),
    /// Sharing started: tell the user with whom and how.
    Sharing { technician: String, mode: Mode },
    /// Put this text on the desktop's clipboard.
    SetClipboard(String),
    /// Read the desktop's clipboard text.
    GetClipboard,
    /// Tell the user the clipboard was handed across (`to_host`: the
    /// technician's text is on it now).
    ClipboardMoved { to_host: bool, bytes: u64 },
    /// Show the user a message from the technician.
    Chat(String),
    /// Tell the user a file was handed across.
    FileMoved {
        to_host: bool,
        path: String,
        bytes: u64,
        sha256: [u8; 32],
    },
    /// The session is over; nothing else follows.
    End(Ending),
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The user refused, or did not answer in time (`reason` says which).
    Refused { reason: String },
    /// The user stopped sharing.
    ByUser,
    /// The viewer or the relay ended it; the relay already knows.
    Closed(String),
    /// This side ended it because of an error or a misbehaving viewer; the
    /// relay should hear `reason`.
    Failed(String),
    /// Asked whether to go on after a long stretch of control, the user
    /// did not answer in time.
    NotConfirmed,
    /// The technician ended it (their viewer said goodbye, with this
    /// reason); the relay hears it from this side.
    ByTechnician(String),
}

impl Ending {
    /// The sentence the user and the audit log get.
    pub fn reason(&self) -> &str {
        match self {
            Ending::Refused { reason }
            | Ending::Closed(reason)
            | Ending::Failed(reason)
            | Ending::ByTechnician(reason) => reason,
            Ending::ByUser => words::ENDED_BY_USER,
            Ending::NotConfirmed => words::NOT_CONFIRMED,
        }
    }

    /// Whether the relay must still be told (it told us otherwise).
    pub fn tell_relay(&self) -> bool {
        !matches!(self, Ending::Closed(_))
    }
}

/// What happened during a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub frames: u64,
    pub frame_bytes: u64,
    pub inputs_applied: u64,
    /// Input received in view-only mode and not applied.
    pub inputs_dropped: u64,
    /// Input naming something that does not exist (a key F0), refused.
    pub inputs_refused: u64,
    /// The most update bytes ever sent and not yet acknowledged.
    pub max_bytes_in_flight: u64,
    /// Updates that carried video, and what encoding them took (the
    /// capture thread's count, filled in as the session ends).
    pub video_frames: u64,
    pub video_encode_ms: u64,
}
