//! What one screen capture costs on this desktop, through the host's own
//! backend (as `lifeline-host` chooses it: X11 on Linux, DXGI or GDI on
//! Windows): whole-screen grabs back to back, timed, then one session
//! update of the same grab encoded. Built for Linux and for Windows so the
//! two run side by side (`scripts/windows bench`); prints one JSON line.
//!
//! `capture_cost [GRABS] [--backend gdi|dxgi|x11]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use lifeline_host::backend::{self, Backend};
use lifeline_session::screen::{Encoder, Image};

fn main() {
    let mut grabs = 100usize;
    let mut chosen = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--backend" => {
                chosen = Some(match args.next().as_deref() {
                    Some("gdi") => Backend::Gdi,
                    Some("dxgi") => Backend::Dxgi,
                    Some("x11") => Backend::X11,
                    other => panic!("unknown backend {other:?}"),
                });
            }
            n => grabs = n.parse().expect("GRABS is a number"),
        }
    }
    backend::prepare();
    let backend = chosen.unwrap_or_else(Backend::detect);
    let mut screen = (backend::openers(backend).screen)().expect("the screen opens");
    let mut image = Image::new(1, 1).unwrap();
    screen.grab(&mut image, true).expect("a first grab");
    let mut times = Vec::with_capacity(grabs);
    for _ in 0..grabs {
        let t = Instant::now();
        screen.grab(&mut image, true).expect("a grab");
        times.push(t.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(times[((times.len() - 1) as f64 * q) as usize]);
    let mut encoder = Encoder::new();
    let t = Instant::now();
    let update = encoder.encode(&image);
    let encode_ms = ms(t.elapsed());
    println!(
        "{{\"backend\":\"{backend:?}\",\"width\":{},\"height\":{},\"grabs\":{grabs},\"grab_p50_ms\":{:.2},\"grab_p95_ms\":{:.2},\"first_update_encode_ms\":{encode_ms:.1},\"first_update_bytes\":{}}}",
        image.width,
        image.height,
        at(0.5),
        at(0.95),
        update.map_or(0, |u| u.payload_bytes()),
    );
}
