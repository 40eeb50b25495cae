//! The host on a Wayland desktop: a headless sway with a foot terminal,
//! the real host binary driving it through wlr-screencopy and the
//! virtual pointer and keyboard, a real relay, an in-process viewer. The
//! viewer's picture equals grim's; text typed arrives in the terminal
//! exactly, whatever its script; the compositor's output is listed as a
//! monitor; the clipboard works through data-control (read with wl-paste).

use std::time::Duration;

use lifeline_session::messages::{InputEvent, MouseButton};
use lifeline_tests::peers::HostProcess;
use lifeline_tests::sway::Sway;
use lifeline_tests::{RelayProcess, poll, relay_cli};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_on_sway_sees_the_screen_and_types_into_foot() {
    if lifeline_tests::sway::skip_without_sway() {
        return;
    }
    let sway = Sway::start(1280, 720);
    let typed = sway.shared().join("typed.txt");
    let _foot = sway.foot_cat(&typed);
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path(), &[]);
    let addr = relay.addr.to_string();
    let d = data.path().to_str().unwrap();
    let (_, token, _) = relay_cli(&["technician", "add", "wendy", "--data-dir", d]);
    let ca = data.path().join("ca.pem");
    let env = sway.env();
    let host = HostProcess::spawn_wayland(&addr, &ca, &env, &["--allow", "control"]);
    let code = host.code();
    let v =
        lifeline_viewer::session::Viewer::connect(&addr, Some(&ca), token.trim(), &code, |_| {})
            .await
            .unwrap();
    v.settle(Duration::from_millis(500), Duration::from_secs(20))
        .await
        .unwrap();
    // The picture, exactly as grim reads the compositor's output.
    let seen = v.image().unwrap();
    let grim = sway.grim();
    assert_eq!((seen.width, seen.height), (grim.width, grim.height));
    assert!(
        seen.pixels == grim.pixels,
        "the viewer's picture differs from grim's"
    );
    let screens = v.screens().expect("the host listed its outputs");
    assert_eq!(screens.monitors.len(), 1);
    assert_eq!(screens.monitors[0].name, "HEADLESS-1");
    assert_eq!(
        (screens.monitors[0].width, screens.monitors[0].height),
        (1280, 720)
    );
    // Text in any script, a named key, and a click.
    v.input(InputEvent::Move { x: 640, y: 360 }).await.unwrap();
    for down in [true, false] {
        v.input(InputEvent::Button {
            button: MouseButton::Left,
            down,
        })
        .await
        .unwrap();
    }
    let text = "Grüße, 世界 ✓ $HOME \"q\" ~`";
    lifeline_tests::peers::type_line(&v, text).await;
    let want = format!("{text}\n");
    poll("the typing to reach the terminal", || {
        let got = std::fs::read_to_string(&typed).ok()?;
        (got == want).then_some(())
    })
    .await;
    // The echo came back as an update too.
    v.settle(Duration::from_millis(300), Duration::from_secs(10))
        .await
        .unwrap();
    let after = v.image().unwrap();
    assert!(after.pixels != seen.pixels, "the echo was drawn");
    // The clipboard, through the compositor's data-control: what the
    // technician puts there, another program pastes.
    let clip = "licence KEY-42 ✓";
    v.clipboard_set(clip).await.unwrap();
    let mut paste = std::process::Command::new("wl-paste");
    paste.arg("--no-newline");
    for (k, val) in &env {
        paste.env(k, val);
    }
    let out = paste
        .output()
        .expect("wl-paste is installed by scripts/install-deps");
    assert_eq!(String::from_utf8_lossy(&out.stdout), clip);
    v.disconnect("done").await;
    host.wait_event("ended");
}
