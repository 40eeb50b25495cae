//! The user's window: the code in large digits, the question with three
//! buttons, a banner while sharing (stop, view only, chat, transfers) and
//! why it ended. State plus drawing, no I/O: the agent's news arrives as
//! [`Notice`]s, the user's presses leave as [`Act`]s. [`app`] runs it.
//!
//! Keyboard-only use: Tab moves between the buttons, Enter or Space
//! presses the one with focus (the safest answer has it first), Escape
//! refuses the question, denies a fetch, or closes the ended window.

pub mod app;
mod hide;

use std::time::{Duration, Instant};

use eframe::egui::{self, Color32, RichText};
use lifeline_proto::control::Mode;
use lifeline_session::files::Progress;

use crate::prompt::Said;
use crate::session::Answer;
use crate::ui::Notice;
use crate::words;

/// Where the window stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Code {
        code: String,
        until: Instant,
    },
    /// A wrong code: a new one when the user asks.
    WrongCode {
        left: u32,
    },
    Expired,
    Asking {
        technician: String,
        /// Why they ask, when they said.
        reason: Option<String>,
    },
    Sharing {
        technician: String,
        mode: Mode,
    },
    Ended {
        reason: String,
    },
}

/// What the user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    Say(Said),
    /// Stop sharing (or cancel the code): as Ctrl+C at the terminal.
    Stop,
    /// Put the code on the clipboard.
    Copy(String),
    /// Keep the window above others (while sharing) or not.
    OnTop(bool),
    /// Close the window.
    Close,
    /// Hide a window from the technician (or show it again).
    Hide {
        id: u64,
        private: bool,
    },
}

/// The whole window, as state.
#[derive(Debug)]
pub struct HostWindow {
    pub phase: Phase,
    /// The technician mistyped the code: the new one is shown with a note.
    pub wrong_code: bool,
    pub reconnecting: Option<String>,
    /// Messages so far: (from the technician?, text).
    pub chat: Vec<(bool, String)>,
    pub draft: String,
    /// What the technician did with the clipboard and files, newest last.
    pub activity: Vec<String>,
    /// Who the session is recorded for, shown with the question and
    /// while sharing.
    pub recorded: Option<String>,
    pub transfer: Option<Progress>,
    /// The technician asks for this file (path, bytes).
    pub fetch: Option<(String, u64)>,
    /// Asked whether to go on: (minutes of control, answer by).
    pub confirm: Option<(u64, Instant)>,
    /// The code was copied.
    pub copied: bool,
    /// The first button of a new question takes the keyboard focus.
    focus_first: bool,
    /// While sharing, the chat is open (the user opened it, or a message
    /// came); else the window is a slim banner.
    pub chat_open: bool,
    /// The open windows the user may hide (`None`: this desktop cannot
    /// hide windows, and the list is not offered).
    pub hidable: Option<Vec<crate::hidden::Listed>>,
    /// The list of windows to hide is open.
    pub hide_open: bool,
    /// This window is hidden from the technician now: the list (every
    /// title, the checkboxes) is drawn only then, a frame after it opens.
    pub hide_ready: bool,
}

/// The window's width while it asks or shows the code, and while it is
/// a banner (sharing), in points; its height follows what it shows.
pub const WIDTH: f32 = 560.0;
pub const BANNER_WIDTH: f32 = 640.0;

impl Default for HostWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl HostWindow {
    pub fn new() -> Self {
        Self {
            phase: Phase::Starting,
            wrong_code: false,
            reconnecting: None,
            chat: Vec::new(),
            draft: String::new(),
            activity: Vec::new(),
            recorded: None,
            transfer: None,
            fetch: None,
            confirm: None,
            copied: false,
            focus_first: false,
            chat_open: false,
            hidable: None,
            hide_open: false,
            hide_ready: false,
        }
    }

