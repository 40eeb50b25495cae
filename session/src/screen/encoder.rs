//! The host's side of the codec: successive screen images in, updates of
//! what changed out. It remembers what the viewer holds (exactly, and where
//! only a JPEG approximation) so that a still screen always ends exact.
//!
//! How lossy it may be, and how much of the exact refinement may go in
//! one update, is the host's choice from the link ([`Tuning`]); the
//! encoder itself knows nothing of bandwidth, and of time only what the
//! host tells it ([`Encoder::at`]; else it counts captures at a nominal
//! 30 a second): regions that keep moving go as video
//! ([`crate::video`]) once they have moved for a few updates in a row.

use super::image::{apply_copy, diff_box, tile_index, tiles_of, tiles_touching};
use super::tile::{MAX_PALETTE, encode_tile, more_colours_than, photographic};
use super::{CopyRect, FrameUpdate, Image, MAX_PICTURES, Photo, Picture, TILE, Tile, Video};
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
const EXACT: u8 = 0;
/// The viewer holds a good JPEG of the tile (quality [`FINE_QUALITY`] or more).
const FINE: u8 = 1;
/// The viewer holds a rough JPEG of the tile.
const COARSE: u8 = 2;
/// JPEG quality from which a picture counts as fine.
pub const FINE_QUALITY: u8 = 85;

/// How approximate a picture at `quality` leaves the viewer's copy.
fn level(quality: u8) -> u8 {
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
    /// JPEG approximation, `lossy` says so.
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
    /// `refine_after` captures, the tiles sent as JPEG go again exact, top
    /// to bottom, at most `refine_piece` bytes an update.
    pub fn still(&mut self) -> Option<FrameUpdate> {
        self.tick();
        self.refine()
    }

    fn refine(&mut self) -> Option<FrameUpdate> {
        self.quiet = self.quiet.saturating_add(1);
        if self.quiet < self.tuning.refine_after
            || self.tuning.refine_piece == 0
            || !self.refining()
        {
            return None;
        }
        let sent = self.sent.as_ref()?;
        let (width, height) = (sent.width, sent.height);
        let mut budget = self.tuning.refine_piece;
        // Coarse pictures first become fine ones, when asked; then exact.
        let sharpen = self
            .tuning
            .refine_quality
            .filter(|_| self.lossy.contains(&COARSE));
        let from = if sharpen.is_some() { COARSE } else { FINE };
        let (mut tiles, mut photos, mut pictures) = (Vec::new(), Vec::new(), Vec::new());
        // A run of tiles is cut so that one piece stays near the budget
        // (an exact photo tile costs about 6 KB, a sharpened one less).
        let most = (self.tuning.refine_piece / 6144).max(1);
        let runs = lossy_runs(width, height, &self.lossy, from)
            .into_iter()
            .flat_map(|r| split_run(r, most));
        for run in runs {
            // A viewer takes at most MAX_PICTURES pictures an update.
            if budget == 0 || pictures.len() == MAX_PICTURES {
                break;
            }
            let (spent, now) = match sharpen {
                Some(q) => match crate::picture::encode(sent, run.0, run.1, run.2, run.3, q) {
                    Ok(jpeg) => {
                        let n = jpeg.len();
                        let (x, y, w, h) = run;
                        pictures.push(Picture { x, y, w, h, jpeg });
                        (n, level(q))
                    }
                    Err(_) => (exact_run(sent, run, None, &mut tiles, &mut photos), EXACT),
                },
                None => (exact_run(sent, run, None, &mut tiles, &mut photos), EXACT),
            };
            budget = budget.saturating_sub(spent);
            for (x, y) in tiles_touching(run.0, run.1, run.2, run.3) {
                self.lossy[tile_index(width, x, y)] = now;
            }
        }
        let mut upd = self.update((width, height), false, Vec::new(), pictures, tiles);
        upd.photos = photos;
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
        let (photo, pictured) = classify(cur, &dirty);
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
        let (tiles, photos) = exact_tiles(sent, cur, &dirty, &photo, &covered, &mut self.lossy);
        let nothing = [copies.is_empty(), pictures.is_empty(), tiles.is_empty()];
        if nothing.iter().all(|n| *n) && photos.is_empty() && video.is_empty() {
            return None;
        }
        let mut upd = self.update((cur.width, cur.height), false, copies, pictures, tiles);
        upd.photos = photos;
        upd.video = video;
        Some(upd)
    }

    /// The whole screen: the first update, after a resize, or when the
    /// viewer asks. Exact, but for photo-like areas when `lossy_whole`
    /// allows a picture first (refined once the screen is still).
    fn whole(&mut self, cur: &Image) -> FrameUpdate {
        let all: Vec<Rect> = tiles_of(cur.width, cur.height).collect();
        let (photo, pictured) = classify(cur, &all);
        self.motion.end_stream();
        self.lossy = vec![EXACT; all.len()];
        self.quiet = 0;
        let t = self.tuning;
        let (pictures, covered) =
            pictures_over(cur, &all, &pictured, &mut self.lossy, t, t.lossy_whole);
        let (mut tiles, mut photos) = (Vec::new(), Vec::new());
        for run in exact_runs(&all, &photo, &covered) {
            let (x, y, w, h, photo) = run;
            exact_run(cur, (x, y, w, h), Some(photo), &mut tiles, &mut photos);
            // Sent exact after the picture: nothing to refine there.
            for (x, y) in tiles_touching(run.0, run.1, run.2, run.3) {
                self.lossy[tile_index(cur.width, x, y)] = EXACT;
            }
        }
        self.sent = Some(cur.clone());
        let mut upd = self.update((cur.width, cur.height), true, Vec::new(), pictures, tiles);
        upd.photos = photos;
        upd
    }

    fn update(
        &mut self,
        (width, height): (u32, u32),
        full: bool,
        copies: Vec<CopyRect>,
        pictures: Vec<Picture>,
        mut tiles: Vec<Tile>,
    ) -> FrameUpdate {
        self.seq += 1;
        self.refined = false;
        // Every tile sent is in `sent` by now: code them as one stream.
        if let Some(sent) = &self.sent {
            super::chain::chain_tiles(sent, &mut tiles);
        }
        FrameUpdate {
            seq: self.seq,
            width,
            height,
            full,
            copies,
            pictures,
            tiles,
            photos: vec![],
            video: vec![],
        }
    }
}

