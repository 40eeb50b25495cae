//! The window driven by egui_kittest: what it shows in each state, and
//! the actions its buttons, menus and the picture give.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use lifeline_session::messages::{Key, MouseButton};

use super::*;
use lifeline_proto::devices::{DeviceEntry, DevicePolicy};

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
        [
            Action::Connect {
                relay,
                code,
                token,
                reason,
            },
        ] => {
            assert_eq!(
                (relay.as_str(), token.as_str(), reason.as_str()),
                ("relay.example:4433", "llt_token", "")
            );
            assert_eq!(code.digits(), good);
        }
        other => panic!("expected one Connect, got {other:?}"),
    }
}

#[test]
fn a_reason_goes_with_the_join_and_a_malformed_one_holds_connect() {
    let code = SessionCode::new(lifeline_proto::Locator::new(12345).unwrap(), 678901)
        .unwrap()
        .digits();
    let mut h = harness(ViewerUi::new("r:1".into(), code, "t".into()));
    h.run();
    h.get_by_label("Reason").focus();
    h.run();
    h.get_by_label("Reason").type_text(&"x".repeat(257));
    h.run();
    assert!(
        h.query_by_label("a reason is at most 256 characters, on one line")
            .is_some()
    );
    h.get_by_label("Connect").click();
    h.run();
    assert!(
        h.state().actions.is_empty(),
        "no join with a malformed reason"
    );
    h.state_mut().ui.reason = " INC-4821, printer not found ".into();
    h.run();
    h.get_by_label("Connect").click();
    h.run();
    assert!(matches!(
        h.state().actions.as_slice(),
        [Action::Connect { reason, .. }] if reason == "INC-4821, printer not found"
    ));
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

#[test]
fn a_withheld_screen_is_said_over_the_picture_and_input_waits() {
    use lifeline_session::messages::Withheld;
    let why = Withheld::SecureDesktop;
    let mut h = sharing(Mode::Control);
    assert!(h.query_by_label_contains("security prompt").is_none());
    h.state_mut().ui.withheld = Some(why);
    h.run();
    // Both sentences, drawn once each over the picture.
    h.get_by_label_contains(crate::words::withheld(why));
    h.get_by_label_contains(crate::words::WITHHELD_NO_INPUT);
    let at = h
        .get_by_label_contains(crate::words::WITHHELD_NO_INPUT)
        .rect();
    let centre = h.ctx.content_rect().center().x;
    assert!((at.center().x - centre).abs() < 2.0, "centred: {at:?}");
    poke(&mut h);
    h.get_by_label("Send Ctrl+Alt+Del").click();
    h.run();
    assert!(
        h.state().actions.is_empty(),
        "nothing sent while withheld: {:?}",
        h.state().actions
    );
    // Shown again: the sentence goes and input flows.
    h.state_mut().ui.withheld = None;
    h.run();
    assert!(h.query_by_label_contains("security prompt").is_none());
    poke(&mut h);
    assert!(
        h.state()
            .actions
            .iter()
            .any(|a| matches!(a, Action::Input(_))),
        "{:?}",
        h.state().actions
    );
}

fn entry(name: &str, group: &str, policy: DevicePolicy, online: bool) -> DeviceEntry {
    DeviceEntry {
        name: name.into(),
        group: group.into(),
        policy,
        online,
        last_seen: None,
        key: [1; 32],
        disabled: false,
    }
}

#[test]
fn the_device_list_is_searched_and_an_unattended_device_needs_a_reason() {
    let mut ui = ViewerUi::new("relay.example:4433".into(), String::new(), "llt_t".into());
    ui.devices.entries = Some(vec![
        entry("kiosk-1", "lobby", DevicePolicy::Unattended, true),
        entry("desk-7", "lab", DevicePolicy::Attended, true),
        entry("server-2", "lab", DevicePolicy::Unattended, false),
    ]);
    let mut h = harness(ui);
    h.run();
    assert!(h.query_by_label("Connect to kiosk-1").is_some());
    h.get_by_label("Search").focus();
    h.run();
    h.get_by_label("Search").type_text("LAB");
    h.run();
    assert!(
        h.query_by_label("Connect to kiosk-1").is_none(),
        "filtered out"
    );
    assert!(h.query_by_label("Connect to desk-7").is_some());
    // Offline: no connecting; attended: no reason needed.
    h.get_by_label("Connect to server-2").click();
    h.get_by_label("Connect to desk-7").click();
    h.run();
    assert_eq!(
        h.state().actions,
        vec![Action::ConnectDevice {
            relay: "relay.example:4433".into(),
            token: "llt_t".into(),
            name: "desk-7".into(),
            reason: String::new(),
        }]
    );
}

#[test]
fn online_devices_come_first_and_unattended_ones_wait_for_a_reason() {
    let list = [
        entry("b", "g", DevicePolicy::Unattended, false),
        entry("c", "g", DevicePolicy::Unattended, true),
        entry("a", "g", DevicePolicy::Unattended, true),
    ];
    let names: Vec<&str> = devices::matching(&list, "")
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["a", "c", "b"]);
    let mut ui = ViewerUi::new("r:1".into(), String::new(), "t".into());
    ui.devices.entries = Some(list[1..].to_vec());
    let mut h = harness(ui);
    h.run();
    h.get_by_label("Connect to a").click();
    h.run();
    assert!(h.state().actions.is_empty(), "no reason yet");
    h.get_by_label("Reason").focus();
    h.run();
    h.get_by_label("Reason").type_text("INC-9");
    h.run();
    h.get_by_label("Connect to a").click();
    h.run();
    assert!(matches!(
        h.state().actions.as_slice(),
        [Action::ConnectDevice { name, reason, .. }] if name == "a" && reason == "INC-9"
    ));
}
