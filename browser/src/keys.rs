//! The browser's keyboard events as the session's input events, by the
//! native window's rules: text as text (whatever the keyboard layout), a
//! printable key only inside a shortcut (Ctrl, Alt or Meta held), named
//! keys by name, and a shortcut's modifiers pressed around its key. Pure:
//! `KeyboardEvent.key`/`.code` in, input events out.

use lifeline_session::messages::{InputEvent, Key};

/// The modifiers held with a key, as the browser reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
    pub meta: bool,
}

impl Held {
    fn shortcut(self) -> bool {
        self.ctrl || self.alt || self.meta
    }
}

/// What one `keydown` (`down`) or `keyup` sends; empty when the key is
/// none of the remote machine's business (a lone modifier, a dead key).
pub fn key_events(key: &str, code: &str, down: bool, held: Held) -> Vec<InputEvent> {
    let mut chars = key.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && !held.shortcut()
    {
        // Plain text goes once, on the way down.
        return if down {
            vec![InputEvent::Text(c.to_string())]
        } else {
            Vec::new()
        };
    }
    let Some(k) = named(key).or_else(|| shortcut_char(key, code)) else {
        return Vec::new();
    };
    let mods: Vec<Key> = [
        (held.ctrl, Key::Control),
        (held.alt, Key::Alt),
        (held.meta, Key::Meta),
        (held.shift, Key::Shift),
    ]
    .into_iter()
    .filter(|(on, _)| *on && held.shortcut())
    .map(|(_, k)| k)
    .collect();
    lifeline_session::messages::chord_events(&mods, k, down)
}

/// A named key (`KeyboardEvent.key`'s own names).
fn named(key: &str) -> Option<Key> {
    Some(match key {
        "Enter" => Key::Return,
        "Escape" => Key::Escape,
        "Tab" => Key::Tab,
        "Backspace" => Key::Backspace,
        "Delete" => Key::Delete,
        "Insert" => Key::Insert,
        "Home" => Key::Home,
        "End" => Key::End,
        "PageUp" => Key::PageUp,
        "PageDown" => Key::PageDown,
        "ArrowLeft" => Key::Left,
        "ArrowRight" => Key::Right,
        "ArrowUp" => Key::Up,
        "ArrowDown" => Key::Down,
        " " => Key::Space,
        f => match f.strip_prefix('F').map(str::parse::<u8>) {
            Some(Ok(n @ 1..=24)) => Key::F(n),
            _ => return None,
        },
    })
}

/// A shortcut's printable key, by its place on the keyboard (`KeyC`,
/// `Digit1`) so that Ctrl+C is Ctrl+C on any layout, else by what it says.
fn shortcut_char(key: &str, code: &str) -> Option<Key> {
    let by_place = code
        .strip_prefix("Key")
        .or_else(|| code.strip_prefix("Digit"))
        .and_then(|c| {
            let mut chars = c.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
                _ => None,
            }
        });
    let mut chars = key.chars();
    let by_name = match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c.to_lowercase().next().unwrap_or(c)),
        _ => None,
    };
    by_place.or(by_name).map(Key::Char)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(key: Key, down: bool) -> InputEvent {
        InputEvent::Key { key, down }
    }

    #[test]
    fn text_is_text_on_any_layout() {
        let none = Held::default();
        assert_eq!(
            key_events("é", "Digit2", true, none),
            [InputEvent::Text("é".into())]
        );
        assert!(key_events("é", "Digit2", false, none).is_empty());
        let shift = Held {
            shift: true,
            ..none
        };
        assert_eq!(
            key_events("A", "KeyA", true, shift),
            [InputEvent::Text("A".into())]
        );
    }

    #[test]
    fn shortcuts_press_their_modifiers_around_the_key() {
        let ctrl = Held {
            ctrl: true,
            ..Held::default()
        };
        // On an AZERTY keyboard the key at KeyQ says "a": the place wins.
        assert_eq!(
            key_events("c", "KeyC", true, ctrl),
            [key(Key::Control, true), key(Key::Char('c'), true)]
        );
        assert_eq!(
            key_events("c", "KeyC", false, ctrl),
            [key(Key::Char('c'), false), key(Key::Control, false)]
        );
    }

    #[test]
    fn named_keys_and_lone_modifiers() {
        let none = Held::default();
        assert_eq!(
            key_events("Enter", "Enter", true, none),
            [key(Key::Return, true)]
        );
        assert_eq!(
            key_events("F12", "F12", false, none),
            [key(Key::F(12), false)]
        );
        assert!(key_events("F25", "F25", true, none).is_empty());
        assert!(key_events("Shift", "ShiftLeft", true, none).is_empty());
        assert!(key_events("Dead", "BracketLeft", true, none).is_empty());
        assert_eq!(
            key_events(" ", "Space", true, none),
            [InputEvent::Text(" ".into())]
        );
    }
}
