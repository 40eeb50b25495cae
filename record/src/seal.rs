//! The recording's header and sealed chunks (the host's side).
//!
//! Header chunk: [`MAGIC`], then (postcard) the session, when it started,
//! and one stanza per auditor: the ephemeral X25519 public key, and the
//! recording key sealed with a key derived from the agreement (HKDF-SHA256
//! over the two public keys). Every later chunk is ChaCha20-Poly1305
//! under the recording key, its nonce the chunk's number and a flag on
//! the last, its associated data the header's hash.

use rand::RngCore as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::keys::AuditorPublic;

/// The first bytes of every recording.
pub const MAGIC: &[u8; 8] = b"LLREC\0\x01\0";

const WRAP_INFO: &[u8] = b"lifeline recording key v1";

/// The recording key, sealed for one auditor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stanza {
    /// The auditor's name at the relay.
    pub name: String,
    pub recipient: [u8; 32],
    pub ephemeral: [u8; 32],
    /// The recording key and its tag.
    pub wrapped: Vec<u8>,
}

/// What a recording says about itself, readable by anyone holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub session: String,
    pub started_unix_ms: u64,
    pub stanzas: Vec<Stanza>,
}

/// The key that seals a recording key for one auditor.
pub(crate) fn wrap_key(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
) -> LessSafeKey {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient);
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &salt).extract(shared);
    let mut key = [0u8; 32];
    let info = [WRAP_INFO];
    // The length is the algorithm's own: neither call can fail.
    let filled = prk
        .expand(&info, ring::hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut key));
    debug_assert!(filled.is_ok());
    aead_key(&key)
}

pub(crate) fn aead_key(key: &[u8; 32]) -> LessSafeKey {
    // A 32-byte key is what ChaCha20-Poly1305 takes.
    match UnboundKey::new(&CHACHA20_POLY1305, key) {
        Ok(k) => LessSafeKey::new(k),
        Err(_) => unreachable!("ChaCha20-Poly1305 takes 32-byte keys"),
    }
}

/// Chunk `n`'s nonce; the last chunk's differs, so a cut is seen.
pub(crate) fn nonce(n: u64, last: bool) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[3..11].copy_from_slice(&n.to_be_bytes());
    bytes[11] = u8::from(last);
    Nonce::assume_unique_for_key(bytes)
}

/// Seals one recording's chunks in order.
pub struct Sealer {
    key: LessSafeKey,
    aad: [u8; 32],
    next: u64,
    done: bool,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("next", &self.next).finish()
    }
}

/// A chunk after the last one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the recording is already closed")]
pub struct Closed;

impl Sealer {
    /// A fresh recording key sealed to each auditor; returns the sealer
    /// and the header chunk, which goes first.
    pub fn new(
        session: &str,
        started_unix_ms: u64,
        auditors: &[(String, AuditorPublic)],
    ) -> (Self, Vec<u8>) {
        let mut file_key = [0u8; 32];
        rand::rng().fill_bytes(&mut file_key);
        let stanzas = auditors
            .iter()
            .map(|(name, public)| {
                let mut eph = [0u8; 32];
                rand::rng().fill_bytes(&mut eph);
                let eph = StaticSecret::from(eph);
                let ephemeral = PublicKey::from(&eph).to_bytes();
                let shared = eph.diffie_hellman(&PublicKey::from(public.0)).to_bytes();
                let mut wrapped = file_key.to_vec();
                let key = wrap_key(&shared, &ephemeral, &public.0);
                // Sealing into a Vec cannot fail.
                let _ = key.seal_in_place_append_tag(nonce(0, false), Aad::empty(), &mut wrapped);
                Stanza {
                    name: name.clone(),
                    recipient: public.0,
                    ephemeral,
                    wrapped,
                }
            })
            .collect();
        let header = Header {
            session: session.to_owned(),
            started_unix_ms,
            stanzas,
        };
        let mut chunk = MAGIC.to_vec();
        // Plain data: postcard cannot fail on it.
        if let Ok(body) = postcard::to_stdvec(&header) {
            chunk.extend_from_slice(&body);
        }
        let sealer = Self {
            key: aead_key(&file_key),
            aad: sha2::Sha256::digest(&chunk).into(),
            next: 1,
            done: false,
        };
        (sealer, chunk)
    }

    /// Seals the next chunk; `last` closes the recording.
    pub fn seal(&mut self, plaintext: &[u8], last: bool) -> Result<Vec<u8>, Closed> {
        if self.done {
            return Err(Closed);
        }
        let mut out = plaintext.to_vec();
        let _ = self.key.seal_in_place_append_tag(
            nonce(self.next, last),
            Aad::from(self.aad),
            &mut out,
        );
        self.next += 1;
        self.done = last;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header's bytes are a format auditors keep for years: pinned.
    #[test]
    fn the_header_encoding_is_pinned() {
        let header = Header {
            session: "s1".into(),
            started_unix_ms: 1000,
            stanzas: vec![Stanza {
                name: "al".into(),
                recipient: [1; 32],
                ephemeral: [2; 32],
                wrapped: vec![3, 4],
            }],
        };
        let bytes = postcard::to_stdvec(&header).unwrap();
        let mut want = vec![2, b's', b'1', 0xe8, 0x07, 1, 2, b'a', b'l'];
        want.extend([1; 32]);
        want.extend([2; 32]);
        want.extend([2, 3, 4]);
        assert_eq!(bytes, want);
    }
}
