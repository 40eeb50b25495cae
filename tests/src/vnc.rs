//! A scripted VNC client (RFB 3.8, no authentication) for the side-by-side
//! benchmark with x11vnc: it keeps the remote screen decoded (ZRLE, CopyRect,
//! Raw), asks for the next update as soon as one is decoded (as common
//! viewers do), counts the bytes it reads, and sends keys and pointer moves.
//! Enough to measure x11vnc honestly; not a product.

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lifeline_session::screen::Image;

const ZRLE: i32 = 16;
const COPY_RECT: i32 = 1;
const RAW: i32 = 0;
/// The pointer's shape travels apart from the screen (as Lifeline's
/// pointer position does), so x11vnc does not paint it into updates.
const RICH_CURSOR: i32 = -239;

/// What the reader thread keeps up to date.
#[derive(Debug)]
pub struct Screen {
    pub image: Image,
    /// Framebuffer updates with at least one screen rectangle.
    pub updates: u64,
    /// Rectangles received by encoding: ZRLE, CopyRect, Raw.
    pub zrle: u64,
    pub copy_rect: u64,
    pub raw: u64,
    /// When the first whole screen had been decoded.
    pub first_full: Option<Instant>,
    /// Why the reader stopped, if it has.
    pub error: Option<String>,
}

/// A connected client; the connection closes on drop.
#[derive(Debug)]
pub struct VncClient {
    write: Arc<Mutex<TcpStream>>,
    shared: Arc<(Mutex<Screen>, Condvar)>,
    bytes: Arc<AtomicU64>,
    pub width: u16,
    pub height: u16,
    pub connected_at: Instant,
}

fn lock(m: &Mutex<Screen>) -> MutexGuard<'_, Screen> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts every byte read from the socket.
struct Counting {
    inner: TcpStream,
    n: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

fn u8_(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}
fn u16_(r: &mut impl Read) -> io::Result<u16> {
    let mut b = [0; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_be_bytes(b))
}
fn u32_(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}
fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied == n {
        Ok(())
    } else {
        Err(io::ErrorKind::UnexpectedEof.into())
    }
}

fn update_request(incremental: bool, w: u16, h: u16) -> [u8; 10] {
    let mut m = [0u8; 10];
    m[0] = 3;
    m[1] = u8::from(incremental);
    m[6..8].copy_from_slice(&w.to_be_bytes());
    m[8..10].copy_from_slice(&h.to_be_bytes());
    m
}

impl VncClient {
    /// Connects to `addr`, shares the desktop, asks for 32-bit true colour
    /// and ZRLE, and requests the whole screen; a thread then reads updates.
    pub fn connect(addr: &str) -> io::Result<Self> {
        let connected_at = Instant::now();
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        let bytes = Arc::new(AtomicU64::new(0));
        let mut r = BufReader::with_capacity(
            1 << 16,
            Counting {
                inner: sock.try_clone()?,
                n: bytes.clone(),
            },
        );
        let mut w = sock.try_clone()?;

        let mut version = [0u8; 12];
        r.read_exact(&mut version)?;
        if !version.starts_with(b"RFB 003.") {
            return Err(bad(format!("not a VNC server: {version:?}")));
        }
        w.write_all(b"RFB 003.008\n")?;
        let n = u8_(&mut r)?;
        if n == 0 {
            let len = u32_(&mut r)?;
            let mut why = vec![0; len as usize];
            r.read_exact(&mut why)?;
            return Err(bad(String::from_utf8_lossy(&why).into_owned()));
        }
        let mut types = vec![0; n as usize];
        r.read_exact(&mut types)?;
        if !types.contains(&1) {
            return Err(bad("the server wants a password (start x11vnc with -nopw)"));
        }
        w.write_all(&[1])?;
        if u32_(&mut r)? != 0 {
            return Err(bad("security handshake failed"));
        }
        w.write_all(&[1])?; // ClientInit: shared
        let width = u16_(&mut r)?;
        let height = u16_(&mut r)?;
        skip(&mut r, 16)?; // the server's pixel format: we set ours
        let name_len = u32_(&mut r)?;
        skip(&mut r, u64::from(name_len))?;

        // SetPixelFormat: 32 bpp, depth 24, little-endian, true colour,
        // red at bit 16: a pixel is 0x00RRGGBB, as `Image` holds it.
        let mut pf = vec![0u8, 0, 0, 0, 32, 24, 0, 1];
        pf.extend_from_slice(&255u16.to_be_bytes());
        pf.extend_from_slice(&255u16.to_be_bytes());
        pf.extend_from_slice(&255u16.to_be_bytes());
        pf.extend_from_slice(&[16, 8, 0, 0, 0, 0]);
        w.write_all(&pf)?;
        let encodings = [ZRLE, COPY_RECT, RAW, RICH_CURSOR];
        let mut se = vec![2u8, 0];
        se.extend_from_slice(&(encodings.len() as u16).to_be_bytes());
        for e in encodings {
            se.extend_from_slice(&e.to_be_bytes());
        }
        w.write_all(&se)?;
        w.write_all(&update_request(false, width, height))?;

        let image = Image::new(u32::from(width), u32::from(height))
            .map_err(|e| bad(format!("screen size: {e}")))?;
        let shared = Arc::new((
            Mutex::new(Screen {
                image,
                updates: 0,
                zrle: 0,
                copy_rect: 0,
                raw: 0,
                first_full: None,
                error: None,
            }),
            Condvar::new(),
        ));
        let write = Arc::new(Mutex::new(w));
        let (sh, wr) = (shared.clone(), write.clone());
        std::thread::spawn(move || {
            let mut reader = Reader {
                r,
                zlib: flate2::Decompress::new(true),
                inflated: Vec::new(),
                compressed: Vec::new(),
                width,
                height,
            };
            let err = reader.run(&sh, &wr);
            lock(&sh.0).error = Some(err.to_string());
            sh.1.notify_all();
        });
        Ok(Self {
            write,
            shared,
            bytes,
            width,
            height,
            connected_at,
        })
    }

