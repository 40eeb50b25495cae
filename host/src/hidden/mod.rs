//! Windows the user keeps from the technician (the host window's "Hide
//! from the technician" list, `--hide-window PATTERN`): which windows are
//! private, the hidden area the capture blanks before encoding (so neither
//! the viewer nor the recording ever has it), and the input dropped there.
//! The desktop's windows come from a platform watcher
//! ([`crate::x11::windows`] on X11), the geometry from [`area`].

pub mod area;
pub mod mask;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use lifeline_session::messages::{HiddenBox, InputEvent};

pub use area::TopWindow;

/// What the capture and input threads ask the desktop directly, at the
/// moment they need it.
pub trait Desk: Send + Sync {
    /// Where the pointer is, in screen pixels.
    fn pointer(&self) -> Option<(i32, i32)>;
    /// The top-level window the keyboard types into now (with focus
    /// following the pointer, the one under it).
    fn focused(&self) -> Option<u64>;
    /// Where window `id` is now (asked for each private window around
    /// every grab: the watcher's list may lag a move).
    fn place(&self, id: u64) -> Placed;
}

/// Where a window is, as the desktop answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Shown there.
    At(HiddenBox),
    /// Closed, unmapped or minimised.
    Gone,
    /// The desktop did not answer: the place last known stands.
    Unknown,
}

/// A window as the host window lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: u64,
    pub title: String,
    pub private: bool,
}

/// The user's private windows and the area they hide, shared by the
/// watcher, the capture and input threads and the host window.
#[derive(Clone)]
pub struct Privacy {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Privacy")
    }
}

struct Shared {
    state: Mutex<State>,
    desk: Box<dyn Desk>,
}

#[derive(Debug, Default)]
struct State {
    /// `--hide-window` patterns.
    patterns: Vec<String>,
    /// The user's own ticks and unticks, which win over the patterns.
    chosen: BTreeMap<u64, bool>,
    /// The desktop's top-level windows, bottom to top.
    windows: Vec<TopWindow>,
    /// What they hide now, in screen pixels.
    area: Vec<HiddenBox>,
    /// Counts changes of `area`.
    generation: u64,
    /// The watcher stopped: where windows are is unknown, so everything
    /// is hidden.
    lost: bool,
    /// The watcher has listed the windows at least once (until then,
    /// everything is hidden).
    listed: bool,
    /// The host window's own list of windows is open: the host window is
    /// private then (it shows every title, and its checkboxes).
    list_open: bool,
}

impl State {
    fn private(&self, w: &TopWindow) -> bool {
        if self.list_open && w.title == crate::words::TITLE {
            return true;
        }
        self.chosen
            .get(&w.id)
            .copied()
            .unwrap_or_else(|| self.patterns.iter().any(|p| area::matches(&w.title, p)))
    }

    fn recompute(&mut self) {
        let now = if self.lost || !self.listed {
            vec![HiddenBox {
                x: 0,
                y: 0,
                width: u32::MAX,
                height: u32::MAX,
            }]
        } else {
            area::hidden_area(&self.windows, |w| self.private(w))
        };
        if now != self.area {
            self.area = now;
            self.generation += 1;
        }
    }
}

