//! Finding what moved between two screens, so a scroll travels as one copy
//! instead of every pixel again (as VNC's CopyRect does for x11vnc, which
//! learns of scrolls by watching the X requests; we infer them from pixels).
//!
//! Rows of the changed area are hashed in both images; a row of the new
//! image found (uniquely) in the old one votes for its vertical offset. The
//! winning offset is checked pixel by pixel and the longest run of rows that
//! match becomes one [`CopyRect`].

use std::collections::HashMap;

use crate::screen::{CopyRect, Image, diff_box};

/// Fewer changed tiles than this are not worth looking for a scroll in.
const MIN_TILES: usize = 6;
/// A copy shorter than this saves too little to send.
const MIN_ROWS: u32 = 16;
/// A changed area narrower than this is not worth a copy.
const MIN_WIDTH: u32 = 32;

fn row(img: &Image, y: u32, x0: u32, x1: u32) -> &[u32] {
    let at = (y * img.width) as usize;
    &img.pixels[at + x0 as usize..at + x1 as usize]
}

fn hash(px: &[u32]) -> u64 {
    px.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &p| {
        (h.rotate_left(5) ^ u64::from(p)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    })
}

/// The vertical move that explains most of the change from `old` to `new`
/// within the `dirty` tiles (x, y, w, h), if there is one worth sending.
pub fn find_scroll(old: &Image, new: &Image, dirty: &[(u32, u32, u32, u32)]) -> Option<CopyRect> {
    if dirty.len() < MIN_TILES || old.width != new.width || old.height != new.height {
        return None;
    }
    // The changed area: tile-aligned rows, columns cut to the pixels that differ.
    let y0 = dirty.iter().map(|d| d.1).min()?;
    let y1 = dirty.iter().map(|d| d.1 + d.3).max()?;
    let (tx0, tx1) = (
        dirty.iter().map(|d| d.0).min()?,
        dirty.iter().map(|d| d.0 + d.2).max()?,
    );
    let (x0, _, w, _) = diff_box(old, new, tx0, y0, tx1 - tx0, y1 - y0)?;
    let x1 = x0 + w;
    if w < MIN_WIDTH || y1 - y0 < MIN_ROWS {
        return None;
    }

    // Old rows by hash; rows seen more than once (blank lines) say nothing.
    let mut old_rows: HashMap<u64, Option<u32>> = HashMap::with_capacity((y1 - y0) as usize);
    for y in y0..y1 {
        old_rows
            .entry(hash(row(old, y, x0, x1)))
            .and_modify(|e| *e = None)
            .or_insert(Some(y));
    }
    let mut votes: HashMap<i64, u32> = HashMap::new();
    for y in y0..y1 {
        let r = row(new, y, x0, x1);
        if r == row(old, y, x0, x1) || r.iter().all(|&p| p == r[0]) {
            continue;
        }
        if let Some(Some(from)) = old_rows.get(&hash(r)) {
            *votes.entry(i64::from(*from) - i64::from(y)).or_default() += 1;
        }
    }
    let (&dy, &n) = votes.iter().max_by_key(|(dy, n)| (**n, -dy.abs()))?;
    if n < MIN_ROWS / 2 {
        return None;
    }

    // The longest run of rows that really are the old rows moved by dy.
    let (mut best, mut start) = ((0u32, 0u32), None::<u32>);
    for y in y0..=y1 {
        let src = i64::from(y) + dy;
        let matches = y < y1
            && src >= i64::from(y0)
            && src < i64::from(y1)
            && row(new, y, x0, x1) == row(old, src as u32, x0, x1);
        match (matches, start) {
            (true, None) => start = Some(y),
            (false, Some(s)) => {
                if y - s > best.1 - best.0 {
                    best = (s, y);
                }
                start = None;
            }
            _ => {}
        }
    }
    let (ya, yb) = best;
    if yb - ya < MIN_ROWS {
        return None;
    }
    Some(CopyRect {
        src_x: x0,
        src_y: (i64::from(ya) + dy) as u32,
        x: x0,
        y: ya,
        w: x1 - x0,
        h: yb - ya,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::{Encoder, Framebuffer};

    /// A "terminal": lines of varied text-like pixels on a plain background,
    /// inside a noisy desktop.
    fn terminal(w: u32, h: u32, first_line: u32) -> Image {
        let mut seed = 0x1234_5678u32;
        let mut pixels: Vec<u32> = (0..w * h)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed & 0x00ff_ffff
            })
            .collect();
        // The window: x 100..500, y 50..350, 13-pixel lines.
        for y in 50..350u32 {
            let line = first_line + (y - 50) / 13;
            for x in 100..500u32 {
                let glyph = (line * 131 + ((y - 50) % 13) * 7 + x / 3).wrapping_mul(2_654_435_761);
                let ink = (y - 50) % 13 < 9 && (glyph >> 28) < 5;
                pixels[(y * w + x) as usize] = if ink { 0x000000 } else { 0xffffff };
            }
        }
        Image {
            width: w,
            height: h,
            pixels,
        }
    }

    #[test]
    fn a_scrolled_terminal_travels_as_a_copy_and_one_line() {
        let before = terminal(640, 400, 0);
        let after = terminal(640, 400, 1);
        let mut enc = Encoder::new();
        let mut fb = Framebuffer::new();
        fb.apply(&enc.encode(&before).unwrap()).unwrap();
        let upd = enc.encode(&after).unwrap();
        assert_eq!(upd.copies.len(), 1, "{:?}", upd.copies);
        let c = upd.copies[0];
        assert_eq!(c.src_y, c.y + 13, "moved up one line");
        fb.apply(&upd).unwrap();
        assert_eq!(fb.image(), Some(&after));
        // Only the new bottom line (and the edge rows) is sent as pixels.
        let rows: u32 = upd.tiles.iter().map(|t| t.h).max().unwrap_or(0);
        assert!(
            rows <= 26,
            "tiles {:?}",
            upd.tiles
                .iter()
                .map(|t| (t.x, t.y, t.w, t.h))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn scrolling_down_and_unrelated_changes_are_exact() {
        let mut enc = Encoder::new();
        let mut fb = Framebuffer::new();
        for lines in [5u32, 4, 2, 2, 9, 30, 0] {
            let img = terminal(640, 400, lines);
            if let Some(upd) = enc.encode(&img) {
                fb.apply(&upd).unwrap();
            }
            assert_eq!(fb.image(), Some(&img), "at line {lines}");
        }
    }

    #[test]
    fn no_copy_for_new_content() {
        let a = terminal(640, 400, 0);
        let mut b = a.clone();
        for p in &mut b.pixels[50 * 640..350 * 640] {
            *p ^= 0x0010_2030;
        }
        let dirty: Vec<_> = (0..10).map(|i| (i * 64, 64, 64, 64)).collect();
        assert_eq!(find_scroll(&a, &b, &dirty), None);
    }
}