/// Dirty tiles, which of them are photographic, and when.
struct Moving<'a> {
    tiles: &'a [Rect],
    pictured: &'a [bool],
    now: u64,
}

/// The photographic tiles among the dirty ones as a video frame, when the
/// tuning allows pictures and video, they cover enough, and they have
/// kept moving over the same area; and which dirty tiles the frame covers
/// (wholly: a tile it only touches goes exact after it). Every tile it
/// touches becomes coarse: the frame replaces all its rectangle.
fn video_over(
    motion: &mut Motion,
    cur: &Image,
    m: &Moving<'_>,
    lossy: &mut [u8],
    t: Tuning,
) -> Option<(Video, Vec<bool>)> {
    if t.jpeg_quality.is_none() || area_of(m.tiles, m.pictured) < t.picture_min_pixels {
        return None;
    }
    let bx = bounding(m.tiles, m.pictured)?;
    if !motion.moved(bx, m.now) || t.video_bitrate == 0 {
        return None;
    }
    let v = motion.frame(cur, bx, m.now, t.video_bitrate)?;
    for (x, y) in tiles_touching(v.x, v.y, v.w, v.h) {
        lossy[tile_index(cur.width, x, y)] = COARSE;
    }
    let covered = m
        .tiles
        .iter()
        .map(|d| v.x <= d.0 && v.y <= d.1 && d.0 + d.2 <= v.x + v.w && d.1 + d.3 <= v.y + v.h)
        .collect();
    Some((v, covered))
}

/// The bounding box of the tiles flagged in `which`.
fn bounding(tiles: &[Rect], which: &[bool]) -> Option<Rect> {
    let mut flagged = tiles.iter().zip(which).filter(|(_, p)| **p).map(|(d, _)| d);
    let first = *flagged.next()?;
    let (x0, y0, x1, y1) = flagged.fold(
        (first.0, first.1, first.0 + first.2, first.1 + first.3),
        |(x0, y0, x1, y1), d| {
            (
                x0.min(d.0),
                y0.min(d.1),
                x1.max(d.0 + d.2),
                y1.max(d.1 + d.3),
            )
        },
    );
    Some((x0, y0, x1 - x0, y1 - y0))
}

/// A rectangle: x, y, width, height.
type Rect = (u32, u32, u32, u32);

/// For each tile: more colours than a palette holds (coded exact as a
/// photo band rather than raw), and photographic (worth a picture while it
/// changes; anti-aliased text is the first, not the second).
fn classify(img: &Image, tiles: &[Rect]) -> (Vec<bool>, Vec<bool>) {
    tiles
        .iter()
        .map(|&(x, y, w, h)| {
            let rich = more_colours_than(img, x, y, w, h, MAX_PALETTE);
            // Exact as tiles of the update's one stream, which codes even
            // photographs within 3% of a band (tests/benches/coders.rs).
            (false, rich && photographic(img, x, y, w, h))
        })
        .unzip()
}

