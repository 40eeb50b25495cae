//! Input with `SendInput`: the pointer in absolute coordinates over the
//! whole virtual screen, the three buttons (the primary one where the
//! user swapped them), both wheels, named keys as scan codes (Windows
//! derives the virtual key from the layout, as for a real key), other
//! characters and text as Unicode strokes. What each
//! event becomes is [`super::keys`]' and [`super::coords`]' (pure); this
//! file only sends it.
#![allow(unsafe_code)]

use lifeline_session::messages::{InputEvent, MouseButton};
use windows_sys::Win32::UI::Input::KeyboardAndMouse::{
    GetKeyboardLayout, INPUT, INPUT_0, INPUT_KEYBOARD, INPUT_MOUSE, KEYBDINPUT,
    KEYEVENTF_EXTENDEDKEY, KEYEVENTF_KEYUP, KEYEVENTF_SCANCODE, KEYEVENTF_UNICODE, MAPVK_VK_TO_VSC,
    MOUSEEVENTF_ABSOLUTE, MOUSEEVENTF_HWHEEL, MOUSEEVENTF_LEFTDOWN, MOUSEEVENTF_LEFTUP,
    MOUSEEVENTF_MIDDLEDOWN, MOUSEEVENTF_MIDDLEUP, MOUSEEVENTF_MOVE, MOUSEEVENTF_RIGHTDOWN,
    MOUSEEVENTF_RIGHTUP, MOUSEEVENTF_VIRTUALDESK, MOUSEEVENTF_WHEEL, MOUSEINPUT, MapVirtualKeyExW,
    SendInput,
};

use std::ptr::null_mut;

use windows_sys::Win32::UI::WindowsAndMessaging::{
    GetForegroundWindow, GetSystemMetrics, GetWindowThreadProcessId, SM_SWAPBUTTON,
};

use super::coords;
use super::gdi::{failed, virtual_screen};
use super::keys::{self, Held, Refusal, Stroke};
use crate::platform::{InputError, InputSink};

/// One wheel step, as Windows counts it.
const WHEEL_DELTA: i32 = 120;

/// Input through `SendInput`.
#[derive(Debug, Default)]
pub struct SendInputSink {
    held: Held,
}

impl SendInputSink {
    /// Ready at once: `SendInput` needs no connection.
    pub fn open() -> Result<Self, InputError> {
        Ok(Self::default())
    }
}

fn mouse(dx: i32, dy: i32, data: i32, flags: u32) -> INPUT {
    INPUT {
        r#type: INPUT_MOUSE,
        Anonymous: INPUT_0 {
            mi: MOUSEINPUT {
                dx,
                dy,
                mouseData: data as u32,
                dwFlags: flags,
                time: 0,
                dwExtraInfo: 0,
            },
        },
    }
}

fn key(stroke: Stroke) -> INPUT {
    let ki = match stroke {
        Stroke::Virtual { vk, extended, up } => {
            // The scan code in the layout of the window that gets the
            // key, which Windows maps back to the virtual key.
            // SAFETY: lookups taking plain values; a null foreground
            // window gives thread 0, whose layout is the default.
            let scan = unsafe {
                let thread = GetWindowThreadProcessId(GetForegroundWindow(), null_mut());
                MapVirtualKeyExW(u32::from(vk), MAPVK_VK_TO_VSC, GetKeyboardLayout(thread))
            } as u16;
            let mut flags = if up { KEYEVENTF_KEYUP } else { 0 };
            if extended {
                flags |= KEYEVENTF_EXTENDEDKEY;
            }
            if scan != 0 {
                flags |= KEYEVENTF_SCANCODE;
            }
            KEYBDINPUT {
                wVk: vk,
                wScan: scan,
                dwFlags: flags,
                time: 0,
                dwExtraInfo: 0,
            }
        }
        Stroke::Unicode { unit, up } => KEYBDINPUT {
            wVk: 0,
            wScan: unit,
            dwFlags: KEYEVENTF_UNICODE | if up { KEYEVENTF_KEYUP } else { 0 },
            time: 0,
            dwExtraInfo: 0,
        },
    };
    INPUT {
        r#type: INPUT_KEYBOARD,
        Anonymous: INPUT_0 { ki },
    }
}

fn send(inputs: &[INPUT]) -> Result<(), InputError> {
    if inputs.is_empty() {
        return Ok(());
    }
    let n = u32::try_from(inputs.len()).unwrap_or(u32::MAX);
    // SAFETY: `inputs` is a live slice of n INPUTs of the size given.
    let sent = unsafe { SendInput(n, inputs.as_ptr(), size_of::<INPUT>() as i32) };
    if sent != n {
        // Blocked by UIPI (a window of a higher integrity level has the
        // focus) or by the secure desktop: the technician is told, and
        // the session goes on.
        tracing::info!(error = %failed("SendInput"), sent, "input blocked");
        return Err(InputError::Blocked);
    }
    Ok(())
}

impl InputSink for SendInputSink {
    fn apply(&mut self, event: &InputEvent) -> Result<(), InputError> {
        match event {
            InputEvent::Move { x, y } => {
                let (ax, ay) = coords::absolute(virtual_screen(), *x, *y);
                let flags = MOUSEEVENTF_MOVE | MOUSEEVENTF_ABSOLUTE | MOUSEEVENTF_VIRTUALDESK;
                send(&[mouse(ax, ay, 0, flags)])
            }
            InputEvent::Button { button, down } => {
                // SendInput presses the physical button; a left-handed
                // user's primary one is the right.
                // SAFETY: reads a system setting.
                let swapped = unsafe { GetSystemMetrics(SM_SWAPBUTTON) } != 0;
                let button = match (button, swapped) {
                    (MouseButton::Left, true) => &MouseButton::Right,
                    (MouseButton::Right, true) => &MouseButton::Left,
                    (b, _) => b,
                };
                let flags = match (button, down) {
                    (MouseButton::Left, true) => MOUSEEVENTF_LEFTDOWN,
                    (MouseButton::Left, false) => MOUSEEVENTF_LEFTUP,
                    (MouseButton::Middle, true) => MOUSEEVENTF_MIDDLEDOWN,
                    (MouseButton::Middle, false) => MOUSEEVENTF_MIDDLEUP,
                    (MouseButton::Right, true) => MOUSEEVENTF_RIGHTDOWN,
                    (MouseButton::Right, false) => MOUSEEVENTF_RIGHTUP,
                };
                send(&[mouse(0, 0, 0, flags)])
            }
            InputEvent::Wheel { dx, dy } => {
                let mut inputs = Vec::with_capacity(2);
                // Windows' wheel is positive away from the user (up).
                if *dy != 0 {
                    let data = dy.saturating_mul(-WHEEL_DELTA);
                    inputs.push(mouse(0, 0, data, MOUSEEVENTF_WHEEL));
                }
                if *dx != 0 {
                    let data = dx.saturating_mul(WHEEL_DELTA);
                    inputs.push(mouse(0, 0, data, MOUSEEVENTF_HWHEEL));
                }
                send(&inputs)
            }
            InputEvent::Key { key: k, down } => match self.held.key(*k, *down) {
                Ok(strokes) => send(&strokes.into_iter().map(key).collect::<Vec<_>>()),
                Err(Refusal::SecureAttention) => Err(InputError::SecureAttention),
                Err(Refusal::NoSuchKey) => Err(InputError::NoSuchKey(format!("{k:?}"))),
            },
            InputEvent::Text(text) => {
                send(&keys::text(text).into_iter().map(key).collect::<Vec<_>>())
            }
        }
    }
}
