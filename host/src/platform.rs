//! The host's view of the machine: a screen to capture, an input device
//! to drive and a clipboard, behind small traits, with their errors. The
//! backends ([`crate::x11`], [`crate::wlr`], [`crate::portal`],
//! [`crate::scrap_screen`]) implement them; [`crate::backend`] chooses
//! one. This module names no backend.

use lifeline_session::messages::{InputEvent, MonitorInfo, Withheld};
use lifeline_session::screen::Image;

/// The error of a platform library (X11, enigo, …), kept as the source.
pub type PlatformError = Box<dyn std::error::Error + Send + Sync>;

/// The screen could not be captured.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "no display to capture: $DISPLAY is not set; run lifeline-host inside your desktop session"
    )]
    NoDisplay,
    #[error(
        "cannot open the display {display}: {source}; is the X server running and may this user use it?"
    )]
    Open {
        display: String,
        #[source]
        source: PlatformError,
    },
    #[error("screen capture failed: {0}")]
    Grab(#[source] PlatformError),
    #[error("cannot start the capture thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("screen capture is not supported on this operating system yet")]
    Unsupported,
    #[error("the capture thread stopped")]
    Stopped,
}

/// Input could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot open the input device: {0}")]
    Open(#[source] PlatformError),
    #[error("applying input failed: {0}")]
    Apply(#[source] PlatformError),
    #[error("there is no such key: {0}")]
    NoSuchKey(String),
    #[error("cannot start the input thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the input thread stopped")]
    Stopped,
    #[error("more than {0} input events are waiting to be applied")]
    Flooded(usize),
    #[error("input injection is not supported on this operating system yet")]
    Unsupported,
    #[error(
        "Ctrl+Alt+Del was not sent: Windows takes it only from the keyboard at that computer (or from a service); ask the user to press it"
    )]
    SecureAttention,
    #[error(
        "Windows blocked that input: the window in front runs as administrator, or a security prompt is up; the user can answer it"
    )]
    Blocked,
}

/// The clipboard could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ClipboardError {
    #[error("cannot open this computer's clipboard: {0}")]
    Open(#[source] PlatformError),
    #[error("this computer's clipboard holds no text")]
    Empty,
    #[error("this computer's clipboard failed: {0}")]
    Access(#[source] PlatformError),
    #[error("the clipboard thread stopped")]
    Stopped,
    #[error("the clipboard is not supported on this operating system yet")]
    Unsupported,
    #[error("no desktop to share a clipboard with: neither $DISPLAY nor $WAYLAND_DISPLAY is set")]
    NoDesktop,
}

/// What a grab found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grab {
    /// The image now holds the current screen.
    Captured,
    /// Nothing was drawn since the last grab; the image was left as it was.
    Unchanged,
    /// Only these rectangles (x, y, w, h) were drawn; the image was updated
    /// there and is otherwise as it was.
    Regions(Vec<(u32, u32, u32, u32)>),
    /// The screen cannot be shown now, for this reason (Windows' secure
    /// desktop); the image was left as it was. The session tells the
    /// viewer once, and sends a whole frame when a grab works again.
    Withheld(Withheld),
}

/// Something that captures the whole screen.
pub trait ScreenSource {
    /// Captures the current screen into `into`, resizing it if needed. A
    /// source that knows nothing changed may skip the work and say
    /// [`Grab::Unchanged`]; `force` asks for a capture regardless. A
    /// source that may not show the screen now says [`Grab::Withheld`]
    /// rather than an error or a black picture.
    fn grab(&mut self, into: &mut Image, force: bool) -> Result<Grab, CaptureError>;

    /// Where the pointer is, when the source knows: captures usually leave
    /// it out, so it travels beside the pixels.
    fn pointer(&mut self) -> Option<(i32, i32)> {
        None
    }

    /// Calls `wake` (from a thread of the source's own) whenever something
    /// is drawn, so a capture follows a change at once instead of at the
    /// next tick; the source stops calling once `wake` returns false.
    /// Returns false when the source cannot tell, and the tick alone drives it.
    fn watch(&mut self, wake: Wake) -> bool {
        let _ = wake;
        false
    }

    /// The monitors, in screen coordinates; empty when the source knows
    /// none, and the whole screen is then shown as one.
    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        Ok(Vec::new())
    }
}

/// Told that the screen changed; returns false once nobody listens.
pub type Wake = Box<dyn Fn() -> bool + Send>;

/// Something that applies input events to the desktop.
pub trait InputSink {
    /// Applies one event.
    fn apply(&mut self, event: &InputEvent) -> Result<(), InputError>;
}

/// The desktop's clipboard (text). Setting it makes this program the
/// clipboard's owner, serving its text to other programs while it runs.
pub trait ClipboardAccess {
    fn get_text(&mut self) -> Result<String, ClipboardError>;
    fn set_text(&mut self, text: &str) -> Result<(), ClipboardError>;
}

/// Opens the clipboard on the thread that will use it.
pub type ClipboardOpener =
    Box<dyn FnOnce() -> Result<Box<dyn ClipboardAccess>, ClipboardError> + Send>;

/// Opens a screen source on the thread that will use it (X11 capture
/// handles are not `Send`).
pub type ScreenOpener = Box<dyn FnOnce() -> Result<Box<dyn ScreenSource>, CaptureError> + Send>;
/// Opens an input sink on the thread that will use it.
pub type InputOpener = Box<dyn FnOnce() -> Result<Box<dyn InputSink>, InputError> + Send>;

/// A desktop session's variable (`DISPLAY`, `WAYLAND_DISPLAY`), when it
/// is set and not empty.
pub fn desktop_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
