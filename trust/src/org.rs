//! The organisation's signing key (Ed25519, kept offline by an admin) and
//! its public half, the *anchor* every enrolled device pins. What the key
//! signs travels as a [`Signed`] envelope: the body's bytes, and a
//! signature over a label naming what the body is, so that one kind of
//! signed thing can never be passed off as another.

use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::TrustError;

/// Most bytes of a signed envelope's body.
pub const MAX_BODY: usize = 64 * 1024;

/// What a signature covers, besides the body: one label per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A technician's certificate.
    Technician,
    /// The organisation's revocation list.
    Revocations,
}

impl Kind {
    fn label(self) -> &'static [u8] {
        match self {
            Kind::Technician => b"lifeline/1 technician certificate\0",
            Kind::Revocations => b"lifeline/1 revocation list\0",
        }
    }
}

/// The organisation's signing key. Whoever holds it vouches for
/// technicians: keep it off the relay.
pub struct OrgKey {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for OrgKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgKey")
            .field("anchor", &self.anchor())
            .finish_non_exhaustive()
    }
}

impl OrgKey {
    /// A new key from the system's randomness.
    pub fn generate() -> Result<Self, TrustError> {
        let doc =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| TrustError::Random)?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// The key from its PKCS#8 bytes (as [`OrgKey::to_pkcs8`] gave them).
    pub fn from_pkcs8(bytes: &[u8]) -> Result<Self, TrustError> {
        let pair = Ed25519KeyPair::from_pkcs8(bytes).map_err(|_| TrustError::BadKey)?;
        Ok(Self {
            pair,
            pkcs8: bytes.to_vec(),
        })
    }

    /// The key's PKCS#8 bytes, to store (readable by its owner only).
    pub fn to_pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public half devices pin.
    pub fn anchor(&self) -> Anchor {
        let mut key = [0u8; 32];
        key.copy_from_slice(self.pair.public_key().as_ref());
        Anchor(key)
    }

    /// Signs `body` as a thing of `kind`.
    pub fn sign(&self, kind: Kind, body: Vec<u8>) -> Signed {
        let sig = self.pair.sign(&[kind.label(), &body].concat());
        Signed {
            body,
            signature: sig.as_ref().to_vec(),
        }
    }
}

/// The organisation's public key: what a device trusts technicians by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Anchor(pub [u8; 32]);

impl std::fmt::Debug for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Anchor({})", self.fingerprint())
    }
}

impl Anchor {
    /// `SHA256:` and the first 16 bytes of the key's SHA-256, in hex
    /// groups of four: what an admin compares by eye.
    pub fn fingerprint(&self) -> String {
        fingerprint(b"lifeline anchor", &self.0)
    }

    /// Checks `signed` is `kind`, signed by this anchor's key; its body.
    pub fn verify<'a>(&self, kind: Kind, signed: &'a Signed) -> Result<&'a [u8], TrustError> {
        if signed.body.len() > MAX_BODY {
            return Err(TrustError::TooLarge);
        }
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(&[kind.label(), &signed.body].concat(), &signed.signature)
            .map_err(|_| TrustError::BadSignature)?;
        Ok(&signed.body)
    }

    /// The anchor as text (`lifeline-anchor:` and base64url).
    pub fn to_text(&self) -> String {
        format!("{ANCHOR_PREFIX}{}", b64(&self.0))
    }

    /// An anchor from [`Anchor::to_text`]'s form.
    pub fn from_text(text: &str) -> Result<Self, TrustError> {
        let bytes = unb64(
            text.trim()
                .strip_prefix(ANCHOR_PREFIX)
                .ok_or(TrustError::NotAnAnchor)?,
        )?;
        Ok(Self(bytes.try_into().map_err(|_| TrustError::NotAnAnchor)?))
    }
}

const ANCHOR_PREFIX: &str = "lifeline-anchor:";

/// A body and the organisation's signature over it and its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

impl Signed {
    /// The envelope's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// An envelope from its bytes (nothing checked but the form and size).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TrustError> {
        if bytes.len() > MAX_BODY + 128 {
            return Err(TrustError::TooLarge);
        }
        postcard::from_bytes(bytes).map_err(|_| TrustError::Malformed)
    }

    /// The envelope as one line of text, after `prefix`.
    pub fn to_text(&self, prefix: &str) -> String {
        format!("{prefix}{}", b64(&self.to_bytes()))
    }

    /// An envelope from [`Signed::to_text`]'s form with `prefix`.
    pub fn from_text(text: &str, prefix: &str) -> Result<Self, TrustError> {
        let rest = text
            .trim()
            .strip_prefix(prefix)
            .ok_or(TrustError::Malformed)?;
        Self::from_bytes(&unb64(rest)?)
    }
}

pub use lifeline_proto::devices::fingerprint;

pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn unb64(text: &str) -> Result<Vec<u8>, TrustError> {
    use base64::Engine as _;
    if text.len() > 2 * MAX_BODY {
        return Err(TrustError::TooLarge);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| TrustError::Malformed)
}
