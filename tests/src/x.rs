//! A real X server for tests: Xvfb on a free display number, plus a small
//! X client (x11rb) to draw known pixels, read the screen back and ask where
//! the pointer is.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lifeline_session::screen::Image;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConnectionExt as _, CreateGCAux, CreateWindowAux, ImageFormat, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

/// Whether a test that needs an X server must be skipped: true (after
/// saying so on stderr) when Xvfb is not installed. Where X is required
/// (`LIFELINE_REQUIRE_X` set, as scripts/test does after installing it), a
/// missing Xvfb fails instead, so CI never passes by skipping.
pub fn skip_without_xvfb() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("Xvfb").is_file()));
    skip_unless(found, "Xvfb")
}

/// False when `found`; else true (after saying so) or, where X is
/// required, a failure.
fn skip_unless(found: bool, what: &str) -> bool {
    if found {
        return false;
    }
    assert!(
        std::env::var_os("LIFELINE_REQUIRE_X").is_none(),
        "{what} is not installed but LIFELINE_REQUIRE_X is set: run scripts/install-deps"
    );
    eprintln!(
        "SKIPPED: this test needs {what}, which is not installed (scripts/install-deps installs it)"
    );
    true
}

/// An Xvfb server, killed on drop.
pub struct Xvfb {
    child: Option<Child>,
    /// The configuration of an Xorg server, removed on drop.
    _config: Option<tempfile::TempDir>,
    pub display: String,
    pub width: u32,
    pub height: u32,
    conn: RustConnection,
    root: Window,
    depth: u8,
}

/// A window showing fixed pixels; it disappears when dropped.
pub struct Shown {
    _conn: RustConnection,
}

