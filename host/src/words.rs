//! Every sentence the user at the host reads, in one place: the terminal,
//! `--json`'s human twin and the window all take their words from here,
//! so a translation touches this file only. Plain words: the person asking
//! for help is not expected to know what a relay or a session is.

use lifeline_proto::control::Mode;

/// The window's title.
pub const TITLE: &str = "Lifeline - get help";

/// The code grouped for reading aloud: `123 456 789 012`.
pub fn code_grouped(code: &str) -> String {
    code.replace('-', " ")
}

pub fn code_intro() -> &'static str {
    "Your support code"
}

pub fn code_read_out(minutes: u32) -> String {
    format!("Read it to your technician. It works once and expires in {minutes} minutes.")
}

pub fn code_time_left(secs: u64) -> String {
    format!("Expires in {}:{:02}", secs / 60, secs % 60)
}

pub const COPY: &str = "Copy";
pub const COPIED: &str = "Copied";
pub const WAITING: &str = "Waiting for your technician…";
pub const CANCEL: &str = "Cancel";
pub const CONNECTING: &str = "Connecting to the support service…";

pub const WRONG_CODE: &str = "The technician entered a wrong code, so that code no longer works.";

/// After a wrong code: no new code until the user asks (`left` more wrong
/// codes are taken before Lifeline stops).
pub fn wrong_code_ask(left: u32) -> String {
    let tries = if left == 1 {
        "one more try".to_owned()
    } else {
        format!("{left} more tries")
    };
    format!(
        "If you are talking to your technician, get a new code and read it out again ({tries}). If not, someone may be guessing: cancel."
    )
}

pub fn wrong_code_terminal(left: u32) -> String {
    format!(
        "{WRONG_CODE}\n{}\nPress Enter for a new code, or Ctrl+C to quit.",
        wrong_code_ask(left)
    )
}

/// A new code is on its way, after a short wait (wrong codes slow it).
pub fn new_code_in(secs: u64) -> String {
    format!("A new code comes in {secs} s…")
}

/// Why the run stopped after the last wrong code it takes.
pub fn too_many_wrong_codes(count: u32) -> String {
    format!(
        "a wrong code was entered {count} times, so Lifeline stopped for your safety; start it again if you still need help"
    )
}

pub const EXPIRED: &str = "This code expired before anyone used it.";
pub const NEW_CODE: &str = "Get a new code";
pub const EXPIRED_TERMINAL: &str =
    "This code expired unused. Press Enter for a new code, or Ctrl+C to quit.";

/// The question's first line: who, and why when they said
/// (`lifeline-viewer --reason`).
pub fn asking(technician: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("{technician} wants to connect to this computer: {reason}"),
        None => format!("{technician} wants to connect to this computer."),
    }
}

pub const ALLOW_VIEW: &str = "See only";
pub const ALLOW_VIEW_MEANS: &str = "They see your screen, but cannot click or type.";
pub const ALLOW_CONTROL: &str = "See and control";
pub const ALLOW_CONTROL_MEANS: &str = "They see your screen and use your mouse and keyboard.";
pub const REFUSE: &str = "Refuse";
pub const REFUSE_MEANS: &str = "Nobody connects. This code stops working.";

/// The question at the terminal, with its one-letter answers.
pub fn asking_terminal(technician: &str, reason: Option<&str>) -> String {
    format!(
        "\nTechnician {}\n  v = let them see your screen only\n  c = let them see and control it\n  r = refuse\nYour answer [v/c/r]: ",
        asking(technician, reason)
    )
}

pub fn sharing(technician: &str, mode: Mode) -> String {
    match mode {
        Mode::View => format!("Sharing with {technician} (see only)"),
        Mode::Control => format!("Sharing with {technician} (control)"),
    }
}

pub fn sharing_terminal(technician: &str, mode: Mode) -> String {
    let what = match mode {
        Mode::View => "can see your screen (view only)",
        Mode::Control => "can see and control your screen",
    };
    format!(
        "\n*** Sharing your screen with {technician}: they {what}. Press Ctrl+C to stop. ***\nType a message and press Enter to send it to {technician}."
    )
}

/// Said when the relay records the session.
pub fn recorded(auditors: &[String], keys: bool) -> String {
    let who = auditors.join(", ");
    let what = if keys {
        "the screen, clicks and everything typed"
    } else {
        "the screen and clicks (not what is typed)"
    };
    format!("This session is recorded for {who}: {what}. Only they can open the recording.")
}

