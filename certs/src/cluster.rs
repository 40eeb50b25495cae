//! A cluster's CA and each relay's link certificate.
//!
//! Relays of one cluster talk to each other over mutual TLS: each signs
//! itself a short-lived certificate at start with the cluster's CA (kept
//! in the cluster's database, made by the first relay), and trusts exactly
//! that CA on the link. Like the relay CA, its parameters are rebuilt
//! identically whenever it signs, so the CA certificate is never parsed.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::CertError;

fn cluster_ca_params() -> Result<CertificateParams, CertError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Lifeline cluster CA");
    dn.push(DnType::OrganizationName, "Lifeline");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(3650 * 2);
    Ok(p)
}

/// A new cluster CA: (certificate PEM, key PEM).
pub fn new_cluster_ca() -> Result<(String, String), CertError> {
    let key = KeyPair::generate()?;
    let cert = cluster_ca_params()?.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// What a relay presents and trusts on its links.
#[derive(Debug)]
pub struct LinkIdentity {
    pub ca: CertificateDer<'static>,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Signs a link certificate for relay `node` (valid for a week; a relay
/// signs a new one at every start) with the cluster's CA.
pub fn link_identity(
    ca_pem: &str,
    ca_key_pem: &str,
    node: &str,
) -> Result<LinkIdentity, CertError> {
    let bad = |why: String| CertError::Pem {
        path: "cluster_ca (database)".into(),
        why,
    };
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(|e| bad(e.to_string()))?;
    let issuer = Issuer::new(cluster_ca_params()?, ca_key);
    let mut p = CertificateParams::new(vec![lifeline_link_name()])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("Lifeline relay {node}"));
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(7);
    let key = KeyPair::generate()?;
    let cert = p.signed_by(&key, &issuer)?;
    let ca = rustls_pemfile::certs(&mut ca_pem.as_bytes())
        .next()
        .ok_or_else(|| bad("no certificate".into()))?
        .map_err(|e| bad(e.to_string()))?;
    Ok(LinkIdentity {
        ca,
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    })
}

/// The DNS name on every link certificate (see `lifeline_common::tls`).
fn lifeline_link_name() -> String {
    "lifeline-link".into()
}
