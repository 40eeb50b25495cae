//! The host's side of the codec: successive screen images in, updates of
//! what changed out. It remembers what the viewer holds (exactly, and where
//! only a JPEG approximation) so that a still screen always ends exact.

use super::image::{apply_copy, diff_box, tile_index, tiles_of, tiles_touching};
use super::tile::{MAX_PALETTE, encode_tile, more_colours_than};
use super::{CopyRect, FrameUpdate, Image, Picture, TILE, Tile};

/// Changed photo-like (raw) tiles covering at least this many pixels in one
/// update go as one JPEG picture while they keep changing: about a tenth
/// of a 1080p screen, so video and slideshows, not a small icon.
pub const PICTURE_MIN_PIXELS: usize = 200_000;
/// Captures in a row that find nothing new before pictures are resent exact.
pub const REFRESH_AFTER: u32 = 6;

/// Turns successive screen images into updates of what changed.
#[derive(Debug)]
pub struct Encoder {
    /// The screen as of the last update, exactly; where the viewer has a
    /// JPEG approximation, `lossy` says so.
    sent: Option<Image>,
    seq: u64,
    /// Per tile (row-major over the tile grid): the viewer holds a JPEG
    /// approximation there, to be resent exact once the screen is still.
    lossy: Vec<bool>,
    /// Captures in a row that found nothing new.
    quiet: u32,
    /// Whether pictures may be sent lossy at all.
    pictures: bool,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// A fresh encoder; its first update is whole and exact.
    pub fn new() -> Self {
        Self {
            sent: None,
            seq: 0,
            lossy: Vec::new(),
            quiet: 0,
            pictures: true,
        }
    }

    /// An encoder that never sends lossy pictures.
    pub fn lossless() -> Self {
        Self {
            pictures: false,
            ..Self::new()
        }
    }

    /// Forgets what the viewer has, so the next update is whole.
    pub fn reset(&mut self) {
        self.sent = None;
        self.lossy.clear();
    }

    /// A capture found the screen unchanged: once it has been still for
    /// [`REFRESH_AFTER`] captures, the tiles sent as JPEG go again exact.
    pub fn still(&mut self) -> Option<FrameUpdate> {
        self.quiet = self.quiet.saturating_add(1);
        if self.quiet < REFRESH_AFTER || !self.lossy.contains(&true) {
            return None;
        }
        let sent = self.sent.as_ref()?;
        let (width, height) = (sent.width, sent.height);
        let tiles: Vec<Tile> = tiles_of(width, height)
            .filter(|&(x, y, _, _)| self.lossy[tile_index(width, x, y)])
            .map(|(x, y, w, h)| Tile {
                x,
                y,
                w,
                h,
                data: encode_tile(sent, x, y, w, h),
            })
            .collect();
        self.lossy.fill(false);
        Some(self.update((width, height), false, Vec::new(), Vec::new(), tiles))
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
            return self.still();
        }
        self.quiet = 0;
        // Photo-like tiles (more colours than a palette holds) changing over
        // a large area: video or a slideshow. They go as one JPEG, and
        // neither exact encoding nor scroll search is spent on them.
        let photo: Vec<bool> = dirty
            .iter()
            .map(|&(x, y, w, h)| more_colours_than(cur, x, y, w, h, MAX_PALETTE))
            .collect();
        let photo_area: usize = dirty
            .iter()
            .zip(&photo)
            .filter(|(_, p)| **p)
            .map(|(d, _)| (d.2 * d.3) as usize)
            .sum();
        let (copies, pictures) = if self.pictures && photo_area >= PICTURE_MIN_PIXELS {
            (Vec::new(), picture(cur, &dirty, &photo, &mut self.lossy))
        } else {
            (scroll(sent, cur, &dirty, &mut self.lossy), Vec::new())
        };
        let covered = !pictures.is_empty();
        let tiles = exact_tiles(sent, cur, &dirty, &photo, covered, &mut self.lossy);
        if copies.is_empty() && pictures.is_empty() && tiles.is_empty() {
            return None;
        }
        Some(self.update((cur.width, cur.height), false, copies, pictures, tiles))
    }

    /// The whole screen, exact: the first update, or after a resize.
    fn whole(&mut self, cur: &Image) -> FrameUpdate {
        let tiles = tiles_of(cur.width, cur.height)
            .map(|(x, y, w, h)| Tile {
                x,
                y,
                w,
                h,
                data: encode_tile(cur, x, y, w, h),
            })
            .collect();
        self.sent = Some(cur.clone());
        self.lossy = vec![false; tiles_of(cur.width, cur.height).count()];
        self.quiet = 0;
        self.update((cur.width, cur.height), true, Vec::new(), Vec::new(), tiles)
    }

    fn update(
        &mut self,
        (width, height): (u32, u32),
        full: bool,
        copies: Vec<CopyRect>,
        pictures: Vec<Picture>,
        tiles: Vec<Tile>,
    ) -> FrameUpdate {
        self.seq += 1;
        FrameUpdate {
            seq: self.seq,
            width,
            height,
            full,
            copies,
            pictures,
            tiles,
        }
    }
}

