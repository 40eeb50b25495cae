//! Hostile peers: a hostile relay or technician against the host: guesses, stale consent, remote clicks on the host's own questions, file puts through links, fetch policy (issue #28).
//!
//! All against the real `lifeline-host` on Xvfb and a real relay on
//! loopback; the "technician" is a raw client speaking the real protocol
//! (join, key exchange, transfer streams), so it can send what the real
//! viewer never would.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use lifeline_net::client::ViewerLink;
use lifeline_net::secure::{SecureError, SecureRecv, SecureSend, handshake, start_transfer};
use lifeline_proto::SessionCode;
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::control::Mode;
use lifeline_session::e2e::{E2eError, FilesRoot, Side};
use lifeline_session::files::FileMsg;
use lifeline_session::messages::{HostMsg, InputEvent, Key, MouseButton};
use lifeline_tests::TestRelay;
use lifeline_tests::peers::{HostProcess, TestViewer};
use lifeline_tests::x::Xvfb;
use sha2::{Digest, Sha256};

/// `code` with its secret digits off by one: a guess that fails.
fn wrong(code: &SessionCode) -> SessionCode {
    let secret: u32 = code.secret_digits().parse().unwrap();
    SessionCode::new(code.locator(), (secret + 1) % 1_000_000).unwrap()
}

fn say(host: &mut HostProcess, text: &str) {
    let stdin = host.stdin.as_mut().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    stdin.flush().unwrap();
}

/// One failed guess at `code`, as a hostile relay posing as a viewer
/// (with a real technician's token, so the relay pairs it) makes it.
async fn guess(relay: &TestRelay, token: &str, code: &SessionCode) {
    let (_link, result) = TestViewer::try_join(relay, token, &wrong(code)).await;
    assert!(
        matches!(result, Err(SecureError::E2e(E2eError::WrongCode))),
        "the guess did not fail as a wrong code"
    );
}

