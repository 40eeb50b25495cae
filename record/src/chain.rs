//! The relay's file of a recording, and the hash chain over it. The file
//! holds each chunk as it came: a 4-byte big-endian length, then the
//! chunk. The chain starts from the session's name and takes in each
//! chunk in turn; its end, the count and the bytes go into the audit log
//! when the recording is sealed, so `audit verify` proves the file whole
//! without a key.

use sha2::{Digest as _, Sha256};

/// The largest chunk a recording may have.
pub const MAX_CHUNK: usize = 1 << 20;

/// The chain so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    hash: [u8; 32],
    chunks: u64,
    bytes: u64,
}

impl Chain {
    /// The start of `session`'s chain.
    pub fn new(session: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"lifeline recording chain\0");
        h.update(session.as_bytes());
        Self {
            hash: h.finalize().into(),
            chunks: 0,
            bytes: 0,
        }
    }

    /// Takes in the next chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        let mut h = Sha256::new();
        h.update(self.hash);
        h.update((chunk.len() as u64).to_be_bytes());
        h.update(chunk);
        self.hash = h.finalize().into();
        self.chunks += 1;
        self.bytes += chunk.len() as u64;
    }

    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }

    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A chunk as the file stores it.
pub fn frame(chunk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.len() + 4);
    out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
    out.extend_from_slice(chunk);
    out
}

/// The file does not split into whole chunks.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("the recording file is cut or damaged at byte {offset} (in chunk {chunk})")]
pub struct Damaged {
    pub chunk: u64,
    pub offset: usize,
}

/// The file's chunks, in order.
pub fn split(file: &[u8]) -> Result<Vec<&[u8]>, Damaged> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < file.len() {
        let damaged = Damaged {
            chunk: out.len() as u64,
            offset: at,
        };
        let len = file
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or(damaged.clone())?;
        if len > MAX_CHUNK {
            return Err(damaged);
        }
        let chunk = file.get(at + 4..at + 4 + len).ok_or(damaged)?;
        out.push(chunk);
        at += 4 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_follows_every_byte_and_the_order() {
        let mut a = Chain::new("s");
        a.push(b"one");
        a.push(b"two");
        let mut b = Chain::new("s");
        b.push(b"two");
        b.push(b"one");
        assert_ne!(a.hash_hex(), b.hash_hex());
        assert_eq!((a.chunks(), a.bytes()), (2, 6));
        let mut c = Chain::new("t");
        c.push(b"one");
        c.push(b"two");
        assert_ne!(a.hash_hex(), c.hash_hex());
    }

    #[test]
    fn a_file_splits_back_into_its_chunks_or_says_where_it_is_cut() {
        let mut file = frame(b"head");
        file.extend(frame(b"body"));
        assert_eq!(split(&file).unwrap(), [b"head".as_slice(), b"body"]);
        let cut = &file[..file.len() - 1];
        assert_eq!(
            split(cut),
            Err(Damaged {
                chunk: 1,
                offset: 8
            })
        );
        assert_eq!(
            split(&file[..2]),
            Err(Damaged {
                chunk: 0,
                offset: 0
            })
        );
    }
}
