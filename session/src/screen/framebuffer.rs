//! The viewer's side of the codec: applies updates from the host to its
//! copy of the remote screen. Everything in an update comes from the other
//! side, so every rectangle is checked against the screen before any pixel
//! changes. Video frames chain: a decoder per stream, started by the
//! stream's key frame.

use super::chain::ChainDecoder;
use super::image::{apply_copy, check_size};
use super::tile::decode_tile;
use super::{
    FrameUpdate, Image, MAX_COPIES, MAX_EDGE, MAX_PICTURES, MAX_VIDEO, ScreenError, TILE, Video,
};
use crate::video::VideoDecoder;

/// Video streams a viewer keeps decoders for (the encoder runs one at a
/// time); a new one beyond this drops the one used longest ago.
pub const MAX_STREAMS: usize = 2;

/// The viewer's copy of the remote screen.
#[derive(Debug, Default)]
pub struct Framebuffer {
    image: Option<Image>,
    /// A decoder per video stream, most recently used last.
    streams: Vec<(u32, VideoDecoder)>,
    /// Video that continues a stream without its key frame is skipped
    /// rather than refused (a recording played from the middle).
    lenient_video: bool,
}

impl Framebuffer {
    /// An empty framebuffer, waiting for a whole frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether video that continues a stream whose key frame this
    /// framebuffer never saw is skipped (the rest of the update applies)
    /// rather than refused with [`ScreenError::VideoWithoutKey`]. A live
    /// viewer refuses, and asks for a whole frame; a recording played from
    /// a keyframe in the middle of a video skips until the next key frame.
    pub fn lenient_video(mut self, lenient: bool) -> Self {
        self.lenient_video = lenient;
        self
    }

    /// The current image, once a whole frame has arrived.
    pub fn image(&self) -> Option<&Image> {
        self.image.as_ref()
    }

    /// Applies an update. Everything is checked against the screen before
    /// any pixel changes; tile data that turns out corrupt may leave the
    /// image partly updated, and the viewer then asks for a whole frame.
    pub fn apply(&mut self, upd: &FrameUpdate) -> Result<(), ScreenError> {
        self.check(upd)?;
        let play = self.playable(&upd.video)?;
        let streams = &mut self.streams;
        apply_checked(&mut self.image, upd, &mut |img, i, v| {
            if play[i] {
                decode_video(streams, img, v)?;
            }
            Ok(())
        })
    }

    /// Applies an update whose video frames the caller decodes itself
    /// (a browser's own H.264 decoder): `draw(img, i, v)` draws the
    /// update's `i`th video frame `v` into the screen, in the update's
    /// order (after the copies, before the pictures and tiles). The
    /// caller keeps its own streams; this framebuffer's are not used.
    pub fn apply_with(
        &mut self,
        upd: &FrameUpdate,
        draw: &mut dyn FnMut(&mut Image, usize, &Video) -> Result<(), ScreenError>,
    ) -> Result<(), ScreenError> {
        self.check(upd)?;
        apply_checked(&mut self.image, upd, draw)
    }

    /// Checks an update against the screen it describes, as
    /// [`Framebuffer::apply`] does before any pixel changes: sizes,
    /// counts, every rectangle inside, video sides the codec takes.
    pub fn check(&self, upd: &FrameUpdate) -> Result<(), ScreenError> {
        check_size(upd.width, upd.height)?;
        check_counts(upd)?;
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
        if let Some(v) = upd.video.iter().find(|v| !crate::video::fits(v.w, v.h)) {
            return Err(ScreenError::Corrupt(format!(
                "video of {}×{} (sides must be even, 16 to {})",
                v.w,
                v.h,
                crate::video::MAX_VIDEO_EDGE
            )));
        }
        let rects = upd
            .pictures
            .iter()
            .map(|p| ("picture", p.x, p.y, p.w, p.h))
            .chain(upd.photos.iter().map(|p| ("photo", p.x, p.y, p.w, p.h)))
            .chain(upd.video.iter().map(|v| ("video", v.x, v.y, v.w, v.h)));
        let mut area = 0u64;
        for (what, x, y, w, h) in rects {
            if !inside(x, y, w, h, MAX_EDGE) {
                return Err(ScreenError::Corrupt(format!(
                    "{what} at {x},{y} ({w}×{h}) leaves the screen"
                )));
            }
            area += u64::from(w) * u64::from(h);
        }
        // Each is decoded into a buffer of its own size: together they may
        // not cover more than the screen twice (a picture and its refinement).
        if area > 2 * u64::from(upd.width) * u64::from(upd.height) {
            return Err(ScreenError::Corrupt(format!(
                "pictures, photos and video cover {area} pixels of a {}×{} screen",
                upd.width, upd.height
            )));
        }
        if !upd.full
            && self
                .image
                .as_ref()
                .is_none_or(|img| (img.width, img.height) != (upd.width, upd.height))
        {
            return Err(ScreenError::NoBase);
        }
        Ok(())
    }

