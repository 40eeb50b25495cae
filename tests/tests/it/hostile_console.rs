//! Hostile peers: a hostile console visitor: long names, raced logins, slow clients, TOTP answers, and the exporter (issue #28).
//!
//! Each test starts the real relay binary with `--console` and talks to it
//! as a script would: raw HTTP/1.1 over TLS (rustls, trusting the relay's
//! CA) on TCP connections bound to chosen loopback addresses, so one test
//! can be many clients.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use lifeline_proto::audit::{AuditEvent, CUT_MARK, Chain, MAX_LINE_BYTES, MAX_NAME_BYTES};
use lifeline_tests::{RelayProcess, audit_records, poll, relay_cli};
use quinn::rustls;

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// The console of a relay, reached over TLS from any loopback address.
struct Console {
    addr: SocketAddrV4,
    tls: Arc<rustls::ClientConfig>,
}

impl Console {
    fn of(relay: &RelayProcess, data: &Path) -> Self {
        let url = relay
            .console
            .clone()
            .expect("the relay printed its console URL");
        let addr = url.trim_start_matches("https://").parse().unwrap();
        let roots = lifeline_certs::client_roots(Some(&data.join("ca.pem"))).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            addr,
            tls: Arc::new(tls),
        }
    }

    /// A TCP connection from `from` (any 127.x.y.z is this machine).
    fn tcp(&self, from: Ipv4Addr) -> std::io::Result<TcpStream> {
        use rustix::net::{AddressFamily, SocketType, bind, connect, socket};
        let fd = socket(AddressFamily::INET, SocketType::STREAM, None)?;
        bind(&fd, &SocketAddrV4::new(from, 0))?;
        connect(&fd, &self.addr)?;
        let tcp = TcpStream::from(fd);
        tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(tcp)
    }

    /// A TLS connection from `from`, its handshake done.
    fn connect(&self, from: Ipv4Addr) -> std::io::Result<Tls> {
        let mut tcp = self.tcp(from)?;
        let name = rustls::pki_types::ServerName::from(std::net::IpAddr::V4(*self.addr.ip()));
        let mut conn =
            rustls::ClientConnection::new(self.tls.clone(), name).map_err(std::io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)?;
        }
        Ok(rustls::StreamOwned::new(conn, tcp))
    }

    /// The login form's CSRF token (its cookie and its field are the same).
    fn login_token(&self, from: Ipv4Addr) -> String {
        let (status, text) = send(&mut self.connect(from).unwrap(), &get("/login"));
        assert_eq!(status, 200, "{text}");
        let at = text.find("__Host-lifeline-login=").unwrap() + 22;
        text[at..at + 64].to_owned()
    }

    /// Posts the login form from `from`: the status and the page.
    fn log_in(&self, from: Ipv4Addr, token: &str, user: &str, password: &str) -> (u16, String) {
        let mut tls = self.connect(from).unwrap();
        send(&mut tls, &login_post(token, user, password, ""))
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: console\r\nConnection: close\r\n\r\n").into_bytes()
}

/// `application/x-www-form-urlencoded` for letters, digits and spaces.
fn form_value(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' ' => "+".to_owned(),
            c if c.is_ascii_alphanumeric() => c.to_string(),
            c => format!("%{:02X}", c as u32),
        })
        .collect()
}

fn login_post(token: &str, user: &str, password: &str, code: &str) -> Vec<u8> {
    let body = format!(
        "csrf={token}&user={}&password={}&code={code}",
        form_value(user),
        form_value(password)
    );
    format!(
        "POST /login HTTP/1.1\r\nHost: console\r\nConnection: close\r\n\
         Cookie: __Host-lifeline-login={token}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends a request and reads the answer to its end: the status and the
/// whole text (headers and body).
fn send(tls: &mut Tls, request: &[u8]) -> (u16, String) {
    try_send(tls, request).unwrap()
}

/// [`send`], where the server may cut the connection instead of answering.
fn try_send(tls: &mut Tls, request: &[u8]) -> std::io::Result<(u16, String)> {
    tls.write_all(request)?;
    tls.flush()?;
    let text = read_all(tls)?;
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    Ok((status, text))
}

/// Everything until the server closes (with or without TLS's close_notify);
/// a read that times out is an error.
fn read_all(tls: &mut Tls) -> std::io::Result<String> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

fn log_size(data: &Path) -> u64 {
    std::fs::metadata(data.join("audit.jsonl")).unwrap().len()
}

/// The console_login records: (user, reason, attempts).
fn logins(data: &Path) -> Vec<(String, Option<String>, Option<u64>)> {
    audit_records(data)
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::ConsoleLogin {
                user,
                reason,
                attempts,
                ..
            } => Some((user, reason, attempts)),
            _ => None,
        })
        .collect()
}

/// Waits for a record counting a burst of `attempts` refusals.
async fn burst_of(data: &Path, attempts: u64) -> (String, Option<String>) {
    poll("the burst's counted record", || {
        logins(data)
            .into_iter()
            .find(|(_, _, n)| *n == Some(attempts))
            .map(|(u, r, _)| (u, r))
    })
    .await
}

