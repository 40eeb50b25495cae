//! The security team's web console in a real headless Chromium, against
//! the real relay binary (`serve --console`): log in with a one-time
//! password, filter to a session the real host and viewer made, open its
//! timeline and recording (an audited download), watch the integrity
//! check turn red after the log is edited; roles, CSRF, throttling and
//! the second factor. `LIFELINE_SCREENSHOTS=DIR` also saves README's
//! pictures of each page.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lifeline_net::client::HostLink;
use lifeline_tests::browser::{Browser, chromium};
use lifeline_tests::peers::one_view_session;
use lifeline_tests::x::Xvfb;
use lifeline_tests::{RelayProcess, poll, relay_cli};

use crate::recording::{auditor, host_session};

/// Whether the browser tests can run here; with LIFELINE_REQUIRE_X set
/// (scripts/test installs Chromium) they must.
pub(super) fn skip_without_chromium() -> bool {
    if chromium().is_some() {
        return false;
    }
    assert!(
        std::env::var_os("LIFELINE_REQUIRE_X").is_none(),
        "chromium is missing; run scripts/install-deps"
    );
    eprintln!("SKIPPED: no chromium");
    true
}

/// `console-user add`: the one-time password (and the otpauth URI, if any).
pub(super) fn console_user(
    d: &str,
    name: &str,
    role: &str,
    totp: bool,
) -> (String, Option<String>) {
    let mut args = vec!["console-user", "add", name, "--role", role, "--data-dir", d];
    if totp {
        args.push("--totp");
    }
    let (rc, out, err) = relay_cli(&args);
    assert_eq!(rc, 0, "{err}");
    let uri = err
        .lines()
        .find(|l| l.starts_with("otpauth://"))
        .map(str::to_owned);
    (out.trim().to_owned(), uri)
}

/// Pictures for README, when asked for.
pub(super) fn shot(b: &mut Browser, name: &str) {
    if let Some(dir) = std::env::var_os("LIFELINE_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        b.screenshot(&dir.join(format!("console-{name}.png")));
    }
}

/// Logs in through the form (the page after it stays open).
pub(super) fn log_in(b: &mut Browser, url: &str, user: &str, password: &str, code: &str) {
    b.goto(&format!("{url}/login"));
    b.fill("input[name=user]", user);
    b.fill("input[name=password]", password);
    b.fill("input[name=code]", code);
    b.submit("form.login");
}

/// The first login: the one-time password, then a password of one's own.
pub(super) fn first_login(b: &mut Browser, url: &str, user: &str, once: &str, code: &str) {
    log_in(b, url, user, once, code);
    assert_eq!(b.path(), "/password", "{}", b.text("main"));
    b.fill("input[name=current]", once);
    b.fill("input[name=new]", &format!("{user}'s own passphrase"));
    b.fill("input[name=repeat]", &format!("{user}'s own passphrase"));
    b.submit("form[action='/password']");
    assert_eq!(b.path(), "/sessions", "{}", b.text("main"));
}

