//! The host's per-update pipeline on a real 1920×1080 X server (Xvfb):
//! capture (x11rb: MIT-SHM or GetImage of the damage; scrap beside it for
//! comparison), change detection and encoding, and the bytes each
//! update costs, for an idle screen, typing in a terminal, scrolling text,
//! and full-screen picture changes.
//!
//! `cargo bench -p lifeline-tests --bench host`
//!
//! It starts its own Xvfb, then runs itself again with `DISPLAY` set (the
//! capturer reads `$DISPLAY`), so nothing on the machine's own display is
//! touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use lifeline_session::screen::{Encoder, FrameUpdate, Image};

use lifeline_host::platform::{Grab, ScreenSource};
use lifeline_host::scrap_screen::ScrapScreen;
use lifeline_host::x11::X11Screen;
use lifeline_tests::x::{Xvfb, pattern_image};

const W: u32 = 1920;
const H: u32 = 1080;

struct Row {
    name: &'static str,
    updates: usize,
    capture_ms: f64,
    encode_ms: f64,
    seal_ms: f64,
    bytes: Vec<usize>,
}

impl Row {
    fn print(&self) {
        let n = self.bytes.len().max(1) as f64;
        let mean = self.bytes.iter().sum::<usize>() as f64 / n;
        let max = self.bytes.iter().max().copied().unwrap_or(0);
        let per_update = self.capture_ms + self.encode_ms + self.seal_ms;
        let share = if per_update > 0.0 {
            self.seal_ms / per_update * 100.0
        } else {
            0.0
        };
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.3} ({share:.1}%) | {:.0} | {} | {:.0} |",
            self.name,
            self.updates,
            self.capture_ms,
            self.encode_ms,
            self.seal_ms,
            mean,
            max,
            1000.0 / per_update
        );
    }
}

/// Captures and encodes once; returns (capture ms, encode ms, update).
fn step(
    screen: &mut dyn ScreenSource,
    img: &mut Image,
    enc: &mut Encoder,
) -> (f64, f64, Option<FrameUpdate>) {
    let t0 = Instant::now();
    let grab = screen.grab(img, false).unwrap();
    let t1 = Instant::now();
    // As the capture worker does: no drawing, no encoding.
    let upd = match grab {
        Grab::Captured => enc.encode(img),
        Grab::Regions(rects) => enc.encode_within(img, &rects),
        Grab::Unchanged | Grab::Withheld(_) => None,
    };
    let t2 = Instant::now();
    (
        (t1 - t0).as_secs_f64() * 1e3,
        (t2 - t1).as_secs_f64() * 1e3,
        upd,
    )
}

/// Runs `n` rounds of `act` then capture+encode; the first capture after
/// each action is the update measured.
fn workload(
    name: &'static str,
    n: usize,
    screen: &mut dyn ScreenSource,
    img: &mut Image,
    enc: &mut Encoder,
    mut act: impl FnMut(usize),
) -> Row {
    let (mut cap, mut encd, mut seal, mut bytes) = (0.0, 0.0, 0.0, Vec::new());
    let mut sealer = sealer();
    let mut sealed = Vec::new();
    for i in 0..n {
        act(i);
        let (c, e, upd) = step(screen, img, enc);
        cap += c;
        encd += e;
        // Serialising is part of encoding; sealing is the end-to-end cost.
        let (e2, s, wire) = match upd {
            Some(u) => {
                let t0 = Instant::now();
                let msg = lifeline_session::messages::HostMsg::Frame(u);
                // As SecureSend does: one buffer reused for every frame.
                lifeline_proto::frame::serialize_into(
                    &msg,
                    &mut sealed,
                    lifeline_session::e2e::TAG_LEN,
                )
                .unwrap();
                let t1 = Instant::now();
                sealer.seal_in_place(&mut sealed).unwrap();
                let t2 = Instant::now();
                (
                    (t1 - t0).as_secs_f64() * 1e3,
                    (t2 - t1).as_secs_f64() * 1e3,
                    sealed.len() + 4,
                )
            }
            None => (0.0, 0.0, 0),
        };
        encd += e2;
        seal += s;
        bytes.push(wire);
    }
    let k = n as f64;
    Row {
        name,
        updates: n,
        capture_ms: cap / k,
        encode_ms: encd / k,
        seal_ms: seal / k,
        bytes,
    }
}

