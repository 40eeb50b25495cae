//! The relay on a full disk: it refuses new codes with a clear reason
//! (it will not act unaudited), keeps running sessions forwarding, loses
//! nothing already written, and writes again once space is back. The data
//! directory is a small tmpfs the test mounts (skipped, saying so, where
//! mounting is not allowed).

use std::io::Write;
use std::process::Command;

use lifeline_net::client::{ClientError, HostLink, ViewerLink};
use lifeline_proto::control::{CloseCode, HostEvent, Mode, SessionReport};
use lifeline_tests::{RelayProcess, audit_records, relay_cli};

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Self { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system until it refuses another byte.
fn fill(path: &std::path::Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.flush();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_codes_keeps_sessions_and_recovers() {
    let fs = match Tmpfs::mount("4m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED: cannot mount a small tmpfs here: {why}");
            return;
        }
    };
    let data = fs.dir.path().join("relay");
    let d = data.to_str().unwrap().to_owned();
    let relay = RelayProcess::start(&data, &[]);
    let (rc, token, _) = relay_cli(&["technician", "add", "bob", "--data-dir", &d]);
    assert_eq!(rc, 0);
    let (ca, addr) = (data.join("ca.pem"), relay.addr.to_string());

    // A session running before the disk fills.
    let (mut host, reg) = HostLink::register(&addr, Some(&ca), "pc", "ann")
        .await
        .unwrap();
    let viewer = ViewerLink::join(&addr, Some(&ca), token.trim(), reg.locator)
        .await
        .unwrap();
    assert!(matches!(
        host.next_event().await.unwrap(),
        HostEvent::Paired { .. }
    ));
    let before = audit_records(&data).len();

    let filler = fs.dir.path().join("filler");
    fill(&filler);
    // New hosts are refused, and told why, once the log's last page is
    // full too (a file system full of other data still lets a few records
    // into the page the log already has).
    let mut err = None;
    let mut waiting = Vec::new();
    for _ in 0..200 {
        match HostLink::register(&addr, Some(&ca), "pc2", "cat").await {
            Ok(h) => waiting.push(h),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("the relay kept issuing codes on a full disk");
    match &err {
        ClientError::Closed { code, reason } => {
            assert_eq!(*code, Some(CloseCode::AuditFailed), "{err}");
            assert!(reason.contains("cannot write its audit log"), "{reason}");
        }
        other => panic!("expected the relay to refuse, got {other}"),
    }
    // The running session still forwards.
    let (mut send, _) = host.conn.open_bi().await.unwrap();
    send.write_all(b"still here").await.unwrap();
    send.finish().unwrap();
    let (_, mut recv) = viewer.conn.accept_bi().await.unwrap();
    assert_eq!(recv.read_to_end(100).await.unwrap(), b"still here");

    // Space comes back: the relay writes again, and the log is whole.
    std::fs::remove_file(&filler).unwrap();
    host.report(SessionReport::ModeGranted(Mode::View))
        .await
        .unwrap();
    let (_h2, reg2) = HostLink::register(&addr, Some(&ca), "pc2", "cat")
        .await
        .unwrap();
    assert_ne!(reg2.session, reg.session);
    host.end("ended by the user").await;
    let records = lifeline_tests::poll("the session's end record", || {
        let r = audit_records(&data);
        r.iter()
            .any(|r| {
                matches!(&r.event, lifeline_proto::audit::AuditEvent::SessionEnded { session, .. } if *session == reg.session)
            })
            .then_some(r)
    })
    .await;
    assert!(records.len() > before);
    relay.signal("TERM");
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", &d]);
    assert_eq!(rc, 0, "{out}");
}