/// Said when sharing starts on a desktop that asks through its portal.
pub const DESKTOP_ASKS: &str = "Your desktop now asks too: choose the screen to share and press Share. That second window is your desktop's own, not Lifeline's; until you answer it, your technician sees nothing.";
pub const STOP_SHARING: &str = "Stop sharing";
pub const SWITCH_TO_VIEW: &str = "Switch to view only";
pub const NOW_VIEW_ONLY: &str = "They can now only see your screen.";
pub const MESSAGE: &str = "Message to your technician:";
/// Opens the chat under the sharing banner, and closes it.
pub const SHOW_CHAT: &str = "Messages";
pub const HIDE_CHAT: &str = "Hide messages";
pub const SEND: &str = "Send";
pub const YOU: &str = "You";
pub const TECHNICIAN: &str = "Technician";

pub fn clipboard(to_host: bool, bytes: u64) -> String {
    if to_host {
        format!("The technician put {bytes} bytes of text on your clipboard.")
    } else {
        format!("The technician copied the text on your clipboard ({bytes} bytes).")
    }
}

pub fn file(to_host: bool, path: &str, bytes: u64) -> String {
    if to_host {
        format!("The technician sent you a file ({bytes} bytes): saved as {path}")
    } else {
        format!("The technician fetched {path} ({bytes} bytes).")
    }
}

pub fn progress(to_host: bool, name: &str, bytes: u64, of: u64) -> String {
    let pct = (bytes * 100).checked_div(of).unwrap_or(100);
    let verb = if to_host { "Receiving" } else { "Sending" };
    format!("{verb} {name}: {pct}% ({bytes} of {of} bytes)")
}

pub const CANCEL_HINT_TERMINAL: &str = " (type /cancel and Enter to stop it)";
pub const STOP_TRANSFER: &str = "Stop the transfer";

pub fn file_stopped(to_host: bool, name: &str, why: &str) -> String {
    if to_host {
        format!("Receiving {name} stopped: {why}")
    } else {
        format!("Sending {name} stopped: {why}")
    }
}

pub fn ask_fetch(path: &str, bytes: u64) -> String {
    format!("The technician wants to copy {path} ({bytes} bytes) from this computer.")
}

pub fn ask_fetch_terminal(path: &str, bytes: u64) -> String {
    format!("\n{}\nAllow? [y/n]: ", ask_fetch(path, bytes))
}

pub const ALLOW: &str = "Allow";
pub const DENY: &str = "Do not allow";

pub fn chat(text: &str) -> String {
    format!("\nMessage from the technician: {text}")
}

pub fn reconnecting(reason: &str, window_s: u64) -> String {
    format!("Connection lost ({reason}); reconnecting… (for up to {window_s} s)")
}

pub const RECONNECTED: &str = "Reconnected: the session goes on as before.";

pub fn ask_continue(minutes: u64, within_s: u64) -> String {
    format!(
        "The technician has had control for {minutes} minutes. Continue sharing? Without an answer the session ends in {within_s} s."
    )
}

pub fn ask_continue_terminal(minutes: u64, within_s: u64) -> String {
    format!("\n{} [y/n]: ", ask_continue(minutes, within_s))
}

pub const CONTINUE: &str = "Continue";

pub fn ended(reason: &str) -> String {
    format!("Session ended: {reason}.")
}

pub const CLOSE: &str = "Close";

pub fn failed(reason: &str) -> String {
    format!("Lifeline cannot connect you: {reason}")
}

/// Why a session ended, in the user's words.
pub const REFUSED_BY_USER: &str = "refused by the user";
pub const ENDED_BY_USER: &str = "ended by the user";
pub const CANCELLED_BY_USER: &str = "cancelled by the user";
pub const CODE_EXPIRED: &str = "code expired";
pub const WRONG_CODE_ENDED: &str = "a wrong code was entered";
pub const NOT_CONFIRMED: &str = "the user did not confirm to continue in time";

/// Why a session ended when the consent question went unanswered.
pub fn unanswered(within: std::time::Duration) -> String {
    let s = within.as_secs();
    if s >= 120 && s.is_multiple_of(60) {
        format!("refused: the user did not answer within {} minutes", s / 60)
    } else if s == 60 {
        "refused: the user did not answer within a minute".to_owned()
    } else {
        format!("refused: the user did not answer within {s} seconds")
    }
}

