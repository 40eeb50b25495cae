//! The technician's window (eframe, glow renderer).
//!
//! [`ViewerUi`] is the whole interface as plain state: it draws one frame
//! and returns what the technician asked for as [`Action`]s, without doing
//! any I/O, so egui_kittest drives it in unit tests ([`tests`]). [`input`]
//! turns what is done over the remote screen's picture into input events
//! (pure, unit-tested); [`app`] runs the window and wires it to a real
//! [`crate::session::Viewer`] ([`run`]).

mod app;
pub mod devices;
pub mod input;
#[cfg(test)]
mod tests;

use eframe::egui::{self, Color32, RichText};
use lifeline_proto::SessionCode;
use lifeline_proto::control::Mode;
use lifeline_proto::devices::valid_reason;
use lifeline_session::messages::InputEvent;
use lifeline_session::messages::{HiddenBox, Quality, Showing, Withheld};
use lifeline_session::screen::Image;

pub use app::{Start, run};

use crate::monitors::Screens;
use crate::session::Figures;

/// What the technician asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Connect {
        relay: String,
        code: SessionCode,
        token: String,
        /// Why (empty: none given).
        reason: String,
    },
    /// Ask the relay for the enrolled devices.
    ListDevices {
        relay: String,
        token: String,
    },
    /// A session with an enrolled device, for a reason.
    ConnectDevice {
        relay: String,
        token: String,
        name: String,
        reason: String,
    },
    Input(InputEvent),
    /// The technician changed the quality setting.
    Quality(Quality),
    Disconnect,
    /// Send the user a message.
    Chat(String),
    /// Put this computer's clipboard text on the user's clipboard.
    ClipboardToHost,
    /// Copy the user's clipboard text onto this computer's clipboard.
    ClipboardFromHost,
    /// Show another of the host's monitors, or all.
    Show(Showing),
    /// Send these files or folders (dropped on the window) to the user.
    Put(Vec<std::path::PathBuf>),
    /// Fetch this file of the user's into this computer's downloads.
    Get(String),
    /// Stop the transfers under way.
    CancelTransfers,
}

/// Where the window stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Form,
    Busy(String),
    Sharing(Mode),
    Ended(String),
}

/// The whole interface, as state.
pub struct ViewerUi {
    pub relay: String,
    pub code: String,
    pub token: String,
    /// Why the technician connects (`--reason`), for a code or a device.
    pub reason: String,
    pub phase: Phase,
    pub host: String,
    pub figures: Figures,
    screen: Option<(egui::TextureHandle, [u32; 2])>,
    fullscreen: bool,
    /// Input translation's memory (the pointer last sent).
    translator: input::Translator,
    /// The remote pointer, drawn over the picture (captures leave it out).
    pub cursor: Option<(i32, i32)>,
    /// What the host should favour when the link is short.
    pub quality: Quality,
    /// Why the link was lost, while reconnecting.
    pub reconnecting: Option<String>,
    /// Chat so far: (from the user?, text).
    pub chat_log: Vec<(bool, String)>,
    /// The message being written.
    pub chat_draft: String,
    /// How the last clipboard request went.
    pub notice: Option<String>,
    /// The host's monitors, once it said.
    pub screens: Option<Screens>,
    /// The user's file the technician is typing the path of.
    pub fetch_path: String,
    /// The transfer under way, if any.
    pub transfer: Option<lifeline_session::files::Progress>,
    /// Why the user's screen cannot be shown now (the picture is dimmed
    /// under a sentence saying so, and no input is sent).
    pub withheld: Option<Withheld>,
    /// The parts of the picture the user hides (blank in it), each
    /// drawn as a plain box saying so.
    pub hidden: Vec<HiddenBox>,
    /// The enrolled devices, when the technician looks at them.
    pub devices: devices::DeviceList,
}

impl std::fmt::Debug for ViewerUi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewerUi")
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

