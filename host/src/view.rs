//! Which part of the screen the viewer sees: one monitor, or all of them.
//!
//! Pure geometry. Sources capture the whole screen; the capture thread
//! crops to the shown monitor with [`Cropper`], and the session moves the
//! technician's pointer by the monitor's origin. A source that knows no
//! monitors shows its whole screen, as before there were monitors.

use lifeline_session::messages::{InputEvent, MAX_MONITORS, MonitorInfo, Showing};
use lifeline_session::screen::Image;

use crate::platform::{CaptureError, Grab, ScreenSource};

/// A rectangle of the screen, in screen pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    fn whole(width: u32, height: u32) -> Self {
        Self {
            x: 0,
            y: 0,
            w: width,
            h: height,
        }
    }

    /// The part of `self` inside the other, moved to be relative to it.
    fn within(&self, outer: &Rect) -> Option<Rect> {
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

/// The capture thread's view: which part to show, the monitors last
/// listed, and whether the viewer has heard of them.
#[derive(Debug, Default)]
pub struct Framing {
    showing: Showing,
    monitors: Vec<MonitorInfo>,
    /// The whole screen's size, as last grabbed.
    size: (u32, u32),
    cropper: Cropper,
    /// The monitors are listed again at the next grab, which is whole.
    stale: bool,
    reported: Option<ViewReport>,
}

impl Framing {
    /// From the next grab on, show this.
    pub fn show(&mut self, showing: Showing) {
        self.showing = showing;
        self.stale = true;
    }

    /// A new viewer: the primary monitor, and the monitors told again.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    fn rect(&self) -> Rect {
        resolve(&self.monitors, self.showing, self.size.0, self.size.1)
    }

    /// Grabs the screen into `image`, cropped to what is shown; the view,
    /// when it is news to the viewer. `full` also lists the monitors again
    /// (a hot-plugged monitor shows up at the next whole frame).
    pub fn grab(
        &mut self,
        screen: &mut dyn ScreenSource,
        image: &mut Image,
        full: bool,
    ) -> Result<(Grab, Option<ViewReport>), CaptureError> {
        let relist = full || self.stale || self.reported.is_none();
        let force = full || self.stale;
        self.stale = false;
        let whole_before = self.rect() == Rect::whole(self.size.0, self.size.1);
        let grab = if whole_before {
            screen.grab(image, force)?
        } else {
            screen.grab(self.cropper.whole(), force)?
        };
        let grabbed = if whole_before {
            &*image
        } else {
            self.cropper.whole()
        };
        // A screen that changed size has other monitors.
        let resized = (grabbed.width, grabbed.height) != self.size;
        self.size = (grabbed.width, grabbed.height);
        if relist || resized {
            let listed = screen.monitors().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot list the monitors; showing the whole screen");
                Vec::new()
            });
            self.monitors = on_screen(listed, self.size.0, self.size.1);
        }
        let rect = self.rect();
        let whole_now = rect == Rect::whole(self.size.0, self.size.1);
        let grab = match (whole_before, whole_now) {
            (true, true) => grab,
            (true, false) => {
                // The grab went into `image`: it is the whole screen now.
                std::mem::swap(image, self.cropper.whole());
                self.cropper.crop(Grab::Captured, rect, image)
            }
            (false, true) => {
                image.clone_from(self.cropper.whole());
                Grab::Captured
            }
            (false, false) => self.cropper.crop(grab, rect, image),
        };
        Ok((grab, self.report(rect)))
    }

    /// Where the pointer is on what is shown.
    pub fn pointer(&self, at: Option<(i32, i32)>) -> Option<(i32, i32)> {
        let r = self.rect();
        at.map(|(x, y)| (x - r.x as i32, y - r.y as i32))
    }

    fn report(&mut self, rect: Rect) -> Option<ViewReport> {
        let showing = match self.showing {
            Showing::Monitor(i) if usize::from(i) >= self.monitors.len() => Showing::All,
            s => s,
        };
        let now = ViewReport {
            monitors: self.monitors.clone(),
            showing,
            origin: (rect.x, rect.y),
        };
        (self.reported.as_ref() != Some(&now)).then(|| {
            self.reported = Some(now.clone());
            now
        })
    }
}

