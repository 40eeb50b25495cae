//! Threads that own the platform handles: capture+encode, and input.
//!
//! X11 handles are not `Send`, and capture and encoding are CPU work that
//! must not stall the async runtime; each lives on a thread of its own and
//! talks to the session through channels.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Instant;

use lifeline_session::messages::{HiddenBox, InputEvent, Showing, Withheld};
use lifeline_session::screen::{Encoder, FrameUpdate, Image, Tuning};
use tokio::sync::oneshot;

use crate::framing::Framing;
use crate::hidden::Privacy;
use crate::hidden::area::inside;
use crate::hidden::mask::Mask;
use crate::platform::{CaptureError, Grab, InputError, InputOpener, ScreenOpener, ScreenSource};
use crate::recorder::{Keyframes, RecordTap};
use crate::view::ViewReport;
use lifeline_session::recording::Event as RecEvent;

/// Starts a thread that opens a handle with `open` (on that thread, since
/// platform handles need not be `Send`) and then runs `work` with it.
/// Returns once the handle is open: `Ok(Some(Err))` if opening failed,
/// `Ok(None)` if the thread died before saying.
fn on_own_thread<H, E: Send + 'static>(
    name: &str,
    open: impl FnOnce() -> Result<H, E> + Send + 'static,
    work: impl FnOnce(H) + Send + 'static,
) -> std::io::Result<Option<Result<(), E>>> {
    let (ready_tx, ready_rx) = mpsc::channel();
    thread::Builder::new()
        .name(name.into())
        .spawn(move || match open() {
            Ok(handle) => {
                // The starter waits for this; it is gone only if it panicked.
                let _ = ready_tx.send(Ok(()));
                work(handle);
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
            }
        })?;
    Ok(ready_rx.recv().ok())
}

/// What a grab produced.
#[derive(Debug)]
pub struct Grabbed {
    /// The update, if anything changed.
    pub update: Option<FrameUpdate>,
    /// The pointer, on what is shown.
    pub pointer: Option<(i32, i32)>,
    /// The update only refines what the viewer has.
    pub refinement: bool,
    /// What is shown, when it is news.
    pub view: Option<ViewReport>,
    /// The screen may not be shown now, and why (no update, no pointer).
    pub withheld: Option<Withheld>,
    /// The parts the user hides (blank in the update), when news.
    pub hidden: Option<Vec<HiddenBox>>,
}

type GrabReply = oneshot::Sender<Result<Grabbed, CaptureError>>;

enum CaptureCmd {
    /// Capture and encode what changed; `full` forgets what the viewer has.
    Grab {
        full: bool,
        tuning: Tuning,
        reply: GrabReply,
    },
    /// Start over for a new viewer.
    Reset,
    /// Show this part of the screen from the next grab on.
    Show(Showing),
    /// Record what is shown from now on (`None`: stop).
    Record(Option<RecordTap>),
}

/// The recording's side of the capture thread: the viewer's own updates
/// (no second encoding), and whole exact frames (keyframes) as
/// [`Keyframes`] says. A viewer's delta applies to a keyframe as to the
/// viewer's screen.
struct RecordSide {
    tap: RecordTap,
    started: std::time::Instant,
    keyframes: Keyframes,
    pointer: Option<(i32, i32)>,
    /// Why the screen is withheld, as the timeline last said.
    withheld: Option<Withheld>,
    /// How many parts were hidden, as the timeline last said.
    hidden: usize,
}

impl RecordSide {
    fn new(tap: RecordTap) -> Self {
        Self {
            tap,
            started: std::time::Instant::now(),
            keyframes: Keyframes::default(),
            pointer: None,
            withheld: None,
            hidden: 0,
        }
    }

    /// Notes on the timeline how many parts of the screen the user hides
    /// when that changes (never what they hold: the frames have them
    /// blank).
    fn hidden(&mut self, boxes: &[HiddenBox]) {
        if self.hidden != boxes.len() {
            self.hidden = boxes.len();
            let note = serde_json::json!({"event": "hidden", "boxes": boxes.len()});
            self.tap.record(RecEvent::Note(note.to_string()));
        }
    }

    /// Notes on the timeline when the screen starts or stops being
    /// withheld (the recording's frames simply pause meanwhile).
    fn withheld(&mut self, now: Option<Withheld>) {
        if self.withheld != now {
            self.withheld = now;
            let reason = now.map(Withheld::as_str);
            let note = serde_json::json!({"event": "withheld", "reason": reason});
            self.tap.record(RecEvent::Note(note.to_string()));
        }
    }

