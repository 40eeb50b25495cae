//! The window's states driven with egui_kittest: what each shows (found by
//! the accessibility tree, as a screen reader would) and what each button,
//! and the keyboard alone, does.

use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use lifeline_proto::control::Mode;
use lifeline_session::files::Progress;

use super::*;

struct State {
    w: HostWindow,
    acts: Vec<Act>,
    now: Instant,
}

fn harness(notices: Vec<Notice>) -> Harness<'static, State> {
    let now = Instant::now();
    let mut w = HostWindow::new();
    for n in notices {
        w.apply(n, now);
    }
    let mut h = Harness::new_ui_state(
        |ui, s: &mut State| {
            let a = s.w.show(ui, s.now);
            s.acts.extend(a);
        },
        State {
            w,
            acts: Vec::new(),
            now,
        },
    );
    h.run();
    h
}

fn code() -> Notice {
    Notice::Code {
        code: "123-456-789-012".into(),
        expires_in_s: 600,
    }
}

fn asked() -> Vec<Notice> {
    vec![
        code(),
        Notice::Ask {
            technician: "tess".into(),
            reason: None,
        },
    ]
}

fn sharing(mode: Mode) -> Vec<Notice> {
    vec![
        code(),
        Notice::Joined {
            technician: "tess".into(),
            mode,
        },
    ]
}

#[test]
fn the_code_is_shown_large_grouped_with_copy_and_time_left() {
    let mut h = harness(vec![code()]);
    h.get_by_label("123 456 789 012");
    h.get_by_label("Expires in 10:00");
    h.get_by_label(&words::code_read_out(10));
    h.get_by_label(words::COPY).click();
    h.run();
    assert_eq!(h.state().acts, [Act::Copy("123-456-789-012".into())]);
    h.get_by_label(words::COPIED);
    h.state_mut().now += Duration::from_secs(61);
    h.run();
    h.get_by_label("Expires in 8:59");
    h.state_mut().acts.clear();
    h.get_by_label(words::CANCEL).click();
    h.run();
    assert_eq!(h.state().acts, [Act::Stop]);
}

#[test]
fn an_expired_code_is_renewed_with_one_click_and_a_wrong_one_is_said() {
    let mut h = harness(vec![code(), Notice::Expired]);
    h.get_by_label(words::EXPIRED);
    h.get_by_label(words::NEW_CODE).click();
    h.run();
    assert_eq!(h.state().acts, [Act::Say(Said::NewCode)]);
    let h = harness(vec![code(), Notice::WrongCode { left: 2 }, code()]);
    h.get_by_label(words::WRONG_CODE);
}

#[test]
fn after_a_wrong_code_no_code_shows_until_the_user_asks_for_one() {
    let mut h = harness(vec![code(), Notice::WrongCode { left: 1 }]);
    h.get_by_label(words::WRONG_CODE);
    h.get_by_label(&words::wrong_code_ask(1));
    assert!(
        h.query_by_label(&words::code_grouped("123-456-789-012"))
            .is_none(),
        "the dead code is not shown"
    );
    h.get_by_label(words::NEW_CODE).click();
    h.run();
    assert_eq!(h.state().acts, [Act::Say(Said::NewCode)]);
}

#[test]
fn the_question_shows_the_technicians_reason() {
    let reason = "INC-4821, printer not found";
    let h = harness(vec![
        code(),
        Notice::Ask {
            technician: "tess".into(),
            reason: Some(reason.into()),
        },
    ]);
    let asked = words::asking("tess", Some(reason));
    assert!(
        asked.starts_with("tess ") && asked.ends_with(reason),
        "{asked}"
    );
    h.get_by_label(&asked);
}

#[test]
fn the_question_names_the_technician_and_says_what_each_answer_means() {
    let mut h = harness(asked());
    h.get_by_label(&words::asking("tess", None));
    for meaning in [
        words::ALLOW_VIEW_MEANS,
        words::ALLOW_CONTROL_MEANS,
        words::REFUSE_MEANS,
    ] {
        h.get_by_label(meaning);
    }
    h.get_by_label(words::ALLOW_CONTROL).click();
    h.run();
    assert_eq!(
        h.state().acts,
        [Act::Say(Said::Answer(Answer::Allow(Mode::Control)))]
    );
}

#[test]
fn the_keyboard_alone_answers() {
    // Focus starts on "See only": Enter there allows viewing only.
    let mut h = harness(asked());
    h.run();
    h.key_press(egui::Key::Enter);
    h.run();
    assert_eq!(
        h.state().acts,
        [Act::Say(Said::Answer(Answer::Allow(Mode::View)))]
    );
    // Tab to "See and control", Enter.
    let mut h = harness(asked());
    h.run();
    h.key_press(egui::Key::Tab);
    h.run();
    h.key_press(egui::Key::Enter);
    h.run();
    assert_eq!(
        h.state().acts,
        [Act::Say(Said::Answer(Answer::Allow(Mode::Control)))]
    );
    // Escape refuses.
    let mut h = harness(asked());
    h.key_press(egui::Key::Escape);
    h.run();
    assert_eq!(h.state().acts, [Act::Say(Said::Answer(Answer::Refuse))]);
}

