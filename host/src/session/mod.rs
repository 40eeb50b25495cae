//! One session, host side, as a sans-IO state machine: events in (the
//! user's answer, the viewer's messages, captures, time), actions out
//! (messages to send, reports for the audit log, captures to take, input
//! to apply, how it ended). It owns the consent question, view-only,
//! flow control and whole-frame requests; the async driver in
//! `crate::agent` only moves bytes and calls the platform.
//!
//! It starts once the viewer's key confirmation has opened (nothing is
//! sent or applied before), so every rule here is tested with plain calls
//! and made-up times: no sockets, no threads, no sleeps.
//!
//! - [`events`]: what goes in and out ([`Answer`], [`Event`], [`Action`],
//!   [`Ending`], [`SessionStats`]);
//! - `consent`: the consent question, view-only, the continue question;
//! - `flow`: flow control, the capture tick and whole-frame requests;
//! - `viewer`: what the viewer's messages do (input, clipboard, chat,
//!   monitors);
//! - `pause`: a lost link pauses the session, a resumed one goes on.
//!
//! The core imports no driver, user interface or platform module.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use lifeline_proto::control::{Mode, SessionReport, Transfer, TransferKind};
use lifeline_session::messages::{HostMsg, Quality};

use crate::confirm::{Confirm, Step};
use crate::rate::RateEstimator;

mod consent;
pub mod events;
mod flow;
mod pause;
#[cfg(test)]
mod tests;
mod viewer;

pub use events::{Action, Answer, Ending, Event, SessionStats};
pub use viewer::plain;

use flow::Sharing;

/// How often the screen is looked at (and the pointer followed) while the
/// viewer can take a frame; drawing reported by the screen source is
/// captured at once, without waiting for this.
pub const CAPTURE_INTERVAL: Duration = Duration::from_millis(16);

/// How long the user has to answer the consent question before it counts
/// as a refusal (the viewer gives up after the same time).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Asking { since: Instant },
    Sharing(Sharing),
    Ended,
}

/// The host's side of one session.
#[derive(Debug)]
pub struct HostSession {
    technician: String,
    state: State,
    actions: VecDeque<Action>,
    stats: SessionStats,
    quality: Quality,
    /// The viewer decodes no video ([`ViewerMsg::NoVideo`]).
    no_video: bool,
    link: RateEstimator,
    /// Reconnecting: see [`Event::Interrupted`].
    interrupted: bool,
    /// The user's answer given while reconnecting.
    held_answer: Option<Answer>,
    /// Whether to go on after a long stretch of control.
    confirm: Confirm,
    /// How long the consent question waits for an answer.
    answer_within: Duration,
    /// The last input refusal the technician was told, and when: the same
    /// one is not repeated for every event of a drag.
    refused: Option<(String, Instant)>,
}

/// The same input refusal is told again after this long.
const REFUSAL_REPEAT: Duration = Duration::from_secs(5);

impl HostSession {
    /// A session whose viewer has just proved it holds the code. With
    /// `allow`, the user answered in advance; otherwise they are asked.
    pub fn new(technician: &str, allow: Option<Mode>, now: Instant) -> Self {
        Self::start(technician, allow, now, None)
    }

    /// [`HostSession::new`] on a path whose round trip QUIC already knows,
    /// so even the first whole frame suits the link.
    pub fn with_path_rtt(
        technician: &str,
        allow: Option<Mode>,
        now: Instant,
        rtt: Duration,
    ) -> Self {
        Self::start(technician, allow, now, Some(rtt))
    }

    fn start(technician: &str, allow: Option<Mode>, now: Instant, rtt: Option<Duration>) -> Self {
        let mut link = RateEstimator::new();
        if let Some(rtt) = rtt {
            link.on_path_rtt(now, rtt);
        }
        let mut s = Self {
            technician: technician.to_owned(),
            state: State::Asking { since: now },
            actions: VecDeque::new(),
            stats: SessionStats::default(),
            quality: Quality::Auto,
            no_video: false,
            link,
            interrupted: false,
            held_answer: None,
            confirm: Confirm::new(None),
            answer_within: ANSWER_TIMEOUT,
            refused: None,
        };
        match allow {
            Some(mode) => s.answer(Answer::Allow(mode), now),
            None => s.push(Action::Ask {
                technician: technician.to_owned(),
            }),
        }
        s
    }

