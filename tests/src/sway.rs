//! A real Wayland compositor for tests: sway, headless (no GPU, no input
//! devices), in a private runtime directory, with foot terminals on it
//! and grim to read the screen back. sway refuses to run as root; as root
//! the harness runs it (and its clients) as `nobody`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lifeline_session::screen::Image;

use crate::x::XClient;

/// Whether a test that needs sway must be skipped (as
/// [`crate::x::skip_without_xvfb`]: where X is required, a missing sway
/// fails instead).
pub fn skip_without_sway() -> bool {
    let found = ["sway", "foot", "grim"].iter().all(|b| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(b).is_file()))
    });
    if found {
        return false;
    }
    assert!(
        std::env::var_os("LIFELINE_REQUIRE_X").is_none(),
        "sway, foot or grim is not installed but LIFELINE_REQUIRE_X is set: run scripts/install-deps"
    );
    eprintln!("SKIPPED: this test needs sway, foot and grim (scripts/install-deps installs them)");
    true
}

/// A headless sway, killed on drop.
pub struct Sway {
    child: Child,
    dir: tempfile::TempDir,
    /// `XDG_RUNTIME_DIR` and `WAYLAND_DISPLAY` for clients.
    pub runtime: PathBuf,
    pub display: String,
    pub width: u32,
    pub height: u32,
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

impl Sway {
    /// Starts sway with one headless output of `width`×`height`.
    pub fn start(width: u32, height: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path().join("runtime");
        let shared = dir.path().join("shared");
        std::fs::create_dir(&runtime).unwrap();
        std::fs::create_dir(&shared).unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            format!(
                "output HEADLESS-1 resolution {width}x{height} position 0 0\ndefault_border none\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        for (p, mode) in [(dir.path(), 0o755), (&shared, 0o777), (&runtime, 0o700)] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        if is_root() {
            let ok = Command::new("chown")
                .args(["nobody:nogroup"])
                .arg(&runtime)
                .status()
                .unwrap()
                .success();
            assert!(ok, "cannot hand the runtime directory to nobody");
        }
        let mut cmd = user_command("sway", &runtime);
        cmd.arg("-c").arg(&config);
        cmd.env("WLR_BACKENDS", "headless")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .env("WLR_RENDERER", "pixman")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .expect("sway not found: run scripts/install-deps");
        let socket = runtime.join("wayland-1");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "sway did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let sway = Self {
            child,
            dir,
            runtime,
            display: "wayland-1".into(),
            width,
            height,
        };
        // The output is configured just after the socket appears.
        let (w, h) = (u64::from(width), u64::from(height));
        sway.until("its output configured", |s| {
            let outputs = s.query("get_outputs")?;
            outputs
                .as_array()?
                .iter()
                .any(|o| {
                    o["active"] == true
                        && o["rect"]["width"].as_u64() == Some(w)
                        && o["rect"]["height"].as_u64() == Some(h)
                })
                .then_some(())
        });
        sway
    }

    /// Polls `f` until it yields, failing after 15 s.
    fn until<T>(&self, what: &str, mut f: impl FnMut(&Self) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            assert!(Instant::now() < deadline, "sway never showed {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// sway's IPC socket, once it listens.
    fn ipc(&self) -> Option<PathBuf> {
        std::fs::read_dir(&self.runtime)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("sway-ipc."))
            })
    }

    /// swaymsg with `args` as the compositor's user; whether it succeeded
    /// and what it printed.
    fn swaymsg(&self, args: &[&str]) -> Option<(bool, Vec<u8>)> {
        let out = user_command("swaymsg", &self.runtime)
            .env("SWAYSOCK", self.ipc()?)
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        Some((out.status.success(), out.stdout))
    }

    /// What sway says to `swaymsg -r -t KIND` (its outputs, its tree).
    fn query(&self, kind: &str) -> Option<serde_json::Value> {
        let (ok, out) = self.swaymsg(&["-r", "-t", kind])?;
        ok.then(|| serde_json::from_slice(&out).ok()).flatten()
    }

    /// A folder every client (running as another user) may write.
    pub fn shared(&self) -> PathBuf {
        self.dir.path().join("shared")
    }

    /// A foot terminal running `cat > FILE` (FILE in [`Sway::shared`]),
    /// once `cat` has started. It takes the whole output and the focus.
    pub fn foot_cat(&self, file: &Path) -> XClient {
        let cmd = format!("cat > '{}'", file.display());
        let mut c = user_command("foot", &self.runtime);
        c.env("WAYLAND_DISPLAY", &self.display)
            .args(["sh", "-c", &cmd])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = c.spawn().expect("foot not found: run scripts/install-deps");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !file.exists() {
            assert!(Instant::now() < deadline, "foot did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Drawn (sway maps a window once it has a picture) and focused.
        self.until("the terminal focused", |s| {
            focused_app(&s.query("get_tree")?).filter(|a| a == "foot")
        });
        XClient(child)
    }

    /// The screen as grim reads it.
    pub fn grim(&self) -> Image {
        let out = self.dir.path().join("grim.png");
        let ok = Command::new("grim")
            .arg(&out)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("WAYLAND_DISPLAY", &self.display)
            .status()
            .unwrap()
            .success();
        assert!(ok, "grim failed");
        crate::x::load_png(&out)
    }

    /// Makes the compositor draw the whole output anew (a new background
    /// colour, through swaymsg), so every screen reader gets a fresh frame.
    pub fn repaint(&self, colour: &str) {
        let said = self.swaymsg(&["output", "*", "background", colour, "solid_color"]);
        assert!(said.is_some_and(|(ok, _)| ok), "swaymsg failed");
    }

    /// The environment a Wayland client of this compositor needs.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("XDG_RUNTIME_DIR", self.runtime.display().to_string()),
            ("WAYLAND_DISPLAY", self.display.clone()),
        ]
    }
}

/// The app id of the focused window in sway's tree, if a mapped one is.
fn focused_app(node: &serde_json::Value) -> Option<String> {
    if node["focused"] == true
        && node["visible"] == true
        && let Some(app) = node["app_id"].as_str()
    {
        return Some(app.to_owned());
    }
    ["nodes", "floating_nodes"]
        .iter()
        .filter_map(|k| node[*k].as_array())
        .flatten()
        .find_map(focused_app)
}

/// `program` run as the compositor's user (nobody, when we are root) with
/// a clean environment but for the runtime directory.
pub fn user_command(program: &str, runtime: &Path) -> Command {
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", program]);
        c
    } else {
        Command::new(program)
    };
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", runtime)
        .env("XDG_RUNTIME_DIR", runtime);
    cmd
}

impl Drop for Sway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
