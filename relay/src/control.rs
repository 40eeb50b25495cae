//! The control stream: framed messages over one QUIC bidirectional stream,
//! used the same way by the relay and by its peers.

use lifeline_common::frame::{self, FrameDecoder, FrameError, MAX_CONTROL_FRAME};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why the control stream failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the other side closed the control stream")]
    Closed,
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("reading the control stream: {0}")]
    Read(#[from] quinn::ReadError),
    #[error("writing the control stream: {0}")]
    Write(#[from] quinn::WriteError),
}

/// A framed message stream.
#[derive(Debug)]
pub struct Control {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
}

impl Control {
    /// Wraps an opened or accepted bidirectional stream.
    pub fn new(send: quinn::SendStream, recv: quinn::RecvStream) -> Self {
        Self {
            send,
            recv,
            decoder: FrameDecoder::new(MAX_CONTROL_FRAME),
        }
    }

    /// Sends one message.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), ControlError> {
        let bytes = frame::encode(msg, MAX_CONTROL_FRAME)?;
        self.send.write_all(&bytes).await?;
        Ok(())
    }

    /// Receives one message. Cancel-safe: bytes already read stay buffered.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<T, ControlError> {
        loop {
            if let Some(msg) = self.decoder.next_message()? {
                return Ok(msg);
            }
            match self.recv.read_chunk(MAX_CONTROL_FRAME, true).await? {
                Some(chunk) => self.decoder.push(&chunk.bytes),
                None => {
                    self.decoder.finish()?;
                    return Err(ControlError::Closed);
                }
            }
        }
    }

    /// Ends our side of the stream (the peer reads end-of-stream).
    pub fn finish(&mut self) {
        // Already finished or reset: nothing left to end.
        let _ = self.send.finish();
    }
}
