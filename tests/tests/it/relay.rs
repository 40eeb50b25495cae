//! The relay: pairing, one-time codes, tokens, throttling, blind forwarding,
//! malformed peers, and the audit log under tampering and SIGKILL.

use std::time::Duration;

use lifeline_net::client::{ClientError, HostLink, Registration, ViewerLink};
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::control::{CloseCode, HostEvent, JoinRefusal, Mode, SessionReport};
use lifeline_tests::{RelayProcess, TestRelay, audit_records, pattern, relay_cli};
use sha2::{Digest, Sha256};

async fn host(relay: &TestRelay) -> (HostLink, Registration) {
    HostLink::register(&relay.relay_arg(), Some(&relay.ca), "test-pc", "ann")
        .await
        .unwrap()
}

async fn join(
    relay: &TestRelay,
    token: &str,
    reg: &Registration,
) -> Result<ViewerLink, ClientError> {
    ViewerLink::join(&relay.relay_arg(), Some(&relay.ca), token, reg.locator).await
}

async fn expect_paired(link: &mut HostLink) -> String {
    match link.next_event().await.unwrap() {
        HostEvent::Paired { technician, .. } => technician,
        other => panic!("expected Paired, got {other:?}"),
    }
}

fn refusal(r: Result<ViewerLink, ClientError>) -> JoinRefusal {
    match r {
        Err(ClientError::Refused(x)) => x,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn pairing_forwards_streams_and_datagrams_and_audits_the_session() {
    let mut relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let (mut h, reg) = host(&relay).await;
    assert_eq!(reg.expires_in_s, 600);
    let v = join(&relay, &token, &reg).await.unwrap();
    assert_eq!(
        (v.host_name.as_str(), v.os_user.as_str()),
        ("test-pc", "ann")
    );
    assert_eq!(expect_paired(&mut h).await, "bob");
    h.report(SessionReport::ModeGranted(Mode::Control))
        .await
        .unwrap();

    // A stream the viewer opens reaches the host, and the answer comes back.
    let (mut vs, mut vr) = v.conn.open_bi().await.unwrap();
    vs.write_all(b"ping").await.unwrap();
    vs.finish().unwrap();
    let (mut hs, mut hr) = h.conn.accept_bi().await.unwrap();
    assert_eq!(hr.read_to_end(100).await.unwrap(), b"ping");
    hs.write_all(b"pong").await.unwrap();
    hs.finish().unwrap();
    assert_eq!(vr.read_to_end(100).await.unwrap(), b"pong");

    // A host-opened unidirectional stream and a datagram reach the viewer.
    let mut hu = h.conn.open_uni().await.unwrap();
    hu.write_all(b"frame").await.unwrap();
    hu.finish().unwrap();
    let mut vu = v.conn.accept_uni().await.unwrap();
    assert_eq!(vu.read_to_end(100).await.unwrap(), b"frame");
    h.conn
        .send_datagram(bytes::Bytes::from_static(b"cursor"))
        .unwrap();
    assert_eq!(&v.conn.read_datagram().await.unwrap()[..], b"cursor");

    // The host's user ends it; the viewer hears why.
    h.end("ended by the user").await;
    let why = ClientError::from_connection(&v.conn.closed().await).to_string();
    assert_eq!(why, "ended by the user");

    let ended = relay
        .wait_record("session_ended", |e| {
            matches!(e, AuditEvent::SessionEnded { .. })
        })
        .await;
    let AuditEvent::SessionEnded {
        session,
        reason,
        bytes_host_to_viewer,
        bytes_viewer_to_host,
        ..
    } = ended.event
    else {
        unreachable!()
    };
    assert_eq!(session, reg.session);
    assert_eq!(reason, "host: ended by the user");
    assert!(bytes_host_to_viewer >= 15, "{bytes_host_to_viewer}");
    assert!(bytes_viewer_to_host >= 4, "{bytes_viewer_to_host}");
    let kinds: Vec<String> = relay
        .records()
        .iter()
        .filter(|r| r.event.session() == Some(reg.session.as_str()))
        .map(|r| {
            serde_json::to_value(&r.event).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, lifeline_tests::SESSION_RECORDS);
    let issued = &relay.records()[1];
    assert!(
        matches!(&issued.event, AuditEvent::CodeIssued { host_ip, host_name, os_user, .. }
        if host_ip == "127.0.0.1" && host_name == "test-pc" && os_user == "ann")
    );
    relay.stop().await;
}

#[tokio::test]
async fn a_code_joins_once() {
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let (mut h, reg) = host(&relay).await;
    let _v = join(&relay, &token, &reg).await.unwrap();
    expect_paired(&mut h).await;
    let again = refusal(join(&relay, &token, &reg).await);
    assert_eq!(again, JoinRefusal::UsedCode);
    assert!(again.to_string().contains("already used"));
    relay
        .wait_record("refused reuse", |e| {
            matches!(e, AuditEvent::JoinAttempt { ok: false, reason: Some(r), session: Some(s), .. }
                if r == "code already used" && *s == reg.session)
        })
        .await;
}

#[tokio::test]
async fn an_expired_code_fails_and_the_host_can_renew() {
    let relay = TestRelay::start_with(|c| c.code_ttl = Duration::from_millis(300)).await;
    let token = relay.add_technician("bob");
    let (mut h, reg) = host(&relay).await;
    assert_eq!(h.next_event().await.unwrap(), HostEvent::Expired);
    assert_eq!(
        refusal(join(&relay, &token, &reg).await),
        JoinRefusal::ExpiredCode
    );
    relay
        .wait_record(
            "code closed",
            |e| matches!(e, AuditEvent::CodeClosed { reason, .. } if reason == "expired unused"),
        )
        .await;

    h.renew().await.unwrap();
    let HostEvent::Registered {
        locator, session, ..
    } = h.next_event().await.unwrap()
    else {
        panic!("no new code")
    };
    assert_ne!(locator, reg.locator, "a new code gets new digits");
    let fresh = Registration {
        session,
        locator,
        expires_in_s: 0,
    };
    join(&relay, &token, &fresh).await.unwrap();
    expect_paired(&mut h).await;
}

#[tokio::test]
async fn unknown_and_revoked_tokens_are_refused_and_audited() {
    let relay = TestRelay::start().await;
    let token = relay.add_technician("carol");
    let (_h, reg) = host(&relay).await;

    assert_eq!(
        refusal(join(&relay, "llt_00000000000000000000000000000000", &reg).await),
        JoinRefusal::UnknownToken
    );
    relay.revoke("carol");
    let r = refusal(join(&relay, &token, &reg).await);
    assert_eq!(r, JoinRefusal::RevokedToken);
    assert!(r.to_string().contains("revoked"));

    let attempts: Vec<(Option<String>, bool, Option<String>)> = relay
        .records()
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::JoinAttempt {
                technician,
                ok,
                reason,
                ..
            } => Some((technician, ok, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (None, false, Some("unknown token".into())),
            (Some("carol".into()), false, Some("revoked token".into())),
        ]
    );
    // The code survived both: neither attempt reached it.
    let fresh = relay.add_technician("dave");
    join(&relay, &fresh, &reg).await.unwrap();
}

#[tokio::test]
async fn a_burst_of_wrong_codes_is_throttled() {
    let relay = TestRelay::start().await;
    let token = relay.add_technician("eve");
    let (_h, reg) = host(&relay).await;
    let wrong = Registration {
        locator: lifeline_proto::Locator::new((reg.locator.value() + 1) % 100_000).unwrap(),
        ..reg.clone()
    };
    let mut refusals = Vec::new();
    for _ in 0..8 {
        refusals.push(refusal(join(&relay, &token, &wrong).await));
    }
    assert_eq!(&refusals[..5], &[JoinRefusal::UnknownCode; 5]);
    for r in &refusals[5..] {
        assert!(
            matches!(r, JoinRefusal::Throttled { retry_after_s } if *retry_after_s > 0),
            "{r:?}"
        );
        assert!(
            r.to_string().starts_with("too many failed attempts; wait"),
            "{r}"
        );
    }
    // Even the right code is refused while throttled, so guessing gains nothing.
    assert!(matches!(
        refusal(join(&relay, &token, &reg).await),
        JoinRefusal::Throttled { .. }
    ));
    let throttled = relay
        .records()
        .iter()
        .filter(|r| matches!(&r.event, AuditEvent::JoinAttempt { reason: Some(x), .. } if x == "throttled"))
        .count();
    assert_eq!(throttled, 4);
}

#[tokio::test]
async fn a_token_trying_several_codes_is_suspended_and_audited() {
    let relay = TestRelay::start().await;
    let token = relay.add_technician("mallory");
    let (_h, reg) = host(&relay).await;
    let other = |n: u32| Registration {
        locator: lifeline_proto::Locator::new((reg.locator.value() + n) % 100_000).unwrap(),
        ..reg.clone()
    };
    for n in 1..=3 {
        assert_eq!(
            refusal(join(&relay, &token, &other(n)).await),
            JoinRefusal::UnknownCode
        );
    }
    // Three different codes failed: even the right one is refused now,
    // and the user's code survives for an honest technician.
    let r = refusal(join(&relay, &token, &reg).await);
    assert!(matches!(r, JoinRefusal::Suspended { .. }), "{r:?}");
    assert!(r.to_string().contains("suspended"), "{r}");
    let honest = relay.add_technician("bob");
    assert!(join(&relay, &honest, &reg).await.is_ok());
    let suspended = relay.records().into_iter().find_map(|r| match r.event {
        AuditEvent::TokenSuspended {
            technician, codes, ..
        } => Some((technician, codes)),
        _ => None,
    });
    assert_eq!(suspended, Some((Some("mallory".into()), 3)));
    let d = relay.data_dir().to_str().unwrap().to_owned();
    let (rc, out, _) = relay_cli(&["audit", "list", "--suspicious", "--data-dir", &d]);
    assert_eq!(rc, 0);
    assert!(out.starts_with("mallory"), "{out}");
    assert!(
        out.contains("3 different codes") && out.contains("suspended 1 times"),
        "{out}"
    );
    assert!(!out.contains("bob"), "{out}");
}

async fn pump(mut send: quinn::SendStream, data: Vec<u8>) {
    for chunk in data.chunks(1 << 20) {
        send.write_all(chunk).await.unwrap();
    }
    send.finish().unwrap();
    send.stopped().await.ok();
}

async fn drain_hash(mut recv: quinn::RecvStream) -> (usize, Vec<u8>) {
    let mut hasher = Sha256::new();
    let mut n = 0;
    while let Some(chunk) = recv.read_chunk(usize::MAX, true).await.unwrap() {
        n += chunk.bytes.len();
        hasher.update(&chunk.bytes);
    }
    (n, hasher.finalize().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_megabytes_each_way_arrive_intact() {
    const LEN: usize = 100 * 1024 * 1024;
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let (mut h, reg) = host(&relay).await;
    let v = join(&relay, &token, &reg).await.unwrap();
    expect_paired(&mut h).await;

    let up = pattern(1, LEN);
    let down = pattern(2, LEN);
    let (up_hash, down_hash) = (Sha256::digest(&up).to_vec(), Sha256::digest(&down).to_vec());
    let (vs, vr) = v.conn.open_bi().await.unwrap();
    let viewer_send = tokio::spawn(pump(vs, up));
    let (hs, hr) = h.conn.accept_bi().await.unwrap();
    let host_send = tokio::spawn(pump(hs, down));
    let (at_host, at_viewer) = tokio::join!(drain_hash(hr), drain_hash(vr));
    viewer_send.await.unwrap();
    host_send.await.unwrap();
    assert_eq!(at_host, (LEN, up_hash));
    assert_eq!(at_viewer, (LEN, down_hash));

    drop(h);
    let ended = relay
        .wait_record("end", |e| matches!(e, AuditEvent::SessionEnded { .. }))
        .await;
    let AuditEvent::SessionEnded {
        bytes_host_to_viewer,
        bytes_viewer_to_host,
        ..
    } = ended.event
    else {
        unreachable!()
    };
    assert_eq!(
        (bytes_host_to_viewer, bytes_viewer_to_host),
        (LEN as u64, LEN as u64)
    );
}

/// Opens a raw connection and control stream, as a hostile peer would.
async fn raw_peer(relay: &TestRelay) -> (quinn::Endpoint, quinn::Connection, quinn::SendStream) {
    let (ep, conn) = lifeline_net::client::connect(&relay.relay_arg(), Some(&relay.ca))
        .await
        .unwrap();
    let (send, _recv) = conn.open_bi().await.unwrap();
    (ep, conn, send)
}

fn close_code(err: &quinn::ConnectionError) -> Option<CloseCode> {
    match ClientError::from_connection(err) {
        ClientError::Closed { code, .. } => code,
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_peers_are_dropped_while_other_sessions_flow() {
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let (mut h, reg) = host(&relay).await;
    let v = join(&relay, &token, &reg).await.unwrap();
    expect_paired(&mut h).await;
    let (mut vs, _vr) = v.conn.open_bi().await.unwrap();
    vs.write_all(b"before ").await.unwrap();
    let (_hs, mut hr) = h.conn.accept_bi().await.unwrap();

    // Garbage hello, oversized frame, a valid hello then a garbage request.
    let garbage: [&[u8]; 3] = [
        &[0, 0, 0, 3, 0xff, 0xff, 0xff],
        &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        &[0, 0, 0, 2, 1, 0, 0, 0, 0, 2, 0x09, 0x09],
    ];
    for bytes in garbage {
        let (_ep, conn, mut send) = raw_peer(&relay).await;
        send.write_all(bytes).await.unwrap();
        let err = tokio::time::timeout(Duration::from_secs(5), conn.closed())
            .await
            .expect("relay kept a malformed peer");
        assert_eq!(
            close_code(&err),
            Some(CloseCode::ProtocolError),
            "{bytes:?}: {err}"
        );
    }
    // A peer that says nothing is dropped too (hello timeout is 10 s; here
    // it is enough that the relay still serves others meanwhile).
    let (_ep, _silent, _s) = raw_peer(&relay).await;

    vs.write_all(b"after").await.unwrap();
    vs.finish().unwrap();
    let mut got = Vec::new();
    while let Some(c) = hr.read_chunk(1024, true).await.unwrap() {
        got.extend_from_slice(&c.bytes);
    }
    assert_eq!(got, b"before after");
}

#[tokio::test]
async fn an_old_protocol_version_is_told_what_to_do() {
    let relay = TestRelay::start().await;
    let (_ep, conn, mut send) = raw_peer(&relay).await;
    // Hello { version: 99, role: Host }
    send.write_all(&[0, 0, 0, 2, 99, 0]).await.unwrap();
    let err = conn.closed().await;
    assert_eq!(close_code(&err), Some(CloseCode::Version));
    assert!(
        ClientError::from_connection(&err)
            .to_string()
            .contains("protocol 1, the client 99")
    );
}

#[tokio::test]
async fn a_dead_relay_and_an_untrusted_certificate_get_clear_errors() {
    let relay = TestRelay::start().await;
    let other_ca = tempfile::tempdir().unwrap();
    lifeline_certs::ensure_relay_certs(other_ca.path(), &["localhost".into()]).unwrap();
    let wrong = other_ca.path().join("ca.pem");
    let err = HostLink::register(&relay.relay_arg(), Some(&wrong), "pc", "u")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Untrusted { .. }), "{err}");
    assert!(err.to_string().contains("--ca"), "{err}");
    let addr = relay.relay_arg();
    let mut relay = relay;
    relay.stop().await;
    let err = HostLink::register(&addr, None, "pc", "u").await;
    // With no --ca and no system roots, or no answer: either way one clear line.
    let msg = err.unwrap_err().to_string();
    assert!(
        msg.contains("did not answer") || msg.contains("--ca"),
        "{msg}"
    );
}

#[tokio::test]
async fn shutdown_ends_sessions_with_their_records() {
    let mut relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let (mut h, reg) = host(&relay).await;
    let v = join(&relay, &token, &reg).await.unwrap();
    expect_paired(&mut h).await;
    relay.stop().await;
    let err = v.conn.closed().await;
    assert_eq!(close_code(&err), Some(CloseCode::Shutdown));
    let recs = relay.records();
    assert!(recs.iter().any(|r| matches!(&r.event,
        AuditEvent::SessionEnded { reason, session, .. } if reason == "relay shutting down" && *session == reg.session)));
    assert!(matches!(
        recs.last().unwrap().event,
        AuditEvent::RelayStopped { .. }
    ));
}

/// Runs one whole session against the relay at `addr`, ended by the host.
async fn one_session(addr: &str, ca: &std::path::Path, token: &str) -> String {
    let (mut h, reg) = HostLink::register(addr, Some(ca), "pc", "ann")
        .await
        .unwrap();
    let v = ViewerLink::join(addr, Some(ca), token, reg.locator)
        .await
        .unwrap();
    expect_paired(&mut h).await;
    h.report(SessionReport::ModeGranted(Mode::View))
        .await
        .unwrap();
    let viewer_saw = v.conn.clone();
    h.end("ended by the user").await;
    let why = ClientError::from_connection(&viewer_saw.closed().await).to_string();
    assert_eq!(why, "ended by the user");
    reg.session
}

#[tokio::test]
async fn audit_verify_passes_on_a_real_log_and_names_any_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let relay = RelayProcess::start(dir.path(), &[]);
    let (rc, token, _) = relay_cli(&["technician", "add", "bob", "--data-dir", d]);
    assert_eq!(rc, 0);
    let token = token.trim().to_owned();
    let ca = dir.path().join("ca.pem");
    let addr = relay.addr.to_string();
    let session = one_session(&addr, &ca, &token).await;
    // The end record is written just after both sides are closed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !audit_records(dir.path())
        .iter()
        .any(|r| matches!(r.event, AuditEvent::SessionEnded { .. }))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no session_ended record"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.signal("TERM");
    let mut relay = relay;
    assert!(
        relay.child.wait().unwrap().success(),
        "relay did not stop cleanly on SIGTERM"
    );

    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("intact"), "{out}");
    assert!(matches!(
        audit_records(dir.path()).last().unwrap().event,
        AuditEvent::RelayStopped { .. }
    ));
    let (rc, out, _) = relay_cli(&["audit", "show", &session, "--data-dir", d]);
    assert_eq!(rc, 0);
    for kind in lifeline_tests::SESSION_RECORDS {
        assert!(
            out.contains(kind),
            "{kind} missing from:\n{out}\nlog:\n{}",
            std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap()
        );
    }
    assert!(out.contains("mode=\"view\""), "{out}");
    let (rc, out, _) = relay_cli(&["audit", "list", "--json", "--data-dir", d]);
    assert_eq!(rc, 0);
    let row: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(row["technician"], "bob");
    assert_eq!(row["mode"], "view");

    let log = dir.path().join("audit.jsonl");
    let original = std::fs::read(&log).unwrap();
    let lines = original.iter().filter(|b| **b == b'\n').count();
    // One changed byte in each line in turn (a digit in its timestamp).
    for target in 1..=lines {
        let mut bytes = original.clone();
        let start = bytes
            .split(|b| *b == b'\n')
            .take(target - 1)
            .map(|l| l.len() + 1)
            .sum::<usize>();
        let pos = start
            + bytes[start..]
                .windows(5)
                .position(|w| w == b"\"ts\":")
                .unwrap()
            + 8;
        bytes[pos] = if bytes[pos] == b'1' { b'2' } else { b'1' };
        std::fs::write(&log, &bytes).unwrap();
        let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
        assert_ne!(rc, 0, "change in line {target} not caught");
        assert!(
            out.contains(&format!("line {target}:")),
            "line {target}: {out}"
        );
    }
    // A line removed from the middle, and from the end.
    let text = String::from_utf8(original.clone()).unwrap();
    let all: Vec<&str> = text.lines().collect();
    let without = |skip: usize| {
        all.iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, l)| format!("{l}\n"))
            .collect::<String>()
    };
    std::fs::write(&log, without(2)).unwrap();
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_ne!(rc, 0);
    assert!(
        out.contains("line 3:") && out.contains("record 4 found where record 3 was expected"),
        "{out}"
    );
    std::fs::write(&log, without(all.len() - 1)).unwrap();
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_ne!(rc, 0);
    assert!(out.contains("removed from the end"), "{out}");
    // And restored, it passes again.
    std::fs::write(&log, &original).unwrap();
    assert_eq!(relay_cli(&["audit", "verify", "--data-dir", d]).0, 0);
}

#[tokio::test]
async fn a_relay_killed_mid_session_leaves_every_record_readable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let relay = RelayProcess::start(dir.path(), &[]);
    let (_, token, _) = relay_cli(&["technician", "add", "bob", "--data-dir", d]);
    let ca = dir.path().join("ca.pem");
    let addr = relay.addr.to_string();
    // One finished session, one in full flow when the relay dies.
    one_session(&addr, &ca, token.trim()).await;
    let (mut h, reg) = HostLink::register(&addr, Some(&ca), "pc", "ann")
        .await
        .unwrap();
    let v = ViewerLink::join(&addr, Some(&ca), token.trim(), reg.locator)
        .await
        .unwrap();
    expect_paired(&mut h).await;
    h.report(SessionReport::ModeGranted(Mode::Control))
        .await
        .unwrap();
    let (mut s, _r) = v.conn.open_bi().await.unwrap();
    let (_hs, mut hr) = {
        s.write_all(&[7u8; 100_000]).await.unwrap();
        h.conn.accept_bi().await.unwrap()
    };
    let mut got = 0;
    while got < 100_000 {
        got += hr
            .read_chunk(usize::MAX, true)
            .await
            .unwrap()
            .unwrap()
            .bytes
            .len();
    }
    // The host's report may still be in flight; the records the relay has
    // acted on (the viewer was told it joined) must all be there.
    relay.signal("KILL");
    drop(relay);

    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_eq!(rc, 0, "{out}");
    let recs = audit_records(dir.path());
    let of_session: Vec<&AuditEvent> = recs
        .iter()
        .map(|r| &r.event)
        .filter(|e| e.session() == Some(reg.session.as_str()))
        .collect();
    assert!(matches!(of_session[0], AuditEvent::CodeIssued { .. }));
    assert!(matches!(
        of_session[1],
        AuditEvent::JoinAttempt { ok: true, .. }
    ));
    assert!(matches!(of_session[2], AuditEvent::SessionStarted { .. }));
    assert!(
        recs.iter()
            .any(|r| matches!(r.event, AuditEvent::SessionEnded { .. })),
        "the first session's end is kept"
    );

    assert!(
        !of_session
            .iter()
            .any(|e| matches!(e, AuditEvent::SessionEnded { .. })),
        "the killed relay wrote no end for the live session"
    );

    // A restarted relay continues the same chain, and first closes what
    // the killed one left open: `audit list` shows no session open.
    let relay = RelayProcess::start(dir.path(), &[]);
    let ended = lifeline_tests::poll("the restarted relay to close the session", || {
        audit_records(dir.path())
            .iter()
            .find_map(|r| match &r.event {
                AuditEvent::SessionEnded {
                    session, reason, ..
                } if *session == reg.session => Some(reason.clone()),
                _ => None,
            })
    })
    .await;
    assert_eq!(ended, "relay stopped unexpectedly");
    let (_, list, _) = relay_cli(&["audit", "list", "--data-dir", d]);
    assert!(!list.contains("(open)"), "{list}");
    one_session(&relay.addr.to_string(), &ca, token.trim()).await;
    relay.signal("TERM");
    let mut relay = relay;
    relay.child.wait().unwrap();
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_eq!(rc, 0, "{out}");
}

