//! How long a certificate stays valid and which names it carries, read
//! back from its DER: what decides when the relay reissues its own
//! certificate and what `lifeline-relay check` reports.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use x509_parser::extensions::GeneralName;

use crate::CertError;

/// The relay reissues its own certificate from its CA when it has less
/// than this left (it is issued for 825 days).
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validity {
    /// The last moment it is valid.
    pub not_after: SystemTime,
    /// Its DNS names and IP addresses (subject alternative names), as text.
    pub names: Vec<String>,
}

impl Validity {
    /// Reads `der` (one X.509 certificate).
    pub fn of(der: &[u8]) -> Result<Self, CertError> {
        let bad = |why: String| CertError::Unreadable(why);
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| bad(e.to_string()))?;
        let secs = cert.validity().not_after.timestamp();
        let not_after = SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut names = Vec::new();
        if let Some(san) = cert
            .subject_alternative_name()
            .map_err(|e| bad(e.to_string()))?
        {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(n) => names.push((*n).to_owned()),
                    GeneralName::IPAddress(b) => names.extend(ip_text(b)),
                    _ => {}
                }
            }
        }
        Ok(Self { not_after, names })
    }

    /// How long it stays valid after `now` (zero once expired).
    pub fn left(&self, now: SystemTime) -> Duration {
        self.not_after.duration_since(now).unwrap_or(Duration::ZERO)
    }

    /// Whether it is due to be reissued at `now` ([`RENEW_BEFORE`]).
    pub fn due(&self, now: SystemTime) -> bool {
        self.left(now) < RENEW_BEFORE
    }

    /// Whether it carries every one of `wanted` (IP addresses compared as
    /// addresses, names without regard to case).
    pub fn covers(&self, wanted: &[String]) -> bool {
        wanted
            .iter()
            .all(|w| self.names.iter().any(|n| same_name(n, w)))
    }
}

fn same_name(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.eq_ignore_ascii_case(b),
    }
}

fn ip_text(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?).to_string()),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_relay_certificate_is_not_due_and_carries_its_names() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        crate::ensure_relay_certs(dir.path(), &names).unwrap();
        let files = crate::RelayFiles::in_dir(dir.path());
        let der = crate::load_certs(&files.cert).unwrap().remove(0);
        let v = Validity::of(&der).unwrap();
        let now = SystemTime::now();
        assert!(!v.due(now));
        assert!(v.left(now) > Duration::from_secs(800 * 24 * 3600));
        assert!(v.covers(&["LOCALHOST".to_owned(), "127.0.0.1".to_owned()]));
        assert!(!v.covers(&["relay.example".to_owned()]));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Validity::of(b"not a certificate").is_err());
    }
}
