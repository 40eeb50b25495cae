//! The video workload: a 1920×1080 window playing [`Video`] at 30 frames
//! a second on the Xvfb (the typing terminal kept above it), drawn by the X
//! server from pixmaps uploaded once, so playing costs this process almost
//! nothing. The viewer's screen is watched after every update: a frame
//! counts as shown when its barcodes read a new frame number, and some of
//! the shown frames are kept to be scored (SSIM against the source frame)
//! once the video has stopped, so scoring does not take CPU from the host.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lifeline_session::screen::Image;
use lifeline_tests::ssim::{Area, ssim_images};
use lifeline_tests::video::{FPS, Video};
use lifeline_tests::x::Xvfb;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConfigureWindowAux, ConnectionExt as _, CreateGCAux, CreateWindowAux, Drawable, Gcontext,
    ImageFormat, Rectangle, StackMode, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

use crate::peers::Peer;
use crate::workloads::{Figures, Watch, keys_in, mark, since, typed, until_exact};
use crate::{H, Opts, Rect, TYPING, W};

/// Every how many shown frames one is kept for scoring, and at most how many.
const SAMPLE_EVERY: u64 = 3;
const MAX_SAMPLES: usize = 60;

/// The video workload's figures in one run.
#[derive(Default, Clone)]
pub(crate) struct VideoFigures {
    /// Distinct frames the viewer showed a second.
    pub(crate) shown_per_s: f64,
    /// Frames the player drew on the X server a second.
    pub(crate) drawn_per_s: f64,
    /// Bytes, updates and host CPU while the video played, over `secs`.
    pub(crate) during: Figures,
    pub(crate) secs: f64,
    /// Host CPU seconds per frame shown, in ms.
    pub(crate) cpu_ms_per_frame: Option<f64>,
    /// SSIM of the scored frames: median and 10th percentile.
    pub(crate) ssim_median: Option<f64>,
    pub(crate) ssim_p10: Option<f64>,
    /// Typing into the terminal while the video plays on.
    pub(crate) typing: Figures,
    /// From the video stopping to the viewer's screen being exact.
    pub(crate) exact_ms: f64,
}

/// Puts `img` into `drawable` in bands under the core request size limit.
pub(crate) fn put(conn: &RustConnection, drawable: Drawable, gc: Gcontext, depth: u8, img: &Image) {
    let w = img.width as usize;
    let rows = (60_000 / (w * 4)).max(1);
    for (band, px) in img.pixels.chunks(w * rows).enumerate() {
        let data: Vec<u8> = px.iter().flat_map(|p| p.to_le_bytes()).collect();
        conn.put_image(
            ImageFormat::Z_PIXMAP,
            drawable,
            gc,
            img.width as u16,
            (px.len() / w) as u16,
            0,
            (band * rows) as i16,
            0,
            depth,
            &data,
        )
        .unwrap();
    }
}

/// Raises the top-level windows whose corner is `r`'s (the terminal).
fn raise(conn: &RustConnection, root: Window, r: Rect) {
    for child in conn.query_tree(root).unwrap().reply().unwrap().children {
        let Ok(Ok(g)) = conn.get_geometry(child).map(|c| c.reply()) else {
            continue;
        };
        if (i32::from(g.x) - r.x as i32).abs() <= 2 && (i32::from(g.y) - r.y as i32).abs() <= 2 {
            let above = ConfigureWindowAux::new().stack_mode(StackMode::ABOVE);
            conn.configure_window(child, &above).unwrap();
        }
    }
}

/// The player: a thread drawing frame `k` at `k / 30` s, skipping frames
/// it is late for, until stopped.
pub(crate) struct Player {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<f64>,
}

/// The player's X resources.
struct Stage {
    conn: RustConnection,
    win: Window,
    back: u32,
    backdrop: u32,
    sprite: u32,
    gc: Gcontext,
    white: Gcontext,
    black: Gcontext,
}

impl Stage {
    fn open(display: &str, video: &Video, keep_above: Rect) -> Self {
        let (conn, screen) = x11rb::connect(Some(display)).unwrap();
        let s = &conn.setup().roots[screen];
        let (root, depth) = (s.root, s.root_depth);
        let win = conn.generate_id().unwrap();
        let aux = CreateWindowAux::new()
            .override_redirect(1)
            .background_pixel(0);
        conn.create_window(
            0,
            win,
            root,
            0,
            0,
            W as u16,
            H as u16,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &aux,
        )
        .unwrap();
        let gc_with = |fg: u32| {
            let gc = conn.generate_id().unwrap();
            conn.create_gc(gc, win, &CreateGCAux::new().foreground(fg))
                .unwrap();
            gc
        };
        let (gc, white, black) = (gc_with(0), gc_with(0x00ff_ffff), gc_with(0));
        let pixmap = |img: &Image| {
            let pm = conn.generate_id().unwrap();
            conn.create_pixmap(depth, pm, win, img.width as u16, img.height as u16)
                .unwrap();
            put(&conn, pm, gc, depth, img);
            pm
        };
        let (backdrop, sprite) = (pixmap(&video.backdrop), pixmap(&video.sprite));
        let back = conn.generate_id().unwrap();
        conn.create_pixmap(depth, back, win, W as u16, H as u16)
            .unwrap();
        let stage = Self {
            conn,
            win,
            back,
            backdrop,
            sprite,
            gc,
            white,
            black,
        };
        stage.draw(video, 0);
        stage.conn.map_window(win).unwrap();
        raise(&stage.conn, root, keep_above);
        stage.conn.get_input_focus().unwrap().reply().unwrap();
        stage
    }

