//! The Lifeline host agent: shows a code, asks the user, then shares the
//! screen and (if allowed) applies the technician's input.
//!
//! Platform code sits behind [`platform::ScreenSource`] and
//! [`platform::InputSink`]; the session logic in [`session`] works with any
//! implementation, including the fakes in [`fake`].

pub mod fake;
pub mod platform;
pub mod session;
pub mod ui;
pub mod workers;
#[cfg(target_os = "linux")]
pub mod x11;