/// What the code field says about what was typed so far.
pub fn code_hint(text: &str) -> Result<SessionCode, String> {
    if text.trim().is_empty() {
        return Err("Enter the 12-digit code the user reads out".into());
    }
    text.parse::<SessionCode>().map_err(|e| {
        let typed = text.chars().filter(char::is_ascii_digit).count();
        if typed < 12 && !matches!(e, lifeline_proto::CodeError::BadCharacter(_)) {
            format!("{typed} of 12 digits")
        } else {
            e.to_string()
        }
    })
}

impl ViewerUi {
    /// A fresh window with the connect form filled from the command line.
    pub fn new(relay: String, code: String, token: String) -> Self {
        Self {
            relay,
            code,
            token,
            reason: String::new(),
            phase: Phase::Form,
            host: String::new(),
            figures: Figures::default(),
            screen: None,
            fullscreen: false,
            translator: input::Translator::default(),
            cursor: None,
            quality: Quality::Auto,
            reconnecting: None,
            chat_log: Vec::new(),
            chat_draft: String::new(),
            fetch_path: String::new(),
            transfer: None,
            notice: None,
            screens: None,
            withheld: None,
            hidden: Vec::new(),
            devices: devices::DeviceList::default(),
        }
    }

    /// Replaces the remote screen's texture.
    pub fn set_screen(&mut self, ctx: &egui::Context, img: &Image) {
        let color = color_image(img);
        match &mut self.screen {
            Some((tex, size)) => {
                tex.set(color, egui::TextureOptions::LINEAR);
                *size = [img.width, img.height];
            }
            None => {
                let tex = ctx.load_texture("remote-screen", color, egui::TextureOptions::LINEAR);
                self.screen = Some((tex, [img.width, img.height]));
            }
        }
    }

    /// Draws one frame; returns what the technician asked for.
    pub fn show(&mut self, ui: &mut egui::Ui) -> Vec<Action> {
        let mut actions = Vec::new();
        match self.phase.clone() {
            Phase::Form => self.form(ui, &mut actions),
            Phase::Busy(status) => {
                ui.add_space(40.0);
                ui.vertical_centered(|ui| {
                    ui.spinner();
                    ui.label(RichText::new(status).size(18.0));
                    if ui.button("Cancel").clicked() {
                        actions.push(Action::Disconnect);
                    }
                });
            }
            Phase::Sharing(mode) => self.sharing(ui, mode, &mut actions),
            Phase::Ended(reason) => {
                ui.add_space(40.0);
                ui.vertical_centered(|ui| {
                    ui.label(RichText::new(format!("Session ended: {reason}")).size(18.0));
                    if ui.button("New connection").clicked() {
                        self.phase = Phase::Form;
                        self.screen = None;
                    }
                });
            }
        }
        actions
    }

