//! The viewer's session rules with plain calls and made-up times.

use std::time::{Duration, Instant};

use lifeline_proto::control::Mode;
use lifeline_session::messages::{HostMsg, InputEvent, Key, MonitorInfo, Showing, ViewerMsg};
use lifeline_session::screen::{Encoder, FrameUpdate, Image};

use super::*;

fn drain(s: &mut ViewerSession) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

fn screen(seed: u32) -> Image {
    let mut img = Image::new(128, 64).unwrap();
    for (i, p) in img.pixels.iter_mut().enumerate() {
        *p = (i as u32 / 7).wrapping_mul(seed) & 0x00ff_ffff;
    }
    img
}

fn first_update(enc: &mut Encoder, img: &Image) -> FrameUpdate {
    enc.encode(img).unwrap()
}

fn monitors(showing: Showing) -> HostMsg {
    let m = |name: &str, x, primary| MonitorInfo {
        name: name.into(),
        x,
        y: 0,
        width: 64,
        height: 64,
        primary,
    };
    HostMsg::Monitors {
        monitors: vec![m("DP-1", 0, true), m("DP-2", 64, false)],
        showing,
    }
}

#[test]
fn each_update_is_applied_and_acknowledged() {
    let t0 = Instant::now();
    let mut s = ViewerSession::new(Mode::View);
    let mut enc = Encoder::lossless();
    let img = screen(3);
    let upd = first_update(&mut enc, &img);
    let seq = upd.seq;
    s.handle(t0, HostMsg::Frame(upd));
    let acked = |actions: Vec<Action>| match actions.as_slice() {
        [
            Action::Send(ViewerMsg::Decoded { seq, .. }),
            Action::Updated,
        ] => Some(*seq),
        _ => None,
    };
    assert_eq!(acked(drain(&mut s)), Some(seq));
    assert_eq!(s.image(), Some(&img));
    assert_eq!(s.last_acked(), Some(seq));
    let next = screen(5);
    let upd = enc.encode(&next).unwrap();
    s.handle(t0, HostMsg::Frame(upd));
    assert_eq!(acked(drain(&mut s)), Some(seq + 1));
    assert_eq!(s.image(), Some(&next));
}

#[test]
fn an_update_that_does_not_apply_asks_for_a_whole_frame() {
    let t0 = Instant::now();
    let mut s = ViewerSession::new(Mode::View);
    let mut enc = Encoder::lossless();
    let mut upd = first_update(&mut enc, &screen(3));
    // A delta before any whole frame: nothing to apply it to.
    upd.full = false;
    s.handle(t0, HostMsg::Frame(upd));
    assert_eq!(
        drain(&mut s),
        [Action::Send(ViewerMsg::RequestFull), Action::Updated]
    );
    assert_eq!(s.last_acked(), None, "nothing acknowledged");
    assert_eq!(s.newest(), Some(1));
    assert_eq!(s.full_requests(), 1);
    assert_eq!(s.figures(t0).frames, 1, "it still counts as received");
}

#[test]
fn input_follows_the_mode_the_user_allows() {
    let t0 = Instant::now();
    let mut s = ViewerSession::new(Mode::View);
    let ev = InputEvent::Key {
        key: Key::Return,
        down: true,
    };
    assert_eq!(s.input(t0, ev.clone()), Err(NotSent::ViewOnly));
    assert!(drain(&mut s).is_empty(), "nothing sent in view-only mode");
    s.handle(t0, HostMsg::Mode(Mode::Control));
    assert_eq!(drain(&mut s), [Action::Mode(Mode::Control)]);
    assert_eq!(s.input(t0, ev.clone()), Ok(()));
    assert_eq!(drain(&mut s), [Action::Send(ViewerMsg::Input(ev.clone()))]);
    s.handle(t0, HostMsg::Mode(Mode::View));
    drain(&mut s);
    assert_eq!(s.mode(), Mode::View);
    assert_eq!(s.input(t0, ev), Err(NotSent::ViewOnly));
}

#[test]
fn a_monitor_switch_ends_when_the_host_shows_it_or_refuses() {
    let mut s = ViewerSession::new(Mode::View);
    assert_eq!(s.show(Showing::All), None, "nothing known yet: asked");
    assert_eq!(drain(&mut s), [Action::Send(ViewerMsg::Show(Showing::All))]);
    s.handle(Instant::now(), monitors(Showing::Primary));
    assert_eq!(s.switching(), Some(Showing::All), "not this one yet");
    s.handle(Instant::now(), monitors(Showing::All));
    assert_eq!(s.switching(), None);
    let acts = drain(&mut s);
    assert!(
        matches!(&acts[..], [Action::Screens(_), Action::Screens(a)] if a.showing == Showing::All)
    );
    // Shown already: nothing to ask.
    let shown = s.show(Showing::All).unwrap();
    assert_eq!(shown.monitors.len(), 2);
    assert!(drain(&mut s).is_empty());
    s.show(Showing::Monitor(5));
    drain(&mut s);
    s.handle(
        Instant::now(),
        HostMsg::Refused("there is no monitor 6".into()),
    );
    assert_eq!(s.switching(), None);
    assert_eq!(
        drain(&mut s),
        [Action::Reply(Reply::Refused(
            "there is no monitor 6".into()
        ))]
    );
}