    /// Records this grab's update for the viewer, or a keyframe (which
    /// holds it) when one is due; whether it took a keyframe (playback may
    /// start there, so the viewer's next video frame should be a key one).
    fn frame(&mut self, update: Option<&FrameUpdate>, image: &Image) -> bool {
        let now = self.started.elapsed();
        if self.keyframes.due(now, update.is_some())
            && let Some(whole) = Encoder::lossless().encode(image)
        {
            self.keyframes.took(now, whole.payload_bytes());
            self.tap.record(RecEvent::Frame {
                update: whole,
                keyframe: true,
            });
            return true;
        }
        if let Some(u) = update {
            self.keyframes.recorded(u.payload_bytes());
            self.tap.record(RecEvent::Frame {
                update: u.clone(),
                keyframe: false,
            });
        }
        false
    }

    fn pointer(&mut self, at: Option<(i32, i32)>) {
        if let Some((x, y)) = at
            && self.pointer != at
        {
            self.pointer = at;
            self.tap.record(RecEvent::Pointer { x, y });
        }
    }
}

/// Asks where the pointer is every tick while it moves, and only every
/// eighth tick once it has been still for a second: each question is a
/// round trip to the X server, and an idle host should cost next to nothing.
#[derive(Debug, Default)]
struct PointerPoll {
    tick: u64,
    last: Option<(i32, i32)>,
    still_ticks: u64,
}

impl PointerPoll {
    fn next(&mut self, screen: &mut dyn ScreenSource) -> Option<(i32, i32)> {
        self.tick += 1;
        if self.still_ticks > 60 && !self.tick.is_multiple_of(8) {
            return self.last;
        }
        let now = screen.pointer();
        if now == self.last {
            self.still_ticks += 1;
        } else {
            self.still_ticks = 0;
            self.last = now;
        }
        now
    }
}

/// What coding video has cost the capture thread: updates that carried
/// a video frame, and the time their encoding took (the whole update's).
#[derive(Debug, Default)]
struct VideoCost {
    frames: AtomicU64,
    micros: AtomicU64,
}

/// Video frames sent since the last [`CaptureWorker::take_video_stats`],
/// and the milliseconds encoding them took on the capture thread.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VideoStats {
    pub frames: u64,
    pub encode_ms: f64,
}

/// What the capture thread keeps between grabs.
struct Capture {
    screen: Box<dyn ScreenSource>,
    /// What is shown, as last grabbed.
    image: Image,
    encoder: Encoder,
    pointer: PointerPoll,
    framing: Framing,
    recording: Option<RecordSide>,
    /// The user's private windows, blanked before encoding.
    mask: Mask,
    /// The encoder's clock: how long regions keep moving, and the
    /// video's rate control.
    epoch: Instant,
    cost: Arc<VideoCost>,
}

impl Capture {
    fn new(screen: Box<dyn ScreenSource>, cost: Arc<VideoCost>, hiding: Option<Privacy>) -> Self {
        Self {
            screen,
            image: Image {
                width: 0,
                height: 0,
                pixels: Vec::new(),
            },
            encoder: Encoder::new(),
            pointer: PointerPoll::default(),
            framing: Framing::default(),
            recording: None,
            mask: Mask::new(hiding),
            epoch: Instant::now(),
            cost,
        }
    }

    /// Captures and encodes what changed (everything when `full`); nothing
    /// is encoded while the screen is withheld.
    fn grab(&mut self, full: bool, tuning: Tuning) -> Result<Grabbed, CaptureError> {
        let (grab, view) = self.grab_current(full)?;
        if let Grab::Withheld(why) = grab {
            if let Some(r) = self.recording.as_mut() {
                r.withheld(Some(why));
            }
            return Ok(Grabbed {
                update: None,
                pointer: None,
                refinement: false,
                view,
                withheld: Some(why),
                hidden: None,
            });
        }
        let (hidden, hidden_news) = self.mask.apply(&mut self.image, self.framing.shown(), full);
        let encoder = &mut self.encoder;
        encoder.tune(tuning);
        if full {
            encoder.reset();
        }
        encoder.at(self.epoch.elapsed().as_millis() as u64);
        let began = Instant::now();
        let update = match grab {
            Grab::Captured => encoder.encode(&self.image),
            Grab::Regions(rects) => encoder.encode_within(&self.image, &rects),
            // Still: time to make pictures exact?
            Grab::Unchanged | Grab::Withheld(_) => encoder.still(),
        };
        if update.as_ref().is_some_and(|u| !u.video.is_empty()) {
            let took = began.elapsed().as_micros() as u64;
            self.cost.frames.fetch_add(1, Ordering::Relaxed);
            self.cost.micros.fetch_add(took, Ordering::Relaxed);
        }
        if let Some(r) = self.recording.as_mut() {
            r.withheld(None);
            if r.frame(update.as_ref(), &self.image) {
                encoder.restart_video();
            }
        }
        // A pointer over a hidden part is not shown moving there.
        let pointer = self
            .framing
            .pointer(self.pointer.next(&mut *self.screen))
            .filter(|&(x, y)| !inside(&hidden, (i64::from(x), i64::from(y))));
        if let Some(r) = self.recording.as_mut() {
            r.hidden(&hidden);
            r.pointer(pointer);
        }
        Ok(Grabbed {
            refinement: update.is_some() && encoder.refined(),
            update,
            pointer,
            view,
            withheld: None,
            hidden: hidden_news,
        })
    }

