//! X11: capture with scrap (XShm), input with enigo (XTest via x11rb).

use enigo::{Axis, Button, Coordinate, Direction, Enigo, Keyboard, Mouse, Settings};
use lifeline_session::messages::{InputEvent, Key, MouseButton};
use lifeline_session::screen::Image;

use x11rb::connection::Connection as _;
use x11rb::protocol::Event;
use x11rb::protocol::damage::{ConnectionExt as _, ReportLevel};
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::ImageOrder;
use x11rb::rust_connection::RustConnection;

use crate::platform::{CaptureError, Grab, InputError, InputSink, ScreenSource, Wake};

fn display_name() -> Result<String, CaptureError> {
    match std::env::var("DISPLAY") {
        Ok(d) if !d.is_empty() => Ok(d),
        _ => Err(CaptureError::NoDisplay),
    }
}

/// The X server's DAMAGE extension on the root window: tells us whether
/// anything was drawn, so an idle screen costs no capture at all.
struct Damage {
    conn: RustConnection,
    damage: u32,
    root: u32,
    /// An XFixes region that receives what was drawn, when we ask where.
    parts: Option<u32>,
    /// Whether the screen's pixels read back as 32-bit BGRX, so small
    /// regions can be read with GetImage instead of a whole-screen capture.
    bgrx: bool,
}

/// What was drawn since the last look.
enum Damaged {
    Nothing,
    /// These rectangles (x, y, w, h), clipped to the screen.
    Rects(Vec<(u32, u32, u32, u32)>),
    /// Something, somewhere.
    Unknown,
}

impl Damage {
    /// `regions`: also learn where drawing happened (the capture's own
    /// connection wants this; the watcher only needs to know that it did).
    fn open(display: &str, regions: bool) -> Result<Self, String> {
        let (conn, screen) = x11rb::connect(Some(display)).map_err(|e| e.to_string())?;
        let setup = conn.setup();
        let root = setup.roots[screen].root;
        let depth = setup.roots[screen].root_depth;
        let bgrx = depth == 24
            && setup.image_byte_order == ImageOrder::LSB_FIRST
            && setup
                .pixmap_formats
                .iter()
                .any(|f| f.depth == depth && f.bits_per_pixel == 32);
        conn.damage_query_version(1, 1)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| e.to_string())?;
        let damage = conn.generate_id().map_err(|e| e.to_string())?;
        conn.damage_create(damage, root, ReportLevel::NON_EMPTY)
            .map_err(|e| e.to_string())?;
        let parts = if regions {
            let region = conn.generate_id().map_err(|e| e.to_string())?;
            let made = conn
                .xfixes_query_version(5, 0)
                .map_err(|e| e.to_string())?
                .reply()
                .is_ok()
                && conn.xfixes_create_region(region, &[]).is_ok();
            made.then_some(region)
        } else {
            None
        };
        conn.flush().map_err(|e| e.to_string())?;
        Ok(Self {
            conn,
            damage,
            root,
            parts,
            bgrx,
        })
    }

    /// Where the pointer is (the X capture does not include it).
    fn pointer(&self) -> Option<(i32, i32)> {
        use x11rb::protocol::xproto::ConnectionExt as _;
        let r = self.conn.query_pointer(self.root).ok()?.reply().ok()?;
        Some((i32::from(r.root_x), i32::from(r.root_y)))
    }

    /// What was drawn since the last call; re-arms the report.
    fn take(&mut self, width: u32, height: u32) -> Result<Damaged, String> {
        let mut damaged = false;
        while let Some(ev) = self.conn.poll_for_event().map_err(|e| e.to_string())? {
            damaged |= matches!(ev, Event::DamageNotify(_));
        }
        if !damaged {
            return Ok(Damaged::Nothing);
        }
        let Some(parts) = self.parts else {
            self.rearm()?;
            return Ok(Damaged::Unknown);
        };
        self.conn
            .damage_subtract(self.damage, x11rb::NONE, parts)
            .map_err(|e| e.to_string())?;
        let reply = self
            .conn
            .xfixes_fetch_region(parts)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| e.to_string())?;
        let rects = reply
            .rectangles
            .iter()
            .filter_map(|r| {
                let x0 = u32::try_from(r.x.max(0)).ok()?;
                let y0 = u32::try_from(r.y.max(0)).ok()?;
                let x1 = (i64::from(r.x) + i64::from(r.width)).clamp(0, i64::from(width)) as u32;
                let y1 = (i64::from(r.y) + i64::from(r.height)).clamp(0, i64::from(height)) as u32;
                (x1 > x0 && y1 > y0).then_some((x0, y0, x1 - x0, y1 - y0))
            })
            .collect();
        Ok(Damaged::Rects(rects))
    }

    /// Reads `rects` of the screen into `into` with GetImage, all requests
    /// sent before the first reply is awaited.
    fn read_rects(&self, into: &mut Image, rects: &[(u32, u32, u32, u32)]) -> Result<(), String> {
        use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat};
        let mut cookies = Vec::with_capacity(rects.len());
        for &(x, y, w, h) in rects {
            let c = self
                .conn
                .get_image(
                    ImageFormat::Z_PIXMAP,
                    self.root,
                    x as i16,
                    y as i16,
                    w as u16,
                    h as u16,
                    !0,
                )
                .map_err(|e| e.to_string())?;
            cookies.push(c);
        }
        let width = into.width as usize;
        for (&(x, y, w, h), cookie) in rects.iter().zip(cookies) {
            let reply = cookie.reply().map_err(|e| e.to_string())?;
            let (w, h) = (w as usize, h as usize);
            if reply.data.len() != w * h * 4 {
                return Err(format!(
                    "GetImage returned {} bytes for {w}×{h}",
                    reply.data.len()
                ));
            }
            for (r, line) in reply.data.chunks_exact(w * 4).enumerate() {
                let at = (y as usize + r) * width + x as usize;
                for (dst, p) in into.pixels[at..at + w].iter_mut().zip(line.chunks_exact(4)) {
                    *dst = u32::from_le_bytes([p[0], p[1], p[2], 0]);
                }
            }
        }
        Ok(())
    }

    /// Empties the damage region, so the next drawing reports again.
    fn rearm(&self) -> Result<(), String> {
        self.conn
            .damage_subtract(self.damage, x11rb::NONE, x11rb::NONE)
            .map_err(|e| e.to_string())?;
        self.conn.flush().map_err(|e| e.to_string())
    }
}

