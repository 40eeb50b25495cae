//! What the user says, and what it means (pure): a line typed at the
//! terminal means something different in each state (the answer to the
//! consent question, a yes or no to a fetch or to going on, a cancel, or a
//! message for the technician), and the window's buttons say the same
//! things directly. The driver carries out the [`Heard`] it is given; every
//! decision is here, tested with plain calls.

use lifeline_proto::control::Mode;

use crate::session::{Answer, Event};

/// The line that cancels the transfers under way (anything else typed
/// while sharing is a message for the technician).
pub const CANCEL_LINE: &str = "/cancel";

/// What the user said: a line at the terminal (its meaning depends on the
/// question open), or a press of one of the window's buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    Line(String),
    Answer(Answer),
    /// May the technician have the file asked for?
    Fetch(bool),
    Chat(String),
    CancelTransfers,
    NewCode,
    /// From control down to see-only.
    ViewOnly,
    /// Go on sharing (or not) after the technician has had control a while.
    Continue(bool),
}

/// Reads an answer: `v`/`view`, `c`/`control`, `r`/`refuse`/`n`/`no`.
pub fn parse_answer(line: &str) -> Option<Answer> {
    match line.trim().to_ascii_lowercase().as_str() {
        "v" | "view" | "view only" => Some(Answer::Allow(Mode::View)),
        "c" | "control" => Some(Answer::Allow(Mode::Control)),
        "r" | "refuse" | "n" | "no" => Some(Answer::Refuse),
        _ => None,
    }
}

/// Reads a yes or no (`y`, `yes`, `n`, `no`); anything else is no answer.
pub fn parse_yes(line: &str) -> Option<bool> {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(true),
        "n" | "no" => Some(false),
        _ => None,
    }
}

/// The questions open while a session runs. A typed line answers the most
/// pressing one: a fetch, then going on, then consent; with none open it
/// is a cancel or a message for the technician.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Open {
    /// The consent question (the user has not answered yet).
    pub consent: bool,
    /// Whether the technician may fetch a file.
    pub fetch: bool,
    /// Whether to go on after a long stretch of control.
    pub go_on: bool,
}

/// What the driver does with what the user said.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// Hand this to the session (boxed: a capture's event is large).
    Session(Box<Event>),
    /// The continue question is answered (and closed): hand the session
    /// [`Event::Continue`].
    Continue(bool),
    /// The fetch question's answer (a no when none is open is nothing).
    Fetch(bool),
    /// Cancel the transfers under way.
    CancelTransfers,
    /// A line that answers the open question with nothing it knows: the
    /// question is asked again.
    AskAgain,
    /// Nothing to do (a press that answers no open question).
    Nothing,
    /// The user's input closed: nobody can answer any more, so every open
    /// question is a no (`refuse`: the consent question was open).
    Closed { refuse: bool },
}

/// What a typed line means now; `None` for a line that answers the open
/// question with nothing it knows.
pub fn read_line(open: Open, line: &str) -> Option<Said> {
    if open.fetch {
        // Anything but a yes keeps the file here.
        return Some(Said::Fetch(parse_yes(line) == Some(true)));
    }
    if open.go_on {
        return parse_yes(line).map(Said::Continue);
    }
    if open.consent {
        return parse_answer(line).map(Said::Answer);
    }
    if line.trim() == CANCEL_LINE {
        return Some(Said::CancelTransfers);
    }
    // While sharing, a line is a message for the technician.
    Some(Said::Chat(line.to_owned()))
}

