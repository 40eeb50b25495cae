//! A lost link pauses the session (nothing is captured or sent, and an
//! answer given meanwhile waits); a resumed one goes on where it was, with
//! a whole frame, since what was in flight is gone.

use std::time::Instant;

use lifeline_session::messages::HostMsg;

use super::viewer::monitors_msg;
use super::{Action, Answer, HostSession, State};
use crate::rate::RateEstimator;

impl HostSession {
    /// The link was lost: see [`super::Event::Interrupted`].
    pub(super) fn interrupted(&mut self) {
        self.interrupted = true;
    }

    /// The user answered while the link was lost: the relay cannot hear
    /// it yet, so it counts once resumed.
    pub(super) fn hold_answer(&mut self, answer: Answer) {
        self.held_answer = Some(answer);
    }

    /// The session continues on a new link.
    pub(super) fn resumed(&mut self, now: Instant) {
        if !std::mem::take(&mut self.interrupted) {
            return;
        }
        if let Some(a) = self.held_answer.take() {
            self.answer(a, now);
        }
        if let State::Sharing(sh) = &mut self.state {
            // Updates in flight were lost with the link: none is awaited,
            // the link is measured afresh, and the viewer gets a whole frame.
            sh.forget_in_flight();
            let withheld = sh.withheld;
            // What is shown may have been told on the lost link.
            if let Some(v) = &sh.view {
                let told = monitors_msg(v);
                self.push(Action::Send(told));
            }
            // So may the screen's being withheld (its end needs no
            // repeating: the whole frame that comes says it).
            if let Some(why) = withheld {
                self.push(Action::Send(HostMsg::Withheld(Some(why))));
            }
            self.link = RateEstimator::new();
            self.grab(now);
        }
    }
}
