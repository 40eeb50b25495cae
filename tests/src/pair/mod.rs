//! A host and a viewer stepped against each other in one thread, quinn's
//! way: the host's sans-IO [`HostSession`] and the viewer's
//! [`ViewerSession`] exchange the real encoded messages over a simulated
//! link ([`link`]: per-direction delay, rate, loss, reordering, all
//! seeded) on a virtual clock. The host's screen is an [`Image`] the test
//! draws into, captured and encoded as the host's capture thread does
//! (the same [`Encoder`], tuned by the session). No sockets, no threads,
//! no sleeps: a scenario of minutes runs in a moment, the same each time.
//!
//! Left out on purpose: the end-to-end seal (AES-GCM adds a tag and
//! changes no decision) and QUIC itself (its congestion control and flow
//! control windows; a stream here takes whatever is written, limited only
//! by the link's rate). What is kept: serialisation, each direction's
//! deflate stream, framing, in-order delivery, and on a resume the fresh
//! streams (compression starting afresh, what was in flight gone).
//!
//! Writing a scenario: build a [`Pair`] with the link and the mode the
//! user allows, draw into [`Pair::screen`] (then [`Pair::drawn`], as the
//! damage watcher would say), [`Pair::run_for`] or [`Pair::run_until`]
//! some virtual time, and look at what each side did in [`Pair::log`],
//! at the sessions themselves, or at the viewer's screen
//! ([`Pair::viewer_image`]).

pub mod link;

use std::time::{Duration, Instant};

use lifeline_host::session::{Action as HostAction, Ending, Event, HostSession};
use lifeline_host::view::ViewReport;
use lifeline_proto::control::Mode;
use lifeline_proto::frame;
use lifeline_session::messages::{
    HostMsg, InputEvent, MAX_VIEWER_FRAME, MonitorInfo, Showing, ViewerMsg, Withheld,
};
use lifeline_session::screen::{Encoder, Image};
use lifeline_viewer::core::{Action as ViewerAction, ViewerSession};

use link::Pipe;
pub use link::Spec;

/// The largest host frame the simulated stream takes.
const MAX_HOST_FRAME: usize = lifeline_session::messages::MAX_SESSION_FRAME;

/// One update as the host sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub at: Instant,
    pub seq: u64,
    pub bytes: usize,
    pub full: bool,
    /// Lossy JPEG pictures in it.
    pub pictures: usize,
    pub refinement: bool,
}

/// What happened, for the test to look at.
#[derive(Debug, Default)]
pub struct Log {
    /// Every update the host sent.
    pub sent: Vec<Sent>,
    /// Every update the viewer received, by sequence number, with when.
    pub received: Vec<(Instant, u64)>,
    /// Input the host handed to the desktop.
    pub applied: Vec<InputEvent>,
    /// Messages the user at the host was shown.
    pub host_chats: Vec<String>,
    /// The most updates ever sent and not yet acknowledged.
    pub max_in_flight: u64,
    /// Whole frames the host was asked for, as it received them.
    pub full_requests: u64,
    /// How the host's session ended, if it did.
    pub ended: Option<Ending>,
    /// Everything the viewer's session asked its driver for but sending.
    pub viewer_news: Vec<ViewerAction>,
}

/// The host's capture thread, simulated: the screen, and the encoder.
#[derive(Debug)]
struct Capture {
    image: Image,
    encoder: Encoder,
    /// Drawn since the last grab.
    dirty: bool,
    /// The view has not been reported yet.
    view_untold: bool,
    /// The screen may not be shown (Windows' secure desktop), and why.
    withheld: Option<Withheld>,
}

/// A host and a viewer over a simulated link, on a virtual clock.
#[derive(Debug)]
pub struct Pair {
    pub now: Instant,
    start: Instant,
    pub host: HostSession,
    /// Created by the host's first message (the user's answer).
    pub viewer: Option<ViewerSession>,
    to_viewer: Pipe,
    to_host: Pipe,
    capture: Capture,
    /// Last update sent by the host, and the last acknowledgement it got.
    sent_seq: u64,
    acked_seq: u64,
    pub log: Log,
    cut: bool,
}

