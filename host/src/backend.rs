//! Which backend drives this desktop (X11, wlroots or the portal on
//! Linux; DXGI or GDI on Windows; `--backend` or detected), and its
//! openers for the screen, input and clipboard. The only module that
//! names the backends, and the only place outside them that sees
//! `cfg(target_os)`.

use crate::hidden::Privacy;
#[cfg(not(any(target_os = "linux", windows)))]
use crate::platform::ClipboardError;
use crate::platform::{
    CaptureError, ClipboardOpener, InputError, InputOpener, ScreenOpener, ScreenSource, desktop_var,
};
#[cfg(any(target_os = "linux", windows))]
use crate::platform::{ClipboardAccess, InputSink};

/// Which desktop technology to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// X11 (and the X server of other platforms' capture libraries).
    X11,
    /// A Wayland desktop through xdg-desktop-portal (GNOME, KDE).
    Portal,
    /// A wlroots compositor (sway, Hyprland, river).
    Wlroots,
    /// Windows: DXGI Desktop Duplication where the system has it, else GDI.
    Windows,
    /// Windows' DXGI Desktop Duplication, nothing else.
    Dxgi,
    /// Windows' GDI (`BitBlt` of the desktop).
    Gdi,
}

impl Backend {
    /// The desktop this session runs: on Wayland (`WAYLAND_DISPLAY`
    /// set), the wlroots backend where the compositor has wlr-screencopy
    /// (sway, Hyprland, river), else the portal (GNOME, KDE); else X11.
    pub fn detect() -> Self {
        if cfg!(windows) {
            return Backend::Windows;
        }
        if desktop_var("WAYLAND_DISPLAY").is_none() {
            return Backend::X11;
        }
        #[cfg(target_os = "linux")]
        if crate::wlr::has_screencopy() {
            return Backend::Wlroots;
        }
        Backend::Portal
    }
}

/// The platform's openers for one backend.
pub struct Openers {
    pub screen: ScreenOpener,
    pub input: InputOpener,
    pub clipboard: ClipboardOpener,
}

impl std::fmt::Debug for Openers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Openers")
    }
}

/// This OS's screen, input and clipboard for `backend`.
pub fn openers(backend: Backend) -> Openers {
    #[cfg(target_os = "linux")]
    if backend == Backend::Portal {
        // One portal session serves both, so the user answers once.
        let portal = crate::portal::Portal::default();
        let for_input = portal.clone();
        return Openers {
            screen: Box::new(move || {
                portal
                    .screen()
                    .map(|s| Box::new(s) as Box<dyn ScreenSource>)
            }),
            input: Box::new(move || for_input.input().map(|s| Box::new(s) as Box<dyn InputSink>)),
            clipboard: clipboard(),
        };
    }
    Openers {
        screen: screen(backend),
        input: input(backend),
        clipboard: clipboard(),
    }
}

/// Whether there is a desktop to show a window on: on Linux an X
/// display (a Wayland desktop offers XWayland, and says so in
/// `DISPLAY`), on Windows always.
pub fn has_desktop() -> bool {
    cfg!(windows) || desktop_var("DISPLAY").is_some()
}

/// Prepares the process for the desktop before any window or capture:
/// on Windows, per-monitor DPI awareness (physical pixels everywhere).
pub fn prepare() {
    #[cfg(windows)]
    crate::win::dpi_aware();
}

