//! End-to-end protection between host and viewer, keyed by the code's
//! secret digits, so the relay in the middle can neither read nor forge.
//!
//! 1. Both sides run SPAKE2 (Ed25519 group) with the 6 secret digits as the
//!    password; the identities bind the protocol, the session id and the
//!    locator the relay used, so messages from another session or a
//!    relay-swapped pairing cannot be spliced in.
//! 2. HKDF-SHA256 over the SPAKE2 key, salted with the transcript, yields one
//!    AES-256-GCM key per direction.
//! 3. Each side's first sealed message is a fixed confirmation; a side that
//!    typed a different code cannot produce it, so a wrong code is detected
//!    before any pixel or input flows.
//! 4. Every message is sealed with the next number of a per-direction
//!    counter as its nonce; the receiver opens with the number it expects,
//!    so a changed, dropped, replayed or reordered message fails to open.
//! 5. A resume secret comes from the same key: both sides hold it and the
//!    relay gets only its hash, so only these two can continue the session
//!    after a lost connection. On a resumed stream each side's first
//!    message names its counter in the clear and is sealed under it: the
//!    receiver accepts a jump *forward* only there (what was in flight on
//!    the lost connection is gone) and never a step back, so nothing old
//!    can be replayed into the new stream.
//!
//! Pure: no I/O. The caller moves the bytes.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Identity, Password, Spake2};

use lifeline_proto::code::SessionCode;

const PROTOCOL: &str = "lifeline/1 e2e";
/// Bytes a seal adds to a message.
pub const TAG_LEN: usize = 16;
/// Plaintext of each side's first sealed message.
pub const HOST_CONFIRM: &[u8] = b"lifeline/1 host confirms";
/// See [`HOST_CONFIRM`].
pub const VIEWER_CONFIRM: &[u8] = b"lifeline/1 viewer confirms";
/// Plaintext that starts each side's first message on a resumed stream.
pub const HOST_RESUMES: &[u8] = b"lifeline/1 host resumes";
/// See [`HOST_RESUMES`].
pub const VIEWER_RESUMES: &[u8] = b"lifeline/1 viewer resumes";

/// The secret that lets both sides (and only they) resume a session.
#[derive(Clone, PartialEq, Eq)]
pub struct ResumeSecret(pub [u8; 32]);

impl ResumeSecret {
    /// What the relay keeps: SHA-256 of the secret.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }
}

impl std::fmt::Debug for ResumeSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeSecret(..)")
    }
}

/// Which end we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Host,
    Viewer,
}

/// What went wrong end to end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum E2eError {
    #[error(
        "the code did not match: the technician's code is wrong. This code is no longer valid; ask for a new one"
    )]
    WrongCode,
    #[error(
        "a message was changed, dropped, replayed or reordered in transit (tamper detected, message {seq}); the session was ended"
    )]
    Tampered { seq: u64 },
    #[error("malformed key-exchange message from the other side")]
    BadHandshake,
    #[error("too many messages in one session")]
    Exhausted,
}

/// A key exchange in progress.
pub struct Handshake {
    state: Spake2<Ed25519Group>,
    side: Side,
    mine: Vec<u8>,
    context: Vec<u8>,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

/// Starts the exchange; send the returned bytes to the other side.
pub fn start(side: Side, code: &SessionCode, session: &str) -> (Handshake, Vec<u8>) {
    let context = format!("{PROTOCOL} session={session} locator={}", code.locator()).into_bytes();
    let id_host = Identity::new(&[context.as_slice(), b" host"].concat());
    let id_viewer = Identity::new(&[context.as_slice(), b" viewer"].concat());
    let password = Password::new(code.secret_digits().as_bytes());
    let (state, mine) = match side {
        Side::Host => Spake2::<Ed25519Group>::start_a(&password, &id_host, &id_viewer),
        Side::Viewer => Spake2::<Ed25519Group>::start_b(&password, &id_host, &id_viewer),
    };
    (
        Handshake {
            state,
            side,
            mine: mine.clone(),
            context,
        },
        mine,
    )
}

/// The keys of one session, split by direction.
#[derive(Debug)]
pub struct Keys {
    pub sealer: Sealer,
    pub opener: Opener,
    /// What our first sealed message must say.
    pub my_confirm: &'static [u8],
    /// What the other side's first sealed message must say.
    pub their_confirm: &'static [u8],
    pub resume: ResumeSecret,
    /// Keys each file transfer's own stream (see [`transfer_keys`]).
    pub files: FilesRoot,
}

/// The secret each file transfer's keys come from.
#[derive(Clone)]
pub struct FilesRoot([u8; 32]);

impl std::fmt::Debug for FilesRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FilesRoot(..)")
    }
}

