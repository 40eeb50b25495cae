//! Flow control: at most [`FRAMES_IN_FLIGHT`] updates of drawing
//! unacknowledged, or [`SMALL_IN_FLIGHT`] while they are small (plus
//! refinement while the link is idle), one capture
//! at a time, on the capture tick or as soon as something is drawn, whole
//! when the viewer asks for it; and what a finished capture sends.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use lifeline_proto::control::Mode;
use lifeline_session::messages::{FRAMES_IN_FLIGHT, HiddenBox, HostMsg, Withheld};
use lifeline_session::screen::FrameUpdate;

use super::viewer::monitors_msg;
use super::{Action, CAPTURE_INTERVAL, HostSession, State};
use crate::quality::{self, Link};
use crate::view::ViewReport;

/// Refinement pieces that may be unacknowledged at once: two pieces of
/// half the path's bandwidth-delay product keep it full.
const REFINEMENTS_IN_FLIGHT: usize = 2;
/// Updates of drawing that may be unacknowledged at once while what is in
/// flight is small (a video's frames, typing): on a distant link two a
/// round trip would cap a video at 2 / RTT frames a second and keep a
/// keystroke's echo waiting for a slot.
const SMALL_IN_FLIGHT: usize = 4;
/// What in flight counts as small: at most this long on the measured link
/// (never while the link is unmeasured: a very slow one must not queue
/// more).
const SMALL_TIME: Duration = Duration::from_millis(30);
/// How often the screen is looked at while it is withheld (a Windows
/// security prompt is up): its end shows within this, at a few checks a
/// second rather than sixty.
pub(super) const WITHHELD_INTERVAL: Duration = Duration::from_millis(100);

/// What a session that shares the screen keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sharing {
    pub(super) mode: Mode,
    /// Sequence number of the last update sent, and the last acknowledged.
    sent: u64,
    acked: u64,
    /// The viewer asked for a whole frame (or has none yet).
    pub(super) full: bool,
    /// A capture is under way; its result has not come back.
    grabbing: bool,
    pub(super) next_tick: Instant,
    pointer: Option<(i32, i32)>,
    /// Refinement updates sent and not yet acknowledged.
    refining: VecDeque<u64>,
    /// Only refinement went since the last whole frame: nothing moved.
    settled: bool,
    /// What the viewer is shown, once the capture said.
    pub(super) view: Option<ViewReport>,
    /// Why the screen is withheld, as the viewer was last told.
    pub(super) withheld: Option<Withheld>,
}

impl Sharing {
    /// Sharing in `mode` from `now`: the first capture is whole.
    pub(super) fn new(mode: Mode, now: Instant) -> Self {
        Self {
            mode,
            sent: 0,
            acked: 0,
            full: true,
            grabbing: false,
            next_tick: now,
            pointer: None,
            refining: VecDeque::new(),
            settled: false,
            view: None,
            withheld: None,
        }
    }

    fn in_flight(&self) -> usize {
        usize::try_from(self.sent.saturating_sub(self.acked)).unwrap_or(usize::MAX)
    }

    /// Updates of drawing in flight (not refinement).
    fn drawing_in_flight(&self) -> usize {
        self.in_flight().saturating_sub(self.refining.len())
    }

    /// Drawing may have [`FRAMES_IN_FLIGHT`] updates in flight whatever
    /// refinement does (a keystroke's echo never waits for a refinement's
    /// slot), or [`SMALL_IN_FLIGHT`] while what is in flight is `small`.
    pub(super) fn can_grab(&self, small: bool) -> bool {
        let max_drawing = if small {
            SMALL_IN_FLIGHT
        } else {
            usize::try_from(FRAMES_IN_FLIGHT).unwrap_or(2)
        };
        !self.grabbing
            && self.drawing_in_flight() < max_drawing
            && self.in_flight() < max_drawing + 1
    }

    /// Refinement only while no drawing is in flight, two pieces at most.
    fn may_refine(&self) -> bool {
        self.drawing_in_flight() == 0 && self.refining.len() < REFINEMENTS_IN_FLIGHT
    }

