//! Refinement: once the screen is still, what the viewer holds only as an
//! approximation (a picture, a video frame) is sent again, top to bottom
//! in runs of tiles, within the tuning's budget an update: coarse pictures
//! first sharpened as finer JPEG when the tuning asks, then exact, as
//! tiles of the update's one stream like any other exact tile (on a 1080p
//! photograph 0.2% smaller than the photo bands refinement used before,
//! on a grainy synthetic one 2%: `session/tests/encode_measure.rs`).

use super::encoder::{COARSE, EXACT, FINE, Tuning, level};
use super::exact::{ExactTiles, Rect};
use super::image::{tile_index, tiles_of, tiles_touching};
use super::{Image, MAX_PICTURES, Picture, TILE};

/// Bytes an exact photo-like tile costs, about: a run is cut so that one
/// piece stays near the budget (a sharpened tile costs less).
const TILE_BYTES: usize = 6144;

/// One piece of refinement of `sent`, the screen as the viewer will have
/// it, where `lossy` says it is approximate: sharpened pictures, and
/// exact tiles into `exact`. `lossy` says afterwards what the viewer then
/// holds.
pub(super) fn piece(
    sent: &Image,
    lossy: &mut [u8],
    t: Tuning,
    exact: &mut ExactTiles,
) -> Vec<Picture> {
    let (width, height) = (sent.width, sent.height);
    let mut budget = t.refine_piece;
    // Coarse pictures first become fine ones, when asked; then exact.
    let sharpen = t.refine_quality.filter(|_| lossy.contains(&COARSE));
    let from = if sharpen.is_some() { COARSE } else { FINE };
    let mut pictures = Vec::new();
    let most = (t.refine_piece / TILE_BYTES).max(1);
    let runs = lossy_runs(width, height, lossy, from)
        .into_iter()
        .flat_map(|r| split_run(r, most));
    for run in runs {
        // A viewer takes at most MAX_PICTURES pictures an update.
        if budget == 0 || pictures.len() == MAX_PICTURES {
            break;
        }
        let (x, y, w, h) = run;
        let jpeg =
            sharpen.and_then(|q| Some((crate::picture::encode(sent, x, y, w, h, q).ok()?, q)));
        let (spent, now) = match jpeg {
            Some((jpeg, q)) => {
                let n = jpeg.len();
                pictures.push(Picture { x, y, w, h, jpeg });
                (n, level(q))
            }
            None => (exact_run(sent, run, exact), EXACT),
        };
        budget = budget.saturating_sub(spent);
        for (x, y) in tiles_touching(x, y, w, h) {
            lossy[tile_index(width, x, y)] = now;
        }
    }
    pictures
}

/// The runs of tiles in one tile row held at least as approximate as
/// `from`, top to bottom.
fn lossy_runs(width: u32, height: u32, lossy: &[u8], from: u8) -> Vec<Rect> {
    let mut runs: Vec<Rect> = Vec::new();
    for (x, y, w, h) in tiles_of(width, height) {
        if lossy[tile_index(width, x, y)] < from {
            continue;
        }
        match runs.last_mut() {
            Some(r) if r.1 == y && r.0 + r.2 == x => r.2 += w,
            _ => runs.push((x, y, w, h)),
        }
    }
    runs
}

/// `run` cut into runs of at most `most` tiles.
fn split_run(run: Rect, most: usize) -> Vec<Rect> {
    let (x, y, w, h) = run;
    let step = TILE.saturating_mul(u32::try_from(most).unwrap_or(u32::MAX));
    (x..x + w)
        .step_by(step as usize)
        .map(|x0| (x0, y, step.min(x + w - x0), h))
        .collect()
}

/// Sends a run exact, tile by tile; returns the bytes it costs.
fn exact_run(img: &Image, (x, y, w, h): Rect, exact: &mut ExactTiles) -> usize {
    tiles_touching(x, y, w, h)
        .map(|(tx, ty)| {
            let (tw, th) = (TILE.min(img.width - tx), TILE.min(img.height - ty));
            exact.push(img, (tx, ty, tw, th))
        })
        .sum()
}
