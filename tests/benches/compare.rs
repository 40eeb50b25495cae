//! Lifeline side by side with x11vnc, on the same 1920×1080 Xvfb, in the
//! same run: the real relay, host and viewer library against x11vnc
//! (`-localhost`, its defaults) and a scripted VNC client (ZRLE).
//!
//! `cargo bench -p lifeline-tests --bench compare [-- --runs N]`
//!
//! With `--link 50mbit|10mbit|2mbit` the host agent and x11vnc run in a
//! network namespace of their own whose uplink is shaped (token bucket for
//! the rate, a delaying forwarder for the round trip), so their screen
//! traffic crosses a slow, distant link while the viewers stay on
//! loopback ([`lifeline_tests::netem`]); `scripts/bench link` runs the
//! three profiles.
//!
//! Each run, for each system in turn: join (time to the first whole
//! screen), an idle screen, typing into an xterm, scrolling a long file in
//! `less`, and full-screen picture changes. Latency is from sending a key to
//! decoding the update in which the key's effect shows (the terminal's
//! pixels change). Figures are medians over the runs, with min and max.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lifeline_session::messages::{InputEvent, Key};
use lifeline_session::screen::Image;
use lifeline_tests::peers::HostProcess;
use lifeline_tests::vnc::{VncClient, X11Vnc};
use lifeline_tests::x::{XClient, Xvfb, photo_image};
use lifeline_tests::{RelayProcess, bin, cpu_secs, relay_cli};
use lifeline_viewer::session::Viewer;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConnectionExt as _, CreateGCAux, CreateWindowAux, ImageFormat, WindowClass,
};

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

#[derive(Clone, Copy)]
enum Press {
    Char(char),
    Return,
    Down,
}

/// What the workloads need from either system's viewer.
trait Peer {
    /// Screen updates decoded so far.
    fn updates(&self) -> u64;
    /// Bytes received so far, above the transport.
    fn received(&self) -> u64;
    /// The process doing the capturing and encoding.
    fn server_pid(&self) -> u32;
    fn press(&self, key: Press);
    fn point(&self, x: u32, y: u32);
    fn region(&self, r: Rect) -> Option<Vec<u32>>;
    /// Waits until more than `seen` updates have been decoded.
    fn wait_update(&self, seen: u64, timeout: Duration) -> bool;
}

struct Lifeline {
    rt: Arc<tokio::runtime::Runtime>,
    viewer: Viewer,
    host: HostProcess,
}

impl Peer for Lifeline {
    fn updates(&self) -> u64 {
        *self.viewer.frames().borrow()
    }
    fn received(&self) -> u64 {
        self.viewer.figures().stream_bytes
    }
    fn server_pid(&self) -> u32 {
        self.host.child.id()
    }
    fn press(&self, key: Press) {
        let key = match key {
            Press::Char(' ') => Key::Space,
            Press::Char(c) => Key::Char(c),
            Press::Return => Key::Return,
            Press::Down => Key::Down,
        };
        self.rt.block_on(async {
            for down in [true, false] {
                self.viewer
                    .input(InputEvent::Key { key, down })
                    .await
                    .unwrap();
            }
        });
    }
    fn point(&self, x: u32, y: u32) {
        self.rt
            .block_on(self.viewer.input(InputEvent::Move { x, y }))
            .unwrap();
    }
    fn region(&self, r: Rect) -> Option<Vec<u32>> {
        self.viewer.with_image(|img| img.map(|i| r.pixels(i)))
    }
    fn wait_update(&self, seen: u64, timeout: Duration) -> bool {
        let mut rx = self.viewer.frames();
        self.rt.block_on(async {
            tokio::time::timeout(timeout, rx.wait_for(|n| *n > seen))
                .await
                .is_ok_and(|r| r.is_ok())
        })
    }
}

struct Vnc {
    client: VncClient,
    server: X11Vnc,
}

impl Peer for Vnc {
    fn updates(&self) -> u64 {
        self.client.screen().updates
    }
    fn received(&self) -> u64 {
        self.client.bytes()
    }
    fn server_pid(&self) -> u32 {
        self.server.child.id()
    }
    fn press(&self, key: Press) {
        let sym = match key {
            Press::Char(c) => u32::from(c),
            Press::Return => 0xff0d,
            Press::Down => 0xff54,
        };
        self.client.key(sym).unwrap();
    }
    fn point(&self, x: u32, y: u32) {
        self.client.pointer(x as u16, y as u16).unwrap();
    }
    fn region(&self, r: Rect) -> Option<Vec<u32>> {
        let s = self.client.screen();
        s.first_full.map(|_| r.pixels(&s.image))
    }
    fn wait_update(&self, seen: u64, timeout: Duration) -> bool {
        self.client.wait_until(timeout, |s| s.updates > seen)
    }
}

