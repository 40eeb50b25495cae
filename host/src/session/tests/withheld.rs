//! A screen the host may not show for a while (Windows' secure desktop):
//! the viewer is told once as it starts and once as it ends, a whole frame
//! follows the end, input is dropped meanwhile, and a lost link neither
//! loses nor repeats the news.

use lifeline_session::messages::Withheld;

use super::*;
use crate::session::flow::WITHHELD_INTERVAL;

const WHY: Withheld = Withheld::SecureDesktop;

/// The capture under way found the screen withheld.
fn withheld(s: &mut HostSession, at: Instant) {
    s.handle(
        at,
        Event::Grabbed {
            update: None,
            pointer: None,
            refinement: false,
            view: None,
            withheld: Some(WHY),
            hidden: None,
        },
    );
}

/// The capture under way worked again, with update `seq`, whole or not.
fn shown(s: &mut HostSession, at: Instant, seq: u64, full: bool) -> FrameUpdate {
    let mut u = update(seq);
    u.full = full;
    s.handle(
        at,
        Event::Grabbed {
            update: Some(u.clone()),
            pointer: None,
            refinement: false,
            view: None,
            withheld: None,
            hidden: None,
        },
    );
    u
}

fn told(why: Option<Withheld>) -> Action {
    Action::Send(HostMsg::Withheld(why))
}

/// Sharing in `mode` with the first screen sent and acknowledged.
fn settled(mode: Mode, now: Instant) -> HostSession {
    let mut s = sharing(mode, now);
    frame(&mut s, now, 1);
    s.handle(now, Event::Viewer(ViewerMsg::Ack { seq: 1 }));
    drain(&mut s);
    s
}

#[test]
fn it_is_said_once_and_its_end_comes_with_a_whole_frame() {
    let mut now = t0();
    let mut s = settled(Mode::View, now);
    now += CAPTURE_INTERVAL;
    s.handle_timeout(now);
    assert_eq!(drain(&mut s), [grab(false)]);
    withheld(&mut s, now);
    assert_eq!(drain(&mut s), [told(Some(WHY))], "said as it starts");
    // Looked at less often meanwhile, each time asking for a whole frame,
    // and not said again.
    s.handle_timeout(now + CAPTURE_INTERVAL);
    assert!(drain(&mut s).is_empty(), "not at the usual tick");
    assert_eq!(s.poll_timeout(), Some(now + WITHHELD_INTERVAL));
    for _ in 0..3 {
        now += WITHHELD_INTERVAL;
        s.handle_timeout(now);
        assert_eq!(drain(&mut s), [grab(true)]);
        withheld(&mut s, now);
        assert!(drain(&mut s).is_empty(), "said once, not every tick");
    }
    // The viewer asks for a whole frame meanwhile: looked at at once,
    // still nothing to send.
    s.handle(now, Event::Viewer(ViewerMsg::RequestFull));
    assert_eq!(drain(&mut s), [grab(true)]);
    withheld(&mut s, now);
    assert!(drain(&mut s).is_empty());
    now += WITHHELD_INTERVAL;
    s.handle_timeout(now);
    assert_eq!(drain(&mut s), [grab(true)]);
    let whole = shown(&mut s, now, 2, true);
    assert_eq!(
        drain(&mut s),
        [told(None), Action::Send(HostMsg::Frame(whole))],
        "the end, then the whole screen"
    );
    s.handle(now, Event::Viewer(ViewerMsg::Ack { seq: 2 }));
    now += CAPTURE_INTERVAL;
    s.handle_timeout(now);
    assert_eq!(drain(&mut s), [grab(false)], "back to the usual");
}

#[test]
fn before_the_first_picture_too() {
    let now = t0();
    let mut s = sharing(Mode::View, now);
    withheld(&mut s, now);
    assert_eq!(drain(&mut s), [told(Some(WHY))]);
    s.handle_timeout(now + WITHHELD_INTERVAL);
    assert_eq!(drain(&mut s), [grab(true)]);
    let whole = shown(&mut s, now + WITHHELD_INTERVAL, 1, true);
    assert_eq!(
        drain(&mut s),
        [told(None), Action::Send(HostMsg::Frame(whole))]
    );
}

#[test]
fn an_end_that_is_not_whole_is_followed_by_a_whole_frame() {
    // A capture that did not follow the request for a whole frame: what
    // it has still goes (the encoder's delta is right), and the next
    // capture is whole.
    let now = t0();
    let mut s = settled(Mode::View, now);
    s.handle(now, Event::Drawn);
    drain(&mut s);
    withheld(&mut s, now);
    drain(&mut s);
    s.handle(now, Event::Drawn);
    drain(&mut s);
    let delta = shown(&mut s, now, 2, false);
    assert_eq!(
        drain(&mut s),
        [told(None), Action::Send(HostMsg::Frame(delta))]
    );
    s.handle(now, Event::Drawn);
    assert_eq!(drain(&mut s), [grab(true)]);
}

