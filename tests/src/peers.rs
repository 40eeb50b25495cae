//! The host binary as a child process, and a minimal viewer-side test
//! client that speaks the session protocol from `common`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lifeline_net::client::ViewerLink;
use lifeline_net::secure::{SecureError, SecureRecv, SecureSend, handshake};
use lifeline_proto::SessionCode;
use lifeline_proto::control::Mode;
use lifeline_session::e2e::Side;
use lifeline_session::messages::{HostMsg, InputEvent, ViewerMsg};
use lifeline_session::screen::{FrameUpdate, Framebuffer, Image};

use crate::{TestRelay, bin};

/// `lifeline-host --json` running against a test relay on an X display.
pub struct HostProcess {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    events: mpsc::Receiver<serde_json::Value>,
    /// Where its receipts go unless the test said (not the tester's
    /// ~/Documents).
    _receipts: Option<tempfile::TempDir>,
}

impl HostProcess {
    /// Starts the host against a test relay with `--relay`, `--ca`,
    /// `--json` and `extra`.
    pub fn start(relay: &TestRelay, display: &str, extra: &[&str]) -> Self {
        Self::spawn(&relay.relay_arg(), &relay.ca, display, extra)
    }

    /// Starts the host against any relay (`relay` as `--relay` takes it).
    pub fn spawn(relay: &str, ca: &Path, display: &str, extra: &[&str]) -> Self {
        let mut cmd = Command::new(bin("lifeline-host"));
        cmd.stderr(Stdio::inherit());
        Self::spawn_with(cmd, relay, ca, display, extra)
    }

    /// [`HostProcess::spawn`] with its log (stderr) going to `log`.
    pub fn spawn_logged(relay: &str, ca: &Path, display: &str, extra: &[&str], log: Stdio) -> Self {
        Self::spawn_env(relay, ca, display, extra, log, &[])
    }

    /// [`HostProcess::spawn_logged`] with environment variables `env`.
    pub fn spawn_env(
        relay: &str,
        ca: &Path,
        display: &str,
        extra: &[&str],
        log: Stdio,
        env: &[(&str, &str)],
    ) -> Self {
        let mut cmd = Command::new(bin("lifeline-host"));
        cmd.stderr(log).envs(env.iter().copied());
        Self::spawn_with(cmd, relay, ca, display, extra)
    }

    /// Starts the host inside a network namespace (a constrained link).
    pub fn spawn_in(
        ns: &crate::netem::Netns,
        relay: &str,
        ca: &Path,
        display: &str,
        extra: &[&str],
    ) -> Self {
        let mut cmd = ns.command(&bin("lifeline-host"));
        cmd.stderr(Stdio::inherit());
        Self::spawn_with(cmd, relay, ca, display, extra)
    }

    /// [`HostProcess::spawn`] with its window open on `display` (the
    /// others stay in the terminal, `--cli`, so no window covers what a
    /// test captures).
    pub fn spawn_windowed(relay: &str, ca: &Path, display: &str, extra: &[&str]) -> Self {
        let mut cmd = Command::new(bin("lifeline-host"));
        cmd.stderr(Stdio::inherit()).env("DISPLAY", display);
        Self::spawn_mode(cmd, relay, ca, extra, false)
    }

    fn spawn_with(mut cmd: Command, relay: &str, ca: &Path, display: &str, extra: &[&str]) -> Self {
        cmd.env("DISPLAY", display);
        Self::spawn_mode(cmd, relay, ca, extra, true)
    }

    /// Starts the host on a Wayland compositor (`env`: its runtime
    /// directory and display), with no X display in sight.
    pub fn spawn_wayland(relay: &str, ca: &Path, env: &[(&str, String)], extra: &[&str]) -> Self {
        let mut cmd = Command::new(bin("lifeline-host"));
        cmd.stderr(Stdio::inherit()).env_remove("DISPLAY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn_mode(cmd, relay, ca, extra, true)
    }

    /// Starts the host from `cmd` (a program and environment of the
    /// test's making), at the terminal.
    pub fn spawn_command(cmd: Command, relay: &str, ca: &Path, extra: &[&str]) -> Self {
        Self::spawn_mode(cmd, relay, ca, extra, true)
    }

    /// [`HostProcess::spawn_command`] with its window (no `--cli`).
    pub fn spawn_command_windowed(cmd: Command, relay: &str, ca: &Path, extra: &[&str]) -> Self {
        Self::spawn_mode(cmd, relay, ca, extra, false)
    }

    fn spawn_mode(mut cmd: Command, relay: &str, ca: &Path, extra: &[&str], cli: bool) -> Self {
        if cli {
            cmd.arg("--cli");
        }
        let receipts = (!cmd.get_envs().any(|(k, _)| k == "LIFELINE_RECEIPTS"))
            .then(|| tempfile::tempdir().unwrap());
        if let Some(dir) = &receipts {
            cmd.env("LIFELINE_RECEIPTS", dir.path());
        }
        let mut child = cmd
            .args(["--relay", relay, "--ca"])
            .arg(ca)
            .arg("--json")
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let events = json_events(child.stdout.take().unwrap(), "host");
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            events,
            _receipts: receipts,
        }
    }

