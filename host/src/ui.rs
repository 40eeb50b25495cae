//! What the user at the host sees: plain sentences at the terminal, or one
//! JSON object a line with `--json` for scripts and tests, and (when the
//! host has a window) the same news as a [`Notice`] for the window. The
//! words themselves are in [`crate::words`].

use lifeline_proto::SessionCode;
use lifeline_proto::control::Mode;
use lifeline_session::files::Progress;
use serde_json::json;
use tokio::sync::mpsc;

use std::sync::Arc;

use crate::files::FileStopped;
use crate::guard::OwnWindow;
/// The consent answer, at home in the session core; also named here.
pub use crate::session::Answer;
use crate::session::SessionStats;
use crate::words;

/// News for the window, one per thing the user should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Code {
        code: String,
        expires_in_s: u32,
    },
    /// A wrong code: no new one until the user asks (`left` more wrong
    /// codes are taken).
    WrongCode {
        left: u32,
    },
    /// A new code comes in `secs` seconds.
    NewCodeIn {
        secs: u64,
    },
    Expired,
    /// A sentence to show as it is (a device session's request, or its
    /// refusal).
    Note(String),
    /// Close the window: a call the service took is over, and nobody may
    /// be there to close it.
    Close,
    Ask {
        technician: String,
        /// Why they ask (`lifeline-viewer --reason`), when they said.
        reason: Option<String>,
    },
    Joined {
        technician: String,
        mode: Mode,
    },
    Clipboard {
        to_host: bool,
        bytes: u64,
    },
    File {
        to_host: bool,
        path: String,
        bytes: u64,
    },
    Progress(Progress),
    FileStopped(FileStopped),
    AskFetch {
        path: String,
        bytes: u64,
    },
    Chat(String),
    Reconnecting {
        reason: String,
        window_s: u64,
    },
    Resumed,
    /// The desktop's own sharing dialog comes next.
    DesktopAsks,
    /// The session is recorded (who may watch it).
    Recorded(String),
    AskContinue {
        minutes: u64,
        within_s: u64,
    },
    Ended {
        reason: String,
    },
    /// The program cannot go on (no relay, relay unreachable).
    Failed {
        reason: String,
    },
}

/// Prints host events for a person or a program, and tells the window.
#[derive(Debug, Clone)]
pub struct Ui {
    pub json: bool,
    /// The window, when there is one.
    pub window: Option<mpsc::UnboundedSender<Notice>>,
    /// The session's recording, which keeps what the user is told as its
    /// timeline.
    pub recording: Option<crate::recorder::RecordTap>,
    /// Where the window is, so remote input never answers its questions
    /// (`None`: no window).
    pub own_window: Option<Arc<dyn OwnWindow>>,
}

impl Ui {
    /// Terminal only (`--cli`, or no display).
    pub fn terminal(json: bool) -> Self {
        Self {
            json,
            window: None,
            recording: None,
            own_window: None,
        }
    }

    fn emit(&self, value: serde_json::Value, human: &str, notice: Notice) {
        if let Some(r) = &self.recording {
            r.record(lifeline_session::recording::Event::Note(value.to_string()));
        }
        if self.json {
            println!("{value}");
        } else if self.window.is_none() {
            println!("{human}");
        }
        if let Some(w) = &self.window {
            // A closed window is the user leaving; the stop says so.
            let _ = w.send(notice);
        }
    }

    /// A new code to read out.
    pub fn code(&self, code: &SessionCode, expires_in_s: u32) {
        let shown = code.to_string();
        let minutes = expires_in_s.div_ceil(60);
        let line = "─".repeat(shown.len() + 8);
        let human = format!(
            "\n  ┌{line}┐\n  │    {shown}    │\n  └{line}┘\n\n  {} is {shown}.\n  {}\n  {} (Ctrl+C to cancel)\n",
            words::code_intro(),
            words::code_read_out(minutes),
            words::WAITING,
        );
        self.emit(
            json!({"event": "code", "code": shown, "expires_in_s": expires_in_s}),
            &human,
            Notice::Code {
                code: shown.clone(),
                expires_in_s,
            },
        );
    }

