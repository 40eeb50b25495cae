//! The recording player's window (eframe, glow): the screen at the
//! playhead, play and pause, a seek bar, the speed, and the timeline of
//! what happened (a click jumps there). [`PlayerUi`] is plain state, tested
//! with egui_kittest; [`run`] wires it to a window.

use std::time::{Duration, Instant};

use eframe::egui;

use crate::play::{Cursor, Playback};

/// The speeds offered.
pub const SPEEDS: [f32; 5] = [0.5, 1.0, 2.0, 4.0, 8.0];

/// The player's state.
pub struct PlayerUi {
    pub playback: Playback,
    cursor: Cursor,
    pub at_ms: u64,
    pub playing: bool,
    pub speed: f32,
    timeline: Vec<(u64, String)>,
    screen: Option<egui::TextureHandle>,
    /// The texture lags the playhead.
    stale: bool,
}

impl std::fmt::Debug for PlayerUi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlayerUi")
            .field("at_ms", &self.at_ms)
            .field("playing", &self.playing)
            .finish()
    }
}

/// A note (the host's json event) as a short line.
fn short(note: &str) -> String {
    let Ok(serde_json::Value::Object(mut m)) = serde_json::from_str::<serde_json::Value>(note)
    else {
        return note.to_owned();
    };
    let event = m
        .remove("event")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let rest: Vec<String> = m
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect();
    format!("{event}  {}", rest.join(", "))
}

impl PlayerUi {
    /// Paused at the first picture.
    pub fn new(playback: Playback) -> Self {
        let timeline = playback
            .events
            .iter()
            .filter_map(|t| match &t.event {
                lifeline_session::recording::Event::Note(n) => Some((t.at_ms, short(n))),
                _ => None,
            })
            .collect();
        let start = playback.first_picture_ms().unwrap_or(0);
        let mut ui = Self {
            playback,
            cursor: Cursor::default(),
            at_ms: 0,
            playing: false,
            speed: 1.0,
            timeline,
            screen: None,
            stale: true,
        };
        ui.seek(start);
        ui
    }

    /// Moves the playhead.
    pub fn seek(&mut self, at_ms: u64) {
        self.at_ms = at_ms.min(self.playback.duration_ms());
        if self.cursor.seek(&self.playback, self.at_ms) {
            self.stale = true;
        }
    }

    /// Time passed: playing moves the playhead, and stops at the end.
    pub fn advance(&mut self, dt: Duration) {
        if !self.playing {
            return;
        }
        let step = (dt.as_secs_f64() * 1000.0 * f64::from(self.speed)) as u64;
        self.seek(self.at_ms + step);
        if self.at_ms >= self.playback.duration_ms() {
            self.playing = false;
        }
    }

    /// The screen at the playhead, if there is one yet.
    pub fn image(&self) -> Option<&lifeline_session::screen::Image> {
        self.cursor.image()
    }

    fn texture(&mut self, ctx: &egui::Context) {
        if !self.stale {
            return;
        }
        let Some(img) = self.cursor.image() else {
            return;
        };
        let color = crate::window::color_image(img);
        match &mut self.screen {
            Some(tex) => tex.set(color, egui::TextureOptions::LINEAR),
            None => {
                self.screen =
                    Some(ctx.load_texture("recorded-screen", color, egui::TextureOptions::LINEAR));
            }
        }
        self.stale = false;
    }

    /// Draws one frame.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.texture(ui.ctx());
        let end = self.playback.duration_ms();
        egui::Panel::right("timeline").show(ui, |ui| {
            ui.heading("Timeline");
            egui::ScrollArea::vertical().show(ui, |ui| {
                let mut jump = None;
                for (at, line) in &self.timeline {
                    let label = format!("{:>7.1} s  {line}", *at as f64 / 1000.0);
                    if ui.button(label).clicked() {
                        jump = Some(*at);
                    }
                }
                if let Some(at) = jump {
                    self.seek(at);
                }
            });
        });
        egui::Panel::bottom("controls").show(ui, |ui| {
            if let Some(d) = &self.playback.damage {
                ui.colored_label(egui::Color32::RED, format!("Damaged: {d}"));
            }
            ui.horizontal(|ui| {
                let label = if self.playing { "Pause" } else { "Play" };
                if ui.button(label).clicked() {
                    if !self.playing && self.at_ms >= end {
                        self.seek(0);
                    }
                    self.playing = !self.playing;
                }
                egui::ComboBox::from_label("Speed")
                    .selected_text(format!("{}×", self.speed))
                    .show_ui(ui, |ui| {
                        for s in SPEEDS {
                            ui.selectable_value(&mut self.speed, s, format!("{s}×"));
                        }
                    });
                let mut at = self.at_ms as f64 / 1000.0;
                let slider = egui::Slider::new(&mut at, 0.0..=end as f64 / 1000.0)
                    .suffix(" s")
                    .text("Time");
                if ui.add(slider).changed() {
                    self.seek((at * 1000.0) as u64);
                }
                ui.label(format!(
                    "{:.1} s of {:.1} s",
                    self.at_ms as f64 / 1000.0,
                    end as f64 / 1000.0
                ));
            });
        });
        egui::CentralPanel::default().show(ui, |ui| match &self.screen {
            Some(tex) => {
                let size = tex.size_vec2();
                let scale = (ui.available_width() / size.x)
                    .min(ui.available_height() / size.y)
                    .min(1.0);
                ui.image((tex.id(), size * scale));
            }
            None => {
                ui.label("Nothing of the screen recorded yet at this moment.");
            }
        });
    }
}

