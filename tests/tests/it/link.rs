//! A session across a constrained link: the host agent in a network
//! namespace of its own behind 10 Mbit/s and 60 ms (tc tbf and a
//! delaying forwarder), the relay and viewer on loopback. A photo
//! wallpaper arrives first as pictures and is refined exact afterwards;
//! a keystroke typed meanwhile is not queued behind that refinement.

use lifeline_proto::control::Mode;
use lifeline_session::messages::{InputEvent, Key};
use lifeline_tests::netem::{Netns, Profile, UdpDelay, profile};
use lifeline_tests::peers::{HostProcess, TestViewer};
use lifeline_tests::x::{Xvfb, photo_image, real_photo};
use lifeline_tests::{TestRelay, poll};

/// A relay on loopback, and a host agent on `x` inside `ns` reaching it
/// across `link` (its rate on the namespace's side, its round trip in a
/// delaying forwarder), allowing `mode`.
struct Behind {
    relay: TestRelay,
    token: String,
    _via: UdpDelay,
    host: HostProcess,
}

impl Behind {
    async fn start(ns: &Netns, link: &Profile, x: &Xvfb, mode: &str) -> Self {
        let outer = ns.outer.to_string();
        let relay = TestRelay::start_named(&[&outer], |_| {}).await;
        let token = relay.add_technician("bob");
        let via = UdpDelay::start(
            std::net::SocketAddr::new(ns.outer.into(), 0),
            relay.addr,
            link.rtt / 2,
        )
        .unwrap();
        let host = HostProcess::spawn_in(
            ns,
            &via.addr.to_string(),
            &relay.ca,
            &x.display,
            &["--allow", mode],
        );
        Self {
            relay,
            token,
            _via: via,
            host,
        }
    }

    /// A technician's viewer joins the host's code.
    async fn join(&self) -> TestViewer {
        TestViewer::join(&self.relay, &self.token, &self.host.code()).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keystroke_echo_overtakes_a_pending_refinement_on_a_slow_link() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let link = profile("10mbit").unwrap();
    let ns = match Netns::new(&link) {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED: cannot make a constrained link here: {why}");
            return;
        }
    };
    let (w, h) = (1920, 1080);
    let x = Xvfb::start(w, h);
    let _wallpaper = x.show(0, 0, &photo_image(w, h, 3));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typed.txt");
    let _xterm = x.xterm_cat("30x4+0+0", &file);
    let behind = Behind::start(&ns, &link, &x, "control").await;
    let mut viewer = behind.join().await;
    assert_eq!(viewer.mode, Mode::Control);

    // The first whole screen: the photo as pictures, to be refined.
    let first = viewer.next_frame().await;
    assert!(first.full);
    assert!(
        !first.pictures.is_empty(),
        "a slow link gets its photo as a picture first"
    );

    // Type into the terminal while the refinement is under way.
    viewer.input(InputEvent::Move { x: 60, y: 20 }).await;
    poll("the pointer", || (x.pointer() == (60, 20)).then_some(())).await;
    let typing_area = |img: &lifeline_session::screen::Image| -> Vec<u32> {
        (0..60)
            .flat_map(|yy| (0..200).map(move |xx| (xx, yy)))
            .map(|(xx, yy)| img.get(xx, yy))
            .collect()
    };
    let before = typing_area(viewer.fb.image().unwrap());
    for down in [true, false] {
        viewer
            .input(InputEvent::Key {
                key: Key::Char('Z'),
                down,
            })
            .await;
    }
    // The refinement goes top to bottom: the bottom half is its last part.
    let wallpaper = x.screenshot();
    let bottom = |img: &lifeline_session::screen::Image| -> Vec<u32> {
        img.pixels[(h as usize / 2) * w as usize..].to_vec()
    };
    loop {
        viewer.next_frame().await;
        if typing_area(viewer.fb.image().unwrap()) != before {
            break;
        }
    }
    assert!(
        bottom(viewer.fb.image().unwrap()) != bottom(&wallpaper),
        "the echo waited until the whole refinement had arrived"
    );

    // And the screen still ends exact.
    let screen = x.screenshot();
    viewer.until_equal(&screen).await;
}

/// Issue #29: a field user's slow uplink to a nearby relay has a LAN's
/// round trip. The first screen must not wait for a photo wallpaper's
/// exact bytes (seconds at 10 Mbit/s): it comes light, then exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_screen_on_an_unmeasured_short_uplink_comes_light_then_exact() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let link = profile("uplink").unwrap();
    assert!(link.rtt.as_millis() <= 5, "a LAN's round trip");
    let ns = match Netns::new(&link) {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED: cannot make a constrained link here: {why}");
            return;
        }
    };
    let (w, h) = (1920, 1080);
    let x = Xvfb::start(w, h);
    let _wallpaper = x.show(0, 0, &real_photo("RainDrops.jpg", w, h));
    let behind = Behind::start(&ns, &link, &x, "view").await;
    let mut viewer = behind.join().await;

    let first = viewer.next_frame().await;
    assert!(first.full);
    assert!(
        !first.pictures.is_empty(),
        "an unmeasured link gets its photo light first, however near"
    );
    let light: usize = first.payload_bytes();
    assert!(
        light < 400_000,
        "the light pass is sized for a slow link: {light} bytes"
    );
    let screen = x.screenshot();
    let rest = viewer.until_equal(&screen).await;
    assert!(
        rest.len() > 1,
        "measured at 10 Mbit/s, the refinement goes in pieces ({} updates)",
        rest.len()
    );
    assert!(rest.iter().all(|u| !u.full));
}

/// On loopback the first screen's acknowledgement measures a fast link,
/// and the refinement of its light pass goes at once, in one update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lan_refines_its_light_first_screen_in_one_update() {
    if lifeline_tests::x::skip_without_xvfb() {
        return;
    }
    let (w, h) = (1280, 720);
    let x = Xvfb::start(w, h);
    let _wallpaper = x.show(0, 0, &real_photo("RainDrops.jpg", w, h));
    let relay = TestRelay::start().await;
    let token = relay.add_technician("bob");
    let host = HostProcess::start(&relay, &x.display, &["--allow", "view"]);
    let mut viewer = TestViewer::join(&relay, &token, &host.code()).await;
    let first = viewer.next_frame().await;
    assert!(first.full && !first.pictures.is_empty(), "light first");
    let screen = x.screenshot();
    let rest = viewer.until_equal(&screen).await;
    assert_eq!(rest.len(), 1, "exact in the next update: {rest:?}");
    assert!(rest[0].pictures.is_empty());
}
