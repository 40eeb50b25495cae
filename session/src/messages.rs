//! What host and viewer say to each other, end to end, over the streams the
//! relay forwards without reading.

use serde::{Deserialize, Serialize};

use crate::screen::FrameUpdate;
use lifeline_proto::control::Mode;

/// Largest host → viewer message: a whole 8K frame of noise fits.
pub const MAX_SESSION_FRAME: usize = 160 * 1024 * 1024;

/// Longest clipboard text either way; longer is refused with a clear line.
pub const MAX_CLIPBOARD: usize = 1024 * 1024;

/// Longest chat message, in bytes.
pub const MAX_CHAT: usize = 4 * 1024;

/// Largest viewer → host message. The viewer sends acknowledgements,
/// input, chat and at most a clipboard's text; a hostile viewer cannot
/// make the host buffer more than this.
pub const MAX_VIEWER_FRAME: usize = MAX_CLIPBOARD + 1024;

/// Which way a session stream carries messages, for its size limit.
pub fn max_frame_from(side: crate::e2e::Side) -> usize {
    match side {
        crate::e2e::Side::Host => MAX_SESSION_FRAME,
        crate::e2e::Side::Viewer => MAX_VIEWER_FRAME,
    }
}

/// How many frame updates may be unacknowledged at once: a slow link gets
/// fewer, fresher frames instead of a growing queue.
pub const FRAMES_IN_FLIGHT: u64 = 2;

/// Host → viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostMsg {
    /// The user's decision; the first message of every session.
    Mode(Mode),
    Frame(FrameUpdate),
    /// The pointer moved (remote pixels), sent apart from the pixels.
    Cursor {
        x: i32,
        y: i32,
    },
    /// The host's clipboard text, as the viewer asked.
    Clipboard(String),
    /// The viewer's text is on the host's clipboard now.
    ClipboardSet,
    /// A request was refused (view only, too large, no clipboard), and why.
    Refused(String),
    /// A message from the user.
    Chat(String),
    /// The host's monitors and which the viewer is shown; sent before the
    /// first frame of a new view, so the frames after it are of that view.
    Monitors {
        monitors: Vec<MonitorInfo>,
        showing: Showing,
    },
    /// `Some`: from now on the screen cannot be shown, and why (no frames
    /// come meanwhile; the last picture is out of date). `None`: it can
    /// again, and a whole frame follows.
    Withheld(Option<Withheld>),
    /// The parts of the picture the user hides (their private windows,
    /// blanked in the frames before encoding): where, never what. Sent
    /// when they change and before a whole frame; empty: nothing hidden.
    /// At most [`MAX_HIDDEN_BOXES`] count.
    Hidden(Vec<HiddenBox>),
}

/// Most boxes a [`HostMsg::Hidden`] carries (a host with more hides
/// their bounding boxes instead); a viewer ignores any beyond.
pub const MAX_HIDDEN_BOXES: usize = 64;

/// A part of the shown picture the user hides, in its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HiddenBox {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

/// Why the host cannot show its screen for now. Variant order is the
/// wire format: append, never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Withheld {
    /// Windows shows its secure desktop (a UAC prompt, the Ctrl+Alt+Del
    /// screen, the lock screen), which no user-level program may capture
    /// or drive.
    SecureDesktop,
}

impl Withheld {
    /// The word `--json` events and recordings use.
    pub fn as_str(self) -> &'static str {
        match self {
            Withheld::SecureDesktop => "secure-desktop",
        }
    }
}

/// One of the host's monitors, in the host's screen coordinates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorInfo {
    /// The name the host's system gives it (`HDMI-1`, `eDP-1`).
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
}

/// What part of the host's screen the viewer sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Showing {
    /// The primary monitor (the whole screen where there is only one).
    #[default]
    Primary,
    /// Every monitor at once: the whole screen.
    All,
    /// One monitor, by its place in the host's list (from 0).
    Monitor(u8),
}

/// At most this many monitors are listed (more are not shown separately).
pub const MAX_MONITORS: usize = 16;

/// What the technician prefers when the link cannot carry everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Quality {
    /// Follow the link: exact on a fast one, lighter pictures on a slow one.
    #[default]
    Auto,
    /// Fluid before sharp: low-quality pictures, refined late.
    Speed,
    /// Pictures at good quality while things move, exact once still.
    Balanced,
    /// Every update exact, whatever it costs.
    Exact,
}

