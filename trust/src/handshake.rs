//! The handshake between a technician and an enrolled device, through a
//! relay that must not be able to stand in for either: Noise XX (X25519,
//! ChaCha20-Poly1305, SHA-256, through `snow`), sans-IO.
//!
//! ```text
//! technician → device   e
//! device → technician   e, ee, s, es   + the device's name (encrypted)
//! technician → device   s, se          + certificate, reason, session secret
//! ```
//!
//! Each side proves its static key by the Diffie-Hellman results the keys
//! take part in. The technician checks the device's key against the one it
//! pinned before it sends anything of its own; the device admits the
//! technician only with a certificate the organisation's anchor signed,
//! valid now, not revoked, and for the key the handshake proved. The
//! relay holds neither static key and no certificate for a key it holds,
//! so it can complete neither side. The prologue binds the relay's session
//! id. The session secret (the technician's randomness, sent encrypted in
//! the last message) and the handshake hash then key the session as the
//! code's secret does in attended sessions (`e2e::keys_from_secret`).

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use snow::{Builder, HandshakeState};

use crate::TrustError;
use crate::creds::{Revocations, TechnicianCert};
use crate::org::{Anchor, Signed};

/// The Noise protocol name.
pub const PATTERN: &str = "Noise_XX_25519_ChaChaPoly_SHA256";
/// Longest Noise message.
pub const MAX_MESSAGE: usize = 65_535;
/// Longest reason a technician gives, in characters.
pub const MAX_REASON: usize = 256;
/// Longest device name, in characters.
pub const MAX_DEVICE_NAME: usize = 64;

/// A static X25519 key pair: a technician's or a device's.
#[derive(Clone)]
pub struct StaticKey {
    private: [u8; 32],
    public: [u8; 32],
}

impl std::fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaticKey({})", key_fingerprint(&self.public))
    }
}

impl StaticKey {
    /// A new key pair.
    pub fn generate() -> Result<Self, TrustError> {
        let pair = Builder::new(params()).generate_keypair().map_err(noise)?;
        Self::from_parts(&pair.private, &pair.public)
    }

    fn from_parts(private: &[u8], public: &[u8]) -> Result<Self, TrustError> {
        Ok(Self {
            private: private.try_into().map_err(|_| TrustError::BadKey)?,
            public: public.try_into().map_err(|_| TrustError::BadKey)?,
        })
    }

    /// The key pair's 64 bytes (private, then public), to store readable
    /// by its owner only.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.private);
        out[32..].copy_from_slice(&self.public);
        out
    }

    /// A key pair from [`StaticKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TrustError> {
        if bytes.len() != 64 {
            return Err(TrustError::BadKey);
        }
        Self::from_parts(&bytes[..32], &bytes[32..])
    }

    /// The public half.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }
}

const KEY_PREFIX: &str = "lifeline-key:";

/// A handshake key's public half as text (`lifeline-key:` and base64url),
/// as a technician hands it to the admin who vouches for it.
pub fn key_to_text(key: &[u8; 32]) -> String {
    format!("{KEY_PREFIX}{}", crate::org::b64(key))
}

/// A public key from [`key_to_text`]'s form.
pub fn key_from_text(text: &str) -> Result<[u8; 32], TrustError> {
    let rest = text
        .trim()
        .strip_prefix(KEY_PREFIX)
        .ok_or(TrustError::BadKey)?;
    crate::org::unb64(rest)?
        .try_into()
        .map_err(|_| TrustError::BadKey)
}

/// A handshake key's fingerprint, as people compare it.
pub use lifeline_proto::devices::key_fingerprint;

fn params() -> snow::params::NoiseParams {
    // A constant that parses; checked by the tests.
    PATTERN
        .parse()
        .unwrap_or_else(|_| unreachable!("{PATTERN} parses"))
}

fn noise(_: snow::Error) -> TrustError {
    TrustError::Handshake
}

fn prologue(session: &str) -> Vec<u8> {
    [b"lifeline/1 unattended\0".as_slice(), session.as_bytes()].concat()
}

fn build(key: &StaticKey, session: &str, initiator: bool) -> Result<HandshakeState, TrustError> {
    let prologue = prologue(session);
    let b = Builder::new(params())
        .local_private_key(&key.private)
        .map_err(noise)?
        .prologue(&prologue)
        .map_err(noise)?;
    if initiator {
        b.build_initiator()
    } else {
        b.build_responder()
    }
    .map_err(noise)
}

fn write(hs: &mut HandshakeState, payload: &[u8]) -> Result<Vec<u8>, TrustError> {
    let mut out = vec![0u8; MAX_MESSAGE];
    let n = hs.write_message(payload, &mut out).map_err(noise)?;
    out.truncate(n);
    Ok(out)
}

fn read(hs: &mut HandshakeState, msg: &[u8]) -> Result<Vec<u8>, TrustError> {
    if msg.len() > MAX_MESSAGE {
        return Err(TrustError::TooLarge);
    }
    let mut out = vec![0u8; MAX_MESSAGE];
    let n = hs.read_message(msg, &mut out).map_err(noise)?;
    out.truncate(n);
    Ok(out)
}

fn remote(hs: &HandshakeState) -> Result<[u8; 32], TrustError> {
    hs.get_remote_static()
        .and_then(|k| k.try_into().ok())
        .ok_or(TrustError::Handshake)
}

