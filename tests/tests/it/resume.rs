//! Resume: a session survives its relay being killed and restarted (real
//! relay, host and viewer binaries, typing into a real xterm), and the
//! relay refuses resumes with a wrong secret, after the window, or after
//! the session ended, and audits them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lifeline_net::client::{ClientError, HostLink, ViewerLink};
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::control::{HostEvent, ResumeRefusal, SessionReport};
use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::Xvfb;
use lifeline_tests::{RelayProcess, TestRelay, audit_records, bin, poll, relay_cli};
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_session_resumes_after_its_relay_is_killed_and_typing_still_arrives() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(800, 600);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typed.txt");
    let _xterm = x.xterm_cat("40x8+0+0", &file);
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let relay = RelayProcess::start(data.path(), &[]);
    let (_, token, _) = relay_cli(&["technician", "add", "bob", "--data-dir", d]);
    let ca = data.path().join("ca.pem");
    let addr = relay.addr.to_string();
    let mut host = HostProcess::spawn(&addr, &ca, &x.display, &["--allow", "control"]);
    let code = host.code().to_string();
    let script = dir.path().join("script.txt");
    std::fs::write(
        &script,
        "wait-frame\nmove 60 40\nclick\ntype before\nkey Return\nwait-resumed\nwait-frame\ntype after resume\nkey Return\nquit\n",
    )
    .unwrap();
    let viewer = Command::new(bin("lifeline-viewer"))
        .args(["--relay", &addr, "--ca"])
        .arg(&ca)
        .args([
            "--token",
            token.trim(),
            "--code",
            &code,
            "--headless",
            "--json",
        ])
        .arg("--script")
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    poll("the first line to be typed", || {
        let typed = std::fs::read_to_string(&file).ok()?;
        (typed == "before\n").then_some(())
    })
    .await;

    relay.signal("KILL");
    drop(relay);
    let reconnecting = host.wait_event("reconnecting");
    assert!(reconnecting["reason"].is_string(), "{reconnecting}");
    let relay = RelayProcess::start_on(&addr, data.path(), &[]);
    let restarted = Instant::now();
    let resumed = host.wait_event("resumed");
    let took = restarted.elapsed();
    eprintln!("resumed {took:?} after the relay restarted ({resumed})");
    assert!(
        took < Duration::from_secs(5),
        "the session took {took:?} to resume after the restart"
    );

    let out = tokio::task::spawn_blocking(move || viewer.wait_with_output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "viewer failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for event in ["reconnecting", "resumed"] {
        assert!(
            stdout.contains(&format!("\"event\":\"{event}\"")),
            "{stdout}"
        );
    }
    // Applied on the host's input thread: it lands just after the end.
    let typed = poll("the second line to be typed", || {
        let typed = std::fs::read_to_string(&file).unwrap();
        (typed.matches('\n').count() >= 2).then_some(typed)
    })
    .await;
    assert_eq!(
        typed, "before\nafter resume\n",
        "typing after the resume arrives exactly"
    );
    let ended = host.wait_event("ended");
    assert_eq!(ended["reason"], "disconnected by the technician");
    host.wait_exit();

    // The relay closes both sides, then files the end: wait for it.
    poll("the session's end record", || {
        audit_records(data.path())
            .iter()
            .any(|r| matches!(r.event, AuditEvent::SessionEnded { .. }))
            .then_some(())
    })
    .await;
    let recs = audit_records(data.path());
    let session = recs
        .iter()
        .find_map(|r| match &r.event {
            AuditEvent::SessionStarted { session, .. } => Some(session.clone()),
            _ => None,
        })
        .unwrap();
    let events: Vec<&AuditEvent> = recs
        .iter()
        .map(|r| &r.event)
        .filter(|e| e.session() == Some(session.as_str()))
        .collect();
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::SessionInterrupted { reason, .. } if reason == "relay restarted")));
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::SessionResumed { host_ip, viewer_ip, .. } if host_ip == "127.0.0.1" && viewer_ip == "127.0.0.1")));
    assert!(
        matches!(events.last(),
            Some(AuditEvent::SessionEnded { reason, .. }) if reason.contains("disconnected by the technician")),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, AuditEvent::SessionEnded { reason, .. } if reason == "relay stopped unexpectedly")),
        "a resumable session is not closed by the restart"
    );
    let (_, list, _) = relay_cli(&["audit", "list", "--data-dir", d]);
    assert!(list.contains("resumed 1x"), "{list}");
    drop(relay);
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_eq!(rc, 0, "{out}");
}

/// A paired session whose host handed in a resume ticket for `secret`.
async fn resumable(relay: &TestRelay, token: &str, secret: [u8; 32]) -> (HostLink, ViewerLink) {
    let (mut h, reg) = HostLink::register(&relay.relay_arg(), Some(&relay.ca), "pc", "ann")
        .await
        .unwrap();
    let v = ViewerLink::join(&relay.relay_arg(), Some(&relay.ca), token, reg.locator)
        .await
        .unwrap();
    assert!(matches!(
        h.next_event().await.unwrap(),
        HostEvent::Paired { .. }
    ));
    let hash = Sha256::digest(secret).into();
    h.report(SessionReport::ResumeTicket { hash })
        .await
        .unwrap();
    poll("the ticket to be kept", || {
        let dir = relay.data_dir().join("resume");
        let n = std::fs::read_dir(dir).ok()?.count();
        (n == 1).then_some(())
    })
    .await;
    (h, v)
}

