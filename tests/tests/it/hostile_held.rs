//! Hostile peers: what already held when the relay was attacked (issue
//! #28), kept so against the real binaries: malformed control frames of
//! every kind close cleanly at a small memory cost, the console's pages
//! carry their protective headers, and every data file is private.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lifeline_net::client::{ClientError, HostLink, ViewerLink};
use lifeline_proto::control::CloseCode;
use lifeline_tests::{RelayProcess, relay_cli, rss_kib};

/// Hello { version 1, Host } and Hello { version 1, Viewer }.
const HELLO_HOST: [u8; 6] = [0, 0, 0, 2, 1, 0];
const HELLO_VIEWER: [u8; 6] = [0, 0, 0, 2, 1, 1];

/// Ten malformed openings of a control stream, each with what it is.
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let after = |hello: &[u8], rest: &[u8]| [hello, rest].concat();
    vec![
        ("a garbage hello", vec![0, 0, 0, 3, 0xff, 0xff, 0xff]),
        (
            "a 4 GiB frame length",
            vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        ),
        ("an empty frame", vec![0, 0, 0, 0]),
        ("a hello with no such role", vec![0, 0, 0, 2, 1, 7]),
        (
            "an unknown request",
            after(&HELLO_HOST, &[0, 0, 0, 2, 0x09, 0x09]),
        ),
        (
            "a host name longer than the frame",
            after(&HELLO_HOST, &[0, 0, 0, 5, 0, 0xff, 0xff, 0xff, 0x0f]),
        ),
        (
            "a host name that is not UTF-8",
            after(&HELLO_HOST, &[0, 0, 0, 5, 0, 2, 0xff, 0xfe, 0]),
        ),
        (
            "a token longer than the frame",
            after(&HELLO_VIEWER, &[0, 0, 0, 4, 0, 0xff, 0xff, 0x7f]),
        ),
        (
            "a 16 MiB frame after the hello",
            after(&HELLO_VIEWER, &[1, 0, 0, 0, 0, 0, 0, 0]),
        ),
        (
            "a frame cut short by the stream's end",
            after(&HELLO_HOST, &[0, 0, 0, 50, 0, 1, 2]),
        ),
    ]
}

fn close_code(err: &quinn::ConnectionError) -> Option<CloseCode> {
    match ClientError::from_connection(err) {
        ClientError::Closed { code, .. } => code,
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_of_ten_kinds_close_cleanly_and_cost_little_memory() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    let (rc, token, err) = relay_cli(&["technician", "add", "bob", "--data-dir", &d]);
    assert_eq!(rc, 0, "{err}");
    let relay = RelayProcess::start(data.path(), &[]);
    let (addr, ca) = (relay.addr.to_string(), data.path().join("ca.pem"));
    let before = rss_kib(relay.child.id()).unwrap();

    // Each kind from eight connections at once.
    let mut attacks = Vec::new();
    for (what, bytes) in malformed() {
        for _ in 0..8 {
            let (addr, ca, bytes) = (addr.clone(), ca.clone(), bytes.clone());
            attacks.push(tokio::spawn(async move {
                let (_ep, conn) = lifeline_net::client::connect(&addr, Some(&ca))
                    .await
                    .unwrap();
                let (mut send, _recv) = conn.open_bi().await.unwrap();
                send.write_all(&bytes).await.unwrap();
                let _ = send.finish();
                let err = tokio::time::timeout(Duration::from_secs(15), conn.closed())
                    .await
                    .unwrap_or_else(|_| panic!("the relay kept a peer sending {what}"));
                (what, close_code(&err))
            }));
        }
    }
    for attack in attacks {
        let (what, code) = attack.await.unwrap();
        assert_eq!(code, Some(CloseCode::ProtocolError), "{what}");
    }
    let after = rss_kib(relay.child.id()).expect("the relay survived");
    assert!(
        after.saturating_sub(before) < 32 * 1024,
        "80 malformed peers grew the relay from {before} KiB to {after} KiB"
    );

    // And it still pairs a real session.
    let (_h, reg) = HostLink::register(&addr, Some(&ca), "pc", "ann")
        .await
        .unwrap();
    ViewerLink::join(&addr, Some(&ca), token.trim(), reg.locator)
        .await
        .expect("a real join after the attack");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_carry_their_headers_and_data_files_are_private() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    assert_eq!(
        relay_cli(&["technician", "add", "bob", "--data-dir", &d]).0,
        0
    );
    assert_eq!(
        relay_cli(&[
            "console-user",
            "add",
            "ann",
            "--role",
            "admin",
            "--data-dir",
            &d
        ])
        .0,
        0
    );
    let relay = RelayProcess::start(data.path(), &["--console", "127.0.0.1:0"]);
    let url = relay.console.clone().expect("the console's URL");
    let (_h, _reg) = HostLink::register(
        &relay.addr.to_string(),
        Some(&data.path().join("ca.pem")),
        "pc",
        "ann",
    )
    .await
    .unwrap();

    for page in ["/login", "/", "/no-such-page"] {
        let out = Command::new("curl")
            .args(["-sk", "-D", "-", "-o", "/dev/null"])
            .arg(format!("{url}{page}"))
            .output()
            .expect("curl runs (scripts/install-deps installs it)");
        let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
        for want in [
            "content-security-policy: default-src 'none'",
            "frame-ancestors 'none'",
            "cache-control: no-store",
        ] {
            assert!(head.contains(want), "{page} lacks {want:?}:\n{head}");
        }
    }

    assert_eq!(mode(data.path()), 0o700, "the data directory");
    for file in [
        "audit.jsonl",
        "audit.head",
        "audit.writing",
        "technicians.json",
        "console-users.json",
    ] {
        assert_eq!(mode(&data.path().join(file)), 0o600, "{file}");
    }
}
