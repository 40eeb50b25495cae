//! `--browser`: the browser viewer (the relay's page in headless Chromium,
//! the session crate as WebAssembly) beside the native viewer library, on
//! the same host, desktop and relay, in one run: join to the first screen,
//! typing and scrolling latency (a key's effect on the screen), decode and
//! draw per update, and updates a second while full-screen pictures change.
//! With `--video-secs N` (the default 8) a 1080p video also plays at 30
//! frames a second for N seconds. The page runs twice: decoding the host's H.264 with WebCodecs, and as
//! a browser without WebCodecs runs it (`?video=off`), saying `NoVideo`
//! and getting pictures instead.
//!
//! The page times itself (`window.lifeline`, page clock): a key from its
//! `keydown` to the first canvas paint that changes the watched area, and
//! join from Connect to the first screen; the native viewer from sending a
//! key to decoding the update that changes the area, as the x11vnc
//! comparison measures it. Neither includes the other's measuring cost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeline_session::messages::{InputEvent, Key};
use lifeline_tests::browser::Browser;
use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::Xvfb;
use lifeline_viewer::session::Viewer;
use serde_json::json;

use crate::report::cell;
use crate::slideshow::Slideshow;
use crate::video::Player;
use crate::workloads::Desktop;
use crate::{Opts, Rect, SCROLLING, TEXT, TYPING};

/// One system's figures in one run.
#[derive(Default)]
struct Run {
    join_ms: f64,
    typing: Vec<f64>,
    scrolling: Vec<f64>,
    /// Decode and draw per update (browser only: the page's own clock).
    typing_cost_ms: Option<f64>,
    scrolling_cost_ms: Option<f64>,
    pictures_cost_ms: Option<f64>,
    pictures_per_s: f64,
    /// Video frames the page decoded and drew while pictures changed.
    video_frames: Option<f64>,
    /// Sealed megabytes a second received while pictures changed (page).
    pictures_mb_s: Option<f64>,
    /// While a 1080p video plays at 30 frames a second: updates a second,
    /// and (page) video frames drawn a second and megabytes a second.
    video_per_s: Option<f64>,
    video_frames_per_s: Option<f64>,
    video_mb_s: Option<f64>,
}

/// The keys typed: the sentence, over and over, a Return after each.
fn keys(n: usize) -> Vec<char> {
    TEXT.trim_end()
        .chars()
        .chain(['\n'])
        .cycle()
        .take(n)
        .collect()
}

fn key_of(c: char) -> Key {
    match c {
        '\n' => Key::Return,
        ' ' => Key::Space,
        c => Key::Char(c),
    }
}