    /// Grabs the screen as it is and as the hidden area now is: whole
    /// when the area changed, and again (up to three times) when it
    /// changed while grabbing (a private window moved: its new place must
    /// not be sent with the old one blanked). A place the area left stays
    /// blanked a while ([`crate::hidden::mask::HOLD`]). A forced grab that
    /// found nothing drawn still sends the picture as blanked now.
    fn grab_current(&mut self, full: bool) -> Result<(Grab, Option<ViewReport>), CaptureError> {
        let mut force = self.mask.before_grab(Instant::now());
        let mut view = None;
        let mut tries = 0;
        loop {
            let (grab, news) =
                self.framing
                    .grab(&mut *self.screen, &mut self.image, full || force)?;
            view = news.or(view);
            tries += 1;
            let moved = !matches!(grab, Grab::Withheld(_)) && self.mask.after_grab(Instant::now());
            if !moved || tries > 3 {
                let grab = match grab {
                    Grab::Unchanged if full || force || moved => Grab::Captured,
                    g => g,
                };
                return Ok((grab, view));
            }
            force = true;
        }
    }
}

/// Handle to the capture thread.
#[derive(Debug)]
pub struct CaptureWorker {
    tx: mpsc::Sender<CaptureCmd>,
    /// Signalled when the screen source sees drawing.
    changed: Arc<tokio::sync::Notify>,
    video: Arc<VideoCost>,
}

impl CaptureWorker {
    /// Starts the thread and opens the screen on it; a screen that cannot be
    /// opened is reported here, before anything else happens.
    pub fn start(open: ScreenOpener, hiding: Option<Privacy>) -> Result<Self, CaptureError> {
        let (tx, rx) = mpsc::channel::<CaptureCmd>();
        let changed = Arc::new(tokio::sync::Notify::new());
        let listener = Arc::downgrade(&changed);
        let video = Arc::new(VideoCost::default());
        let cost = video.clone();
        let started = on_own_thread("capture", open, move |mut screen| {
            screen.watch(Box::new(move || {
                listener.upgrade().map(|n| n.notify_one()).is_some()
            }));
            let mut capture = Capture::new(screen, cost, hiding);
            while let Ok(cmd) = rx.recv() {
                match cmd {
                    CaptureCmd::Record(tap) => capture.recording = tap.map(RecordSide::new),
                    CaptureCmd::Reset => {
                        capture.encoder = Encoder::new();
                        capture.framing.reset();
                        capture.mask.reset();
                    }
                    CaptureCmd::Show(showing) => capture.framing.show(showing),
                    CaptureCmd::Grab {
                        full,
                        tuning,
                        reply,
                    } => {
                        let result = capture.grab(full, tuning);
                        // The session may have ended meanwhile; nobody to tell.
                        let _ = reply.send(result);
                    }
                }
            }
        });
        started
            .map_err(CaptureError::Thread)?
            .ok_or(CaptureError::Stopped)??;
        Ok(Self { tx, changed, video })
    }

    /// What video cost since the last call (a session's worth, when
    /// called as it ends), and starts counting again.
    pub fn take_video_stats(&self) -> VideoStats {
        let frames = self.video.frames.swap(0, Ordering::Relaxed);
        let micros = self.video.micros.swap(0, Ordering::Relaxed);
        VideoStats {
            frames,
            encode_ms: micros as f64 / 1000.0,
        }
    }