    /// Bytes read from the server so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The decoded screen and counters, locked.
    pub fn screen(&self) -> MutexGuard<'_, Screen> {
        lock(&self.shared.0)
    }

    /// Waits until `pred` holds after some update, or `timeout` passes;
    /// returns whether it held. Fails if the connection broke.
    pub fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&Screen) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.shared;
        let mut s = lock(m);
        loop {
            if let Some(e) = &s.error {
                panic!("the VNC connection broke: {e}");
            }
            if pred(&s) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            s = cv
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn send(&self, msg: &[u8]) -> io::Result<()> {
        self.write
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(msg)
    }

    /// Presses and releases the key with X keysym `keysym`.
    pub fn key(&self, keysym: u32) -> io::Result<()> {
        let mut m = [0u8; 16];
        for (i, down) in [1u8, 0].into_iter().enumerate() {
            let k = &mut m[i * 8..i * 8 + 8];
            k[0] = 4;
            k[1] = down;
            k[4..8].copy_from_slice(&keysym.to_be_bytes());
        }
        self.send(&m)
    }

    /// Moves the pointer to (x, y) with no button pressed.
    pub fn pointer(&self, x: u16, y: u16) -> io::Result<()> {
        let mut m = [5u8, 0, 0, 0, 0, 0];
        m[2..4].copy_from_slice(&x.to_be_bytes());
        m[4..6].copy_from_slice(&y.to_be_bytes());
        self.send(&m)
    }
}

impl Drop for VncClient {
    fn drop(&mut self) {
        let w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let _ = w.shutdown(std::net::Shutdown::Both);
    }
}

struct Reader<R> {
    r: R,
    zlib: flate2::Decompress,
    inflated: Vec<u8>,
    compressed: Vec<u8>,
    width: u16,
    height: u16,
}

impl<R: Read> Reader<R> {
    fn run(&mut self, shared: &(Mutex<Screen>, Condvar), write: &Mutex<TcpStream>) -> io::Error {
        loop {
            if let Err(e) = self.message(shared, write) {
                return e;
            }
        }
    }

    fn message(
        &mut self,
        shared: &(Mutex<Screen>, Condvar),
        write: &Mutex<TcpStream>,
    ) -> io::Result<()> {
        match u8_(&mut self.r)? {
            0 => {
                skip(&mut self.r, 1)?;
                let rects = u16_(&mut self.r)?;
                let mut screen_rects = 0;
                let mut whole = false;
                for _ in 0..rects {
                    let (x, y) = (u16_(&mut self.r)?, u16_(&mut self.r)?);
                    let (w, h) = (u16_(&mut self.r)?, u16_(&mut self.r)?);
                    let enc = u32_(&mut self.r)? as i32;
                    if enc == RICH_CURSOR {
                        let mask = usize::from(w).div_ceil(8) * usize::from(h);
                        skip(
                            &mut self.r,
                            (usize::from(w) * usize::from(h) * 4 + mask) as u64,
                        )?;
                        continue;
                    }
                    if u32::from(x) + u32::from(w) > u32::from(self.width)
                        || u32::from(y) + u32::from(h) > u32::from(self.height)
                    {
                        return Err(bad("rectangle outside the screen"));
                    }
                    screen_rects += 1;
                    whole |= w == self.width && h == self.height;
                    self.rect(shared, enc, (x, y, w, h))?;
                }
                // Ask for the next one at once, as viewers do.
                write
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .write_all(&update_request(true, self.width, self.height))?;
                if screen_rects > 0 {
                    let mut s = lock(&shared.0);
                    s.updates += 1;
                    if whole && s.first_full.is_none() {
                        s.first_full = Some(Instant::now());
                    }
                    drop(s);
                    shared.1.notify_all();
                }
            }
            1 => {
                skip(&mut self.r, 3)?;
                let n = u16_(&mut self.r)?;
                skip(&mut self.r, u64::from(n) * 6)?;
            }
            2 => {} // bell
            3 => {
                skip(&mut self.r, 3)?;
                let n = u32_(&mut self.r)?;
                skip(&mut self.r, u64::from(n))?;
            }
            t => return Err(bad(format!("unknown server message {t}"))),
        }
        Ok(())
    }