impl Xvfb {
    /// Starts Xvfb at `width`×`height`×24 on a free display. Xvfb picks
    /// the number itself (`-displayfd`), so parallel tests never race for one.
    // Only the panicking paths leave the child unreaped; the test is over then.
    #[allow(clippy::zombie_processes)]
    pub fn start(width: u32, height: u32) -> Self {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                &format!("{width}x{height}x24"),
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb not found: run scripts/install-deps");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        let n: u32 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb did not report its display: {line:?}"));
        let display = format!(":{n}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok((conn, screen)) = x11rb::connect(Some(&display)) {
                let root = conn.setup().roots[screen].root;
                let depth = conn.setup().roots[screen].root_depth;
                return Self {
                    child: Some(child),
                    _config: None,
                    display,
                    width,
                    height,
                    conn,
                    root,
                    depth,
                };
            }
            assert!(Instant::now() < deadline, "Xvfb {display} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Connects to an X server someone else started (not killed on drop).
    pub fn attach(display: &str, width: u32, height: u32) -> Self {
        let (conn, screen) = x11rb::connect(Some(display)).unwrap();
        let root = conn.setup().roots[screen].root;
        let depth = conn.setup().roots[screen].root_depth;
        Self {
            child: None,
            _config: None,
            display: display.to_owned(),
            width,
            height,
            conn,
            root,
            depth,
        }
    }

    /// The whole screen as the X server has it.
    pub fn screenshot(&self) -> Image {
        let reply = self
            .conn
            .get_image(
                ImageFormat::Z_PIXMAP,
                self.root,
                0,
                0,
                self.width as u16,
                self.height as u16,
                !0,
            )
            .unwrap()
            .reply()
            .unwrap();
        let mut img = Image::new(1, 1).unwrap();
        img.load_bgra(
            self.width,
            self.height,
            self.width as usize * 4,
            &reply.data,
        )
        .unwrap();
        img
    }

    /// Shows `img` in a borderless window at (x, y) and waits until the
    /// server has drawn it.
    pub fn show(&self, x: i16, y: i16, img: &Image) -> Shown {
        let (conn, screen) = x11rb::connect(Some(&self.display)).unwrap();
        let root = conn.setup().roots[screen].root;
        let win = conn.generate_id().unwrap();
        let aux = CreateWindowAux::new()
            .override_redirect(1)
            .background_pixel(0);
        conn.create_window(
            0,
            win,
            root,
            x,
            y,
            img.width as u16,
            img.height as u16,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &aux,
        )
        .unwrap();
        conn.map_window(win).unwrap();
        let gc = conn.generate_id().unwrap();
        conn.create_gc(gc, win, &CreateGCAux::new()).unwrap();
        conn.get_input_focus().unwrap().reply().unwrap(); // mapped
        // In bands, to stay under the core request size limit.
        let rows_per_band = (60_000 / (img.width as usize * 4)).max(1);
        for (band, rows) in img
            .pixels
            .chunks(img.width as usize * rows_per_band)
            .enumerate()
        {
            let data: Vec<u8> = rows
                .iter()
                .flat_map(|p| [(*p) as u8, (*p >> 8) as u8, (*p >> 16) as u8, 0])
                .collect();
            let h = (rows.len() / img.width as usize) as u16;
            let top = (band * rows_per_band) as i16;
            conn.put_image(
                ImageFormat::Z_PIXMAP,
                win,
                gc,
                img.width as u16,
                h,
                0,
                top,
                0,
                self.depth,
                &data,
            )
            .unwrap();
        }
        conn.get_input_focus().unwrap().reply().unwrap(); // drawn
        Shown { _conn: conn }
    }

    /// Where the pointer is.
    pub fn pointer(&self) -> (i16, i16) {
        let r = self.conn.query_pointer(self.root).unwrap().reply().unwrap();
        (r.root_x, r.root_y)
    }

    /// Starts an X client (e.g. xterm) on this display; it is killed when
    /// the returned guard drops.
    pub fn spawn(&self, program: &str, args: &[&str]) -> XClient {
        let child = Command::new(program)
            .args(args)
            .env("DISPLAY", &self.display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        XClient(child)
    }
}

/// The two monitors of [`Xvfb::start_two_monitors`]: (name, x, y, w, h).
pub const TWO_MONITORS: [(&str, u32, u32, u32, u32); 2] =
    [("DUMMY0", 0, 0, 1280, 720), ("DUMMY1", 1280, 0, 1024, 768)];

/// Xorg with the dummy video driver: RandR outputs that can be switched
/// on, which Xvfb lacks. No input devices: XTest alone drives it.
const DUMMY_CONFIG: &str = r#"
Section "ServerFlags"
  Option "AutoAddDevices" "false"
  Option "AutoEnableDevices" "false"
EndSection
Section "Device"
  Identifier "dummy"
  Driver "dummy"
  VideoRam 64000
EndSection
Section "Monitor"
  Identifier "monitor"
  HorizSync 5.0-1000.0
  VertRefresh 5.0-200.0
  Modeline "1280x720" 74.25 1280 1390 1430 1650 720 725 730 750 +hsync +vsync
EndSection
Section "Screen"
  Identifier "screen"
  Device "dummy"
  Monitor "monitor"
  DefaultDepth 24
  SubSection "Display"
    Depth 24
    Virtual 2304 768
    Modes "1280x720"
  EndSubSection
EndSection
"#;

/// Whether a test that needs Xorg's dummy driver must be skipped (as
/// [`skip_without_xvfb`], failing instead where X is required).
pub fn skip_without_xorg_dummy() -> bool {
    let found = std::path::Path::new("/usr/lib/xorg/modules/drivers/dummy_drv.so").is_file();
    skip_unless(found, "Xorg with the dummy video driver")
}

impl Xvfb {
    /// Starts Xorg (dummy driver) with the two monitors of
    /// [`TWO_MONITORS`] side by side, the second one primary: a laptop
    /// with a screen plugged in. Needs root, as CI has.
    // Only the panicking paths leave the child unreaped; the test is over then.
    #[allow(clippy::zombie_processes)]
    pub fn start_two_monitors() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("xorg.conf");
        std::fs::write(&config, DUMMY_CONFIG).unwrap();
        let mut child = Command::new("Xorg")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-noreset", "-config"])
            .arg(&config)
            .arg("-configdir")
            .arg(dir.path())
            .arg("-logfile")
            .arg(dir.path().join("xorg.log"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xorg not found: run scripts/install-deps");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        let n: u32 = line.trim().parse().unwrap_or_else(|_| {
            let log = std::fs::read_to_string(dir.path().join("xorg.log")).unwrap_or_default();
            panic!("Xorg did not report its display: {line:?}\n{log}")
        });
        let display = format!(":{n}");
        let [(first, ..), (second, sx, _, sw, sh)] = TWO_MONITORS;
        let mode = format!("{sw}x{sh}");
        for args in [
            vec!["--addmode", second, &mode],
            vec![
                "--output",
                second,
                "--mode",
                &mode,
                "--pos",
                &format!("{sx}x0"),
            ],
            vec!["--output", second, "--primary"],
            vec!["--output", first, "--pos", "0x0"],
        ] {
            let ok = Command::new("xrandr")
                .args(&args)
                .env("DISPLAY", &display)
                .status()
                .unwrap()
                .success();
            assert!(ok, "xrandr {args:?} failed");
        }
        let mut x = Self::attach(&display, sx + sw, sh);
        x.child = Some(child);
        x._config = Some(dir);
        x
    }

    /// An xterm at `geometry` (e.g. `40x8+0+0`) running `cat > FILE`, once
    /// `cat` has started. With no window manager, keyboard focus follows
    /// the pointer: point at it before typing.
    pub fn xterm_cat(&self, geometry: &str, file: &std::path::Path) -> XClient {
        self.xterm_cat_with(geometry, file, &[])
    }

    /// [`Xvfb::xterm_cat`] with more of xterm's options (`-title`, colours).
    pub fn xterm_cat_with(
        &self,
        geometry: &str,
        file: &std::path::Path,
        options: &[&str],
    ) -> XClient {
        let cmd = format!("cat > '{}'", file.display());
        let mut args = vec!["-geometry", geometry];
        args.extend_from_slice(options);
        args.extend(["-e", "sh", "-c", &cmd]);
        let client = self.spawn("xterm", &args);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !file.exists() {
            assert!(Instant::now() < deadline, "xterm did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        client
    }

    /// A full-height xterm at the top left filled with 500 lines of text,
    /// its prompt at the bottom (so Return scrolls it), reading what is
    /// typed into nowhere: the benchmarks' busy terminal.
    pub fn full_terminal(&self) -> XClient {
        self.spawn(
            "xterm",
            &[
                "-geometry",
                "200x70+0+0",
                "-e",
                "sh",
                "-c",
                "seq 1 500; cat > /dev/null",
            ],
        )
    }

    /// Runs xdotool on this display.
    pub fn xdotool(&self, args: &[&str]) {
        let ok = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .status()
            .unwrap()
            .success();
        assert!(ok, "xdotool {args:?} failed");
    }
}

/// Reads a PNG (e.g. a viewer's screenshot) as an [`Image`].
pub fn load_png(path: &std::path::Path) -> Image {
    let img = image::open(path).unwrap().to_rgb8();
    let pixels = img
        .pixels()
        .map(|p| u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]))
        .collect();
    Image {
        width: img.width(),
        height: img.height(),
        pixels,
    }
}

