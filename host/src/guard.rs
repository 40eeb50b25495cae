//! Remote input never answers the host's own questions (pure): while a
//! question is open (consent, a fetch, going on), the technician's input
//! that could answer it is dropped before it reaches any backend (x11,
//! wlroots, portal: the driver applies input in one place, through this).
//!
//! - Keys and text: every one is dropped while a question is open. The
//!   answer may also be typed at the terminal the host was started from,
//!   whose focus no backend can tell, so focus is not trusted.
//! - Buttons and the wheel: dropped when aimed at the host's window (the
//!   window says where it is through [`OwnWindow`]), or at an unknown place
//!   (no window, as with `--cli`: the terminal's place is unknown; a
//!   window that cannot tell where it is, as on Wayland). A button the
//!   guard lets through is applied where the technician's pointer last
//!   went: the pointer is moved back there first, so a pointer the local
//!   user moved onto the window is not clicked through.
//! - Pointer moves always pass (they answer nothing).
//! - What the technician holds down (keys, buttons) is tracked as it
//!   passes: its release always passes, and when a question opens the
//!   driver releases all of it ([`Guard::release_held`]), so nothing the
//!   technician pressed before stays down (a stuck modifier, a key
//!   repeating into the window's focused button) while presses are dropped.

use std::sync::{Arc, Mutex};

use lifeline_session::messages::{InputEvent, Key, MouseButton};

/// At most this many keys and buttons held at once; a press past it is
/// dropped (a hand holds far fewer), so the list stays small.
const MAX_HELD: usize = 32;

/// One thing the technician holds down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Key(Key),
    Button(MouseButton),
}

impl Held {
    /// What `ev` presses or releases: (it, down), for keys and buttons.
    fn of(ev: &InputEvent) -> Option<(Held, bool)> {
        match *ev {
            InputEvent::Key { key, down } => Some((Held::Key(key), down)),
            InputEvent::Button { button, down } => Some((Held::Button(button), down)),
            _ => None,
        }
    }

    fn release(self) -> InputEvent {
        match self {
            Held::Key(key) => InputEvent::Key { key, down: false },
            Held::Button(button) => InputEvent::Button {
                button,
                down: false,
            },
        }
    }
}

/// A rectangle on the screen, in the screen's pixels (the coordinates
/// input is applied in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenRect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl ScreenRect {
    fn contains(&self, (x, y): (u32, u32)) -> bool {
        let (x, y) = (i64::from(x), i64::from(y));
        let (x0, y0) = (i64::from(self.x), i64::from(self.y));
        x >= x0 && y >= y0 && x < x0 + i64::from(self.width) && y < y0 + i64::from(self.height)
    }
}

/// Where the host's own window is on the screen (`None`: unknown).
pub trait OwnWindow: std::fmt::Debug + Send + Sync {
    fn place(&self) -> Option<ScreenRect>;
}

/// The window's place, written by the window each frame.
#[derive(Debug, Default)]
pub struct WindowPlace(Mutex<Option<ScreenRect>>);

impl WindowPlace {
    pub fn set(&self, place: Option<ScreenRect>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = place;
    }
}

impl OwnWindow for WindowPlace {
    fn place(&self) -> Option<ScreenRect> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The guard for one session.
#[derive(Debug)]
pub struct Guard {
    window: Option<Arc<dyn OwnWindow>>,
    /// Where the technician's pointer last went.
    pointer: Option<(u32, u32)>,
    /// What the technician holds down, as passed to the desktop.
    held: Vec<Held>,
    /// Events dropped so far.
    pub dropped: u64,
}

impl Guard {
    /// `window`: the host's window (`None`: there is none, `--cli`).
    pub fn new(window: Option<Arc<dyn OwnWindow>>) -> Self {
        Self {
            window,
            pointer: None,
            held: Vec::new(),
            dropped: 0,
        }
    }

    /// What to apply for the technician's `ev` (none, it, or a move back
    /// to the technician's pointer and it), with a question `open` or not.
    pub fn admit(&mut self, open: bool, ev: InputEvent) -> Vec<InputEvent> {
        let passed = self.decide(open, ev);
        for ev in &passed {
            match Held::of(ev) {
                Some((h, true)) if !self.held.contains(&h) => self.held.push(h),
                Some((h, false)) => self.held.retain(|x| *x != h),
                _ => {}
            }
        }
        passed
    }

    /// A question opens: the releases of everything the technician holds
    /// down, to apply now (nothing is held after).
    pub fn release_held(&mut self) -> Vec<InputEvent> {
        self.held.drain(..).rev().map(Held::release).collect()
    }

    fn decide(&mut self, open: bool, ev: InputEvent) -> Vec<InputEvent> {
        let held = Held::of(&ev);
        if let Some((h, false)) = held {
            // A release passes when what it releases is held (and always
            // with no question open): it can only lift what went down.
            if !open || self.held.contains(&h) {
                return vec![ev];
            }
            self.dropped += 1;
            return Vec::new();
        }
        let full = self.held.len() >= MAX_HELD;
        let safe_at = match ev {
            InputEvent::Move { x, y } => {
                self.pointer = Some((x, y));
                return vec![ev];
            }
            _ if full && matches!(held, Some((h, true)) if !self.held.contains(&h)) => None,
            _ if !open => return vec![ev],
            InputEvent::Key { .. } | InputEvent::Text(_) => None,
            InputEvent::Button { .. } | InputEvent::Wheel { .. } => self.outside_window(),
        };
        match safe_at {
            Some((x, y)) => vec![InputEvent::Move { x, y }, ev],
            None => {
                self.dropped += 1;
                let window = self.window.as_ref().and_then(|w| w.place());
                tracing::info!(
                    ?ev,
                    ?window,
                    "remote input dropped: a question of the host's is open, or too much is held"
                );
                Vec::new()
            }
        }
    }