/// The keys of transfer `id`'s stream, for `side`: each transfer has its
/// own keys, so its counters start at zero without ever reusing a nonce
/// (the viewer never reuses an id; the host refuses one it saw).
pub fn transfer_keys(root: &FilesRoot, id: u32, side: Side) -> Result<(Sealer, Opener), E2eError> {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, &id.to_be_bytes());
    let prk = salt.extract(&root.0);
    let h2v = derive(&prk, b"lifeline/1 file host to viewer")?;
    let v2h = derive(&prk, b"lifeline/1 file viewer to host")?;
    Ok(match side {
        Side::Host => (Sealer { key: h2v, seq: 0 }, Opener { key: v2h, seq: 0 }),
        Side::Viewer => (Sealer { key: v2h, seq: 0 }, Opener { key: h2v, seq: 0 }),
    })
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

fn derive_bytes(prk: &hkdf::Prk, label: &[u8]) -> Result<[u8; 32], E2eError> {
    let info = [label];
    let okm = prk
        .expand(&info, Len32)
        .map_err(|_| E2eError::BadHandshake)?;
    let mut key = [0u8; 32];
    okm.fill(&mut key).map_err(|_| E2eError::BadHandshake)?;
    Ok(key)
}

fn derive(prk: &hkdf::Prk, label: &[u8]) -> Result<LessSafeKey, E2eError> {
    let key = derive_bytes(prk, label)?;
    let unbound = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| E2eError::BadHandshake)?;
    Ok(LessSafeKey::new(unbound))
}

impl Handshake {
    /// Completes the exchange with the other side's message.
    pub fn finish(self, theirs: &[u8]) -> Result<Keys, E2eError> {
        let shared = self
            .state
            .finish(theirs)
            .map_err(|_| E2eError::BadHandshake)?;
        let (host_msg, viewer_msg) = match self.side {
            Side::Host => (self.mine.as_slice(), theirs),
            Side::Viewer => (theirs, self.mine.as_slice()),
        };
        let mut t = Sha256::new();
        for part in [self.context.as_slice(), host_msg, viewer_msg] {
            t.update((part.len() as u64).to_be_bytes());
            t.update(part);
        }
        keys(self.side, &t.finalize(), &shared)
    }
}

/// The keys of an unattended session, from the secret and the transcript
/// of the handshake between an enrolled device (the host) and a technician
/// the organisation vouches for (`lifeline-trust`'s handshake): the same
/// keys, confirmations, resume secret and transfer keys as a code's.
pub fn keys_from_secret(
    side: Side,
    secret: &[u8; 32],
    transcript: &[u8],
) -> Result<Keys, E2eError> {
    let mut t = Sha256::new();
    for part in [b"lifeline/1 unattended keys".as_slice(), transcript] {
        t.update((part.len() as u64).to_be_bytes());
        t.update(part);
    }
    keys(side, &t.finalize(), secret)
}

/// Both directions' keys from a shared secret, salted with a transcript
/// hash.
fn keys(side: Side, salt: &[u8], shared: &[u8]) -> Result<Keys, E2eError> {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, salt);
    let prk = salt.extract(shared);
    let h2v = derive(&prk, b"lifeline/1 host to viewer")?;
    let v2h = derive(&prk, b"lifeline/1 viewer to host")?;
    let resume = ResumeSecret(derive_bytes(&prk, b"lifeline/1 resume")?);
    let files = FilesRoot(derive_bytes(&prk, b"lifeline/1 files")?);
    Ok(match side {
        Side::Host => Keys {
            sealer: Sealer { key: h2v, seq: 0 },
            opener: Opener { key: v2h, seq: 0 },
            my_confirm: HOST_CONFIRM,
            their_confirm: VIEWER_CONFIRM,
            resume: resume.clone(),
            files: files.clone(),
        },
        Side::Viewer => Keys {
            sealer: Sealer { key: v2h, seq: 0 },
            opener: Opener { key: h2v, seq: 0 },
            my_confirm: VIEWER_CONFIRM,
            their_confirm: HOST_CONFIRM,
            resume,
            files,
        },
    })
}

fn nonce(seq: u64) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[NONCE_LEN - 8..].copy_from_slice(&seq.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// Seals our messages, numbering them.
pub struct Sealer {
    key: LessSafeKey,
    seq: u64,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// The number the next message gets.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Seals `plaintext` as the next message.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, E2eError> {
        let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
        buf.extend_from_slice(plaintext);
        self.seal_in_place(&mut buf)?;
        Ok(buf)
    }

    /// Seals the plaintext in `buf` as the next message, in place (the tag
    /// is appended; leave [`TAG_LEN`] spare capacity to avoid a copy).
    pub fn seal_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), E2eError> {
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(E2eError::Exhausted)?;
        self.key
            .seal_in_place_append_tag(nonce(seq), Aad::empty(), buf)
            .map_err(|_| E2eError::Exhausted)
    }
}

