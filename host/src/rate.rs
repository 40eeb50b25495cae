//! How fast the path to the viewer is, learned from the host's own
//! updates and the viewer's acknowledgements: sans-IO, time passed in.
//!
//! Round-trip time: the quickest acknowledgement of a small update (its
//! transfer time is nil), or QUIC's own estimate when that is lower.
//! Throughput: for each update large enough to say something, its bytes
//! over the time the link spent carrying them, which starts when it was
//! sent or when the update before it had left, whichever is later, and
//! ends one round trip before its acknowledgement (an update carried
//! quicker than can be timed says only that the link is at least that
//! fast, which on a LAN is enough). The estimate is the
//! median of the samples of the last few seconds: a sample understates the
//! link when the viewer was slow to decode or an update had to wait, and
//! overstates it when the round trip was overestimated, and quality
//! choices must follow neither one-off.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Updates smaller than this are too small to time the link by.
const MIN_SAMPLE_BYTES: usize = 16 * 1024;
/// A sample that kept the link busy for less than this counts as this
/// long: it says only that the link is at least that fast.
const MIN_SAMPLE_TIME: Duration = Duration::from_millis(4);
/// Samples kept at most.
const MAX_SAMPLES: usize = 32;
/// Updates smaller than this measure the round trip.
const MAX_RTT_PROBE_BYTES: usize = 2 * 1024;
/// How long a throughput sample counts.
const WINDOW: Duration = Duration::from_secs(4);
/// How long the round-trip minimum counts before it is learned again.
const RTT_WINDOW: Duration = Duration::from_secs(10);

/// The path's estimate, updated as updates are sent and acknowledged.
#[derive(Debug, Default)]
pub struct RateEstimator {
    /// Sent and not yet acknowledged: (seq, when, bytes).
    in_flight: VecDeque<(u64, Instant, usize)>,
    /// When the last acknowledgement came.
    last_ack: Option<Instant>,
    /// Lowest round trip seen, and when.
    rtt: Option<(Duration, Instant)>,
    /// Throughput samples (bytes a second) and when they were taken.
    samples: VecDeque<(Instant, f64)>,
    /// The highest floor lately (bytes a second, and when): an update
    /// acknowledged quicker than can be timed says the link is at least
    /// that fast.
    floor: Option<(Instant, f64)>,
    /// The estimate when the last samples expired: a link once measured
    /// stays measured (an idle or typing session sends nothing large
    /// enough to time it), until new samples say otherwise.
    kept: Option<f64>,
}

impl RateEstimator {
    /// A fresh estimate: nothing known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Update `seq` of `bytes` left at `now`.
    pub fn on_sent(&mut self, now: Instant, seq: u64, bytes: usize) {
        self.in_flight.push_back((seq, now, bytes));
    }

    /// The viewer acknowledged everything up to `seq`.
    pub fn on_ack(&mut self, now: Instant, seq: u64) {
        while let Some(&(s, sent, bytes)) = self.in_flight.front() {
            if s > seq {
                break;
            }
            self.in_flight.pop_front();
            let elapsed = now.saturating_duration_since(sent);
            if bytes <= MAX_RTT_PROBE_BYTES {
                self.note_rtt(now, elapsed);
            }
            let rtt = self.rtt().unwrap_or(Duration::ZERO);
            // The link began carrying this update when it was sent, or when
            // the one before it had left (one round trip before its ack).
            let busy_from = match self.last_ack {
                Some(prev) => sent.max(prev.checked_sub(rtt).unwrap_or(prev)),
                None => sent,
            };
            let carried = now.saturating_duration_since(busy_from).saturating_sub(rtt);
            if bytes >= MIN_SAMPLE_BYTES {
                let least = MIN_SAMPLE_TIME.max(rtt / 4);
                if carried >= least {
                    self.samples
                        .push_back((now, bytes as f64 / carried.as_secs_f64()));
                    if self.samples.len() > MAX_SAMPLES {
                        self.samples.pop_front();
                    }
                } else {
                    // Carried quicker than an error in the round trip could
                    // hide: the link is at least this fast (a LAN carries a
                    // first screen in a few milliseconds, and must be known
                    // fast from it). A floor, not a measurement: it only
                    // raises the estimate.
                    let floor = bytes as f64 / least.as_secs_f64();
                    let highest = self.floor.map_or(floor, |(_, f)| f.max(floor));
                    self.floor = Some((now, highest));
                }
            }
            self.last_ack = Some(now);
        }
        let before = self.rate();
        let old = |t: Instant| now.saturating_duration_since(t) > WINDOW;
        while self.samples.front().is_some_and(|(t, _)| old(*t)) {
            self.samples.pop_front();
        }
        if self.floor.is_some_and(|(t, _)| old(t)) {
            self.floor = None;
        }
        if self.samples.is_empty() && self.floor.is_none() {
            self.kept = before;
        }
    }

