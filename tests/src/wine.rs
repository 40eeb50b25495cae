//! Wine for tests: the Windows builds (`lifeline-host.exe`,
//! `lifeline-viewer.exe`, cross-built by `scripts/windows build --debug`)
//! run under Debian's Wine on an Xvfb of their own.
//!
//! Each [`Wine`] is one test's Windows: its own Xvfb, its own copy of the
//! project's Wine prefix (so its own wineserver: tests run in parallel) and
//! a Wine virtual desktop exactly the size of that Xvfb, at its top left,
//! so that the Windows desktop and the X screen are the same picture.
//! The copy hard-links the bulk of the prefix (`system32` and `winsxs`,
//! 670 MB of DLLs that Wine only reads) and copies the rest (the registry,
//! the users' folders, 25 MB): about 0.1 s.
//!
//! Where things are: `$LIFELINE_WIN_BIN_DIR` (the .exe files),
//! `$LIFELINE_WINE_PREFIX` (the prefix `scripts/windows` creates, with the
//! test-only `bcryptprimitives.dll` of `tests/wine/` in its system32) and
//! `$LIFELINE_WINE_DIR` (wine64 and wineserver, default `/usr/lib/wine`);
//! unset, the first two are found beside this test's target directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lifeline_session::screen::Image;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, Window};

use crate::x::{XClient, Xvfb};

/// The cross-build's target triple.
pub const TARGET: &str = "x86_64-pc-windows-gnu";

/// The X window of the Wine virtual desktop this harness sets up.
const DESKTOP_TITLE: &str = "Default - Wine desktop";

/// The target directory this test binary was built in.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target
    exe.ancestors().nth(3).unwrap().to_owned()
}

/// Where wine64 and wineserver are.
pub fn wine_dir() -> PathBuf {
    std::env::var_os("LIFELINE_WINE_DIR").map_or_else(|| PathBuf::from("/usr/lib/wine"), Into::into)
}

/// The prefix every test's copy starts from.
pub fn template_prefix() -> PathBuf {
    std::env::var_os("LIFELINE_WINE_PREFIX")
        .map_or_else(|| target_dir().join("wine-prefix"), Into::into)
}

/// Where the cross-built .exe files are.
pub fn win_bin_dir() -> PathBuf {
    std::env::var_os("LIFELINE_WIN_BIN_DIR")
        .map_or_else(|| target_dir().join(TARGET).join("debug"), Into::into)
}

/// A cross-built program, e.g. `lifeline-viewer.exe`.
pub fn win_exe(name: &str) -> PathBuf {
    win_bin_dir().join(name)
}

/// Whether a test that needs Wine and the .exe files `exes` must be
/// skipped: true (after saying why on stderr) when Wine, the test prefix
/// or one of them is missing. Where Wine is required
/// (`LIFELINE_REQUIRE_WINE` set, as `scripts/windows test` does after
/// building everything), a missing piece fails instead, so the Windows
/// tests never pass by skipping there.
pub fn skip_without_wine(exes: &[&str]) -> bool {
    let prefix = template_prefix();
    let missing = if !wine_dir().join("wine64").is_file() {
        Some("Wine (wine64), which is not installed (scripts/install-deps installs it)".to_owned())
    } else if !prefix.join("system.reg").is_file()
        || !prefix
            .join("drive_c/windows/system32/bcryptprimitives.dll")
            .is_file()
    {
        Some(format!(
            "the test Wine prefix {}, which is missing (scripts/windows test creates it)",
            prefix.display()
        ))
    } else {
        exes.iter().find(|e| !win_exe(e).is_file()).map(|e| {
            format!(
                "{e}, which is not built in {} (scripts/windows build --debug)",
                win_bin_dir().display()
            )
        })
    };
    let Some(what) = missing else {
        return false;
    };
    assert!(
        std::env::var_os("LIFELINE_REQUIRE_WINE").is_none(),
        "this test needs {what}, but LIFELINE_REQUIRE_WINE is set"
    );
    eprintln!("SKIPPED: this test needs {what}");
    true
}

