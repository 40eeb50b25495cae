//! The slideshow: full-screen photographs changing several times a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lifeline_tests::x::{Xvfb, photo_image};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, CreateGCAux, CreateWindowAux, WindowClass};

use crate::video::put;
use crate::{H, W};

/// A full-screen window showing a different picture `hz` times a second,
/// drawn by the X server from pixmaps (so drawing costs this process
/// nothing), until stopped.
pub(crate) struct Slideshow {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<f64>,
}

impl Slideshow {
    pub(crate) fn start(x: &Xvfb, hz: u32) -> Self {
        let display = x.display.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let (conn, screen) = x11rb::connect(Some(&display)).unwrap();
            let s = &conn.setup().roots[screen];
            let (root, depth) = (s.root, s.root_depth);
            let win = conn.generate_id().unwrap();
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
                &CreateWindowAux::new()
                    .override_redirect(1)
                    .background_pixel(0),
            )
            .unwrap();
            let gc = conn.generate_id().unwrap();
            conn.create_gc(gc, win, &CreateGCAux::new()).unwrap();
            let pixmaps: Vec<u32> = (1..=4)
                .map(|seed| {
                    let pm = conn.generate_id().unwrap();
                    conn.create_pixmap(depth, pm, win, W as u16, H as u16)
                        .unwrap();
                    put(&conn, pm, gc, depth, &photo_image(W, H, seed));
                    pm
                })
                .collect();
            conn.map_window(win).unwrap();
            conn.get_input_focus().unwrap().reply().unwrap();
            ready_tx.send(()).unwrap();
            let period = Duration::from_secs_f64(1.0 / f64::from(hz));
            let t0 = Instant::now();
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let pm = pixmaps[n as usize % pixmaps.len()];
                conn.copy_area(pm, win, gc, 0, 0, 0, 0, W as u16, H as u16)
                    .unwrap();
                // Wait until drawn, so the pace is what the server managed.
                conn.get_input_focus().unwrap().reply().unwrap();
                n += 1;
                let next = t0 + period * n as u32;
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
            n as f64 / t0.elapsed().as_secs_f64()
        });
        ready.recv().unwrap();
        Self { stop, thread }
    }

    /// Stops and closes the window; returns the pictures drawn a second.
    pub(crate) fn stop(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}
