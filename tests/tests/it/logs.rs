//! Issue #33, logs: a whole session (real relay, host and viewer
//! binaries, typing into a real xterm) run with every log at trace level,
//! the relay's as JSON lines; no log names the session code, the
//! technician's token or the typed text, and the relay's is JSON
//! throughout.

use std::process::{Command, Stdio};

use lifeline_tests::peers::HostProcess;
use lifeline_tests::x::Xvfb;
use lifeline_tests::{RelayProcess, bin, log_to, poll, relay_cli};

const TYPED: &str = "TOPSECRET-typed-7319";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_logged_at_trace_level_names_no_code_token_or_typed_text() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let x = Xvfb::start(800, 600);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typed.txt");
    let _xterm = x.xterm_cat("40x8+0+0", &file);
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (relay_log, host_log, viewer_log) = (
        logs.path().join("relay.log"),
        logs.path().join("host.log"),
        logs.path().join("viewer.log"),
    );
    let trace = [("LIFELINE_LOG", "trace")];
    let relay = RelayProcess::start_env(
        "127.0.0.1:0",
        data.path(),
        &["--log-format", "json"],
        log_to(&relay_log),
        &trace,
    );
    let d = data.path().to_str().unwrap();
    let (_, token, _) = relay_cli(&["technician", "add", "bob", "--data-dir", d]);
    let token = token.trim().to_owned();
    let ca = data.path().join("ca.pem");
    let addr = relay.addr.to_string();
    let host = HostProcess::spawn_env(
        &addr,
        &ca,
        &x.display,
        &["--allow", "control"],
        log_to(&host_log),
        &trace,
    );
    let code = host.code();
    let script = dir.path().join("script.txt");
    std::fs::write(
        &script,
        format!("wait-frame\nmove 60 40\nclick\ntype {TYPED}\nkey Return\nquit\n"),
    )
    .unwrap();
    let viewer = Command::new(bin("lifeline-viewer"))
        .env("LIFELINE_LOG", "trace")
        .args(["--relay", &addr, "--ca"])
        .arg(&ca)
        .args(["--token", &token, "--code", &code.to_string(), "--headless"])
        .arg("--script")
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(log_to(&viewer_log))
        .spawn()
        .unwrap();
    poll("the text to be typed", || {
        let typed = std::fs::read_to_string(&file).ok()?;
        (typed == format!("{TYPED}\n")).then_some(())
    })
    .await;
    let out = tokio::task::spawn_blocking(move || viewer.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "the viewer's script ran to its end");
    drop(host);
    drop(relay);

    let digits = code.digits();
    let secret = format!("{}-{}", &digits[6..9], &digits[9..12]);
    let secrets = [code.to_string(), digits, secret, token, TYPED.to_owned()];
    for log in [&relay_log, &host_log, &viewer_log] {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(
            text.lines().count() > 100,
            "{} holds the trace ({} lines)",
            log.display(),
            text.lines().count()
        );
        for s in &secrets {
            let at = text.find(s.as_str());
            assert!(
                at.is_none(),
                "{} names a secret ({s}) in: {}",
                log.display(),
                at.map(|i| line_at(&text, i)).unwrap_or_default()
            );
        }
    }
    let relay_text = std::fs::read_to_string(&relay_log).unwrap();
    for line in relay_text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string() && v["target"].is_string(),
            "{line}"
        );
    }
}

/// The line of `text` around byte `at`.
fn line_at(text: &str, at: usize) -> &str {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    &text[start..end]
}
