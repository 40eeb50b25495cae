//! The workloads each system is measured on, in one run: join, idle,
//! typing, scrolling and the slideshow, and what each costs.

use std::time::{Duration, Instant};

use lifeline_tests::cpu_secs;
use lifeline_tests::x::{XClient, Xvfb};

use crate::peers::{Peer, Press};
use crate::slideshow::Slideshow;
use crate::video::VideoFigures;
use crate::{H, LOST, Opts, Rect, SCROLLING, TEXT, TYPING, W};

/// One workload's figures in one run.
#[derive(Default, Clone)]
pub(crate) struct Figures {
    pub(crate) updates_per_s: f64,
    pub(crate) bytes: f64,
    pub(crate) cpu_s: f64,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) lost: usize,
}

/// One system's figures in one run.
#[derive(Default, Clone)]
pub(crate) struct RunFigures {
    pub(crate) join_ms: f64,
    /// From connecting to the first exact whole screen.
    pub(crate) exact_join_ms: f64,
    /// From the pictures stopping to the viewer's screen being exact.
    pub(crate) exact_ms: f64,
    /// The host agent's most update bytes in flight (Lifeline only).
    pub(crate) max_in_flight: Option<f64>,
    pub(crate) idle: Figures,
    pub(crate) typing: Figures,
    pub(crate) scrolling: Figures,
    pub(crate) pictures: Figures,
    /// Typing right after the first whole screen, while it may be refined.
    pub(crate) typing_at_join: Figures,
    /// How long before the first exact screen that typing ended.
    pub(crate) typed_before_exact_ms: Option<f64>,
    pub(crate) video: Option<VideoFigures>,
}

/// Counters before a workload, to subtract after.
pub(crate) struct Mark {
    pub(crate) at: Instant,
    updates: u64,
    bytes: u64,
    cpu: f64,
}

pub(crate) fn mark(p: &dyn Peer) -> Mark {
    Mark {
        at: Instant::now(),
        updates: p.updates(),
        bytes: p.received(),
        cpu: cpu_secs(p.server_pid()),
    }
}

pub(crate) fn since(p: &dyn Peer, m: &Mark, latencies: &mut [f64], lost: usize) -> Figures {
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
pub(crate) fn settle(p: &dyn Peer, quiet: Duration) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && p.wait_update(p.updates(), quiet) {}
}

/// How a key's effect is told from other changes, and when the next key goes.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Watch {
    /// Any pixel of the area changed; the next key once the screen is quiet.
    Exact,
    /// Enough pixels inside the area's margin changed a lot (a glyph or the
    /// cursor: lossy pictures and refinements around it do not count); the
    /// next key after a short pause, whatever else keeps arriving.
    Busy,
}

/// Pixels that changed by more than this in some channel count as the
/// key's effect under [`Watch::Busy`], when at least `GLYPH` of them did.
const STRONG: u32 = 96;
const GLYPH: usize = 4;

impl Watch {
    fn area(self, r: Rect) -> Rect {
        match self {
            Watch::Exact => r,
            Watch::Busy => Rect {
                x: r.x + 8,
                y: r.y + 8,
                w: r.w - 16,
                h: r.h - 16,
            },
        }
    }

    fn changed(self, before: &[u32], now: &[u32]) -> bool {
        match self {
            Watch::Exact => before != now,
            Watch::Busy => {
                let strong = |a: u32, b: u32| {
                    (0..3).any(|c| ((a >> (8 * c)) & 0xff).abs_diff((b >> (8 * c)) & 0xff) > STRONG)
                };
                before
                    .iter()
                    .zip(now)
                    .filter(|(a, b)| strong(**a, **b))
                    .count()
                    >= GLYPH
            }
        }
    }
}

/// Presses each key and times until `area` shows a change.
pub(crate) fn keys_with_latency(
    p: &dyn Peer,
    area: Rect,
    keys: &[Press],
    watch: Watch,
) -> (Vec<f64>, usize) {
    let area = watch.area(area);
    let (mut lat, mut lost) = (Vec::new(), 0);
    for &k in keys {
        let before = p.region(area).unwrap();
        let t0 = Instant::now();
        p.press(k);
        let seen = loop {
            let n = p.updates();
            if watch.changed(&before, &p.region(area).unwrap()) {
                break true;
            }
            let left = LOST.saturating_sub(t0.elapsed());
            if left.is_zero() || !p.wait_update(n, left) {
                break watch.changed(&before, &p.region(area).unwrap());
            }
        };
        if seen {
            lat.push(t0.elapsed().as_secs_f64() * 1e3);
        } else {
            lost += 1;
        }
        // Let the rest of this key's drawing arrive before the next one.
        match watch {
            Watch::Exact => settle(p, Duration::from_millis(30)),
            Watch::Busy => std::thread::sleep(Duration::from_millis(60)),
        }
    }
    (lat, lost)
}

