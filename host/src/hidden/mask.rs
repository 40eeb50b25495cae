//! The capture thread's side of hiding: the hidden area as last read,
//! blanked into each grabbed picture before it is encoded (so the viewer,
//! the recording and every later delta see only [`area::BLANK`]), and
//! what the viewer was last told of it. A place a private window left
//! stays blanked for [`HOLD`] more (a compositor's picture, or DXGI's
//! frame, may lag the window's geometry), then the next grab is whole
//! to show it again. Time is passed in.

use std::time::{Duration, Instant};

use lifeline_session::messages::HiddenBox;
use lifeline_session::screen::Image;

use super::{Privacy, area};
use crate::view::Rect;

/// How long a place a private window left stays blanked.
pub const HOLD: Duration = Duration::from_millis(250);

/// What the capture keeps of the hidden area between grabs.
#[derive(Debug, Default)]
pub struct Mask {
    privacy: Option<Privacy>,
    /// The area's change count as last read, and the area (screen pixels).
    seen: u64,
    screen: Vec<HiddenBox>,
    /// Places the area left, blanked with it until each one's time.
    held: Vec<(HiddenBox, Instant)>,
    /// A held place was let go: the next grab is whole, to show again
    /// what is no longer hidden (nothing redraws it).
    stale: bool,
    /// The boxes the viewer was last told of (picture pixels).
    told: Option<Vec<HiddenBox>>,
}

impl Mask {
    pub fn new(privacy: Option<Privacy>) -> Self {
        Self {
            privacy,
            ..Self::default()
        }
    }

    /// Before a grab at `now`: whether it must be whole (the area
    /// changed, or a held place was let go).
    pub fn before_grab(&mut self, now: Instant) -> bool {
        let held = self.held.len();
        self.held.retain(|(_, until)| *until > now);
        if self.held.len() != held {
            self.stale = true;
        }
        self.changed(now)
    }

    /// After a grab: whether the area changed meanwhile (the grab may
    /// have caught a private window at its new place: grab again).
    pub fn after_grab(&mut self, now: Instant) -> bool {
        self.changed(now)
    }

    /// Asks the desktop where the private windows are now (see
    /// [`Privacy::refresh`]), then reads the area: whether it changed
    /// since the last read (the places it left are held), or a held
    /// place was let go.
    fn changed(&mut self, now: Instant) -> bool {
        let Some(p) = &self.privacy else {
            return false;
        };
        p.refresh();
        let (generation, area) = p.area();
        let stale = std::mem::take(&mut self.stale);
        if generation == self.seen {
            return stale;
        }
        self.seen = generation;
        let before = std::mem::replace(&mut self.screen, area);
        self.held
            .extend(before.into_iter().map(|b| (b, now + HOLD)));
        true
    }

    /// A new viewer: it is told the boxes afresh.
    pub fn reset(&mut self) {
        self.told = None;
    }

    /// Blanks the hidden parts of `image` (the picture of `shown`, a part
    /// of the screen) and the places held; returns them (picture pixels,
    /// at most [`area::capped`]'s) and, when they are news to the viewer or
    /// `full` asks, the same to tell it.
    pub fn apply(
        &mut self,
        image: &mut Image,
        shown: Rect,
        full: bool,
    ) -> (Vec<HiddenBox>, Option<Vec<HiddenBox>>) {
        let held = self.held.iter().map(|(b, _)| *b);
        let blanked: Vec<HiddenBox> = self.screen.iter().copied().chain(held).collect();
        let boxes = area::capped(area::on_picture(&blanked, shown));
        area::blank(&mut image.pixels, image.width, image.height, &boxes);
        let news = (full || self.told.as_ref() != Some(&boxes)).then(|| {
            self.told = Some(boxes.clone());
            boxes.clone()
        });
        // Nothing hidden and never anything told: nothing to say.
        let news = news.filter(|b| !b.is_empty() || self.privacy.is_some());
        (boxes, news)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI32, Ordering};

    use super::*;
    use crate::hidden::{Desk, Placed, TopWindow};

    /// A desktop whose one window, the vault, is at `x` (the test moves it).
    struct OneWindow(Arc<AtomicI32>);
    impl Desk for OneWindow {
        fn pointer(&self) -> Option<(i32, i32)> {
            None
        }
        fn focused(&self) -> Option<u64> {
            None
        }
        fn place(&self, _: u64) -> Placed {
            Placed::At(vault_box(self.0.load(Ordering::Relaxed)))
        }
    }

