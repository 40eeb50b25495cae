//! A keyboard made for what the technician types. A Wayland virtual
//! keyboard brings its own XKB keymap; rather than guess the user's
//! layout, this one gives every key the technician needs a keycode of its
//! own: the named keys and modifiers always, and each character the
//! first time it is typed (the keymap is sent again then). So any text,
//! in any script, arrives exactly, whatever layout the desktop uses.
//! Pure: the keymap is text, the keycodes are numbers.

use lifeline_session::messages::Key;

/// XKB keycodes start at 8; evdev codes (what the protocol sends) are
/// XKB keycodes minus 8. The first usable XKB keycode is 9.
const FIRST: u32 = 9;
/// The last XKB keycode a keymap may use.
const LAST: u32 = 255;

/// A modifier: its keysym, and its bit in the modifier mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modifier {
    pub keysym: &'static str,
    pub mask: u32,
    map: &'static str,
}

/// The four modifiers a technician presses.
pub const MODIFIERS: [Modifier; 4] = [
    Modifier {
        keysym: "Shift_L",
        mask: 1,
        map: "Shift",
    },
    Modifier {
        keysym: "Control_L",
        mask: 4,
        map: "Control",
    },
    Modifier {
        keysym: "Alt_L",
        mask: 8,
        map: "Mod1",
    },
    Modifier {
        keysym: "Super_L",
        mask: 64,
        map: "Mod4",
    },
];

/// The keysym of a named key, or of a character.
pub fn keysym(key: &Key) -> String {
    let named = match key {
        Key::Char(c) => return char_keysym(*c),
        Key::Return => "Return",
        Key::Escape => "Escape",
        Key::Tab => "Tab",
        Key::Backspace => "BackSpace",
        Key::Delete => "Delete",
        Key::Insert => "Insert",
        Key::Home => "Home",
        Key::End => "End",
        Key::PageUp => "Prior",
        Key::PageDown => "Next",
        Key::Left => "Left",
        Key::Right => "Right",
        Key::Up => "Up",
        Key::Down => "Down",
        Key::Space => "space",
        Key::F(n) => return format!("F{n}"),
        Key::Shift => MODIFIERS[0].keysym,
        Key::Control => MODIFIERS[1].keysym,
        Key::Alt => MODIFIERS[2].keysym,
        Key::Meta => MODIFIERS[3].keysym,
    };
    named.to_owned()
}

/// A character's keysym: XKB's Unicode form, which every layout knows.
/// Control characters typed as text are their keys.
pub fn char_keysym(c: char) -> String {
    match c {
        '\n' | '\r' => "Return".into(),
        '\t' => "Tab".into(),
        ' ' => "space".into(),
        c => format!("U{:04X}", u32::from(c)),
    }
}

/// The keymap: keysym by keycode (from [`FIRST`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    keysyms: Vec<String>,
    /// How many entries are the fixed keys (never dropped).
    fixed: usize,
}

impl Default for Keymap {
    fn default() -> Self {
        Self::new()
    }
}

impl Keymap {
    /// The named keys, function keys and modifiers.
    pub fn new() -> Self {
        let named = [
            Key::Return,
            Key::Escape,
            Key::Tab,
            Key::Backspace,
            Key::Delete,
            Key::Insert,
            Key::Home,
            Key::End,
            Key::PageUp,
            Key::PageDown,
            Key::Left,
            Key::Right,
            Key::Up,
            Key::Down,
            Key::Space,
            Key::Shift,
            Key::Control,
            Key::Alt,
            Key::Meta,
        ];
        let mut keysyms: Vec<String> = named.iter().map(keysym).collect();
        keysyms.extend((1..=24).map(|n| format!("F{n}")));
        let fixed = keysyms.len();
        Self { keysyms, fixed }
    }

