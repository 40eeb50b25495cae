//! The technician's window (eframe, glow renderer).
//!
//! [`ViewerUi`] is the whole interface as plain state: it draws one frame
//! and returns what the technician asked for as [`Action`]s, without doing
//! any I/O, so egui_kittest drives it in unit tests. [`run`] wires it to a
//! real [`Viewer`] session.

use std::sync::{Arc, Mutex};

use eframe::egui::{self, Color32, RichText};
use lifeline_proto::SessionCode;
use lifeline_proto::control::Mode;
use lifeline_session::messages::{InputEvent, Key, MouseButton};
use lifeline_session::screen::Image;

use crate::session::{Figures, Status, Viewer};
use lifeline_session::messages::{Quality, Showing};

use crate::monitors::Screens;

/// What the technician asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Connect {
        relay: String,
        code: SessionCode,
        token: String,
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
    pub phase: Phase,
    pub host: String,
    pub figures: Figures,
    screen: Option<(egui::TextureHandle, [u32; 2])>,
    fullscreen: bool,
    last_pointer: Option<(u32, u32)>,
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

fn key_of(key: egui::Key, with_modifier: bool) -> Option<Key> {
    use egui::Key as E;
    Some(match key {
        E::Enter => Key::Return,
        E::Escape => Key::Escape,
        E::Tab => Key::Tab,
        E::Backspace => Key::Backspace,
        E::Delete => Key::Delete,
        E::Insert => Key::Insert,
        E::Home => Key::Home,
        E::End => Key::End,
        E::PageUp => Key::PageUp,
        E::PageDown => Key::PageDown,
        E::ArrowLeft => Key::Left,
        E::ArrowRight => Key::Right,
        E::ArrowUp => Key::Up,
        E::ArrowDown => Key::Down,
        other => {
            let name = other.name();
            if let Some(n) = name.strip_prefix('F').and_then(|n| n.parse::<u8>().ok()) {
                return Some(Key::F(n));
            }
            // Printable keys travel as text, unless a modifier makes them a
            // shortcut (ctrl+c).
            let mut chars = name.chars();
            match (chars.next(), chars.next(), with_modifier) {
                (Some(c), None, true) if c.is_ascii_alphanumeric() => {
                    Key::Char(c.to_ascii_lowercase())
                }
                (_, _, true) if other == E::Space => Key::Space,
                _ => return None,
            }
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
            phase: Phase::Form,
            host: String::new(),
            figures: Figures::default(),
            screen: None,
            fullscreen: false,
            last_pointer: None,
            cursor: None,
            quality: Quality::Auto,
            reconnecting: None,
            chat_log: Vec::new(),
            chat_draft: String::new(),
            fetch_path: String::new(),
            transfer: None,
            notice: None,
            screens: None,
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
                });
            ui.add_space(12.0);
            let code = code_hint(&self.code).ok();
            let ready =
                code.is_some() && !self.token.trim().is_empty() && !self.relay.trim().is_empty();
            if ui
                .add_enabled(ready, egui::Button::new("Connect"))
                .clicked()
                && let Some(code) = code
            {
                actions.push(Action::Connect {
                    relay: self.relay.trim().into(),
                    code,
                    token: self.token.trim().into(),
                });
            }
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
        ui.horizontal(|ui| {
            let what = if control { "Control" } else { "View only" };
            ui.label(RichText::new(format!("{} - {what}", self.host)).strong());
            ui.separator();
            if ui
                .add_enabled(control, egui::Button::new("Send Ctrl+Alt+Del"))
                .clicked()
            {
                for k in [Key::Control, Key::Alt, Key::Delete] {
                    actions.push(Action::Input(InputEvent::Key { key: k, down: true }));
                }
                for k in [Key::Delete, Key::Alt, Key::Control] {
                    actions.push(Action::Input(InputEvent::Key {
                        key: k,
                        down: false,
                    }));
                }
            }
            if ui
                .button(if self.fullscreen {
                    "Leave fullscreen"
                } else {
                    "Fullscreen"
                })
                .clicked()
            {
                self.fullscreen = !self.fullscreen;
                ui.ctx()
                    .send_viewport_cmd(egui::ViewportCommand::Fullscreen(self.fullscreen));
            }
            if ui.button("Disconnect").clicked() {
                actions.push(Action::Disconnect);
            }
            ui.separator();
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
        });
        let typing_chat = self.toolkit(ui, control, actions);
        let Some((tex, [w, h])) = &self.screen else {
            ui.label("Waiting for the first picture...");
            return;
        };
        let avail = ui.available_size();
        let scale = (avail.x / *w as f32).min(avail.y / *h as f32).max(0.01);
        let size = egui::vec2(*w as f32 * scale, *h as f32 * scale);
        let (w, h) = (*w, *h);
        let resp = ui
            .centered_and_justified(|ui| {
                ui.add(egui::Image::new((tex.id(), size)).sense(egui::Sense::click_and_drag()))
            })
            .inner;
        let picture = egui::Rect::from_center_size(resp.rect.center(), size);
        if let Some((cx, cy)) = self.cursor {
            let at = picture.min + egui::vec2(cx as f32 * scale, cy as f32 * scale);
            if picture.contains(at) {
                let p = ui.painter();
                p.circle_filled(at, 4.0, Color32::WHITE);
                p.circle_stroke(at, 4.0, egui::Stroke::new(1.5, Color32::BLACK));
            }
        }
        if !control {
            return;
        }
        // The response may be wider than the picture (justified layout):
        // map against the picture itself.
        let rect = egui::Rect::from_center_size(resp.rect.center(), size);
        let to_remote = |p: egui::Pos2| -> Option<(u32, u32)> {
            if !rect.contains(p) {
                return None;
            }
            let x = ((p.x - rect.min.x) / rect.width() * w as f32).clamp(0.0, (w - 1) as f32);
            let y = ((p.y - rect.min.y) / rect.height() * h as f32).clamp(0.0, (h - 1) as f32);
            Some((x as u32, y as u32))
        };
        let events = ui.ctx().input(|i| i.events.clone());
        for ev in events {
            if typing_chat && matches!(ev, egui::Event::Key { .. } | egui::Event::Text(_)) {
                // Keys go to the chat field, not the remote machine.
                continue;
            }
            match ev {
                egui::Event::PointerMoved(p) => {
                    if let Some(xy) = to_remote(p)
                        && self.last_pointer != Some(xy)
                    {
                        self.last_pointer = Some(xy);
                        actions.push(Action::Input(InputEvent::Move { x: xy.0, y: xy.1 }));
                    }
                }
                egui::Event::PointerButton {
                    pos,
                    button,
                    pressed,
                    ..
                } => {
                    let Some((x, y)) = to_remote(pos) else {
                        continue;
                    };
                    let button = match button {
                        egui::PointerButton::Primary => MouseButton::Left,
                        egui::PointerButton::Secondary => MouseButton::Right,
                        egui::PointerButton::Middle => MouseButton::Middle,
                        _ => continue,
                    };
                    actions.push(Action::Input(InputEvent::Move { x, y }));
                    actions.push(Action::Input(InputEvent::Button {
                        button,
                        down: pressed,
                    }));
                }
                egui::Event::MouseWheel { delta, .. } => {
                    let (dx, dy) = (-delta.x.signum() as i32, -delta.y.signum() as i32);
                    if dx != 0 || dy != 0 {
                        actions.push(Action::Input(InputEvent::Wheel { dx, dy }));
                    }
                }
                egui::Event::Text(t) => actions.push(Action::Input(InputEvent::Text(t))),
                egui::Event::Key {
                    key,
                    pressed,
                    modifiers,
                    repeat: false,
                    ..
                } => {
                    let shortcut = modifiers.ctrl || modifiers.alt || modifiers.command;
                    let Some(k) = key_of(key, shortcut) else {
                        continue;
                    };
                    let mods: Vec<Key> = [
                        (modifiers.ctrl, Key::Control),
                        (modifiers.alt, Key::Alt),
                        (modifiers.shift, Key::Shift),
                    ]
                    .into_iter()
                    .filter(|(on, _)| *on && shortcut)
                    .map(|(_, k)| k)
                    .collect();
                    if pressed {
                        for m in &mods {
                            actions.push(Action::Input(InputEvent::Key {
                                key: *m,
                                down: true,
                            }));
                        }
                        actions.push(Action::Input(InputEvent::Key { key: k, down: true }));
                    } else {
                        actions.push(Action::Input(InputEvent::Key {
                            key: k,
                            down: false,
                        }));
                        for m in mods.iter().rev() {
                            actions.push(Action::Input(InputEvent::Key {
                                key: *m,
                                down: false,
                            }));
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The live connection behind the window, filled in by background tasks.
#[derive(Default)]
struct Link {
    status: Option<Status>,
    viewer: Option<Arc<Viewer>>,
    error: Option<String>,
    frames_seen: u64,
    /// Messages from the user, as the session hands them on.
    chats: Option<tokio::sync::broadcast::Receiver<String>>,
    /// How the last clipboard request went.
    notice: Option<String>,
}

struct App {
    ui: ViewerUi,
    ca: Option<std::path::PathBuf>,
    rt: tokio::runtime::Handle,
    link: Arc<Mutex<Link>>,
    input: Option<tokio::sync::mpsc::UnboundedSender<InputEvent>>,
    /// This computer's clipboard, kept open: on X11 the text copied from
    /// the user lives only as long as its owner.
    clipboard: Arc<Mutex<Option<arboard::Clipboard>>>,
}

fn lock(l: &Mutex<Link>) -> std::sync::MutexGuard<'_, Link> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

impl App {
    fn connect(&mut self, ctx: &egui::Context, relay: String, code: SessionCode, token: String) {
        *lock(&self.link) = Link::default();
        self.ui.phase = Phase::Busy("Connecting to the relay...".into());
        let (link, ctx2, ca) = (self.link.clone(), ctx.clone(), self.ca.clone());
        let quality = self.ui.quality;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<InputEvent>();
        self.input = Some(tx);
        self.rt.spawn(async move {
            let status_link = link.clone();
            let status_ctx = ctx2.clone();
            let result = Viewer::connect(&relay, ca.as_deref(), &token, &code, move |s| {
                lock(&status_link).status = Some(s);
                status_ctx.request_repaint();
            })
            .await;
            match result {
                Ok(v) => {
                    if let Err(e) = v.set_quality(quality).await {
                        tracing::warn!(error = %e, "quality not sent");
                    }
                    let v = Arc::new(v);
                    lock(&link).viewer = Some(v.clone());
                    ctx2.request_repaint();
                    let mut changes = v.changes();
                    let v2 = v.clone();
                    tokio::spawn(async move {
                        while let Some(ev) = rx.recv().await {
                            if let Err(e) = v2.input(ev).await {
                                tracing::warn!(error = %e, "input not sent");
                                break;
                            }
                        }
                    });
                    while changes.changed().await.is_ok() {
                        ctx2.request_repaint();
                    }
                    ctx2.request_repaint();
                }
                Err(e) => {
                    lock(&link).error = Some(e.to_string());
                    ctx2.request_repaint();
                }
            }
        });
    }

    fn sync(&mut self, ctx: &egui::Context) {
        let mut link = lock(&self.link);
        if let Some(err) = link.error.take() {
            self.ui.phase = Phase::Ended(err);
            return;
        }
        if let Some(v) = link.viewer.clone() {
            if let Some(reason) = v.ended() {
                self.ui.phase = Phase::Ended(reason);
                link.viewer = None;
                link.chats = None;
                return;
            }
            self.ui.phase = Phase::Sharing(v.mode());
            self.ui.host = format!("{} ({})", v.host_name, v.os_user);
            self.ui.figures = v.figures();
            self.ui.cursor = v.cursor();
            self.ui.screens = v.screens();
            self.ui.transfer = v.progress().borrow().clone().filter(|p| p.bytes < p.of);
            let chats = link.chats.get_or_insert_with(|| v.chats());
            while let Ok(text) = chats.try_recv() {
                self.ui.chat_log.push((true, text));
            }
            if let Some(n) = link.notice.take() {
                self.ui.notice = Some(n);
            }
            self.ui.reconnecting = v.reconnecting().borrow().clone();
            let n = *v.frames().borrow();
            if n != link.frames_seen {
                link.frames_seen = n;
                if let Some(img) = v.image() {
                    self.ui.set_screen(ctx, &img);
                }
            }
            // Keep the figures moving even when the screen is still.
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
        } else if let (Phase::Busy(_), Some(s)) = (&self.ui.phase, &link.status) {
            self.ui.phase = Phase::Busy(match s {
                Status::Connecting => "Connecting to the relay...".into(),
                Status::WaitingForUser => "Waiting for the user to allow...".into(),
                Status::Sharing(_) => "Starting...".into(),
                Status::Ended(r) => r.clone(),
            });
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.sync(&ctx);
        let actions = egui::CentralPanel::default()
            .show(ui, |ui| self.ui.show(ui))
            .inner;
        for action in actions {
            self.handle(&ctx, action);
        }
    }
}

impl App {
    /// Carries out what the technician asked for.
    fn handle(&mut self, ctx: &egui::Context, action: Action) {
        match action {
            Action::Connect { relay, code, token } => self.connect(ctx, relay, code, token),
            Action::Input(ev) => {
                if let Some(tx) = &self.input
                    && tx.send(ev).is_err()
                {
                    tracing::warn!("input dropped: session gone");
                }
            }
            Action::Quality(q) => {
                if let Some(v) = lock(&self.link).viewer.clone() {
                    self.rt.spawn(async move {
                        if let Err(e) = v.set_quality(q).await {
                            tracing::warn!(error = %e, "quality not sent");
                        }
                    });
                }
            }
            Action::CancelTransfers => {
                if let Some(v) = lock(&self.link).viewer.clone() {
                    v.cancel_transfers();
                }
            }
            Action::Show(showing) => self.with_viewer(move |v| async move {
                v.show(showing).await.err().map(|e| e.to_string())
            }),
            Action::Chat(text) => self.with_viewer(|v| async move {
                if let Err(e) = v.chat(&text).await {
                    tracing::warn!(error = %e, "message not sent");
                }
                None
            }),
            Action::Disconnect => {
                let viewer = lock(&self.link).viewer.take();
                self.input = None;
                if let Some(v) = viewer {
                    self.rt
                        .spawn(async move { v.disconnect("disconnected by the technician").await });
                }
                self.ui.phase = Phase::Ended("disconnected by the technician".into());
            }
            Action::Put(paths) => self.put(paths),
            Action::Get(remote) => self.get(remote),
            Action::ClipboardToHost => self.paste_to_remote(),
            Action::ClipboardFromHost => self.copy_from_remote(),
        }
    }

    /// Sends dropped files or folders; the outcome shows beside the
    /// toolkit's buttons.
    fn put(&self, paths: Vec<std::path::PathBuf>) {
        self.with_viewer(|v| async move {
            let mut said = Vec::new();
            for p in paths {
                said.push(match v.put(&p).await {
                    Ok(moved) => match &moved[..] {
                        [one] => format!("Sent {}: saved as {}", p.display(), one.path),
                        many => format!("Sent {} files from {}", many.len(), p.display()),
                    },
                    Err(e) => format!("{}: {e}", p.display()),
                });
            }
            Some(said.join("; "))
        });
    }

    /// Fetches the user's file into this computer's downloads.
    fn get(&self, remote: String) {
        self.with_viewer(|v| async move {
            let local = fetch_target(&remote);
            Some(match v.get(&remote, &local).await {
                Ok(m) => format!("Fetched {remote} into {}", m.path),
                Err(e) => format!("{remote}: {e}"),
            })
        });
    }

    /// This computer's clipboard text onto the user's.
    fn paste_to_remote(&self) {
        let clip = self.clipboard.clone();
        self.with_viewer(|v| async move {
            let text = tokio::task::spawn_blocking(move || local_clipboard(&clip, None))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            Some(match text {
                Ok(Some(t)) => match v.clipboard_set(&t).await {
                    Ok(()) => format!("Pasted {} bytes to the remote clipboard", t.len()),
                    Err(e) => e.to_string(),
                },
                Ok(None) => "nothing to paste".into(),
                Err(e) => format!("this computer's clipboard: {e}"),
            })
        });
    }

    /// The user's clipboard text onto this computer's.
    fn copy_from_remote(&self) {
        let clip = self.clipboard.clone();
        self.with_viewer(|v| async move {
            Some(match v.clipboard_get().await {
                Ok(t) => {
                    let n = t.len();
                    let put = tokio::task::spawn_blocking(move || local_clipboard(&clip, Some(t)))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    match put {
                        Ok(_) => format!("Copied {n} bytes from the remote clipboard"),
                        Err(e) => format!("this computer's clipboard: {e}"),
                    }
                }
                Err(e) => e.to_string(),
            })
        });
    }
}

impl App {
    /// Runs `job` with the session, if there is one; its answer (if any)
    /// shows beside the clipboard buttons.
    fn with_viewer<F, Fut>(&self, job: F)
    where
        F: FnOnce(Arc<Viewer>) -> Fut,
        Fut: std::future::Future<Output = Option<String>> + Send + 'static,
    {
        let Some(v) = lock(&self.link).viewer.clone() else {
            return;
        };
        let link = self.link.clone();
        let fut = job(v);
        self.rt.spawn(async move {
            if let Some(notice) = fut.await {
                lock(&link).notice = Some(notice);
            }
        });
    }
}

/// Where a fetched file goes: this computer's `~/Downloads`, under the
/// remote file's name, never over an existing file.
fn fetch_target(remote: &str) -> std::path::PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| ".".into(), std::path::PathBuf::from);
    let dir = home.join("Downloads");
    let name = std::path::Path::new(remote)
        .file_name()
        .map_or_else(|| "fetched".into(), std::path::PathBuf::from);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot make the downloads folder");
    }
    lifeline_session::files::unique_path(&dir, &name, |p| p.exists())
}

/// Reads (`put` is `None`) or sets this computer's clipboard text.
fn local_clipboard(
    clip: &Mutex<Option<arboard::Clipboard>>,
    put: Option<String>,
) -> Result<Option<String>, String> {
    let mut guard = clip.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        *guard = Some(arboard::Clipboard::new().map_err(|e| e.to_string())?);
    }
    let Some(c) = guard.as_mut() else {
        return Ok(None);
    };
    match put {
        Some(text) => c.set_text(text).map(|()| None).map_err(|e| e.to_string()),
        None => match c.get_text() {
            Ok(t) => Ok(Some(t)),
            Err(arboard::Error::ContentNotAvailable) => Ok(None),
            Err(e) => Err(e.to_string()),
        },
    }
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

/// Opens the window and runs until it is closed. With a code given on the
/// command line, it connects at once.
pub fn run(
    rt: tokio::runtime::Handle,
    relay: String,
    ca: Option<std::path::PathBuf>,
    token: String,
    code: Option<String>,
    quality: Quality,
) -> Result<(), String> {
    let mut ui = ViewerUi::new(
        relay.clone(),
        code.clone().unwrap_or_default(),
        token.clone(),
    );
    ui.quality = quality;
    let auto = code.as_deref().and_then(|c| c.parse::<SessionCode>().ok());
    if auto.is_some() {
        ui.phase = Phase::Busy("Connecting to the relay...".into());
    }
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_title("Lifeline viewer")
            .with_inner_size([1024.0, 700.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Lifeline viewer",
        options,
        Box::new(move |cc| {
            let mut app = App {
                ui,
                ca,
                rt,
                link: Arc::default(),
                input: None,
                clipboard: Arc::default(),
            };
            if let Some(code) = auto {
                app.connect(&cc.egui_ctx, relay, code, token);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| format!("cannot open the window: {e}"))
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    use super::*;

    struct State {
        ui: ViewerUi,
        actions: Vec<Action>,
    }

    fn harness(ui: ViewerUi) -> Harness<'static, State> {
        Harness::new_ui_state(
            |ui, s: &mut State| {
                let a = s.ui.show(ui);
                s.actions.extend(a);
            },
            State {
                ui,
                actions: Vec::new(),
            },
        )
    }

    fn type_code(h: &mut Harness<'static, State>, text: &str) {
        h.get_by_label("Code").focus();
        h.run();
        h.get_by_label("Code").type_text(text);
        h.run();
    }

    #[test]
    fn the_code_is_checked_as_typed_and_connect_waits_for_it() {
        let mut h = harness(ViewerUi::new(
            "relay.example:4433".into(),
            String::new(),
            "llt_token".into(),
        ));
        h.run();
        assert!(
            h.query_by_label("Enter the 12-digit code the user reads out")
                .is_some()
        );
        type_code(&mut h, "123-45");
        assert!(h.query_by_label("5 of 12 digits").is_some(), "partial code");
        h.get_by_label("Connect").click();
        h.run();
        assert!(
            h.state().actions.is_empty(),
            "Connect must wait for a whole code"
        );

        // A typo in the last digit is caught by the check digit.
        let good = SessionCode::new(lifeline_proto::Locator::new(12345).unwrap(), 678901)
            .unwrap()
            .digits();
        let mut typo = good.clone().into_bytes();
        typo[11] = if typo[11] == b'0' { b'1' } else { b'0' };
        h.state_mut().ui.code.clear();
        type_code(&mut h, std::str::from_utf8(&typo).unwrap());
        assert!(h.query_by_label_contains("typo").is_some());

        h.state_mut().ui.code.clear();
        type_code(&mut h, &good);
        assert!(h.query_by_label("Code looks right").is_some());
        h.get_by_label("Connect").click();
        h.run();
        match &h.state().actions[..] {
            [Action::Connect { relay, code, token }] => {
                assert_eq!(
                    (relay.as_str(), token.as_str()),
                    ("relay.example:4433", "llt_token")
                );
                assert_eq!(code.digits(), good);
            }
            other => panic!("expected one Connect, got {other:?}"),
        }
    }

    fn sharing(mode: Mode) -> Harness<'static, State> {
        let mut ui = ViewerUi::new(String::new(), String::new(), String::new());
        ui.phase = Phase::Sharing(mode);
        let mut h = harness(ui);
        let img = Image::new(320, 200).unwrap();
        let ctx = h.ctx.clone();
        h.state_mut().ui.set_screen(&ctx, &img);
        h.run();
        h.state_mut().actions.clear();
        h
    }

    fn poke(h: &mut Harness<'static, State>) {
        let centre = h.ctx.content_rect().center();
        h.event(egui::Event::PointerMoved(centre));
        h.event(egui::Event::PointerButton {
            pos: centre,
            button: egui::PointerButton::Primary,
            pressed: true,
            modifiers: egui::Modifiers::NONE,
        });
        h.event(egui::Event::Text("x".into()));
        h.key_press(egui::Key::Enter);
        h.run();
    }

    #[test]
    fn the_quality_menu_tells_the_host() {
        let mut h = sharing(Mode::View);
        h.get_by_label("Quality").click();
        h.run();
        h.get_by_label("exact").click();
        h.run();
        assert_eq!(h.state().actions, [Action::Quality(Quality::Exact)]);
        assert_eq!(h.state().ui.quality, Quality::Exact);
    }

    #[test]
    fn the_monitor_menu_switches_and_shows_only_with_several() {
        let mut h = sharing(Mode::View);
        assert!(
            h.query_by_label("Monitor").is_none(),
            "no monitors told yet"
        );
        h.state_mut().ui.screens = Some(crate::monitors::sample(Showing::Primary));
        h.run();
        h.get_by_label("Monitor").click();
        h.run();
        h.get_by_label("2: HDMI-1 1280×720").click();
        h.run();
        assert_eq!(h.state().actions, [Action::Show(Showing::Monitor(1))]);
        h.state_mut().actions.clear();
        h.get_by_label("Monitor").click();
        h.run();
        h.get_by_label("All monitors").click();
        h.run();
        assert_eq!(h.state().actions, [Action::Show(Showing::All)]);
    }

    /// A file dropped on the window, as the windowing system hands it.
    #[derive(Debug)]
    struct Dropped(std::path::PathBuf);

    impl egui::DroppedFile for Dropped {
        fn path(&self) -> &std::path::Path {
            &self.0
        }

        fn bytes(&self) -> Result<Vec<u8>, String> {
            std::fs::read(&self.0).map_err(|e| e.to_string())
        }
    }

    #[test]
    fn files_are_sent_by_dropping_fetched_by_path_and_cancelled() {
        let mut h = sharing(Mode::Control);
        let file = std::path::PathBuf::from("/tmp/setup.exe");
        h.input_mut()
            .dropped_files
            .push(std::sync::Arc::new(Dropped(file.clone())));
        h.run();
        assert_eq!(h.state().actions, [Action::Put(vec![file])]);
        h.state_mut().actions.clear();
        h.get_by_label("Fetch from the user:").click();
        h.run();
        h.get_by_label("Fetch from the user:")
            .type_text("Documents/log.txt");
        h.run();
        h.get_by_label("Fetch").click();
        h.run();
        assert_eq!(
            h.state().actions,
            [Action::Get("Documents/log.txt".into())],
            "typing the path is not typing on the remote machine"
        );
        h.state_mut().actions.clear();
        assert!(h.query_by_label("Cancel").is_none(), "nothing under way");
        h.state_mut().ui.transfer = Some(lifeline_session::files::Progress {
            to_host: true,
            name: "setup.exe".into(),
            bytes: 10,
            of: 100,
        });
        h.run();
        h.get_by_label("Sending setup.exe");
        h.get_by_label("Cancel").click();
        h.run();
        assert_eq!(h.state().actions, [Action::CancelTransfers]);
    }

    #[test]
    fn view_only_forwards_no_input() {
        let mut h = sharing(Mode::View);
        assert!(h.query_by_label_contains("View only").is_some());
        poke(&mut h);
        h.get_by_label("Send Ctrl+Alt+Del").click();
        h.run();
        assert!(
            h.state().actions.is_empty(),
            "view only sent {:?}",
            h.state().actions
        );
    }

    #[test]
    fn chat_is_sent_and_its_keys_stay_out_of_the_remote_machine() {
        let mut h = sharing(Mode::Control);
        h.get_by_label("Message to the user:").click();
        h.run();
        h.event(egui::Event::Text("on my way".into()));
        h.run();
        h.get_by_label("Send").click();
        h.run();
        let acts = &h.state().actions;
        assert!(acts.contains(&Action::Chat("on my way".into())), "{acts:?}");
        assert!(
            !acts
                .iter()
                .any(|a| matches!(a, Action::Input(InputEvent::Text(_)))),
            "typing a message is not typing on the remote machine: {acts:?}"
        );
        assert_eq!(h.state().ui.chat_log, [(false, "on my way".to_owned())]);
    }

    #[test]
    fn the_clipboard_buttons_work_in_control_mode_only() {
        let mut h = sharing(Mode::Control);
        h.get_by_label("Paste to remote").click();
        h.run();
        h.get_by_label("Copy from remote").click();
        h.run();
        assert_eq!(
            h.state().actions,
            [Action::ClipboardToHost, Action::ClipboardFromHost]
        );
        let mut h = sharing(Mode::View);
        h.get_by_label("Paste to remote").click();
        h.get_by_label("Copy from remote").click();
        h.run();
        assert!(h.state().actions.is_empty(), "{:?}", h.state().actions);
    }

    #[test]
    fn control_forwards_pointer_text_keys_and_ctrl_alt_del() {
        let mut h = sharing(Mode::Control);
        poke(&mut h);
        let inputs: Vec<InputEvent> = h
            .state()
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Input(ev) => Some(ev.clone()),
                _ => None,
            })
            .collect();
        assert!(
            inputs.iter().any(|e| matches!(e, InputEvent::Move { .. })),
            "{inputs:?}"
        );
        assert!(
            inputs.contains(&InputEvent::Button {
                button: MouseButton::Left,
                down: true
            }),
            "{inputs:?}"
        );
        assert!(inputs.contains(&InputEvent::Text("x".into())), "{inputs:?}");
        assert!(
            inputs.contains(&InputEvent::Key {
                key: Key::Return,
                down: true
            }),
            "{inputs:?}"
        );
        h.state_mut().actions.clear();
        h.get_by_label("Send Ctrl+Alt+Del").click();
        h.run();
        assert_eq!(h.state().actions.len(), 6);
        h.state_mut().actions.clear();
        h.get_by_label("Disconnect").click();
        h.run();
        assert_eq!(h.state().actions, [Action::Disconnect]);
    }

    #[test]
    fn every_state_is_said_plainly() {
        let mut ui = ViewerUi::new(String::new(), String::new(), String::new());
        ui.phase = Phase::Busy("Waiting for the user to allow...".into());
        let mut h = harness(ui);
        // A spinner repaints for ever: step instead of running to rest.
        h.run_steps(2);
        assert!(
            h.query_by_label("Waiting for the user to allow...")
                .is_some()
        );
        h.state_mut().ui.phase = Phase::Ended("refused by the user".into());
        h.run();
        assert!(
            h.query_by_label("Session ended: refused by the user")
                .is_some()
        );
        h.get_by_label("New connection").click();
        h.run();
        assert_eq!(h.state().ui.phase, Phase::Form);
    }
}
