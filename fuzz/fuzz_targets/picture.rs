//! JPEG pictures and exact photo bands decoded into a screen: any bytes,
//! any announced size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeline_session::screen::{Image, Photo, Picture};

fuzz_target!(|data: &[u8]| {
    let Some((&[w, h], body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (w, h) = (u32::from(w % 64) + 1, u32::from(h % 64) + 1);
    let Ok(mut img) = Image::new(64, 64) else {
        return;
    };
    let picture = Picture {
        x: 0,
        y: 0,
        w,
        h,
        jpeg: body.to_vec(),
    };
    let _ = lifeline_session::picture::decode_into(&mut img, &picture);
    let photo = Photo {
        x: 0,
        y: 0,
        w,
        h,
        zstd: body.to_vec(),
    };
    let _ = lifeline_session::photo::decode_into(&mut img, &photo);
});
