//! The H.264 encoder and decoder of one stream, through OpenH264.

use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, RateControlMode, UsageType,
    VuiConfig,
};
use openh264::formats::YUVSource;
use openh264::{OpenH264API, Timestamp};

use super::yuv::{I420, Planes, store};
use super::{Encoded, fits};
use crate::screen::{Image, ScreenError, Video};

/// Frame rate the rate control plans for; frames may come slower.
const PLANNED_FPS: f32 = 30.0;
/// A bitrate this far from the stream's (either way) restarts the codec
/// at the new one, with a key frame; nearer, the stream goes on.
const BITRATE_SLACK: f64 = 1.5;
/// Lowest bitrate asked of the codec.
const MIN_BITRATE: u32 = 100_000;

/// Our I420 picture as the codec reads it.
struct Source<'a>(&'a I420);

impl YUVSource for Source<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width, self.0.height)
    }

    fn strides(&self) -> (usize, usize, usize) {
        (self.0.width, self.0.width / 2, self.0.width / 2)
    }

    fn y(&self) -> &[u8] {
        &self.0.y
    }

    fn u(&self) -> &[u8] {
        &self.0.u
    }

    fn v(&self) -> &[u8] {
        &self.0.v
    }
}

fn check_fits(w: u32, h: u32) -> Result<(), ScreenError> {
    if fits(w, h) {
        Ok(())
    } else {
        Err(ScreenError::BadSize(w, h))
    }
}

fn codec_error(e: openh264::Error) -> ScreenError {
    ScreenError::VideoCodec(e.to_string())
}

/// Encodes one stream: a rectangle of fixed size, frame after frame.
pub struct VideoEncoder {
    width: u32,
    height: u32,
    /// The codec, made at the first frame and again when the bitrate moves.
    codec: Option<(Encoder, u32)>,
    picture: I420,
    /// When the stream started, and the last timestamp given to the codec.
    start_ms: Option<u64>,
    last_ts: u64,
}

impl std::fmt::Debug for VideoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoEncoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bitrate", &self.codec.as_ref().map(|c| c.1))
            .finish_non_exhaustive()
    }
}

impl VideoEncoder {
    /// An encoder for `width`×`height` rectangles (even, at least 16).
    pub fn new(width: u32, height: u32) -> Result<Self, ScreenError> {
        check_fits(width, height)?;
        Ok(Self {
            width,
            height,
            codec: None,
            picture: I420::new(width as usize, height as usize),
            start_ms: None,
            last_ts: 0,
        })
    }

    fn codec(bitrate: u32) -> Result<Encoder, ScreenError> {
        // Screen content: better quality per byte than the camera mode on
        // panning and zooming photographs, and faster (see the module doc).
        // Adaptive quantisation and background detection are not
        // supported with it (OpenH264 would say so on stderr).
        let config = EncoderConfig::new()
            .usage_type(UsageType::ScreenContentRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(bitrate))
            .max_frame_rate(FrameRate::from_hz(PLANNED_FPS))
            .skip_frames(false)
            .complexity(Complexity::Low)
            .adaptive_quantization(false)
            .background_detection(false)
            .vui(VuiConfig::bt601());
        Encoder::with_api_config(OpenH264API::from_source(), config).map_err(codec_error)
    }

