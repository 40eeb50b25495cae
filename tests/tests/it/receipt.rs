//! The user's receipt (issue #34), with the real binaries on Xvfb: after
//! a session with a reason, a file put, a clipboard copy and a chat, the
//! host writes a receipt in its receipts folder and says where (`receipt`
//! event); it lists all of them (the file's SHA-256 as the file's), and
//! the relay's audit records of the session as acknowledged to the host.
//! `lifeline-relay audit verify-receipt` passes it against the log, and
//! fails it against a copy of the log with one of those records altered,
//! naming that record.

use std::process::Stdio;

use lifeline_proto::audit::AuditEvent;
use lifeline_proto::receipt::{Happened, Receipt};
use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::Xvfb;
use lifeline_tests::{audit_records, pattern, relay_cli};
use sha2::{Digest, Sha256};

use crate::session::{Stack, stderr};

const CLIP: &str = "licence KEY-1234 ✓";

#[test]
fn a_receipt_lists_what_happened_and_verifies_until_the_log_is_altered() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let stack = Stack::start();
    let work = tempfile::tempdir().unwrap();
    let receipts = work.path().join("receipts");
    let downloads = work.path().join("Downloads");
    let file = work.path().join("report.txt");
    let body = pattern(3, 100_000);
    std::fs::write(&file, &body).unwrap();
    let dl = downloads.display().to_string();
    let mut host = HostProcess::spawn_env(
        &stack.addr(),
        &stack.ca(),
        &x.display,
        &["--allow", "control", "--download-dir", &dl],
        Stdio::inherit(),
        &[("LIFELINE_RECEIPTS", receipts.to_str().unwrap())],
    );
    let code = host.code().to_string();
    // The viewer lingers after its last step, so the relay's word on the
    // last record reaches the host before the session ends.
    let script = format!(
        "wait-frame\nput {}\nclipboard-set {CLIP}\nchat hello from the technician\nsleep 1500\nquit\n",
        file.display()
    );
    let mut viewer = stack.viewer_command(&code, &script, None);
    viewer.args(["--reason", "INC-7, printer"]);
    let out = viewer.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let said = host.wait_event("receipt");
    let path = std::path::PathBuf::from(said["path"].as_str().unwrap());
    assert!(path.starts_with(&receipts), "{said}");
    assert!(host.wait_exit().success());

    let text = std::fs::read_to_string(&path).unwrap();
    let r = Receipt::from_text(&text).unwrap();
    assert_eq!(
        (r.technician.as_str(), r.reason.as_deref(), r.relay.as_str()),
        ("alice", Some("INC-7, printer"), stack.addr().as_str())
    );
    let file_hash = hex::encode(Sha256::digest(&body));
    let mut saw = (false, false, false, false);
    for e in &r.events {
        match e {
            Happened::Mode { mode, .. } if mode == "control" => saw.0 = true,
            Happened::Transfer {
                what,
                direction,
                bytes,
                name,
                sha256,
                ..
            } if what == "file" => {
                assert_eq!(direction, "to host");
                assert_eq!(*bytes, body.len() as u64);
                // Where the user's machine saved it.
                let saved = std::path::PathBuf::from(name.as_deref().unwrap());
                assert_eq!(saved, downloads.join("report.txt"));
                assert_eq!(std::fs::read(&saved).unwrap(), body);
                assert_eq!(sha256.as_deref(), Some(file_hash.as_str()));
                saw.1 = true;
            }
            Happened::Transfer {
                what,
                direction,
                bytes,
                ..
            } if what == "clipboard" => {
                assert_eq!((direction.as_str(), *bytes), ("to host", CLIP.len() as u64));
                saw.2 = true;
            }
            Happened::Chat { from, text, .. } => {
                assert_eq!(
                    (from.as_str(), text.as_str()),
                    ("technician", "hello from the technician")
                );
                saw.3 = true;
            }
            _ => {}
        }
    }
    assert_eq!(saw, (true, true, true, true), "{:?}", r.events);
    assert!(
        text.contains(&file_hash) && text.contains("INC-7, printer"),
        "{text}"
    );

    // The records the receipt names: the session's start, the mode, both
    // transfers, each as the log has it.
    let data = std::path::PathBuf::from(stack.data());
    let log = audit_records(&data);
    let named: Vec<u64> = r.audit_records.iter().map(|a| a.seq).collect();
    let seq_of = |pred: &dyn Fn(&AuditEvent) -> bool| {
        log.iter()
            .find(|rec| pred(&rec.event))
            .map(|rec| rec.seq)
            .unwrap_or_else(|| panic!("no such record in {log:?}"))
    };
    let started = seq_of(&|e| matches!(e, AuditEvent::SessionStarted { .. }));
    let file_rec = seq_of(&|e| matches!(e, AuditEvent::Transfer { kind, .. } if kind == "file"));
    let clip_rec =
        seq_of(&|e| matches!(e, AuditEvent::Transfer { kind, .. } if kind == "clipboard"));
    let mode_rec = seq_of(&|e| matches!(e, AuditEvent::PeerReport { mode: Some(_), .. }));
    for seq in [started, mode_rec, file_rec, clip_rec] {
        assert!(
            named.contains(&seq),
            "record {seq} not in the receipt's {named:?}"
        );
    }

    let verify = |dir: &std::path::Path| {
        relay_cli(&[
            "audit",
            "verify-receipt",
            path.to_str().unwrap(),
            "--data-dir",
            dir.to_str().unwrap(),
        ])
    };
    let (rc, said, err) = verify(&data);
    assert_eq!(rc, 0, "{said}{err}");
    assert!(said.contains("receipt verified"), "{said}");

    // One of its records altered in a copy of the log: refused, named.
    let altered = work.path().join("altered");
    std::fs::create_dir_all(&altered).unwrap();
    let original = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    let edited: String = original
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{{\"seq\":{file_rec},")) {
                l.replace("report.txt", "harmless.x")
            } else {
                l.to_owned()
            }
        })
        .map(|l| l + "\n")
        .collect();
    assert_ne!(edited, original);
    std::fs::write(altered.join("audit.jsonl"), edited).unwrap();
    let (rc, said, _) = verify(&altered);
    assert_eq!(rc, 1, "{said}");
    assert!(
        said.contains(&format!(
            "receipt FAILED verification: record {file_rec}: altered"
        )),
        "{said}"
    );
}