fn refused<T: std::fmt::Debug>(r: Result<T, ClientError>) -> ResumeRefusal {
    match r {
        Err(ClientError::ResumeRefused(why)) => why,
        other => panic!("expected a refused resume, got {other:?}"),
    }
}

#[tokio::test]
async fn both_sides_resume_and_streams_flow_again() {
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let (h, v) = resumable(&relay, &token, [5; 32]).await;
    let (old_h, old_v) = (h.conn.clone(), v.conn.clone());
    // The host comes back first (as if it noticed a lost link): the live
    // session is interrupted and the viewer asked to reconnect too.
    let connector = h.connector.clone();
    let session = v.session.clone();
    let host_back =
        tokio::spawn(async move { HostLink::resume(&connector, &session, [5; 32]).await });
    let why = ClientError::from_connection(&old_v.closed().await);
    assert!(why.resumable(), "the viewer is asked to reconnect: {why}");
    let v2 = v.resumer().resume([5; 32]).await.unwrap();
    let h2 = host_back.await.unwrap().unwrap();
    assert!(old_h.close_reason().is_some());
    // Streams are forwarded again between the new connections.
    let (mut s, _r) = v2.conn.open_bi().await.unwrap();
    s.write_all(b"after").await.unwrap();
    s.finish().unwrap();
    let (_hs, mut hr) = h2.conn.accept_bi().await.unwrap();
    assert_eq!(hr.read_to_end(100).await.unwrap(), b"after");
    relay
        .wait_record("the resume", |e| {
            matches!(e, AuditEvent::SessionResumed { .. })
        })
        .await;
    // Ended on purpose: no more resumes, and the ticket is gone.
    h2.end("ended by the user").await;
    let why = refused(v.resumer().resume([5; 32]).await);
    assert_eq!(why, ResumeRefusal::Ended);
    let left = std::fs::read_dir(relay.data_dir().join("resume")).unwrap();
    assert_eq!(left.count(), 0, "an ended session's ticket is removed");
}

