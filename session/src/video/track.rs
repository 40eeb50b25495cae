//! The host's side of video: which region keeps moving, and the stream
//! that carries it. Pure logic around a [`VideoEncoder`]; the screen
//! encoder asks it, each update with moving pictures, whether they go as
//! video, and tells it when the viewer starts over.

use super::{VideoEncoder, fits};
use crate::screen::{Image, TILE, Video};

/// Updates in a row with moving pictures over overlapping boxes before
/// they go as video: a single change (a photo opened) stays a picture.
pub const VIDEO_AFTER: u32 = 3;
/// Stillness that does not end a motion: a slideshow that changes every
/// few tenths of a second keeps one stream.
pub const KEEP_MOVING_MS: u64 = 1_000;
/// Stillness after video before its region is refined exact: longer than
/// a slideshow's pause between pictures (refining each picture costs
/// megabytes that the next one throws away), short enough that the screen
/// is exact well within a second of the motion's end.
pub const SETTLE_MS: u64 = 400;
/// Time between captures the encoder assumes when not told the time.
pub const NOMINAL_FRAME_MS: u64 = 33;

/// A rectangle: x, y, width, height.
pub(crate) type Rect = (u32, u32, u32, u32);

/// The moving region and its stream.
#[derive(Debug, Default)]
pub(crate) struct Motion {
    /// Everything the current motion has covered, updates in a row that
    /// had it, and when it last moved.
    area: Option<Rect>,
    runs: u32,
    last_ms: u64,
    stream: Option<Stream>,
    next_id: u32,
    /// Frames coded, and key frames among them.
    pub frames: u64,
    pub keys: u64,
}

#[derive(Debug)]
struct Stream {
    id: u32,
    rect: Rect,
    codec: VideoEncoder,
}

impl Motion {
    /// Moving pictures over `bx` at `now_ms`: whether the motion has gone on
    /// long enough to be video.
    pub fn moved(&mut self, bx: Rect, now_ms: u64) -> bool {
        let alive = now_ms.saturating_sub(self.last_ms) <= KEEP_MOVING_MS;
        match self.area {
            Some(a) if alive && overlap(a, bx) => {
                self.area = Some(union(a, bx));
                self.runs = self.runs.saturating_add(1);
            }
            _ => {
                self.area = Some(bx);
                self.runs = 1;
            }
        }
        self.last_ms = now_ms;
        self.runs >= VIDEO_AFTER
    }

    /// Whether a motion long enough to go as video (whether or not it
    /// did: video may be off) moved within [`SETTLE_MS`] of `now_ms`: its
    /// region is not refined yet.
    pub fn settling(&self, now_ms: u64) -> bool {
        self.runs >= VIDEO_AFTER && now_ms.saturating_sub(self.last_ms) < SETTLE_MS
    }

    /// The viewer starts over (a whole frame, a resume) or a recording
    /// wants a fresh start: the next video frame opens a new stream.
    pub fn end_stream(&mut self) {
        self.stream = None;
    }

    /// The current motion as the next frame of its stream, over the box of
    /// `bx` (tile-aligned) on a `cur`-sized screen: the same stream while
    /// the box stays within it, else a new one over all the motion has
    /// covered. `None` when the box cannot be video or the codec failed
    /// (the caller sends pictures instead).
    pub fn frame(&mut self, cur: &Image, bx: Rect, now_ms: u64, bitrate: u32) -> Option<Video> {
        let within = self
            .stream
            .as_ref()
            // Compared as video would cover it: on an odd-sized screen the
            // box's last column is left out, and must not count as leaving.
            .is_some_and(|s| {
                even(bx, cur).is_some_and(|e| contains(s.rect, e)) && inside(s.rect, cur)
            });
        if !within {
            let rect = even(self.area.map_or(bx, |a| union(a, bx)), cur)?;
            let codec = VideoEncoder::new(rect.2, rect.3).ok()?;
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            self.stream = Some(Stream { id, rect, codec });
        }
        let s = self.stream.as_mut()?;
        match s.codec.encode(cur, s.rect, now_ms, bitrate, false) {
            Ok(e) => {
                self.frames += 1;
                self.keys += u64::from(e.key);
                let (x, y, w, h) = s.rect;
                Some(Video {
                    stream: s.id,
                    x,
                    y,
                    w,
                    h,
                    key: e.key,
                    h264: e.h264,
                })
            }
            Err(_) => {
                self.stream = None;
                None
            }
        }
    }
}