/// A rectangle: x, y, width, height.
type Rect = (u32, u32, u32, u32);

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
fn scroll(sent: &mut Image, cur: &Image, dirty: &[Rect], lossy: &mut [bool]) -> Vec<CopyRect> {
    let index = |x: u32, y: u32| tile_index(cur.width, x, y);
    let copies: Vec<CopyRect> = crate::motion::find_scroll(sent, cur, dirty)
        .into_iter()
        .collect();
    for c in &copies {
        apply_copy(sent, c);
        if tiles_touching(c.src_x, c.src_y, c.w, c.h).any(|(x, y)| lossy[index(x, y)]) {
            for (x, y) in tiles_touching(c.x, c.y, c.w, c.h) {
                lossy[index(x, y)] = true;
            }
        }
    }
    copies
}

/// One JPEG (in bands) over the tile-aligned box of the photo-like tiles;
/// the tiles under it become lossy. Empty if encoding failed, and the
/// tiles then go exact.
fn picture(cur: &Image, dirty: &[Rect], photo: &[bool], lossy: &mut [bool]) -> Vec<Picture> {
    let boxes = || dirty.iter().zip(photo).filter(|(_, p)| **p).map(|(d, _)| d);
    let x0 = boxes().map(|d| d.0).min().unwrap_or(0);
    let y0 = boxes().map(|d| d.1).min().unwrap_or(0);
    let x1 = boxes().map(|d| d.0 + d.2).max().unwrap_or(0);
    let y1 = boxes().map(|d| d.1 + d.3).max().unwrap_or(0);
    // Encoding a valid image cannot fail; if it did, the tiles go exact.
    match crate::picture::encode_bands(cur, x0, y0, x1 - x0, y1 - y0) {
        Ok(bands) => {
            for (x, y) in tiles_touching(x0, y0, x1 - x0, y1 - y0) {
                lossy[tile_index(cur.width, x, y)] = true;
            }
            bands
        }
        Err(_) => Vec::new(),
    }
}

/// Each changed tile, cut to what differs (whole, where the viewer holds an
/// approximation: it all has to be replaced), unless a picture carries it
/// (`covered`); `sent` catches up with `cur` wherever anything was sent.
fn exact_tiles(
    sent: &mut Image,
    cur: &Image,
    dirty: &[Rect],
    photo: &[bool],
    covered: bool,
    lossy: &mut [bool],
) -> Vec<Tile> {
    let mut tiles = Vec::new();
    for (&(x, y, w, h), &is_photo) in dirty.iter().zip(photo) {
        let index = tile_index(cur.width, x, y);
        let in_picture = is_photo && covered;
        let rect = if in_picture || lossy[index] {
            Some((x, y, w, h))
        } else {
            diff_box(sent, cur, x, y, w, h)
        };
        let Some((x, y, w, h)) = rect else { continue };
        if !in_picture {
            tiles.push(Tile {
                x,
                y,
                w,
                h,
                data: encode_tile(cur, x, y, w, h),
            });
            if (w, h) == (TILE.min(cur.width - x), TILE.min(cur.height - y)) {
                lossy[index] = false;
            }
        }
        for row in y..y + h {
            let a = (row * cur.width + x) as usize;
            sent.pixels[a..a + w as usize].copy_from_slice(&cur.pixels[a..a + w as usize]);
        }
    }
    tiles
}