impl Privacy {
    /// Hides windows whose titles match `patterns` (see
    /// [`area::matches`]) on the desktop `desk` asks.
    pub fn new(patterns: Vec<String>, desk: Box<dyn Desk>) -> Self {
        let mut state = State {
            patterns,
            ..State::default()
        };
        // Nothing listed yet: everything hidden.
        state.recompute();
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                desk,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere leaves the lists as they were: still usable.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The desktop's windows now, bottom to top (from the watcher).
    pub fn set_windows(&self, windows: Vec<TopWindow>) {
        let mut s = self.state();
        s.windows = windows;
        s.listed = true;
        s.recompute();
    }

    /// Asks the desktop where each private window is now and updates the
    /// area (the capture calls it around each grab).
    pub fn refresh(&self) {
        let ids: Vec<u64> = {
            let s = self.state();
            s.windows
                .iter()
                .filter(|w| w.shown && s.private(w))
                .map(|w| w.id)
                .collect()
        };
        if ids.is_empty() {
            return;
        }
        let places: Vec<(u64, Placed)> = ids
            .into_iter()
            .map(|id| (id, self.shared.desk.place(id)))
            .collect();
        let mut s = self.state();
        for (id, place) in places {
            if let Some(w) = s.windows.iter_mut().find(|w| w.id == id) {
                match place {
                    Placed::At(area) => w.area = area,
                    Placed::Gone => w.shown = false,
                    Placed::Unknown => {}
                }
            }
        }
        s.recompute();
    }

    /// The host window's list opened or closed: while open, the host
    /// window is hidden too.
    pub fn list_open(&self, open: bool) {
        let mut s = self.state();
        if s.list_open != open {
            s.list_open = open;
            s.recompute();
        }
    }

    /// The watcher stopped: from now on the whole screen is hidden.
    pub fn lost(&self) {
        let mut s = self.state();
        s.lost = true;
        s.recompute();
    }

    /// The user ticked (or unticked) a window in the host window.
    pub fn choose(&self, id: u64, private: bool) {
        let mut s = self.state();
        s.chosen.insert(id, private);
        s.recompute();
    }

    /// The shown windows with a title, top first, for the user to choose
    /// from.
    pub fn windows(&self) -> Vec<Listed> {
        let s = self.state();
        s.windows
            .iter()
            .rev()
            .filter(|w| w.shown && !w.title.is_empty() && w.title != crate::words::TITLE)
            .map(|w| Listed {
                id: w.id,
                title: w.title.clone(),
                private: s.private(w),
            })
            .collect()
    }

    /// The hidden area in screen pixels, and a number that changes
    /// whenever it does.
    pub fn area(&self) -> (u64, Vec<HiddenBox>) {
        let s = self.state();
        (s.generation, s.area.clone())
    }

    /// Whether the technician's event (screen pixels) must not reach the
    /// desktop: see [`drops`].
    pub fn drops(&self, ev: &InputEvent) -> bool {
        let (hidden, focus_private) = {
            let s = self.state();
            if s.area.is_empty() {
                return false;
            }
            // Unlisted or lost: where any window is, is unknown; typing
            // anywhere may reach a private one.
            let everything = s.lost || !s.listed;
            let privates: Vec<u64> = s
                .windows
                .iter()
                .filter(|w| s.private(w))
                .map(|w| w.id)
                .collect();
            (s.area.clone(), move |id| {
                everything || privates.contains(&id)
            })
        };
        let desk = &*self.shared.desk;
        drops(
            ev,
            |p| area::inside(&hidden, (i64::from(p.0), i64::from(p.1))),
            || desk.pointer(),
            || desk.focused().is_none_or(focus_private),
        )
    }
}

/// Hides the whole screen when dropped by a thread that panics: a
/// watcher that dies mid-listing must not leave a stale area standing.
#[derive(Debug)]
pub struct LostOnPanic(pub Privacy);

impl Drop for LostOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lost();
        }
    }
}

/// Whether an event must be dropped: a move into the hidden area; a
/// press or a wheel step while the pointer is there (or nowhere known);
/// typing while the keyboard's window is private. Releases always go, so
/// nothing stays held down.
pub fn drops(
    ev: &InputEvent,
    hidden_at: impl Fn((i32, i32)) -> bool,
    pointer: impl FnOnce() -> Option<(i32, i32)>,
    focus_private: impl FnOnce() -> bool,
) -> bool {
    match ev {
        InputEvent::Move { x, y } => {
            let at = (
                i32::try_from(*x).unwrap_or(i32::MAX),
                i32::try_from(*y).unwrap_or(i32::MAX),
            );
            hidden_at(at)
        }
        InputEvent::Button { down: true, .. } | InputEvent::Wheel { .. } => {
            pointer().is_none_or(hidden_at)
        }
        InputEvent::Key { down: true, .. } | InputEvent::Text(_) => focus_private(),
        InputEvent::Button { down: false, .. } | InputEvent::Key { down: false, .. } => false,
    }
}

#[cfg(test)]
mod tests;
