//! Candidate exact coders measured against today's: each codes a whole
//! image tile by tile (or band by band) and returns its bytes. Only for
//! measuring; the chosen one lives in `lifeline_session::screen::tile`.

use lifeline_session::screen::Image;
use std::io::Write;

pub const T: u32 = 64;

/// The pixels of one tile, row-major.
pub fn tile_px(img: &Image, x: u32, y: u32, w: u32, h: u32) -> Vec<u32> {
    (y..y + h)
        .flat_map(|r| {
            let a = (r * img.width + x) as usize;
            img.pixels[a..a + w as usize].iter().copied()
        })
        .collect()
}

pub fn tiles(img: &Image) -> impl Iterator<Item = (u32, u32, u32, u32)> + '_ {
    (0..img.height).step_by(T as usize).flat_map(move |y| {
        (0..img.width)
            .step_by(T as usize)
            .map(move |x| (x, y, T.min(img.width - x), T.min(img.height - y)))
    })
}

/// Distinct colours in first-seen order, or None past `max`.
pub fn palette(px: &[u32], max: usize) -> Option<Vec<u32>> {
    let mut pal: Vec<u32> = Vec::new();
    let mut last = u32::MAX;
    for &p in px {
        if p == last {
            continue;
        }
        last = p;
        if !pal.contains(&p) {
            pal.push(p);
            if pal.len() > max {
                return None;
            }
        }
    }
    Some(pal)
}

/// ZRLE's palette RLE: an index byte (bit 7 set when a run length
/// follows), the length - 1 in bytes of 255 plus a last one.
pub fn index_runs(px: &[u32], pal: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < px.len() {
        let p = px[i];
        let mut n = 1;
        while i + n < px.len() && px[i + n] == p {
            n += 1;
        }
        let idx = pal.iter().position(|&c| c == p).unwrap() as u8;
        if n == 1 {
            out.push(idx);
        } else {
            out.push(idx | 0x80);
            let mut rest = n - 1;
            while rest >= 255 {
                out.push(255);
                rest -= 255;
            }
            out.push(rest as u8);
        }
        i += n;
    }
    out
}

/// One whole screen as libvncserver's ZRLE would: per 64×64 tile the
/// smallest of raw, solid, packed palette, plain RLE and palette RLE,
/// all through one zlib stream (level 6).
pub fn zrle(img: &Image) -> usize {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    for (x, y, w, h) in tiles(img) {
        let px = tile_px(img, x, y, w, h);
        let cp = |out: &mut Vec<u8>, p: u32| out.extend_from_slice(&p.to_le_bytes()[..3]);
        let mut best: Vec<u8> = vec![0];
        px.iter().for_each(|&p| cp(&mut best, p));
        // Plain RLE.
        let mut rle = vec![128u8];
        let mut i = 0;
        while i < px.len() {
            let mut n = 1;
            while i + n < px.len() && px[i + n] == px[i] {
                n += 1;
            }
            cp(&mut rle, px[i]);
            let mut rest = n - 1;
            while rest >= 255 {
                rle.push(255);
                rest -= 255;
            }
            rle.push(rest as u8);
            i += n;
        }
        if rle.len() < best.len() {
            best = rle;
        }
        if let Some(pal) = palette(&px, 127) {
            if pal.len() == 1 {
                best = vec![1];
                cp(&mut best, pal[0]);
            } else {
                let mut pr = vec![128 + pal.len() as u8];
                pal.iter().for_each(|&p| cp(&mut pr, p));
                pr.extend(index_runs(&px, &pal));
                if pr.len() < best.len() {
                    best = pr;
                }
                if pal.len() <= 16 {
                    let bits = match pal.len() {
                        2 => 1,
                        3 | 4 => 2,
                        _ => 4,
                    };
                    let mut pk = vec![pal.len() as u8];
                    pal.iter().for_each(|&p| cp(&mut pk, p));
                    for row in px.chunks(w as usize) {
                        let (mut acc, mut used) = (0u8, 0);
                        for &p in row {
                            let idx = pal.iter().position(|&c| c == p).unwrap() as u8;
                            acc |= idx << (8 - bits - used);
                            used += bits;
                            if used == 8 {
                                pk.push(acc);
                                (acc, used) = (0, 0);
                            }
                        }
                        if used > 0 {
                            pk.push(acc);
                        }
                    }
                    if pk.len() < best.len() {
                        best = pk;
                    }
                }
            }
        }
        z.write_all(&best).unwrap();
    }
    z.finish().unwrap().len() + 4
}

