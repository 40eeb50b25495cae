//! The screen's `0x00RRGGBB` pixels to and from I420 (a luma plane, then
//! the two chroma planes at half width and height), in integer BT.601
//! limited range, the colour space an H.264 stream without other
//! signalling is read in. Written here rather than taken from the codec
//! crate: this is a few milliseconds a 1080p frame, the crate's is five
//! times that.

use crate::screen::Image;

/// An I420 picture of even width and height, planes without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420 {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl I420 {
    /// A black picture; `width` and `height` must be even.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            y: vec![16; width * height],
            u: vec![128; width * height / 4],
            v: vec![128; width * height / 4],
        }
    }

    /// Fills the picture from the rectangle of `img` at (x, y) of the
    /// picture's size (the caller has checked it lies inside `img`). Each
    /// chroma sample is taken from the average of its four pixels.
    pub fn load(&mut self, img: &Image, x: u32, y: u32) {
        let (w, stride) = (self.width, img.width as usize);
        let (cw, x) = (w / 2, x as usize);
        for r in 0..self.height / 2 {
            let top = (y as usize + 2 * r) * stride + x;
            let (row0, row1) = (
                &img.pixels[top..top + w],
                &img.pixels[top + stride..top + stride + w],
            );
            let (y0, y1) = self.y[2 * r * w..(2 * r + 2) * w].split_at_mut(w);
            let u = &mut self.u[r * cw..(r + 1) * cw];
            let v = &mut self.v[r * cw..(r + 1) * cw];
            let pairs = row0
                .chunks_exact(2)
                .zip(row1.chunks_exact(2))
                .zip(y0.chunks_exact_mut(2).zip(y1.chunks_exact_mut(2)))
                .zip(u.iter_mut().zip(v.iter_mut()));
            for (((a, b), (ya, yb)), (u, v)) in pairs {
                let (mut rs, mut gs, mut bs) = (0i32, 0i32, 0i32);
                let mut luma = |p: u32| {
                    let (r, g, b) = rgb(p);
                    rs += r;
                    gs += g;
                    bs += b;
                    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
                };
                ya[0] = luma(a[0]);
                ya[1] = luma(a[1]);
                yb[0] = luma(b[0]);
                yb[1] = luma(b[1]);
                *u = (((-38 * rs - 74 * gs + 112 * bs + 512) >> 10) + 128) as u8;
                *v = (((112 * rs - 94 * gs - 18 * bs + 512) >> 10) + 128) as u8;
            }
        }
    }
}

fn rgb(p: u32) -> (i32, i32, i32) {
    (
        (p >> 16 & 0xff) as i32,
        (p >> 8 & 0xff) as i32,
        (p & 0xff) as i32,
    )
}

/// Planes as a decoder hands them: borrowed, each row `stride` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Planes<'a> {
    pub y: &'a [u8],
    pub u: &'a [u8],
    pub v: &'a [u8],
    /// Bytes a row of the luma plane, and of each chroma plane.
    pub strides: (usize, usize),
}

/// Writes a `w`×`h` I420 picture into `img` at (x, y). The caller has
/// checked that the rectangle lies inside `img`, that `w` and `h` are
/// even, and that the planes hold `h` rows of `w` (`w / 2`) samples.
pub fn store(p: Planes<'_>, (w, h): (usize, usize), img: &mut Image, x: u32, y: u32) {
    let stride = img.width as usize;
    let (ys, cs) = p.strides;
    for r in 0..h {
        let at = (y as usize + r) * stride + x as usize;
        let out = &mut img.pixels[at..at + w];
        let luma = &p.y[r * ys..r * ys + w];
        let c = (r / 2) * cs;
        let (u, v) = (&p.u[c..c + w / 2], &p.v[c..c + w / 2]);
        for (((px, l), &u), &v) in out
            .chunks_exact_mut(2)
            .zip(luma.chunks_exact(2))
            .zip(u)
            .zip(v)
        {
            let (d, e) = (i32::from(u) - 128, i32::from(v) - 128);
            let (rd, gd, bd) = (409 * e + 128, -100 * d - 208 * e + 128, 516 * d + 128);
            for (px, &l) in px.iter_mut().zip(l) {
                let c = 298 * (i32::from(l) - 16);
                let clamp = |n: i32| (n >> 8).clamp(0, 255) as u32;
                *px = clamp(c + rd) << 16 | clamp(c + gd) << 8 | clamp(c + bd);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_and_colours_survive_a_round_trip_within_a_few_levels() {
        let pixels = [
            0x0000_0000,
            0x00ff_ffff,
            0x0080_8080,
            0x00ff_0000,
            0x0000_ff00,
            0x0000_00ff,
        ]
        .iter()
        .flat_map(|&p| [p, p])
        .collect::<Vec<u32>>();
        // 12×2: each colour a 2×2 block, so chroma is not averaged away.
        let row: Vec<u32> = pixels.clone();
        let img = Image {
            width: 12,
            height: 2,
            pixels: row.iter().chain(&row).copied().collect(),
        };
        let mut pic = I420::new(12, 2);
        pic.load(&img, 0, 0);
        let mut back = Image::new(12, 2).unwrap();
        let planes = Planes {
            y: &pic.y,
            u: &pic.u,
            v: &pic.v,
            strides: (12, 6),
        };
        store(planes, (12, 2), &mut back, 0, 0);
        for (a, b) in img.pixels.iter().zip(&back.pixels) {
            let (ra, ga, ba) = rgb(*a);
            let (rb, gb, bb) = rgb(*b);
            let worst = (ra - rb).abs().max((ga - gb).abs()).max((ba - bb).abs());
            assert!(worst <= 4, "{a:06x} came back {b:06x}");
        }
    }
}