    fn rect(
        &mut self,
        shared: &(Mutex<Screen>, Condvar),
        enc: i32,
        (x, y, w, h): (u16, u16, u16, u16),
    ) -> io::Result<()> {
        let (x, y, w, h) = (
            usize::from(x),
            usize::from(y),
            usize::from(w),
            usize::from(h),
        );
        match enc {
            RAW => {
                let mut buf = vec![0u8; w * h * 4];
                self.r.read_exact(&mut buf)?;
                let mut s = lock(&shared.0);
                s.raw += 1;
                let stride = s.image.width as usize;
                for (row, line) in buf.chunks_exact(w * 4).enumerate() {
                    let dst = &mut s.image.pixels[(y + row) * stride + x..][..w];
                    for (d, p) in dst.iter_mut().zip(line.chunks_exact(4)) {
                        *d = u32::from_le_bytes([p[0], p[1], p[2], 0]);
                    }
                }
            }
            COPY_RECT => {
                let (sx, sy) = (
                    usize::from(u16_(&mut self.r)?),
                    usize::from(u16_(&mut self.r)?),
                );
                if sx + w > usize::from(self.width) || sy + h > usize::from(self.height) {
                    return Err(bad("copy source outside the screen"));
                }
                let mut s = lock(&shared.0);
                s.copy_rect += 1;
                let stride = s.image.width as usize;
                let src: Vec<u32> = (0..h)
                    .flat_map(|row| s.image.pixels[(sy + row) * stride + sx..][..w].to_vec())
                    .collect();
                for (row, line) in src.chunks_exact(w).enumerate() {
                    s.image.pixels[(y + row) * stride + x..][..w].copy_from_slice(line);
                }
            }
            ZRLE => {
                let len = u32_(&mut self.r)? as usize;
                self.compressed.resize(len, 0);
                self.r.read_exact(&mut self.compressed)?;
                self.inflate()?;
                let mut s = lock(&shared.0);
                s.zrle += 1;
                decode_zrle(&self.inflated, &mut s.image, (x, y, w, h))?;
            }
            e => return Err(bad(format!("encoding {e} was not asked for"))),
        }
        Ok(())
    }

    /// Inflates one rectangle's data; the zlib stream runs on across
    /// rectangles for the whole connection.
    fn inflate(&mut self) -> io::Result<()> {
        self.inflated.clear();
        let mut used = 0;
        while used < self.compressed.len() {
            self.inflated.reserve(self.compressed.len().max(1 << 16));
            let before = self.zlib.total_in();
            self.zlib
                .decompress_vec(
                    &self.compressed[used..],
                    &mut self.inflated,
                    flate2::FlushDecompress::Sync,
                )
                .map_err(|e| bad(format!("zlib: {e}")))?;
            used += (self.zlib.total_in() - before) as usize;
        }
        // Output may still be pending inside the inflater.
        loop {
            let before = self.inflated.len();
            self.inflated.reserve(1 << 16);
            self.zlib
                .decompress_vec(&[], &mut self.inflated, flate2::FlushDecompress::Sync)
                .map_err(|e| bad(format!("zlib: {e}")))?;
            if self.inflated.len() == before {
                return Ok(());
            }
        }
    }
}

/// A cursor over ZRLE data.
struct Zrle<'a> {
    data: &'a [u8],
    at: usize,
}

