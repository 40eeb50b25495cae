//! One session, viewer side, as a sans-IO state machine: the host's
//! messages, the technician's requests and time in; messages to send and
//! news for the window or the script out. It owns the remote screen (a
//! [`Framebuffer`]), acknowledges each update (or asks for a whole frame
//! when one does not apply), the mode the user allows, the host's monitors
//! and a switch under way, and what a resumed link must ask for. The async
//! client in [`crate::session`] only moves bytes and wakes waiters.
//!
//! It starts once the user at the host has answered (the first message,
//! [`HostMsg::Mode`]), as the host's `HostSession` does after the key
//! confirmation, so every rule here is tested with plain calls and made-up
//! times: no sockets, no tasks, no sleeps.

mod figures;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Instant;

use lifeline_proto::control::Mode;
use lifeline_session::messages::{
    HiddenBox, HostMsg, MAX_HIDDEN_BOXES, Showing, ViewerMsg, Withheld,
};
use lifeline_session::screen::{FrameUpdate, Framebuffer, Image};

pub use figures::Figures;

use crate::monitors::Screens;

/// The host's answer to a request (clipboard, monitor switch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Clipboard(String),
    Set,
    Refused(String),
}

/// Something the driver must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Seal and send to the host (acknowledgements go at once: the input
    /// queue may be full, and the driver is what empties it).
    Send(ViewerMsg),
    /// An update arrived (applied, or not: then a whole frame was asked
    /// for); the screen may have changed.
    Updated,
    /// The remote pointer moved.
    Cursor,
    /// The user took control back (or gave it): input follows.
    Mode(Mode),
    /// What the host said of its monitors, as it changed.
    Screens(Screens),
    /// A message from the user.
    Chat(String),
    /// The answer to the request waiting for one.
    Reply(Reply),
    /// The host's screen cannot be shown now, and why (`None`: it can
    /// again); input is not sent meanwhile.
    Withheld(Option<Withheld>),
    /// The parts of the picture the user hides (blank in the frames),
    /// as they changed; at most [`MAX_HIDDEN_BOXES`].
    Hidden(Vec<HiddenBox>),
}

/// Input refused here, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotSent {
    #[error("the user allowed view only: input is not sent")]
    ViewOnly,
    /// The host's screen is withheld (a Windows security prompt): the
    /// desktop there takes no input from the host either.
    #[error("{}", crate::words::WITHHELD_INPUT)]
    Withheld(Withheld),
}

/// The viewer's side of one session.
#[derive(Debug)]
pub struct ViewerSession {
    fb: Framebuffer,
    mode: Mode,
    screens: Option<Screens>,
    /// A monitor switch asked for and not yet seen in a `Monitors`.
    switching: Option<Showing>,
    cursor: Option<(i32, i32)>,
    counter: figures::Counter,
    /// The last update acknowledged.
    acked: Option<u64>,
    /// The newest update seen, applied or not.
    newest: Option<u64>,
    /// Whole frames asked for, for a broken update or a resumed link.
    full_requests: u64,
    /// The link is lost: messages wait for the resume.
    lost: bool,
    /// Why the host's screen cannot be shown now, as it last said.
    withheld: Option<Withheld>,
    held: VecDeque<ViewerMsg>,
    actions: VecDeque<Action>,
}