/// Turns whole-screen grabs into grabs of one rectangle, keeping a copy of
/// the whole screen so that damaged regions can be copied alone.
#[derive(Debug, Default)]
pub struct Cropper {
    whole: Option<Image>,
}

impl Cropper {
    /// The whole screen's image for the source to grab into (kept between
    /// grabs, so a source reporting regions updates it in place).
    pub fn whole(&mut self) -> &mut Image {
        self.whole.get_or_insert_with(|| Image {
            width: 0,
            height: 0,
            pixels: Vec::new(),
        })
    }

    /// Copies what `grab` changed in the whole screen inside `rect` into
    /// `into` (resized to the rectangle); the grab, as the cropped image sees it.
    pub fn crop(&mut self, grab: Grab, rect: Rect, into: &mut Image) -> Grab {
        let whole = self.whole();
        let screen = Rect::whole(whole.width, whole.height);
        let Some(rect) = rect.within(&screen) else {
            // A monitor off the screen (it just went away): show nothing new.
            return Grab::Unchanged;
        };
        if into.width != rect.w || into.height != rect.h {
            *into = Image {
                width: rect.w,
                height: rect.h,
                pixels: vec![0; rect.w as usize * rect.h as usize],
            };
            return self.copy_all(rect, into);
        }
        match grab {
            Grab::Captured => self.copy_all(rect, into),
            Grab::Unchanged => Grab::Unchanged,
            Grab::Regions(regions) => {
                let inside: Vec<Rect> = regions
                    .iter()
                    .filter_map(|&(x, y, w, h)| Rect { x, y, w, h }.within(&rect))
                    .collect();
                if inside.is_empty() {
                    return Grab::Unchanged;
                }
                for r in &inside {
                    self.copy(rect, *r, into);
                }
                Grab::Regions(inside.iter().map(|r| (r.x, r.y, r.w, r.h)).collect())
            }
        }
    }

    fn copy_all(&mut self, rect: Rect, into: &mut Image) -> Grab {
        self.copy(rect, Rect::whole(rect.w, rect.h), into);
        Grab::Captured
    }

