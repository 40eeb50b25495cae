//! One session, host side, as a sans-IO state machine: events in (the
//! user's answer, the viewer's messages, captures, time), actions out
//! (messages to send, reports for the audit log, captures to take, input
//! to apply, how it ended). It owns the consent question, view-only,
//! flow control and whole-frame requests; the async driver in
//! [`crate::agent`] only moves bytes and calls the platform.
//!
//! It starts once the viewer's key confirmation has opened (nothing is
//! sent or applied before), so every rule here is tested with plain calls
//! and made-up times: no sockets, no threads, no sleeps.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use lifeline_proto::control::{Mode, SessionReport, Transfer, TransferKind};
use lifeline_session::messages::{
    FRAMES_IN_FLIGHT, HostMsg, MAX_CHAT, MAX_CLIPBOARD, Quality, Showing, ViewerMsg,
};
use lifeline_session::screen::{FrameUpdate, Tuning};

use crate::confirm::{Confirm, Step};
use crate::quality::{self, Link};
use crate::rate::RateEstimator;
use crate::ui::Answer;
use crate::view::{self, ViewReport};
use crate::words;

/// How often the screen is looked at (and the pointer followed) while the
/// viewer can take a frame; drawing reported by the screen source is
/// captured at once, without waiting for this.
pub const CAPTURE_INTERVAL: Duration = Duration::from_millis(16);

/// How long the user has to answer the consent question before it counts
/// as a refusal (the viewer gives up after the same time).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// Something that happened, for the session to react to.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The user answered the consent question.
    Answer(Answer),
    /// The user stopped: Ctrl+C, or the window's "Stop sharing".
    Stop,
    /// The user took control back: see only from now on.
    ViewOnly,
    /// The user answered whether to go on after a long stretch of control.
    Continue(bool),
    /// A message from the viewer, opened and decoded.
    Viewer(ViewerMsg),
    /// The screen source saw drawing: capture now rather than at the tick.
    Drawn,
    /// A capture asked for by [`Action::Grab`] finished; `refinement`:
    /// the update only sharpens what the viewer has (nothing was drawn).
    Grabbed {
        update: Option<FrameUpdate>,
        pointer: Option<(i32, i32)>,
        refinement: bool,
        /// What is shown, when it changed.
        view: Option<ViewReport>,
    },
    /// The viewer sent input faster than the desktop takes it.
    InputFlooded,
    /// QUIC's round-trip estimate of the path to the viewer.
    PathRtt(Duration),
    /// The link to the relay was lost; the driver is reconnecting. Nothing
    /// is captured or sent, and an answer given meanwhile waits.
    Interrupted,
    /// The session continues on a new link: what was in flight is gone,
    /// so the next update is whole.
    Resumed,
    /// The clipboard now holds the viewer's text (its size), or why not.
    ClipboardSet(Result<u64, String>),
    /// The clipboard's text, as asked for, or why there is none.
    ClipboardGot(Result<String, String>),
    /// The user typed a message for the technician.
    UserChat(String),
    /// A file was handed across (`to_host`: saved at `path` on this
    /// machine; else sent from `path`).
    FileMoved {
        to_host: bool,
        path: String,
        bytes: u64,
        sha256: [u8; 32],
    },
    /// The viewer or the relay ended the session, saying this.
    Closed(String),
    /// Something on our side failed (capture, sending); the session ends.
    Failed(String),
}

