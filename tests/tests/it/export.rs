//! Audit records shipped to a SIEM: a local syslog listener (TCP, RFC 5424
//! octet-counted) receives every record of a session with the real
//! binaries, in order, each once; after the relay restarts, the next
//! records follow with neither duplicates nor gaps.

use std::io::Read as _;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lifeline_tests::peers::one_view_session;
use lifeline_tests::x::Xvfb;
use lifeline_tests::{RelayProcess, poll, relay_cli};

/// A syslog listener: every message's MSG (the audit line), in order.
fn listener() -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { return };
            let g = g.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = conn.read(&mut chunk) {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // Octet counting: "LEN SP MSG".
                    while let Some(sp) = buf.iter().position(|b| *b == b' ') {
                        let len: usize = std::str::from_utf8(&buf[..sp]).unwrap().parse().unwrap();
                        if buf.len() < sp + 1 + len {
                            break;
                        }
                        let msg = String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap();
                        buf.drain(..sp + 1 + len);
                        assert!(msg.starts_with("<110>1 "), "{msg}");
                        let line = &msg[msg.find(" - {").unwrap() + 3..];
                        g.lock().unwrap().push(line.to_owned());
                    }
                }
            });
        }
    });
    (addr, got)
}

/// Waits until the listener has exactly the log's lines.
async fn same_as_log(data: &std::path::Path, got: &Arc<Mutex<Vec<String>>>) {
    let log = data.join("audit.jsonl");
    poll("the listener to have every record of the log", || {
        let lines: Vec<String> = std::fs::read_to_string(&log)
            .ok()?
            .lines()
            .map(str::to_owned)
            .collect();
        (*got.lock().unwrap() == lines).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_reaches_syslog_once_in_order_across_a_restart() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let (addr, got) = listener();
    let target = format!("syslog://{addr}");
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let (_, token, _) = relay_cli(&["technician", "add", "wendy", "--data-dir", d]);
    let relay = RelayProcess::start(data.path(), &["--audit-export", &target]);
    let relay_addr = relay.addr.to_string();
    let ca = data.path().join("ca.pem");
    one_view_session(&relay_addr, &ca, &x.display, &token).await;
    same_as_log(data.path(), &got).await;
    let first = got.lock().unwrap().len();
    assert!(
        got.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("\"session_ended\"")),
        "the session's end was shipped"
    );

    // Stopped and started again: the stop and the start follow, once.
    let mut relay = relay;
    relay.signal("TERM");
    relay.child.wait().unwrap();
    let _relay = RelayProcess::start_on(&relay_addr, data.path(), &["--audit-export", &target]);
    poll("the second start's record", || {
        let log = std::fs::read_to_string(data.path().join("audit.jsonl")).ok()?;
        (log.matches("\"relay_started\"").count() == 2).then_some(())
    })
    .await;
    same_as_log(data.path(), &got).await;
    let lines = got.lock().unwrap().clone();
    assert!(lines.len() >= first + 2, "{lines:?}");
    assert!(
        lines[first..]
            .iter()
            .any(|l| l.contains("\"relay_started\""))
    );
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", d]);
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn records_also_go_over_udp() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let target = format!("syslog+udp://{}", sock.local_addr().unwrap());
    let data = tempfile::tempdir().unwrap();
    let _relay = RelayProcess::start(data.path(), &["--audit-export", &target]);
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("a datagram within 10 s");
    let msg = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(
        msg.starts_with("<110>1 ") && msg.contains(" relay_started - {"),
        "{msg}"
    );
}
