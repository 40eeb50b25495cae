//! Exact coders side by side on whole 1920×1080 screens (issue #29): for
//! each screen of a small corpus (the link bench's photo wallpaper, the
//! compare bench's desktop on it, and a desktop of terminals, xfontsel and
//! xmessage on a real Xvfb), a markdown table of bytes per screen and
//! encode / decode ms: the coding before issue #29 (photo bands and LZ4
//! tiles), today's (`Encoder::lossless`, one zstd stream of tiles), a
//! ZRLE-like coder (libvncserver's choices, one zlib stream), what x11vnc
//! really sends for the screen (its whole first update, through the
//! compare bench's VNC client), and a few candidates measured on the way.
//!
//! `cargo bench -p lifeline-tests --bench coders [-- --no-x11vnc]`
//! (`--seed PATH` writes a fuzz seed of a chained update and stops).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "coders/candidates.rs"]
mod candidates;

use std::time::{Duration, Instant};

use candidates::{Chain, Pred};
use lifeline_session::screen::{Encoder, Framebuffer, Image};
use lifeline_tests::vnc::{VncClient, X11Vnc};
use lifeline_tests::x::{Xvfb, photo_image};

const W: u32 = 1920;
const H: u32 = 1080;

fn shot(x: &Xvfb, clients: &[(&str, Vec<String>)], wallpaper: Option<&Image>) -> Image {
    let _shown = wallpaper.map(|w| x.show(0, 0, w));
    let _kids: Vec<_> = clients
        .iter()
        .map(|(p, a)| x.spawn(p, &a.iter().map(String::as_str).collect::<Vec<_>>()))
        .collect();
    std::thread::sleep(Duration::from_millis(2500));
    x.screenshot()
}

fn corpus() -> Vec<(String, Image)> {
    let wall = photo_image(W, H, 0);
    let mut out = vec![("wallpaper (photo_image)".to_owned(), wall.clone())];
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.txt");
    let text: String = (1..=20_000)
        .map(|i| {
            format!(
                "{i:6}  {}\n",
                "the quick brown fox jumps over the lazy dog; ".repeat(1 + i % 3)
            )
        })
        .collect();
    std::fs::write(&long, text).unwrap();
    let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let x = Xvfb::start(W, H);
    out.push((
        "compare bench desktop".into(),
        shot(
            &x,
            &[
                ("xterm", s(&["-geometry", "100x20+40+40", "-e", "cat"])),
                (
                    "xterm",
                    s(&[
                        "-geometry",
                        "160x50+700+330",
                        "-e",
                        "less",
                        long.to_str().unwrap(),
                    ]),
                ),
            ],
            Some(&wall),
        ),
    ));
    let sh = |cmd: &str| s(&["-e", "bash", "-c", &format!("{cmd}; sleep 600")]);
    let mut a = s(&["-geometry", "120x40+10+10", "-fa", "Monospace", "-fs", "10"]);
    a.extend(sh("ls --color=always -la /usr/bin | head -60"));
    let mut b = s(&["-geometry", "90x30+900+60", "-bg", "white", "-fg", "black"]);
    b.extend(sh("head -40 /etc/services"));
    let mut c = s(&[
        "-geometry",
        "100x25+1000+600",
        "-fa",
        "Monospace",
        "-fs",
        "11",
        "-bg",
        "#1e1e1e",
        "-fg",
        "#d4d4d4",
    ]);
    c.extend(sh("ls --color=always -l /etc | head -40"));
    out.push((
        "terminals (xterm, xfontsel, xmessage)".into(),
        shot(
            &x,
            &[
                ("xterm", a),
                ("xterm", b),
                ("xterm", c),
                ("xfontsel", s(&["-geometry", "+50+700"])),
                (
                    "xmessage",
                    s(&["-geometry", "+600+800", "The technician has joined."]),
                ),
            ],
            None,
        ),
    ));
    out
}

