//! Lifeline side by side with x11vnc, on the same 1920×1080 Xvfb, in the
//! same run: the real relay, host and viewer library against x11vnc
//! (`-localhost`, its defaults) and a scripted VNC client (ZRLE).
//!
//! `cargo bench -p lifeline-tests --bench compare [-- --runs N]`
//!
//! With `--link 50mbit|10mbit|2mbit|uplink` the host agent and x11vnc run
//! in a network namespace of their own whose uplink is shaped (token bucket
//! for the rate, a delaying forwarder for the round trip), so their screen
//! traffic crosses a slow link while the viewers stay on loopback
//! ([`lifeline_tests::netem`]); `scripts/bench link` runs the four
//! profiles. `--wallpaper photo` (the default on `uplink`) puts a real
//! photograph behind the desktop instead of the usual gradient.
//!
//! Each run, for each system in turn: join (time to the first whole
//! screen), typing at once (while a slow link may still refine that
//! screen), the first exact screen, an idle screen, typing into an xterm,
//! scrolling a long file in `less`, full-screen pictures changing (the
//! slideshow), and a 1920×1080 video playing at 30 frames a second
//! (`--video-secs`; [`lifeline_tests::video`]): frames shown, bytes, SSIM
//! against the source, typing while it plays.
//!
//! With `--browser` it compares Lifeline's two viewers instead: the native
//! viewer library beside the relay's page in headless Chromium (needs
//! `scripts/web build`), on the same host and relay ([`browser`]). Latency is from sending a key
//! to decoding the update in which the key's effect shows (the terminal's
//! pixels change). Figures are medians over the runs, with min and max.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod peers;
mod report;
mod slideshow;
mod video;
mod workloads;

use std::sync::Arc;
use std::time::Duration;

use lifeline_session::screen::Image;
use lifeline_tests::video::Video;
use lifeline_tests::x::{Xvfb, photo_image, real_photo};
use lifeline_tests::{RelayProcess, bin, relay_cli};

use crate::peers::{run_lifeline, run_vnc};
use crate::report::report;
use crate::workloads::Desktop;

const W: u32 = 1920;
const H: u32 = 1080;
const TEXT: &str = "the quick brown fox jumps over the lazy dog; ";
/// Where the typing terminal sits (pixels), and the scrolling one.
const TYPING: Rect = Rect {
    x: 40,
    y: 40,
    w: 606,
    h: 264,
};
const SCROLLING: Rect = Rect {
    x: 700,
    y: 330,
    w: 966,
    h: 654,
};
/// How long to wait for one key's effect before calling it lost.
const LOST: Duration = Duration::from_secs(3);

#[derive(Clone, Copy)]
struct Rect {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

impl Rect {
    fn pixels(&self, img: &Image) -> Vec<u32> {
        (self.y..self.y + self.h)
            .flat_map(|y| {
                let at = (y * img.width + self.x) as usize;
                img.pixels[at..at + self.w as usize].iter().copied()
            })
            .collect()
    }
    fn centre(&self) -> (u32, u32) {
        (self.x + self.w / 2, self.y + self.h / 2)
    }
}
struct Opts {
    /// `lifeline` or `x11vnc` to measure one side only.
    only: Option<&'static str>,
    runs: usize,
    idle_secs: u64,
    chars: usize,
    lines: usize,
    picture_secs: u64,
    picture_hz: u32,
    /// Keys typed right after the first whole screen.
    join_chars: usize,
    /// How long the video is watched, and keys typed while it plays on.
    video_secs: u64,
    video_chars: usize,
    video: Option<Arc<Video>>,
    /// The wallpaper: the bench's gradient with grain, or a real photograph.
    wallpaper: Wallpaper,
    /// How long a screen may take to become exact (longer on a slow link).
    patience: Duration,
    link: Option<Link>,
}

/// What is behind the desktop's terminals.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Wallpaper {
    /// The bench's usual picture: smooth gradients with fine grain.
    Gradient,
    /// A real photograph (`RainDrops.jpg` from Debian's mate-backgrounds):
    /// a field user's wallpaper.
    Photo,
}

impl Wallpaper {
    fn image(self) -> Image {
        match self {
            Wallpaper::Gradient => photo_image(W, H, 0),
            Wallpaper::Photo => real_photo("RainDrops.jpg", W, H),
        }
    }
}

/// A constrained link: the namespace the host and x11vnc run in, and the
/// forwarders that add the delay.
struct Link {
    profile: lifeline_tests::netem::Profile,
    ns: lifeline_tests::netem::Netns,
    /// Where the host reaches the relay (through the UDP forwarder).
    relay_via: String,
    _udp: lifeline_tests::netem::UdpDelay,
}

/// The relay both runs of Lifeline go through, and a technician's token.
struct Relay {
    _proc: RelayProcess,
    /// The browser viewer's page, with `--browser`.
    web: Option<String>,
    _dir: tempfile::TempDir,
    addr: String,
    ca: std::path::PathBuf,
    token: String,
}

fn arg(name: &str, default: u64) -> u64 {
    lifeline_tests::bench_arg(name, default)
}

