//! Issue #32's approvals and the console's Devices page, with the real
//! relay (`serve --console`), host service and viewer, and a real
//! Chromium: an admin makes an enrollment ticket for a group that needs
//! an approver, the machine enrolls with it and is listed online; a
//! technician's request waits until an approver approves it in the
//! console (then the session runs), another is refused there, another
//! lapses; the admin disables the device from the page. Every decision is
//! in the audit log, with who made it.

use lifeline_proto::audit::AuditEvent;
use lifeline_tests::browser::Browser;
use lifeline_tests::x::Xvfb;

use super::console::{console_user, first_login, skip_without_chromium};
use super::device_sessions::{Service, connect, technician, until_online};
use super::unattended::Fleet;

fn approvals(fleet: &Fleet) -> Vec<(Option<String>, bool)> {
    lifeline_tests::audit_records(&fleet.data())
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::DeviceApproval { by, approved, .. } => Some((by, approved)),
            _ => None,
        })
        .collect()
}

/// Waits until the approvals page lists a request, then presses `button`
/// (`approve` or `refuse`) on it.
fn decide(b: &mut Browser, url: &str, button: &str, reason: &str) {
    lifeline_tests::wait_for("the request on the approvals page", || {
        b.goto(&format!("{url}/approvals"));
        b.text("main").contains(reason).then_some(())
    });
    b.submit(&format!("form[action$='/{button}']"));
    assert_eq!(b.path(), "/approvals", "{}", b.text("main"));
}

#[test]
fn an_approval_group_waits_for_an_approvers_decision_in_the_console() {
    if lifeline_tests::x::skip_without_xvfb() || skip_without_chromium() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let fleet = Fleet::start_with(&["--console", "127.0.0.1:0", "--approval-within", "8s"]);
    let url = fleet.relay.console.clone().expect("the console's URL");
    let data = fleet.data();
    let d = data.to_str().unwrap();
    let (ann_once, _) = console_user(d, "ann", "admin", false);
    let (carol_once, _) = console_user(d, "carol", "approver", false);

    // The admin makes the group's ticket on the Devices page.
    let mut admin = Browser::start();
    first_login(&mut admin, &url, "ann", &ann_once, "");
    admin.goto(&format!("{url}/devices"));
    admin.fill("input[name=group]", "vault");
    admin.eval("document.querySelector('select[name=policy]').value = 'unattended'");
    admin.eval("document.querySelector('input[name=approval]').checked = true");
    admin.fill("input[name=anchor]", &fleet.anchor);
    admin.submit("form[action='/devices/tickets']");
    let shown = admin.text("#ticket");
    let ticket = shown
        .split_whitespace()
        .find(|w| w.starts_with("lifeline-ticket:"))
        .unwrap_or_else(|| panic!("a ticket on the page: {shown}"))
        .to_owned();
    let dev = fleet.work.path().join("device");
    let (rc, _, err) = lifeline_tests::run_cli(
        "lifeline-host",
        &[
            "enroll",
            "--relay",
            &fleet.addr,
            "--ca",
            &fleet.ca(),
            "--ticket",
            &ticket,
            "--name",
            "vault-1",
            "--dir",
            dev.to_str().unwrap(),
        ],
    );
    assert_eq!(rc, 0, "{err}");
    let _service = Service::start(&dev, &x.display);
    until_online(&fleet, "vault-1");
    admin.goto(&format!("{url}/devices"));
    let row = admin.text("table.devices");
    assert!(row.contains("vault-1") && row.contains("online"), "{row}");
    assert!(row.contains("unattended, approval"), "{row}");
    let (tech, _) = technician(&fleet, "ann");

    // Approved by the approver: the session runs.
    let mut carol = Browser::start();
    first_login(&mut carol, &url, "carol", &carol_once, "");
    let waiting = std::thread::scope(|s| {
        let asked = s.spawn(|| {
            connect(
                &fleet,
                &tech,
                "vault-1",
                "INC-77 backup",
                "wait-frame\nquit\n",
            )
        });
        decide(&mut carol, &url, "approve", "INC-77 backup");
        asked.join().unwrap()
    });
    let (rc, out, err) = waiting;
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(out.contains(r#""event":"awaiting_approval""#), "{out}");
    // Refused by the approver.
    let refused = std::thread::scope(|s| {
        let asked = s.spawn(|| {
            connect(
                &fleet,
                &tech,
                "vault-1",
                "INC-78 nope",
                "wait-frame\nquit\n",
            )
        });
        decide(&mut carol, &url, "refuse", "INC-78 nope");
        asked.join().unwrap()
    });
    assert_ne!(refused.0, 0);
    assert!(refused.2.contains("not approved"), "{}", refused.2);
    // Nobody decides: it lapses.
    let (rc, _, err) = connect(&fleet, &tech, "vault-1", "INC-79 late", "quit\n");
    assert_ne!(rc, 0);
    assert!(err.contains("not approved"), "{err}");
    assert_eq!(
        approvals(&fleet),
        vec![
            (Some("carol".into()), true),
            (Some("carol".into()), false),
            (None, false)
        ]
    );

    // The admin disables the device on the page: refused at the relay.
    admin.goto(&format!("{url}/devices"));
    admin.submit("form[action='/devices/vault-1/disable']");
    assert_eq!(admin.path(), "/devices", "{}", admin.text("main"));
    assert!(admin.text("table.devices").contains("disabled"));
    let (rc, _, err) = connect(&fleet, &tech, "vault-1", "INC-80", "quit\n");
    assert_ne!(rc, 0);
    assert!(err.contains("disabled by an admin"), "{err}");
    let records = lifeline_tests::audit_records(&fleet.data());
    assert!(
        records.iter().any(|r| matches!(&r.event,
            AuditEvent::ConsoleAction { user, action, target, .. }
                if user == "ann" && action == "device_disabled" && target.as_deref() == Some("vault-1"))),
        "the disabling is audited"
    );
}