const HERE: Ipv4Addr = Ipv4Addr::LOCALHOST;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_login_names_grow_the_log_by_a_bounded_amount_a_burst_by_one_record() {
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path(), &["--console", "127.0.0.1:0"]);
    let console = Console::of(&relay, data.path());
    poll("the relay's start record", || {
        let log = std::fs::read_to_string(data.path().join("audit.jsonl")).ok()?;
        log.contains("\"relay_started\"").then_some(())
    })
    .await;
    let before = log_size(data.path());
    let d = data.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let token = console.login_token(HERE);
        // Five 600 kB names: refused at the door, nothing logged.
        let huge = "a".repeat(600_000);
        for _ in 0..5 {
            let mut tls = console.connect(HERE).unwrap();
            // Refused (413) once 64 KiB came, or cut while still sending.
            if let Ok((status, _)) = try_send(&mut tls, &login_post(&token, &huge, "guess", "")) {
                assert_eq!(status, 413);
            }
        }
        let log = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
        assert_eq!(log_size(&d), before, "a refused body writes nothing: {log}");
        // Five 60 kB names (under the body limit): checked, logged cut.
        let long = "b".repeat(60_000);
        for _ in 0..5 {
            let (status, page) = console.log_in(HERE, &token, &long, "guess");
            assert_eq!(status, 401, "{page}");
        }
        // Then 40 more: throttled, counted, not logged one by one.
        for _ in 0..40 {
            let (status, _) = console.log_in(HERE, &token, &long, "guess");
            assert_eq!(status, 429);
        }
    })
    .await
    .unwrap();
    let (user, reason) = burst_of(data.path(), 40).await;
    assert!(user.len() <= MAX_NAME_BYTES && user.ends_with(CUT_MARK));
    assert!(reason.unwrap().starts_with("throttled"));
    let checked: Vec<_> = logins(data.path())
        .into_iter()
        .filter(|(_, _, n)| n.is_none())
        .collect();
    assert_eq!(checked.len(), 5, "{checked:?}");
    for (user, _, _) in &checked {
        assert!(user.len() <= MAX_NAME_BYTES && user.ends_with(CUT_MARK));
    }
    // Fifty-five attempts with 60-600 kB names: six records, each at most
    // MAX_LINE_BYTES (2 KiB).
    let grown = log_size(data.path()) - before;
    assert!(
        grown <= 6 * MAX_LINE_BYTES as u64,
        "the log grew {grown} bytes"
    );
    eprintln!("55 hostile logins grew audit.jsonl by {grown} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_too_big_for_a_datagram_does_not_stop_the_udp_export() {
    // A log from before records were bounded: a 70 kB name in it.
    let data = tempfile::tempdir().unwrap();
    let mut chain = Chain::default();
    let huge = AuditEvent::ConsoleLogin {
        user: "c".repeat(70_000),
        ip: "192.0.2.1".into(),
        ok: false,
        reason: Some("no such user".into()),
        attempts: None,
        issuer: None,
        subject: None,
    };
    let (line, hash) = chain.seal("2026-12-01T00:00:00.000Z".into(), huge).unwrap();
    chain.advance(hash.clone());
    std::fs::write(data.path().join("audit.jsonl"), format!("{line}\n")).unwrap();
    std::fs::write(
        data.path().join("audit.head"),
        format!("{:020} {hash}\n", 1),
    )
    .unwrap();

    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let target = format!("syslog+udp://{}", sock.local_addr().unwrap());
    let _relay = RelayProcess::start(data.path(), &["--audit-export", &target]);
    let mut buf = vec![0u8; 70_000];
    let n = sock
        .recv(&mut buf)
        .expect("the big record, cut, within 30 s");
    let first = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(
        n <= 2048,
        "one datagram carries at most 2048 octets, got {n}"
    );
    assert!(first.contains(" console_login - {\"seq\":1,"), "{first}");
    assert!(
        first.ends_with(&format!("\"hash\":\"{hash}\"}}")),
        "{first}"
    );
    let n = sock
        .recv(&mut buf)
        .expect("the record after it, within 30 s");
    let next = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(next.contains(" relay_started - {\"seq\":2,"), "{next}");
}

/// `console-user add`: the one-time password (and the otpauth URI).
fn console_user(d: &str, name: &str, totp: bool) -> String {
    let mut args = vec![
        "console-user",
        "add",
        name,
        "--role",
        "admin",
        "--data-dir",
        d,
    ];
    if totp {
        args.push("--totp");
    }
    let (rc, out, err) = relay_cli(&args);
    assert_eq!(rc, 0, "{err}");
    out.trim().to_owned()
}

