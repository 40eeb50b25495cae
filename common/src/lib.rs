//! Lifeline's shared vocabulary: the session code, the wire protocol and its
//! framing, and the audit record format.
//!
//! Nothing here performs I/O or depends on an async runtime, so every byte a
//! peer can send is handled by code that can be unit-tested and fuzzed on its
//! own. Decoders return typed errors; none of them panics on any input.

pub mod audit;
pub mod code;
pub mod e2e;
pub mod frame;
pub mod motion;
pub mod picture;
pub mod proto;
pub mod screen;
pub mod session;
pub mod squeeze;

pub use code::{CodeError, Locator, SessionCode};
pub use frame::{FrameDecoder, FrameError};
