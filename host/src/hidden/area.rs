//! Which parts of the screen the user hides: pure geometry from the
//! top-level windows and which of them are private. A private window's
//! whole area is hidden, moved to the shown picture's pixels for the
//! capture to blank and the viewer to box.

use lifeline_session::messages::{HiddenBox, MAX_HIDDEN_BOXES};

use crate::view::Rect;

/// One top-level window, as the desktop reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopWindow {
    /// The desktop's id for it (an X window id).
    pub id: u64,
    /// Its title, as the user sees it (empty when it has none).
    pub title: String,
    /// Where it is, in screen pixels (frame and border included).
    pub area: HiddenBox,
    /// Whether it is on the screen (mapped, not minimised).
    pub shown: bool,
}

/// Whether `title` matches a `--hide-window` pattern: the pattern is a
/// part of the title, in any case (`keepass` matches "Passwords -
/// KeePassXC"). An empty pattern matches nothing.
pub fn matches(title: &str, pattern: &str) -> bool {
    !pattern.is_empty() && title.to_lowercase().contains(&pattern.to_lowercase())
}

/// The hidden parts of the screen: each shown private window's whole
/// area, whatever lies above it (a window above may be see-through, take
/// no pixels at all, or move away before the next listing: what it
/// covers is hidden too), at most [`MAX_HIDDEN_BOXES`] boxes (beyond
/// that, one box around them all).
pub fn hidden_area(windows: &[TopWindow], private: impl Fn(&TopWindow) -> bool) -> Vec<HiddenBox> {
    capped(
        windows
            .iter()
            .filter(|w| w.shown && !empty(&w.area) && private(w))
            .map(|w| w.area)
            .collect(),
    )
}

/// At most [`MAX_HIDDEN_BOXES`] boxes: beyond that, one around them all.
pub fn capped(boxes: Vec<HiddenBox>) -> Vec<HiddenBox> {
    if boxes.len() <= MAX_HIDDEN_BOXES {
        boxes
    } else {
        boxes.into_iter().reduce(bounding).into_iter().collect()
    }
}

fn empty(b: &HiddenBox) -> bool {
    b.width == 0 || b.height == 0
}

/// Edges in i64: no sum of an i32 and a u32 overflows.
fn edges(b: &HiddenBox) -> (i64, i64, i64, i64) {
    let (x, y) = (i64::from(b.x), i64::from(b.y));
    (x, y, x + i64::from(b.width), y + i64::from(b.height))
}

/// A box from edges that came from boxes (so they fit again).
fn from_edges(x0: i64, y0: i64, x1: i64, y1: i64) -> HiddenBox {
    HiddenBox {
        x: x0 as i32,
        y: y0 as i32,
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
    }
}

fn bounding(a: HiddenBox, b: HiddenBox) -> HiddenBox {
    let (a0, a1, a2, a3) = edges(&a);
    let (b0, b1, b2, b3) = edges(&b);
    from_edges(a0.min(b0), a1.min(b1), a2.max(b2), a3.max(b3))
}

/// The hidden boxes (screen pixels) as parts of the shown picture: those
/// on `shown`, clipped to it, in its pixels.
pub fn on_picture(boxes: &[HiddenBox], shown: Rect) -> Vec<HiddenBox> {
    let (sx0, sy0) = (i64::from(shown.x), i64::from(shown.y));
    let (sx1, sy1) = (sx0 + i64::from(shown.w), sy0 + i64::from(shown.h));
    boxes
        .iter()
        .filter_map(|b| {
            let (x0, y0, x1, y1) = edges(b);
            let (x0, y0, x1, y1) = (x0.max(sx0), y0.max(sy0), x1.min(sx1), y1.min(sy1));
            (x0 < x1 && y0 < y1).then(|| from_edges(x0 - sx0, y0 - sy0, x1 - sx0, y1 - sy0))
        })
        .collect()
}

/// Whether a point of the picture lies in a box.
pub fn inside(boxes: &[HiddenBox], (x, y): (i64, i64)) -> bool {
    boxes.iter().any(|b| {
        let (x0, y0, x1, y1) = edges(b);
        x0 <= x && x < x1 && y0 <= y && y < y1
    })
}

/// The colour hidden parts are blanked with (0x00RRGGBB): plain, so it
/// costs next to nothing to send.
pub const BLANK: u32 = 0x0048_4848;

/// Paints each box (the picture's pixels, clipped to it) with [`BLANK`].
pub fn blank(pixels: &mut [u32], width: u32, height: u32, boxes: &[HiddenBox]) {
    for b in on_picture(boxes, Rect::whole(width, height)) {
        for row in b.y as usize..(b.y as usize + b.height as usize) {
            let start = row * width as usize + b.x as usize;
            if let Some(line) = pixels.get_mut(start..start + b.width as usize) {
                line.fill(BLANK);
            }
        }
    }
}

#[cfg(test)]
mod tests;