    /// Frame `k`, composed off screen and copied in one request (so no
    /// capture sees half of it), waiting until the server has drawn it.
    fn draw(&self, video: &Video, k: u32) {
        let (c, l) = (&self.conn, video.layout(k));
        let (bx, by) = (l.backdrop_at.0 as i16, l.backdrop_at.1 as i16);
        c.copy_area(
            self.backdrop,
            self.back,
            self.gc,
            bx,
            by,
            0,
            0,
            W as u16,
            H as u16,
        )
        .unwrap();
        let (sw, sh) = (video.sprite.width as u16, video.sprite.height as u16);
        let (sx, sy) = (l.sprite_at.0 as i16, l.sprite_at.1 as i16);
        c.copy_area(self.sprite, self.back, self.gc, 0, 0, sx, sy, sw, sh)
            .unwrap();
        for colour in [true, false] {
            let rects: Vec<Rectangle> = video
                .blocks(k)
                .into_iter()
                .filter(|&(_, white)| white == colour)
                .map(|((x, y, w, h), _)| Rectangle {
                    x: x as i16,
                    y: y as i16,
                    width: w as u16,
                    height: h as u16,
                })
                .collect();
            let gc = if colour { self.white } else { self.black };
            c.poly_fill_rectangle(self.back, gc, &rects).unwrap();
        }
        c.copy_area(self.back, self.win, self.gc, 0, 0, 0, 0, W as u16, H as u16)
            .unwrap();
        c.get_input_focus().unwrap().reply().unwrap();
    }
}

impl Player {
    pub(crate) fn start(x: &Xvfb, video: Arc<Video>, keep_above: Rect) -> Self {
        let display = x.display.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let stage = Stage::open(&display, &video, keep_above);
            ready_tx.send(()).unwrap();
            let t0 = Instant::now();
            let (mut drawn, mut last) = (0u64, 0u32);
            while !flag.load(Ordering::Relaxed) {
                let k = (t0.elapsed().as_secs_f64() * f64::from(FPS)) as u32 + 1;
                if k != last {
                    stage.draw(&video, k);
                    (drawn, last) = (drawn + 1, k);
                }
                let next = t0 + Duration::from_secs_f64(f64::from(k) / f64::from(FPS));
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
            drawn as f64 / t0.elapsed().as_secs_f64()
        });
        ready.recv().unwrap();
        Self { stop, thread }
    }

    /// Stops and closes the window; returns the frames drawn a second.
    pub(crate) fn stop(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// What the viewer showed while watched.
struct Watched {
    shown: u64,
    /// Screens whose barcodes did not read (torn, or blurred).
    unread: u64,
    samples: Vec<(u32, Image)>,
}

/// Reads the frame number after every update for `secs`.
fn watch(p: &dyn Peer, video: &Video, secs: Duration) -> Watched {
    let deadline = Instant::now() + secs;
    let mut w = Watched {
        shown: 0,
        unread: 0,
        samples: Vec::new(),
    };
    let mut last = None;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let n = p.updates();
        p.look(&mut |img| match video.read(img) {
            Some(k) if Some(k) != last => {
                last = Some(k);
                w.shown += 1;
                if w.shown % SAMPLE_EVERY == 1 && w.samples.len() < MAX_SAMPLES {
                    w.samples.push((k, img.clone()));
                }
            }
            Some(_) => {}
            None => w.unread += 1,
        });
        p.wait_update(n, left.min(Duration::from_millis(100)));
    }
    w
}

/// The median and 10th percentile.
fn median_p10(mut v: Vec<f64>) -> (Option<f64>, Option<f64>) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| (!v.is_empty()).then(|| v[((v.len() - 1) as f64 * q).round() as usize]);
    (at(0.5), at(0.1))
}

/// Plays the video, watches it for `--video-secs`, types while it plays
/// on, stops it, and scores the kept frames.
pub(crate) fn video(
    p: &dyn Peer,
    x: &Xvfb,
    opts: &Opts,
    video: &Arc<Video>,
    stage: Instant,
) -> VideoFigures {
    let player = Player::start(x, video.clone(), TYPING);
    std::thread::sleep(Duration::from_millis(300));
    let m = mark(p);
    let watched = watch(p, video, Duration::from_secs(opts.video_secs));
    let during = since(p, &m, &mut [], 0);
    let secs = m.at.elapsed().as_secs_f64();
    eprintln!(
        "    video watched at {:.1} s: {} frames shown, {} screens unread",
        stage.elapsed().as_secs_f64(),
        watched.shown,
        watched.unread
    );
    let keys = typed(opts.video_chars);
    let typing = keys_in(
        p,
        TYPING,
        &keys,
        "typing during the video",
        stage,
        Watch::Busy,
    );
    let drawn_per_s = player.stop();
    let stopped = Instant::now();
    until_exact(p, x, opts);
    let exact_ms = stopped.elapsed().as_secs_f64() * 1e3;
    // Leave out the barcodes and the terminal kept above the video.
    let mut skip: Vec<Area> = video.barcode_areas();
    skip.push((TYPING.x - 8, TYPING.y - 8, TYPING.w + 16, TYPING.h + 16));
    let scores: Vec<f64> = watched
        .samples
        .iter()
        .filter_map(|(k, img)| ssim_images(&video.frame(*k), img, &skip))
        .collect();
    let (ssim_median, ssim_p10) = median_p10(scores);
    eprintln!(
        "    video done at {:.1} s; the player drew {drawn_per_s:.1} frames a second",
        stage.elapsed().as_secs_f64()
    );
    VideoFigures {
        shown_per_s: watched.shown as f64 / secs,
        drawn_per_s,
        cpu_ms_per_frame: (watched.shown > 0).then(|| during.cpu_s * 1e3 / watched.shown as f64),
        during,
        secs,
        ssim_median,
        ssim_p10,
        typing,
        exact_ms,
    }
}