#[test]
fn answers_chat_and_pointer_are_handed_on() {
    let t0 = Instant::now();
    let mut s = ViewerSession::new(Mode::Control);
    s.handle(t0, HostMsg::Clipboard("text".into()));
    s.handle(t0, HostMsg::ClipboardSet);
    s.handle(t0, HostMsg::Chat("hi".into()));
    s.handle(t0, HostMsg::Cursor { x: 3, y: 4 });
    assert_eq!(
        drain(&mut s),
        [
            Action::Reply(Reply::Clipboard("text".into())),
            Action::Reply(Reply::Set),
            Action::Chat("hi".into()),
            Action::Cursor,
        ]
    );
    assert_eq!(s.cursor(), Some((3, 4)));
}

#[test]
fn a_resumed_link_asks_for_a_whole_frame_before_what_waited() {
    let mut s = ViewerSession::new(Mode::Control);
    s.resumed();
    assert!(drain(&mut s).is_empty(), "not lost: nothing to ask");
    s.link_lost();
    assert!(s.is_lost());
    s.send(ViewerMsg::Chat("still there?".into()));
    assert!(drain(&mut s).is_empty(), "nothing goes while lost");
    s.resumed();
    assert_eq!(
        drain(&mut s),
        [
            Action::Send(ViewerMsg::RequestFull),
            Action::Send(ViewerMsg::Chat("still there?".into())),
        ]
    );
    assert_eq!(s.full_requests(), 1);
    assert!(!s.is_lost());
}

#[test]
fn figures_count_a_second_and_measure_input_to_update() {
    let t0 = Instant::now();
    let mut s = ViewerSession::new(Mode::Control);
    let mut enc = Encoder::lossless();
    s.check_input(t0).unwrap();
    s.handle(
        t0 + Duration::from_millis(40),
        HostMsg::Frame(first_update(&mut enc, &screen(3))),
    );
    let f = s.figures(t0);
    assert_eq!(f.frames, 1);
    assert_eq!(f.input_to_update_ms, Some(40.0));
    for (i, seed) in (5..9).enumerate() {
        let at = t0 + Duration::from_millis(40 + 300 * (i as u64 + 1));
        s.handle(at, HostMsg::Frame(enc.encode(&screen(seed)).unwrap()));
    }
    let f = s.figures(t0 + Duration::from_millis(1300));
    assert!(f.fps > 3.0 && f.fps < 5.0, "{}", f.fps);
    assert!(f.bytes_per_s > 0.0);
    s.stream_bytes(1234);
    let stale = s.figures(t0 + Duration::from_secs(10));
    assert_eq!((stale.fps, stale.bytes_per_s), (0.0, 0.0));
    assert_eq!(stale.stream_bytes, 1234);
    assert_eq!(stale.frames, 5);
}

#[test]
fn a_withheld_screen_is_said_once_stops_input_and_ends_with_a_frame() {
    use lifeline_session::messages::Withheld;
    let t0 = Instant::now();
    let mut s = ViewerSession::new(Mode::Control);
    let mut enc = Encoder::lossless();
    s.handle(t0, HostMsg::Frame(first_update(&mut enc, &screen(3))));
    drain(&mut s);
    let why = Withheld::SecureDesktop;
    s.handle(t0, HostMsg::Withheld(Some(why)));
    assert_eq!(drain(&mut s), [Action::Withheld(Some(why))]);
    assert_eq!(s.withheld(), Some(why));
    // Said again (after a resume): no news.
    s.handle(t0, HostMsg::Withheld(Some(why)));
    assert!(drain(&mut s).is_empty());
    let ev = InputEvent::Text("password".into());
    assert_eq!(s.input(t0, ev.clone()), Err(NotSent::Withheld(why)));
    assert!(drain(&mut s).is_empty(), "nothing sent meanwhile");
    assert!(
        NotSent::Withheld(why)
            .to_string()
            .contains("Windows security prompt")
    );
    s.handle(t0, HostMsg::Withheld(None));
    assert_eq!(drain(&mut s), [Action::Withheld(None)]);
    assert_eq!(s.input(t0, ev.clone()), Ok(()));
    drain(&mut s);
    // The end lost with a link: the whole frame that follows says it.
    s.handle(t0, HostMsg::Withheld(Some(why)));
    drain(&mut s);
    s.handle(t0, HostMsg::Frame(enc.encode(&screen(5)).unwrap()));
    let acts = drain(&mut s);
    assert_eq!(acts[0], Action::Withheld(None), "{acts:?}");
    assert_eq!(s.withheld(), None);
    assert_eq!(s.image(), Some(&screen(5)));
    assert_eq!(s.input(t0, ev), Ok(()));
}