#[test]
fn input_is_dropped_while_it_lasts() {
    let now = t0();
    let mut s = settled(Mode::Control, now);
    s.handle(now, Event::Drawn);
    drain(&mut s);
    withheld(&mut s, now);
    drain(&mut s);
    s.handle(now, Event::Viewer(key(Key::Char('p'))));
    let acts = drain(&mut s);
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Apply(_))),
        "{acts:?}"
    );
    assert_eq!(s.stats().inputs_dropped, 1);
    s.handle_timeout(now + WITHHELD_INTERVAL);
    drain(&mut s);
    shown(&mut s, now + WITHHELD_INTERVAL, 2, true);
    drain(&mut s);
    s.handle(now, Event::Viewer(key(Key::Char('q'))));
    assert!(
        drain(&mut s).iter().any(|a| matches!(a, Action::Apply(_))),
        "applied again once shown"
    );
    assert_eq!(s.stats().inputs_applied, 1);
}

#[test]
fn a_resumed_link_hears_it_again_while_it_lasts() {
    let now = t0();
    let mut s = settled(Mode::View, now);
    s.handle(now, Event::Drawn);
    drain(&mut s);
    withheld(&mut s, now);
    assert_eq!(drain(&mut s), [told(Some(WHY))]);
    // The news may have been lost with the link: said again on resuming.
    s.handle(now, Event::Interrupted);
    s.handle(now, Event::Resumed);
    assert_eq!(drain(&mut s), [told(Some(WHY)), grab(true)]);
    withheld(&mut s, now);
    assert!(drain(&mut s).is_empty(), "once after the resume too");
    // It ends while the link is lost: nothing is sent until it is back,
    // then the end and a whole frame.
    s.handle_timeout(now + WITHHELD_INTERVAL);
    assert_eq!(drain(&mut s), [grab(true)]);
    s.handle(now, Event::Interrupted);
    shown(&mut s, now + WITHHELD_INTERVAL, 2, true);
    assert!(drain(&mut s).is_empty(), "nowhere to send it");
    s.handle(now, Event::Resumed);
    assert_eq!(drain(&mut s), [told(Some(WHY)), grab(true)]);
    let whole = shown(&mut s, now + WITHHELD_INTERVAL, 3, true);
    assert_eq!(
        drain(&mut s),
        [told(None), Action::Send(HostMsg::Frame(whole))]
    );
}

#[test]
fn one_that_starts_while_the_link_is_lost_is_said_once_back() {
    let now = t0();
    let mut s = settled(Mode::View, now);
    s.handle(now, Event::Drawn);
    drain(&mut s);
    s.handle(now, Event::Interrupted);
    withheld(&mut s, now);
    assert!(drain(&mut s).is_empty(), "nowhere to send it");
    s.handle(now, Event::Resumed);
    assert_eq!(drain(&mut s), [grab(true)], "the viewer was never told");
    withheld(&mut s, now);
    assert_eq!(drain(&mut s), [told(Some(WHY))]);
}

/// The parts the user hides are told before the frame that has them
/// blank, and not while the link is lost (the whole frame after the
/// resume tells them again, from the capture).
#[test]
fn hidden_parts_are_told_before_their_frame() {
    use lifeline_session::messages::HiddenBox;
    let mut now = t0();
    let mut s = settled(Mode::Control, now);
    now += CAPTURE_INTERVAL;
    s.handle_timeout(now);
    assert_eq!(drain(&mut s), [grab(false)]);
    let boxes = vec![HiddenBox {
        x: 1,
        y: 2,
        width: 3,
        height: 4,
    }];
    let grabbed = |seq| Event::Grabbed {
        update: Some(update(seq)),
        pointer: None,
        refinement: false,
        view: None,
        withheld: None,
        hidden: Some(boxes.clone()),
    };
    s.handle(now, grabbed(2));
    assert_eq!(
        drain(&mut s),
        [
            Action::Send(HostMsg::Hidden(boxes.clone())),
            Action::Send(HostMsg::Frame(update(2)))
        ]
    );
    s.handle(now, Event::Interrupted);
    drain(&mut s);
    s.handle(now, grabbed(3));
    assert!(
        !drain(&mut s)
            .iter()
            .any(|a| matches!(a, Action::Send(HostMsg::Hidden(_)))),
        "nothing sent while the link is lost"
    );
}
