//! The screen image (`0x00RRGGBB` pixels) and the geometry of its 64×64
//! tiles, shared by the encoder and the framebuffer so both cut the screen
//! the same way.

use super::{CopyRect, MAX_EDGE, MAX_PIXELS, ScreenError, TILE};

/// A screen image: `0x00RRGGBB` pixels, row-major, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u32>,
}

pub(crate) fn check_size(width: u32, height: u32) -> Result<(), ScreenError> {
    if width == 0
        || height == 0
        || width > MAX_EDGE
        || height > MAX_EDGE
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        Err(ScreenError::BadSize(width, height))
    } else {
        Ok(())
    }
}

impl Image {
    /// A black image.
    pub fn new(width: u32, height: u32) -> Result<Self, ScreenError> {
        check_size(width, height)?;
        Ok(Self {
            width,
            height,
            pixels: vec![0; width as usize * height as usize],
        })
    }

    /// Copies a BGRA (X11 ZPixmap, little-endian) buffer with `stride` bytes
    /// a row into this image, resizing it if needed.
    pub fn load_bgra(
        &mut self,
        width: u32,
        height: u32,
        stride: usize,
        bytes: &[u8],
    ) -> Result<(), ScreenError> {
        check_size(width, height)?;
        let (w, h) = (width as usize, height as usize);
        let need = stride
            .checked_mul(h - 1)
            .and_then(|n| n.checked_add(w * 4))
            .unwrap_or(usize::MAX);
        if bytes.len() < need || stride < w * 4 {
            return Err(ScreenError::ShortBuffer {
                got: bytes.len(),
                need,
            });
        }
        self.width = width;
        self.height = height;
        self.pixels.resize(w * h, 0);
        for (row, out) in self.pixels.chunks_exact_mut(w).enumerate() {
            let src = &bytes[row * stride..row * stride + w * 4];
            // BGRA read little-endian is 0xAARRGGBB: one load and a mask a
            // pixel, which the compiler vectorises.
            for (px, bgra) in out.iter_mut().zip(src.chunks_exact(4)) {
                *px = u32::from_le_bytes([bgra[0], bgra[1], bgra[2], bgra[3]]) & 0x00ff_ffff;
            }
        }
        Ok(())
    }

    /// The pixel at (x, y).
    pub fn get(&self, x: u32, y: u32) -> u32 {
        self.pixels[y as usize * self.width as usize + x as usize]
    }

    pub(crate) fn tile_rows(
        &self,
        tx: u32,
        ty: u32,
        tw: u32,
        th: u32,
    ) -> impl Iterator<Item = &[u32]> {
        let w = self.width as usize;
        (ty..ty + th).map(move |y| {
            let start = y as usize * w + tx as usize;
            &self.pixels[start..start + tw as usize]
        })
    }
}

pub(crate) fn tiles_of(width: u32, height: u32) -> impl Iterator<Item = (u32, u32, u32, u32)> {
    (0..height.div_ceil(TILE)).flat_map(move |ty| {
        (0..width.div_ceil(TILE)).map(move |tx| {
            let (x, y) = (tx * TILE, ty * TILE);
            (x, y, TILE.min(width - x), TILE.min(height - y))
        })
    })
}

/// Where the tile holding (x, y) sits in a row-major list of a `width`-wide
/// screen's tiles.
pub(crate) fn tile_index(width: u32, x: u32, y: u32) -> usize {
    ((y / TILE) * width.div_ceil(TILE) + x / TILE) as usize
}

/// The top-left corners of the tiles a rectangle touches.
pub(crate) fn tiles_touching(x: u32, y: u32, w: u32, h: u32) -> impl Iterator<Item = (u32, u32)> {
    let (tx0, ty0) = (x / TILE, y / TILE);
    let (tx1, ty1) = ((x + w).div_ceil(TILE), (y + h).div_ceil(TILE));
    (ty0..ty1).flat_map(move |ty| (tx0..tx1).map(move |tx| (tx * TILE, ty * TILE)))
}

/// The smallest rectangle within (x, y, w, h) holding every pixel
/// where `a` and `b` differ; `None` if none do.
pub(crate) fn diff_box(
    a: &Image,
    b: &Image,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
) -> Option<(u32, u32, u32, u32)> {
    let (mut top, mut bottom, mut left, mut right) = (None, 0, w, 0);
    for (r, (ra, rb)) in a
        .tile_rows(x, y, w, h)
        .zip(b.tile_rows(x, y, w, h))
        .enumerate()
    {
        if ra == rb {
            continue;
        }
        let first = ra.iter().zip(rb).position(|(p, q)| p != q).unwrap_or(0) as u32;
        let last = ra.iter().zip(rb).rposition(|(p, q)| p != q).unwrap_or(0) as u32;
        top.get_or_insert(r as u32);
        bottom = r as u32;
        left = left.min(first);
        right = right.max(last);
    }
    let top = top?;
    Some((x + left, y + top, right - left + 1, bottom - top + 1))
}

/// Moves pixels within `img` as the viewer will; rows are copied in the
/// order that keeps overlapping source rows intact.
pub(crate) fn apply_copy(img: &mut Image, c: &CopyRect) {
    let width = img.width as usize;
    let rows: Box<dyn Iterator<Item = u32>> = if c.src_y >= c.y {
        Box::new(0..c.h)
    } else {
        Box::new((0..c.h).rev())
    };
    for r in rows {
        let src = (c.src_y + r) as usize * width + c.src_x as usize;
        let dst = (c.y + r) as usize * width + c.x as usize;
        img.pixels.copy_within(src..src + c.w as usize, dst);
    }
}
