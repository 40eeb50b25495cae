//! The one resume loop both sides run after their link to the relay is
//! lost: reconnect with backoff ([`reconnect::retry`]) until the resume
//! window passes, then continue the sealed channel ([`secure::resume`]) on
//! the session's new stream, which the host opens and the viewer accepts.
//! A stream that fails or stalls before the channel is back is tried
//! again with a new connection; keys that do not match end it (someone
//! else answered), as does the window passing.

use std::future::Future;
use std::time::{Duration, Instant};

use lifeline_common::framed::ControlError;
use lifeline_session::e2e::Side;
use quinn::Connection;

use crate::client::{ClientError, HostLink, ViewerLink};
use crate::reconnect;
use crate::secure::{self, SecureError, SecureRecv, SecureSend};

/// How long the new stream may take to come, and then the channel's
/// handshake on it.
pub const RESUME_HANDSHAKE: Duration = Duration::from_secs(20);

/// A side's link to the relay, as the loop needs it.
pub trait ResumedLink {
    /// The link's QUIC connection.
    fn connection(&self) -> &Connection;
}

impl ResumedLink for HostLink {
    fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl ResumedLink for ViewerLink {
    fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Gets the session back for `side`: `reconnect` opens a new link (the
/// host's or the viewer's resume request), retried with backoff within
/// `window` from `since`; then the sealed channel `send`/`recv` continues
/// on the new stream. Returns the new link once the channel is back.
pub async fn resume_session<L, F, Fut>(
    side: Side,
    since: Instant,
    window: Duration,
    mut reconnect: F,
    send: &mut SecureSend,
    recv: &mut SecureRecv,
) -> Result<L, ClientError>
where
    L: ResumedLink,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<L, ClientError>>,
{
    loop {
        let link = reconnect::retry(since, window, &mut reconnect).await?;
        match continue_channel(side, link.connection(), send, recv).await {
            Ok(lost) => {
                tracing::info!(lost, "session resumed");
                return Ok(link);
            }
            Err(SecureError::E2e(e)) => return Err(ClientError::Protocol(e.to_string())),
            Err(e) => tracing::info!(error = %e, "resume interrupted; trying again"),
        }
    }
}

/// Opens (host) or accepts (viewer) the session's new stream and
/// continues the sealed channel on it; how many messages were lost.
async fn continue_channel(
    side: Side,
    conn: &Connection,
    send: &mut SecureSend,
    recv: &mut SecureRecv,
) -> Result<u64, SecureError> {
    let lost = |_| SecureError::Stream(ControlError::Closed);
    let streams = async {
        match side {
            Side::Host => conn.open_bi().await,
            Side::Viewer => conn.accept_bi().await,
        }
    };
    let (s, r) = tokio::time::timeout(RESUME_HANDSHAKE, streams)
        .await
        .map_err(lost)?
        .map_err(|e| {
            SecureError::Stream(ControlError::Read(quinn::ReadError::ConnectionLost(e)))
        })?;
    tokio::time::timeout(RESUME_HANDSHAKE, secure::resume(side, send, recv, s, r))
        .await
        .map_err(lost)?
}
