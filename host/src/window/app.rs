//! Runs the [`HostWindow`] with eframe (glow) on the main thread while the
//! agent runs on the tokio runtime: notices in, the user's words out, and
//! a stop (the window closed, "Stop sharing", "Cancel") as Ctrl+C would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use tokio::sync::{Notify, mpsc};

use super::{Act, HostWindow};
use crate::guard::{ScreenRect, WindowPlace};
use crate::hidden::Privacy;
use crate::prompt::Said;
use crate::ui::Notice;
use crate::words;

/// The window's ends of its channels to the agent.
#[derive(Debug)]
pub struct Links {
    pub notices: mpsc::UnboundedReceiver<Notice>,
    pub said: mpsc::UnboundedSender<Said>,
    /// Told when the user stops (once is enough).
    pub stop: Arc<Notify>,
    /// Where the window is, for the guard that keeps remote input off
    /// its questions.
    pub place: Arc<WindowPlace>,
    /// The user's private windows, where this desktop can hide them.
    pub hiding: Option<Privacy>,
}

struct App {
    window: HostWindow,
    links: Links,
    /// The size last asked of the window system.
    size: Option<egui::Vec2>,
}

/// Space around what the window shows (the panel's margin), in points.
const MARGIN: f32 = 16.0;

impl App {
    fn act(&mut self, ctx: &egui::Context, act: Act) {
        match act {
            Act::Say(said) => {
                // The agent is gone once the session ended; nothing to tell.
                let _ = self.links.said.send(said);
            }
            Act::Stop => self.links.stop.notify_one(),
            Act::Copy(code) => ctx.copy_text(code),
            Act::OnTop(on) => {
                let level = if on {
                    egui::WindowLevel::AlwaysOnTop
                } else {
                    egui::WindowLevel::Normal
                };
                ctx.send_viewport_cmd(egui::ViewportCommand::WindowLevel(level));
            }
            Act::Close => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            Act::Hide { id, private } => {
                if let Some(p) = &self.links.hiding {
                    p.choose(id, private);
                }
            }
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        let now = Instant::now();
        while let Ok(n) = self.links.notices.try_recv() {
            if let Some(act) = self.window.apply(n, now) {
                self.act(&ctx, act);
            }
        }
        self.links.place.set(ctx.input(screen_rect));
        if let Some(p) = &self.links.hiding {
            self.window.hidable = Some(p.windows());
            // While the list shows every title and its checkboxes, this
            // window is hidden from the technician too: hidden first, the
            // list drawn from the frame after.
            p.list_open(self.window.hide_open);
            self.window.hide_ready = self.window.hide_open;
        }
        if ctx.input(|i| i.viewport().close_requested()) {
            // Closing the window is stopping: the session (or the code)
            // ends as with Ctrl+C.
            self.links.stop.notify_one();
        }
        let (acts, used) = egui::CentralPanel::default()
            .show(ui, |ui| {
                let acts = self.window.show(ui, now);
                // Where the next widget would go: the bottom of what was
                // drawn (the panel itself fills the window).
                (acts, ui.cursor().min.y - ui.max_rect().min.y)
            })
            .inner;
        for act in acts {
            self.act(&ctx, act);
        }
        if self.window.hide_open != self.window.hide_ready {
            // The list opened or closed: the next frame follows at once.
            ctx.request_repaint();
        }
        self.fit(&ctx, used);
        // The time left, and news from the agent, without waiting for input.
        ctx.request_repaint_after(Duration::from_millis(250));
    }
}

impl App {
    /// Sizes the window to what it shows (its phase's width, the height
    /// of its content) and puts it at the top centre of the screen, where
    /// it covers least; asked again only when that size changes.
    fn fit(&mut self, ctx: &egui::Context, content_height: f32) {
        let want = egui::vec2(
            self.window.width(),
            (content_height + MARGIN).ceil().clamp(48.0, 720.0),
        );
        if self.size == Some(want) {
            return;
        }
        self.size = Some(want);
        ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(want));
        if let Some(screen) = ctx.input(|i| i.viewport().monitor_size) {
            let x = ((screen.x - want.x) / 2.0).max(0.0).round();
            ctx.send_viewport_cmd(egui::ViewportCommand::OuterPosition(egui::pos2(x, 0.0)));
        }
    }
}

/// Where the window is on the screen, in the screen's pixels (what input
/// is applied in); `None` where the platform does not say (Wayland).
fn screen_rect(i: &egui::InputState) -> Option<ScreenRect> {
    let vp = i.viewport();
    let rect = vp.outer_rect.or(vp.inner_rect)?;
    let scale = vp.native_pixels_per_point.unwrap_or(1.0);
    // Rounded outwards: a pixel on the edge counts as the window's.
    let (x0, y0) = ((rect.min.x * scale).floor(), (rect.min.y * scale).floor());
    let (x1, y1) = ((rect.max.x * scale).ceil(), (rect.max.y * scale).ceil());
    Some(ScreenRect {
        x: x0 as i32,
        y: y0 as i32,
        width: (x1 - x0).max(0.0) as u32,
        height: (y1 - y0).max(0.0) as u32,
    })
}

/// Opens the window and runs it until the user closes it.
pub fn run(links: Links) -> Result<(), String> {
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_title(words::TITLE)
            .with_inner_size([super::WIDTH, 240.0]),
        ..Default::default()
    };
    eframe::run_native(
        words::TITLE,
        options,
        Box::new(move |_cc| {
            Ok(Box::new(App {
                window: HostWindow::new(),
                links,
                size: None,
            }))
        }),
    )
    .map_err(|e| format!("cannot open the window: {e}"))
}
