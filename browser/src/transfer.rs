//! One file transfer on a stream of its own, sans-IO, as the native
//! viewer's (`lifeline-net`'s transfer channel): the transfer's id in the
//! clear, then messages sealed with the transfer's own keys
//! ([`e2e::transfer_keys`]). A *put* sends the user a file the technician
//! dropped on the page (`Put`, the host's `Ready`, chunks, `End` with the
//! SHA-256, the host's `Saved`); a *get* fetches one (`Get`, the host's
//! `Offer`, chunks, `End`), checked against its SHA-256 before the page
//! offers it as a download.

use lifeline_proto::frame::{self, FrameDecoder};
use lifeline_session::e2e::{self, FilesRoot, Opener, Sealer, Side};
use lifeline_session::files::{CHUNK, FileMsg, MAX_FILE_FRAME};
use lifeline_session::squeeze::{self, Packer, Unpacker};
use sha2::{Digest, Sha256};

use crate::client::{ClientError, Event};

/// Which way the file goes, and where it stands.
#[derive(Debug)]
enum Kind {
    /// To the user: `size` bytes, `sent` so far.
    Put { size: u64, sent: u64, ended: bool },
    /// From the user: what the host offered, once it did.
    Get { offer: Option<(String, u64)> },
}

/// One transfer's stream.
#[derive(Debug)]
pub struct Transfer {
    id: u32,
    sealer: Sealer,
    opener: Opener,
    packer: Packer,
    unpacker: Unpacker,
    decoder: FrameDecoder,
    out: Vec<u8>,
    kind: Kind,
    hash: Sha256,
    /// Fetched bytes the page has not taken yet.
    data: Vec<u8>,
    got: u64,
    over: bool,
}

impl Transfer {
    fn new(root: &FilesRoot, id: u32, kind: Kind, first: &FileMsg) -> Result<Self, ClientError> {
        let (sealer, opener) = e2e::transfer_keys(root, id, Side::Viewer)?;
        let mut t = Self {
            id,
            sealer,
            opener,
            packer: Packer::new(),
            unpacker: Unpacker::new(MAX_FILE_FRAME),
            decoder: FrameDecoder::new(MAX_FILE_FRAME),
            out: frame::encode_raw(&id.to_be_bytes(), MAX_FILE_FRAME)?,
            kind,
            hash: Sha256::new(),
            data: Vec::new(),
            got: 0,
            over: false,
        };
        t.send(first)?;
        Ok(t)
    }

    /// A put of `name` (`size` bytes) for the user's download folder.
    pub fn put(root: &FilesRoot, id: u32, name: &str, size: u64) -> Result<Self, ClientError> {
        let kind = Kind::Put {
            size,
            sent: 0,
            ended: false,
        };
        let first = FileMsg::Put {
            name: name.into(),
            size,
        };
        Self::new(root, id, kind, &first)
    }

    /// A fetch of the file at `path` on the user's machine.
    pub fn get(root: &FilesRoot, id: u32, path: &str) -> Result<Self, ClientError> {
        let first = FileMsg::Get { path: path.into() };
        Self::new(root, id, Kind::Get { offer: None }, &first)
    }

    fn send(&mut self, msg: &FileMsg) -> Result<(), ClientError> {
        let mut buf = vec![squeeze::PLAIN];
        frame::serialize_append(msg, &mut buf, e2e::TAG_LEN)?;
        self.packer.pack(&mut buf, e2e::TAG_LEN)?;
        self.sealer.seal_in_place(&mut buf)?;
        self.out
            .extend_from_slice(&frame::encode_raw(&buf, MAX_FILE_FRAME)?);
        Ok(())
    }

    /// Bytes to write on the transfer's stream.
    pub fn take_out(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Fetched bytes so far (taken once).
    pub fn take_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.data)
    }

    /// Whether it is over (saved, fetched, refused or failed).
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// The next piece of a put's file (at most [`CHUNK`] bytes); after the
    /// last, [`Transfer::end_put`].
    pub fn put_chunk(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let Kind::Put { size, sent, ended } = &mut self.kind else {
            return Err(ClientError::Transfer("this transfer is not a put".into()));
        };
        let past = *sent + bytes.len() as u64 > *size;
        if *ended || past || bytes.len() > CHUNK {
            return Err(ClientError::Transfer("more bytes than the file has".into()));
        }
        *sent += bytes.len() as u64;
        self.hash.update(bytes);
        self.send(&FileMsg::Chunk(bytes.to_vec()))
    }

    /// The put's file is all sent: its SHA-256 goes last.
    pub fn end_put(&mut self) -> Result<(), ClientError> {
        let Kind::Put { size, sent, ended } = &mut self.kind else {
            return Err(ClientError::Transfer("this transfer is not a put".into()));
        };
        if *ended || *sent != *size {
            return Err(ClientError::Transfer("the file is not all sent".into()));
        }
        *ended = true;
        let sha256 = std::mem::take(&mut self.hash).finalize().into();
        self.send(&FileMsg::End { sha256 })
    }

    /// Bytes the host sent on the transfer's stream; what the page must
    /// know goes to `events`.
    pub fn bytes_in(&mut self, bytes: &[u8], events: &mut Vec<Event>) -> Result<(), ClientError> {
        self.decoder.push(bytes);
        while let Some(sealed) = self.decoder.next_frame()? {
            if self.over {
                break;
            }
            let packed = self.opener.open_owned(sealed)?;
            let msg: FileMsg = frame::decode(self.unpacker.unpack(&packed)?)?;
            self.handle(msg, events)?;
        }
        Ok(())
    }

    fn handle(&mut self, msg: FileMsg, events: &mut Vec<Event>) -> Result<(), ClientError> {
        let id = self.id;
        let out_of_turn = |m: &FileMsg| ClientError::Transfer(format!("unexpected {m:?}"));
        match (&mut self.kind, msg) {
            (_, FileMsg::Refused(reason)) => {
                self.over = true;
                events.push(Event::FileRefused { id, reason });
            }
            (Kind::Put { .. }, FileMsg::Ready) => events.push(Event::FileReady { id }),
            (Kind::Put { ended: true, .. }, FileMsg::Saved { path }) => {
                self.over = true;
                events.push(Event::FileSaved { id, path });
            }
            (Kind::Get { offer }, FileMsg::Offer { name, size }) if offer.is_none() => {
                *offer = Some((name.clone(), size));
                events.push(Event::FileOffer { id, name, size });
            }
            (
                Kind::Get {
                    offer: Some((_, size)),
                },
                FileMsg::Chunk(bytes),
            ) => {
                self.got += bytes.len() as u64;
                if self.got > *size {
                    return Err(ClientError::Transfer("more bytes than offered".into()));
                }
                self.hash.update(&bytes);
                self.data.extend_from_slice(&bytes);
                events.push(Event::FileData { id, got: self.got });
            }
            (
                Kind::Get {
                    offer: Some((name, size)),
                },
                FileMsg::End { sha256 },
            ) => {
                let ok = self.got == *size
                    && <[u8; 32]>::from(std::mem::take(&mut self.hash).finalize()) == sha256;
                self.over = true;
                events.push(Event::FileFetched {
                    id,
                    name: name.clone(),
                    ok,
                });
            }
            (_, other) => return Err(out_of_turn(&other)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