/// The options, and the link profile asked for.
fn options() -> (Opts, Option<lifeline_tests::netem::Profile>) {
    let only = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .map(|v| match v.as_str() {
            "lifeline" => "lifeline",
            "x11vnc" => "x11vnc",
            other => panic!("--only takes lifeline or x11vnc, not {other:?}"),
        });
    let profile = std::env::args()
        .skip_while(|a| a != "--link")
        .nth(1)
        .map(|name| {
            lifeline_tests::netem::profile(&name).unwrap_or_else(|| {
                panic!("--link takes 50mbit, 10mbit, 2mbit or uplink, not {name:?}")
            })
        });
    let wallpaper = match std::env::args().skip_while(|a| a != "--wallpaper").nth(1) {
        Some(w) if w == "photo" => Wallpaper::Photo,
        Some(w) if w == "gradient" => Wallpaper::Gradient,
        Some(other) => panic!("--wallpaper takes gradient or photo, not {other:?}"),
        None if profile.is_some_and(|p| p.name == "uplink") => Wallpaper::Photo,
        None => Wallpaper::Gradient,
    };
    let video_secs = arg("--video-secs", 8);
    let opts = Opts {
        only,
        runs: arg("--runs", 5) as usize,
        idle_secs: arg("--idle-secs", 10),
        chars: arg("--chars", 200) as usize,
        lines: arg("--lines", 100) as usize,
        picture_secs: arg("--picture-secs", 5),
        picture_hz: arg("--picture-hz", 120) as u32,
        join_chars: arg("--join-chars", 10) as usize,
        video_secs,
        video_chars: arg("--video-chars", 20) as usize,
        video: (video_secs > 0).then(|| Arc::new(Video::new(W, H))),
        wallpaper,
        patience: Duration::from_secs(match profile {
            // Several whole exact screens' worth of the link, at least.
            Some(p) => 30 + (8.0 * f64::from(W * H * 3) / p.bytes_per_s()) as u64,
            None => 10,
        }),
        link: None,
    };
    (opts, profile)
}

fn main() {
    // The viewer library's warnings (a refused update) go to stderr.
    lifeline_common::logging::init("warn");
    let (opts, profile) = options();
    let mut opts = opts;
    let ns = match profile.map(|p| (p, lifeline_tests::netem::Netns::new(&p))) {
        Some((p, Ok(ns))) => Some((p, ns)),
        Some((_, Err(why))) => {
            eprintln!("SKIPPED: cannot make a constrained link here: {why}");
            return;
        }
        None => None,
    };
    let dir = tempfile::tempdir().unwrap();
    let long_file = dir.path().join("long.txt");
    let text: String = (1..=20_000)
        .map(|i| format!("{i:6}  {}\n", TEXT.repeat(1 + i % 3)))
        .collect();
    std::fs::write(&long_file, text).unwrap();

    let with_browser = std::env::args().any(|a| a == "--browser");
    let relay = {
        let rdir = tempfile::tempdir().unwrap();
        let outer = ns.as_ref().map(|(_, n)| n.outer.to_string());
        let mut names: Vec<&str> = match &outer {
            Some(o) => vec!["--name", o.as_str()],
            None => vec![],
        };
        if with_browser {
            names.extend(["--web", "127.0.0.1:0"]);
        }
        let proc = RelayProcess::start(rdir.path(), &names);
        let (rc, out, err) = relay_cli(&[
            "technician",
            "add",
            "bench",
            "--data-dir",
            rdir.path().to_str().unwrap(),
        ]);
        assert_eq!(rc, 0, "{err}");
        Relay {
            web: proc.web.clone(),
            addr: proc.addr.to_string(),
            ca: rdir.path().join("ca.pem"),
            token: out.trim().to_owned(),
            _proc: proc,
            _dir: rdir,
        }
    };
    let _ = bin("lifeline-host");
    if let Some((profile, ns)) = ns {
        let udp = lifeline_tests::netem::UdpDelay::start(
            std::net::SocketAddr::new(ns.outer.into(), 0),
            relay.addr.parse().unwrap(),
            profile.rtt / 2,
        )
        .unwrap();
        opts.link = Some(Link {
            relay_via: udp.addr.to_string(),
            profile,
            ns,
            _udp: udp,
        });
    }
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
    let x = Xvfb::start(W, H);
    if let Some(url) = relay.web.clone() {
        browser::side_by_side(&rt, &relay, &url, &x, &opts, &long_file);
        println!(
            "\nmachine: {} cores, {}; command: cargo bench -p lifeline-tests --bench compare -- --browser",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model()
        );
        return;
    }
    let wallpaper = opts.wallpaper.image();

    let (mut life, mut vnc) = (Vec::new(), Vec::new());
    for run in 1..=opts.runs {
        // The wallpaper is drawn anew for each system: a window of ours
        // does not redraw what a closed slideshow or video uncovers (the X
        // server fills it black), and each must join the same desktop.
        if opts.only != Some("x11vnc") {
            eprintln!("run {run}/{}: lifeline", opts.runs);
            let _background = x.show(0, 0, &wallpaper);
            let _desk = Desktop::open(&x, &long_file);
            life.push(run_lifeline(&rt, &relay, &x, &opts));
        }
        if opts.only != Some("lifeline") {
            eprintln!("run {run}/{}: x11vnc", opts.runs);
            let _background = x.show(0, 0, &wallpaper);
            let _desk = Desktop::open(&x, &long_file);
            vnc.push(run_vnc(&x, &opts));
        }
    }
    let link = opts.link.as_ref().map_or("loopback".to_owned(), |l| {
        format!(
            "host and x11vnc behind a {} Mbit/s, {} ms link",
            l.profile.mbit,
            l.profile.rtt.as_millis()
        )
    });
    println!(
        "\n1920×1080 Xvfb, {link}, {:?} wallpaper, {} runs, medians (min–max); {} characters typed at join, idle {} s, {} characters typed, {} lines scrolled, pictures changing {} times a second for {} s, video watched {} s then {} characters typed while it plays\n",
        opts.wallpaper,
        opts.runs,
        opts.join_chars,
        opts.idle_secs,
        opts.chars,
        opts.lines,
        opts.picture_hz,
        opts.picture_secs,
        opts.video_secs,
        opts.video_chars
    );
    report(&life, &vnc);
    println!(
        "\nmachine: {} cores, {}; command: cargo bench -p lifeline-tests --bench compare",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
