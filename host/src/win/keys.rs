//! What each input event is as Windows key strokes (pure, tested on
//! Linux): named keys as virtual-key codes (with the "extended" flag the
//! navigation keys need so they are not read as the numeric keypad),
//! letters and digits as their virtual keys so shortcuts such as Ctrl+C
//! work on any layout, and every other character as a Unicode stroke
//! (`KEYEVENTF_UNICODE`), which arrives exactly whatever the user's
//! keyboard layout. Ctrl+Alt+Del is refused: Windows reserves it for
//! itself (the secure attention sequence), and only a service may ask
//! for it.

use lifeline_session::messages::Key;

/// One key going down or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// A virtual key (`VK_*`).
    Virtual { vk: u16, extended: bool, up: bool },
    /// One UTF-16 unit typed as itself.
    Unicode { unit: u16, up: bool },
}

const VK_BACK: u16 = 0x08;
const VK_TAB: u16 = 0x09;
const VK_RETURN: u16 = 0x0D;
const VK_ESCAPE: u16 = 0x1B;
const VK_SPACE: u16 = 0x20;
const VK_PRIOR: u16 = 0x21;
const VK_NEXT: u16 = 0x22;
const VK_END: u16 = 0x23;
const VK_HOME: u16 = 0x24;
const VK_LEFT: u16 = 0x25;
const VK_UP: u16 = 0x26;
const VK_RIGHT: u16 = 0x27;
const VK_DOWN: u16 = 0x28;
const VK_INSERT: u16 = 0x2D;
const VK_DELETE: u16 = 0x2E;
const VK_LWIN: u16 = 0x5B;
const VK_F1: u16 = 0x70;
const VK_LSHIFT: u16 = 0xA0;
const VK_LCONTROL: u16 = 0xA2;
const VK_LMENU: u16 = 0xA4;

/// The virtual key of a named key and whether it is an extended key;
/// `None` for a character that has no layout-independent virtual key,
/// and for a function key no keyboard has.
pub fn virtual_key(key: Key) -> Option<(u16, bool)> {
    Some(match key {
        Key::Char(c) if c.is_ascii_alphanumeric() => (c.to_ascii_uppercase() as u16, false),
        Key::Char(_) => return None,
        Key::Return => (VK_RETURN, false),
        Key::Escape => (VK_ESCAPE, false),
        Key::Tab => (VK_TAB, false),
        Key::Backspace => (VK_BACK, false),
        Key::Space => (VK_SPACE, false),
        Key::Delete => (VK_DELETE, true),
        Key::Insert => (VK_INSERT, true),
        Key::Home => (VK_HOME, true),
        Key::End => (VK_END, true),
        Key::PageUp => (VK_PRIOR, true),
        Key::PageDown => (VK_NEXT, true),
        Key::Left => (VK_LEFT, true),
        Key::Right => (VK_RIGHT, true),
        Key::Up => (VK_UP, true),
        Key::Down => (VK_DOWN, true),
        Key::F(n @ 1..=24) => (VK_F1 + u16::from(n) - 1, false),
        Key::F(_) => return None,
        Key::Shift => (VK_LSHIFT, false),
        Key::Control => (VK_LCONTROL, false),
        Key::Alt => (VK_LMENU, false),
        Key::Meta => (VK_LWIN, true),
    })
}

/// Why a key was not pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Ctrl+Alt+Del: Windows lets only a service send it.
    SecureAttention,
    /// An F-key number no keyboard has.
    NoSuchKey,
}

/// The modifiers the technician holds, to recognise Ctrl+Alt+Del.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    control: bool,
    alt: bool,
}

impl Held {
    /// The strokes for one key event, or why it is refused.
    pub fn key(&mut self, key: Key, down: bool) -> Result<Vec<Stroke>, Refusal> {
        match key {
            Key::Control => self.control = down,
            Key::Alt => self.alt = down,
            Key::Delete if down && self.control && self.alt => {
                return Err(Refusal::SecureAttention);
            }
            _ => {}
        }
        let up = !down;
        match (virtual_key(key), key) {
            (Some((vk, extended)), _) => Ok(vec![Stroke::Virtual { vk, extended, up }]),
            (None, Key::Char(c)) => {
                let mut units = [0u16; 2];
                Ok(c.encode_utf16(&mut units)
                    .iter()
                    .map(|&unit| Stroke::Unicode { unit, up })
                    .collect())
            }
            (None, _) => Err(Refusal::NoSuchKey),
        }
    }
}

