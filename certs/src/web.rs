//! What browsers need: the short-lived certificate a browser's
//! WebTransport accepts by its hash (`serverCertificateHashes`: ECDSA
//! P-256, valid at most 14 days, no CA), and the in-memory identity of the
//! relay's own bridge between its browser gate and its engine.

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use crate::CertError;
use crate::cluster::LinkIdentity;

/// How long a WebTransport certificate is valid, from an hour before it is
/// made: browsers take at most 14 days for a certificate known by hash.
pub const WEBTRANSPORT_VALIDITY: time::Duration = time::Duration::days(10);

/// A certificate for WebTransport by hash, and its key.
#[derive(Debug)]
pub struct HashedCert {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 of the certificate (DER): what the page gives the browser.
    pub sha256: [u8; 32],
}

/// A new self-signed ECDSA P-256 certificate for `names`, valid for
/// [`WEBTRANSPORT_VALIDITY`].
pub fn webtransport_cert(names: &[String]) -> Result<HashedCert, CertError> {
    let mut p = CertificateParams::new(names.to_vec())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Lifeline relay (WebTransport)");
    p.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + WEBTRANSPORT_VALIDITY - time::Duration::hours(1);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = p.self_signed(&key)?;
    let der = cert.der().clone();
    Ok(HashedCert {
        sha256: Sha256::digest(&der).into(),
        cert: der,
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    })
}

/// A fresh CA and a certificate it signed, never written anywhere: the
/// relay's gate connects to its engine with these (and trusts only them).
pub fn bridge_identity() -> Result<LinkIdentity, CertError> {
    let (ca, ca_key) = crate::cluster::new_cluster_ca()?;
    crate::cluster::link_identity(&ca, &ca_key, "bridge")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webtransport_certificate_is_short_lived_and_hashed() {
        let c = webtransport_cert(&["localhost".into()]).unwrap();
        assert_eq!(c.sha256, <[u8; 32]>::from(Sha256::digest(&c.cert)));
        let (_, parsed) = x509_parser_free_validity(&c.cert);
        assert!(parsed <= 14 * 24 * 3600, "valid {parsed} s");
    }

    /// The validity span in seconds, read from the DER without a parser:
    /// the two UTCTime fields of the certificate's Validity.
    fn x509_parser_free_validity(der: &[u8]) -> ((), i64) {
        let times: Vec<&[u8]> = der
            .windows(15)
            .filter(|w| w[0] == 0x17 && w[1] == 13 && w[14] == b'Z')
            .map(|w| &w[2..14])
            .collect();
        let secs = |t: &[u8]| {
            let n = |i: usize| i64::from((t[i] - b'0') * 10 + (t[i + 1] - b'0'));
            let days = n(4) + 31 * (n(2) + 12 * n(0));
            days * 86_400 + n(6) * 3600 + n(8) * 60 + n(10)
        };
        ((), secs(times[1]) - secs(times[0]))
    }
}