/// What the user said (`None`: their input closed) means, with `open`.
pub fn heard(open: Open, said: Option<Said>) -> Heard {
    let Some(said) = said else {
        return Heard::Closed {
            refuse: open.consent,
        };
    };
    let said = match said {
        Said::Line(l) => match read_line(open, &l) {
            Some(s) => s,
            None => return Heard::AskAgain,
        },
        other => other,
    };
    match said {
        Said::Answer(a) if open.consent => Heard::Session(Box::new(Event::Answer(a))),
        Said::Fetch(yes) => Heard::Fetch(yes),
        Said::Continue(go_on) => Heard::Continue(go_on),
        Said::CancelTransfers => Heard::CancelTransfers,
        Said::ViewOnly => Heard::Session(Box::new(Event::ViewOnly)),
        Said::Chat(text) => Heard::Session(Box::new(Event::UserChat(text))),
        Said::Answer(_) | Said::NewCode | Said::Line(_) => Heard::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSENT: Open = Open {
        consent: true,
        fetch: false,
        go_on: false,
    };
    const FETCH: Open = Open {
        consent: false,
        fetch: true,
        go_on: false,
    };
    const GO_ON: Open = Open {
        consent: false,
        fetch: false,
        go_on: true,
    };
    const SHARING: Open = Open {
        consent: false,
        fetch: false,
        go_on: false,
    };

    fn line(open: Open, text: &str) -> Heard {
        heard(open, Some(Said::Line(text.into())))
    }

    fn event(e: Event) -> Heard {
        Heard::Session(Box::new(e))
    }

    #[test]
    fn answers() {
        assert_eq!(parse_answer(" V\n"), Some(Answer::Allow(Mode::View)));
        assert_eq!(parse_answer("view only"), Some(Answer::Allow(Mode::View)));
        assert_eq!(parse_answer("control"), Some(Answer::Allow(Mode::Control)));
        assert_eq!(parse_answer("C"), Some(Answer::Allow(Mode::Control)));
        assert_eq!(parse_answer("no"), Some(Answer::Refuse));
        assert_eq!(parse_answer("r"), Some(Answer::Refuse));
        assert_eq!(parse_answer("yes"), None);
        assert_eq!(parse_answer(""), None);
        assert_eq!(parse_yes(" Y "), Some(true));
        assert_eq!(parse_yes("no"), Some(false));
        assert_eq!(parse_yes("maybe"), None);
    }

    #[test]
    fn a_line_answers_the_consent_question_or_asks_again() {
        let allow = |m| event(Event::Answer(Answer::Allow(m)));
        assert_eq!(line(CONSENT, "v"), allow(Mode::View));
        assert_eq!(line(CONSENT, " Control "), allow(Mode::Control));
        assert_eq!(
            line(CONSENT, "refuse"),
            event(Event::Answer(Answer::Refuse))
        );
        assert_eq!(line(CONSENT, "n"), event(Event::Answer(Answer::Refuse)));
        for junk in ["", "yes", "maybe", "/cancel", "\u{1b}[2J"] {
            assert_eq!(line(CONSENT, junk), Heard::AskAgain, "{junk:?}");
        }
    }

    #[test]
    fn a_line_answers_a_fetch_and_only_yes_lets_the_file_go() {
        assert_eq!(line(FETCH, "y"), Heard::Fetch(true));
        assert_eq!(line(FETCH, " YES"), Heard::Fetch(true));
        for other in ["n", "no", "", "maybe", "/cancel", "c"] {
            assert_eq!(line(FETCH, other), Heard::Fetch(false), "{other:?}");
        }
        // A fetch is the most pressing question.
        let all = Open {
            consent: true,
            fetch: true,
            go_on: true,
        };
        assert_eq!(line(all, "yes"), Heard::Fetch(true));
    }

    #[test]
    fn a_line_answers_whether_to_go_on_or_asks_again() {
        assert_eq!(line(GO_ON, "yes"), Heard::Continue(true));
        assert_eq!(line(GO_ON, "N"), Heard::Continue(false));
        for junk in ["", "v", "maybe", "/cancel"] {
            assert_eq!(line(GO_ON, junk), Heard::AskAgain, "{junk:?}");
        }
        let both = Open {
            consent: true,
            fetch: false,
            go_on: true,
        };
        assert_eq!(line(both, "no"), Heard::Continue(false));
    }

    #[test]
    fn while_sharing_a_line_is_a_cancel_or_a_message() {
        assert_eq!(line(SHARING, " /cancel "), Heard::CancelTransfers);
        assert_eq!(
            line(SHARING, "thanks!"),
            event(Event::UserChat("thanks!".into()))
        );
        // Answers mean nothing now: they are words for the technician.
        assert_eq!(line(SHARING, "v"), event(Event::UserChat("v".into())));
        assert_eq!(line(SHARING, ""), event(Event::UserChat(String::new())));
    }

    #[test]
    fn the_windows_buttons_say_the_same_things() {
        let refuse = Said::Answer(Answer::Refuse);
        assert_eq!(
            heard(CONSENT, Some(refuse.clone())),
            event(Event::Answer(Answer::Refuse))
        );
        assert_eq!(heard(SHARING, Some(refuse)), Heard::Nothing, "no question");
        assert_eq!(heard(SHARING, Some(Said::Fetch(true))), Heard::Fetch(true));
        assert_eq!(heard(FETCH, Some(Said::Fetch(false))), Heard::Fetch(false));
        assert_eq!(
            heard(GO_ON, Some(Said::Continue(true))),
            Heard::Continue(true)
        );
        assert_eq!(heard(SHARING, Some(Said::ViewOnly)), event(Event::ViewOnly));
        assert_eq!(
            heard(SHARING, Some(Said::CancelTransfers)),
            Heard::CancelTransfers
        );
        assert_eq!(
            heard(SHARING, Some(Said::Chat("hi".into()))),
            event(Event::UserChat("hi".into()))
        );
        for open in [CONSENT, FETCH, GO_ON, SHARING] {
            assert_eq!(heard(open, Some(Said::NewCode)), Heard::Nothing);
        }
    }

    #[test]
    fn closed_input_is_a_no_to_every_open_question() {
        assert_eq!(heard(CONSENT, None), Heard::Closed { refuse: true });
        for open in [FETCH, GO_ON, SHARING] {
            assert_eq!(heard(open, None), Heard::Closed { refuse: false });
        }
    }
}
