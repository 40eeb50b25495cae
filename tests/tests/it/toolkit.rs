//! The technician's toolkit with the real binaries on Xvfb: the clipboard
//! both ways (checked with xclip on the host's display, Unicode exact),
//! chat both ways, files both ways (50 MB, SHA-256 identical, never
//! overwriting, a cut transfer leaving nothing, fetches refused by the
//! user or by policy, names that would escape the folder refused),
//! view-only refusing the clipboard and files, the audit records of
//! each transfer (never the content), and two monitors (Xorg's dummy
//! driver) listed, switched, and the pointer landing on the shown one.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use lifeline_proto::audit::AuditEvent;
use lifeline_tests::peers::{HostProcess, ViewerProcess};
use lifeline_tests::x::Xvfb;
use lifeline_tests::{RelayProcess, audit_records, bin, pattern, poll, relay_cli, wait_for};
use sha2::{Digest, Sha256};

/// The host display's CLIPBOARD text, as another program reads it.
pub(crate) fn xclip_get(display: &str) -> Output {
    Command::new("xclip")
        .args(["-selection", "clipboard", "-o"])
        .env("DISPLAY", display)
        .output()
        .expect("xclip is installed by scripts/install-deps")
}

/// Puts `text` on the host display's CLIPBOARD as another program would
/// (xclip stays in the background serving it).
pub(crate) fn xclip_set(display: &str, text: &str) {
    let mut child = Command::new("xclip")
        .args(["-selection", "clipboard", "-i"])
        .env("DISPLAY", display)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait().unwrap();
}

struct Stack {
    relay: RelayProcess,
    token: String,
    data: tempfile::TempDir,
}

impl Stack {
    fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        let relay = RelayProcess::start(data.path(), &[]);
        let d = data.path().to_str().unwrap();
        let (_, token, _) = relay_cli(&["technician", "add", "tess", "--data-dir", d]);
        Self {
            relay,
            token: token.trim().to_owned(),
            data,
        }
    }

    fn host(&self, x: &Xvfb, mode: &str) -> HostProcess {
        self.host_with(x, &["--allow", mode])
    }

    fn host_with(&self, x: &Xvfb, args: &[&str]) -> HostProcess {
        let ca = self.data.path().join("ca.pem");
        HostProcess::spawn(&self.relay.addr.to_string(), &ca, &x.display, args)
    }

    /// The headless viewer running `script` on a thread.
    fn viewer(&self, code: &str, script: &str) -> std::thread::JoinHandle<Output> {
        let mut cmd = self.viewer_command(code, script);
        std::thread::spawn(move || cmd.output().unwrap())
    }

    /// The headless viewer running `script`, its events read as they come.
    fn viewer_live(&self, code: &str, script: &str) -> ViewerProcess {
        ViewerProcess::spawn(self.viewer_command(code, script))
    }

    fn viewer_command(&self, code: &str, script: &str) -> Command {
        let path = self.data.path().join(format!("script-{code}.txt"));
        std::fs::write(&path, script).unwrap();
        let mut cmd = Command::new(bin("lifeline-viewer"));
        cmd.args(["--relay", &self.relay.addr.to_string(), "--ca"])
            .arg(self.data.path().join("ca.pem"))
            .args([
                "--token",
                &self.token,
                "--code",
                code,
                "--headless",
                "--json",
            ])
            .arg("--script")
            .arg(path);
        cmd
    }
}