    /// The next event the host printed, waiting up to 15 s.
    pub fn next_event(&self) -> serde_json::Value {
        self.events
            .recv_timeout(Duration::from_secs(15))
            .expect("host printed no event within 15 s")
    }

    /// Skips events until one named `name`.
    pub fn wait_event(&self, name: &str) -> serde_json::Value {
        loop {
            let v = self.next_event();
            if v["event"] == name {
                return v;
            }
        }
    }

    /// The code from the host's first `code` event.
    pub fn code(&self) -> SessionCode {
        let v = self.wait_event("code");
        v["code"].as_str().unwrap().parse().unwrap()
    }

    /// Sends SIGINT, as Ctrl+C at the terminal would.
    pub fn interrupt(&self) {
        self.signal("-INT");
    }

    /// Sends a signal (`"-INT"`, `"-KILL"`, …).
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Waits for the host to exit (up to 15 s).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "host did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The viewer binary (headless, `--json`) as a child process whose events
/// arrive as it prints them, for tests that act on what it did.
pub struct ViewerProcess {
    pub child: Child,
    events: mpsc::Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl ViewerProcess {
    /// Starts `cmd`: the viewer with `--headless --json` and its options.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let events = json_events(child.stdout.take().unwrap(), "viewer");
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
            text
        });
        Self {
            child,
            events,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// Skips events until one named `name` (waiting up to 15 s for each).
    pub fn wait_event(&mut self, name: &str) -> serde_json::Value {
        loop {
            let v = self
                .events
                .recv_timeout(Duration::from_secs(15))
                .unwrap_or_else(|_| {
                    panic!("the viewer printed no {name:?} event: {:?}", self.seen)
                });
            self.seen.push(v.clone());
            if v["event"] == name {
                return v;
            }
        }
    }

    /// Waits for the viewer to exit: how, what it said on stderr, and
    /// every event it printed.
    pub fn wait_output(mut self) -> (ExitStatus, String, Vec<serde_json::Value>) {
        let status = self.child.wait().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        self.seen.extend(self.events.iter());
        (status, stderr, std::mem::take(&mut self.seen))
    }
}

impl Drop for ViewerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A viewer-side test client: joins, decodes frames, sends input.
pub struct TestViewer {
    pub link: ViewerLink,
    pub send: SecureSend,
    pub recv: SecureRecv,
    pub fb: Framebuffer,
    pub mode: Mode,
    /// The last pointer position the host reported.
    pub cursor: Option<(i32, i32)>,
}

impl TestViewer {
    /// Joins `code`, runs the key exchange and waits for the host's decision.
    pub async fn join(relay: &TestRelay, token: &str, code: &SessionCode) -> Self {
        Self::join_at(&relay.relay_arg(), &relay.ca, token, code).await
    }

    /// [`TestViewer::join`] through any relay (`relay` as `--relay` takes
    /// it), trusting `ca`.
    pub async fn join_at(relay: &str, ca: &Path, token: &str, code: &SessionCode) -> Self {
        let (link, result) = Self::try_join_at(relay, ca, token, code).await;
        match result {
            Ok((send, mut recv)) => {
                let mode = match recv.recv::<HostMsg>().await.unwrap() {
                    HostMsg::Mode(m) => m,
                    other => panic!("expected the mode first, got {other:?}"),
                };
                Self {
                    link,
                    send,
                    recv,
                    fb: Framebuffer::new(),
                    mode,
                    cursor: None,
                }
            }
            Err(e) => panic!("secure handshake failed: {e}"),
        }
    }

    /// Joins and runs the key exchange; the handshake's result is returned
    /// as is, for tests of wrong codes.
    pub async fn try_join(
        relay: &TestRelay,
        token: &str,
        code: &SessionCode,
    ) -> (ViewerLink, Result<(SecureSend, SecureRecv), SecureError>) {
        Self::try_join_at(&relay.relay_arg(), &relay.ca, token, code).await
    }

    async fn try_join_at(
        relay: &str,
        ca: &Path,
        token: &str,
        code: &SessionCode,
    ) -> (ViewerLink, Result<(SecureSend, SecureRecv), SecureError>) {
        let link = ViewerLink::join(relay, Some(ca), token, code.locator())
            .await
            .unwrap();
        let (send, recv) = tokio::time::timeout(Duration::from_secs(15), link.conn.accept_bi())
            .await
            .expect("host opened no session stream")
            .unwrap();
        let result = handshake(Side::Viewer, send, recv, code, &link.session).await;
        (link, result.map(|s| (s.send, s.recv)))
    }

    /// The next frame update, applied and acknowledged (pointer reports
    /// on the way are noted).
    pub async fn next_frame(&mut self) -> FrameUpdate {
        loop {
            if let Some(upd) = self.next_message().await {
                return upd;
            }
        }
    }