    /// The rectangle `rect` of `img` (the stream's size) as the next frame,
    /// at `at_ms` (any clock, only differences count) and about
    /// `bitrate_bps`; a key frame when `force_key`, at the first frame, or
    /// when the bitrate moved too far for the stream to go on.
    pub fn encode(
        &mut self,
        img: &Image,
        (x, y, w, h): (u32, u32, u32, u32),
        at_ms: u64,
        bitrate_bps: u32,
        force_key: bool,
    ) -> Result<Encoded, ScreenError> {
        let inside = x.checked_add(w).is_some_and(|r| r <= img.width)
            && y.checked_add(h).is_some_and(|b| b <= img.height);
        if (w, h) != (self.width, self.height) || !inside {
            return Err(ScreenError::BadSize(w, h));
        }
        let bitrate = bitrate_bps.max(MIN_BITRATE);
        let far = |now: u32| {
            let ratio = f64::from(bitrate) / f64::from(now);
            !(1.0 / BITRATE_SLACK..=BITRATE_SLACK).contains(&ratio)
        };
        let mut force = force_key;
        if self.codec.as_ref().is_none_or(|c| far(c.1)) {
            self.codec = Some((Self::codec(bitrate)?, bitrate));
            self.start_ms = None;
            force = false; // A new codec starts with one.
        }
        let start = *self.start_ms.get_or_insert(at_ms);
        // Strictly increasing, whatever the clock does.
        let ts = at_ms.saturating_sub(start).max(self.last_ts + 1);
        self.last_ts = ts;
        self.picture.load(img, x, y);
        let Some((codec, _)) = self.codec.as_mut() else {
            return Err(ScreenError::VideoCodec("no encoder".into()));
        };
        if force {
            codec.force_intra_frame();
        }
        let out = codec
            .encode_at(&Source(&self.picture), Timestamp::from_millis(ts))
            .map_err(codec_error)?;
        let key = out.frame_type() == FrameType::IDR;
        let h264 = out.to_vec();
        if h264.is_empty() {
            // Skipping is off; should the codec skip anyway, start over.
            self.codec = None;
            return Err(ScreenError::VideoCodec(
                "the encoder skipped a frame".into(),
            ));
        }
        Ok(Encoded { h264, key })
    }
}

/// Decodes one stream into the screen.
pub struct VideoDecoder {
    codec: Decoder,
}

impl std::fmt::Debug for VideoDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoDecoder").finish_non_exhaustive()
    }
}

impl VideoDecoder {
    /// A decoder waiting for a stream's key frame.
    pub fn new() -> Result<Self, ScreenError> {
        let codec = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(codec_error)?;
        Ok(Self { codec })
    }

    /// Decodes `v` into its rectangle of `img`. The picture must be exactly
    /// the announced size (else [`ScreenError::Corrupt`], nothing drawn);
    /// the rectangle must lie inside `img`.
    pub fn decode_into(&mut self, img: &mut Image, v: &Video) -> Result<(), ScreenError> {
        let corrupt = |why: String| ScreenError::Corrupt(format!("video: {why}"));
        check_fits(v.w, v.h)?;
        let inside = v.x.checked_add(v.w).is_some_and(|r| r <= img.width)
            && v.y.checked_add(v.h).is_some_and(|b| b <= img.height);
        if !inside || v.h264.is_empty() {
            return Err(corrupt(format!("{}×{} at {},{}", v.w, v.h, v.x, v.y)));
        }
        let decoded = self
            .codec
            .decode(&v.h264)
            .map_err(|e| corrupt(e.to_string()))?
            .ok_or_else(|| corrupt("no picture".into()))?;
        let (w, h) = decoded.dimensions();
        let (ys, cs, _) = decoded.strides();
        if (w, h) != (v.w as usize, v.h as usize) {
            return Err(corrupt(format!(
                "{w}×{h} where {}×{} was announced",
                v.w, v.h
            )));
        }
        let planes = Planes {
            y: decoded.y(),
            u: decoded.u(),
            v: decoded.v(),
            strides: (ys, cs),
        };
        // The codec's planes hold what it says; check before reading.
        let need = |stride: usize, rows: usize, row: usize| {
            stride >= row && stride.checked_mul(rows).is_some()
        };
        if !need(ys, h, w)
            || !need(cs, h / 2, w / 2)
            || planes.y.len() < ys * h
            || planes.u.len() < cs * (h / 2)
            || planes.v.len() < cs * (h / 2)
        {
            return Err(corrupt("short planes".into()));
        }
        store(planes, (w, h), img, v.x, v.y);
        Ok(())
    }
}
