//! Exact photo-like regions, lean: each colour channel predicted from its
//! neighbours and the residuals compressed with zstd. Photographs and
//! gradients barely compress as raw pixels (LZ4 saves ~0%), and the
//! exact refresh of a still photo is what a slow link pays for once the
//! screen stops moving.
//!
//! The predictor is `(3·left + 2·up + 2·up-right + up-left) / 8`: on
//! photographic content with grain it beat the median (LOCO-I), the
//! gradient and the two-neighbour average, and with zstd at level 1 it
//! makes a 1920×1080 `plasma:fractal` smaller than `cwebp -lossless`
//! (BENCHMARKS.md). Channels are coded in planes (all red, then green,
//! then blue), each residual a wrapping byte.

use crate::screen::{Image, Photo, ScreenError};

/// zstd level: 1 compresses residuals as well as higher levels here (they
/// are noise-like; Huffman coding does the work), and fastest.
const LEVEL: i32 = 1;

/// The prediction of the pixel at (x, y) in a plane of width `w`.
pub(crate) fn predict(plane: &[u8], w: usize, x: usize, y: usize) -> u8 {
    if y == 0 {
        return if x == 0 { 0 } else { plane[x - 1] };
    }
    let up = y - 1;
    let b = u32::from(plane[up * w + x]);
    let a = if x > 0 {
        u32::from(plane[y * w + x - 1])
    } else {
        b
    };
    let c = if x > 0 {
        u32::from(plane[up * w + x - 1])
    } else {
        b
    };
    let d = if x + 1 < w {
        u32::from(plane[up * w + x + 1])
    } else {
        b
    };
    ((3 * a + 2 * b + 2 * d + c + 4) >> 3) as u8
}

/// The rectangle (x, y, w, h) of `img` as three planes (red, green,
/// blue) of w·h bytes each, into `planes` (3·w·h bytes).
pub(crate) fn split_planes(img: &Image, (x, y, w, h): (u32, u32, u32, u32), planes: &mut [u8]) {
    let wu = w as usize;
    let n = wu * h as usize;
    for (r, row) in img.tile_rows(x, y, w, h).enumerate() {
        for (c, &p) in row.iter().enumerate() {
            let i = r * wu + c;
            planes[i] = (p >> 16) as u8;
            planes[n + i] = (p >> 8) as u8;
            planes[2 * n + i] = p as u8;
        }
    }
}

/// The rectangle (x, y, w, h) of `img`, exactly, as a [`Photo`].
pub fn encode(img: &Image, x: u32, y: u32, w: u32, h: u32) -> Result<Photo, ScreenError> {
    let (wu, hu) = (w as usize, h as usize);
    let n = wu * hu;
    let mut planes = vec![0u8; n * 3];
    split_planes(img, (x, y, w, h), &mut planes);
    let mut residuals = vec![0u8; n * 3];
    for (plane, out) in planes.chunks_exact(n).zip(residuals.chunks_exact_mut(n)) {
        for yy in 0..hu {
            for xx in 0..wu {
                let i = yy * wu + xx;
                out[i] = plane[i].wrapping_sub(predict(plane, wu, xx, yy));
            }
        }
    }
    let zstd = zstd::bulk::compress(&residuals, LEVEL)
        .map_err(|e| ScreenError::Corrupt(format!("photo encoding failed: {e}")))?;
    Ok(Photo { x, y, w, h, zstd })
}

/// Decodes `p` into its rectangle of `img` (already checked to lie within
/// it). The data may not inflate past the rectangle's own size.
pub fn decode_into(img: &mut Image, p: &Photo) -> Result<(), ScreenError> {
    let (wu, hu) = (p.w as usize, p.h as usize);
    let n = wu * hu;
    let mut planes = zstd::bulk::decompress(&p.zstd, n * 3)
        .map_err(|e| ScreenError::Corrupt(format!("photo: {e}")))?;
    if planes.len() != n * 3 {
        return Err(ScreenError::Corrupt(format!(
            "photo: {} bytes of pixels for {}×{}",
            planes.len(),
            p.w,
            p.h
        )));
    }
    for plane in planes.chunks_exact_mut(n) {
        for yy in 0..hu {
            for xx in 0..wu {
                let i = yy * wu + xx;
                plane[i] = plane[i].wrapping_add(predict(plane, wu, xx, yy));
            }
        }
    }
    let width = img.width as usize;
    for r in 0..hu {
        let at = (p.y as usize + r) * width + p.x as usize;
        for (c, dst) in img.pixels[at..at + wu].iter_mut().enumerate() {
            let i = r * wu + c;
            *dst = u32::from(planes[i]) << 16
                | u32::from(planes[n + i]) << 8
                | u32::from(planes[2 * n + i]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grainy(w: u32, h: u32, seed: u32) -> Image {
        let mut s = seed | 1;
        let pixels = (0..w * h)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let (x, y) = (i % w, i / w);
                let base = (x * 255 / w) << 16 | (y * 255 / h) << 8 | ((x + y) % 256);
                (base ^ (s & 0x0007_0707)) & 0x00ff_ffff
            })
            .collect();
        Image {
            width: w,
            height: h,
            pixels,
        }
    }

    #[test]
    fn regions_round_trip_exactly_and_smaller_than_raw() {
        let img = grainy(300, 200, 7);
        for (x, y, w, h) in [
            (0, 0, 300, 200),
            (17, 3, 1, 1),
            (299, 0, 1, 200),
            (5, 9, 64, 64),
        ] {
            let p = encode(&img, x, y, w, h).unwrap();
            let mut out = Image::new(300, 200).unwrap();
            decode_into(&mut out, &p).unwrap();
            for yy in y..y + h {
                for xx in x..x + w {
                    assert_eq!(out.get(xx, yy), img.get(xx, yy), "{xx},{yy} of {w}×{h}");
                }
            }
        }
        let whole = encode(&img, 0, 0, 300, 200).unwrap();
        assert!(whole.zstd.len() < 300 * 200 * 3 / 2, "{}", whole.zstd.len());
    }

    #[test]
    fn hostile_data_is_refused_without_panic() {
        let img = grainy(64, 64, 3);
        let good = encode(&img, 0, 0, 64, 64).unwrap();
        let mut out = Image::new(64, 64).unwrap();
        let bad = |zstd: Vec<u8>, w, h| Photo {
            x: 0,
            y: 0,
            w,
            h,
            zstd,
        };
        // Says more pixels than the rectangle holds, fewer, garbage, nothing.
        for p in [
            bad(good.zstd.clone(), 32, 64),
            bad(good.zstd.clone(), 64, 32),
            bad(
                zstd::bulk::compress(&[0u8; 64 * 64 * 3 - 1], 1).unwrap(),
                64,
                64,
            ),
            bad(vec![0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3], 64, 64),
            bad(vec![], 64, 64),
        ] {
            assert!(decode_into(&mut out, &p).is_err(), "{}×{}", p.w, p.h);
        }
    }
}
