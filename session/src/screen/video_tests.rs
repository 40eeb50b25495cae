//! Moving regions as H.264 video: when the encoder switches to it, how
//! streams start and continue, that a still screen still ends exact, and
//! what a viewer refuses.
#![cfg(feature = "h264")]

use super::*;
use crate::video::track::VIDEO_AFTER;

const W: u32 = 1024;
const H: u32 = 640;
/// The moving region: tile-aligned, 640×384 (above PICTURE_MIN_PIXELS).
const REGION: (u32, u32, u32, u32) = (192, 128, 640, 384);

/// A smooth photograph with a little grain, larger than the region so it
/// can pan across it.
fn photograph(w: u32, h: u32) -> Image {
    let mut g = 0x1234_5679u32;
    let pixels = (0..w * h)
        .map(|i| {
            let (x, y) = (f64::from(i % w), f64::from(i / w));
            g ^= g << 13;
            g ^= g >> 17;
            g ^= g << 5;
            let c = |a: f64, b: f64, o: f64| {
                (128.0 + 90.0 * (x / a + y / b + o).sin() + 30.0 * (x / 7.0 - y / 11.0).cos())
                    as u32
            };
            (c(41.0, 67.0, 0.0) << 16 | c(73.0, 29.0, 1.0) << 8 | c(53.0, 97.0, 2.0))
                ^ (g & 0x0001_0101)
        })
        .collect();
    Image {
        width: w,
        height: h,
        pixels,
    }
}

/// A desktop (two colours, text-like) with `photo` shown in `region` from
/// (ox, oy) of it.
fn screen(photo: &Image, region: (u32, u32, u32, u32), ox: u32, oy: u32) -> Image {
    let mut img = Image {
        width: W,
        height: H,
        pixels: (0..W * H)
            .map(|i| {
                if (i * 7 / 3) % 5 == 0 {
                    0x0020_2020
                } else {
                    0x00f0_f0f0
                }
            })
            .collect(),
    };
    let (x, y, w, h) = region;
    for r in 0..h {
        let src = ((oy + r) * photo.width + ox) as usize;
        let dst = ((y + r) * W + x) as usize;
        img.pixels[dst..dst + w as usize].copy_from_slice(&photo.pixels[src..src + w as usize]);
    }
    img
}

/// Peak signal-to-noise ratio of `b` against `a` over `region`, in dB.
fn psnr(a: &Image, b: &Image, (x, y, w, h): (u32, u32, u32, u32)) -> f64 {
    let mut se = 0f64;
    for (ra, rb) in a.tile_rows(x, y, w, h).zip(b.tile_rows(x, y, w, h)) {
        for (p, q) in ra.iter().zip(rb) {
            for s in [16, 8, 0] {
                let d = f64::from((p >> s) & 0xff) - f64::from((q >> s) & 0xff);
                se += d * d;
            }
        }
    }
    let mse = se / f64::from(w * h * 3);
    10.0 * (255.0 * 255.0 / mse.max(1e-9)).log10()
}

/// An encoder and viewer that have the desktop with the photograph at
/// its first position, and the photograph.
fn started() -> (Encoder, Framebuffer, Image) {
    let photo = photograph(800, 560);
    let mut enc = Encoder::new();
    let mut fb = Framebuffer::new();
    fb.apply(&enc.encode(&screen(&photo, REGION, 0, 0)).unwrap())
        .unwrap();
    (enc, fb, photo)
}

/// Pans the photograph `frames` steps, applying each update; returns them.
fn pan(
    enc: &mut Encoder,
    fb: &mut Framebuffer,
    photo: &Image,
    from: u32,
    frames: u32,
) -> Vec<FrameUpdate> {
    (from..from + frames)
        .map(|f| {
            let upd = enc.encode(&screen(photo, REGION, 4 * f, 2 * f)).unwrap();
            fb.apply(&upd).unwrap();
            upd
        })
        .collect()
}

#[test]
fn a_panning_photograph_goes_as_video_then_ends_exact() {
    let (mut enc, mut fb, photo) = started();
    let updates = pan(&mut enc, &mut fb, &photo, 1, 6);
    // Pictures until the motion has gone on VIDEO_AFTER updates, then video.
    for (i, u) in updates.iter().enumerate() {
        let video = i + 1 >= VIDEO_AFTER as usize;
        assert_eq!(u.video.len(), usize::from(video), "update {i}");
        assert_eq!(u.pictures.is_empty(), video, "update {i}");
    }
    let frames: Vec<&Video> = updates.iter().flat_map(|u| &u.video).collect();
    let (x, y, w, h) = REGION;
    assert!(frames.iter().all(|v| (v.x, v.y, v.w, v.h) == (x, y, w, h)));
    assert!(frames[0].key, "a stream starts with a key frame");
    assert!(
        frames[1..]
            .iter()
            .all(|v| !v.key && v.stream == frames[0].stream)
    );
    // P-frames of a pan are far smaller than the key frame, and than JPEG.
    let jpeg = updates[0].payload_bytes();
    let p = frames[1..].iter().map(|v| v.h264.len()).max().unwrap();
    assert!(
        p * 4 < frames[0].h264.len() && p * 4 < jpeg,
        "P {p}, key {}, JPEG {jpeg}",
        frames[0].h264.len()
    );
    assert_eq!(enc.video_frames(), (4, 1));
    // What the viewer shows is close to the source.
    let now = screen(&photo, REGION, 24, 12);
    let q = psnr(&now, fb.image().unwrap(), REGION);
    assert!(q > 32.0, "PSNR {q:.1} dB");
    assert!(fb.image() != Some(&now), "video is not exact");
    // Still: not refined while a pause may be a slideshow's (0.4 s, at
    // the nominal 33 ms a capture), then exact.
    for _ in 0..REFRESH_AFTER {
        assert!(enc.still().is_none(), "refined within a slideshow's pause");
    }
    for _ in 0..12 {
        if let Some(u) = enc.still() {
            assert!(u.video.is_empty());
            fb.apply(&u).unwrap();
        }
    }
    assert!(fb.image() == Some(&now), "not exact once still");
    assert!(!enc.refining());
}