    /// Copies `part` (relative to `rect`) from the whole screen into `into`.
    fn copy(&mut self, rect: Rect, part: Rect, into: &mut Image) {
        let whole = self.whole();
        let (sw, dw) = (whole.width as usize, into.width as usize);
        for row in part.y..part.y + part.h {
            let src = (rect.y + row) as usize * sw + (rect.x + part.x) as usize;
            let dst = row as usize * dw + part.x as usize;
            let n = part.w as usize;
            into.pixels[dst..dst + n].copy_from_slice(&whole.pixels[src..src + n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mon(name: &str, x: i32, y: i32, width: u32, height: u32, primary: bool) -> MonitorInfo {
        MonitorInfo {
            name: name.into(),
            x,
            y,
            width,
            height,
            primary,
        }
    }

    fn two() -> Vec<MonitorInfo> {
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

    fn screen() -> Image {
        let mut img = Image::new(60, 30).unwrap();
        for (i, p) in img.pixels.iter_mut().enumerate() {
            *p = i as u32;
        }
        img
    }

    #[test]
    fn cropping_copies_the_monitor_and_only_damage_inside_it() {
        let right = Rect {
            x: 40,
            y: 0,
            w: 20,
            h: 10,
        };
        let mut c = Cropper::default();
        *c.whole() = screen();
        let mut out = Image {
            width: 0,
            height: 0,
            pixels: Vec::new(),
        };
        // First crop: a new size, so the whole rectangle.
        assert_eq!(c.crop(Grab::Unchanged, right, &mut out), Grab::Captured);
        assert_eq!((out.width, out.height), (20, 10));
        assert_eq!(out.get(0, 0), 40);
        assert_eq!(out.get(19, 9), 9 * 60 + 59);
        // Drawing on the other monitor is not news here.
        c.whole().pixels[0] = 7;
        let left_only = Grab::Regions(vec![(0, 0, 10, 10)]);
        assert_eq!(c.crop(left_only, right, &mut out), Grab::Unchanged);
        // Drawing across the edge: only the part inside, moved.
        c.whole().pixels[5 * 60 + 41] = 99;
        let across = Grab::Regions(vec![(30, 4, 12, 3)]);
        assert_eq!(
            c.crop(across, right, &mut out),
            Grab::Regions(vec![(0, 4, 2, 3)])
        );
        assert_eq!(out.get(1, 5), 99);
        assert_eq!(c.crop(Grab::Captured, right, &mut out), Grab::Captured);
        assert_eq!(c.crop(Grab::Unchanged, right, &mut out), Grab::Unchanged);
        // A monitor no longer on the screen.
        let off = Rect {
            x: 100,
            y: 0,
            w: 5,
            h: 5,
        };
        assert_eq!(c.crop(Grab::Captured, off, &mut out), Grab::Unchanged);
    }

    /// A screen with monitors, reporting what it was asked.
    struct Screen {
        image: Image,
        monitors: Vec<MonitorInfo>,
        forced: Vec<bool>,
    }

    impl ScreenSource for Screen {
        fn grab(&mut self, into: &mut Image, force: bool) -> Result<Grab, CaptureError> {
            self.forced.push(force);
            into.clone_from(&self.image);
            Ok(Grab::Captured)
        }

        fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
            Ok(self.monitors.clone())
        }
    }

    #[test]
    fn framing_shows_the_primary_then_what_is_asked() {
        let mut screen = Screen {
            image: screen(),
            monitors: two(),
            forced: Vec::new(),
        };
        let mut f = Framing::default();
        let mut img = Image {
            width: 0,
            height: 0,
            pixels: Vec::new(),
        };
        let (grab, report) = f.grab(&mut screen, &mut img, true).unwrap();
        assert_eq!(grab, Grab::Captured);
        assert_eq!((img.width, img.height), (20, 10), "the primary, right");
        assert_eq!(img.get(0, 0), 40);
        let report = report.expect("the first grab tells the view");
        assert_eq!(report.showing, Showing::Primary);
        assert_eq!(report.origin, (40, 0));
        assert_eq!(report.monitors, two());
        assert_eq!(f.pointer(Some((45, 3))), Some((5, 3)));
        // Nothing new to tell.
        assert_eq!(f.grab(&mut screen, &mut img, false).unwrap().1, None);
        // All: the whole screen, grabbed whole.
        f.show(Showing::All);
        let (_, report) = f.grab(&mut screen, &mut img, false).unwrap();
        assert_eq!((img.width, img.height), (60, 30));
        assert_eq!(img, screen.image);
        assert_eq!(report.unwrap().origin, (0, 0));
        assert_eq!(screen.forced, [true, false, true], "a switch grabs whole");
        f.show(Showing::Monitor(0));
        let (_, report) = f.grab(&mut screen, &mut img, false).unwrap();
        assert_eq!((img.width, img.height), (40, 30));
        assert_eq!(report.unwrap().showing, Showing::Monitor(0));
        // The monitor goes away: the whole screen, said as All.
        screen.monitors.truncate(0);
        let (_, report) = f.grab(&mut screen, &mut img, true).unwrap();
        assert_eq!((img.width, img.height), (60, 30));
        let report = report.unwrap();
        assert_eq!((report.showing, report.monitors.len()), (Showing::All, 0));
        // A new viewer starts with the primary again.
        screen.monitors = two();
        f.reset();
        let (_, report) = f.grab(&mut screen, &mut img, false).unwrap();
        assert_eq!((img.width, img.height), (20, 10));
        assert_eq!(report.unwrap().showing, Showing::Primary);
        // The screen shrinks (a monitor unplugged): listed again at once.
        screen.monitors.truncate(1);
        screen.image = Image::new(40, 30).unwrap();
        f.show(Showing::All);
        f.grab(&mut screen, &mut img, false).unwrap();
        let forced_before = screen.forced.len();
        screen.image = Image::new(30, 20).unwrap();
        screen.monitors[0].width = 30;
        screen.monitors[0].height = 20;
        let (_, report) = f.grab(&mut screen, &mut img, false).unwrap();
        assert_eq!(screen.forced.len(), forced_before + 1);
        let report = report.expect("a new size is news");
        assert_eq!(
            (report.monitors[0].width, report.monitors[0].height),
            (30, 20)
        );
    }
}
