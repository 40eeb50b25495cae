//! Issue #32's trust model, first part: the organisation's key and the
//! technician's, made and signed by the real `lifeline-viewer org` and
//! `lifeline-viewer unattended` commands, then checked the way an
//! enrolled device checks them (`lifeline-trust`'s handshake): a vouched
//! technician is admitted, the same one after `org revoke` is not, and
//! every key is its owner's alone on disk.

use std::path::Path;

use lifeline_tests::run_cli;
use lifeline_trust::TrustError;
use lifeline_trust::creds::{Revocations, TechnicianCert};
use lifeline_trust::handshake::{Device, StaticKey, Technician};
use lifeline_trust::org::{Anchor, Signed};

/// Runs `lifeline-viewer ARGS…`: exit code, stdout, stderr.
pub(super) fn viewer(args: &[&str]) -> (i32, String, String) {
    run_cli("lifeline-viewer", args)
}

pub(super) fn ok(args: &[&str]) -> String {
    let (rc, out, err) = viewer(args);
    assert_eq!(rc, 0, "lifeline-viewer {}: {err}", args.join(" "));
    out.trim().to_owned()
}

#[cfg(unix)]
pub(super) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The device's side of a handshake with the technician whose key is in
/// `key_file` and certificate is `cert`.
fn device_admits(
    anchor: Anchor,
    key_file: &Path,
    cert: &str,
    revoked: Option<&Revocations>,
) -> Result<TechnicianCert, TrustError> {
    let tech = StaticKey::from_bytes(&std::fs::read(key_file).unwrap()).unwrap();
    let device = StaticKey::generate().unwrap();
    let cert = Signed::from_text(cert, "lifeline-cert:").unwrap();
    let (mut t, first) = Technician::start(&tech, cert, "u-1", "INC-1")?;
    let mut d = Device::new(&device, anchor, revoked, "u-1", "desk")?;
    t.read_device(&d.read_hello(&first)?)?;
    let (last, _) = t.finish()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Ok(d.read_proof(&last, now, revoked)?.cert)
}

#[test]
fn an_admin_vouches_for_a_technician_and_revokes_them() {
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org");
    let me = dir.path().join("me");
    let (org, me) = (org.to_str().unwrap(), me.to_str().unwrap());

    let anchor = ok(&["org", "init", "--dir", org]);
    let anchor = Anchor::from_text(&anchor).unwrap();
    assert_eq!(ok(&["org", "anchor", "--dir", org]), anchor.to_text());
    // A second init would orphan every device: refused, the key kept.
    let key_before = std::fs::read(Path::new(org).join("org.key")).unwrap();
    let (rc, _, err) = viewer(&["org", "init", "--dir", org]);
    assert_ne!(rc, 0);
    assert!(err.contains("already has a key"), "{err}");
    assert_eq!(
        std::fs::read(Path::new(org).join("org.key")).unwrap(),
        key_before
    );

    let key = ok(&["unattended", "key", "--dir", me]);
    assert!(key.starts_with("lifeline-key:"), "{key}");
    assert_eq!(ok(&["unattended", "key", "--dir", me]), key, "made once");
    let cert = ok(&[
        "org", "vouch", "bob", "--key", &key, "--days", "2", "--dir", org,
    ]);
    assert!(cert.starts_with("lifeline-cert:"), "{cert}");
    ok(&["unattended", "cert", &cert, "--dir", me]);
    assert_eq!(
        std::fs::read_to_string(Path::new(me).join("cert")).unwrap(),
        cert
    );
    #[cfg(unix)]
    for file in ["org/org.key", "org/revocations", "me/key", "me/cert"] {
        let path = dir.path().join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }

    let key_file = Path::new(me).join("key");
    let admitted = device_admits(anchor, &key_file, &cert, None).unwrap();
    assert_eq!(admitted.name, "bob");
    assert!(admitted.not_after - admitted.not_before == 2 * 24 * 3600);

    // Revoked: the list the admin signs turns the same certificate away.
    let list = ok(&[
        "org",
        "revoke",
        "--serial",
        &admitted.serial.to_string(),
        "--dir",
        org,
    ]);
    let list = Revocations::open(
        &anchor,
        &Signed::from_text(&list, "lifeline-revocations:").unwrap(),
    )
    .unwrap();
    assert_eq!(
        (list.seq, list.technicians.clone()),
        (1, vec![admitted.serial])
    );
    assert_eq!(
        device_admits(anchor, &key_file, &cert, Some(&list)).unwrap_err(),
        TrustError::Revoked
    );
    // Another organisation's device does not know bob at all.
    let other = dir.path().join("other");
    let other_anchor = ok(&["org", "init", "--dir", other.to_str().unwrap()]);
    assert_eq!(
        device_admits(
            Anchor::from_text(&other_anchor).unwrap(),
            &key_file,
            &cert,
            None
        )
        .unwrap_err(),
        TrustError::BadSignature
    );
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org");
    let me = dir.path().join("me");
    let (org, me) = (org.to_str().unwrap(), me.to_str().unwrap());
    let refused = |args: &[&str], says: &str| {
        let (rc, out, err) = viewer(args);
        assert_ne!(rc, 0, "{}: {out}", args.join(" "));
        assert!(err.contains(says), "{}: {err}", args.join(" "));
    };
    refused(
        &["org", "vouch", "bob", "--key", "x", "--dir", org],
        "org init",
    );
    ok(&["org", "init", "--dir", org]);
    refused(
        &[
            "org",
            "vouch",
            "bob",
            "--key",
            "lifeline-key:AAAA",
            "--dir",
            org,
        ],
        "lifeline-key",
    );
    let key = ok(&["unattended", "key", "--dir", me]);
    refused(
        &[
            "org", "vouch", "bob", "--key", &key, "--days", "90", "--dir", org,
        ],
        "1 to 31",
    );
    refused(
        &["org", "vouch", "a\u{1b}b", "--key", &key, "--dir", org],
        "control characters",
    );
    refused(&["org", "revoke", "--dir", org], "name what to revoke");
    refused(
        &["unattended", "cert", "lifeline-cert:AAAA", "--dir", me],
        "not a certificate",
    );
    // A certificate for someone else's key is not kept.
    let theirs = ok(&[
        "unattended",
        "key",
        "--dir",
        dir.path().join("them").to_str().unwrap(),
    ]);
    let cert = ok(&["org", "vouch", "eve", "--key", &theirs, "--dir", org]);
    refused(&["unattended", "cert", &cert, "--dir", me], "not yours");
    assert!(!Path::new(me).join("cert").exists());
}