/// Opens the other side's messages, in order, each exactly once.
pub struct Opener {
    key: LessSafeKey,
    seq: u64,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// Opens the next message. Any failure is final: the caller must end
    /// the session (the counter does not move on).
    pub fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>, E2eError> {
        self.open_owned(sealed.to_vec())
    }

    /// [`Opener::open`] on a buffer we own, without copying it.
    pub fn open_owned(&mut self, mut buf: Vec<u8>) -> Result<Vec<u8>, E2eError> {
        let seq = self.seq;
        let plain_len = self
            .key
            .open_in_place(nonce(seq), Aad::empty(), &mut buf)
            .map_err(|_| E2eError::Tampered { seq })?
            .len();
        buf.truncate(plain_len);
        self.seq = seq.checked_add(1).ok_or(E2eError::Exhausted)?;
        Ok(buf)
    }

    /// How many messages were opened so far.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Opens the first message of a resumed stream, sealed under `seq` (sent
    /// in the clear beside it): a jump forward over what the lost
    /// connection swallowed is allowed here, a step back never.
    pub fn open_resumed(&mut self, seq: u64, sealed: Vec<u8>) -> Result<Vec<u8>, E2eError> {
        if seq < self.seq {
            return Err(E2eError::Tampered { seq: self.seq });
        }
        let saved = self.seq;
        self.seq = seq;
        let opened = self.open_owned(sealed);
        if opened.is_err() {
            self.seq = saved;
        }
        opened
    }

