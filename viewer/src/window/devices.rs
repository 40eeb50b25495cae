//! The window's device list: the machines enrolled at the relay (asked
//! for with the technician's token), filtered by a search over names and
//! groups, and a session with one of them for the form's reason. Plain state and
//! drawing; the app fetches the list and connects.

use eframe::egui::{self, Color32, RichText};
use lifeline_proto::devices::{DeviceEntry, DevicePolicy, valid_reason};

use super::Action;

/// The device list's state.
#[derive(Debug, Default)]
pub struct DeviceList {
    /// The list the relay gave, once asked.
    pub entries: Option<Vec<DeviceEntry>>,
    /// Why the list could not be had.
    pub error: Option<String>,
    /// What the technician searches for.
    pub search: String,
}

/// The entries whose name or group contains `search` (any case), online
/// ones first, then by name.
pub fn matching<'a>(entries: &'a [DeviceEntry], search: &str) -> Vec<&'a DeviceEntry> {
    let needle = search.trim().to_lowercase();
    let mut found: Vec<&DeviceEntry> = entries
        .iter()
        .filter(|d| {
            needle.is_empty()
                || d.name.to_lowercase().contains(&needle)
                || d.group.to_lowercase().contains(&needle)
        })
        .collect();
    found.sort_by(|a, b| b.online.cmp(&a.online).then_with(|| a.name.cmp(&b.name)));
    found
}

impl DeviceList {
    /// Draws the list; `relay`, `token` and `reason` are the form's.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        (relay, token, reason): (&str, &str, &str),
        actions: &mut Vec<Action>,
    ) {
        let ready = !relay.trim().is_empty() && !token.trim().is_empty();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(ready, egui::Button::new("Refresh the device list"))
                .clicked()
            {
                actions.push(Action::ListDevices {
                    relay: relay.trim().into(),
                    token: token.trim().into(),
                });
            }
            let l = ui.label("Search");
            ui.add(egui::TextEdit::singleline(&mut self.search).desired_width(160.0))
                .labelled_by(l.id);
        });
        if let Some(e) = &self.error {
            ui.label(RichText::new(e).color(Color32::DARK_RED));
        }
        let Some(entries) = &self.entries else {
            return;
        };
        let shown = matching(entries, &self.search);
        if shown.is_empty() {
            ui.label("No enrolled device matches.");
            return;
        }
        let reason = reason.trim().to_owned();
        egui::Grid::new("devices")
            .num_columns(5)
            .striped(true)
            .show(ui, |ui| {
                for d in shown {
                    ui.label(&d.name);
                    ui.label(&d.group);
                    ui.label(d.policy.as_str());
                    let state = if d.disabled {
                        "disabled".to_owned()
                    } else if d.online {
                        "online".to_owned()
                    } else {
                        format!(
                            "offline (seen {})",
                            d.last_seen.as_deref().unwrap_or("never")
                        )
                    };
                    ui.label(state);
                    let needs_reason = d.policy == DevicePolicy::Unattended;
                    let reason_ok = if reason.is_empty() {
                        !needs_reason
                    } else {
                        valid_reason(&reason)
                    };
                    let can = d.online && !d.disabled && reason_ok;
                    let button = ui
                        .add_enabled(can, egui::Button::new(format!("Connect to {}", d.name)))
                        .on_disabled_hover_text(if reason_ok {
                            "not online"
                        } else {
                            "give a reason first"
                        });
                    if button.clicked() {
                        actions.push(Action::ConnectDevice {
                            relay: relay.trim().into(),
                            token: token.trim().into(),
                            name: d.name.clone(),
                            reason: reason.clone(),
                        });
                    }
                    ui.end_row();
                }
            });
    }
}
