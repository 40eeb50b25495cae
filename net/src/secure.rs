//! The end-to-end channel between host and viewer over the streams the
//! relay forwards: the key exchange of [`lifeline_session::e2e`], then every
//! message sealed. Used by the host and the viewer alike.

use lifeline_proto::SessionCode;
use lifeline_proto::frame::{self, FrameError};
use lifeline_session::e2e::{self, E2eError, FilesRoot, Opener, ResumeSecret, Sealer, Side};
use lifeline_session::files::MAX_FILE_FRAME;
use lifeline_session::messages::max_frame_from;
use lifeline_session::squeeze::{self, Packer, SqueezeError, Unpacker};
use serde::Serialize;
use serde::de::DeserializeOwned;

use lifeline_common::framed::{ControlError, FramedRecv, FramedSend};

/// Why the secure channel failed.
#[derive(Debug, thiserror::Error)]
pub enum SecureError {
    #[error(transparent)]
    E2e(#[from] E2eError),
    #[error(transparent)]
    Stream(#[from] ControlError),
    #[error("the other side sent a malformed message: {0}")]
    Frame(#[from] FrameError),
    #[error("session compression failed: {0}")]
    Squeeze(#[from] SqueezeError),
}

/// Sends sealed messages.
#[derive(Debug)]
pub struct SecureSend {
    framed: FramedSend,
    sealer: Sealer,
    packer: Packer,
    /// Reused for every message, so large frames cost no fresh pages.
    buf: Vec<u8>,
}

impl SecureSend {
    /// Seals and sends one message.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), SecureError> {
        self.buf.clear();
        self.buf.push(squeeze::PLAIN);
        frame::serialize_append(msg, &mut self.buf, e2e::TAG_LEN)?;
        self.packer.pack(&mut self.buf, e2e::TAG_LEN)?;
        self.sealer.seal_in_place(&mut self.buf)?;
        Ok(self.framed.send_bytes(&self.buf).await?)
    }

    /// Ends the stream.
    pub fn finish(&mut self) {
        self.framed.finish();
    }
}

/// Receives and opens sealed messages.
#[derive(Debug)]
pub struct SecureRecv {
    framed: FramedRecv,
    opener: Opener,
    unpacker: Unpacker,
    /// Sealed bytes received, length prefixes included: what the session
    /// costs on the stream, for figures and benchmarks.
    received: u64,
}

impl SecureRecv {
    /// The next message; a message that fails to open is
    /// [`E2eError::Tampered`] and the session must end. Cancel-safe.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<T, SecureError> {
        let sealed = self.framed.recv_bytes().await?;
        self.received += sealed.len() as u64 + frame::HEADER_LEN as u64;
        let packed = self.opener.open_owned(sealed)?;
        Ok(frame::decode(self.unpacker.unpack(&packed)?)?)
    }

    /// Bytes received on the session stream so far (sealed messages with
    /// their length prefixes).
    pub fn bytes_received(&self) -> u64 {
        self.received
    }
}

/// A session's end-to-end channel, ready.
#[derive(Debug)]
pub struct Secured {
    pub send: SecureSend,
    pub recv: SecureRecv,
    /// Both sides hold it; the relay gets its hash, to pair them again.
    pub resume: ResumeSecret,
    /// Keys file transfers, each on a stream of its own.
    pub files: FilesRoot,
}

/// The other side of `side`.
fn other(side: Side) -> Side {
    match side {
        Side::Host => Side::Viewer,
        Side::Viewer => Side::Host,
    }
}

/// Frames for a session stream; each direction has its own limit: a viewer
/// sends only small messages, so a host buffers at most that much of what
/// a viewer says.
fn framed(
    side: Side,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
) -> (FramedSend, FramedRecv) {
    (
        FramedSend::new(send, max_frame_from(side)),
        FramedRecv::new(recv, max_frame_from(other(side))),
    )
}

/// A fresh session stream before it is sealed: the key exchange's
/// messages go over it as plain frames, then [`Plain::seal`] turns it
/// into the session's sealed channel.
#[derive(Debug)]
pub struct Plain {
    side: Side,
    send: FramedSend,
    recv: FramedRecv,
}

impl Plain {
    /// The stream `side` holds; the host opens it, the viewer accepts it.
    pub fn new(side: Side, send: quinn::SendStream, recv: quinn::RecvStream) -> Self {
        let (send, recv) = framed(side, send, recv);
        Self { side, send, recv }
    }

    /// Sends one plain frame.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), SecureError> {
        Ok(self.send.send_bytes(bytes).await?)
    }

    /// The next plain frame.
    pub async fn recv(&mut self) -> Result<Vec<u8>, SecureError> {
        Ok(self.recv.recv_bytes().await?)
    }

    /// Seals the stream with `keys`: each side proves it holds them (its
    /// confirmation, sealed) before anything else flows.
    pub async fn seal(mut self, keys: e2e::Keys) -> Result<Secured, SecureError> {
        let theirs_max = max_frame_from(other(self.side));
        let mut sealer = keys.sealer;
        let mut opener = keys.opener;
        self.send.send_bytes(&sealer.seal(keys.my_confirm)?).await?;
        let confirm = self.recv.recv_bytes().await?;
        opener.open_confirm(&confirm, keys.their_confirm)?;
        Ok(Secured {
            send: SecureSend {
                framed: self.send,
                sealer,
                packer: Packer::new(),
                buf: Vec::new(),
            },
            recv: SecureRecv {
                framed: self.recv,
                opener,
                unpacker: Unpacker::new(theirs_max),
                received: 0,
            },
            resume: keys.resume,
            files: keys.files,
        })
    }
}

/// Runs the key exchange and confirmation on a fresh session stream. The
/// host opens the stream; the viewer accepts it. Nothing else flows until
/// both sides proved they hold the same code.
pub async fn handshake(
    side: Side,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    code: &SessionCode,
    session: &str,
) -> Result<Secured, SecureError> {
    let mut plain = Plain::new(side, send, recv);
    let (hs, mine) = e2e::start(side, code, session);
    plain.send(&mine).await?;
    let theirs = plain.recv().await?;
    plain.seal(hs.finish(&theirs)?).await
}

fn transfer_channel(
    side: Side,
    root: &FilesRoot,
    id: u32,
    framed_send: FramedSend,
    framed_recv: FramedRecv,
) -> Result<(SecureSend, SecureRecv), SecureError> {
    let (sealer, opener) = e2e::transfer_keys(root, id, side)?;
    Ok((
        SecureSend {
            framed: framed_send,
            sealer,
            packer: Packer::new(),
            buf: Vec::new(),
        },
        SecureRecv {
            framed: framed_recv,
            opener,
            unpacker: Unpacker::new(MAX_FILE_FRAME),
            received: 0,
        },
    ))
}

/// File data goes after everything else this side sends (the session
/// stream keeps the default priority).
fn bulk(send: &quinn::SendStream) {
    if let Err(e) = send.set_priority(-1) {
        tracing::debug!(error = %e, "transfer stream closed before its priority was set");
    }
}

/// The viewer's side of a new transfer stream: the transfer's id goes
/// first, in the clear (it only picks the keys), then sealed messages.
pub async fn start_transfer(
    root: &FilesRoot,
    id: u32,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
) -> Result<(SecureSend, SecureRecv), SecureError> {
    bulk(&send);
    let mut framed_send = FramedSend::new(send, MAX_FILE_FRAME);
    framed_send.send_bytes(&id.to_be_bytes()).await?;
    let framed_recv = FramedRecv::new(recv, MAX_FILE_FRAME);
    transfer_channel(Side::Viewer, root, id, framed_send, framed_recv)
}

/// The host's side of a transfer stream the viewer opened: reads the id
/// and keys the channel with it.
pub async fn accept_transfer(
    root: &FilesRoot,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
) -> Result<(u32, SecureSend, SecureRecv), SecureError> {
    let mut framed_recv = FramedRecv::new(recv, MAX_FILE_FRAME);
    let first = framed_recv.recv_bytes().await?;
    let id = <[u8; 4]>::try_from(first.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| E2eError::Tampered { seq: 0 })?;
    bulk(&send);
    let framed_send = FramedSend::new(send, MAX_FILE_FRAME);
    let (send, recv) = transfer_channel(Side::Host, root, id, framed_send, framed_recv)?;
    Ok((id, send, recv))
}

/// Continues a session on fresh streams after a reconnect, with the same
/// keys and counters: each side sends its counter and, sealed under it,
/// how many of the other's messages it opened. Both compression streams
/// start afresh (what was in flight is gone from both). On success `send`
/// and `recv` use the new streams; returns how many of our messages the
/// lost connection swallowed. On failure they keep the dead ones, and a
/// later attempt may try again.
pub async fn resume(
    side: Side,
    send: &mut SecureSend,
    recv: &mut SecureRecv,
    new_send: quinn::SendStream,
    new_recv: quinn::RecvStream,
) -> Result<u64, SecureError> {
    let (mine, theirs) = match side {
        Side::Host => (e2e::HOST_RESUMES, e2e::VIEWER_RESUMES),
        Side::Viewer => (e2e::VIEWER_RESUMES, e2e::HOST_RESUMES),
    };
    let (mut framed_send, mut framed_recv) = framed(side, new_send, new_recv);
    let sent = send.sealer.seq();
    let mut hello = sent.to_be_bytes().to_vec();
    let said = [mine, &recv.opener.seq().to_be_bytes()].concat();
    hello.extend_from_slice(&send.sealer.seal(&said)?);
    framed_send.send_bytes(&hello).await?;
    let heard = framed_recv.recv_bytes().await?;
    let tampered = E2eError::Tampered {
        seq: recv.opener.seq(),
    };
    let (seq, sealed) = heard.split_first_chunk::<8>().ok_or(tampered.clone())?;
    let plain = recv
        .opener
        .open_resumed(u64::from_be_bytes(*seq), sealed.to_vec())?;
    let got = plain
        .strip_prefix(theirs)
        .and_then(|n| <[u8; 8]>::try_from(n).ok())
        .map(u64::from_be_bytes)
        .ok_or(tampered)?;
    send.framed = framed_send;
    send.packer = Packer::new();
    recv.framed = framed_recv;
    recv.unpacker = Unpacker::new(max_frame_from(other(side)));
    Ok(sent.saturating_sub(got))
}
