//! The user's window with the real binaries on Xvfb: the host opens its
//! window, the technician joins, "See and control" is pressed with the
//! keyboard alone (xdotool: Tab, Return) and the viewer gets control; then
//! "Switch to view only" takes it back, the viewer hears so, and the audit
//! log has both modes; the window sizes itself to what it shows at the
//! top centre of the screen, a slim banner while sharing. The continue question ends a session nobody
//! answers (a relay whose policy asks after 2 s). With
//! `LIFELINE_SCREENSHOTS=DIR` the window's states are saved there as PNGs
//! (scripts/screenshots makes README's pictures so).

use std::process::Command;
use std::time::{Duration, Instant};

use lifeline_proto::audit::AuditEvent;
use lifeline_tests::audit_records;
use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::Xvfb;

use crate::session::{Stack, events, stderr};

/// Runs xdotool on `x`'s display; its output.
pub(crate) fn xdotool(x: &Xvfb, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", &x.display)
        .output()
        .unwrap();
    assert!(out.status.success(), "xdotool {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The host window's id and its rectangle on the screen now (it sizes
/// itself to what it shows: the rectangle changes with it).
pub(crate) fn find_window(x: &Xvfb) -> (String, (u32, u32, u32, u32)) {
    let id = xdotool(x, &["search", "--sync", "--name", "Lifeline - get help"]);
    let id = id.lines().next().unwrap().trim().to_owned();
    let rect = rect_of(x, &id);
    (id, rect)
}

/// Where window `id` is now: x, y, width, height (nothing, once closed).
pub(crate) fn rect_of(x: &Xvfb, id: &str) -> (u32, u32, u32, u32) {
    let out = Command::new("xdotool")
        .args(["getwindowgeometry", "--shell", id])
        .env("DISPLAY", &x.display)
        .output()
        .unwrap();
    if !out.status.success() {
        return (0, 0, 0, 0);
    }
    let geometry = String::from_utf8_lossy(&out.stdout).into_owned();
    let get = |k: &str| -> u32 {
        geometry
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {geometry}"))
    };
    (get("X"), get("Y"), get("WIDTH"), get("HEIGHT"))
}

/// The window's pixels now, row by row, and its width and height.
fn pixels(x: &Xvfb, id: &str) -> (Vec<u32>, (u32, u32)) {
    let (rx, ry, w, h) = rect_of(x, id);
    let screen = x.screenshot();
    let shown = (ry..ry + h)
        .flat_map(|row| (rx..rx + w).map(move |col| (col, row)))
        .map(|(col, row)| screen.get(col, row))
        .collect();
    (shown, (w, h))
}

/// Polls the window's pixels until `done` accepts them (15 s at most).
pub(crate) fn until(
    x: &Xvfb,
    id: &str,
    what: &str,
    mut done: impl FnMut(&[u32]) -> bool,
) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (now, _) = pixels(x, id);
        if done(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "the window never showed {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The window's pixels once they held still for two of its repaints (it
/// repaints every 250 ms): what it shows is drawn whole, the keyboard
/// focus too (a new question's first button takes it after being drawn),
/// and its size settled.
pub(crate) fn settled(x: &Xvfb, id: &str) -> Vec<u32> {
    let mut last: Option<(Vec<u32>, Instant)> = None;
    until(x, id, "a still picture", |now| match &last {
        Some((seen, since)) if seen == now => since.elapsed() >= Duration::from_millis(500),
        _ => {
            last = Some((now.to_vec(), Instant::now()));
            false
        }
    })
}

/// How many pixels differ between two pictures of the window (a picture
/// of another size differs by the difference too).
pub(crate) fn differ(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).filter(|(a, b)| a != b).count() + a.len().abs_diff(b.len())
}

/// Pixels of the red "sharing" banner, shown only while sharing.
pub(crate) fn banner(img: &[u32]) -> usize {
    let near = |v: u32, want: u32| v.abs_diff(want) <= 8;
    img.iter()
        .filter(|&&p| {
            near(p >> 16 & 0xff, 0xb0) && near(p >> 8 & 0xff, 0x30) && near(p & 0xff, 0x20)
        })
        .count()
}

/// Presses keys in the host's window (focused first: no window manager
/// here gives it the focus), each once the window is still and until it
/// has drawn the key's effect (one frame may hold several keys, and
/// egui moves the focus once a frame).
pub(crate) fn keys(x: &Xvfb, id: &str, keys: &[&str]) {
    x.xdotool(&["windowfocus", "--sync", id]);
    for k in keys {
        let before = settled(x, id);
        x.xdotool(&["key", k]);
        until(x, id, &format!("the effect of {k}"), |now| {
            differ(now, &before) > 0
        });
    }
}

/// Saves the window as DIR/NAME.png when `LIFELINE_SCREENSHOTS` is set,
/// once it is drawn whole.
pub(crate) fn picture(x: &Xvfb, id: &str, name: &str) {
    let Some(dir) = std::env::var_os("LIFELINE_SCREENSHOTS") else {
        return;
    };
    settled(x, id);
    let (shown, (w, h)) = pixels(x, id);
    let mut out = image::RgbImage::new(w, h);
    for ((_, _, p), v) in out.enumerate_pixels_mut().zip(shown) {
        *p = image::Rgb([(v >> 16) as u8, (v >> 8) as u8, v as u8]);
    }
    std::fs::create_dir_all(&dir).unwrap();
    out.save(std::path::Path::new(&dir).join(format!("{name}.png")))
        .unwrap();
}

#[test]
fn the_window_asks_and_the_keyboard_grants_then_takes_back_control() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(1024, 768);
    let stack = Stack::start();
    let mut host = HostProcess::spawn_windowed(&stack.addr(), &stack.ca(), &x.display, &[]);
    let code = host.code().to_string();
    let (id, rect) = find_window(&x);
    // The code, drawn (more than one colour).
    until(&x, &id, "the code", |now| now.iter().any(|p| *p != now[0]));
    let code_shown = settled(&x, &id);
    picture(&x, &id, "host-code");
    // Sized to what it shows, at the top centre of the screen.
    let centred = |(wx, wy, w, _): (u32, u32, u32, u32)| wy == 0 && (wx + w / 2).abs_diff(512) <= 2;
    let (_, _, code_w, code_h) = rect_of(&x, &id);
    assert!(
        centred(rect_of(&x, &id)) && code_h < 400,
        "{:?}",
        rect_of(&x, &id)
    );
    // The viewer stays while the keys are pressed, then leaves.
    let viewer = stack.viewer_in_background(&code, "wait-frame\nsleep 10000\nquit\n");
    host.wait_event("request");
    // The question replaces the code (more than its ticking time left
    // changes); focus starts on "See only": Tab moves to "See and
    // control", Return presses it.
    let area = (rect.2 * rect.3) as usize;
    until(&x, &id, "the question", |now| {
        differ(now, &code_shown) > area / 50
    });
    picture(&x, &id, "host-asking");
    keys(&x, &id, &["Tab", "Return"]);
    let joined = host.wait_event("joined");
    assert_eq!(joined["mode"], "control", "{joined}");
    until(&x, &id, "the sharing banner", |now| banner(now) > 500);
    picture(&x, &id, "host-sharing");
    // While sharing: a slim banner, still at the top centre.
    settled(&x, &id);
    let (_, _, w, h) = rect_of(&x, &id);
    assert!(
        centred(rect_of(&x, &id)) && h < code_h / 2 && w >= code_w,
        "a banner, not {:?}",
        rect_of(&x, &id)
    );
    // While sharing: Tab to "Stop sharing", Tab to "Switch to view only".
    keys(&x, &id, &["Tab", "Tab", "Return"]);
    let switched = host.wait_event("joined");
    assert_eq!(switched["mode"], "view", "{switched}");
    let out = viewer.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let evs = events(&out);
    let joined = evs.iter().find(|e| e["event"] == "joined").unwrap();
    assert_eq!(joined["mode"], "control");
    assert!(
        evs.iter()
            .any(|e| e["event"] == "mode" && e["mode"] == "view"),
        "the viewer heard control was taken back: {evs:?}"
    );
    host.wait_event("ended");
    until(&x, &id, "why it ended", |now| banner(now) == 0);
    picture(&x, &id, "host-ended");
    // The ended window closes with Escape, and the host exits cleanly.
    keys(&x, &id, &["Escape"]);
    assert!(host.wait_exit().success());
    let modes: Vec<Option<String>> = audit_records(std::path::Path::new(&stack.data()))
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::PeerReport { mode, .. } if mode.is_some() => Some(mode),
            _ => None,
        })
        .collect();
    assert_eq!(
        modes,
        [Some("control".to_owned()), Some("view".to_owned())],
        "both modes audited"
    );
}

