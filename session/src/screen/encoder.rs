//! The host's side of the codec: successive screen images in, updates of
//! what changed out. It remembers what the viewer holds (exactly, and where
//! only a JPEG or video approximation) so that a still screen always ends
//! exact.
//!
//! How lossy it may be, and how much of the exact refinement may go in
//! one update, is the host's choice from the link ([`Tuning`]); the
//! encoder itself knows nothing of bandwidth, and of time only what the
//! host tells it ([`Encoder::at`]; else it counts captures at a nominal
//! 30 a second): regions that keep moving go as video
//! ([`crate::video`]) once they have moved for a few updates in a row.

use super::exact::{ExactTiles, Rect, dirty_tiles, exact_tiles};
use super::image::{tile_index, tiles_of};
use super::moving::{Moving, area_of, classify, pictures_over, scroll, video_over};
use super::{CopyRect, FrameUpdate, Image, Picture, refine};
use crate::video::track::{Motion, NOMINAL_FRAME_MS};

/// Changed photo-like (raw) tiles covering at least this many pixels in one
/// update go as one JPEG picture while they keep changing: about a tenth
/// of a 1080p screen, so video and slideshows, not a small icon.
pub const PICTURE_MIN_PIXELS: usize = 200_000;
/// Captures in a row that find nothing new before pictures are resent exact.
pub const REFRESH_AFTER: u32 = 6;
/// Video bits a second by default (a fast link): 1080p video looks good.
pub const VIDEO_BITRATE: u32 = 4_000_000;

/// The viewer's copy of a tile is exact.
pub(super) const EXACT: u8 = 0;
/// The viewer holds a good JPEG of the tile (quality [`FINE_QUALITY`] or more).
pub(super) const FINE: u8 = 1;
/// The viewer holds a rough JPEG of the tile (or a video frame).
pub(super) const COARSE: u8 = 2;
/// JPEG quality from which a picture counts as fine.
pub const FINE_QUALITY: u8 = 85;

/// How approximate a picture at `quality` leaves the viewer's copy.
pub(super) fn level(quality: u8) -> u8 {
    if quality >= FINE_QUALITY {
        FINE
    } else {
        COARSE
    }
}

/// Turns successive screen images into updates of what changed.
#[derive(Debug)]
pub struct Encoder {
    /// The screen as of the last update, exactly; where the viewer has a
    /// JPEG or video approximation, `lossy` says so.
    sent: Option<Image>,
    seq: u64,
    /// Per tile (row-major over the tile grid): how approximate the
    /// viewer's copy is there ([`EXACT`], [`FINE`] or [`COARSE`]); what is
    /// not exact is resent once the screen is still.
    lossy: Vec<u8>,
    /// Captures in a row that found nothing new.
    quiet: u32,
    tuning: Tuning,
    /// The last update only refined what the viewer had.
    refined: bool,
    /// The region that keeps moving, and its video stream.
    motion: Motion,
    /// The time of the next capture, when the host said; and of the last.
    clock: Option<u64>,
    now_ms: u64,
}

/// How the encoder trades exactness for bytes; the host sets it from the
/// link and the technician's quality setting before each capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// JPEG quality for photo-like regions; `None`: never lossy.
    pub jpeg_quality: Option<u8>,
    /// Photo-like pixels changing in one update from which they go as a
    /// picture rather than exact.
    pub picture_min_pixels: usize,
    /// Whether a whole frame (the first, or one asked for) may send its
    /// photo-like areas as pictures too, refined afterwards: a slow link
    /// then shows the screen in a second instead of many.
    pub lossy_whole: bool,
    /// Captures in a row that find nothing new before refinement starts.
    pub refine_after: u32,
    /// Most encoded bytes of refinement in one update (at least one tile
    /// or band goes), so a refinement never holds the link for long; 0
    /// holds refinement back (the link is busy).
    pub refine_piece: usize,
    /// Progressive refinement: coarse pictures are first resent as JPEG
    /// at this quality (a slow link shows a sharp screen long before the
    /// exact one), then exact. `None`: straight to exact.
    pub refine_quality: Option<u8>,
    /// Bits a second a moving region sent as video may take; 0: never
    /// video. The host sets it from the link's measured rate. Pictures
    /// that keep moving over the same area for a few updates go as H.264
    /// at about this rate; needs `jpeg_quality` (lossy allowed).
    pub video_bitrate: u32,
}