/// The log's records, read without judging the chain (it may be edited).
fn raw_records(data: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(data.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Changes `from` to `to` (same length) in place in the first record of
/// `event`, the way someone editing the log would; returns its seq.
pub(super) fn tamper(data: &Path, event: &str, from: &str, to: &str) -> u64 {
    assert_eq!(from.len(), to.len());
    let path = data.join("audit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut offset = 0;
    for line in text.lines() {
        if line.contains(&format!("\"event\":\"{event}\"")) {
            let at = line.find(from).unwrap();
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.seek(SeekFrom::Start((offset + at) as u64)).unwrap();
            f.write_all(to.as_bytes()).unwrap();
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            return v["seq"].as_u64().unwrap();
        }
        offset += line.len() + 1;
    }
    panic!("no {event} record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_staff_review_a_real_session_in_the_browser() {
    if lifeline_tests::x::skip_without_xvfb() || skip_without_chromium() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    auditor(keys.path(), data.path(), "alice");
    let d = data.path().to_str().unwrap().to_owned();
    let (_, token, _) = relay_cli(&["technician", "add", "wendy", "--data-dir", &d]);
    let (once, _) = console_user(&d, "ann", "admin", false);
    let relay = RelayProcess::start(data.path(), &["--console", "127.0.0.1:0"]);
    let url = relay
        .console
        .clone()
        .expect("the relay printed its console URL");
    let addr = relay.addr.to_string();
    let ca = data.path().join("ca.pem");

    // A whole session with the real host and a viewer, recorded.
    one_view_session(&addr, &ca, &x.display, &token).await;
    let session = host_session(&d);
    poll("the recording's seal", || {
        let log = std::fs::read_to_string(data.path().join("audit.jsonl")).ok()?;
        log.contains("\"recording_sealed\"").then_some(())
    })
    .await;
    // A host that calls itself by a piece of markup.
    let (_hostile, _) =
        HostLink::register(&addr, Some(&ca), "<script>alert(1)</script>", "mallory")
            .await
            .unwrap();
    poll("the hostile host's code", || {
        let log = std::fs::read_to_string(data.path().join("audit.jsonl")).ok()?;
        log.contains("alert(1)").then_some(())
    })
    .await;

    let data_dir = data.path().to_owned();
    let hostname = lifeline_host::whoami::host_name();
    tokio::task::spawn_blocking(move || {
        review(&url, &data_dir, &session, &hostname, &once);
    })
    .await
    .unwrap();
}

/// The browser's part of the review.
fn review(url: &str, data: &Path, session: &str, hostname: &str, once: &str) {
    let mut b = Browser::start();
    b.goto(&format!("{url}/sessions"));
    assert_eq!(
        b.path(),
        "/login",
        "logged out, the console sends you to log in"
    );
    shot(&mut b, "login");
    first_login(&mut b, url, "ann", once, "");
    assert_eq!(b.count("table.sessions tbody tr"), 2);
    shot(&mut b, "sessions");
    review_sessions(&mut b, url, hostname);
    review_session(&mut b, url, data, session);
    review_events(&mut b, url);
    review_integrity(&mut b, url, data);
}

/// Filters, a bad search, markup as text.
fn review_sessions(b: &mut Browser, url: &str, hostname: &str) {
    // Filter to the technician's session.
    b.fill("input[name=technician]", "wendy");
    b.fill("select[name=outcome]", "completed");
    b.submit("form.filter");
    assert!(
        b.text("#count").starts_with("1 sessions"),
        "{}",
        b.text("main")
    );
    assert!(b.text("td.host").contains(hostname));

    // A bad search says what is wrong.
    b.goto(&format!("{url}/sessions?from=yesterday"));
    assert!(
        b.text("#error").contains("YYYY-MM-DD"),
        "{}",
        b.text("main")
    );
    b.goto(&format!("{url}/sessions?page=last"));
    assert_eq!(b.status(), 400);
    assert!(b.text("#error").contains("page"), "{}", b.text("main"));

    // The host name that is markup is shown as text, and runs nothing.
    b.goto(&format!("{url}/sessions?q=alert"));
    assert_eq!(b.count("table.sessions tbody tr"), 1);
    assert!(b.text("td.host").contains("<script>alert(1)</script>"));
    assert_eq!(b.count("main script"), 0);
}

/// A session's timeline and its recording's audited download.
fn review_session(b: &mut Browser, url: &str, data: &Path, session: &str) {
    // The timeline: every record of the session.
    b.goto(&format!("{url}/sessions?technician=wendy"));
    b.click("table.sessions tbody a");
    assert_eq!(b.path(), format!("/sessions/{session}"));
    let timeline = b.text("ol.timeline");
    for step in [
        "code issued",
        "join attempt",
        "session started",
        "peer report",
        "session ended",
        "recording sealed",
    ] {
        assert!(timeline.contains(step), "{step} missing from {timeline}");
    }
    assert!(b.text("dl.summary").contains("host → viewer"));
    shot(b, "timeline");

    // The recording: facts, and a download that is audited first.
    b.click("dl.summary a");
    assert_eq!(b.path(), format!("/sessions/{session}/recording"));
    shot(b, "recording");
    let downloads = tempfile::tempdir().unwrap();
    b.download_to(downloads.path());
    b.submit_download("main form");
    let want = std::fs::read(data.join(format!("recordings/{session}.llrec"))).unwrap();
    let got = downloads.path().join(format!("{session}.llrec"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::read(&got).ok().as_ref() != Some(&want) {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never matched the recording: {:?} {}",
            std::fs::read_dir(downloads.path())
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect::<Vec<_>>(),
            b.text("main")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let recs = raw_records(data);
    assert!(
        recs.iter().any(|r| r["event"] == "recording_fetched"
            && r["by"] == "console user ann"
            && r["session"] == session),
        "the download is in the audit log"
    );
}

/// The records of no session: the console's logins.
fn review_events(b: &mut Browser, url: &str) {
    b.goto(&format!("{url}/events"));
    let all = b.text("ol.timeline");
    for kind in ["admin action", "relay started", "console login"] {
        assert!(all.contains(kind), "{kind} missing from {all}");
    }
    shot(b, "events");
    b.goto(&format!("{url}/events?kind=console_login"));
    let logins = b.text("ol.timeline");
    assert!(
        logins.contains("console login") && logins.contains("ann"),
        "{logins}"
    );
    assert!(!logins.contains("relay started"));
    b.goto(&format!("{url}/events?kind=nonsense"));
    assert_eq!(b.status(), 400);
}

/// The integrity check, before and after the log is edited.
fn review_integrity(b: &mut Browser, url: &str, data: &Path) {
    // Integrity: intact, then red naming the record edited.
    b.goto(&format!("{url}/integrity"));
    assert_eq!(b.count("p.verdict.good"), 1, "{}", b.text("main"));
    shot(b, "integrity");
    let seq = tamper(
        data,
        "code_issued",
        "\"expires_in_s\":600",
        "\"expires_in_s\":900",
    );
    b.goto(&format!("{url}/integrity"));
    assert_eq!(b.count("p.verdict.bad"), 1, "{}", b.text("main"));
    let verdict = b.text("#verdict");
    assert!(
        verdict.contains(&format!("record {seq} was altered")),
        "{verdict}"
    );
    shot(b, "integrity-failed");
    b.goto(&format!("{url}/sessions"));
    assert!(b.text("#banner").contains("FAILED"), "every page says so");

    let recs = raw_records(data);
    assert!(
        recs.iter()
            .any(|r| r["event"] == "console_login" && r["user"] == "ann" && r["ok"] == true)
    );
    assert!(recs.iter().any(|r| r["event"] == "console_action"
        && r["user"] == "ann"
        && r["action"] == "password_changed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_csrf_throttling_and_the_second_factor() {
    if skip_without_chromium() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    relay_cli(&["technician", "add", "bob", "--data-dir", &d]);
    let (ann, _) = console_user(&d, "ann", "admin", false);
    let (audrey, _) = console_user(&d, "audrey", "auditor", false);
    let (tess, uri) = console_user(&d, "tess", "auditor", true);
    let secret = lifeline_console::users::totp_secret_of(uri.as_deref().unwrap())
        .unwrap()
        .to_owned();
    let relay = RelayProcess::start(data.path(), &["--console", "127.0.0.1:0"]);
    let url = relay.console.clone().unwrap();
    let data_dir = data.path().to_owned();
    tokio::task::spawn_blocking(move || {
        accounts(&url, &data_dir, &ann, &audrey, &tess, &secret);
    })
    .await
    .unwrap();
}

fn bob_state(data: &Path) -> String {
    let (_, out, _) = relay_cli(&["technician", "list", "--data-dir", data.to_str().unwrap()]);
    out
}

fn accounts(url: &str, data: &Path, ann: &str, audrey: &str, tess: &str, secret: &str) {
    let mut b = Browser::start();
    roles(&mut b, url, data, audrey);
    csrf(&mut b, url, data, ann);
    second_factor(&mut b, url, data, tess, secret);
    throttling(&mut b, url, data);
}

/// An auditor reads but may not revoke.
fn roles(b: &mut Browser, url: &str, data: &Path, audrey: &str) {
    // An auditor reads but may not revoke: no button, and a forged post is 403.
    first_login(b, url, "audrey", audrey, "");
    b.goto(&format!("{url}/technicians"));
    assert!(b.text("table.technicians").contains("bob"));
    assert_eq!(b.count("button.danger"), 0);
    b.run_to_page(
        "(() => { const f = document.createElement('form'); f.method = 'post'; \
         f.action = '/technicians/bob/revoke'; const t = document.createElement('input'); \
         t.name = 'csrf'; t.value = document.querySelector('input[name=csrf]').value; \
         f.appendChild(t); document.body.appendChild(f); f.submit(); })()",
    );
    assert_eq!(b.status(), 403);
    assert!(
        b.text("#error").contains("Only an admin"),
        "{}",
        b.text("main")
    );
    assert!(bob_state(data).contains("active"));
    b.submit("form.logout");
    assert_eq!(b.path(), "/login");
}

/// An admin's revoke, without and with its CSRF token.
fn csrf(b: &mut Browser, url: &str, data: &Path, ann: &str) {
    // An admin's form without its CSRF token is refused; with it, it works.
    first_login(b, url, "ann", ann, "");
    b.goto(&format!("{url}/technicians"));
    shot(b, "technicians");
    let form = "form[action='/technicians/bob/revoke']";
    b.eval(&format!(
        "document.querySelector(\"{form} input[name=csrf]\").remove()"
    ));
    b.submit(form);
    assert_eq!(b.status(), 403);
    assert!(b.text("#error").contains("CSRF"), "{}", b.text("main"));
    assert!(bob_state(data).contains("active"));
    b.goto(&format!("{url}/technicians"));
    b.submit(form);
    assert_eq!(b.path(), "/technicians");
    assert!(b.text("table.technicians").contains("revoked"));
    assert!(bob_state(data).contains("revoked"));
    b.submit("form.logout");
}

/// TOTP, code reuse, and a reset that logs the browser out.
fn second_factor(b: &mut Browser, url: &str, data: &Path, tess: &str, secret: &str) {
    // The second factor: the password alone is not enough.
    log_in(b, url, "tess", tess, "");
    assert_eq!(b.status(), 401);
    assert!(b.text("#error").contains("code"), "{}", b.text("main"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = lifeline_console::users::totp_code(secret, now).unwrap();
    first_login(b, url, "tess", tess, &code);
    b.submit("form.logout");
    // A code logs in once.
    log_in(b, url, "tess", "tess's own passphrase", &code);
    assert_eq!(b.status(), 401);

    // A password reset on the relay ends the account's console sessions.
    log_in(b, url, "audrey", "audrey's own passphrase", "");
    assert_eq!(b.path(), "/sessions");
    let (rc, _, err) = relay_cli(&[
        "console-user",
        "reset",
        "audrey",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(rc, 0, "{err}");
    b.goto(&format!("{url}/sessions"));
    assert_eq!(b.path(), "/login");
}

/// Throttling, then what the audit log says of it all.
fn throttling(b: &mut Browser, url: &str, data: &Path) {
    // Five wrong passwords, then even the right one waits.
    for _ in 0..5 {
        log_in(b, url, "ann", "not the password", "");
        assert_eq!(b.status(), 401);
        assert_eq!(b.text("#error"), "Wrong name, password or code.");
    }
    log_in(b, url, "ann", "ann's own passphrase", "");
    assert_eq!(b.status(), 429);
    assert!(
        b.text("#error").contains("Too many failed logins"),
        "{}",
        b.text("main")
    );

    // Throttled attempts are counted, one record a burst, once it is over.
    let throttled = |r: &serde_json::Value| {
        r["event"] == "console_login"
            && r["user"] == "ann"
            && r["reason"]
                .as_str()
                .is_some_and(|s| s.starts_with("throttled"))
    };
    lifeline_tests::wait_for("the throttled burst's record", || {
        raw_records(data).iter().any(throttled).then_some(())
    });
    let recs = raw_records(data);
    let count = |f: &dyn Fn(&serde_json::Value) -> bool| recs.iter().filter(|r| f(r)).count();
    assert_eq!(
        count(&|r| r["event"] == "console_login"
            && r["user"] == "ann"
            && r["reason"] == "wrong password"),
        5
    );
    assert_eq!(count(&|r| throttled(r) && r["attempts"] == 1), 1);
    assert_eq!(
        count(&|r| r["event"] == "console_action"
            && r["user"] == "audrey"
            && r["action"] == "forbidden"),
        1
    );
    assert_eq!(
        count(&|r| r["event"] == "console_action"
            && r["user"] == "ann"
            && r["action"] == "refused"),
        1
    );
    assert_eq!(
        count(&|r| r["event"] == "console_action"
            && r["action"] == "technician_revoked"
            && r["target"] == "bob"),
        1
    );
    assert_eq!(
        count(&|r| r["event"] == "console_login"
            && r["user"] == "tess"
            && r["reason"] == "second-factor code used before"),
        1
    );
    let (rc, out, _) = relay_cli(&["audit", "verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(rc, 0, "{out}");
}