#[test]
fn a_continue_question_nobody_answers_ends_the_session() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let stack = Stack::start_with(&["--confirm-every", "2s", "--confirm-answer-within", "2s"]);
    let mut host = stack.host(&x.display, &["--allow", "control"]);
    let code = host.code().to_string();
    let viewer = stack.viewer_in_background(&code, "wait-frame\nsleep 30000\nquit\n");
    // Answered the first time: the session goes on and asks again.
    let asked = host.wait_event("continue_request");
    assert_eq!(asked["within_s"], 2);
    use std::io::Write;
    writeln!(host.stdin.as_mut().unwrap(), "y").unwrap();
    host.wait_event("continue_request");
    // Not the second time.
    let ended = host.wait_event("ended");
    assert_eq!(
        ended["reason"],
        "the user did not confirm to continue in time"
    );
    assert!(host.wait_exit().success());
    let out = viewer.join().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("did not confirm to continue"),
        "{}",
        stderr(&out)
    );
    let recs = audit_records(std::path::Path::new(&stack.data()));
    assert!(recs.iter().any(|r| matches!(&r.event,
        AuditEvent::SessionEnded { reason, .. } if reason.contains("did not confirm"))));
}

#[test]
fn relay_settings_are_saved_once_and_the_next_run_needs_no_options() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let stack = Stack::start();
    let home = tempfile::tempdir().unwrap();
    let host = |args: &[&str]| {
        Command::new(lifeline_tests::bin("lifeline-host"))
            .args(["--cli", "--json"])
            .args(args)
            .env("HOME", home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env("DISPLAY", &x.display)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Nothing saved, nothing built in: one sentence saying what to do.
    let out = host(&[]).wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no relay given"), "{}", stderr(&out));
    // --save without a relay is refused.
    let out = host(&["--save"]).wait_with_output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("--save remembers --relay"));
    // Saved with the first run (which goes on to show a code) …
    let ca = stack.ca();
    let ca_arg = ca.to_str().unwrap();
    let relay = stack.addr();
    let first = host(&["--relay", &relay, "--ca", ca_arg, "--save"]);
    let saved = home.path().join(".config/lifeline/host.toml");
    let shows_code = |mut child: std::process::Child| {
        let stdout = child.stdout.take().unwrap();
        let line = std::io::BufRead::lines(std::io::BufReader::new(stdout))
            .next()
            .unwrap()
            .unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "code", "{v}");
    };
    shows_code(first);
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains(&relay), "{text}");
    // … and the next run needs nothing.
    shows_code(host(&[]));
}
