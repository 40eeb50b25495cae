//! The session's rules, each tested with plain calls and made-up times.

use std::time::{Duration, Instant};

use lifeline_proto::control::{Mode, SessionReport, Transfer};
use lifeline_session::messages::{
    HostMsg, InputEvent, Key, MAX_CLIPBOARD, Quality, Showing, ViewerMsg,
};
use lifeline_session::screen::{FrameUpdate, Picture, Tuning};

use super::*;
use crate::view::ViewReport;
use crate::words;

fn t0() -> Instant {
    Instant::now()
}

/// The actions so far; a capture's tuning is checked apart, so it is
/// blanked here.
fn drain(s: &mut HostSession) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action())
        .map(|a| match a {
            Action::Grab { full, .. } => grab(full),
            other => other,
        })
        .collect()
}

fn grab(full: bool) -> Action {
    Action::Grab {
        full,
        tuning: Tuning::default(),
    }
}

/// Update `seq`, of 64 kB: more than is small in flight on an unmeasured
/// link, so two are the most unacknowledged.
fn update(seq: u64) -> FrameUpdate {
    sized(seq, 64 * 1024)
}

/// Update `seq` of `bytes` of payload.
fn sized(seq: u64, bytes: usize) -> FrameUpdate {
    FrameUpdate {
        seq,
        width: 64,
        height: 64,
        full: seq == 1,
        copies: vec![],
        pictures: vec![Picture {
            x: 0,
            y: 0,
            w: 64,
            h: 64,
            jpeg: vec![0; bytes],
        }],
        tiles: vec![],
        photos: vec![],
        video: vec![],
    }
}

fn sharing(mode: Mode, now: Instant) -> HostSession {
    let mut s = HostSession::new("bob", Some(mode), now);
    let first = drain(&mut s);
    assert_eq!(first.last(), Some(&grab(true)));
    s
}

/// The capture under way came back with update `seq`.
fn frame(s: &mut HostSession, at: Instant, seq: u64) {
    s.handle(
        at,
        Event::Grabbed {
            update: Some(update(seq)),
            pointer: None,
            refinement: false,
            view: None,
            withheld: None,
            hidden: None,
        },
    );
}

fn key(k: Key) -> ViewerMsg {
    ViewerMsg::Input(InputEvent::Key { key: k, down: true })
}

#[test]
fn view_only_never_hands_input_to_the_desktop() {
    let now = t0();
    let mut s = sharing(Mode::View, now);
    for msg in [
        key(Key::Char('a')),
        ViewerMsg::Input(InputEvent::Move { x: 1, y: 1 }),
        ViewerMsg::Input(InputEvent::Text("rm -rf ~".into())),
    ] {
        s.handle(now, Event::Viewer(msg));
    }
    let actions = drain(&mut s);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Apply(_))),
        "{actions:?}"
    );
    assert_eq!(s.stats().inputs_dropped, 3);
    assert_eq!(s.stats().inputs_applied, 0);
}