/// Median milliseconds of `f` over a few runs.
fn ms<T>(mut f: impl FnMut() -> T) -> (T, f64) {
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..3 {
        let t = Instant::now();
        out = Some(f());
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    (out.unwrap(), times[1])
}

/// x11vnc's bytes for its first whole, exact screen of `img` shown full
/// screen on `x` (the VNC handshake included, a few hundred bytes).
fn x11vnc_bytes(x: &Xvfb, img: &Image) -> Option<u64> {
    let _shown = x.show(0, 0, img);
    std::thread::sleep(Duration::from_millis(500));
    let server = X11Vnc::start(&x.display);
    let client = VncClient::connect(&server.addr).ok()?;
    let exact = client.wait_until(Duration::from_secs(30), |s| s.image == *img);
    let bytes = client.bytes();
    drop(server);
    exact.then_some(bytes)
}

fn row(name: &str, bytes: usize, enc: f64, dec: Option<f64>) {
    let dec = dec.map_or("–".to_owned(), |d| format!("{d:.1}"));
    println!("| {name} | {bytes} | {enc:.1} | {dec} |");
}

fn seed(path: &str) {
    let img = &corpus()[2].1;
    let small = Image {
        width: 256,
        height: 128,
        pixels: (0..128u32)
            .flat_map(|y| (0..256u32).map(move |x| img.get(x, y)))
            .collect(),
    };
    let upd = Encoder::lossless().encode(&small).unwrap();
    let bytes = lifeline_proto::frame::encode(&upd, 1 << 24).unwrap();
    std::fs::write(path, &bytes[4..]).unwrap();
}

fn main() {
    if let Some(path) = std::env::args().skip_while(|a| a != "--seed").nth(1) {
        return seed(&path);
    }
    let vnc = !std::env::args().any(|a| a == "--no-x11vnc");
    let corpus = corpus();
    let x = vnc.then(|| Xvfb::start(W, H));
    for (name, img) in &corpus {
        println!(
            "\n### {name}\n\n| coder | bytes per screen | encode ms | decode ms |\n|---|---:|---:|---:|"
        );
        let ((before, photos), enc) = ms(|| candidates::before(img));
        let (_, dec) = ms(|| {
            let mut out = Image::new(W, H).unwrap();
            for p in &photos {
                lifeline_session::photo::decode_into(&mut out, p).unwrap();
            }
        });
        row(
            "before #29: photo bands + LZ4 tiles (decode: bands only)",
            before,
            enc,
            Some(dec),
        );
        let (upd, enc) = ms(|| Encoder::lossless().encode(img).unwrap());
        let (fb, dec) = ms(|| {
            let mut fb = Framebuffer::new();
            fb.apply(&upd).unwrap();
            fb
        });
        assert_eq!(fb.image(), Some(img), "exact means exact");
        row(
            "**now: one zstd stream of tiles**",
            upd.payload_bytes(),
            enc,
            Some(dec),
        );
        let (z, enc) = ms(|| candidates::zrle(img));
        row("ZRLE-like (libvncserver's choices, zlib 6)", z, enc, None);
        if let Some(x) = &x {
            match x11vnc_bytes(x, img) {
                Some(b) => {
                    println!("| x11vnc, measured (first exact screen, all bytes) | {b} | – | – |")
                }
                None => println!("| x11vnc, measured | did not become exact | – | – |"),
            }
        }
        let c = Chain {
            packed: true,
            runs_upto: 16,
            level: 1,
            rich_in_stream: true,
            rich: Some(Pred::Avg4),
            photo_bands: None,
        };
        for (label, c) in [
            ("candidate: stream, photo predictor for all", c),
            (
                "candidate: stream, MED predictor, zstd 1",
                Chain {
                    rich: Some(Pred::Med),
                    ..c
                },
            ),
            (
                "candidate: stream, left predictor, zstd 3",
                Chain {
                    level: 3,
                    rich: Some(Pred::Left),
                    ..c
                },
            ),
            (
                "candidate: stream, palette runs ≤127, zstd 1",
                Chain {
                    runs_upto: 127,
                    packed: false,
                    ..c
                },
            ),
            (
                "candidate: bands where < half flat, left in stream, zstd 3",
                Chain {
                    level: 3,
                    rich: Some(Pred::Left),
                    photo_bands: Some(50),
                    ..c
                },
            ),
        ] {
            let (n, enc) = ms(|| candidates::chain(img, c));
            row(label, n, enc, None);
        }
    }
    println!(
        "\nmachine: {} cores; command: cargo bench -p lifeline-tests --bench coders",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
