//! The Windows host's default screen: DXGI Desktop Duplication while it
//! works, GDI from the moment it does not (refused at open: Wine, VMs,
//! remote sessions, a rotated monitor, a second graphics card; or failing
//! later: a desktop duplication cannot get back after a switch). Either
//! way the session goes on; the switch is logged.

use lifeline_session::messages::MonitorInfo;
use lifeline_session::screen::Image;

use super::{DxgiScreen, GdiScreen};
use crate::platform::{CaptureError, Grab, ScreenSource};

/// DXGI, else GDI.
#[derive(Debug)]
pub enum AutoScreen {
    Dxgi(DxgiScreen),
    Gdi(GdiScreen),
}

impl AutoScreen {
    /// DXGI where the system offers it, else GDI.
    pub fn open() -> Result<Self, CaptureError> {
        match DxgiScreen::open() {
            Ok(s) => {
                tracing::info!("capturing the screen with DXGI desktop duplication");
                Ok(Self::Dxgi(s))
            }
            Err(e) => {
                tracing::info!(error = %e, "DXGI desktop duplication is unavailable; capturing the screen with GDI");
                Ok(Self::Gdi(GdiScreen::open()?))
            }
        }
    }

    fn source(&mut self) -> &mut dyn ScreenSource {
        match self {
            Self::Dxgi(s) => s,
            Self::Gdi(s) => s,
        }
    }
}

impl ScreenSource for AutoScreen {
    fn grab(&mut self, into: &mut Image, force: bool) -> Result<Grab, CaptureError> {
        match self {
            Self::Gdi(s) => s.grab(into, force),
            Self::Dxgi(s) => match s.grab(into, force) {
                Ok(grab) => Ok(grab),
                Err(e) => {
                    tracing::warn!(error = %e, "DXGI desktop duplication failed; capturing the screen with GDI from now on");
                    let mut gdi = GdiScreen::open()?;
                    let grab = gdi.grab(into, true);
                    *self = Self::Gdi(gdi);
                    grab
                }
            },
        }
    }

    fn pointer(&mut self) -> Option<(i32, i32)> {
        self.source().pointer()
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        self.source().monitors()
    }
}
