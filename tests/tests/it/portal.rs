//! The host on a desktop reached through xdg-desktop-portal, as on GNOME
//! and KDE: the real portal, its wlroots backend and PipeWire on a
//! headless sway, the real host binary with `--backend portal`, a real
//! relay, an in-process viewer. The user is told of the desktop's own
//! dialog; the viewer's picture equals grim's, and what is drawn later
//! arrives through the PipeWire stream; the restore token a session
//! keeps lets the next one share without the desktop's dialog; a
//! cancelled dialog ends the session saying so. Without a portal the host
//! says what to install.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lifeline_tests::peers::HostProcess;
use lifeline_tests::portal::{Chooser, PortalStack};
use lifeline_tests::sway::{Sway, user_command};
use lifeline_tests::{RelayProcess, bin, relay_cli};
use lifeline_viewer::session::Viewer;

/// A relay, and what a host and viewer need to use it.
struct Setup {
    _data: tempfile::TempDir,
    _relay: RelayProcess,
    addr: String,
    token: String,
    /// The relay's CA, where the desktop's user can read it.
    ca: PathBuf,
    /// The host's `XDG_STATE_HOME`, kept across its sessions.
    state: PathBuf,
}

impl Setup {
    fn new(sway: &Sway) -> Self {
        let data = tempfile::tempdir().unwrap();
        let relay = RelayProcess::start(data.path(), &[]);
        let d = data.path().to_str().unwrap();
        let (_, token, _) = relay_cli(&["technician", "add", "wendy", "--data-dir", d]);
        let ca = sway.shared().join("ca.pem");
        std::fs::copy(data.path().join("ca.pem"), &ca).unwrap();
        Self {
            addr: relay.addr.to_string(),
            _data: data,
            _relay: relay,
            token: token.trim().to_owned(),
            ca,
            state: sway.shared().join("state"),
        }
    }

    /// The host as the desktop's user, on the portal's session bus; and a
    /// viewer joined to it.
    async fn session(&self, sway: &Sway, stack: &PortalStack) -> (HostProcess, Viewer) {
        let mut cmd = user_command(bin("lifeline-host").to_str().unwrap(), &sway.runtime);
        cmd.env("WAYLAND_DISPLAY", &sway.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &stack.bus)
            .env("XDG_STATE_HOME", &self.state);
        let extra = ["--backend", "portal", "--allow", "control"];
        let host = HostProcess::spawn_command(cmd, &self.addr, &self.ca, &extra);
        let code = host.code();
        let v = Viewer::connect(&self.addr, Some(&self.ca), &self.token, &code, |_| {})
            .await
            .unwrap();
        host.wait_event("desktop_asks");
        (host, v)
    }

    fn kept_token(&self) -> Option<String> {
        std::fs::read_to_string(self.state.join("lifeline/portal-restore-token")).ok()
    }
}

/// The viewer's picture comes to equal grim's (the compositor may still be
/// drawing when the test looks first).
async fn sees_the_screen(v: &Viewer, sway: &Sway, stack: &PortalStack) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut repainted = false;
    loop {
        v.settle(Duration::from_millis(300), Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no picture through the portal: {e}; its log:\n{}",
                    stack.log()
                )
            });
        let seen = v.image().unwrap();
        let grim = sway.grim();
        assert_eq!((seen.width, seen.height), (grim.width, grim.height));
        let differ = seen
            .pixels
            .iter()
            .zip(&grim.pixels)
            .filter(|(a, b)| a != b)
            .count();
        if differ == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the viewer's picture still differs from grim's in {differ} pixels"
        );
        // xdg-desktop-portal-wlr sends a frame only when something is
        // drawn: one it lost (a failed copy) is not sent again on an idle
        // screen. Draw the whole output anew, then compare again.
        sway.repaint(if repainted { "#203040" } else { "#304050" });
        repainted = !repainted;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_through_the_portal_sees_the_screen_and_the_next_is_not_asked_again() {
    if lifeline_tests::sway::skip_without_sway() || lifeline_tests::portal::skip_without_portal() {
        return;
    }
    let sway = Sway::start(800, 600);
    let setup = Setup::new(&sway);
    // First session: the desktop's chooser shares the screen.
    let stack = PortalStack::start(&sway, Chooser::Shares);
    let (host, v) = setup.session(&sway, &stack).await;
    sees_the_screen(&v, &sway, &stack).await;
    let seen = v.image().unwrap();
    let screens = v.screens().expect("the host listed the shared screens");
    assert_eq!(screens.monitors.len(), 1);
    assert_eq!(
        (screens.monitors[0].width, screens.monitors[0].height),
        (800, 600)
    );
    // Drawn later: arrives through the stream.
    let _foot = sway.foot_cat(&sway.shared().join("typed.txt"));
    sees_the_screen(&v, &sway, &stack).await;
    assert!(
        v.image().unwrap().pixels != seen.pixels,
        "the terminal was drawn"
    );
    v.disconnect("done").await;
    host.wait_event("ended");
    assert!(
        setup.kept_token().is_some_and(|t| !t.trim().is_empty()),
        "the restore token was kept"
    );
    assert!(!stack.log().contains("restore data available"));
    drop(stack);

    // Second session, same login: a chooser that would cancel is never
    // run, since the desktop restores the user's earlier choice.
    let stack = PortalStack::start(&sway, Chooser::Cancels);
    let (host, v) = setup.session(&sway, &stack).await;
    sees_the_screen(&v, &sway, &stack).await;
    assert!(
        stack.log().contains("restore data available"),
        "{}",
        stack.log()
    );
    v.disconnect("done").await;
    host.wait_event("ended");

    // Without the token the desktop asks, and the user cancels: the
    // session ends saying so, on both sides.
    std::fs::remove_file(setup.state.join("lifeline/portal-restore-token")).unwrap();
    let (host, v) = setup.session(&sway, &stack).await;
    let ended = host.wait_event("ended");
    let reason = ended["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("dialog was cancelled"), "{ended}");
    lifeline_tests::poll("the viewer to hear why", || v.ended()).await;
    assert!(v.ended().unwrap().contains("cancelled"), "{:?}", v.ended());
}

#[test]
fn without_a_portal_the_host_says_what_to_install() {
    let out = Command::new(bin("lifeline-host"))
        .args([
            "--cli",
            "--backend",
            "portal",
            "--relay",
            "127.0.0.1:9",
            "--ca",
        ])
        .arg(Path::new("/nonexistent/ca.pem"))
        .env("WAYLAND_DISPLAY", "wayland-none")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no screen-sharing portal") && err.contains("install xdg-desktop-portal"),
        "{err}"
    );
}