    /// Takes in the agent's news; what the window must do about it.
    pub fn apply(&mut self, notice: Notice, now: Instant) -> Option<Act> {
        match notice {
            Notice::Code { code, expires_in_s } => {
                let until = now + Duration::from_secs(u64::from(expires_in_s));
                self.phase = Phase::Code { code, until };
                self.copied = false;
            }
            Notice::WrongCode { left } => {
                self.wrong_code = true;
                self.phase = Phase::WrongCode { left };
                self.focus_first = true;
            }
            Notice::NewCodeIn { .. } => self.phase = Phase::Starting,
            Notice::Expired => self.phase = Phase::Expired,
            Notice::Ask { technician, reason } => {
                self.phase = Phase::Asking { technician, reason };
                self.focus_first = true;
            }
            Notice::Joined { technician, mode } => {
                self.phase = Phase::Sharing { technician, mode };
                return Some(Act::OnTop(true));
            }
            Notice::Clipboard { to_host, bytes } => {
                self.note(words::clipboard(to_host, bytes));
            }
            Notice::File {
                to_host,
                path,
                bytes,
            } => {
                self.transfer = None;
                self.note(words::file(to_host, &path, bytes));
            }
            Notice::Progress(p) => self.transfer = (p.bytes < p.of).then_some(p),
            Notice::FileStopped(f) => {
                self.transfer = None;
                self.note(words::file_stopped(f.to_host, &f.name, &f.why));
            }
            Notice::AskFetch { path, bytes } => {
                self.fetch = Some((path, bytes));
                self.focus_first = true;
            }
            Notice::Chat(text) => {
                self.chat.push((true, text));
                self.chat_open = true;
            }
            Notice::Reconnecting { reason, window_s } => {
                self.reconnecting = Some(words::reconnecting(&reason, window_s));
            }
            Notice::Resumed => self.reconnecting = None,
            Notice::DesktopAsks => self.note(words::DESKTOP_ASKS.into()),
            Notice::Note(said) => self.note(said),
            Notice::Close => return Some(Act::Close),
            Notice::Recorded(line) => self.recorded = Some(line),
            Notice::AskContinue { minutes, within_s } => {
                self.confirm = Some((minutes, now + Duration::from_secs(within_s)));
                self.focus_first = true;
            }
            Notice::Failed { reason } => {
                self.phase = Phase::Ended {
                    reason: words::failed(&reason),
                };
                self.focus_first = true;
                return Some(Act::OnTop(false));
            }
            Notice::Ended { reason } => {
                self.phase = Phase::Ended {
                    reason: words::ended(&reason),
                };
                self.fetch = None;
                self.confirm = None;
                self.transfer = None;
                self.focus_first = true;
                return Some(Act::OnTop(false));
            }
        }
        None
    }

    fn note(&mut self, line: String) {
        self.activity.push(line);
        let excess = self.activity.len().saturating_sub(3);
        self.activity.drain(..excess);
    }

    /// Draws the window; what the user did.
    pub fn show(&mut self, ui: &mut egui::Ui, now: Instant) -> Vec<Act> {
        let mut acts = Vec::new();
        ui.add_space(12.0);
        match self.phase.clone() {
            Phase::Starting => {
                ui.vertical_centered(|ui| {
                    ui.spinner();
                    ui.label(RichText::new(words::CONNECTING).size(18.0));
                });
            }
            Phase::Code { code, until } => self.code(ui, &code, until, now, &mut acts),
            Phase::WrongCode { left } => self.wrong(ui, left, &mut acts),
            Phase::Expired => self.expired(ui, &mut acts),
            Phase::Asking { technician, reason } => {
                self.asking(ui, (&technician, reason.as_deref()), &mut acts);
            }
            Phase::Sharing { technician, mode } => {
                self.sharing(ui, &technician, mode, now, &mut acts);
            }
            Phase::Ended { reason } => self.ended(ui, &reason, &mut acts),
        }
        acts
    }

    /// A button that takes the keyboard focus when a new question opens.
    fn first_button(&mut self, ui: &mut egui::Ui, text: &str) -> egui::Response {
        let r = ui.add(egui::Button::new(RichText::new(text).size(16.0)));
        if std::mem::take(&mut self.focus_first) {
            r.request_focus();
        }
        r
    }

