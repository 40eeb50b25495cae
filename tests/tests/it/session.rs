//! Whole sessions with every real binary spawned: relay, host on Xvfb,
//! headless viewer; and every error a user can hit, each with its line.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::{Xvfb, load_png, pattern_image};
use lifeline_tests::{RelayProcess, bin, relay_cli, relay_cli_until, resume_tickets, wait_for};

/// The relay binary with a technician, and the pieces to reach it.
pub(crate) struct Stack {
    relay: RelayProcess,
    dir: tempfile::TempDir,
    token: String,
}

impl Stack {
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }
    /// With extra `lifeline-relay serve` options.
    pub(crate) fn start_with(serve: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let relay = RelayProcess::start(&self_dir(&dir), serve);
        let (rc, out, _) = relay_cli(&[
            "technician",
            "add",
            "alice",
            "--data-dir",
            self_dir(&dir).to_str().unwrap(),
        ]);
        assert_eq!(rc, 0);
        Self {
            relay,
            token: out.trim().to_owned(),
            dir,
        }
    }
    pub(crate) fn addr(&self) -> String {
        self.relay.addr.to_string()
    }
    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.path().join("relay/ca.pem")
    }
    pub(crate) fn data(&self) -> String {
        self.dir.path().join("relay").display().to_string()
    }
    pub(crate) fn host(&self, display: &str, extra: &[&str]) -> HostProcess {
        HostProcess::spawn(&self.addr(), &self.ca(), display, extra)
    }
    /// The headless viewer with `script`, `--json`, and this stack's token
    /// unless another is given.
    pub(crate) fn viewer_command(&self, code: &str, script: &str, token: Option<&str>) -> Command {
        let path = self
            .dir
            .path()
            .join(format!("script-{}.txt", rand_suffix()));
        std::fs::write(&path, script).unwrap();
        let mut cmd = Command::new(bin("lifeline-viewer"));
        cmd.args(["--relay", &self.addr(), "--ca"])
            .arg(self.ca())
            .args([
                "--token",
                token.unwrap_or(&self.token),
                "--code",
                code,
                "--headless",
                "--json",
                "--script",
            ])
            .arg(&path);
        cmd
    }

    /// Runs the headless viewer to its end.
    pub(crate) fn viewer(&self, code: &str, script: &str, token: Option<&str>) -> Output {
        self.viewer_command(code, script, token).output().unwrap()
    }

    /// Runs the headless viewer on a thread, for sessions the test drives
    /// from the host's side meanwhile.
    pub(crate) fn viewer_in_background(
        &self,
        code: &str,
        script: &str,
    ) -> std::thread::JoinHandle<Output> {
        let mut cmd = self.viewer_command(code, script, None);
        std::thread::spawn(move || cmd.output().unwrap())
    }
}