/// Something the driver must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ask the user: see only, see and control, or refuse.
    Ask { technician: String },
    /// Tell the relay, for the audit log.
    Report(SessionReport),
    /// Seal and send to the viewer.
    Send(HostMsg),
    /// Forget what any earlier viewer had: the next update is whole.
    ResetCapture,
    /// Capture and encode what changed; `full` sends the whole screen,
    /// `tuning` says how lossy it may be for this link.
    Grab { full: bool, tuning: Tuning },
    /// Show this part of the screen from the next grab on.
    Show(Showing),
    /// Ask the user whether to go on (control has lasted `minutes`).
    AskContinue { minutes: u64, within_s: u64 },
    /// Hand one input event to the desktop.
    Apply(lifeline_session::messages::InputEvent),
    /// Sharing started: tell the user with whom and how.
    Sharing { technician: String, mode: Mode },
    /// Put this text on the desktop's clipboard.
    SetClipboard(String),
    /// Read the desktop's clipboard text.
    GetClipboard,
    /// Tell the user the clipboard was handed across (`to_host`: the
    /// technician's text is on it now).
    ClipboardMoved { to_host: bool, bytes: u64 },
    /// Show the user a message from the technician.
    Chat(String),
    /// Tell the user a file was handed across.
    FileMoved {
        to_host: bool,
        path: String,
        bytes: u64,
        sha256: [u8; 32],
    },
    /// The session is over; nothing else follows.
    End(Ending),
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The user refused, or did not answer in time (`reason` says which).
    Refused { reason: String },
    /// The user stopped sharing.
    ByUser,
    /// The viewer or the relay ended it; the relay already knows.
    Closed(String),
    /// This side ended it because of an error or a misbehaving viewer; the
    /// relay should hear `reason`.
    Failed(String),
    /// Asked whether to go on after a long stretch of control, the user
    /// did not answer in time.
    NotConfirmed,
    /// The technician ended it (their viewer said goodbye, with this
    /// reason); the relay hears it from this side.
    ByTechnician(String),
}

impl Ending {
    /// The sentence the user and the audit log get.
    pub fn reason(&self) -> &str {
        match self {
            Ending::Refused { reason }
            | Ending::Closed(reason)
            | Ending::Failed(reason)
            | Ending::ByTechnician(reason) => reason,
            Ending::ByUser => words::ENDED_BY_USER,
            Ending::NotConfirmed => words::NOT_CONFIRMED,
        }
    }

    /// Whether the relay must still be told (it told us otherwise).
    pub fn tell_relay(&self) -> bool {
        !matches!(self, Ending::Closed(_))
    }
}

/// What happened during a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub frames: u64,
    pub frame_bytes: u64,
    pub inputs_applied: u64,
    /// Input received in view-only mode and not applied.
    pub inputs_dropped: u64,
    /// Input naming something that does not exist (a key F0), refused.
    pub inputs_refused: u64,
    /// The most update bytes ever sent and not yet acknowledged.
    pub max_bytes_in_flight: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Asking { since: Instant },
    Sharing(Sharing),
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Sharing {
    mode: Mode,
    /// Sequence number of the last update sent, and the last acknowledged.
    sent: u64,
    acked: u64,
    /// The viewer asked for a whole frame (or has none yet).
    full: bool,
    /// A capture is under way; its result has not come back.
    grabbing: bool,
    next_tick: Instant,
    pointer: Option<(i32, i32)>,
    /// Refinement updates sent and not yet acknowledged.
    refining: VecDeque<u64>,
    /// What the viewer is shown, once the capture said.
    view: Option<ViewReport>,
}

/// Why the clipboard is not shared in view-only mode.
const VIEW_ONLY_CLIPBOARD: &str =
    "the user allowed view only: the clipboard is shared in control mode only";

fn too_large(bytes: usize) -> String {
    format!(
        "the clipboard text is {} KiB; at most {} KiB is sent",
        bytes.div_ceil(1024),
        MAX_CLIPBOARD / 1024
    )
}

/// A chat message as shown: no control characters (nothing may move a
/// terminal's cursor or colour it), at most [`MAX_CHAT`] bytes.
pub fn plain(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_CHAT {
            break;
        }
        out.push(c);
    }
    out.trim().to_owned()
}

/// What the viewer is told of the monitors.
fn monitors_msg(v: &ViewReport) -> HostMsg {
    HostMsg::Monitors {
        monitors: v.monitors.clone(),
        showing: v.showing,
    }
}

/// The refusal of a monitor the host does not have (numbered from 1, as
/// the technician sees them).
fn no_such_monitor(showing: Showing, count: usize) -> String {
    let n = match showing {
        Showing::Monitor(i) => usize::from(i) + 1,
        Showing::All | Showing::Primary => 0,
    };
    match count {
        0 | 1 => format!("there is no monitor {n}: this computer shows one screen"),
        _ => format!("there is no monitor {n}: this computer has monitors 1 to {count}"),
    }
}

/// Refinement pieces that may be unacknowledged at once: two pieces of
/// half the path's bandwidth-delay product keep it full.
const REFINEMENTS_IN_FLIGHT: usize = 2;

