//! What the driver waits on between the session's actions: the user
//! (Ctrl+C, the window, typed lines, read by [`crate::prompt`]), the
//! viewer's stream, captures, file transfers, the recording's chunks, and
//! the session's own timer; whichever comes first.

use std::future::Future;
use std::time::Instant;

use lifeline_common::framed::ControlError;
use lifeline_net::client::ClientError;
use lifeline_net::secure::{SecureError, SecureRecv};
use lifeline_session::messages::ViewerMsg;
use tokio::sync::oneshot;

use super::{Driver, Wake};
use crate::agent::context::Io;
use crate::files::FetchQuestion;
use crate::platform::CaptureError;
use crate::prompt::{self, Heard, Open, Said};
use crate::session::{Answer, Event, HostSession};
use crate::workers::Grabbed;

impl Driver<'_> {
    /// What the user said (`None`: their input closed), as [`prompt`]
    /// reads it with the questions open now, carried out.
    fn on_line(&mut self, asking: bool, said: Option<Said>) -> Option<Wake> {
        let open = Open {
            consent: asking,
            fetch: self.fetch_pending.is_some(),
            go_on: self.confirming.is_some(),
        };
        match prompt::heard(open, said) {
            Heard::Session(event) => Some(Wake::Event(*event)),
            Heard::Continue(go_on) => {
                self.confirming = None;
                Some(Wake::Event(Event::Continue(go_on)))
            }
            Heard::Fetch(yes) => {
                if let Some(answer) = self.fetch_pending.take() {
                    let _ = answer.send(yes);
                }
                None
            }
            Heard::CancelTransfers => {
                self.cancels.cancel_all();
                None
            }
            Heard::AskAgain => Some(Wake::AskAgain),
            Heard::Nothing => None,
            Heard::Closed { refuse } => {
                self.lines_open = false;
                if let Some(answer) = self.fetch_pending.take() {
                    let _ = answer.send(false);
                }
                refuse.then_some(Wake::Event(Event::Answer(Answer::Refuse)))
            }
        }
    }

    /// Waits for whatever happens first; `None` for something only logged.
    pub(super) async fn wait<S: Future<Output = ()>>(
        &mut self,
        session: &HostSession,
        recv: &mut SecureRecv,
        io: &mut Io<'_, S>,
    ) -> Option<Wake> {
        let deadline = session.poll_timeout();
        let asking = self.asking.is_some();
        if let Some(r) = &self.recording {
            r.tap.tick();
        }
        let wake = tokio::select! {
            () = io.stop.as_mut() => Wake::Event(Event::Stop),
            Some(chunk) = async {
                match self.recording.as_mut() {
                    Some(r) => r.chunks.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(r) = self.recording.as_mut() {
                    r.send(self.link, Some(chunk)).await;
                }
                return None;
            }
            Some(q) = self.fetch_rx.recv() => {
                self.fetch_asked(q, io);
                return None;
            }
            Some(f) = self.stopped_rx.recv() => {
                io.ui.file_stopped(&f);
                return None;
            }
            Some(p) = self.progress_rx.recv() => {
                io.ui.file_progress(&p);
                return None;
            }
            Some(done) = self.done_rx.recv() => Wake::Event(Event::FileMoved {
                to_host: done.to_host,
                path: done.path,
                bytes: done.bytes,
                sha256: done.sha256,
            }),
            line = io.lines.recv(), if self.lines_open => match self.on_line(asking, line) {
                Some(w) => w,
                None => return None,
            },
            Some(ev) = self.side_rx.recv() => Wake::Event(ev),
            msg = recv.recv::<ViewerMsg>() => match msg {
                Ok(m) => Wake::Event(Event::Viewer(m)),
                Err(e) => viewer_gone(&self.conn, e, self.resumable).await,
            },
            () = io.desktop.capture.changed() => Wake::Event(Event::Drawn),
            got = async {
                match self.grabbing.as_mut() {
                    Some(g) => g.await,
                    None => std::future::pending().await,
                }
            } => {
                self.grabbing = None;
                Wake::Event(grabbed(got))
            }
            Some(e) = io.desktop.input.next_error() => {
                tracing::warn!(error = %e, "input not applied");
                return None;
            }
            () = sleep_until(deadline) => Wake::Timer,
            // The relay's word during a session: the session's audit
            // records as they become durable (kept by the link, for the
            // receipt). A lost link is found on the session's stream.
            ev = self.link.next_event(), if self.ctl_open => {
                match ev {
                    Ok(other) => tracing::debug!(?other, "the relay said this mid-session"),
                    Err(e) => {
                        tracing::debug!(error = %e, "the relay's control stream ended");
                        self.ctl_open = false;
                    }
                }
                return None;
            }
        };
        Some(wake)
    }

    /// The technician asks for a file: the user is asked, one question at
    /// a time (the technician may ask again).
    fn fetch_asked<S>(&mut self, q: FetchQuestion, io: &mut Io<'_, S>) {
        if self.fetch_pending.is_some() {
            let _ = q.answer.send(false);
        } else {
            self.question_opens(io);
            io.ui.ask_fetch(&q.path, q.bytes);
            self.fetch_pending = Some(q.answer);
        }
    }
}

/// A capture came back from the capture thread.
fn grabbed(got: Result<Result<Grabbed, CaptureError>, oneshot::error::RecvError>) -> Event {
    match got {
        Ok(Ok(g)) => Event::Grabbed {
            update: g.update,
            pointer: g.pointer,
            refinement: g.refinement,
            view: g.view,
            withheld: g.withheld,
            hidden: g.hidden,
        },
        Ok(Err(e)) => Event::Failed(e.to_string()),
        Err(_) => Event::Failed(CaptureError::Stopped.to_string()),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// The viewer's stream failed: its end is the other side leaving (the
/// relay says why) or a lost link (resumed when `resumable`); anything
/// else (a message that fails to open or parse) is an attack or a bug, and
/// this side ends the session.
async fn viewer_gone(conn: &quinn::Connection, e: SecureError, resumable: bool) -> Wake {
    Wake::Event(match e {
        SecureError::Stream(s @ ControlError::Frame(_)) => {
            Event::Failed(format!("the host ended the session: {s}"))
        }
        SecureError::Stream(s) => {
            let why = ClientError::after_stream(conn, s).await;
            if resumable && why.resumable() {
                return Wake::Lost(why);
            }
            Event::Closed(why.to_string())
        }
        other => Event::Failed(format!("the host ended the session: {other}")),
    })
}
