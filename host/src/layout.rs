//! A screen made of outputs that threads of their own copy (a Wayland
//! compositor's outputs, a portal's PipeWire streams): each copier pastes
//! what was drawn into one layout image, at its output's place, and wakes
//! the capture thread; a grab hands over what changed since the last one.
//! Copiers do their slow reads before pasting, so a grab never waits on
//! them.

use std::sync::{Arc, Mutex, MutexGuard};

use lifeline_session::screen::Image;

use crate::platform::{CaptureError, Grab, Wake};

/// A rectangle of the layout: x, y, width, height.
pub type Rect = (u32, u32, u32, u32);

/// What copiers leave for grabs.
#[derive(Default)]
struct Shared {
    /// The whole layout.
    image: Option<Image>,
    /// Drawn since the last grab.
    damage: Vec<Rect>,
    /// Everything changed (first frame, new size).
    whole: bool,
    /// A copier stopped, and why.
    failed: Option<String>,
    wake: Option<Wake>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The layout image, shared by its copiers and the grabbing thread.
#[derive(Clone)]
pub struct Layout {
    shared: Arc<Mutex<Shared>>,
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Layout")
    }
}

impl Layout {
    /// A black layout of `width`×`height`, whole at the first grab.
    pub fn new(width: u32, height: u32) -> Self {
        let shared = Shared {
            image: Some(Image {
                width,
                height,
                pixels: vec![0; width as usize * height as usize],
            }),
            whole: true,
            ..Shared::default()
        };
        Self {
            shared: Arc::new(Mutex::new(shared)),
        }
    }

    /// Writes each rectangle's pixels (`0x00RRGGBB`, rows of the
    /// rectangle's width) into the layout, clipped to it, then wakes the
    /// grabbing side. `whole` says everything is news.
    pub fn paste(&self, parts: Vec<(Rect, Vec<u32>)>, whole: bool) {
        {
            let mut s = lock(&self.shared);
            let Some(image) = s.image.as_mut() else {
                return;
            };
            let mut drawn = Vec::with_capacity(parts.len());
            for ((x, y, w, h), pixels) in parts {
                if x >= image.width || y >= image.height || w == 0 {
                    continue;
                }
                let n = w.min(image.width - x) as usize;
                let rows = h.min(image.height - y);
                for (r, line) in pixels
                    .chunks_exact(w as usize)
                    .take(rows as usize)
                    .enumerate()
                {
                    let at = (y as usize + r) * image.width as usize + x as usize;
                    image.pixels[at..at + n].copy_from_slice(&line[..n]);
                }
                drawn.push((x, y, n as u32, rows));
            }
            s.damage.extend(drawn);
            s.whole |= whole;
        }
        self.wake();
    }

    /// A copier stopped: the next grab fails with `why`.
    pub fn fail(&self, why: String) {
        lock(&self.shared).failed = Some(why);
        let wake = lock(&self.shared).wake.take();
        if let Some(w) = wake {
            w();
        }
    }

    fn wake(&self) {
        let mut s = lock(&self.shared);
        if s.wake.as_ref().is_some_and(|w| !w()) {
            s.wake = None;
        }
    }

    /// Hands over the layout: whole when `force`, at the first grab, or
    /// when `into` has another size; else only what was drawn since.
    pub fn grab(&self, into: &mut Image, force: bool) -> Result<Grab, CaptureError> {
        let mut s = lock(&self.shared);
        if let Some(why) = &s.failed {
            return Err(CaptureError::Grab(why.clone().into()));
        }
        let whole = std::mem::take(&mut s.whole);
        let damage = std::mem::take(&mut s.damage);
        let Some(image) = s.image.as_ref() else {
            return Ok(Grab::Unchanged);
        };
        let sized = into.width == image.width && into.height == image.height;
        if force || whole || !sized {
            into.clone_from(image);
            return Ok(Grab::Captured);
        }
        if damage.is_empty() {
            return Ok(Grab::Unchanged);
        }
        for &(x, y, w, h) in &damage {
            for row in y..(y + h).min(image.height) {
                let at = row as usize * image.width as usize;
                let (a, b) = (at + x as usize, at + (x + w).min(image.width) as usize);
                into.pixels[a..b].copy_from_slice(&image.pixels[a..b]);
            }
        }
        Ok(Grab::Regions(damage))
    }

    /// Calls `wake` after each paste, until it returns false.
    pub fn watch(&self, wake: Wake) {
        lock(&self.shared).wake = Some(wake);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn empty() -> Image {
        Image {
            width: 0,
            height: 0,
            pixels: Vec::new(),
        }
    }

    #[test]
    fn first_grab_is_whole_then_only_what_was_pasted() {
        let layout = Layout::new(4, 3);
        let mut into = empty();
        assert_eq!(layout.grab(&mut into, false).unwrap(), Grab::Captured);
        assert_eq!((into.width, into.height), (4, 3));
        assert_eq!(layout.grab(&mut into, false).unwrap(), Grab::Unchanged);
        layout.paste(vec![((1, 1, 2, 1), vec![7, 8])], false);
        assert_eq!(
            layout.grab(&mut into, false).unwrap(),
            Grab::Regions(vec![(1, 1, 2, 1)])
        );
        assert_eq!(into.pixels[4..8], [0, 7, 8, 0]);
    }

    #[test]
    fn a_paste_past_the_edge_is_clipped() {
        let layout = Layout::new(3, 2);
        let mut into = empty();
        layout.grab(&mut into, false).unwrap();
        layout.paste(vec![((2, 1, 2, 2), vec![1, 2, 3, 4])], false);
        assert_eq!(
            layout.grab(&mut into, false).unwrap(),
            Grab::Regions(vec![(2, 1, 1, 1)])
        );
        assert_eq!(into.pixels, [0, 0, 0, 0, 0, 1]);
        layout.paste(vec![((9, 9, 1, 1), vec![5])], false);
        assert_eq!(layout.grab(&mut into, false).unwrap(), Grab::Unchanged);
    }

    #[test]
    fn a_paste_wakes_until_the_listener_leaves_and_a_failure_is_said() {
        let layout = Layout::new(2, 2);
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        layout.watch(Box::new(move || c.fetch_add(1, Ordering::SeqCst) < 1));
        layout.paste(vec![((0, 0, 1, 1), vec![1])], false);
        layout.paste(vec![((0, 0, 1, 1), vec![2])], false);
        layout.paste(vec![((0, 0, 1, 1), vec![3])], false);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        layout.fail("the stream ended".into());
        let err = layout.grab(&mut empty(), false).unwrap_err();
        assert!(matches!(err, CaptureError::Grab(_)));
    }
}