    fn code(
        &mut self,
        ui: &mut egui::Ui,
        code: &str,
        until: Instant,
        now: Instant,
        acts: &mut Vec<Act>,
    ) {
        ui.vertical_centered(|ui| {
            if self.wrong_code {
                ui.label(RichText::new(words::WRONG_CODE).color(Color32::DARK_RED));
            }
            ui.label(RichText::new(words::code_intro()).size(18.0));
            ui.label(
                RichText::new(words::code_grouped(code))
                    .size(44.0)
                    .monospace()
                    .strong(),
            );
            let left = until.saturating_duration_since(now);
            let minutes = u32::try_from(left.as_secs().div_ceil(60)).unwrap_or(u32::MAX);
            ui.label(words::code_read_out(minutes));
            ui.label(words::code_time_left(left.as_secs()));
            ui.horizontal(|ui| {
                let copy = if self.copied {
                    words::COPIED
                } else {
                    words::COPY
                };
                if ui.button(copy).clicked() {
                    self.copied = true;
                    acts.push(Act::Copy(code.to_owned()));
                }
                if ui.button(words::CANCEL).clicked() {
                    acts.push(Act::Stop);
                }
                self.hide_button(ui);
            });
            ui.add_space(8.0);
            ui.label(words::WAITING);
        });
        self.hide_list(ui, acts);
    }

    fn wrong(&mut self, ui: &mut egui::Ui, left: u32, acts: &mut Vec<Act>) {
        ui.vertical_centered(|ui| {
            ui.label(
                RichText::new(words::WRONG_CODE)
                    .size(18.0)
                    .color(Color32::DARK_RED),
            );
            ui.add(egui::Label::new(words::wrong_code_ask(left)).wrap());
            if self.first_button(ui, words::NEW_CODE).clicked() {
                acts.push(Act::Say(Said::NewCode));
            }
            if ui.button(words::CANCEL).clicked() {
                acts.push(Act::Stop);
            }
        });
    }

    fn expired(&mut self, ui: &mut egui::Ui, acts: &mut Vec<Act>) {
        ui.vertical_centered(|ui| {
            ui.label(RichText::new(words::EXPIRED).size(18.0));
            if ui.button(words::NEW_CODE).clicked() {
                acts.push(Act::Say(Said::NewCode));
            }
            if ui.button(words::CANCEL).clicked() {
                acts.push(Act::Stop);
            }
        });
    }

    fn asking(
        &mut self,
        ui: &mut egui::Ui,
        (technician, reason): (&str, Option<&str>),
        acts: &mut Vec<Act>,
    ) {
        let escape = ui.input(|i| i.key_pressed(egui::Key::Escape));
        ui.vertical_centered(|ui| {
            let question = RichText::new(words::asking(technician, reason));
            ui.add(egui::Label::new(question.size(20.0).strong()).wrap());
            if let Some(r) = &self.recorded {
                ui.label(RichText::new(r).strong());
            }
        });
        ui.add_space(12.0);
        let mut answer = None;
        egui::Grid::new("answers")
            .num_columns(2)
            .spacing([12.0, 12.0])
            .show(ui, |ui| {
                if self.first_button(ui, words::ALLOW_VIEW).clicked() {
                    answer = Some(Answer::Allow(Mode::View));
                }
                ui.label(words::ALLOW_VIEW_MEANS);
                ui.end_row();
                let control = ui.add(egui::Button::new(
                    RichText::new(words::ALLOW_CONTROL).size(16.0),
                ));
                if control.clicked() {
                    answer = Some(Answer::Allow(Mode::Control));
                }
                ui.label(words::ALLOW_CONTROL_MEANS);
                ui.end_row();
                let refuse = ui.add(egui::Button::new(RichText::new(words::REFUSE).size(16.0)));
                if refuse.clicked() || escape {
                    answer = Some(Answer::Refuse);
                }
                ui.label(words::REFUSE_MEANS);
                ui.end_row();
            });
        if let Some(a) = answer {
            acts.push(Act::Say(Said::Answer(a)));
        }
        ui.add_space(8.0);
        self.hide_button(ui);
        self.hide_list(ui, acts);
    }

