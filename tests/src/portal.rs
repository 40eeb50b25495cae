//! The portal stack of a real desktop, for tests: pipewire, wireplumber,
//! xdg-desktop-portal and its wlroots backend (xdpw) in a private D-Bus
//! session on a headless [`Sway`], all as the compositor's user. xdpw
//! talks to sway through [`crate::wlproxy`] (see there why); it shares the
//! one output without a chooser. Debian's xdpw has no RemoteDesktop
//! portal, so input through the portal cannot be tested here.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::sway::{Sway, user_command};

const PROGRAMS: [&str; 5] = [
    "/usr/bin/dbus-run-session",
    "/usr/bin/pipewire",
    "/usr/bin/wireplumber",
    "/usr/libexec/xdg-desktop-portal",
    "/usr/libexec/xdg-desktop-portal-wlr",
];

/// Whether a portal test must be skipped: only where its programs are
/// missing and X is not required (then a missing one fails).
pub fn skip_without_portal() -> bool {
    let missing: Vec<_> = PROGRAMS
        .iter()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return false;
    }
    assert!(
        std::env::var_os("LIFELINE_REQUIRE_X").is_none(),
        "{missing:?} not installed but LIFELINE_REQUIRE_X is set: run scripts/install-deps"
    );
    eprintln!("SKIPPED: this test needs {missing:?} (scripts/install-deps installs them)");
    true
}

/// What the portal's screen chooser does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chooser {
    /// Shares the one output without asking (as a user choosing it).
    Shares,
    /// Chooses nothing, as a user who cancels the portal's dialog.
    Cancels,
}

/// The running stack; stopped on drop.
pub struct PortalStack {
    child: Child,
    runtime: PathBuf,
    /// `DBUS_SESSION_BUS_ADDRESS` of the private session.
    pub bus: String,
    /// The portal's own log, for a failing test to show.
    pub log: PathBuf,
}

impl PortalStack {
    /// Starts the stack on `sway`; panics (with the portal's log) when it
    /// does not come up.
    pub fn start(sway: &Sway, chooser: Chooser) -> Self {
        let dir = sway.shared();
        let proxy = sway.runtime.join("wayland-portal");
        if !proxy.exists() {
            crate::wlproxy::start(&sway.runtime.join(&sway.display), &proxy);
        }
        let choose = match chooser {
            Chooser::Shares => "chooser_type=none\noutput_name=HEADLESS-1",
            Chooser::Cancels => "chooser_type=dmenu\nchooser_cmd=false",
        };
        std::fs::write(dir.join("xdpw.conf"), format!("[screencast]\n{choose}\n")).unwrap();
        let bus_file = dir.join("bus");
        let _ = std::fs::remove_file(&bus_file);
        let log = dir.join("portal.log");
        let script = format!(
            "export XDG_CURRENT_DESKTOP=sway; \
             pipewire & sleep 0.3; wireplumber & \
             WAYLAND_DISPLAY=wayland-portal /usr/libexec/xdg-desktop-portal-wlr -l INFO -c '{conf}' & \
             /usr/libexec/xdg-desktop-portal -r & \
             echo \"$DBUS_SESSION_BUS_ADDRESS\" > '{bus}'; wait",
            conf = dir.join("xdpw.conf").display(),
            bus = bus_file.display(),
        );
        let log_file = std::fs::File::create(&log).unwrap();
        let mut cmd = user_command("dbus-run-session", &sway.runtime);
        cmd.args(["--", "sh", "-c", &script])
            .env("WAYLAND_DISPLAY", &sway.display)
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .stdin(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("dbus-run-session not found");
        let deadline = Instant::now() + Duration::from_secs(15);
        let bus = loop {
            if let Ok(b) = std::fs::read_to_string(&bus_file)
                && !b.trim().is_empty()
            {
                break b.trim().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "the portal's D-Bus session did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let stack = Self {
            child,
            runtime: sway.runtime.clone(),
            bus,
            log,
        };
        stack.wait_for_portal();
        stack
    }

    /// The portal's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until xdg-desktop-portal answers on the bus.
    fn wait_for_portal(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = user_command("dbus-send", &self.runtime)
                .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.portal.Desktop",
                    "/org/freedesktop/portal/desktop",
                    "org.freedesktop.DBus.Properties.Get",
                    "string:org.freedesktop.portal.ScreenCast",
                    "string:version",
                ])
                .output();
            if out.is_ok_and(|o| o.status.success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the portal did not start; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for PortalStack {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &pgid]).status();
        let _ = self.child.wait();
    }
}