/// How a device session's technician is shown to the user: the name the
/// organisation's certificate gives, and the reason they gave.
pub fn device_technician(name: &str, reason: &str) -> String {
    if reason.trim().is_empty() {
        name.to_owned()
    } else {
        format!("{name} ({reason})")
    }
}

/// Said when a technician the organisation vouches for starts a session
/// with this enrolled device.
pub fn device_session(technician: &str, reason: &str, unattended: bool) -> String {
    let how = if unattended {
        "unattended access, allowed by your organisation"
    } else {
        "your answer is needed"
    };
    if reason.trim().is_empty() {
        format!("{technician} asks for a session with this computer ({how}).")
    } else {
        format!("{technician} asks for a session with this computer: {reason} ({how}).")
    }
}

/// Said when a device session was refused by this machine (the
/// certificate, the key, the policy).
pub fn device_refused(why: &str) -> String {
    format!("A session request was refused: {why}.")
}

/// Why an enrolled device refuses an unattended session without a reason.
pub const REASON_REQUIRED: &str = "this device's group needs a reason for every unattended session";

/// Why a device session ended before it began: the technician's side did
/// not finish the handshake in time.
pub const DEVICE_HANDSHAKE_TIMEOUT: &str =
    "the technician's side did not complete the handshake in time";

/// `lifeline-host service`: listed online at `relay` as `device`, its link
/// at UDP `port` (the relay's, or its devices port).
pub fn service_online(relay: &str, device: &str, port: u16) -> String {
    format!("Online at {relay} as {device} (UDP port {port}).")
}

/// The service could not come online (it keeps trying).
pub fn not_online(why: &str) -> String {
    format!("Not online yet, trying again: {why}")
}

pub fn service_offline(why: &str) -> String {
    format!("Offline: {why}")
}

pub fn no_program_to_answer(why: &str) -> String {
    format!("cannot find this program to answer a call: {why}")
}

pub fn call_process_failed(why: &str) -> String {
    format!("cannot start the call's process: {why}")
}

pub fn call_unanswerable(why: &str) -> String {
    format!("A technician called, but: {why}")
}

pub fn session_failed(why: &str) -> String {
    format!("The session failed: {why}")
}

/// Where the session's receipt was kept.
pub fn receipt_kept(path: &std::path::Path) -> String {
    format!(
        "A receipt of this session, to keep or forward, is in {}",
        path.display()
    )
}

/// The receipt could not be written.
pub fn receipt_failed(dir: &std::path::Path, e: &std::io::Error) -> String {
    format!(
        "No receipt of this session could be written in {}: {e}",
        dir.display()
    )
}

/// Why windows cannot be hidden on this desktop (`--hide-window`).
pub fn cannot_hide(why: &str) -> String {
    format!("windows cannot be hidden from the technician on this desktop: {why}")
}

/// [`cannot_hide`] on a wlroots compositor.
pub const HIDE_WLROOTS: &str = "a wlroots compositor (sway, Hyprland, river) tells programs the titles of its windows but not where they are on the screen; close or minimise what the technician must not see";

/// [`cannot_hide`] through the desktop portal.
pub const HIDE_PORTAL: &str = "the desktop portal (GNOME, KDE) shares the screen without telling where any window is; share a single window from its dialog instead, or close what the technician must not see";

/// [`cannot_hide`] anywhere else (macOS, for now).
pub const HIDE_ELSEWHERE: &str = "Lifeline can hide windows on X11 desktops and Windows only so far; close or minimise what the technician must not see";

/// The host window's list of windows the user can hide.
pub const HIDE_HEADING: &str = "Hide from the technician";

/// Under [`HIDE_HEADING`].
pub const HIDE_HINT: &str =
    "Ticked windows are shown as a blank box, and the technician cannot click or type into them.";

/// When there is no window to list.
pub const HIDE_NONE: &str = "No other windows are open.";

/// The banner's button that opens the list while sharing.
pub const HIDE_BUTTON: &str = "Hide windows";

/// How many windows are hidden, on the banner.
pub fn hiding_count(n: usize) -> String {
    match n {
        1 => "1 window hidden".into(),
        n => format!("{n} windows hidden"),
    }
}
