//! Issue #33, certificates that renew: the operator's `--cert/--key`
//! files rotated under a running relay (as certbot or lego do) are served
//! to new connections while a session on the old certificate goes on, a
//! broken pair is refused and the last good one kept; the relay's own
//! certificate is reissued from its CA when it is due, at start and while
//! it runs. Real relay and host binaries, a real X server.

use std::path::Path;
use std::time::{Duration, SystemTime};

use lifeline_certs::{RelayFiles, Validity};
use lifeline_net::client::ClientError;
use lifeline_session::messages::InputEvent;
use lifeline_tests::peers::{HostProcess, TestViewer};
use lifeline_tests::x::Xvfb;
use lifeline_tests::{RelayProcess, log_to, poll, poll_within, relay_cli};

fn names() -> Vec<String> {
    vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
}

/// Copies a CA folder's relay certificate and key over `cert` and `key`,
/// the key first (as an ACME client writes them: one, then the other).
fn install(from: &Path, cert: &Path, key: &Path) {
    let f = RelayFiles::in_dir(from);
    std::fs::copy(&f.key, key).unwrap();
    std::fs::copy(&f.cert, cert).unwrap();
}

/// Whether a new connection trusting only `ca` is accepted (the relay
/// presents a certificate `ca` issued) or refused as untrusted.
async fn trusted_by(addr: &str, ca: &Path) -> bool {
    match lifeline_net::client::connect(addr, Some(ca)).await {
        Ok(_) => true,
        Err(ClientError::Untrusted { .. }) => false,
        Err(e) => panic!("connecting trusting {}: {e}", ca.display()),
    }
}

/// Days the certificate in `path` has left.
fn days_left(path: &Path) -> u64 {
    let der = lifeline_certs::load_certs(path).unwrap().remove(0);
    Validity::of(&der)
        .unwrap()
        .left(SystemTime::now())
        .as_secs()
        / 86_400
}

/// Days left to the certificate the relay presents, from its metrics.
fn presented_days_left(metrics: &str) -> i64 {
    let (_, text) = super::operations::get(metrics, "/metrics");
    let not_after = super::operations::sample(&text, "lifeline_certificate_not_after_seconds");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    ((not_after - now) / 86_400.0) as i64
}

/// A session between the host and a viewer: the viewer moves the
/// pointer to `to` and the X server's pointer gets there.
async fn still_controls(viewer: &mut TestViewer, x: &Xvfb, to: (u16, u16)) {
    let (tx, ty) = to;
    viewer
        .input(InputEvent::Move {
            x: u32::from(tx),
            y: u32::from(ty),
        })
        .await;
    let want = (tx as i16, ty as i16);
    poll("the pointer to move", || {
        (x.pointer() == want).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificate_files_reach_new_connections_and_the_session_goes_on() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    lifeline_certs::ensure_relay_certs(first.path(), &names()).unwrap();
    lifeline_certs::ensure_relay_certs(second.path(), &names()).unwrap();
    let (first_ca, second_ca) = (first.path().join("ca.pem"), second.path().join("ca.pem"));
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    install(first.path(), &cert, &key);
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("relay.log");
    let relay = RelayProcess::start_logged(
        "127.0.0.1:0",
        data.path(),
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        log_to(&log),
    );
    let d = data.path().to_str().unwrap();
    let (_, token, _) = relay_cli(&["technician", "add", "bob", "--data-dir", d]);
    let addr = relay.addr.to_string();
    let host = HostProcess::spawn(&addr, &first_ca, &x.display, &["--allow", "control"]);
    let mut viewer = TestViewer::join_at(&addr, &first_ca, token.trim(), &host.code()).await;
    still_controls(&mut viewer, &x, (100, 120)).await;
    assert!(!trusted_by(&addr, &second_ca).await, "not rotated yet");

    let said = relay.said_count();
    install(second.path(), &cert, &key);
    let line = relay.wait_said(said, "Certificate reloaded from").await;
    assert!(line.contains("valid until"), "{line}");
    assert!(
        trusted_by(&addr, &second_ca).await,
        "new connections get the new one"
    );
    assert!(
        !trusted_by(&addr, &first_ca).await,
        "and no longer the old one"
    );
    let second_host = HostProcess::spawn(&addr, &second_ca, &x.display, &["--allow", "view"]);
    second_host.code();
    // The session that began on the first certificate goes on.
    still_controls(&mut viewer, &x, (300, 200)).await;

    // A broken pair (half an ACME renewal gone wrong) is refused and said;
    // the last good certificate is still presented.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    let within = Duration::from_secs(20);
    poll_within(
        "the relay to say it cannot use the broken file",
        within,
        || {
            let text = std::fs::read_to_string(&log).ok()?;
            text.contains("cannot use the certificate").then_some(())
        },
    )
    .await;
    assert!(trusted_by(&addr, &second_ca).await, "the good one kept");
    still_controls(&mut viewer, &x, (50, 60)).await;
    let said = relay.said_count();
    install(first.path(), &cert, &key);
    relay.wait_said(said, "Certificate reloaded from").await;
    assert!(
        trusted_by(&addr, &first_ca).await,
        "mended files are taken again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relays_own_certificate_is_reissued_when_due_at_start_and_while_it_runs() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(640, 480);
    let data = tempfile::tempdir().unwrap();
    let files = RelayFiles::in_dir(data.path());
    lifeline_certs::ensure_relay_certs(data.path(), &names()).unwrap();
    // Ten days left: due (under thirty).
    lifeline_certs::issue_relay_cert(data.path(), &names(), 10).unwrap();
    assert!(days_left(&files.cert) < 11);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let relay = RelayProcess::start(data.path(), &["--metrics", &metrics]);
    assert!(days_left(&files.cert) > 800, "reissued at start");
    assert!(presented_days_left(&metrics) > 800, "and presented");
    let d = data.path().to_str().unwrap();
    let (_, token, _) = relay_cli(&["technician", "add", "bob", "--data-dir", d]);
    let addr = relay.addr.to_string();
    let ca = files.ca_cert.clone();
    let host = HostProcess::spawn(&addr, &ca, &x.display, &["--allow", "control"]);
    let mut viewer = TestViewer::join_at(&addr, &ca, token.trim(), &host.code()).await;
    still_controls(&mut viewer, &x, (100, 120)).await;

    // Time passing, as a running relay sees it: its certificate has ten
    // days left again. It is taken, found due, and reissued.
    let said = relay.said_count();
    lifeline_certs::issue_relay_cert(data.path(), &names(), 10).unwrap();
    relay
        .wait_said(said, "Certificate reissued by the relay's CA")
        .await;
    poll("the reissued certificate on disk", || {
        (days_left(&files.cert) > 800).then_some(())
    })
    .await;
    // Taken once as planted, once as reissued.
    let lines = relay.said.clone();
    poll("the reissued certificate presented", || {
        let lines = lines.lock().unwrap();
        let reloads = lines.iter().skip(said);
        (reloads
            .filter(|l| l.starts_with("Certificate reloaded"))
            .count()
            >= 2)
            .then_some(())
    })
    .await;
    assert!(trusted_by(&addr, &ca).await);
    let second_host = HostProcess::spawn(&addr, &ca, &x.display, &["--allow", "view"]);
    second_host.code();
    still_controls(&mut viewer, &x, (300, 200)).await;
}