/// One workload's figures in one run.
#[derive(Default, Clone)]
struct Figures {
    updates_per_s: f64,
    bytes: f64,
    cpu_s: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    lost: usize,
}

/// One system's figures in one run.
#[derive(Default, Clone)]
struct RunFigures {
    join_ms: f64,
    /// From connecting to the first exact whole screen.
    exact_join_ms: f64,
    /// From the pictures stopping to the viewer's screen being exact.
    exact_ms: f64,
    /// The host agent's most update bytes in flight (Lifeline only).
    max_in_flight: Option<f64>,
    idle: Figures,
    typing: Figures,
    scrolling: Figures,
    pictures: Figures,
}

/// Counters before a workload, to subtract after.
struct Mark {
    at: Instant,
    updates: u64,
    bytes: u64,
    cpu: f64,
}

fn mark(p: &dyn Peer) -> Mark {
    Mark {
        at: Instant::now(),
        updates: p.updates(),
        bytes: p.received(),
        cpu: cpu_secs(p.server_pid()),
    }
}

fn since(p: &dyn Peer, m: &Mark, latencies: &mut [f64], lost: usize) -> Figures {
    let secs = m.at.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        (!latencies.is_empty())
            .then(|| latencies[((latencies.len() - 1) as f64 * q).round() as usize])
    };
    Figures {
        updates_per_s: (p.updates() - m.updates) as f64 / secs,
        bytes: (p.received() - m.bytes) as f64,
        cpu_s: cpu_secs(p.server_pid()) - m.cpu,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        lost,
    }
}

/// Waits until no update has arrived for `quiet` (at most 10 s).
fn settle(p: &dyn Peer, quiet: Duration) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && p.wait_update(p.updates(), quiet) {}
}

/// Presses each key and times until `area` shows a change.
fn keys_with_latency(p: &dyn Peer, area: Rect, keys: &[Press]) -> (Vec<f64>, usize) {
    let (mut lat, mut lost) = (Vec::new(), 0);
    for &k in keys {
        let before = p.region(area).unwrap();
        let t0 = Instant::now();
        p.press(k);
        let seen = loop {
            let n = p.updates();
            if p.region(area).unwrap() != before {
                break true;
            }
            let left = LOST.saturating_sub(t0.elapsed());
            if left.is_zero() || !p.wait_update(n, left) {
                break p.region(area).unwrap() != before;
            }
        };
        if seen {
            lat.push(t0.elapsed().as_secs_f64() * 1e3);
        } else {
            lost += 1;
        }
        // Let the rest of this key's drawing arrive before the next one.
        settle(p, Duration::from_millis(30));
    }
    (lat, lost)
}

/// Points at `area` (focus follows the pointer), then presses `keys` there
/// one by one, timing each.
fn keys_in(p: &dyn Peer, area: Rect, keys: &[Press], name: &str, stage: Instant) -> Figures {
    let (cx, cy) = area.centre();
    p.point(cx, cy);
    settle(p, Duration::from_millis(300));
    let m = mark(p);
    let (mut lat, lost) = keys_with_latency(p, area, keys);
    let figures = since(p, &m, &mut lat, lost);
    eprintln!(
        "    {name} done at {:.1} s ({lost} keys lost)",
        stage.elapsed().as_secs_f64()
    );
    figures
}

fn workloads(p: &dyn Peer, x: &Xvfb, opts: &Opts, joined_ms: f64, t0: Instant) -> RunFigures {
    // A slow link may show the first screen approximately: every workload
    // starts from an exact screen, and the time to it is a figure too.
    until_exact(p, x, opts);
    let exact_join_ms = t0.elapsed().as_secs_f64() * 1e3;
    settle(p, Duration::from_millis(500));
    let mut out = RunFigures {
        join_ms: joined_ms,
        exact_join_ms,
        ..Default::default()
    };

    let stage = Instant::now();
    let m = mark(p);
    std::thread::sleep(Duration::from_secs(opts.idle_secs));
    out.idle = since(p, &m, &mut [], 0);
    eprintln!("    idle done at {:.1} s", stage.elapsed().as_secs_f64());

    // A sentence, then Return (cat echoes the line back), over and over.
    let keys: Vec<Press> = TEXT
        .trim_end()
        .chars()
        .map(Press::Char)
        .chain([Press::Return])
        .cycle()
        .take(opts.chars)
        .collect();
    out.typing = keys_in(p, TYPING, &keys, "typing", stage);
    out.scrolling = keys_in(
        p,
        SCROLLING,
        &vec![Press::Down; opts.lines],
        "scrolling",
        stage,
    );

    let slideshow = Slideshow::start(x, opts.picture_hz);
    std::thread::sleep(Duration::from_millis(300));
    let m = mark(p);
    std::thread::sleep(Duration::from_secs(opts.picture_secs));
    let during = since(p, &m, &mut [], 0);
    let shown = slideshow.stop();
    let stopped = Instant::now();
    // Bytes and CPU include what it takes to make the screen exact again
    // once the pictures stop (Lifeline resends JPEG regions exact).
    settle(p, Duration::from_millis(500));
    out.pictures = Figures {
        updates_per_s: during.updates_per_s,
        ..since(p, &m, &mut [], 0)
    };
    eprintln!(
        "    pictures done at {:.1} s; the slideshow drew {shown:.0} a second",
        stage.elapsed().as_secs_f64()
    );
    // Both must end with the screen exactly as the X server has it.
    until_exact(p, x, opts);
    out.exact_ms = stopped.elapsed().as_secs_f64() * 1e3;
    out
}

