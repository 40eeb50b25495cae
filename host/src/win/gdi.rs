//! Screen capture with GDI: `BitBlt` of the whole virtual screen from the
//! desktop's device context into a bitmap of ours, read back as 32-bit
//! BGRA rows. It works everywhere a desktop does (Wine, virtual machines,
//! remote sessions), and knows nothing of what changed: the session's
//! encoder finds the changes.
#![allow(unsafe_code)]

use std::ptr::null_mut;

use lifeline_session::messages::MonitorInfo;
use lifeline_session::screen::Image;
use windows_sys::Win32::Foundation::{LPARAM, POINT, RECT};
use windows_sys::Win32::Graphics::Gdi::{
    BI_RGB, BITMAPINFO, BITMAPINFOHEADER, BitBlt, CreateCompatibleBitmap, CreateCompatibleDC,
    DIB_RGB_COLORS, DeleteDC, DeleteObject, EnumDisplayMonitors, GetDC, GetDIBits, GetMonitorInfoW,
    HBITMAP, HDC, HMONITOR, MONITORINFO, MONITORINFOEXW, ReleaseDC, SRCCOPY, SelectObject,
};
use windows_sys::Win32::System::StationsAndDesktops::{
    CloseDesktop, DESKTOP_READOBJECTS, GetUserObjectInformationW, OpenInputDesktop, UOI_NAME,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    GetCursorPos, GetSystemMetrics, SM_CXVIRTUALSCREEN, SM_CYVIRTUALSCREEN, SM_XVIRTUALSCREEN,
    SM_YVIRTUALSCREEN,
};
use windows_sys::core::BOOL;

use super::coords::Rect;
use crate::platform::{CaptureError, Grab, ScreenSource};

/// A Windows call that failed, with the system's error.
#[derive(Debug, thiserror::Error)]
#[error("{call} failed: {source}")]
pub struct CallFailed {
    call: &'static str,
    #[source]
    source: std::io::Error,
}

pub(super) fn failed(call: &'static str) -> CallFailed {
    CallFailed {
        call,
        source: std::io::Error::last_os_error(),
    }
}

/// The virtual screen: every monitor.
pub fn virtual_screen() -> Rect {
    // SAFETY: GetSystemMetrics takes a constant and reads no memory of ours.
    let (x, y, w, h) = unsafe {
        (
            GetSystemMetrics(SM_XVIRTUALSCREEN),
            GetSystemMetrics(SM_YVIRTUALSCREEN),
            GetSystemMetrics(SM_CXVIRTUALSCREEN),
            GetSystemMetrics(SM_CYVIRTUALSCREEN),
        )
    };
    Rect {
        left: x,
        top: y,
        width: u32::try_from(w).unwrap_or(0),
        height: u32::try_from(h).unwrap_or(0),
    }
}

/// The desktop's device context and a bitmap of the screen's size.
pub struct GdiScreen {
    screen: HDC,
    memory: HDC,
    bitmap: HBITMAP,
    rect: Rect,
    rows: Vec<u8>,
}

impl std::fmt::Debug for GdiScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GdiScreen")
            .field("rect", &self.rect)
            .finish()
    }
}

fn grab_err(e: CallFailed) -> CaptureError {
    CaptureError::Grab(Box::new(e))
}

impl GdiScreen {
    /// Opens the desktop's device context.
    pub fn open() -> Result<Self, CaptureError> {
        let open = |e: CallFailed| CaptureError::Open {
            display: "the Windows desktop".into(),
            source: Box::new(e),
        };
        // SAFETY: plain GDI calls; every handle is checked, and owned by
        // the value returned (released in Drop).
        unsafe {
            let screen = GetDC(null_mut());
            if screen.is_null() {
                return Err(open(failed("GetDC")));
            }
            let memory = CreateCompatibleDC(screen);
            if memory.is_null() {
                let e = failed("CreateCompatibleDC");
                ReleaseDC(null_mut(), screen);
                return Err(open(e));
            }
            let mut me = Self {
                screen,
                memory,
                bitmap: null_mut(),
                rect: Rect::from_edges(0, 0, 0, 0),
                rows: Vec::new(),
            };
            me.fit(virtual_screen()).map_err(open)?;
            Ok(me)
        }
    }

