//! Getting a session back after its link to the relay was lost: the
//! writer hands the sealed channel back, the resume loop reconnects with
//! backoff and continues the channel on a new stream until the window
//! passes, and a new writer starts. The loop ([`Driver::resume`] and
//! [`resume_stream`]) stands apart from the rest of the driver.

use std::future::Future;
use std::time::Instant;

use lifeline_common::framed::ControlError;
use lifeline_net::client::{ClientError, HostLink};
use lifeline_net::reconnect;
use lifeline_net::secure::{self, SecureError, SecureRecv, SecureSend};
use lifeline_session::e2e::Side;

use super::{Driver, Ticket, spawn_writer};
use crate::agent::context::{HANDSHAKE_TIMEOUT, Io};
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

    /// Gets the session back after its link was lost: reconnects with
    /// backoff, then resumes the sealed channel on a new stream, until the
    /// window passes. `Ok(false)`: the user stopped meanwhile.
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
        loop {
            let attempt = reconnect::retry(started, ticket.window, || {
                HostLink::resume(&connector, session, secret)
            });
            let link = tokio::select! {
                () = io.stop.as_mut() => return Ok(false),
                link = attempt => link?,
            };
            *self.link = link;
            self.conn = self.link.conn.clone();
            match resume_stream(&self.conn, send, recv).await {
                Ok(lost) => {
                    tracing::info!(lost, "session resumed");
                    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    io.ui.resumed(ms);
                    return Ok(true);
                }
                Err(SecureError::E2e(e)) => return Err(ClientError::Protocol(e.to_string())),
                Err(e) => tracing::info!(error = %e, "resume interrupted; trying again"),
            }
        }
    }
}

/// Opens the session's new stream to the viewer and continues the sealed
/// channel on it.
async fn resume_stream(
    conn: &quinn::Connection,
    send: &mut SecureSend,
    recv: &mut SecureRecv,
) -> Result<u64, SecureError> {
    let (s, r) = conn.open_bi().await.map_err(|e| {
        SecureError::Stream(ControlError::Read(quinn::ReadError::ConnectionLost(e)))
    })?;
    match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        secure::resume(Side::Host, send, recv, s, r),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(SecureError::Stream(ControlError::Closed)),
    }
}