/// `what`, or a failed test after 10 s.
async fn within<F: std::future::Future>(what: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), what)
        .await
        .expect("nothing arrived after the address change")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_changes_address_keeps_its_session() {
    // A laptop moving from Wi-Fi to 4G: the viewer's UDP socket (and so its
    // address) changes mid-session; QUIC migrates the connection and the
    // relay keeps forwarding to it.
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let (mut h, reg) = host(&relay).await;
    let v = join(&relay, &token, &reg).await.unwrap();
    expect_paired(&mut h).await;
    let (mut send, mut recv) = h.conn.open_bi().await.unwrap();
    send.write_all(b"one").await.unwrap();
    let (mut vs, mut vr) = v.conn.accept_bi().await.unwrap();
    let mut buf = [0u8; 3];
    vr.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"one");

    let moved = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let new_port = moved.local_addr().unwrap().port();
    v.endpoint.rebind(moved).unwrap();
    // Both ways still flow, from and to the new address (the old socket
    // is gone: without migration nothing would arrive).
    send.write_all(b"two").await.unwrap();
    within(vr.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"two");
    vs.write_all(b"back").await.unwrap();
    let mut back = [0u8; 4];
    within(recv.read_exact(&mut back)).await.unwrap();
    assert_eq!(&back, b"back");
    assert_eq!(v.endpoint.local_addr().unwrap().port(), new_port);
    // The session was never ended.
    assert!(h.conn.close_reason().is_none() && v.conn.close_reason().is_none());
    assert!(
        !relay
            .records()
            .iter()
            .any(|r| matches!(r.event, AuditEvent::SessionEnded { .. })),
        "the relay ended the session"
    );
}