#[test]
fn control_applies_input_in_order_and_refuses_unknown_keys() {
    let now = t0();
    let mut s = sharing(Mode::Control, now);
    s.handle(now, Event::Viewer(key(Key::Char('a'))));
    s.handle(now, Event::Viewer(key(Key::F(0))));
    s.handle(now, Event::Viewer(key(Key::F(25))));
    s.handle(now, Event::Viewer(key(Key::F(24))));
    let applied: Vec<_> = drain(&mut s)
        .into_iter()
        .filter_map(|a| match a {
            Action::Apply(InputEvent::Key { key, .. }) => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(applied, [Key::Char('a'), Key::F(24)]);
    assert_eq!(s.stats().inputs_refused, 2);
}

#[test]
fn consent_comes_first_and_refusal_is_reported() {
    let now = t0();
    let mut s = HostSession::new("bob", None, now);
    assert_eq!(
        drain(&mut s),
        [Action::Ask {
            technician: "bob".into()
        }]
    );
    assert_eq!(s.poll_timeout(), Some(now + ANSWER_TIMEOUT));
    s.handle(now, Event::Answer(Answer::Refuse));
    assert_eq!(
        drain(&mut s),
        [
            Action::Report(SessionReport::Refused),
            Action::End(Ending::Refused {
                reason: "refused by the user".into()
            })
        ]
    );
    assert!(s.is_ended());
}

#[test]
fn a_viewer_speaking_before_the_answer_ends_the_session() {
    let now = t0();
    let mut s = HostSession::new("bob", None, now);
    drain(&mut s);
    s.handle(now, Event::Viewer(key(Key::Return)));
    let actions = drain(&mut s);
    assert!(matches!(
        actions.as_slice(),
        [Action::End(Ending::Failed(_))]
    ));
}

#[test]
fn no_answer_in_time_is_a_refusal() {
    let now = t0();
    let mut s = HostSession::new("bob", None, now);
    drain(&mut s);
    s.handle_timeout(now + ANSWER_TIMEOUT - Duration::from_millis(1));
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(now + ANSWER_TIMEOUT);
    let actions = drain(&mut s);
    assert_eq!(actions[0], Action::Report(SessionReport::Refused));
    assert!(
        matches!(&actions[1], Action::End(Ending::Refused { reason }) if reason.contains("did not answer"))
    );
}

#[test]
fn allowing_sends_the_mode_first_then_a_whole_frame() {
    let now = t0();
    let mut s = HostSession::new("bob", None, now);
    drain(&mut s);
    s.handle(now, Event::Answer(Answer::Allow(Mode::Control)));
    assert_eq!(
        drain(&mut s),
        [
            Action::Report(SessionReport::ModeGranted(Mode::Control)),
            Action::Send(HostMsg::Mode(Mode::Control)),
            Action::Sharing {
                technician: "bob".into(),
                mode: Mode::Control
            },
            Action::ResetCapture,
            grab(true),
        ]
    );
    assert_eq!(s.mode(), Some(Mode::Control));
}

#[test]
fn at_most_two_updates_are_unacknowledged() {
    let now = t0();
    let mut s = sharing(Mode::View, now);
    let tick = |n: u32| now + CAPTURE_INTERVAL * n;
    frame(&mut s, now, 1);
    s.handle_timeout(tick(1));
    frame(&mut s, tick(1), 2);
    let sent: Vec<_> = drain(&mut s);
    assert_eq!(
        sent.iter()
            .filter(|a| matches!(a, Action::Send(HostMsg::Frame(_))))
            .count(),
        2
    );
    // Two in flight: neither the tick nor drawing starts a capture.
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(tick(5));
    s.handle(tick(5), Event::Drawn);
    assert!(drain(&mut s).is_empty());
    // An acknowledgement opens the window, and the overdue tick fires.
    s.handle(tick(6), Event::Viewer(ViewerMsg::Ack { seq: 1 }));
    assert_eq!(drain(&mut s), [grab(false)]);
    // Only one capture at a time.
    s.handle(tick(6), Event::Drawn);
    assert!(drain(&mut s).is_empty());
}

#[test]
fn small_updates_may_have_four_in_flight() {
    // A video's frames on a distant link: 2 kB each, unacknowledged for a
    // round trip. Four may be on the way, so a frame goes each capture.
    let mut now = t0();
    let mut s = sharing(Mode::View, now);
    // The first screen measures the link: 64 kB in 50 ms, 1.3 MB/s, so
    // up to 39 kB in flight is small.
    frame(&mut s, now, 1);
    now += Duration::from_millis(50);
    s.handle(now, Event::Viewer(ViewerMsg::Ack { seq: 1 }));
    drain(&mut s);
    let tick = |n: u32| now + CAPTURE_INTERVAL * n;
    let small = |s: &mut HostSession, at: Instant, seq: u64| {
        s.handle(
            at,
            Event::Grabbed {
                update: Some(sized(seq, 2048)),
                pointer: None,
                refinement: false,
                view: None,
                withheld: None,
                hidden: None,
            },
        );
    };
    small(&mut s, now, 2);
    for n in 1..4u32 {
        s.handle_timeout(tick(n));
        assert_eq!(drain(&mut s).last(), Some(&grab(false)), "capture {n}");
        small(&mut s, tick(n), u64::from(n) + 2);
    }
    // Four small ones in flight: no more.
    drain(&mut s);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(tick(5));
    assert!(drain(&mut s).is_empty());
}

#[test]
fn an_ack_for_an_update_never_sent_does_not_open_the_window() {
    let now = t0();
    let mut s = sharing(Mode::View, now);
    frame(&mut s, now, 1);
    // A second for 64 kB: a slow link, where two is the most in flight.
    let now = now + Duration::from_secs(1);
    s.handle(now, Event::Viewer(ViewerMsg::Ack { seq: u64::MAX }));
    s.handle(now, Event::Drawn);
    frame(&mut s, now, 2);
    s.handle(now, Event::Drawn);
    frame(&mut s, now, 3);
    drain(&mut s);
    // Ack 1 was the most a lying viewer could claim: 2 and 3 are in flight.
    s.handle(now + CAPTURE_INTERVAL, Event::Drawn);
    assert!(drain(&mut s).is_empty());
}

#[test]
fn a_whole_frame_request_is_honoured_on_the_next_capture() {
    let now = t0();
    let mut s = sharing(Mode::View, now);
    frame(&mut s, now, 1);
    s.handle(now, Event::Viewer(ViewerMsg::Ack { seq: 1 }));
    drain(&mut s);
    s.handle(now, Event::Viewer(ViewerMsg::RequestFull));
    assert_eq!(drain(&mut s), [grab(true)]);
    s.handle(
        now,
        Event::Grabbed {
            update: None,
            pointer: None,
            refinement: false,
            view: None,
            withheld: None,
            hidden: None,
        },
    );
    s.handle_timeout(now + CAPTURE_INTERVAL);
    assert_eq!(drain(&mut s), [grab(false)]);
}

#[test]
fn input_the_desktop_refuses_is_explained_and_the_session_goes_on() {
    let now = t0();
    let mut s = sharing(Mode::Control, now);
    s.handle(now, Event::InputRefused("not Ctrl+Alt+Del".into()));
    assert_eq!(
        drain(&mut s),
        [Action::Send(HostMsg::Refused("not Ctrl+Alt+Del".into()))]
    );
    // A drag into a blocked window: told once, not per event.
    for ms in [0, 10, 20] {
        s.handle(
            now + Duration::from_millis(ms),
            Event::InputRefused("blocked".into()),
        );
    }
    assert_eq!(drain(&mut s).len(), 1);
    s.handle(
        now + Duration::from_secs(6),
        Event::InputRefused("blocked".into()),
    );
    assert_eq!(drain(&mut s).len(), 1, "told again later");
    s.handle(now, Event::Viewer(key(Key::Return)));
    assert!(
        drain(&mut s).iter().any(|a| matches!(a, Action::Apply(_))),
        "still sharing"
    );
}

#[test]
fn the_pointer_travels_only_when_it_moves() {
    let now = t0();
    let mut s = sharing(Mode::View, now);
    for (i, p) in [Some((1, 2)), Some((1, 2)), None, Some((3, 4))]
        .into_iter()
        .enumerate()
    {
        let at = now + CAPTURE_INTERVAL * i as u32;
        s.handle_timeout(at);
        s.handle(
            at,
            Event::Grabbed {
                update: None,
                pointer: p,
                refinement: false,
                view: None,
                withheld: None,
                hidden: None,
            },
        );
    }
    let cursors: Vec<_> = drain(&mut s)
        .into_iter()
        .filter_map(|a| match a {
            Action::Send(HostMsg::Cursor { x, y }) => Some((x, y)),
            _ => None,
        })
        .collect();
    assert_eq!(cursors, [(1, 2), (3, 4)]);
}

#[test]
fn stop_flood_and_close_end_once_with_the_right_reason() {
    let now = t0();
    let mut s = sharing(Mode::Control, now);
    s.handle(now, Event::Stop);
    s.handle(now, Event::Closed("late".into()));
    assert_eq!(drain(&mut s), [Action::End(Ending::ByUser)]);
    assert!(Ending::ByUser.tell_relay());

    let mut s = sharing(Mode::Control, now);
    s.handle(now, Event::InputFlooded);
    let actions = drain(&mut s);
    assert!(
        matches!(actions.as_slice(), [Action::End(e)] if e.reason().contains("faster than")),
        "{actions:?}"
    );

    let mut s = sharing(Mode::Control, now);
    s.handle(now, Event::Closed("ended by the technician".into()));
    let end = Ending::Closed("ended by the technician".into());
    assert!(!end.tell_relay());
    assert_eq!(drain(&mut s), [Action::End(end)]);
    // Nothing happens after the end.
    s.handle(now, Event::Viewer(key(Key::Return)));
    s.handle_timeout(now + Duration::from_secs(1));
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.poll_timeout(), None);
}

/// The tunings of the captures the session asked for since last time.
fn tunings(s: &mut HostSession) -> Vec<Tuning> {
    std::iter::from_fn(|| s.poll_action())
        .filter_map(|a| match a {
            Action::Grab { tuning, .. } => Some(tuning),
            _ => None,
        })
        .collect()
}

#[test]
fn the_technicians_quality_and_a_busy_link_shape_each_capture() {
    let now = t0();
    let mut s = HostSession::new("bob", Some(Mode::View), now);
    s.handle(now, Event::PathRtt(Duration::from_millis(60)));
    assert!(tunings(&mut s)[0].jpeg_quality.is_some());
    frame(&mut s, now, 1);
    // Far away and one update in flight: no refinement now.
    s.handle(now, Event::Drawn);
    let t = tunings(&mut s);
    assert!(t[0].lossy_whole, "presumed slow: 60 ms away");
    assert_eq!(t[0].refine_piece, 0);
    s.handle(
        now,
        Event::Grabbed {
            update: None,
            pointer: None,
            refinement: false,
            view: None,
            withheld: None,
            hidden: None,
        },
    );
    s.handle(now, Event::Viewer(ViewerMsg::Quality(Quality::Exact)));
    s.handle(
        now + CAPTURE_INTERVAL,
        Event::Viewer(ViewerMsg::Ack { seq: 1 }),
    );
    let t = tunings(&mut s);
    assert_eq!(t[0].jpeg_quality, None, "exact asked for");
}

#[test]
fn a_viewer_without_video_gets_no_video() {
    let now = t0();
    let mut s = HostSession::new("bob", Some(Mode::View), now);
    assert!(tunings(&mut s)[0].video_bitrate > 0, "video by default");
    frame(&mut s, now, 1);
    s.handle(now, Event::Viewer(ViewerMsg::NoVideo));
    s.handle(
        now + CAPTURE_INTERVAL,
        Event::Viewer(ViewerMsg::Ack { seq: 1 }),
    );
    let t = tunings(&mut s);
    assert!(!t.is_empty());
    assert!(t.iter().all(|t| t.video_bitrate == 0), "NoVideo said");
}

#[test]
fn refinement_takes_two_slots_at_most_and_drawing_always_has_one() {
    let now = t0();
    let mut s = sharing(Mode::View, now);
    let tick = |n: u32| now + CAPTURE_INTERVAL * n;
    let refine = |s: &mut HostSession, at, seq| {
        s.handle(
            at,
            Event::Grabbed {
                update: Some(update(seq)),
                pointer: None,
                refinement: true,
                view: None,
                withheld: None,
                hidden: None,
            },
        );
    };
    let pieces = |s: &mut HostSession| -> Vec<usize> {
        std::iter::from_fn(|| s.poll_action())
            .filter_map(|a| match a {
                Action::Grab { tuning, .. } => Some(tuning.refine_piece),
                _ => None,
            })
            .collect()
    };
    refine(&mut s, now, 1);
    s.handle_timeout(tick(1));
    assert!(pieces(&mut s)[0] > 0, "a second piece may go");
    refine(&mut s, tick(1), 2);
    s.handle_timeout(tick(2));
    assert_eq!(pieces(&mut s), [0], "two pieces in flight: drawing only");
    // A keystroke's update takes the third slot.
    frame(&mut s, tick(2), 3);
    s.handle_timeout(tick(3));
    s.handle(tick(3), Event::Drawn);
    assert!(pieces(&mut s).is_empty(), "three in flight: nothing more");
    s.handle(tick(4), Event::Viewer(ViewerMsg::Ack { seq: 1 }));
    assert_eq!(pieces(&mut s), [0], "drawing in flight: no refinement");
    s.handle(
        tick(4),
        Event::Grabbed {
            update: None,
            pointer: None,
            refinement: false,
            view: None,
            withheld: None,
            hidden: None,
        },
    );
    s.handle(tick(5), Event::Viewer(ViewerMsg::Ack { seq: 3 }));
    assert!(
        pieces(&mut s)[0] > 0,
        "all acknowledged: refinement goes on"
    );
}

#[test]
fn stop_while_asking_refuses() {
    let now = t0();
    let mut s = HostSession::new("bob", None, now);
    drain(&mut s);
    s.handle(now, Event::Stop);
    assert_eq!(drain(&mut s)[0], Action::Report(SessionReport::Refused));
}

#[test]
fn a_lost_link_pauses_sharing_and_resuming_sends_a_whole_frame() {
    let now = t0();
    let mut s = sharing(Mode::Control, now);
    frame(&mut s, now, 1);
    drain(&mut s);
    // Two updates go out and are never acknowledged: the link dies.
    s.handle(now, Event::Drawn);
    frame(&mut s, now, 2);
    s.handle(now, Event::Interrupted);
    drain(&mut s);
    s.handle(now, Event::Drawn);
    s.handle_timeout(now + CAPTURE_INTERVAL);
    assert_eq!(s.poll_timeout(), None, "no capture tick while reconnecting");
    assert!(drain(&mut s).is_empty(), "nothing captured or sent");
    // A capture that was under way comes back: dropped, not sent.
    s.handle(
        now,
        Event::Grabbed {
            update: Some(update(3)),
            pointer: Some((1, 1)),
            refinement: false,
            view: None,
            withheld: None,
            hidden: None,
        },
    );
    assert!(drain(&mut s).is_empty());
    s.handle(now, Event::Resumed);
    assert_eq!(
        drain(&mut s),
        [grab(true)],
        "the lost updates are not waited for; the next one is whole"
    );
    assert_eq!(s.mode(), Some(Mode::Control), "consent still in force");
}

#[test]
fn an_answer_given_while_reconnecting_counts_once_resumed() {
    let now = t0();
    let mut s = HostSession::new("bob", None, now);
    drain(&mut s);
    s.handle(now, Event::Interrupted);
    s.handle(now, Event::Answer(Answer::Allow(Mode::View)));
    assert!(drain(&mut s).is_empty(), "the relay cannot hear it yet");
    s.handle(now, Event::Resumed);
    let acts = drain(&mut s);
    assert_eq!(
        acts[0],
        Action::Report(SessionReport::ModeGranted(Mode::View))
    );
    assert_eq!(s.mode(), Some(Mode::View));
}

#[test]
fn the_clipboard_moves_in_control_mode_only_and_is_audited_without_content() {
    let now = t0();
    let mut s = sharing(Mode::View, now);
    s.handle(now, Event::Viewer(ViewerMsg::ClipboardSet("secret".into())));
    s.handle(now, Event::Viewer(ViewerMsg::ClipboardGet));
    let refused = drain(&mut s);
    assert_eq!(refused.len(), 2);
    assert!(
        refused
            .iter()
            .all(|a| matches!(a, Action::Send(HostMsg::Refused(why)) if why.contains("view only")))
    );

    let mut s = sharing(Mode::Control, now);
    s.handle(now, Event::Viewer(ViewerMsg::ClipboardSet("héllo".into())));
    assert_eq!(drain(&mut s), [Action::SetClipboard("héllo".into())]);
    s.handle(now, Event::ClipboardSet(Ok(6)));
    let acts = drain(&mut s);
    assert_eq!(acts[0], Action::Send(HostMsg::ClipboardSet));
    assert!(matches!(
        &acts[1],
        Action::Report(SessionReport::Transfer(Transfer {
            to_host: true,
            bytes: 6,
            name: None,
            ..
        }))
    ));
    s.handle(now, Event::Viewer(ViewerMsg::ClipboardGet));
    assert_eq!(drain(&mut s), [Action::GetClipboard]);
    s.handle(now, Event::ClipboardGot(Err("empty".into())));
    assert_eq!(
        drain(&mut s),
        [Action::Send(HostMsg::Refused("empty".into()))]
    );
    let big = "x".repeat(MAX_CLIPBOARD + 1);
    s.handle(now, Event::ClipboardGot(Ok(big)));
    assert!(
        matches!(&drain(&mut s)[..], [Action::Send(HostMsg::Refused(why))] if why.contains("at most 1024 KiB"))
    );
}

#[test]
fn chat_goes_both_ways_as_plain_text() {
    let now = t0();
    let mut s = sharing(Mode::View, now);
    s.handle(
        now,
        Event::Viewer(ViewerMsg::Chat("hi\u{1b}[2J there".into())),
    );
    assert_eq!(drain(&mut s), [Action::Chat("hi[2J there".into())]);
    s.handle(now, Event::UserChat("  thanks ".into()));
    assert_eq!(
        drain(&mut s),
        [Action::Send(HostMsg::Chat("thanks".into()))]
    );
    s.handle(now, Event::UserChat("   ".into()));
    assert!(drain(&mut s).is_empty(), "an empty line is no message");
}

#[test]
fn monitors_are_told_before_their_frames_and_input_follows_the_shown_one() {
    use lifeline_session::messages::MonitorInfo;
    let now = t0();
    let mut s = sharing(Mode::Control, now);
    let monitors = vec![
        MonitorInfo {
            name: "A".into(),
            x: 0,
            y: 0,
            width: 64,
            height: 64,
            primary: true,
        },
        MonitorInfo {
            name: "B".into(),
            x: 64,
            y: 0,
            width: 32,
            height: 64,
            primary: false,
        },
    ];
    let report = |showing, origin| ViewReport {
        monitors: monitors.clone(),
        showing,
        origin,
    };
    s.handle(
        now,
        Event::Grabbed {
            update: Some(update(1)),
            pointer: None,
            refinement: false,
            view: Some(report(Showing::Primary, (0, 0))),
            withheld: None,
            hidden: None,
        },
    );
    let told = drain(&mut s);
    assert!(matches!(
        &told[..],
        [Action::Send(HostMsg::Monitors { monitors: m, showing: Showing::Primary }), Action::Send(HostMsg::Frame(_))] if m.len() == 2
    ));
    // A monitor that is not there is refused, and nothing changes.
    s.handle(now, Event::Viewer(ViewerMsg::Show(Showing::Monitor(2))));
    assert_eq!(
        drain(&mut s),
        [Action::Send(HostMsg::Refused(
            "there is no monitor 3: this computer has monitors 1 to 2".into()
        ))]
    );
    s.handle(now, Event::Viewer(ViewerMsg::Ack { seq: 1 }));
    drain(&mut s);
    s.handle(now, Event::Viewer(ViewerMsg::Show(Showing::Monitor(1))));
    assert_eq!(
        drain(&mut s),
        [Action::Show(Showing::Monitor(1)), grab(true)],
        "the switch comes with a whole frame"
    );
    s.handle(
        now,
        Event::Grabbed {
            update: Some(update(2)),
            pointer: Some((1, 2)),
            refinement: false,
            view: Some(report(Showing::Monitor(1), (64, 0))),
            withheld: None,
            hidden: None,
        },
    );
    assert!(matches!(
        &drain(&mut s)[..],
        [
            Action::Send(HostMsg::Monitors {
                showing: Showing::Monitor(1),
                ..
            }),
            Action::Send(HostMsg::Cursor { x: 1, y: 2 }),
            Action::Send(HostMsg::Frame(_))
        ]
    ));
    s.handle(
        now,
        Event::Viewer(ViewerMsg::Input(InputEvent::Move { x: 5, y: 6 })),
    );
    assert_eq!(
        drain(&mut s),
        [Action::Apply(InputEvent::Move { x: 69, y: 6 })]
    );
    // After a lost link the viewer is told again.
    s.handle(now, Event::Interrupted);
    s.handle(now, Event::Resumed);
    assert!(matches!(
        &drain(&mut s)[..],
        [
            Action::Send(HostMsg::Monitors {
                showing: Showing::Monitor(1),
                ..
            }),
            Action::Grab { full: true, .. }
        ]
    ));
}

#[test]
fn the_user_takes_control_back_and_input_stops() {
    let now = t0();
    let mut s = sharing(Mode::Control, now);
    s.handle(now, Event::ViewOnly);
    assert_eq!(
        drain(&mut s),
        [
            Action::Report(SessionReport::ModeGranted(Mode::View)),
            Action::Send(HostMsg::Mode(Mode::View)),
            Action::Sharing {
                technician: "bob".into(),
                mode: Mode::View
            },
        ]
    );
    s.handle(now, Event::Viewer(key(Key::Char('x'))));
    assert_eq!(drain(&mut s), []);
    assert_eq!(s.stats().inputs_dropped, 1);
    s.handle(now, Event::ViewOnly);
    assert_eq!(drain(&mut s), [], "already view only");
}

#[test]
fn a_long_stretch_of_control_asks_to_go_on_and_ends_unanswered() {
    let min = Duration::from_secs(60);
    let within = Duration::from_secs(5);
    let now = t0();
    let mut s = sharing(Mode::Control, now).confirm_every(min, within, now);
    assert!(s.poll_timeout().unwrap() <= now + min);
    s.handle_timeout(now + min);
    let asked: Vec<_> = drain(&mut s)
        .into_iter()
        .filter(|a| matches!(a, Action::AskContinue { .. }))
        .collect();
    assert_eq!(
        asked,
        [Action::AskContinue {
            minutes: 1,
            within_s: 5
        }]
    );
    // Yes: asked again a minute later.
    s.handle(now + min, Event::Continue(true));
    s.handle_timeout(now + 2 * min);
    assert!(
        drain(&mut s)
            .iter()
            .any(|a| matches!(a, Action::AskContinue { minutes: 2, .. }))
    );
    // No answer: the session ends.
    s.handle_timeout(now + 2 * min + within);
    assert!(drain(&mut s).contains(&Action::End(Ending::NotConfirmed)));
    assert!(s.is_ended());
    assert_eq!(Ending::NotConfirmed.reason(), words::NOT_CONFIRMED);
    // View only never asks.
    let mut v = sharing(Mode::View, now).confirm_every(min, within, now);
    v.handle_timeout(now + 2 * min);
    assert!(
        !drain(&mut v)
            .iter()
            .any(|a| matches!(a, Action::AskContinue { .. }))
    );
}

mod withheld;
