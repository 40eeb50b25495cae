//! Hostile peers: a hostile paired peer or client against the relay's rules: mismatch reports, renew, resume, report caps (issue #28).
//!
//! Each hostile party is a raw client speaking the real protocol (the
//! net crate's links, or bare control frames) to the real relay binary
//! on loopback; the session caps are reached with small limits given to
//! the binary (`--max-reports-per-session`, `--max-recording-bytes-per-session`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use lifeline_common::framed::Control;
use lifeline_net::client::{ClientError, HostLink, Registration, ViewerLink};
use lifeline_proto::audit::{AuditEvent, ReportKind};
use lifeline_proto::control::{
    CloseCode, Hello, HostEvent, JoinRefusal, PROTOCOL_VERSION, ResumeRefusal, ResumeRequest, Role,
    SessionReport, Transfer, TransferKind, ViewerEvent, ViewerRequest,
};
use lifeline_relay_core::tokens::TechnicianStore;
use lifeline_tests::{RelayProcess, audit_records, poll};
use sha2::{Digest, Sha256};

/// The relay binary with its default rules, and where its CA is.
fn relay_binary() -> (tempfile::TempDir, RelayProcess, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path(), &[]);
    let addr = relay.addr.to_string();
    let ca = dir.path().join("ca.pem");
    (dir, relay, addr, ca)
}

fn technician(dir: &Path, name: &str) -> String {
    TechnicianStore::in_dir(dir).add(name).unwrap()
}

async fn register(addr: &str, ca: &Path) -> (HostLink, Registration) {
    HostLink::register(addr, Some(ca), "pc", "ann")
        .await
        .unwrap()
}

async fn paired(host: &mut HostLink) {
    loop {
        match host.next_event().await.unwrap() {
            HostEvent::Paired { .. } => return,
            HostEvent::Policy(_) => {}
            other => panic!("expected Paired, got {other:?}"),
        }
    }
}

