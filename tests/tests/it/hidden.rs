//! Windows the user hides from the technician, with the real relay, host
//! and viewer binaries under Xvfb: a private xterm (coloured to be found)
//! never reaches the viewer's picture or the recording, which show a
//! blank box where it is and the viewer is told the box; the box follows
//! the window when it moves; the technician's pointer cannot enter it and
//! typing while it has the keyboard is dropped, while typing into another
//! window arrives. In the host's real window the user ticks the window
//! in "Hide windows" with the keyboard alone, and the technician sees it
//! blank (pictured with `LIFELINE_SCREENSHOTS`). Where windows cannot be
//! hidden, `--hide-window` stops the host with why.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lifeline_session::messages::{HiddenBox, InputEvent};
use lifeline_session::screen::Image;
use lifeline_tests::peers::{HostProcess, type_line as typed};
use lifeline_tests::x::{XClient, Xvfb, load_png};
use lifeline_tests::{RelayProcess, bin, poll, relay_cli, relay_cli_until};
use lifeline_viewer::session::Viewer;

use crate::recording::{auditor, host_session};
use crate::window::xdotool;

/// The private xterm's colours (0xRRGGBB), found nowhere else on screen.
const VAULT_BG: u32 = 0x1e90ff;
const VAULT_FG: u32 = 0xffff00;
/// The host's blank (`lifeline_host::hidden::area::BLANK`).
const BLANK: u32 = 0x484848;

/// An xterm titled `title` at `geometry` running `cat > FILE`.
fn xterm(x: &Xvfb, title: &str, geometry: &str, file: &Path, colours: &[&str]) -> XClient {
    x.xterm_cat_with(geometry, file, &[&["-title", title], colours].concat())
}

fn count(img: &Image, colour: u32) -> usize {
    img.pixels
        .iter()
        .filter(|p| **p & 0x00ff_ffff == colour)
        .count()
}

fn at(img: &Image, x: i32, y: i32) -> u32 {
    img.pixels[y as usize * img.width as usize + x as usize] & 0x00ff_ffff
}

fn centre(b: &HiddenBox) -> (i32, i32) {
    (b.x + b.width as i32 / 2, b.y + b.height as i32 / 2)
}

