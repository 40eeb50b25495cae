//! The console over a big audit log: 1 million records (about 150,000
//! sessions over a year, 50 technicians, 5,000 hosts) written as the relay
//! writes them, then the real relay binary started with `--console` and
//! its pages fetched over HTTPS with curl (a new TLS connection each,
//! as a browser's first visit): the sessions page, a filtered search,
//! a deep page, one session's timeline, and the integrity check. Also the
//! time from start until the index is built, and the relay's memory.
//!
//! `cargo bench -p lifeline-tests --bench console [-- --records N --runs N]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lifeline_console::users::{Role, UserStore};
use lifeline_proto::audit::{AuditEvent, Chain, ReportKind};
use lifeline_tests::{RelayProcess, bench_arg, rss_kib};

/// Writes `n` records of made-up sessions; returns the sessions' count
/// and the id of one in the middle.
fn write_log(dir: &Path, n: u64) -> (u64, String) {
    let file = std::fs::File::create(dir.join("audit.jsonl")).unwrap();
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut chain = Chain::default();
    let mut written = 0u64;
    let mut sessions = 0u64;
    let mut middle = String::new();
    let start = 1_764_000_000u64; // late 2025
    while written < n {
        let i = sessions;
        sessions += 1;
        let id = format!("{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        if written >= n / 2 && middle.is_empty() {
            middle.clone_from(&id);
        }
        let t = start + i * 200; // a session every 200 s: a year
        let ts = |s: u64| {
            humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_secs(t + s))
                .to_string()
        };
        let tech = format!("tech-{}", i % 50);
        let host = format!("host-{}", i % 5000);
        let mut events = vec![AuditEvent::CodeIssued {
            session: id.clone(),
            locator: format!("{:05}", i % 100_000),
            host_ip: format!("10.{}.{}.{}", i % 200, i % 250, i % 240),
            host_name: host.clone(),
            os_user: format!("user{}", i % 9000),
            expires_in_s: 600,
        }];
        match i % 20 {
            0..=2 => events.push(AuditEvent::CodeClosed {
                session: id.clone(),
                reason: "expired".into(),
            }),
            kind => {
                events.push(AuditEvent::JoinAttempt {
                    session: Some(id.clone()),
                    technician: Some(tech.clone()),
                    ip: "192.0.2.10".into(),
                    locator: format!("{:05}", i % 100_000),
                    ok: true,
                    reason: None,
                    subject: None,
                });
                events.push(AuditEvent::SessionStarted {
                    session: id.clone(),
                    technician: tech.clone(),
                    host_ip: "10.0.0.1".into(),
                    viewer_ip: "192.0.2.10".into(),
                    viewer_kind: None,
                    reason: None,
                });
                let granted = kind > 5;
                let report = if granted {
                    ReportKind::ModeGranted
                } else {
                    ReportKind::Refused
                };
                events.push(AuditEvent::PeerReport {
                    session: id.clone(),
                    from: "host".into(),
                    report: report.sentence().into(),
                    mode: granted.then(|| if kind % 2 == 0 { "control" } else { "view" }.into()),
                    kind: Some(report),
                });
                if granted {
                    events.push(AuditEvent::Transfer {
                        session: id.clone(),
                        kind: "clipboard".into(),
                        direction: "to host".into(),
                        bytes: 42,
                        name: None,
                        sha256: None,
                    });
                }
                events.push(AuditEvent::SessionEnded {
                    session: id.clone(),
                    reason: "technician disconnected".into(),
                    duration_ms: 60_000 + i % 600_000,
                    bytes_host_to_viewer: 1_000_000 + i,
                    bytes_viewer_to_host: 20_000 + i,
                });
            }
        }
        for (k, e) in events.into_iter().enumerate() {
            let (line, hash) = chain.seal(ts(k as u64), e).unwrap();
            chain.advance(hash);
            out.write_all(line.as_bytes()).unwrap();
            out.write_all(b"\n").unwrap();
            written += 1;
        }
    }
    out.flush().unwrap();
    (sessions, middle)
}

