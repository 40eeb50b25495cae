//! Opening a recording with an auditor's secret key: the header first,
//! then each chunk in order; anything dropped, moved, altered or cut off
//! at the end is named by its chunk number.

use ring::aead::{Aad, LessSafeKey};
use sha2::Digest as _;

use crate::keys::AuditorSecret;
use crate::seal::{Header, MAGIC, aead_key, nonce, wrap_key};

/// Why a recording cannot be opened, or where it stops being whole.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("this is not a Lifeline recording")]
    NotARecording,
    #[error("the recording's header is damaged")]
    BadHeader,
    #[error("this recording is not for this key: it was sealed for {0}")]
    NotForThisKey(String),
    #[error("chunk {0} of the recording is altered, moved or from another recording")]
    Altered(u64),
    #[error("the recording goes on after its last chunk (chunk {0})")]
    AfterEnd(u64),
}

/// Opens the chunks after the header, in order.
pub struct Opener {
    key: LessSafeKey,
    aad: [u8; 32],
    next: u64,
    ended: bool,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener").field("next", &self.next).finish()
    }
}

/// Reads a header chunk without opening anything.
pub fn header(chunk: &[u8]) -> Result<Header, OpenError> {
    let body = chunk
        .strip_prefix(MAGIC.as_slice())
        .ok_or(OpenError::NotARecording)?;
    postcard::from_bytes(body).map_err(|_| OpenError::BadHeader)
}

impl Opener {
    /// Unwraps the recording key with `secret` from the header chunk.
    pub fn new(chunk: &[u8], secret: &AuditorSecret) -> Result<(Header, Self), OpenError> {
        let header = header(chunk)?;
        let me = secret.public().0;
        let stanza = header.stanzas.iter().find(|s| s.recipient == me);
        let Some(stanza) = stanza else {
            let names: Vec<&str> = header.stanzas.iter().map(|s| s.name.as_str()).collect();
            return Err(OpenError::NotForThisKey(names.join(", ")));
        };
        let shared = secret.agree(&stanza.ephemeral);
        let key = wrap_key(&shared, &stanza.ephemeral, &stanza.recipient);
        let mut wrapped = stanza.wrapped.clone();
        let file_key: [u8; 32] = key
            .open_in_place(nonce(0, false), Aad::empty(), &mut wrapped)
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(&*k).ok())
            .ok_or(OpenError::BadHeader)?;
        let opener = Self {
            key: aead_key(&file_key),
            aad: sha2::Sha256::digest(chunk).into(),
            next: 1,
            ended: false,
        };
        Ok((header, opener))
    }

    /// Opens the next chunk: its plaintext, and whether it is the last.
    pub fn open(&mut self, chunk: &[u8]) -> Result<(Vec<u8>, bool), OpenError> {
        let n = self.next;
        if self.ended {
            return Err(OpenError::AfterEnd(n));
        }
        for last in [false, true] {
            let mut buf = chunk.to_vec();
            if let Ok(plain) = self
                .key
                .open_in_place(nonce(n, last), Aad::from(self.aad), &mut buf)
            {
                let plain = plain.to_vec();
                self.next += 1;
                self.ended = last;
                return Ok((plain, last));
            }
        }
        Err(OpenError::Altered(n))
    }

    /// Whether the last chunk was opened: a recording without one was cut.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AuditorSecret;
    use crate::seal::Sealer;

    fn recorded(n: usize) -> (AuditorSecret, AuditorSecret, Vec<Vec<u8>>) {
        let (alice, bob) = (AuditorSecret::generate(), AuditorSecret::generate());
        let auditors = [
            ("alice".to_owned(), alice.public()),
            ("bob".to_owned(), bob.public()),
        ];
        let (mut sealer, head) = Sealer::new("s1", 7, &auditors);
        let mut chunks = vec![head];
        for i in 0..n {
            chunks.push(
                sealer
                    .seal(format!("chunk {i}").as_bytes(), i + 1 == n)
                    .unwrap(),
            );
        }
        (alice, bob, chunks)
    }

    #[test]
    fn every_auditor_opens_every_chunk_and_sees_the_end() {
        let (alice, bob, chunks) = recorded(3);
        for key in [&alice, &bob] {
            let (header, mut o) = Opener::new(&chunks[0], key).unwrap();
            assert_eq!(header.session, "s1");
            assert_eq!(o.open(&chunks[1]).unwrap(), (b"chunk 0".to_vec(), false));
            assert_eq!(o.open(&chunks[2]).unwrap().0, b"chunk 1");
            assert_eq!(o.open(&chunks[3]).unwrap(), (b"chunk 2".to_vec(), true));
            assert!(o.ended());
        }
    }

    #[test]
    fn another_key_is_refused_by_name() {
        let (_, _, chunks) = recorded(1);
        let err = Opener::new(&chunks[0], &AuditorSecret::generate()).unwrap_err();
        assert_eq!(err, OpenError::NotForThisKey("alice, bob".into()));
        assert_eq!(
            Opener::new(b"hello", &AuditorSecret::generate()).unwrap_err(),
            OpenError::NotARecording
        );
    }

    #[test]
    fn altered_moved_or_cut_chunks_are_named() {
        let (alice, _, chunks) = recorded(3);
        let (_, mut o) = Opener::new(&chunks[0], &alice).unwrap();
        let mut bad = chunks[1].clone();
        bad[0] ^= 1;
        assert_eq!(o.open(&bad), Err(OpenError::Altered(1)));
        let (_, mut o) = Opener::new(&chunks[0], &alice).unwrap();
        assert_eq!(o.open(&chunks[2]), Err(OpenError::Altered(1)));
        // Cut after two chunks: opens, but never ends.
        let (_, mut o) = Opener::new(&chunks[0], &alice).unwrap();
        o.open(&chunks[1]).unwrap();
        o.open(&chunks[2]).unwrap();
        assert!(!o.ended());
        // A header changed after sealing makes every chunk fail.
        let mut h = header(&chunks[0]).unwrap();
        h.started_unix_ms += 1;
        let mut head = MAGIC.to_vec();
        head.extend(postcard::to_stdvec(&h).unwrap());
        let (_, mut o) = Opener::new(&head, &alice).unwrap();
        assert_eq!(o.open(&chunks[1]), Err(OpenError::Altered(1)));
    }
}