    /// QUIC's own round-trip estimate, which knows the path before any
    /// update was acknowledged.
    pub fn on_path_rtt(&mut self, now: Instant, rtt: Duration) {
        self.note_rtt(now, rtt);
    }

    fn note_rtt(&mut self, now: Instant, rtt: Duration) {
        let stale = |(_, at): (Duration, Instant)| now.saturating_duration_since(at) > RTT_WINDOW;
        match self.rtt {
            Some(old) if !stale(old) && old.0 <= rtt => {}
            _ => self.rtt = Some((rtt, now)),
        }
    }

    /// The round trip, once known.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt.map(|(d, _)| d)
    }

    /// Bytes a second the path carried lately (the median of the last few
    /// seconds' timed samples, raised to the highest floor of that time;
    /// with neither that recent, the last such estimate), once measured.
    pub fn rate(&self) -> Option<f64> {
        let mut r: Vec<f64> = self.samples.iter().map(|(_, r)| *r).collect();
        r.sort_by(f64::total_cmp);
        let timed = r.get(r.len() / 2).copied();
        let floor = self.floor.map(|(_, f)| f);
        match (timed, floor) {
            (Some(t), Some(f)) => Some(t.max(f)),
            (t, f) => t.or(f).or(self.kept),
        }
    }

    /// Bytes sent and not yet acknowledged.
    pub fn bytes_in_flight(&self) -> usize {
        self.in_flight.iter().map(|(_, _, b)| *b).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link of `rate` bytes a second and `rtt`, carrying one update at a
    /// time in order: when each update's acknowledgement arrives.
    struct Link {
        rate: f64,
        rtt: Duration,
        free_at: Instant,
    }

    impl Link {
        fn ack_time(&mut self, sent: Instant, bytes: usize) -> Instant {
            let start = sent.max(self.free_at);
            let done = start + Duration::from_secs_f64(bytes as f64 / self.rate);
            self.free_at = done;
            done + self.rtt
        }
    }

    fn run(rate: f64, rtt_ms: u64, sizes: &[usize]) -> RateEstimator {
        let t0 = Instant::now();
        let rtt = Duration::from_millis(rtt_ms);
        let mut link = Link {
            rate,
            rtt,
            free_at: t0,
        };
        let mut est = RateEstimator::new();
        let mut now = t0;
        // Two in flight at most, as the host sends.
        let mut pending: VecDeque<(u64, Instant)> = VecDeque::new();
        for (i, &bytes) in sizes.iter().enumerate() {
            let seq = i as u64 + 1;
            if pending.len() == 2 {
                let (s, at) = pending.pop_front().unwrap();
                now = now.max(at);
                est.on_ack(now, s);
            }
            est.on_sent(now, seq, bytes);
            pending.push_back((seq, link.ack_time(now, bytes)));
        }
        while let Some((s, at)) = pending.pop_front() {
            now = now.max(at);
            est.on_ack(now, s);
        }
        est
    }

    #[test]
    fn a_ten_megabit_link_is_measured_within_a_tenth() {
        let rate = 10e6 / 8.0;
        let sizes: Vec<usize> = (0..30)
            .map(|i| if i % 3 == 0 { 200 } else { 150_000 })
            .collect();
        let est = run(rate, 60, &sizes);
        let got = est.rate().unwrap();
        assert!((got / rate - 1.0).abs() < 0.1, "{got} vs {rate}");
        let rtt = est.rtt().unwrap();
        assert!(
            rtt >= Duration::from_millis(60) && rtt < Duration::from_millis(62),
            "{rtt:?}"
        );
    }

    #[test]
    fn queued_updates_do_not_make_the_link_look_slower() {
        // Back-to-back large updates on a 2 Mbit/s, 150 ms link.
        let rate = 2e6 / 8.0;
        let est = run(rate, 150, &[300, 80_000, 80_000, 80_000, 80_000, 80_000]);
        let got = est.rate().unwrap();
        assert!((got / rate - 1.0).abs() < 0.1, "{got} vs {rate}");
    }

    #[test]
    fn one_wild_sample_does_not_move_the_estimate() {
        let t0 = Instant::now();
        let mut est = RateEstimator::new();
        let mut now = t0;
        // 100 kB each taking 100 ms on the link: 1 MB/s; one took 5 ms.
        for (seq, ms) in [(1, 100), (2, 100), (3, 5), (4, 100), (5, 100)] {
            est.on_sent(now, seq, 100_000);
            now += Duration::from_millis(ms);
            est.on_ack(now, seq);
            now += Duration::from_millis(50);
        }
        let got = est.rate().unwrap();
        assert!((got / 1e6 - 1.0).abs() < 0.05, "{got}");
    }

    #[test]
    fn small_updates_alone_say_nothing_of_throughput() {
        let est = run(1e6, 20, &[100, 300, 1000, 2000]);
        assert_eq!(est.rate(), None);
        assert!(est.rtt().is_some());
        assert_eq!(est.bytes_in_flight(), 0);
    }

    #[test]
    fn quic_knows_the_round_trip_first_and_old_samples_expire() {
        let t0 = Instant::now();
        let mut est = RateEstimator::new();
        est.on_path_rtt(t0, Duration::from_millis(40));
        assert_eq!(est.rtt(), Some(Duration::from_millis(40)));
        est.on_path_rtt(t0, Duration::from_millis(90));
        assert_eq!(est.rtt(), Some(Duration::from_millis(40)), "the minimum");
        est.on_path_rtt(t0 + RTT_WINDOW * 2, Duration::from_millis(90));
        assert_eq!(est.rtt(), Some(Duration::from_millis(90)), "relearned");
        est.on_sent(t0, 1, 100_000);
        est.on_ack(t0 + Duration::from_millis(200), 1);
        assert!(est.rate().is_some());
        let measured = est.rate();
        est.on_sent(t0 + WINDOW * 3, 2, 100);
        est.on_ack(t0 + WINDOW * 3, 2);
        assert_eq!(
            est.rate(),
            measured,
            "with no fresh sample, the last estimate stays: an idle link is still known"
        );
        // New samples replace it (the 100-byte update above measured a
        // round trip of nothing).
        let later = t0 + WINDOW * 4;
        est.on_sent(later, 3, 100_000);
        est.on_ack(later + Duration::from_millis(100), 3);
        let now = est.rate().unwrap();
        assert!((now - 1e6).abs() < 1.0, "{now}");
    }

    #[test]
    fn a_lan_is_known_fast_from_its_first_screen() {
        // 150 kB acknowledged 2 ms after it left, on a 0.2 ms round trip.
        let t0 = Instant::now();
        let mut est = RateEstimator::new();
        est.on_path_rtt(t0, Duration::from_micros(200));
        est.on_sent(t0, 1, 150_000);
        est.on_ack(t0 + Duration::from_millis(2), 1);
        let got = est.rate().expect("one update measures a LAN");
        // A lower bound: 150 kB in the shortest time that can be timed.
        assert!((got - 150_000.0 / MIN_SAMPLE_TIME.as_secs_f64()).abs() < 1.0);
        assert!(got * 8.0 > 200e6, "{got}");
    }

    #[test]
    fn quick_acknowledgements_only_raise_the_estimate() {
        // 200 Mbit/s, 40 ms: a 60 kB update is carried in 2.4 ms, too
        // quick to time against the round trip: a floor of 6 MB/s (48
        // Mbit/s), which must not drag the measured 25 MB/s down.
        let t0 = Instant::now();
        let rtt = Duration::from_millis(40);
        let mut est = RateEstimator::new();
        est.on_path_rtt(t0, rtt);
        let mut now = t0;
        for seq in 1..=9u64 {
            let bytes = if seq % 3 == 0 { 1_000_000 } else { 60_000 };
            est.on_sent(now, seq, bytes);
            let carried = Duration::from_secs_f64(bytes as f64 / 25e6);
            now += carried + rtt;
            est.on_ack(now, seq);
            now += Duration::from_millis(100);
        }
        let got = est.rate().unwrap();
        assert!((got / 25e6 - 1.0).abs() < 0.1, "{got}");
    }
}
