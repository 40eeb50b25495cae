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

    /// Reads the area; whether it changed since the last read (the next
    /// grab must then be whole: what was hidden and is no longer must be
    /// captured again, as nothing redraws it).
    pub fn changed(&mut self) -> bool {
        let Some(p) = &self.privacy else {
            return false;
        };
        let (generation, area) = p.area();
        if generation == self.seen {
            return false;
        }
        self.seen = generation;
        self.screen = area;
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
        let boxes = area::on_picture(&self.screen, shown);
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
    use super::*;
    use crate::hidden::{Desk, TopWindow};

    struct NoDesk;
    impl Desk for NoDesk {
        fn pointer(&self) -> Option<(i32, i32)> {
            None
        }
        fn focused(&self) -> Option<u64> {
            None
        }
    }

    fn vault(x: i32) -> Vec<TopWindow> {
        vec![TopWindow {
            id: 7,
            title: "Vault".into(),
            area: HiddenBox {
                x,
                y: 0,
                width: 4,
                height: 2,
            },
            shown: true,
        }]
    }

    #[test]
    fn the_area_is_blanked_on_the_shown_part_and_told_once_a_change() {
        let p = Privacy::new(vec!["vault".into()], Box::new(NoDesk));
        let mut mask = Mask::new(Some(p.clone()));
        let mut image = Image {
            width: 8,
            height: 2,
            pixels: vec![1; 16],
        };
        let shown = Rect {
            x: 4,
            y: 0,
            w: 8,
            h: 2,
        };
        assert!(!mask.changed(), "nothing listed yet");
        p.set_windows(vault(6));
        assert!(mask.changed());
        assert!(!mask.changed());
        let (boxes, news) = mask.apply(&mut image, shown, false);
        assert_eq!(boxes.len(), 1);
        assert_eq!((boxes[0].x, boxes[0].width), (2, 4));
        assert_eq!(news, Some(boxes.clone()));
        assert_eq!(
            image.pixels.iter().filter(|p| **p == area::BLANK).count(),
            8
        );
        // The same again: blanked again, not told again; unless whole.
        let mut again = image.clone();
        again.pixels.fill(1);
        assert_eq!(mask.apply(&mut again, shown, false).1, None);
        assert_eq!(again.pixels, image.pixels);
        assert_eq!(mask.apply(&mut again, shown, true).1, Some(boxes));
        // Gone: the viewer hears of nothing hidden.
        p.set_windows(Vec::new());
        assert!(mask.changed());
        assert_eq!(mask.apply(&mut again, shown, false).1, Some(Vec::new()));
    }

    #[test]
    fn without_hiding_nothing_is_said_or_blanked() {
        let mut mask = Mask::new(None);
        let mut image = Image {
            width: 2,
            height: 1,
            pixels: vec![1, 1],
        };
        assert!(!mask.changed());
        assert_eq!(
            mask.apply(&mut image, Rect::whole(2, 1), true),
            (Vec::new(), None)
        );
        assert_eq!(image.pixels, [1, 1]);
    }
}