/// Predictors for one plane: value at (x, y) from its neighbours.
#[derive(Clone, Copy, Debug)]
pub enum Pred {
    /// (3a + 2b + 2d + c) / 8: today's photo predictor.
    Avg4,
    /// LOCO-I median edge detector.
    Med,
    /// Left.
    Left,
}

pub fn predict(pred: Pred, plane: &[u8], w: usize, x: usize, y: usize) -> u8 {
    let at = |xx: usize, yy: usize| i32::from(plane[yy * w + xx]);
    if y == 0 {
        return if x == 0 { 0 } else { plane[x - 1] };
    }
    let b = at(x, y - 1);
    let a = if x > 0 { at(x - 1, y) } else { b };
    let c = if x > 0 { at(x - 1, y - 1) } else { b };
    let d = if x + 1 < w { at(x + 1, y - 1) } else { b };
    (match pred {
        Pred::Avg4 => (3 * a + 2 * b + 2 * d + c + 4) >> 3,
        Pred::Med => {
            if c >= a.max(b) {
                a.min(b)
            } else if c <= a.min(b) {
                a.max(b)
            } else {
                a + b - c
            }
        }
        Pred::Left => a,
    }) as u8
}

/// Residual planes (R, G, B; optionally G subtracted from R and B first).
pub fn residuals(px: &[u32], w: usize, pred: Pred, green: bool) -> Vec<u8> {
    let n = px.len();
    let mut planes = vec![0u8; n * 3];
    for (i, &p) in px.iter().enumerate() {
        let (r, g, b) = ((p >> 16) as u8, (p >> 8) as u8, p as u8);
        let (r, b) = if green {
            (r.wrapping_sub(g), b.wrapping_sub(g))
        } else {
            (r, b)
        };
        planes[i] = r;
        planes[n + i] = g;
        planes[2 * n + i] = b;
    }
    let mut out = vec![0u8; n * 3];
    let h = n / w;
    for (plane, o) in planes.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        for y in 0..h {
            for x in 0..w {
                o[y * w + x] = plane[y * w + x].wrapping_sub(predict(pred, plane, w, x, y));
            }
        }
    }
    out
}

/// A shared-context strategy: the few-colour tiles' palettes and indices
/// through one zstd stream (flushed per tile), rich tiles as bands or in
/// the stream too.
#[derive(Clone, Copy, Debug)]
pub struct Chain {
    /// Up to 16 colours: packed bits (true) or index runs.
    pub packed: bool,
    /// Tiles with up to this many colours go as palette + runs.
    pub runs_upto: usize,
    pub level: i32,
    /// Rich tiles' residuals into the stream too (else bands).
    pub rich_in_stream: bool,
    /// How rich tiles go into the stream: None raw RGB, else residuals.
    pub rich: Option<Pred>,
    /// Tiles with more than this many colours as bands (photographic).
    pub photo_bands: Option<usize>,
}

fn packed(px: &[u32], w: usize, pal: &[u32]) -> Vec<u8> {
    let bits = match pal.len() {
        0..=2 => 1,
        3..=4 => 2,
        _ => 4,
    };
    let mut out = Vec::new();
    for row in px.chunks(w) {
        let (mut acc, mut used) = (0u8, 0);
        for &p in row {
            let idx = pal.iter().position(|&c| c == p).unwrap() as u8;
            acc |= idx << (8 - bits - used);
            used += bits;
            if used == 8 {
                out.push(acc);
                (acc, used) = (0, 0);
            }
        }
        if used > 0 {
            out.push(acc);
        }
    }
    out
}