impl Quality {
    /// The word the command line and the toolbar use.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Auto => "auto",
            Quality::Speed => "speed",
            Quality::Balanced => "balanced",
            Quality::Exact => "exact",
        }
    }
}

/// Viewer → host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewerMsg {
    /// Update `seq` is decoded; the host may send more.
    Ack {
        seq: u64,
    },
    /// The viewer lost track (resize, error): send a whole frame next.
    RequestFull,
    Input(InputEvent),
    /// The technician's quality preference (until the next one).
    Quality(Quality),
    /// Put this text on the host's clipboard (control mode only).
    ClipboardSet(String),
    /// Send the host's clipboard text.
    ClipboardGet,
    /// A message for the user.
    Chat(String),
    /// Show this part of the host's screen from the next frame on.
    Show(Showing),
    /// The technician ends the session, for this reason: the host ends it
    /// (closing its recording first), so nothing recorded is cut off.
    Bye(String),
    /// Update `seq` is decoded, and applying it to the screen took the
    /// viewer `busy_us` microseconds: the host may send more, and times
    /// the link without that (a LAN is then known fast from its first
    /// screen, however slow the viewer's machine). Time an update waited
    /// behind the one before it is not counted.
    Decoded {
        seq: u64,
        busy_us: u32,
    },
    /// This viewer decodes no video (a browser without the codec): moving
    /// regions come as pictures and exact tiles instead, for the rest of
    /// the session.
    NoVideo,
}

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MouseButton {
    Left,
    Middle,
    Right,
}

/// A key, by what it does rather than where it sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Key {
    Char(char),
    Return,
    Escape,
    Tab,
    Backspace,
    Delete,
    Insert,
    Home,
    End,
    PageUp,
    PageDown,
    Left,
    Right,
    Up,
    Down,
    Space,
    /// F1 to F24.
    F(u8),
    Shift,
    Control,
    Alt,
    Meta,
}

/// Why a key name was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown key {0:?}; use a letter, Return, Escape, Tab, BackSpace, Delete, Home, End, Page_Up, Page_Down, Left, Right, Up, Down, space, F1-F24, optionally with ctrl+, alt+, shift+, super+"
)]
pub struct KeyNameError(pub String);

impl Key {
    /// Parses one key name as X11 and most people write it (`Return`,
    /// `BackSpace`, `Page_Up`, `F5`, `a`, `ctrl`…), case-insensitively.
    pub fn parse(name: &str) -> Result<Key, KeyNameError> {
        let mut chars = name.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return Ok(Key::Char(c));
        }
        let lower = name.to_ascii_lowercase();
        let key = match lower.as_str() {
            "return" | "enter" => Key::Return,
            "escape" | "esc" => Key::Escape,
            "tab" => Key::Tab,
            "backspace" => Key::Backspace,
            "delete" | "del" => Key::Delete,
            "insert" | "ins" => Key::Insert,
            "home" => Key::Home,
            "end" => Key::End,
            "page_up" | "pageup" | "prior" => Key::PageUp,
            "page_down" | "pagedown" | "next" => Key::PageDown,
            "left" => Key::Left,
            "right" => Key::Right,
            "up" => Key::Up,
            "down" => Key::Down,
            "space" => Key::Space,
            "shift" => Key::Shift,
            "ctrl" | "control" => Key::Control,
            "alt" => Key::Alt,
            "super" | "meta" | "win" => Key::Meta,
            f if f.starts_with('f') => match f[1..].parse::<u8>() {
                Ok(n @ 1..=24) => Key::F(n),
                _ => return Err(KeyNameError(name.to_owned())),
            },
            _ => return Err(KeyNameError(name.to_owned())),
        };
        Ok(key)
    }

    /// Parses a chord such as `ctrl+c` or `shift+Tab`: the modifiers, then
    /// the key, in press order.
    pub fn parse_chord(chord: &str) -> Result<Vec<Key>, KeyNameError> {
        let parts: Vec<&str> = if chord == "+" {
            vec!["+"]
        } else {
            chord.split('+').collect()
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(KeyNameError(chord.to_owned()));
        }
        parts.into_iter().map(Key::parse).collect()
    }
}

