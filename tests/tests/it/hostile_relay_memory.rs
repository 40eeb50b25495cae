//! Hostile peers: an anonymous client's memory on the relay: credit before pairing, per-address caps (issue #28, item 1).
//!
//! Raw QUIC clients with the project's own client configuration and
//! protocol, against the real relay binary on loopback: anonymous "hosts"
//! that register, then open every stream they may and write all they can
//! (and send datagrams) must not grow the relay by more than 64 MiB; one
//! address gets its cap of connections and of waiting hosts, is refused
//! with `Busy` beyond it, and the flood is one counted audit record.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lifeline_common::framed::Control;
use lifeline_net::client::{ClientError, HostLink, ViewerLink};
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::control::{
    CloseCode, Hello, HostEvent, HostRequest, Mode, PROTOCOL_VERSION, Role, SessionReport,
};
use lifeline_proto::frame::{self, MAX_CONTROL_FRAME};
use lifeline_tests::{RelayProcess, audit_records, relay_cli, rss_kib};

/// What the attack may grow the relay by.
const BUDGET_KIB: u64 = 64 * 1024;

/// A registered, anonymous host that then writes into every stream it
/// may open, and sends datagrams, until aborted; `written` counts the
/// stream bytes its QUIC stack took.
async fn attacker(addr: String, ca: std::path::PathBuf, written: Arc<AtomicU64>) {
    let Ok((_ep, conn)) = lifeline_net::client::connect(&addr, Some(&ca)).await else {
        return;
    };
    let Ok((mut send, mut recv)) = conn.open_bi().await else {
        return;
    };
    let hello = Hello {
        version: PROTOCOL_VERSION,
        role: Role::Host,
    };
    let register = HostRequest::Register {
        host_name: "mallory".into(),
        os_user: "m".into(),
    };
    // The hello, the registration, then the largest control frame the
    // relay takes, all but its last byte: the relay holds it, waiting.
    let mut first = frame::encode(&hello, MAX_CONTROL_FRAME).unwrap();
    first.extend(frame::encode(&register, MAX_CONTROL_FRAME).unwrap());
    let len = u32::try_from(MAX_CONTROL_FRAME).unwrap();
    first.extend(len.to_be_bytes());
    first.extend(vec![0x5a; MAX_CONTROL_FRAME - 1]);
    if send.write_all(&first).await.is_err() {
        return;
    }
    written.fetch_add(first.len() as u64, Ordering::Relaxed);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (c, w) = (conn.clone(), written.clone());
        tasks.spawn(async move {
            if let Ok((mut s, _r)) = c.open_bi().await {
                flood(&mut s, &w).await;
            }
        });
        let (c, w) = (conn.clone(), written.clone());
        tasks.spawn(async move {
            if let Ok(mut s) = c.open_uni().await {
                flood(&mut s, &w).await;
            }
        });
    }
    let c = conn.clone();
    tasks.spawn(async move {
        let d = bytes::Bytes::from(vec![0x5a; 1000]);
        while c.send_datagram_wait(d.clone()).await.is_ok() {}
    });
    // Read what the relay says meanwhile (its code), keeping the stream.
    tasks.spawn(async move {
        let _keep = send;
        while let Ok(Some(_)) = recv.read_chunk(4096, true).await {}
    });
    while tasks.join_next().await.is_some() {}
}

