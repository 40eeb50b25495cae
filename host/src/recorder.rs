//! The session's recording, made here (the only place that sees the
//! screen, and one the technician cannot alter) and sealed for the
//! auditors the relay names before any of it leaves: the relay stores
//! chunks it cannot read. Events gather into a chunk that is sealed when
//! it is large enough or a second old; keystrokes only when the relay's
//! policy records them.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lifeline_proto::control::RecordingPolicy;
use lifeline_record::AuditorPublic;
use lifeline_record::seal::Sealer;
use lifeline_session::messages::InputEvent;
use lifeline_session::recording::{Event, Timed, encode};
use tokio::sync::mpsc;

/// Plaintext per chunk: a sealed chunk must fit one control frame.
const CHUNK: usize = 48 * 1024;
/// Events wait at most this long before they are sealed and sent.
const FLUSH_AFTER: Duration = Duration::from_secs(1);
/// Whole screens (keyframes) come no more often than this, so playback
/// can seek without a keyframe costing much of the recording.
pub const KEYFRAME_EVERY: Duration = Duration::from_secs(10);

/// When the recording takes a whole exact screen (a keyframe) instead of
/// the viewer's update: at the start, then once [`KEYFRAME_EVERY`] has
/// passed and the updates since add up to twice the last keyframe, so
/// seeking never replays more than that and keyframes stay a small part
/// of a recording where little changes. Time is passed in (the session's
/// time since the recording started).
#[derive(Debug, Default, Clone)]
pub struct Keyframes {
    last: Option<Duration>,
    key_bytes: usize,
    since_bytes: usize,
}

impl Keyframes {
    /// Whether to take a keyframe now; `changed`: this grab has an update.
    pub fn due(&self, now: Duration, changed: bool) -> bool {
        self.last.is_none_or(|t| {
            changed
                && now.saturating_sub(t) >= KEYFRAME_EVERY
                && self.since_bytes >= 2 * self.key_bytes
        })
    }

    /// A keyframe of `bytes` was recorded at `now`.
    pub fn took(&mut self, now: Duration, bytes: usize) {
        self.last = Some(now);
        self.key_bytes = bytes;
        self.since_bytes = 0;
    }

    /// An update of `bytes` was recorded.
    pub fn recorded(&mut self, bytes: usize) {
        self.since_bytes += bytes;
    }
}

/// The recorder, shared by the capture thread (frames) and the session
/// driver (input, timeline).
#[derive(Debug, Clone)]
pub struct RecordTap(Arc<Mutex<Recorder>>);

#[derive(Debug)]
struct Recorder {
    sealer: Sealer,
    started: Instant,
    pending: Vec<u8>,
    since: Instant,
    keys: bool,
    chunks: mpsc::UnboundedSender<Vec<u8>>,
    closed: bool,
}

impl RecordTap {
    /// Starts recording `session` for the policy's auditors; the header
    /// chunk is the first on `chunks`.
    pub fn start(
        session: &str,
        policy: &RecordingPolicy,
    ) -> (Self, mpsc::UnboundedReceiver<Vec<u8>>) {
        let auditors: Vec<(String, AuditorPublic)> = policy
            .auditors
            .iter()
            .map(|a| (a.name.clone(), AuditorPublic(a.public_key)))
            .collect();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let (sealer, header) = Sealer::new(session, now_ms, &auditors);
        let (tx, rx) = mpsc::unbounded_channel();
        // The receiver is returned alongside: it is there.
        let _ = tx.send(header);
        let now = Instant::now();
        let r = Recorder {
            sealer,
            started: now,
            pending: Vec::new(),
            since: now,
            keys: policy.keys,
            chunks: tx,
            closed: false,
        };
        (Self(Arc::new(Mutex::new(r))), rx)
    }

    fn lock(&self) -> MutexGuard<'_, Recorder> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one event now.
    pub fn record(&self, event: Event) {
        let mut r = self.lock();
        if r.closed {
            return;
        }
        if let Event::Input(InputEvent::Key { .. } | InputEvent::Text(_)) = event
            && !r.keys
        {
            return;
        }
        let at_ms = r.started.elapsed().as_millis() as u64;
        let bytes = encode(&Timed { at_ms, event });
        r.pending.extend_from_slice(&bytes);
        r.send_full();
        if r.since.elapsed() >= FLUSH_AFTER {
            r.flush(false);
        }
    }

    /// Seals what is waiting, if it has waited long enough.
    pub fn tick(&self) {
        let mut r = self.lock();
        if !r.closed && r.since.elapsed() >= FLUSH_AFTER {
            r.flush(false);
        }
    }

