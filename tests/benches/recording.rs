//! What recording a session costs the host, and how fast playback seeks.
//!
//! Overhead: the host's per-update work (change detection and encoding
//! for the viewer) with and without recording beside it (the viewer's
//! updates recorded, a whole exact keyframe once 10 s of session time
//! passed and the updates since add up to twice its size, events,
//! sealing), on
//! 1920×1080 workloads made in memory: typing (one glyph-sized change an
//! update), scrolling text, and a changing picture; the bytes to the relay
//! with and without the recording's chunks.
//!
//! Seeking: a one-hour recording (typing all along, a keyframe every
//! 10 s), sealed as the host seals it, opened with the auditor's key and
//! the screen rebuilt at points across it.
//!
//! `cargo bench -p lifeline-tests --bench recording`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use lifeline_host::recorder::Keyframes;
use lifeline_proto::control::{Auditor, RecordingPolicy};
use lifeline_record::AuditorSecret;
use lifeline_record::chain::frame;
use lifeline_session::recording::{Event, Timed, encode};
use lifeline_session::screen::{Encoder, Image};
use lifeline_tests::x::{pattern_image, photo_image};

const W: u32 = 1920;
const H: u32 = 1080;

/// A screen of text-like tiles.
fn desktop() -> Image {
    let mut img = pattern_image(W, H, 3);
    for p in img.pixels.iter_mut() {
        *p = if *p & 0x10 == 0 {
            0x00ff_ffff
        } else {
            0x0020_2020
        };
    }
    img
}

/// The next screen of a workload, and the rectangles that changed.
fn step(kind: &str, img: &mut Image, i: u32, photo: &Image) -> Vec<(u32, u32, u32, u32)> {
    match kind {
        "typing" => {
            let (x, y) = (40 + (i % 150) * 8, 40 + (i / 150 % 60) * 16);
            for r in y..y + 16 {
                for c in x..x + 8 {
                    img.pixels[(r * W + c) as usize] = if (r + c + i).is_multiple_of(3) {
                        0
                    } else {
                        0x00ff_ffff
                    };
                }
            }
            vec![(x, y, 8, 16)]
        }
        "scrolling" => {
            let w = W as usize;
            img.pixels.copy_within(16 * w.., 0);
            let at = (H as usize - 16) * w;
            for (k, p) in img.pixels[at..].iter_mut().enumerate() {
                *p = if (k as u32 + i).is_multiple_of(7) {
                    0
                } else {
                    0x00ff_ffff
                };
            }
            vec![(0, 0, W, H)]
        }
        _ => {
            let (pw, ph) = (photo.width, photo.height);
            let shift = (i * 13) % pw;
            for r in 0..ph {
                for c in 0..pw {
                    let src = photo.pixels[(r * pw + (c + shift) % pw) as usize];
                    img.pixels[((r + 200) * W + c + 300) as usize] = src;
                }
            }
            vec![(300, 200, pw, ph)]
        }
    }
}

fn policy(secret: &AuditorSecret) -> RecordingPolicy {
    RecordingPolicy {
        auditors: vec![Auditor {
            name: "alice".into(),
            public_key: secret.public().0,
        }],
        keys: false,
        required: true,
    }
}

