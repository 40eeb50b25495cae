//! End-to-end encryption against a hostile relay (the relay's test-only
//! forwarding hook): it sees no pixels or keystrokes, and cannot change,
//! replay or splice messages, or guess a code.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lifeline_net::client::{ClientError, ViewerLink};
use lifeline_net::secure::SecureError;
use lifeline_proto::SessionCode;
use lifeline_proto::audit::{AuditEvent, ReportKind};
use lifeline_proto::control::JoinRefusal;
use lifeline_relay_core::{Direction, ForwardHook};
use lifeline_session::e2e::E2eError;
use lifeline_session::messages::{HostMsg, InputEvent, Key, MAX_SESSION_FRAME};
use lifeline_session::screen::TileData;
use lifeline_tests::peers::{HostProcess, TestViewer};
use lifeline_tests::x::{Xvfb, pattern_image};
use lifeline_tests::{TestRelay, poll};

/// Everything the relay forwarded, each direction.
#[derive(Default)]
struct Tap {
    to_viewer: Mutex<Vec<u8>>,
    to_host: Mutex<Vec<u8>>,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_sees_neither_pixels_nor_keystrokes() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let pattern = pattern_image(300, 200, 7);
    let _shown = x.show(37, 21, &pattern);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typed.txt");
    let cmd = format!("cat > '{}'", file.display());
    let _xterm = x.spawn(
        "xterm",
        &["-geometry", "40x5+320+300", "-e", "sh", "-c", &cmd],
    );
    poll("xterm", || file.exists().then_some(())).await;

    let tap = Arc::new(Tap::default());
    let t = tap.clone();
    let relay = TestRelay::start_with(move |c| {
        c.forward_hook = Some(ForwardHook(Arc::new(move |dir, bytes: Bytes| {
            let sink = match dir {
                Direction::HostToViewer => &t.to_viewer,
                Direction::ViewerToHost => &t.to_host,
            };
            sink.lock().unwrap().extend_from_slice(&bytes);
            bytes
        })));
    })
    .await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &x.display, &["--allow", "control"]);
    let mut viewer = TestViewer::join(&relay, &token, &host.code()).await;
    let screen = x.screenshot();
    let updates = viewer.until_equal(&screen).await;
    viewer.input(InputEvent::Move { x: 400, y: 320 }).await;
    poll("pointer", || (x.pointer() == (400, 320)).then_some(())).await;
    let secret_text = "TOPSECRET-password-42";
    viewer.input(InputEvent::Text(secret_text.into())).await;
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
    let typed = poll("typing", || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|s| s.ends_with('\n'))
    })
    .await;
    assert_eq!(
        typed,
        format!("{secret_text}\n"),
        "the keystrokes did arrive"
    );

    // 24 bytes from the middle of the largest piece of pixel data the
    // viewer decoded: without encryption they would be on the wire, as the
    // plaintext encoding of the same update shows.
    let largest = updates
        .iter()
        .flat_map(|u| {
            let photos = u.photos.iter().map(|p| &p.zstd);
            let pictures = u.pictures.iter().map(|p| &p.jpeg);
            let tiles = u.tiles.iter().filter_map(|t| match &t.data {
                TileData::Raw { lz4 }
                | TileData::Palette { lz4, .. }
                | TileData::Chained { zstd: lz4 } => Some(lz4),
                TileData::Solid(_) => None,
            });
            photos.chain(pictures).chain(tiles)
        })
        .max_by_key(|b| b.len())
        .unwrap();
    assert!(largest.len() > 1000, "the pattern's pixels travelled");
    let needle = largest[largest.len() / 2..largest.len() / 2 + 24].to_vec();
    let in_plaintext = updates.iter().any(|u| {
        let plain = lifeline_proto::frame::encode(&HostMsg::Frame(u.clone()), MAX_SESSION_FRAME);
        plain.is_ok_and(|p| contains(&p, &needle))
    });
    assert!(
        in_plaintext,
        "the probe must be visible in unencrypted frames"
    );

    let to_viewer = tap.to_viewer.lock().unwrap().clone();
    let to_host = tap.to_host.lock().unwrap().clone();
    assert!(
        to_viewer.len() > 50_000,
        "frames were forwarded ({} bytes)",
        to_viewer.len()
    );
    assert!(
        !contains(&to_viewer, &needle),
        "screen pixels visible to the relay"
    );
    assert!(
        !contains(&to_host, secret_text.as_bytes()),
        "typed text visible to the relay"
    );
    assert!(!contains(&to_host, b"TOPSECRET"));
}