    fn sharing(
        &mut self,
        ui: &mut egui::Ui,
        technician: &str,
        mode: Mode,
        now: Instant,
        acts: &mut Vec<Act>,
    ) {
        ui.horizontal(|ui| {
            let banner = RichText::new(words::sharing(technician, mode))
                .size(18.0)
                .strong()
                .color(Color32::WHITE)
                .background_color(Color32::from_rgb(0xb0, 0x30, 0x20));
            ui.label(banner);
            if ui.button(words::STOP_SHARING).clicked() {
                acts.push(Act::Stop);
            }
            if mode == Mode::Control && ui.button(words::SWITCH_TO_VIEW).clicked() {
                acts.push(Act::Say(Said::ViewOnly));
            }
            let toggle = if self.chat_open {
                words::HIDE_CHAT
            } else {
                words::SHOW_CHAT
            };
            if ui.button(toggle).clicked() {
                self.chat_open = !self.chat_open;
            }
            self.hide_button(ui);
        });
        self.hide_list(ui, acts);
        if let Some(r) = &self.reconnecting {
            ui.label(RichText::new(r).color(Color32::DARK_RED));
        }
        if let Some(r) = &self.recorded {
            ui.label(r);
        }
        self.questions(ui, now, acts);
        self.transfers(ui, acts);
        for line in &self.activity {
            ui.label(line);
        }
        if self.chat_open {
            ui.separator();
            self.chat(ui, acts);
        }
    }

    /// How wide the window is now: a banner while sharing.
    pub fn width(&self) -> f32 {
        if matches!(self.phase, Phase::Sharing { .. }) {
            BANNER_WIDTH
        } else {
            WIDTH
        }
    }

    /// The fetch and continue questions, while open.
    fn questions(&mut self, ui: &mut egui::Ui, now: Instant, acts: &mut Vec<Act>) {
        let escape = ui.input(|i| i.key_pressed(egui::Key::Escape));
        if let Some((path, bytes)) = self.fetch.clone() {
            ui.label(RichText::new(words::ask_fetch(&path, bytes)).strong());
            ui.horizontal(|ui| {
                let deny = self.first_button(ui, words::DENY).clicked() || escape;
                if deny {
                    self.fetch = None;
                    acts.push(Act::Say(Said::Fetch(false)));
                }
                if ui.button(words::ALLOW).clicked() {
                    self.fetch = None;
                    acts.push(Act::Say(Said::Fetch(true)));
                }
            });
        }
        if let Some((minutes, by)) = self.confirm {
            let left = by.saturating_duration_since(now).as_secs();
            ui.label(RichText::new(words::ask_continue(minutes, left)).strong());
            ui.horizontal(|ui| {
                if self.first_button(ui, words::CONTINUE).clicked() {
                    self.confirm = None;
                    acts.push(Act::Say(Said::Continue(true)));
                }
                if ui.button(words::STOP_SHARING).clicked() {
                    self.confirm = None;
                    acts.push(Act::Say(Said::Continue(false)));
                }
            });
        }
    }

    fn transfers(&mut self, ui: &mut egui::Ui, acts: &mut Vec<Act>) {
        let Some(p) = &self.transfer else {
            return;
        };
        ui.horizontal(|ui| {
            ui.label(words::progress(p.to_host, &p.name, p.bytes, p.of));
            let done = p.bytes as f32 / p.of.max(1) as f32;
            ui.add(egui::ProgressBar::new(done).desired_width(120.0));
            if ui.button(words::STOP_TRANSFER).clicked() {
                acts.push(Act::Say(Said::CancelTransfers));
            }
        });
    }

    fn chat(&mut self, ui: &mut egui::Ui, acts: &mut Vec<Act>) {
        for (from_technician, text) in self.chat.iter().rev().take(4).rev() {
            let who = if *from_technician {
                words::TECHNICIAN
            } else {
                words::YOU
            };
            ui.label(format!("{who}: {text}"));
        }
        ui.horizontal(|ui| {
            let label = ui.label(words::MESSAGE);
            let edit = ui
                .add(egui::TextEdit::singleline(&mut self.draft).desired_width(260.0))
                .labelled_by(label.id);
            let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button(words::SEND).clicked() || entered) && !self.draft.trim().is_empty() {
                let text = std::mem::take(&mut self.draft);
                self.chat.push((false, text.clone()));
                acts.push(Act::Say(Said::Chat(text)));
            }
        });
    }

    fn ended(&mut self, ui: &mut egui::Ui, reason: &str, acts: &mut Vec<Act>) {
        let escape = ui.input(|i| i.key_pressed(egui::Key::Escape));
        ui.vertical_centered(|ui| {
            ui.add(egui::Label::new(RichText::new(reason).size(18.0)).wrap());
            for line in &self.activity {
                ui.label(line);
            }
            if self.first_button(ui, words::CLOSE).clicked() || escape {
                acts.push(Act::Close);
            }
        });
    }
}

#[cfg(test)]
mod tests;