fn self_dir(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("relay")
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn events(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One whole session in `mode`, ended by Ctrl+C on the host.
fn whole_session(mode: &str) {
    let x = Xvfb::start(800, 600);
    let _pattern = x.show(420, 300, &pattern_image(180, 120, 9));
    let stack = Stack::start();
    let file = stack.dir.path().join("typed.txt");
    let _xterm = x.xterm_cat("50x6+0+0", &file);
    let host = stack.host(&x.display, &["--allow", mode]);
    let code = host.code().to_string();
    let shot = stack.dir.path().join("shot.png");
    let screen = x.screenshot();
    let script = format!(
        "wait-frame\nscreenshot {}\n{}sleep 30000\n",
        shot.display(),
        if mode == "control" {
            "move 40 30\ntype Exactly this text!\nkey Return\n"
        } else {
            ""
        }
    );
    let viewer = stack.viewer_in_background(&code, &script);
    let joined = host.wait_event("joined");
    assert_eq!(joined["technician"], "alice");
    assert_eq!(joined["mode"], mode);
    // Wait for the screenshot (and the typing), then Ctrl+C on the host.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !shot.exists()
        || (mode == "control" && !std::fs::read_to_string(&file).unwrap().ends_with('\n'))
    {
        assert!(
            Instant::now() < deadline,
            "viewer did not screenshot/type in time"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    host.signal("-INT");
    assert_eq!(host.wait_event("ended")["reason"], "ended by the user");
    let out = viewer.join().unwrap();
    assert!(
        !out.status.success(),
        "the script was cut short, so the viewer fails"
    );
    let evs = events(&out);
    assert_eq!(
        evs.iter().find(|e| e["event"] == "ended").unwrap()["reason"],
        "ended by the user",
        "{evs:?}"
    );
    assert!(
        stderr(&out).contains("ended by the user"),
        "{}",
        stderr(&out)
    );

    // The screenshot equals the host's screen (taken before typing changed it).
    assert_eq!(load_png(&shot), screen);
    let typed = std::fs::read_to_string(&file).unwrap();
    if mode == "control" {
        assert_eq!(typed, "Exactly this text!\n");
    } else {
        assert_eq!(typed, "", "view only: nothing typed arrives");
    }

    // The audit trail of exactly this session, and an intact log.
    let session = evs.iter().find(|e| e["event"] == "joined").unwrap()["session"]
        .as_str()
        .unwrap()
        .to_owned();
    // The end record is written just after both sides are closed.
    let shown = relay_cli_until(
        &["audit", "show", &session, "--data-dir", &stack.data()],
        "session_ended",
    );
    for kind in lifeline_tests::SESSION_RECORDS {
        assert!(shown.contains(kind), "{kind} missing:\n{shown}");
    }
    assert!(shown.contains(&format!("mode=\"{mode}\"")), "{shown}");
    assert!(
        shown.contains("reason=\"host: ended by the user\""),
        "{shown}"
    );
    assert!(
        !shown.contains("Exactly this text"),
        "nothing typed is logged"
    );
    assert_eq!(
        relay_cli(&["audit", "verify", "--data-dir", &stack.data()]).0,
        0
    );
}

#[test]
fn a_whole_session_with_control() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    whole_session("control");
}

#[test]
fn a_whole_session_view_only() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    whole_session("view");
}

#[test]
fn every_error_a_user_can_hit_has_its_line() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let stack = Stack::start();
    let quit = "wait-frame\nquit\n";

    // Relay down or unreachable.
    let dead = Command::new(bin("lifeline-host"))
        .args(["--cli", "--relay", "127.0.0.1:9", "--ca"])
        .arg(stack.ca())
        .env("DISPLAY", &x.display)
        .output()
        .unwrap();
    assert!(!dead.status.success());
    assert!(
        stderr(&dead).contains("did not answer: is it running"),
        "{}",
        stderr(&dead)
    );

    // Wrong certificate.
    let other = tempfile::tempdir().unwrap();
    lifeline_certs::ensure_relay_certs(other.path(), &["localhost".into()]).unwrap();
    let out = Command::new(bin("lifeline-host"))
        .args(["--cli", "--relay", &stack.addr(), "--ca"])
        .arg(other.path().join("ca.pem"))
        .env("DISPLAY", &x.display)
        .output()
        .unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("pass --ca with the relay's ca.pem"),
        "{}",
        stderr(&out)
    );

    // No display.
    let out = Command::new(bin("lifeline-host"))
        .args(["--cli", "--relay", &stack.addr(), "--ca"])
        .arg(stack.ca())
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("$DISPLAY is not set"),
        "{}",
        stderr(&out)
    );

    // Wrong and revoked tokens.
    let host = stack.host(&x.display, &["--allow", "view"]);
    let code = host.code().to_string();
    let out = stack.viewer(&code, quit, Some("llt_00000000000000000000000000000000"));
    assert!(
        !out.status.success() && stderr(&out).contains("does not know this technician token"),
        "{}",
        stderr(&out)
    );
    let (_, bob, _) = relay_cli(&["technician", "add", "bob", "--data-dir", &stack.data()]);
    relay_cli(&["technician", "revoke", "bob", "--data-dir", &stack.data()]);
    let out = stack.viewer(&code, quit, Some(bob.trim()));
    assert!(
        !out.status.success() && stderr(&out).contains("token was revoked"),
        "{}",
        stderr(&out)
    );

    // Mistyped (check digit), unknown, then a good join, then reused.
    let mut typo = code.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'0' { b'1' } else { b'0' };
    let out = stack.viewer(std::str::from_utf8(&typo).unwrap(), quit, None);
    assert!(
        !out.status.success() && stderr(&out).contains("typo"),
        "{}",
        stderr(&out)
    );
    let out = stack.viewer(&code, quit, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = stack.viewer(&code, quit, None);
    assert!(
        !out.status.success() && stderr(&out).contains("already used"),
        "{}",
        stderr(&out)
    );
    drop(host);

    // The user refusing.
    let mut host = stack.host(&x.display, &[]);
    let code = host.code().to_string();
    let viewer = stack.viewer_in_background(&code, quit);
    assert_eq!(host.wait_event("request")["technician"], "alice");
    writeln!(host.stdin.as_mut().unwrap(), "r").unwrap();
    assert_eq!(host.wait_event("ended")["reason"], "refused by the user");
    let out = viewer.join().unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("refused by the user"),
        "{}",
        stderr(&out)
    );
    drop(host);

    // The host vanishing mid-session: the viewer says so within 5 s and
    // waits for it to come back (a sleeping laptop looks the same), then
    // gives up at the end of its resume window; so does the relay.
    drop(stack);
    let stack = Stack::start_with(&["--resume-window", "3s"]);
    let host = stack.host(&x.display, &["--allow", "view"]);
    let code = host.code().to_string();
    let mut cmd = stack.viewer_command(&code, "wait-frame\nsleep 60000\n", None);
    cmd.args(["--resume-window", "3s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut viewer = cmd.spawn().unwrap();
    host.wait_event("joined");
    // Only a session whose ticket the relay has filed can come back.
    wait_for("the host's resume ticket", || {
        (resume_tickets(&self_dir(&stack.dir)) == 1).then_some(())
    });
    host.signal("-KILL");
    let killed = Instant::now();
    let (tx, events) = std::sync::mpsc::channel::<serde_json::Value>();
    let stdout = viewer.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(serde_json::from_str(&line).unwrap());
        }
    });
    let reconnecting = events
        .iter()
        .find(|e| e["event"] == "reconnecting")
        .expect("the viewer said nothing of the lost host");
    let took = killed.elapsed();
    assert!(
        reconnecting["reason"]
            .as_str()
            .unwrap()
            .contains("the host's connection was lost"),
        "{reconnecting}"
    );
    assert!(
        took < Duration::from_secs(5),
        "the viewer took {took:?} to notice"
    );
    let out = viewer.wait_with_output().unwrap();
    assert!(
        !out.status.success() && stderr(&out).contains("could not be resumed within 3 s"),
        "{}",
        stderr(&out)
    );
    relay_cli_until(
        &["audit", "list", "--json", "--data-dir", &stack.data()],
        "not resumed within 3 s",
    );

    // An expired code.
    drop(stack);
    let stack = Stack::start_with(&["--code-ttl", "1s"]);
    let host = stack.host(&x.display, &["--allow", "view"]);
    let code = host.code().to_string();
    host.wait_event("expired");
    let out = stack.viewer(&code, quit, None);
    assert!(
        !out.status.success() && stderr(&out).contains("expired"),
        "{}",
        stderr(&out)
    );
}
