//! The live figures the toolbar and `--json` show, counted from the
//! updates as they arrive: frames and bytes a second over the last second,
//! and how long the last input took to come back as an update. Time is
//! passed in.

use std::time::{Duration, Instant};

/// Live figures for the toolbar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub frames: u64,
    /// Screen data in the updates (tile payloads).
    pub bytes: u64,
    /// Everything received on the session stream: sealed updates, pointer
    /// reports, their framing; what the session costs the network above QUIC.
    pub stream_bytes: u64,
    /// Frames in the last second.
    pub fps: f64,
    /// Bytes a second over the last second.
    pub bytes_per_s: f64,
    /// Input sent to the next update that arrived, last measured.
    pub input_to_update_ms: Option<f64>,
}

/// The figures and the window they are counted over.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counter {
    figures: Figures,
    window_start: Option<Instant>,
    window_frames: u64,
    window_bytes: u64,
    last_input: Option<Instant>,
}

/// After this long without an update the rates read zero.
const STALE: Duration = Duration::from_secs(2);

impl Counter {
    /// The technician sent input at `now`: the next update measures it.
    pub(crate) fn input(&mut self, now: Instant) {
        self.last_input = Some(now);
    }

    /// Everything received on the session stream so far.
    pub(crate) fn stream_bytes(&mut self, bytes: u64) {
        self.figures.stream_bytes = bytes;
    }

    /// An update of `size` payload bytes arrived at `now`.
    pub(crate) fn frame(&mut self, now: Instant, size: u64) {
        let f = &mut self.figures;
        f.frames += 1;
        f.bytes += size;
        if let Some(t) = self.last_input.take() {
            f.input_to_update_ms = Some(now.saturating_duration_since(t).as_secs_f64() * 1e3);
        }
        let start = *self.window_start.get_or_insert(now);
        self.window_frames += 1;
        self.window_bytes += size;
        let span = now.saturating_duration_since(start).as_secs_f64();
        if span >= 1.0 {
            f.fps = self.window_frames as f64 / span;
            f.bytes_per_s = self.window_bytes as f64 / span;
            self.window_start = Some(now);
            self.window_frames = 0;
            self.window_bytes = 0;
        }
    }

    /// The figures as of `now`; rates fall to zero when updates stop coming.
    pub(crate) fn at(&self, now: Instant) -> Figures {
        let mut f = self.figures.clone();
        if self
            .window_start
            .is_some_and(|t| now.saturating_duration_since(t) > STALE)
        {
            f.fps = 0.0;
            f.bytes_per_s = 0.0;
        }
        f
    }
}
