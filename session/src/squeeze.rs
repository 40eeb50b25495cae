//! Compression of small session messages with one deflate stream per
//! direction for the whole session, as VNC's ZRLE keeps one zlib stream:
//! a glyph typed a second time, or a line of text seen before, costs a
//! back-reference instead of its pixels again. Large messages (whole
//! screens, pictures) are already LZ4-compressed tile by tile and go as
//! they are; deflating them would cost more time than it saves bytes.
//!
//! Each plaintext starts with a flag byte: [`PLAIN`] or [`DEFLATED`]. A
//! deflated message is the stream's output up to a sync flush, without the
//! flush's fixed `00 00 ff ff` tail (the receiver puts it back), as
//! WebSocket's permessage-deflate does. The stream is reliable and ordered,
//! so both ends' dictionaries stay in step.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The message that follows is as serialised.
pub const PLAIN: u8 = 0;
/// The message that follows is the next piece of the session's deflate stream.
pub const DEFLATED: u8 = 1;
/// Messages up to this size are deflated.
pub const SMALL: usize = 16 * 1024;
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// Why a message could not be (de)compressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqueezeError {
    #[error("empty message")]
    Empty,
    #[error("unknown message flag {0}")]
    UnknownFlag(u8),
    #[error("deflate stream is corrupt: {0}")]
    Corrupt(String),
    #[error("a compressed message inflates past {0} bytes")]
    TooLarge(usize),
}

/// The sending end: one deflate stream for the session.
pub struct Packer {
    z: Compress,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Packer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packer").finish_non_exhaustive()
    }
}

impl Default for Packer {
    fn default() -> Self {
        Self::new()
    }
}

impl Packer {
    pub fn new() -> Self {
        Self {
            z: Compress::new(Compression::new(6), false),
            scratch: Vec::new(),
        }
    }

    /// `buf` holds [`PLAIN`] and a serialised message; a small one is
    /// replaced by [`DEFLATED`] and its compressed form. `spare` bytes of
    /// capacity are left for the seal's tag.
    pub fn pack(&mut self, buf: &mut Vec<u8>, spare: usize) -> Result<(), SqueezeError> {
        match buf.first() {
            Some(&PLAIN) => {}
            Some(&f) => return Err(SqueezeError::UnknownFlag(f)),
            None => return Err(SqueezeError::Empty),
        }
        if buf.len() - 1 > SMALL {
            return Ok(());
        }
        self.scratch.clear();
        self.scratch.reserve(buf.len() + 64 + spare);
        self.scratch.push(DEFLATED);
        let input = &buf[1..];
        let start = self.z.total_in();
        loop {
            let used = (self.z.total_in() - start) as usize;
            if self.scratch.capacity() - self.scratch.len() < 64 {
                self.scratch.reserve(1024);
            }
            self.z
                .compress_vec(&input[used..], &mut self.scratch, FlushCompress::Sync)
                .map_err(|e| SqueezeError::Corrupt(e.to_string()))?;
            let done = (self.z.total_in() - start) as usize == input.len();
            // Finished once all input is in and the flush fit in the room left.
            if done && self.scratch.ends_with(&TAIL) && self.scratch.capacity() > self.scratch.len()
            {
                break;
            }
        }
        self.scratch.truncate(self.scratch.len() - TAIL.len());
        std::mem::swap(buf, &mut self.scratch);
        Ok(())
    }
}

/// The receiving end.
pub struct Unpacker {
    z: Decompress,
    out: Vec<u8>,
    max: usize,
}

impl std::fmt::Debug for Unpacker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unpacker")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Unpacker {
    /// Refuses any message that inflates past `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            z: Decompress::new(false),
            out: Vec::new(),
            max,
        }
    }

    /// The serialised message inside `packed`. Any error is final: the
    /// stream is out of step and the session must end.
    pub fn unpack<'a>(&'a mut self, packed: &'a [u8]) -> Result<&'a [u8], SqueezeError> {
        let (&flag, body) = packed.split_first().ok_or(SqueezeError::Empty)?;
        match flag {
            PLAIN => Ok(body),
            DEFLATED => {
                self.out.clear();
                for part in [body, &TAIL[..]] {
                    let start = self.z.total_in();
                    loop {
                        let used = (self.z.total_in() - start) as usize;
                        if used == part.len() && self.out.capacity() > self.out.len() {
                            break;
                        }
                        if self.out.len() > self.max {
                            return Err(SqueezeError::TooLarge(self.max));
                        }
                        if self.out.capacity() - self.out.len() < 256 {
                            self.out.reserve((part.len() * 4).clamp(1024, 1 << 20));
                        }
                        let before = (self.z.total_out(), used);
                        let status = self
                            .z
                            .decompress_vec(&part[used..], &mut self.out, FlushDecompress::Sync)
                            .map_err(|e| SqueezeError::Corrupt(e.to_string()))?;
                        let used_now = (self.z.total_in() - start) as usize;
                        if status == Status::StreamEnd {
                            return Err(SqueezeError::Corrupt("the stream ended".into()));
                        }
                        if (self.z.total_out(), used_now) == before
                            && self.out.capacity() > self.out.len()
                        {
                            // No progress with room to spare: input is spent.
                            break;
                        }
                    }
                }
                if self.out.len() > self.max {
                    return Err(SqueezeError::TooLarge(self.max));
                }
                Ok(&self.out)
            }
            f => Err(SqueezeError::UnknownFlag(f)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(msg: &[u8]) -> Vec<u8> {
        let mut v = vec![PLAIN];
        v.extend_from_slice(msg);
        v
    }

    #[test]
    fn messages_round_trip_and_repeats_get_cheap() {
        let mut p = Packer::new();
        let mut u = Unpacker::new(1 << 20);
        let glyph: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
        let mut sizes = Vec::new();
        for round in 0..3 {
            for msg in [&glyph[..], b"x", b"", &vec![7u8; 5000][..]] {
                let mut buf = plain(msg);
                p.pack(&mut buf, 16).unwrap();
                assert_eq!(buf[0], DEFLATED);
                if msg == &glyph[..] {
                    sizes.push(buf.len());
                }
                assert_eq!(u.unpack(&buf).unwrap(), msg, "round {round}");
            }
        }
        assert!(sizes[1] < sizes[0] / 4, "a repeat costs little: {sizes:?}");
    }

    #[test]
    fn large_messages_go_plain() {
        let mut p = Packer::new();
        let mut u = Unpacker::new(1 << 20);
        let big: Vec<u8> = (0..SMALL as u32 + 10).map(|i| i as u8).collect();
        let mut buf = plain(&big);
        p.pack(&mut buf, 16).unwrap();
        assert_eq!(buf[0], PLAIN);
        assert_eq!(u.unpack(&buf).unwrap(), &big[..]);
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        let mut u = Unpacker::new(1000);
        assert_eq!(u.unpack(&[]), Err(SqueezeError::Empty));
        assert_eq!(u.unpack(&[9]), Err(SqueezeError::UnknownFlag(9)));
        assert!(u.unpack(&[DEFLATED, 0xff, 0xff, 0xff]).is_err());
        // A bomb: 10 kB of zeros compressed, against a 1000-byte limit.
        let mut p = Packer::new();
        let mut buf = plain(&[0u8; 10_000]);
        p.pack(&mut buf, 0).unwrap();
        assert_eq!(
            Unpacker::new(1000).unpack(&buf),
            Err(SqueezeError::TooLarge(1000))
        );
        for junk in 0..=255u8 {
            let _ = Unpacker::new(1000).unpack(&[DEFLATED, junk, junk, 1, 2, 3]);
        }
    }
}
