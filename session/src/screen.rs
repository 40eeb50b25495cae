//! Screen images and the frame updates that carry them, lossless.
//!
//! The screen is cut into 64×64 tiles. An update carries only the tiles that
//! changed since the previous update (the viewer has every earlier one: the
//! stream is reliable and ordered), each in the cheapest exact form:
//! one colour, a palette of up to 16 (text, UI), or raw RGB, with the last
//! two compressed by LZ4. A lossy or video path can join later as another
//! [`TileData`] variant for photo-like or moving regions.

use serde::{Deserialize, Serialize};

/// Tile edge in pixels.
pub const TILE: u32 = 64;
/// Largest screen edge accepted from a peer.
pub const MAX_EDGE: u32 = 16_384;
const MAX_PALETTE: usize = 16;

/// Why an image or update was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScreenError {
    #[error("screen size {0}×{1} is not supported")]
    BadSize(u32, u32),
    #[error("pixel buffer of {got} bytes is too small for {need}")]
    ShortBuffer { got: usize, need: usize },
    #[error("tile at {x},{y} ({w}×{h}) lies outside the {width}×{height} screen or is not a tile")]
    TileOutOfBounds {
        x: u32,
        y: u32,
        w: u32,
        h: u32,
        width: u32,
        height: u32,
    },
    #[error("tile data is corrupt: {0}")]
    Corrupt(String),
    #[error("a partial update arrived before any whole frame")]
    NoBase,
}

/// A screen image: `0x00RRGGBB` pixels, row-major, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u32>,
}

fn check_size(width: u32, height: u32) -> Result<(), ScreenError> {
    if width == 0 || height == 0 || width > MAX_EDGE || height > MAX_EDGE {
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

/// How one tile's pixels travel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TileData {
    /// Every pixel this colour.
    Solid(u32),
    /// Up to 16 colours; indices packed 1, 2 or 4 bits each (rows padded to
    /// a byte), LZ4-compressed.
    Palette {
        colors: Vec<u32>,
        #[serde(with = "serde_bytes")]
        lz4: Vec<u8>,
    },
    /// RGB bytes, LZ4-compressed.
    Raw {
        #[serde(with = "serde_bytes")]
        lz4: Vec<u8>,
    },
}

/// One changed tile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tile {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub data: TileData,
}

/// Pixels that moved on screen (a scroll): the viewer copies them from
/// where they were, so they need not travel again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyRect {
    pub src_x: u32,
    pub src_y: u32,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// A changing photo-like region sent as a JPEG: much smaller than exact
/// pixels while it keeps changing; the encoder resends it exact once the
/// screen is still.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Picture {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    #[serde(with = "serde_bytes")]
    pub jpeg: Vec<u8>,
}

/// What changed, numbered so the viewer can acknowledge it: first the
/// copies, applied in order, then the pictures, then the exact tiles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameUpdate {
    pub seq: u64,
    pub width: u32,
    pub height: u32,
    /// Whole frame: every tile is present (first update, resize, or asked for).
    pub full: bool,
    pub copies: Vec<CopyRect>,
    pub pictures: Vec<Picture>,
    /// Changed rectangles, each within one 64×64 tile and cut to the pixels
    /// that differ.
    pub tiles: Vec<Tile>,
}

impl FrameUpdate {
    /// Bytes of pixel payload, for statistics.
    pub fn payload_bytes(&self) -> usize {
        self.tiles
            .iter()
            .map(|t| match &t.data {
                TileData::Solid(_) => 4,
                TileData::Palette { colors, lz4 } => colors.len() * 4 + lz4.len(),
                TileData::Raw { lz4 } => lz4.len(),
            })
            .sum::<usize>()
            + self.pictures.iter().map(|p| p.jpeg.len()).sum::<usize>()
    }
}

fn bits_for(colors: usize) -> u32 {
    match colors {
        0..=2 => 1,
        3..=4 => 2,
        _ => 4,
    }
}