    /// The technician's pointer, if known and off the host's window.
    fn outside_window(&self) -> Option<(u32, u32)> {
        let at = self.pointer?;
        let place = self.window.as_ref()?.place()?;
        (!place.contains(at)).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use lifeline_session::messages::{Key, MouseButton};

    use super::*;

    fn at(x: u32, y: u32) -> InputEvent {
        InputEvent::Move { x, y }
    }

    const CLICK: InputEvent = InputEvent::Button {
        button: MouseButton::Left,
        down: true,
    };

    fn window() -> Arc<WindowPlace> {
        let w = Arc::new(WindowPlace::default());
        w.set(Some(ScreenRect {
            x: 100,
            y: 50,
            width: 200,
            height: 100,
        }));
        w
    }

    #[test]
    fn with_no_question_open_everything_passes() {
        let mut g = Guard::new(Some(window()));
        for ev in [at(150, 60), CLICK, InputEvent::Text("y".into())] {
            assert_eq!(g.admit(false, ev.clone()), [ev]);
        }
    }

    #[test]
    fn with_a_question_open_nothing_aimed_at_the_window_or_typed_passes() {
        let mut g = Guard::new(Some(window()));
        assert_eq!(g.admit(true, at(150, 60)), [at(150, 60)], "moves pass");
        assert!(g.admit(true, CLICK).is_empty(), "a click on the window");
        let wheel = InputEvent::Wheel { dx: 0, dy: 1 };
        assert!(g.admit(true, wheel).is_empty());
        let key = InputEvent::Key {
            key: Key::Return,
            down: true,
        };
        assert!(
            g.admit(true, key).is_empty(),
            "keys, wherever the pointer is"
        );
        g.admit(true, at(10, 10));
        assert!(g.admit(true, InputEvent::Text("y".into())).is_empty());
        assert_eq!(g.dropped, 4);
        // Off the window, a click passes, where the technician's pointer is.
        assert_eq!(g.admit(true, CLICK), [at(10, 10), CLICK]);
        // The edges: the window's last pixel is in, the next one out.
        g.admit(true, at(299, 149));
        assert!(g.admit(true, CLICK).is_empty());
        g.admit(true, at(300, 149));
        assert_eq!(g.admit(true, CLICK), [at(300, 149), CLICK]);
    }

    #[test]
    fn an_unknown_place_drops_every_click_while_a_question_is_open() {
        let mut no_window = Guard::new(None);
        no_window.admit(true, at(10, 10));
        assert!(no_window.admit(true, CLICK).is_empty(), "--cli");
        let unknown = Arc::new(WindowPlace::default());
        let mut g = Guard::new(Some(unknown));
        g.admit(true, at(10, 10));
        assert!(g.admit(true, CLICK).is_empty(), "a window that cannot tell");
        let mut fresh = Guard::new(Some(window()));
        assert!(fresh.admit(true, CLICK).is_empty(), "no pointer yet");
    }

    fn key(key: Key, down: bool) -> InputEvent {
        InputEvent::Key { key, down }
    }

    #[test]
    fn what_was_held_before_a_question_is_released_when_it_opens() {
        let mut g = Guard::new(Some(window()));
        g.admit(false, at(10, 10));
        for ev in [key(Key::Shift, true), key(Key::Char('a'), true), CLICK] {
            assert_eq!(g.admit(false, ev.clone()), [ev]);
        }
        // Pressed again (autorepeat): still one of each held.
        g.admit(false, key(Key::Shift, true));
        g.admit(false, key(Key::Char('a'), false));
        let release = InputEvent::Button {
            button: MouseButton::Left,
            down: false,
        };
        assert_eq!(
            g.release_held(),
            [release.clone(), key(Key::Shift, false)],
            "what is still down, last pressed first"
        );
        assert!(g.release_held().is_empty(), "nothing held after");
        // The question open: presses stay dropped, and so the
        // technician's late releases of what was lifted.
        assert!(g.admit(true, key(Key::Shift, true)).is_empty());
        assert!(g.admit(true, key(Key::Shift, false)).is_empty());
        assert!(g.admit(true, release.clone()).is_empty());
        assert!(g.release_held().is_empty());
        // A click let through off the window is held; its release passes.
        assert_eq!(g.admit(true, CLICK), [at(10, 10), CLICK]);
        g.admit(true, at(150, 60));
        let passed = g.admit(true, release.clone());
        assert_eq!(passed, std::slice::from_ref(&release));
        // With no question open, a release passes as before.
        assert_eq!(g.admit(false, release.clone()), [release]);
    }

    #[test]
    fn held_is_bounded() {
        let mut g = Guard::new(None);
        let keys = ('a'..='z').chain('0'..='9').map(Key::Char);
        let passed = keys.filter(|k| !g.admit(false, key(*k, true)).is_empty());
        assert_eq!(passed.count(), MAX_HELD);
        assert_eq!(
            g.admit(false, key(Key::Char('a'), true)).len(),
            1,
            "held again"
        );
        assert_eq!(g.release_held().len(), MAX_HELD);
    }
}