/// The native viewer library: latency from sending a key to decoding the
/// update that changes `area`.
fn native_keys(rt: &tokio::runtime::Runtime, v: &Viewer, area: Rect, keys: &[Key]) -> Vec<f64> {
    let region = || v.with_image(|img| img.map(|i| area.pixels(i))).unwrap();
    let mut out = Vec::new();
    for &key in keys {
        let before = region();
        let t0 = Instant::now();
        rt.block_on(async {
            for down in [true, false] {
                v.input(InputEvent::Key { key, down }).await.unwrap();
            }
        });
        let mut frames = v.frames();
        loop {
            if region() != before {
                out.push(t0.elapsed().as_secs_f64() * 1e3);
                break;
            }
            let seen = *frames.borrow_and_update();
            let left = crate::LOST.saturating_sub(t0.elapsed());
            let waited = rt.block_on(async {
                tokio::time::timeout(left, frames.wait_for(|n| *n > seen)).await
            });
            if waited.is_err() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    out
}

/// The page: its own latency, `keydown` to the paint that changed `area`.
fn browser_keys(b: &mut Browser, area: Rect, keys: &[Key]) -> Vec<f64> {
    let mut out = Vec::new();
    for &key in keys {
        b.eval(&format!(
            "window.lifeline.startWatch({}, {}, {}, {})",
            area.x, area.y, area.w, area.h
        ));
        match key {
            Key::Return => b.press("Enter", "Enter", "\r", 13),
            Key::Down => b.press("ArrowDown", "ArrowDown", "", 40),
            Key::Space => b.press(" ", "Space", " ", 32),
            Key::Char(c) => {
                let s = c.to_string();
                let code = if c.is_ascii_alphabetic() {
                    format!("Key{}", c.to_ascii_uppercase())
                } else {
                    String::new()
                };
                b.press(&s, &code, &s, 0);
            }
            _ => unreachable!("the bench types characters, Return and Down"),
        }
        let t0 = Instant::now();
        while t0.elapsed() < crate::LOST {
            let v = b.eval("(() => { const l = window.lifeline; return l.watch.changedAt === null ? null : l.watch.changedAt - l.keyAt; })()");
            if let Some(ms) = v.as_f64() {
                out.push(ms);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    out
}

/// The page's decode and draw time, and its updates, so far.
fn page_costs(b: &mut Browser) -> (f64, f64) {
    let v = b.eval("[window.lifeline.decodeMs + window.lifeline.drawMs, window.lifeline.updates]");
    (v[0].as_f64().unwrap_or(0.0), v[1].as_f64().unwrap_or(0.0))
}

fn per_update(before: (f64, f64), after: (f64, f64)) -> Option<f64> {
    let n = after.1 - before.1;
    (n > 0.0).then(|| (after.0 - before.0) / n)
}

fn run_native(rt: &tokio::runtime::Runtime, relay: &crate::Relay, x: &Xvfb, opts: &Opts) -> Run {
    let host = HostProcess::spawn(&relay.addr, &relay.ca, &x.display, &["--allow", "control"]);
    let t0 = Instant::now();
    let v = rt
        .block_on(Viewer::connect(
            &relay.addr,
            Some(&relay.ca),
            &relay.token,
            &host.code(),
            |_| {},
        ))
        .unwrap();
    rt.block_on(v.frames().wait_for(|n| *n >= 1)).unwrap();
    let mut run = Run {
        join_ms: t0.elapsed().as_secs_f64() * 1e3,
        ..Run::default()
    };
    let point = |r: Rect| {
        let (x, y) = r.centre();
        rt.block_on(v.input(InputEvent::Move { x, y })).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    };
    point(TYPING);
    let typed: Vec<Key> = keys(opts.chars).into_iter().map(key_of).collect();
    run.typing = native_keys(rt, &v, TYPING, &typed);
    point(SCROLLING);
    run.scrolling = native_keys(rt, &v, SCROLLING, &vec![Key::Down; opts.lines]);
    let show = Slideshow::start(x, opts.picture_hz);
    std::thread::sleep(Duration::from_millis(300));
    let n0 = *v.frames().borrow();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(opts.picture_secs));
    run.pictures_per_s = (*v.frames().borrow() - n0) as f64 / t.elapsed().as_secs_f64();
    show.stop();
    if let Some(video) = &opts.video {
        let player = Player::start(x, video.clone(), TYPING);
        std::thread::sleep(Duration::from_millis(300));
        let n0 = *v.frames().borrow();
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs(opts.video_secs));
        run.video_per_s = Some((*v.frames().borrow() - n0) as f64 / t.elapsed().as_secs_f64());
        player.stop();
    }
    rt.block_on(v.disconnect("bench done"));
    run
}

fn run_browser(url: &str, relay: &crate::Relay, x: &Xvfb, opts: &Opts, video: bool) -> Run {
    let host = HostProcess::spawn(&relay.addr, &relay.ca, &x.display, &["--allow", "control"]);
    let mut b = Browser::start();

    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1920, "height": 1300, "deviceScaleFactor": 1, "mobile": false}),
    );
    // `?video=off`: the page as a browser without WebCodecs runs it.
    b.goto(&format!("{url}/{}", if video { "" } else { "?video=off" }));
    lifeline_tests::wait_for("the page", || {
        (b.eval("window.lifeline.ready") == json!(true)).then_some(())
    });
    b.fill("input[name=code]", &host.code().to_string());
    b.eval("document.querySelector('input[name=code]').dispatchEvent(new Event('input'))");
    b.fill("input[name=token]", &relay.token);
    b.eval("document.querySelector('#join button').click()");
    let join_ms = lifeline_tests::wait_for("the first screen", || {
        b.eval("window.lifeline.joinMs").as_f64()
    });
    // 1:1, so that a remote pixel is a page pixel.
    b.eval("document.querySelector('#fit').click()");
    let mut run = Run {
        join_ms,
        ..Run::default()
    };
    let point = |b: &mut Browser, r: Rect| {
        let (x, y) = r.centre();
        let at = b.eval(&format!(
            "(() => {{ const c = document.querySelector('#screen').getBoundingClientRect(); return [c.left + {x} + 0.5, c.top + {y} + 0.5]; }})()"
        ));
        b.mouse_move(at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        std::thread::sleep(Duration::from_millis(300));
    };
    point(&mut b, TYPING);
    let typed: Vec<Key> = keys(opts.chars).into_iter().map(key_of).collect();
    let c0 = page_costs(&mut b);
    run.typing = browser_keys(&mut b, TYPING, &typed);
    let c1 = page_costs(&mut b);
    run.typing_cost_ms = per_update(c0, c1);
    point(&mut b, SCROLLING);
    run.scrolling = browser_keys(&mut b, SCROLLING, &vec![Key::Down; opts.lines]);
    let c2 = page_costs(&mut b);
    run.scrolling_cost_ms = per_update(c1, c2);
    let show = Slideshow::start(x, opts.picture_hz);
    std::thread::sleep(Duration::from_millis(300));
    let shown = |b: &mut Browser| {
        let v = b.eval("[window.lifeline.videoShown, window.lifeline.bytes]");
        (v[0].as_f64().unwrap_or(0.0), v[1].as_f64().unwrap_or(0.0))
    };
    let (v0, bytes0) = shown(&mut b);
    let p0 = page_costs(&mut b);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(opts.picture_secs));
    let p1 = page_costs(&mut b);
    let secs = t.elapsed().as_secs_f64();
    let (v1, bytes1) = shown(&mut b);
    assert_eq!(
        b.eval("window.lifeline.video") == json!(true),
        video,
        "the page decodes video exactly when WebCodecs is there"
    );
    run.video_frames = Some(v1 - v0);
    run.pictures_mb_s = Some((bytes1 - bytes0) / 1e6 / secs);
    run.pictures_per_s = (p1.1 - p0.1) / secs;
    run.pictures_cost_ms = per_update(p0, p1);
    show.stop();
    if let Some(video) = &opts.video {
        let player = Player::start(x, video.clone(), TYPING);
        std::thread::sleep(Duration::from_millis(300));
        let (v0, bytes0) = shown(&mut b);
        let u0 = page_costs(&mut b).1;
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs(opts.video_secs));
        let secs = t.elapsed().as_secs_f64();
        let (v1, bytes1) = shown(&mut b);
        run.video_per_s = Some((page_costs(&mut b).1 - u0) / secs);
        run.video_frames_per_s = Some((v1 - v0) / secs);
        run.video_mb_s = Some((bytes1 - bytes0) / 1e6 / secs);
        player.stop();
    }
    b.eval("document.querySelector('#disconnect').click()");
    drop(host);
    run
}