/// An X client process, killed and reaped on drop.
pub struct XClient(pub Child);

impl Drop for XClient {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Deterministic pixels: a pattern no real desktop shows by chance.
pub fn pattern_image(width: u32, height: u32, seed: u32) -> Image {
    let mut x = seed | 1;
    let pixels = (0..width * height)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Half noise (raw tiles), half stripes (palette tiles).
            if (i / width) < height / 2 {
                x & 0x00ff_ffff
            } else if ((i % width) / 3).is_multiple_of(2) {
                0x00c0_1030
            } else {
                0x0000_f0a0
            }
        })
        .collect();
    Image {
        width,
        height,
        pixels,
    }
}

/// A photo-like picture: smooth gradients with a little grain, as camera
/// pictures and wallpapers have (more colours than a palette tile holds,
/// and no exact repeats); `seed` makes each one different.
pub fn photo_image(w: u32, h: u32, seed: u32) -> Image {
    let mut g = seed.wrapping_mul(2_654_435_761) | 1;
    let pixels = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            g ^= g << 13;
            g ^= g >> 17;
            g ^= g << 5;
            let r = (x * 255 / w + seed * 61) & 0xff;
            let gr = (y * 255 / h + seed * 101) & 0xff;
            let b = ((x + y) / 12 + seed * 37) & 0xff;
            ((r << 16) | (gr << 8) | b) ^ (g & 0x0003_0303)
        })
        .collect();
    Image {
        width: w,
        height: h,
        pixels,
    }
}

/// Where Debian's `mate-backgrounds` (installed by `scripts/install-deps`)
/// keeps its photographs.
const PHOTOS: &str = "/usr/share/backgrounds/mate/nature";

/// A real photograph from `mate-backgrounds` (`RainDrops.jpg`,
/// `TwoWings.jpg`, …): its centre, `w`×`h`, scaled up first where it is
/// smaller. What a field user has as wallpaper, and what a synthetic
/// picture only approximates.
pub fn real_photo(name: &str, w: u32, h: u32) -> Image {
    let path = std::path::Path::new(PHOTOS).join(name);
    let img = image::open(&path)
        .unwrap_or_else(|e| {
            panic!(
                "cannot read {} ({e}): run scripts/install-deps (mate-backgrounds)",
                path.display()
            )
        })
        .to_rgb8();
    let scale = (f64::from(w) / f64::from(img.width())).max(f64::from(h) / f64::from(img.height()));
    let img = if scale > 1.0 {
        let (sw, sh) = (
            (f64::from(img.width()) * scale).ceil() as u32,
            (f64::from(img.height()) * scale).ceil() as u32,
        );
        image::imageops::resize(&img, sw, sh, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let (x0, y0) = ((img.width() - w) / 2, (img.height() - h) / 2);
    let pixels = (y0..y0 + h)
        .flat_map(|y| (x0..x0 + w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let p = img.get_pixel(x, y);
            u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2])
        })
        .collect();
    Image {
        width: w,
        height: h,
        pixels,
    }
}
