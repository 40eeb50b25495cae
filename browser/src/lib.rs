//! Lifeline's viewer in a browser. The page (`web/`) moves bytes between
//! its WebTransport streams and a [`client::Client`]: this crate joins
//! through the relay, runs the end-to-end key exchange and decodes the
//! host's screen with `lifeline-session` itself, compiled to WebAssembly,
//! so the browser runs the code the native viewer runs and the fuzzers
//! test. The relay forwards the streams as it forwards a native viewer's
//! and reads none of them.
//!
//! `client` is sans-IO (tested natively), `transfer` one file transfer's
//! stream (sans-IO too), `video` holds an update while the browser's own
//! H.264 decoder (WebCodecs) decodes its video frames, `keys` maps the
//! browser's keyboard events, `bindings` is the thin wasm-bindgen surface.

pub mod bindings;
pub mod client;
pub mod keys;
pub mod transfer;
pub mod video;
mod words;
