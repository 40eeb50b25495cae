//! Getting a session back after its link to the relay was lost: the
//! writer hands the sealed channel back, the resume loop reconnects with
//! backoff and continues the channel on a new stream until the window
//! passes (the loop both sides share, [`resume_session`]), and a new
//! writer starts.

use std::future::Future;
use std::time::Instant;

use lifeline_net::client::{ClientError, HostLink};
use lifeline_net::resume::resume_session;
use lifeline_net::secure::{SecureRecv, SecureSend};
use lifeline_session::e2e::Side;

use super::{Driver, Ticket, spawn_writer};
use crate::agent::context::Io;
use crate::session::Event;

impl Driver<'_> {
    /// After a lost link: takes the sealed channel back from the writer,
    /// resumes, and starts a new writer; the event for the session.
    pub(super) async fn recover<S: Future<Output = ()>>(
        &mut self,
        ticket: &Ticket,
        recv: &mut SecureRecv,
        io: &mut Io<'_, S>,
        why: &ClientError,
    ) -> Event {
        drop(self.out.take());
        let Some(Ok(mut send)) = (match self.writer.take() {
            Some(w) => Some(w.await),
            None => None,
        }) else {
            return Event::Failed("the session writer failed".into());
        };
        let event = match self.resume(ticket, &mut send, recv, io, why).await {
            Ok(true) => {
                self.serve_files_again();
                if let Some(r) = self.recording.as_mut() {
                    r.send(self.link, None).await;
                }
                Event::Resumed
            }
            Ok(false) => Event::Stop,
            Err(e) => Event::Closed(e.to_string()),
        };
        let (out, writer) = spawn_writer(send);
        (self.out, self.writer) = (Some(out), Some(writer));
        event
    }

    /// Gets the session back after its link was lost (net's one resume
    /// loop, within the ticket's window). `Ok(false)`: the user stopped
    /// meanwhile.
    async fn resume<S: Future<Output = ()>>(
        &mut self,
        ticket: &Ticket,
        send: &mut SecureSend,
        recv: &mut SecureRecv,
        io: &mut Io<'_, S>,
        why: &ClientError,
    ) -> Result<bool, ClientError> {
        let started = Instant::now();
        io.ui
            .reconnecting(&why.to_string(), ticket.window.as_secs());
        let connector = self.link.connector.clone();
        let (session, secret) = (ticket.session.as_str(), ticket.secret.0);
        let again = resume_session(
            Side::Host,
            started,
            ticket.window,
            || HostLink::resume(&connector, session, secret),
            send,
            recv,
        );
        let link = tokio::select! {
            () = io.stop.as_mut() => return Ok(false),
            link = again => link?,
        };
        // What the lost link heard stays in the receipt.
        self.receipt.audited(self.link.take_audited());
        *self.link = link;
        self.conn = self.link.conn.clone();
        self.ctl_open = true;
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        io.ui.resumed(ms);
        Ok(true)
    }
}
