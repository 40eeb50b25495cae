//! Which part of the screen the viewer sees: one monitor, or all of them.
//!
//! Pure geometry. Sources capture the whole screen; the capture thread
//! crops to the shown monitor (with [`crate::framing`]), and the session
//! moves the technician's pointer by the monitor's origin. A source that
//! knows no monitors shows its whole screen, as before there were monitors.

use lifeline_session::messages::{InputEvent, MAX_MONITORS, MonitorInfo, Showing};

/// A rectangle of the screen, in screen pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    /// The whole of a `width`×`height` screen.
    pub fn whole(width: u32, height: u32) -> Self {
        Self {
            x: 0,
            y: 0,
            w: width,
            h: height,
        }
    }

    /// The part of `self` inside the other, moved to be relative to it.
    pub fn within(&self, outer: &Rect) -> Option<Rect> {
        let x0 = self.x.max(outer.x);
        let y0 = self.y.max(outer.y);
        let x1 = (self.x + self.w).min(outer.x + outer.w);
        let y1 = (self.y + self.h).min(outer.y + outer.h);
        (x0 < x1 && y0 < y1).then(|| Rect {
            x: x0 - outer.x,
            y: y0 - outer.y,
            w: x1 - x0,
            h: y1 - y0,
        })
    }
}

/// The monitors a source listed, kept to those that lie on the screen
/// (clamped to it) and at most [`MAX_MONITORS`] of them, left to right
/// (then top to bottom): monitor 1 is the leftmost, whatever order the
/// system lists them in.
pub fn on_screen(mut monitors: Vec<MonitorInfo>, width: u32, height: u32) -> Vec<MonitorInfo> {
    monitors.sort_by_key(|m| (m.x, m.y));
    monitors
        .into_iter()
        .filter_map(|m| {
            let x0 = i64::from(m.x).max(0);
            let y0 = i64::from(m.y).max(0);
            let x1 = (i64::from(m.x) + i64::from(m.width)).min(i64::from(width));
            let y1 = (i64::from(m.y) + i64::from(m.height)).min(i64::from(height));
            // Each is within 0..=u32::MAX once clamped to the screen.
            (x0 < x1 && y0 < y1).then(|| MonitorInfo {
                x: x0 as i32,
                y: y0 as i32,
                width: (x1 - x0) as u32,
                height: (y1 - y0) as u32,
                ..m
            })
        })
        .take(MAX_MONITORS)
        .collect()
}

/// The rectangle `showing` names on a `width`×`height` screen. What names
/// no monitor (none listed, one that went away) shows the whole screen.
pub fn resolve(monitors: &[MonitorInfo], showing: Showing, width: u32, height: u32) -> Rect {
    let chosen = match showing {
        Showing::All => None,
        Showing::Primary => monitors
            .iter()
            .find(|m| m.primary)
            .or_else(|| monitors.first()),
        Showing::Monitor(i) => monitors.get(usize::from(i)),
    };
    chosen.map_or(Rect::whole(width, height), |m| Rect {
        x: m.x.max(0) as u32,
        y: m.y.max(0) as u32,
        w: m.width,
        h: m.height,
    })
}

/// Whether `showing` names a monitor the host has; `All` and `Primary`
/// always do.
pub fn exists(monitors: &[MonitorInfo], showing: Showing) -> bool {
    match showing {
        Showing::Monitor(i) => usize::from(i) < monitors.len().max(1),
        Showing::All | Showing::Primary => true,
    }
}

/// The technician's event in screen pixels: a position on the shown
/// monitor moves by the monitor's origin.
pub fn to_screen(event: InputEvent, origin: (u32, u32)) -> InputEvent {
    match event {
        InputEvent::Move { x, y } => InputEvent::Move {
            x: x.saturating_add(origin.0),
            y: y.saturating_add(origin.1),
        },
        other => other,
    }
}

/// What the viewer is shown now, for the session to pass on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewReport {
    pub monitors: Vec<MonitorInfo>,
    pub showing: Showing,
    /// Where the shown part starts on the screen.
    pub origin: (u32, u32),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn mon(
        name: &str,
        x: i32,
        y: i32,
        width: u32,
        height: u32,
        primary: bool,
    ) -> MonitorInfo {
        MonitorInfo {
            name: name.into(),
            x,
            y,
            width,
            height,
            primary,
        }
    }

    /// A 40×30 monitor and, to its right, a 20×10 primary one.
    pub(crate) fn two() -> Vec<MonitorInfo> {
        vec![
            mon("left", 0, 0, 40, 30, false),
            mon("right", 40, 0, 20, 10, true),
        ]
    }

    #[test]
    fn showing_resolves_to_a_rectangle() {
        let r = |x, y, w, h| Rect { x, y, w, h };
        assert_eq!(resolve(&two(), Showing::Primary, 60, 30), r(40, 0, 20, 10));
        assert_eq!(resolve(&two(), Showing::All, 60, 30), r(0, 0, 60, 30));
        assert_eq!(
            resolve(&two(), Showing::Monitor(0), 60, 30),
            r(0, 0, 40, 30)
        );
        // Gone, or never listed: the whole screen.
        assert_eq!(
            resolve(&two(), Showing::Monitor(5), 60, 30),
            r(0, 0, 60, 30)
        );
        assert_eq!(resolve(&[], Showing::Primary, 60, 30), r(0, 0, 60, 30));
        // No primary: the first.
        let mut none = two();
        none[1].primary = false;
        assert_eq!(resolve(&none, Showing::Primary, 60, 30), r(0, 0, 40, 30));
        assert!(exists(&two(), Showing::Monitor(1)));
        assert!(!exists(&two(), Showing::Monitor(2)));
        assert!(exists(&[], Showing::Monitor(0)), "the whole screen is one");
    }

    #[test]
    fn monitors_are_clamped_to_the_screen() {
        let listed = vec![
            mon("fits", 20, 0, 40, 30, true),
            mon("gone", 100, 0, 10, 10, false),
            mon("part-off", -10, 5, 30, 40, false),
        ];
        let kept = on_screen(listed, 60, 30);
        assert_eq!(kept.len(), 2);
        assert_eq!(
            (kept[0].x, kept[0].y, kept[0].width, kept[0].height),
            (0, 5, 20, 25)
        );
        assert_eq!(kept[1], mon("fits", 20, 0, 40, 30, true));
        let many = (0..40).map(|i| mon("m", i, 0, 1, 1, false)).collect();
        assert_eq!(on_screen(many, 60, 30).len(), MAX_MONITORS);
    }

    #[test]
    fn the_pointer_moves_by_the_origin() {
        let ev = InputEvent::Move { x: 3, y: 4 };
        assert_eq!(to_screen(ev, (40, 2)), InputEvent::Move { x: 43, y: 6 });
        let text = InputEvent::Text("a".into());
        assert_eq!(to_screen(text.clone(), (40, 2)), text);
        let far = InputEvent::Move { x: u32::MAX, y: 0 };
        assert_eq!(
            to_screen(far, (1, 0)),
            InputEvent::Move { x: u32::MAX, y: 0 }
        );
    }
}