/// One workload: host CPU per update and bytes to the relay, without and
/// with recording. Each update stands for `every` of session time (the
/// keyframe rule follows that clock); both sides include the first whole
/// frame.
fn overhead(kind: &str, updates: u32, every: Duration) {
    let photo = photo_image(640, 480, 5);
    let secret = AuditorSecret::generate();
    let mut results = Vec::new();
    for recorded in [false, true] {
        let mut img = desktop();
        let (tap, mut chunks) =
            lifeline_host::recorder::RecordTap::start("bench", &policy(&secret));
        let mut viewer = Encoder::new();
        let (mut to_viewer, mut to_relay) = (0usize, 0usize);
        let mut keyframes = Keyframes::default();
        let t0 = Instant::now();
        for i in 0..=updates {
            let rects = if i == 0 {
                Vec::new()
            } else {
                step(kind, &mut img, i, &photo)
            };
            let update = if i == 0 {
                viewer.encode(&img)
            } else {
                viewer.encode_within(&img, &rects)
            };
            if let Some(u) = &update {
                to_viewer += u.payload_bytes();
            }
            if recorded {
                // As the capture thread does: the viewer's update, or a
                // whole exact frame when one is due.
                let now = every * i;
                if keyframes.due(now, update.is_some()) {
                    let whole = Encoder::lossless().encode(&img).unwrap();
                    keyframes.took(now, whole.payload_bytes());
                    tap.record(Event::Frame {
                        update: whole,
                        keyframe: true,
                    });
                } else if let Some(u) = update {
                    keyframes.recorded(u.payload_bytes());
                    tap.record(Event::Frame {
                        update: u,
                        keyframe: false,
                    });
                }
                tap.tick();
            }
        }
        tap.finish("done");
        let cpu_ms = t0.elapsed().as_secs_f64() * 1e3 / f64::from(updates);
        while let Ok(c) = chunks.try_recv() {
            to_relay += c.len();
        }
        results.push((cpu_ms, to_viewer + to_relay));
    }
    let (base, with) = (results[0], results[1]);
    println!(
        "| {kind} | {updates} over {:.0} s | {:.3} | {:.3} | {:+.1}% | {:.0} | {:.0} | {:.2}× |",
        (every * updates).as_secs_f64(),
        base.0,
        with.0,
        (with.0 / base.0 - 1.0) * 100.0,
        base.1 as f64 / f64::from(updates),
        with.1 as f64 / f64::from(updates),
        with.1 as f64 / base.1 as f64
    );
}

/// A one-hour recording of typing, as the relay stores it.
fn hour(secret: &AuditorSecret) -> Vec<u8> {
    let (mut sealer, head) =
        lifeline_record::seal::Sealer::new("hour", 0, &[("alice".into(), secret.public())]);
    let mut file = frame(&head);
    let photo = photo_image(640, 480, 5);
    let mut img = desktop();
    let mut viewer = Encoder::new();
    let mut pending = Vec::new();
    let mut keyframes = Keyframes::default();
    // Ten updates a second for an hour; keyframes by the host's rule.
    for i in 0..36_000u32 {
        let at_ms = u64::from(i) * 100;
        let now = Duration::from_millis(at_ms);
        let rects = step("typing", &mut img, i, &photo);
        let update = viewer.encode_within(&img, &rects);
        let (update, keyframe) = if keyframes.due(now, update.is_some()) {
            let whole = Encoder::lossless().encode(&img);
            keyframes.took(now, whole.as_ref().map_or(0, |w| w.payload_bytes()));
            (whole, true)
        } else {
            keyframes.recorded(update.as_ref().map_or(0, |u| u.payload_bytes()));
            (update, false)
        };
        if let Some(update) = update {
            pending.extend(encode(&Timed {
                at_ms,
                event: Event::Frame { update, keyframe },
            }));
        }
        if i % 10 == 9 {
            let last = i == 35_999;
            file.extend(frame(&sealer.seal(&pending, last).unwrap()));
            pending.clear();
        }
    }
    file
}

fn main() {
    println!(
        "| workload (1920×1080) | updates | host ms/update | with recording | more CPU | bytes/update | with recording | bytes ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    // Typing at 10 keys/s, scrolling at 30 lines/s, a picture at 5 Hz.
    overhead("typing", 600, Duration::from_millis(100));
    overhead("scrolling", 300, Duration::from_millis(33));
    overhead("picture", 150, Duration::from_millis(200));
    let secret = AuditorSecret::generate();
    let t0 = Instant::now();
    let file = hour(&secret);
    let made = t0.elapsed();
    let t0 = Instant::now();
    let p = lifeline_viewer::play::Playback::from_bytes(&file, &secret).unwrap();
    let open = t0.elapsed();
    assert!(p.damage.is_none(), "{:?}", p.damage);
    let mut worst = Duration::ZERO;
    for at_s in [5u64, 900, 1805, 2999, 3599] {
        let t0 = Instant::now();
        p.screen_at(at_s * 1000).unwrap();
        worst = worst.max(t0.elapsed());
    }
    println!(
        "\n| one-hour recording | size | made in | opened (decrypt + read all events) | seek (rebuild the screen), worst of 5 | open + seek |\n|---|---|---|---|---|---|"
    );
    println!(
        "| typing, 10 updates/s, keyframes by the host's rule | {:.1} MB | {:.1} s | {:.0} ms | {:.0} ms | {:.0} ms |",
        file.len() as f64 / 1e6,
        made.as_secs_f64(),
        open.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3,
        (open + worst).as_secs_f64() * 1e3
    );
    println!(
        "\nmachine: {} cores; command: cargo bench -p lifeline-tests --bench recording",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