/// The host's sealer from a real key exchange.
fn sealer() -> lifeline_session::e2e::Sealer {
    use lifeline_session::e2e::{Side, start};
    let code =
        lifeline_proto::SessionCode::new(lifeline_proto::Locator::new(1).unwrap(), 123456).unwrap();
    let (h, hm) = start(Side::Host, &code, "bench");
    let (v, vm) = start(Side::Viewer, &code, "bench");
    v.finish(&hm).unwrap();
    h.finish(&vm).unwrap().sealer
}

/// Whole-screen capture, the same screen, one after the other: x11rb's
/// MIT-SHM capture (one request) against scrap's (two frames a capture).
fn compare_capture() {
    const N: usize = 100;
    let time = |screen: &mut dyn ScreenSource, img: &mut Image| {
        screen.grab(img, true).unwrap();
        let t0 = Instant::now();
        for _ in 0..N {
            screen.grab(img, true).unwrap();
        }
        t0.elapsed().as_secs_f64() * 1e3 / N as f64
    };
    let (mut a, mut b) = (Image::new(1, 1).unwrap(), Image::new(1, 1).unwrap());
    let x11 = time(&mut X11Screen::open().unwrap(), &mut a);
    let scrap = time(&mut ScrapScreen::open().unwrap(), &mut b);
    assert!(a == b, "the two captures differ");
    println!("| whole-screen capture (1920×1080, {N} grabs) | ms per capture |");
    println!("|---|---|");
    println!("| x11rb MIT-SHM, one request (used) | {x11:.2} |");
    println!("| scrap XShm, two frames | {scrap:.2} |\n");
}

fn measure(display: &str) {
    let x = Xvfb::attach(display, W, H);
    compare_capture();
    let mut screen = X11Screen::open().unwrap();
    let mut img = Image::new(1, 1).unwrap();
    let mut enc = Encoder::new();
    println!(
        "| workload (1920×1080) | updates | capture ms | detect+encode ms | seal ms (share) | mean bytes/update | max bytes | updates/s on one core |"
    );
    println!("|---|---|---|---|---|---|---|---|");

    // First whole frame of a busy desktop.
    let first = step(&mut screen, &mut img, &mut enc);
    let _ = first;
    let row = workload(
        "idle screen (nothing changes)",
        200,
        &mut screen,
        &mut img,
        &mut enc,
        |_| {},
    );
    assert!(
        row.bytes.iter().all(|b| *b == 0),
        "an idle screen sent frame bytes"
    );
    row.print();

    // Typing into an xterm: one character per update.
    x.xdotool(&["mousemove", "400", "300"]);
    let row = workload(
        "typing in a terminal (one character)",
        60,
        &mut screen,
        &mut img,
        &mut enc,
        |i| {
            let c = ["a", "b", "c", "x", "y", "z"][i % 6];
            x.xdotool(&["type", c]);
            std::thread::sleep(Duration::from_millis(30));
        },
    );
    row.print();

    // Scrolling: each Return at the bottom of a full terminal scrolls every line.
    let row = workload(
        "scrolling text (one line)",
        60,
        &mut screen,
        &mut img,
        &mut enc,
        |_| {
            x.xdotool(&["key", "Return"]);
            std::thread::sleep(Duration::from_millis(30));
        },
    );
    row.print();

    // Full-screen picture changes: alternate two different full-screen images.
    let pics = [pattern_image(W, H, 11), pattern_image(W, H, 12)];
    let row = workload(
        "full-screen picture change",
        40,
        &mut screen,
        &mut img,
        &mut enc,
        |i| {
            let shown = x.show(0, 0, &pics[i % 2]);
            std::mem::forget(shown); // keep the window: the next one covers it
        },
    );
    row.print();
}