    /// Resolves once something was drawn since the last time it resolved
    /// (never, for a source that cannot tell).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Captures and encodes as `tuning` allows; no update when nothing
    /// changed.
    pub fn grab(
        &self,
        full: bool,
        tuning: Tuning,
    ) -> oneshot::Receiver<Result<Grabbed, CaptureError>> {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::SendError(CaptureCmd::Grab { reply, .. })) =
            self.tx.send(CaptureCmd::Grab {
                full,
                tuning,
                reply,
            })
        {
            let _ = reply.send(Err(CaptureError::Stopped));
        }
        rx
    }

    /// Shows this part of the screen from the next grab on (ask for a whole
    /// frame with it).
    pub fn show(&self, showing: Showing) -> Result<(), CaptureError> {
        self.tx
            .send(CaptureCmd::Show(showing))
            .map_err(|_| CaptureError::Stopped)
    }

    /// Records what is shown from now on (`None`: stops).
    pub fn record(&self, tap: Option<RecordTap>) -> Result<(), CaptureError> {
        self.tx
            .send(CaptureCmd::Record(tap))
            .map_err(|_| CaptureError::Stopped)
    }

    /// Forgets what any earlier viewer had.
    pub fn reset(&self) -> Result<(), CaptureError> {
        self.tx
            .send(CaptureCmd::Reset)
            .map_err(|_| CaptureError::Stopped)
    }
}

/// Input events waiting for the desktop at most: a viewer that sends more
/// than the desktop applies fills this, and the session ends instead of
/// the host's memory growing.
pub const INPUT_QUEUE: usize = 1024;

/// Handle to the input thread.
#[derive(Debug)]
pub struct InputWorker {
    tx: mpsc::SyncSender<InputEvent>,
    errors: tokio::sync::mpsc::UnboundedReceiver<InputError>,
}

impl InputWorker {
    /// Starts the thread and opens the input device on it; with `hiding`,
    /// what would reach the user's private windows is dropped.
    pub fn start(open: InputOpener, hiding: Option<Privacy>) -> Result<Self, InputError> {
        let (tx, rx) = mpsc::sync_channel::<InputEvent>(INPUT_QUEUE);
        let (err_tx, errors) = tokio::sync::mpsc::unbounded_channel();
        let started = on_own_thread("input", open, move |mut sink| {
            while let Ok(ev) = rx.recv() {
                if hiding.as_ref().is_some_and(|h| h.drops(&ev)) {
                    tracing::debug!("input aimed at a hidden window dropped");
                    continue;
                }
                if let Err(e) = sink.apply(&ev) {
                    // Reported to the session, which logs and counts it.
                    let _ = err_tx.send(e);
                }
            }
        });
        started
            .map_err(InputError::Thread)?
            .ok_or(InputError::Stopped)??;
        Ok(Self { tx, errors })
    }

    /// Queues an event for the desktop; [`InputError::Flooded`] when
    /// [`INPUT_QUEUE`] events already wait.
    pub fn apply(&self, event: InputEvent) -> Result<(), InputError> {
        self.tx.try_send(event).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => InputError::Flooded(INPUT_QUEUE),
            mpsc::TrySendError::Disconnected(_) => InputError::Stopped,
        })
    }

    /// The next failure applying input.
    pub async fn next_error(&mut self) -> Option<InputError> {
        self.errors.recv().await
    }
}

#[cfg(test)]
mod tests {
    use lifeline_session::messages::{InputEvent, Key};

    use super::*;
    use crate::fake::{FakeScreen, RecordingInput};
    use crate::platform::ScreenSource;

    fn opener(screen: &FakeScreen) -> ScreenOpener {
        let s = screen.clone();
        Box::new(move || Ok(Box::new(s) as Box<dyn ScreenSource>))
    }

    #[tokio::test]
    async fn capture_sends_whole_then_changes_then_nothing() {
        let screen = FakeScreen::new(Image::new(130, 70).unwrap());
        let worker = CaptureWorker::start(opener(&screen), None).unwrap();
        let first = worker
            .grab(false, Tuning::default())
            .await
            .unwrap()
            .unwrap()
            .update
            .unwrap();
        assert!(first.full);
        assert_eq!(
            worker
                .grab(false, Tuning::default())
                .await
                .unwrap()
                .unwrap()
                .update,
            None
        );
        screen.image.lock().unwrap().pixels[69 * 130 + 129] = 0xffffff;
        let change = worker
            .grab(false, Tuning::default())
            .await
            .unwrap()
            .unwrap()
            .update
            .unwrap();
        assert!(!change.full);
        assert_eq!(change.tiles.len(), 1);
        assert_eq!((change.tiles[0].x, change.tiles[0].y), (129, 69));
        assert!(
            worker
                .grab(true, Tuning::default())
                .await
                .unwrap()
                .unwrap()
                .update
                .unwrap()
                .full,
            "asked for a whole frame"
        );
        worker.reset().unwrap();
        assert!(
            worker
                .grab(false, Tuning::default())
                .await
                .unwrap()
                .unwrap()
                .update
                .unwrap()
                .full,
            "a new viewer starts whole"
        );
    }

