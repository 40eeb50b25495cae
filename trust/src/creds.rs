//! What the organisation signs: a technician's certificate (who, their
//! handshake key, for how long) and the revocation list (technicians whose
//! certificates no longer count, devices disabled). A device checks both
//! against the anchor it pinned at enrollment, whatever the relay says;
//! time is passed in (Unix seconds).

use serde::{Deserialize, Serialize};

use crate::TrustError;
use crate::org::{Anchor, Kind, OrgKey, Signed};

/// Longest technician name a certificate carries.
pub const MAX_NAME: usize = 64;
/// Most entries of a revocation list, each kind.
pub const MAX_REVOKED: usize = 10_000;
/// How long a certificate is valid by default: a working week. Short, so
/// that a technician who leaves stops counting even on a device that has
/// not fetched the latest revocation list.
pub const DEFAULT_VALIDITY_S: u64 = 7 * 24 * 3600;
/// Clock difference a device forgives at a certificate's start.
pub const CLOCK_SKEW_S: u64 = 300;

/// A fresh certificate serial: 63 random bits (never reused in practice,
/// and nothing to guess from).
pub fn new_serial() -> Result<u64, TrustError> {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| TrustError::Random)?;
    Ok(u64::from_be_bytes(b) >> 1)
}

/// A technician the organisation vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechnicianCert {
    /// Unique per certificate; what a revocation names.
    pub serial: u64,
    pub name: String,
    /// The technician's static handshake key (X25519).
    pub key: [u8; 32],
    /// Valid from, until (Unix seconds).
    pub not_before: u64,
    pub not_after: u64,
}

impl TechnicianCert {
    /// Signs the certificate with the organisation's key.
    pub fn sign(&self, org: &OrgKey) -> Result<Signed, TrustError> {
        check_name(&self.name)?;
        let body = postcard::to_allocvec(self).map_err(|_| TrustError::Malformed)?;
        Ok(org.sign(Kind::Technician, body))
    }

    /// The certificate in `signed`, if the anchor's key signed it (its
    /// time and revocation are checked by [`TechnicianCert::admit`]).
    pub fn open(anchor: &Anchor, signed: &Signed) -> Result<Self, TrustError> {
        let body = anchor.verify(Kind::Technician, signed)?;
        let cert: Self = postcard::from_bytes(body).map_err(|_| TrustError::Malformed)?;
        check_name(&cert.name)?;
        Ok(cert)
    }

    /// The certificate in `signed` without checking its signature: for
    /// its holder to read (devices check it with [`TechnicianCert::open`]).
    pub fn unchecked(signed: &Signed) -> Result<Self, TrustError> {
        postcard::from_bytes(&signed.body).map_err(|_| TrustError::Malformed)
    }

    /// Whether a device admits this certificate now: within its time (a
    /// few minutes' skew forgiven at the start), not revoked, and for the
    /// key the handshake proved.
    pub fn admit(
        &self,
        now: u64,
        revoked: Option<&Revocations>,
        proven_key: &[u8; 32],
    ) -> Result<(), TrustError> {
        if now.saturating_add(CLOCK_SKEW_S) < self.not_before {
            return Err(TrustError::NotYetValid);
        }
        if now > self.not_after {
            return Err(TrustError::Expired);
        }
        if revoked.is_some_and(|r| r.technicians.contains(&self.serial)) {
            return Err(TrustError::Revoked);
        }
        if &self.key != proven_key {
            return Err(TrustError::KeyMismatch);
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), TrustError> {
    let ok =
        !name.is_empty() && name.chars().count() <= MAX_NAME && !name.chars().any(char::is_control);
    if ok { Ok(()) } else { Err(TrustError::BadName) }
}

/// How a signed revocation list is written as text.
pub const REVOCATIONS_PREFIX: &str = "lifeline-revocations:";

/// The organisation's revocation list: each new one has a higher `seq`
/// and lists everything revoked so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocations {
    pub seq: u64,
    /// When it was signed (Unix seconds).
    pub issued: u64,
    /// Certificate serials that no longer count.
    pub technicians: Vec<u64>,
    /// Device keys (X25519) the organisation disabled.
    pub devices: Vec<[u8; 32]>,
}

impl Revocations {
    /// Signs the list with the organisation's key.
    pub fn sign(&self, org: &OrgKey) -> Result<Signed, TrustError> {
        self.check()?;
        let body = postcard::to_allocvec(self).map_err(|_| TrustError::Malformed)?;
        Ok(org.sign(Kind::Revocations, body))
    }

    /// The list in `signed`, if the anchor's key signed it.
    pub fn open(anchor: &Anchor, signed: &Signed) -> Result<Self, TrustError> {
        let body = anchor.verify(Kind::Revocations, signed)?;
        let list: Self = postcard::from_bytes(body).map_err(|_| TrustError::Malformed)?;
        list.check()?;
        Ok(list)
    }

    fn check(&self) -> Result<(), TrustError> {
        if self.technicians.len() > MAX_REVOKED || self.devices.len() > MAX_REVOKED {
            return Err(TrustError::TooLarge);
        }
        Ok(())
    }

    /// Which list a device keeps: `offered` (signed by the anchor's key)
    /// when it is newer than `current`; an older or equal one changes
    /// nothing, so a relay cannot roll a device back to a list from before
    /// a revocation.
    pub fn newer(
        anchor: &Anchor,
        current: Option<&Revocations>,
        offered: &Signed,
    ) -> Result<Option<Revocations>, TrustError> {
        let list = Self::open(anchor, offered)?;
        Ok(match current {
            Some(c) if c.seq >= list.seq => None,
            _ => Some(list),
        })
    }

    /// Whether the device with handshake key `key` is disabled.
    pub fn disables(&self, key: &[u8; 32]) -> bool {
        self.devices.contains(key)
    }
}
