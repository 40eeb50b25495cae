//! The exact coding of an update's tiles through one zstd stream
//! ([`super::TileData::Chained`]): each tile's pixels go in as a palette of up to
//! 16 colours with packed indices, or as predicted colour planes, and the
//! stream is flushed after each tile, so a tile's bytes are its own but
//! may refer back to any earlier tile of the same update. Text repeats
//! across a screen (the same glyphs, the same backgrounds): one stream
//! codes a terminal desktop in about half the bytes of tiles compressed
//! one by one, and in fewer than x11vnc's ZRLE (issue #29; the figures
//! and the coders measured are in `tests/benches/coders.rs`).
//!
//! Tiles of one update are decoded in order with one [`ChainDecoder`]:
//! every length is checked, a tile may not inflate past its own pixels,
//! and the stream's window is bounded ([`WINDOW_LOG`]).

use std::io;

use zstd::stream::raw::{CParameter, DParameter, Decoder, Encoder, InBuffer, Operation, OutBuffer};

use super::tile::{MAX_PALETTE, bits_for};
use super::{Image, ScreenError, Tile};
use crate::photo::predict;

/// zstd level: on screens 1 was both smallest for photo-like tiles and
/// fast; text gains a little from higher levels, photos lose.
const LEVEL: i32 = 1;
/// The stream's window (2^20 = 1 MiB): the most a viewer holds for it,
/// and how far back a tile may refer (about a tile row of a 1080p screen
/// of photographs, the whole of one of text).
pub(crate) const WINDOW_LOG: u32 = 20;

/// A tile's planes predicted from the left neighbour (flat areas, text).
const LEFT: u8 = 0x40;
/// A tile's planes predicted as [`crate::photo`] does (photographs).
const PHOTO: u8 = 0x41;

/// The most bytes one tile's part of the stream may inflate to: its
/// planes, or (for a tile of a few pixels, more) a full palette and its
/// indices.
fn most_bytes(w: usize, h: usize) -> usize {
    1 + 3 * MAX_PALETTE + 3 * w * h
}

/// Whether at least half of the tile's pixels equal their left neighbour:
/// text and UI (flat areas), where the left prediction wins; photographs
/// have almost none.
fn flat(img: &Image, x: u32, y: u32, w: u32, h: u32) -> bool {
    let same: usize = img
        .tile_rows(x, y, w, h)
        .map(|row| row.windows(2).filter(|p| p[0] == p[1]).count())
        .sum();
    same * 2 >= (w * h) as usize
}

/// What pixel `i` of a `w`-wide plane is predicted as, from pixels
/// before it: its left neighbour (else the one above) for [`LEFT`], the
/// photo predictor otherwise. The encoder subtracts it, the decoder adds
/// it back: one function, so the two cannot drift apart.
fn guess(kind: u8, plane: &[u8], w: usize, i: usize) -> u8 {
    let (xx, yy) = (i % w, i / w);
    match kind {
        LEFT if xx > 0 => plane[i - 1],
        LEFT if yy > 0 => plane[i - w],
        LEFT => 0,
        _ => predict(plane, w, xx, yy),
    }
}

/// The uncompressed form of one tile: a kind byte, then a palette and
/// packed indices, or three predicted planes.
fn tile_bytes(img: &Image, x: u32, y: u32, w: u32, h: u32, out: &mut Vec<u8>) {
    out.clear();
    let (wu, hu) = (w as usize, h as usize);
    let colors = super::tile::colours(img, x, y, w, h);
    if colors.len() <= MAX_PALETTE {
        out.push(colors.len() as u8);
        for c in &colors {
            out.extend_from_slice(&[(c >> 16) as u8, (c >> 8) as u8, *c as u8]);
        }
        let bits = bits_for(colors.len());
        let per_byte = (8 / bits) as usize;
        let row_bytes = wu.div_ceil(per_byte);
        for row in img.tile_rows(x, y, w, h) {
            let start = out.len();
            out.resize(start + row_bytes, 0);
            let mut last = (colors[0], 0u8);
            for (c, &px) in row.iter().enumerate() {
                if px != last.0 {
                    let i = colors.iter().position(|&k| k == px).unwrap_or(0) as u8;
                    last = (px, i);
                }
                let shift = 8 - bits * (c % per_byte + 1) as u32;
                out[start + c / per_byte] |= last.1 << shift;
            }
        }
        return;
    }
    let kind = if flat(img, x, y, w, h) { LEFT } else { PHOTO };
    out.push(kind);
    let n = wu * hu;
    out.resize(1 + 3 * n, 0);
    let planes = &mut out[1..];
    crate::photo::split_planes(img, (x, y, w, h), planes);
    // Residuals in place, from the last pixel back, so every prediction
    // reads original values.
    for plane in planes.chunks_exact_mut(n) {
        for i in (0..n).rev() {
            plane[i] = plane[i].wrapping_sub(guess(kind, plane, wu, i));
        }
    }
}

