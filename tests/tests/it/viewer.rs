//! The viewer binary, headless: a scripted session against a real host on
//! Xvfb through a real relay, and its error lines.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lifeline_session::screen::Image;
use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::{Xvfb, load_png, pattern_image};
use lifeline_tests::{TestRelay, bin, poll};

async fn viewer(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(bin("lifeline-viewer"))
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(relay: &TestRelay, token: &str, code: &str, script: &std::path::Path) -> Vec<String> {
    vec![
        "--relay".into(),
        relay.relay_arg(),
        "--ca".into(),
        relay.ca.display().to_string(),
        "--token".into(),
        token.into(),
        "--code".into(),
        code.into(),
        "--headless".into(),
        "--script".into(),
        script.display().to_string(),
        "--json".into(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_session_sees_the_screen_and_types_into_it() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(800, 600);
    let _pattern = x.show(400, 300, &pattern_image(200, 150, 3));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typed.txt");
    let _xterm = x.xterm_cat("40x8+0+0", &file);
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &x.display, &["--allow", "control"]);
    let code = host.code().to_string();
    let shot = dir.path().join("screen.png");
    let script = dir.path().join("script.txt");
    std::fs::write(
        &script,
        format!(
            "# a whole scripted session\nwait-frame\nscreenshot {}\nmove 60 40\nclick\ntype Hello, World! @#$\nkey Return\nquit\n",
            shot.display()
        ),
    )
    .unwrap();
    let expected = x.screenshot();
    let out = viewer(args(&relay, &token, &code, &script)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "viewer failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let joined = events
        .iter()
        .find(|e| e["event"] == "joined")
        .expect("joined event");
    assert_eq!(joined["mode"], "control");
    assert!(events.iter().any(|e| e["event"] == "screenshot"));
    assert_eq!(events.last().unwrap()["event"], "ended");

    assert_eq!(
        load_png(&shot),
        expected,
        "the screenshot equals the host's screen"
    );
    // The host applies input on its own thread: the line lands in the
    // terminal shortly after the session ends.
    let typed = poll("the typed line", || {
        let typed = std::fs::read_to_string(&file).unwrap();
        typed.ends_with('\n').then_some(typed)
    })
    .await;
    assert_eq!(typed, "Hello, World! @#$\n");
    let ended = host.wait_event("ended");
    assert_eq!(ended["reason"], "disconnected by the technician");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_errors_are_one_clear_line() {
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.txt");

    std::fs::write(&script, "wait-frame\nfly away\n").unwrap();
    let out = viewer(args(&relay, &token, "123-456-789-012", &script)).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("script line 2: unknown command \"fly\""),
        "{err}"
    );

    std::fs::write(&script, "quit\n").unwrap();
    // A mistyped digit is caught before anything is sent.
    let out = viewer(args(&relay, &token, "123-456-789-013", &script)).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("typo"), "{err}");
    let mut good = String::from("12345678901");
    good.push(
        (0..10u8)
            .map(|d| format!("{good}{d}"))
            .find(|c| c.parse::<lifeline_proto::SessionCode>().is_ok())
            .unwrap()
            .chars()
            .last()
            .unwrap(),
    );
    let out = viewer(args(&relay, &token, &good, &script)).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no host is waiting with this code"),
        "{err}"
    );
    let out = viewer(args(&relay, "llt_wrong", &good, &script)).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not know this technician token"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

/// The bounding box of pixels of exactly `color`, if any.
fn find(img: &Image, color: u32) -> Option<(u32, u32, u32, u32)> {
    let mut bb: Option<(u32, u32, u32, u32)> = None;
    for y in 0..img.height {
        for x in 0..img.width {
            if img.get(x, y) == color {
                bb = Some(match bb {
                    None => (x, y, x, y),
                    Some((a, b, c, d)) => (a.min(x), b.min(y), c.max(x), d.max(y)),
                });
            }
        }
    }
    bb
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_shows_the_remote_screen_and_forwards_clicks_and_typing() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    const MAGENTA: u32 = 0x00ff_00ff;
    // The user's screen: a terminal at the top left, a magenta block to find.
    let host_x = Xvfb::start(800, 600);
    let block = Image {
        width: 240,
        height: 160,
        pixels: vec![MAGENTA; 240 * 160],
    };
    let _block = host_x.show(500, 380, &block);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typed.txt");
    let _xterm = host_x.xterm_cat("40x8+0+0", &file);
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &host_x.display, &["--allow", "control"]);
    let code = host.code().to_string();

    // The technician's screen, with the viewer window on it.
    let tech_x = Xvfb::start(1280, 900);
    let _window = lifeline_tests::x::XClient(
        Command::new(bin("lifeline-viewer"))
            .args(["--relay", &relay.relay_arg(), "--ca"])
            .arg(&relay.ca)
            .args(["--token", &token, "--code", &code])
            .env("DISPLAY", &tech_x.display)
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let (x0, y0, x1, y1) = loop {
        let shot = tech_x.screenshot();
        if let Some(bb) = find(&shot, MAGENTA).filter(|(a, b, c, d)| (c - a) > 50 && (d - b) > 30) {
            break bb;
        }
        assert!(
            Instant::now() < deadline,
            "the window never showed the remote magenta block"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Where the remote screen lies in the window, from the block's position.
    let scale = f64::from(x1 - x0 + 1) / 240.0;
    assert!((0.5..=2.0).contains(&scale), "scale {scale}");
    let (ox, oy) = (f64::from(x0) - 500.0 * scale, f64::from(y0) - 380.0 * scale);
    assert!(
        (f64::from(y1 - y0 + 1) / 160.0 - scale).abs() < 0.05,
        "aspect kept"
    );
    // No window manager runs here to give the window keyboard focus when
    // it is clicked, so give it as one would.
    let search = Command::new("xdotool")
        .args(["search", "--name", "Lifeline viewer"])
        .env("DISPLAY", &tech_x.display)
        .output()
        .unwrap();
    let window = String::from_utf8_lossy(&search.stdout)
        .lines()
        .next()
        .expect("viewer window")
        .to_owned();
    tech_x.xdotool(&["windowfocus", "--sync", &window]);
    // Click into the remote terminal, then type on the technician's keyboard.
    let (tx, ty) = ((ox + 60.0 * scale) as i32, (oy + 30.0 * scale) as i32);
    tech_x.xdotool(&["mousemove", &tx.to_string(), &ty.to_string()]);
    tech_x.xdotool(&["click", "1"]);
    // Type once the pointer has reached the remote terminal (focus
    // follows the pointer there).
    poll("the click to reach the host", || {
        let (px, py) = host_x.pointer();
        ((px - 60).abs() <= 3 && (py - 30).abs() <= 3).then_some(())
    })
    .await;
    tech_x.xdotool(&["type", "--delay", "30", "hello window"]);
    tech_x.xdotool(&["key", "Return"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let typed = std::fs::read_to_string(&file).unwrap();
        if typed.ends_with('\n') {
            assert_eq!(typed, "hello window\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "typing in the window did not reach the host: {typed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (px, py) = host_x.pointer();
    assert!(
        (px - 60).abs() <= 3 && (py - 30).abs() <= 3,
        "the click landed at {px},{py} on the host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_comes_from_the_flag_the_environment_or_the_config_file() {
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("s.txt");
    std::fs::write(&script, "quit\n").unwrap();
    let code = lifeline_proto::SessionCode::new(lifeline_proto::Locator::new(54321).unwrap(), 1)
        .unwrap()
        .to_string();
    let run = |home: std::path::PathBuf, env_token: Option<String>| {
        let mut all = args(&relay, "unused", &code, &script);
        let at = all.iter().position(|a| a == "--token").unwrap();
        all.drain(at..at + 2);
        let mut cmd = Command::new(bin("lifeline-viewer"));
        cmd.args(all)
            .env("HOME", home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("LIFELINE_TOKEN");
        if let Some(t) = env_token {
            cmd.env("LIFELINE_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = run(home.path().to_owned(), None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no technician token"),
        "{err}"
    );
    // From the environment, and from the file: the relay then judges the
    // (valid) token and the code (no host waits with it).
    let out = run(home.path().to_owned(), Some(token.clone()));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no host is waiting"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir_all(home.path().join(".config/lifeline")).unwrap();
    std::fs::write(
        home.path().join(".config/lifeline/token"),
        format!("{token}\n"),
    )
    .unwrap();
    let out = run(home.path().to_owned(), None);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no host is waiting"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
