//! Issue #29: a region that keeps changing (here a slideshow of
//! photographs in one place, as a user showing a video or an animation
//! would) goes as H.264 video while it moves, and the screen ends exact
//! once it stops. Real host on a real Xvfb, real relay on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lifeline_session::screen::FrameUpdate;
use lifeline_tests::TestRelay;
use lifeline_tests::peers::{HostProcess, TestViewer};
use lifeline_tests::x::{Xvfb, photo_image};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moving_region_goes_as_video_and_ends_exact() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let (w, h) = (1280, 720);
    let x = Xvfb::start(w, h);
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &x.display, &["--allow", "view"]);
    let mut viewer = TestViewer::join(&relay, &token, &host.code()).await;
    let first = viewer.next_frame().await;
    assert!(first.full);
    viewer.until_equal(&x.screenshot()).await;

    // A 640×480 photograph changing in place every 120 ms, drawn by a
    // thread of its own while the viewer keeps acknowledging.
    let slides: Vec<_> = (0..16).map(|i| photo_image(640, 480, 100 + i)).collect();
    let display = x.display.clone();
    let done = Arc::new(AtomicBool::new(false));
    let drawer = {
        let done = done.clone();
        std::thread::spawn(move || {
            let x = Xvfb::attach(&display, w, h);
            let mut shown = Vec::new();
            for slide in &slides {
                shown.push(x.show(320, 120, slide));
                std::thread::sleep(Duration::from_millis(120));
            }
            done.store(true, Ordering::SeqCst);
            shown
        })
    };
    let mut moving: Vec<FrameUpdate> = Vec::new();
    while !done.load(Ordering::SeqCst) {
        moving.push(viewer.next_frame().await);
    }
    let _shown = drawer.join().unwrap();
    let videos: Vec<_> = moving.iter().flat_map(|u| &u.video).collect();
    assert!(
        videos.len() >= 3,
        "the moving region went as video: {} frames in {} updates",
        videos.len(),
        moving.len()
    );
    assert!(videos[0].key, "a stream starts with a key frame");
    let region = |v: &&lifeline_session::screen::Video| (v.x, v.y, v.w, v.h);
    assert!(
        videos
            .iter()
            .all(|v| region(v) == region(&videos[0]) && v.stream == videos[0].stream)
            || videos.iter().filter(|v| v.key).count() >= 2,
        "one stream while the region stays, a new one with a key frame when it moves"
    );
    // A capture may catch a slide half drawn (the X server takes a large
    // picture in strips), so the first stream's box can be short of the
    // region; a stream over the whole of it follows.
    let covers = |v: &&lifeline_session::screen::Video| {
        let (vx, vy, vw, vh) = region(v);
        vx <= 320 && vy <= 120 && vx + vw >= 320 + 640 && vy + vh >= 120 + 480
    };
    assert!(
        videos.iter().any(covers),
        "a video stream covers the region: {:?}",
        videos.iter().map(region).collect::<Vec<_>>()
    );

    // Still now: the screen ends exact, by refinement, not video.
    let rest = viewer.until_equal(&x.screenshot()).await;
    assert!(
        rest.last()
            .is_none_or(|u| u.video.is_empty() && u.pictures.is_empty()),
        "exact at the end: {:?}",
        rest.last().map(|u| (u.video.len(), u.pictures.len()))
    );
}