/// Pictures over the photographic tiles among `tiles` when the tuning and
/// `allowed` let them and they cover enough, and which tiles they cover.
fn pictures_over(
    cur: &Image,
    tiles: &[Rect],
    pictured: &[bool],
    lossy: &mut [u8],
    t: Tuning,
    allowed: bool,
) -> (Vec<Picture>, Vec<bool>) {
    let pictures = match t.jpeg_quality {
        Some(q) if allowed && area_of(tiles, pictured) >= t.picture_min_pixels => {
            picture(cur, tiles, pictured, lossy, q)
        }
        _ => Vec::new(),
    };
    let covered = pictured
        .iter()
        .map(|p| *p && !pictures.is_empty())
        .collect();
    (pictures, covered)
}

/// Pixels of the tiles flagged in `which`.
fn area_of(tiles: &[Rect], which: &[bool]) -> usize {
    tiles
        .iter()
        .zip(which)
        .filter(|(_, p)| **p)
        .map(|(d, _)| (d.2 * d.3) as usize)
        .sum()
}

/// The tiles that differ between what the viewer has and `cur`, looking
/// only at those `hint` touches when given.
fn dirty_tiles(sent: &Image, cur: &Image, hint: Option<&[Rect]>) -> Vec<Rect> {
    let touched = |&(x, y, w, h): &Rect| {
        hint.is_none_or(|rects| {
            rects
                .iter()
                .any(|r| r.0 < x + w && x < r.0 + r.2 && r.1 < y + h && y < r.1 + r.3)
        })
    };
    tiles_of(cur.width, cur.height)
        .filter(touched)
        .filter(|&(x, y, w, h)| sent.tile_rows(x, y, w, h).ne(cur.tile_rows(x, y, w, h)))
        .collect()
}

/// A scroll among the dirty tiles, applied to `sent` as the viewer will
/// apply it. Moving an approximation spreads it: the copy's destination is
/// lossy wherever its source was.
fn scroll(sent: &mut Image, cur: &Image, dirty: &[Rect], lossy: &mut [u8]) -> Vec<CopyRect> {
    let index = |x: u32, y: u32| tile_index(cur.width, x, y);
    let copies: Vec<CopyRect> = crate::motion::find_scroll(sent, cur, dirty)
        .into_iter()
        .collect();
    for c in &copies {
        apply_copy(sent, c);
        let worst = tiles_touching(c.src_x, c.src_y, c.w, c.h)
            .map(|(x, y)| lossy[index(x, y)])
            .max()
            .unwrap_or(EXACT);
        for (x, y) in tiles_touching(c.x, c.y, c.w, c.h) {
            let l = &mut lossy[index(x, y)];
            *l = (*l).max(worst);
        }
    }
    copies
}

/// One JPEG (in bands) over the tile-aligned box of the photo-like tiles;
/// the tiles under it become lossy. Empty if encoding failed, and the
/// tiles then go exact.
fn picture(
    cur: &Image,
    dirty: &[Rect],
    photo: &[bool],
    lossy: &mut [u8],
    quality: u8,
) -> Vec<Picture> {
    let Some((x0, y0, w, h)) = bounding(dirty, photo) else {
        return Vec::new();
    };
    // Encoding a valid image cannot fail; if it did, the tiles go exact.
    match crate::picture::encode_bands(cur, x0, y0, w, h, quality) {
        Ok(bands) => {
            for (x, y) in tiles_touching(x0, y0, w, h) {
                lossy[tile_index(cur.width, x, y)] = level(quality);
            }
            bands
        }
        Err(_) => Vec::new(),
    }
}

/// Each changed tile, cut to what differs (whole, where the viewer holds an
/// approximation: it all has to be replaced), unless a picture carries it
/// (`covered`): photo-like ones as [`Photo`]s, the rest as tiles. `sent`
/// catches up with `cur` wherever anything was sent.
fn exact_tiles(
    sent: &mut Image,
    cur: &Image,
    dirty: &[Rect],
    photo: &[bool],
    covered: &[bool],
    lossy: &mut [u8],
) -> (Vec<Tile>, Vec<Photo>) {
    let (mut tiles, mut photos) = (Vec::new(), Vec::new());
    for ((&(x, y, w, h), &is_photo), &in_picture) in dirty.iter().zip(photo).zip(covered) {
        let index = tile_index(cur.width, x, y);
        let rect = if in_picture || lossy[index] != EXACT {
            Some((x, y, w, h))
        } else {
            diff_box(sent, cur, x, y, w, h)
        };
        let Some((x, y, w, h)) = rect else { continue };
        if !in_picture {
            if is_photo {
                push_photo(cur, (x, y, w, h), &mut tiles, &mut photos);
            } else {
                tiles.push(exact_tile(cur, x, y, w, h));
            }
            if (w, h) == (TILE.min(cur.width - x), TILE.min(cur.height - y)) {
                lossy[index] = EXACT;
            }
        }
        for row in y..y + h {
            let a = (row * cur.width + x) as usize;
            sent.pixels[a..a + w as usize].copy_from_slice(&cur.pixels[a..a + w as usize]);
        }
    }
    (tiles, photos)
}