    fn form(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        ui.add_space(24.0);
        ui.vertical_centered(|ui| {
            ui.heading("Connect to a user's computer");
            ui.add_space(12.0);
            egui::Grid::new("connect")
                .num_columns(2)
                .spacing([8.0, 8.0])
                .show(ui, |ui| {
                    let l = ui.label("Relay");
                    ui.text_edit_singleline(&mut self.relay).labelled_by(l.id);
                    ui.end_row();
                    let l = ui.label("Code");
                    ui.add(egui::TextEdit::singleline(&mut self.code).hint_text("123-456-789-012"))
                        .labelled_by(l.id);
                    ui.end_row();
                    ui.label("");
                    match code_hint(&self.code) {
                        Ok(_) => {
                            ui.label(RichText::new("Code looks right").color(Color32::DARK_GREEN))
                        }
                        Err(why) => ui.label(RichText::new(why).color(Color32::DARK_RED)),
                    };
                    ui.end_row();
                    let l = ui.label("Token");
                    ui.add(egui::TextEdit::singleline(&mut self.token).password(true))
                        .labelled_by(l.id);
                    ui.end_row();
                    let l = ui.label("Reason");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.reason)
                            .hint_text("ticket number or a few words")
                            .desired_width(300.0),
                    )
                    .labelled_by(l.id);
                    ui.end_row();
                    ui.label("");
                    if !self.reason.trim().is_empty() && !valid_reason(self.reason.trim()) {
                        ui.label(
                            RichText::new("a reason is at most 256 characters, on one line")
                                .color(Color32::DARK_RED),
                        );
                    } else {
                        ui.label("Shown to the user when you connect, and kept in the audit log");
                    }
                    ui.end_row();
                });
            ui.add_space(12.0);
            let code = code_hint(&self.code).ok();
            let reason = self.reason.trim();
            let ready = code.is_some()
                && !self.token.trim().is_empty()
                && !self.relay.trim().is_empty()
                && (reason.is_empty() || valid_reason(reason));
            if ui
                .add_enabled(ready, egui::Button::new("Connect"))
                .clicked()
                && let Some(code) = code
            {
                actions.push(Action::Connect {
                    relay: self.relay.trim().into(),
                    code,
                    token: self.token.trim().into(),
                    reason: reason.into(),
                });
            }
            ui.add_space(16.0);
            ui.separator();
            ui.heading("Or an enrolled device (unattended access)");
            let who = (
                self.relay.as_str(),
                self.token.as_str(),
                self.reason.as_str(),
            );
            self.devices.show(ui, who, actions);
        });
    }

    /// The clipboard buttons and the chat line; whether the chat field
    /// has the keyboard.
    fn toolkit(&mut self, ui: &mut egui::Ui, control: bool, actions: &mut Vec<Action>) -> bool {
        let mut typing = false;
        ui.horizontal(|ui| {
            let to_host = ui
                .add_enabled(control, egui::Button::new("Paste to remote"))
                .on_hover_text("Put the text on this computer's clipboard on the user's clipboard");
            if to_host.clicked() {
                actions.push(Action::ClipboardToHost);
            }
            let from_host = ui
                .add_enabled(control, egui::Button::new("Copy from remote"))
                .on_hover_text(
                    "Copy the text on the user's clipboard to this computer's clipboard",
                );
            if from_host.clicked() {
                actions.push(Action::ClipboardFromHost);
            }
            if let Some(n) = &self.notice {
                ui.label(n);
            }
            ui.separator();
            let label = ui.label("Message to the user:");
            let edit = ui
                .add(egui::TextEdit::singleline(&mut self.chat_draft).desired_width(240.0))
                .labelled_by(label.id);
            typing = edit.has_focus();
            let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Send").clicked() || entered) && !self.chat_draft.trim().is_empty() {
                let text = std::mem::take(&mut self.chat_draft);
                self.chat_log.push((false, text.clone()));
                actions.push(Action::Chat(text));
            }
        });
        if control {
            typing |= self.files(ui, actions);
        }
        for (from_user, text) in self.chat_log.iter().rev().take(3).rev() {
            let who = if *from_user { "User" } else { "You" };
            ui.label(format!("{who}: {text}"));
        }
        typing
    }

    /// Files: dropped on the window they go to the user; a path typed
    /// here is fetched; the transfer under way, with Cancel. Whether the
    /// path field has the keyboard.
    fn files(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) -> bool {
        let dropped: Vec<_> = ui.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if !dropped.is_empty() {
            actions.push(Action::Put(dropped));
        }
        let mut typing = false;
        ui.horizontal(|ui| {
            ui.label("Drop files here to send them to the user.");
            ui.separator();
            let label = ui.label("Fetch from the user:");
            let edit = ui
                .add(
                    egui::TextEdit::singleline(&mut self.fetch_path)
                        .hint_text("Documents/report.pdf")
                        .desired_width(200.0),
                )
                .labelled_by(label.id);
            typing = edit.has_focus();
            let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Fetch").clicked() || entered) && !self.fetch_path.trim().is_empty() {
                actions.push(Action::Get(self.fetch_path.trim().to_owned()));
                self.fetch_path.clear();
            }
        });
        if let Some(p) = &self.transfer {
            ui.horizontal(|ui| {
                let verb = if p.to_host { "Sending" } else { "Fetching" };
                let done = p.bytes as f32 / p.of.max(1) as f32;
                ui.label(format!("{verb} {}", p.name));
                ui.add(
                    egui::ProgressBar::new(done)
                        .desired_width(120.0)
                        .show_percentage(),
                );
                if ui.button("Cancel").clicked() {
                    actions.push(Action::CancelTransfers);
                }
            });
        }
        typing
    }

    /// The monitor switcher, when the host has more than one.
    fn monitor_menu(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        let Some(screens) = self.screens.as_ref().filter(|s| s.monitors.len() > 1) else {
            return;
        };
        let name = |i: usize| {
            let m = &screens.monitors[i];
            format!("{}: {} {}×{}", i + 1, m.name, m.width, m.height)
        };
        let all = "All monitors".to_owned();
        let shown = (0..screens.monitors.len())
            .find(|&i| screens.is_shown(i))
            .map_or(all.clone(), name);
        let mut chosen = None;
        egui::ComboBox::from_label("Monitor")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                for i in 0..screens.monitors.len() {
                    let label = name(i);
                    if ui.selectable_label(screens.is_shown(i), label).clicked() {
                        chosen = u8::try_from(i).ok().map(Showing::Monitor);
                    }
                }
                let all_shown = screens.showing == Showing::All;
                if ui.selectable_label(all_shown, all).clicked() {
                    chosen = Some(Showing::All);
                }
            });
        if let Some(c) = chosen.filter(|c| *c != screens.showing) {
            actions.push(Action::Show(c));
        }
    }

    fn sharing(&mut self, ui: &mut egui::Ui, mode: Mode, actions: &mut Vec<Action>) {
        let control = mode == Mode::Control;
        ui.horizontal(|ui| self.toolbar(ui, control, actions));
        let typing = self.toolkit(ui, control, actions);
        let Some(picture) = self.picture(ui) else {
            ui.label("Waiting for the first picture...");
            return;
        };
        hidden_over(ui, &picture, &self.hidden);
        if let Some(why) = self.withheld {
            // The desktop there takes no input from the host either.
            withheld_over(ui, picture.rect, why);
            return;
        }
        if !control {
            return;
        }
        let events = ui.ctx().input(|i| i.events.clone());
        let inputs = self.translator.translate(&events, &picture, typing);
        actions.extend(inputs.into_iter().map(Action::Input));
    }

    /// Who and how, Ctrl+Alt+Del, fullscreen, disconnect, quality,
    /// monitors, the figures and a lost link.
    fn toolbar(&mut self, ui: &mut egui::Ui, control: bool, actions: &mut Vec<Action>) {
        let what = if control { "Control" } else { "View only" };
        ui.label(RichText::new(format!("{} - {what}", self.host)).strong());
        ui.separator();
        let can_send = control && self.withheld.is_none();
        if ui
            .add_enabled(can_send, egui::Button::new("Send Ctrl+Alt+Del"))
            .clicked()
        {
            actions.extend(input::ctrl_alt_del().into_iter().map(Action::Input));
        }
        let full = if self.fullscreen {
            "Leave fullscreen"
        } else {
            "Fullscreen"
        };
        if ui.button(full).clicked() {
            self.fullscreen = !self.fullscreen;
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::Fullscreen(self.fullscreen));
        }
        if ui.button("Disconnect").clicked() {
            actions.push(Action::Disconnect);
        }
        ui.separator();
        self.quality_menu(ui, actions);
        self.monitor_menu(ui, actions);
        ui.separator();
        let f = &self.figures;
        let latency = f
            .input_to_update_ms
            .map_or("-".to_owned(), |ms| format!("{ms:.0} ms"));
        ui.label(format!(
            "{:.0} fps | latency {latency} | {:.0} kbit/s",
            f.fps,
            f.bytes_per_s * 8.0 / 1000.0
        ));
        if let Some(why) = &self.reconnecting {
            ui.separator();
            ui.colored_label(
                egui::Color32::from_rgb(200, 120, 0),
                format!("Reconnecting… ({why})"),
            );
        }
    }

    /// What the host should favour when the link is short.
    fn quality_menu(&mut self, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
        let before = self.quality;
        egui::ComboBox::from_label("Quality")
            .selected_text(self.quality.as_str())
            .show_ui(ui, |ui| {
                for q in [
                    Quality::Auto,
                    Quality::Speed,
                    Quality::Balanced,
                    Quality::Exact,
                ] {
                    ui.selectable_value(&mut self.quality, q, q.as_str());
                }
            });
        if self.quality != before {
            actions.push(Action::Quality(self.quality));
        }
    }

    /// The remote screen scaled into the space left, with the remote
    /// pointer over it (captures leave it out); where it was drawn.
    fn picture(&self, ui: &mut egui::Ui) -> Option<input::Picture> {
        let (tex, [w, h]) = self.screen.as_ref()?;
        let avail = ui.available_size();
        let scale = (avail.x / *w as f32).min(avail.y / *h as f32).max(0.01);
        let size = egui::vec2(*w as f32 * scale, *h as f32 * scale);
        let resp = ui
            .centered_and_justified(|ui| {
                ui.add(egui::Image::new((tex.id(), size)).sense(egui::Sense::click_and_drag()))
            })
            .inner;
        // The response may be wider than the picture (justified layout):
        // input maps against the picture itself.
        let rect = egui::Rect::from_center_size(resp.rect.center(), size);
        if let Some((cx, cy)) = self.cursor {
            let at = rect.min + egui::vec2(cx as f32 * scale, cy as f32 * scale);
            if rect.contains(at) {
                let p = ui.painter();
                p.circle_filled(at, 4.0, Color32::WHITE);
                p.circle_stroke(at, 4.0, egui::Stroke::new(1.5, Color32::BLACK));
            }
        }
        Some(input::Picture {
            rect,
            width: *w,
            height: *h,
        })
    }
}

