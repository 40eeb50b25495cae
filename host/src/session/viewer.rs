//! What the viewer's messages do once sharing: input (applied in control
//! mode only, moved onto the shown monitor), the clipboard (control mode
//! only, audited without its content), chat, and which monitor is shown.
//! Flow control's acknowledgements and whole-frame requests are `flow`'s.

use std::time::{Duration, Instant};

use lifeline_proto::control::{Mode, SessionReport, Transfer, TransferKind};
use lifeline_session::messages::{
    HostMsg, InputEvent, MAX_CHAT, MAX_CLIPBOARD, Showing, ViewerMsg,
};

use super::{Action, Ending, HostSession, State};
use crate::view::{self, ViewReport};

/// The longest decoding a viewer's acknowledgement may subtract from the
/// link's time.
const MAX_DECODING: Duration = Duration::from_secs(1);

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
pub(super) fn monitors_msg(v: &ViewReport) -> HostMsg {
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

/// The technician's goodbye, as the user and the audit log read it.
fn goodbye(reason: &str) -> String {
    let reason = lifeline_proto::control::clean_text(reason);
    if reason.is_empty() {
        "the technician ended the session".to_owned()
    } else {
        reason
    }
}

impl HostSession {
    /// One message from the viewer.
    pub(super) fn viewer(&mut self, msg: ViewerMsg, now: Instant) {
        if let ViewerMsg::Bye(reason) = msg {
            return self.end(Ending::ByTechnician(goodbye(&reason)));
        }
        let State::Sharing(sh) = &self.state else {
            // Before the answer the viewer has nothing to say.
            return self.end(Ending::Failed(
                "the technician's viewer spoke before the user answered".into(),
            ));
        };
        let control = sh.mode == Mode::Control;
        match msg {
            ViewerMsg::Ack { seq } => self.acked(seq, now, now),
            ViewerMsg::Decoded { seq, busy_us } => {
                // The link had carried it when decoding began: at most a
                // second earlier (a viewer that claims more only makes
                // its own link look faster than it is).
                let busy = Duration::from_micros(u64::from(busy_us)).min(MAX_DECODING);
                self.acked(seq, now, now.checked_sub(busy).unwrap_or(now))
            }
            ViewerMsg::Quality(q) => self.quality = q,
            ViewerMsg::NoVideo => self.no_video = true,
            ViewerMsg::RequestFull => self.request_full(now),
            ViewerMsg::ClipboardSet(text) => self.clipboard_offered(control, text),
            ViewerMsg::ClipboardGet => self.push(if control {
                Action::GetClipboard
            } else {
                Action::Send(HostMsg::Refused(VIEW_ONLY_CLIPBOARD.into()))
            }),
            ViewerMsg::Chat(text) => {
                let text = plain(&text);
                if !text.is_empty() {
                    self.push(Action::Chat(text));
                }
            }
            ViewerMsg::Input(ev) => self.input(control, ev),
            ViewerMsg::Show(showing) => self.show(showing, now),
            // Handled before the state is looked at.
            ViewerMsg::Bye(_) => {}
        }
    }

    /// The technician's input: applied in control mode, if it names
    /// something that exists, at its place on the shown monitor.
    fn input(&mut self, control: bool, ev: InputEvent) {
        let withheld = matches!(&self.state, State::Sharing(sh) if sh.withheld.is_some());
        if !control || withheld {
            // While the screen is withheld (a Windows security prompt),
            // the desktop takes no input from this program either.
            self.stats.inputs_dropped += 1;
        } else if ev.check().is_err() {
            self.stats.inputs_refused += 1;
        } else {
            self.stats.inputs_applied += 1;
            let origin = match &self.state {
                State::Sharing(sh) => sh.view.as_ref().map_or((0, 0), |v| v.origin),
                _ => (0, 0),
            };
            self.push(Action::Apply(view::to_screen(ev, origin)));
        }
    }

    /// The technician asked to see another monitor: a whole frame of it,
    /// or a refusal of one the host does not have.
    fn show(&mut self, showing: Showing, now: Instant) {
        let State::Sharing(sh) = &mut self.state else {
            return;
        };
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

    /// The technician's text for this computer's clipboard.
    fn clipboard_offered(&mut self, control: bool, text: String) {
        let refuse = if !control {
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

    /// The clipboard now holds the viewer's text, or why not.
    pub(super) fn clipboard_set(&mut self, r: Result<u64, String>) {
        match r {
            Ok(bytes) => self.moved(true, bytes, HostMsg::ClipboardSet),
            Err(why) => self.push(Action::Send(HostMsg::Refused(why))),
        }
    }

    /// The clipboard's text for the viewer, or why there is none.
    pub(super) fn clipboard_got(&mut self, r: Result<String, String>) {
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

    /// The user typed a message for the technician (sent while sharing).
    pub(super) fn user_chat(&mut self, text: &str) {
        let text = plain(text);
        if matches!(self.state, State::Sharing(_)) && !text.is_empty() {
            self.push(Action::Send(HostMsg::Chat(text)));
        }
    }
}