fn events(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn clipboard_and_chat_go_both_ways_and_are_audited_without_content() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let stack = Stack::start();
    let mut host = stack.host(&x, "control");
    let code = host.code().to_string();
    let to_host = "Grüße, 世界 ✓ — licence KEY-1234";
    let from_host = "error: ü 日本 ✗ (line 2)";
    let clip_file = stack.data.path().join("clip.txt");
    // The user copied something before the technician asks for it; the
    // viewer stays connected after its chat until the user's answer came.
    xclip_set(&x.display, from_host);
    let mut viewer = stack.viewer_live(
        &code,
        &format!(
            "wait-frame\nclipboard-get {}\nclipboard-set {to_host}\nchat Can you see my pointer?\nsleep 30000\n",
            clip_file.display()
        ),
    );
    let got = host.wait_event("clipboard");
    assert_eq!(got["direction"], "to_viewer");
    let fetched = viewer.wait_event("clipboard");
    assert_eq!(fetched["direction"], "to_viewer");
    assert_eq!(fetched["bytes"], from_host.len());
    assert_eq!(std::fs::read_to_string(&clip_file).unwrap(), from_host);
    let set = host.wait_event("clipboard");
    assert_eq!(set["direction"], "to_host");
    assert_eq!(set["bytes"], to_host.len());
    let seen = xclip_get(&x.display);
    assert_eq!(
        String::from_utf8_lossy(&seen.stdout),
        to_host,
        "exact on the host"
    );
    let chat = host.wait_event("chat");
    assert_eq!(chat["from"], "technician");
    assert_eq!(chat["text"], "Can you see my pointer?");
    writeln!(host.stdin.as_mut().unwrap(), "Yes, thank you").unwrap();
    let answer = loop {
        let chat = viewer.wait_event("chat");
        if chat["from"] == "user" {
            break chat;
        }
    };
    assert_eq!(answer["text"], "Yes, thank you", "{answer}");

    // Heard: the user ends the session.
    host.interrupt();
    assert_eq!(host.wait_event("ended")["reason"], "ended by the user");
    host.wait_exit();
    let (status, stderr, _) = viewer.wait_output();
    assert!(!status.success(), "the script was cut short");
    assert!(stderr.contains("ended by the user"), "{stderr}");

    let recs = audit_records(stack.data.path());
    let transfers: Vec<(String, String, u64)> = recs
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::Transfer {
                kind,
                direction,
                bytes,
                ..
            } => Some((kind.clone(), direction.clone(), *bytes)),
            _ => None,
        })
        .collect();
    assert_eq!(
        transfers,
        [
            (
                "clipboard".into(),
                "to viewer".into(),
                from_host.len() as u64
            ),
            ("clipboard".into(), "to host".into(), to_host.len() as u64),
        ]
    );
    let log = std::fs::read_to_string(stack.data.path().join("audit.jsonl")).unwrap();
    for secret in ["KEY-1234", "日本", "pointer", "thank you"] {
        assert!(!log.contains(secret), "the audit log holds {secret:?}");
    }
}

#[test]
fn view_only_refuses_the_clipboard_both_ways() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let stack = Stack::start();
    xclip_set(&x.display, "the user's own text");
    for (script, what) in [
        ("wait-frame\nclipboard-set from the technician\n", "set"),
        ("wait-frame\nclipboard-get /tmp/never.txt\n", "get"),
    ] {
        let host = stack.host(&x, "view");
        let code = host.code().to_string();
        let out = stack.viewer(&code, script).join().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("the host refused: the user allowed view only"),
            "{what}: {err}"
        );
        drop(host);
    }
    let still = xclip_get(&x.display);
    assert_eq!(
        String::from_utf8_lossy(&still.stdout),
        "the user's own text",
        "nothing was put on the clipboard"
    );
    assert!(!std::path::Path::new("/tmp/never.txt").exists());
}