    /// Records the end and seals the last chunk; nothing more is recorded.
    pub fn finish(&self, reason: &str) {
        let note = serde_json::json!({"event": "ended", "reason": reason}).to_string();
        self.record(Event::Note(note));
        let mut r = self.lock();
        if !r.closed {
            r.flush(true);
            r.closed = true;
        }
    }
}

impl Recorder {
    /// Seals whole chunks while there is more than one's worth.
    fn send_full(&mut self) {
        while self.pending.len() >= CHUNK {
            let rest = self.pending.split_off(CHUNK);
            let full = std::mem::replace(&mut self.pending, rest);
            self.seal(&full, false);
        }
    }

    fn flush(&mut self, last: bool) {
        if self.pending.is_empty() && !last {
            self.since = Instant::now();
            return;
        }
        let all = std::mem::take(&mut self.pending);
        self.seal(&all, last);
        self.since = Instant::now();
    }

    fn seal(&mut self, plain: &[u8], last: bool) {
        if let Ok(chunk) = self.sealer.seal(plain, last) {
            // The driver is gone only when the session is over.
            let _ = self.chunks.send(chunk);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use lifeline_proto::control::Auditor;
    use lifeline_record::AuditorSecret;
    use lifeline_record::open::Opener;
    use lifeline_session::messages::{Key, MouseButton};
    use lifeline_session::recording::Reader;

    use super::*;

    /// A recording under way, and what opens it.
    pub(crate) struct Tapped {
        pub(crate) tap: RecordTap,
        rx: mpsc::UnboundedReceiver<Vec<u8>>,
        secret: AuditorSecret,
    }

    impl Tapped {
        /// A recording for one auditor (keys recorded when `keys`).
        pub(crate) fn start(keys: bool) -> Self {
            let secret = AuditorSecret::generate();
            let policy = RecordingPolicy {
                auditors: vec![Auditor {
                    name: "au".into(),
                    public_key: secret.public().0,
                }],
                keys,
                required: true,
            };
            let (tap, rx) = RecordTap::start("s1", &policy);
            Self { tap, rx, secret }
        }

        /// Ends the recording; everything in it, as an auditor opens it.
        pub(crate) fn events(mut self) -> Vec<Event> {
            self.tap.finish("done");
            let header = self.rx.try_recv().unwrap();
            let (_, mut opener) = Opener::new(&header, &self.secret).unwrap();
            let mut reader = Reader::default();
            while let Ok(chunk) = self.rx.try_recv() {
                reader.push(&opener.open(&chunk).unwrap().0);
            }
            assert!(opener.ended());
            std::iter::from_fn(|| reader.next_event().map(|e| e.unwrap().event)).collect()
        }
    }

    fn opened(keys: bool, events: Vec<Event>) -> Vec<Event> {
        let t = Tapped::start(keys);
        for e in events {
            t.tap.record(e);
        }
        t.events()
    }

    #[test]
    fn keys_stay_out_unless_the_policy_records_them() {
        let click = Event::Input(InputEvent::Button {
            button: MouseButton::Left,
            down: true,
        });
        let key = Event::Input(InputEvent::Key {
            key: Key::Return,
            down: true,
        });
        let text = Event::Input(InputEvent::Text("secret".into()));
        let got = opened(false, vec![click.clone(), key.clone(), text.clone()]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], click);
        assert!(matches!(&got[1], Event::Note(n) if n.contains("ended")));
        let got = opened(true, vec![click, key.clone(), text.clone()]);
        assert_eq!(got[1..3], [key, text]);
    }

    #[test]
    fn keyframes_wait_for_time_and_for_twice_their_size_in_updates() {
        let s = Duration::from_secs;
        let mut k = Keyframes::default();
        assert!(k.due(s(0), false), "the first is always due");
        k.took(s(0), 1000);
        k.recorded(1500);
        assert!(!k.due(s(30), true), "updates short of twice the keyframe");
        k.recorded(500);
        assert!(!k.due(s(9), true), "too soon");
        assert!(!k.due(s(30), false), "nothing changed");
        assert!(k.due(s(30), true));
        k.took(s(30), 10);
        assert!(!k.due(s(35), true));
    }

    #[test]
    fn a_large_event_spans_chunks_and_comes_back_whole() {
        let big = Event::Note("x".repeat(CHUNK * 3));
        let got = opened(false, vec![big.clone()]);
        assert_eq!(got[0], big);
    }
}
