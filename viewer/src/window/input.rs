//! What the technician does over the remote screen's picture, as the
//! session's input events: the pointer mapped from the window onto the
//! remote screen (moves only when they change the remote pixel), buttons
//! with a move to where they were pressed, the wheel by notches, text as
//! text, and keys by name (a printable key only with a modifier, as a
//! shortcut: otherwise it travels as text). Pure: egui's events in, input
//! events out, no context and no I/O.

use eframe::egui;
use lifeline_session::messages::{InputEvent, Key, MouseButton};

/// Where the remote screen is drawn, and its size in remote pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Picture {
    pub rect: egui::Rect,
    pub width: u32,
    pub height: u32,
}

impl Picture {
    /// The remote pixel under `p`, if `p` is on the picture.
    pub fn to_remote(&self, p: egui::Pos2) -> Option<(u32, u32)> {
        let (rect, w, h) = (self.rect, self.width, self.height);
        if !rect.contains(p) || w == 0 || h == 0 {
            return None;
        }
        let x = ((p.x - rect.min.x) / rect.width() * w as f32).clamp(0.0, (w - 1) as f32);
        let y = ((p.y - rect.min.y) / rect.height() * h as f32).clamp(0.0, (h - 1) as f32);
        Some((x as u32, y as u32))
    }
}

/// What translation keeps between frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translator {
    /// The remote pixel the pointer was last moved to.
    last_pointer: Option<(u32, u32)>,
}

impl Translator {
    /// This frame's events as input for the remote machine; with `typing`
    /// (a field of the window has the keyboard) keys and text stay here.
    pub fn translate(
        &mut self,
        events: &[egui::Event],
        picture: &Picture,
        typing: bool,
    ) -> Vec<InputEvent> {
        let mut out = Vec::new();
        for ev in events {
            if typing && matches!(ev, egui::Event::Key { .. } | egui::Event::Text(_)) {
                // Keys go to the window's field, not the remote machine.
                continue;
            }
            self.one(ev, picture, &mut out);
        }
        out
    }

    fn one(&mut self, ev: &egui::Event, picture: &Picture, out: &mut Vec<InputEvent>) {
        match ev {
            egui::Event::PointerMoved(p) => {
                if let Some(xy) = picture.to_remote(*p)
                    && self.last_pointer != Some(xy)
                {
                    self.last_pointer = Some(xy);
                    out.push(InputEvent::Move { x: xy.0, y: xy.1 });
                }
            }
            egui::Event::PointerButton {
                pos,
                button,
                pressed,
                ..
            } => {
                let Some((x, y)) = picture.to_remote(*pos) else {
                    return;
                };
                let button = match button {
                    egui::PointerButton::Primary => MouseButton::Left,
                    egui::PointerButton::Secondary => MouseButton::Right,
                    egui::PointerButton::Middle => MouseButton::Middle,
                    _ => return,
                };
                out.push(InputEvent::Move { x, y });
                out.push(InputEvent::Button {
                    button,
                    down: *pressed,
                });
            }
            egui::Event::MouseWheel { delta, .. } => {
                // One notch a direction the wheel moved (`signum` of 0.0
                // is 1.0, so a still axis must say 0 itself).
                let notch = |d: f32| if d == 0.0 { 0 } else { -d.signum() as i32 };
                let (dx, dy) = (notch(delta.x), notch(delta.y));
                if dx != 0 || dy != 0 {
                    out.push(InputEvent::Wheel { dx, dy });
                }
            }
            egui::Event::Text(t) => out.push(InputEvent::Text(t.clone())),
            egui::Event::Key {
                key,
                pressed,
                modifiers,
                repeat: false,
                ..
            } => out.extend(key_events(*key, *pressed, *modifiers)),
            _ => {}
        }
    }
}

/// One key pressed or released, with the modifiers of a shortcut around it
/// (pressed before, released after).
fn key_events(key: egui::Key, pressed: bool, modifiers: egui::Modifiers) -> Vec<InputEvent> {
    let shortcut = modifiers.ctrl || modifiers.alt || modifiers.command;
    let Some(k) = key_of(key, shortcut) else {
        return Vec::new();
    };
    let mods: Vec<Key> = [
        (modifiers.ctrl, Key::Control),
        (modifiers.alt, Key::Alt),
        (modifiers.shift, Key::Shift),
    ]
    .into_iter()
    .filter(|(on, _)| *on && shortcut)
    .map(|(_, k)| k)
    .collect();
    lifeline_session::messages::chord_events(&mods, k, pressed)
}

/// The session's name for an egui key; printable keys only as a
/// shortcut's (`with_modifier`), since otherwise they come as text.
pub fn key_of(key: egui::Key, with_modifier: bool) -> Option<Key> {
    use egui::Key as E;
    Some(match key {
        E::Enter => Key::Return,
        E::Escape => Key::Escape,
        E::Tab => Key::Tab,
        E::Backspace => Key::Backspace,
        E::Delete => Key::Delete,
        E::Insert => Key::Insert,
        E::Home => Key::Home,
        E::End => Key::End,
        E::PageUp => Key::PageUp,
        E::PageDown => Key::PageDown,
        E::ArrowLeft => Key::Left,
        E::ArrowRight => Key::Right,
        E::ArrowUp => Key::Up,
        E::ArrowDown => Key::Down,
        other => {
            let name = other.name();
            if let Some(n) = name.strip_prefix('F').and_then(|n| n.parse::<u8>().ok()) {
                return Some(Key::F(n));
            }
            // Printable keys travel as text, unless a modifier makes them a
            // shortcut (ctrl+c).
            let mut chars = name.chars();
            match (chars.next(), chars.next(), with_modifier) {
                (Some(c), None, true) if c.is_ascii_alphanumeric() => {
                    Key::Char(c.to_ascii_lowercase())
                }
                (_, _, true) if other == E::Space => Key::Space,
                _ => return None,
            }
        }
    })
}

