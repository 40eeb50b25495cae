//! A reason with every join (issue #34), with the real binaries on Xvfb:
//! a relay started with `--require-reason` refuses a viewer that gives
//! none (audited, the code still good), then a viewer with `--reason`
//! joins: the host's question in its window shows it (pictured with
//! `LIFELINE_SCREENSHOTS`), its `request` event carries it, and the audit
//! log keeps it with the session's start.

use lifeline_proto::audit::AuditEvent;
use lifeline_tests::audit_records;
use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::Xvfb;

use crate::session::{Stack, events, stderr};
use crate::window::{differ, find_window, keys, picture, settled, until};

const REASON: &str = "INC-4821, printer not found";

#[test]
fn a_reason_is_required_shown_in_the_question_and_audited_with_the_session() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(1024, 768);
    let stack = Stack::start_with(&["--require-reason"]);
    let host = HostProcess::spawn_windowed(&stack.addr(), &stack.ca(), &x.display, &[]);
    let code = host.code().to_string();
    let (id, rect) = find_window(&x);
    until(&x, &id, "the code", |now| now.iter().any(|p| *p != now[0]));
    let code_shown = settled(&x, &id);

    // No reason: refused with the line that says what to do; nothing
    // reached the host, and its code still works.
    let refused = stack.viewer(&code, "wait-frame\nquit\n", None);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("this relay asks a reason with every session"),
        "{}",
        stderr(&refused)
    );
    let records = audit_records(std::path::Path::new(&stack.data()));
    assert!(
        records.iter().any(|r| matches!(&r.event,
            AuditEvent::JoinAttempt { ok: false, reason: Some(why), technician: Some(t), .. }
                if why == "reason required" && t == "alice")),
        "the refusal is audited: {records:?}"
    );

    // With a reason: the user sees it in the question.
    let mut viewer = stack.viewer_command(&code, "wait-frame\nquit\n", None);
    viewer.args(["--reason", REASON]);
    let viewer = std::thread::spawn(move || viewer.output().unwrap());
    let asked = host.wait_event("request");
    assert_eq!(asked["technician"], "alice", "{asked}");
    assert_eq!(asked["reason"], REASON, "{asked}");
    let area = (rect.2 * rect.3) as usize;
    until(&x, &id, "the question", |now| {
        differ(now, &code_shown) > area / 50
    });
    picture(&x, &id, "host-asking-reason");
    keys(&x, &id, &["Return"]);
    let joined = host.wait_event("joined");
    assert_eq!(joined["mode"], "view", "{joined}");
    let out = viewer.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(events(&out).iter().any(|e| e["event"] == "joined"));
    host.wait_event("ended");

    let started: Vec<Option<String>> = audit_records(std::path::Path::new(&stack.data()))
        .into_iter()
        .filter_map(|r| match r.event {
            AuditEvent::SessionStarted { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        [Some(REASON.to_owned())],
        "one session, its reason kept"
    );
}

#[test]
fn a_malformed_reason_is_refused_with_its_line_and_audited() {
    let stack = Stack::start();
    // No host is needed: the reason is checked before any code is.
    let code = "000-000-000-000";
    let long = "x".repeat(257);
    let mut viewer = stack.viewer_command(code, "quit\n", None);
    viewer.args(["--reason", &long]);
    let out = viewer.output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("a reason is at most 256 characters, on one line"),
        "{}",
        stderr(&out)
    );
    let records = audit_records(std::path::Path::new(&stack.data()));
    assert!(
        records.iter().any(|r| matches!(&r.event,
            AuditEvent::JoinAttempt { ok: false, reason: Some(why), .. } if why == "bad reason")),
        "{records:?}"
    );
}