#[test]
fn what_is_not_a_receipt_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let not = dir.path().join("notes.txt");
    std::fs::write(&not, "just some notes\n").unwrap();
    let (rc, out, err) = relay_cli(&[
        "audit",
        "verify-receipt",
        not.to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_ne!(rc, 0, "{out}");
    assert!(err.contains("this is not a Lifeline receipt"), "{err}");
}

/// The console checks a receipt pasted into its Receipts page (a real
/// session's, with the real binaries; Chromium): verified, then, once
/// the session's start record is edited in the log, failed naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_checks_a_receipt_too() {
    use crate::console::{console_user, first_login, shot, skip_without_chromium, tamper};
    if lifeline_tests::x::skip_without_xvfb() || skip_without_chromium() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    let (_, token, _) = relay_cli(&["technician", "add", "wendy", "--data-dir", &d]);
    let (once, _) = console_user(&d, "audrey", "auditor", false);
    let relay = lifeline_tests::RelayProcess::start(data.path(), &["--console", "127.0.0.1:0"]);
    let url = relay.console.clone().expect("the console's URL");
    let (addr, ca) = (relay.addr.to_string(), data.path().join("ca.pem"));
    let receipts = tempfile::tempdir().unwrap();
    let host = HostProcess::spawn_env(
        &addr,
        &ca,
        &x.display,
        &["--allow", "view"],
        Stdio::inherit(),
        &[("LIFELINE_RECEIPTS", receipts.path().to_str().unwrap())],
    );
    let v = lifeline_viewer::session::Viewer::connect(
        &addr,
        Some(&ca),
        token.trim(),
        &host.code(),
        |_| {},
    )
    .await
    .unwrap();
    v.settle(
        std::time::Duration::from_millis(300),
        std::time::Duration::from_secs(20),
    )
    .await
    .unwrap();
    // The relay's word on the last record reaches the host first.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    v.disconnect("done").await;
    let said = host.wait_event("receipt");
    let text = std::fs::read_to_string(said["path"].as_str().unwrap()).unwrap();

    let data_dir = data.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut b = lifeline_tests::browser::Browser::start();
        first_login(&mut b, &url, "audrey", &once, "");
        b.goto(&format!("{url}/receipts"));
        b.fill("textarea[name=receipt]", &text);
        b.submit("form.receipt");
        assert_eq!(b.count("p.verdict.good"), 1, "{}", b.text("main"));
        assert!(b.text("#summary").contains("wendy"));
        shot(&mut b, "receipt");
        let seq = tamper(&data_dir, "session_started", "\"wendy\"", "\"mandy\"");
        b.goto(&format!("{url}/receipts"));
        b.fill("textarea[name=receipt]", &text);
        b.submit("form.receipt");
        assert_eq!(b.status(), 422);
        let verdict = b.text("#verdict");
        assert!(
            verdict.contains("FAILED") && verdict.contains(&format!("record {seq}")),
            "{verdict}"
        );
        // Not a receipt at all: said, nothing else.
        b.goto(&format!("{url}/receipts"));
        b.fill("textarea[name=receipt]", "just some notes");
        b.submit("form.receipt");
        assert_eq!(b.status(), 400);
        assert!(b.text("#verdict").contains("Not a receipt"));
    })
    .await
    .unwrap();
}
