//! What one screen capture costs on this desktop, through the host's own
//! backend (as `lifeline-host` chooses it: X11 on Linux, DXGI or GDI on
//! Windows): whole-screen grabs back to back, timed, then one session
//! update of the same grab encoded. Built for Linux and for Windows so the
//! two run side by side (`scripts/windows bench`); prints one JSON line.
//!
//! With `--hide-window PATTERN` it also times what hiding adds to each
//! grab (asking where the private windows are before and after it, and
//! blanking them: `hidden::mask::Mask`), apart from the grab itself.
//!
//! `capture_cost [GRABS] [--backend gdi|dxgi|x11] [--hide-window PATTERN]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use lifeline_host::backend::{self, Backend};
use lifeline_host::hidden::mask::Mask;
use lifeline_host::view::Rect;
use lifeline_session::screen::{Encoder, Image};

fn main() {
    let mut grabs = 100usize;
    let mut chosen = None;
    let mut hide = Vec::new();
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
            "--hide-window" => hide.push(args.next().expect("a pattern")),
            n => grabs = n.parse().expect("GRABS is a number"),
        }
    }
    backend::prepare();
    let backend = chosen.unwrap_or_else(Backend::detect);
    let hiding = (!hide.is_empty()).then(|| {
        backend::hiding(backend, hide)
            .expect("windows can be hidden here")
            .expect("a watcher")
    });
    let mut mask = Mask::new(hiding);
    let mut screen = (backend::openers(backend).screen)().expect("the screen opens");
    let mut image = Image::new(1, 1).unwrap();
    screen.grab(&mut image, true).expect("a first grab");
    let mut times = Vec::with_capacity(grabs);
    let mut masking = Vec::with_capacity(grabs);
    let mut boxes = 0;
    for _ in 0..grabs {
        let t = Instant::now();
        mask.before_grab(t);
        let m = t.elapsed();
        let g = Instant::now();
        screen.grab(&mut image, true).expect("a grab");
        times.push(g.elapsed());
        let a = Instant::now();
        mask.after_grab(a);
        let shown = Rect::whole(image.width, image.height);
        boxes = mask.apply(&mut image, shown, false).0.len();
        masking.push(m + a.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |times: &mut Vec<Duration>, q: f64| {
        times.sort();
        ms(times[((times.len() - 1) as f64 * q) as usize])
    };
    let (mask_p50, mask_p95) = (at(&mut masking, 0.5), at(&mut masking, 0.95));
    let mut encoder = Encoder::new();
    let t = Instant::now();
    let update = encoder.encode(&image);
    let encode_ms = ms(t.elapsed());
    println!(
        "{{\"backend\":\"{backend:?}\",\"width\":{},\"height\":{},\"grabs\":{grabs},\"grab_p50_ms\":{:.2},\"grab_p95_ms\":{:.2},\"hidden_boxes\":{boxes},\"hiding_p50_ms\":{mask_p50:.3},\"hiding_p95_ms\":{mask_p95:.3},\"first_update_encode_ms\":{encode_ms:.1},\"first_update_bytes\":{}}}",
        image.width,
        image.height,
        at(&mut times, 0.5),
        at(&mut times, 0.95),
        update.map_or(0, |u| u.payload_bytes()),
    );
}