    /// Handles one message: a frame is applied, acknowledged and returned.
    async fn next_message(&mut self) -> Option<FrameUpdate> {
        // 20 s: on a shaped slow link with the whole suite loading both
        // cores, a refinement's next part has been seen to take over 10 s.
        let msg = tokio::time::timeout(Duration::from_secs(20), self.recv.recv::<HostMsg>())
            .await
            .expect("nothing from the host within 20 s")
            .unwrap();
        match msg {
            HostMsg::Frame(upd) => {
                // As the real viewer: the decoding's time goes with the
                // acknowledgement, so the host times the link alone.
                let started = Instant::now();
                self.fb.apply(&upd).unwrap();
                let busy_us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                self.send
                    .send(&ViewerMsg::Decoded {
                        seq: upd.seq,
                        busy_us,
                    })
                    .await
                    .unwrap();
                Some(upd)
            }
            HostMsg::Cursor { x, y } => {
                self.cursor = Some((x, y));
                None
            }
            HostMsg::Mode(_)
            | HostMsg::Clipboard(_)
            | HostMsg::ClipboardSet
            | HostMsg::Refused(_)
            | HostMsg::Chat(_)
            | HostMsg::Monitors { .. }
            | HostMsg::Withheld(_)
            | HostMsg::Hidden(_) => None,
        }
    }

    /// The next frame, applied but not acknowledged, so the viewer sends
    /// nothing of its own (tests that meddle with viewer→host traffic).
    pub async fn next_frame_unacked(&mut self) -> FrameUpdate {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.recv.recv::<HostMsg>())
                .await
                .expect("nothing from the host within 10 s")
                .unwrap();
            if let HostMsg::Frame(upd) = msg {
                self.fb.apply(&upd).unwrap();
                return upd;
            }
        }
    }

    /// Reads messages until the host reports the pointer at (x, y).
    pub async fn until_cursor(&mut self, x: i32, y: i32) {
        while self.cursor != Some((x, y)) {
            self.next_message().await;
        }
    }

    /// Reads updates until the framebuffer equals `want`; returns them.
    pub async fn until_equal(&mut self, want: &Image) -> Vec<FrameUpdate> {
        let mut got = Vec::new();
        while self.fb.image() != Some(want) {
            got.push(self.next_frame().await);
        }
        got
    }

    /// Asks for a whole frame and reads until it arrives: the host has
    /// then handled every message sent before (they travel in order).
    pub async fn round_trip(&mut self) {
        self.send.send(&ViewerMsg::RequestFull).await.unwrap();
        while !self.next_frame().await.full {}
    }

    /// Sends input.
    pub async fn input(&mut self, ev: InputEvent) {
        self.send.send(&ViewerMsg::Input(ev)).await.unwrap();
    }
}

/// The real host binary, started by `start` against an in-process relay,
/// shared with a viewer and idle for 10 s: its CPU, in percent of one core.
pub fn idle_host_cpu(start: impl FnOnce(&crate::TestRelay) -> HostProcess) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let relay = crate::TestRelay::start().await;
        let token = relay.add_technician("bench");
        let host = start(&relay);
        let mut viewer = TestViewer::join(&relay, &token, &host.code()).await;
        viewer.next_frame().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let pid = host.child.id();
        let before = crate::cpu_secs(pid);
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(10)).await;
        (crate::cpu_secs(pid) - before) / t0.elapsed().as_secs_f64() * 100.0
    })
}

/// One whole view-only session with the real host binary on `display`
/// and a viewer: joined, first screen settled, disconnected, ended.
pub async fn one_view_session(relay: &str, ca: &Path, display: &str, token: &str) {
    let host = HostProcess::spawn(relay, ca, display, &["--allow", "view"]);
    let code = host.code();
    let v = lifeline_viewer::session::Viewer::connect(relay, Some(ca), token.trim(), &code, |_| {})
        .await
        .unwrap();
    v.settle(Duration::from_millis(200), Duration::from_secs(20))
        .await
        .unwrap();
    v.disconnect("done").await;
    host.wait_event("ended");
}

/// Types `text` then Return through a connected viewer, as a technician
/// typing a line.
pub async fn type_line(v: &lifeline_viewer::session::Viewer, text: &str) {
    use lifeline_session::messages::{InputEvent, Key};
    v.input(InputEvent::Text(text.into())).await.unwrap();
    for down in [true, false] {
        v.input(InputEvent::Key {
            key: Key::Return,
            down,
        })
        .await
        .unwrap();
    }
}

/// The JSON lines a peer prints on `stdout`, read on a thread of their
/// own as they come; a line that is not JSON fails the test, naming `who`.
fn json_events(
    stdout: std::process::ChildStdout,
    who: &'static str,
) -> mpsc::Receiver<serde_json::Value> {
    let (tx, events) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let v = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{who} printed non-JSON {line:?}: {e}"));
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    events
}
