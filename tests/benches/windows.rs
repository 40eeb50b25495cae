//! What one screen capture costs the Windows host under Wine (GDI), side
//! by side with the Linux host on X11, in one run: both 1920×1080, both
//! through the host's own backend (`host/examples/capture_cost.rs`, built
//! for Linux and cross-built for Windows, release), a terminal or Notepad
//! on an otherwise plain desktop. Wine figures: Wine turns GDI's `BitBlt`
//! into X11 requests of its own, so they say what the Windows build costs
//! under Wine here, not on a Windows machine.
//!
//! `scripts/bench windows` (builds both, then
//! `cargo bench -p lifeline-tests --bench windows`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

use lifeline_tests::wine::{Wine, skip_without_wine};
use lifeline_tests::x::Xvfb;

const W: u32 = 1920;
const H: u32 = 1080;
const GRABS: &str = "100";

/// The Linux build of the example, beside this bench's target directory.
fn native() -> PathBuf {
    if let Some(p) = std::env::var_os("LIFELINE_CAPTURE_COST") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(2)
        .unwrap()
        .join("examples/capture_cost")
}

fn json(out: std::process::Output, who: &str) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "{who} printed no figures: {text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(line).unwrap()
}

fn row(name: &str, v: &serde_json::Value) {
    println!(
        "| {name} | {}×{} | {} | {} | {} | {} |",
        v["width"],
        v["height"],
        v["grab_p50_ms"],
        v["grab_p95_ms"],
        v["first_update_encode_ms"],
        v["first_update_bytes"]
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let native = native();
    assert!(
        native.is_file(),
        "{} is missing: cargo build --release -p lifeline-host --example capture_cost",
        native.display()
    );
    if skip_without_wine(&["capture_cost.exe"]) {
        return;
    }
    println!(
        "| host | screen | grab p50 ms | grab p95 ms | first update: encode ms | first update: bytes |"
    );
    println!("|---|---|---|---|---|---|");

    let x = Xvfb::start(W, H);
    let _term = x.spawn("xterm", &["-geometry", "100x40+100+100"]);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let out = Command::new(&native)
        .args([GRABS, "--backend", "x11"])
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    row("lifeline-host, X11 (Xvfb)", &json(out, "capture_cost"));
    drop(x);

    let wine = Wine::start(W, H);
    let _notepad = wine.notepad();
    let out = wine
        .command("capture_cost.exe")
        .args([GRABS, "--backend", "gdi"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    row(
        "lifeline-host.exe, GDI under Wine 8 (Xvfb)",
        &json(out, "capture_cost.exe"),
    );
}
