//! The X screen, read with one request a capture: the whole screen through
//! a MIT-SHM segment the server made (one round trip, the pixels copied
//! once out of shared memory), or only the rectangles DAMAGE reports with
//! GetImage when they are few and small.
//!
//! scrap, which the first version used, hands back the image it requested
//! on the *previous* call, so every fresh capture cost two grabs; this one
//! costs one (BENCHMARKS.md, host pipeline).

use std::fs::File;
use std::os::unix::fs::FileExt as _;

use lifeline_session::messages::MonitorInfo;
use lifeline_session::screen::Image;
use x11rb::connection::{Connection as _, RequestConnection as _};
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt as _, ImageFormat, ImageOrder};
use x11rb::rust_connection::RustConnection;

use super::damage::{Damage, Damaged};
use super::{X11Error, display_name};
use crate::platform::{CaptureError, Grab, ScreenSource, Wake};

/// More damaged rectangles than this are read with one whole-screen capture.
const MAX_RECTS: usize = 64;

/// A shared-memory segment the size of the screen, made by the server
/// (MIT-SHM 1.2), read with positioned reads: no mapping, no unsafe code.
struct Shm {
    seg: u32,
    file: File,
}

impl Shm {
    fn open(conn: &RustConnection, bytes: u32) -> Result<Option<Self>, X11Error> {
        let Ok(version) = conn.shm_query_version()?.reply() else {
            return Ok(None);
        };
        if (version.major_version, version.minor_version) < (1, 2) {
            return Ok(None);
        }
        let seg = conn.generate_id()?;
        // A server that cannot share memory with us (a remote display)
        // refuses here; whole-screen GetImage then does the work.
        match conn.shm_create_segment(seg, bytes, false)?.reply() {
            Ok(reply) => Ok(Some(Self {
                seg,
                file: File::from(reply.shm_fd),
            })),
            Err(e) => {
                tracing::info!(error = %e, "no shared memory with the X server; using GetImage");
                Ok(None)
            }
        }
    }
}

/// The X screen, driven by DAMAGE.
pub struct X11Screen {
    damage: Damage,
    shm: Option<Shm>,
    display: String,
    width: u32,
    height: u32,
}

impl std::fmt::Debug for X11Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X11Screen")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("shm", &self.shm.is_some())
            .finish()
    }
}

impl X11Screen {
    /// Connects to `$DISPLAY` and prepares capture.
    pub fn open() -> Result<Self, CaptureError> {
        let display = display_name()?;
        let open_err = |e: X11Error| CaptureError::Open {
            display: display.clone(),
            source: Box::new(e),
        };
        let (conn, screen) =
            x11rb::connect(Some(&display)).map_err(|e| open_err(X11Error::Connect(e)))?;
        let setup = conn.setup();
        let s = &setup.roots[screen];
        let (root, depth) = (s.root, s.root_depth);
        let (width, height) = (u32::from(s.width_in_pixels), u32::from(s.height_in_pixels));
        let bgrx = depth == 24
            && setup.image_byte_order == ImageOrder::LSB_FIRST
            && setup
                .pixmap_formats
                .iter()
                .any(|f| f.depth == depth && f.bits_per_pixel == 32);
        if !bgrx {
            return Err(open_err(X11Error::PixelFormat(depth)));
        }
        let bytes = width
            .checked_mul(height)
            .and_then(|p| p.checked_mul(4))
            .ok_or_else(|| open_err(X11Error::Size(width, height)))?;
        let shm = Shm::open(&conn, bytes).map_err(open_err)?;
        let damage = Damage::open(conn, root, true).map_err(open_err)?;
        Ok(Self {
            damage,
            shm,
            display,
            width,
            height,
        })
    }

    /// The screen changed size: a shared-memory segment of the new size.
    fn resize(&mut self, (width, height): (u32, u32)) -> Result<(), X11Error> {
        let bytes = width
            .checked_mul(height)
            .and_then(|p| p.checked_mul(4))
            .filter(|_| width > 0 && height > 0)
            .ok_or(X11Error::Size(width, height))?;
        if let Some(old) = self.shm.take() {
            self.damage.conn.shm_detach(old.seg)?;
        }
        self.shm = Shm::open(&self.damage.conn, bytes)?;
        (self.width, self.height) = (width, height);
        tracing::info!(width, height, "the screen changed size");
        Ok(())
    }

    /// Reads the whole screen into `into`.
    fn read_all(&self, into: &mut Image) -> Result<(), X11Error> {
        let (w, h) = (self.width, self.height);
        into.width = w;
        into.height = h;
        into.pixels.resize(w as usize * h as usize, 0);
        let conn = &self.damage.conn;
        let (wi, hi) = (w as u16, h as u16);
        match &self.shm {
            Some(shm) => {
                let format = ImageFormat::Z_PIXMAP.into();
                conn.shm_get_image(self.damage.root, 0, 0, wi, hi, !0, format, shm.seg, 0)?
                    .reply()?;
                // The server wrote BGRX: read as little-endian words, that
                // is 0xXXRRGGBB; the padding byte is masked off below.
                shm.file
                    .read_exact_at(bytemuck::cast_slice_mut(&mut into.pixels), 0)?;
                for p in &mut into.pixels {
                    *p = u32::from_le(*p) & 0x00ff_ffff;
                }
                Ok(())
            }
            None => read_rects(conn, self.damage.root, into, &[(0, 0, w, h)]),
        }
    }
}