impl Pair {
    /// A session whose user allowed `mode` on a `width`×`height` screen,
    /// over a link whose two directions are `down` (host to viewer) and
    /// `up` (viewer to host).
    pub fn new(mode: Mode, (width, height): (u32, u32), down: Spec, up: Spec) -> Self {
        let start = Instant::now();
        let host = HostSession::new("technician", Some(mode), start);
        let mut pair = Self {
            now: start,
            start,
            host,
            viewer: None,
            to_viewer: Pipe::new(down, MAX_HOST_FRAME),
            to_host: Pipe::new(up, MAX_VIEWER_FRAME),
            capture: Capture {
                image: Image::new(width, height).expect("a screen size"),
                encoder: Encoder::new(),
                dirty: true,
                view_untold: true,
                withheld: None,
            },
            sent_seq: 0,
            acked_seq: 0,
            log: Log::default(),
            cut: false,
        };
        pair.host_actions();
        pair
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// The host's screen, to draw into (then call [`Pair::drawn`]).
    pub fn screen(&mut self) -> &mut Image {
        &mut self.capture.image
    }

    /// The screen as the host has it.
    pub fn source(&self) -> &Image {
        &self.capture.image
    }

    /// Something was drawn: the damage watcher tells the session.
    pub fn drawn(&mut self) {
        self.capture.dirty = true;
        self.host.handle(self.now, Event::Drawn);
        self.host_actions();
    }

    /// From now on the screen cannot be shown, for this reason (`None`: it
    /// can again), as Windows' GDI capture says of its secure desktop.
    pub fn withhold(&mut self, why: Option<Withheld>) {
        self.capture.withheld = why;
        self.capture.dirty = true;
    }

    /// The viewer's copy of the remote screen.
    pub fn viewer_image(&self) -> Option<&Image> {
        self.viewer.as_ref().and_then(|v| v.image())
    }

    /// The viewer's session, once the user answered.
    pub fn viewer(&mut self) -> &mut ViewerSession {
        self.viewer.as_mut().expect("the user has answered")
    }

    /// Updates sent and not yet acknowledged, as the host counts them.
    pub fn in_flight(&self) -> u64 {
        self.sent_seq.saturating_sub(self.acked_seq)
    }

    /// The technician's input through the viewer's session (refused there
    /// in view-only mode); `false` when refused.
    pub fn type_input(&mut self, ev: InputEvent) -> bool {
        let now = self.now;
        let ok = self.viewer().input(now, ev).is_ok();
        self.viewer_actions();
        ok
    }

    /// Any message the technician's side sends, through its session.
    pub fn viewer_send(&mut self, msg: ViewerMsg) {
        self.viewer().send(msg);
        self.viewer_actions();
    }

    /// An event for the host's session (the user's doing, say).
    pub fn host_event(&mut self, event: Event) {
        self.host.handle(self.now, event);
        self.host_actions();
    }

    /// The link is lost: what is on the way is gone; both sides know.
    pub fn cut(&mut self) {
        self.cut = true;
        self.to_viewer.cut();
        self.to_host.cut();
        self.host.handle(self.now, Event::Interrupted);
        if let Some(v) = self.viewer.as_mut() {
            v.link_lost();
        }
        self.host_actions();
    }

    /// The session resumed on a new link (fresh streams).
    pub fn restore(&mut self) {
        self.cut = false;
        self.to_viewer.restore(self.now);
        self.to_host.restore(self.now);
        // The host counts nothing in flight after a resume.
        self.acked_seq = self.sent_seq;
        self.host.handle(self.now, Event::Resumed);
        self.host_actions();
        if let Some(v) = self.viewer.as_mut() {
            v.resumed();
        }
        self.viewer_actions();
    }

    /// Runs until `d` of virtual time has passed.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step(until) {}
        self.now = until;
    }

