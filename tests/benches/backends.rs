//! The host's capture on each backend, side by side in one run: X11
//! (Xvfb, an xterm), wlroots (a headless sway, a foot terminal) and the
//! portal (xdg-desktop-portal-wlr and PipeWire on that sway), all
//! 1920×1080, both driven through the host's own `ScreenSource` and
//! `InputSink`: a whole-screen grab, an idle screen, typing one character
//! (the time from the key to the first grab that has its echo, and that
//! grab's cost), and the real host binary's CPU in an idle shared
//! session. On wlroots the compositor's copy runs on a thread of the
//! host's own, so a grab only hands over what it copied: the key-to-echo
//! time is the fair comparison. The portal backend runs as the
//! compositor's user on the portal's D-Bus session; its keystrokes go
//! through the wlroots virtual keyboard (Debian's portal has no remote
//! input), so its row measures the PipeWire capture path.
//!
//! `cargo bench -p lifeline-tests --bench backends`
//!
//! Each backend is measured in a child process of this one, started with
//! that backend's display in its environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use lifeline_host::platform::{Grab, InputSink, ScreenSource};
use lifeline_session::messages::InputEvent;
use lifeline_session::screen::{Encoder, Image};
use lifeline_tests::peers::HostProcess;
use lifeline_tests::portal::{Chooser, PortalStack};
use lifeline_tests::sway::{Sway, user_command};
use lifeline_tests::x::Xvfb;

const W: u32 = 1920;
const H: u32 = 1080;

fn open(backend: &str) -> (Box<dyn ScreenSource>, Box<dyn InputSink>) {
    match backend {
        "x11" => (
            Box::new(lifeline_host::x11::X11Screen::open().unwrap()),
            Box::new(lifeline_host::x11::EnigoInput::open().unwrap()),
        ),
        "portal" => (
            Box::new(lifeline_host::portal::Portal::default().screen().unwrap()),
            Box::new(lifeline_host::wlr::WlrInput::open().unwrap()),
        ),
        _ => (
            Box::new(lifeline_host::wlr::WlrScreen::open().unwrap()),
            Box::new(lifeline_host::wlr::WlrInput::open().unwrap()),
        ),
    }
}

