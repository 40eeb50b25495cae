//! Screen images and the frame updates that carry them.
//!
//! The screen is cut into 64×64 tiles. An update carries only what changed
//! since the previous one (the viewer has every earlier update: the stream
//! is reliable and ordered): scrolls as copies ([`CopyRect`], found by
//! [`crate::motion`]), photo-like regions that keep changing as JPEG
//! pictures ([`Picture`], [`crate::picture`]) or, once they have kept
//! moving for a few updates, as H.264 video ([`Video`], [`crate::video`]),
//! and every other changed tile
//! cut to the pixels that differ, exact: one colour, or its part of the
//! update's one zstd stream (a palette of up to 16 colours for text and
//! UI, predicted colour planes for the rest).
//! Approximate pictures are resent exact once the screen is still.
//!
//! - [`image`]: the pixel buffer and the geometry of its tiles;
//! - [`update`]: what travels (the wire types);
//! - [`tile`]: one tile's exact coding, both ways; `chain`: the update's
//!   stream of tiles, both ways;
//! - [`encoder`]: successive images in, updates out (host side), with
//!   `exact` (what goes exact, coded once), `moving` (scrolls, pictures,
//!   the video decision) and `refine` (refinement once still);
//! - [`framebuffer`]: updates in, the remote screen out (viewer side), with
//!   every rectangle checked against the screen before a pixel changes.

pub(crate) mod chain;
pub mod encoder;
mod exact;
pub mod framebuffer;
pub mod image;
mod moving;
mod refine;
pub mod tile;
pub mod update;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod video_tests;

pub use encoder::{Encoder, PICTURE_MIN_PIXELS, REFRESH_AFTER, Tuning};
pub use framebuffer::Framebuffer;
pub use image::Image;
pub(crate) use image::diff_box;
pub use update::{CopyRect, FrameUpdate, Photo, Picture, Tile, TileData, Video};

/// Tile edge in pixels.
pub const TILE: u32 = 64;
/// Largest screen edge accepted from a peer (8K and a little more).
pub const MAX_EDGE: u32 = 8_192;
/// Most pixels a screen may have: 8K UHD (7680×4320) and a little more,
/// so a hostile host cannot make a viewer allocate gigabytes.
pub const MAX_PIXELS: u64 = 8_192 * 4_608;
/// Most copies one update may carry (the encoder sends at most one scroll).
pub const MAX_COPIES: usize = 16;
/// Most pictures one update may carry (the encoder sends a few bands).
pub const MAX_PICTURES: usize = 16;
/// Most video frames one update may carry (the encoder sends one).
pub const MAX_VIDEO: usize = 4;

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
    #[error("an update carries {count} {what}, more than the {max} allowed")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("video stream {0} continues without the key frame that starts it")]
    VideoWithoutKey(u32),
    #[error("the video codec failed: {0}")]
    VideoCodec(String),
}
