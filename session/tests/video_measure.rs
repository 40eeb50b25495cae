//! A measurement, not a check (ignored): a 1080p screen whose whole area
//! is a photograph panning 4 px right and 2 px down a frame, through the
//! encoder (video from the third update on) and a viewer's framebuffer.
//! Prints encode and decode ms a frame, bytes a frame and PSNR. Run it
//! optimised:
//!
//! ```text
//! cargo test --release -p lifeline-session --test video_measure -- --ignored --nocapture
//! ```
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use lifeline_session::screen::{Encoder, Framebuffer, Image, Tuning};

const W: u32 = 1920;
const H: u32 = 1080;

/// A smooth photograph-like picture (waves of colour, a little grain).
fn photograph(w: u32, h: u32) -> Image {
    let mut g = 0x1234_5679u32;
    let pixels = (0..w * h)
        .map(|i| {
            let (x, y) = (f64::from(i % w), f64::from(i / w));
            g ^= g << 13;
            g ^= g >> 17;
            g ^= g << 5;
            let c = |a: f64, b: f64, o: f64| {
                let v =
                    128.0 + 80.0 * (x / a + y / b + o).sin() + 30.0 * (x / 9.0 - y / 13.0).cos();
                v.clamp(0.0, 255.0) as u32
            };
            (c(141.0, 167.0, 0.0) << 16 | c(173.0, 129.0, 1.0) << 8 | c(153.0, 197.0, 2.0))
                ^ (g & 0x0003_0303)
        })
        .collect();
    Image {
        width: w,
        height: h,
        pixels,
    }
}

fn view(photo: &Image, ox: u32, oy: u32) -> Image {
    let pixels = (0..H)
        .flat_map(|y| {
            let at = ((y + oy) * photo.width + ox) as usize;
            photo.pixels[at..at + W as usize].iter().copied()
        })
        .collect();
    Image {
        width: W,
        height: H,
        pixels,
    }
}

fn psnr(a: &Image, b: &Image) -> f64 {
    let se: f64 = a
        .pixels
        .iter()
        .zip(&b.pixels)
        .map(|(p, q)| {
            [16, 8, 0]
                .iter()
                .map(|s| {
                    let d = f64::from((p >> s) & 0xff) - f64::from((q >> s) & 0xff);
                    d * d
                })
                .sum::<f64>()
        })
        .sum();
    10.0 * (255.0 * 255.0 / (se / (a.pixels.len() * 3) as f64)).log10()
}

#[test]
#[ignore = "a measurement; run with --release --ignored --nocapture"]
fn panning_photograph_at_1080p() {
    let photo = photograph(W + 400, H + 200);
    for bitrate in [4_000_000, 1_000_000] {
        let mut enc = Encoder::new();
        enc.tune(Tuning {
            video_bitrate: bitrate,
            ..Tuning::default()
        });
        let mut fb = Framebuffer::new();
        let (mut enc_ms, mut dec_ms, mut bytes, mut quality, mut n) = (0.0, 0.0, 0, 0.0, 0);
        let mut key_bytes = 0;
        let mut picture_bytes = 0;
        for f in 0..93u32 {
            let img = view(&photo, 4 * f, 2 * f);
            enc.at(u64::from(f) * 33);
            let t = Instant::now();
            let upd = enc.encode(&img).unwrap();
            let e = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            fb.apply(&upd).unwrap();
            let d = t.elapsed().as_secs_f64() * 1e3;
            match upd.video.first() {
                Some(v) if v.key => key_bytes = upd.payload_bytes(),
                Some(_) => {
                    enc_ms += e;
                    dec_ms += d;
                    bytes += upd.payload_bytes();
                    quality += psnr(&img, fb.image().unwrap());
                    n += 1;
                }
                None if f > 0 => picture_bytes = upd.payload_bytes(),
                None => {}
            }
        }
        let n = f64::from(n);
        println!(
            "1920×1080 panning photograph, video at {:.1} Mbit/s: encode {:.1} ms/frame \
             (whole update), decode {:.1} ms/frame, key frame {} B, P-frames {:.0} B/frame \
             ({:.2} Mbit/s at 30 frames/s), PSNR {:.1} dB; as JPEG pictures {} B/frame",
            f64::from(bitrate) / 1e6,
            enc_ms / n,
            dec_ms / n,
            key_bytes,
            bytes as f64 / n,
            bytes as f64 / n * 8.0 * 30.0 / 1e6,
            quality / n,
            picture_bytes,
        );
    }
}