/// Codes an update's tiles, in order, into one stream.
pub(crate) struct ChainEncoder {
    zstd: Encoder<'static>,
    raw: Vec<u8>,
    out: Vec<u8>,
}

impl ChainEncoder {
    pub(crate) fn new() -> io::Result<Self> {
        let mut zstd = Encoder::new(LEVEL)?;
        zstd.set_parameter(CParameter::WindowLog(WINDOW_LOG))?;
        Ok(Self {
            zstd,
            raw: Vec::new(),
            out: vec![0; 1 << 16],
        })
    }

    /// The rectangle's part of the stream, flushed.
    pub(crate) fn tile(
        &mut self,
        img: &Image,
        x: u32,
        y: u32,
        w: u32,
        h: u32,
    ) -> io::Result<Vec<u8>> {
        tile_bytes(img, x, y, w, h, &mut self.raw);
        let mut coded = Vec::new();
        let mut input = InBuffer::around(&self.raw);
        while input.pos() < self.raw.len() {
            let mut out = OutBuffer::around(&mut self.out[..]);
            self.zstd.run(&mut input, &mut out)?;
            coded.extend_from_slice(out.as_slice());
        }
        loop {
            let mut out = OutBuffer::around(&mut self.out[..]);
            let left = self.zstd.flush(&mut out)?;
            coded.extend_from_slice(out.as_slice());
            if left == 0 {
                return Ok(coded);
            }
        }
    }
}

/// Decodes an update's chained tiles, in the order they came.
#[derive(Default)]
pub(crate) struct ChainDecoder {
    zstd: Option<Decoder<'static>>,
    raw: Vec<u8>,
}

fn corrupt(what: impl std::fmt::Display) -> ScreenError {
    ScreenError::Corrupt(format!("chained tile: {what}"))
}

impl ChainDecoder {
    /// Inflates the tile's part of the stream into `self.raw`: exactly
    /// what it holds, never more than the tile's pixels allow.
    fn inflate(&mut self, data: &[u8], most: usize) -> Result<(), ScreenError> {
        if self.zstd.is_none() {
            let mut d = Decoder::new().map_err(corrupt)?;
            d.set_parameter(DParameter::WindowLogMax(WINDOW_LOG))
                .map_err(corrupt)?;
            self.zstd = Some(d);
        }
        let Some(zstd) = self.zstd.as_mut() else {
            return Err(corrupt("no decoder"));
        };
        // One byte more than allowed, to tell "too long" from "just fits".
        self.raw.clear();
        self.raw.resize(most + 1, 0);
        let mut input = InBuffer::around(data);
        let mut out = OutBuffer::around(&mut self.raw[..]);
        loop {
            let before = (input.pos(), out.pos());
            zstd.run(&mut input, &mut out).map_err(corrupt)?;
            if out.pos() > most {
                return Err(corrupt("inflates past its pixels"));
            }
            if (input.pos(), out.pos()) == before {
                break;
            }
        }
        if input.pos() < data.len() {
            return Err(corrupt("data left over"));
        }
        let n = out.pos();
        self.raw.truncate(n);
        Ok(())
    }

    /// Decodes `t` (its data `zstd`) into `img`; `t` lies within it.
    pub(crate) fn tile(
        &mut self,
        img: &mut Image,
        t: &Tile,
        zstd: &[u8],
    ) -> Result<(), ScreenError> {
        let (w, h) = (t.w as usize, t.h as usize);
        self.inflate(zstd, most_bytes(w, h))?;
        let raw = &self.raw;
        let kind = *raw.first().ok_or_else(|| corrupt("empty"))?;
        let width = img.width as usize;
        let at = |r: usize| (t.y as usize + r) * width + t.x as usize;
        match kind {
            1..=16 => {
                let n = usize::from(kind);
                let bits = bits_for(n) as usize;
                let per_byte = 8 / bits;
                let row_bytes = w.div_ceil(per_byte);
                if raw.len() != 1 + 3 * n + row_bytes * h {
                    return Err(corrupt("palette tile has the wrong length"));
                }
                let colors: Vec<u32> = raw[1..1 + 3 * n]
                    .chunks_exact(3)
                    .map(|p| u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]))
                    .collect();
                let packed = &raw[1 + 3 * n..];
                let mask = (1u8 << bits) - 1;
                for r in 0..h {
                    let row = &packed[r * row_bytes..(r + 1) * row_bytes];
                    let a = at(r);
                    for (c, dst) in img.pixels[a..a + w].iter_mut().enumerate() {
                        let idx = (row[c / per_byte] >> (8 - bits * (c % per_byte + 1))) & mask;
                        *dst = *colors
                            .get(usize::from(idx))
                            .ok_or_else(|| corrupt("palette index out of range"))?;
                    }
                }
            }
            LEFT | PHOTO => {
                let n = w * h;
                if raw.len() != 1 + 3 * n {
                    return Err(corrupt("predicted tile has the wrong length"));
                }
                let planes = &mut self.raw[1..];
                for plane in planes.chunks_exact_mut(n) {
                    for i in 0..n {
                        plane[i] = plane[i].wrapping_add(guess(kind, plane, w, i));
                    }
                }
                let planes = &self.raw[1..];
                for r in 0..h {
                    let a = at(r);
                    for (c, dst) in img.pixels[a..a + w].iter_mut().enumerate() {
                        let i = r * w + c;
                        *dst = u32::from(planes[i]) << 16
                            | u32::from(planes[n + i]) << 8
                            | u32::from(planes[2 * n + i]);
                    }
                }
            }
            k => return Err(corrupt(format!("kind {k} is not defined"))),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::TileData;
    use super::*;