    /// Follows the relay's policy: after `every` of control the user is
    /// asked whether to go on, with `within` to answer. Before the first
    /// event.
    pub fn confirm_every(mut self, every: Duration, within: Duration, now: Instant) -> Self {
        self.confirm = Confirm::answer_within(Some(every), within);
        if self.mode() == Some(Mode::Control) {
            self.confirm.start(now);
        }
        self
    }

    /// The consent question counts as refused after `within` unanswered
    /// (an attended device's policy: a minute), instead of
    /// [`ANSWER_TIMEOUT`]. Before the first event.
    pub fn answer_within(mut self, within: Duration) -> Self {
        self.answer_within = within;
        self
    }

    /// The mode granted, once sharing.
    pub fn mode(&self) -> Option<Mode> {
        match &self.state {
            State::Sharing(sh) => Some(sh.mode),
            _ => None,
        }
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// The figures so far.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`HostSession::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let own = match &self.state {
            State::Asking { since } => Some(*since + self.answer_within),
            State::Sharing(_) if self.interrupted => None,
            State::Sharing(sh) if sh.can_grab(self.small_in_flight()) => Some(sh.next_tick),
            _ => None,
        };
        match (own, self.confirm.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed: the capture tick, or the question's deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.state {
            State::Asking { since } if now >= *since + self.answer_within => self.unanswered(),
            State::Sharing(sh) if now >= sh.next_tick => self.grab(now),
            _ => {}
        }
        match self.confirm.on_timeout(now) {
            Some(Step::Ask { minutes, within_s }) => {
                self.push(Action::AskContinue { minutes, within_s });
            }
            Some(Step::Unanswered) => self.end(Ending::NotConfirmed),
            None => {}
        }
    }

    /// Reacts to one event.
    pub fn handle(&mut self, now: Instant, event: Event) {
        match event {
            Event::Answer(a) if self.interrupted => self.hold_answer(a),
            Event::Answer(a) => self.answer(a, now),
            Event::Stop => match self.state {
                State::Asking { .. } => self.answer(Answer::Refuse, now),
                State::Sharing(_) => self.end(Ending::ByUser),
                State::Ended => {}
            },
            Event::Viewer(msg) => self.viewer(msg, now),
            Event::ViewOnly => self.view_only(),
            Event::Continue(go_on) => self.go_on(go_on, now),
            Event::Drawn => {
                if matches!(self.state, State::Sharing(_)) {
                    self.grab(now);
                }
            }
            Event::Grabbed {
                update,
                pointer,
                refinement,
                view,
                withheld,
                hidden,
            } => {
                self.hidden(hidden);
                self.grabbed(now, update, pointer, refinement, view, withheld);
            }
            Event::InputFlooded => self.end(Ending::Failed(
                "the technician's viewer sent input faster than this computer can apply it".into(),
            )),
            Event::InputRefused(why) => self.input_refused(why, now),
            Event::PathRtt(rtt) => self.link.on_path_rtt(now, rtt),
            Event::Interrupted => self.interrupted(),
            Event::Resumed => self.resumed(now),
            Event::ClipboardSet(r) => self.clipboard_set(r),
            Event::ClipboardGot(r) => self.clipboard_got(r),
            Event::FileMoved {
                to_host,
                path,
                bytes,
                sha256,
            } => self.file_moved(to_host, path, bytes, sha256),
            Event::UserChat(text) => self.user_chat(&text),
            Event::Closed(reason) => self.end(Ending::Closed(reason)),
            Event::Failed(reason) => self.end(Ending::Failed(reason)),
        }
    }

    /// The desktop refused an input event: the technician is told why,
    /// once for a run of the same refusal.
    fn input_refused(&mut self, why: String, now: Instant) {
        let told = self
            .refused
            .as_ref()
            .is_some_and(|(last, at)| *last == why && now < *at + REFUSAL_REPEAT);
        if told || !matches!(self.state, State::Sharing(_)) {
            return;
        }
        self.refused = Some((why.clone(), now));
        self.push(Action::Send(HostMsg::Refused(why)));
    }

    fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    fn end(&mut self, ending: Ending) {
        self.confirm.stop();
        if self.state != State::Ended {
            self.state = State::Ended;
            self.push(Action::End(ending));
        }
    }

    /// A file was handed across: audited, and the user told.
    fn file_moved(&mut self, to_host: bool, path: String, bytes: u64, sha256: [u8; 32]) {
        self.push(Action::Report(SessionReport::Transfer(Transfer {
            kind: TransferKind::File,
            to_host,
            bytes,
            name: Some(path.clone()),
            sha256: Some(sha256),
        })));
        self.push(Action::FileMoved {
            to_host,
            path,
            bytes,
            sha256,
        });
    }
}