struct App {
    ui: PlayerUi,
    last: Instant,
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let now = Instant::now();
        self.ui.advance(now - self.last);
        self.last = now;
        self.ui.show(ui);
        if self.ui.playing {
            ui.ctx().request_repaint_after(Duration::from_millis(33));
        }
    }
}

/// Opens the player and runs until it is closed.
pub fn run(playback: Playback) -> Result<(), String> {
    let title = format!("Lifeline recording: session {}", playback.header.session);
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_title(title.clone())
            .with_inner_size([1200.0, 760.0]),
        ..Default::default()
    };
    let ui = PlayerUi::new(playback);
    eframe::run_native(
        &title,
        options,
        Box::new(move |_| {
            Ok(Box::new(App {
                ui,
                last: Instant::now(),
            }))
        }),
    )
    .map_err(|e| format!("cannot open the window: {e}"))
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use lifeline_record::AuditorSecret;
    use lifeline_record::chain::frame;
    use lifeline_record::seal::Sealer;
    use lifeline_session::recording::{Event, Timed, encode};
    use lifeline_session::screen::{Encoder, Image};

    use super::*;

    fn screen(colour: u32) -> Image {
        Image {
            width: 32,
            height: 16,
            pixels: vec![colour; 32 * 16],
        }
    }

    /// Three seconds: a keyframe at 0 (grey), the screen red at 1 s, a
    /// note at 1.5 s, blue at 2 s, the end at 3 s.
    fn recording() -> Playback {
        let secret = AuditorSecret::generate();
        let (mut sealer, head) = Sealer::new("s1", 0, &[("al".into(), secret.public())]);
        let mut enc = Encoder::lossless();
        let mut plain = Vec::new();
        let mut push = |at_ms, event| plain.extend(encode(&Timed { at_ms, event }));
        let frame_of = |enc: &mut Encoder, c| enc.encode(&screen(c)).unwrap();
        push(
            0,
            Event::Frame {
                update: frame_of(&mut enc, 0x808080),
                keyframe: true,
            },
        );
        push(
            1000,
            Event::Frame {
                update: frame_of(&mut enc, 0xff0000),
                keyframe: false,
            },
        );
        push(
            1500,
            Event::Note(r#"{"event":"chat","text":"hello"}"#.into()),
        );
        push(
            2000,
            Event::Frame {
                update: frame_of(&mut enc, 0x0000ff),
                keyframe: false,
            },
        );
        push(
            3000,
            Event::Note(r#"{"event":"ended","reason":"done"}"#.into()),
        );
        let mut file = frame(&head);
        file.extend(frame(&sealer.seal(&plain, true).unwrap()));
        Playback::from_bytes(&file, &secret).unwrap()
    }

    fn harness() -> Harness<'static, PlayerUi> {
        Harness::new_ui_state(
            |ui, p: &mut PlayerUi| p.show(ui),
            PlayerUi::new(recording()),
        )
    }

    fn colour(h: &Harness<'static, PlayerUi>) -> u32 {
        h.state().image().unwrap().pixels[0]
    }

    #[test]
    fn it_opens_paused_on_the_first_picture_and_plays_to_the_end() {
        let mut h = harness();
        h.run();
        assert!(!h.state().playing);
        assert_eq!(colour(&h), 0x808080);
        h.get_by_label("Play").click();
        h.run();
        assert!(h.state().playing);
        h.state_mut().advance(Duration::from_millis(1200));
        assert_eq!(colour(&h), 0xff0000);
        h.state_mut().speed = 4.0;
        h.state_mut().advance(Duration::from_millis(1000));
        assert_eq!(colour(&h), 0x0000ff);
        assert!(!h.state().playing, "stopped at the end");
        h.run();
        assert!(h.query_by_label("Play").is_some());
    }

    #[test]
    fn the_timeline_jumps_and_seeking_back_rebuilds_the_screen() {
        let mut h = harness();
        h.run();
        h.get_by_label_contains("chat").click();
        h.run();
        assert_eq!(h.state().at_ms, 1500);
        assert_eq!(colour(&h), 0xff0000);
        h.get_by_label_contains("ended").click();
        h.run();
        assert_eq!(colour(&h), 0x0000ff);
        h.state_mut().seek(500);
        assert_eq!(colour(&h), 0x808080, "back before the red");
    }
}