/// The Windows path of a Linux file: Wine maps drive `Z:` to `/`.
pub fn win_path(path: &Path) -> String {
    assert!(path.is_absolute(), "{} is not absolute", path.display());
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// One test's Windows: Xvfb, a prefix copy and a virtual desktop.
pub struct Wine {
    pub x: Xvfb,
    /// The prefix copy, removed on drop (after its wineserver is stopped).
    pub prefix: tempfile::TempDir,
    pub width: u32,
    pub height: u32,
}

impl Wine {
    /// A `width`×`height` Windows desktop showing the background colour.
    pub fn start(width: u32, height: u32) -> Self {
        Self::start_with(width, height, None)
    }

    /// A `width`×`height` Windows desktop with `wallpaper` tiled from its
    /// top left ([`tiled`] is the picture it makes), or its background
    /// colour. Nothing runs in it yet: the desktop appears with the first
    /// program (see [`Wine::wait_desktop`]).
    pub fn start_with(width: u32, height: u32, wallpaper: Option<&Image>) -> Self {
        let x = Xvfb::start(width, height);
        let prefix = tempfile::Builder::new()
            .prefix("lifeline-wine-")
            .tempdir()
            .unwrap();
        copy_prefix(&template_prefix(), prefix.path()).unwrap();
        let mut reg = format!(
            "\n[Software\\\\Wine\\\\Explorer] 1700000000\n\"Desktop\"=\"Default\"\n\
             \n[Software\\\\Wine\\\\Explorer\\\\Desktops] 1700000000\n\"Default\"=\"{width}x{height}\"\n"
        );
        if let Some(img) = wallpaper {
            let bmp = prefix.path().join("drive_c/wallpaper.bmp");
            save_bmp(img, &bmp);
            reg.push_str(
                "\n[Control Panel\\\\Desktop] 1700000000\n\"Wallpaper\"=\"C:\\\\wallpaper.bmp\"\n\
                 \"TileWallpaper\"=\"1\"\n\"WallpaperStyle\"=\"0\"\n",
            );
        }
        let user_reg = prefix.path().join("user.reg");
        let mut text = std::fs::read_to_string(&user_reg).unwrap();
        text.push_str(&reg);
        std::fs::write(&user_reg, text).unwrap();
        Self {
            x,
            prefix,
            width,
            height,
        }
    }

    /// `wine64 PROGRAM` in this Windows, for a cross-built .exe (by its
    /// file name, e.g. `lifeline-host.exe`) or one of Wine's own programs
    /// (`notepad`); stdout and stderr as the caller sets them.
    pub fn command(&self, program: &str) -> Command {
        let exe = win_exe(program);
        let mut cmd = Command::new(wine_dir().join("wine64"));
        if exe.is_file() {
            cmd.arg(exe);
        } else {
            cmd.arg(program);
        }
        self.env(&mut cmd);
        cmd
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("WINEPREFIX", self.prefix.path())
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env("DISPLAY", &self.x.display)
            .env_remove("WAYLAND_DISPLAY");
    }

    /// Runs `program ARGS…` with stdout piped (stderr goes to the test's).
    pub fn run(&self, program: &str, args: &[&str]) -> Child {
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start wine64 {program}: {e}"))
    }

    /// Starts Wine's notepad and waits until its window is on the screen
    /// (it then has the keyboard focus); killed on drop.
    pub fn notepad(&self) -> XClient {
        let child = self
            .command("notepad")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let client = XClient(child);
        self.wait_window("Untitled - Notepad");
        client
    }

    /// Waits (up to 60 s: the first program starts the wineserver) until
    /// the virtual desktop is shown, and checks that it covers the whole X
    /// screen from its top left, so that the screen is the desktop.
    pub fn wait_desktop(&self) {
        let win = self.wait_window(DESKTOP_TITLE);
        let (conn, _) = x11rb::connect(Some(&self.x.display)).unwrap();
        let g = conn.get_geometry(win).unwrap().reply().unwrap();
        assert_eq!(
            (g.x, g.y, u32::from(g.width), u32::from(g.height)),
            (0, 0, self.width, self.height),
            "the Wine desktop covers the X screen"
        );
    }

    /// Waits (up to 60 s) for an X window titled `title`: the desktop, or
    /// a Windows program's window inside it.
    pub fn wait_window(&self, title: &str) -> Window {
        let (conn, screen) = x11rb::connect(Some(&self.x.display)).unwrap();
        let root = conn.setup().roots[screen].root;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(w) = find_window(&conn, root, title) {
                return w;
            }
            assert!(Instant::now() < deadline, "no window {title:?} within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What `window` shows now: its size and its pixels (row by row, the
    /// parts off the X screen left out).
    pub fn window_pixels(&self, window: Window) -> (u32, u32, Vec<u32>) {
        let (conn, _) = x11rb::connect(Some(&self.x.display)).unwrap();
        let g = conn.get_geometry(window).unwrap().reply().unwrap();
        let at = conn
            .translate_coordinates(window, g.root, 0, 0)
            .unwrap()
            .reply()
            .unwrap();
        let shot = self.x.screenshot();
        let (w, h) = (u32::from(g.width), u32::from(g.height));
        let mut pixels = Vec::with_capacity(w as usize * h as usize);
        for y in 0..h {
            for x in 0..w {
                let sx = i64::from(at.dst_x) + i64::from(x);
                let sy = i64::from(at.dst_y) + i64::from(y);
                if (0..i64::from(shot.width)).contains(&sx)
                    && (0..i64::from(shot.height)).contains(&sy)
                {
                    pixels.push(shot.get(sx as u32, sy as u32));
                }
            }
        }
        (w, h, pixels)
    }

    /// Waits (up to 60 s) until the X screen is `want`.
    pub fn wait_screen(&self, want: &Image) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while &self.x.screenshot() != want {
            assert!(
                Instant::now() < deadline,
                "the Wine desktop never showed the expected picture"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Presses keys (xdotool names: `ctrl+a`) on the Wine desktop, as the
    /// user's own keyboard would: Wine gives them to the focused window.
    pub fn keys(&self, keys: &[&str]) {
        let win = self.wait_window(DESKTOP_TITLE).to_string();
        self.x.xdotool(&["windowfocus", "--sync", &win]);
        let mut args = vec!["key", "--clearmodifiers"];
        args.extend_from_slice(keys);
        self.x.xdotool(&args);
    }

    /// Types `text` on the Wine desktop, as the user's own keyboard would.
    pub fn type_text(&self, text: &str) {
        let win = self.wait_window(DESKTOP_TITLE).to_string();
        self.x.xdotool(&["windowfocus", "--sync", &win]);
        self.x.xdotool(&["type", "--delay", "20", text]);
    }

    /// The text on the clipboard, as X has it (Wine shares its clipboard
    /// with X's CLIPBOARD selection), if any.
    pub fn clipboard(&self) -> Option<String> {
        let out = Command::new("xclip")
            .args(["-selection", "clipboard", "-o"])
            .env("DISPLAY", &self.x.display)
            .stderr(Stdio::null())
            .output()
            .expect("xclip not found: run scripts/install-deps");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Puts `text` on the clipboard from X (as a Linux program would);
    /// it stays there while the returned owner runs.
    pub fn set_clipboard(&self, text: &str) -> XClient {
        let mut child = Command::new("xclip")
            .args(["-selection", "clipboard", "-i", "-quiet"])
            .env("DISPLAY", &self.x.display)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xclip not found: run scripts/install-deps");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
        let client = XClient(child);
        crate::wait_for("X to own the clipboard", || {
            (self.clipboard().as_deref() == Some(text)).then_some(())
        });
        client
    }

    /// The Windows user's folder in this prefix (`C:\users\NAME`).
    pub fn user_dir(&self) -> PathBuf {
        let users = self.prefix.path().join("drive_c/users");
        std::fs::read_dir(&users)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n != "Public"))
            .unwrap_or_else(|| panic!("no user in {}", users.display()))
    }

    /// `C:\users\NAME\Downloads\Lifeline`, where the host saves files the
    /// technician sends.
    pub fn downloads(&self) -> PathBuf {
        self.user_dir().join("Downloads").join("Lifeline")
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = Command::new(wine_dir().join("wineserver"))
            .arg("-k")
            .env("WINEPREFIX", self.prefix.path())
            .status();
    }
}

/// `img` tiled from the top left over `width`×`height`: what a desktop
/// with it as tiled wallpaper shows.
pub fn tiled(img: &Image, width: u32, height: u32) -> Image {
    let pixels = (0..height)
        .flat_map(|y| (0..width).map(move |x| img.get(x % img.width, y % img.height)))
        .collect();
    Image {
        width,
        height,
        pixels,
    }
}

/// Writes `img` as a 24-bit BMP (what Wine's desktop wallpaper reads):
/// a 54-byte header, then the rows bottom up, BGR, each padded to 4 bytes.
fn save_bmp(img: &Image, path: &Path) {
    let row = (img.width as usize * 3).div_ceil(4) * 4;
    let size = 54 + row * img.height as usize;
    let mut out = Vec::with_capacity(size);
    let u32le = |v: usize| (v as u32).to_le_bytes();
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&u32le(size));
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&u32le(54));
    out.extend_from_slice(&u32le(40));
    out.extend_from_slice(&u32le(img.width as usize));
    out.extend_from_slice(&u32le(img.height as usize));
    out.extend_from_slice(&[1, 0, 24, 0]); // one plane, 24 bits
    out.extend_from_slice(&[0; 24]); // uncompressed, default resolution and palette
    for y in (0..img.height).rev() {
        let start = out.len();
        for x in 0..img.width {
            let p = img.get(x, y);
            out.extend_from_slice(&[p as u8, (p >> 8) as u8, (p >> 16) as u8]);
        }
        out.resize(start + row, 0);
    }
    std::fs::write(path, out).unwrap();
}

/// The first window below `parent` (depth first) whose `WM_NAME` is
/// `title`.
fn find_window(conn: &impl Connection, parent: Window, title: &str) -> Option<Window> {
    let tree = conn.query_tree(parent).ok()?.reply().ok()?;
    for &w in &tree.children {
        let name = conn
            .get_property(
                false,
                w,
                x11rb::protocol::xproto::AtomEnum::WM_NAME,
                x11rb::protocol::xproto::AtomEnum::ANY,
                0,
                256,
            )
            .ok()
            .and_then(|c| c.reply().ok());
        if name.is_some_and(|n| n.value == title.as_bytes()) {
            return Some(w);
        }
        if let Some(found) = find_window(conn, w, title) {
            return Some(found);
        }
    }
    None
}

/// Copies the prefix `from` to `to`: the DLL folders hard-linked (Wine only
/// reads them), everything else copied, symbolic links kept as links.
fn copy_prefix(from: &Path, to: &Path) -> std::io::Result<()> {
    let windows = from.join("drive_c").join("windows");
    let linked = [windows.join("system32"), windows.join("winsxs")];
    copy_tree(from, to, &linked)
}

fn copy_tree(from: &Path, to: &Path, linked: &[PathBuf]) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if kind.is_dir() {
            copy_tree(&src, &dst, linked)?;
        } else if linked.iter().any(|l| src.starts_with(l)) {
            std::fs::hard_link(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}