/// Why the user's windows cannot be hidden on this desktop.
#[derive(Debug, thiserror::Error)]
pub enum HidingError {
    #[error("{}", crate::words::cannot_hide(.0))]
    Unsupported(&'static str),
    #[error("cannot follow the windows: {0}")]
    Follow(String),
}

/// Follows the desktop's windows so that the user can hide some of them
/// from the technician (those whose titles match `patterns`, and those
/// they tick). `None` where the desktop cannot tell where its windows are
/// and nothing was asked; an error where something was asked (hiding
/// must not be pretended).
pub fn hiding(backend: Backend, patterns: Vec<String>) -> Result<Option<Privacy>, HidingError> {
    let asked = !patterns.is_empty();
    let refuse = |why| {
        if asked {
            Err(HidingError::Unsupported(why))
        } else {
            Ok(None)
        }
    };
    match backend {
        #[cfg(target_os = "linux")]
        Backend::X11 => {
            let Some(display) = desktop_var("DISPLAY") else {
                // No display: opening the screen says so.
                return Ok(None);
            };
            let opened = crate::x11::windows::X11Desk::open(&display).and_then(|desk| {
                let privacy = Privacy::new(patterns, Box::new(desk));
                crate::x11::windows::follow(&display, privacy.clone()).map(|()| privacy)
            });
            match opened {
                Ok(p) => Ok(Some(p)),
                Err(e) if asked => Err(HidingError::Follow(e.to_string())),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot follow the windows; none can be hidden");
                    Ok(None)
                }
            }
        }
        #[cfg(windows)]
        Backend::Windows | Backend::Dxgi | Backend::Gdi => {
            let privacy = Privacy::new(patterns, Box::new(crate::win::toplevel::WinDesk));
            match crate::win::toplevel::follow(privacy.clone()) {
                Ok(()) => Ok(Some(privacy)),
                Err(e) if asked => Err(HidingError::Follow(e.to_string())),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot follow the windows; none can be hidden");
                    Ok(None)
                }
            }
        }
        Backend::Wlroots => refuse(crate::words::HIDE_WLROOTS),
        Backend::Portal => refuse(crate::words::HIDE_PORTAL),
        _ => refuse(crate::words::HIDE_ELSEWHERE),
    }
}

fn screen(backend: Backend) -> ScreenOpener {
    match backend {
        Backend::X11 => x11_screen(),
        #[cfg(windows)]
        Backend::Gdi => Box::new(|| {
            tracing::info!("capturing the screen with GDI");
            crate::win::GdiScreen::open().map(|s| Box::new(s) as Box<dyn ScreenSource>)
        }),
        #[cfg(windows)]
        Backend::Dxgi => Box::new(|| {
            tracing::info!("capturing the screen with DXGI desktop duplication");
            crate::win::DxgiScreen::open().map(|s| Box::new(s) as Box<dyn ScreenSource>)
        }),
        #[cfg(windows)]
        Backend::Windows => Box::new(|| {
            crate::win::AutoScreen::open().map(|s| Box::new(s) as Box<dyn ScreenSource>)
        }),
        #[cfg(target_os = "linux")]
        Backend::Wlroots => {
            Box::new(|| crate::wlr::WlrScreen::open().map(|s| Box::new(s) as Box<dyn ScreenSource>))
        }
        _ => Box::new(|| Err(CaptureError::Unsupported)),
    }
}

fn x11_screen() -> ScreenOpener {
    #[cfg(target_os = "linux")]
    return Box::new(|| {
        crate::x11::X11Screen::open().map(|s| Box::new(s) as Box<dyn ScreenSource>)
    });
    #[cfg(target_os = "macos")]
    return Box::new(|| {
        crate::scrap_screen::ScrapScreen::open().map(|s| Box::new(s) as Box<dyn ScreenSource>)
    });
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    return Box::new(|| Err(CaptureError::Unsupported));
}

/// This OS's clipboard (X11, or Wayland's data-control where the
/// compositor has it: arboard picks by `WAYLAND_DISPLAY`; Windows').
fn clipboard() -> ClipboardOpener {
    #[cfg(any(target_os = "linux", windows))]
    return Box::new(|| {
        crate::desktop_clipboard::DesktopClipboard::open()
            .map(|c| Box::new(c) as Box<dyn ClipboardAccess>)
    });
    #[cfg(not(any(target_os = "linux", windows)))]
    return Box::new(|| Err(ClipboardError::Unsupported));
}

fn input(backend: Backend) -> InputOpener {
    match backend {
        #[cfg(target_os = "linux")]
        Backend::X11 => {
            Box::new(|| crate::x11::EnigoInput::open().map(|s| Box::new(s) as Box<dyn InputSink>))
        }
        #[cfg(target_os = "linux")]
        Backend::Wlroots => {
            Box::new(|| crate::wlr::WlrInput::open().map(|s| Box::new(s) as Box<dyn InputSink>))
        }
        #[cfg(windows)]
        Backend::Windows | Backend::Dxgi | Backend::Gdi => Box::new(|| {
            crate::win::SendInputSink::open().map(|s| Box::new(s) as Box<dyn InputSink>)
        }),
        _ => Box::new(|| Err(InputError::Unsupported)),
    }
}