/// More damaged rectangles than this are read with one whole-screen capture.
const MAX_RECTS: usize = 64;

/// The X screen through scrap's XShm capturer, driven by DAMAGE.
pub struct ScrapScreen {
    capturer: scrap::Capturer,
    damage: Option<Damage>,
    display: String,
    width: u32,
    height: u32,
}

impl std::fmt::Debug for ScrapScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapScreen")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

impl ScrapScreen {
    /// Connects to `$DISPLAY` and prepares shared-memory capture.
    pub fn open() -> Result<Self, CaptureError> {
        let display = display_name()?;
        let open_err = |e: std::io::Error| CaptureError::Open {
            display: display.clone(),
            why: e.to_string(),
        };
        let primary = scrap::Display::primary().map_err(open_err)?;
        let capturer = scrap::Capturer::new(primary).map_err(open_err)?;
        let (w, h) = (capturer.width(), capturer.height());
        let size_err = || CaptureError::Grab(format!("screen size {w}×{h} out of range"));
        let width = u32::try_from(w).map_err(|_| size_err())?;
        let height = u32::try_from(h).map_err(|_| size_err())?;
        let damage = match Damage::open(&display, true) {
            Ok(d) => Some(d),
            Err(why) => {
                tracing::warn!(%why, "no DAMAGE extension: capturing every tick");
                None
            }
        };
        Ok(Self {
            capturer,
            damage,
            display,
            width,
            height,
        })
    }
}

impl ScreenSource for ScrapScreen {
    fn pointer(&mut self) -> Option<(i32, i32)> {
        self.damage.as_ref().and_then(Damage::pointer)
    }

    /// A second DAMAGE report on a connection of its own, read by a thread
    /// that blocks on it: the capture connection is polled, this one waits.
    fn watch(&mut self, wake: Wake) -> bool {
        let watcher = match Damage::open(&self.display, false) {
            Ok(d) => d,
            Err(why) => {
                tracing::warn!(%why, "cannot watch for damage: capturing on the tick only");
                return false;
            }
        };
        let spawned = std::thread::Builder::new()
            .name("damage".into())
            .spawn(move || {
                loop {
                    match watcher.conn.wait_for_event() {
                        Ok(Event::DamageNotify(_)) => {
                            if let Err(why) = watcher.rearm() {
                                tracing::warn!(%why, "damage watcher stopped");
                                return;
                            }
                            if !wake() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "damage watcher stopped");
                            return;
                        }
                    }
                }
            });
        spawned.is_ok()
    }

    fn grab(&mut self, into: &mut Image, force: bool) -> Result<Grab, CaptureError> {
        let (w, h) = (self.width, self.height);
        let damaged = match &mut self.damage {
            Some(d) => d.take(w, h).map_err(CaptureError::Grab)?,
            None => Damaged::Unknown,
        };
        let sized = into.width == w && into.height == h;
        match (&damaged, &self.damage) {
            (Damaged::Nothing, _) if !force && sized => return Ok(Grab::Unchanged),
            // A little drawing (typing, a cursor, a button): read just
            // that, rather than the whole screen twice.
            (Damaged::Rects(rects), Some(d)) if !force && sized && d.bgrx => {
                let area: u64 = rects.iter().map(|r| u64::from(r.2) * u64::from(r.3)).sum();
                if rects.len() <= MAX_RECTS && area <= u64::from(w) * u64::from(h) / 2 {
                    d.read_rects(into, rects).map_err(CaptureError::Grab)?;
                    return Ok(Grab::Regions(rects.clone()));
                }
            }
            _ => {}
        }
        // scrap hands back the image it requested on the previous call and
        // requests the next: the first frame may predate the damage, the
        // second was requested after it.
        self.capturer
            .frame()
            .map_err(|e| CaptureError::Grab(e.to_string()))?;
        let frame = self
            .capturer
            .frame()
            .map_err(|e| CaptureError::Grab(e.to_string()))?;
        let stride = if h == 0 { 0 } else { frame.len() / h as usize };
        into.load_bgra(w, h, stride, &frame)
            .map_err(|e| CaptureError::Grab(e.to_string()))?;
        Ok(Grab::Captured)
    }
}