/// A relay that, once armed, meddles with the next viewer→host chunk.
fn meddling(armed: Arc<AtomicBool>, how: fn(&Mutex<Option<Bytes>>, Bytes) -> Bytes) -> ForwardHook {
    let memory = Arc::new(Mutex::new(None::<Bytes>));
    ForwardHook(Arc::new(move |dir, bytes: Bytes| {
        if dir == Direction::ViewerToHost && armed.load(Ordering::SeqCst) {
            how(&memory, bytes)
        } else {
            bytes
        }
    }))
}

async fn expect_tamper_end(host: &HostProcess, viewer: &TestViewer) {
    let ended = host.wait_event("ended");
    let reason = ended["reason"].as_str().unwrap();
    assert!(reason.contains("tamper detected"), "{reason}");
    let why = ClientError::from_connection(&viewer.link.conn.closed().await).to_string();
    assert!(why.contains("tamper detected"), "viewer heard: {why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_ends_the_session_and_no_input_lands() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let armed = Arc::new(AtomicBool::new(false));
    let a = armed.clone();
    let relay = TestRelay::start_with(move |c| {
        c.forward_hook = Some(meddling(a, |_, bytes| {
            let mut v = bytes.to_vec();
            if let Some(last) = v.last_mut() {
                *last ^= 0x01;
            }
            Bytes::from(v)
        }))
    })
    .await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &x.display, &["--allow", "control"]);
    let mut viewer = TestViewer::join(&relay, &token, &host.code()).await;
    viewer.next_frame_unacked().await;
    let before = x.pointer();
    armed.store(true, Ordering::SeqCst);
    viewer.input(InputEvent::Move { x: 222, y: 111 }).await;
    expect_tamper_end(&host, &viewer).await;
    assert_eq!(x.pointer(), before, "tampered input must not be applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_input_is_refused() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let armed = Arc::new(AtomicBool::new(false));
    let a = armed.clone();
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    let relay = TestRelay::start_with(move |c| {
        c.forward_hook = Some(meddling(a, |memory, bytes| {
            let mut m = memory.lock().unwrap();
            match SEEN.fetch_add(1, Ordering::SeqCst) {
                // Record the first message, pass it on.
                0 => {
                    *m = Some(bytes.clone());
                    bytes
                }
                // Then send it again in place of the next.
                _ => m.clone().unwrap_or(bytes),
            }
        }))
    })
    .await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &x.display, &["--allow", "control"]);
    let mut viewer = TestViewer::join(&relay, &token, &host.code()).await;
    // No acknowledgement: the input below is all that flows viewer→host.
    viewer.next_frame_unacked().await;
    armed.store(true, Ordering::SeqCst);
    viewer.input(InputEvent::Move { x: 200, y: 100 }).await;
    poll("the first move", || {
        (x.pointer() == (200, 100)).then_some(())
    })
    .await;
    viewer.input(InputEvent::Move { x: 300, y: 150 }).await;
    expect_tamper_end(&host, &viewer).await;
    assert_eq!(
        x.pointer(),
        (200, 100),
        "neither the replay nor the message it replaced was applied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_fails_on_both_sides_and_burns_the_code() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let mut host = HostProcess::start(&relay, &x.display, &["--allow", "control"]);
    let code = host.code();
    let secret: u32 = code.secret_digits().parse().unwrap();
    let wrong = SessionCode::new(code.locator(), (secret + 1) % 1_000_000).unwrap();
    let (link, result) = TestViewer::try_join(&relay, &token, &wrong).await;
    match result {
        Err(SecureError::E2e(E2eError::WrongCode)) => {}
        Err(other) => panic!("expected a wrong-code error, got {other}"),
        Ok(_) => panic!("a wrong secret completed the key exchange"),
    }
    assert!(E2eError::WrongCode.to_string().contains("code is wrong"));
    let said = host.wait_event("wrong_code");
    assert_eq!(said["reason"], "the technician entered a wrong code");
    // A new code only when the user asks for one (issue #28).
    use std::io::Write;
    writeln!(host.stdin.as_mut().unwrap()).unwrap();
    let fresh: SessionCode = host.wait_event("code")["code"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(fresh.locator(), code.locator());
    drop(link);

    // The right code no longer works: one guess per code.
    let again = ViewerLink::join(&relay.relay_arg(), Some(&relay.ca), &token, code.locator()).await;
    assert!(
        matches!(again, Err(ClientError::Refused(JoinRefusal::UsedCode))),
        "{again:?}"
    );
    relay
        .wait_record("wrong secret report", |e| {
            matches!(e, AuditEvent::PeerReport { from, kind: Some(ReportKind::WrongSecret), .. } if from == "host")
        })
        .await;
    // And the fresh code works with the right digits.
    let viewer = TestViewer::join(&relay, &token, &fresh).await;
    assert!(!viewer.link.host_name.is_empty());
}