    /// The technician typed a wrong code; a new one when the user asks
    /// (`left` more wrong codes are taken).
    pub fn wrong_code(&self, left: u32) {
        self.emit(
            json!({"event": "wrong_code", "reason": "the technician entered a wrong code", "tries_left": left}),
            &format!("\n{}", words::wrong_code_terminal(left)),
            Notice::WrongCode { left },
        );
    }

    /// A new code comes after a wait.
    pub fn new_code_in(&self, secs: u64) {
        self.emit(
            json!({"event": "new_code_in", "seconds": secs}),
            &words::new_code_in(secs),
            Notice::NewCodeIn { secs },
        );
    }

    /// The code died unused.
    pub fn expired(&self) {
        self.emit(
            json!({"event": "expired"}),
            words::EXPIRED_TERMINAL,
            Notice::Expired,
        );
    }

    /// Asks the one question: who, and why when they said.
    pub fn ask(&self, technician: &str, reason: Option<&str>) {
        self.emit(
            json!({"event": "request", "technician": technician, "reason": reason}),
            &words::asking_terminal(technician, reason),
            Notice::Ask {
                technician: technician.into(),
                reason: reason.map(str::to_owned),
            },
        );
    }

    /// Sharing started, or its mode changed.
    pub fn joined(&self, technician: &str, mode: Mode) {
        self.emit(
            json!({"event": "joined", "technician": technician, "mode": mode.as_str()}),
            &words::sharing_terminal(technician, mode),
            Notice::Joined {
                technician: technician.into(),
                mode,
            },
        );
    }

    /// The clipboard was handed across.
    pub fn clipboard(&self, to_host: bool, bytes: u64) {
        let direction = if to_host { "to_host" } else { "to_viewer" };
        self.emit(
            json!({"event": "clipboard", "direction": direction, "bytes": bytes}),
            &words::clipboard(to_host, bytes),
            Notice::Clipboard { to_host, bytes },
        );
    }

    /// A file was handed across.
    pub fn file(&self, to_host: bool, path: &str, bytes: u64, sha256: &[u8; 32]) {
        let sha = hex::encode(sha256);
        let event = if to_host {
            "file_received"
        } else {
            "file_sent"
        };
        self.emit(
            json!({"event": event, "path": path, "bytes": bytes, "sha256": sha}),
            &words::file(to_host, path, bytes),
            Notice::File {
                to_host,
                path: path.into(),
                bytes,
            },
        );
    }

    /// How far a transfer is.
    pub fn file_progress(&self, p: &Progress) {
        let direction = if p.to_host { "to_host" } else { "to_viewer" };
        let hint = if p.bytes < p.of {
            words::CANCEL_HINT_TERMINAL
        } else {
            ""
        };
        self.emit(
            json!({"event": "file_progress", "direction": direction, "name": p.name, "bytes": p.bytes, "of": p.of}),
            &format!("{}{hint}", words::progress(p.to_host, &p.name, p.bytes, p.of)),
            Notice::Progress(p.clone()),
        );
    }

    /// A transfer stopped before its end: cancelled by either side,
    /// refused, or failed.
    pub fn file_stopped(&self, f: &FileStopped) {
        let direction = if f.to_host { "to_host" } else { "to_viewer" };
        self.emit(
            json!({"event": "file_stopped", "direction": direction, "name": f.name, "reason": f.why}),
            &words::file_stopped(f.to_host, &f.name, &f.why),
            Notice::FileStopped(f.clone()),
        );
    }

    /// The technician wants a file; the answer is the next line.
    pub fn ask_fetch(&self, path: &str, bytes: u64) {
        self.emit(
            json!({"event": "fetch_request", "path": path, "bytes": bytes}),
            &words::ask_fetch_terminal(path, bytes),
            Notice::AskFetch {
                path: path.into(),
                bytes,
            },
        );
    }

    /// A message from the technician.
    pub fn chat(&self, text: &str) {
        self.emit(
            json!({"event": "chat", "from": "technician", "text": text}),
            &words::chat(text),
            Notice::Chat(text.into()),
        );
    }

    /// The link to the relay was lost; trying to get the session back.
    pub fn reconnecting(&self, reason: &str, window_s: u64) {
        self.emit(
            json!({"event": "reconnecting", "reason": reason, "window_s": window_s}),
            &format!("\n{}", words::reconnecting(reason, window_s)),
            Notice::Reconnecting {
                reason: reason.into(),
                window_s,
            },
        );
    }