impl Zrle<'_> {
    fn byte(&mut self) -> io::Result<u8> {
        let b = *self
            .data
            .get(self.at)
            .ok_or_else(|| bad("ZRLE data ends early"))?;
        self.at += 1;
        Ok(b)
    }

    /// CPIXEL: three bytes, least significant first.
    fn cpixel(&mut self) -> io::Result<u32> {
        let p = self
            .data
            .get(self.at..self.at + 3)
            .ok_or_else(|| bad("ZRLE data ends early"))?;
        self.at += 3;
        Ok(u32::from_le_bytes([p[0], p[1], p[2], 0]))
    }

    fn palette(&mut self, n: u8) -> io::Result<Vec<u32>> {
        (0..n).map(|_| self.cpixel()).collect()
    }

    /// One tile of `tw`×`th` pixels, each handed to `put` by its index.
    fn tile(&mut self, tw: usize, th: usize, put: &mut dyn FnMut(usize, u32)) -> io::Result<()> {
        let pick = |palette: &[u32], idx: u8| {
            palette
                .get(usize::from(idx))
                .copied()
                .ok_or_else(|| bad("palette index out of range"))
        };
        match self.byte()? {
            0 => (0..tw * th).try_for_each(|i| {
                put(i, self.cpixel()?);
                Ok(())
            }),
            1 => {
                let p = self.cpixel()?;
                (0..tw * th).for_each(|i| put(i, p));
                Ok(())
            }
            sub @ 2..=16 => {
                let palette = self.palette(sub)?;
                let bits = match sub {
                    2 => 1,
                    3 | 4 => 2,
                    _ => 4,
                };
                for row in 0..th {
                    let (mut acc, mut left) = (0u8, 0);
                    for col in 0..tw {
                        if left == 0 {
                            (acc, left) = (self.byte()?, 8);
                        }
                        left -= bits;
                        put(
                            row * tw + col,
                            pick(&palette, (acc >> left) & ((1 << bits) - 1))?,
                        );
                    }
                }
                Ok(())
            }
            sub @ (128 | 130..=255) => self.runs(sub, tw * th, &pick, put),
            s => Err(bad(format!("ZRLE subencoding {s} is not defined"))),
        }
    }

    /// Run-length tiles: plain (128) or with a palette (130-255).
    fn runs(
        &mut self,
        sub: u8,
        len: usize,
        pick: &dyn Fn(&[u32], u8) -> io::Result<u32>,
        put: &mut dyn FnMut(usize, u32),
    ) -> io::Result<()> {
        let palette = if sub == 128 {
            Vec::new()
        } else {
            self.palette(sub - 128)?
        };
        let mut i = 0;
        while i < len {
            let (p, run) = if sub == 128 {
                (self.cpixel()?, true)
            } else {
                let idx = self.byte()?;
                (pick(&palette, idx & 127)?, idx & 128 != 0)
            };
            let mut n = 1;
            if run {
                loop {
                    let b = self.byte()?;
                    n += usize::from(b);
                    if b != 255 {
                        break;
                    }
                }
            }
            if i + n > len {
                return Err(bad("ZRLE run past the tile"));
            }
            (i..i + n).for_each(|k| put(k, p));
            i += n;
        }
        Ok(())
    }
}

/// Reads ZRLE tiles (64×64, row-major) from `data` into `img`'s rectangle.
fn decode_zrle(
    data: &[u8],
    img: &mut Image,
    (x, y, w, h): (usize, usize, usize, usize),
) -> io::Result<()> {
    let mut zrle = Zrle { data, at: 0 };
    let stride = img.width as usize;
    for ty in (0..h).step_by(64) {
        let th = 64.min(h - ty);
        for tx in (0..w).step_by(64) {
            let tw = 64.min(w - tx);
            let origin = (y + ty) * stride + x + tx;
            zrle.tile(tw, th, &mut |i, p| {
                img.pixels[origin + (i / tw) * stride + i % tw] = p;
            })?;
        }
    }
    Ok(())
}

/// x11vnc serving an X display on 127.0.0.1 only, killed on drop.
#[derive(Debug)]
pub struct X11Vnc {
    pub child: std::process::Child,
    pub addr: String,
}

impl X11Vnc {
    /// Starts x11vnc with its defaults plus `-localhost -nopw -forever
    /// -shared` on a free port, and waits until it listens.
    pub fn start(display: &str) -> Self {
        Self::start_with(std::process::Command::new("x11vnc"), display, "127.0.0.1")
    }

    /// Starts x11vnc inside a network namespace, listening on its side of
    /// the veth pair (reached through a delaying forwarder).
    pub fn start_in(ns: &crate::netem::Netns, display: &str) -> Self {
        let inner = ns.inner.to_string();
        Self::start_with(ns.command(std::path::Path::new("x11vnc")), display, &inner)
    }

    fn start_with(mut cmd: std::process::Command, display: &str, host: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let listen = if host == "127.0.0.1" {
            vec!["-localhost".to_owned()]
        } else {
            vec!["-listen".to_owned(), host.to_owned()]
        };
        let child = cmd
            .args(["-display", display])
            .args(&listen)
            .arg("-rfbport")
            .arg(port.to_string())
            .args(["-nopw", "-forever", "-shared", "-quiet", "-norc"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("x11vnc not found: run scripts/install-deps");
        let addr = format!("{host}:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "x11vnc did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, addr }
    }
}

impl Drop for X11Vnc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
