//! Windows: the screen through DXGI Desktop Duplication ([`dxgi`]) or GDI
//! ([`gdi`]), input through `SendInput` ([`send`]), and the process's DPI
//! awareness. What the events, coordinates and surfaces become is pure
//! ([`keys`], [`coords`], [`paste`]) and is compiled and tested on every
//! system; the calls into Windows only on Windows.

pub mod coords;
pub mod desktop;
pub mod keys;
pub mod paste;

#[cfg(windows)]
pub mod auto;
#[cfg(windows)]
pub mod dxgi;
#[cfg(windows)]
pub mod gdi;
#[cfg(windows)]
pub mod send;
#[cfg(windows)]
pub mod toplevel;

#[cfg(windows)]
pub use auto::AutoScreen;
#[cfg(windows)]
pub use dxgi::DxgiScreen;
#[cfg(windows)]
pub use gdi::GdiScreen;
#[cfg(windows)]
pub use send::SendInputSink;

/// Makes this process per-monitor DPI aware, so that the screen is
/// captured and the pointer placed in physical pixels at any scaling;
/// falls back to system awareness on Windows before 10 (1703).
#[cfg(windows)]
#[allow(unsafe_code)]
pub fn dpi_aware() {
    use windows_sys::Win32::UI::HiDpi::{
        DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2, SetProcessDpiAwarenessContext,
    };
    use windows_sys::Win32::UI::WindowsAndMessaging::SetProcessDPIAware;
    // SAFETY: process-wide settings taking constants.
    unsafe {
        if SetProcessDpiAwarenessContext(DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2) == 0 {
            tracing::info!("per-monitor DPI awareness refused; using the system's");
            SetProcessDPIAware();
        }
    }
}