    /// A bitmap of `rect`'s size (the screen changed size, or the first).
    fn fit(&mut self, rect: Rect) -> Result<(), CallFailed> {
        if rect == self.rect && !self.bitmap.is_null() {
            return Ok(());
        }
        let (w, h) = (to_i32(rect.width), to_i32(rect.height));
        // SAFETY: the DCs are ours and valid; the old bitmap is
        // deselected by selecting the new one before it is deleted.
        unsafe {
            let bitmap = CreateCompatibleBitmap(self.screen, w.max(1), h.max(1));
            if bitmap.is_null() {
                return Err(failed("CreateCompatibleBitmap"));
            }
            SelectObject(self.memory, bitmap);
            if !self.bitmap.is_null() {
                DeleteObject(self.bitmap);
            }
            self.bitmap = bitmap;
        }
        self.rect = rect;
        self.rows = vec![0; rect.width as usize * rect.height as usize * 4];
        Ok(())
    }

    fn copy(&mut self) -> Result<(), CallFailed> {
        let Rect {
            left,
            top,
            width,
            height,
        } = self.rect;
        let (w, h) = (to_i32(width), to_i32(height));
        let mut info = BITMAPINFO {
            bmiHeader: BITMAPINFOHEADER {
                biSize: size_of::<BITMAPINFOHEADER>() as u32,
                biWidth: w,
                // Negative: rows top to bottom.
                biHeight: -h,
                biPlanes: 1,
                biBitCount: 32,
                biCompression: BI_RGB,
                ..Default::default()
            },
            ..Default::default()
        };
        // SAFETY: the DCs and bitmap are ours; `rows` holds exactly
        // width × height 32-bit pixels, which is what GetDIBits writes.
        unsafe {
            if BitBlt(
                self.memory,
                0,
                0,
                w,
                h,
                self.screen,
                left,
                top,
                // No CAPTUREBLT: with the desktop composed (Windows 8
                // on) layered windows are in the picture anyway, and it
                // makes the pointer flicker at every grab.
                SRCCOPY,
            ) == 0
            {
                return Err(failed("BitBlt"));
            }
            let lines = GetDIBits(
                self.memory,
                self.bitmap,
                0,
                height,
                self.rows.as_mut_ptr().cast(),
                &mut info,
                DIB_RGB_COLORS,
            );
            if lines != h {
                return Err(failed("GetDIBits"));
            }
        }
        Ok(())
    }
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// The name of the desktop that has the input (`Default`, `Winlogon`);
/// `None` when it cannot be opened (the secure desktop, to a user program).
pub fn input_desktop() -> Option<String> {
    // SAFETY: the desktop handle is checked and closed; the name buffer
    // is ours and its size in bytes is given.
    unsafe {
        let desk = OpenInputDesktop(0, 0, DESKTOP_READOBJECTS);
        if desk.is_null() {
            return None;
        }
        let mut name = [0u16; 64];
        let mut needed = 0u32;
        let ok = GetUserObjectInformationW(
            desk,
            UOI_NAME,
            name.as_mut_ptr().cast(),
            (name.len() * 2) as u32,
            &mut needed,
        );
        CloseDesktop(desk);
        if ok == 0 {
            return None;
        }
        let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        Some(String::from_utf16_lossy(&name[..len]))
    }
}

/// Why the screen cannot be shown now, if it cannot.
pub fn withheld() -> Option<lifeline_session::messages::Withheld> {
    super::desktop::withheld(input_desktop().as_deref())
}

impl ScreenSource for GdiScreen {
    fn grab(&mut self, into: &mut Image, _force: bool) -> Result<Grab, CaptureError> {
        if let Some(why) = withheld() {
            return Ok(Grab::Withheld(why));
        }
        self.fit(virtual_screen()).map_err(grab_err)?;
        if let Err(e) = self.copy() {
            // The secure desktop may have come up since the check above.
            return match withheld() {
                Some(why) => Ok(Grab::Withheld(why)),
                None => Err(grab_err(e)),
            };
        }
        let (w, h) = (self.rect.width, self.rect.height);
        into.load_bgra(w, h, w as usize * 4, &self.rows)
            .map_err(|e| CaptureError::Grab(Box::new(e)))?;
        Ok(Grab::Captured)
    }

