//! Property: whatever sequence of screens the encoder is given, and however
//! it is tuned (exact, lossy pictures, video, refinement in pieces), a viewer that
//! applies every update ends with exactly the last screen once the encoder
//! has nothing left to refine.
#![allow(clippy::unwrap_used)]

use lifeline_session::screen::{Encoder, Framebuffer, Image, Tuning};
use proptest::prelude::*;

const W: u32 = 160;
const H: u32 = 96;

/// One change to the screen: a rectangle of flat colour, of noise, of a
/// gradient, or a vertical shift of a band (a scroll).
#[derive(Debug, Clone)]
enum Change {
    Fill {
        x: u32,
        y: u32,
        w: u32,
        h: u32,
        colour: u32,
    },
    Noise {
        x: u32,
        y: u32,
        w: u32,
        h: u32,
        seed: u32,
    },
    Gradient {
        x: u32,
        y: u32,
        w: u32,
        h: u32,
    },
    Scroll {
        y: u32,
        h: u32,
        by: u32,
    },
}

fn rect() -> impl Strategy<Value = (u32, u32, u32, u32)> {
    (0..W, 0..H).prop_flat_map(|(x, y)| (Just(x), Just(y), 1..=W - x, 1..=H - y))
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (rect(), any::<u32>()).prop_map(|((x, y, w, h), c)| Change::Fill {
            x,
            y,
            w,
            h,
            colour: c & 0x00ff_ffff
        }),
        (rect(), any::<u32>()).prop_map(|((x, y, w, h), seed)| Change::Noise { x, y, w, h, seed }),
        rect().prop_map(|(x, y, w, h)| Change::Gradient { x, y, w, h }),
        (0..H - 2, 2..H, 1..16u32).prop_map(|(y, h, by)| Change::Scroll {
            y,
            h: h.min(H - y),
            by
        }),
    ]
}

fn apply(img: &mut Image, c: &Change) {
    let mut set = |x: u32, y: u32, p: u32| img.pixels[(y * W + x) as usize] = p & 0x00ff_ffff;
    match *c {
        Change::Fill { x, y, w, h, colour } => {
            for yy in y..y + h {
                for xx in x..x + w {
                    set(xx, yy, colour);
                }
            }
        }
        Change::Noise { x, y, w, h, seed } => {
            let mut s = seed | 1;
            for yy in y..y + h {
                for xx in x..x + w {
                    s ^= s << 13;
                    s ^= s >> 17;
                    s ^= s << 5;
                    set(xx, yy, s);
                }
            }
        }
        Change::Gradient { x, y, w, h } => {
            for yy in y..y + h {
                for xx in x..x + w {
                    set(
                        xx,
                        yy,
                        ((xx * 255 / W) << 16) | ((yy * 255 / H) << 8) | ((xx + yy) % 256),
                    );
                }
            }
        }
        Change::Scroll { y, h, by } => {
            let by = by.min(h.saturating_sub(1));
            for yy in y..y + h - by {
                let (src, dst) = (((yy + by) * W) as usize, (yy * W) as usize);
                img.pixels.copy_within(src..src + W as usize, dst);
            }
        }
    }
}

fn tuning() -> impl Strategy<Value = Tuning> {
    (
        prop_oneof![Just(None), (20u8..95).prop_map(Some)],
        prop_oneof![Just(64 * 64usize), Just(1_000), Just(200_000)],
        any::<bool>(),
        1u32..8,
        prop_oneof![Just(1usize), Just(5_000), Just(usize::MAX)],
        prop_oneof![Just(None), Just(Some(90u8))],
        prop_oneof![Just(0u32), Just(1_000_000)],
    )
        .prop_map(
            |(
                jpeg_quality,
                picture_min_pixels,
                lossy_whole,
                refine_after,
                refine_piece,
                refine_quality,
                video_bitrate,
            )| {
                Tuning {
                    jpeg_quality,
                    picture_min_pixels,
                    lossy_whole,
                    refine_after,
                    refine_piece,
                    refine_quality,
                    video_bitrate,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_sequence_of_screens_ends_exact(
        changes in proptest::collection::vec(change(), 1..12),
        tunings in proptest::collection::vec(tuning(), 1..4),
    ) {
        let mut screen = Image::new(W, H).unwrap();
        let mut enc = Encoder::new();
        let mut fb = Framebuffer::new();
        for (i, c) in changes.iter().enumerate() {
            enc.tune(tunings[i % tunings.len()]);
            apply(&mut screen, c);
            if let Some(u) = enc.encode(&screen) {
                fb.apply(&u).unwrap();
            }
        }
        // Still: refinement runs to its end, whatever the piece size.
        let mut rounds = 0;
        loop {
            match enc.still() {
                Some(u) => fb.apply(&u).unwrap(),
                None if !enc.refining() => break,
                None => {}
            }
            rounds += 1;
            prop_assert!(rounds < 10_000, "refinement never ends");
        }
        prop_assert!(fb.image() == Some(&screen), "the viewer is not exact");
    }
}