    /// The evdev code of `keysym` (what the protocol's key request takes),
    /// and whether the keymap changed to hold it (then it must be sent
    /// again before the key). When every keycode is taken, the characters
    /// added earlier make room.
    pub fn code(&mut self, keysym: &str) -> (u32, bool) {
        if let Some(i) = self.keysyms.iter().position(|k| k == keysym) {
            return (evdev(i), false);
        }
        if FIRST + self.keysyms.len() as u32 > LAST {
            self.keysyms.truncate(self.fixed);
        }
        self.keysyms.push(keysym.to_owned());
        (evdev(self.keysyms.len() - 1), true)
    }

    /// The keymap as XKB text (`XKB_KEYMAP_FORMAT_TEXT_V1`), NUL-terminated
    /// as the protocol wants.
    pub fn text(&self) -> String {
        let mut keycodes = String::new();
        let mut symbols = String::new();
        for (i, sym) in self.keysyms.iter().enumerate() {
            let code = FIRST + i as u32;
            keycodes.push_str(&format!("    <K{code}> = {code};\n"));
            symbols.push_str(&format!("    key <K{code}> {{ [ {sym} ] }};\n"));
        }
        for m in MODIFIERS {
            if let Some(i) = self.keysyms.iter().position(|k| k == m.keysym) {
                let code = FIRST + i as u32;
                symbols.push_str(&format!("    modifier_map {} {{ <K{code}> }};\n", m.map));
            }
        }
        format!(
            "xkb_keymap {{\n  xkb_keycodes \"lifeline\" {{\n    minimum = 8;\n    maximum = 255;\n{keycodes}  }};\n  xkb_types \"lifeline\" {{ include \"complete\" }};\n  xkb_compatibility \"lifeline\" {{ include \"complete\" }};\n  xkb_symbols \"lifeline\" {{\n{symbols}  }};\n}};\n\0"
        )
    }
}

fn evdev(index: usize) -> u32 {
    FIRST + index as u32 - 8
}

/// The modifier mask `key` sets while held, if it is a modifier.
pub fn modifier_mask(key: &Key) -> Option<u32> {
    let sym = keysym(key);
    MODIFIERS.iter().find(|m| m.keysym == sym).map(|m| m.mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_keys_have_fixed_codes_and_characters_are_added_once() {
        let mut k = Keymap::new();
        let (ret, changed) = k.code("Return");
        assert_eq!((ret, changed), (1, false), "XKB 9 is evdev 1");
        let (e_acute, changed) = k.code(&char_keysym('é'));
        assert!(changed, "a new character changes the keymap");
        let (again, changed) = k.code(&char_keysym('é'));
        assert_eq!((again, changed), (e_acute, false));
        assert_eq!(char_keysym('é'), "U00E9");
        assert_eq!(char_keysym('世'), "U4E16");
        assert_eq!(char_keysym('\n'), "Return");
        assert_eq!(keysym(&Key::PageUp), "Prior");
        assert_eq!(keysym(&Key::F(12)), "F12");
        assert_eq!(modifier_mask(&Key::Control), Some(4));
        assert_eq!(modifier_mask(&Key::Char('a')), None);
    }

    #[test]
    fn the_text_names_every_key_and_the_modifiers() {
        let mut k = Keymap::new();
        k.code("U0061");
        let text = k.text();
        assert!(text.ends_with('\0'));
        assert!(text.contains("key <K9> { [ Return ] };"), "{text}");
        assert!(text.contains("[ U0061 ]"), "{text}");
        assert!(text.contains("modifier_map Control { <K"), "{text}");
        assert!(text.contains("maximum = 255;"));
    }

    #[test]
    fn a_full_keymap_drops_old_characters_not_named_keys() {
        let mut k = Keymap::new();
        let fixed = k.keysyms.len();
        for c in 0..400u32 {
            let (code, _) = k.code(&format!("U{:04X}", 0x4E00 + c));
            assert!(code + 8 <= LAST, "{code}");
        }
        assert!(k.keysyms.len() <= (LAST - FIRST + 1) as usize);
        assert_eq!(k.code("Return"), (1, false));
        assert!(k.keysyms.len() > fixed);
    }
}