    fn pointer(&mut self) -> Option<(i32, i32)> {
        pointer(self.rect)
    }

    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        Ok(monitor_infos(virtual_screen()))
    }
}

/// Where the pointer is on the picture of `screen`.
pub fn pointer(screen: Rect) -> Option<(i32, i32)> {
    let mut p = POINT { x: 0, y: 0 };
    // SAFETY: `p` is ours and lives across the call.
    if unsafe { GetCursorPos(&mut p) } == 0 {
        return None;
    }
    screen.pixel_of(p.x, p.y)
}

/// The monitors, placed on the picture of `screen`.
pub fn monitor_infos(screen: Rect) -> Vec<MonitorInfo> {
    monitors()
        .into_iter()
        .filter_map(|(name, rect, primary)| {
            let (x, y) = screen.place_of(rect)?;
            Some(MonitorInfo {
                name,
                x,
                y,
                width: rect.width,
                height: rect.height,
                primary,
            })
        })
        .collect()
}

impl Drop for GdiScreen {
    fn drop(&mut self) {
        // SAFETY: the handles are ours, released once.
        // The memory DC goes first: a bitmap still selected into a DC
        // cannot be deleted.
        unsafe {
            DeleteDC(self.memory);
            if !self.bitmap.is_null() {
                DeleteObject(self.bitmap);
            }
            ReleaseDC(null_mut(), self.screen);
        }
    }
}

/// Each monitor: its device name (`\\.\DISPLAY1`), where it is in the
/// virtual screen, and whether it is the primary one.
pub fn monitors() -> Vec<(String, Rect, bool)> {
    let mut found: Vec<(String, Rect, bool)> = Vec::new();
    // SAFETY: the callback runs during the call only, and `found` outlives it.
    unsafe {
        EnumDisplayMonitors(
            null_mut(),
            std::ptr::null(),
            Some(each_monitor),
            &mut found as *mut _ as LPARAM,
        );
    }
    found
}

unsafe extern "system" fn each_monitor(
    monitor: HMONITOR,
    _: HDC,
    _: *mut RECT,
    found: LPARAM,
) -> BOOL {
    let mut info = MONITORINFOEXW {
        monitorInfo: MONITORINFO {
            cbSize: size_of::<MONITORINFOEXW>() as u32,
            ..Default::default()
        },
        szDevice: [0; 32],
    };
    // SAFETY: `found` is the Vec monitors() passed, alive for the whole
    // enumeration; `info` is ours and sized as cbSize says.
    unsafe {
        if GetMonitorInfoW(monitor, (&mut info as *mut MONITORINFOEXW).cast()) == 0 {
            return 1;
        }
        let found = &mut *(found as *mut Vec<(String, Rect, bool)>);
        let r = info.monitorInfo.rcMonitor;
        let len = info.szDevice.iter().position(|&c| c == 0).unwrap_or(32);
        let name = String::from_utf16_lossy(&info.szDevice[..len]);
        let primary = info.monitorInfo.dwFlags
            & windows_sys::Win32::UI::WindowsAndMessaging::MONITORINFOF_PRIMARY
            != 0;
        found.push((
            name,
            Rect::from_edges(r.left, r.top, r.right, r.bottom),
            primary,
        ));
    }
    1
}
