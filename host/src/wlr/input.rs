//! Input on a wlroots compositor: `wlr-virtual-pointer` for the pointer,
//! `virtual-keyboard` with a keymap of our own ([`super::keymap`]) for keys
//! and text. The technician's absolute positions are in the layout the
//! capture shows, so they map straight onto the compositor's layout.

use std::io::Write as _;
use std::os::fd::AsFd as _;
use std::time::Instant;

use lifeline_session::messages::{InputEvent, Key, MouseButton};
use wayland_client::globals::registry_queue_init;
use wayland_client::protocol::{wl_pointer, wl_seat};
use wayland_client::{Connection, EventQueue, delegate_noop};
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::{
    zwp_virtual_keyboard_manager_v1 as kb_manager, zwp_virtual_keyboard_v1 as kb,
};
use wayland_protocols_wlr::virtual_pointer::v1::client::{
    zwlr_virtual_pointer_manager_v1 as ptr_manager, zwlr_virtual_pointer_v1 as ptr,
};

use super::WlError;
use super::keymap::{self, Keymap};
use crate::platform::{InputError, InputSink};

/// evdev button codes.
const BTN_LEFT: u32 = 0x110;
const BTN_RIGHT: u32 = 0x111;
const BTN_MIDDLE: u32 = 0x112;
/// One wheel step, in the axis' units (as a mouse wheel sends).
const WHEEL_STEP: f64 = 15.0;
/// XKB_KEYMAP_FORMAT_TEXT_V1.
const KEYMAP_FORMAT: u32 = 1;

struct State;

/// The compositor's virtual pointer and keyboard.
pub struct WlrInput {
    conn: Connection,
    queue: EventQueue<State>,
    pointer: ptr::ZwlrVirtualPointerV1,
    keyboard: kb::ZwpVirtualKeyboardV1,
    keymap: Keymap,
    /// The layout's size, for absolute motion.
    extent: (u32, u32),
    /// Modifier keys held now (mask).
    held: u32,
    start: Instant,
}

impl std::fmt::Debug for WlrInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WlrInput")
            .field("extent", &self.extent)
            .finish()
    }
}

impl WlrInput {
    /// Connects and creates the virtual devices, for the layout the
    /// capture shows.
    pub fn open() -> Result<Self, InputError> {
        let open = |e: WlError| InputError::Open(Box::new(e));
        let conn = Connection::connect_to_env().map_err(|e| open(WlError::Connect(e)))?;
        let outputs = super::outputs::list(&conn).map_err(open)?;
        let extent = super::outputs::layout_size(outputs.iter());
        let (globals, queue) =
            registry_queue_init::<State>(&conn).map_err(|e| open(WlError::Globals(e)))?;
        let qh = queue.handle();
        let seat: wl_seat::WlSeat = globals
            .bind(&qh, 1..=1, ())
            .map_err(|_| open(WlError::Missing("wl_seat")))?;
        let pointers: ptr_manager::ZwlrVirtualPointerManagerV1 = globals
            .bind(&qh, 1..=2, ())
            .map_err(|_| open(WlError::NoVirtualInput("zwlr_virtual_pointer_manager_v1")))?;
        let keyboards: kb_manager::ZwpVirtualKeyboardManagerV1 = globals
            .bind(&qh, 1..=1, ())
            .map_err(|_| open(WlError::NoVirtualInput("zwp_virtual_keyboard_manager_v1")))?;
        let pointer = pointers.create_virtual_pointer(Some(&seat), &qh, ());
        let keyboard = keyboards.create_virtual_keyboard(&seat, &qh, ());
        let mut input = Self {
            conn,
            queue,
            pointer,
            keyboard,
            keymap: Keymap::new(),
            extent,
            held: 0,
            start: Instant::now(),
        };
        input.send_keymap().map_err(open)?;
        input.flush().map_err(InputError::Apply)?;
        Ok(input)
    }

    fn time(&self) -> u32 {
        // Milliseconds, wrapping as the protocol's timestamps do.
        (self.start.elapsed().as_millis() & u128::from(u32::MAX)) as u32
    }

