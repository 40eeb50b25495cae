//! The technician's toolkit with the real binaries on Xvfb: the clipboard
//! both ways (checked with xclip on the host's display, Unicode exact),
//! chat both ways, view-only refusing the clipboard, and the audit records
//! of each transfer (never the content).

use std::io::Write;
use std::process::{Command, Output, Stdio};

use lifeline_proto::audit::AuditEvent;
use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::Xvfb;
use lifeline_tests::{RelayProcess, audit_records, bin, relay_cli};

/// The host display's CLIPBOARD text, as another program reads it.
fn xclip_get(display: &str) -> Output {
    Command::new("xclip")
        .args(["-selection", "clipboard", "-o"])
        .env("DISPLAY", display)
        .output()
        .expect("xclip is installed by scripts/install-deps")
}

/// Puts `text` on the host display's CLIPBOARD as another program would
/// (xclip stays in the background serving it).
fn xclip_set(display: &str, text: &str) {
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
        let ca = self.data.path().join("ca.pem");
        HostProcess::spawn(
            &self.relay.addr.to_string(),
            &ca,
            &x.display,
            &["--allow", mode],
        )
    }

    /// The headless viewer running `script` on a thread.
    fn viewer(&self, code: &str, script: &str) -> std::thread::JoinHandle<Output> {
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
        std::thread::spawn(move || cmd.output().unwrap())
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
    let viewer = stack.viewer(
        &code,
        &format!(
            "wait-frame\nclipboard-set {to_host}\nchat Can you see my pointer?\nsleep 4000\nclipboard-get {}\nquit\n",
            clip_file.display()
        ),
    );
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
    xclip_set(&x.display, from_host);

    let out = viewer.join().unwrap();
    assert!(
        out.status.success(),
        "viewer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&clip_file).unwrap(), from_host);
    let evs = events(&out);
    assert!(
        evs.iter()
            .any(|e| e["event"] == "chat" && e["from"] == "user" && e["text"] == "Yes, thank you"),
        "{evs:?}"
    );
    assert!(evs.iter().any(|e| e["event"] == "clipboard"
        && e["direction"] == "to_viewer"
        && e["bytes"] == from_host.len()));
    let got = host.wait_event("clipboard");
    assert_eq!(got["direction"], "to_viewer");
    host.wait_event("ended");
    host.wait_exit();

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
            ("clipboard".into(), "to host".into(), to_host.len() as u64),
            (
                "clipboard".into(),
                "to viewer".into(),
                from_host.len() as u64
            )
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