/// Points at `area` (focus follows the pointer), then presses `keys` there
/// one by one, timing each.
pub(crate) fn keys_in(
    p: &dyn Peer,
    area: Rect,
    keys: &[Press],
    name: &str,
    stage: Instant,
    watch: Watch,
) -> Figures {
    let (cx, cy) = area.centre();
    p.point(cx, cy);
    match watch {
        Watch::Exact => settle(p, Duration::from_millis(300)),
        Watch::Busy => std::thread::sleep(Duration::from_millis(100)),
    }
    let m = mark(p);
    let (mut lat, lost) = keys_with_latency(p, area, keys, watch);
    let figures = since(p, &m, &mut lat, lost);
    eprintln!(
        "    {name} done at {:.1} s ({lost} keys lost)",
        stage.elapsed().as_secs_f64()
    );
    figures
}

/// `n` keys: a sentence, then Return (cat echoes the line back), over and over.
pub(crate) fn typed(n: usize) -> Vec<Press> {
    TEXT.trim_end()
        .chars()
        .map(Press::Char)
        .chain([Press::Return])
        .cycle()
        .take(n)
        .collect()
}

pub(crate) fn workloads(
    p: &dyn Peer,
    x: &Xvfb,
    opts: &Opts,
    joined_ms: f64,
    t0: Instant,
) -> RunFigures {
    let stage = Instant::now();
    // Typing at once, while a slow link may still be refining the first
    // screen; then every workload starts from an exact screen, and the
    // time to it is a figure too.
    let at_join = (opts.join_chars > 0).then(|| {
        let keys = typed(opts.join_chars);
        keys_in(p, TYPING, &keys, "typing at join", stage, Watch::Busy)
    });
    let typed_at = Instant::now();
    until_exact(p, x, opts);
    let exact_join_ms = t0.elapsed().as_secs_f64() * 1e3;
    let typed_before_exact_ms = at_join
        .is_some()
        .then(|| typed_at.elapsed().as_secs_f64() * 1e3);
    settle(p, Duration::from_millis(500));
    let mut out = RunFigures {
        join_ms: joined_ms,
        exact_join_ms,
        typing_at_join: at_join.unwrap_or_default(),
        typed_before_exact_ms,
        ..Default::default()
    };

    let m = mark(p);
    std::thread::sleep(Duration::from_secs(opts.idle_secs));
    out.idle = since(p, &m, &mut [], 0);
    eprintln!("    idle done at {:.1} s", stage.elapsed().as_secs_f64());

    out.typing = keys_in(p, TYPING, &typed(opts.chars), "typing", stage, Watch::Exact);
    let down = vec![Press::Down; opts.lines];
    out.scrolling = keys_in(p, SCROLLING, &down, "scrolling", stage, Watch::Exact);
    (out.pictures, out.exact_ms) = pictures(p, x, opts, stage);
    if let Some(v) = opts.video.as_ref().filter(|_| opts.video_secs > 0) {
        out.video = Some(crate::video::video(p, x, opts, v, stage));
    }
    out
}

/// The slideshow's figures, and the time from its end to an exact screen.
fn pictures(p: &dyn Peer, x: &Xvfb, opts: &Opts, stage: Instant) -> (Figures, f64) {
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
    let figures = Figures {
        updates_per_s: during.updates_per_s,
        ..since(p, &m, &mut [], 0)
    };
    eprintln!(
        "    pictures done at {:.1} s; the slideshow drew {shown:.0} a second",
        stage.elapsed().as_secs_f64()
    );
    // Both must end with the screen exactly as the X server has it.
    until_exact(p, x, opts);
    (figures, stopped.elapsed().as_secs_f64() * 1e3)
}

/// Waits until the viewer's screen is exactly the X server's.
pub(crate) fn until_exact(p: &dyn Peer, x: &Xvfb, opts: &Opts) {
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

/// The desktop each system is measured on: a picture, a terminal to type
/// into, and a long file open in `less` to scroll, all fresh.
pub(crate) struct Desktop {
    _terms: [XClient; 2],
}

impl Desktop {
    pub(crate) fn open(x: &Xvfb, long_file: &std::path::Path) -> Self {
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
