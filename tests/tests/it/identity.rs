//! Signing in with the organisation's identity provider, against a real
//! OpenID provider (node's oidc-provider, started per test) and the real
//! relay binary: security staff sign in to the console through Chromium
//! (the whole redirect flow) and get the role their groups give, or are
//! refused; a forged, re-addressed or replayed ID token is refused; a
//! technician signs in with `lifeline-viewer login` (the device flow, its
//! page driven in Chromium), joins a real host with the credential, is
//! named by subject in the audit log, is cut off by an admin mid-session,
//! can no longer sign in once out of the technicians' group, and an
//! expired credential is refused.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lifeline_proto::audit::AuditEvent;
use lifeline_tests::browser::Browser;
use lifeline_tests::oidc::{
    ALICE, BOB, CLIENT_ID, EVE, IdProvider, Mode, free_port, provider_login,
};
use lifeline_tests::peers::{HostProcess, one_view_session};
use lifeline_tests::x::Xvfb;
use lifeline_tests::{RelayProcess, audit_records, bin, poll};

use crate::console::{shot, skip_without_chromium};

fn skip() -> bool {
    skip_without_chromium() || lifeline_tests::oidc::skip_without_provider()
}

/// The relay's `--oidc-*` options for `idp`, its groups as the provider's
/// accounts have them.
fn oidc_args(idp: &IdProvider, secret: &Path) -> Vec<String> {
    [
        "--oidc-issuer",
        &idp.issuer,
        "--oidc-client-id",
        CLIENT_ID,
        "--oidc-client-secret-file",
        secret.to_str().unwrap(),
        "--oidc-admin-group",
        "sec-admins",
        "--oidc-auditor-group",
        "sec-auditors",
        "--oidc-technician-group",
        "helpdesk",
        // This provider releases the groups for their own scope only.
        "--oidc-scope",
        "groups",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A relay with its console on `port`, signing in with `idp`; its log
/// (stderr) in `log`.
fn relay_with_console(data: &Path, idp: &IdProvider, port: u16, log: &Path) -> RelayProcess {
    let secret = IdProvider::secret_file(data);
    let console = format!("127.0.0.1:{port}");
    let mut args = vec!["--console".to_owned(), console];
    args.extend(oidc_args(idp, &secret));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = std::fs::File::create(log).unwrap();
    RelayProcess::start_logged("127.0.0.1:0", data, &args, log.into())
}

/// Waits until the page is at `path` (the signed-in page hops on).
fn wait_path(b: &mut Browser, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.path() != path {
        assert!(
            Instant::now() < deadline,
            "never reached {path}: at {} saying {}",
            b.path(),
            b.text("main")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Signs `account` in to the console in a fresh browser through the
/// provider; returns the browser at the page it ended on.
fn console_sign_in(console: &str, account: &str) -> Browser {
    let mut b = Browser::start();
    b.goto(&format!("{console}/login"));
    if account == ALICE {
        shot(&mut b, "sign-in");
    }
    b.click("#oidc");
    assert!(
        b.count("input[name=login]") > 0,
        "not at the provider's login page: {}",
        b.text("body")
    );
    provider_login(&mut b, account);
    b
}

/// The console-login records, in order.
fn console_logins(data: &Path) -> Vec<AuditEvent> {
    audit_records(data)
        .into_iter()
        .map(|r| r.event)
        .filter(|e| matches!(e, AuditEvent::ConsoleLogin { .. }))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_staff_sign_in_with_the_provider_and_get_their_groups_role() {
    if skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let idp = IdProvider::start(&[format!("https://127.0.0.1:{port}/login/oidc/callback")]);
    let log = data.path().join("relay.log");
    let relay = relay_with_console(data.path(), &idp, port, &log);
    let console = relay.console.clone().unwrap();
    let issuer = idp.issuer.clone();
    let d = data.path().to_owned();
    tokio::task::spawn_blocking(move || {
        // alice is in the admins' group.
        let mut b = console_sign_in(&console, ALICE);
        wait_path(&mut b, "/sessions");
        assert_eq!(b.text(".who"), "alice@example.com (admin)");
        b.goto(&format!("{console}/technicians"));
        assert!(b.count("form[action^='/technicians/']") == 0 || b.status() == 200);
        assert!(
            b.text("main").contains("Add a technician"),
            "an admin's page"
        );
        // The password page is the provider's business.
        b.goto(&format!("{console}/password"));
        assert!(
            b.text("main").contains("identity provider"),
            "{}",
            b.text("main")
        );

        // bob is an auditor: no admin forms.
        let mut b = console_sign_in(&console, BOB);
        wait_path(&mut b, "/sessions");
        assert_eq!(b.text(".who"), "bob@example.com (auditor)");
        b.goto(&format!("{console}/technicians"));
        assert!(!b.text("main").contains("Add a technician"));

        // eve is in neither group: refused, and told why.
        let mut b = console_sign_in(&console, EVE);
        std::thread::sleep(Duration::from_millis(300));
        assert_ne!(b.path(), "/sessions");
        assert!(
            b.text("#error").contains("none of the console's groups"),
            "{}",
            b.text("main")
        );
        b.goto(&format!("{console}/sessions"));
        assert_eq!(b.path(), "/login", "eve has no session");

        // A callback that is not this browser's sign-in finds nothing.
        // Anyone can make those, as often as they like: counted, not
        // written to the log.
        let before = console_logins(&d).len();
        b.goto(&format!(
            "{console}/login/oidc/callback?code=x&state=forged"
        ));
        assert!(b.text("#error").contains("stale"), "{}", b.text("main"));
        assert_eq!(
            console_logins(&d).len(),
            before,
            "a stray return was audited"
        );

        // Every sign-in is audited with the issuer and, once known, the subject.
        let logins = console_logins(&d);
        let with = |subject: &str| {
            logins.iter().find_map(|e| match e {
                AuditEvent::ConsoleLogin {
                    subject: Some(s),
                    issuer: Some(i),
                    ok,
                    reason,
                    user,
                    ..
                } if s == subject => {
                    assert_eq!(i, &issuer);
                    Some((user.clone(), *ok, reason.clone()))
                }
                _ => None,
            })
        };
        assert_eq!(with(ALICE), Some(("alice@example.com".into(), true, None)));
        assert_eq!(with(BOB), Some(("bob@example.com".into(), true, None)));
        assert_eq!(
            with(EVE),
            Some((
                "eve@example.com".into(),
                false,
                Some("in no console group".into())
            ))
        );
    })
    .await
    .unwrap();
    drop(relay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_readdressed_or_replayed_id_token_is_refused() {
    if skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let idp = IdProvider::start(&[format!("https://127.0.0.1:{port}/login/oidc/callback")]);
    let log = data.path().join("relay.log");
    let relay = relay_with_console(data.path(), &idp, port, &log);
    let console = relay.console.clone().unwrap();
    let d = data.path().to_owned();
    tokio::task::spawn_blocking(move || {
        // An honest sign-in first: its ID token is the one replayed later.
        let mut b = console_sign_in(&console, BOB);
        wait_path(&mut b, "/sessions");
        for (mode, why) in [
            (Mode::Tamper, "signature"),
            (Mode::Audience, "audience"),
            (Mode::Replay, "nonce"),
            (Mode::AtHash, "another access token"),
        ] {
            idp.set_mode(mode);
            let before = console_logins(&d).len();
            let logged = std::fs::read_to_string(&log).unwrap().len();
            let mut b = console_sign_in(&console, BOB);
            std::thread::sleep(Duration::from_millis(300));
            assert_ne!(b.path(), "/sessions", "{mode:?} let bob in");
            assert!(
                b.text("#error").contains("failed the console's checks"),
                "{mode:?}: {}",
                b.text("main")
            );
            b.goto(&format!("{console}/sessions"));
            assert_eq!(b.path(), "/login", "{mode:?}: no session");
            let logins = console_logins(&d);
            assert!(
                matches!(&logins[before..], [AuditEvent::ConsoleLogin { ok: false, reason: Some(r), .. }] if r == "provider token invalid"),
                "{mode:?}: {:?}",
                &logins[before..]
            );
            // What this sign-in added to the relay's log says which check.
            let said = std::fs::read_to_string(&log).unwrap().to_lowercase();
            let new = &said[logged.min(said.len())..];
            assert!(new.contains(why), "{mode:?}: the relay's log names no {why}:\n{new}");
        }
        // The device flow's ID token is checked the same way.
        idp.set_mode(Mode::Tamper);
        let (ok, out, err) = viewer_login(&relay, BOB, &d.join("credential"));
        assert!(!ok, "a forged ID token gave a credential: {out}");
        assert!(err.contains("failed the relay's checks"), "{err}");
        assert!(!d.join("credential").exists());
        idp.set_mode(Mode::Honest);
        let mut b = console_sign_in(&console, BOB);
        wait_path(&mut b, "/sessions");
        drop(relay);
    })
    .await
    .unwrap();
}

/// `lifeline-viewer login` driven to the end: its code entered at the
/// provider's device page in a fresh browser as `account`. The viewer's
/// exit status, stdout and stderr.
fn viewer_login(relay: &RelayProcess, account: &str, token_file: &Path) -> (bool, String, String) {
    let ca = relay.dir.join("ca.pem");
    let mut child = Command::new(bin("lifeline-viewer"))
        .args([
            "login",
            "--json",
            "--relay",
            &relay.addr.to_string(),
            "--ca",
        ])
        .arg(&ca)
        .arg("--token-file")
        .arg(token_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    if let Ok(code) = serde_json::from_str::<serde_json::Value>(&first) {
        assert_eq!(code["event"], "login_code", "{first}");
        let mut b = Browser::start();
        b.goto(code["uri"].as_str().unwrap());
        b.fill("input[name=user_code]", code["user_code"].as_str().unwrap());
        b.submit("form[id='op.deviceInputForm']");
        b.submit("form[id='op.deviceConfirmForm']");
        provider_login(&mut b, account);
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        format!("{first}{rest}"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Joins a real host's new code with `credential`, which must be
/// refused (`what` names it otherwise); the viewer's error.
async fn refused_join(
    addr: &str,
    ca: &Path,
    display: &str,
    credential: &str,
    what: &str,
) -> String {
    let host = HostProcess::spawn(addr, ca, display, &["--allow", "view"]);
    let joined = lifeline_viewer::session::Viewer::connect(
        addr,
        Some(ca),
        credential.trim(),
        &host.code(),
        |_| {},
    )
    .await;
    match joined {
        Ok(_) => panic!("{what}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_signs_in_joins_and_is_cut_off() {
    if lifeline_tests::x::skip_without_xvfb() || skip() {
        return;
    }
    let x = Xvfb::start(320, 240);
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let idp = IdProvider::start(&[format!("https://127.0.0.1:{port}/login/oidc/callback")]);
    let log = data.path().join("relay.log");
    let relay = relay_with_console(data.path(), &idp, port, &log);
    let addr = relay.addr.to_string();
    let ca = data.path().join("ca.pem");
    let token_file = data.path().join("credential");

    // bob (helpdesk) signs in with the device flow.
    let (ok, out, err) = {
        let (relay, token_file) = (&relay, token_file.clone());
        tokio::task::block_in_place(|| viewer_login(relay, BOB, &token_file))
    };
    assert!(ok, "login failed: {out}\n{err}");
    let done: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(done["event"], "logged_in");
    assert_eq!(done["name"], "bob@example.com");
    assert_eq!(done["expires_in_s"], 12 * 3600);
    let credential = std::fs::read_to_string(&token_file).unwrap();
    assert!(credential.starts_with("llc_"), "{credential}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the credential file is bob's alone");
    }

    // The credential joins a real host; the audit log names the subject.
    one_view_session(&addr, &ca, &x.display, &credential).await;
    let records = audit_records(data.path());
    assert!(records.iter().any(|r| matches!(&r.event,
        AuditEvent::TechnicianLogin { ok: true, subject: Some(s), name: Some(n), issuer, expires: Some(_), .. }
            if s == BOB && n == "bob@example.com" && issuer == &idp.issuer)));
    assert!(records.iter().any(|r| matches!(&r.event,
        AuditEvent::JoinAttempt { ok: true, subject: Some(s), technician: Some(t), .. }
            if s == BOB && t == "bob@example.com")));

    // An admin (alice, through the provider) revokes bob mid-session:
    // the session ends at once, and the credential is dead.
    let host = HostProcess::spawn(&addr, &ca, &x.display, &["--allow", "view"]);
    let code = host.code();
    let v = lifeline_viewer::session::Viewer::connect(
        &addr,
        Some(&ca),
        credential.trim(),
        &code,
        |_| {},
    )
    .await
    .unwrap();
    v.settle(Duration::from_millis(200), Duration::from_secs(20))
        .await
        .unwrap();
    let console = relay.console.clone().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut b = console_sign_in(&console, ALICE);
        wait_path(&mut b, "/sessions");
        b.fill("input[name=technician]", &BOB[2..]);
        b.submit("form.filter");
        assert!(
            b.text("#count").starts_with("2 sessions"),
            "{}",
            b.text("main")
        );
        b.goto(&format!("{console}/technicians"));
        assert_eq!(b.text("td.subject"), BOB);
        assert_eq!(b.text("td.live"), "1");
        shot(&mut b, "credentials");
        b.submit("form[action='/technicians/bob%40example.com/revoke']");
    })
    .await
    .unwrap();
    host.wait_event("ended");
    poll("the ended session's record", || {
        audit_records(data.path())
            .into_iter()
            .find_map(|r| match r.event {
                AuditEvent::SessionEnded { reason, .. } if reason.contains("administrator") => {
                    Some(())
                }
                _ => None,
            })
    })
    .await;
    drop(v);
    let e = refused_join(
        &addr,
        &ca,
        &x.display,
        &credential,
        "a revoked credential joined",
    )
    .await;
    assert!(e.contains("revoked"), "{e}");

    // Out of the technicians' group at the provider: no more sign-ins.
    idp.set_groups(BOB, &["sec-auditors"]);
    let (ok, out, err) = {
        let (relay, token_file) = (&relay, token_file.clone());
        tokio::task::block_in_place(|| viewer_login(relay, BOB, &token_file))
    };
    assert!(!ok, "bob signed in out of the group: {out}");
    assert!(err.contains("not in the technicians' group"), "{err}");
    assert!(audit_records(data.path()).iter().any(|r| matches!(&r.event,
        AuditEvent::TechnicianLogin { ok: false, reason: Some(why), subject: Some(s), .. }
            if why == "not a technician" && s == BOB)));

    // A credential that ran out is refused, with what to do.
    drop(relay);
    idp.set_groups(BOB, &["helpdesk"]);
    let secret = IdProvider::secret_file(data.path());
    let mut args = oidc_args(&idp, &secret);
    args.extend(["--oidc-credential-lifetime".to_owned(), "10s".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let relay = RelayProcess::start(data.path(), &args);
    let (ok, out, err) = {
        let (relay, token_file) = (&relay, token_file.clone());
        tokio::task::block_in_place(|| viewer_login(relay, BOB, &token_file))
    };
    assert!(ok, "{out}\n{err}");
    let short = std::fs::read_to_string(&token_file).unwrap();
    tokio::time::sleep(Duration::from_secs(11)).await;
    let addr = relay.addr.to_string();
    let e = refused_join(
        &addr,
        &ca,
        &x.display,
        &short,
        "an expired credential joined",
    )
    .await;
    assert!(
        e.contains("expired") && e.contains("lifeline-viewer login"),
        "{e}"
    );
}
