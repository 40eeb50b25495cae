//! The desktop's clipboard through arboard: X11's CLIPBOARD selection, or
//! on Wayland the compositor's data-control protocol (wlroots; arboard
//! picks by `WAYLAND_DISPLAY`), or Windows' clipboard. Reading asks the owner for UTF-8 text;
//! writing makes this process the owner, and arboard's thread serves the
//! text to other programs for as long as it lives.

use crate::platform::{ClipboardAccess, ClipboardError};

/// The desktop's clipboard.
pub struct DesktopClipboard {
    inner: arboard::Clipboard,
}

impl std::fmt::Debug for DesktopClipboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DesktopClipboard")
    }
}

impl DesktopClipboard {
    /// Connects to the desktop's clipboard.
    pub fn open() -> Result<Self, ClipboardError> {
        let desktop = cfg!(windows)
            || ["DISPLAY", "WAYLAND_DISPLAY"]
                .iter()
                .any(|v| crate::platform::desktop_var(v).is_some());
        if !desktop {
            return Err(ClipboardError::NoDesktop);
        }
        let inner = arboard::Clipboard::new().map_err(|e| ClipboardError::Open(Box::new(e)))?;
        Ok(Self { inner })
    }
}

fn access(e: arboard::Error) -> ClipboardError {
    match e {
        arboard::Error::ContentNotAvailable => ClipboardError::Empty,
        other => ClipboardError::Access(Box::new(other)),
    }
}

impl ClipboardAccess for DesktopClipboard {
    fn get_text(&mut self) -> Result<String, ClipboardError> {
        self.inner.get_text().map_err(access)
    }

    fn set_text(&mut self, text: &str) -> Result<(), ClipboardError> {
        self.inner.set_text(text).map_err(access)
    }
}
