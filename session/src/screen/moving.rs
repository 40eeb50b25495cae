//! What of an update does not go exact: a scroll as copies, and
//! photographs that change over a large area as JPEG pictures or, once
//! they have kept moving over the same area, as a video frame
//! ([`crate::video::track`]). Each marks the tiles it leaves approximate
//! so that they are refined once the screen is still.

use super::encoder::{COARSE, EXACT, Tuning, level};
use super::exact::Rect;
use super::image::{apply_copy, tile_index, tiles_touching};
use super::tile::{MAX_PALETTE, more_colours_than, photographic};
use super::{CopyRect, Image, Picture, Video};
use crate::video::track::Motion;

/// Dirty tiles, which of them are photographic, and when.
pub(super) struct Moving<'a> {
    pub tiles: &'a [Rect],
    pub pictured: &'a [bool],
    pub now: u64,
}

/// The photographic tiles among the dirty ones as a video frame, when the
/// tuning allows pictures and video, they cover enough, and they have
/// kept moving over the same area; and which dirty tiles the frame covers
/// (wholly: a tile it only touches goes exact after it). Every tile it
/// touches becomes coarse: the frame replaces all its rectangle.
pub(super) fn video_over(
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

/// For each tile: whether it is photographic, worth a picture while it
/// changes (more colours than a palette holds, and many more:
/// anti-aliased text is the first, not the second). Exact, every tile
/// goes through the update's one stream, which codes even photographs
/// within 3% of a photo band (`tests/benches/coders.rs`).
pub(super) fn classify(img: &Image, tiles: &[Rect]) -> Vec<bool> {
    tiles
        .iter()
        .map(|&(x, y, w, h)| {
            more_colours_than(img, x, y, w, h, MAX_PALETTE) && photographic(img, x, y, w, h)
        })
        .collect()
}

/// Pictures over the photographic tiles among `tiles` when the tuning and
/// `allowed` let them and they cover enough, and which tiles they cover.
pub(super) fn pictures_over(
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
pub(super) fn area_of(tiles: &[Rect], which: &[bool]) -> usize {
    tiles
        .iter()
        .zip(which)
        .filter(|(_, p)| **p)
        .map(|(d, _)| (d.2 * d.3) as usize)
        .sum()
}

/// A scroll among the dirty tiles, applied to `sent` as the viewer will
/// apply it. Moving an approximation spreads it: the copy's destination is
/// lossy wherever its source was.
pub(super) fn scroll(
    sent: &mut Image,
    cur: &Image,
    dirty: &[Rect],
    lossy: &mut [u8],
) -> Vec<CopyRect> {
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
