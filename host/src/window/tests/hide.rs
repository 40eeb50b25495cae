//! The "Hide windows" list: offered only where windows can be hidden,
//! opened beside the code, the question and the banner, listing the open
//! windows, and saying each tick as [`Act::Hide`].

use super::*;
use crate::hidden::Listed;

fn listed() -> Vec<Listed> {
    vec![
        Listed {
            id: 7,
            title: "Passwords - KeePassXC".into(),
            private: false,
        },
        Listed {
            id: 9,
            title: "Bank statement".into(),
            private: true,
        },
    ]
}

fn with_list(notices: Vec<Notice>) -> Harness<'static, State> {
    let mut h = harness(notices);
    h.state_mut().w.hidable = Some(listed());
    h.run();
    h
}

#[test]
fn the_list_opens_from_the_code_and_each_tick_is_said() {
    let mut h = with_list(vec![code()]);
    assert!(
        h.query_by_label(words::HIDE_HEADING).is_none(),
        "closed at first"
    );
    let button = format!("{} ({})", words::HIDE_BUTTON, words::hiding_count(1));
    h.get_by_label(&button).click();
    h.run();
    assert!(h.state().w.hide_open);
    assert!(
        h.query_by_label(words::HIDE_HEADING).is_none(),
        "not drawn until this window is hidden too"
    );
    h.state_mut().w.hide_ready = true;
    h.run();
    h.get_by_label(words::HIDE_HEADING);
    h.get_by_label("Passwords - KeePassXC").click();
    h.run();
    h.get_by_label("Bank statement").click();
    h.run();
    assert_eq!(
        h.state().acts,
        [
            Act::Hide {
                id: 7,
                private: true
            },
            Act::Hide {
                id: 9,
                private: false
            }
        ]
    );
}

#[test]
fn the_question_and_the_banner_offer_it_too() {
    for notices in [asked(), sharing(Mode::Control)] {
        let mut h = with_list(notices);
        h.state_mut().w.hide_open = true;
        h.state_mut().w.hide_ready = true;
        h.run();
        h.get_by_label(words::HIDE_HINT);
        h.get_by_label("Passwords - KeePassXC");
    }
}

#[test]
fn where_windows_cannot_be_hidden_nothing_is_offered() {
    for notices in [vec![code()], asked(), sharing(Mode::View)] {
        let h = harness(notices);
        assert!(h.query_by_label_contains(words::HIDE_BUTTON).is_none());
    }
}