/// Waits until the viewer is told one box whose top left is near `near`.
async fn box_near(v: &Viewer, near: (i32, i32)) -> HiddenBox {
    let mut hidden = v.hidden();
    poll("the hidden box to be told", || {
        let boxes = hidden.borrow_and_update().clone();
        (boxes.len() == 1 && (boxes[0].x - near.0).abs() < 8 && (boxes[0].y - near.1).abs() < 8)
            .then(|| boxes[0])
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_window_never_reaches_the_technician_or_the_recording() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let files = tempfile::tempdir().unwrap();
    let (notes_file, vault_file) = (files.path().join("notes"), files.path().join("vault"));
    let _notes = xterm(&x, "Notes", "30x6+0+0", &notes_file, &[]);
    let colours = ["-bg", "#1e90ff", "-fg", "#ffff00", "-cr", "#ffff00"];
    let _vault = xterm(&x, "Secret vault", "30x6+300+200", &vault_file, &colours);
    let vault = xdotool(&x, &["search", "--name", "Secret vault"]);
    let vault = vault.trim();
    // What is on the screen does show the vault: the checks below can fail.
    assert!(count(&x.screenshot(), VAULT_BG) > 5000);

    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let alice = auditor(keys.path(), data.path(), "alice");
    let relay = RelayProcess::start(data.path(), &[]);
    let d = data.path().to_str().unwrap();
    let (_, token, _) = relay_cli(&["technician", "add", "wendy", "--data-dir", d]);
    let ca = data.path().join("ca.pem");
    let addr = relay.addr.to_string();
    let host = HostProcess::spawn(
        &addr,
        &ca,
        &x.display,
        &["--allow", "control", "--hide-window", "secret VAULT"],
    );
    let v = Viewer::connect(&addr, Some(&ca), token.trim(), &host.code(), |_| {})
        .await
        .unwrap();
    let hidden = box_near(&v, (300, 200)).await;
    v.settle(Duration::from_millis(300), Duration::from_secs(20))
        .await
        .unwrap();
    let seen = v.image().unwrap();
    assert_eq!((count(&seen, VAULT_BG), count(&seen, VAULT_FG)), (0, 0));
    let (cx, cy) = centre(&hidden);
    assert_eq!(at(&seen, cx, cy), BLANK, "a blank box where the vault is");

    // The technician's pointer cannot enter it: a move there is
    // dropped, so what is typed next still goes to the notes (the keyboard
    // follows the pointer).
    v.input(InputEvent::Move { x: 20, y: 20 }).await.unwrap();
    poll("the pointer on the notes", || {
        (x.pointer() == (20, 20)).then_some(())
    })
    .await;
    v.input(InputEvent::Move {
        x: cx as u32,
        y: cy as u32,
    })
    .await
    .unwrap();
    typed(&v, "the-pointer-stayed-out").await;
    poll("the typing to reach the notes", || {
        std::fs::read_to_string(&notes_file)
            .ok()?
            .contains("the-pointer-stayed-out")
            .then_some(())
    })
    .await;
    assert_eq!(x.pointer(), (20, 20));
    // The user's own pointer gives the vault the keyboard: the
    // technician's typing is dropped. The move after it, applied in
    // order, says when the typing was handled.
    x.xdotool(&["mousemove", &cx.to_string(), &cy.to_string()]);
    typed(&v, "typed-into-the-vault").await;
    v.input(InputEvent::Move { x: 21, y: 21 }).await.unwrap();
    poll("the move after the typing", || {
        (x.pointer() == (21, 21)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(std::fs::read_to_string(&vault_file).unwrap(), "");
    assert!(
        !std::fs::read_to_string(&notes_file)
            .unwrap()
            .contains("vault")
    );

    // The vault moves: the box follows, and where it was shows again.
    x.xdotool(&["windowmove", vault, "40", "300"]);
    let moved = box_near(&v, (40, 300)).await;
    v.settle(Duration::from_millis(300), Duration::from_secs(20))
        .await
        .unwrap();
    let seen = v.image().unwrap();
    assert_eq!((count(&seen, VAULT_BG), count(&seen, VAULT_FG)), (0, 0));
    let (mx, my) = centre(&moved);
    assert_eq!(at(&seen, mx, my), BLANK);
    assert_ne!(at(&seen, cx, cy), BLANK, "the old place is shown again");
    assert!(count(&x.screenshot(), VAULT_BG) > 5000, "it is on screen");
    v.disconnect("done").await;
    host.wait_event("ended");

    // The recording has it blank in every frame, and says when.
    let session = host_session(d);
    relay_cli_until(
        &["audit", "show", &session, "--data-dir", d],
        "recording_sealed",
    );
    let rec = data.path().join(format!("recordings/{session}.llrec"));
    recording_has_it_blank(
        &rec,
        &alice,
        &keys.path().join("frames"),
        [(cx, cy), (mx, my)],
    );
}

/// Every frame of the recording at `rec` (played with the auditor's key
/// `alice`) lacks the vault's colours, some have one of `places` blank,
/// and its timeline notes the hidden parts but never the vault's title.
fn recording_has_it_blank(rec: &Path, alice: &Path, frames: &Path, places: [(i32, i32); 2]) {
    let rec = rec.to_str().unwrap();
    let out = Command::new(bin("lifeline-viewer"))
        .args(["play", rec, "--identity", alice.to_str().unwrap()])
        .args(["--export-frames", frames.to_str().unwrap(), "--fps", "8"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut blanked = 0;
    for frame in std::fs::read_dir(frames).unwrap() {
        let img = load_png(&frame.unwrap().path());
        assert_eq!((count(&img, VAULT_BG), count(&img, VAULT_FG)), (0, 0));
        blanked += usize::from(places.iter().any(|&(x, y)| at(&img, x, y) == BLANK));
    }
    assert!(blanked > 0);
    let timeline = Command::new(bin("lifeline-viewer"))
        .args(["play", rec, "--identity", alice.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let timeline = String::from_utf8_lossy(&timeline.stdout);
    assert!(
        timeline.contains("hidden") && timeline.contains("boxes"),
        "the timeline notes it: {timeline}"
    );
    assert!(
        !timeline.contains("Secret vault"),
        "no title in the timeline"
    );
}

/// The user opens "Hide windows" in the host's window (Tab to it, Return)
/// and ticks the vault (Tab, space) before the technician joins; the list
/// left open, the host window is hidden too (it shows every title).
#[test]
fn the_user_ticks_a_window_in_the_host_window() {
    use crate::session::{Stack, events, stderr};
    use crate::window::{differ, find_window, keys, picture, rect_of, settled, until};
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(1024, 768);
    let files = tempfile::tempdir().unwrap();
    let colours = ["-bg", "#1e90ff", "-fg", "#ffff00"];
    let vault_file = files.path().join("vault");
    let _vault = xterm(&x, "Secret vault", "30x6+500+500", &vault_file, &colours);
    let stack = Stack::start();
    let host = HostProcess::spawn_windowed(&stack.addr(), &stack.ca(), &x.display, &[]);
    let code = host.code().to_string();
    let (id, _) = find_window(&x);
    until(&x, &id, "the code", |now| now.iter().any(|p| *p != now[0]));
    // Copy, Cancel, then Hide windows: the list opens.
    let closed = settled(&x, &id);
    keys(&x, &id, &["Tab", "Tab", "Tab", "Return"]);
    until(&x, &id, "the list", |now| differ(now, &closed) > 1000);
    keys(&x, &id, &["Tab", "space"]);
    picture(&x, &id, "host-hide-list");
    let shot = files.path().join("seen.png");
    let script = format!(
        "wait-frame\nsleep 500\nscreenshot {}\nquit\n",
        shot.display()
    );
    let viewer = stack.viewer_in_background(&code, &script);
    host.wait_event("request");
    keys(&x, &id, &["Return"]);
    let out = viewer.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        events(&out)
            .iter()
            .any(|e| e["event"] == "hidden" && e["boxes"] == 2),
        "the vault and the host window: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let seen = load_png(&shot);
    assert_eq!((count(&seen, VAULT_BG), count(&seen, VAULT_FG)), (0, 0));
    assert_eq!(at(&seen, 600, 540), BLANK);
    let (wx, wy, ww, wh) = rect_of(&x, &id);
    let centre = ((wx + ww / 2) as i32, (wy + wh / 2) as i32);
    assert_eq!(
        at(&seen, centre.0, centre.1),
        BLANK,
        "the list is not shown"
    );
    assert!(count(&x.screenshot(), VAULT_BG) > 5000, "it is on screen");
}

#[test]
fn where_windows_cannot_be_hidden_the_host_stops_with_why() {
    for (backend, says) in [("wlroots", "wlroots compositor"), ("portal", "portal")] {
        let out = Command::new(bin("lifeline-host"))
            .args(["--cli", "--backend", backend, "--hide-window", "vault"])
            .args(["--relay", "127.0.0.1:9"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("cannot be hidden") && err.contains(says),
            "{backend}: {err}"
        );
    }
}
