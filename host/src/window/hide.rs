//! The window's "Hide from the technician" list: every open window with
//! a checkbox, opened from a button beside the code, the question or the
//! banner. Ticking one says [`Act::Hide`]; the agent's
//! [`crate::hidden::Privacy`] does the hiding. The list is drawn only once
//! this window is itself hidden from the technician (`hide_ready`).

use eframe::egui::{self, RichText};

use super::{Act, HostWindow};
use crate::words;

impl HostWindow {
    /// The button that opens and closes the list (nothing where windows
    /// cannot be hidden); it says how many are hidden.
    pub(super) fn hide_button(&mut self, ui: &mut egui::Ui) {
        let Some(listed) = &self.hidable else {
            return;
        };
        let hidden = listed.iter().filter(|w| w.private).count();
        let text = if hidden == 0 {
            words::HIDE_BUTTON.to_owned()
        } else {
            format!("{} ({})", words::HIDE_BUTTON, words::hiding_count(hidden))
        };
        if ui.selectable_label(self.hide_open, text).clicked() {
            self.hide_open = !self.hide_open;
        }
    }

    /// The list, while open.
    pub(super) fn hide_list(&mut self, ui: &mut egui::Ui, acts: &mut Vec<Act>) {
        let shown = self.hide_open && self.hide_ready;
        let Some(listed) = self.hidable.as_ref().filter(|_| shown) else {
            return;
        };
        ui.separator();
        ui.label(RichText::new(words::HIDE_HEADING).strong());
        ui.label(words::HIDE_HINT);
        // This window is not among them (`Privacy::windows`).
        let mut others = listed.iter().peekable();
        if others.peek().is_none() {
            ui.label(words::HIDE_NONE);
        }
        egui::ScrollArea::vertical()
            .max_height(180.0)
            .show(ui, |ui| {
                for w in others {
                    let mut private = w.private;
                    if ui.checkbox(&mut private, shown_title(&w.title)).changed() {
                        acts.push(Act::Hide { id: w.id, private });
                    }
                }
            });
    }
}

/// A title as the list shows it: one line, at most 80 characters.
fn shown_title(title: &str) -> String {
    let line: String = title.chars().filter(|c| !c.is_control()).collect();
    if line.chars().count() > 80 {
        format!("{}…", line.chars().take(79).collect::<String>())
    } else {
        line
    }
}