#[test]
fn a_box_that_grows_starts_a_new_stream_and_reset_restarts_it() {
    let (mut enc, mut fb, photo) = started();
    let first = pan(&mut enc, &mut fb, &photo, 1, VIDEO_AFTER);
    let stream = first.last().unwrap().video[0].stream;
    // The motion spreads to a larger box around the first: a new stream
    // over all of it, from a key frame.
    let wider = (128, 64, 704, 512);
    let upd = enc.encode(&screen(&photo, wider, 40, 20)).unwrap();
    fb.apply(&upd).unwrap();
    let v = &upd.video[0];
    assert!(v.key && v.stream != stream);
    assert_eq!((v.x, v.y, v.w, v.h), wider);
    let upd = enc.encode(&screen(&photo, wider, 44, 22)).unwrap();
    assert!(!upd.video[0].key && upd.video[0].stream == v.stream);
    fb.apply(&upd).unwrap();
    // A whole frame (the viewer asked, or resumed): the next video frame
    // starts its stream over.
    enc.reset();
    let whole = enc.encode(&screen(&photo, wider, 48, 24)).unwrap();
    assert!(whole.full && whole.video.is_empty());
    fb.apply(&whole).unwrap();
    let upd = enc.encode(&screen(&photo, wider, 52, 26)).unwrap();
    assert!(upd.video[0].key, "after a reset");
    fb.apply(&upd).unwrap();
    // Likewise when a recording asks.
    enc.restart_video();
    let upd = enc.encode(&screen(&photo, wider, 56, 28)).unwrap();
    assert!(upd.video[0].key, "after restart_video");
}

#[test]
fn a_slideshow_with_still_captures_between_slides_goes_as_video() {
    let photo = photograph(800, 560);
    let mut enc = Encoder::new();
    let mut fb = Framebuffer::new();
    enc.at(0);
    fb.apply(&enc.encode(&screen(&photo, REGION, 0, 0)).unwrap())
        .unwrap();
    let mut t = 0;
    let mut kinds = Vec::new();
    for slide in 1..=5u32 {
        // A new slide every 200 ms, captures every 40 ms between.
        t += 40;
        enc.at(t);
        let upd = enc
            .encode(&screen(&photo, REGION, 30 * slide, 20 * slide))
            .unwrap();
        kinds.push((upd.pictures.is_empty(), upd.video.first().map(|v| v.stream)));
        fb.apply(&upd).unwrap();
        for _ in 0..4 {
            t += 40;
            enc.at(t);
            if let Some(u) = enc.still() {
                // Once it goes as video, no slide is refined in a pause:
                // the next one would throw the exact bytes away.
                assert!(slide < 3, "slide {slide} refined between slides");
                fb.apply(&u).unwrap();
            }
        }
    }
    // One stream from the third slide on (each slide may be a key frame:
    // the codec sees a new scene).
    let s = kinds[2].1;
    assert!(s.is_some());
    assert_eq!(
        kinds,
        [
            (false, None),
            (false, None),
            (true, s),
            (true, s),
            (true, s)
        ]
    );
    // Over a second later, the motion has ended: a change is a picture again.
    t += 2_000;
    enc.at(t);
    let upd = enc.encode(&screen(&photo, REGION, 0, 0)).unwrap();
    assert!(upd.video.is_empty() && !upd.pictures.is_empty());
}

#[test]
fn no_video_when_the_tuning_says_so() {
    for tuning in [
        Tuning {
            video_bitrate: 0,
            ..Tuning::default()
        },
        Tuning::exact(),
    ] {
        let (mut enc, mut fb, photo) = started();
        enc.tune(tuning);
        let updates = pan(&mut enc, &mut fb, &photo, 1, VIDEO_AFTER + 1);
        assert!(updates.iter().all(|u| u.video.is_empty()), "{tuning:?}");
    }
}