fn refusal<T: std::fmt::Debug>(r: Result<T, ClientError>) -> JoinRefusal {
    match r {
        Err(ClientError::Refused(x)) => x,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A host and the technician `token` in session through the relay.
async fn session(addr: &str, ca: &Path, token: &str) -> (HostLink, ViewerLink, Registration) {
    let (mut host, reg) = register(addr, ca).await;
    let viewer = ViewerLink::join(addr, Some(ca), token, reg.locator)
        .await
        .unwrap();
    paired(&mut host).await;
    (host, viewer, reg)
}

/// The host files the session's resume ticket for `secret`; returns once
/// the relay holds it.
async fn file_ticket(dir: &Path, host: &mut HostLink, secret: [u8; 32]) {
    let hash: [u8; 32] = Sha256::digest(secret).into();
    host.report(SessionReport::ResumeTicket { hash })
        .await
        .unwrap();
    poll("the resume ticket", || {
        (lifeline_tests::resume_tickets(dir) == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_host_flooding_mismatch_reports_does_not_lock_the_technician_out() {
    let (dir, _relay, addr, ca) = relay_binary();
    let token = technician(dir.path(), "wendy");
    let (mut host, _viewer, reg) = session(&addr, &ca, &token).await;
    for _ in 0..2_000 {
        host.report(SessionReport::SecretMismatch).await.unwrap();
    }
    // The reports are all read once one filed after them is in the log.
    host.report(SessionReport::Refused).await.unwrap();
    let session = reg.session.clone();
    poll("the last report in the log", || {
        audit_records(dir.path())
            .iter()
            .any(|r| {
                matches!(&r.event, AuditEvent::PeerReport { session: s, kind: Some(ReportKind::Refused), .. } if *s == session)
            })
            .then_some(())
    })
    .await;
    let mismatches = audit_records(dir.path())
        .iter()
        .filter(|r| r.event.report_kind() == Some(ReportKind::WrongSecret))
        .count();
    assert_eq!(mismatches, 1, "one wrong-secret record a session");
    // The technician joins a new user's code at once.
    let (mut other, reg2) = register(&addr, &ca).await;
    let joined = ViewerLink::join(&addr, Some(&ca), &token, reg2.locator).await;
    assert!(joined.is_ok(), "locked out: {joined:?}");
    paired(&mut other).await;
}

#[tokio::test]
async fn unknown_tokens_from_a_shared_address_do_not_throttle_a_valid_one() {
    let (dir, _relay, addr, ca) = relay_binary();
    let token = technician(dir.path(), "wendy");
    let (_host, reg) = register(&addr, &ca).await;
    let mut throttled = false;
    for i in 0..20 {
        let bad = format!("no-such-token-{i}");
        match refusal(ViewerLink::join(&addr, Some(&ca), &bad, reg.locator).await) {
            JoinRefusal::UnknownToken => {}
            JoinRefusal::Throttled { .. } => throttled = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(throttled, "token guessing from one address is throttled");
    let joined = ViewerLink::join(&addr, Some(&ca), &token, reg.locator).await;
    assert!(joined.is_ok(), "the valid token was held back: {joined:?}");
}

#[tokio::test]
async fn a_host_renewing_in_a_loop_is_slowed_and_a_used_code_stays_used() {
    let (dir, _relay, addr, ca) = relay_binary();
    let token = technician(dir.path(), "wendy");
    let (_host, _viewer, used) = session(&addr, &ca, &token).await;
    let (mut looping, first) = register(&addr, &ca).await;
    for _ in 0..20 {
        looping.renew().await.unwrap();
    }
    let mut codes = vec![first.session.clone()];
    let slowed = loop {
        let next = tokio::time::timeout(Duration::from_secs(3), looping.next_event()).await;
        match next {
            Ok(Ok(HostEvent::Registered { session, .. })) => codes.push(session),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break true,
        }
        if codes.len() > 20 {
            break false;
        }
    };
    assert!(slowed, "20 renewals answered at once: {}", codes.len());
    assert_eq!(codes.len(), 6, "the first code and five renewals at once");
    let issued = audit_records(dir.path())
        .iter()
        .filter(|r| matches!(r.event, AuditEvent::CodeIssued { .. }))
        .count();
    assert_eq!(issued, 1 + 6, "the used code and the looping host's six");
    let late = ViewerLink::join(&addr, Some(&ca), &token, used.locator).await;
    assert_eq!(refusal(late), JoinRefusal::UsedCode);
}

/// A bare viewer connection that asks to resume `session` with `request`.
async fn resume_raw(addr: &str, ca: &Path, request: ViewerRequest) -> ViewerEvent {
    let (_endpoint, conn) = lifeline_net::client::connect(addr, Some(ca)).await.unwrap();
    let (send, recv) = conn.open_bi().await.unwrap();
    let mut ctl = Control::new(send, recv);
    let hello = Hello {
        version: PROTOCOL_VERSION,
        role: Role::Viewer,
    };
    ctl.send(&hello).await.unwrap();
    ctl.send(&request).await.unwrap();
    ctl.recv::<ViewerEvent>().await.unwrap()
}

#[tokio::test]
async fn a_host_that_knows_the_resume_secret_cannot_resume_as_the_viewer() {
    let (dir, _relay, addr, ca) = relay_binary();
    let token = technician(dir.path(), "wendy");
    let mallory = technician(dir.path(), "mallory");
    let (mut host, viewer, reg) = session(&addr, &ca, &token).await;
    let secret = [5; 32];
    file_ticket(dir.path(), &mut host, secret).await;
    let request = ResumeRequest {
        session: reg.session.clone(),
        secret,
    };
    let without = ViewerRequest::Resume(request.clone());
    let as_other = ViewerRequest::ResumeAs {
        request: request.clone(),
        token: mallory,
    };
    for fake in [without, as_other] {
        let answer = resume_raw(&addr, &ca, fake).await;
        assert_eq!(answer, ViewerEvent::ResumeRefused(ResumeRefusal::NotYours));
    }
    let refused = audit_records(dir.path())
        .iter()
        .filter(|r| matches!(&r.event, AuditEvent::ResumeRefused { reason, .. } if reason == "not the technician who joined"))
        .count();
    assert_eq!(refused, 2);
    // The real session was not touched: it still forwards.
    let (mut vs, mut vr) = viewer.conn.open_bi().await.unwrap();
    vs.write_all(b"still here").await.unwrap();
    vs.finish().unwrap();
    let (mut hs, mut hr) = host.conn.accept_bi().await.unwrap();
    assert_eq!(hr.read_to_end(100).await.unwrap(), b"still here");
    hs.finish().unwrap();
    let _ = vr.read_to_end(100).await;
}

fn transfer() -> SessionReport {
    SessionReport::Transfer(Transfer {
        kind: TransferKind::File,
        to_host: false,
        bytes: 1,
        name: Some("x".repeat(200)),
        sha256: Some([3; 32]),
    })
}

/// How a connection the relay closed was closed: its code and words. A
/// relay that lets the session go on fails the test (not a speed check:
/// the cap is long past when this is asked).
async fn closed_with(conn: &quinn::Connection) -> (u64, String) {
    let closed = tokio::time::timeout(Duration::from_secs(30), conn.closed()).await;
    match closed.expect("the relay let the session go on past its cap") {
        quinn::ConnectionError::ApplicationClosed(c) => (
            c.error_code.into_inner(),
            String::from_utf8_lossy(&c.reason).into_owned(),
        ),
        other => panic!("expected an application close, got {other:?}"),
    }
}

/// The session's end in the log of the relay in `dir`, once filed.
async fn session_ended(dir: &Path, session: &str) -> lifeline_proto::audit::Record {
    poll("the session's end", || {
        audit_records(dir).into_iter().find(
            |r| matches!(&r.event, AuditEvent::SessionEnded { session: s, .. } if s == session),
        )
    })
    .await
}

#[tokio::test]
async fn a_host_past_the_report_cap_ends_its_session_and_the_log_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path(), &["--max-reports-per-session", "50"]);
    let (addr, ca) = (relay.addr.to_string(), dir.path().join("ca.pem"));
    let token = technician(dir.path(), "wendy");
    let (mut host, viewer, reg) = session(&addr, &ca, &token).await;
    for _ in 0..1_000 {
        if host.report(transfer()).await.is_err() {
            break;
        }
    }
    let (code, why) = closed_with(&viewer.conn).await;
    assert_eq!(code, CloseCode::Ended as u64);
    assert_eq!(
        why,
        "the host sent more reports than the relay keeps for a session (50)"
    );
    let ended = session_ended(dir.path(), &reg.session).await;
    assert!(matches!(ended.event, AuditEvent::SessionEnded { reason, .. } if reason == why));
    let transfers = audit_records(dir.path())
        .iter()
        .filter(|r| matches!(r.event, AuditEvent::Transfer { .. }))
        .count();
    assert_eq!(transfers, 50, "the log holds what the cap allows");
}

/// A host sending 8 KiB recording chunks to the relay binary started
/// with a required recording and `cap` (an option and its value) until the
/// relay stops it: the words it ended the session with, once one audit
/// record says the recording failed; and the data directory, the session.
async fn record_past(cap: [&str; 2]) -> (String, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = lifeline_record::AuditorSecret::generate();
    lifeline_relay_core::recording::AuditorStore::in_dir(dir.path())
        .add("alice", &key.public().to_text())
        .unwrap();
    let relay = RelayProcess::start(dir.path(), &["--recording", "required", cap[0], cap[1]]);
    let (addr, ca) = (relay.addr.to_string(), dir.path().join("ca.pem"));
    let token = technician(dir.path(), "wendy");
    let (mut host, viewer, reg) = session(&addr, &ca, &token).await;
    for _ in 0..1_000 {
        if host.record(vec![7; 8 * 1024]).await.is_err() {
            break;
        }
    }
    let (code, why) = closed_with(&viewer.conn).await;
    assert_eq!(code, CloseCode::Ended as u64);
    session_ended(dir.path(), &reg.session).await;
    let failed = audit_records(dir.path())
        .iter()
        .filter(|r| matches!(r.event, AuditEvent::RecordingFailed { .. }))
        .count();
    assert_eq!(failed, 1, "one record for the cap");
    (why, dir, reg.session)
}

#[tokio::test]
async fn a_host_past_the_recording_cap_is_cut_off_with_one_record() {
    let (why, dir, session) = record_past(["--max-recording-bytes-per-session", "65536"]).await;
    assert!(why.contains("limit of 65536 bytes"), "{why}");
    let file = dir
        .path()
        .join(lifeline_relay_core::recording::file_name(&session));
    let stored = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    assert!(stored <= 64 * 1024 + 1024, "{stored} bytes stored");
}

#[tokio::test]
async fn a_host_past_the_recording_chunk_cap_is_cut_off_with_one_record() {
    let (why, _dir, _) = record_past(["--max-recording-chunks-per-session", "8"]).await;
    assert!(why.contains("limit of 8 chunks"), "{why}");
}

#[tokio::test]
async fn joins_racing_through_a_clusters_database_are_held_to_the_suspension_count() {
    let Some(pg) = lifeline_tests::postgres::Postgres::start() else {
        return;
    };
    let url = pg.create_db("lifeline");
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path(), &["--database", &url]);
    let (rc, token, err) =
        lifeline_tests::relay_cli(&["technician", "add", "mallory", "--database", &url]);
    assert_eq!(rc, 0, "{err}");
    let (addr, ca) = (relay.addr.to_string(), dir.path().join("ca.pem"));
    // Twenty codes nobody holds, tried at once: each join's outcome comes
    // from the database, after an await.
    let joins = (0..20u32).map(|i| {
        let (addr, ca, token) = (addr.clone(), ca.clone(), token.trim().to_owned());
        tokio::spawn(async move {
            let locator = lifeline_proto::Locator::new(90_000 + i).unwrap();
            refusal(ViewerLink::join(&addr, Some(&ca), &token, locator).await)
        })
    });
    let mut unknown = 0;
    for join in joins.collect::<Vec<_>>() {
        match join.await.unwrap() {
            JoinRefusal::UnknownCode => unknown += 1,
            JoinRefusal::Throttled { .. } | JoinRefusal::Suspended { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(unknown >= 1, "some joins reached the database");
    assert!(
        unknown <= lifeline_relay_core::rules::suspicion::DISTINCT_FAILURES,
        "{unknown} codes tried before the token was suspended"
    );
    drop(relay);
    drop(pg);
}

#[tokio::test]
async fn a_host_reconnecting_to_register_in_a_loop_is_slowed_then_refused() {
    let (dir, _relay, addr, ca) = relay_binary();
    // Twenty codes at once from one address (an office behind NAT) …
    for i in 0..20 {
        let got = tokio::time::timeout(Duration::from_secs(10), register(&addr, &ca)).await;
        assert!(got.is_ok(), "registration {i} within the burst was slowed");
    }
    // … then each connection that registers and leaves still costs its
    // address: the next ones wait, and past the queue they are refused.
    let attempts = (0..30).map(|_| {
        let (addr, ca) = (addr.clone(), ca.clone());
        tokio::spawn(async move {
            let register = HostLink::register(&addr, Some(&ca), "pc", "ann");
            tokio::time::timeout(Duration::from_secs(2), register).await
        })
    });
    let (mut answered, mut busy) = (0, 0);
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.unwrap() {
            Ok(Ok(_)) => answered += 1,
            Ok(Err(ClientError::Closed { code, reason })) => {
                assert_eq!(code, Some(CloseCode::Busy), "{reason}");
                assert!(
                    reason.starts_with("too many new codes asked for; wait"),
                    "{reason}"
                );
                busy += 1;
            }
            Ok(Err(other)) => panic!("unexpected {other:?}"),
            Err(_) => {}
        }
    }
    assert!(answered <= 1, "{answered} codes past the burst at once");
    assert!(busy >= 1, "nothing refused past the queue");
    let issued = audit_records(dir.path())
        .iter()
        .filter(|r| matches!(r.event, AuditEvent::CodeIssued { .. }))
        .count();
    assert!(issued <= 21, "{issued} codes issued to one address");
}

#[tokio::test]
async fn a_token_revoked_mid_session_cannot_resume_it() {
    let (dir, _relay, addr, ca) = relay_binary();
    let token = technician(dir.path(), "wendy");
    let (mut host, _viewer, reg) = session(&addr, &ca, &token).await;
    let secret = [6; 32];
    file_ticket(dir.path(), &mut host, secret).await;
    let d = dir.path().to_str().unwrap();
    let (rc, _, err) =
        lifeline_tests::relay_cli(&["technician", "revoke", "wendy", "--data-dir", d]);
    assert_eq!(rc, 0, "{err}");
    let request = ViewerRequest::ResumeAs {
        request: ResumeRequest {
            session: reg.session.clone(),
            secret,
        },
        token,
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), resume_raw(&addr, &ca, request))
        .await
        .expect("the revoked token's resume was not refused");
    assert_eq!(answer, ViewerEvent::ResumeRefused(ResumeRefusal::NotYours));
}

/// A peer from 127.0.0.2 whose handshake never ends: its packets reach
/// the relay, the relay's answers are dropped.
async fn stalled_handshake(relay: std::net::SocketAddr, ca: PathBuf) {
    let proxy = tokio::net::UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let proxy_addr = proxy.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, from)) = proxy.recv_from(&mut buf).await else {
                return;
            };
            if from == relay {
                continue;
            }
            let _ = proxy.send_to(&buf[..n], relay).await;
        }
    });
    tokio::spawn(async move {
        let connect = lifeline_net::client::connect(&proxy_addr, Some(&ca));
        let _ = tokio::time::timeout(Duration::from_secs(8), connect).await;
    });
}

#[tokio::test]
async fn a_connection_turned_away_by_its_address_cap_holds_no_relay_wide_place() {
    let dir = tempfile::tempdir().unwrap();
    let caps = ["--max-connections", "2", "--max-connections-per-ip", "1"];
    let relay = RelayProcess::start(dir.path(), &caps);
    let (addr, ca) = (relay.addr.to_string(), dir.path().join("ca.pem"));
    // One stalled handshake from 127.0.0.2 holds that address's place
    // (and one of the two); the next ones from it are turned away, each
    // for as long as its handshake could take (5 s).
    stalled_handshake(relay.addr, ca.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        stalled_handshake(relay.addr, ca.clone()).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A host from 127.0.0.1 still finds the relay's second place free.
    let got = tokio::time::timeout(Duration::from_secs(3), register(&addr, &ca)).await;
    assert!(got.is_ok(), "the turned-away peers held the relay's places");
}
