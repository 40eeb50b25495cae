//! One shared session, host side: sends what changed on screen as fast as
//! the viewer takes it, applies input if the user allowed control.

use std::future::Future;
use std::time::Duration;

use lifeline_common::framed::ControlError;
use lifeline_net::client::ClientError;
use lifeline_net::secure::{SecureError, SecureRecv, SecureSend};
use lifeline_proto::control::Mode;
use lifeline_session::messages::{FRAMES_IN_FLIGHT, HostMsg, ViewerMsg};
use tokio::sync::mpsc;

use crate::platform::CaptureError;
use crate::workers::{CaptureWorker, InputWorker};

/// How often the screen is looked at when the viewer can take a frame.
pub const CAPTURE_INTERVAL: Duration = Duration::from_millis(16);

/// How a session ended without error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The user stopped sharing (Ctrl+C).
    ByUser,
    /// The other side or the relay ended it, with their reason.
    Closed(String),
}

/// What happened during a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub frames: u64,
    pub frame_bytes: u64,
    pub inputs_applied: u64,
    /// Input received in view-only mode and not applied.
    pub inputs_dropped: u64,
    pub input_errors: u64,
}

/// The session failed on our side.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Input(#[from] crate::platform::InputError),
    #[error(transparent)]
    Secure(SecureError),
}

/// Shares the screen over `send`/`recv` until `stop` resolves or the other
/// side leaves. `conn` only explains why the streams ended.
pub async fn share(
    conn: &quinn::Connection,
    send: SecureSend,
    mut recv: SecureRecv,
    mode: Mode,
    capture: &CaptureWorker,
    input: &mut InputWorker,
    stop: impl Future<Output = ()>,
) -> Result<(SessionEnd, SessionStats), SessionError> {
    let mut stats = SessionStats::default();
    // The stream ending is the other side leaving; anything else (a
    // message that fails to open or parse) is an attack or a bug.
    let closed = |e: SecureError| match e {
        SecureError::Stream(ControlError::Frame(_))
        | SecureError::E2e(_)
        | SecureError::Frame(_)
        | SecureError::Squeeze(_) => Err(SessionError::Secure(e)),
        SecureError::Stream(other) => Ok(SessionEnd::Closed(
            ClientError::from_control(conn, other).to_string(),
        )),
    };
    capture.reset()?;
    let (out, mut out_rx) = mpsc::channel::<HostMsg>(4);
    let mut writer = tokio::spawn(async move {
        let mut send = send;
        while let Some(msg) = out_rx.recv().await {
            send.send(&msg).await?;
        }
        send.finish();
        Ok::<(), SecureError>(())
    });
    let writer_gone = || SessionError::Secure(SecureError::Stream(ControlError::Closed));
    out.send(HostMsg::Mode(mode))
        .await
        .map_err(|_| writer_gone())?;

    tokio::pin!(stop);
    let mut tick = tokio::time::interval(CAPTURE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut sent, mut acked) = (0u64, 0u64);
    let mut full = true;
    let mut grabbing: Option<tokio::sync::oneshot::Receiver<_>> = None;
    let mut last_pointer = None;
    let end = loop {
        let can_send = grabbing.is_none() && sent - acked < FRAMES_IN_FLIGHT;
        tokio::select! {
            () = &mut stop => break SessionEnd::ByUser,
            msg = recv.recv::<ViewerMsg>() => match msg {
                Ok(ViewerMsg::Ack { seq }) => acked = acked.max(seq.min(sent)),
                Ok(ViewerMsg::RequestFull) => full = true,
                Ok(ViewerMsg::Input(ev)) => {
                    if mode == Mode::Control {
                        input.apply(ev)?;
                        stats.inputs_applied += 1;
                    } else {
                        stats.inputs_dropped += 1;
                    }
                }
                Err(e) => break closed(e)?,
            },
            Some(e) = input.next_error() => {
                tracing::warn!(error = %e, "input not applied");
                stats.input_errors += 1;
            }
            // On the tick (which also follows the pointer), or at once when
            // something was drawn: a typed key should not wait for a tick.
            _ = tick.tick(), if can_send => {
                grabbing = Some(capture.grab(std::mem::take(&mut full)));
            }
            () = capture.changed(), if can_send => {
                grabbing = Some(capture.grab(std::mem::take(&mut full)));
            }
            got = async {
                match grabbing.as_mut() {
                    Some(g) => g.await,
                    None => std::future::pending().await,
                }
            }, if grabbing.is_some() => {
                grabbing = None;
                let (update, pointer) = got.map_err(|_| CaptureError::Stopped)??;
                if pointer.is_some() && pointer != last_pointer {
                    last_pointer = pointer;
                    if let Some((x, y)) = pointer {
                        out.send(HostMsg::Cursor { x, y }).await.map_err(|_| writer_gone())?;
                    }
                }
                if let Some(update) = update {
                    sent = update.seq;
                    stats.frames += 1;
                    stats.frame_bytes += update.payload_bytes() as u64;
                    out.send(HostMsg::Frame(update)).await.map_err(|_| writer_gone())?;
                }
            }
            r = &mut writer => {
                break match r {
                    Ok(Ok(())) => SessionEnd::Closed("session stream ended".into()),
                    Ok(Err(e)) => closed(e)?,
                    Err(e) => {
                        tracing::error!(error = %e, "session writer task failed");
                        return Err(writer_gone());
                    }
                };
            }
        }
    };
    writer.abort();
    Ok((end, stats))
}