/// Waits until the viewer's screen is exactly the X server's.
fn until_exact(p: &dyn Peer, x: &Xvfb, opts: &Opts) {
    let whole = Rect {
        x: 0,
        y: 0,
        w: W,
        h: H,
    };
    let deadline = Instant::now() + opts.patience;
    while p.region(whole) != Some(x.screenshot().pixels) {
        assert!(
            Instant::now() < deadline,
            "the viewer's screen never became exact"
        );
        p.wait_update(p.updates(), Duration::from_millis(200));
    }
}

/// A full-screen window showing a different picture `hz` times a second,
/// drawn by the X server from pixmaps (so drawing costs this process
/// nothing), until stopped.
struct Slideshow {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<f64>,
}

impl Slideshow {
    fn start(x: &Xvfb, hz: u32) -> Self {
        let display = x.display.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let (conn, screen) = x11rb::connect(Some(&display)).unwrap();
            let s = &conn.setup().roots[screen];
            let (root, depth) = (s.root, s.root_depth);
            let win = conn.generate_id().unwrap();
            conn.create_window(
                0,
                win,
                root,
                0,
                0,
                W as u16,
                H as u16,
                0,
                WindowClass::INPUT_OUTPUT,
                0,
                &CreateWindowAux::new()
                    .override_redirect(1)
                    .background_pixel(0),
            )
            .unwrap();
            let gc = conn.generate_id().unwrap();
            conn.create_gc(gc, win, &CreateGCAux::new()).unwrap();
            let pixmaps: Vec<u32> = (1..=4)
                .map(|seed| {
                    let pm = conn.generate_id().unwrap();
                    conn.create_pixmap(depth, pm, win, W as u16, H as u16)
                        .unwrap();
                    let img = photo_image(W, H, seed);
                    let rows = 60_000 / (W as usize * 4);
                    for (band, px) in img.pixels.chunks(W as usize * rows).enumerate() {
                        let data: Vec<u8> = px.iter().flat_map(|p| p.to_le_bytes()).collect();
                        conn.put_image(
                            ImageFormat::Z_PIXMAP,
                            pm,
                            gc,
                            W as u16,
                            (px.len() / W as usize) as u16,
                            0,
                            (band * rows) as i16,
                            0,
                            depth,
                            &data,
                        )
                        .unwrap();
                    }
                    pm
                })
                .collect();
            conn.map_window(win).unwrap();
            conn.get_input_focus().unwrap().reply().unwrap();
            ready_tx.send(()).unwrap();
            let period = Duration::from_secs_f64(1.0 / f64::from(hz));
            let t0 = Instant::now();
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let pm = pixmaps[n as usize % pixmaps.len()];
                conn.copy_area(pm, win, gc, 0, 0, 0, 0, W as u16, H as u16)
                    .unwrap();
                // Wait until drawn, so the pace is what the server managed.
                conn.get_input_focus().unwrap().reply().unwrap();
                n += 1;
                let next = t0 + period * n as u32;
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
            n as f64 / t0.elapsed().as_secs_f64()
        });
        ready.recv().unwrap();
        Self { stop, thread }
    }

    /// Stops and closes the window; returns the pictures drawn a second.
    fn stop(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// A photo-like picture: smooth gradients with a little grain; every pixel
/// differs between seeds.
/// The desktop each system is measured on: a picture, a terminal to type
/// into, and a long file open in `less` to scroll, all fresh.
struct Desktop {
    _terms: [XClient; 2],
}

impl Desktop {
    fn open(x: &Xvfb, long_file: &std::path::Path) -> Self {
        let geometry = |r: Rect, cols: u32, rows: u32| format!("{cols}x{rows}+{}+{}", r.x, r.y);
        let typing = x.spawn(
            "xterm",
            &["-geometry", &geometry(TYPING, 100, 20), "-e", "cat"],
        );
        let scrolling = x.spawn(
            "xterm",
            &[
                "-geometry",
                &geometry(SCROLLING, 160, 50),
                "-e",
                "less",
                long_file.to_str().unwrap(),
            ],
        );
        std::thread::sleep(Duration::from_millis(1500));
        Self {
            _terms: [typing, scrolling],
        }
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
    /// How long a screen may take to become exact (longer on a slow link).
    patience: Duration,
    link: Option<Link>,
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

fn arg(name: &str, default: u64) -> u64 {
    lifeline_tests::bench_arg(name, default)
}

struct Relay {
    _proc: RelayProcess,
    _dir: tempfile::TempDir,
    addr: String,
    ca: std::path::PathBuf,
    token: String,
}

fn run_lifeline(
    rt: &Arc<tokio::runtime::Runtime>,
    relay: &Relay,
    x: &Xvfb,
    opts: &Opts,
) -> RunFigures {
    let allow = ["--allow", "control"];
    let host = match &opts.link {
        Some(l) => HostProcess::spawn_in(&l.ns, &l.relay_via, &relay.ca, &x.display, &allow),
        None => HostProcess::spawn(&relay.addr, &relay.ca, &x.display, &allow),
    };
    let code = host.code();
    let t0 = Instant::now();
    let viewer = rt
        .block_on(Viewer::connect(
            &relay.addr,
            Some(&relay.ca),
            &relay.token,
            &code,
            |_| {},
        ))
        .unwrap();
    let mut frames = viewer.frames();
    rt.block_on(frames.wait_for(|n| *n >= 1)).unwrap();
    let join_ms = t0.elapsed().as_secs_f64() * 1e3;
    let peer = Lifeline {
        rt: rt.clone(),
        viewer,
        host,
    };
    let udp0 = peer.viewer.udp_bytes_received();
    let mut figures = workloads(&peer, x, opts, join_ms, t0);
    eprintln!(
        "    lifeline: {:.1} MB of UDP for {:.1} MB on the session stream",
        (peer.viewer.udp_bytes_received() - udp0) as f64 / 1e6,
        (figures.idle.bytes
            + figures.typing.bytes
            + figures.scrolling.bytes
            + figures.pictures.bytes)
            / 1e6
    );
    rt.block_on(peer.viewer.disconnect("bench done"));
    let ended = peer.host.wait_event("ended");
    figures.max_in_flight = ended["max_bytes_in_flight"].as_f64();
    figures
}

fn run_vnc(x: &Xvfb, opts: &Opts) -> RunFigures {
    let (server, _proxy, addr) = match &opts.link {
        Some(l) => {
            let server = X11Vnc::start_in(&l.ns, &x.display);
            let proxy = lifeline_tests::netem::TcpDelay::start(
                "127.0.0.1:0".parse().unwrap(),
                server.addr.parse().unwrap(),
                l.profile.rtt / 2,
            )
            .unwrap();
            let addr = proxy.addr.to_string();
            (server, Some(proxy), addr)
        }
        None => {
            let server = X11Vnc::start(&x.display);
            let addr = server.addr.clone();
            (server, None, addr)
        }
    };
    let client = VncClient::connect(&addr).unwrap();
    assert!(
        client.wait_until(opts.patience, |s| s.first_full.is_some()),
        "x11vnc sent no whole screen"
    );
    let join_ms = {
        let s = client.screen();
        (s.first_full.unwrap() - client.connected_at).as_secs_f64() * 1e3
    };
    let peer = Vnc { client, server };
    let figures = workloads(&peer, x, opts, join_ms, peer.client.connected_at);
    let s = peer.client.screen();
    eprintln!(
        "    x11vnc: rectangles ZRLE {} CopyRect {} Raw {}",
        s.zrle, s.copy_rect, s.raw
    );
    figures
}

/// Median, min and max.
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

fn cell(v: &[f64], unit: &str, digits: usize) -> String {
    if v.is_empty() {
        return "–".into();
    }
    let (m, lo, hi) = stats(v);
    format!("**{m:.digits$}** {unit} ({lo:.digits$}–{hi:.digits$})")
}

fn ratio(a: &[f64], b: &[f64]) -> String {
    if a.is_empty() || b.is_empty() {
        return "–".into();
    }
    let (ma, mb) = (stats(a).0, stats(b).0);
    if mb == 0.0 {
        if ma == 0.0 {
            "both 0".into()
        } else {
            "x11vnc 0".into()
        }
    } else {
        format!("{:.2}", ma / mb)
    }
}

fn report(life: &[RunFigures], vnc: &[RunFigures]) {
    println!("| workload | measure | Lifeline | x11vnc | Lifeline / x11vnc |");
    println!("|---|---|---|---|---|");
    let row = |w: &str, m: &str, f: &dyn Fn(&RunFigures) -> Option<f64>, unit: &str, d: usize| {
        let a: Vec<f64> = life.iter().filter_map(f).collect();
        let b: Vec<f64> = vnc.iter().filter_map(f).collect();
        println!(
            "| {w} | {m} | {} | {} | {} |",
            cell(&a, unit, d),
            cell(&b, unit, d),
            ratio(&a, &b)
        );
    };
    row(
        "join",
        "to first whole screen",
        &|r| Some(r.join_ms),
        "ms",
        0,
    );
    row(
        "join",
        "to the first exact screen",
        &|r| Some(r.exact_join_ms),
        "ms",
        0,
    );
    row(
        "pictures stop",
        "until the screen is exact",
        &|r| Some(r.exact_ms),
        "ms",
        0,
    );
    row(
        "whole run",
        "host's most bytes in flight",
        &|r| r.max_in_flight.map(|b| b / 1e3),
        "kB",
        0,
    );
    type Pick = fn(&RunFigures) -> &Figures;
    let loads: [(&str, Pick); 4] = [
        ("idle", |r| &r.idle),
        ("typing", |r| &r.typing),
        ("scrolling", |r| &r.scrolling),
        ("pictures", |r| &r.pictures),
    ];
    for (name, pick) in loads {
        row(name, "updates/s", &|r| Some(pick(r).updates_per_s), "", 1);
        row(name, "bytes", &|r| Some(pick(r).bytes / 1e3), "kB", 1);
        row(name, "host CPU", &|r| Some(pick(r).cpu_s), "s", 2);
        row(name, "latency p50", &|r| pick(r).p50_ms, "ms", 1);
        row(name, "latency p99", &|r| pick(r).p99_ms, "ms", 1);
        let lost: (usize, usize) = (
            life.iter().map(|r| pick(r).lost).sum(),
            vnc.iter().map(|r| pick(r).lost).sum(),
        );
        if lost != (0, 0) {
            println!(
                "| {name} | keys whose effect never showed (all runs) | {} | {} | |",
                lost.0, lost.1
            );
        }
    }
}

fn main() {
    // The viewer library's warnings (a refused update) go to stderr.
    lifeline_common::logging::init("warn");
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
            lifeline_tests::netem::profile(&name)
                .unwrap_or_else(|| panic!("--link takes 50mbit, 10mbit or 2mbit, not {name:?}"))
        });
    let opts = Opts {
        only,
        runs: arg("--runs", 5) as usize,
        idle_secs: arg("--idle-secs", 10),
        chars: arg("--chars", 200) as usize,
        lines: arg("--lines", 100) as usize,
        picture_secs: arg("--picture-secs", 5),
        picture_hz: arg("--picture-hz", 120) as u32,
        patience: Duration::from_secs(match profile {
            // Several whole exact screens' worth of the link, at least.
            Some(p) => 30 + (8.0 * f64::from(W * H * 3) / p.bytes_per_s()) as u64,
            None => 10,
        }),
        link: None,
    };
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

    let relay = {
        let rdir = tempfile::tempdir().unwrap();
        let outer = ns.as_ref().map(|(_, n)| n.outer.to_string());
        let names: Vec<&str> = match &outer {
            Some(o) => vec!["--name", o.as_str()],
            None => vec![],
        };
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
    let _background = x.show(0, 0, &photo_image(W, H, 0));

    let (mut life, mut vnc) = (Vec::new(), Vec::new());
    for run in 1..=opts.runs {
        if opts.only != Some("x11vnc") {
            eprintln!("run {run}/{}: lifeline", opts.runs);
            let _desk = Desktop::open(&x, &long_file);
            life.push(run_lifeline(&rt, &relay, &x, &opts));
        }
        if opts.only != Some("lifeline") {
            eprintln!("run {run}/{}: x11vnc", opts.runs);
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
        "\n1920×1080 Xvfb, {link}, {} runs, medians (min–max); idle {} s, {} characters typed, {} lines scrolled, pictures changing {} times a second for {} s\n",
        opts.runs, opts.idle_secs, opts.chars, opts.lines, opts.picture_hz, opts.picture_secs
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
