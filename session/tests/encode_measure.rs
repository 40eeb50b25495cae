//! A measurement, not a check (ignored): a whole 1080p screen of a real
//! photograph (Debian's `mate-backgrounds`, else a synthetic one) through
//! the exact encoder, and a lossy first screen refined exact in one go.
//! Prints encode ms and bytes. Run it optimised (the lead's figures) or in
//! debug as a sanity check of a refactor:
//!
//! ```text
//! cargo test --release -p lifeline-session --test encode_measure -- --ignored --nocapture
//! ```
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use lifeline_session::screen::{Encoder, Framebuffer, Image, Tuning};

const W: u32 = 1920;
const H: u32 = 1080;
const PHOTO: &str = "/usr/share/backgrounds/mate/nature/RainDrops.jpg";

/// The photograph's centre, scaled up where it is smaller; a smooth
/// synthetic picture where it is not installed.
fn photograph() -> Image {
    let Ok(img) = image::open(PHOTO) else {
        println!("{PHOTO} missing: a synthetic picture instead");
        let pixels = (0..W * H)
            .map(|i| {
                let (x, y) = (i % W, i / W);
                (x * 255 / W) << 16 | (y * 255 / H) << 8 | ((x ^ y) * 7 % 256)
            })
            .collect();
        return Image {
            width: W,
            height: H,
            pixels,
        };
    };
    let img = img.to_rgb8();
    let scale = (f64::from(W) / f64::from(img.width())).max(f64::from(H) / f64::from(img.height()));
    let img = if scale > 1.0 {
        let sw = (f64::from(img.width()) * scale).ceil() as u32;
        let sh = (f64::from(img.height()) * scale).ceil() as u32;
        image::imageops::resize(&img, sw, sh, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let (x0, y0) = ((img.width() - W) / 2, (img.height() - H) / 2);
    let pixels = (y0..y0 + H)
        .flat_map(|y| (x0..x0 + W).map(move |x| (x, y)))
        .map(|(x, y)| {
            let p = img.get_pixel(x, y);
            u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2])
        })
        .collect();
    Image {
        width: W,
        height: H,
        pixels,
    }
}

#[test]
#[ignore = "a measurement; run with --ignored --nocapture"]
fn whole_photograph_at_1080p() {
    let img = photograph();
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..3 {
        let mut enc = Encoder::lossless();
        let t = Instant::now();
        let upd = enc.encode(&img).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        bytes = upd.payload_bytes();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "exact whole frame: {:.1} ms (median of 3), {bytes} bytes",
        times[1]
    );

    // A lossy first screen, then its refinement to exact in one update.
    let mut enc = Encoder::new();
    enc.tune(Tuning {
        lossy_whole: true,
        refine_after: 1,
        ..Tuning::default()
    });
    let mut fb = Framebuffer::new();
    let first = enc.encode(&img).unwrap();
    fb.apply(&first).unwrap();
    let t = Instant::now();
    let refine = enc.still().unwrap();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    fb.apply(&refine).unwrap();
    assert_eq!(fb.image().unwrap(), &img);
    println!(
        "lossy first screen {} bytes; refinement {ms:.1} ms, {} bytes ({} photo bands, {} tiles)",
        first.payload_bytes(),
        refine.payload_bytes(),
        refine.photos.len(),
        refine.tiles.len()
    );
}