/// The strokes that type `text` exactly: each UTF-16 unit down and up,
/// a line break as the Return key (what programs expect of Enter).
pub fn text(text: &str) -> Vec<Stroke> {
    let mut out = Vec::with_capacity(text.len() * 2);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' || c == '\n' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            for up in [false, true] {
                out.push(Stroke::Virtual {
                    vk: VK_RETURN,
                    extended: false,
                    up,
                });
            }
            continue;
        }
        let mut units = [0u16; 2];
        for &unit in c.encode_utf16(&mut units).iter() {
            for up in [false, true] {
                out.push(Stroke::Unicode { unit, up });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_digits_are_virtual_keys_for_shortcuts() {
        assert_eq!(virtual_key(Key::Char('c')), Some((0x43, false)));
        assert_eq!(virtual_key(Key::Char('C')), Some((0x43, false)));
        assert_eq!(virtual_key(Key::Char('7')), Some((0x37, false)));
        assert_eq!(virtual_key(Key::Char('é')), None);
        assert_eq!(virtual_key(Key::Char('/')), None);
    }

    #[test]
    fn navigation_keys_are_extended_and_function_keys_are_in_order() {
        for k in [
            Key::Left,
            Key::Home,
            Key::Delete,
            Key::PageDown,
            Key::Insert,
        ] {
            assert!(virtual_key(k).unwrap().1, "{k:?}");
        }
        assert_eq!(virtual_key(Key::Return), Some((0x0D, false)));
        assert_eq!(virtual_key(Key::F(1)), Some((0x70, false)));
        assert_eq!(virtual_key(Key::F(24)), Some((0x87, false)));
        assert_eq!(virtual_key(Key::F(0)), None);
        assert_eq!(virtual_key(Key::F(25)), None);
    }

    #[test]
    fn other_characters_go_as_unicode_even_outside_the_basic_plane() {
        let mut held = Held::default();
        assert_eq!(
            held.key(Key::Char('ü'), true),
            Ok(vec![Stroke::Unicode {
                unit: 0xFC,
                up: false
            }])
        );
        let emoji = held.key(Key::Char('😀'), false).unwrap();
        assert_eq!(
            emoji,
            vec![
                Stroke::Unicode {
                    unit: 0xD83D,
                    up: true
                },
                Stroke::Unicode {
                    unit: 0xDE00,
                    up: true
                }
            ]
        );
        assert_eq!(held.key(Key::F(30), true), Err(Refusal::NoSuchKey));
    }

    #[test]
    fn ctrl_alt_del_is_refused_but_each_part_alone_passes() {
        let mut held = Held::default();
        assert!(held.key(Key::Delete, true).is_ok());
        held.key(Key::Control, true).unwrap();
        assert!(held.key(Key::Delete, true).is_ok(), "Ctrl+Del is fine");
        held.key(Key::Alt, true).unwrap();
        assert_eq!(held.key(Key::Delete, true), Err(Refusal::SecureAttention));
        held.key(Key::Control, false).unwrap();
        assert!(held.key(Key::Delete, true).is_ok(), "Alt+Del is fine");
    }

    #[test]
    fn text_types_every_unit_and_line_breaks_as_return() {
        let strokes = text("a✓\r\nb");
        let units: Vec<_> = strokes
            .iter()
            .filter_map(|s| match s {
                Stroke::Unicode { unit, up: false } => Some(*unit),
                Stroke::Virtual { vk, up: false, .. } => Some(*vk | 0x8000),
                _ => None,
            })
            .collect();
        assert_eq!(units, vec![0x61, 0x2713, 0x0D | 0x8000, 0x62]);
        assert_eq!(strokes.len(), 8, "each down has its up");
    }
}
