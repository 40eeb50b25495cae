//! Issue #32's sessions with enrolled devices, with the real binaries: a
//! technician the organisation vouches for reaches an unattended device
//! without any click and types into its xterm; an attended device whose
//! user does not answer refuses after a minute; a device disabled at the
//! relay, a technician the organisation revoked and a device whose key it
//! revoked are refused; every request is in the audit log with its
//! policy and reason.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use lifeline_proto::audit::AuditEvent;
use lifeline_tests::x::Xvfb;

use super::unattended::{Fleet, ok, viewer};

/// A technician's unattended folder with a certificate the fleet's
/// organisation signed for `name`; the folder.
pub(super) fn technician(fleet: &Fleet, name: &str) -> (PathBuf, u64) {
    let me = fleet.work.path().join(format!("tech-{name}"));
    let me_s = me.to_str().unwrap();
    let org = fleet.work.path().join("org");
    let key = ok(&["unattended", "key", "--dir", me_s]);
    let cert = ok(&[
        "org",
        "vouch",
        name,
        "--key",
        &key,
        "--days",
        "1",
        "--dir",
        org.to_str().unwrap(),
    ]);
    ok(&["unattended", "cert", &cert, "--dir", me_s]);
    let signed = lifeline_trust::org::Signed::from_text(&cert, "lifeline-cert:").unwrap();
    let serial = lifeline_trust::creds::TechnicianCert::unchecked(&signed)
        .unwrap()
        .serial;
    (me, serial)
}

/// The enrolled device's service, on display `display`, until dropped.
pub(super) struct Service {
    child: Child,
    log: PathBuf,
}

impl Service {
    pub(super) fn start(dir: &Path, display: &str) -> Self {
        let log = dir.with_extension("log");
        let child = Command::new(lifeline_tests::bin("lifeline-host"))
            .args(["service", "--json", "--dir", dir.to_str().unwrap()])
            .env("DISPLAY", display)
            .env("LIFELINE_RECEIPTS", dir.with_extension("receipts"))
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::piped())
            .stdout(lifeline_tests::log_to(&log))
            .stderr(lifeline_tests::log_to(&log.with_extension("err")))
            .env("LIFELINE_LOG", "debug")
            .spawn()
            .unwrap();
        Self { child, log }
    }

    pub(super) fn said(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What it logged (stderr).
    pub(super) fn logged(&self) -> String {
        std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fleet with the device `name` enrolled in a group of `policy`, its
/// service running on `x` and listed online.
fn online_device(x: &Xvfb, name: &str, policy: &str) -> (Fleet, PathBuf, Service) {
    online_device_with(x, name, policy, &[])
}

/// [`online_device`] with the relay's `serve` options `extra`.
fn online_device_with(
    x: &Xvfb,
    name: &str,
    policy: &str,
    extra: &[&str],
) -> (Fleet, PathBuf, Service) {
    let fleet = Fleet::start_with(extra);
    let dev = fleet.work.path().join("device");
    fleet.enroll_as(name, &dev, policy);
    let service = Service::start(&dev, &x.display);
    until_online(&fleet, name);
    (fleet, dev, service)
}

/// Waits until the fleet lists `name` online.
pub(super) fn until_online(fleet: &Fleet, name: &str) {
    lifeline_tests::wait_for("the device listed online", || {
        fleet
            .devices()
            .iter()
            .any(|d| d["name"] == name && d["online"] == true)
            .then_some(())
    });
}

/// Runs the headless viewer against device `name` with `script`: exit
/// code, stdout (JSON lines), stderr.
pub(super) fn connect(
    fleet: &Fleet,
    tech: &Path,
    name: &str,
    reason: &str,
    script: &str,
) -> (i32, String, String) {
    let file = tech.join(format!("script-{name}.txt"));
    std::fs::write(&file, script).unwrap();
    viewer(&[
        "--relay",
        &fleet.addr,
        "--ca",
        &fleet.ca(),
        "--token",
        &fleet.token,
        "--device",
        name,
        "--reason",
        reason,
        "--unattended-dir",
        tech.to_str().unwrap(),
        "--headless",
        "--json",
        "--script",
        file.to_str().unwrap(),
    ])
}

pub(super) fn device_sessions(fleet: &Fleet) -> Vec<(String, String, String, Option<String>)> {
    lifeline_tests::audit_records(&fleet.data())
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::DeviceSession {
                device,
                policy,
                reason,
                refused,
                ..
            } => Some((device, policy, reason, refused)),
            _ => None,
        })
        .collect()
}

