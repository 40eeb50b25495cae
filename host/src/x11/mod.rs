//! X11: capture through x11rb (MIT-SHM for the whole screen, GetImage for
//! small damaged regions, DAMAGE to know when and where anything was
//! drawn), input through enigo (XTest).

mod capture;
mod damage;
mod input;
pub mod windows;

pub use capture::X11Screen;
pub use input::EnigoInput;

use crate::platform::CaptureError;

/// Something the X server or the connection to it refused.
#[derive(Debug, thiserror::Error)]
pub enum X11Error {
    #[error("cannot connect: {0}")]
    Connect(#[from] x11rb::errors::ConnectError),
    #[error("the X connection failed: {0}")]
    Connection(#[from] x11rb::errors::ConnectionError),
    #[error("the X server refused a request: {0}")]
    Reply(#[from] x11rb::errors::ReplyError),
    #[error("the X server refused a request: {0}")]
    ReplyOrId(#[from] x11rb::errors::ReplyOrIdError),
    #[error("reading the shared image: {0}")]
    Shm(#[from] std::io::Error),
    #[error("the X server returned {got} bytes for a {w}×{h} image")]
    ShortImage { got: usize, w: u32, h: u32 },
    #[error("the X screen's pixel format (depth {0}) is not 24-bit colour in 32-bit pixels")]
    PixelFormat(u8),
    #[error("screen size {0}×{1} out of range")]
    Size(u32, u32),
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl From<X11Error> for CaptureError {
    fn from(e: X11Error) -> Self {
        CaptureError::Grab(Box::new(e))
    }
}

/// `$DISPLAY`, or the error that says to run inside a desktop session.
fn display_name() -> Result<String, CaptureError> {
    crate::platform::desktop_var("DISPLAY").ok_or(CaptureError::NoDisplay)
}