/// Reads `rects` of the screen into `into` with GetImage, every request
/// sent before the first reply is awaited.
fn read_rects(
    conn: &RustConnection,
    root: u32,
    into: &mut Image,
    rects: &[(u32, u32, u32, u32)],
) -> Result<(), X11Error> {
    let mut cookies = Vec::with_capacity(rects.len());
    for &(x, y, w, h) in rects {
        let c = conn.get_image(
            ImageFormat::Z_PIXMAP,
            root,
            x as i16,
            y as i16,
            w as u16,
            h as u16,
            !0,
        )?;
        cookies.push(c);
    }
    let width = into.width as usize;
    for (&(x, y, w, h), cookie) in rects.iter().zip(cookies) {
        let reply = cookie.reply()?;
        let (wu, hu) = (w as usize, h as usize);
        if reply.data.len() != wu * hu * 4 {
            return Err(X11Error::ShortImage {
                got: reply.data.len(),
                w,
                h,
            });
        }
        for (r, line) in reply.data.chunks_exact(wu * 4).enumerate() {
            let at = (y as usize + r) * width + x as usize;
            for (dst, p) in into.pixels[at..at + wu]
                .iter_mut()
                .zip(line.chunks_exact(4))
            {
                *dst = u32::from_le_bytes([p[0], p[1], p[2], 0]);
            }
        }
    }
    Ok(())
}

impl X11Screen {
    /// The active RandR monitors; none on a server without RandR 1.5.
    fn list_monitors(&self) -> Result<Vec<MonitorInfo>, X11Error> {
        let conn = &self.damage.conn;
        if conn
            .extension_information(randr::X11_EXTENSION_NAME)?
            .is_none()
        {
            return Ok(Vec::new());
        }
        let version = conn.randr_query_version(1, 5)?.reply()?;
        if (version.major_version, version.minor_version) < (1, 5) {
            return Ok(Vec::new());
        }
        let listed = conn.randr_get_monitors(self.damage.root, true)?.reply()?;
        let names: Vec<_> = listed
            .monitors
            .iter()
            .map(|m| conn.get_atom_name(m.name))
            .collect::<Result<_, _>>()?;
        listed
            .monitors
            .iter()
            .zip(names)
            .map(|(m, name)| {
                Ok(MonitorInfo {
                    name: String::from_utf8_lossy(&name.reply()?.name).into_owned(),
                    x: i32::from(m.x),
                    y: i32::from(m.y),
                    width: u32::from(m.width),
                    height: u32::from(m.height),
                    primary: m.primary,
                })
            })
            .collect()
    }
}

impl ScreenSource for X11Screen {
    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        Ok(self.list_monitors()?)
    }

    fn pointer(&mut self) -> Option<(i32, i32)> {
        self.damage.pointer()
    }

    /// A second DAMAGE report on a connection of its own, read by a thread
    /// that blocks on it: the capture connection is polled, this one waits.
    fn watch(&mut self, wake: Wake) -> bool {
        let watcher = x11rb::connect(Some(&self.display))
            .map_err(X11Error::from)
            .and_then(|(conn, screen)| {
                let root = conn.setup().roots[screen].root;
                Damage::open(conn, root, false)
            });
        let watching = watcher
            .map_err(|e| e.to_string())
            .and_then(|w| w.watch(wake).map_err(|e| e.to_string()));
        if let Err(why) = &watching {
            tracing::warn!(%why, "cannot watch for damage: capturing on the tick only");
        }
        watching.is_ok()
    }

    fn grab(&mut self, into: &mut Image, force: bool) -> Result<Grab, CaptureError> {
        match self.capture(into, force) {
            Ok(grab) => Ok(grab),
            // The screen may have changed size between the damage report
            // and the read (a monitor unplugged): a read of the old size is
            // refused. Then read the screen as it is now.
            Err(e) => match self.root_size() {
                Ok(now) if now != (self.width, self.height) => {
                    self.resize(now)?;
                    self.read_all(into)?;
                    Ok(Grab::Captured)
                }
                _ => Err(e.into()),
            },
        }
    }
}

impl X11Screen {
    /// The root window's size now.
    fn root_size(&self) -> Result<(u32, u32), X11Error> {
        let g = self.damage.conn.get_geometry(self.damage.root)?.reply()?;
        Ok((u32::from(g.width), u32::from(g.height)))
    }

    fn capture(&mut self, into: &mut Image, force: bool) -> Result<Grab, X11Error> {
        let damaged = self.damage.take(self.width, self.height)?;
        if let Some(size) = self.damage.take_resize()
            && size != (self.width, self.height)
        {
            self.resize(size)?;
            self.read_all(into)?;
            return Ok(Grab::Captured);
        }
        let (w, h) = (self.width, self.height);
        let sized = into.width == w && into.height == h;
        match &damaged {
            Damaged::Nothing if !force && sized => return Ok(Grab::Unchanged),
            // A little drawing (typing, a cursor, a button): read just that.
            Damaged::Rects(rects) if !force && sized => {
                let area: u64 = rects.iter().map(|r| u64::from(r.2) * u64::from(r.3)).sum();
                if rects.len() <= MAX_RECTS && area <= u64::from(w) * u64::from(h) / 2 {
                    read_rects(&self.damage.conn, self.damage.root, into, rects)?;
                    return Ok(Grab::Regions(rects.clone()));
                }
            }
            _ => {}
        }
        self.read_all(into)?;
        Ok(Grab::Captured)
    }
}
