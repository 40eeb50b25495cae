//! The capture thread's side of hiding: the hidden area as last read,
//! blanked into each grabbed picture before it is encoded (so the viewer,
//! the recording and every later delta see only [`area::BLANK`]), and
//! what the viewer was last told of it.

use lifeline_session::messages::HiddenBox;
use lifeline_session::screen::Image;

use super::{Privacy, area};
use crate::view::Rect;

/// What the capture keeps of the hidden area between grabs.
#[derive(Debug, Default)]
pub struct Mask {
    privacy: Option<Privacy>,
    /// The area's change count as last read, and the area (screen pixels).
    seen: u64,
    screen: Vec<HiddenBox>,
    /// The areas replaced during this grab: blanked with the current one
    /// (the grab may have caught the window at either place).
    recent: Vec<HiddenBox>,
    /// The last picture was blanked beyond the current area: the next
    /// grab is whole, to show again what is no longer hidden.
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

    /// Before a grab: whether it must be whole (the area changed, or the
    /// last picture was blanked beyond it); the places seen to change
    /// after it are gathered afresh.
    pub fn before_grab(&mut self) -> bool {
        let changed = self.changed();
        self.recent.clear();
        changed
    }

    /// After a grab: whether the area changed meanwhile (the grab may
    /// have caught a private window at its new place); the place it had
    /// stays blanked with the new one in this picture.
    pub fn after_grab(&mut self) -> bool {
        self.changed()
    }

    /// Asks the desktop where the private windows are now (see
    /// [`Privacy::refresh`]), then reads the area: whether it changed
    /// since the last read, or the last picture was blanked beyond it.
    /// Either way the next grab must be whole: what was hidden and is no
    /// longer must be captured again, as nothing redraws it.
    fn changed(&mut self) -> bool {
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
        self.recent.extend(before);
        true
    }

    /// A new viewer: it is told the boxes afresh.
    pub fn reset(&mut self) {
        self.told = None;
    }

    /// Blanks the hidden parts of `image` (the picture of `shown`, a part
    /// of the screen); returns them (picture pixels) and, when they are
    /// news to the viewer or `full` asks, the same to tell it.
    pub fn apply(
        &mut self,
        image: &mut Image,
        shown: Rect,
        full: bool,
    ) -> (Vec<HiddenBox>, Option<Vec<HiddenBox>>) {
        if !self.recent.is_empty() {
            self.stale = true;
        }
        let blanked: Vec<HiddenBox> = self.screen.iter().chain(&self.recent).copied().collect();
        let boxes = area::on_picture(&blanked, shown);
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
    use crate::hidden::{Desk, TopWindow};

    /// A desktop whose one window, the vault, is at `x` (the test moves it).
    struct OneWindow(Arc<AtomicI32>);
    impl Desk for OneWindow {
        fn pointer(&self) -> Option<(i32, i32)> {
            None
        }
        fn focused(&self) -> Option<u64> {
            None
        }
        fn place(&self, _: u64) -> Option<HiddenBox> {
            Some(vault_box(self.0.load(Ordering::Relaxed)))
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
        assert!(mask.before_grab());
        assert!(!mask.after_grab());
        let mut image = picture();
        let (boxes, news) = mask.apply(&mut image, shown, false);
        assert_eq!(boxes.len(), 1);
        assert_eq!((boxes[0].x, boxes[0].width), (2, 4));
        assert_eq!(news, Some(boxes.clone()));
        assert_eq!(blanked(&image), 8);
        // The same again: blanked again, not told again; unless whole.
        let mut again = picture();
        assert!(!mask.before_grab());
        assert_eq!(mask.apply(&mut again, shown, false).1, None);
        assert_eq!(again.pixels, image.pixels);
        assert_eq!(mask.apply(&mut again, shown, true).1, Some(boxes));
        // Gone: the viewer hears of nothing hidden.
        p.set_windows(Vec::new());
        assert!(mask.before_grab());
        assert_eq!(mask.apply(&mut picture(), shown, false).1, Some(vec![]));
    }

    #[test]
    fn a_move_seen_around_a_grab_blanks_both_places_then_the_next_grab_is_whole() {
        let at = Arc::new(AtomicI32::new(0));
        let p = Privacy::new(vec!["vault".into()], Box::new(OneWindow(at.clone())));
        p.set_windows(vault(0));
        let mut mask = Mask::new(Some(p));
        let whole = Rect::whole(8, 2);
        assert!(mask.before_grab());
        mask.apply(&mut picture(), whole, false);
        // The window moves while a grab is under way: the desktop says so
        // when asked after it, before the watcher lists it.
        assert!(!mask.before_grab());
        at.store(4, Ordering::Relaxed);
        assert!(mask.after_grab(), "asked after the grab");
        let mut image = picture();
        mask.apply(&mut image, whole, false);
        assert_eq!(blanked(&image), 16, "both places");
        // The next grab is whole, and blanks the new place only.
        assert!(mask.before_grab());
        let mut image = picture();
        mask.apply(&mut image, whole, false);
        assert_eq!(blanked(&image), 8);
        assert_eq!(image.pixels[4], area::BLANK);
        assert!(!mask.before_grab());
    }

    #[test]
    fn without_hiding_nothing_is_said_or_blanked() {
        let mut mask = Mask::new(None);
        let mut image = Image {
            width: 2,
            height: 1,
            pixels: vec![1, 1],
        };
        assert!(!mask.before_grab());
        assert_eq!(
            mask.apply(&mut image, Rect::whole(2, 1), true),
            (Vec::new(), None)
        );
        assert_eq!(image.pixels, [1, 1]);
    }
}
