//! Windows' top-level windows for [`crate::hidden`]: `EnumWindows` (top
//! to bottom), those visible, not minimised and not cloaked (another
//! virtual desktop, a suspended app: Windows reports them visible), with
//! their titles and rectangles on the picture of the virtual screen,
//! listed again every [`POLL`] by a thread of their own (Windows tells of
//! moves only to a hook on a thread with a message loop; a list is cheap);
//! and the pointer and the foreground window, asked as input comes.
#![allow(unsafe_code)]

use std::time::Duration;

use lifeline_session::messages::HiddenBox;
use windows_sys::Win32::Foundation::{HWND, LPARAM, RECT};
use windows_sys::Win32::Graphics::Dwm::{DWMWA_CLOAKED, DwmGetWindowAttribute};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    EnumWindows, GA_ROOT, GetAncestor, GetForegroundWindow, GetWindowRect, GetWindowTextW,
    IsIconic, IsWindow, IsWindowVisible,
};
use windows_sys::core::BOOL;

use super::coords::Rect;
use super::gdi::{pointer, virtual_screen};
use crate::hidden::{Desk, LostOnPanic, Placed, Privacy, TopWindow};

/// How often the windows are listed.
pub const POLL: Duration = Duration::from_millis(50);

/// Longest title kept, in UTF-16 units.
const MAX_TITLE: usize = 512;

/// Starts listing the windows for `privacy` (its desk is [`WinDesk`]).
pub fn follow(privacy: Privacy) -> std::io::Result<()> {
    // Listed once before anything is captured (until then, all is hidden).
    privacy.set_windows(list());
    std::thread::Builder::new()
        .name("windows".into())
        .spawn(move || {
            let privacy = LostOnPanic(privacy);
            loop {
                std::thread::sleep(POLL);
                privacy.0.set_windows(list());
            }
        })?;
    Ok(())
}

unsafe extern "system" fn each(hwnd: HWND, param: LPARAM) -> BOOL {
    // SAFETY: `param` is the `Vec` `list` lends for the call's length.
    let found = unsafe { &mut *(param as *mut Vec<HWND>) };
    found.push(hwnd);
    1
}

/// The shown top-level windows, bottom to top.
fn list() -> Vec<TopWindow> {
    let screen = virtual_screen();
    let mut found: Vec<HWND> = Vec::new();
    // SAFETY: `found` outlives the call; the callback only pushes to it.
    unsafe { EnumWindows(Some(each), &mut found as *mut Vec<HWND> as LPARAM) };
    let mut out: Vec<TopWindow> = found.into_iter().filter_map(|h| shown(h, screen)).collect();
    // EnumWindows goes from the top; the area is reckoned from the bottom.
    out.reverse();
    out
}

/// One window, if it is shown: its title and where it is on the picture.
fn shown(h: HWND, screen: Rect) -> Option<TopWindow> {
    let Placed::At(area) = place_of(h, screen) else {
        return None;
    };
    let mut buf = [0u16; MAX_TITLE];
    // SAFETY: a handle EnumWindows gave (one gone since only fails the
    // call) and a buffer that lives across it.
    let n = unsafe { GetWindowTextW(h, buf.as_mut_ptr(), MAX_TITLE as i32) };
    let title = String::from_utf16_lossy(&buf[..usize::try_from(n).unwrap_or(0)]);
    Some(TopWindow {
        id: h as usize as u64,
        title,
        area,
        shown: true,
    })
}

/// Where a window is on the picture of `screen`, without its title
/// (asking a window's title waits on its thread: the capture must not).
fn place_of(h: HWND, screen: Rect) -> Placed {
    // SAFETY: each call takes a handle (a window gone since only makes
    // the call fail) and values that live across it.
    unsafe {
        if IsWindow(h) == 0 || IsWindowVisible(h) == 0 || IsIconic(h) != 0 {
            return Placed::Gone;
        }
        let mut cloaked: u32 = 0;
        let asked = DwmGetWindowAttribute(
            h,
            DWMWA_CLOAKED as u32,
            (&mut cloaked as *mut u32).cast(),
            std::mem::size_of::<u32>() as u32,
        );
        if asked == 0 && cloaked != 0 {
            return Placed::Gone;
        }
        let mut r = RECT {
            left: 0,
            top: 0,
            right: 0,
            bottom: 0,
        };
        if GetWindowRect(h, &mut r) == 0 {
            return Placed::Unknown;
        }
        let rect = Rect::from_edges(r.left, r.top, r.right, r.bottom);
        let x = i64::from(rect.left) - i64::from(screen.left);
        let y = i64::from(rect.top) - i64::from(screen.top);
        match (i32::try_from(x), i32::try_from(y)) {
            (Ok(x), Ok(y)) => Placed::At(HiddenBox {
                x,
                y,
                width: rect.width,
                height: rect.height,
            }),
            _ => Placed::Unknown,
        }
    }
}

/// The pointer and the foreground window, asked of Windows.
#[derive(Debug)]
pub struct WinDesk;

impl Desk for WinDesk {
    fn pointer(&self) -> Option<(i32, i32)> {
        pointer(virtual_screen())
    }

    fn focused(&self) -> Option<u64> {
        // SAFETY: no arguments but a handle Windows just gave.
        let root = unsafe {
            let f = GetForegroundWindow();
            if f.is_null() {
                return None;
            }
            GetAncestor(f, GA_ROOT)
        };
        (!root.is_null()).then_some(root as usize as u64)
    }

    fn place(&self, id: u64) -> Placed {
        place_of(id as usize as HWND, virtual_screen())
    }
}
