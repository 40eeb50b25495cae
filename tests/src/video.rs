//! A deterministic video for the benchmarks, with no video files and no
//! ffmpeg: frame `k` of a `width`×`height` picture is a large photo-like
//! backdrop panned smoothly by `k`, a smaller picture gliding over it the
//! other way, and `k` itself drawn twice as a coarse barcode (16 blocks of
//! 32×32 pixels, black or white) in two far corners. A viewer reads `k`
//! back from the barcodes of whatever it shows, regenerates frame `k`
//! here, and compares the two ([`crate::ssim`]) outside the barcodes.
//! Both barcodes must read the same `k`, fully black or white, so a frame
//! torn between two updates or blurred past recognition is not counted.
//!
//! An X client (the compare benchmark's player) draws the same frames
//! from [`Video::backdrop`] and [`Video::sprite`] put into pixmaps once:
//! copy the backdrop from [`Layout::backdrop_at`], the sprite to
//! [`Layout::sprite_at`], then fill [`Video::blocks`].

use lifeline_session::screen::Image;

use crate::ssim::Area;
use crate::x::{photo_image, real_photo};

/// Frames a second the video is meant to be played at.
pub const FPS: u32 = 30;
/// Blocks per barcode (bits of `k`, least significant first) and their side.
pub const BITS: u32 = 16;
pub const BLOCK: u32 = 32;
/// How much larger than the frame the backdrop is (the pan's range).
const PAN: (u32, u32) = (640, 360);
/// The gliding picture's size.
const SPRITE: (u32, u32) = (480, 270);

/// The video's source pictures, made once.
pub struct Video {
    pub width: u32,
    pub height: u32,
    pub backdrop: Image,
    pub sprite: Image,
}

/// Where frame `k`'s pieces go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The backdrop's pixel shown at the frame's top left.
    pub backdrop_at: (u32, u32),
    /// Where the sprite's top left is drawn in the frame.
    pub sprite_at: (u32, u32),
}

/// Back and forth over `0..=range`, `speed` a frame.
fn bounce(k: u32, speed: u32, range: u32) -> u32 {
    if range == 0 {
        return 0;
    }
    let p = k.wrapping_mul(speed) % (2 * range);
    if p <= range { p } else { 2 * range - p }
}

