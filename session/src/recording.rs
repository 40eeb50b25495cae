//! What a session recording holds, before sealing and after opening:
//! timestamped events, each a 4-byte big-endian length and its postcard
//! bytes, one stream cut into chunks anywhere (an event may span chunks).
//! Frames are the updates the viewer got, and whole exact screens
//! (keyframes) from a fresh encoder now and then, so playback can start at
//! any keyframe. Keystrokes are in only when the relay's policy says so.

use serde::{Deserialize, Serialize};

use crate::messages::InputEvent;
use crate::screen::FrameUpdate;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A screen update; `keyframe`: a whole screen from a fresh encoder.
    Frame { update: FrameUpdate, keyframe: bool },
    /// Where the pointer is, when it moved.
    Pointer { x: i32, y: i32 },
    /// The technician's input (keys only when recorded keys are on).
    Input(InputEvent),
    /// A timeline entry, as the host's `--json` event (mode, clipboard and
    /// file metadata, chat, the end).
    Note(String),
}

/// An event and when, in milliseconds from the recording's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timed {
    pub at_ms: u64,
    pub event: Event,
}

/// The largest event a recording may hold (a whole 8K screen, encoded).
pub const MAX_EVENT: usize = 256 << 20;

/// An event as the stream holds it.
pub fn encode(t: &Timed) -> Vec<u8> {
    // Plain data: postcard cannot fail on it.
    let body = postcard::to_stdvec(t).unwrap_or_default();
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// The stream is not events.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("event {0} of the recording cannot be read")]
pub struct BadEvent(pub u64);

/// Reads events back from the stream's bytes, fed in any pieces.
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
    read: u64,
}

impl Reader {
    /// Takes in the next piece of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole event, if it has all come.
    pub fn next_event(&mut self) -> Option<Result<Timed, BadEvent>> {
        let head = self.buf.get(..4)?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > MAX_EVENT {
            return Some(Err(BadEvent(self.read)));
        }
        let body = self.buf.get(4..4 + len)?;
        let event = postcard::from_bytes(body).map_err(|_| BadEvent(self.read));
        self.buf.drain(..4 + len);
        self.read += 1;
        Some(event)
    }

    /// Bytes of an event not yet whole (a recording cut mid-event).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::MouseButton;

    #[test]
    fn events_come_back_whatever_the_pieces() {
        let events = [
            Timed {
                at_ms: 0,
                event: Event::Pointer { x: 3, y: -1 },
            },
            Timed {
                at_ms: 5,
                event: Event::Input(InputEvent::Button {
                    button: MouseButton::Left,
                    down: true,
                }),
            },
            Timed {
                at_ms: 9,
                event: Event::Note("{\"event\":\"chat\"}".into()),
            },
        ];
        let stream: Vec<u8> = events.iter().flat_map(encode).collect();
        let mut r = Reader::default();
        let mut got = Vec::new();
        for piece in stream.chunks(3) {
            r.push(piece);
            while let Some(e) = r.next_event() {
                got.push(e.unwrap());
            }
        }
        assert_eq!(got, events);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn the_encoding_is_pinned_and_garbage_is_refused() {
        let t = Timed {
            at_ms: 300,
            event: Event::Pointer { x: 1, y: 2 },
        };
        assert_eq!(hex::encode(encode(&t)), "00000005ac02010204");
        let mut r = Reader::default();
        r.push(&[0, 0, 0, 1, 9]);
        assert_eq!(r.next_event(), Some(Err(BadEvent(0))));
        let mut r = Reader::default();
        r.push(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.next_event(), Some(Err(BadEvent(0))));
    }
}