    /// Opens the other side's confirmation: a failure here means the two
    /// sides hold different codes.
    pub fn open_confirm(&mut self, sealed: &[u8], expected: &[u8]) -> Result<(), E2eError> {
        match self.open(sealed) {
            Ok(p) if p == expected => Ok(()),
            _ => Err(E2eError::WrongCode),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_proto::code::Locator;

    fn code(secret: u32) -> SessionCode {
        SessionCode::new(Locator::new(4242).unwrap(), secret).unwrap()
    }

    fn pair(host_secret: u32, viewer_secret: u32) -> (Keys, Keys) {
        let (h, hm) = start(Side::Host, &code(host_secret), "s1");
        let (v, vm) = start(Side::Viewer, &code(viewer_secret), "s1");
        (h.finish(&vm).unwrap(), v.finish(&hm).unwrap())
    }

    #[test]
    fn same_code_talks_both_ways() {
        let (mut h, mut v) = pair(123456, 123456);
        let c = h.sealer.seal(h.my_confirm).unwrap();
        v.opener.open_confirm(&c, v.their_confirm).unwrap();
        let c = v.sealer.seal(v.my_confirm).unwrap();
        h.opener.open_confirm(&c, h.their_confirm).unwrap();
        for i in 0..5u8 {
            let s = h.sealer.seal(&[i; 100]).unwrap();
            assert_ne!(
                &s[..100],
                &[i; 100][..],
                "sealed bytes must not show the plaintext"
            );
            assert_eq!(v.opener.open(&s).unwrap(), vec![i; 100]);
        }
    }

    #[test]
    fn unattended_keys_from_one_secret_and_transcript_talk_both_ways() {
        let keys = |side, secret: u8, transcript: &[u8]| {
            keys_from_secret(side, &[secret; 32], transcript).unwrap()
        };
        let (mut h, mut v) = (keys(Side::Host, 7, b"t"), keys(Side::Viewer, 7, b"t"));
        let c = h.sealer.seal(h.my_confirm).unwrap();
        v.opener.open_confirm(&c, v.their_confirm).unwrap();
        let c = v.sealer.seal(v.my_confirm).unwrap();
        h.opener.open_confirm(&c, h.their_confirm).unwrap();
        assert_eq!(h.resume.hash(), v.resume.hash());
        // Another secret, or another transcript, is another session.
        for (secret, transcript) in [(8, b"t".as_slice()), (7, b"u")] {
            let mut other = keys(Side::Viewer, secret, transcript);
            let mut h = keys(Side::Host, 7, b"t");
            let c = h.sealer.seal(h.my_confirm).unwrap();
            assert_eq!(
                other.opener.open_confirm(&c, other.their_confirm),
                Err(E2eError::WrongCode)
            );
        }
    }

    #[test]
    fn a_wrong_digit_fails_confirmation_on_both_sides() {
        let (mut h, mut v) = pair(123456, 123457);
        let hc = h.sealer.seal(h.my_confirm).unwrap();
        let vc = v.sealer.seal(v.my_confirm).unwrap();
        assert_eq!(
            v.opener.open_confirm(&hc, v.their_confirm),
            Err(E2eError::WrongCode)
        );
        assert_eq!(
            h.opener.open_confirm(&vc, h.their_confirm),
            Err(E2eError::WrongCode)
        );
    }

    #[test]
    fn another_session_cannot_be_spliced_in() {
        let (h, hm) = start(Side::Host, &code(1), "s1");
        let (v, vm) = start(Side::Viewer, &code(1), "s2");
        let (mut h, mut v) = (h.finish(&vm).unwrap(), v.finish(&hm).unwrap());
        let hc = h.sealer.seal(h.my_confirm).unwrap();
        assert_eq!(
            v.opener.open_confirm(&hc, v.their_confirm),
            Err(E2eError::WrongCode)
        );
    }

    #[test]
    fn changed_replayed_reordered_and_dropped_messages_fail() {
        let (mut h, mut v) = pair(1, 1);
        let m0 = h.sealer.seal(b"zero").unwrap();
        let m1 = h.sealer.seal(b"one").unwrap();
        let m2 = h.sealer.seal(b"two").unwrap();
        let mut flipped = m0.clone();
        flipped[1] ^= 1;
        assert_eq!(v.opener.open(&flipped), Err(E2eError::Tampered { seq: 0 }));
        assert_eq!(
            v.opener.open(&m1),
            Err(E2eError::Tampered { seq: 0 }),
            "reordered"
        );
        assert_eq!(v.opener.open(&m0).unwrap(), b"zero");
        assert_eq!(
            v.opener.open(&m0),
            Err(E2eError::Tampered { seq: 1 }),
            "replayed"
        );
        assert_eq!(
            v.opener.open(&m2),
            Err(E2eError::Tampered { seq: 1 }),
            "one dropped"
        );
        assert_eq!(v.opener.open(&[]), Err(E2eError::Tampered { seq: 1 }));
    }

    #[test]
    fn both_sides_derive_one_resume_secret_the_relay_sees_only_hashed() {
        let (h, v) = pair(42, 42);
        assert_eq!(h.resume, v.resume);
        assert_ne!(h.resume.hash(), h.resume.0);
        let (other, _) = pair(42, 42);
        assert_ne!(other.resume, h.resume, "each session has its own");
    }

    #[test]
    fn a_resumed_stream_may_skip_forward_never_back() {
        let (mut h, mut v) = pair(1, 1);
        let m0 = h.sealer.seal(b"zero").unwrap();
        assert_eq!(v.opener.open(&m0).unwrap(), b"zero");
        let lost = h.sealer.seal(b"lost in flight").unwrap();
        let seq = h.sealer.seq();
        let first = h.sealer.seal(b"resumed").unwrap();
        // Claiming a number other than the one it was sealed under fails,
        // and leaves the counter where it was.
        assert!(v.opener.open_resumed(seq + 1, first.clone()).is_err());
        assert_eq!(v.opener.seq(), 1);
        assert_eq!(v.opener.open_resumed(seq, first).unwrap(), b"resumed");
        assert_eq!(v.opener.seq(), seq + 1);
        // The swallowed message cannot be replayed afterwards.
        assert!(v.opener.open_resumed(1, lost.clone()).is_err());
        assert!(v.opener.open(&lost).is_err());
        let next = h.sealer.seal(b"next").unwrap();
        assert_eq!(v.opener.open(&next).unwrap(), b"next");
    }

    #[test]
    fn each_transfer_has_its_own_keys() {
        let (h, v) = pair(7, 7);
        let (mut hs, mut ho) = transfer_keys(&h.files, 1, Side::Host).unwrap();
        let (mut vs, mut vo) = transfer_keys(&v.files, 1, Side::Viewer).unwrap();
        let sealed = vs.seal(b"chunk").unwrap();
        assert_eq!(ho.open(&sealed).unwrap(), b"chunk");
        assert_eq!(vo.open(&hs.seal(b"ok").unwrap()).unwrap(), b"ok");
        // Transfer 2's first message cannot pass for transfer 1's.
        let (mut other, _) = transfer_keys(&v.files, 2, Side::Viewer).unwrap();
        let (_, mut ho1) = transfer_keys(&h.files, 1, Side::Host).unwrap();
        assert!(ho1.open(&other.seal(b"chunk").unwrap()).is_err());
    }

    #[test]
    fn garbage_handshake_is_an_error_not_a_panic() {
        let (h, _) = start(Side::Host, &code(1), "s");
        assert_eq!(h.finish(&[1, 2, 3]).unwrap_err(), E2eError::BadHandshake);
    }
}
