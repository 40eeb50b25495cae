//! One tile's exact coding on its own: one colour, a palette of up to 16
//! colours (indices packed 1, 2 or 4 bits and LZ4-compressed), or raw RGB
//! with LZ4; and the decoding of every tile kind, which checks every
//! length before writing a pixel. The encoder codes every tile of more
//! than one colour as its part of the update's one zstd stream
//! (`chain`, `exact`); `encode_tile` is its fallback should the stream
//! fail, and what hosts before issue #29 sent.

use super::chain::ChainDecoder;
use super::{Image, ScreenError, Tile, TileData};

/// Most colours a palette tile holds.
pub(crate) const MAX_PALETTE: usize = 16;

pub(crate) fn bits_for(colors: usize) -> u32 {
    match colors {
        0..=2 => 1,
        3..=4 => 2,
        _ => 4,
    }
}

/// Whether the rectangle holds more than `n` distinct colours (stops
/// looking as soon as it does).
pub(crate) fn more_colours_than(img: &Image, x: u32, y: u32, w: u32, h: u32, n: usize) -> bool {
    let mut seen: Vec<u32> = Vec::with_capacity(n + 1);
    for row in img.tile_rows(x, y, w, h) {
        for &px in row {
            if seen.last() != Some(&px) && !seen.contains(&px) {
                seen.push(px);
                if seen.len() > n {
                    return true;
                }
            }
        }
    }
    false
}

/// Distinct colours in a tile from which it counts as a photograph (worth a
/// lossy picture while it changes): anti-aliased text and UI gradients
/// stay below, photos and video go far above.
pub(crate) const PHOTO_COLOURS: usize = 128;

/// Whether the rectangle holds more than [`PHOTO_COLOURS`] distinct
/// colours: a small open-addressed set, stopping as soon as it does.
pub(crate) fn photographic(img: &Image, x: u32, y: u32, w: u32, h: u32) -> bool {
    const SLOTS: usize = 512;
    const EMPTY: u32 = u32::MAX;
    let mut table = [EMPTY; SLOTS];
    let mut count = 0;
    let mut last = EMPTY;
    for row in img.tile_rows(x, y, w, h) {
        for &px in row {
            if px == last {
                continue;
            }
            last = px;
            // Pixels are 24-bit, so EMPTY never collides with one.
            let mut i = (px.wrapping_mul(0x9e37_79b9) >> 23) as usize % SLOTS;
            loop {
                match table[i] {
                    EMPTY => {
                        table[i] = px;
                        count += 1;
                        if count > PHOTO_COLOURS {
                            return true;
                        }
                        break;
                    }
                    seen if seen == px => break,
                    _ => i = (i + 1) % SLOTS,
                }
            }
        }
    }
    false
}

/// The rectangle's colours in order of appearance, up to one more than a
/// palette holds (more than [`MAX_PALETTE`]: not a palette tile).
pub(crate) fn colours(img: &Image, x: u32, y: u32, w: u32, h: u32) -> Vec<u32> {
    let mut colors: Vec<u32> = Vec::with_capacity(MAX_PALETTE + 1);
    for row in img.tile_rows(x, y, w, h) {
        for &px in row {
            if !colors.contains(&px) {
                colors.push(px);
                if colors.len() > MAX_PALETTE {
                    return colors;
                }
            }
        }
    }
    colors
}

/// The rectangle coded on its own, in the cheapest of the kinds above.
pub(crate) fn encode_tile(img: &Image, x: u32, y: u32, w: u32, h: u32) -> TileData {
    let colors = colours(img, x, y, w, h);
    if colors.len() == 1 {
        return TileData::Solid(colors[0]);
    }
    if colors.len() <= MAX_PALETTE {
        let bits = bits_for(colors.len());
        let per_byte = 8 / bits;
        let row_bytes = (w as usize).div_ceil(per_byte as usize);
        let mut packed = vec![0u8; row_bytes * h as usize];
        let mut last = (colors[0], 0u8);
        for (r, row) in img.tile_rows(x, y, w, h).enumerate() {
            let out = &mut packed[r * row_bytes..(r + 1) * row_bytes];
            for (c, &px) in row.iter().enumerate() {
                let idx = if px == last.0 {
                    last.1
                } else {
                    let i = colors.iter().position(|&k| k == px).unwrap_or(0) as u8;
                    last = (px, i);
                    i
                };
                let shift = 8 - bits * (c as u32 % per_byte + 1);
                out[c / per_byte as usize] |= idx << shift;
            }
        }
        return TileData::Palette {
            colors,
            lz4: lz4_flex::compress(&packed),
        };
    }
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    for (out, &px) in rgb
        .chunks_exact_mut(3)
        .zip(img.tile_rows(x, y, w, h).flatten())
    {
        out.copy_from_slice(&[(px >> 16) as u8, (px >> 8) as u8, px as u8]);
    }
    TileData::Raw {
        lz4: lz4_flex::compress(&rgb),
    }
}

/// Decodes `t` into `img` (it lies within it); chained tiles go through
/// `chain`, one for the whole update, in the update's order.
pub(crate) fn decode_tile(
    img: &mut Image,
    t: &Tile,
    chain: &mut ChainDecoder,
) -> Result<(), ScreenError> {
    if let TileData::Chained { zstd } = &t.data {
        return chain.tile(img, t, zstd);
    }
    let width = img.width as usize;
    let (w, h) = (t.w as usize, t.h as usize);
    let mut put = |r: usize, c: usize, px: u32| {
        img.pixels[(t.y as usize + r) * width + t.x as usize + c] = px & 0x00ff_ffff;
    };
    match &t.data {
        TileData::Solid(px) => {
            for r in 0..h {
                for c in 0..w {
                    put(r, c, *px);
                }
            }
        }
        TileData::Palette { colors, lz4 } => {
            if colors.len() < 2 || colors.len() > MAX_PALETTE {
                return Err(ScreenError::Corrupt(format!(
                    "palette of {} colours",
                    colors.len()
                )));
            }
            let bits = bits_for(colors.len()) as usize;
            let per_byte = 8 / bits;
            let row_bytes = w.div_ceil(per_byte);
            let packed = lz4_flex::decompress(lz4, row_bytes * h)
                .map_err(|e| ScreenError::Corrupt(e.to_string()))?;
            if packed.len() != row_bytes * h {
                return Err(ScreenError::Corrupt(
                    "palette indices have the wrong length".into(),
                ));
            }
            let mask = (1u8 << bits) - 1;
            for r in 0..h {
                for c in 0..w {
                    let byte = packed[r * row_bytes + c / per_byte];
                    let idx = (byte >> (8 - bits * (c % per_byte + 1))) & mask;
                    let px = *colors.get(idx as usize).ok_or_else(|| {
                        ScreenError::Corrupt(format!("palette index {idx} out of range"))
                    })?;
                    put(r, c, px);
                }
            }
        }
        TileData::Raw { lz4 } => {
            let rgb = lz4_flex::decompress(lz4, w * h * 3)
                .map_err(|e| ScreenError::Corrupt(e.to_string()))?;
            if rgb.len() != w * h * 3 {
                return Err(ScreenError::Corrupt("raw tile has the wrong length".into()));
            }
            for (i, p) in rgb.chunks_exact(3).enumerate() {
                put(
                    i / w,
                    i % w,
                    u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]),
                );
            }
        }
        TileData::Chained { .. } => {}
    }
    Ok(())
}