fn sha(path: &std::path::Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn files_go_both_ways_exactly_and_are_never_overwritten() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let stack = Stack::start();
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("Downloads");
    let big = work.path().join("big.bin");
    std::fs::write(&big, pattern(7, 50 * 1024 * 1024)).unwrap();
    let remote = work.path().join("user-log.txt");
    std::fs::write(&remote, pattern(8, 3 * 1024 * 1024 + 17)).unwrap();
    let fetched = work.path().join("fetched.txt");
    let dl = downloads.display().to_string();
    let mut host = stack.host_with(
        &x,
        &[
            "--allow",
            "control",
            "--allow-fetch",
            "yes",
            "--download-dir",
            &dl,
        ],
    );
    let code = host.code().to_string();
    let out = stack
        .viewer(
            &code,
            &format!(
                "wait-frame\nput {}\nput {}\nget {} {}\nquit\n",
                big.display(),
                big.display(),
                remote.display(),
                fetched.display()
            ),
        )
        .join()
        .unwrap();
    assert!(
        out.status.success(),
        "viewer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let evs = events(&out);
    let puts: Vec<&serde_json::Value> = evs.iter().filter(|e| e["event"] == "put").collect();
    assert_eq!(puts.len(), 2, "{evs:?}");
    let first = downloads.join("big.bin");
    let second = downloads.join("big (1).bin");
    assert_eq!(puts[0]["path"], first.display().to_string());
    assert_eq!(
        puts[1]["path"],
        second.display().to_string(),
        "never overwritten"
    );
    for saved in [&first, &second] {
        assert_eq!(sha(saved), sha(&big), "{}", saved.display());
    }
    assert_eq!(sha(&fetched), sha(&remote));
    let leftovers: Vec<_> = std::fs::read_dir(&downloads)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    let progress = host.wait_event("file_progress");
    assert_eq!(progress["direction"], "to_host");
    assert_eq!(progress["of"], 50 * 1024 * 1024);
    let received = host.wait_event("file_received");
    assert_eq!(received["path"], first.display().to_string());
    assert_eq!(received["sha256"], sha(&big));
    host.wait_event("file_received");
    let sent = host.wait_event("file_sent");
    assert_eq!(sent["path"], remote.display().to_string());
    host.wait_event("ended");
    host.wait_exit();

    let recs = audit_records(stack.data.path());
    let files: Vec<(String, u64, Option<String>, Option<String>)> = recs
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::Transfer {
                kind,
                direction,
                bytes,
                name,
                sha256,
                ..
            } if kind == "file" => Some((direction.clone(), *bytes, name.clone(), sha256.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(files[0].0, "to host");
    assert_eq!(files[0].1, 50 * 1024 * 1024);
    assert_eq!(files[0].3.as_deref(), Some(sha(&big).as_str()));
    assert_eq!(files[2].0, "to viewer");
    assert_eq!(
        files[2].2.as_deref(),
        Some(remote.display().to_string().as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_transfer_leaves_nothing_and_fetches_and_view_only_are_refused() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let stack = Stack::start();
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("Downloads");
    let dl = downloads.display().to_string();
    let big = work.path().join("big.bin");
    std::fs::write(&big, pattern(9, 50 * 1024 * 1024)).unwrap();

    // Cut half way: the viewer is killed while the file flows. The user's
    // side keeps the hidden partial file while the session may resume (a
    // short window here), and removes it when the session ends.
    let host = stack.host_with(
        &x,
        &[
            "--allow",
            "control",
            "--download-dir",
            &dl,
            "--resume-window",
            "2s",
        ],
    );
    let code = host.code().to_string();
    let script = stack.data.path().join("cut.txt");
    std::fs::write(&script, format!("wait-frame\nput {}\n", big.display())).unwrap();
    let mut viewer = Command::new(bin("lifeline-viewer"))
        .args(["--relay", &stack.relay.addr.to_string(), "--ca"])
        .arg(stack.data.path().join("ca.pem"))
        .args([
            "--token",
            &stack.token,
            "--code",
            &code,
            "--headless",
            "--script",
        ])
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let part = downloads.join(".lifeline-1.part");
    poll("the transfer to be under way", || {
        let len = std::fs::metadata(&part).ok()?.len();
        (len > 1024 * 1024).then_some(())
    })
    .await;
    viewer.kill().unwrap();
    viewer.wait().unwrap();
    poll("the partial file to be removed", || {
        (!part.exists()).then_some(())
    })
    .await;
    let left: Vec<_> = std::fs::read_dir(&downloads).unwrap().collect();
    assert!(left.is_empty(), "a cut transfer left {left:?}");
    drop(host);

    // A fetch the user refuses, then one the policy refuses.
    let remote = work.path().join("private.txt");
    std::fs::write(&remote, "private").unwrap();
    let mut host = stack.host_with(&x, &["--allow", "control", "--allow-fetch", "ask"]);
    let code = host.code().to_string();
    let fetched = work.path().join("never.txt");
    let viewer = stack.viewer(
        &code,
        &format!(
            "wait-frame\nget {} {}\n",
            remote.display(),
            fetched.display()
        ),
    );
    let asked = host.wait_event("fetch_request");
    assert_eq!(asked["path"], remote.display().to_string());
    writeln!(host.stdin.as_mut().unwrap(), "n").unwrap();
    let out = viewer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("the user refused to send"),
        "{err}"
    );
    assert!(!fetched.exists());
    drop(host);
    for (args, why) in [
        (
            vec!["--allow", "control", "--allow-fetch", "no"],
            "does not allow fetching",
        ),
        (vec!["--allow", "view", "--allow-fetch", "yes"], "view only"),
    ] {
        let host = stack.host_with(&x, &args);
        let code = host.code().to_string();
        let out = stack
            .viewer(
                &code,
                &format!(
                    "wait-frame\nget {} {}\n",
                    remote.display(),
                    fetched.display()
                ),
            )
            .join()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "{why}: {err}");
        assert!(!fetched.exists());
    }
    // View only: no put either.
    let host = stack.host_with(&x, &["--allow", "view", "--download-dir", &dl]);
    let code = host.code().to_string();
    let out = stack
        .viewer(&code, &format!("wait-frame\nput {}\n", remote.display()))
        .join()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("view only"), "{err}");
    assert!(std::fs::read_dir(&downloads).unwrap().next().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_would_leave_the_download_folder_are_refused() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let stack = Stack::start();
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("a/b/Downloads");
    let dl = downloads.display().to_string();
    let _host = stack.host_with(&x, &["--allow", "control", "--download-dir", &dl]);
    let code = _host.code();
    let ca = stack.data.path().join("ca.pem");
    let v = lifeline_viewer::session::Viewer::connect(
        &stack.relay.addr.to_string(),
        Some(&ca),
        &stack.token,
        &code,
        |_| {},
    )
    .await
    .unwrap();
    let payload = work.path().join("payload");
    std::fs::write(&payload, "owned").unwrap();
    for evil in [
        "../../etc/passwd",
        "../escape.txt",
        "/tmp/lifeline-evil",
        "x/../../y",
    ] {
        let r = v.put_file(&payload, evil).await;
        match r {
            Err(lifeline_viewer::session::ViewerError::Refused(why)) => {
                assert!(why.contains("out of the download folder"), "{evil}: {why}");
            }
            other => panic!("{evil}: {other:?}"),
        }
    }
    assert!(!work.path().join("a/escape.txt").exists());
    assert!(!work.path().join("a/b/escape.txt").exists());
    assert!(!std::path::Path::new("/tmp/lifeline-evil").exists());
    // A plain name and a sub-folder are fine.
    let ok = v.put_file(&payload, "logs/today.txt").await.unwrap();
    assert_eq!(
        ok.path,
        downloads.join("logs/today.txt").display().to_string()
    );
    v.disconnect("done").await;
}

/// `(x, y, w, h)` of `img`.
fn crop(img: &lifeline_session::screen::Image, (x, y, w, h): (u32, u32, u32, u32)) -> Vec<u32> {
    (y..y + h)
        .flat_map(|row| {
            let at = (row * img.width + x) as usize;
            img.pixels[at..at + w as usize].to_vec()
        })
        .collect()
}

#[test]
fn monitors_are_listed_switched_and_the_pointer_lands_on_the_shown_one() {
    use lifeline_tests::x::{TWO_MONITORS, load_png, pattern_image};
    if lifeline_tests::x::skip_without_xvfb() || lifeline_tests::x::skip_without_xorg_dummy() {
        return;
    }
    let x = Xvfb::start_two_monitors();
    // Different pixels near each monitor's corner, and across the seam.
    let _a = x.show(0, 0, &pattern_image(300, 200, 1));
    let _b = x.show(1280, 0, &pattern_image(300, 200, 2));
    let _seam = x.show(1180, 400, &pattern_image(200, 100, 3));
    let stack = Stack::start();
    let mut host = stack.host(&x, "control");
    let code = host.code().to_string();
    let dir = stack.data.path();
    let shot = |n: &str| dir.join(format!("{n}.png"));
    let script = format!(
        "wait-frame\nmonitors\nscreenshot {}\nmonitor 1\nwait-frame\nscreenshot {}\n\
         monitor all\nwait-frame\nscreenshot {}\nmonitor 2\nwait-frame\nmove 5 6\nmonitor 3\n",
        shot("primary").display(),
        shot("first").display(),
        shot("all").display(),
    );
    let out = stack.viewer(&code, &script).join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "monitor 3 is refused");
    assert!(
        stderr.contains("line 13") && stderr.contains("there is no monitor 3"),
        "{stderr}"
    );
    let evs = events(&out);
    let listed = evs.iter().find(|e| e["event"] == "monitors").unwrap();
    let monitors = listed["monitors"].as_array().unwrap();
    assert_eq!(monitors.len(), 2, "{listed}");
    for (m, (name, mx, my, w, h)) in monitors.iter().zip(TWO_MONITORS) {
        assert_eq!(m["name"], name);
        assert_eq!(
            (m["x"].as_u64(), m["y"].as_u64()),
            (Some(mx.into()), Some(my.into()))
        );
        assert_eq!(
            (m["width"].as_u64(), m["height"].as_u64()),
            (Some(w.into()), Some(h.into()))
        );
    }
    assert_eq!(monitors[1]["primary"], true);
    assert_eq!(listed["shown"], 2, "the primary is shown first");
    let switches: Vec<_> = evs
        .iter()
        .filter(|e| e["event"] == "monitor")
        .map(|e| e["shown"].clone())
        .collect();
    assert_eq!(switches, [serde_json::json!(1), "all".into(), 2.into()]);

    // Each screenshot is exactly its part of the X screen.
    let screen = x.screenshot();
    let rect = |i: usize| {
        let (_, mx, my, w, h) = TWO_MONITORS[i];
        (mx, my, w, h)
    };
    for (name, part) in [
        ("primary", rect(1)),
        ("first", rect(0)),
        ("all", (0, 0, x.width, x.height)),
    ] {
        let got = load_png(&shot(name));
        assert_eq!((got.width, got.height), (part.2, part.3), "{name}");
        assert!(
            got.pixels == crop(&screen, part),
            "{name} differs from the X screen"
        );
    }
    // The technician's (5, 6) on monitor 2 is (1285, 6) on the screen
    // (moved by the host's input thread, maybe just after the end).
    wait_for("the pointer on monitor 2", || {
        (x.pointer() == (1285, 6)).then_some(())
    });
    host.wait_event("ended");
    host.wait_exit();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn either_side_cancels_a_transfer_and_nothing_is_left() {
    use lifeline_session::files::{CANCELLED_BY_TECHNICIAN, CANCELLED_BY_USER};
    use lifeline_viewer::session::{Viewer, ViewerError};
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let stack = Stack::start();
    let work = tempfile::tempdir().unwrap();
    let downloads = work.path().join("Downloads");
    let dl = downloads.display().to_string();
    let big = work.path().join("big.bin");
    std::fs::write(&big, pattern(13, 200 * 1024 * 1024)).unwrap();
    let mut host = stack.host_with(
        &x,
        &[
            "--allow",
            "control",
            "--download-dir",
            &dl,
            "--allow-fetch",
            "yes",
        ],
    );
    let code = host.code();
    let addr = stack.relay.addr.to_string();
    let ca = stack.data.path().join("ca.pem");
    let v = std::sync::Arc::new(
        Viewer::connect(&addr, Some(&ca), &stack.token, &code, |_| {})
            .await
            .unwrap(),
    );
    let fetched = work.path().join("fetched.bin");
    let fetch_part = work.path().join("fetched.bin.lifeline-part");
    // (put?, the user cancels?), each cut once the data flows.
    for (n, (put, by_user)) in [(true, true), (true, false), (false, true), (false, false)]
        .into_iter()
        .enumerate()
    {
        let (v2, src, dst) = (v.clone(), big.clone(), fetched.clone());
        let task = tokio::spawn(async move {
            if put {
                v2.put_file(&src, "big.bin").await.map(|_| ())
            } else {
                v2.get(&src.display().to_string(), &dst).await.map(|_| ())
            }
        });
        let part = if put {
            downloads.join(format!(".lifeline-{}.part", n + 1))
        } else {
            fetch_part.clone()
        };
        poll("the transfer to be under way", || {
            let len = std::fs::metadata(&part).ok()?.len();
            (len > 4 * 1024 * 1024).then_some(())
        })
        .await;
        if by_user {
            writeln!(host.stdin.as_mut().unwrap(), "/cancel").unwrap();
        } else {
            v.cancel_transfers();
        }
        let why = if by_user {
            CANCELLED_BY_USER
        } else {
            CANCELLED_BY_TECHNICIAN
        };
        match tokio::time::timeout(std::time::Duration::from_secs(30), task)
            .await
            .expect("the cancel took effect")
            .unwrap()
        {
            Err(ViewerError::Stopped(said)) => assert_eq!(said, why, "case {n}"),
            other => panic!("case {n}: expected a stop, got {other:?}"),
        }
        let stopped = host.wait_event("file_stopped");
        assert_eq!(stopped["reason"], why, "case {n}");
        let direction = if put { "to_host" } else { "to_viewer" };
        assert_eq!(stopped["direction"], direction, "case {n}");
        poll("the partial file to go", || (!part.exists()).then_some(())).await;
        assert!(!fetched.exists(), "case {n}");
        let left: Vec<_> = std::fs::read_dir(&downloads).unwrap().collect();
        assert!(left.is_empty(), "case {n} left {left:?}");
    }
    // The session goes on: a small put after the cancels arrives whole.
    let small = work.path().join("small.txt");
    std::fs::write(&small, "after").unwrap();
    let moved = v.put_file(&small, "small.txt").await.unwrap();
    assert_eq!(std::fs::read_to_string(&moved.path).unwrap(), "after");
    v.disconnect("done").await;
    host.wait_event("ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplugging_a_monitor_mid_session_shows_the_smaller_screen() {
    use lifeline_session::messages::Showing;
    use std::time::Duration;
    if lifeline_tests::x::skip_without_xvfb() || lifeline_tests::x::skip_without_xorg_dummy() {
        return;
    }
    let x = Xvfb::start_two_monitors();
    let _a = x.show(0, 0, &lifeline_tests::x::pattern_image(300, 200, 4));
    let stack = Stack::start();
    let host = stack.host(&x, "control");
    let code = host.code();
    let addr = stack.relay.addr.to_string();
    let ca = stack.data.path().join("ca.pem");
    let v =
        lifeline_viewer::session::Viewer::connect(&addr, Some(&ca), &stack.token, &code, |_| {})
            .await
            .unwrap();
    v.settle(Duration::from_millis(300), Duration::from_secs(20))
        .await
        .unwrap();
    v.show(Showing::All).await.unwrap();
    poll("the whole desktop", || {
        let img = v.image()?;
        ((img.width, img.height) == (2304, 768)).then_some(())
    })
    .await;
    // The laptop is undocked: the second monitor goes, the screen shrinks.
    let ok = Command::new("xrandr")
        .args(["--output", "DUMMY1", "--off", "--fb", "1280x720"])
        .env("DISPLAY", &x.display)
        .status()
        .unwrap()
        .success();
    assert!(ok, "xrandr could not unplug the monitor");
    poll("the smaller screen", || {
        let img = v.image()?;
        let screens = v.screens()?;
        ((img.width, img.height) == (1280, 720) && screens.monitors.len() == 1).then_some(())
    })
    .await;
    v.settle(Duration::from_millis(300), Duration::from_secs(20))
        .await
        .unwrap();
    let now = Xvfb::attach(&x.display, 1280, 720).screenshot();
    assert!(
        v.image().unwrap() == now,
        "the viewer shows the screen as it is now"
    );
    v.disconnect("done").await;
}
