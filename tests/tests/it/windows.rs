//! The Windows builds under Wine (on Xvfb), with the Linux relay and the
//! Linux peers: `lifeline-viewer.exe` joins a Linux host and takes an
//! exact screenshot; `lifeline-host.exe` shares a Wine virtual desktop
//! whose picture arrives exact, types Unicode into Wine's notepad (read
//! back through the X clipboard, by keys the test presses itself), hands
//! the clipboard both ways, saves a put in `Downloads\Lifeline` inside the
//! prefix, keeps `--save`'s settings in `%APPDATA%\Lifeline`, and drops
//! all input when view-only; the host's window is drawn under Wine
//! (eframe's glow renderer through Wine's OpenGL), and the viewer's
//! window shows the Linux host's screen.
//!
//! Built and prepared by `scripts/windows test` (which requires Wine);
//! elsewhere each test says SKIPPED while Wine or its .exe is missing.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lifeline_proto::control::Mode;
use lifeline_session::messages::{InputEvent, Key, MouseButton};
use lifeline_session::screen::Image;
use lifeline_tests::peers::{HostProcess, TestViewer};
use lifeline_tests::wine::{Wine, skip_without_wine, tiled, win_path};
use lifeline_tests::x::{Xvfb, load_png, pattern_image, skip_without_xvfb};
use lifeline_tests::{TestRelay, bin, poll};

const VIEWER_EXE: &str = "lifeline-viewer.exe";
const HOST_EXE: &str = "lifeline-host.exe";

/// The JSON lines a viewer printed.
fn events(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("viewer printed {l:?}: {e}")))
        .collect()
}