/// Input through enigo's X11 (XTest) backend.
pub struct EnigoInput {
    enigo: Enigo,
}

impl std::fmt::Debug for EnigoInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnigoInput")
    }
}

impl EnigoInput {
    /// Connects to `$DISPLAY`.
    pub fn open() -> Result<Self, InputError> {
        let display = display_name().map_err(|e| InputError::Open(e.to_string()))?;
        let settings = Settings {
            x11_display: Some(display),
            linux_delay: 0,
            ..Settings::default()
        };
        let enigo = Enigo::new(&settings).map_err(|e| InputError::Open(e.to_string()))?;
        Ok(Self { enigo })
    }
}

fn key(k: Key) -> enigo::Key {
    use enigo::Key as E;
    match k {
        Key::Char(c) => E::Unicode(c),
        Key::Return => E::Return,
        Key::Escape => E::Escape,
        Key::Tab => E::Tab,
        Key::Backspace => E::Backspace,
        Key::Delete => E::Delete,
        Key::Insert => E::Insert,
        Key::Home => E::Home,
        Key::End => E::End,
        Key::PageUp => E::PageUp,
        Key::PageDown => E::PageDown,
        Key::Left => E::LeftArrow,
        Key::Right => E::RightArrow,
        Key::Up => E::UpArrow,
        Key::Down => E::DownArrow,
        Key::Space => E::Space,
        Key::F(n) => match n {
            1 => E::F1,
            2 => E::F2,
            3 => E::F3,
            4 => E::F4,
            5 => E::F5,
            6 => E::F6,
            7 => E::F7,
            8 => E::F8,
            9 => E::F9,
            10 => E::F10,
            11 => E::F11,
            12 => E::F12,
            13 => E::F13,
            14 => E::F14,
            15 => E::F15,
            16 => E::F16,
            17 => E::F17,
            18 => E::F18,
            19 => E::F19,
            20 => E::F20,
            21 => E::F21,
            22 => E::F22,
            23 => E::F23,
            _ => E::F24,
        },
        Key::Shift => E::Shift,
        Key::Control => E::Control,
        Key::Alt => E::Alt,
        Key::Meta => E::Meta,
    }
}

impl InputSink for EnigoInput {
    fn apply(&mut self, event: &InputEvent) -> Result<(), InputError> {
        let err = |e: enigo::InputError| InputError::Apply(e.to_string());
        match event {
            InputEvent::Move { x, y } => {
                let x = i32::try_from(*x).unwrap_or(i32::MAX);
                let y = i32::try_from(*y).unwrap_or(i32::MAX);
                self.enigo.move_mouse(x, y, Coordinate::Abs).map_err(err)
            }
            InputEvent::Button { button, down } => {
                let b = match button {
                    MouseButton::Left => Button::Left,
                    MouseButton::Middle => Button::Middle,
                    MouseButton::Right => Button::Right,
                };
                let d = if *down {
                    Direction::Press
                } else {
                    Direction::Release
                };
                self.enigo.button(b, d).map_err(err)
            }
            InputEvent::Wheel { dx, dy } => {
                if *dy != 0 {
                    self.enigo.scroll(*dy, Axis::Vertical).map_err(err)?;
                }
                if *dx != 0 {
                    self.enigo.scroll(*dx, Axis::Horizontal).map_err(err)?;
                }
                Ok(())
            }
            InputEvent::Key { key: k, down } => {
                let d = if *down {
                    Direction::Press
                } else {
                    Direction::Release
                };
                self.enigo.key(key(*k), d).map_err(err)
            }
            InputEvent::Text(text) => self.enigo.text(text).map_err(err),
        }
    }
}
