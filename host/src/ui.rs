//! What the user at the host sees: plain sentences, or one JSON object a
//! line with `--json` for scripts and tests.

use lifeline_proto::SessionCode;
use lifeline_proto::control::Mode;
use serde_json::json;

use crate::session::SessionStats;

/// Prints host events for a person or a program.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub json: bool,
}

impl Ui {
    fn emit(&self, value: serde_json::Value, human: &str) {
        if self.json {
            println!("{value}");
        } else {
            println!("{human}");
        }
    }

    /// A new code to read out.
    pub fn code(&self, code: &SessionCode, expires_in_s: u32) {
        let shown = code.to_string();
        let minutes = expires_in_s.div_ceil(60);
        let line = "─".repeat(shown.len() + 8);
        let human = format!(
            "\n  ┌{line}┐\n  │    {shown}    │\n  └{line}┘\n\n  Your support code is {shown}.\n  Read it to your technician. It works once and expires in {minutes} minutes.\n  Waiting for your technician… (Ctrl+C to cancel)\n"
        );
        self.emit(
            json!({"event": "code", "code": shown, "expires_in_s": expires_in_s}),
            &human,
        );
    }

    /// The technician typed a wrong code; a new one follows.
    pub fn wrong_code(&self) {
        self.emit(
            json!({"event": "wrong_code", "reason": "the technician entered a wrong code"}),
            "\nThe technician entered a wrong code, so that code no longer works.\nHere is a new one to read out:",
        );
    }

    /// The code died unused.
    pub fn expired(&self) {
        self.emit(
            json!({"event": "expired"}),
            "This code expired unused. Press Enter for a new code, or Ctrl+C to quit.",
        );
    }

    /// Asks the one question.
    pub fn ask(&self, technician: &str) {
        self.emit(
            json!({"event": "request", "technician": technician}),
            &format!(
                "\nTechnician {technician} wants to connect to this computer.\n  v = let them see your screen only\n  c = let them see and control it\n  r = refuse\nYour answer [v/c/r]: "
            ),
        );
    }

    /// Sharing started.
    pub fn joined(&self, technician: &str, mode: Mode) {
        let what = match mode {
            Mode::View => "can see your screen (view only)",
            Mode::Control => "can see and control your screen",
        };
        self.emit(
            json!({"event": "joined", "technician": technician, "mode": mode.as_str()}),
            &format!("\n*** Sharing your screen with {technician}: they {what}. Press Ctrl+C to stop. ***\nType a message and press Enter to send it to {technician}."),
        );
    }

    /// The clipboard was handed across.
    pub fn clipboard(&self, to_host: bool, bytes: u64) {
        let (direction, human) = if to_host {
            (
                "to_host",
                format!("The technician put {bytes} bytes of text on your clipboard."),
            )
        } else {
            (
                "to_viewer",
                format!("The technician copied the text on your clipboard ({bytes} bytes)."),
            )
        };
        self.emit(
            json!({"event": "clipboard", "direction": direction, "bytes": bytes}),
            &human,
        );
    }

    /// A file was handed across.
    pub fn file(&self, to_host: bool, path: &str, bytes: u64, sha256: &[u8; 32]) {
        let sha = hex::encode(sha256);
        let (event, human) = if to_host {
            (
                "file_received",
                format!("The technician sent you a file ({bytes} bytes): saved as {path}"),
            )
        } else {
            (
                "file_sent",
                format!("The technician fetched {path} ({bytes} bytes)."),
            )
        };
        self.emit(
            json!({"event": event, "path": path, "bytes": bytes, "sha256": sha}),
            &human,
        );
    }

    /// How far a transfer is.
    pub fn file_progress(&self, p: &lifeline_session::files::Progress) {
        let pct = (p.bytes * 100).checked_div(p.of).unwrap_or(100);
        let (direction, verb) = if p.to_host {
            ("to_host", "Receiving")
        } else {
            ("to_viewer", "Sending")
        };
        self.emit(
            json!({"event": "file_progress", "direction": direction, "name": p.name, "bytes": p.bytes, "of": p.of}),
            &format!(
                "{verb} {}: {pct}% ({} of {} bytes){}",
                p.name,
                p.bytes,
                p.of,
                if p.bytes < p.of {
                    " (type /cancel and Enter to stop it)"
                } else {
                    ""
                }
            ),
        );
    }

    /// A transfer stopped before its end: cancelled by either side,
    /// refused, or failed.
    pub fn file_stopped(&self, f: &crate::files::FileStopped) {
        let (direction, human) = if f.to_host {
            (
                "to_host",
                format!("Receiving {} stopped: {}", f.name, f.why),
            )
        } else {
            (
                "to_viewer",
                format!("Sending {} stopped: {}", f.name, f.why),
            )
        };
        self.emit(
            json!({"event": "file_stopped", "direction": direction, "name": f.name, "reason": f.why}),
            &human,
        );
    }

    /// The technician wants a file; the answer is the next line.
    pub fn ask_fetch(&self, path: &str, bytes: u64) {
        self.emit(
            json!({"event": "fetch_request", "path": path, "bytes": bytes}),
            &format!(
                "\nThe technician wants to copy {path} ({bytes} bytes) from this computer.\nAllow? [y/n]: "
            ),
        );
    }

    /// A message from the technician.
    pub fn chat(&self, text: &str) {
        self.emit(
            json!({"event": "chat", "from": "technician", "text": text}),
            &format!("\nMessage from the technician: {text}"),
        );
    }

    /// The link to the relay was lost; trying to get the session back.
    pub fn reconnecting(&self, reason: &str, window_s: u64) {
        self.emit(
            json!({"event": "reconnecting", "reason": reason, "window_s": window_s}),
            &format!("\nConnection lost ({reason}); reconnecting… (for up to {window_s} s)"),
        );
    }

    /// The session continues after a reconnect, as it was before.
    pub fn resumed(&self, after_ms: u64) {
        self.emit(
            json!({"event": "resumed", "after_ms": after_ms}),
            "Reconnected: the session goes on as before.",
        );
    }

    /// The session is over.
    pub fn ended(&self, reason: &str) {
        self.emit(
            json!({"event": "ended", "reason": reason}),
            &format!("\nSession ended: {reason}."),
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
            }),
            &format!("\nSession ended: {reason}."),
        );
    }
}

/// What the user answered to [`Ui::ask`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Allow(Mode),
    Refuse,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(parse_answer(" V\n"), Some(Answer::Allow(Mode::View)));
        assert_eq!(parse_answer("control"), Some(Answer::Allow(Mode::Control)));
        assert_eq!(parse_answer("no"), Some(Answer::Refuse));
        assert_eq!(parse_answer("yes"), None);
    }
}