/// Ctrl+Alt+Del: the three pressed, then released in reverse.
pub fn ctrl_alt_del() -> Vec<InputEvent> {
    let seq = [Key::Control, Key::Alt, Key::Delete];
    let down = seq.iter().map(|k| InputEvent::Key {
        key: *k,
        down: true,
    });
    let up = seq.iter().rev().map(|k| InputEvent::Key {
        key: *k,
        down: false,
    });
    down.chain(up).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 100×50 remote screen drawn at twice its size from (10, 10).
    fn picture() -> Picture {
        Picture {
            rect: egui::Rect::from_min_size(egui::pos2(10.0, 10.0), egui::vec2(200.0, 100.0)),
            width: 100,
            height: 50,
        }
    }

    fn key(key: egui::Key, pressed: bool, modifiers: egui::Modifiers) -> egui::Event {
        egui::Event::Key {
            key,
            physical_key: None,
            pressed,
            repeat: false,
            modifiers,
        }
    }

    #[test]
    fn the_pointer_maps_onto_the_remote_screen_and_moves_only_on_change() {
        let p = picture();
        assert_eq!(p.to_remote(egui::pos2(10.0, 10.0)), Some((0, 0)));
        assert_eq!(p.to_remote(egui::pos2(110.0, 60.0)), Some((50, 25)));
        assert_eq!(p.to_remote(egui::pos2(210.0, 110.0)), Some((99, 49)));
        assert_eq!(p.to_remote(egui::pos2(5.0, 60.0)), None, "beside it");
        let mut t = Translator::default();
        let moves = [110.0, 110.5, 113.0].map(|x| egui::Event::PointerMoved(egui::pos2(x, 60.0)));
        assert_eq!(
            t.translate(&moves, &p, false),
            [
                InputEvent::Move { x: 50, y: 25 },
                InputEvent::Move { x: 51, y: 25 }
            ],
            "half a remote pixel is no move"
        );
    }

    #[test]
    fn buttons_move_first_and_the_wheel_goes_by_notches() {
        let p = picture();
        let at = egui::pos2(30.0, 30.0);
        let events = [
            egui::Event::PointerButton {
                pos: at,
                button: egui::PointerButton::Secondary,
                pressed: true,
                modifiers: egui::Modifiers::NONE,
            },
            egui::Event::PointerButton {
                pos: egui::pos2(0.0, 0.0),
                button: egui::PointerButton::Primary,
                pressed: true,
                modifiers: egui::Modifiers::NONE,
            },
            egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Line,
                delta: egui::vec2(0.0, -3.0),
                phase: egui::TouchPhase::Move,
                source: egui::MouseWheelSource::Wheel,
                modifiers: egui::Modifiers::NONE,
            },
        ];
        let got = Translator::default().translate(&events, &p, false);
        assert_eq!(
            got[..2],
            [
                InputEvent::Move { x: 10, y: 10 },
                InputEvent::Button {
                    button: MouseButton::Right,
                    down: true
                },
            ],
            "a click beside the picture is not sent"
        );
        assert!(
            matches!(got[2..], [InputEvent::Wheel { dx: 0, dy: 1 }]),
            "{got:?}"
        );
    }

    #[test]
    fn shortcuts_wrap_their_key_in_modifiers_and_letters_alone_are_text() {
        let p = picture();
        let ctrl = egui::Modifiers::CTRL;
        let events = [
            key(egui::Key::C, true, ctrl),
            key(egui::Key::C, false, ctrl),
            key(egui::Key::C, true, egui::Modifiers::NONE),
            egui::Event::Text("c".into()),
            key(egui::Key::F5, true, egui::Modifiers::NONE),
        ];
        let k = |key, down| InputEvent::Key { key, down };
        assert_eq!(
            Translator::default().translate(&events, &p, false),
            [
                k(Key::Control, true),
                k(Key::Char('c'), true),
                k(Key::Char('c'), false),
                k(Key::Control, false),
                InputEvent::Text("c".into()),
                k(Key::F(5), true),
            ]
        );
    }

    #[test]
    fn typing_in_a_field_keeps_keys_but_not_the_pointer_here() {
        let p = picture();
        let events = [
            egui::Event::Text("x".into()),
            key(egui::Key::Enter, true, egui::Modifiers::NONE),
            egui::Event::PointerMoved(egui::pos2(12.0, 12.0)),
        ];
        assert_eq!(
            Translator::default().translate(&events, &p, true),
            [InputEvent::Move { x: 1, y: 1 }]
        );
        let repeat = egui::Event::Key {
            key: egui::Key::Enter,
            physical_key: None,
            pressed: true,
            repeat: true,
            modifiers: egui::Modifiers::NONE,
        };
        assert!(
            Translator::default()
                .translate(&[repeat], &p, false)
                .is_empty()
        );
    }

    #[test]
    fn ctrl_alt_del_releases_in_reverse() {
        let k = |key, down| InputEvent::Key { key, down };
        assert_eq!(
            ctrl_alt_del(),
            [
                k(Key::Control, true),
                k(Key::Alt, true),
                k(Key::Delete, true),
                k(Key::Delete, false),
                k(Key::Alt, false),
                k(Key::Control, false),
            ]
        );
    }
}