    /// Runs until `done` holds (checked after each step), at most `limit`
    /// of virtual time; whether it held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let until = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if !self.step(until) {
                self.now = until;
                return done(self);
            }
        }
    }

    /// Runs until the viewer's screen equals the host's; whether it did
    /// within `limit`.
    pub fn run_until_exact(&mut self, limit: Duration) -> bool {
        self.run_until(limit, |p| p.viewer_image() == Some(p.source()))
    }

    /// The next thing to happen before `until`, done; `false` when
    /// nothing is due by then.
    fn step(&mut self, until: Instant) -> bool {
        let next = [
            self.host.poll_timeout(),
            self.to_viewer.next_arrival(),
            self.to_host.next_arrival(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(at) = next.filter(|t| *t <= until) else {
            return false;
        };
        self.now = self.now.max(at);
        let now = self.now;
        for payload in self.to_host.deliver(now) {
            let msg: ViewerMsg = frame::decode(&payload).expect("a viewer message decodes");
            self.host_hears(msg);
        }
        for payload in self.to_viewer.deliver(now) {
            let msg: HostMsg = frame::decode(&payload).expect("a host message decodes");
            self.viewer_hears(msg);
        }
        if self.host.poll_timeout().is_some_and(|t| t <= now) {
            let rtt = self.to_viewer.delay() + self.to_host.delay();
            self.host.handle(now, Event::PathRtt(rtt));
            self.host.handle_timeout(now);
            self.host_actions();
        }
        true
    }

    fn host_hears(&mut self, msg: ViewerMsg) {
        // Decoding takes no simulated time: the viewer's real decoding
        // time would make the pair's run depend on this machine.
        let msg = match msg {
            ViewerMsg::Decoded { seq, .. } => ViewerMsg::Decoded { seq, busy_us: 0 },
            other => other,
        };
        match &msg {
            ViewerMsg::Ack { seq } | ViewerMsg::Decoded { seq, .. } => {
                self.acked_seq = self.acked_seq.max(*seq)
            }
            ViewerMsg::RequestFull => self.log.full_requests += 1,
            _ => {}
        }
        self.host.handle(self.now, Event::Viewer(msg));
        self.host_actions();
    }

    fn viewer_hears(&mut self, msg: HostMsg) {
        if let HostMsg::Frame(u) = &msg {
            self.log.received.push((self.now, u.seq));
        }
        match self.viewer.as_mut() {
            Some(v) => v.handle(self.now, msg),
            None => match msg {
                HostMsg::Mode(m) => self.viewer = Some(ViewerSession::new(m)),
                other => panic!("the host's first message must be the answer, not {other:?}"),
            },
        }
        self.viewer_actions();
    }

    /// Carries out what the viewer's session asks.
    fn viewer_actions(&mut self) {
        let Some(v) = self.viewer.as_mut() else {
            return;
        };
        while let Some(a) = v.poll_action() {
            match a {
                ViewerAction::Send(m) => self.to_host.send_viewer(self.now, &m),
                news => self.log.viewer_news.push(news),
            }
        }
    }

    /// Carries out what the host's session asks, as the agent's driver does.
    fn host_actions(&mut self) {
        while let Some(a) = self.host.poll_action() {
            match a {
                HostAction::Send(msg) => {
                    if let HostMsg::Frame(u) = &msg {
                        self.sent_seq = u.seq;
                        self.log.max_in_flight = self.log.max_in_flight.max(self.in_flight());
                    }
                    self.to_viewer.send_host(self.now, &msg);
                }
                HostAction::ResetCapture => {
                    self.capture.encoder = Encoder::new();
                    self.capture.view_untold = true;
                }
                HostAction::Grab { full, tuning } => self.grab(full, tuning),
                HostAction::Apply(ev) => self.log.applied.push(ev),
                HostAction::Chat(text) => self.log.host_chats.push(text),
                HostAction::SetClipboard(text) => {
                    let bytes = text.len() as u64;
                    self.host.handle(self.now, Event::ClipboardSet(Ok(bytes)));
                }
                HostAction::GetClipboard => {
                    self.host
                        .handle(self.now, Event::ClipboardGot(Ok("the user's".into())));
                }
                HostAction::End(e) => self.log.ended = Some(e),
                // The user, the audit log, the view: nothing to simulate.
                HostAction::Ask { .. }
                | HostAction::Report(_)
                | HostAction::Show(_)
                | HostAction::AskContinue { .. }
                | HostAction::Sharing { .. }
                | HostAction::ClipboardMoved { .. }
                | HostAction::FileMoved { .. } => {}
            }
        }
    }

    /// A capture as the capture thread makes it: what changed, or, when
    /// nothing did, what refinement is due.
    fn grab(&mut self, full: bool, tuning: lifeline_session::screen::Tuning) {
        let c = &mut self.capture;
        if let Some(why) = c.withheld {
            // As the capture thread does: nothing grabbed, nothing encoded.
            let grabbed = Event::Grabbed {
                update: None,
                pointer: None,
                refinement: false,
                view: None,
                withheld: Some(why),
                hidden: None,
            };
            self.host.handle(self.now, grabbed);
            return;
        }
        c.encoder.tune(tuning);
        if full {
            c.encoder.reset();
        }
        let drawn = std::mem::take(&mut c.dirty);
        let update = if full || drawn {
            c.encoder.encode(&c.image)
        } else {
            c.encoder.still()
        };
        let refinement = update.is_some() && c.encoder.refined();
        if let Some(u) = &update {
            self.log.sent.push(Sent {
                at: self.now,
                seq: u.seq,
                bytes: u.payload_bytes(),
                full: u.full,
                pictures: u.pictures.len(),
                refinement,
            });
        }
        let view = std::mem::take(&mut c.view_untold).then(|| ViewReport {
            monitors: vec![MonitorInfo {
                name: "SIM-1".into(),
                x: 0,
                y: 0,
                width: c.image.width,
                height: c.image.height,
                primary: true,
            }],
            showing: Showing::Primary,
            origin: (0, 0),
        });
        let grabbed = Event::Grabbed {
            update,
            pointer: None,
            refinement,
            view,
            withheld: None,
            hidden: None,
        };
        self.host.handle(self.now, grabbed);
    }

    /// Whether the link is cut.
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}