pub fn chain(img: &Image, c: Chain) -> usize {
    let mut stream = zstd::stream::write::Encoder::new(Vec::new(), c.level).unwrap();
    let mut bands = 0;
    let mut tiles_n = 0;
    let mut band: Vec<(u32, u32, u32, u32)> = Vec::new();
    let flush_band = |band: &mut Vec<(u32, u32, u32, u32)>, total: &mut usize| {
        if let (Some(f), Some(l)) = (band.first(), band.last()) {
            let (x, y, w, h) = (f.0, f.1, l.0 + l.2 - f.0, f.3);
            let px = tile_px(img, x, y, w, h);
            let r = residuals(&px, w as usize, Pred::Avg4, false);
            *total += zstd::bulk::compress(&r, 1).unwrap().len() + 8;
        }
        band.clear();
    };
    for (x, y, w, h) in tiles(img) {
        if band.last().is_some_and(|b| b.1 != y) {
            flush_band(&mut band, &mut bands);
        }
        let px = tile_px(img, x, y, w, h);
        tiles_n += 1;
        if c.photo_bands.is_some_and(|n| !flat(&px, n)) && palette(&px, 16).is_none() {
            band.push((x, y, w, h));
            continue;
        }
        let data = match palette(&px, c.runs_upto.max(16)) {
            Some(p) if p.len() == 1 => continue,
            Some(p) => {
                let mut d: Vec<u8> = p
                    .iter()
                    .flat_map(|c| c.to_le_bytes()[..3].to_vec())
                    .collect();
                if c.packed && p.len() <= 16 {
                    d.extend(packed(&px, w as usize, &p));
                } else if p.len() <= c.runs_upto {
                    d.extend(index_runs(&px, &p));
                } else {
                    d = residuals(&px, w as usize, Pred::Avg4, false);
                }
                d
            }
            None if c.rich_in_stream => match c.rich {
                Some(p) => residuals(&px, w as usize, p, false),
                None => px
                    .iter()
                    .flat_map(|c| c.to_le_bytes()[..3].to_vec())
                    .collect(),
            },
            None => {
                band.push((x, y, w, h));
                continue;
            }
        };
        stream.write_all(&data).unwrap();
        stream.flush().unwrap();
    }
    flush_band(&mut band, &mut bands);
    stream.finish().unwrap().len() + bands + tiles_n * 8
}

/// Whether at least `pct` % of the pixels equal their left neighbour
/// (text and UI: flat areas; photographs: almost none).
pub fn flat(px: &[u32], pct: usize) -> bool {
    let same = px.windows(2).filter(|p| p[0] == p[1]).count();
    same * 100 >= px.len() * pct
}

/// The coding before issue #29: runs of tiles of more than 16 colours as
/// photo bands (`lifeline_session::photo`), the rest one colour or a
/// palette with LZ4. Returns bytes and the bands (to time their decoding).
pub fn before(img: &Image) -> (usize, Vec<lifeline_session::screen::Photo>) {
    let mut total = 0;
    let mut photos = Vec::new();
    let mut band: Option<(u32, u32, u32, u32)> = None;
    let mut flush = |band: &mut Option<(u32, u32, u32, u32)>, total: &mut usize| {
        if let Some((x, y, w, h)) = band.take() {
            let p = lifeline_session::photo::encode(img, x, y, w, h).unwrap();
            *total += p.zstd.len();
            photos.push(p);
        }
    };
    for (x, y, w, h) in tiles(img) {
        if band.is_some_and(|b| b.1 != y) {
            flush(&mut band, &mut total);
        }
        let px = tile_px(img, x, y, w, h);
        match palette(&px, 16) {
            Some(p) => {
                flush(&mut band, &mut total);
                total += if p.len() == 1 {
                    4
                } else {
                    4 * p.len() + lz4_flex::compress(&packed(&px, w as usize, &p)).len()
                };
            }
            None => match &mut band {
                Some(b) => b.2 += w,
                None => band = Some((x, y, w, h)),
            },
        }
    }
    flush(&mut band, &mut total);
    (total, photos)
}
