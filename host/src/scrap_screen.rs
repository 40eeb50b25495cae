//! Whole-screen capture through scrap: on Windows its DXGI Desktop
//! Duplication backend (the primary monitor; a frame only when something
//! was drawn), on macOS its Core Graphics one. The dirty and move
//! rectangles duplication knows are not used yet: a new frame is diffed by
//! the session's encoder, as GDI's are. On X11 [`crate::x11::X11Screen`]
//! is faster and is used instead (the host pipeline benchmark measures both).

use lifeline_session::screen::Image;

use crate::platform::{CaptureError, Grab, ScreenSource};

/// The primary display through scrap.
pub struct ScrapScreen {
    capturer: scrap::Capturer,
    width: u32,
    height: u32,
}

impl std::fmt::Debug for ScrapScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapScreen")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

impl ScrapScreen {
    /// Opens the primary display.
    pub fn open() -> Result<Self, CaptureError> {
        let open_err = |e: std::io::Error| CaptureError::Open {
            display: "primary".into(),
            source: Box::new(e),
        };
        let primary = scrap::Display::primary().map_err(open_err)?;
        let capturer = scrap::Capturer::new(primary).map_err(open_err)?;
        let (w, h) = (capturer.width(), capturer.height());
        let size = |v: usize| {
            u32::try_from(v).map_err(|_| CaptureError::Grab(format!("screen size {w}×{h}").into()))
        };
        Ok(Self {
            width: size(w)?,
            height: size(h)?,
            capturer,
        })
    }
}

impl ScreenSource for ScrapScreen {
    fn grab(&mut self, into: &mut Image, force: bool) -> Result<Grab, CaptureError> {
        let (w, h) = (self.width, self.height);
        let frame = match self.capturer.frame() {
            Ok(frame) => frame,
            // Desktop duplication had no new frame: nothing was drawn.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if force && (into.width, into.height) != (w, h) {
                    return Err(CaptureError::Grab(Box::new(e)));
                }
                return Ok(Grab::Unchanged);
            }
            Err(e) => return Err(CaptureError::Grab(Box::new(e))),
        };
        let stride = if h == 0 { 0 } else { frame.len() / h as usize };
        into.load_bgra(w, h, stride, &frame)
            .map_err(|e| CaptureError::Grab(Box::new(e)))?;
        Ok(Grab::Captured)
    }
}