impl ViewerSession {
    /// A session whose user has just answered with `mode`.
    pub fn new(mode: Mode) -> Self {
        Self {
            fb: Framebuffer::new(),
            mode,
            screens: None,
            switching: None,
            cursor: None,
            counter: figures::Counter::default(),
            acked: None,
            newest: None,
            full_requests: 0,
            lost: false,
            withheld: None,
            held: VecDeque::new(),
            actions: VecDeque::new(),
        }
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The mode the user allows now.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The remote screen, once a whole frame has arrived.
    pub fn image(&self) -> Option<&Image> {
        self.fb.image()
    }

    /// Where the remote pointer is, in remote pixels.
    pub fn cursor(&self) -> Option<(i32, i32)> {
        self.cursor
    }

    /// What the host said of its monitors.
    pub fn screens(&self) -> Option<&Screens> {
        self.screens.as_ref()
    }

    /// Why the host's screen cannot be shown now (the picture is out of
    /// date meanwhile), if it cannot.
    pub fn withheld(&self) -> Option<Withheld> {
        self.withheld
    }

    /// The monitor switch under way, if any.
    pub fn switching(&self) -> Option<Showing> {
        self.switching
    }

    /// The last update acknowledged.
    pub fn last_acked(&self) -> Option<u64> {
        self.acked
    }

    /// Whole frames asked for so far (a broken update, a resumed link).
    pub fn full_requests(&self) -> u64 {
        self.full_requests
    }

    /// Whether the link is lost (messages wait for the resume).
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// The live figures as of `now`.
    pub fn figures(&self, now: Instant) -> Figures {
        self.counter.at(now)
    }

    /// Everything received on the session stream so far, for the figures.
    pub fn stream_bytes(&mut self, bytes: u64) {
        self.counter.stream_bytes(bytes);
    }

    /// One message from the host, opened and decoded.
    pub fn handle(&mut self, now: Instant, msg: HostMsg) {
        match msg {
            HostMsg::Frame(upd) => self.update(now, &upd),
            HostMsg::Cursor { x, y } => {
                self.cursor = Some((x, y));
                self.push(Action::Cursor);
            }
            HostMsg::Mode(m) => {
                self.mode = m;
                self.push(Action::Mode(m));
            }
            HostMsg::Clipboard(text) => self.push(Action::Reply(Reply::Clipboard(text))),
            HostMsg::ClipboardSet => self.push(Action::Reply(Reply::Set)),
            HostMsg::Refused(why) => {
                // A refused switch is over too.
                self.switching = None;
                self.push(Action::Reply(Reply::Refused(why)));
            }
            HostMsg::Chat(text) => self.push(Action::Chat(text)),
            HostMsg::Monitors { monitors, showing } => {
                if self.switching == Some(showing) {
                    self.switching = None;
                }
                let screens = Screens { monitors, showing };
                self.screens = Some(screens.clone());
                self.push(Action::Screens(screens));
            }
            HostMsg::Withheld(why) => self.set_withheld(why),
            HostMsg::Hidden(mut boxes) => {
                // A peer's list: what a window can draw, no more.
                boxes.truncate(MAX_HIDDEN_BOXES);
                self.push(Action::Hidden(boxes));
            }
        }
    }

    /// The host's screen is withheld, or shown again; said once a change.
    fn set_withheld(&mut self, why: Option<Withheld>) {
        if self.withheld != why {
            self.withheld = why;
            self.push(Action::Withheld(why));
        }
    }

    /// Applies an update and acknowledges it; one that does not apply
    /// asks for a whole frame instead.
    fn update(&mut self, now: Instant, upd: &FrameUpdate) {
        // The decoding's own duration, measured here: a cost the host
        // subtracts when it times the link, not a clock this core follows.
        // The host sends no picture while its screen is withheld: one
        // that comes says it is shown again (even if that was lost).
        self.set_withheld(None);
        let started = Instant::now();
        let applied = self.fb.apply(upd);
        let busy_us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        self.counter.frame(now, upd.payload_bytes() as u64);
        self.newest = Some(upd.seq);
        let reply = match applied {
            Ok(()) => {
                self.acked = Some(upd.seq);
                ViewerMsg::Decoded {
                    seq: upd.seq,
                    busy_us,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "bad update; asking for a whole frame");
                self.full_requests += 1;
                ViewerMsg::RequestFull
            }
        };
        self.push(Action::Send(reply));
        self.push(Action::Updated);
    }

    /// The technician's input may go (and counts for the latency figure),
    /// or is refused here in view-only mode and while the host's screen is
    /// withheld (the host drops it then too).
    pub fn check_input(&mut self, now: Instant) -> Result<(), NotSent> {
        if self.mode == Mode::View {
            return Err(NotSent::ViewOnly);
        }
        if let Some(why) = self.withheld {
            return Err(NotSent::Withheld(why));
        }
        self.counter.input(now);
        Ok(())
    }

    /// Sends one input event, as [`ViewerSession::check_input`] allows.
    pub fn input(
        &mut self,
        now: Instant,
        ev: lifeline_session::messages::InputEvent,
    ) -> Result<(), NotSent> {
        self.check_input(now)?;
        self.send(ViewerMsg::Input(ev));
        Ok(())
    }

    /// Asks to show another part of the host's screen; `Some` when it is
    /// shown already (nothing is sent).
    pub fn show(&mut self, showing: Showing) -> Option<Screens> {
        if let Some(s) = self.screens.as_ref().filter(|s| s.showing == showing) {
            return Some(s.clone());
        }
        self.send(ViewerMsg::Show(showing));
        None
    }

    /// Sends any message from the technician (a request, chat, quality,
    /// goodbye); while the link is lost it waits for the resume.
    pub fn send(&mut self, msg: ViewerMsg) {
        if let ViewerMsg::Show(showing) = msg {
            self.switching = Some(showing);
        }
        if self.lost {
            self.held.push_back(msg);
        } else {
            self.push(Action::Send(msg));
        }
    }

    /// The link to the relay was lost; the driver is resuming it.
    pub fn link_lost(&mut self) {
        self.lost = true;
    }

    /// The session continues on a new link: what was in flight is gone,
    /// so a whole frame is asked for first, then what waited goes.
    pub fn resumed(&mut self) {
        if !std::mem::take(&mut self.lost) {
            return;
        }
        self.full_requests += 1;
        self.push(Action::Send(ViewerMsg::RequestFull));
        while let Some(m) = self.held.pop_front() {
            self.push(Action::Send(m));
        }
    }

    /// The newest update seen, applied or not.
    pub fn newest(&self) -> Option<u64> {
        self.newest
    }

    fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }
}
