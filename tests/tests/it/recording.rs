//! Session recordings that only auditors can open, with the real relay,
//! host and viewer binaries under Xvfb: the relay stores a file in which
//! neither the screen's pattern nor the typed text can be found; `play
//! --at` renders the host's screen as it was; `audit verify` proves the
//! file whole and catches it altered or cut, and playback says where; a
//! wrong key is refused by name; a required recording that cannot be
//! written stops the session, audited.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lifeline_session::messages::InputEvent;
use lifeline_tests::peers::{HostProcess, one_view_session};
use lifeline_tests::x::{Xvfb, load_png, pattern_image};
use lifeline_tests::{RelayProcess, bin, poll, relay_cli, relay_cli_until, resume_tickets};
use lifeline_viewer::session::Viewer;

/// An auditor's key pair, made by the relay's command, in `dir`.
pub(crate) fn auditor(dir: &Path, data: &Path, name: &str) -> std::path::PathBuf {
    let secret = dir.join(format!("{name}.key"));
    let (rc, public, err) = relay_cli(&["auditor", "keygen", "--out", secret.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the secret key is private");
    let pubfile = dir.join(format!("{name}.pub"));
    std::fs::write(&pubfile, public).unwrap();
    let d = data.to_str().unwrap();
    let (rc, _, err) = relay_cli(&[
        "auditor",
        "add",
        name,
        "--public-key",
        pubfile.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert_eq!(rc, 0, "{err}");
    secret
}

fn play(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin("lifeline-viewer"))
        .arg("play")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A relay with the auditor alice and the technician wendy.
struct Relayed {
    data: tempfile::TempDir,
    keys: tempfile::TempDir,
    alice: PathBuf,
    relay: RelayProcess,
    addr: String,
    token: String,
    ca: PathBuf,
}

impl Relayed {
    /// `prepare` runs on the data directory before the relay starts.
    fn start(extra: &[&str], prepare: impl FnOnce(&Path)) -> Self {
        let data = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let alice = auditor(keys.path(), data.path(), "alice");
        prepare(data.path());
        let relay = RelayProcess::start(data.path(), extra);
        let d = data.path().to_str().unwrap();
        let (_, token, _) = relay_cli(&["technician", "add", "wendy", "--data-dir", d]);
        Self {
            addr: relay.addr.to_string(),
            ca: data.path().join("ca.pem"),
            token: token.trim().to_owned(),
            data,
            keys,
            alice,
            relay,
        }
    }

    fn d(&self) -> &str {
        self.data.path().to_str().unwrap()
    }

    fn host(&self, display: &str, allow: &str) -> HostProcess {
        HostProcess::spawn(&self.addr, &self.ca, display, &["--allow", allow])
    }

    /// The host on `display` and a viewer joined to it.
    async fn session(&self, display: &str, allow: &str) -> (HostProcess, Viewer) {
        let host = self.host(display, allow);
        let code = host.code();
        let v = Viewer::connect(&self.addr, Some(&self.ca), &self.token, &code, |_| {})
            .await
            .unwrap();
        (host, v)
    }

    /// The session's recording, once the relay sealed it.
    fn sealed(&self) -> PathBuf {
        let session = host_session(self.d());
        relay_cli_until(
            &["audit", "show", &session, "--data-dir", self.d()],
            "recording_sealed",
        );
        self.data.path().join(format!("recordings/{session}.llrec"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_only_the_auditor_can_open() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let pattern = pattern_image(200, 120, 11);
    let _shown = x.show(400, 300, &pattern);
    let typed = tempfile::tempdir().unwrap();
    let typed_file = typed.path().join("typed.txt");
    let _term = x.xterm_cat("60x10+0+0", &typed_file);
    let r = Relayed::start(&["--record-keys"], |_| {});
    let (_, list, _) = relay_cli(&["auditor", "list", "--data-dir", r.d()]);
    assert!(list.contains("alice"), "{list}");
    let (host, v) = r.session(&x.display, "control").await;
    let told = host.wait_event("recorded");
    assert_eq!(told["auditors"][0], "alice");
    v.settle(Duration::from_millis(300), Duration::from_secs(20))
        .await
        .unwrap();
    v.input(InputEvent::Move { x: 100, y: 50 }).await.unwrap();
    let secret_text = "hunter2-SECRET-words";
    lifeline_tests::peers::type_line(&v, secret_text).await;
    poll("the typing to reach the terminal", || {
        std::fs::read_to_string(&typed_file)
            .ok()?
            .contains(secret_text)
            .then_some(())
    })
    .await;
    v.settle(Duration::from_millis(500), Duration::from_secs(20))
        .await
        .unwrap();
    // Nothing changed for the last 500 ms of the session: the end of
    // the recording shows this screen.
    let screen = x.screenshot();
    v.disconnect("done").await;
    host.wait_event("ended");

    // The relay sealed it into the audit log; the file is whole.
    let file = r.sealed();
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", r.d()]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("recordings intact: 1"), "{out}");

    // What the relay holds shows nothing of the session.
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        !contains(&bytes, secret_text.as_bytes()),
        "typed text in the clear"
    );
    let row: Vec<u8> = pattern.pixels[..32]
        .iter()
        .flat_map(|p| p.to_le_bytes())
        .collect();
    assert!(!contains(&bytes, &row), "screen pixels in the clear");

    // The auditor sees the timeline, and the screen as it was.
    let rec = file.to_str().unwrap();
    let alice = r.alice.to_str().unwrap();
    let (ok, out, err) = play(&[rec, "--identity", alice, "--json"]);
    assert!(ok, "{out}{err}");
    let summary: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let duration = summary["duration_s"].as_f64().unwrap();
    assert!(out.contains("joined") && out.contains("wendy"), "{out}");
    let shot = r.keys.path().join("at.png");
    let at = format!("{:.3}", duration - 0.25);
    let (ok, out, err) = play(&[
        rec,
        "--identity",
        alice,
        "--at",
        &at,
        "--screenshot",
        shot.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    let replayed = load_png(&shot);
    assert_eq!(
        (replayed.width, replayed.height),
        (screen.width, screen.height)
    );
    assert!(
        replayed.pixels == screen.pixels,
        "the replayed screen differs from the host's"
    );

    // The whole recording as frames: the last is the screen at the end.
    let frames = r.keys.path().join("frames");
    let (ok, out, err) = play(&[
        rec,
        "--identity",
        alice,
        "--export-frames",
        frames.to_str().unwrap(),
        "--fps",
        "8",
    ]);
    assert!(ok, "{out}{err}");
    let mut written: Vec<_> = std::fs::read_dir(&frames)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    written.sort();
    assert!(written.len() >= 4, "{out}");
    assert!(load_png(written.last().unwrap()).pixels == screen.pixels);

    // Without options and with a display, the player window opens.
    let mut player = Command::new(bin("lifeline-viewer"))
        .args(["play", rec, "--identity", alice])
        .env("DISPLAY", &x.display)
        .spawn()
        .unwrap();
    poll("the player window", || {
        let found = Command::new("xdotool")
            .args(["search", "--name", "Lifeline recording"])
            .env("DISPLAY", &x.display)
            .output()
            .ok()?;
        (found.status.success() && !found.stdout.is_empty()).then_some(())
    })
    .await;
    assert!(
        player.try_wait().unwrap().is_none(),
        "the player is running"
    );
    player.kill().unwrap();
    player.wait().unwrap();

    // A wrong key is refused, naming who can open it.
    let mallory = r.keys.path().join("mallory.key");
    relay_cli(&["auditor", "keygen", "--out", mallory.to_str().unwrap()]);
    let (ok, _, err) = play(&[rec, "--identity", mallory.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("not for this key") && err.contains("alice"),
        "{err}"
    );

    // Altered: verify fails, playback says where.
    let mut altered = bytes.clone();
    let mid = altered.len() / 2;
    altered[mid] ^= 0x40;
    std::fs::write(&file, &altered).unwrap();
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", r.d()]);
    assert_ne!(rc, 0);
    assert!(out.contains("recording FAILED"), "{out}");
    let (ok, _, err) = play(&[rec, "--identity", alice, "--timeline"]);
    assert!(!ok);
    assert!(
        err.contains("altered") && err.contains("whole up to"),
        "{err}"
    );
    // Cut: the same.
    std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", r.d()]);
    assert_ne!(rc, 0, "{out}");
    let (ok, _, err) = play(&[rec, "--identity", alice, "--timeline"]);
    assert!(!ok);
    assert!(err.contains("cut") && err.contains("whole up to"), "{err}");
}

/// The size of the one recording the relay in `data` is writing.
fn recording_len(data: &Path) -> Option<u64> {
    std::fs::read_dir(data.join("recordings"))
        .ok()?
        .flatten()
        .find_map(|e| e.metadata().ok().map(|m| m.len()))
}

/// The one session the log knows, by its sealed recording's record.
pub(crate) fn host_session(d: &str) -> String {
    let (_, out, _) = relay_cli(&["audit", "list", "--json", "--data-dir", d]);
    let last = out.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    v["session"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_recording_that_cannot_be_written_stops_the_session() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    // Where recordings go is taken by a file: nothing can be written.
    let r = Relayed::start(&["--recording", "required"], |data| {
        std::fs::write(data.join("recordings"), b"in the way").unwrap();
    });
    let mut host = r.host(&x.display, "control");
    let code = host.code();
    let joined = Viewer::connect(&r.addr, Some(&r.ca), &r.token, &code, |_| {}).await;
    // Both sides are told why, in one line; the host exits with it.
    let Err(e) = joined else {
        panic!("a session started that could not be recorded");
    };
    assert!(e.to_string().contains("recording is required"), "{e}");
    assert!(!host.wait_exit().success());
    relay_cli_until(
        &["audit", "list", "--json", "--data-dir", r.d()],
        "failed: the relay cannot record",
    );
}

#[test]
fn recording_required_without_an_auditor_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(bin("lifeline-relay"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--recording",
            "required",
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auditor keygen"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_past_the_retention_are_deleted_and_audited() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let r = Relayed::start(&["--recording-retention", "3s"], |_| {});
    one_view_session(&r.addr, &r.ca, &x.display, &r.token).await;
    let file = r.sealed();
    assert!(file.exists());
    let session = host_session(r.d());
    relay_cli_until(
        &["audit", "show", &session, "--data-dir", r.d()],
        "recording_expired",
    );
    assert!(!file.exists(), "the expired recording was deleted");
    // Deleted on purpose is not missing.
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", r.d()]);
    assert_eq!(rc, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_goes_on_across_a_relay_restart() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let r = Relayed::start(&[], |_| {});
    let (host, v) = r.session(&x.display, "view").await;
    v.settle(Duration::from_millis(300), Duration::from_secs(20))
        .await
        .unwrap();
    // Killed once the session can come back (its ticket filed) and the
    // relay holds all of its recording so far: the host seals what it
    // recorded within a second (its FLUSH_AFTER), so once the still
    // screen is recorded the file stops growing for longer than that.
    // (A chunk still on its way when the relay dies is lost, and the
    // recording then has a gap: the host sends again only what its link
    // refused.)
    let mut grown = (0, std::time::Instant::now());
    poll("the resume ticket and the recording caught up", || {
        let len = recording_len(r.data.path())?;
        if len != grown.0 {
            grown = (len, std::time::Instant::now());
        }
        let still = len > 0 && grown.1.elapsed() > Duration::from_millis(1200);
        (still && resume_tickets(r.data.path()) == 1).then_some(())
    })
    .await;
    r.relay.signal("KILL");
    host.wait_event("reconnecting");
    let _relay = RelayProcess::start_on(&r.addr, r.data.path(), &[]);
    host.wait_event("resumed");
    // Drawn after the restart: in the recording too.
    let _late = x.show(40, 40, &pattern_image(120, 80, 5));
    v.settle(Duration::from_millis(500), Duration::from_secs(20))
        .await
        .unwrap();
    // Nothing changed for the last 500 ms of the session.
    let screen = x.screenshot();
    v.disconnect("done").await;
    host.wait_event("ended");
    let file = r.sealed();
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", r.d()]);
    assert_eq!(rc, 0, "{out}");
    let rec = file.to_str().unwrap();
    let alice = r.alice.to_str().unwrap();
    let (ok, out, err) = play(&[rec, "--identity", alice, "--json"]);
    assert!(ok, "the recording is whole across the restart: {out}{err}");
    let summary: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let at = format!("{:.3}", summary["duration_s"].as_f64().unwrap() - 0.25);
    let shot = r.keys.path().join("end.png");
    let (ok, out, err) = play(&[
        rec,
        "--identity",
        alice,
        "--at",
        &at,
        "--screenshot",
        shot.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    assert!(
        load_png(&shot).pixels == screen.pixels,
        "what was drawn after the restart is recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetching_a_recording_is_audited_with_or_without_the_relay_running() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let mut r = Relayed::start(&[], |_| {});
    one_view_session(&r.addr, &r.ca, &x.display, &r.token).await;
    let file = r.sealed();
    let session = host_session(r.d());
    let out = r.keys.path().join("copy.llrec");
    let d = r.d().to_owned();
    let fetch = |to: &Path| {
        relay_cli(&[
            "recording",
            "fetch",
            &session,
            "--out",
            to.to_str().unwrap(),
            "--data-dir",
            &d,
        ])
    };
    // The relay runs: it audits the fetch, then the copy is made.
    let (rc, _, err) = fetch(&out);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&file).unwrap());
    let (_, shown, _) = relay_cli(&["audit", "show", &session, "--data-dir", r.d()]);
    assert!(
        shown.contains("recording_fetched") && shown.contains("copy.llrec"),
        "{shown}"
    );
    // A copy never overwrites, and an unknown session is said plainly.
    let (rc, _, err) = fetch(&out);
    assert_ne!(rc, 0);
    assert!(err.contains("exists"), "{err}");
    let (rc, _, err) = relay_cli(&[
        "recording",
        "fetch",
        "nosuch",
        "--out",
        "/tmp/x",
        "--data-dir",
        r.d(),
    ]);
    assert_ne!(rc, 0);
    assert!(err.contains("no recording for session"), "{err}");
    // The relay stopped: the command writes the record itself, and the
    // chain stays one.
    r.relay.signal("TERM");
    r.relay.child.wait().unwrap();
    let (rc, _, err) = fetch(&r.keys.path().join("copy2.llrec"));
    assert_eq!(rc, 0, "{err}");
    let (_, shown, _) = relay_cli(&["audit", "show", &session, "--data-dir", r.d()]);
    assert_eq!(shown.matches("recording_fetched").count(), 2, "{shown}");
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", r.d()]);
    assert_eq!(rc, 0, "{out}");
}
