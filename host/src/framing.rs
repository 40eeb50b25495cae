//! The capture thread's view of the screen: which part is shown (one
//! monitor, or all), grabbed from a [`ScreenSource`] and cropped to it,
//! and what the viewer has been told of the monitors. The geometry itself
//! is [`crate::view`]'s.

use lifeline_session::messages::{MonitorInfo, Showing};
use lifeline_session::screen::Image;

use crate::platform::{CaptureError, Grab, ScreenSource};
use crate::view::{Rect, ViewReport, on_screen, resolve};

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
        let stale = std::mem::take(&mut self.stale);
        let whole_before = self.rect() == Rect::whole(self.size.0, self.size.1);
        let grab = if whole_before {
            screen.grab(image, force)?
        } else {
            screen.grab(self.cropper.whole(), force)?
        };
        if let Grab::Withheld(why) = grab {
            // Nothing was grabbed: a switch asked for waits for a grab
            // that works, and the view is as it was.
            self.stale = stale;
            return Ok((Grab::Withheld(why), None));
        }
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

    /// The part of the screen shown, in screen pixels.
    pub fn shown(&self) -> Rect {
        self.rect()
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
        if let Grab::Withheld(why) = grab {
            // Nothing was grabbed, so nothing to copy.
            return Grab::Withheld(why);
        }
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
            Grab::Withheld(why) => Grab::Withheld(why),
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
    use crate::view::tests::two;
    use lifeline_session::messages::Withheld;

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
        // Withheld: passed on, nothing copied.
        let before = out.clone();
        let why = Grab::Withheld(Withheld::SecureDesktop);
        assert_eq!(c.crop(why.clone(), right, &mut out), why);
        assert_eq!(out, before);
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
        withheld: Option<Withheld>,
    }

    impl ScreenSource for Screen {
        fn grab(&mut self, into: &mut Image, force: bool) -> Result<Grab, CaptureError> {
            self.forced.push(force);
            if let Some(why) = self.withheld {
                return Ok(Grab::Withheld(why));
            }
            into.clone_from(&self.image);
            Ok(Grab::Captured)
        }

        fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
            Ok(self.monitors.clone())
        }
    }

    /// Two monitors, a fresh framing and an empty picture.
    fn two_monitors() -> (Screen, Framing, Image) {
        let screen = Screen {
            image: screen(),
            monitors: two(),
            forced: Vec::new(),
            withheld: None,
        };
        let img = Image {
            width: 0,
            height: 0,
            pixels: Vec::new(),
        };
        (screen, Framing::default(), img)
    }

    #[test]
    fn framing_shows_the_primary_then_what_is_asked() {
        let (mut screen, mut f, mut img) = two_monitors();
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

    #[test]
    fn a_withheld_grab_leaves_the_picture_and_a_switch_waits_for_the_screen() {
        let (mut screen, mut f, mut img) = two_monitors();
        f.grab(&mut screen, &mut img, true).unwrap();
        let shown = img.clone();
        screen.withheld = Some(Withheld::SecureDesktop);
        // A switch asked for meanwhile.
        f.show(Showing::All);
        let (grab, report) = f.grab(&mut screen, &mut img, false).unwrap();
        assert_eq!(grab, Grab::Withheld(Withheld::SecureDesktop));
        assert_eq!(report, None, "nothing new to tell");
        assert_eq!(img, shown, "the picture is left as it was");
        let (grab, _) = f.grab(&mut screen, &mut img, false).unwrap();
        assert_eq!(grab, Grab::Withheld(Withheld::SecureDesktop));
        // Shown again: the switch happens now, grabbed whole.
        screen.withheld = None;
        let (grab, report) = f.grab(&mut screen, &mut img, false).unwrap();
        assert_eq!(grab, Grab::Captured);
        assert_eq!(report.unwrap().showing, Showing::All);
        assert_eq!(img, screen.image);
        assert_eq!(screen.forced, [true, true, true, true], "each one forced");
    }
}
