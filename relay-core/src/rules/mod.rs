//! The relay's decisions, sans-IO: pure state machines and functions with
//! time passed in, no tokio, no quinn, no files. The async code in
//! [`crate::server`] (its resuming too) and [`crate::cluster`] carries
//! out what they decide; each is unit-tested without sockets.
//!
//! - [`registry`]: live codes by locator, their expiry and the join race.
//! - [`throttle`]: failed attempts per address or token (token buckets).
//! - [`suspicion`]: technicians whose tokens fail on several codes.
//! - [`waiting`]: what a waiting host's relay does on each event.
//! - [`bridge`]: what a forwarded session's control messages and closed
//!   connections mean (quinn's errors are mapped to [`bridge::Closed`]
//!   at the async edge).
//! - [`resume`]: which sessions may resume and who is back.
//! - [`recovery`]: what a crashed run left open in the audit log.
//! - [`addresses`]: what one source address may hold at once
//!   (connections, waiting hosts) and its refusals counted in bursts.
//! - [`bursts`]: refusals that come in floods counted, one record a
//!   burst (the relay's address caps, the console's login throttle).
//! - [`refusal`]: why the relay closes a connection, each reason with its
//!   close code and sentence, mapped in one place.

pub mod addresses;
pub mod bridge;
pub mod bursts;
pub mod recovery;
pub mod refusal;
pub mod registry;
pub mod resume;
pub mod suspicion;
pub mod throttle;
pub mod waiting;
