//! Input through enigo's X11 backend (XTest via x11rb).

use enigo::{Axis, Button, Coordinate, Direction, Enigo, Keyboard, Mouse, Settings};
use lifeline_session::messages::{InputEvent, Key, MouseButton};

use super::display_name;
use crate::platform::{InputError, InputSink};

/// Input through enigo's X11 (XTest) backend.
pub struct EnigoInput {
    enigo: Enigo,
}

impl std::fmt::Debug for EnigoInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnigoInput")
    }
}

impl EnigoInput {
    /// Connects to `$DISPLAY`.
    pub fn open() -> Result<Self, InputError> {
        let display = display_name().map_err(|e| InputError::Open(Box::new(e)))?;
        let settings = Settings {
            x11_display: Some(display),
            linux_delay: 0,
            ..Settings::default()
        };
        let enigo = Enigo::new(&settings).map_err(|e| InputError::Open(Box::new(e)))?;
        Ok(Self { enigo })
    }
}

/// enigo's name for a key; `None` for a function key no keyboard has.
fn key(k: Key) -> Option<enigo::Key> {
    use enigo::Key as E;
    const F: [E; 24] = [
        E::F1,
        E::F2,
        E::F3,
        E::F4,
        E::F5,
        E::F6,
        E::F7,
        E::F8,
        E::F9,
        E::F10,
        E::F11,
        E::F12,
        E::F13,
        E::F14,
        E::F15,
        E::F16,
        E::F17,
        E::F18,
        E::F19,
        E::F20,
        E::F21,
        E::F22,
        E::F23,
        E::F24,
    ];
    Some(match k {
        Key::Char(c) => E::Unicode(c),
        Key::Return => E::Return,
        Key::Escape => E::Escape,
        Key::Tab => E::Tab,
        Key::Backspace => E::Backspace,
        Key::Delete => E::Delete,
        Key::Insert => E::Insert,
        Key::Home => E::Home,
        Key::End => E::End,
        Key::PageUp => E::PageUp,
        Key::PageDown => E::PageDown,
        Key::Left => E::LeftArrow,
        Key::Right => E::RightArrow,
        Key::Up => E::UpArrow,
        Key::Down => E::DownArrow,
        Key::Space => E::Space,
        Key::F(n) => *F.get(usize::from(n).checked_sub(1)?)?,
        Key::Shift => E::Shift,
        Key::Control => E::Control,
        Key::Alt => E::Alt,
        Key::Meta => E::Meta,
    })
}

fn direction(down: bool) -> Direction {
    if down {
        Direction::Press
    } else {
        Direction::Release
    }
}

impl InputSink for EnigoInput {
    fn apply(&mut self, event: &InputEvent) -> Result<(), InputError> {
        let err = |e: enigo::InputError| InputError::Apply(Box::new(e));
        match event {
            InputEvent::Move { x, y } => {
                let x = i32::try_from(*x).unwrap_or(i32::MAX);
                let y = i32::try_from(*y).unwrap_or(i32::MAX);
                self.enigo.move_mouse(x, y, Coordinate::Abs).map_err(err)
            }
            InputEvent::Button { button, down } => {
                let b = match button {
                    MouseButton::Left => Button::Left,
                    MouseButton::Middle => Button::Middle,
                    MouseButton::Right => Button::Right,
                };
                self.enigo.button(b, direction(*down)).map_err(err)
            }
            InputEvent::Wheel { dx, dy } => {
                if *dy != 0 {
                    self.enigo.scroll(*dy, Axis::Vertical).map_err(err)?;
                }
                if *dx != 0 {
                    self.enigo.scroll(*dx, Axis::Horizontal).map_err(err)?;
                }
                Ok(())
            }
            InputEvent::Key { key: k, down } => {
                let named = key(*k).ok_or_else(|| InputError::NoSuchKey(format!("{k:?}")))?;
                self.enigo.key(named, direction(*down)).map_err(err)
            }
            InputEvent::Text(text) => self.enigo.text(text).map_err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_keys_map_one_to_one_and_unknown_ones_are_refused() {
        assert_eq!(key(Key::F(1)), Some(enigo::Key::F1));
        assert_eq!(key(Key::F(24)), Some(enigo::Key::F24));
        assert_eq!(key(Key::F(0)), None);
        assert_eq!(key(Key::F(25)), None);
    }
}