impl Sharing {
    fn in_flight(&self) -> usize {
        usize::try_from(self.sent.saturating_sub(self.acked)).unwrap_or(usize::MAX)
    }

    /// Updates of drawing in flight (not refinement).
    fn drawing_in_flight(&self) -> usize {
        self.in_flight().saturating_sub(self.refining.len())
    }

    /// Drawing may have [`FRAMES_IN_FLIGHT`] updates in flight whatever
    /// refinement does: a keystroke's echo never waits for a slot.
    fn can_grab(&self) -> bool {
        let max_drawing = usize::try_from(FRAMES_IN_FLIGHT).unwrap_or(2);
        !self.grabbing
            && self.drawing_in_flight() < max_drawing
            && self.in_flight() < max_drawing + 1
    }

    /// Refinement only while no drawing is in flight, two pieces at most.
    fn may_refine(&self) -> bool {
        self.drawing_in_flight() == 0 && self.refining.len() < REFINEMENTS_IN_FLIGHT
    }
}

/// The host's side of one session.
#[derive(Debug)]
pub struct HostSession {
    technician: String,
    state: State,
    actions: VecDeque<Action>,
    stats: SessionStats,
    quality: Quality,
    link: RateEstimator,
    /// Reconnecting: see [`Event::Interrupted`].
    interrupted: bool,
    /// The user's answer given while reconnecting.
    held_answer: Option<Answer>,
    /// Whether to go on after a long stretch of control.
    confirm: Confirm,
}

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
            link,
            interrupted: false,
            held_answer: None,
            confirm: Confirm::new(None),
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
            State::Asking { since } => Some(*since + ANSWER_TIMEOUT),
            State::Sharing(_) if self.interrupted => None,
            State::Sharing(sh) if sh.can_grab() => Some(sh.next_tick),
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
            State::Asking { since } if now >= *since + ANSWER_TIMEOUT => {
                let reason = format!(
                    "refused: the user did not answer within {} minutes",
                    ANSWER_TIMEOUT.as_secs() / 60
                );
                self.push(Action::Report(SessionReport::Refused));
                self.end(Ending::Refused { reason });
            }
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
            Event::Answer(a) if self.interrupted => self.held_answer = Some(a),
            Event::Answer(a) => self.answer(a, now),
            Event::Stop => match self.state {
                State::Asking { .. } => self.answer(Answer::Refuse, now),
                State::Sharing(_) => self.end(Ending::ByUser),
                State::Ended => {}
            },
            Event::Viewer(msg) => self.viewer(msg, now),
            Event::ViewOnly => self.view_only(),
            Event::Continue(go_on) => {
                if self.confirm.answer(now, go_on) && !go_on {
                    self.end(Ending::ByUser);
                }
            }
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
            } => self.grabbed(now, update, pointer, refinement, view),
            Event::InputFlooded => self.end(Ending::Failed(
                "the technician's viewer sent input faster than this computer can apply it".into(),
            )),
            Event::PathRtt(rtt) => self.link.on_path_rtt(now, rtt),
            Event::Interrupted => self.interrupted = true,
            Event::Resumed => self.resumed(now),
            Event::ClipboardSet(r) => self.clipboard_set(r),
            Event::ClipboardGot(r) => self.clipboard_got(r),
            Event::FileMoved {
                to_host,
                path,
                bytes,
                sha256,
            } => {
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
            Event::UserChat(text) => {
                let text = plain(&text);
                if matches!(self.state, State::Sharing(_)) && !text.is_empty() {
                    self.push(Action::Send(HostMsg::Chat(text)));
                }
            }
            Event::Closed(reason) => self.end(Ending::Closed(reason)),
            Event::Failed(reason) => self.end(Ending::Failed(reason)),
        }
    }

    fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    /// From control down to see-only, told to the viewer and the relay.
    fn view_only(&mut self) {
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

    fn end(&mut self, ending: Ending) {
        self.confirm.stop();
        if self.state != State::Ended {
            self.state = State::Ended;
            self.push(Action::End(ending));
        }
    }

    fn answer(&mut self, answer: Answer, now: Instant) {
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
                self.state = State::Sharing(Sharing {
                    mode,
                    sent: 0,
                    acked: 0,
                    full: true,
                    grabbing: false,
                    next_tick: now,
                    pointer: None,
                    refining: VecDeque::new(),
                    view: None,
                });
                self.grab(now);
            }
        }
    }

    fn resumed(&mut self, now: Instant) {
        if !std::mem::take(&mut self.interrupted) {
            return;
        }
        if let Some(a) = self.held_answer.take() {
            self.answer(a, now);
        }
        if let State::Sharing(sh) = &mut self.state {
            // Updates in flight were lost with the link: none is awaited,
            // the link is measured afresh, and the viewer gets a whole frame.
            sh.acked = sh.sent;
            sh.refining.clear();
            sh.full = true;
            // What is shown may have been told on the lost link.
            if let Some(v) = &sh.view {
                let told = monitors_msg(v);
                self.actions.push_back(Action::Send(told));
            }
            self.link = RateEstimator::new();
            self.grab(now);
        }
    }

    fn viewer(&mut self, msg: ViewerMsg, now: Instant) {
        if let ViewerMsg::Bye(reason) = msg {
            let reason = lifeline_proto::control::clean_text(&reason);
            let reason = if reason.is_empty() {
                "the technician ended the session".to_owned()
            } else {
                reason
            };
            return self.end(Ending::ByTechnician(reason));
        }
        let State::Sharing(sh) = &mut self.state else {
            // Before the answer the viewer has nothing to say.
            return self.end(Ending::Failed(
                "the technician's viewer spoke before the user answered".into(),
            ));
        };
        match msg {
            ViewerMsg::Ack { seq } => {
                sh.acked = sh.acked.max(seq.min(sh.sent));
                while sh.refining.front().is_some_and(|s| *s <= sh.acked) {
                    sh.refining.pop_front();
                }
                self.link.on_ack(now, sh.acked);
                self.grab_if_due(now);
            }
            ViewerMsg::Quality(q) => self.quality = q,
            ViewerMsg::RequestFull => {
                sh.full = true;
                self.grab(now);
            }
            ViewerMsg::ClipboardSet(text) => {
                let refuse = if sh.mode != Mode::Control {
                    Some(VIEW_ONLY_CLIPBOARD.to_owned())
                } else if text.len() > MAX_CLIPBOARD {
                    Some(too_large(text.len()))
                } else {
                    None
                };
                self.push(match refuse {
                    Some(why) => Action::Send(HostMsg::Refused(why)),
                    None => Action::SetClipboard(text),
                });
            }
            ViewerMsg::ClipboardGet => {
                let control = sh.mode == Mode::Control;
                self.push(if control {
                    Action::GetClipboard
                } else {
                    Action::Send(HostMsg::Refused(VIEW_ONLY_CLIPBOARD.into()))
                });
            }
            ViewerMsg::Chat(text) => {
                let text = plain(&text);
                if !text.is_empty() {
                    self.push(Action::Chat(text));
                }
            }
            ViewerMsg::Input(ev) => {
                if sh.mode != Mode::Control {
                    self.stats.inputs_dropped += 1;
                } else if ev.check().is_err() {
                    self.stats.inputs_refused += 1;
                } else {
                    self.stats.inputs_applied += 1;
                    let origin = sh.view.as_ref().map_or((0, 0), |v| v.origin);
                    self.push(Action::Apply(view::to_screen(ev, origin)));
                }
            }
            ViewerMsg::Show(showing) => {
                let monitors = sh.view.as_ref().map_or(&[][..], |v| &v.monitors[..]);
                if view::exists(monitors, showing) {
                    sh.full = true;
                    self.push(Action::Show(showing));
                    self.grab(now);
                } else {
                    let why = no_such_monitor(showing, monitors.len());
                    self.push(Action::Send(HostMsg::Refused(why)));
                }
            }
            // Handled before the state is looked at.
            ViewerMsg::Bye(_) => {}
        }
    }

    fn clipboard_set(&mut self, r: Result<u64, String>) {
        match r {
            Ok(bytes) => self.moved(true, bytes, HostMsg::ClipboardSet),
            Err(why) => self.push(Action::Send(HostMsg::Refused(why))),
        }
    }

    fn clipboard_got(&mut self, r: Result<String, String>) {
        match r {
            Ok(text) if text.len() > MAX_CLIPBOARD => {
                self.push(Action::Send(HostMsg::Refused(too_large(text.len()))));
            }
            Ok(text) => {
                let bytes = text.len() as u64;
                self.moved(false, bytes, HostMsg::Clipboard(text));
            }
            Err(why) => self.push(Action::Send(HostMsg::Refused(why))),
        }
    }

    /// The clipboard was handed across: answer, audit, tell the user.
    fn moved(&mut self, to_host: bool, bytes: u64, answer: HostMsg) {
        self.push(Action::Send(answer));
        self.push(Action::Report(SessionReport::Transfer(Transfer {
            kind: TransferKind::Clipboard,
            to_host,
            bytes,
            name: None,
            sha256: None,
        })));
        self.push(Action::ClipboardMoved { to_host, bytes });
    }

    /// Captures now if the tick has come (an acknowledgement may have
    /// opened the window while the tick was held back).
    fn grab_if_due(&mut self, now: Instant) {
        if let State::Sharing(sh) = &self.state
            && now >= sh.next_tick
        {
            self.grab(now);
        }
    }

    fn grab(&mut self, now: Instant) {
        let State::Sharing(sh) = &mut self.state else {
            return;
        };
        if self.interrupted || !sh.can_grab() {
            return;
        }
        sh.grabbing = true;
        sh.next_tick = now + CAPTURE_INTERVAL;
        let full = std::mem::take(&mut sh.full);
        let link = Link {
            rate: self.link.rate(),
            rtt: self.link.rtt(),
            busy: !sh.may_refine(),
        };
        let tuning = quality::tuning(self.quality, &link);
        self.push(Action::Grab { full, tuning });
    }

    fn grabbed(
        &mut self,
        now: Instant,
        update: Option<FrameUpdate>,
        pointer: Option<(i32, i32)>,
        refinement: bool,
        view: Option<ViewReport>,
    ) {
        let State::Sharing(sh) = &mut self.state else {
            return;
        };
        sh.grabbing = false;
        let view_news = view.map(|v| {
            let told = monitors_msg(&v);
            sh.view = Some(v);
            told
        });
        if self.interrupted {
            // Nowhere to send it; the whole frame after resuming covers it.
            return;
        }
        let mut out: Vec<HostMsg> = view_news.into_iter().collect();
        if let Some((x, y)) = pointer
            && sh.pointer != pointer
        {
            sh.pointer = pointer;
            out.push(HostMsg::Cursor { x, y });
        }
        if let Some(update) = update {
            sh.sent = update.seq;
            if refinement {
                sh.refining.push_back(update.seq);
            }
            let bytes = update.payload_bytes();
            self.link.on_sent(now, update.seq, bytes);
            self.stats.frames += 1;
            self.stats.frame_bytes += bytes as u64;
            self.stats.max_bytes_in_flight = self
                .stats
                .max_bytes_in_flight
                .max(self.link.bytes_in_flight() as u64);
            out.push(HostMsg::Frame(update));
        }
        for m in out {
            self.push(Action::Send(m));
        }
    }
}