    /// The session continues after a reconnect, as it was before.
    pub fn resumed(&self, after_ms: u64) {
        self.emit(
            json!({"event": "resumed", "after_ms": after_ms}),
            words::RECONNECTED,
            Notice::Resumed,
        );
    }

    /// The session is recorded for these auditors.
    pub fn recorded(&self, auditors: &[String], keys: bool) {
        let line = words::recorded(auditors, keys);
        self.emit(
            json!({"event": "recorded", "auditors": auditors, "keys": keys}),
            &line,
            Notice::Recorded(line.clone()),
        );
    }

    /// The desktop's portal is about to ask which screen to share.
    pub fn desktop_asks(&self) {
        self.emit(
            json!({"event": "desktop_asks"}),
            words::DESKTOP_ASKS,
            Notice::DesktopAsks,
        );
    }

    /// A technician the organisation vouches for asks for a session with
    /// this enrolled device, for `reason`, under its group's policy.
    pub fn device_session(&self, technician: &str, key: &str, reason: &str, unattended: bool) {
        let policy = if unattended { "unattended" } else { "attended" };
        let said = words::device_session(technician, reason, unattended);
        self.emit(
            json!({"event": "device_session", "technician": technician, "key": key,
                   "reason": reason, "policy": policy}),
            &said,
            Notice::Note(said.clone()),
        );
    }

    /// A device session was refused here (certificate, key, policy).
    pub fn device_refused(&self, why: &str) {
        let said = words::device_refused(why);
        self.emit(
            json!({"event": "device_refused", "reason": why}),
            &said,
            Notice::Note(said.clone()),
        );
    }

    /// The technician has had control a long while: go on?
    pub fn ask_continue(&self, minutes: u64, within_s: u64) {
        self.emit(
            json!({"event": "continue_request", "minutes": minutes, "within_s": within_s}),
            &words::ask_continue_terminal(minutes, within_s),
            Notice::AskContinue { minutes, within_s },
        );
    }

    /// The session is over.
    pub fn ended(&self, reason: &str) {
        self.emit(
            json!({"event": "ended", "reason": reason}),
            &format!("\n{}", words::ended(reason)),
            Notice::Ended {
                reason: reason.into(),
            },
        );
    }

    /// The session's receipt is written, for the user to keep.
    pub fn receipt(&self, path: &std::path::Path) {
        self.emit(
            json!({"event": "receipt", "path": path}),
            &words::receipt_kept(path),
            Notice::Note(words::receipt_kept(path)),
        );
    }

    /// The session's receipt could not be written in `dir`.
    pub fn receipt_failed(&self, dir: &std::path::Path, e: &std::io::Error) {
        self.emit(
            json!({"event": "receipt_failed", "reason": e.to_string()}),
            &words::receipt_failed(dir, e),
            Notice::Note(words::receipt_failed(dir, e)),
        );
    }

    /// A shared session is over; `--json` also counts what the technician's
    /// input came to (applied, dropped in view-only, refused).
    pub fn session_ended(&self, reason: &str, stats: &SessionStats) {
        self.emit(
            json!({
                "event": "ended",
                "reason": reason,
                "frames": stats.frames,
                "inputs_applied": stats.inputs_applied,
                "inputs_dropped": stats.inputs_dropped,
                "inputs_refused": stats.inputs_refused,
                "max_bytes_in_flight": stats.max_bytes_in_flight,
                "video_frames": stats.video_frames,
                "video_encode_ms": stats.video_encode_ms,
            }),
            &format!("\n{}", words::ended(reason)),
            Notice::Ended {
                reason: reason.into(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_hears_what_the_terminal_hears() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ui = Ui {
            json: true,
            window: Some(tx),
            recording: None,
            own_window: None,
        };
        ui.ask("tess", Some("INC-1"));
        ui.joined("tess", Mode::Control);
        ui.ended("ended by the user");
        let got: Vec<Notice> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(
            got,
            [
                Notice::Ask {
                    technician: "tess".into(),
                    reason: Some("INC-1".into()),
                },
                Notice::Joined {
                    technician: "tess".into(),
                    mode: Mode::Control
                },
                Notice::Ended {
                    reason: "ended by the user".into()
                },
            ]
        );
    }
}
