//! JPEG for photo-like regions that keep changing (video, slideshows): the
//! exact path costs megabytes a frame there. The encoder resends such
//! regions exact once the screen is still, so a viewer never keeps an
//! approximation of a screen that stopped changing.

use crate::screen::{Image, Picture, ScreenError};

/// Good enough for moving pictures on a fast link; exact pixels follow
/// when they stop. A slow link gets a lower quality from the host.
pub const QUALITY: u8 = 70;

/// The rectangle (x, y, w, h) of `img` as a JPEG.
pub fn encode(
    img: &Image,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    quality: u8,
) -> Result<Vec<u8>, ScreenError> {
    let (wu, hu) = (
        u16::try_from(w).map_err(|_| ScreenError::BadSize(w, h))?,
        u16::try_from(h).map_err(|_| ScreenError::BadSize(w, h))?,
    );
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for row in img.tile_rows(x, y, w, h) {
        for &p in row {
            rgb.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, p as u8]);
        }
    }
    let mut out = Vec::with_capacity(rgb.len() / 10);
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    enc.encode(&rgb, wu, hu, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| ScreenError::Corrupt(format!("JPEG encoding failed: {e}")))?;
    Ok(out)
}

/// The rectangle as JPEG pictures: a tall one in two bands encoded at
/// once on two threads, so a full-screen change costs half the time.
pub fn encode_bands(
    img: &Image,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    quality: u8,
) -> Result<Vec<Picture>, ScreenError> {
    let picture =
        |y: u32, h: u32| encode(img, x, y, w, h, quality).map(|jpeg| Picture { x, y, w, h, jpeg });
    if h < 256 {
        return Ok(vec![picture(y, h)?]);
    }
    // Split on a whole number of 16-row blocks, where 4:2:0 JPEG blocks end.
    let top = h / 2 / 16 * 16;
    let (a, b) = std::thread::scope(|s| {
        let upper = s.spawn(|| picture(y, top));
        let lower = picture(y + top, h - top);
        (upper.join(), lower)
    });
    let a = a.map_err(|_| ScreenError::Corrupt("JPEG encoding thread panicked".into()))?;
    Ok(vec![a?, b?])
}

/// Decodes `p` into its rectangle of `img`; the JPEG must be exactly the
/// rectangle's size (checked before decoding, so a hostile header cannot
/// make us allocate more).
pub fn decode_into(img: &mut Image, p: &Picture) -> Result<(), ScreenError> {
    let corrupt = |why: String| ScreenError::Corrupt(format!("picture: {why}"));
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(&p.jpeg), image::ImageFormat::Jpeg);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(p.w);
    limits.max_image_height = Some(p.h);
    limits.max_alloc = Some(u64::from(p.w) * u64::from(p.h) * 4 + (1 << 20));
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| corrupt(e.to_string()))?
        .into_rgb8();
    if decoded.width() != p.w || decoded.height() != p.h {
        return Err(corrupt(format!(
            "{}×{} where {}×{} was announced",
            decoded.width(),
            decoded.height(),
            p.w,
            p.h
        )));
    }
    let width = img.width as usize;
    for (r, line) in decoded.as_raw().chunks_exact(p.w as usize * 3).enumerate() {
        let at = (p.y as usize + r) * width + p.x as usize;
        for (dst, px) in img.pixels[at..at + p.w as usize]
            .iter_mut()
            .zip(line.chunks_exact(3))
        {
            *dst = u32::from(px[0]) << 16 | u32::from(px[1]) << 8 | u32::from(px[2]);
        }
    }
    Ok(())
}