    fn send_keymap(&mut self) -> Result<(), WlError> {
        let text = self.keymap.text();
        let mut file = tempfile::tempfile().map_err(WlError::Shm)?;
        file.write_all(text.as_bytes()).map_err(WlError::Shm)?;
        let size = u32::try_from(text.len()).map_err(|_| WlError::Format("keymap".into()))?;
        self.keyboard.keymap(KEYMAP_FORMAT, file.as_fd(), size);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), crate::platform::PlatformError> {
        self.conn.flush().map_err(WlError::Backend)?;
        // Errors the compositor sent (a protocol error ends the connection).
        self.queue
            .dispatch_pending(&mut State)
            .map_err(WlError::Dispatch)?;
        Ok(())
    }

    /// Presses or releases the key with `keysym`, sending a new keymap
    /// first when the keysym is new.
    fn key_sym(&mut self, keysym: &str, down: bool) -> Result<(), WlError> {
        let (code, changed) = self.keymap.code(keysym);
        if changed {
            self.send_keymap()?;
        }
        let t = self.time();
        self.keyboard.key(t, code, u32::from(down));
        Ok(())
    }

    fn key(&mut self, key: &Key, down: bool) -> Result<(), WlError> {
        self.key_sym(&keymap::keysym(key), down)?;
        if let Some(mask) = keymap::modifier_mask(key) {
            if down {
                self.held |= mask;
            } else {
                self.held &= !mask;
            }
            self.keyboard.modifiers(self.held, 0, 0, 0);
        }
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), WlError> {
        for c in text.chars() {
            let sym = keymap::char_keysym(c);
            self.key_sym(&sym, true)?;
            self.key_sym(&sym, false)?;
        }
        Ok(())
    }

    fn button(&mut self, button: MouseButton, down: bool) {
        let code = match button {
            MouseButton::Left => BTN_LEFT,
            MouseButton::Right => BTN_RIGHT,
            MouseButton::Middle => BTN_MIDDLE,
        };
        let state = if down {
            wl_pointer::ButtonState::Pressed
        } else {
            wl_pointer::ButtonState::Released
        };
        let t = self.time();
        self.pointer.button(t, code, state);
        self.pointer.frame();
    }

    fn wheel(&mut self, dx: i32, dy: i32) {
        let t = self.time();
        self.pointer.axis_source(wl_pointer::AxisSource::Wheel);
        for (axis, steps) in [
            (wl_pointer::Axis::VerticalScroll, dy),
            (wl_pointer::Axis::HorizontalScroll, dx),
        ] {
            if steps != 0 {
                let value = f64::from(steps) * WHEEL_STEP;
                self.pointer.axis_discrete(t, axis, value, steps);
            }
        }
        self.pointer.frame();
    }
}

impl InputSink for WlrInput {
    fn apply(&mut self, event: &InputEvent) -> Result<(), InputError> {
        let apply = |e: WlError| InputError::Apply(Box::new(e));
        match event {
            InputEvent::Move { x, y } => {
                let t = self.time();
                let (w, h) = self.extent;
                self.pointer.motion_absolute(
                    t,
                    (*x).min(w.saturating_sub(1)),
                    (*y).min(h.saturating_sub(1)),
                    w,
                    h,
                );
                self.pointer.frame();
            }
            InputEvent::Button { button, down } => self.button(*button, *down),
            InputEvent::Wheel { dx, dy } => self.wheel(*dx, *dy),
            InputEvent::Key { key, down } => self.key(key, *down).map_err(apply)?,
            InputEvent::Text(text) => self.text(text).map_err(apply)?,
        }
        self.flush().map_err(InputError::Apply)
    }
}

super::ignore_registry!(State);

delegate_noop!(State: ignore wl_seat::WlSeat);
delegate_noop!(State: ignore ptr_manager::ZwlrVirtualPointerManagerV1);
delegate_noop!(State: ignore ptr::ZwlrVirtualPointerV1);
delegate_noop!(State: ignore kb_manager::ZwpVirtualKeyboardManagerV1);
delegate_noop!(State: ignore kb::ZwpVirtualKeyboardV1);
