//! Session recordings that only the security team can open.
//!
//! The host records (it alone sees the screen); the relay stores what it
//! is sent and cannot read it; an auditor opens it with a secret key that
//! never leaves them. Each recording has a fresh key, wrapped to every
//! auditor's X25519 public key the way age does it (an ephemeral key
//! agreement, HKDF, ChaCha20-Poly1305). The recording is a header chunk
//! and sealed chunks; each chunk is sealed with a counter nonce and the
//! header's hash, the last one marked, so a chunk dropped, moved, altered
//! or cut off at the end is found when opening. The relay hash-chains the
//! chunks it stores ([`chain`]) and files the chain's end in the audit
//! log, so a recording is proven complete and unaltered without opening it.
//!
//! - [`keys`]: auditor key pairs and their text forms;
//! - [`seal`]: the header and the sealing of chunks (the host's side);
//! - [`open`]: opening with an auditor's secret key (the auditor's side);
//! - [`chain`]: the stored file's framing and hash chain (the relay's side).
//!
//! Pure: bytes in, bytes out.

pub mod chain;
pub mod keys;
pub mod open;
pub mod seal;

pub use keys::{AuditorPublic, AuditorSecret, KeyError};