    fn vault_box(x: i32) -> HiddenBox {
        HiddenBox {
            x,
            y: 0,
            width: 4,
            height: 2,
        }
    }

    fn vault(x: i32) -> Vec<TopWindow> {
        vec![TopWindow {
            id: 7,
            title: "Vault".into(),
            area: vault_box(x),
            shown: true,
        }]
    }

    fn blanked(image: &Image) -> usize {
        image.pixels.iter().filter(|p| **p == area::BLANK).count()
    }

    fn picture() -> Image {
        Image {
            width: 8,
            height: 2,
            pixels: vec![1; 16],
        }
    }

    #[test]
    fn the_area_is_blanked_on_the_shown_part_and_told_once_a_change() {
        let t0 = Instant::now();
        let at = Arc::new(AtomicI32::new(6));
        let p = Privacy::new(vec!["vault".into()], Box::new(OneWindow(at.clone())));
        let mut mask = Mask::new(Some(p.clone()));
        let shown = Rect {
            x: 4,
            y: 0,
            w: 8,
            h: 2,
        };
        p.set_windows(vault(6));
        assert!(mask.before_grab(t0));
        assert!(!mask.after_grab(t0));
        let t1 = t0 + HOLD * 2;
        assert!(!mask.before_grab(t1));
        let mut image = picture();
        let (boxes, news) = mask.apply(&mut image, shown, false);
        assert_eq!(boxes.len(), 1);
        assert_eq!((boxes[0].x, boxes[0].width), (2, 4));
        assert_eq!(news, Some(boxes.clone()));
        assert_eq!(blanked(&image), 8);
        // The same again: blanked again, not told again; unless whole.
        let mut again = picture();
        assert!(!mask.before_grab(t1));
        assert_eq!(mask.apply(&mut again, shown, false).1, None);
        assert_eq!(again.pixels, image.pixels);
        assert_eq!(mask.apply(&mut again, shown, true).1, Some(boxes));
        // Gone: held a while, then the viewer hears of nothing hidden.
        p.set_windows(Vec::new());
        assert!(mask.before_grab(t1));
        assert_eq!(mask.apply(&mut picture(), shown, false).1, None);
        assert!(mask.before_grab(t1 + HOLD * 2));
        assert_eq!(mask.apply(&mut picture(), shown, false).1, Some(vec![]));
    }

    #[test]
    fn a_move_blanks_both_places_a_while_then_the_next_grab_is_whole() {
        let t0 = Instant::now();
        let at = Arc::new(AtomicI32::new(0));
        let p = Privacy::new(vec!["vault".into()], Box::new(OneWindow(at.clone())));
        p.set_windows(vault(0));
        let mut mask = Mask::new(Some(p));
        let whole = Rect::whole(8, 2);
        let t1 = t0 + HOLD * 2;
        assert!(mask.before_grab(t0));
        mask.apply(&mut picture(), whole, false);
        // The window moves while a grab is under way: the desktop says so
        // when asked after it, before the watcher lists it.
        assert!(!mask.before_grab(t1));
        at.store(4, Ordering::Relaxed);
        assert!(mask.after_grab(t1), "asked after the grab");
        let mut image = picture();
        mask.apply(&mut image, whole, false);
        assert_eq!(blanked(&image), 16, "both places");
        // Still both, until the hold is over; then whole, the new only.
        assert!(!mask.before_grab(t1 + HOLD / 2));
        let mut image = picture();
        mask.apply(&mut image, whole, false);
        assert_eq!(blanked(&image), 16, "a compositor's picture may lag");
        assert!(mask.before_grab(t1 + HOLD * 2));
        let mut image = picture();
        mask.apply(&mut image, whole, false);
        assert_eq!(blanked(&image), 8);
        assert_eq!(image.pixels[4], area::BLANK);
        assert!(!mask.before_grab(t1 + HOLD * 2));
    }

    #[test]
    fn without_hiding_nothing_is_said_or_blanked() {
        let mut mask = Mask::new(None);
        let mut image = Image {
            width: 2,
            height: 1,
            pixels: vec![1, 1],
        };
        assert!(!mask.before_grab(Instant::now()));
        assert_eq!(
            mask.apply(&mut image, Rect::whole(2, 1), true),
            (Vec::new(), None)
        );
        assert_eq!(image.pixels, [1, 1]);
    }
}