/// One key of a shortcut going down or up with its modifiers around it:
/// the modifiers pressed before the key, released after it (in reverse).
/// The native window and the browser page both send shortcuts so.
pub fn chord_events(mods: &[Key], key: Key, down: bool) -> Vec<InputEvent> {
    let ev = |key, down| InputEvent::Key { key, down };
    if down {
        let mut out: Vec<_> = mods.iter().map(|m| ev(*m, true)).collect();
        out.push(ev(key, true));
        out
    } else {
        let mut out = vec![ev(key, false)];
        out.extend(mods.iter().rev().map(|m| ev(*m, false)));
        out
    }
}

/// An input event that names something no keyboard has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadInput {
    #[error("there is no key F{0}: function keys are F1 to F24")]
    NoSuchKey(u8),
}

/// One input event from the technician, in remote screen pixels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputEvent {
    /// Absolute pointer position.
    Move {
        x: u32,
        y: u32,
    },
    Button {
        button: MouseButton,
        down: bool,
    },
    /// Wheel steps; positive is down or right.
    Wheel {
        dx: i32,
        dy: i32,
    },
    Key {
        key: Key,
        down: bool,
    },
    /// Text typed as a whole, whatever the keyboard layouts.
    Text(String),
}

impl InputEvent {
    /// Refuses what decodes but names nothing real (`F(0)`, `F(25)`):
    /// the host applies only events that passed this.
    pub fn check(&self) -> Result<(), BadInput> {
        match self {
            InputEvent::Key {
                key: Key::F(n @ (0 | 25..)),
                ..
            } => Err(BadInput::NoSuchKey(*n)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_proto::frame::{decode, encode};

    #[test]
    fn chords_parse() {
        assert_eq!(
            Key::parse_chord("ctrl+c").unwrap(),
            [Key::Control, Key::Char('c')]
        );
        assert_eq!(
            Key::parse_chord("shift+Tab").unwrap(),
            [Key::Shift, Key::Tab]
        );
        assert_eq!(Key::parse_chord("Return").unwrap(), [Key::Return]);
        assert_eq!(Key::parse_chord("F12").unwrap(), [Key::F(12)]);
        assert_eq!(Key::parse_chord("+").unwrap(), [Key::Char('+')]);
        assert!(Key::parse_chord("ctrl+").is_err());
        assert!(Key::parse_chord("F25").is_err());
        let f = |n| InputEvent::Key {
            key: Key::F(n),
            down: true,
        };
        assert_eq!(f(0).check(), Err(BadInput::NoSuchKey(0)));
        assert_eq!(f(25).check(), Err(BadInput::NoSuchKey(25)));
        assert_eq!(f(1).check(), Ok(()));
        assert_eq!(f(24).check(), Ok(()));
        assert!(
            Key::parse("Hyper")
                .unwrap_err()
                .to_string()
                .contains("unknown key \"Hyper\"")
        );
    }

    #[test]
    fn messages_round_trip_and_pin() {
        let m = ViewerMsg::Input(InputEvent::Key {
            key: Key::Return,
            down: true,
        });
        let bytes = encode(&m, MAX_SESSION_FRAME).unwrap();
        assert_eq!(hex::encode(&bytes), "0000000402030101");
        assert_eq!(decode::<ViewerMsg>(&bytes[4..]).unwrap(), m);
        let f = HostMsg::Frame(FrameUpdate {
            seq: 7,
            width: 64,
            height: 32,
            full: true,
            copies: vec![crate::screen::CopyRect {
                src_x: 0,
                src_y: 1,
                x: 0,
                y: 0,
                w: 2,
                h: 3,
            }],
            pictures: vec![crate::screen::Picture {
                x: 1,
                y: 2,
                w: 3,
                h: 4,
                jpeg: vec![0xff, 0xd8],
            }],
            tiles: vec![crate::screen::Tile {
                x: 0,
                y: 0,
                w: 64,
                h: 32,
                data: crate::screen::TileData::Solid(0x00ab_cdef),
            }],
            photos: vec![crate::screen::Photo {
                x: 4,
                y: 5,
                w: 6,
                h: 7,
                zstd: vec![0x28, 0xb5],
            }],
            video: vec![],
        });
        let bytes = encode(&f, MAX_SESSION_FRAME).unwrap();
        assert_eq!(
            hex::encode(&bytes),
            "00000027010740200101000100000203010102030402ffd8010000402000ef9baf0501040506070228b500"
        );
        assert_eq!(decode::<HostMsg>(&bytes[4..]).unwrap(), f);
        let q = ViewerMsg::Quality(Quality::Exact);
        let bytes = encode(&q, MAX_SESSION_FRAME).unwrap();
        assert_eq!(hex::encode(&bytes), "000000020303");
        assert_eq!(decode::<ViewerMsg>(&bytes[4..]).unwrap(), q);
        let h = HostMsg::Cursor { x: -1, y: 2 };
        let bytes = encode(&h, MAX_SESSION_FRAME).unwrap();
        assert_eq!(hex::encode(&bytes), "00000003020104");
        assert_eq!(decode::<HostMsg>(&bytes[4..]).unwrap(), h);
    }

    #[test]
    fn a_decoded_acknowledgement_pins() {
        let d = ViewerMsg::Decoded {
            seq: 5,
            busy_us: 1000,
        };
        let bytes = encode(&d, MAX_VIEWER_FRAME).unwrap();
        assert_eq!(hex::encode(&bytes), "000000040905e807");
        assert_eq!(decode::<ViewerMsg>(&bytes[4..]).unwrap(), d);
    }

    #[test]
    fn a_frame_with_video_pins() {
        let f = HostMsg::Frame(FrameUpdate {
            seq: 9,
            width: 1920,
            height: 1080,
            full: false,
            copies: vec![],
            pictures: vec![],
            tiles: vec![],
            photos: vec![],
            video: vec![crate::screen::Video {
                stream: 3,
                x: 64,
                y: 128,
                w: 640,
                h: 360,
                key: true,
                h264: vec![0, 0, 0, 1, 0x67],
            }],
        });
        let bytes = encode(&f, MAX_SESSION_FRAME).unwrap();
        assert_eq!(
            hex::encode(&bytes),
            // Frame, seq 9, 1920×1080, not full, no copies, pictures, tiles
            // or photos; one video: stream 3 at 64,128, 640×360, key, 5 bytes.
            concat!(
                "0000001b0109800fb8080000000000",
                "01034080018005e80201050000000167"
            )
        );
        assert_eq!(decode::<HostMsg>(&bytes[4..]).unwrap(), f);
    }

    #[test]
    fn toolkit_messages_pin() {
        fn pin<T>(m: T, hex_bytes: &str)
        where
            T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
        {
            let bytes = encode(&m, MAX_SESSION_FRAME).unwrap();
            assert_eq!(hex::encode(&bytes), hex_bytes, "{m:?}");
            assert_eq!(decode::<T>(&bytes[4..]).unwrap(), m);
        }
        pin(ViewerMsg::ClipboardSet("é".into()), "000000040402c3a9");
        pin(ViewerMsg::ClipboardGet, "0000000105");
        pin(ViewerMsg::Chat("hi".into()), "0000000406026869");
        pin(HostMsg::Clipboard("x".into()), "00000003030178");
        pin(HostMsg::ClipboardSet, "0000000104");
        pin(HostMsg::Refused("no".into()), "0000000405026e6f");
        pin(HostMsg::Chat("ok".into()), "0000000406026f6b");
        pin(ViewerMsg::Show(Showing::Monitor(1)), "00000003070201");
        pin(ViewerMsg::Show(Showing::All), "000000020701");
        pin(ViewerMsg::Bye("ok".into()), "0000000408026f6b");
        pin(
            HostMsg::Monitors {
                monitors: vec![MonitorInfo {
                    name: "A".into(),
                    x: 1280,
                    y: -1,
                    width: 1024,
                    height: 768,
                    primary: true,
                }],
                showing: Showing::Primary,
            },
            "0000000d07010141801401800880060100",
        );
        pin(
            HostMsg::Withheld(Some(Withheld::SecureDesktop)),
            "00000003080100",
        );
        pin(HostMsg::Withheld(None), "000000020800");
        pin(ViewerMsg::NoVideo, "000000010a");
        pin(
            HostMsg::Hidden(vec![HiddenBox {
                x: 10,
                y: -1,
                width: 300,
                height: 2,
            }]),
            "0000000709011401ac0202",
        );
        pin(HostMsg::Hidden(Vec::new()), "000000020900");
    }
}
