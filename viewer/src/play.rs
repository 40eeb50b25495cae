//! Playing a session recording back with an auditor's secret key: the
//! file as the relay stored it, opened chunk by chunk (anything altered,
//! moved or cut off is named, with the time up to which the recording is
//! whole), its events read back, and the screen at any moment rebuilt
//! from the last whole frame (keyframe) before it.

use std::path::Path;

use lifeline_record::AuditorSecret;
use lifeline_record::chain::split;
use lifeline_record::open::{OpenError, Opener};
use lifeline_record::seal::Header;
use lifeline_session::recording::{Event, Reader, Timed};
use lifeline_session::screen::{Framebuffer, Image};

/// A playhead: the screen as of some moment, moved forward by applying
/// the updates in between, and rebuilt from the last keyframe when it
/// jumps back (or far ahead).
#[derive(Debug)]
pub struct Cursor {
    fb: Framebuffer,
    /// The next event to apply.
    next: usize,
    at_ms: u64,
}

impl Default for Cursor {
    fn default() -> Self {
        Self {
            fb: screen(),
            next: 0,
            at_ms: 0,
        }
    }
}

/// A framebuffer for playback: from a keyframe in the middle of a video,
/// the video's frames before its next key frame are skipped (the rest of
/// each update applies).
fn screen() -> Framebuffer {
    Framebuffer::new().lenient_video(true)
}

impl Cursor {
    /// Moves to `at_ms`; whether the picture changed.
    pub fn seek(&mut self, p: &Playback, at_ms: u64) -> bool {
        let (key, upto) = p.keyframe_before(at_ms);
        // Back, or past a keyframe ahead of the playhead: start there.
        let restart = at_ms < self.at_ms || key.is_some_and(|k| k >= self.next);
        let mut changed = false;
        if restart {
            self.fb = screen();
            self.next = key.unwrap_or(upto);
            changed = true;
        }
        for t in &p.events[self.next.min(upto)..upto] {
            if let Event::Frame { update, .. } = &t.event {
                changed = true;
                if self.fb.apply(update).is_err() {
                    self.fb = screen();
                }
            }
        }
        self.next = upto;
        self.at_ms = at_ms;
        changed
    }

    /// The screen at the playhead, once there is one.
    pub fn image(&self) -> Option<&Image> {
        self.fb.image()
    }
}

/// Why a recording cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the identity file: {0}")]
    Identity(#[from] lifeline_record::KeyError),
    #[error("{0}")]
    Open(#[from] OpenError),
    #[error("the recording is empty")]
    Empty,
    #[error(
        "nothing of the screen was recorded by {0:.1} s (the recording starts its picture at {1:.1} s)"
    )]
    TooEarly(f64, f64),
    #[error("the recorded screen cannot be rebuilt: {0}")]
    Screen(String),
}