fn codes_issued(relay: &TestRelay) -> usize {
    relay
        .records()
        .iter()
        .filter(|r| matches!(r.event, AuditEvent::CodeIssued { .. }))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_relay_gets_three_guesses_and_each_new_code_waits_for_the_user() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let relay = TestRelay::start().await;
    let token = relay.add_technician("mallory");
    let mut host = HostProcess::start(&relay, &x.display, &[]);
    let mut code = host.code();
    for left in [2, 1] {
        // Enter pressed before the wrong code is no request for a new one.
        say(&mut host, "\n");
        guess(&relay, &token, &code).await;
        let said = host.wait_event("wrong_code");
        assert_eq!(said["tries_left"], left);
        // Before, a new code came at once (9 guesses a second). Now the
        // host offers none until the user asks: given a second, it has
        // printed nothing, and what it prints after the user asks is
        // the wait before the new code, then the code.
        tokio::time::sleep(Duration::from_secs(1)).await;
        say(&mut host, "\n");
        let next = host.next_event();
        assert_eq!(next["event"], "new_code_in", "{next}");
        let fresh: SessionCode = host.wait_event("code")["code"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_ne!(fresh.locator(), code.locator());
        code = fresh;
    }
    guess(&relay, &token, &code).await;
    let ended = host.wait_event("ended");
    assert!(
        ended["reason"]
            .as_str()
            .unwrap()
            .contains("wrong code was entered 3 times"),
        "{ended}"
    );
    let status = host.wait_exit();
    assert!(!status.success(), "the run stops for good, as a failure");
    assert_eq!(codes_issued(&relay), 3, "three codes, three guesses");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_typed_before_anyone_joined_never_answers_the_question() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let relay = TestRelay::start().await;
    let token = relay.add_technician("mallory");
    let mut host = HostProcess::start(&relay, &x.display, &[]);
    let code = host.code();
    // "control", typed while waiting, and a second one half typed.
    say(&mut host, "c\nc");
    let join = {
        let relay_arg = (relay.relay_arg(), relay.ca.clone());
        let token = token.clone();
        tokio::spawn(async move {
            let link = ViewerLink::join(&relay_arg.0, Some(&relay_arg.1), &token, code.locator())
                .await
                .unwrap();
            let (send, recv) = link.conn.accept_bi().await.unwrap();
            let mut s = handshake(Side::Viewer, send, recv, &code, &link.session)
                .await
                .unwrap();
            let mode = match s.recv.recv::<HostMsg>().await.unwrap() {
                HostMsg::Mode(m) => m,
                other => panic!("expected the mode, got {other:?}"),
            };
            (link, mode)
        })
    };
    host.wait_event("request");
    // The half-typed line ends now, then the real answer: see only.
    say(&mut host, "\nv\n");
    let (_link, mode) = join.await.unwrap();
    assert_eq!(mode, Mode::View, "a stale answer granted control");
    let joined = host.wait_event("joined");
    assert_eq!(joined["mode"], "view");
}

/// The host window's place on the screen (xdotool).
fn window_rect(x: &Xvfb) -> (u32, u32, u32, u32) {
    crate::window::find_window(x).1
}

/// The fill of egui's buttons (dark theme, not hovered).
const BUTTON: u32 = 0x0032_3232;

/// The centres of the buttons in the window's rectangle: boxes of
/// button fill big enough to be one.
fn buttons(x: &Xvfb, (rx, ry, w, h): (u32, u32, u32, u32)) -> Vec<(u32, u32)> {
    let screen = x.screenshot();
    let fill = |c: u32, r: u32| screen.get(c, r) & 0x00ff_ffff == BUTTON;
    let mut seen = vec![false; (w * h) as usize];
    let mut centres = Vec::new();
    for r in ry..ry + h {
        for c in rx..rx + w {
            let i = ((r - ry) * w + (c - rx)) as usize;
            if seen[i] || !fill(c, r) {
                continue;
            }
            // Flood fill one box.
            let (mut x0, mut y0, mut x1, mut y1) = (c, r, c, r);
            let mut todo = vec![(c, r)];
            seen[i] = true;
            while let Some((pc, pr)) = todo.pop() {
                (x0, y0, x1, y1) = (x0.min(pc), y0.min(pr), x1.max(pc), y1.max(pr));
                let near = [
                    (pc + 1, pr),
                    (pc.wrapping_sub(1), pr),
                    (pc, pr + 1),
                    (pc, pr.wrapping_sub(1)),
                ];
                for (nc, nr) in near {
                    if nc < rx || nr < ry || nc >= rx + w || nr >= ry + h {
                        continue;
                    }
                    let j = ((nr - ry) * w + (nc - rx)) as usize;
                    if !seen[j] && fill(nc, nr) {
                        seen[j] = true;
                        todo.push((nc, nr));
                    }
                }
            }
            if x1 - x0 >= 20 && y1 - y0 >= 12 {
                centres.push(((x0 + x1) / 2, (y0 + y1) / 2));
            }
        }
    }
    centres
}

/// Clicks `at` from the technician's side, one event per frame of the
/// window (egui takes the pointer's place once a frame).
async fn click(viewer: &mut TestViewer, (x, y): (u32, u32)) {
    let frame = Duration::from_millis(120);
    viewer.input(InputEvent::Move { x, y }).await;
    viewer.round_trip().await;
    tokio::time::sleep(frame).await;
    for down in [true, false] {
        let button = MouseButton::Left;
        viewer.input(InputEvent::Button { button, down }).await;
        viewer.round_trip().await;
        tokio::time::sleep(frame).await;
    }
}

/// What the X server holds down now: (keys, the middle button).
fn held(x: &Xvfb) -> (usize, bool) {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::xproto::{ConnectionExt as _, KeyButMask};
    let (conn, screen) = x11rb::connect(Some(&x.display)).unwrap();
    let root = conn.setup().roots[screen].root;
    let keys = conn.query_keymap().unwrap().reply().unwrap().keys;
    let keys = keys.iter().map(|b| b.count_ones() as usize).sum();
    let mask = conn.query_pointer(root).unwrap().reply().unwrap().mask;
    (keys, mask.contains(KeyButMask::BUTTON2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_in_control_cannot_answer_the_hosts_own_question() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(800, 600);
    let relay = TestRelay::start_with(|c| {
        c.confirm_every = Duration::from_secs(4);
        c.confirm_answer_within = Duration::from_secs(10);
    })
    .await;
    let token = relay.add_technician("mallory");
    let (ca, relay_arg) = (relay.ca.clone(), relay.relay_arg());
    let host = HostProcess::spawn_windowed(&relay_arg, &ca, &x.display, &["--allow", "control"]);
    let mut viewer = TestViewer::join(&relay, &token, &host.code()).await;
    assert_eq!(viewer.mode, Mode::Control);
    viewer.next_frame().await;
    // Before the question, the technician holds shift and the middle
    // button down, and never lets go.
    let key = Key::Shift;
    viewer.input(InputEvent::Key { key, down: true }).await;
    let button = MouseButton::Middle;
    viewer
        .input(InputEvent::Button { button, down: true })
        .await;
    viewer.round_trip().await;
    lifeline_tests::wait_for("shift and the middle button down", || {
        (held(&x) == (1, true)).then_some(())
    });
    let before = buttons(&x, window_rect(&x)).len();
    host.wait_event("continue_request");
    // The question open, the host let go of both (nothing stays down to
    // repeat into the window or change what a key does).
    lifeline_tests::wait_for("nothing held down", || {
        (held(&x) == (0, false)).then_some(())
    });
    // The question drawn: its two buttons beside the banner's (the
    // window grows to show it: its place is asked again each time).
    let shown = lifeline_tests::wait_for("the question's buttons", || {
        let now = buttons(&x, window_rect(&x));
        (now.len() >= before + 2).then_some(now)
    });
    for &at in &shown {
        click(&mut viewer, at).await;
    }
    // And Return for the focused first button, and a typed yes.
    for down in [true, false] {
        let key = Key::Return;
        viewer.input(InputEvent::Key { key, down }).await;
    }
    viewer.input(InputEvent::Text("y\n".into())).await;
    viewer.round_trip().await;
    // The technician's pointer moves still land (only what could answer
    // is dropped).
    let last = shown.last().unwrap();
    let last = (
        i16::try_from(last.0).unwrap(),
        i16::try_from(last.1).unwrap(),
    );
    assert_eq!(x.pointer(), last, "the moves were applied");
    assert_eq!(held(&x), (0, false), "the presses were dropped");
    // Unanswered, the question ends the session; a click that got
    // through would have gone on ("Continue") or stopped it ("Stop
    // sharing", "ended by the user").
    let ended = host.wait_event("ended");
    assert_eq!(
        ended["reason"], "the user did not confirm to continue in time",
        "{ended}"
    );
}

/// A raw technician: joined, keys exchanged, control granted; opens
/// transfer streams as it likes.
struct Raw {
    link: ViewerLink,
    files: FilesRoot,
    _send: SecureSend,
    _recv: SecureRecv,
    next_id: u32,
}

impl Raw {
    async fn join(relay: &TestRelay, token: &str, code: &SessionCode) -> Self {
        let link = ViewerLink::join(&relay.relay_arg(), Some(&relay.ca), token, code.locator())
            .await
            .unwrap();
        let (send, recv) = link.conn.accept_bi().await.unwrap();
        let mut s = handshake(Side::Viewer, send, recv, code, &link.session)
            .await
            .unwrap();
        let mode = s.recv.recv::<HostMsg>().await.unwrap();
        assert!(matches!(mode, HostMsg::Mode(Mode::Control)), "{mode:?}");
        Self {
            link,
            files: s.files,
            _send: s.send,
            _recv: s.recv,
            next_id: 1,
        }
    }

    /// Opens a transfer and sends `first`; the host's answer.
    async fn ask(&mut self, first: FileMsg) -> (SecureSend, SecureRecv, FileMsg) {
        let (send, recv) = self.link.conn.open_bi().await.unwrap();
        self.next_id += 1;
        let (mut send, mut recv) = start_transfer(&self.files, self.next_id, send, recv)
            .await
            .unwrap();
        send.send(&first).await.unwrap();
        let answer = recv.recv::<FileMsg>().await.unwrap();
        (send, recv, answer)
    }

    /// Puts `body` as `name`: what the host answers at the end.
    async fn put(&mut self, name: &str, body: &[u8]) -> FileMsg {
        let size = body.len() as u64;
        let first = FileMsg::Put {
            name: name.into(),
            size,
        };
        let (mut send, mut recv, answer) = self.ask(first).await;
        if !matches!(answer, FileMsg::Ready) {
            return answer;
        }
        send.send(&FileMsg::Chunk(body.to_vec())).await.unwrap();
        let sha256 = Sha256::digest(body).into();
        send.send(&FileMsg::End { sha256 }).await.unwrap();
        recv.recv::<FileMsg>().await.unwrap()
    }
}

fn link(target: &Path, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_never_writes_through_a_link_planted_in_the_download_folder() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    // Links at every temporary name the old scheme used, at the final
    // name, and as a subfolder.
    for id in 0..64 {
        link(&victim, &downloads.join(format!(".lifeline-{id}.part")));
    }
    link(&victim, &downloads.join("report.txt"));
    link(&outside, &downloads.join("logs"));
    let relay = TestRelay::start().await;
    let token = relay.add_technician("mallory");
    let dl = downloads.to_str().unwrap();
    let args = ["--allow", "control", "--download-dir", dl];
    let mut host = HostProcess::start(&relay, &x.display, &args);
    let mut raw = Raw::join(&relay, &token, &host.code()).await;

    let saved = raw.put("report.txt", b"from the technician").await;
    let FileMsg::Saved { path } = saved else {
        panic!("the put was not saved: {saved:?}");
    };
    let path = Path::new(&path);
    assert_eq!(path, downloads.join("report (1).txt"));
    assert!(!path.symlink_metadata().unwrap().is_symlink());
    assert_eq!(std::fs::read(path).unwrap(), b"from the technician");

    let refused = raw.put("logs/victim.txt", b"overwritten").await;
    let FileMsg::Refused(why) = refused else {
        panic!("a put through a linked folder was not refused: {refused:?}");
    };
    assert!(why.contains("inside the download folder"), "{why}");
    let told = host.wait_event("file_stopped");
    assert_eq!(told["name"], "logs/victim.txt");
    assert!(
        told["reason"]
            .as_str()
            .unwrap()
            .contains("inside the download folder"),
        "{told}"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    host.interrupt();
    host.wait_exit();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_fetch_says_nothing_about_the_path() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, b"payroll").unwrap();
    let relay = TestRelay::start().await;
    let token = relay.add_technician("mallory");
    let args = ["--allow", "control", "--allow-fetch", "no"];
    let mut host = HostProcess::start(&relay, &x.display, &args);
    let mut raw = Raw::join(&relay, &token, &host.code()).await;
    let mut answers = Vec::new();
    for path in [
        secret.clone(),
        dir.path().join("missing.txt"),
        dir.path().to_path_buf(),
    ] {
        let get = FileMsg::Get {
            path: path.to_str().unwrap().into(),
        };
        let (_, _, answer) = raw.ask(get).await;
        let FileMsg::Refused(why) = answer else {
            panic!("a fetch under --allow-fetch no was not refused: {answer:?}");
        };
        answers.push(why);
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert!(answers[0].contains("--allow-fetch no"), "{answers:?}");
    host.interrupt();
    host.wait_exit();
}