/// Peak resident memory of a process (VmHWM), in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_raced_wrong_logins_for_one_name_get_at_most_five_password_checks() {
    const RACERS: u8 = 60;
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    console_user(&d, "ann", false);
    let relay = RelayProcess::start(data.path(), &["--console", "127.0.0.1:0"]);
    let console = Arc::new(Console::of(&relay, data.path()));
    let pid = relay.child.id();
    let peak_before = peak_kib(pid);
    let statuses = tokio::task::spawn_blocking(move || {
        let token = console.login_token(HERE);
        // Sixty clients, each from an address of its own (no per-address
        // limit helps), connected first, then all posting at once.
        let go = Arc::new(Barrier::new(usize::from(RACERS)));
        let racers: Vec<_> = (0..RACERS)
            .map(|i| {
                let (console, go, token) = (console.clone(), go.clone(), token.clone());
                std::thread::spawn(move || {
                    let mut tls = console.connect(Ipv4Addr::new(127, 0, 1, 10 + i)).unwrap();
                    let post = login_post(&token, "ann", "not the password", "");
                    go.wait();
                    send(&mut tls, &post).0
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<u16>>()
    })
    .await
    .unwrap();
    let peak_after = peak_kib(pid);
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{statuses:?}"
    );
    // Every attempt is in the log: checked ones one by one, the rest
    // counted in bursts.
    let refused = u64::from(RACERS) - wrong as u64;
    poll("every refused attempt counted", || {
        let counted: u64 = logins(data.path()).iter().filter_map(|l| l.2).sum();
        (counted == refused).then_some(())
    })
    .await;
    let checks = logins(data.path())
        .into_iter()
        .filter(|(_, reason, n)| n.is_none() && reason.as_deref() == Some("wrong password"))
        .count();
    assert_eq!(checks, wrong);
    assert!(
        (1..=5).contains(&checks),
        "{checks} password checks for {RACERS} raced logins"
    );
    eprintln!(
        "{RACERS} raced wrong logins for one name: {checks} password checks; relay peak RSS {} MiB before, {} MiB after",
        peak_before / 1024,
        peak_after / 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_lock_a_visitor_out() {
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path(), &["--console", "127.0.0.1:0"]);
    let console = Console::of(&relay, data.path());
    tokio::task::spawn_blocking(move || {
        let token = console.login_token(HERE);
        // Forty connections from one address, each sending a login's
        // headers and then its body a byte at a time, too slowly.
        let mut held = Vec::new();
        for _ in 0..40 {
            let Ok(mut tls) = console.connect(HERE) else {
                continue; // refused at the per-address limit
            };
            let head = format!(
                "POST /login HTTP/1.1\r\nHost: console\r\n\
                 Cookie: __Host-lifeline-login={token}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nc"
            );
            if tls
                .write_all(head.as_bytes())
                .and_then(|()| tls.flush())
                .is_ok()
            {
                held.push(tls);
            }
        }
        assert!(
            held.len() <= 16,
            "{} slow connections held from one address",
            held.len()
        );
        // A visitor from another address gets the login page at once.
        let (status, page) = send(
            &mut console.connect(Ipv4Addr::new(127, 0, 0, 2)).unwrap(),
            &get("/login"),
        );
        assert_eq!(status, 200);
        assert!(page.contains("name=\"code\""), "{page}");
        // The slow bodies are cut off: 408, then the connection closes.
        let mut slow = held.pop().unwrap();
        let answer = read_all(&mut slow).expect("closed within the read timeout");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
        // A connection that says nothing is closed too, and so is one kept
        // alive after its request that then idles.
        let mut idle = console.connect(Ipv4Addr::new(127, 0, 0, 3)).unwrap();
        let nothing = read_all(&mut idle).expect("closed within the read timeout");
        assert!(nothing.is_empty(), "{nothing}");
        let mut kept = console.connect(Ipv4Addr::new(127, 0, 0, 3)).unwrap();
        let keep_alive = b"GET /login HTTP/1.1\r\nHost: console\r\n\r\n";
        let (status, _) = try_send(&mut kept, keep_alive).expect("closed within the read timeout");
        assert_eq!(status, 200);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_totp_account_says_the_same_for_a_right_password_without_its_code() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    let once = console_user(&d, "tina", true);
    let relay = RelayProcess::start(data.path(), &["--console", "127.0.0.1:0"]);
    let console = Console::of(&relay, data.path());
    tokio::task::spawn_blocking(move || {
        let token = console.login_token(HERE);
        let error = |page: &str| {
            let at = page.find("id=\"error\">").expect("an error on the page") + 11;
            page[at..at + page[at..].find('<').unwrap()].to_owned()
        };
        let (wrong_status, wrong) = console.log_in(HERE, &token, "tina", "not her password");
        let (right_status, right) = console.log_in(HERE, &token, "tina", &once);
        let mut tls = console.connect(HERE).unwrap();
        let (code_status, code) = send(&mut tls, &login_post(&token, "tina", &once, "000000"));
        let (nobody_status, nobody) = console.log_in(HERE, &token, "nobody", "x");
        assert_eq!(error(&wrong), "Wrong name, password or code.");
        for (status, page) in [
            (right_status, &right),
            (code_status, &code),
            (nobody_status, &nobody),
        ] {
            assert_eq!((status, error(page)), (wrong_status, error(&wrong)));
        }
    })
    .await
    .unwrap();
    let reasons: Vec<_> = logins(data.path())
        .into_iter()
        .filter_map(|l| l.1)
        .collect();
    assert!(
        reasons.contains(&"second factor missing".to_owned()),
        "the log still says why: {reasons:?}"
    );
}