impl Video {
    /// The video for a `width`×`height` window (at least 1024×576).
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            backdrop: real_photo("LadyBird.jpg", width + PAN.0, height + PAN.1),
            sprite: photo_image(SPRITE.0, SPRITE.1, 11),
        }
    }

    /// Where frame `k`'s pieces go: a pan of 3 and 2 pixels a frame, the
    /// sprite gliding 7 and 4 pixels a frame the other way.
    pub fn layout(&self, k: u32) -> Layout {
        Layout {
            backdrop_at: (bounce(k, 3, PAN.0), bounce(k, 2, PAN.1)),
            sprite_at: (
                (self.width - SPRITE.0) - bounce(k, 7, self.width - SPRITE.0),
                bounce(k, 4, self.height - SPRITE.1),
            ),
        }
    }

    /// The two barcodes' top-left corners: top right and bottom left.
    fn barcodes(&self) -> [(u32, u32); 2] {
        [(self.width - BITS * BLOCK, 0), (0, self.height - BLOCK)]
    }

    /// The barcodes' areas, to leave out of a comparison.
    pub fn barcode_areas(&self) -> Vec<Area> {
        self.barcodes()
            .iter()
            .map(|&(x, y)| (x, y, BITS * BLOCK, BLOCK))
            .collect()
    }

    /// Frame `k`'s barcode blocks: each block's area and whether it is
    /// white (its bit set).
    pub fn blocks(&self, k: u32) -> Vec<(Area, bool)> {
        let bits = k % (1 << BITS);
        self.barcodes()
            .iter()
            .flat_map(|&(x, y)| {
                (0..BITS).map(move |i| ((x + i * BLOCK, y, BLOCK, BLOCK), bits >> i & 1 == 1))
            })
            .collect()
    }

    /// Frame `k` as the player draws it.
    pub fn frame(&self, k: u32) -> Image {
        let l = self.layout(k);
        let (w, h) = (self.width as usize, self.height as usize);
        let bw = self.backdrop.width as usize;
        let (bx, by) = (l.backdrop_at.0 as usize, l.backdrop_at.1 as usize);
        let mut pixels = Vec::with_capacity(w * h);
        for y in 0..h {
            let at = (by + y) * bw + bx;
            pixels.extend_from_slice(&self.backdrop.pixels[at..at + w]);
        }
        let (sw, sh) = (SPRITE.0 as usize, SPRITE.1 as usize);
        let (sx, sy) = (l.sprite_at.0 as usize, l.sprite_at.1 as usize);
        for y in 0..sh {
            pixels[(sy + y) * w + sx..][..sw].copy_from_slice(&self.sprite.pixels[y * sw..][..sw]);
        }
        for ((x, y, bw, bh), white) in self.blocks(k) {
            let colour = if white { 0x00ff_ffff } else { 0 };
            for row in y..y + bh {
                pixels[row as usize * w + x as usize..][..bw as usize].fill(colour);
            }
        }
        Image {
            width: self.width,
            height: self.height,
            pixels,
        }
    }

    /// The frame number `img` shows, when both barcodes read the same and
    /// every block is clearly black or white.
    pub fn read(&self, img: &Image) -> Option<u32> {
        if (img.width, img.height) != (self.width, self.height) {
            return None;
        }
        let mut read = [0u32; 2];
        for (n, &(x0, y0)) in self.barcodes().iter().enumerate() {
            for i in 0..BITS {
                // The block's middle half: edges blur in a lossy codec.
                let (x, y) = (x0 + i * BLOCK + BLOCK / 4, y0 + BLOCK / 4);
                let mut sum = 0u32;
                for yy in y..y + BLOCK / 2 {
                    for xx in x..x + BLOCK / 2 {
                        let p = img.pixels[(yy * self.width + xx) as usize];
                        sum += ((p >> 16 & 0xff) + (p >> 8 & 0xff) * 2 + (p & 0xff)) / 4;
                    }
                }
                let mean = sum / (BLOCK / 2 * BLOCK / 2);
                match mean {
                    0..64 => {}
                    192.. => read[n] |= 1 << i,
                    _ => return None,
                }
            }
        }
        (read[0] == read[1]).then_some(read[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_reads_back_its_number() {
        let v = Video::new(1024, 576);
        for k in [0, 1, 2, 29, 30, 255, 1000, 65_535] {
            assert_eq!(v.read(&v.frame(k)), Some(k), "frame {k}");
        }
    }

    #[test]
    fn a_torn_or_blurred_frame_reads_nothing() {
        let v = Video::new(1024, 576);
        let (a, b) = (v.frame(10), v.frame(11));
        // The top half from one frame, the bottom from the next.
        let half = (576 / 2 * 1024) as usize;
        let mut torn = a.clone();
        torn.pixels[half..].copy_from_slice(&b.pixels[half..]);
        assert_eq!(v.read(&torn), None);
        // Every block grey: neither black nor white.
        let mut grey = a.clone();
        for ((x, y, w, h), _) in v.blocks(10) {
            for row in y..y + h {
                grey.pixels[(row * 1024 + x) as usize..][..w as usize].fill(0x0080_8080);
            }
        }
        assert_eq!(v.read(&grey), None);
    }

    #[test]
    fn frames_move_smoothly_and_stay_inside() {
        let v = Video::new(1024, 576);
        let (mut last, mut moved) = (v.layout(0), 0);
        for k in 1..2000 {
            let l = v.layout(k);
            let step = |a: u32, b: u32| a.abs_diff(b);
            assert!(step(l.backdrop_at.0, last.backdrop_at.0) <= 3);
            assert!(step(l.sprite_at.1, last.sprite_at.1) <= 4);
            assert!(l.backdrop_at.0 <= PAN.0 && l.backdrop_at.1 <= PAN.1);
            assert!(l.sprite_at.0 + SPRITE.0 <= 1024 && l.sprite_at.1 + SPRITE.1 <= 576);
            moved += usize::from(l != last);
            last = l;
        }
        assert_eq!(moved, 1999, "every frame differs from the one before");
        assert_ne!(v.frame(1).pixels, v.frame(2).pixels);
    }
}