fn overlap(a: Rect, b: Rect) -> bool {
    a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
}

fn contains(a: Rect, b: Rect) -> bool {
    a.0 <= b.0 && a.1 <= b.1 && b.0 + b.2 <= a.0 + a.2 && b.1 + b.3 <= a.1 + a.3
}

fn inside(r: Rect, img: &Image) -> bool {
    r.0 + r.2 <= img.width && r.1 + r.3 <= img.height
}

fn union(a: Rect, b: Rect) -> Rect {
    let (x0, y0) = (a.0.min(b.0), a.1.min(b.1));
    let (x1, y1) = ((a.0 + a.2).max(b.0 + b.2), (a.1 + a.3).max(b.1 + b.3));
    (x0, y0, x1 - x0, y1 - y0)
}

/// `r` aligned to tiles, clamped to the screen, and grown by a pixel (or
/// cut, at the screen's edge) to even sides; `None` if it cannot be video.
fn even(r: Rect, img: &Image) -> Option<Rect> {
    let side = |start: u32, len: u32, edge: u32| {
        let a = start / TILE * TILE;
        let b = (start + len).div_ceil(TILE).saturating_mul(TILE).min(edge);
        let (mut a, b) = (a.min(b), b);
        if (b - a) % 2 == 1 {
            // Odd only where the screen ends: take a column before it.
            if a > 0 {
                a -= 1;
            } else {
                return (a, b - a - 1);
            }
        }
        (a, b - a)
    };
    let (x, w) = side(r.0, r.2, img.width);
    let (y, h) = side(r.1, r.3, img.height);
    fits(w, h).then_some((x, y, w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motion_needs_overlapping_boxes_in_a_row_and_survives_short_stillness() {
        let mut m = Motion::default();
        let bx = (0, 0, 640, 448);
        assert!(!m.moved(bx, 0));
        assert!(!m.moved((64, 64, 640, 448), 200));
        assert!(m.moved(bx, 400), "third overlapping box in a row");
        // A second of stillness between slides keeps it going.
        assert!(m.moved(bx, 400 + KEEP_MOVING_MS));
        // Longer ends it.
        assert!(!m.moved(bx, 2 * KEEP_MOVING_MS + 401));
        // Elsewhere starts over.
        assert!(!m.moved((1000, 600, 64, 64), 2 * KEEP_MOVING_MS + 450));
    }

    #[test]
    fn boxes_become_even_and_stay_on_the_screen() {
        let img = Image::new(1001, 1080).unwrap();
        assert_eq!(even((10, 10, 20, 20), &img), Some((0, 0, 64, 64)));
        // The last column is odd: the box takes one more pixel to its left.
        assert_eq!(even((960, 1024, 41, 56), &img), Some((959, 1024, 42, 56)));
        // A whole odd-wide screen: a column is left out.
        assert_eq!(even((0, 0, 1001, 1080), &img), Some((0, 0, 1000, 1080)));
        let tiny = Image::new(9, 9).unwrap();
        assert_eq!(even((0, 0, 9, 9), &tiny), None);
    }

    #[test]
    fn a_whole_odd_wide_screen_keeps_one_stream() {
        let mut img = Image::new(1001, 720).unwrap();
        let mut m = Motion::default();
        let bx = (0, 0, 1001, 720);
        let mut streams = Vec::new();
        for k in 0..4u32 {
            for (i, p) in img.pixels.iter_mut().enumerate() {
                *p = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(k * 77) & 0xff_ffff;
            }
            m.moved(bx, u64::from(k) * 33);
            if let Some(v) = m.frame(&img, bx, u64::from(k) * 33, 1_000_000) {
                streams.push((v.stream, v.w));
            }
        }
        assert!(!streams.is_empty());
        assert!(
            streams.iter().all(|s| *s == streams[0]),
            "a new stream each frame: {streams:?}"
        );
    }
}
