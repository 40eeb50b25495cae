//! Host and viewer sessions stepped against each other over a simulated
//! link on a virtual clock (`lifeline_tests::pair`): flow control,
//! progressive refinement, mode changes and resume, deterministically,
//! with no sockets and no sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use lifeline_host::session::Event;
use lifeline_proto::control::Mode;
use lifeline_session::messages::{FRAMES_IN_FLIGHT, InputEvent, Key, ViewerMsg, Withheld};
use lifeline_session::screen::Image;
use lifeline_tests::pair::link::Rng;
use lifeline_tests::pair::{Pair, Spec};
use lifeline_viewer::core::Action as ViewerAction;

const TICK: Duration = Duration::from_millis(16);

/// Text-like content: few colours, sharp edges, different for each `seed`.
fn text(img: &mut Image, (x0, y0, w, h): (u32, u32, u32, u32), seed: u64) {
    let mut rng = Rng::new(seed);
    for y in y0..(y0 + h).min(img.height) {
        for x in x0..(x0 + w).min(img.width) {
            let ink = (x / 3 + y / 5 + (rng.next_u64() % 3) as u32).is_multiple_of(4);
            img.pixels[(y * img.width + x) as usize] = if ink { 0x0020_2020 } else { 0x00f0_f0f0 };
        }
    }
}

/// Photo-like content: smooth gradients with grain, hundreds of colours.
fn photo(img: &mut Image, (x0, y0, w, h): (u32, u32, u32, u32), seed: u64) {
    let mut rng = Rng::new(seed);
    let shift = (seed % 64) as u32;
    for y in y0..(y0 + h).min(img.height) {
        for x in x0..(x0 + w).min(img.width) {
            let grain = (rng.next_u64() % 12) as u32;
            let r = ((x + shift) * 2 + grain) & 0xff;
            let g = ((y + shift) * 3 + grain) & 0xff;
            let b = ((x + y) + grain * 2) & 0xff;
            img.pixels[(y * img.width + x) as usize] = (r << 16) | (g << 8) | b;
        }
    }
}

fn key(k: char) -> InputEvent {
    InputEvent::Key {
        key: Key::Char(k),
        down: true,
    }
}

#[test]
fn a_slow_link_holds_the_updates_in_flight_and_catches_up_on_acks() {
    // 40 kB/s with 40 ms each way, a little loss and reordering.
    let down = Spec::delay(40)
        .rate(40_000)
        .lossy(0.01, 0.05, Duration::from_millis(15), 7);
    let up = Spec::delay(40).lossy(0.01, 0.05, Duration::from_millis(15), 8);
    let mut p = Pair::new(Mode::View, (320, 240), down, up);
    text(p.screen(), (0, 0, 320, 240), 1);
    p.drawn();
    // Something new in a corner every tick for three seconds: far more
    // than the link carries.
    for i in 0..190u64 {
        text(p.screen(), (0, 0, 160, 120), 100 + i);
        p.drawn();
        p.run_for(TICK);
        assert!(
            p.in_flight() <= FRAMES_IN_FLIGHT + 1,
            "{} updates in flight at {:?}",
            p.in_flight(),
            p.elapsed()
        );
    }
    // Text only: nothing to refine, so every update in flight is drawing,
    // and the link keeps the host at its limit.
    assert!(p.log.sent.iter().all(|s| !s.refinement));
    assert_eq!(
        p.log.max_in_flight, FRAMES_IN_FLIGHT,
        "the link should hold the host at its limit, never past it"
    );
    let sent = p.log.sent.len();
    assert!(
        (4..120).contains(&sent),
        "{sent} updates for 190 drawings on a slow link"
    );
    // Drawing stops: the acknowledgements bring the viewer up to date.
    assert!(
        p.run_until_exact(Duration::from_secs(20)),
        "the viewer never caught up"
    );
    p.run_for(Duration::from_millis(500));
    assert_eq!(p.in_flight(), 0, "every update acknowledged");
    let got: Vec<u64> = p.log.received.iter().map(|(_, s)| *s).collect();
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order: {got:?}");
}