/// Enroll → service → listed online → a technician connects without any
/// click and the text typed arrives exactly in an xterm; the device's key
/// is pinned on first use; the request is audited with its policy and
/// reason; a second session finds the same key.
#[test]
fn a_vouched_technician_reaches_an_unattended_device_without_a_click() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    // Room for the user's window (top left) beside the xterm.
    let x = Xvfb::start(1024, 768);
    let work = tempfile::tempdir().unwrap();
    let typed = work.path().join("typed.txt");
    let cmd = format!("cat > '{}'", typed.display());
    let _xterm = x.spawn(
        "xterm",
        &["-geometry", "40x5+640+500", "-e", "sh", "-c", &cmd],
    );
    lifeline_tests::wait_for("xterm", || typed.exists().then_some(()));

    // The device online at the relay's devices port: the call rings there
    // and is answered, and forwarded, at the main port.
    let devices_port = ["--devices-listen", "127.0.0.1:0"];
    let (fleet, _, service) = online_device_with(&x, "kiosk-1", "unattended", &devices_port);
    let (tech, _) = technician(&fleet, "ann");

    let text = "unattended-hello-42";
    let script =
        format!("wait-frame\nmove 740 530\nsleep 200\ntype {text}\nkey Return\nsleep 300\nquit\n");
    let (rc, out, err) = connect(&fleet, &tech, "kiosk-1", "INC-4821 printer", &script);
    assert_eq!(rc, 0, "{out}\n{err}\n{}", service.said());
    assert!(out.contains(r#""event":"device_key""#), "{out}");
    assert!(out.contains(r#""first_use":true"#), "{out}");
    assert!(
        out.contains(r#""mode":"control""#),
        "no click needed: {out}"
    );
    let got = lifeline_tests::wait_for("the typed line", || {
        std::fs::read_to_string(&typed)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    assert_eq!(got, format!("{text}\n"));
    let said = service.said();
    assert!(said.contains(r#""event":"device_session""#), "{said}");
    assert!(
        said.contains("INC-4821 printer"),
        "the user sees why: {said}"
    );
    assert!(said.contains(r#""technician":"ann""#), "{said}");
    let main_port = fleet.addr.rsplit_once(':').unwrap().1;
    assert!(
        said.contains(r#""event":"online""#) && !said.contains(&format!(r#""port":{main_port}"#)),
        "online at the devices port, not the main one: {said}"
    );

    // The same device again: its key is the pinned one.
    let (rc, out, err) = connect(
        &fleet,
        &tech,
        "kiosk-1",
        "INC-4821 again",
        "wait-frame\nquit\n",
    );
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(out.contains(r#""first_use":false"#), "{out}");

    // Without a reason the relay refuses an unattended group's request.
    let (rc, _, err) = connect(&fleet, &tech, "kiosk-1", "", "quit\n");
    assert_ne!(rc, 0);
    assert!(err.contains("needs a reason"), "{err}");

    let audited = device_sessions(&fleet);
    assert!(
        audited.contains(&(
            "kiosk-1".into(),
            "unattended".into(),
            "INC-4821 printer".into(),
            None
        )),
        "{audited:?}"
    );
    assert!(
        audited
            .iter()
            .any(|(_, _, r, refused)| r.is_empty() && refused.as_deref() == Some("reason required")),
        "{audited:?}"
    );
}

/// An attended device whose user does not answer refuses the session
/// after a minute.
#[test]
fn an_attended_device_nobody_answers_refuses_after_a_minute() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let (fleet, _, service) = online_device(&x, "desk-att", "attended");
    let (tech, _) = technician(&fleet, "ann");
    let started = std::time::Instant::now();
    let (rc, out, err) = connect(&fleet, &tech, "desk-att", "", "wait-frame\nquit\n");
    let took = started.elapsed();
    assert_ne!(rc, 0, "{out}");
    assert!(err.contains("did not answer within a minute"), "{err}");
    assert!(
        took >= std::time::Duration::from_secs(59),
        "refused only after the minute: {took:?}"
    );
    let said = service.said();
    assert!(
        said.contains(r#""event":"request""#),
        "the user was asked: {said}"
    );
    assert!(said.contains(r#""policy":"attended""#), "{said}");
}

/// A device disabled at the relay is not called; one whose key the
/// organisation revoked refuses even when the relay calls it; a revoked
/// technician is refused by the device; all while the relay carries the
/// organisation's list, which it cannot forge.
#[test]
fn disabled_devices_and_revoked_technicians_are_refused() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let (fleet, dev, service) = online_device(&x, "desk-r", "unattended");
    let data = fleet.data();
    let d = data.to_str().unwrap();
    let (ann, ann_serial) = technician(&fleet, "ann");
    let (bob, _) = technician(&fleet, "bob");
    let org = fleet.work.path().join("org");
    let org_s = org.to_str().unwrap();

    // Disabled at the relay: refused there, the device never called.
    let relay = |args: &[&str]| {
        let (rc, _, err) = lifeline_tests::relay_cli(args);
        assert_eq!(rc, 0, "{args:?}: {err}");
    };
    relay(&["device", "disable", "desk-r", "--data-dir", d]);
    let (rc, _, err) = connect(&fleet, &ann, "desk-r", "INC-1", "quit\n");
    assert_ne!(rc, 0);
    assert!(err.contains("disabled by an admin"), "{err}");
    relay(&["device", "enable", "desk-r", "--data-dir", d]);
    let (rc, out, err) = connect(&fleet, &ann, "desk-r", "INC-2", "wait-frame\nquit\n");
    assert_eq!(rc, 0, "enabled again: {out}\n{err}");

    // Ann revoked by the organisation: the relay publishes the list, the
    // device fetches it and refuses her; Bob still gets in.
    let list = ok(&[
        "org",
        "revoke",
        "--serial",
        &ann_serial.to_string(),
        "--dir",
        org_s,
    ]);
    let list_file = fleet.work.path().join("revocations.txt");
    let publish = |list: &str| {
        std::fs::write(&list_file, list).unwrap();
        relay(&[
            "device",
            "revocations",
            list_file.to_str().unwrap(),
            "--data-dir",
            d,
        ]);
    };
    publish(&list);
    let first_list = list;
    let (rc, _, err) = connect(&fleet, &ann, "desk-r", "INC-3", "wait-frame\nquit\n");
    assert_ne!(rc, 0);
    assert!(err.contains("revoked the technician"), "{err}");
    assert!(dev.join("revocations").exists(), "the device kept the list");
    #[cfg(unix)]
    assert_eq!(super::unattended::mode(&dev.join("revocations")), 0o600);
    let (rc, out, err) = connect(&fleet, &bob, "desk-r", "INC-4", "wait-frame\nquit\n");
    assert_eq!(rc, 0, "{out}\n{err}");

    // The device's own key revoked: it refuses everyone, even if a relay
    // still calls it.
    let key = lifeline_trust::handshake::key_to_text(
        &lifeline_trust::handshake::StaticKey::from_bytes(&std::fs::read(dev.join("key")).unwrap())
            .unwrap()
            .public(),
    );
    publish(&ok(&["org", "revoke", "--device", &key, "--dir", org_s]));
    let refused_all = |reason: &str| {
        let (rc, _, err) = connect(&fleet, &bob, "desk-r", reason, "wait-frame\nquit\n");
        assert_ne!(rc, 0);
        assert!(err.contains("disabled this device"), "{err}");
    };
    refused_all("INC-5");
    // The older list published again (as a relay rolling back would):
    // the device keeps the newer one.
    publish(&first_list);
    refused_all("INC-6");
    // Not a list at all: the relay's command refuses it.
    let older = fleet.work.path().join("older.txt");
    std::fs::write(&older, ok(&["org", "anchor", "--dir", org_s])).unwrap();
    let (rc, _, _) = lifeline_tests::relay_cli(&[
        "device",
        "revocations",
        older.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    assert_ne!(rc, 0, "an anchor is not a revocation list");
    drop(service);
}

/// The viewer's window, started with `--device NAME --reason TEXT`,
/// reaches the device: the device's user is told who and why, and the
/// session shares.
#[test]
fn the_viewer_window_connects_to_a_device_from_the_command_line() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(800, 600);
    let (fleet, _, service) = online_device(&x, "kiosk-w", "unattended");
    let (tech, _) = technician(&fleet, "ann");
    let mut window = Command::new(lifeline_tests::bin("lifeline-viewer"))
        .args([
            "--relay",
            &fleet.addr,
            "--ca",
            &fleet.ca(),
            "--token",
            &fleet.token,
        ])
        .args(["--device", "kiosk-w", "--reason", "INC-5150 window"])
        .args(["--unattended-dir", tech.to_str().unwrap()])
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let said = lifeline_tests::wait_for("the window's session", || {
        let said = service.said();
        said.contains(r#""event":"joined""#).then_some(said)
    });
    let _ = window.kill();
    let _ = window.wait();
    assert!(said.contains("INC-5150 window"), "{said}");
    assert!(said.contains(r#""mode":"control""#), "{said}");
}

/// An attended device whose user is there: the service opens the user's
/// window with the question (who, and why), the keyboard answers "See
/// and control", and the technician gets control.
#[test]
fn an_attended_device_asks_its_user_in_a_window() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(1024, 768);
    let (fleet, _, service) = online_device(&x, "desk-win", "attended");
    let (tech, _) = technician(&fleet, "ann");
    let said = std::thread::scope(|s| {
        let asked = s.spawn(|| {
            connect(
                &fleet,
                &tech,
                "desk-win",
                "INC-9 printer",
                "wait-frame\nquit\n",
            )
        });
        lifeline_tests::wait_for("the question", || {
            service
                .said()
                .contains(r#""event":"request""#)
                .then_some(())
        });
        let (id, _) = crate::window::find_window(&x);
        crate::window::until(&x, &id, "the question drawn", |now| {
            now.iter().any(|p| *p != now[0])
        });
        // Focus starts on "See only": Tab to "See and control", Return.
        crate::window::keys(&x, &id, &["Tab", "Return"]);
        asked.join().unwrap()
    });
    let (rc, out, err) = said;
    assert_eq!(rc, 0, "{out}\n{err}\n{}", service.said());
    assert!(out.contains(r#""mode":"control""#), "{out}");
    let said = service.said();
    assert!(
        said.contains("INC-9 printer"),
        "the user was told why: {said}"
    );
    assert!(said.contains(r#""event":"joined""#), "{said}");
}
