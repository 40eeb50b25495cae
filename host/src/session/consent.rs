//! The user's say over the session: the consent question (answered, or
//! unanswered in time), taking control back (view-only), and whether to go
//! on after a long stretch of control.

use std::time::Instant;

use lifeline_proto::control::{Mode, SessionReport};
use lifeline_session::messages::HostMsg;

use super::flow::Sharing;
use super::{Action, Answer, Ending, HostSession, State};
use crate::words;

impl HostSession {
    /// The consent question's answer; only the first one counts.
    pub(super) fn answer(&mut self, answer: Answer, now: Instant) {
        if !matches!(self.state, State::Asking { .. }) {
            return;
        }
        match answer {
            Answer::Refuse => {
                self.push(Action::Report(SessionReport::Refused));
                self.end(Ending::Refused {
                    reason: words::REFUSED_BY_USER.into(),
                });
            }
            Answer::Allow(mode) => {
                if mode == Mode::Control {
                    self.confirm.start(now);
                }
                self.push(Action::Report(SessionReport::ModeGranted(mode)));
                self.push(Action::Send(HostMsg::Mode(mode)));
                self.push(Action::Sharing {
                    technician: self.technician.clone(),
                    mode,
                });
                self.push(Action::ResetCapture);
                self.state = State::Sharing(Sharing::new(mode, now));
                self.grab(now);
            }
        }
    }

    /// The consent question went unanswered for its time
    /// ([`ANSWER_TIMEOUT`] unless set otherwise): a refusal.
    pub(super) fn unanswered(&mut self) {
        let reason = words::unanswered(self.answer_within);
        self.push(Action::Report(SessionReport::Refused));
        self.end(Ending::Refused { reason });
    }

    /// From control down to see-only, told to the viewer and the relay.
    pub(super) fn view_only(&mut self) {
        let State::Sharing(sh) = &mut self.state else {
            return;
        };
        if sh.mode != Mode::Control {
            return;
        }
        sh.mode = Mode::View;
        self.confirm.stop();
        self.push(Action::Report(SessionReport::ModeGranted(Mode::View)));
        self.push(Action::Send(HostMsg::Mode(Mode::View)));
        self.push(Action::Sharing {
            technician: self.technician.clone(),
            mode: Mode::View,
        });
    }

    /// The user answered whether to go on; no ends the session.
    pub(super) fn go_on(&mut self, go_on: bool, now: Instant) {
        if self.confirm.answer(now, go_on) && !go_on {
            self.end(Ending::ByUser);
        }
    }
}
