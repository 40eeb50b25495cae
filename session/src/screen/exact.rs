//! The exact part of an update: which changed tiles go exact, cut to what
//! differs, and their coding, done once as they are collected: a tile of
//! one colour as [`TileData::Solid`], every other as its part of the
//! update's one zstd stream ([`super::chain`]).

use super::chain::ChainEncoder;
use super::encoder::EXACT;
use super::image::{diff_box, tile_index, tiles_of};
use super::tile::encode_tile;
use super::{Image, TILE, Tile, TileData};

/// A rectangle: x, y, width, height.
pub(super) type Rect = (u32, u32, u32, u32);

/// The exact tiles of one update, in the order the viewer decodes them.
#[derive(Default)]
pub(super) struct ExactTiles {
    /// The update's stream, made at its first tile of more than one
    /// colour; `Failed` once making or feeding it failed (never
    /// expected): the tiles after then go as [`encode_tile`] codes them.
    chain: Chain,
    tiles: Vec<Tile>,
}

#[derive(Default)]
enum Chain {
    #[default]
    NotYet,
    Open(Box<ChainEncoder>),
    Failed,
}

impl ExactTiles {
    /// Codes the rectangle of `img` exact after the tiles before it;
    /// returns the bytes it costs.
    pub(super) fn push(&mut self, img: &Image, (x, y, w, h): Rect) -> usize {
        let data = match solid(img, x, y, w, h) {
            Some(px) => TileData::Solid(px),
            None => self.chained(img, (x, y, w, h)),
        };
        let n = data.payload_bytes();
        self.tiles.push(Tile { x, y, w, h, data });
        n
    }

    fn chained(&mut self, img: &Image, (x, y, w, h): Rect) -> TileData {
        if matches!(self.chain, Chain::NotYet) {
            self.chain = match ChainEncoder::new() {
                Ok(enc) => Chain::Open(Box::new(enc)),
                Err(_) => Chain::Failed,
            };
        }
        if let Chain::Open(enc) = &mut self.chain {
            match enc.tile(img, x, y, w, h) {
                Ok(zstd) => return TileData::Chained { zstd },
                // What the stream holds so far decodes; nothing more goes in.
                Err(_) => self.chain = Chain::Failed,
            }
        }
        encode_tile(img, x, y, w, h)
    }

    /// Whether no tile was pushed.
    pub(super) fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    pub(super) fn into_tiles(self) -> Vec<Tile> {
        self.tiles
    }
}

/// The colour of the rectangle when all its pixels have it.
fn solid(img: &Image, x: u32, y: u32, w: u32, h: u32) -> Option<u32> {
    let first = *img.tile_rows(x, y, w, h).next()?.first()?;
    img.tile_rows(x, y, w, h)
        .all(|row| row.iter().all(|&p| p == first))
        .then_some(first)
}

/// The tiles that differ between what the viewer has and `cur`, looking
/// only at those `hint` touches when given.
pub(super) fn dirty_tiles(sent: &Image, cur: &Image, hint: Option<&[Rect]>) -> Vec<Rect> {
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

/// Each changed tile, cut to what differs (whole, where the viewer holds an
/// approximation: it all has to be replaced), into `exact` unless a
/// picture or video frame carries it (`covered`). `sent` catches up with
/// `cur` wherever anything was sent.
pub(super) fn exact_tiles(
    sent: &mut Image,
    cur: &Image,
    dirty: &[Rect],
    covered: &[bool],
    lossy: &mut [u8],
    exact: &mut ExactTiles,
) {
    for (&(x, y, w, h), &in_picture) in dirty.iter().zip(covered) {
        let index = tile_index(cur.width, x, y);
        let rect = if in_picture || lossy[index] != EXACT {
            Some((x, y, w, h))
        } else {
            diff_box(sent, cur, x, y, w, h)
        };
        let Some((x, y, w, h)) = rect else { continue };
        if !in_picture {
            exact.push(cur, (x, y, w, h));
            if (w, h) == (TILE.min(cur.width - x), TILE.min(cur.height - y)) {
                lossy[index] = EXACT;
            }
        }
        for row in y..y + h {
            let a = (row * cur.width + x) as usize;
            sent.pixels[a..a + w as usize].copy_from_slice(&cur.pixels[a..a + w as usize]);
        }
    }
}
