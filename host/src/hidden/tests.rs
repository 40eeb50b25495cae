//! `Privacy`: patterns and the user's ticks, the change count, the host
//! window hidden while its list is open, everything hidden until the
//! first listing and once the watcher is lost, what input is dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use lifeline_session::messages::{Key, MouseButton};

use super::*;

/// A desktop whose pointer and focus the test sets.
#[derive(Default)]
struct FakeDesk {
    pointer: Pointer,
    focused: Arc<AtomicU64>,
}

impl Desk for FakeDesk {
    fn pointer(&self) -> Option<(i32, i32)> {
        *self.pointer.lock().unwrap()
    }
    fn focused(&self) -> Option<u64> {
        Some(self.focused.load(Ordering::Relaxed)).filter(|id| *id != 0)
    }
    fn place(&self, _: u64) -> Placed {
        Placed::Unknown
    }
}

fn window(id: u64, title: &str, x: i32) -> TopWindow {
    TopWindow {
        id,
        title: title.into(),
        area: HiddenBox {
            x,
            y: 0,
            width: 100,
            height: 100,
        },
        shown: true,
    }
}

/// The pointer a [`FakeDesk`] reports.
type Pointer = Arc<Mutex<Option<(i32, i32)>>>;

fn privacy(patterns: &[&str]) -> (Privacy, Pointer, Arc<AtomicU64>) {
    let desk = FakeDesk::default();
    let (pointer, focused) = (desk.pointer.clone(), desk.focused.clone());
    let p = Privacy::new(
        patterns.iter().map(|s| s.to_string()).collect(),
        Box::new(desk),
    );
    p.set_windows(vec![window(1, "Terminal", 0), window(2, "Passwords", 200)]);
    (p, pointer, focused)
}

#[test]
fn patterns_and_the_users_ticks_decide_and_each_change_is_counted() {
    let (p, _, _) = privacy(&["password"]);
    let (g0, area) = p.area();
    assert_eq!(area.len(), 1);
    assert_eq!(area[0].x, 200);
    let listed = p.windows();
    assert_eq!(listed[0].title, "Passwords");
    assert!(listed[0].private && !listed[1].private);
    // The user unticks the matched window, and ticks the other.
    p.choose(2, false);
    p.choose(1, true);
    let (g1, area) = p.area();
    assert!(g1 > g0);
    assert_eq!(area[0].x, 0);
    // The same windows again: no change counted.
    p.set_windows(vec![window(1, "Terminal", 0), window(2, "Passwords", 200)]);
    assert_eq!(p.area().0, g1);
    // A move is a change.
    p.set_windows(vec![window(1, "Terminal", 10), window(2, "Passwords", 200)]);
    assert!(p.area().0 > g1);
}

#[test]
fn the_host_windows_own_list_hides_it_while_open_and_is_not_listed() {
    let (p, _, focused) = privacy(&[]);
    let mut ws = vec![window(1, "Terminal", 0), window(2, "Passwords", 200)];
    ws.push(window(3, crate::words::TITLE, 400));
    p.set_windows(ws);
    assert!(p.windows().iter().all(|w| w.id != 3), "not listed");
    assert!(p.area().1.is_empty());
    p.list_open(true);
    assert_eq!(p.area().1[0].x, 400);
    focused.store(3, Ordering::Relaxed);
    assert!(p.drops(&InputEvent::Text(" ".into())), "its checkboxes");
    p.list_open(false);
    assert!(p.area().1.is_empty());
}

#[test]
fn everything_is_hidden_until_the_first_listing_and_once_lost() {
    let desk = FakeDesk::default();
    desk.focused.store(5, Ordering::Relaxed);
    let p = Privacy::new(Vec::new(), Box::new(desk));
    let first = p.area().1;
    assert_eq!((first[0].width, first[0].height), (u32::MAX, u32::MAX));
    let typing = InputEvent::Text("x".into());
    assert!(p.drops(&typing), "typing too");
    p.set_windows(Vec::new());
    assert!(p.area().1.is_empty());
    assert!(!p.drops(&typing));
    p.lost();
    let area = p.area().1;
    assert_eq!((area[0].width, area[0].height), (u32::MAX, u32::MAX));
    assert!(p.drops(&typing));
}

#[test]
fn input_into_the_hidden_area_is_dropped_releases_go() {
    let (p, pointer, focused) = privacy(&["password"]);
    let mv = |x, y| InputEvent::Move { x, y };
    assert!(p.drops(&mv(250, 50)));
    assert!(!p.drops(&mv(50, 50)));
    let press = InputEvent::Button {
        button: MouseButton::Left,
        down: true,
    };
    let release = InputEvent::Button {
        button: MouseButton::Left,
        down: false,
    };
    *pointer.lock().unwrap() = Some((250, 10));
    assert!(p.drops(&press));
    assert!(p.drops(&InputEvent::Wheel { dx: 0, dy: 1 }));
    assert!(!p.drops(&release));
    *pointer.lock().unwrap() = Some((20, 10));
    assert!(!p.drops(&press));
    // Where the pointer is unknown, a press may land anywhere: dropped.
    *pointer.lock().unwrap() = None;
    assert!(p.drops(&press));
    let key = |down| InputEvent::Key {
        key: Key::Char('a'),
        down,
    };
    focused.store(2, Ordering::Relaxed);
    assert!(p.drops(&key(true)));
    assert!(p.drops(&InputEvent::Text("secret".into())));
    assert!(!p.drops(&key(false)));
    focused.store(1, Ordering::Relaxed);
    assert!(!p.drops(&key(true)));
    // Unknown focus with something hidden: typing is dropped.
    focused.store(0, Ordering::Relaxed);
    assert!(p.drops(&key(true)));
}

#[test]
fn with_nothing_hidden_nothing_is_dropped_or_asked() {
    let (p, pointer, focused) = privacy(&[]);
    *pointer.lock().unwrap() = None;
    focused.store(0, Ordering::Relaxed);
    for ev in [
        InputEvent::Move { x: 250, y: 50 },
        InputEvent::Text("x".into()),
        InputEvent::Button {
            button: MouseButton::Left,
            down: true,
        },
    ] {
        assert!(!p.drops(&ev), "{ev:?}");
    }
}