/// The real host binary in a real session through a real relay, with
/// nothing changing on screen for 10 s: its CPU share.
fn idle_session_cpu(x: &Xvfb) {
    let share = lifeline_tests::peers::idle_host_cpu(|relay| {
        lifeline_tests::peers::HostProcess::start(relay, &x.display, &["--allow", "view"])
    });
    println!("\nhost process CPU in an idle shared session (10 s): {share:.2}% of one core");
}

/// An exact refresh of a whole 1080p photo (ImageMagick's
/// `plasma:fractal`, two pictures): Lifeline's photo bands against raw
/// tiles with LZ4 (the coding before) and `cwebp -lossless` (the target).
fn photo_refresh() {
    let dir = tempfile::tempdir().unwrap();
    println!("| exact 1920×1080 photo refresh | bytes | encode ms | vs cwebp -lossless |");
    println!("|---|---|---|---|");
    for seed in 1..=2 {
        let png = dir.path().join(format!("plasma{seed}.png"));
        let made = Command::new("convert")
            .args([
                "-seed",
                &seed.to_string(),
                "-size",
                "1920x1080",
                "plasma:fractal",
                "-depth",
                "8",
            ])
            .arg(&png)
            .status();
        let webp = dir.path().join(format!("plasma{seed}.webp"));
        let cwebp = made.is_ok_and(|s| s.success())
            && Command::new("cwebp")
                .args(["-quiet", "-lossless"])
                .arg(&png)
                .arg("-o")
                .arg(&webp)
                .status()
                .is_ok_and(|s| s.success());
        if !cwebp {
            println!(
                "(skipped: ImageMagick's convert or cwebp is missing; scripts/install-deps installs them)"
            );
            return;
        }
        let webp_bytes = std::fs::metadata(&webp).unwrap().len() as f64;
        let img = lifeline_tests::x::load_png(&png);
        let t0 = Instant::now();
        let upd = Encoder::lossless().encode(&img).unwrap();
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let bands = upd.payload_bytes() as f64;
        let t0 = Instant::now();
        let raw: usize = (0..H)
            .step_by(64)
            .flat_map(|y| (0..W).step_by(64).map(move |x| (x, y)))
            .map(|(x, y)| {
                let (w, h) = (64.min(W - x), 64.min(H - y));
                let mut rgb = Vec::with_capacity((w * h * 3) as usize);
                for yy in y..y + h {
                    for xx in x..x + w {
                        let p = img.get(xx, yy);
                        rgb.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, p as u8]);
                    }
                }
                lz4_flex::compress(&rgb).len()
            })
            .sum();
        let raw_ms = t0.elapsed().as_secs_f64() * 1e3;
        println!(
            "| plasma {seed}: Lifeline photo bands (predictor + zstd) | {:.0} | {ms:.1} | {:.3} |",
            bands,
            bands / webp_bytes
        );
        println!(
            "| plasma {seed}: raw tiles + LZ4 (before) | {raw} | {raw_ms:.1} | {:.3} |",
            raw as f64 / webp_bytes
        );
        println!("| plasma {seed}: cwebp -lossless (default) | {webp_bytes:.0} | | 1.000 |");
    }
    println!();
}

fn main() {
    if let Ok(display) = std::env::var("LIFELINE_BENCH_DISPLAY") {
        measure(&display);
        return;
    }
    photo_refresh();
    let x = Xvfb::start(W, H);
    // A busy desktop: a picture, and a full-height terminal filled with text
    // whose prompt sits at the bottom (so Return scrolls it).
    let _bg = x.show(0, 0, &pattern_image(W, H, 5));
    let _term = x.full_terminal();
    std::thread::sleep(Duration::from_secs(2));
    let status = Command::new(std::env::current_exe().unwrap())
        .env("DISPLAY", &x.display)
        .env("LIFELINE_BENCH_DISPLAY", &x.display)
        .status()
        .unwrap();
    assert!(status.success());
    idle_session_cpu(&x);
    println!(
        "\nmachine: {} cores; command: cargo bench -p lifeline-tests --bench host",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
