//! H.264 for screen regions that keep moving (a video, an animation, a
//! slideshow): a fraction of the bytes of JPEG pictures of every frame.
//! The encoder sends such a region as video once it has moved over the
//! same area for a few updates in a row, and exact once it is still, like
//! any picture.
//!
//! - [`yuv`]: the screen's pixels to and from I420, in integer BT.601;
//! - [`VideoEncoder`], [`VideoDecoder`]: one stream of one fixed-size
//!   rectangle each way, through Cisco's OpenH264 (the `h264` feature, on
//!   by default; without it, encoding and decoding fail with
//!   [`ScreenError::VideoCodec`] and the encoder keeps to pictures);
//! - [`track`]: which region is moving, and its stream (host side).
//!
//! Settings, measured on a 1080p panning and zooming photograph at
//! 4 Mbit/s: OpenH264's screen-content mode gave better quality per byte
//! than its camera mode (37 dB at 1.7 kB a frame against 41 dB at 15 kB
//! panning; 37 dB at 5 kB against 36 dB at 8 kB zooming) and encodes
//! faster; frames are never skipped (the host's flow control paces
//! updates, and a skipped frame would leave the viewer behind).

#[cfg_attr(not(feature = "h264"), path = "none.rs")]
mod codec;
pub(crate) mod track;
pub mod yuv;

pub use codec::{VideoDecoder, VideoEncoder};

#[cfg(doc)]
use crate::screen::ScreenError;

/// Largest video rectangle: OpenH264 codes up to 3840×2160 (either way up).
pub const MAX_VIDEO_EDGE: u32 = 3_840;
/// Most pixels of a video rectangle (3840×2160).
pub const MAX_VIDEO_PIXELS: u32 = 3_840 * 2_160;
/// Smallest video edge (one macroblock).
pub const MIN_VIDEO_EDGE: u32 = 16;

/// One encoded frame of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The access unit (Annex B).
    pub h264: Vec<u8>,
    /// An IDR frame: decodable alone, starting the stream over.
    pub key: bool,
}

/// Whether a `w`×`h` rectangle can be a video stream: even sides of at
/// least [`MIN_VIDEO_EDGE`], within what the codec handles.
pub fn fits(w: u32, h: u32) -> bool {
    w >= MIN_VIDEO_EDGE
        && h >= MIN_VIDEO_EDGE
        && w.is_multiple_of(2)
        && h.is_multiple_of(2)
        && w.max(h) <= MAX_VIDEO_EDGE
        && w.min(h) <= 2_160
}