#[test]
fn a_changing_photo_arrives_lossy_then_refined_to_exact() {
    let down = Spec::delay(25).rate(150_000);
    let mut p = Pair::new(Mode::View, (384, 256), down, Spec::delay(25));
    text(p.screen(), (0, 0, 384, 256), 1);
    p.drawn();
    assert!(p.run_until_exact(Duration::from_secs(10)), "first frame");
    // A video playing in the middle for two seconds.
    for i in 0..120u64 {
        photo(p.screen(), (64, 32, 256, 192), i);
        p.drawn();
        p.run_for(TICK);
    }
    let pictures = p.log.sent.iter().filter(|s| s.pictures > 0).count();
    assert!(pictures > 0, "a changing photo goes as pictures");
    // The last picture is on the screen, approximately.
    let last_picture = p
        .log
        .sent
        .iter()
        .rev()
        .find(|s| s.pictures > 0)
        .unwrap()
        .seq;
    assert!(
        p.run_until(Duration::from_secs(5), |p| {
            p.log.received.iter().any(|(_, s)| *s >= last_picture)
        }),
        "the pictures arrive"
    );
    assert_ne!(p.viewer_image(), Some(p.source()), "lossy at first");
    assert!(
        p.run_until_exact(Duration::from_secs(30)),
        "refined to exact"
    );
    let refinements = p.log.sent.iter().filter(|s| s.refinement).count();
    assert!(refinements > 0, "exactness came by refinement");
}

#[test]
fn input_is_applied_in_control_and_dropped_once_the_user_takes_it_back() {
    let mut p = Pair::new(Mode::Control, (128, 96), Spec::delay(30), Spec::delay(30));
    text(p.screen(), (0, 0, 128, 96), 1);
    p.drawn();
    assert!(p.run_until_exact(Duration::from_secs(2)));
    assert!(p.type_input(key('a')));
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.log.applied, [key('a')]);

    // The user takes control back; the viewer does not know yet and
    // types on: the host drops it.
    p.host_event(Event::ViewOnly);
    assert!(p.type_input(key('b')), "the viewer has not heard yet");
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.viewer().mode(), Mode::View);
    assert!(p.log.viewer_news.contains(&ViewerAction::Mode(Mode::View)));
    // Now the viewer refuses itself; a viewer that sends anyway is
    // dropped by the host.
    assert!(!p.type_input(key('c')));
    p.viewer_send(ViewerMsg::Input(key('d')));
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.log.applied, [key('a')], "nothing after view-only");
    assert_eq!(p.host.stats().inputs_dropped, 2);
    assert_eq!(p.host.stats().inputs_applied, 1);
}

#[test]
fn view_only_from_the_start_applies_nothing() {
    let mut p = Pair::new(Mode::View, (128, 96), Spec::delay(10), Spec::delay(10));
    p.run_for(Duration::from_millis(100));
    assert!(!p.type_input(key('a')), "refused by the viewer");
    p.viewer_send(ViewerMsg::Input(key('b')));
    p.run_for(Duration::from_millis(100));
    assert!(p.log.applied.is_empty());
    assert_eq!(p.host.stats().inputs_dropped, 1);
}