    /// Text-like: a flat background, glyph-ish strokes in a few colours,
    /// anti-aliased edges (many shades) on the right half.
    fn desktop(w: u32, h: u32) -> Image {
        let pixels = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let stroke = (x % 7 == 2 || y % 11 == 4) && (x / 7 + y / 11) % 3 != 0;
                match (stroke, x >= w / 2) {
                    (false, _) => 0x001e_1e1e,
                    (true, false) => [0x00d4_d4d4, 0x0000_ff00, 0x0000_ffff][(x / 40 % 3) as usize],
                    (true, true) => (x * 7 + y * 3) % 251 * 0x0001_0101,
                }
            })
            .collect();
        Image {
            width: w,
            height: h,
            pixels,
        }
    }

    fn grainy(w: u32, h: u32) -> Image {
        let mut g = 7u32;
        let pixels = (0..w * h)
            .map(|i| {
                g ^= g << 13;
                g ^= g >> 17;
                g ^= g << 5;
                let (x, y) = (i % w, i / w);
                ((x * 255 / w) << 16 | (y * 255 / h) << 8 | ((x + y) / 12 % 256))
                    ^ (g & 0x0003_0303)
            })
            .collect();
        Image {
            width: w,
            height: h,
            pixels,
        }
    }

    fn tiles_of(img: &Image, rects: &[(u32, u32, u32, u32)]) -> Vec<Tile> {
        let mut exact = super::super::exact::ExactTiles::default();
        for &r in rects {
            exact.push(img, r);
        }
        exact.into_tiles()
    }

    fn decode_all(width: u32, height: u32, tiles: &[Tile]) -> Result<Image, ScreenError> {
        let mut out = Image::new(width, height)?;
        let mut chain = ChainDecoder::default();
        for t in tiles {
            super::super::tile::decode_tile(&mut out, t, &mut chain)?;
        }
        Ok(out)
    }

    #[test]
    fn every_kind_of_tile_round_trips_exactly() {
        for img in [desktop(200, 130), grainy(200, 130)] {
            let rects = [
                (0, 0, 64, 64),
                (64, 0, 64, 64),
                (128, 0, 64, 64),
                (192, 0, 8, 64),
                (0, 64, 64, 64),
                (100, 64, 64, 64),
                (3, 128, 2, 1),
                (10, 128, 1, 2),
                (190, 100, 10, 30),
                (17, 70, 5, 1),
            ];
            let tiles = tiles_of(&img, &rects);
            assert!(
                tiles
                    .iter()
                    .all(|t| matches!(t.data, TileData::Chained { .. } | TileData::Solid(_)))
            );
            let out = decode_all(200, 130, &tiles).unwrap();
            for &(x, y, w, h) in &rects {
                assert!(
                    out.tile_rows(x, y, w, h).eq(img.tile_rows(x, y, w, h)),
                    "{x},{y} {w}×{h}"
                );
            }
        }
        // Palettes of every width, the stream shared between them.
        for n in [2u32, 3, 4, 5, 16] {
            let pixels = (0..100 * 40).map(|i| (i * 31 % n) * 0x0001_0203).collect();
            let img = Image {
                width: 100,
                height: 40,
                pixels,
            };
            let tiles = tiles_of(&img, &[(0, 0, 64, 40), (64, 0, 36, 40)]);
            assert_eq!(decode_all(100, 40, &tiles).unwrap(), img, "{n} colours");
        }
    }

    #[test]
    fn one_stream_codes_text_smaller_than_tiles_alone() {
        let img = desktop(640, 128);
        let rects: Vec<_> = (0..10)
            .flat_map(|tx| (0..2).map(move |ty| (tx * 64, ty * 64, 64, 64)))
            .collect();
        let chained: usize = tiles_of(&img, &rects)
            .iter()
            .map(|t| t.data.payload_bytes())
            .sum();
        let alone: usize = rects
            .iter()
            .map(|&(x, y, w, h)| {
                let mut enc = ChainEncoder::new().unwrap();
                enc.tile(&img, x, y, w, h).unwrap().len()
            })
            .sum();
        assert!(chained * 5 < alone * 4, "{chained} vs {alone}");
    }

    #[test]
    fn the_wire_form_is_pinned() {
        let t = Tile {
            x: 64,
            y: 0,
            w: 2,
            h: 1,
            data: TileData::Chained {
                zstd: vec![0x28, 0xb5],
            },
        };
        let bytes = postcard::to_allocvec(&t).unwrap();
        // x 64, y 0, 2×1; variant 3 (appended after Raw), 2 bytes.
        assert_eq!(hex::encode(&bytes), "40000201030228b5");
        // A stream made by this coder (zstd 1.5, level 1) stays readable:
        // a 2×1 tile of two colours, then a 2×1 of photo planes.
        let img = Image {
            width: 2,
            height: 2,
            pixels: vec![0x00ff_0000, 0x0000_00ff, 0x0012_3456, 0x0065_4321],
        };
        let tiles = tiles_of(&img, &[(0, 0, 2, 1), (0, 1, 2, 1)]);
        let hexes: Vec<String> = tiles
            .iter()
            .map(|t| match &t.data {
                TileData::Chained { zstd } => hex::encode(zstd),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(hexes, PINNED);
        let pinned: Vec<Tile> = tiles
            .iter()
            .zip(PINNED)
            .map(|(t, h)| Tile {
                data: TileData::Chained {
                    zstd: hex::decode(h).unwrap(),
                },
                ..t.clone()
            })
            .collect();
        assert_eq!(decode_all(2, 2, &pinned).unwrap(), img);
    }

    const PINNED: [&str; 2] = [
        "28b52ffd005040000002ff00000000ff40",
        "4000000212345665432140",
    ];

    /// The start of a stream (size unknown) with a 2^27 window.
    fn wide_window() -> Vec<u8> {
        let mut enc = Encoder::new(1).unwrap();
        enc.set_parameter(CParameter::WindowLog(27)).unwrap();
        let raw = vec![7u8; 100];
        let mut out = vec![0u8; 1024];
        let mut input = InBuffer::around(&raw);
        let mut ob = OutBuffer::around(&mut out[..]);
        enc.run(&mut input, &mut ob).unwrap();
        enc.flush(&mut ob).unwrap();
        let n = ob.pos();
        out.truncate(n);
        out
    }

    #[test]
    fn hostile_streams_are_refused_without_panic() {
        let img = desktop(128, 64);
        let tiles = tiles_of(&img, &[(0, 0, 64, 64), (64, 0, 64, 64)]);
        let data = |t: &Tile| match &t.data {
            TileData::Chained { zstd } => zstd.clone(),
            _ => Vec::new(),
        };
        let with = |t: &Tile, zstd: Vec<u8>, w: u32, h: u32| Tile {
            w,
            h,
            data: TileData::Chained { zstd },
            ..t.clone()
        };
        let (a, b) = (&tiles[0], &tiles[1]);
        let cases: Vec<Vec<Tile>> = vec![
            // Out of order: the second needs the first.
            vec![b.clone(), a.clone()],
            // A tile's data given to a smaller tile: inflates past it.
            vec![with(a, data(a), 8, 8)],
            // Says fewer pixels than the data holds, or more.
            vec![with(a, data(a), 64, 63)],
            vec![with(a, data(a), 32, 64)],
            // Cut short, doubled, garbage, nothing.
            vec![with(a, data(a)[..data(a).len() / 2].to_vec(), 64, 64)],
            vec![with(a, [data(a), data(a)].concat(), 64, 64)],
            vec![with(a, vec![0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5], 64, 64)],
            vec![with(a, Vec::new(), 64, 64)],
            // A stream asking for a 128 MiB window.
            vec![with(a, wide_window(), 64, 64)],
        ];
        for (i, tiles) in cases.iter().enumerate() {
            assert!(decode_all(128, 64, tiles).is_err(), "case {i}");
        }
        // Kinds that do not exist, and a palette index past its colours.
        for raw in [vec![0u8; 1 + 4 * 4 * 3], vec![17u8; 8], {
            let mut p = vec![3u8, 1, 1, 1, 2, 2, 2, 3, 3, 3];
            p.extend([0xff; 4]);
            p
        }] {
            let zstd = zstd::bulk::compress(&raw, 1).unwrap();
            assert!(decode_all(128, 64, &[with(a, zstd, 4, 4)]).is_err());
        }
    }
}
