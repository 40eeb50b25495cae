//! Framed message streams over QUIC: the control stream between a peer and
//! the relay, and (with a larger limit) the host↔viewer session stream.

use lifeline_proto::frame::{self, FrameDecoder, FrameError, MAX_CONTROL_FRAME};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a framed stream failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the other side closed the stream")]
    Closed,
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("reading: {0}")]
    Read(#[from] quinn::ReadError),
    #[error("writing: {0}")]
    Write(#[from] quinn::WriteError),
}

impl ControlError {
    /// The connection error behind this, if the whole connection ended.
    pub fn connection_lost(&self) -> Option<&quinn::ConnectionError> {
        match self {
            ControlError::Read(quinn::ReadError::ConnectionLost(e))
            | ControlError::Write(quinn::WriteError::ConnectionLost(e)) => Some(e),
            _ => None,
        }
    }
}

/// Messages up to this size are copied behind their header and written once.
const SMALL_MESSAGE: usize = 16 * 1024;

/// The sending half: frames and writes messages.
#[derive(Debug)]
pub struct FramedSend {
    send: quinn::SendStream,
    max: usize,
}

impl FramedSend {
    /// Frames at most `max` bytes a message.
    pub fn new(send: quinn::SendStream, max: usize) -> Self {
        Self { send, max }
    }

    /// Sends one message.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), ControlError> {
        let bytes = frame::encode(msg, self.max)?;
        self.send.write_all(&bytes).await?;
        Ok(())
    }

    /// Sends one raw frame (already serialised, e.g. sealed).
    pub async fn send_bytes(&mut self, payload: &[u8]) -> Result<(), ControlError> {
        // A small message goes out as one write (one STREAM frame: input
        // events stay whole on the wire); a large one is written apart from
        // its header, so its megabytes are not copied.
        if payload.len() <= SMALL_MESSAGE {
            let bytes = frame::encode_raw(payload, self.max)?;
            self.send.write_all(&bytes).await?;
            return Ok(());
        }
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|l| (*l as usize) <= self.max)
            .ok_or(FrameError::TooLargeToEncode {
                len: payload.len(),
                max: self.max,
            })?;
        self.send.write_all(&len.to_be_bytes()).await?;
        self.send.write_all(payload).await?;
        Ok(())
    }

    /// Ends the stream (the peer reads end-of-stream).
    pub fn finish(&mut self) {
        // Already finished or reset: nothing left to end.
        let _ = self.send.finish();
    }
}

/// The receiving half: reads and unframes messages.
#[derive(Debug)]
pub struct FramedRecv {
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
    max: usize,
}

impl FramedRecv {
    /// Refuses frames over `max` bytes before buffering them.
    pub fn new(recv: quinn::RecvStream, max: usize) -> Self {
        Self {
            recv,
            decoder: FrameDecoder::new(max),
            max,
        }
    }

    /// Receives one message. Cancel-safe: bytes already read stay buffered.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<T, ControlError> {
        let payload = self.recv_bytes().await?;
        Ok(frame::decode(&payload)?)
    }

    /// Receives one raw frame. Cancel-safe.
    pub async fn recv_bytes(&mut self) -> Result<Vec<u8>, ControlError> {
        loop {
            if let Some(payload) = self.decoder.next_frame()? {
                return Ok(payload);
            }
            match self.recv.read_chunk(self.max, true).await? {
                Some(chunk) => self.decoder.push(&chunk.bytes),
                None => {
                    self.decoder.finish()?;
                    return Err(ControlError::Closed);
                }
            }
        }
    }
}

/// A framed bidirectional stream with the control-stream size limit.
#[derive(Debug)]
pub struct Control {
    send: FramedSend,
    recv: FramedRecv,
}

impl Control {
    /// Wraps an opened or accepted bidirectional stream.
    pub fn new(send: quinn::SendStream, recv: quinn::RecvStream) -> Self {
        Self {
            send: FramedSend::new(send, MAX_CONTROL_FRAME),
            recv: FramedRecv::new(recv, MAX_CONTROL_FRAME),
        }
    }

    /// Sends one message.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), ControlError> {
        self.send.send(msg).await
    }

    /// Receives one message. Cancel-safe.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<T, ControlError> {
        self.recv.recv().await
    }

    /// Ends our side of the stream.
    pub fn finish(&mut self) {
        self.send.finish();
    }

    /// The two halves, to read and write from different tasks; bytes read
    /// ahead of the next frame stay with the receiving half.
    pub fn into_parts(self) -> (FramedSend, FramedRecv) {
        (self.send, self.recv)
    }
}