#[tokio::test]
async fn a_wrong_secret_and_a_late_resume_are_refused_and_audited() {
    let relay = TestRelay::start_with(|c| c.resume_window = Duration::from_secs(1)).await;
    let token = relay.add_technician("bob");
    let (h, v) = resumable(&relay, &token, [9; 32]).await;
    let why = refused(v.resumer().resume([8; 32]).await);
    assert_eq!(why, ResumeRefusal::WrongSecret);
    // The host comes back alone; the viewer never does.
    let connector = h.connector.clone();
    let session = v.session.clone();
    let alone = HostLink::resume(&connector, &session, [9; 32]).await;
    assert_eq!(refused(alone), ResumeRefusal::WindowPassed);
    let late = refused(v.resumer().resume([9; 32]).await);
    assert_eq!(late, ResumeRefusal::WindowPassed);
    let recs = relay.records();
    let reasons: Vec<&str> = recs
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::ResumeRefused { reason, from, .. } if from == "viewer" => {
                Some(reason.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["wrong resume secret", "resume window passed"]);
    assert!(recs.iter().any(|r| matches!(&r.event,
        AuditEvent::SessionEnded { reason, .. } if reason == "connection lost and not resumed within 1 s")));
}

/// A session with the real host binary for moving files, whose relay
/// can be killed and restarted on the same address.
struct FileSession {
    _x: Xvfb,
    data: tempfile::TempDir,
    relay: Option<RelayProcess>,
    addr: String,
    work: tempfile::TempDir,
    host: HostProcess,
    v: std::sync::Arc<lifeline_viewer::session::Viewer>,
}

impl FileSession {
    async fn start(host_args: &[&str]) -> Self {
        let x = Xvfb::start(640, 480);
        let data = tempfile::tempdir().unwrap();
        let d = data.path().to_str().unwrap().to_owned();
        let relay = RelayProcess::start(data.path(), &[]);
        let addr = relay.addr.to_string();
        let (_, token, _) = relay_cli(&["technician", "add", "bob", "--data-dir", &d]);
        let ca = data.path().join("ca.pem");
        let work = tempfile::tempdir().unwrap();
        let dl = work.path().join("Downloads").display().to_string();
        let mut args = vec!["--allow", "control", "--download-dir", &dl];
        args.extend_from_slice(host_args);
        let host = HostProcess::spawn(&addr, &ca, &x.display, &args);
        let code = host.code();
        let v = lifeline_viewer::session::Viewer::connect(
            &addr,
            Some(&ca),
            token.trim(),
            &code,
            |_| {},
        )
        .await
        .unwrap();
        Self {
            _x: x,
            data,
            relay: Some(relay),
            addr,
            work,
            host,
            v: std::sync::Arc::new(v),
        }
    }

    fn downloads(&self) -> std::path::PathBuf {
        self.work.path().join("Downloads")
    }

    /// Once `part` holds 8 MiB, kills the relay (kill -9) and starts it
    /// again on its address; how much `part` held at the cut.
    async fn cut_at(&mut self, part: &std::path::Path) -> u64 {
        poll("the transfer to be under way", || {
            let len = std::fs::metadata(part).ok()?.len();
            (len > 8 * 1024 * 1024).then_some(())
        })
        .await;
        if let Some(relay) = self.relay.take() {
            relay.signal("KILL");
        }
        let cut_at = std::fs::metadata(part).unwrap().len();
        self.relay = Some(RelayProcess::start_on(&self.addr, self.data.path(), &[]));
        cut_at
    }

    async fn end(self) {
        self.v.disconnect("done").await;
    }
}

/// The transfer's result, within 60 s of the restart.
async fn within_a_minute<T>(task: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the transfer did not finish within 60 s of the restart")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_cut_by_a_relay_restart_continues_where_it_stopped() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let mut s = FileSession::start(&[]).await;
    let downloads = s.downloads();
    let big = s.work.path().join("big.bin");
    let bytes = lifeline_tests::pattern(11, 200 * 1024 * 1024);
    std::fs::write(&big, &bytes).unwrap();
    let (v2, src) = (s.v.clone(), big.clone());
    let put = tokio::spawn(async move { v2.put_file(&src, "big.bin").await });
    let cut_at = s.cut_at(&downloads.join(".lifeline-1.part")).await;
    let moved = within_a_minute(put).await.unwrap();
    let saved = downloads.join("big.bin");
    assert_eq!(moved.path, saved.display().to_string());
    assert_eq!(
        hex::encode(Sha256::digest(std::fs::read(&saved).unwrap())),
        hex::encode(Sha256::digest(&bytes)),
        "the whole file, exact"
    );
    assert!(cut_at < bytes.len() as u64, "the cut came before the end");
    let left: Vec<_> = std::fs::read_dir(&downloads).unwrap().collect();
    assert_eq!(left.len(), 1, "no partial file stays: {left:?}");
    s.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_cut_by_a_relay_restart_continues_where_it_stopped() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let mut s = FileSession::start(&["--allow-fetch", "yes"]).await;
    let remote = s.work.path().join("remote.bin");
    let bytes = lifeline_tests::pattern(12, 200 * 1024 * 1024);
    std::fs::write(&remote, &bytes).unwrap();
    let local = s.work.path().join("fetched.bin");
    let (v2, from, to) = (s.v.clone(), remote.display().to_string(), local.clone());
    let get = tokio::spawn(async move { v2.get(&from, &to).await });
    let part = s.work.path().join("fetched.bin.lifeline-part");
    let cut_at = s.cut_at(&part).await;
    let moved = within_a_minute(get).await.unwrap();
    assert_eq!(moved.bytes, bytes.len() as u64);
    assert_eq!(
        hex::encode(Sha256::digest(std::fs::read(&local).unwrap())),
        hex::encode(Sha256::digest(&bytes)),
        "the whole file, exact"
    );
    assert_eq!(moved.sha256.as_slice(), Sha256::digest(&bytes).as_slice());
    assert!(cut_at < bytes.len() as u64, "the cut came before the end");
    assert!(!part.exists(), "no partial file stays");
    let sent = s.host.wait_event("file_sent");
    assert_eq!(sent["path"], remote.display().to_string());
    s.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_host_whose_relay_restarts_shows_a_new_code_that_works() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let mut relay = RelayProcess::start(data.path(), &[]);
    let (_, token, _) = relay_cli(&["technician", "add", "gus", "--data-dir", d]);
    let ca = data.path().join("ca.pem");
    let addr = relay.addr.to_string();
    let host = HostProcess::spawn(&addr, &ca, &x.display, &["--allow", "view"]);
    let first = host.code();
    relay.signal("KILL");
    let _ = relay.child.wait();
    let _relay = RelayProcess::start_on(&addr, data.path(), &[]);
    // The host noticed, registered again, and shows a new code.
    let (second, host) = tokio::task::spawn_blocking(move || {
        host.wait_event("reconnecting");
        (host.code(), host)
    })
    .await
    .unwrap();
    assert_ne!(second.digits(), first.digits());
    let v =
        lifeline_viewer::session::Viewer::connect(&addr, Some(&ca), token.trim(), &second, |_| {})
            .await
            .unwrap();
    v.settle(Duration::from_millis(200), Duration::from_secs(20))
        .await
        .unwrap();
    let (joined, _host) = tokio::task::spawn_blocking(move || (host.wait_event("joined"), host))
        .await
        .unwrap();
    assert_eq!(joined["technician"], "gus");
    v.disconnect("done").await;
}
