//! The technician's input as RemoteDesktop portal calls. Pure: which call,
//! with which numbers. Keys travel as X keysyms (the portal's
//! `NotifyKeyboardKeysym`), so the desktop's own layout turns them into
//! keystrokes and any character, in any script, arrives as itself.

use lifeline_session::messages::{InputEvent, Key, MouseButton};

use crate::layout::Rect;

/// One portal call.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `NotifyPointerMotionAbsolute` on a stream, in its own coordinates.
    Move { stream: u32, x: f64, y: f64 },
    /// `NotifyPointerButton` with an evdev button code.
    Button { code: i32, down: bool },
    /// `NotifyPointerAxisDiscrete`: vertical or not, and steps.
    Wheel { vertical: bool, steps: i32 },
    /// `NotifyKeyboardKeysym`.
    Key { keysym: i32, down: bool },
}

/// A stream as the layout places it: its PipeWire node, its rectangle in
/// the layout (pixels), and its pixels per portal (logical) unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    pub node: u32,
    pub rect: Rect,
    pub scale: f64,
}

/// evdev's button codes (linux/input-event-codes.h).
const BTN_LEFT: i32 = 0x110;
const BTN_RIGHT: i32 = 0x111;
const BTN_MIDDLE: i32 = 0x112;

/// The calls that apply `event`; a pointer outside every stream moves
/// nothing.
pub fn calls(event: &InputEvent, streams: &[Placed]) -> Vec<Call> {
    match event {
        InputEvent::Move { x, y } => streams
            .iter()
            .find(|s| inside(s.rect, *x, *y))
            .map(|s| Call::Move {
                stream: s.node,
                x: f64::from(x - s.rect.0) / s.scale,
                y: f64::from(y - s.rect.1) / s.scale,
            })
            .into_iter()
            .collect(),
        InputEvent::Button { button, down } => {
            let code = match button {
                MouseButton::Left => BTN_LEFT,
                MouseButton::Right => BTN_RIGHT,
                MouseButton::Middle => BTN_MIDDLE,
            };
            vec![Call::Button { code, down: *down }]
        }
        InputEvent::Wheel { dx, dy } => {
            let mut out = Vec::new();
            if *dy != 0 {
                out.push(Call::Wheel {
                    vertical: true,
                    steps: *dy,
                });
            }
            if *dx != 0 {
                out.push(Call::Wheel {
                    vertical: false,
                    steps: *dx,
                });
            }
            out
        }
        InputEvent::Key { key, down } => vec![Call::Key {
            keysym: keysym(key),
            down: *down,
        }],
        InputEvent::Text(text) => text
            .chars()
            .flat_map(|c| {
                let keysym = char_keysym(c);
                [
                    Call::Key { keysym, down: true },
                    Call::Key {
                        keysym,
                        down: false,
                    },
                ]
            })
            .collect(),
    }
}

fn inside((x0, y0, w, h): Rect, x: u32, y: u32) -> bool {
    x >= x0 && y >= y0 && x - x0 < w && y - y0 < h
}

/// A named key's X keysym (X11/keysymdef.h).
pub fn keysym(key: &Key) -> i32 {
    match key {
        Key::Char(c) => char_keysym(*c),
        Key::Return => 0xff0d,
        Key::Escape => 0xff1b,
        Key::Tab => 0xff09,
        Key::Backspace => 0xff08,
        Key::Delete => 0xffff,
        Key::Insert => 0xff63,
        Key::Home => 0xff50,
        Key::End => 0xff57,
        Key::PageUp => 0xff55,
        Key::PageDown => 0xff56,
        Key::Left => 0xff51,
        Key::Up => 0xff52,
        Key::Right => 0xff53,
        Key::Down => 0xff54,
        Key::Space => 0x20,
        // F1 is 0xffbe; checked input has 1..=24.
        Key::F(n) => 0xffbe + i32::from(*n).clamp(1, 24) - 1,
        Key::Shift => 0xffe1,
        Key::Control => 0xffe3,
        Key::Alt => 0xffe9,
        Key::Meta => 0xffeb,
    }
}

/// A character's keysym: Latin-1 is its own, everything else the Unicode
/// form (0x01000000 + code point); a line break or tab typed as text is
/// its key.
pub fn char_keysym(c: char) -> i32 {
    match c {
        '\n' | '\r' => 0xff0d,
        '\t' => 0xff09,
        '\u{8}' => 0xff08,
        ' '..='~' | '\u{a0}'..='\u{ff}' => c as i32,
        _ => 0x0100_0000 + c as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Vec<Placed> {
        vec![
            Placed {
                node: 40,
                rect: (0, 0, 1920, 1080),
                scale: 1.0,
            },
            Placed {
                node: 41,
                rect: (1920, 0, 2560, 1440),
                scale: 2.0,
            },
        ]
    }

    #[test]
    fn the_pointer_moves_on_the_stream_under_it_in_its_units() {
        let on = |x, y| calls(&InputEvent::Move { x, y }, &two());
        assert_eq!(
            on(10, 20),
            [Call::Move {
                stream: 40,
                x: 10.0,
                y: 20.0
            }]
        );
        assert_eq!(
            on(1920 + 100, 50),
            [Call::Move {
                stream: 41,
                x: 50.0,
                y: 25.0
            }]
        );
        assert_eq!(on(100, 1200), []);
    }

    #[test]
    fn buttons_and_wheel_are_evdev_and_discrete_steps() {
        let b = calls(
            &InputEvent::Button {
                button: MouseButton::Right,
                down: true,
            },
            &two(),
        );
        assert_eq!(
            b,
            [Call::Button {
                code: 0x111,
                down: true
            }]
        );
        let w = calls(&InputEvent::Wheel { dx: -1, dy: 3 }, &two());
        assert_eq!(
            w,
            [
                Call::Wheel {
                    vertical: true,
                    steps: 3
                },
                Call::Wheel {
                    vertical: false,
                    steps: -1
                }
            ]
        );
    }

    #[test]
    fn text_is_pressed_and_released_keysyms_in_any_script() {
        let t = calls(&InputEvent::Text("aé€\n".into()), &[]);
        let syms: Vec<_> = t
            .iter()
            .filter_map(|c| match c {
                Call::Key { keysym, down: true } => Some(*keysym),
                _ => None,
            })
            .collect();
        assert_eq!(syms, [0x61, 0xe9, 0x0100_20ac, 0xff0d]);
        assert_eq!(t.len(), 8);
    }

    #[test]
    fn named_keys_are_their_keysyms() {
        assert_eq!(keysym(&Key::F(1)), 0xffbe);
        assert_eq!(keysym(&Key::F(12)), 0xffc9);
        assert_eq!(keysym(&Key::PageDown), 0xff56);
        assert_eq!(keysym(&Key::Control), 0xffe3);
        assert_eq!(keysym(&Key::Char('A')), 0x41);
    }
}
