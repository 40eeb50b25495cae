//! Trust for unattended access, kept end to end: a relay (or whoever takes
//! it over) can neither open a session to an enrolled device nor see one.
//!
//! - [`org`]: the organisation's signing key, kept offline by an admin,
//!   and its public half (the *anchor*) every device pins at enrollment;
//!   signed envelopes, labelled by kind;
//! - [`creds`]: what that key signs: technician certificates (short-lived,
//!   for one handshake key) and the revocation list (technicians and
//!   devices), which only ever moves forward on a device;
//! - [`handshake`]: the mutually authenticated Noise XX handshake between a
//!   technician and a device, which admits a technician only on the
//!   anchor's word and lets the technician check the device's key first.
//!
//! Pure: no I/O, time passed in. Every error is typed ([`TrustError`]).

pub mod creds;
pub mod handshake;
pub mod org;

#[cfg(test)]
mod tests;

/// Why something signed, or a handshake, was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("the system's random number generator failed")]
    Random,
    #[error("not a valid key")]
    BadKey,
    #[error("not a Lifeline organisation anchor")]
    NotAnAnchor,
    #[error("malformed signed data")]
    Malformed,
    #[error("signed data too large")]
    TooLarge,
    #[error("not signed by the organisation")]
    BadSignature,
    #[error("a name must be 1 to 64 characters, without control characters")]
    BadName,
    #[error("text too long, or with control characters")]
    BadText,
    #[error("the technician's certificate is not valid yet")]
    NotYetValid,
    #[error("the technician's certificate has expired")]
    Expired,
    #[error("the organisation revoked the technician's certificate")]
    Revoked,
    #[error("the certificate is for another key than the one proven")]
    KeyMismatch,
    #[error("the organisation disabled this device")]
    DeviceDisabled,
    #[error("the handshake failed (a message was changed, or a key is wrong)")]
    Handshake,
}