impl Default for Tuning {
    /// Pictures at quality 70 for large changing areas, refined exact at
    /// once after [`REFRESH_AFTER`] quiet captures: right for a fast link.
    fn default() -> Self {
        Self {
            jpeg_quality: Some(crate::picture::QUALITY),
            picture_min_pixels: PICTURE_MIN_PIXELS,
            lossy_whole: false,
            refine_after: REFRESH_AFTER,
            refine_piece: usize::MAX,
            refine_quality: None,
            video_bitrate: VIDEO_BITRATE,
        }
    }
}

impl Tuning {
    /// Never lossy: every update exact.
    pub fn exact() -> Self {
        Self {
            jpeg_quality: None,
            video_bitrate: 0,
            ..Self::default()
        }
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// A fresh encoder with [`Tuning::default`]; its first update is whole.
    pub fn new() -> Self {
        Self {
            sent: None,
            seq: 0,
            lossy: Vec::new(),
            quiet: 0,
            tuning: Tuning::default(),
            refined: false,
            motion: Motion::default(),
            clock: None,
            now_ms: 0,
        }
    }

    /// The time of the next capture (`encode`, `encode_within` or `still`)
    /// in milliseconds from any fixed start. Only how long a region keeps
    /// moving, and the video's rate control, use it; without it each
    /// capture counts as 33 ms.
    pub fn at(&mut self, at_ms: u64) {
        self.clock = Some(at_ms);
    }

    fn tick(&mut self) -> u64 {
        self.now_ms = match self.clock.take() {
            Some(t) => t.max(self.now_ms),
            None => self.now_ms + NOMINAL_FRAME_MS,
        };
        self.now_ms
    }

    /// The next video frame starts a new stream with a key frame (a
    /// recording took a whole frame and may be played from there).
    pub fn restart_video(&mut self) {
        self.motion.end_stream();
    }

    /// Video frames coded so far, and key frames among them.
    pub fn video_frames(&self) -> (u64, u64) {
        (self.motion.frames, self.motion.keys)
    }

    /// An encoder that never sends lossy pictures.
    pub fn lossless() -> Self {
        let mut e = Self::new();
        e.tune(Tuning::exact());
        e
    }

    /// Sets how lossy the next updates may be.
    pub fn tune(&mut self, tuning: Tuning) {
        self.tuning = tuning;
    }

    /// Forgets what the viewer has, so the next update is whole (and the
    /// next video frame starts a new stream).
    pub fn reset(&mut self) {
        self.sent = None;
        self.lossy.clear();
        self.motion.end_stream();
    }

    /// Whether the last update came from [`Encoder::still`]: it only
    /// refines what the viewer has, nothing was drawn.
    pub fn refined(&self) -> bool {
        self.refined
    }

    /// Whether the viewer still holds an approximation somewhere.
    pub fn refining(&self) -> bool {
        self.lossy.iter().any(|&l| l != EXACT)
    }

    /// A capture found the screen unchanged: once it has been still for
    /// `refine_after` captures (and a motion long enough for video has
    /// been still for 0.4 s, `SETTLE_MS`), the tiles sent as JPEG or
    /// video go again exact, top to bottom, at most `refine_piece` bytes an
    /// update.
    pub fn still(&mut self) -> Option<FrameUpdate> {
        self.tick();
        self.refine()
    }

    fn refine(&mut self) -> Option<FrameUpdate> {
        self.quiet = self.quiet.saturating_add(1);
        if self.quiet < self.tuning.refine_after
            || self.tuning.refine_piece == 0
            || !self.refining()
            || self.motion.settling(self.now_ms)
        {
            return None;
        }
        let sent = self.sent.as_ref()?;
        let size = (sent.width, sent.height);
        let mut exact = ExactTiles::default();
        let pictures = refine::piece(sent, &mut self.lossy, self.tuning, &mut exact);
        let upd = self.update(size, false, Vec::new(), pictures, exact);
        self.refined = true;
        Some(upd)
    }

    /// The update taking the viewer from the last sent image to `cur`, or
    /// `None` when nothing changed (an idle screen costs no frame bytes).
    pub fn encode(&mut self, cur: &Image) -> Option<FrameUpdate> {
        self.encode_hinted(cur, None)
    }

    /// [`Encoder::encode`] when only `rects` (x, y, w, h) can have changed:
    /// only the tiles they touch are compared.
    pub fn encode_within(
        &mut self,
        cur: &Image,
        rects: &[(u32, u32, u32, u32)],
    ) -> Option<FrameUpdate> {
        self.encode_hinted(cur, Some(rects))
    }

    fn encode_hinted(&mut self, cur: &Image, hint: Option<&[Rect]>) -> Option<FrameUpdate> {
        let now = self.tick();
        let same_size = self
            .sent
            .as_ref()
            .is_some_and(|s| s.width == cur.width && s.height == cur.height);
        if !same_size {
            return Some(self.whole(cur));
        }
        let sent = self.sent.as_mut()?;
        let dirty = dirty_tiles(sent, cur, hint);
        if dirty.is_empty() {
            return self.refine();
        }
        self.quiet = 0;
        // Photographic tiles changing over a large area: video or a
        // slideshow. They go as one JPEG, not exact.
        let pictured = classify(cur, &dirty);
        let t = self.tuning;
        // Nearly all photographs changing (video, a slideshow): no scroll
        // search (it costs a hash of both images). Anything else, a
        // terminal scrolled over a photo wallpaper among it, is searched
        // for a scroll first.
        let dirty_area: usize = dirty.iter().map(|d| (d.2 * d.3) as usize).sum();
        let moving_pictures = area_of(&dirty, &pictured) * 10 >= dirty_area * 9;
        let copies = if moving_pictures {
            Vec::new()
        } else {
            scroll(sent, cur, &dirty, &mut self.lossy)
        };
        let moving = Moving {
            tiles: &dirty,
            pictured: &pictured,
            now,
        };
        let video = match copies.is_empty() {
            true => video_over(&mut self.motion, cur, &moving, &mut self.lossy, t),
            false => None,
        };
        let (video, pictures, covered) = match video {
            Some((v, covered)) => (vec![v], Vec::new(), covered),
            None => {
                let allowed = copies.is_empty();
                let (p, c) = pictures_over(cur, &dirty, &pictured, &mut self.lossy, t, allowed);
                (Vec::new(), p, c)
            }
        };
        let mut exact = ExactTiles::default();
        exact_tiles(sent, cur, &dirty, &covered, &mut self.lossy, &mut exact);
        if copies.is_empty() && pictures.is_empty() && exact.is_empty() && video.is_empty() {
            return None;
        }
        let mut upd = self.update((cur.width, cur.height), false, copies, pictures, exact);
        upd.video = video;
        Some(upd)
    }

    /// The whole screen: the first update, after a resize, or when the
    /// viewer asks. Exact, but for photo-like areas when `lossy_whole`
    /// allows a picture first (refined once the screen is still).
    fn whole(&mut self, cur: &Image) -> FrameUpdate {
        let all: Vec<Rect> = tiles_of(cur.width, cur.height).collect();
        let pictured = classify(cur, &all);
        self.motion.end_stream();
        self.lossy = vec![EXACT; all.len()];
        self.quiet = 0;
        let t = self.tuning;
        let (pictures, covered) =
            pictures_over(cur, &all, &pictured, &mut self.lossy, t, t.lossy_whole);
        let mut exact = ExactTiles::default();
        // The rest exact, after the pictures: nothing to refine there,
        // even within a picture's box.
        for (&(x, y, w, h), _) in all.iter().zip(&covered).filter(|(_, c)| !**c) {
            exact.push(cur, (x, y, w, h));
            self.lossy[tile_index(cur.width, x, y)] = EXACT;
        }
        self.sent = Some(cur.clone());
        self.update((cur.width, cur.height), true, Vec::new(), pictures, exact)
    }

    fn update(
        &mut self,
        (width, height): (u32, u32),
        full: bool,
        copies: Vec<CopyRect>,
        pictures: Vec<Picture>,
        exact: ExactTiles,
    ) -> FrameUpdate {
        self.seq += 1;
        self.refined = false;
        FrameUpdate {
            seq: self.seq,
            width,
            height,
            full,
            copies,
            pictures,
            tiles: exact.into_tiles(),
            photos: vec![],
            video: vec![],
        }
    }
}
