//! The browser's way into the relay (`lifeline-relay serve --web ADDR`).
//!
//! - [`page`]: the viewer page over HTTPS, from memory, with a strict
//!   Content-Security-Policy, and `/relay.json` (where WebTransport is, and
//!   the certificate hash the browser should accept there).
//! - [`cert`]: the certificate a browser's WebTransport gets: the
//!   operator's, or a short-lived one known by its hash, rotated.
//! - [`bridge`]: the [`lifeline_relay_core::WebGate`]: each WebTransport
//!   session carried, unread, over the gate's own loopback connection to
//!   the relay's engine, which serves it as it serves a native viewer.
//!
//! The relay stays blind: the page runs the session crate in the browser
//! (`lifeline-browser`), and the gate copies bytes it cannot open.

pub mod bridge;
pub mod cert;
pub mod page;

pub use bridge::{Gate, WEBTRANSPORT_PATH};
pub use cert::WebCert;
pub use page::Page;