/// Runs in the child: prints one table row per measure.
fn measure(backend: &str) {
    let (mut screen, mut input) = open(backend);
    let mut img = Image::new(1, 1).unwrap();
    let mut enc = Encoder::new();
    // Let the first frame arrive (wlroots copies on a thread of its own).
    std::thread::sleep(Duration::from_millis(500));
    // (The portal's session starts at the first grab.)
    screen.grab(&mut img, true).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    screen.grab(&mut img, true).unwrap();
    let t0 = Instant::now();
    for _ in 0..50 {
        screen.grab(&mut img, true).unwrap();
    }
    let whole = t0.elapsed().as_secs_f64() * 1e3 / 50.0;
    enc.encode(&img);
    let mut idle_changes = 0;
    let t0 = Instant::now();
    for _ in 0..200 {
        if screen.grab(&mut img, false).unwrap() != Grab::Unchanged {
            idle_changes += 1;
        }
    }
    let idle = t0.elapsed().as_secs_f64() * 1e3 / 200.0;
    input.apply(&InputEvent::Move { x: 400, y: 300 }).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    screen.grab(&mut img, false).unwrap();
    let (mut cap, mut encode, mut updates, mut bytes) = (0.0, 0.0, 0, 0usize);
    let mut seen_ms = Vec::new();
    for i in 0..60 {
        let c = ["a", "b", "c", "x", "y", "z"][i % 6];
        input.apply(&InputEvent::Text(c.into())).unwrap();
        // Key to a grab that has the echo: input, the terminal's drawing
        // and (wlroots) the compositor's copy, all in.
        let typed = Instant::now();
        let mut grab = Grab::Unchanged;
        let mut t0 = Instant::now();
        while grab == Grab::Unchanged && typed.elapsed() < Duration::from_millis(500) {
            std::thread::sleep(Duration::from_micros(500));
            t0 = Instant::now();
            grab = screen.grab(&mut img, false).unwrap();
        }
        seen_ms.push(typed.elapsed().as_secs_f64() * 1e3);
        let t1 = Instant::now();
        let upd = match grab {
            Grab::Captured => enc.encode(&img),
            Grab::Regions(r) => enc.encode_within(&img, &r),
            Grab::Unchanged | Grab::Withheld(_) => None,
        };
        cap += (t1 - t0).as_secs_f64() * 1e3;
        encode += t1.elapsed().as_secs_f64() * 1e3;
        if let Some(u) = upd {
            updates += 1;
            bytes += u.payload_bytes();
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    seen_ms.sort_by(f64::total_cmp);
    println!(
        "| {backend} | {whole:.2} | {idle:.3} ({idle_changes} changes) | {:.1} / {:.1} | {:.3} | {:.3} | {updates}/60 | {:.0} |",
        seen_ms[seen_ms.len() / 2],
        seen_ms[seen_ms.len() * 99 / 100],
        cap / 60.0,
        encode / 60.0,
        bytes as f64 / updates.max(1) as f64
    );
}

/// The real host binary, shared and idle for 10 s: its CPU share.
fn idle_cpu(label: &str, start: impl FnOnce(&lifeline_tests::TestRelay) -> HostProcess) {
    let share = lifeline_tests::peers::idle_host_cpu(start);
    println!("| {label} | {share:.2}% of one core |");
}

fn child(backend: &str, env: &[(&str, String)]) {
    child_from(Command::new(std::env::current_exe().unwrap()), backend, env);
}

fn child_from(mut cmd: Command, backend: &str, env: &[(&str, String)]) {
    cmd.env("LIFELINE_BENCH_BACKEND", backend);
    for (k, v) in env {
        cmd.env(k, v);
    }
    assert!(cmd.status().unwrap().success(), "{backend} failed");
}

fn main() {
    if let Ok(backend) = std::env::var("LIFELINE_BENCH_BACKEND") {
        measure(&backend);
        return;
    }
    let x = Xvfb::start(W, H);
    let _term = x.full_terminal();
    let sway = Sway::start(W, H);
    let _foot = sway.foot_cat(&sway.shared().join("bench.txt"));
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "| backend (1920×1080) | whole-screen grab ms | idle grab ms | typing: key → echo captured, p50 / p99 ms | typing: grab ms | typing: detect+encode ms | typing: updates | mean bytes/update |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    child("x11", &[("DISPLAY", x.display.clone())]);
    let mut wl: Vec<(&str, String)> = sway.env().into_iter().collect();
    wl.push(("DISPLAY", String::new()));
    child("wlroots", &wl);
    let stack = PortalStack::start(&sway, Chooser::Shares);
    let exe = std::env::current_exe().unwrap();
    let mut portal = wl.clone();
    portal.push(("DBUS_SESSION_BUS_ADDRESS", stack.bus.clone()));
    portal.push(("XDG_STATE_HOME", sway.shared().display().to_string()));
    child_from(
        user_command(exe.to_str().unwrap(), &sway.runtime),
        "portal",
        &portal,
    );
    println!("\n| idle shared session | host CPU |\n|---|---|");
    idle_cpu("x11", |relay| {
        HostProcess::start(relay, &x.display, &["--allow", "view"])
    });
    let env = sway.env();
    idle_cpu("wlroots", |relay| {
        HostProcess::spawn_wayland(&relay.relay_arg(), &relay.ca, &env, &["--allow", "view"])
    });
    idle_cpu("portal", |relay| {
        let ca = sway.shared().join("ca.pem");
        std::fs::copy(&relay.ca, &ca).unwrap();
        let mut cmd = user_command(
            lifeline_tests::bin("lifeline-host").to_str().unwrap(),
            &sway.runtime,
        );
        for (k, v) in &portal {
            cmd.env(k, v);
        }
        let extra = ["--backend", "portal", "--allow", "view"];
        HostProcess::spawn_command(cmd, &relay.relay_arg(), &ca, &extra)
    });
    println!(
        "\nmachine: {} cores; command: cargo bench -p lifeline-tests --bench backends",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