    /// Which video frames can be decoded: those of streams started by a
    /// key frame, here or before. Another is refused before anything is
    /// drawn, or skipped when lenient.
    fn playable(&self, video: &[Video]) -> Result<Vec<bool>, ScreenError> {
        let mut known: Vec<u32> = self.streams.iter().map(|s| s.0).collect();
        let mut play = Vec::with_capacity(video.len());
        for v in video {
            if v.key {
                known.push(v.stream);
            } else if !known.contains(&v.stream) {
                if !self.lenient_video {
                    return Err(ScreenError::VideoWithoutKey(v.stream));
                }
                play.push(false);
                continue;
            }
            play.push(true);
        }
        Ok(play)
    }
}

/// Applies a checked update in its order: copies, video (drawn by
/// `draw`), pictures, photos, tiles. A whole frame is built aside, so a
/// bad one leaves the old screen.
fn apply_checked(
    image: &mut Option<Image>,
    upd: &FrameUpdate,
    draw: &mut dyn FnMut(&mut Image, usize, &Video) -> Result<(), ScreenError>,
) -> Result<(), ScreenError> {
    let mut apply = |img: &mut Image| {
        for c in &upd.copies {
            apply_copy(img, c);
        }
        for (i, v) in upd.video.iter().enumerate() {
            draw(img, i, v)?;
        }
        for p in &upd.pictures {
            crate::picture::decode_into(img, p)?;
        }
        for p in &upd.photos {
            crate::photo::decode_into(img, p)?;
        }
        let mut chain = ChainDecoder::default();
        upd.tiles
            .iter()
            .try_for_each(|t| decode_tile(img, t, &mut chain))
    };
    if upd.full {
        let mut next = Image::new(upd.width, upd.height)?;
        apply(&mut next)?;
        *image = Some(next);
        return Ok(());
    }
    match image {
        Some(img) if img.width == upd.width && img.height == upd.height => apply(img),
        _ => Err(ScreenError::NoBase),
    }
}

/// Decodes `v` with its stream's decoder (a new one for a key frame); a
/// stream whose frame fails to decode is forgotten.
fn decode_video(
    streams: &mut Vec<(u32, VideoDecoder)>,
    img: &mut Image,
    v: &Video,
) -> Result<(), ScreenError> {
    let at = streams.iter().position(|s| s.0 == v.stream);
    let mut dec = match (at, v.key) {
        (Some(i), false) => streams.remove(i).1,
        (at, true) => {
            if let Some(i) = at {
                streams.remove(i);
            }
            VideoDecoder::new()?
        }
        (None, false) => return Err(ScreenError::VideoWithoutKey(v.stream)),
    };
    dec.decode_into(img, v)?;
    if streams.len() >= MAX_STREAMS {
        streams.remove(0);
    }
    streams.push((v.stream, dec));
    Ok(())
}

/// Bounds what one update can make the viewer do: a few copies and
/// pictures, and no more tiles than the screen has (the encoder sends each
/// tile at most once an update).
fn check_counts(upd: &FrameUpdate) -> Result<(), ScreenError> {
    let grid = upd.width.div_ceil(TILE) as usize * upd.height.div_ceil(TILE) as usize;
    for (what, count, max) in [
        ("copies", upd.copies.len(), MAX_COPIES),
        ("pictures", upd.pictures.len(), MAX_PICTURES),
        ("video frames", upd.video.len(), MAX_VIDEO),
        ("photos", upd.photos.len(), grid),
        ("tiles", upd.tiles.len(), grid),
    ] {
        if count > max {
            return Err(ScreenError::TooMany { what, count, max });
        }
    }
    Ok(())
}