fn exact_tile(img: &Image, x: u32, y: u32, w: u32, h: u32) -> Tile {
    Tile {
        x,
        y,
        w,
        h,
        data: encode_tile(img, x, y, w, h),
    }
}

/// One photo-like rectangle, exact; as raw tiles in the (never expected)
/// case that compressing it failed. Returns the bytes it costs.
fn push_photo(img: &Image, r: Rect, tiles: &mut Vec<Tile>, photos: &mut Vec<Photo>) -> usize {
    match crate::photo::encode(img, r.0, r.1, r.2, r.3) {
        Ok(p) => {
            let n = p.zstd.len();
            photos.push(p);
            n
        }
        Err(_) => tiles_touching(r.0, r.1, r.2, r.3)
            .map(|(x, y)| {
                let (w, h) = (TILE.min(img.width - x), TILE.min(img.height - y));
                let t = exact_tile(img, x, y, w, h);
                tiles.push(t);
                (w * h * 3) as usize
            })
            .sum(),
    }
}

/// A run of neighbouring tiles in one tile row, all photo-like or all not
/// (`true` for photo-like): exact as one band, or tile by tile.
type Run = (u32, u32, u32, u32, bool);

/// The runs of a whole frame's tiles that go exact (all but those a
/// picture covers).
fn exact_runs(all: &[Rect], photo: &[bool], covered: &[bool]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for ((&(x, y, w, h), &is_photo), &in_picture) in all.iter().zip(photo).zip(covered) {
        if in_picture {
            continue;
        }
        match runs.last_mut() {
            Some(r) if r.4 && is_photo && r.1 == y && r.0 + r.2 == x => r.2 += w,
            _ => runs.push((x, y, w, h, is_photo)),
        }
    }
    runs
}

/// The runs of tiles still held lossy, top to bottom; a run is photo-like
/// (one band) unless the screen there has few colours.
fn lossy_runs(width: u32, height: u32, lossy: &[u8], from: u8) -> Vec<(u32, u32, u32, u32)> {
    let mut runs: Vec<(u32, u32, u32, u32)> = Vec::new();
    for (x, y, w, h) in tiles_of(width, height) {
        if lossy[tile_index(width, x, y)] < from {
            continue;
        }
        match runs.last_mut() {
            Some(r) if r.1 == y && r.0 + r.2 == x => r.2 += w,
            _ => runs.push((x, y, w, h)),
        }
    }
    runs
}

/// `run` cut into runs of at most `most` tiles.
fn split_run(run: (u32, u32, u32, u32), most: usize) -> Vec<(u32, u32, u32, u32)> {
    let (x, y, w, h) = run;
    let step = TILE.saturating_mul(u32::try_from(most).unwrap_or(u32::MAX));
    (x..x + w)
        .step_by(step as usize)
        .map(|x0| (x0, y, step.min(x + w - x0), h))
        .collect()
}

/// Sends a run exact: as one [`Photo`] band where it is photo-like, else
/// tile by tile. Returns the bytes it costs.
/// `photo`: whether the run is photo-like, when already known.
fn exact_run(
    img: &Image,
    (x, y, w, h): Rect,
    photo: Option<bool>,
    tiles: &mut Vec<Tile>,
    photos: &mut Vec<Photo>,
) -> usize {
    let photo = photo.unwrap_or_else(|| more_colours_than(img, x, y, w, h, MAX_PALETTE));
    if photo {
        return push_photo(img, (x, y, w, h), tiles, photos);
    }
    tiles_touching(x, y, w, h)
        .map(|(tx, ty)| {
            let (tw, th) = (TILE.min(img.width - tx), TILE.min(img.height - ty));
            let t = exact_tile(img, tx, ty, tw, th);
            let n = t.data.payload_bytes();
            tiles.push(t);
            n
        })
        .sum()
}
