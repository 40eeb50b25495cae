//! The session's one task, the *keeper*: a thin driver that feeds the
//! [`ViewerSession`] what the host sends and what the technician asks
//! for, carries out its actions (sends, wakes the handle's watchers), and
//! gets the session back when the link to the relay is lost.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifeline_net::client::{ClientError, Resumer, ViewerLink};
use lifeline_net::resume::resume_session;
use lifeline_net::secure::{SecureError, SecureRecv, SecureSend};
use lifeline_proto::control::{CloseCode, Mode};
use lifeline_session::e2e::{ResumeSecret, Side};
use lifeline_session::messages::{HiddenBox, HostMsg, ViewerMsg, Withheld};
use tokio::sync::{broadcast, mpsc, watch};

use super::{Pending, Reply, Shared, lock, why_closed};
use crate::core::Action;
use crate::monitors::Screens;

/// The session's one task: decodes what the host sends, acknowledges it,
/// sends the technician's input, and gets the session back when the link
/// to the relay is lost.
pub(super) struct Keeper {
    pub(super) shared: Arc<Mutex<Shared>>,
    pub(super) pending: Pending,
    pub(super) chats: broadcast::Sender<String>,
    pub(super) frames: watch::Sender<u64>,
    pub(super) changes: watch::Sender<u64>,
    pub(super) reconnecting: watch::Sender<Option<String>>,
    pub(super) screens: watch::Sender<Option<Screens>>,
    pub(super) mode: watch::Sender<Mode>,
    pub(super) withheld: watch::Sender<Option<Withheld>>,
    pub(super) hidden: watch::Sender<Vec<HiddenBox>>,
    pub(super) resumer: Resumer,
    /// `None`: a lost link ends the session.
    pub(super) secret: Option<ResumeSecret>,
    pub(super) window: Duration,
    pub(super) conn: quinn::Connection,
}

/// What stopped the keeper's loop.
enum Stopped {
    /// The session is over, for this reason.
    Over(String),
    /// The link was lost in a way a resume may mend.
    Lost(ClientError),
}

impl Keeper {
    /// Runs until the session is over, then says why (before the frame
    /// counter closes, so whoever wakes on that finds the reason).
    pub(super) async fn run(
        mut self,
        send: SecureSend,
        recv: SecureRecv,
        out: mpsc::Receiver<ViewerMsg>,
        link: Arc<tokio::sync::Mutex<Option<ViewerLink>>>,
        ended: watch::Sender<Option<String>>,
    ) {
        let reason = self.keep(send, recv, out, link).await;
        let _ = ended.send(Some(reason));
        drop(self);
    }

    /// Serves the session, resuming it after each lost link; returns why
    /// it ended.
    async fn keep(
        &mut self,
        mut send: SecureSend,
        mut recv: SecureRecv,
        mut out: mpsc::Receiver<ViewerMsg>,
        link: Arc<tokio::sync::Mutex<Option<ViewerLink>>>,
    ) -> String {
        loop {
            let why = match self.serve(&mut send, &mut recv, &mut out).await {
                Stopped::Over(reason) => return reason,
                Stopped::Lost(why) => why,
            };
            let Some(secret) = self.secret.clone() else {
                return why.to_string();
            };
            let _ = self.reconnecting.send(Some(why.to_string()));
            lock(&self.shared).core.link_lost();
            match self.resume(&secret, &mut send, &mut recv).await {
                Ok(new_link) => {
                    self.conn = new_link.conn.clone();
                    lock(&self.shared).conn = Some(self.conn.clone());
                    let mut current = link.lock().await;
                    match current.as_mut() {
                        Some(l) => *l = new_link,
                        None => {
                            // The technician disconnected meanwhile.
                            drop(current);
                            let reason = "disconnected by the technician";
                            new_link.end(reason).await;
                            return reason.into();
                        }
                    }
                    drop(current);
                    let _ = self.reconnecting.send(None);
                    // What was in flight is gone: start from a whole frame.
                    lock(&self.shared).core.resumed();
                    self.act(&mut send).await;
                }
                Err(e) => return e.to_string(),
            }
        }
    }

    /// Reconnects with backoff and continues the sealed channel on the
    /// stream the host opens, until the window passes (net's one resume
    /// loop).
    async fn resume(
        &self,
        secret: &ResumeSecret,
        send: &mut SecureSend,
        recv: &mut SecureRecv,
    ) -> Result<ViewerLink, ClientError> {
        let again = || self.resumer.resume(secret.0);
        resume_session(Side::Viewer, Instant::now(), self.window, again, send, recv).await
    }

    /// Serves the live session until it ends or its link is lost.
    async fn serve(
        &mut self,
        send: &mut SecureSend,
        recv: &mut SecureRecv,
        out: &mut mpsc::Receiver<ViewerMsg>,
    ) -> Stopped {
        loop {
            tokio::select! {
                msg = out.recv() => {
                    let Some(msg) = msg else {
                        return Stopped::Over("the session writer stopped".into());
                    };
                    lock(&self.shared).core.send(msg);
                    self.act(send).await;
                }
                msg = recv.recv::<HostMsg>() => {
                    lock(&self.shared).core.stream_bytes(recv.bytes_received());
                    match msg {
                        Ok(m) => {
                            lock(&self.shared).core.handle(Instant::now(), m);
                            self.act(send).await;
                        }
                        Err(SecureError::Stream(e)) => {
                            let why = why_closed(&self.conn, e).await;
                            if self.secret.is_some() && why.resumable() {
                                return Stopped::Lost(why);
                            }
                            return Stopped::Over(why.to_string());
                        }
                        Err(e) => {
                            let why = e.to_string();
                            self.conn.close(
                                quinn::VarInt::from_u32(CloseCode::Ended as u32),
                                why.as_bytes(),
                            );
                            return Stopped::Over(why);
                        }
                    }
                }
            }
        }
    }

    /// Carries out what the session asks: sends (acknowledgements
    /// directly: the input queue may be full, and this task is what
    /// empties it), and news for the handle's watchers.
    async fn act(&self, send: &mut SecureSend) {
        loop {
            let Some(action) = lock(&self.shared).core.poll_action() else {
                return;
            };
            match action {
                Action::Send(msg) => {
                    if let Err(e) = send.send(&msg).await {
                        // The reader hears why (a lost link may be resumed).
                        tracing::debug!(error = %e, "message not sent");
                    }
                    continue;
                }
                Action::Updated => self.frames.send_modify(|n| *n += 1),
                Action::Cursor => {}
                // The user took control back (or gave it): input follows.
                Action::Mode(m) => {
                    self.mode.send_replace(m);
                }
                Action::Screens(s) => {
                    self.screens.send_replace(Some(s));
                }
                Action::Withheld(why) => {
                    self.withheld.send_replace(why);
                }
                Action::Hidden(boxes) => {
                    self.hidden.send_replace(boxes);
                }
                // Nobody listening is fine: the message is not kept.
                Action::Chat(text) => {
                    let _ = self.chats.send(text);
                }
                Action::Reply(reply) => {
                    self.answer(reply);
                    continue;
                }
            }
            self.changes.send_modify(|n| *n += 1);
        }
    }

    /// Hands the host's answer to the request waiting for it (an answer
    /// nobody asked for is dropped).
    fn answer(&self, reply: Reply) {
        let waiting = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(tx) = waiting {
            let _ = tx.send(reply);
        }
    }
}
