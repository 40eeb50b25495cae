//! Whole-screen capture through scrap, for macOS (its Core Graphics
//! backend, once that build exists; on Windows scrap cannot be
//! cross-built, and DXGI is [`crate::win::dxgi`]). It knows nothing of damage, so every tick is a whole capture;
//! on X11 [`crate::x11::X11Screen`] is faster and is used instead (the host
//! pipeline benchmark measures both).

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
    fn grab(&mut self, into: &mut Image, _force: bool) -> Result<Grab, CaptureError> {
        let (w, h) = (self.width, self.height);
        // On X11 scrap hands back the image it requested on the previous
        // call and requests the next: the second frame is the fresh one.
        self.capturer
            .frame()
            .map_err(|e| CaptureError::Grab(Box::new(e)))?;
        let frame = self
            .capturer
            .frame()
            .map_err(|e| CaptureError::Grab(Box::new(e)))?;
        let stride = if h == 0 { 0 } else { frame.len() / h as usize };
        into.load_bgra(w, h, stride, &frame)
            .map_err(|e| CaptureError::Grab(Box::new(e)))?;
        Ok(Grab::Captured)
    }
}
