//! Frame updates applied to a framebuffer: any rectangle, any size, any
//! tile, picture, photo or H.264 video content (seeds/frame_update/video_key
//! is a whole frame holding a real key frame, so the fuzzer reaches the
//! decoder). First a whole frame (so partial ones have a base), then the
//! rest of the input as a second update.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_proto::frame::decode;
use lifeline_session::screen::{FrameUpdate, Framebuffer};

fuzz_target!(|data: &[u8]| {
    let mut fb = Framebuffer::new();
    let cut = data.len() / 2;
    for part in [&data[..cut], &data[cut..], data] {
        if let Ok(upd) = decode::<FrameUpdate>(part) {
            // Keep the fuzzer on decoding, not on allocating huge screens.
            if u64::from(upd.width) * u64::from(upd.height) <= 1 << 20 {
                let _ = fb.apply(&upd);
            }
        }
    }
});