async fn flood(s: &mut quinn::SendStream, written: &AtomicU64) {
    let chunk = vec![0xa5; 64 << 10];
    while s.write_all(&chunk).await.is_ok() {
        written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

/// Waits until the relay's RSS has settled (no change over 2 s).
async fn settled_rss(pid: u32) -> u64 {
    let mut last = rss_kib(pid).unwrap_or(0);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = rss_kib(pid).unwrap_or(0);
        if now.abs_diff(last) < 512 {
            return now;
        }
        last = now;
    }
}

/// Runs `n` attackers against a fresh relay binary; the relay's RSS in
/// KiB before, and at its highest while they write, and what they wrote.
async fn attack(n: usize, extra: &[&str]) -> (u64, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path(), extra);
    let pid = relay.child.id();
    let before = settled_rss(pid).await;
    let written = Arc::new(AtomicU64::new(0));
    let ca = dir.path().join("ca.pem");
    let attackers: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(attacker(
                relay.addr.to_string(),
                ca.clone(),
                written.clone(),
            ))
        })
        .collect();
    // Until the writers are stuck (nothing more taken for 2 s), at most 30 s.
    let start = Instant::now();
    let (mut peak, mut last, mut still) = (before, 0, Instant::now());
    while start.elapsed() < Duration::from_secs(30) && still.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak = peak.max(rss_kib(pid).unwrap_or(0));
        let w = written.load(Ordering::Relaxed);
        if w != last {
            (last, still) = (w, Instant::now());
        }
    }
    peak = peak.max(settled_rss(pid).await);
    assert!(
        relay.child.id() == pid && rss_kib(pid).is_some(),
        "the relay died"
    );
    for a in attackers {
        a.abort();
    }
    (before, peak, written.load(Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_anonymous_hosts_writing_all_they_can_grow_the_relay_by_under_64_mib() {
    let (before, peak, written) = attack(12, &[]).await;
    eprintln!(
        "relay RSS {} MiB before, {} MiB at most under 12 anonymous writers ({} MiB of stream data taken by their QUIC stacks)",
        before / 1024,
        peak / 1024,
        written >> 20
    );
    assert!(
        peak.saturating_sub(before) < BUDGET_KIB,
        "the relay grew from {before} KiB to {peak} KiB"
    );
}

/// Prints the relay's memory before and under the attack, for
/// BENCHMARKS.md: `cargo test -p lifeline-tests --test it --
/// hostile_relay_memory::bench --ignored --nocapture` (with
/// `LIFELINE_BIN_DIR` naming the binaries; `LIFELINE_ATTACKERS`, default
/// 12).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints figures"]
async fn bench_relay_memory_under_anonymous_writers() {
    let n = std::env::var("LIFELINE_ATTACKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let (before, peak, written) = attack(n, &[]).await;
    println!(
        "| anonymous writers | relay RSS before | relay RSS under attack | growth | stream data taken by the attackers' QUIC stacks |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {n} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} MiB |",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0,
        written >> 20
    );
}

/// A raw connection from 127.0.0.1 that is left open.
async fn raw(addr: &str, ca: &std::path::Path) -> (quinn::Endpoint, quinn::Connection) {
    lifeline_net::client::connect(addr, Some(ca)).await.unwrap()
}

/// How the relay closed `conn`: its code and sentence.
async fn closed(conn: &quinn::Connection, what: &str) -> (Option<CloseCode>, String) {
    let Ok(err) = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await else {
        panic!("the relay kept {what} beyond its address's cap")
    };
    match ClientError::from_connection(&err) {
        ClientError::Closed { code, reason } => (code, reason),
        other => panic!("expected a close with a code, got {other:?}"),
    }
}

/// A raw host's hello and registration on `conn`; its control stream.
async fn register(conn: &quinn::Connection) -> Control {
    let (send, recv) = conn.open_bi().await.unwrap();
    let mut ctl = Control::new(send, recv);
    let hello = Hello {
        version: PROTOCOL_VERSION,
        role: Role::Host,
    };
    let register = HostRequest::Register {
        host_name: "pc".into(),
        os_user: "u".into(),
    };
    let _ = ctl.send(&hello).await;
    let _ = ctl.send(&register).await;
    ctl
}

fn refusals(dir: &std::path::Path) -> Vec<(String, String, u64, u64)> {
    audit_records(dir)
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::ConnectionsRefused {
                ip,
                limit,
                cap,
                refused,
                ..
            } => Some((ip, limit, cap, refused)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_its_caps_and_a_flood_beyond_them_is_one_counted_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let relay = RelayProcess::start(
        dir.path(),
        &["--max-connections-per-ip", "4", "--max-waiting-per-ip", "2"],
    );
    let (rc, token, _) = relay_cli(&["technician", "add", "bob", "--data-dir", d]);
    assert_eq!(rc, 0);
    let (addr, ca) = (relay.addr.to_string(), dir.path().join("ca.pem"));

    // Two hosts wait; a third from the same address is refused.
    let (mut h1, reg1) = HostLink::register(&addr, Some(&ca), "pc1", "ann")
        .await
        .unwrap();
    let _h2 = HostLink::register(&addr, Some(&ca), "pc2", "ann")
        .await
        .unwrap();
    let (_ep3, c3) = raw(&addr, &ca).await;
    let _ctl3 = register(&c3).await;
    let (code, reason) = closed(&c3, "a third waiting host").await;
    assert_eq!(code, Some(CloseCode::Busy), "{reason}");
    assert!(reason.contains("waiting for a technician"), "{reason}");
    assert!(reason.contains("allows 2"), "{reason}");

    // A host that pairs is no longer waiting: another may register.
    let v = ViewerLink::join(&addr, Some(&ca), token.trim(), reg1.locator)
        .await
        .unwrap();
    loop {
        match h1.next_event().await.unwrap() {
            HostEvent::Paired { .. } => break,
            HostEvent::Policy(_) => continue,
            other => panic!("expected Paired, got {other:?}"),
        }
    }
    h1.report(SessionReport::ModeGranted(Mode::Control))
        .await
        .unwrap();
    let _h4 = HostLink::register(&addr, Some(&ca), "pc4", "ann")
        .await
        .unwrap();

    // A session's connections (h1, v) are not counted; two waiting hosts
    // (h2, h4) and two silent connections make four: the fifth and every
    // one after it are refused, each told why.
    let _silent = [raw(&addr, &ca).await, raw(&addr, &ca).await];
    let mut refused = 0;
    for _ in 0..12 {
        let (_ep, c) = raw(&addr, &ca).await;
        let (code, reason) = closed(&c, "a fifth connection").await;
        assert_eq!(code, Some(CloseCode::Busy), "{reason}");
        assert!(
            reason.contains("too many connections from your address"),
            "{reason}"
        );
        refused += 1;
    }
    // The session still flows.
    let (mut vs, _vr) = v.conn.open_bi().await.unwrap();
    vs.write_all(b"still here").await.unwrap();
    vs.finish().unwrap();
    let (_hs, mut hr) = h1.conn.accept_bi().await.unwrap();
    assert_eq!(hr.read_to_end(64).await.unwrap(), b"still here");

    // One record a burst, with the count, once the burst is over.
    let deadline = Instant::now() + Duration::from_secs(20);
    while refusals(dir.path()).len() < 2 {
        assert!(Instant::now() < deadline, "{:?}", refusals(dir.path()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut got = refusals(dir.path());
    got.sort();
    assert_eq!(
        got,
        [
            ("127.0.0.1".into(), "connections_per_ip".into(), 4, refused),
            ("127.0.0.1".into(), "waiting_per_ip".into(), 2, 1),
        ]
    );
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_eq!(rc, 0, "{out}");
}