    /// The link was lost with what was in flight: none is awaited, and the
    /// next update is whole.
    pub(super) fn forget_in_flight(&mut self) {
        self.acked = self.sent;
        self.refining.clear();
        self.full = true;
    }
}

impl HostSession {
    /// The viewer acknowledged updates up to `seq` (never more than was
    /// sent) at `now`, having had them by `arrived` (before decoding): the
    /// window opens, an overdue tick captures, and the link is timed to
    /// `arrived`.
    pub(super) fn acked(&mut self, seq: u64, now: Instant, arrived: Instant) {
        let State::Sharing(sh) = &mut self.state else {
            return;
        };
        sh.acked = sh.acked.max(seq.min(sh.sent));
        while sh.refining.front().is_some_and(|s| *s <= sh.acked) {
            sh.refining.pop_front();
        }
        self.link.on_ack(arrived, sh.acked);
        self.grab_if_due(now);
    }

    /// The viewer asked for a whole frame: the next capture is whole.
    pub(super) fn request_full(&mut self, now: Instant) {
        if let State::Sharing(sh) = &mut self.state {
            sh.full = true;
            self.grab(now);
        }
    }

    /// Captures now if the tick has come (an acknowledgement may have
    /// opened the window while the tick was held back).
    pub(super) fn grab_if_due(&mut self, now: Instant) {
        if let State::Sharing(sh) = &self.state
            && now >= sh.next_tick
        {
            self.grab(now);
        }
    }

    /// Whether what is in flight is small: at most [`SMALL_TIME`] of the
    /// measured link; never while it is unmeasured.
    pub(super) fn small_in_flight(&self) -> bool {
        self.link
            .rate()
            .is_some_and(|r| self.link.bytes_in_flight() <= (r * SMALL_TIME.as_secs_f64()) as usize)
    }

    pub(super) fn grab(&mut self, now: Instant) {
        let small = self.small_in_flight();
        let State::Sharing(sh) = &mut self.state else {
            return;
        };
        if self.interrupted || !sh.can_grab(small) {
            return;
        }
        sh.grabbing = true;
        sh.next_tick = now + CAPTURE_INTERVAL;
        let full = std::mem::take(&mut sh.full);
        let link = Link {
            rate: self.link.rate(),
            rtt: self.link.rtt(),
            busy: !sh.may_refine(),
            settled: sh.settled,
        };
        let mut tuning = quality::tuning(self.quality, &link);
        if self.no_video {
            tuning.video_bitrate = 0;
        }
        self.push(Action::Grab { full, tuning });
    }

    /// Tells the viewer where the user hides parts of the picture, as
    /// that changes (the frame that follows has them blank already).
    pub(super) fn hidden(&mut self, boxes: Option<Vec<HiddenBox>>) {
        if let (Some(boxes), State::Sharing(_), false) = (boxes, &self.state, self.interrupted) {
            self.push(Action::Send(HostMsg::Hidden(boxes)));
        }
    }

    pub(super) fn grabbed(
        &mut self,
        now: Instant,
        update: Option<FrameUpdate>,
        pointer: Option<(i32, i32)>,
        refinement: bool,
        view: Option<ViewReport>,
        withheld: Option<Withheld>,
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
        if withheld.is_some() {
            // The picture moves on meanwhile: the first grab that works
            // again is whole. Looked at less often while it lasts.
            sh.full = true;
            sh.next_tick = sh.next_tick.max(now + WITHHELD_INTERVAL);
        }
        if self.interrupted {
            // Nowhere to send it; the whole frame after resuming covers it.
            return;
        }
        let mut out: Vec<HostMsg> = view_news.into_iter().collect();
        if withheld != sh.withheld {
            // Said once as it starts, and once as it ends (before the
            // whole frame).
            sh.withheld = withheld;
            out.push(HostMsg::Withheld(withheld));
            if withheld.is_none() && !update.as_ref().is_some_and(|u| u.full) {
                // Not whole after all (the capture did not follow the
                // request): the next one is.
                sh.full = true;
            }
        }
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
            } else {
                sh.settled = update.full;
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
