//! What the relay may read: the session code, length-prefixed framing, the
//! control messages between a peer and the relay (a technician's sign-in
//! among them), what one relay of a
//! cluster asks another, the audit log's
//! records and hash chain, and the receipt a host gives its user (checked
//! against that log).
//!
//! Nothing here performs I/O or depends on an async runtime, so every byte a
//! peer can send the relay is handled by code that can be unit-tested and
//! fuzzed on its own. Decoders return typed errors; none of them panics on
//! any input.

pub mod audit;
pub mod code;
pub mod control;
pub mod devices;
pub mod frame;
pub mod link;
pub mod login;
pub mod receipt;

pub use code::{CodeError, Locator, SessionCode};
pub use frame::{FrameDecoder, FrameError};
