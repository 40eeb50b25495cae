//! The host agent on a real X server (Xvfb): pixel-exact frames through a
//! real relay, change-only updates, real input into a real xterm, view-only
//! enforcement, and Ctrl+C.

use std::time::Duration;

use lifeline_common::proto::Mode;
use lifeline_common::screen::TILE;
use lifeline_common::session::{InputEvent, Key};
use lifeline_relay::client::ClientError;
use lifeline_tests::peers::{HostProcess, TestViewer};
use lifeline_tests::x::{Xvfb, pattern_image};
use lifeline_tests::{TestRelay, poll};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_arrives_pixel_exact_and_changes_travel_alone() {
    let x = Xvfb::start(640, 480);
    let _pattern = x.show(37, 21, &pattern_image(300, 200, 7));
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let mut host = HostProcess::start(&relay, &x.display, &["--allow", "view"]);
    let code = host.code();
    let mut viewer = TestViewer::join(&relay, &token, &code).await;
    assert_eq!(viewer.mode, Mode::View);
    assert_eq!(host.wait_event("joined")["technician"], "bob");

    let first = viewer.next_frame().await;
    assert!(first.full, "the first update is whole");
    let screen = x.screenshot();
    let more = viewer.until_equal(&screen).await;
    assert!(more.is_empty(), "a still screen arrived in one update");

    // A small change: only the tiles it touches travel, and the result is exact.
    let _spot = x.show(300, 130, &pattern_image(20, 20, 99));
    let screen = x.screenshot();
    let updates = viewer.until_equal(&screen).await;
    assert!(!updates.is_empty());
    let touched = |t: &lifeline_common::screen::Tile| {
        let (x0, y0) = (300 / TILE * TILE, 130 / TILE * TILE);
        t.x >= x0 && t.x < 320 && t.y >= y0 && t.y < 150
    };
    for u in &updates {
        assert!(!u.full);
        assert!(
            u.tiles.iter().all(touched),
            "update carried untouched tiles: {:?}",
            u.tiles.iter().map(|t| (t.x, t.y)).collect::<Vec<_>>()
        );
    }
    let tiles: usize = updates.iter().map(|u| u.tiles.len()).sum();
    assert!(tiles <= 4, "{tiles} tiles for a 20×20 change");

    host.interrupt();
    let ended = host.wait_event("ended");
    assert_eq!(ended["reason"], "ended by the user");
    let why = ClientError::from_connection(&viewer.link.conn.closed().await).to_string();
    assert_eq!(why, "ended by the user");
    assert!(host.wait_exit().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_moves_the_pointer_and_types_into_a_real_window() {
    let x = Xvfb::start(800, 600);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typed.txt");
    let _xterm = x.xterm_cat("80x10+0+0", &file);
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &x.display, &["--allow", "control"]);
    let mut viewer = TestViewer::join(&relay, &token, &host.code()).await;
    assert_eq!(viewer.mode, Mode::Control);
    viewer.next_frame().await;

    viewer.input(InputEvent::Move { x: 123, y: 45 }).await;
    poll("the pointer to move", || {
        (x.pointer() == (123, 45)).then_some(())
    })
    .await;
    // The pointer travels beside the pixels (X captures leave it out).
    viewer.until_cursor(123, 45).await;

    viewer
        .input(InputEvent::Text("Hello, World! @#$".into()))
        .await;
    viewer
        .input(InputEvent::Key {
            key: Key::Return,
            down: true,
        })
        .await;
    viewer
        .input(InputEvent::Key {
            key: Key::Return,
            down: false,
        })
        .await;
    let typed = poll("the typed line to reach the file", || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|s| s.ends_with('\n'))
    })
    .await;
    assert_eq!(typed, "Hello, World! @#$\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_only_drops_all_input() {
    let x = Xvfb::start(800, 600);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typed.txt");
    let _xterm = x.xterm_cat("80x10+0+0", &file);
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &x.display, &["--allow", "view"]);
    let mut viewer = TestViewer::join(&relay, &token, &host.code()).await;
    assert_eq!(viewer.mode, Mode::View);
    viewer.next_frame().await;
    let before = x.pointer();

    viewer.input(InputEvent::Move { x: 100, y: 40 }).await;
    viewer
        .input(InputEvent::Text("should not arrive".into()))
        .await;
    viewer
        .input(InputEvent::Key {
            key: Key::Return,
            down: true,
        })
        .await;
    viewer
        .input(InputEvent::Key {
            key: Key::Return,
            down: false,
        })
        .await;
    // A control session on the same screen proves the same input would land
    // in this time; here, after it, nothing has moved or been typed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(x.pointer(), before);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
}