/// Runs `cmd` to its end off the runtime; fails the test if it failed.
async fn output(mut cmd: Command, who: &str) -> Output {
    let out = tokio::task::spawn_blocking(move || cmd.stdin(Stdio::null()).output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{who} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// `--relay … --ca … --token … --code … --headless --script … --json`,
/// the CA and script given as `path` makes them (Linux or Windows paths).
fn viewer_args(
    relay: &TestRelay,
    token: &str,
    code: &str,
    script: &Path,
    path: impl Fn(&Path) -> String,
) -> Vec<String> {
    [
        "--relay",
        &relay.relay_arg(),
        "--ca",
        &path(&relay.ca),
        "--token",
        token,
        "--code",
        code,
        "--headless",
        "--script",
        &path(script),
        "--json",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_exe_joins_a_linux_host_and_takes_an_exact_screenshot() {
    if skip_without_xvfb() || skip_without_wine(&[VIEWER_EXE]) {
        return;
    }
    // The user's Linux screen, with pixels no desktop shows by chance.
    let x = Xvfb::start(800, 600);
    let _pattern = x.show(90, 70, &pattern_image(320, 240, 11));
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &x.display, &["--allow", "view"]);
    let code = host.code().to_string();
    // The technician's Windows, with the viewer in it.
    let wine = Wine::start(640, 480);
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("screen.png");
    let script = dir.path().join("script.txt");
    std::fs::write(
        &script,
        format!("wait-frame\nscreenshot {}\nquit\n", win_path(&shot)),
    )
    .unwrap();
    let expected = x.screenshot();
    let mut cmd = wine.command(VIEWER_EXE);
    cmd.args(viewer_args(&relay, &token, &code, &script, win_path));
    let out = output(cmd, VIEWER_EXE).await;
    let evs = events(&out);
    let joined = evs.iter().find(|e| e["event"] == "joined").expect("joined");
    assert_eq!(joined["mode"], "view", "{evs:?}");
    let saved = evs
        .iter()
        .find(|e| e["event"] == "screenshot")
        .expect("screenshot");
    assert_eq!(saved["path"], win_path(&shot), "{saved}");
    assert_eq!(evs.last().unwrap()["event"], "ended", "{evs:?}");
    assert_eq!(
        load_png(&shot),
        expected,
        "the screenshot lifeline-viewer.exe took equals the Linux host's screen"
    );
    let ended = host.wait_event("ended");
    assert_eq!(ended["reason"], "disconnected by the technician");
}

/// `lifeline-host.exe` in a Wine desktop, shared through a test relay.
struct WinHost {
    host: HostProcess,
    code: String,
    token: String,
    relay: TestRelay,
    wine: Wine,
    dir: tempfile::TempDir,
}

impl WinHost {
    /// The host.exe (`--cli --json --allow MODE`) in a 800×600 desktop
    /// with `wallpaper` tiled on it, once the desktop is up.
    async fn start(mode: &str, wallpaper: Option<&Image>) -> Self {
        Self::start_with(mode, wallpaper, &[]).await
    }

    /// [`WinHost::start`] with more of the host's options.
    async fn start_with(mode: &str, wallpaper: Option<&Image>, extra: &[&str]) -> Self {
        let wine = Wine::start_with(800, 600, wallpaper);
        let relay = TestRelay::start().await;
        let token = relay.add_technician("bob");
        let ca = win_path(&relay.ca);
        let host = HostProcess::spawn_command(
            wine.command(HOST_EXE),
            &relay.relay_arg(),
            Path::new(&ca),
            &[&["--allow", mode], extra].concat(),
        );
        let code = host.code().to_string();
        wine.wait_desktop();
        Self {
            host,
            code,
            token,
            relay,
            wine,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The Linux headless viewer running `script` to its end.
    async fn viewer(&self, script: &str) -> Vec<serde_json::Value> {
        let path = self.dir.path().join("script.txt");
        std::fs::write(&path, script).unwrap();
        let mut cmd = Command::new(bin("lifeline-viewer"));
        cmd.args(viewer_args(
            &self.relay,
            &self.token,
            &self.code,
            &path,
            |p: &Path| p.display().to_string(),
        ));
        events(&output(cmd, "lifeline-viewer").await)
    }

    /// Everything in notepad, selected and copied by keys the test
    /// presses on the Wine desktop itself (not through Lifeline), then
    /// read from X's clipboard, once it is `want` or after 10 s. Windows
    /// keeps lines as CR LF; they are compared as LF.
    async fn notepad_text(&self, want: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.wine.keys(&["ctrl+a", "ctrl+c"]);
            let got = self.wine.clipboard().map(|t| t.replace("\r\n", "\n"));
            if got.as_deref() == Some(want) || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_exe_shows_the_wine_desktop_exactly() {
    if skip_without_xvfb() || skip_without_wine(&[HOST_EXE]) {
        return;
    }
    let wallpaper = pattern_image(200, 150, 5);
    let s = WinHost::start("view", Some(&wallpaper)).await;
    // The desktop fills the X screen: its picture, tiled wallpaper, is
    // known in advance; wait until Wine has painted it.
    let want = tiled(&wallpaper, s.wine.width, s.wine.height);
    s.wine.wait_screen(&want);
    let shot = s.dir.path().join("desktop.png");
    let evs = s
        .viewer(&format!(
            "wait-frame\nsleep 500\nscreenshot {}\nquit\n",
            shot.display()
        ))
        .await;
    assert!(evs.iter().any(|e| e["event"] == "screenshot"), "{evs:?}");
    assert_eq!(
        load_png(&shot),
        want,
        "the technician sees the Wine desktop exactly"
    );
    assert_eq!(s.wine.x.screenshot(), want, "the desktop did not change");
}

/// `--hide-window notepad`: the technician is told one hidden part, and
/// their picture is the Wine desktop exactly but for a blank box where
/// Notepad is (a few thousand pixels, all of the host's blank colour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_exe_hides_notepad_from_the_technician() {
    if skip_without_xvfb() || skip_without_wine(&[HOST_EXE]) {
        return;
    }
    let wallpaper = pattern_image(200, 150, 7);
    let s = WinHost::start_with("view", Some(&wallpaper), &["--hide-window", "NOTEPAD"]).await;
    let _notepad = s.wine.notepad();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shot = s.dir.path().join("desktop.png");
    let evs = s
        .viewer(&format!(
            "wait-frame\nsleep 1000\nscreenshot {}\nquit\n",
            shot.display()
        ))
        .await;
    assert!(
        evs.iter()
            .any(|e| e["event"] == "hidden" && e["boxes"] == 1),
        "{evs:?}"
    );
    let (seen, screen) = (load_png(&shot), s.wine.x.screenshot());
    assert_eq!((seen.width, seen.height), (screen.width, screen.height));
    let differ: Vec<u32> = seen
        .pixels
        .iter()
        .zip(&screen.pixels)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| *a & 0x00ff_ffff)
        .collect();
    assert!(differ.len() > 5000, "notepad is hidden: {}", differ.len());
    assert!(
        differ.iter().all(|p| *p == 0x48_4848),
        "everything else is as on screen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_exe_types_unicode_exactly_into_notepad() {
    if skip_without_xvfb() || skip_without_wine(&[HOST_EXE]) {
        return;
    }
    let s = WinHost::start("control", None).await;
    let _notepad = s.wine.notepad();
    let evs = s
        .viewer(
            "wait-frame\ntype Grüße ✓ — 日本 @#$\nkey Return\ntype second line\nsleep 500\nquit\n",
        )
        .await;
    assert_eq!(evs.last().unwrap()["event"], "ended", "{evs:?}");
    let ended = s.host.wait_event("ended");
    assert_eq!(ended["inputs_dropped"], 0, "{ended}");
    let want = "Grüße ✓ — 日本 @#$\nsecond line";
    assert_eq!(s.notepad_text(want).await.as_deref(), Some(want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_exe_hands_the_clipboard_both_ways() {
    if skip_without_xvfb() || skip_without_wine(&[HOST_EXE]) {
        return;
    }
    let s = WinHost::start("control", None).await;
    let from_user = "error: ü 日本 ✗ (line 2)";
    let to_user = "Grüße, 世界 ✓ — licence KEY-1234";
    // What the user copied: on the Windows clipboard through Wine's
    // bridge from X's CLIPBOARD.
    let owner = s.wine.set_clipboard(from_user);
    let clip = s.dir.path().join("clip.txt");
    let evs = s
        .viewer(&format!(
            "wait-frame\nclipboard-get {}\nclipboard-set {to_user}\nsleep 500\nquit\n",
            clip.display()
        ))
        .await;
    let got = evs
        .iter()
        .find(|e| e["event"] == "clipboard" && e["direction"] == "to_viewer")
        .unwrap_or_else(|| panic!("no clipboard event: {evs:?}"));
    assert_eq!(got["bytes"], from_user.len());
    assert_eq!(std::fs::read_to_string(&clip).unwrap(), from_user);
    drop(owner);
    // What the technician set: read back from X, as any program there would.
    let wine = &s.wine;
    poll("the technician's text on the user's clipboard", || {
        (wine.clipboard().as_deref() == Some(to_user)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_exe_saves_a_put_in_downloads_lifeline() {
    if skip_without_xvfb() || skip_without_wine(&[HOST_EXE]) {
        return;
    }
    let s = WinHost::start("control", None).await;
    let sent = s.dir.path().join("setup-notes.bin");
    let bytes = lifeline_tests::pattern(3, 300_000);
    std::fs::write(&sent, &bytes).unwrap();
    let evs = s
        .viewer(&format!("wait-frame\nput {}\nquit\n", sent.display()))
        .await;
    let put = evs
        .iter()
        .find(|e| e["event"] == "put")
        .unwrap_or_else(|| panic!("no put event: {evs:?}"));
    let saved = s.wine.downloads().join("setup-notes.bin");
    assert_eq!(std::fs::read(&saved).unwrap(), bytes, "{}", saved.display());
    let user = s.wine.user_dir();
    let name = user.file_name().unwrap().to_string_lossy();
    assert_eq!(
        put["path"].as_str().unwrap().to_lowercase(),
        format!("c:\\users\\{name}\\downloads\\lifeline\\setup-notes.bin").to_lowercase(),
        "the viewer is told the Windows path: {put}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_exe_in_view_only_drops_all_input() {
    if skip_without_xvfb() || skip_without_wine(&[HOST_EXE]) {
        return;
    }
    let s = WinHost::start("view", None).await;
    let _notepad = s.wine.notepad();
    // The real viewer sends nothing in view-only; a viewer written here
    // against the protocol sends input anyway, as a hostile one would.
    let mut v = TestViewer::join(&s.relay, &s.token, &s.code.parse().unwrap()).await;
    assert_eq!(v.mode, Mode::View);
    v.next_frame().await;
    v.input(InputEvent::Move { x: 300, y: 200 }).await;
    for down in [true, false] {
        let button = MouseButton::Left;
        v.input(InputEvent::Button { button, down }).await;
    }
    v.input(InputEvent::Text("should not arrive".into())).await;
    for down in [true, false] {
        let key = Key::Return;
        v.input(InputEvent::Key { key, down }).await;
    }
    // Once the host answered a later request, it has handled all of it.
    v.round_trip().await;
    v.link.conn.close(0u32.into(), b"done");
    let ended = s.host.wait_event("ended");
    assert_eq!(ended["inputs_dropped"], 6, "{ended}");
    assert_eq!(ended["inputs_applied"], 0, "{ended}");
    // Notepad, still focused, holds only what the test typed itself.
    s.wine.type_text("local");
    assert_eq!(s.notepad_text("local").await.as_deref(), Some("local"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_exe_window_is_drawn_under_wine() {
    if skip_without_xvfb() || skip_without_wine(&[HOST_EXE]) {
        return;
    }
    let wine = Wine::start(800, 600);
    let relay = TestRelay::start().await;
    let ca = win_path(&relay.ca);
    let host = HostProcess::spawn_command_windowed(
        wine.command(HOST_EXE),
        &relay.relay_arg(),
        Path::new(&ca),
        &[],
    );
    // The code is registered and shown: the window is up with it.
    let _code = host.code();
    let window = wine.wait_window(lifeline_host::words::TITLE);
    // Drawn, not blank: the window's pixels are many colours (large
    // digits, text, buttons, anti-aliased). It sizes itself to what it
    // shows (the code: as wide as the question, a few lines tall).
    poll("the host window drawn in 16 colours or more", || {
        let (w, h, pixels) = wine.window_pixels(window);
        let seen: std::collections::HashSet<u32> = pixels.into_iter().collect();
        (w >= 300 && h >= 60 && seen.len() >= 16).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_exe_window_shows_the_linux_screen() {
    if skip_without_xvfb() || skip_without_wine(&[VIEWER_EXE]) {
        return;
    }
    // The user's Linux screen, all one colour no Wine desktop shows.
    const MAGENTA: u32 = 0x00ff_00ff;
    let x = Xvfb::start(640, 480);
    let fill = Image {
        width: 640,
        height: 480,
        pixels: vec![MAGENTA; 640 * 480],
    };
    let _fill = x.show(0, 0, &fill);
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &x.display, &["--allow", "view"]);
    let code = host.code().to_string();
    // The technician's Windows, with the viewer's window in it.
    let wine = Wine::start(1024, 768);
    let mut viewer = wine.command(VIEWER_EXE);
    viewer
        .args(["--relay", &relay.relay_arg(), "--ca", &win_path(&relay.ca)])
        .args(["--token", &token, "--code", &code])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let _viewer = lifeline_tests::x::XClient(viewer.spawn().unwrap());
    let window = wine.wait_window("Lifeline viewer");
    // The remote screen, scaled to fit or not, is a large magenta area
    // inside the viewer's window once the first frame is drawn.
    poll(
        "40,000 pixels of the remote screen in the viewer window",
        || {
            let (_, _, pixels) = wine.window_pixels(window);
            (pixels.iter().filter(|&&p| p == MAGENTA).count() >= 40_000).then_some(())
        },
    )
    .await;
    host.wait_event("joined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_exe_saves_its_settings_in_appdata() {
    if skip_without_xvfb() || skip_without_wine(&[HOST_EXE]) {
        return;
    }
    let wine = Wine::start(640, 480);
    let relay = TestRelay::start().await;
    let ca = win_path(&relay.ca);
    let host = HostProcess::spawn_command(
        wine.command(HOST_EXE),
        &relay.relay_arg(),
        Path::new(&ca),
        &["--save"],
    );
    let _code = host.code();
    let saved = wine.user_dir().join("AppData/Roaming/Lifeline/host.toml");
    let text =
        std::fs::read_to_string(&saved).unwrap_or_else(|e| panic!("{}: {e}", saved.display()));
    assert!(text.contains(&relay.relay_arg()), "{text}");
    assert!(text.contains("ca"), "{text}");
}