    #[tokio::test]
    async fn a_withheld_screen_is_not_encoded_and_the_recording_notes_it_once() {
        use lifeline_session::messages::Withheld;
        use lifeline_session::recording::Event as Rec;

        let screen = FakeScreen::new(Image::new(64, 32).unwrap());
        let worker = CaptureWorker::start(opener(&screen), None).unwrap();
        let tapped = crate::recorder::tests::Tapped::start(false);
        worker.record(Some(tapped.tap.clone())).unwrap();
        let grab = |full| worker.grab(full, Tuning::default());
        let first = grab(false).await.unwrap().unwrap();
        assert!(first.update.unwrap().full);
        assert_eq!(first.withheld, None);
        *screen.withheld.lock().unwrap() = Some(Withheld::SecureDesktop);
        screen.image.lock().unwrap().pixels[0] = 0x00ff_0000;
        for full in [false, true, true] {
            let g = grab(full).await.unwrap().unwrap();
            assert_eq!(g.withheld, Some(Withheld::SecureDesktop));
            assert!(g.update.is_none() && g.pointer.is_none() && g.view.is_none());
        }
        *screen.withheld.lock().unwrap() = None;
        let back = grab(true).await.unwrap().unwrap();
        assert_eq!(back.withheld, None);
        let whole = back.update.expect("the screen again");
        assert!(whole.full, "whole, as the session asks");
        worker.record(None).unwrap();
        let notes: Vec<String> = tapped
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Rec::Note(n) => Some(n),
                _ => None,
            })
            .collect();
        assert_eq!(
            notes,
            [
                r#"{"event":"withheld","reason":"secure-desktop"}"#,
                r#"{"event":"withheld","reason":null}"#,
                r#"{"event":"ended","reason":"done"}"#,
            ]
        );
    }

    #[tokio::test]
    async fn a_screen_that_cannot_open_is_reported_at_start() {
        let err =
            CaptureWorker::start(Box::new(|| Err(CaptureError::NoDisplay)), None).unwrap_err();
        assert!(err.to_string().contains("$DISPLAY is not set"));
    }

    /// A sink that applies nothing until the test lets it.
    struct Blocked(std::sync::mpsc::Receiver<()>);

    impl crate::platform::InputSink for Blocked {
        fn apply(&mut self, _: &InputEvent) -> Result<(), InputError> {
            let _ = self.0.recv();
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_flood_of_input_is_refused_not_queued() {
        let (release, held) = std::sync::mpsc::channel();
        let worker = InputWorker::start(
            Box::new(move || Ok(Box::new(Blocked(held)) as Box<dyn crate::platform::InputSink>)),
            None,
        )
        .unwrap();
        let ev = InputEvent::Move { x: 1, y: 1 };
        // One is taken by the blocked sink, INPUT_QUEUE wait, then no more.
        let accepted = (0..INPUT_QUEUE + 10)
            .take_while(|_| worker.apply(ev.clone()).is_ok())
            .count();
        assert!(
            (INPUT_QUEUE..=INPUT_QUEUE + 1).contains(&accepted),
            "{accepted}"
        );
        assert!(matches!(
            worker.apply(ev),
            Err(InputError::Flooded(INPUT_QUEUE))
        ));
        drop(release);
    }

    #[tokio::test]
    async fn input_reaches_the_sink_in_order() {
        let rec = RecordingInput::default();
        let r = rec.clone();
        let worker = InputWorker::start(
            Box::new(move || Ok(Box::new(r) as Box<dyn crate::platform::InputSink>)),
            None,
        )
        .unwrap();
        let events = [
            InputEvent::Move { x: 1, y: 2 },
            InputEvent::Key {
                key: Key::Return,
                down: true,
            },
            InputEvent::Text("hé".into()),
        ];
        for e in &events {
            worker.apply(e.clone()).unwrap();
        }
        for _ in 0..100 {
            if rec.0.lock().unwrap().len() == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(*rec.0.lock().unwrap(), events);
    }
}