/// The updates of a pan: the one with the key frame and one after.
fn key_and_next() -> (FrameUpdate, FrameUpdate, FrameUpdate) {
    let (mut enc, mut fb, photo) = started();
    let base = Encoder::lossless().encode(fb.image().unwrap()).unwrap();
    let mut ups = pan(&mut enc, &mut fb, &photo, 1, VIDEO_AFTER + 1);
    let next = ups.pop().unwrap();
    let key = ups.pop().unwrap();
    assert!(key.video[0].key && !next.video[0].key);
    (base, key, next)
}

#[test]
fn a_frame_without_its_key_frame_is_refused_or_skipped_when_lenient() {
    let (base, _key, mut next) = key_and_next();
    let stream = next.video[0].stream;
    // Something else changes in the same update.
    next.tiles.push(Tile {
        x: 0,
        y: 0,
        w: 1,
        h: 1,
        data: TileData::Solid(0x00ff_0000),
    });
    let mut fb = Framebuffer::new();
    fb.apply(&base).unwrap();
    assert_eq!(fb.apply(&next), Err(ScreenError::VideoWithoutKey(stream)));
    assert_eq!(fb.image(), Some(&{ base_image(&base) }), "nothing drawn");
    let mut lenient = Framebuffer::new().lenient_video(true);
    lenient.apply(&base).unwrap();
    lenient.apply(&next).unwrap();
    assert_eq!(
        lenient.image().unwrap().get(0, 0),
        0x00ff_0000,
        "the rest applies"
    );
}

fn base_image(upd: &FrameUpdate) -> Image {
    let mut fb = Framebuffer::new();
    fb.apply(upd).unwrap();
    fb.image().unwrap().clone()
}

#[test]
fn hostile_video_is_refused_without_panic() {
    let (base, key, next) = key_and_next();
    let v = key.video[0].clone();
    let with = |video: Vec<Video>| FrameUpdate {
        seq: 9,
        copies: vec![],
        pictures: vec![],
        tiles: vec![],
        photos: vec![],
        full: false,
        video,
        ..key.clone()
    };
    let mut cases = vec![
        // Odd, too small, too large, outside the screen, overflowing.
        Video {
            w: 641,
            ..v.clone()
        },
        Video { h: 8, ..v.clone() },
        Video {
            w: 4_096,
            ..v.clone()
        },
        Video {
            x: W - 600,
            ..v.clone()
        },
        Video {
            x: u32::MAX - 10,
            ..v.clone()
        },
        // Not what was announced: the picture is 640×384.
        Video {
            w: 320,
            h: 192,
            ..v.clone()
        },
        // Garbage, empty, cut short.
        Video {
            h264: vec![0, 0, 0, 1, 0x65, 0xff, 0x00, 0x13],
            ..v.clone()
        },
        Video {
            h264: vec![],
            ..v.clone()
        },
        Video {
            h264: v.h264[..v.h264.len() / 3].to_vec(),
            ..v.clone()
        },
    ];
    cases.push(Video {
        h264: v.h264.iter().map(|b| b ^ 0x5a).collect(),
        ..v.clone()
    });
    for bad in cases {
        let mut fb = Framebuffer::new();
        fb.apply(&base).unwrap();
        let what = format!(
            "{}×{} at {},{}, {} bytes",
            bad.w,
            bad.h,
            bad.x,
            bad.y,
            bad.h264.len()
        );
        assert!(fb.apply(&with(vec![bad])).is_err(), "{what}");
    }
    let mut fb = Framebuffer::new();
    fb.apply(&base).unwrap();
    assert!(matches!(
        fb.apply(&with(vec![v.clone(); MAX_VIDEO + 1])),
        Err(ScreenError::TooMany { .. })
    ));
    // The real ones apply, in order.
    fb.apply(&key).unwrap();
    fb.apply(&next).unwrap();
}

#[test]
fn the_fuzz_seed_holds_a_decodable_key_frame() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/seeds/frame_update/video_key"
    );
    let bytes = std::fs::read(path).unwrap();
    let upd: FrameUpdate = lifeline_proto::frame::decode(&bytes).unwrap();
    assert!(upd.full && upd.video.len() == 1 && upd.video[0].key);
    let mut fb = Framebuffer::new();
    fb.apply(&upd).unwrap();
}

/// Writes the fuzz seed above: a whole 64×64 frame that is one key frame.
#[test]
#[ignore = "writes fuzz/seeds/frame_update/video_key; run once by hand"]
fn write_the_fuzz_seed() {
    let photo = photograph(64, 64);
    let mut codec = crate::video::VideoEncoder::new(64, 64).unwrap();
    let e = codec
        .encode(&photo, (0, 0, 64, 64), 0, 500_000, true)
        .unwrap();
    let upd = FrameUpdate {
        seq: 1,
        width: 64,
        height: 64,
        full: true,
        copies: vec![],
        pictures: vec![],
        tiles: vec![],
        photos: vec![],
        video: vec![Video {
            stream: 0,
            x: 0,
            y: 0,
            w: 64,
            h: 64,
            key: e.key,
            h264: e.h264,
        }],
    };
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/seeds/frame_update/video_key"
    );
    std::fs::write(path, postcard::to_stdvec(&upd).unwrap()).unwrap();
}