/// Whether the rectangle holds more than `n` distinct colours (stops
/// looking as soon as it does).
fn more_colours_than(img: &Image, x: u32, y: u32, w: u32, h: u32, n: usize) -> bool {
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

fn encode_tile(img: &Image, x: u32, y: u32, w: u32, h: u32) -> TileData {
    let mut colors: Vec<u32> = Vec::with_capacity(MAX_PALETTE + 1);
    'scan: for row in img.tile_rows(x, y, w, h) {
        for &px in row {
            if !colors.contains(&px) {
                colors.push(px);
                if colors.len() > MAX_PALETTE {
                    break 'scan;
                }
            }
        }
    }
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

fn tiles_of(width: u32, height: u32) -> impl Iterator<Item = (u32, u32, u32, u32)> {
    (0..height.div_ceil(TILE)).flat_map(move |ty| {
        (0..width.div_ceil(TILE)).map(move |tx| {
            let (x, y) = (tx * TILE, ty * TILE);
            (x, y, TILE.min(width - x), TILE.min(height - y))
        })
    })
}

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

    fn encode_hinted(
        &mut self,
        cur: &Image,
        hint: Option<&[(u32, u32, u32, u32)]>,
    ) -> Option<FrameUpdate> {
        let same_size = self
            .sent
            .as_ref()
            .is_some_and(|s| s.width == cur.width && s.height == cur.height);
        if !same_size {
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
            return Some(self.update((cur.width, cur.height), true, Vec::new(), Vec::new(), tiles));
        }
        let sent = self.sent.as_mut()?;
        let touched = |&(x, y, w, h): &(u32, u32, u32, u32)| {
            hint.is_none_or(|rects| {
                rects
                    .iter()
                    .any(|r| r.0 < x + w && x < r.0 + r.2 && r.1 < y + h && y < r.1 + r.3)
            })
        };
        let dirty: Vec<_> = tiles_of(cur.width, cur.height)
            .filter(touched)
            .filter(|&(x, y, w, h)| sent.tile_rows(x, y, w, h).ne(cur.tile_rows(x, y, w, h)))
            .collect();
        if dirty.is_empty() {
            return self.still();
        }
        self.quiet = 0;
        let index = |x: u32, y: u32| tile_index(cur.width, x, y);
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
        let as_picture = self.pictures && photo_area >= PICTURE_MIN_PIXELS;
        let mut copies = Vec::new();
        if !as_picture {
            copies.extend(crate::motion::find_scroll(sent, cur, &dirty));
        }
        for c in &copies {
            apply_copy(sent, c);
            // Moving an approximation spreads it: the copy's destination is
            // lossy wherever its source was.
            let src_lossy =
                tiles_touching(c.src_x, c.src_y, c.w, c.h).any(|(x, y)| self.lossy[index(x, y)]);
            if src_lossy {
                for (x, y) in tiles_touching(c.x, c.y, c.w, c.h) {
                    self.lossy[index(x, y)] = true;
                }
            }
        }
        let mut pictures = Vec::new();
        if as_picture {
            // One JPEG over the tile-aligned box of the photo-like tiles.
            let boxes = || {
                dirty
                    .iter()
                    .zip(&photo)
                    .filter(|(_, p)| **p)
                    .map(|(d, _)| d)
            };
            let x0 = boxes().map(|d| d.0).min().unwrap_or(0);
            let y0 = boxes().map(|d| d.1).min().unwrap_or(0);
            let x1 = boxes().map(|d| d.0 + d.2).max().unwrap_or(0);
            let y1 = boxes().map(|d| d.1 + d.3).max().unwrap_or(0);
            // Encoding a valid image cannot fail; if it did, the tiles below
            // would simply go exact.
            if let Ok(bands) = crate::picture::encode_bands(cur, x0, y0, x1 - x0, y1 - y0) {
                pictures = bands;
                for (x, y) in tiles_touching(x0, y0, x1 - x0, y1 - y0) {
                    self.lossy[index(x, y)] = true;
                }
            }
        }
        // Each changed tile, cut to what differs (whole, where the viewer
        // holds an approximation: it all has to be replaced), unless the
        // picture carries it.
        let mut tiles = Vec::new();
        for (&(x, y, w, h), &is_photo) in dirty.iter().zip(&photo) {
            let covered = is_photo && !pictures.is_empty();
            let rect = if covered || self.lossy[index(x, y)] {
                Some((x, y, w, h))
            } else {
                diff_box(sent, cur, x, y, w, h)
            };
            let Some((x, y, w, h)) = rect else { continue };
            if !covered {
                tiles.push(Tile {
                    x,
                    y,
                    w,
                    h,
                    data: encode_tile(cur, x, y, w, h),
                });
                if (w, h) == (TILE.min(cur.width - x), TILE.min(cur.height - y)) {
                    self.lossy[index(x, y)] = false;
                }
            }
            for row in y..y + h {
                let a = (row * cur.width + x) as usize;
                sent.pixels[a..a + w as usize].copy_from_slice(&cur.pixels[a..a + w as usize]);
            }
        }
        if copies.is_empty() && pictures.is_empty() && tiles.is_empty() {
            return None;
        }
        Some(self.update((cur.width, cur.height), false, copies, pictures, tiles))
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

/// Where the tile holding (x, y) sits in a row-major list of a `width`-wide
/// screen's tiles.
fn tile_index(width: u32, x: u32, y: u32) -> usize {
    ((y / TILE) * width.div_ceil(TILE) + x / TILE) as usize
}

/// The top-left corners of the tiles a rectangle touches.
fn tiles_touching(x: u32, y: u32, w: u32, h: u32) -> impl Iterator<Item = (u32, u32)> {
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
fn apply_copy(img: &mut Image, c: &CopyRect) {
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

/// The viewer's copy of the remote screen.
#[derive(Debug, Default)]
pub struct Framebuffer {
    image: Option<Image>,
}

impl Framebuffer {
    /// An empty framebuffer, waiting for a whole frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current image, once a whole frame has arrived.
    pub fn image(&self) -> Option<&Image> {
        self.image.as_ref()
    }

    /// Applies an update. Everything is checked against the screen before
    /// any pixel changes; tile data that turns out corrupt may leave the
    /// image partly updated, and the viewer then asks for a whole frame.
    pub fn apply(&mut self, upd: &FrameUpdate) -> Result<(), ScreenError> {
        check_size(upd.width, upd.height)?;
        let inside = |x: u32, y: u32, w: u32, h: u32, max_edge: u32| {
            w >= 1
                && h >= 1
                && w <= max_edge
                && h <= max_edge
                && x.checked_add(w).is_some_and(|r| r <= upd.width)
                && y.checked_add(h).is_some_and(|b| b <= upd.height)
        };
        if let Some(t) = upd.tiles.iter().find(|t| !inside(t.x, t.y, t.w, t.h, TILE)) {
            return Err(ScreenError::TileOutOfBounds {
                x: t.x,
                y: t.y,
                w: t.w,
                h: t.h,
                width: upd.width,
                height: upd.height,
            });
        }
        if let Some(c) = upd.copies.iter().find(|c| {
            !inside(c.x, c.y, c.w, c.h, MAX_EDGE) || !inside(c.src_x, c.src_y, c.w, c.h, MAX_EDGE)
        }) {
            return Err(ScreenError::Corrupt(format!(
                "copy {c:?} leaves the screen"
            )));
        }
        if let Some(p) = upd
            .pictures
            .iter()
            .find(|p| !inside(p.x, p.y, p.w, p.h, MAX_EDGE))
        {
            return Err(ScreenError::Corrupt(format!(
                "picture at {},{} ({}×{}) leaves the screen",
                p.x, p.y, p.w, p.h
            )));
        }
        let apply = |img: &mut Image| {
            for c in &upd.copies {
                apply_copy(img, c);
            }
            for p in &upd.pictures {
                crate::picture::decode_into(img, p)?;
            }
            upd.tiles.iter().try_for_each(|t| decode_tile(img, t))
        };
        if upd.full {
            // Rare and whole: built aside, so a bad one leaves the old screen.
            let mut next = Image::new(upd.width, upd.height)?;
            apply(&mut next)?;
            self.image = Some(next);
            return Ok(());
        }
        match &mut self.image {
            Some(img) if img.width == upd.width && img.height == upd.height => apply(img),
            _ => Err(ScreenError::NoBase),
        }
    }
}

fn decode_tile(img: &mut Image, t: &Tile) -> Result<(), ScreenError> {
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
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: u32, h: u32, seed: u32) -> Image {
        let mut x = seed | 1;
        let pixels = (0..w * h)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x & 0x00ff_ffff
            })
            .collect();
        Image {
            width: w,
            height: h,
            pixels,
        }
    }

    fn text_like(w: u32, h: u32) -> Image {
        let pixels = (0..w * h)
            .map(|i| {
                if (i * 7 / 3) % 5 == 0 {
                    0x00_20_20_20
                } else {
                    0x00_f0_f0_f0
                }
            })
            .collect();
        Image {
            width: w,
            height: h,
            pixels,
        }
    }

    #[test]
    fn first_update_is_whole_and_exact() {
        // 150×70: edge tiles are partial.
        for img in [
            noise(150, 70, 3),
            text_like(150, 70),
            Image::new(150, 70).unwrap(),
        ] {
            let mut enc = Encoder::new();
            let upd = enc.encode(&img).unwrap();
            assert!(upd.full);
            assert_eq!(upd.tiles.len(), 3 * 2);
            let mut fb = Framebuffer::new();
            fb.apply(&upd).unwrap();
            assert_eq!(fb.image(), Some(&img));
        }
    }

    #[test]
    fn palettes_of_every_width_round_trip() {
        for n in [2u32, 3, 4, 5, 16] {
            let pixels = (0..100 * 40).map(|i| (i * 31 % n) * 0x010203).collect();
            let img = Image {
                width: 100,
                height: 40,
                pixels,
            };
            let upd = Encoder::new().encode(&img).unwrap();
            assert!(
                upd.tiles
                    .iter()
                    .all(|t| matches!(t.data, TileData::Palette { .. })),
                "{n} colours"
            );
            let mut fb = Framebuffer::new();
            fb.apply(&upd).unwrap();
            assert_eq!(fb.image(), Some(&img));
        }
    }

    #[test]
    fn only_changed_tiles_travel_and_idle_sends_nothing() {
        let mut img = text_like(640, 480);
        let mut enc = Encoder::new();
        let mut fb = Framebuffer::new();
        fb.apply(&enc.encode(&img).unwrap()).unwrap();
        assert_eq!(
            enc.encode(&img),
            None,
            "unchanged screen must produce no update"
        );
        // Change a 10×10 square straddling the tiles (64,64)-(128,128) and (128,64)-(192,128).
        for y in 100..110 {
            for x in 120..130 {
                img.pixels[y * 640 + x] = 0x00ff0000;
            }
        }
        let upd = enc.encode(&img).unwrap();
        assert!(!upd.full);
        // Each cut to the changed pixels within its tile.
        let spots: Vec<_> = upd.tiles.iter().map(|t| (t.x, t.y, t.w, t.h)).collect();
        assert_eq!(spots, [(120, 100, 8, 10), (128, 100, 2, 10)]);
        fb.apply(&upd).unwrap();
        assert_eq!(fb.image(), Some(&img));
        assert_eq!(upd.seq, 2);
    }

    #[test]
    fn hostile_pictures_are_refused_without_panic() {
        let mut fb = Framebuffer::new();
        let img = noise(64, 64, 1);
        let jpeg = crate::picture::encode(&img, 0, 0, 64, 64).unwrap();
        let upd = |x, y, w, h, jpeg: &[u8]| FrameUpdate {
            seq: 1,
            width: 100,
            height: 100,
            full: true,
            copies: vec![],
            pictures: vec![Picture {
                x,
                y,
                w,
                h,
                jpeg: jpeg.to_vec(),
            }],
            tiles: vec![],
        };
        assert!(fb.apply(&upd(0, 0, 64, 64, &jpeg)).is_ok());
        for (x, y, w, h, data) in [
            (50, 50, 64, 64, &jpeg[..]),       // leaves the screen
            (0, 0, 32, 32, &jpeg[..]),         // larger than announced
            (0, 0, 80, 80, &jpeg[..]),         // smaller than announced
            (0, 0, 64, 64, &jpeg[..100]),      // truncated
            (0, 0, 64, 64, &[0xff, 0xd8][..]), // a header and nothing
            (0, 0, 64, 64, &[][..]),
        ] {
            assert!(fb.apply(&upd(x, y, w, h, data)).is_err(), "{x},{y} {w}×{h}");
        }
    }

    /// A text-like screen already sent, then a photo-like 640×400 region
    /// pasted into it (not yet encoded).
    fn screen_with_photo(seed: u32) -> (Image, Encoder, Framebuffer) {
        let mut screen = text_like(1024, 640);
        let mut enc = Encoder::new();
        let mut fb = Framebuffer::new();
        fb.apply(&enc.encode(&screen).unwrap()).unwrap();
        let photo = noise(640, 400, seed);
        for y in 0..400 {
            let at = (y + 100) * 1024 + 200;
            screen.pixels[at..at + 640].copy_from_slice(&photo.pixels[y * 640..(y + 1) * 640]);
        }
        (screen, enc, fb)
    }

    #[test]
    fn changing_pictures_go_as_jpeg_then_exact_once_still() {
        // A photo-like region changes (448 rows of tiles): two JPEG bands
        // meeting on a 16-row boundary, no raw tiles.
        let (screen, mut enc, mut fb) = screen_with_photo(9);
        let upd = enc.encode(&screen).unwrap();
        let bands: Vec<_> = upd.pictures.iter().map(|p| (p.y, p.h)).collect();
        assert_eq!(bands, [(64, 224), (288, 224)]);
        assert!(
            upd.tiles
                .iter()
                .all(|t| !matches!(t.data, TileData::Raw { .. }))
        );
        let exact_bytes = Encoder::lossless().encode(&screen).unwrap().payload_bytes();
        assert!(
            upd.payload_bytes() < exact_bytes,
            "{} vs {exact_bytes}",
            upd.payload_bytes()
        );
        fb.apply(&upd).unwrap();
        assert!(fb.image() != Some(&screen), "a JPEG is not exact");
        // Still: nothing until REFRESH_AFTER quiet captures, then exact.
        for _ in 1..REFRESH_AFTER {
            assert_eq!(enc.still(), None);
        }
        let refresh = enc.still().unwrap();
        assert!(refresh.pictures.is_empty());
        fb.apply(&refresh).unwrap();
        assert!(fb.image() == Some(&screen), "not exact after the refresh");
        assert!(enc.still().is_none(), "refreshed once");
        assert_eq!(enc.encode(&screen), None);
    }

    #[test]
    fn a_small_change_in_a_picture_region_replaces_the_whole_tile() {
        let (mut screen, mut enc, mut fb) = screen_with_photo(3);
        fb.apply(&enc.encode(&screen).unwrap()).unwrap();
        // One pixel changes inside the approximated area, then all goes still.
        screen.pixels[300 * 1024 + 300] ^= 0x00ff_ffff;
        let upd = enc.encode(&screen).unwrap();
        assert_eq!(upd.tiles.len(), 1);
        assert_eq!((upd.tiles[0].w, upd.tiles[0].h), (TILE, TILE));
        fb.apply(&upd).unwrap();
        for _ in 0..REFRESH_AFTER {
            if let Some(u) = enc.still() {
                fb.apply(&u).unwrap();
            }
        }
        assert!(fb.image() == Some(&screen), "not exact after the refresh");
    }

    #[test]
    fn a_hint_limits_what_is_compared() {
        let mut img = text_like(640, 480);
        let mut enc = Encoder::new();
        enc.encode(&img).unwrap();
        img.pixels[10 * 640 + 10] = 0x00ff_0000;
        img.pixels[300 * 640 + 600] = 0x0000_ff00;
        let upd = enc.encode_within(&img, &[(590, 290, 20, 20)]).unwrap();
        let spots: Vec<_> = upd.tiles.iter().map(|t| (t.x, t.y)).collect();
        assert_eq!(spots, [(600, 300)], "only the hinted change");
        let upd = enc.encode(&img).unwrap();
        assert_eq!(
            (upd.tiles[0].x, upd.tiles[0].y),
            (10, 10),
            "found without a hint"
        );
    }

    #[test]
    fn resize_and_reset_send_whole_frames() {
        let mut enc = Encoder::new();
        enc.encode(&noise(100, 100, 1)).unwrap();
        assert!(enc.encode(&noise(120, 100, 1)).unwrap().full);
        enc.reset();
        assert!(enc.encode(&noise(120, 100, 1)).unwrap().full);
    }

    #[test]
    fn bgra_is_converted_with_stride() {
        let bytes = [
            1, 2, 3, 255, 4, 5, 6, 255, 0, 0, /* pad */ 7, 8, 9, 255, 10, 11, 12, 255, 0, 0,
        ];
        let mut img = Image::new(1, 1).unwrap();
        img.load_bgra(2, 2, 10, &bytes).unwrap();
        assert_eq!(img.pixels, [0x030201, 0x060504, 0x090807, 0x0c0b0a]);
        assert!(matches!(
            img.load_bgra(2, 3, 10, &bytes),
            Err(ScreenError::ShortBuffer { .. })
        ));
    }

    #[test]
    fn hostile_updates_are_refused_without_panic() {
        let mut fb = Framebuffer::new();
        let tile = |x, y, w, h, data| Tile { x, y, w, h, data };
        let upd = |full, tiles| FrameUpdate {
            seq: 1,
            width: 100,
            height: 100,
            full,
            copies: vec![],
            pictures: vec![],
            tiles,
        };
        assert_eq!(fb.apply(&upd(false, vec![])), Err(ScreenError::NoBase));
        let bad = [
            tile(90, 0, 20, 10, TileData::Solid(0)),
            tile(u32::MAX, 0, 10, 10, TileData::Solid(0)),
            tile(0, 0, 0, 10, TileData::Solid(0)),
            tile(0, 0, 10, 10, TileData::Raw { lz4: vec![1, 2, 3] }),
            tile(
                0,
                0,
                10,
                10,
                TileData::Raw {
                    lz4: lz4_flex::compress(&[0; 10]),
                },
            ),
            tile(
                0,
                0,
                10,
                10,
                TileData::Palette {
                    colors: vec![1],
                    lz4: vec![],
                },
            ),
            tile(
                0,
                0,
                8,
                1,
                TileData::Palette {
                    colors: vec![1, 2, 3],
                    lz4: lz4_flex::compress(&[0xff, 0xff]),
                },
            ),
        ];
        for t in bad {
            assert!(fb.apply(&upd(true, vec![t.clone()])).is_err(), "{t:?}");
        }
        assert!(fb.image().is_none());
        let huge = FrameUpdate {
            seq: 1,
            width: 100_000,
            height: 1,
            full: true,
            copies: vec![],
            pictures: vec![],
            tiles: vec![],
        };
        assert!(matches!(fb.apply(&huge), Err(ScreenError::BadSize(..))));
    }
}