fn short(text: &str, max: usize) -> Result<(), TrustError> {
    if text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(TrustError::BadText);
    }
    Ok(())
}

/// What the device says in its message.
#[derive(Debug, Serialize, Deserialize)]
struct DeviceProof {
    name: String,
}

/// What the technician says in the last message.
#[derive(Debug, Serialize, Deserialize)]
struct TechnicianProof {
    cert: Signed,
    reason: String,
    secret: [u8; 32],
}

/// A finished handshake: what keys the session.
#[derive(Clone)]
pub struct Established {
    /// The session secret.
    pub secret: [u8; 32],
    /// The Noise handshake hash, binding everything both sides saw.
    pub transcript: Vec<u8>,
    /// The other side's proven static key.
    pub peer: [u8; 32],
}

impl std::fmt::Debug for Established {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Established")
            .field("peer", &key_fingerprint(&self.peer))
            .finish_non_exhaustive()
    }
}

/// The device as the technician's side saw it, before it says anything
/// of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSeen {
    pub key: [u8; 32],
    pub name: String,
}

/// The technician's side.
pub struct Technician {
    hs: HandshakeState,
    cert: Signed,
    reason: String,
}

impl std::fmt::Debug for Technician {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Technician").finish_non_exhaustive()
    }
}

impl Technician {
    /// Starts a handshake in relay session `session`, with the key and
    /// certificate the organisation signed for it, giving `reason`; the
    /// first message goes to the device.
    pub fn start(
        key: &StaticKey,
        cert: Signed,
        session: &str,
        reason: &str,
    ) -> Result<(Self, Vec<u8>), TrustError> {
        short(reason, MAX_REASON)?;
        let mut hs = build(key, session, true)?;
        let first = write(&mut hs, &[])?;
        Ok((
            Self {
                hs,
                cert,
                reason: reason.into(),
            },
            first,
        ))
    }

    /// The device's message: its proven key and the name it gives. Check
    /// the key against the one pinned for the device before
    /// [`Technician::finish`].
    pub fn read_device(&mut self, msg: &[u8]) -> Result<DeviceSeen, TrustError> {
        let payload = read(&mut self.hs, msg)?;
        let proof: DeviceProof =
            postcard::from_bytes(&payload).map_err(|_| TrustError::Malformed)?;
        short(&proof.name, MAX_DEVICE_NAME)?;
        Ok(DeviceSeen {
            key: remote(&self.hs)?,
            name: proof.name,
        })
    }

    /// The last message (certificate, reason, a fresh session secret),
    /// and the handshake's result.
    pub fn finish(mut self) -> Result<(Vec<u8>, Established), TrustError> {
        let peer = remote(&self.hs)?;
        let mut secret = [0u8; 32];
        SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| TrustError::Random)?;
        let proof = TechnicianProof {
            cert: self.cert,
            reason: self.reason,
            secret,
        };
        let payload = postcard::to_allocvec(&proof).map_err(|_| TrustError::Malformed)?;
        let last = write(&mut self.hs, &payload)?;
        let transcript = self.hs.get_handshake_hash().to_vec();
        Ok((
            last,
            Established {
                secret,
                transcript,
                peer,
            },
        ))
    }
}

/// A technician the device admitted.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub cert: TechnicianCert,
    pub reason: String,
    pub keys: Established,
}

/// The device's side.
pub struct Device {
    hs: HandshakeState,
    anchor: Anchor,
    name: String,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// The device `name` with `key`, trusting technicians by `anchor`, in
    /// relay session `session`. A device its organisation disabled
    /// (`revoked` names its key) takes no handshake at all.
    pub fn new(
        key: &StaticKey,
        anchor: Anchor,
        revoked: Option<&Revocations>,
        session: &str,
        name: &str,
    ) -> Result<Self, TrustError> {
        short(name, MAX_DEVICE_NAME)?;
        if revoked.is_some_and(|r| r.disables(&key.public)) {
            return Err(TrustError::DeviceDisabled);
        }
        Ok(Self {
            hs: build(key, session, false)?,
            anchor,
            name: name.into(),
        })
    }

    /// The technician's first message; the device's answer.
    pub fn read_hello(&mut self, msg: &[u8]) -> Result<Vec<u8>, TrustError> {
        read(&mut self.hs, msg)?;
        let proof = DeviceProof {
            name: self.name.clone(),
        };
        let payload = postcard::to_allocvec(&proof).map_err(|_| TrustError::Malformed)?;
        write(&mut self.hs, &payload)
    }

    /// The technician's last message: admitted only with a certificate
    /// from the anchor's key, valid at `now` (Unix seconds), not in
    /// `revoked`, for the key the handshake proved.
    pub fn read_proof(
        mut self,
        msg: &[u8],
        now: u64,
        revoked: Option<&Revocations>,
    ) -> Result<Admitted, TrustError> {
        let payload = read(&mut self.hs, msg)?;
        let proof: TechnicianProof =
            postcard::from_bytes(&payload).map_err(|_| TrustError::Malformed)?;
        short(&proof.reason, MAX_REASON)?;
        let peer = remote(&self.hs)?;
        let cert = TechnicianCert::open(&self.anchor, &proof.cert)?;
        cert.admit(now, revoked, &peer)?;
        Ok(Admitted {
            cert,
            reason: proof.reason,
            keys: Established {
                secret: proof.secret,
                transcript: self.hs.get_handshake_hash().to_vec(),
                peer,
            },
        })
    }
}
