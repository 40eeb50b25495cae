//! Issue #31's video: the page decodes the host's H.264 with the
//! browser's own decoder (WebCodecs) and draws it through the session
//! crate. A real host on Xvfb shows a slideshow of photographs in one
//! place; the real relay carries it over WebTransport to a real headless
//! Chromium. The page must say it decodes video (no `NoVideo`), draw
//! video frames, show the slides as they were (SSIM against the slide it
//! shows), and end exact once the slideshow stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use lifeline_session::screen::Image;
use lifeline_tests::browser::Browser;
use lifeline_tests::peers::HostProcess;
use lifeline_tests::ssim::ssim_images;
use lifeline_tests::x::{Xvfb, photo_image};
use lifeline_tests::{RelayProcess, relay_cli, wait_for};
use serde_json::json;

use crate::browser::{canvas, skip, state};

/// Where the slides show, and their size.
const SLIDE: (u32, u32, u32, u32) = (320, 120, 640, 480);

/// The canvas's pixels in `area` (`None` before the first frame).
fn canvas_area(b: &mut Browser, (x, y, w, h): (u32, u32, u32, u32)) -> Option<Image> {
    let v = b.eval(&format!(
        "(() => {{ const c = document.querySelector('#screen');
           if (c.width < {x} + {w}) return null;
           const d = c.getContext('2d').getImageData({x}, {y}, {w}, {h}).data;
           let s = ''; const step = 0x8000;
           for (let i = 0; i < d.length; i += step) s += String.fromCharCode.apply(null, d.subarray(i, i + step));
           return btoa(s); }})()"
    ));
    let rgba = base64::engine::general_purpose::STANDARD
        .decode(v.as_str()?)
        .ok()?;
    let pixels = rgba
        .chunks_exact(4)
        .map(|p| u32::from_be_bytes([0, p[0], p[1], p[2]]))
        .collect();
    Some(Image {
        width: w,
        height: h,
        pixels,
    })
}

/// The mean absolute difference of each colour channel, over all pixels.
fn colour_error(a: &Image, b: &Image) -> f64 {
    let sum: u64 = a
        .pixels
        .iter()
        .zip(&b.pixels)
        .map(|(p, q)| {
            (0..3)
                .map(|c| u64::from(((p >> (8 * c)) & 0xff).abs_diff((q >> (8 * c)) & 0xff)))
                .sum::<u64>()
        })
        .sum();
    sum as f64 / (3 * a.pixels.len()) as f64
}

#[test]
fn the_page_decodes_the_hosts_video_with_webcodecs() {
    if skip() {
        return;
    }
    let (w, h) = (1280, 720);
    let x = Xvfb::start(w, h);
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    let (rc, token, err) = relay_cli(&["technician", "add", "vera", "--data-dir", &d]);
    assert_eq!(rc, 0, "{err}");
    let relay = RelayProcess::start(data.path(), &["--web", "127.0.0.1:0"]);
    let url = relay.web.clone().expect("the relay printed the page's URL");
    let ca = data.path().join("ca.pem");
    let host = HostProcess::spawn(
        &relay.addr.to_string(),
        &ca,
        &x.display,
        &["--allow", "view"],
    );

    let mut b = Browser::start_trusting(&ca);
    b.goto(&format!("{url}/"));
    wait_for("the page's module", || {
        (b.eval("window.lifeline.ready") == json!(true)).then_some(())
    });
    b.fill("input[name=code]", &host.code().to_string());
    b.eval("document.querySelector('input[name=code]').dispatchEvent(new Event('input'))");
    b.fill("input[name=token]", token.trim());
    b.eval("document.querySelector('#join button').click()");
    state(&mut b, "view");
    assert_eq!(
        b.eval("window.lifeline.video"),
        json!(true),
        "this Chromium decodes H.264 with WebCodecs"
    );
    let screen = x.screenshot();
    wait_for("the canvas to equal the X screen", || {
        canvas(&mut b).filter(|c| *c == screen)
    });

    // Photographs changing in place every 120 ms, drawn by a thread of
    // its own while the page is sampled.
    let slides: Vec<Image> = (0..32).map(|i| photo_image(640, 480, 300 + i)).collect();
    let display = x.display.clone();
    let done = Arc::new(AtomicBool::new(false));
    let drawer = {
        let (done, slides) = (done.clone(), slides.clone());
        std::thread::spawn(move || {
            let x = Xvfb::attach(&display, w, h);
            let mut shown = Vec::new();
            for slide in &slides {
                shown.push(x.show(SLIDE.0 as i16, SLIDE.1 as i16, slide));
                std::thread::sleep(Duration::from_millis(120));
            }
            done.store(true, Ordering::SeqCst);
            shown
        })
    };
    let mut likeness = Vec::new();
    while !done.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(150));
        let shown_video = b.eval("window.lifeline.videoShown").as_u64().unwrap_or(0);
        let Some(region) = canvas_area(&mut b, SLIDE) else {
            continue;
        };
        // The slide the canvas shows, whichever it is by now (the nearest
        // in colour): its SSIM (luma) and mean colour error (each channel,
        // 0 to 255).
        let Some((error, nearest)) = slides
            .iter()
            .map(|s| (colour_error(&region, s), s))
            .min_by(|a, b| a.0.total_cmp(&b.0))
        else {
            continue;
        };
        let best = (ssim_images(&region, nearest, &[]).unwrap_or(0.0), error);
        if shown_video > 0 {
            likeness.push(best);
        }
    }
    let _shown = drawer.join().unwrap();

    let page = b.eval(
        "({ fed: window.lifeline.videoFed, shown: window.lifeline.videoShown,
            off: window.lifeline.videoOff, status: document.querySelector('#status').textContent })",
    );
    eprintln!("page: {page}; (SSIM, colour error) of samples: {likeness:?}");
    assert_eq!(page["off"], json!(null), "video stayed on: {page}");
    assert!(
        page["shown"].as_u64().unwrap_or(0) >= 3,
        "the page drew video frames: {page}"
    );
    assert!(
        likeness.len() >= 3,
        "the canvas was sampled while video played: {likeness:?}"
    );
    // A sample may catch a slide half captured (the X server maps each
    // slide's window before drawing it, and draws in strips): most must
    // show a slide well.
    let good = likeness
        .iter()
        .filter(|(ssim, colour)| *ssim >= 0.9 && *colour <= 6.0)
        .count();
    assert!(
        good >= 3 && good * 2 >= likeness.len(),
        "the canvas shows the slides ((SSIM, colour error) against the nearest): {likeness:?}"
    );

    // Still now: the canvas ends exact, as the X screen.
    let screen = x.screenshot();
    wait_for("the canvas to end exact", || {
        canvas(&mut b).filter(|c| *c == screen)
    });
    drop(host);
}
