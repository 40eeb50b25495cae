//! SSIM (structural similarity, Wang et al. 2004) on luma, for judging a
//! lossy picture against its source in the benchmarks: 8×8 windows every
//! 4 pixels (as libvpx's `vpx_ssim` steps them), uniform weights, the
//! usual constants for 8-bit samples. 1.0 means identical; noise, blur and
//! blocking lower it; about 0.95 and above reads as good video.

use lifeline_session::screen::Image;

/// A rectangle of pixels: x, y, width, height.
pub type Area = (u32, u32, u32, u32);

const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

/// The luma (BT.601) of each pixel of a `0x00RRGGBB` image, row by row.
pub fn luma(img: &Image) -> Vec<u8> {
    img.pixels
        .iter()
        .map(|&p| {
            let (r, g, b) = ((p >> 16) & 0xff, (p >> 8) & 0xff, p & 0xff);
            ((299 * r + 587 * g + 114 * b + 500) / 1000) as u8
        })
        .collect()
}

/// Sums over one 4×4 block: Σa, Σb, Σa², Σb², Σab.
#[derive(Clone, Copy, Default)]
struct Sums([u64; 5]);

impl std::ops::Add for Sums {
    type Output = Sums;
    fn add(self, o: Sums) -> Sums {
        let mut s = self.0;
        s.iter_mut().zip(o.0).for_each(|(a, b)| *a += b);
        Sums(s)
    }
}

/// The 4×4 blocks' sums, `bw` × `bh` of them.
fn blocks(a: &[u8], b: &[u8], width: usize, bw: usize, bh: usize) -> Vec<Sums> {
    let mut out = vec![Sums::default(); bw * bh];
    for y in 0..bh * 4 {
        let row = y * width;
        for bx in 0..bw {
            let s = &mut out[(y / 4) * bw + bx].0;
            for x in bx * 4..bx * 4 + 4 {
                let (p, q) = (u64::from(a[row + x]), u64::from(b[row + x]));
                s[0] += p;
                s[1] += q;
                s[2] += p * p;
                s[3] += q * q;
                s[4] += p * q;
            }
        }
    }
    out
}

/// One window's SSIM from its sums over `n` samples.
fn window(s: Sums, n: f64) -> f64 {
    let [sa, sb, saa, sbb, sab] = s.0.map(|v| v as f64);
    let (ma, mb) = (sa / n, sb / n);
    let va = saa / n - ma * ma;
    let vb = sbb / n - mb * mb;
    let cov = sab / n - ma * mb;
    ((2.0 * ma * mb + C1) * (2.0 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2))
}

/// The mean SSIM of two `width` × `height` luma planes over every 8×8
/// window (stepped by 4) that touches none of `skip`; `None` when the
/// sizes differ or no window is left.
pub fn ssim(a: &[u8], b: &[u8], width: u32, height: u32, skip: &[Area]) -> Option<f64> {
    let (w, h) = (width as usize, height as usize);
    if a.len() != w * h || b.len() != w * h || w < 8 || h < 8 {
        return None;
    }
    let (bw, bh) = (w / 4, h / 4);
    let sums = blocks(a, b, w, bw, bh);
    let touches = |x: usize, y: usize| {
        skip.iter().any(|&(sx, sy, sw, sh)| {
            let (sx, sy, sw, sh) = (sx as usize, sy as usize, sw as usize, sh as usize);
            x < sx + sw && sx < x + 8 && y < sy + sh && sy < y + 8
        })
    };
    let (mut total, mut n) = (0.0, 0usize);
    for by in 0..bh - 1 {
        for bx in 0..bw - 1 {
            if touches(bx * 4, by * 4) {
                continue;
            }
            let at = by * bw + bx;
            let s = sums[at] + sums[at + 1] + sums[at + bw] + sums[at + bw + 1];
            total += window(s, 64.0);
            n += 1;
        }
    }
    (n > 0).then(|| total / n as f64)
}

/// [`ssim`] of two images of the same size, on their luma.
pub fn ssim_images(a: &Image, b: &Image, skip: &[Area]) -> Option<f64> {
    if (a.width, a.height) != (b.width, b.height) {
        return None;
    }
    ssim(&luma(a), &luma(b), a.width, a.height, skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize, seed: u32, amplitude: i32) -> Vec<i32> {
        let mut g = seed | 1;
        (0..len)
            .map(|_| {
                g ^= g << 13;
                g ^= g >> 17;
                g ^= g << 5;
                (g % (2 * amplitude as u32 + 1)) as i32 - amplitude
            })
            .collect()
    }

    fn textured(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .map(|i| ((i % w) * 3 + (i / w) * 5 + (i % 7) * 20) as u8)
            .collect()
    }

    #[test]
    fn identical_planes_score_one() {
        let a = textured(64, 48);
        let s = ssim(&a, &a, 64, 48, &[]).unwrap();
        assert!((s - 1.0).abs() < 1e-12, "{s}");
    }

    #[test]
    fn flat_planes_score_the_luminance_term_alone() {
        // Both flat: variances and covariance are 0, so each window is
        // (2·100·110 + C1) / (100² + 110² + C1) = 0.995476…
        let (a, b) = (vec![100u8; 32 * 32], vec![110u8; 32 * 32]);
        let s = ssim(&a, &b, 32, 32, &[]).unwrap();
        let want = (2.0 * 100.0 * 110.0 + C1) / (100.0f64.powi(2) + 110.0f64.powi(2) + C1);
        assert!((s - want).abs() < 1e-12, "{s} vs {want}");
        assert!((s - 0.995_476).abs() < 1e-6);
    }

    #[test]
    fn more_noise_scores_lower() {
        let a = textured(128, 64);
        let noisy = |amp| -> Vec<u8> {
            a.iter()
                .zip(noise(a.len(), 7, amp))
                .map(|(&p, n)| (i32::from(p) + n).clamp(0, 255) as u8)
                .collect()
        };
        let light = ssim(&a, &noisy(4), 128, 64, &[]).unwrap();
        let heavy = ssim(&a, &noisy(40), 128, 64, &[]).unwrap();
        assert!(
            light < 1.0 && heavy < light && heavy > 0.0,
            "{light} {heavy}"
        );
    }

    #[test]
    fn skipped_areas_do_not_count() {
        let a = textured(64, 64);
        let mut b = a.clone();
        // Wreck the top half; skipping it leaves only identical windows.
        b[..64 * 32].iter_mut().for_each(|p| *p = 255 - *p);
        assert!(ssim(&a, &b, 64, 64, &[]).unwrap() < 0.9);
        let s = ssim(&a, &b, 64, 64, &[(0, 0, 64, 32)]).unwrap();
        assert!((s - 1.0).abs() < 1e-12, "{s}");
        assert_eq!(ssim(&a, &b, 64, 64, &[(0, 0, 64, 64)]), None);
        assert_eq!(ssim(&a, &b[1..], 64, 64, &[]), None);
    }

    #[test]
    fn luma_weights_green_most() {
        let img = Image {
            width: 3,
            height: 1,
            pixels: vec![0x00ff_0000, 0x0000_ff00, 0x0000_00ff],
        };
        assert_eq!(luma(&img), vec![76, 150, 29]);
    }
}