/// A plain box over each part of the picture the user hides, saying so
/// (the host sent it blank; input there is dropped on its side).
fn hidden_over(ui: &mut egui::Ui, picture: &input::Picture, boxes: &[HiddenBox]) {
    let scale = picture.rect.width() / picture.width.max(1) as f32;
    let painter = ui.painter().with_clip_rect(picture.rect);
    for b in boxes {
        let min = picture.rect.min + egui::vec2(b.x as f32 * scale, b.y as f32 * scale);
        let size = egui::vec2(b.width as f32 * scale, b.height as f32 * scale);
        let rect = egui::Rect::from_min_size(min, size);
        painter.rect_filled(rect, 0.0, Color32::from_gray(72));
        painter.rect_stroke(
            rect,
            0.0,
            egui::Stroke::new(1.0, Color32::from_gray(140)),
            egui::StrokeKind::Inside,
        );
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            crate::words::HIDDEN_BOX,
            egui::FontId::proportional(14.0),
            Color32::from_gray(220),
        );
    }
}

/// Dims the picture (out of date while the screen is withheld) and says
/// why over it, centred.
fn withheld_over(ui: &mut egui::Ui, rect: egui::Rect, why: Withheld) {
    ui.painter()
        .rect_filled(rect, 0.0, Color32::from_black_alpha(180));
    let text = format!(
        "{}\n\n{}",
        crate::words::withheld(why),
        crate::words::WITHHELD_NO_INPUT
    );
    let font = egui::FontId::proportional(18.0);
    let wrap = (rect.width() * 0.84).max(120.0);
    let size = ui
        .painter()
        .layout(text.clone(), font.clone(), Color32::WHITE, wrap)
        .size();
    let at = egui::Rect::from_center_size(rect.center(), size + egui::vec2(2.0, 2.0));
    let sentence = RichText::new(text).font(font).color(Color32::WHITE);
    ui.put(at, egui::Label::new(sentence).wrap());
}

/// A screen image as egui takes it.
pub(crate) fn color_image(img: &Image) -> egui::ColorImage {
    let rgb: Vec<u8> = img
        .pixels
        .iter()
        .flat_map(|p| [(p >> 16) as u8, (p >> 8) as u8, *p as u8])
        .collect();
    egui::ColorImage::from_rgb([img.width as usize, img.height as usize], &rgb)
}
