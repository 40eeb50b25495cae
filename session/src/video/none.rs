//! Built without the `h264` feature: no video either way. The encoder
//! then keeps to pictures, and a viewer refuses video it is sent.

use super::Encoded;
use crate::screen::{Image, ScreenError, Video};

fn unsupported() -> ScreenError {
    ScreenError::VideoCodec("built without H.264".into())
}

/// Stands in for the H.264 encoder: cannot be made.
#[derive(Debug)]
pub struct VideoEncoder(());

impl VideoEncoder {
    /// Always fails: no codec in this build.
    pub fn new(_width: u32, _height: u32) -> Result<Self, ScreenError> {
        Err(unsupported())
    }

    /// Never reached (no encoder can be made).
    pub fn encode(
        &mut self,
        _img: &Image,
        _rect: (u32, u32, u32, u32),
        _at_ms: u64,
        _bitrate_bps: u32,
        _force_key: bool,
    ) -> Result<Encoded, ScreenError> {
        Err(unsupported())
    }
}

/// Stands in for the H.264 decoder: cannot be made.
#[derive(Debug)]
pub struct VideoDecoder(());

impl VideoDecoder {
    /// Always fails: no codec in this build.
    pub fn new() -> Result<Self, ScreenError> {
        Err(unsupported())
    }

    /// Never reached (no decoder can be made).
    pub fn decode_into(&mut self, _img: &mut Image, _v: &Video) -> Result<(), ScreenError> {
        Err(unsupported())
    }
}