/// Fetches `path` with curl using the login cookie; returns (seconds, status, body).
fn fetch(url: &str, jar: &Path, path: &str) -> (f64, u16, String) {
    let out = Command::new("curl")
        .args(["-sk", "-b"])
        .arg(jar)
        .args(["-w", "\n%{http_code} %{time_total}"])
        .arg(format!("{url}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap();
    let (code, secs) = tail.split_once(' ').unwrap();
    (
        secs.parse().unwrap(),
        code.parse().unwrap(),
        body.to_owned(),
    )
}

/// Logs in with curl; the session cookie lands in `jar`.
fn log_in(url: &str, jar: &Path, user: &str, password: &str) {
    let page = Command::new("curl")
        .args(["-sk", "-c"])
        .arg(jar)
        .arg(format!("{url}/login"))
        .output()
        .unwrap();
    let page = String::from_utf8(page.stdout).unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap();
    let csrf = &csrf[..64];
    let out = Command::new("curl")
        .args(["-sk", "-b"])
        .arg(jar)
        .arg("-c")
        .arg(jar)
        .args(["-o", "/dev/null", "-w", "%{http_code}", "--data"])
        .arg(format!("user={user}&password={password}&code=&csrf={csrf}"))
        .arg(format!("{url}/login"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "303", "login failed");
}

fn ms(s: f64) -> String {
    format!("{:.1} ms", s * 1000.0)
}

/// Median and worst of `runs` fetches of `path`, checking each for `want`.
fn measure(url: &str, jar: &Path, path: &str, want: &str, runs: usize) -> (f64, f64) {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let (t, code, body) = fetch(url, jar, path);
            assert_eq!(code, 200, "{path}: {body}");
            assert!(body.contains(want), "{path} lacks {want:?}");
            t
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() - 1])
}

fn main() {
    let n: u64 = bench_arg("--records", 1_000_000);
    let runs: usize = bench_arg("--runs", 20);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (sessions, middle) = write_log(dir.path(), n);
    let size = std::fs::metadata(dir.path().join("audit.jsonl"))
        .unwrap()
        .len();
    eprintln!(
        "wrote {n} records ({sessions} sessions, {} MB) in {:.1} s",
        size / 1_000_000,
        t.elapsed().as_secs_f64()
    );
    let users = UserStore::in_dir(dir.path());
    users.add("bench", Role::Auditor, false).unwrap();
    users.set_password("bench", "bench password 1").unwrap();

    // The relay alone on this log, for the memory the console adds.
    let plain = RelayProcess::start(dir.path(), &[]);
    std::thread::sleep(Duration::from_secs(3));
    let plain_rss = rss_kib(plain.child.id()).unwrap_or(0);
    drop(plain);

    let started = Instant::now();
    let relay = RelayProcess::start(dir.path(), &["--console", "127.0.0.1:0"]);
    let url = relay.console.clone().unwrap();
    let jar = dir.path().join("cookies");
    log_in(&url, &jar, "bench", "bench%20password%201");
    let (first, code, _) = fetch(&url, &jar, "/sessions");
    assert_eq!(code, 200);
    let indexed = started.elapsed();
    let rss = rss_kib(relay.child.id()).unwrap_or(0);

    println!(
        "Console over {n} audit records ({sessions} sessions, {} MB of JSONL), {runs} fetches each over HTTPS (curl, new TLS connection each):\n",
        size / 1_000_000
    );
    println!("| page | median | worst |");
    println!("|---|---|---|");
    let row = |name: &str, path: &str, want: &str| {
        let (p50, max) = measure(&url, &jar, path, want, runs);
        println!("| {name} | {} | {} |", ms(p50), ms(max));
    };
    row(
        "sessions (newest 50)",
        "/sessions",
        &format!("{sessions} sessions"),
    );
    row(
        "search: technician + host + outcome + mode",
        "/sessions?technician=tech-7&host=host-107&outcome=completed&mode=view",
        "sessions",
    );
    row(
        "search: free text (an IP)",
        "/sessions?q=10.57.57.57",
        "sessions",
    );
    row(
        "search: a day",
        "/sessions?from=2026-03-01&to=2026-03-01",
        "sessions",
    );
    row("page 1000 of all", "/sessions?page=1000", "page 1000");
    row(
        "one session's timeline",
        &format!("/sessions/{middle}"),
        "session started",
    );
    let (verify, code, body) = fetch(&url, &jar, "/integrity");
    assert_eq!(code, 200);
    assert!(body.contains("Intact"), "{body}");
    println!(
        "| integrity (whole chain re-hashed) | {} | (one run) |",
        ms(verify)
    );
    println!(
        "\nStart to first sessions page (relay start, index of the whole log built): {:.2} s (that first page {}). Relay resident memory: {} MB with the console's index, {} MB without the console on the same log.",
        indexed.as_secs_f64(),
        ms(first),
        rss / 1024,
        plain_rss / 1024
    );
}
