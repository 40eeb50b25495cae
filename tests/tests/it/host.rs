//! The host agent on a real X server (Xvfb): pixel-exact frames through a
//! real relay, change-only updates, real input into a real xterm, view-only
//! enforcement, and Ctrl+C.

use lifeline_net::client::ClientError;
use lifeline_proto::control::Mode;
use lifeline_session::messages::{InputEvent, Key};
use lifeline_session::screen::TILE;
use lifeline_tests::peers::{HostProcess, TestViewer};
use lifeline_tests::x::{Xvfb, pattern_image};
use lifeline_tests::{TestRelay, poll};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_arrives_pixel_exact_and_changes_travel_alone() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
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
    // Tiles and exact photo regions alike lie within the tiles it touches.
    let touched = |x: u32, y: u32| {
        let (x0, y0) = (300 / TILE * TILE, 130 / TILE * TILE);
        x >= x0 && x < 320 && y >= y0 && y < 150
    };
    for u in &updates {
        assert!(!u.full);
        let spots: Vec<_> = u
            .tiles
            .iter()
            .map(|t| (t.x, t.y))
            .chain(u.photos.iter().map(|p| (p.x, p.y)))
            .collect();
        assert!(
            spots.iter().all(|&(x, y)| touched(x, y)),
            "update carried untouched tiles: {spots:?}"
        );
    }
    let pieces: usize = updates.iter().map(|u| u.tiles.len() + u.photos.len()).sum();
    assert!(pieces <= 4, "{pieces} pieces for a 20×20 change");

    host.interrupt();
    let ended = host.wait_event("ended");
    assert_eq!(ended["reason"], "ended by the user");
    let why = ClientError::from_connection(&viewer.link.conn.closed().await).to_string();
    assert_eq!(why, "ended by the user");
    assert!(host.wait_exit().success());
}

/// An xterm running `cat > FILE` on Xvfb, shared in `mode` through a real
/// relay with a test viewer that has its first frame.
struct TypingSession {
    viewer: TestViewer,
    host: HostProcess,
    _relay: TestRelay,
    _xterm: lifeline_tests::x::XClient,
    file: std::path::PathBuf,
    _dir: tempfile::TempDir,
    x: Xvfb,
}

async fn typing_session(mode: Mode) -> TypingSession {
    let x = Xvfb::start(800, 600);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typed.txt");
    let xterm = x.xterm_cat("80x10+0+0", &file);
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &x.display, &["--allow", mode.as_str()]);
    let mut viewer = TestViewer::join(&relay, &token, &host.code()).await;
    assert_eq!(viewer.mode, mode);
    viewer.next_frame().await;
    TypingSession {
        viewer,
        host,
        _relay: relay,
        _xterm: xterm,
        file,
        _dir: dir,
        x,
    }
}

impl TypingSession {
    /// Sends `text` then Return.
    async fn type_line(&mut self, text: &str) {
        self.viewer.input(InputEvent::Text(text.into())).await;
        for down in [true, false] {
            self.viewer
                .input(InputEvent::Key {
                    key: Key::Return,
                    down,
                })
                .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_moves_the_pointer_and_types_into_a_real_window() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let mut s = typing_session(Mode::Control).await;
    s.viewer.input(InputEvent::Move { x: 123, y: 45 }).await;
    poll("the pointer to move", || {
        (s.x.pointer() == (123, 45)).then_some(())
    })
    .await;
    // The pointer travels beside the pixels (X captures leave it out).
    s.viewer.until_cursor(123, 45).await;

    s.type_line("Hello, World! @#$").await;
    let file = s.file.clone();
    let typed = poll("the typed line to reach the file", || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|t| t.ends_with('\n'))
    })
    .await;
    assert_eq!(typed, "Hello, World! @#$\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_only_drops_all_input() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let mut s = typing_session(Mode::View).await;
    let before = s.x.pointer();
    s.viewer.input(InputEvent::Move { x: 100, y: 40 }).await;
    s.type_line("should not arrive").await;
    // Once the host answered a later request, it has handled all of it: it
    // counted four events dropped and applied none.
    s.viewer.round_trip().await;
    s.host.interrupt();
    let ended = s.host.wait_event("ended");
    assert_eq!(ended["inputs_dropped"], 4, "{ended}");
    assert_eq!(ended["inputs_applied"], 0, "{ended}");
    assert_eq!(s.x.pointer(), before);
    assert_eq!(std::fs::read_to_string(&s.file).unwrap(), "");
}
