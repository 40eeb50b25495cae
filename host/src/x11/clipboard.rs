//! The X11 CLIPBOARD selection, through arboard: reading asks the owner
//! for UTF-8 text; writing makes this process the owner, and arboard's
//! thread serves the text to other programs for as long as it lives.

use crate::platform::{ClipboardAccess, ClipboardError};

/// The desktop's clipboard.
pub struct X11Clipboard {
    inner: arboard::Clipboard,
}

impl std::fmt::Debug for X11Clipboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("X11Clipboard")
    }
}

impl X11Clipboard {
    /// Connects to `$DISPLAY`'s clipboard.
    pub fn open() -> Result<Self, ClipboardError> {
        super::display_name().map_err(|e| ClipboardError::Open(Box::new(e)))?;
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

impl ClipboardAccess for X11Clipboard {
    fn get_text(&mut self) -> Result<String, ClipboardError> {
        self.inner.get_text().map_err(access)
    }

    fn set_text(&mut self, text: &str) -> Result<(), ClipboardError> {
        self.inner.set_text(text).map_err(access)
    }
}