fn pct(v: &[f64], q: f64) -> Option<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (!s.is_empty()).then(|| s[((s.len() - 1) as f64 * q).round() as usize])
}

/// Both viewers, `opts.runs` times each, and the table.
pub(crate) fn side_by_side(
    rt: &Arc<tokio::runtime::Runtime>,
    relay: &crate::Relay,
    url: &str,
    x: &Xvfb,
    opts: &Opts,
    long_file: &std::path::Path,
) {
    let wallpaper = opts.wallpaper.image();
    let (mut native, mut page, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=opts.runs {
        eprintln!("run {run}/{}: native viewer", opts.runs);
        let _bg = x.show(0, 0, &wallpaper);
        let _desk = Desktop::open(x, long_file);
        native.push(run_native(rt, relay, x, opts));
        eprintln!("run {run}/{}: browser viewer", opts.runs);
        let _bg = x.show(0, 0, &wallpaper);
        let _desk = Desktop::open(x, long_file);
        page.push(run_browser(url, relay, x, opts, true));
        eprintln!("run {run}/{}: browser viewer without WebCodecs", opts.runs);
        let _bg = x.show(0, 0, &wallpaper);
        let _desk = Desktop::open(x, long_file);
        plain.push(run_browser(url, relay, x, opts, false));
    }
    println!(
        "\n1920×1080 Xvfb, loopback, {} runs, medians (min–max); {} characters typed, {} lines scrolled, pictures changing {} times a second for {} s\n",
        opts.runs, opts.chars, opts.lines, opts.picture_hz, opts.picture_secs
    );
    println!("| workload | measure | native viewer | browser viewer | browser without WebCodecs |");
    println!("|---|---|---|---|---|");
    let row = |w: &str, m: &str, f: &dyn Fn(&Run) -> Option<f64>, unit: &str, d: usize| {
        let col = |runs: &[Run]| cell(&runs.iter().filter_map(f).collect::<Vec<_>>(), unit, d);
        println!(
            "| {w} | {m} | {} | {} | {} |",
            col(&native),
            col(&page),
            col(&plain)
        );
    };
    row(
        "join",
        "to first whole screen",
        &|r| Some(r.join_ms),
        "ms",
        0,
    );
    for (name, pick) in [
        ("typing", (|r: &Run| &r.typing) as fn(&Run) -> &Vec<f64>),
        ("scrolling", |r: &Run| &r.scrolling),
    ] {
        row(name, "latency p50", &|r| pct(pick(r), 0.5), "ms", 1);
        row(name, "latency p99", &|r| pct(pick(r), 0.99), "ms", 1);
        row(
            name,
            "keys whose effect never showed",
            &|r| Some((keys_len(name, opts) - pick(r).len()) as f64),
            "",
            0,
        );
    }
    row(
        "typing",
        "decode + draw per update",
        &|r| r.typing_cost_ms,
        "ms",
        2,
    );
    row(
        "scrolling",
        "decode + draw per update",
        &|r| r.scrolling_cost_ms,
        "ms",
        2,
    );
    row(
        "pictures",
        "updates a second",
        &|r| Some(r.pictures_per_s),
        "",
        1,
    );
    row(
        "pictures",
        "decode + draw per update",
        &|r| r.pictures_cost_ms,
        "ms",
        2,
    );
    row("pictures", "video frames drawn", &|r| r.video_frames, "", 0);
    row(
        "pictures",
        "MB a second received",
        &|r| r.pictures_mb_s,
        "",
        2,
    );
    if opts.video.is_some() {
        row("1080p video", "updates a second", &|r| r.video_per_s, "", 1);
        row(
            "1080p video",
            "video frames drawn a second",
            &|r| r.video_frames_per_s,
            "",
            1,
        );
        row(
            "1080p video",
            "MB a second received",
            &|r| r.video_mb_s,
            "",
            2,
        );
    }
}

fn keys_len(name: &str, opts: &Opts) -> usize {
    if name == "typing" {
        opts.chars
    } else {
        opts.lines
    }
}