#[test]
fn a_cut_link_resumes_to_the_exact_screen_with_nothing_repeated_or_lost() {
    let lossy = |seed| {
        Spec::delay(30)
            .rate(200_000)
            .lossy(0.02, 0.1, Duration::from_millis(20), seed)
    };
    let mut p = Pair::new(Mode::Control, (320, 240), lossy(1), lossy(2));
    text(p.screen(), (0, 0, 320, 240), 1);
    p.drawn();
    assert!(p.run_until_exact(Duration::from_secs(5)), "first frame");
    // A change on its way when the link goes.
    text(p.screen(), (0, 0, 320, 120), 2);
    p.drawn();
    p.run_for(Duration::from_millis(20));
    p.cut();
    // Meanwhile the screen changes and the technician writes.
    text(p.screen(), (0, 100, 320, 140), 3);
    p.drawn();
    p.viewer_send(ViewerMsg::Chat("still there?".into()));
    p.run_for(Duration::from_secs(2));
    let before = p.log.received.len();
    assert!(p.viewer().is_lost());
    p.restore();
    assert!(
        p.run_until_exact(Duration::from_secs(10)),
        "the viewer ends with the exact screen"
    );
    p.run_for(Duration::from_millis(300));
    assert_eq!(
        p.log.host_chats,
        ["still there?"],
        "said once, after the resume"
    );
    let got: Vec<u64> = p.log.received.iter().map(|(_, s)| *s).collect();
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "no update twice: {got:?}"
    );
    let first_after = p.log.received[before].1;
    let whole = p.log.sent.iter().find(|s| s.seq == first_after).unwrap();
    assert!(whole.full, "the first update after the resume is whole");
    assert!(p.log.full_requests >= 1, "the viewer asked for it too");
    assert_eq!(p.viewer().full_requests(), 1);
    assert_eq!(p.in_flight(), 0);
}

#[test]
fn a_withheld_screen_is_said_once_then_comes_back_whole_and_exact() {
    let why = Withheld::SecureDesktop;
    let mut p = Pair::new(Mode::Control, (160, 120), Spec::delay(30), Spec::delay(30));
    text(p.screen(), (0, 0, 160, 120), 1);
    p.drawn();
    assert!(p.run_until_exact(Duration::from_secs(2)));
    // A UAC prompt: the capture says so instead of a picture.
    p.withhold(Some(why));
    p.run_for(Duration::from_millis(500));
    assert_eq!(p.viewer().withheld(), Some(why));
    let sent = p.log.sent.len();
    // The user's screen moves on behind the prompt; nothing is sent.
    text(p.screen(), (0, 0, 160, 120), 2);
    p.drawn();
    p.run_for(Duration::from_millis(500));
    assert_eq!(p.log.sent.len(), sent, "no picture while withheld");
    assert!(!p.type_input(key('a')), "the viewer holds input back");
    // A viewer that sends anyway: the host drops it.
    p.viewer_send(ViewerMsg::Input(key('b')));
    p.run_for(Duration::from_millis(100));
    assert!(p.log.applied.is_empty(), "{:?}", p.log.applied);
    // The prompt closes: the end, then the whole screen as it is now.
    p.withhold(None);
    assert!(p.run_until_exact(Duration::from_secs(2)));
    assert_eq!(p.viewer().withheld(), None);
    assert!(p.log.sent[sent].full, "the first update after is whole");
    let news: Vec<_> = p
        .log
        .viewer_news
        .iter()
        .filter(|a| matches!(a, ViewerAction::Withheld(_)))
        .collect();
    assert_eq!(
        news,
        [
            &ViewerAction::Withheld(Some(why)),
            &ViewerAction::Withheld(None)
        ],
        "said once as it starts and once as it ends"
    );
    assert!(p.type_input(key('c')));
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.log.applied, [key('c')]);
}

/// The whole run is a function of the seeds: twice the same.
#[test]
fn a_scenario_runs_the_same_every_time() {
    let run = || {
        let down = Spec::delay(20)
            .rate(50_000)
            .lossy(0.05, 0.2, Duration::from_millis(30), 42);
        let mut p = Pair::new(Mode::View, (256, 192), down, Spec::delay(20));
        for i in 0..60u64 {
            text(p.screen(), (0, 0, 128, 96), i);
            p.drawn();
            p.run_for(TICK);
        }
        p.run_until_exact(Duration::from_secs(20));
        let start = p.log.sent.first().unwrap().at;
        p.log
            .sent
            .iter()
            .map(|s| (s.at - start, s.seq, s.bytes))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}
