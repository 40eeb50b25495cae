//! The Lifeline host agent: shows a code, asks the user, then shares the
//! screen and (if allowed) applies the technician's input.
//!
//! - [`session`]: one session as a sans-IO state machine (consent,
//!   view-only, flow control), tested with plain calls; it imports no
//!   driver, user interface or platform module;
//! - [`prompt`]: what the user's typed lines and presses mean in each
//!   state (pure);
//! - [`agent`]: the agent's whole life, which the binary calls: the lobby
//!   (registration, the code, waiting) and the thin async driver;
//! - [`platform`]: the [`platform::ScreenSource`], [`platform::InputSink`]
//!   and [`platform::ClipboardAccess`] traits and their errors, which the
//!   backends ([`x11`], [`wlr`] and [`portal`] on Linux, [`win`] (GDI,
//!   `SendInput`) and [`scrap_screen`] (DXGI) on Windows) implement;
//!   [`terminal`]: the terminal's typed-ahead input; [`backend`]: the choice of one (the only module
//!   that names them); the fakes in [`fake`] for unit tests; [`layout`]:
//!   the screen that the Wayland backends' copying threads fill;
//! - [`view`]: which part of the screen is shown (pure geometry);
//!   [`framing`]: the capture thread grabbing and cropping to it;
//! - [`rate`] and [`quality`]: what the link carries, and how lossy the
//!   encoder may be for it (both pure);
//! - [`workers`]: the threads that own the platform handles;
//! - [`files`]: the technician's puts and fetches, written only beneath
//!   the download folder ([`beneath`]);
//! - [`guesses`]: how many wrong codes a run takes (pure); [`typed`]:
//!   what the user says, nothing said before a question answering it;
//!   [`guard`]: remote input never answers the host's own questions;
//! - [`ui`]: what the user reads; [`whoami`]: who and where, for the audit log.

pub mod agent;
pub mod backend;
pub mod beneath;
#[cfg(test)]
mod builtin_source;
pub mod clipboard;
pub mod config;
pub mod confirm;
#[cfg(any(target_os = "linux", windows))]
pub mod desktop_clipboard;
pub mod enroll;
pub mod fake;
pub mod files;
pub mod framing;
pub mod guard;
pub mod guesses;
pub mod hidden;
pub mod layout;
pub mod platform;
#[cfg(target_os = "linux")]
pub mod portal;
pub mod prompt;
pub mod quality;
pub mod rate;
pub mod receipt;
pub mod recorder;
pub mod revocations;
#[cfg(not(windows))]
pub mod scrap_screen;
pub mod service;
pub mod session;
pub mod terminal;
pub mod typed;
pub mod ui;
pub mod view;
pub use lifeline_common::whoami;
pub mod win;
pub mod window;
#[cfg(target_os = "linux")]
pub mod wlr;
pub mod words;
pub mod workers;
#[cfg(target_os = "linux")]
pub mod x11;