/// Runs `lifeline-host ARGS…`.
fn host(args: &[&str]) -> (i32, String, String) {
    run_cli("lifeline-host", args)
}

/// A relay with a technician, an organisation, and a way to make tickets.
pub(super) struct Fleet {
    pub(super) work: tempfile::TempDir,
    pub(super) relay: lifeline_tests::RelayProcess,
    pub(super) addr: String,
    pub(super) token: String,
    pub(super) anchor: String,
}

impl Fleet {
    pub(super) fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Fleet::start`] with the relay's `serve` options `extra`.
    pub(super) fn start_with(extra: &[&str]) -> Self {
        let work = tempfile::tempdir().unwrap();
        let data = work.path().join("relay");
        std::fs::create_dir_all(&data).unwrap();
        let d = data.to_str().unwrap();
        let (rc, token, err) =
            lifeline_tests::relay_cli(&["technician", "add", "bob", "--data-dir", d]);
        assert_eq!(rc, 0, "{err}");
        let relay = lifeline_tests::RelayProcess::start(&data, extra);
        let org = work.path().join("org");
        let anchor = ok(&["org", "init", "--dir", org.to_str().unwrap()]);
        Self {
            addr: relay.addr.to_string(),
            relay,
            token: token.trim().to_owned(),
            anchor,
            work,
        }
    }

    pub(super) fn data(&self) -> std::path::PathBuf {
        self.work.path().join("relay")
    }

    pub(super) fn ca(&self) -> String {
        self.data().join("ca.pem").to_str().unwrap().to_owned()
    }

    pub(super) fn ticket(&self, policy: &str) -> String {
        let data = self.data();
        let (rc, out, err) = lifeline_tests::relay_cli(&[
            "device",
            "ticket",
            "--group",
            "lab",
            "--policy",
            policy,
            "--anchor",
            &self.anchor,
            "--data-dir",
            data.to_str().unwrap(),
        ]);
        assert_eq!(rc, 0, "{err}");
        out.trim().to_owned()
    }

    /// Enrolls a machine as `name` in the folder `dir`: what it said.
    pub(super) fn enroll(&self, name: &str, dir: &Path) -> String {
        self.enroll_as(name, dir, "unattended")
    }

    /// [`Fleet::enroll`] in a group of `policy`.
    pub(super) fn enroll_as(&self, name: &str, dir: &Path, policy: &str) -> String {
        let ticket = self.ticket(policy);
        let (rc, said, err) = host(&[
            "enroll",
            "--relay",
            &self.addr,
            "--ca",
            &self.ca(),
            "--ticket",
            &ticket,
            "--name",
            name,
            "--dir",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(rc, 0, "{err}");
        said
    }

    /// The device list as the technician sees it.
    pub(super) fn devices(&self) -> Vec<serde_json::Value> {
        let out = ok(&[
            "devices",
            "--relay",
            &self.addr,
            "--ca",
            &self.ca(),
            "--token",
            &self.token,
            "--json",
        ]);
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// An admin makes a ticket at the real relay, the real host enrolls with
/// it (its key and the organisation's anchor on disk, `0600`), the ticket
/// works once, the audit log says so, and a technician's token lists the
/// device with the key the host showed.
#[test]
fn a_machine_enrolls_once_with_a_ticket_and_technicians_see_it() {
    let fleet = Fleet::start();
    let (work, addr, token, anchor) = (&fleet.work, &fleet.addr, &fleet.token, &fleet.anchor);
    let data = fleet.data();
    let ca = fleet.ca();
    let ca = ca.as_str();
    let ticket_for = |policy: &str| fleet.ticket(policy);
    let ticket = ticket_for("unattended");
    assert!(ticket.starts_with("lifeline-ticket:"), "{ticket}");

    let dev = work.path().join("device");
    let dev_s = dev.to_str().unwrap();
    let (rc, said, err) = host(&[
        "enroll", "--relay", addr, "--ca", ca, "--ticket", &ticket, "--name", "desk-7", "--dir",
        dev_s,
    ]);
    assert_eq!(rc, 0, "{err}");
    assert!(
        said.contains("Enrolled as \"desk-7\" in group \"lab\" (unattended)"),
        "{said}"
    );
    let anchor_fp = Anchor::from_text(anchor).unwrap().fingerprint();
    assert!(
        said.contains(&anchor_fp),
        "the anchor's fingerprint is shown: {said}"
    );
    assert_eq!(
        std::fs::read_to_string(dev.join("anchor")).unwrap(),
        *anchor,
        "the organisation's anchor is pinned"
    );
    let key = StaticKey::from_bytes(&std::fs::read(dev.join("key")).unwrap()).unwrap();
    let key_fp = lifeline_trust::handshake::key_fingerprint(&key.public());
    assert!(said.contains(&key_fp), "{said}");
    #[cfg(unix)]
    for file in ["key", "anchor", "device.json"] {
        assert_eq!(mode(&dev.join(file)), 0o600, "{file}");
    }

    // Once: the same ticket enrolls nothing more, and this machine is
    // enrolled already.
    let other = work.path().join("other");
    let (rc, _, err) = host(&[
        "enroll",
        "--relay",
        addr,
        "--ca",
        ca,
        "--ticket",
        &ticket,
        "--name",
        "desk-8",
        "--dir",
        other.to_str().unwrap(),
    ]);
    assert_ne!(rc, 0);
    assert!(err.contains("already used"), "{err}");
    assert!(
        !other.join("key").exists(),
        "a refused enrollment keeps no key"
    );
    let fresh = ticket_for("attended");
    let (rc, _, err) = host(&[
        "enroll", "--relay", addr, "--ca", ca, "--ticket", &fresh, "--dir", dev_s,
    ]);
    assert_ne!(rc, 0);
    assert!(err.contains("already enrolled"), "{err}");
    let (rc, _, err) = host(&[
        "enroll",
        "--relay",
        addr,
        "--ca",
        ca,
        "--ticket",
        "lifeline-ticket:00",
        "--dir",
        other.to_str().unwrap(),
    ]);
    assert_ne!(rc, 0);
    assert!(err.contains("not an enrollment ticket"), "{err}");

    // The technician's list: the device, its group and policy, its key.
    let listed = ok(&[
        "devices", "--relay", addr, "--ca", ca, "--token", token, "--json",
    ]);
    let entry: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(entry["name"], "desk-7", "{entry}");
    assert_eq!(entry["group"], "lab");
    assert_eq!(entry["policy"], "unattended");
    assert_eq!(entry["online"], false, "no service yet");
    assert_eq!(entry["key"], key_fp.as_str());
    let (rc, _, err) = viewer(&[
        "devices", "--relay", addr, "--ca", ca, "--token", "llt_nope",
    ]);
    assert_ne!(rc, 0);
    assert!(err.contains("refused"), "{err}");

    // The audit log: the ticket made (before it was), the enrollment.
    let records = lifeline_tests::audit_records(&data);
    let kinds: Vec<&str> = records.iter().map(|r| r.event.name()).collect();
    assert!(kinds.contains(&"admin_action"), "{kinds:?}");
    let enrolled = records
        .iter()
        .find_map(|r| match &r.event {
            lifeline_proto::audit::AuditEvent::DeviceEnrolled {
                device,
                group,
                policy,
                key,
                ..
            } => Some((device.clone(), group.clone(), policy.clone(), key.clone())),
            _ => None,
        })
        .expect("a device_enrolled record");
    assert_eq!(
        enrolled,
        (
            "desk-7".into(),
            "lab".into(),
            "unattended".into(),
            key_fp.clone()
        )
    );
}

/// `lifeline-host service` keeps the enrolled machine listed online: at
/// once, again within 5 s of its relay being killed (kill -9) and started
/// on the same port, and not after the relay forgets its token (exit 2).
#[test]
fn the_service_stays_listed_online_through_a_relay_restart() {
    let (mut fleet, mut service) = online_through_a_restart(&[]);
    // The relay forgets the device's token (enrolled again elsewhere):
    // the service stops with status 2, which its unit does not restart.
    let data = fleet.data();
    let devices = data.join("devices.json");
    let text = std::fs::read_to_string(&devices).unwrap();
    let mut all: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    all[0]["token_sha256"] = serde_json::json!("00".repeat(32));
    std::fs::write(&devices, serde_json::to_vec(&all).unwrap()).unwrap();
    fleet.relay.child.kill().unwrap();
    fleet.relay.child.wait().unwrap();
    fleet.relay = lifeline_tests::RelayProcess::start_on(&fleet.addr, &data, &[]);
    let status = lifeline_tests::wait_for("the service to stop", || service.0.try_wait().unwrap());
    assert_eq!(status.code(), Some(2));
}

/// A relay with a devices port (`serve --devices-listen`): the service,
/// sent there by the main port, comes online there (its `online` event
/// names the port), and again within 5 s of a kill -9 and restart; the
/// port takes nothing but devices coming online.
#[test]
fn the_service_comes_online_at_the_devices_port_and_through_a_restart() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let (fleet, _service) = online_through_a_restart(&["--devices-listen", &listen]);
    let said = std::fs::read_to_string(fleet.work.path().join("service.out")).unwrap();
    let onlines: Vec<serde_json::Value> = said
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "online")
        .collect();
    assert!(onlines.len() >= 2, "online, then again: {said}");
    assert!(onlines.iter().all(|v| v["port"] == port), "{said}");

    // A host asking for a code there is told where to go.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let refused = rt.block_on(async {
        let tls = lifeline_common::tls::client_config(Some(Path::new(&fleet.ca()))).unwrap();
        let connector = lifeline_net::client::Connector::with_config(&listen, tls)
            .await
            .unwrap();
        lifeline_net::client::HostLink::register_with(&connector, "h", "u").await
    });
    match refused {
        Err(lifeline_net::client::ClientError::Closed { reason, .. }) => {
            assert!(reason.contains("devices port"), "{reason}");
            assert!(reason.contains("main port"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A fleet whose relay runs with `extra` and a device whose service
/// (stdout in `service.out`) is listed online, then again within 5 s of
/// the relay being killed (kill -9) and started on the same port.
fn online_through_a_restart(extra: &[&str]) -> (Fleet, Reaped) {
    let mut fleet = Fleet::start_with(extra);
    let dev = fleet.work.path().join("device");
    fleet.enroll("desk-9", &dev);
    let out = std::fs::File::create(fleet.work.path().join("service.out")).unwrap();
    let service = std::process::Command::new(lifeline_tests::bin("lifeline-host"))
        .args(["service", "--json", "--dir", dev.to_str().unwrap()])
        .env("LIFELINE_RECEIPTS", fleet.work.path().join("receipts"))
        .stdout(out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed whatever happens: a service left running would hold the
    // test's output open.
    let service = Reaped(service);
    let online = |fleet: &Fleet| {
        fleet
            .devices()
            .iter()
            .any(|d| d["name"] == "desk-9" && d["online"] == true)
    };
    lifeline_tests::wait_for("the device listed online", || online(&fleet).then_some(()));

    let data = fleet.data();
    fleet.relay.child.kill().unwrap(); // kill -9
    fleet.relay.child.wait().unwrap();
    let restarted = std::time::Instant::now();
    fleet.relay = lifeline_tests::RelayProcess::start_on(&fleet.addr, &data, extra);
    let ready = restarted.elapsed();
    loop {
        if online(&fleet) {
            break;
        }
        assert!(
            restarted.elapsed() < ready + std::time::Duration::from_secs(5),
            "listed online again within 5 s of the restart"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    (fleet, service)
}

/// A child process killed when dropped.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
