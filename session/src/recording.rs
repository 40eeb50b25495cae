//! What a session recording holds, before sealing and after opening:
//! timestamped events, each a 4-byte big-endian length and its postcard
//! bytes, one stream cut into chunks anywhere (an event may span chunks).
//! Frames are the updates the viewer got, and whole exact screens
//! (keyframes) from a fresh encoder now and then, so playback can start at
//! any keyframe. Keystrokes are in only when the relay's policy says so.

use serde::{Deserialize, Serialize};

use crate::messages::InputEvent;
use crate::screen::{CopyRect, FrameUpdate, Photo, Picture, Tile};

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "Stored")]
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

/// An event as a recording stores it. Variant order is the format:
/// append, never reorder. Recordings made before video (issue #29) hold
/// frames as [`Stored::FrameBeforeVideo`]; they still play.
#[derive(Debug, Clone, PartialEq, Deserialize)]
enum Stored {
    /// A screen update of a recording made before updates carried video.
    FrameBeforeVideo {
        update: FrameBeforeVideo,
        keyframe: bool,
    },
    Pointer {
        x: i32,
        y: i32,
    },
    Input(InputEvent),
    Note(String),
    /// A screen update, video and all.
    Frame {
        update: FrameUpdate,
        keyframe: bool,
    },
}

/// [`FrameUpdate`] as it was before it carried video: the same fields but
/// the last.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct FrameBeforeVideo {
    seq: u64,
    width: u32,
    height: u32,
    full: bool,
    copies: Vec<CopyRect>,
    pictures: Vec<Picture>,
    tiles: Vec<Tile>,
    photos: Vec<Photo>,
}

impl From<Stored> for Event {
    fn from(s: Stored) -> Self {
        match s {
            Stored::FrameBeforeVideo {
                update: u,
                keyframe,
            } => Event::Frame {
                update: FrameUpdate {
                    seq: u.seq,
                    width: u.width,
                    height: u.height,
                    full: u.full,
                    copies: u.copies,
                    pictures: u.pictures,
                    tiles: u.tiles,
                    photos: u.photos,
                    video: Vec::new(),
                },
                keyframe,
            },
            Stored::Pointer { x, y } => Event::Pointer { x, y },
            Stored::Input(i) => Event::Input(i),
            Stored::Note(n) => Event::Note(n),
            Stored::Frame { update, keyframe } => Event::Frame { update, keyframe },
        }
    }
}

/// [`Stored`] as it is written, borrowing the event: a recorded update
/// (megabytes for a whole screen) is not copied to be written.
#[derive(Serialize)]
enum StoredRef<'a> {
    /// Never written (frames are written with video, variant 4); here to
    /// keep the variants' numbers.
    #[allow(dead_code)]
    FrameBeforeVideo,
    Pointer {
        x: i32,
        y: i32,
    },
    Input(&'a InputEvent),
    Note(&'a str),
    Frame {
        update: &'a FrameUpdate,
        keyframe: bool,
    },
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Event::Frame { update, keyframe } => StoredRef::Frame {
                update,
                keyframe: *keyframe,
            },
            Event::Pointer { x, y } => StoredRef::Pointer { x: *x, y: *y },
            Event::Input(i) => StoredRef::Input(i),
            Event::Note(n) => StoredRef::Note(n),
        }
        .serialize(s)
    }
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

    #[test]
    fn a_recording_made_before_video_still_plays() {
        // A frame event as recordings before issue #29 stored it (at 0 ms,
        // variant 0, the update without its video list: seq 7, 2×1, full,
        // one tile of solid 0x010203; a keyframe), written out by hand
        // from postcard's rules.
        let old = hex::decode(
            "00000013000007020101000001000002010083840400\
01",
        )
        .unwrap();
        let mut r = Reader::default();
        r.push(&old);
        let got = r.next_event().unwrap().unwrap();
        let Event::Frame { update, keyframe } = got.event else {
            panic!("{got:?}");
        };
        assert!(keyframe);
        assert_eq!((update.seq, update.width, update.height), (7, 2, 1));
        assert_eq!(
            update.tiles[0].data,
            crate::screen::TileData::Solid(0x010203)
        );
        assert!(update.video.is_empty());
        // New frames are stored as the appended variant, and come back.
        let t = Timed {
            at_ms: 1,
            event: Event::Frame {
                update,
                keyframe: false,
            },
        };
        let bytes = encode(&t);
        assert_eq!(bytes[5], 4, "the frame-with-video variant");
        let mut r = Reader::default();
        r.push(&bytes);
        assert_eq!(r.next_event().unwrap().unwrap(), t);
    }
}
