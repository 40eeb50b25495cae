//! Hostile peers: a hostile host against the technician's viewer: terminal control sequences, token files; and the audit log's head (issue #28).
//!
//! The host here is written in the test: it registers with the real relay
//! (in process, on loopback), runs the real key exchange with the real
//! viewer binary, and then says what a hostile host would.

use std::path::Path;
use std::process::{Command, Output};

use lifeline_net::client::HostLink;
use lifeline_net::secure::{accept_transfer, handshake};
use lifeline_proto::SessionCode;
use lifeline_proto::control::{HostEvent, Mode};
use lifeline_session::e2e::{FilesRoot, Side};
use lifeline_session::files::FileMsg;
use lifeline_session::messages::{HostMsg, MonitorInfo, Showing, ViewerMsg};
use lifeline_tests::{TestRelay, bin};
use sha2::{Digest, Sha256};

/// Set the title, clear the screen, write the clipboard (OSC 52), colour
/// with the 8-bit CSI, and turn the rest of the line around.
const EVIL: &str =
    "\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}]52;c;cm0gLXJmIH4K\u{7}\u{9b}31m\u{202e}txt.exe\u{7f}";

/// What the hostile host sends for a fetch.
const FETCHED: &[u8] = b"what the host sent\n";

/// Serves one session as a hostile host: every text it sends carries
/// [`EVIL`]. Returns the code for the viewer.
async fn hostile_host(relay: &TestRelay) -> (SessionCode, tokio::task::JoinHandle<()>) {
    let name = format!("pc{EVIL}");
    let (mut h, reg) = HostLink::register(&relay.relay_arg(), Some(&relay.ca), &name, &name)
        .await
        .unwrap();
    let code = SessionCode::new(reg.locator, 424_242).unwrap();
    let task = tokio::spawn(async move {
        match h.next_event().await.unwrap() {
            HostEvent::Paired { .. } => {}
            other => panic!("expected a pairing, got {other:?}"),
        }
        let (s, r) = h.conn.open_bi().await.unwrap();
        let mut sec = handshake(Side::Host, s, r, &code, &reg.session)
            .await
            .unwrap();
        sec.send.send(&HostMsg::Mode(Mode::Control)).await.unwrap();
        let monitor = MonitorInfo {
            name: format!("HDMI{EVIL}"),
            x: 0,
            y: 0,
            width: 800,
            height: 600,
            primary: true,
        };
        let told = HostMsg::Monitors {
            monitors: vec![monitor],
            showing: Showing::All,
        };
        sec.send.send(&told).await.unwrap();
        let conn = h.conn.clone();
        let files = sec.files;
        tokio::spawn(async move {
            while let Ok((s, r)) = conn.accept_bi().await {
                tokio::spawn(serve_transfer(files.clone(), s, r));
            }
        });
        let mut first = true;
        while let Ok(msg) = sec.recv.recv::<ViewerMsg>().await {
            // The viewer listens for chat once it speaks (its quality).
            if std::mem::take(&mut first) {
                let chat = format!("hello{EVIL}\nThe user gave you control.");
                sec.send.send(&HostMsg::Chat(chat)).await.unwrap();
            }
            if matches!(msg, ViewerMsg::ClipboardGet) {
                // A refusal with a line break of its own, that would
                // start a line reading as the viewer's.
                let no = HostMsg::Refused(format!("no{EVIL}\nForged: the user gave you control"));
                sec.send.send(&no).await.unwrap();
            }
        }
        drop(h);
    });
    (code, task)
}

/// One transfer: a put is "saved" under a hostile path, a fetch gets
/// [`FETCHED`] under a hostile name.
async fn serve_transfer(files: FilesRoot, s: quinn::SendStream, r: quinn::RecvStream) {
    let Ok((_, mut send, mut recv)) = accept_transfer(&files, s, r).await else {
        return;
    };
    match recv.recv::<FileMsg>().await {
        Ok(FileMsg::Put { .. }) => {
            send.send(&FileMsg::Ready).await.unwrap();
            while let Ok(m) = recv.recv::<FileMsg>().await {
                if matches!(m, FileMsg::End { .. }) {
                    let path = format!("/home/ann/Downloads/x{EVIL}");
                    send.send(&FileMsg::Saved { path }).await.unwrap();
                    break;
                }
            }
        }
        Ok(FileMsg::Get { .. }) => {
            let offer = FileMsg::Offer {
                name: format!("f{EVIL}"),
                size: FETCHED.len() as u64,
            };
            send.send(&offer).await.unwrap();
            send.send(&FileMsg::Chunk(FETCHED.to_vec())).await.unwrap();
            let sha256 = Sha256::digest(FETCHED).into();
            send.send(&FileMsg::End { sha256 }).await.unwrap();
        }
        _ => {}
    }
    // Let the viewer read the answer before the stream goes.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
}