#[test]
fn sharing_shows_a_banner_with_stop_and_view_only() {
    let mut h = harness(sharing(Mode::Control));
    h.get_by_label("Sharing with tess (control)");
    h.get_by_label(words::SWITCH_TO_VIEW).click();
    h.run();
    h.get_by_label(words::STOP_SHARING).click();
    h.run();
    assert_eq!(h.state().acts, [Act::Say(Said::ViewOnly), Act::Stop]);
    let h = harness(sharing(Mode::View));
    h.get_by_label("Sharing with tess (see only)");
    assert!(
        h.query_by_label(words::SWITCH_TO_VIEW).is_none(),
        "already view only"
    );
}

#[test]
fn joining_keeps_the_window_on_top_and_ending_lets_it_go() {
    let now = Instant::now();
    let mut w = HostWindow::new();
    let [code, joined] = <[Notice; 2]>::try_from(sharing(Mode::View)).unwrap();
    assert_eq!(w.apply(code, now), None);
    assert_eq!(w.apply(joined, now), Some(Act::OnTop(true)));
    let end = Notice::Ended {
        reason: "ended by the user".into(),
    };
    assert_eq!(w.apply(end, now), Some(Act::OnTop(false)));
}

#[test]
fn chat_transfers_and_the_fetch_question_while_sharing() {
    let mut notices = sharing(Mode::Control);
    notices.extend([
        Notice::Chat("Hello, I'll install it now".into()),
        Notice::Progress(Progress {
            to_host: true,
            name: "setup.exe".into(),
            bytes: 50,
            of: 100,
        }),
        Notice::Clipboard {
            to_host: true,
            bytes: 12,
        },
        Notice::AskFetch {
            path: "/home/u/log.txt".into(),
            bytes: 300,
        },
    ]);
    let mut h = harness(notices);
    h.get_by_label("Technician: Hello, I'll install it now");
    h.get_by_label(&words::progress(true, "setup.exe", 50, 100));
    h.get_by_label(&words::clipboard(true, 12));
    h.get_by_label(&words::ask_fetch("/home/u/log.txt", 300));
    h.get_by_label(words::ALLOW).click();
    h.run();
    h.get_by_label(words::STOP_TRANSFER).click();
    h.run();
    h.get_by_label(words::MESSAGE).click();
    h.run();
    h.get_by_label(words::MESSAGE).type_text("thanks");
    h.run();
    h.get_by_label(words::SEND).click();
    h.run();
    assert_eq!(
        h.state().acts,
        [
            Act::Say(Said::Fetch(true)),
            Act::Say(Said::CancelTransfers),
            Act::Say(Said::Chat("thanks".into())),
        ]
    );
    h.get_by_label("You: thanks");
    assert!(h.query_by_label(words::ALLOW).is_none(), "answered");
}

#[test]
fn the_continue_question_counts_down_and_the_fetch_is_denied_by_escape() {
    let mut notices = sharing(Mode::Control);
    notices.extend([
        Notice::AskContinue {
            minutes: 30,
            within_s: 60,
        },
        Notice::AskFetch {
            path: "/etc/shadow".into(),
            bytes: 1,
        },
    ]);
    let mut h = harness(notices);
    h.get_by_label(&words::ask_continue(30, 60));
    h.state_mut().now += Duration::from_secs(20);
    h.run();
    h.get_by_label(&words::ask_continue(30, 40));
    h.key_press(egui::Key::Escape);
    h.run();
    h.get_by_label(words::CONTINUE).click();
    h.run();
    assert_eq!(
        h.state().acts,
        [Act::Say(Said::Fetch(false)), Act::Say(Said::Continue(true))]
    );
}

#[test]
fn the_end_says_why_and_closes_by_keyboard() {
    let mut notices = sharing(Mode::Control);
    notices.push(Notice::Ended {
        reason: "ended by the technician".into(),
    });
    let mut h = harness(notices);
    h.get_by_label(&words::ended("ended by the technician"));
    let failed = harness(vec![Notice::Failed {
        reason: "no relay given".into(),
    }]);
    failed.get_by_label(&words::failed("no relay given"));
    h.run();
    h.key_press(egui::Key::Enter);
    h.run();
    assert_eq!(h.state().acts, [Act::Close]);
}

#[test]
fn a_recorded_session_says_so_with_the_question_and_while_sharing() {
    let line = words::recorded(&["alice".into()], false);
    let mut h = harness(vec![
        Notice::Recorded(line.clone()),
        Notice::Ask {
            technician: "wendy".into(),
            reason: None,
        },
    ]);
    assert!(h.query_by_label(&line).is_some(), "shown with the question");
    let now = h.state().now;
    h.state_mut().w.apply(
        Notice::Joined {
            technician: "wendy".into(),
            mode: Mode::View,
        },
        now,
    );
    h.run();
    assert!(h.query_by_label(&line).is_some(), "shown while sharing");
    assert!(line.contains("alice") && line.contains("not what is typed"));
}

mod hide;
