//! The peers' side of Lifeline's network: resolving and connecting to the
//! relay, registering as a host or joining as a viewer ([`client`]), getting a
//! lost session back ([`reconnect`] the backoff, [`resume`] the one loop both
//! sides run), and
//! the sealed end-to-end session stream between them ([`secure`]); a
//! device's enrollment and online link ([`enroll`]) and a device session's
//! handshake ([`unattended`]); a technician signing in with the relay's
//! identity provider ([`login`]).
//!
//! Host and viewer build on this; the relay does not link it.

pub mod client;
pub mod enroll;
pub mod login;
pub mod reconnect;
pub mod resume;
pub mod secure;
pub mod transfer;
pub mod unattended;