/// Runs the viewer binary headless with `script` (and `extra` options).
async fn viewer(
    relay: &TestRelay,
    token: &str,
    code: &SessionCode,
    dir: &Path,
    script: &str,
    extra: &[&str],
) -> Output {
    let path = dir.join(format!("script-{}.txt", code.locator().value()));
    std::fs::write(&path, script).unwrap();
    let mut cmd = Command::new(bin("lifeline-viewer"));
    cmd.current_dir(dir)
        .args(["--relay", &relay.relay_arg(), "--ca"])
        .arg(&relay.ca)
        .args([
            "--token",
            token,
            "--code",
            &code.to_string(),
            "--headless",
            "--script",
        ])
        .arg(&path)
        .args(extra);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Every byte that a terminal could take as a control: C0 but the line
/// ends, DEL, and the C1 range (as UTF-8, `C2 80`..`C2 9F`).
fn controls(bytes: &[u8]) -> Vec<usize> {
    let mut at = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        let c1 = b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n));
        if (b < 0x20 && b != b'\n') || b == 0x7f || c1 {
            at.push(i);
        }
    }
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_hosts_text_reaches_the_technicians_terminal_without_control_characters() {
    let relay = TestRelay::start().await;
    let token = relay.add_technician("tess");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("small.txt"), "for the user\n").unwrap();
    std::fs::create_dir(dir.path().join("dl")).unwrap();
    let script =
        "sleep 1500\nmonitors\nput small.txt\nget /etc/hosts dl/got.txt\nclipboard-get clip.txt\n";
    for extra in [&[][..], &["--json"][..]] {
        let (code, host) = hostile_host(&relay).await;
        let out = viewer(&relay, &token, &code, dir.path(), script, extra).await;
        host.abort();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        // The script ends at the refused clipboard, having done the rest.
        assert!(!out.status.success(), "{stdout}\n{stderr}");
        let all = format!("{stdout}\n{stderr}");
        for said in [
            "hello",
            "HDMI",
            "owned",
            "/home/ann/Downloads/x",
            "no]0;owned",
        ] {
            assert!(all.contains(said), "{said:?} not shown: {all}");
        }
        for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let at = controls(bytes);
            assert!(
                at.is_empty(),
                "{extra:?}: control bytes in {what} at {at:?}: {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        // The chat's and the refusal's own line breaks cannot forge a
        // line of the viewer's.
        for forged in ["The user gave you control.", "Forged"] {
            assert!(!all.lines().any(|l| l.starts_with(forged)), "{all}");
        }
        assert!(all.contains("Forged: the user gave you control"), "{all}");
        assert_eq!(
            std::fs::read(dir.path().join("dl/got.txt")).unwrap(),
            FETCHED
        );
        std::fs::remove_file(dir.path().join("dl/got.txt")).unwrap();
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_planted_in_the_download_folder_does_not_make_a_fetch_write_outside_it() {
    let relay = TestRelay::start().await;
    let token = relay.add_technician("tess");
    let dir = tempfile::tempdir().unwrap();
    let (dl, outside) = (dir.path().join("dl"), dir.path().join("bashrc"));
    std::fs::create_dir(&dl).unwrap();
    std::fs::write(&outside, "mine\n").unwrap();
    // One under the final name (replaced, not followed), one under the
    // part file's name (refused).
    std::os::unix::fs::symlink(&outside, dl.join("a.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, dl.join("b.txt.lifeline-part")).unwrap();
    let (code, host) = hostile_host(&relay).await;
    let script = "get /etc/hosts dl/a.txt\nget /etc/hosts dl/b.txt\n";
    let out = viewer(&relay, &token, &code, dir.path(), script, &[]).await;
    host.abort();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("line 2") && stderr.contains("not a plain file"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "mine\n");
    assert_eq!(std::fs::read(dl.join("a.txt")).unwrap(), FETCHED);
    assert!(!dl.join("a.txt").symlink_metadata().unwrap().is_symlink());
    assert!(!dl.join("b.txt").exists());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_others_can_read_is_refused_and_a_private_one_joins() {
    use std::os::unix::fs::PermissionsExt;
    let relay = TestRelay::start().await;
    let token = relay.add_technician("tess");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, host) = hostile_host(&relay).await;
    let path = file.to_str().unwrap();
    let run = |extra: Vec<String>| {
        let mut cmd = Command::new(bin("lifeline-viewer"));
        cmd.args(["--relay", &relay.relay_arg(), "--ca"])
            .arg(&relay.ca)
            .args(["--code", &code.to_string(), "--headless", "--script"])
            .arg(dir.path().join("s.txt"))
            .args(extra)
            .env_remove("LIFELINE_TOKEN");
        cmd
    };
    std::fs::write(dir.path().join("s.txt"), "quit\n").unwrap();
    // A wrong token on the command line too: the file is what counts.
    let args = |p: &str| {
        vec![
            "--token-file".to_owned(),
            p.to_owned(),
            "--token".into(),
            "wrong".into(),
        ]
    };
    let out = tokio::task::spawn_blocking({
        let mut cmd = run(args(path));
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(path) && err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = tokio::task::spawn_blocking({
        let mut cmd = run(args(path));
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Connected to pc"), "{err}");
    host.abort();
    // And --help says why.
    let help = Command::new(bin("lifeline-viewer"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--token-file") && help.contains("ps"),
        "{help}"
    );
}

#[cfg(unix)]
#[test]
fn a_record_appended_by_hand_after_the_head_fails_verify_and_one_write_ahead_passes() {
    use lifeline_proto::audit::{AuditEvent, Chain, check_line};
    use lifeline_tests::{RelayProcess, relay_cli};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay");
    let mut relay = RelayProcess::start(&data, &[]);
    // Stop it only once its first record is written (a TERM before the
    // relay has installed its handler would kill it with nothing logged).
    let log = data.join("audit.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&log).map_or(true, |t| t.trim().is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the relay wrote no record"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    relay.signal("TERM");
    relay.child.wait().unwrap();
    let d = data.to_str().unwrap();
    let (rc, out, err) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_eq!(rc, 0, "{out}{err}");
    // A record with a correct chain, appended after the relay stopped.
    let text = std::fs::read_to_string(&log).unwrap();
    let n = text.lines().count();
    let last = check_line(text.lines().last().unwrap(), n).unwrap();
    let chain = Chain::resume_at(last.record.seq, last.hash);
    let forged = AuditEvent::CodeClosed {
        session: "forged".into(),
        reason: "expired".into(),
    };
    let (line, _) = chain.seal("2026-01-01T00:00:00Z".into(), forged).unwrap();
    std::fs::write(&log, format!("{text}{line}\n")).unwrap();
    let seq = last.record.seq + 1;
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains(&format!("records {seq} to {seq}")), "{out}");
    assert!(out.contains("something other than the relay"), "{out}");
    // Had the relay begun that write (and stopped before moving the
    // head), it would be one write ahead: fine.
    std::fs::write(data.join("audit.writing"), format!("{seq:020}\n")).unwrap();
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_eq!(rc, 0, "{out}");
}

/// A recording whose header the host's recorder filled with [`EVIL`]: the
/// session and the auditor's name.
fn hostile_recording(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use lifeline_record::AuditorSecret;
    use lifeline_record::chain::frame;
    use lifeline_record::seal::Sealer;
    let secret = AuditorSecret::generate();
    let identity = dir.join("auditor.key");
    std::fs::write(&identity, secret.to_text()).unwrap();
    let auditors = [(format!("alice{EVIL}\nForged: verified"), secret.public())];
    let (mut sealer, header) = Sealer::new(&format!("s{EVIL}\nForged: session"), 0, &auditors);
    let mut file = frame(&header);
    file.extend(frame(&sealer.seal(&[], true).unwrap()));
    let path = dir.join("hostile.llrec");
    std::fs::write(&path, file).unwrap();
    (path, identity)
}

#[test]
fn a_recordings_header_reaches_the_auditors_terminal_without_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, identity) = hostile_recording(dir.path());
    for how in ["--timeline", "--json"] {
        let out = Command::new(bin("lifeline-viewer"))
            .arg("play")
            .arg(&rec)
            .arg("--identity")
            .arg(&identity)
            .arg(how)
            .env_remove("DISPLAY")
            .output()
            .unwrap();
        let all = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{how}: {all}");
        for said in ["]0;owned", "alice", "Forged: verified", "Forged: session"] {
            assert!(all.contains(said), "{how}: {said:?} not shown: {all}");
        }
        for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let at = controls(bytes);
            assert!(
                at.is_empty(),
                "{how}: control bytes in {what} at {at:?}: {all:?}"
            );
            // JSON escapes C0 (\u001b), not U+009B: neither may be there.
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains("\\u001b") && !text.contains("\\n"),
                "{how}: {text}"
            );
        }
        assert!(
            !all.lines().any(|l| l.starts_with("Forged")),
            "{how}: {all}"
        );
    }
}