/// Commands that change who may do what are audit records, written before
/// the change: straight into the log with no relay running, through the
/// running relay otherwise; a change that fails is followed by its failure.
#[test]
fn changes_to_who_may_do_what_are_audited_with_or_without_a_relay() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (rc, _, err) = relay_cli(&["technician", "add", "bob", "--data-dir", d]);
    assert_eq!(rc, 0, "{err}");
    let relay = RelayProcess::start(dir.path(), &[]);
    let (rc, _, err) = relay_cli(&["technician", "revoke", "bob", "--data-dir", d]);
    assert_eq!(rc, 0, "{err}");
    let (rc, _, err) = relay_cli(&["technician", "revoke", "nobody", "--data-dir", d]);
    assert_eq!(rc, 1);
    assert!(err.contains("no technician is named \"nobody\""), "{err}");
    let (rc, _, err) = relay_cli(&[
        "console-user",
        "add",
        "ann",
        "--role",
        "auditor",
        "--data-dir",
        d,
    ]);
    assert_eq!(rc, 0, "{err}");
    drop(relay);

    let recs = audit_records(dir.path());
    let admin: Vec<(String, String)> = recs
        .iter()
        .filter_map(|r| match &r.event {
            AuditEvent::AdminAction { by, action, target } => {
                assert!(!by.is_empty());
                Some((action.clone(), target.clone()))
            }
            _ => None,
        })
        .collect();
    let want = [
        ("technician add", "bob"),
        ("technician revoke", "bob"),
        ("technician revoke", "nobody"),
        (
            "technician revoke failed",
            "nobody: no technician is named \"nobody\"; see `lifeline-relay technician list`",
        ),
        ("console-user add", "ann as auditor"),
    ];
    assert_eq!(
        admin,
        want.map(|(a, t)| (a.to_owned(), t.to_owned())).to_vec()
    );
    assert!(
        matches!(recs[0].event, AuditEvent::AdminAction { .. })
            && matches!(recs[1].event, AuditEvent::RelayStarted { .. }),
        "the first add went straight into the log, before the relay started"
    );
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_eq!(rc, 0, "{out}");
}