/// An opened recording.
#[derive(Debug)]
pub struct Playback {
    pub header: Header,
    pub events: Vec<Timed>,
    /// Where the recording stops being whole, if it does.
    pub damage: Option<String>,
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl Playback {
    /// Opens the file at `path` with the auditor's secret key file.
    pub fn open(path: &Path, identity: &Path) -> Result<Self, PlayError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| PlayError::Read {
                path: p.display().to_string(),
                source,
            })
        };
        let text = String::from_utf8_lossy(&read(identity)?).into_owned();
        let secret = AuditorSecret::from_text(&text)?;
        Self::from_bytes(&read(path)?, &secret)
    }

    /// Opens a recording's bytes.
    pub fn from_bytes(file: &[u8], secret: &AuditorSecret) -> Result<Self, PlayError> {
        let (chunks, mut damage) = match split(file) {
            Ok(c) => (c, None),
            Err(e) => {
                // Play what came before the cut.
                let whole = &file[..e.offset];
                (split(whole).unwrap_or_default(), Some(e.to_string()))
            }
        };
        let (head, body) = chunks.split_first().ok_or(PlayError::Empty)?;
        let (header, mut opener) = Opener::new(head, secret)?;
        let mut reader = Reader::default();
        let mut events = Vec::new();
        for chunk in body {
            match opener.open(chunk) {
                Ok((plain, _)) => reader.push(&plain),
                Err(e) => {
                    damage.get_or_insert(e.to_string());
                    break;
                }
            }
            while let Some(e) = reader.next_event() {
                match e {
                    Ok(t) => events.push(t),
                    Err(bad) => {
                        damage.get_or_insert(bad.to_string());
                        break;
                    }
                }
            }
        }
        if damage.is_none() && !opener.ended() {
            damage = Some("the recording was cut off: its last chunk is missing".into());
        }
        let damage = damage.map(|d| {
            let upto = events.last().map_or(0, |t| t.at_ms);
            format!("{d}; it is whole up to {:.1} s", seconds(upto))
        });
        Ok(Self {
            header,
            events,
            damage,
        })
    }

    /// How long the recording runs.
    pub fn duration_ms(&self) -> u64 {
        self.events.last().map_or(0, |t| t.at_ms)
    }

    /// The screen as it was at `at_ms`: the last keyframe before, and
    /// every update after it up to then.
    pub fn screen_at(&self, at_ms: u64) -> Result<Image, PlayError> {
        let (start, upto) = self.keyframe_before(at_ms);
        let Some(start) = start else {
            let first = self
                .events
                .iter()
                .find(|t| matches!(t.event, Event::Frame { .. }))
                .map_or(0, |t| t.at_ms);
            return Err(PlayError::TooEarly(seconds(at_ms), seconds(first)));
        };
        let mut fb = screen();
        for t in &self.events[start..upto] {
            if let Event::Frame { update, .. } = &t.event {
                fb.apply(update)
                    .map_err(|e| PlayError::Screen(e.to_string()))?;
            }
        }
        fb.image()
            .cloned()
            .ok_or_else(|| PlayError::Screen("no picture".into()))
    }

    /// The last keyframe at or before `at_ms` (its index), and how many
    /// events came by then.
    fn keyframe_before(&self, at_ms: u64) -> (Option<usize>, usize) {
        let upto = self.events.partition_point(|t| t.at_ms <= at_ms);
        let key = self.events[..upto]
            .iter()
            .rposition(|t| matches!(t.event, Event::Frame { keyframe: true, .. }));
        (key, upto)
    }

    /// The first moment the recording has a picture.
    pub fn first_picture_ms(&self) -> Option<u64> {
        self.events
            .iter()
            .find(|t| matches!(t.event, Event::Frame { keyframe: true, .. }))
            .map(|t| t.at_ms)
    }

    /// The screen every `1/fps` s from the first picture to the end, in
    /// order, each handed to `each` with its time: one playhead moving
    /// forward.
    pub fn frames<E>(
        &self,
        fps: f64,
        mut each: impl FnMut(u64, &Image) -> Result<(), E>,
    ) -> Result<u64, E> {
        let step = (1000.0 / fps).max(1.0);
        let mut cursor = Cursor::default();
        let mut next = 0.0f64;
        let mut written = 0;
        let end = self.duration_ms() as f64;
        while next <= end {
            cursor.seek(self, next as u64);
            if let Some(img) = cursor.image() {
                each(next as u64, img)?;
                written += 1;
            }
            next += step;
        }
        Ok(written)
    }

    /// The timeline: each note (mode, clipboard, files, chat, the end)
    /// with its time, and how many frames and input events came between.
    pub fn timeline(&self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        let (mut frames, mut inputs) = (0u64, 0u64);
        for t in &self.events {
            match &t.event {
                Event::Frame { .. } => frames += 1,
                Event::Input(_) => inputs += 1,
                Event::Pointer { .. } => {}
                Event::Note(n) => {
                    out.push((
                        t.at_ms,
                        format!("{n}  ({frames} screen updates, {inputs} input events before)"),
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use lifeline_record::AuditorSecret;
    use lifeline_record::chain::frame;
    use lifeline_record::seal::Sealer;
    use lifeline_session::recording::encode;
    use lifeline_session::screen::{Encoder, FrameUpdate, Tuning};

    use super::*;

    const W: u32 = 256;
    const H: u32 = 128;

    /// A grey screen with a smooth photograph in its left half, panned by
    /// `shift`, and a red pixel at the right edge when `mark`.
    fn screen(shift: u32, mark: bool) -> Image {
        let mut pixels = vec![0x0080_8080; (W * H) as usize];
        for y in 0..H {
            for x in 0..128 {
                let (fx, fy) = (f64::from(x + shift), f64::from(y + shift / 2));
                let c = |a: f64, o: f64| (128.0 + 100.0 * (fx / a + fy / 23.0 + o).sin()) as u32;
                pixels[(y * W + x) as usize] =
                    c(17.0, 0.0) << 16 | c(29.0, 1.0) << 8 | c(41.0, 2.0);
            }
        }
        if mark {
            pixels[(W - 1) as usize] = 0x00ff_0000;
        }
        Image {
            width: W,
            height: H,
            pixels,
        }
    }

    /// A recording that took a keyframe while a video played: the video
    /// frames after it continue a stream whose key frame came before.
    fn recording() -> Playback {
        let secret = AuditorSecret::generate();
        let (mut sealer, head) = Sealer::new("s1", 0, &[("al".into(), secret.public())]);
        let mut plain = Vec::new();
        let mut push = |at_ms, update: FrameUpdate, keyframe| {
            plain.extend(encode(&Timed {
                at_ms,
                event: Event::Frame { update, keyframe },
            }))
        };
        let mut viewer = Encoder::new();
        viewer.tune(Tuning {
            picture_min_pixels: 64 * 64,
            ..Tuning::default()
        });
        let whole = |img: &Image| Encoder::lossless().encode(img).unwrap();
        push(0, whole(&screen(0, false)), true);
        viewer.encode(&screen(0, false)).unwrap();
        for f in 1..=8u32 {
            let img = screen(4 * f, f == 8);
            let upd = viewer.encode(&img).unwrap();
            assert!(f < 3 || !upd.video.is_empty(), "frame {f} is video");
            if f == 5 {
                // The recorder's keyframe, after the viewer's update.
                push(u64::from(f) * 100, upd, false);
                push(u64::from(f) * 100 + 1, whole(&img), true);
            } else {
                push(u64::from(f) * 100, upd, false);
            }
        }
        let mut file = frame(&head);
        file.extend(frame(&sealer.seal(&plain, true).unwrap()));
        Playback::from_bytes(&file, &secret).unwrap()
    }

    #[test]
    fn from_a_keyframe_in_the_middle_of_a_video_the_rest_still_plays() {
        let p = recording();
        // From the start: every video frame decodes.
        let mut cursor = Cursor::default();
        cursor.seek(&p, 450);
        let early = cursor.image().unwrap().clone();
        assert!(
            early.pixels[0] != screen(0, false).pixels[0],
            "the video moved"
        );
        // From the keyframe at 501 ms: the frames after it lack their key
        // frame and are skipped; the rest of each update applies.
        let end = p.screen_at(900).unwrap();
        assert_eq!(end.pixels[(W - 1) as usize], 0x00ff_0000);
        assert_eq!(
            end.pixels[0],
            screen(20, false).pixels[0],
            "held at the keyframe"
        );
        let mut cursor = Cursor::default();
        cursor.seek(&p, 900);
        assert_eq!(cursor.image(), Some(&end));
    }
}