#[cfg(test)]
mod tests {
    use lifeline_session::messages::{InputEvent, Key};

    use super::*;

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

    fn update(seq: u64) -> FrameUpdate {
        FrameUpdate {
            seq,
            width: 64,
            height: 64,
            full: seq == 1,
            copies: vec![],
            pictures: vec![],
            tiles: vec![],
            photos: vec![],
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
    fn an_ack_for_an_update_never_sent_does_not_open_the_window() {
        let now = t0();
        let mut s = sharing(Mode::View, now);
        frame(&mut s, now, 1);
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
            },
        );
        s.handle_timeout(now + CAPTURE_INTERVAL);
        assert_eq!(drain(&mut s), [grab(false)]);
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

    #[test]
    fn the_technicians_quality_and_a_busy_link_shape_each_capture() {
        let now = t0();
        let mut s = HostSession::new("bob", Some(Mode::View), now);
        let tunings = |s: &mut HostSession| -> Vec<Tuning> {
            std::iter::from_fn(|| s.poll_action())
                .filter_map(|a| match a {
                    Action::Grab { tuning, .. } => Some(tuning),
                    _ => None,
                })
                .collect()
        };
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
        assert!(refused.iter().all(
            |a| matches!(a, Action::Send(HostMsg::Refused(why)) if why.contains("view only"))
        ));

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
}
