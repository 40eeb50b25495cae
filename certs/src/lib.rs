//! Certificates for Lifeline: the relay's own CA and server certificate,
//! created on the relay's first start, and loading of PEM files into rustls.
//!
//! A private CA (rather than a lone self-signed certificate) lets the relay
//! re-issue its server certificate for new names while every client keeps
//! trusting the one `ca.pem` it was given.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

pub mod cluster;
#[cfg(feature = "relay")]
pub mod expiry;
pub mod web;

#[cfg(feature = "relay")]
pub use expiry::{RENEW_BEFORE, Validity};

/// Why certificate material could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("generating a certificate failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{0}: no certificate found in this PEM file")]
    NoCertificate(PathBuf),
    #[error("{0}: no private key found in this PEM file")]
    NoKey(PathBuf),
    #[error("{path}: not a usable PEM file ({why})")]
    Pem { path: PathBuf, why: String },
    #[error("no trusted root certificates: pass --ca with the relay's ca.pem")]
    NoRoots,
    #[error("not a readable X.509 certificate: {0}")]
    Unreadable(String),
    #[error(
        "{0} is missing: the relay's CA cannot issue its certificate without it (restore it from a backup; a new CA would need a new ca.pem on every client)"
    )]
    NoCaKey(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Where the relay keeps its certificate files inside its data directory.
#[derive(Debug, Clone)]
pub struct RelayFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl RelayFiles {
    /// The standard names inside `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            cert: dir.join("relay-cert.pem"),
            key: dir.join("relay-key.pem"),
        }
    }
}

/// What [`ensure_relay_certs`] found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ensured {
    pub ca_created: bool,
    pub cert_created: bool,
    /// SHA-256 of the CA certificate, as `AB:CD:…`.
    pub ca_fingerprint: String,
}

/// The CA's parameters. They are rebuilt identically whenever the CA signs,
/// so the CA certificate never needs to be parsed back.
fn ca_params() -> Result<CertificateParams, CertError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Lifeline relay CA");
    dn.push(DnType::OrganizationName, "Lifeline");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut p, 3650 * 2);
    Ok(p)
}

fn set_validity(p: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(days);
}

/// Writes a file readable by its owner only (keys) or by all (certificates),
/// flushed to disk, via a temporary name so a crash leaves no half file.
fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), CertError> {
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(contents.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// How long the relay's own certificate is issued for.
pub const RELAY_CERT_DAYS: i64 = 825;

/// Makes sure `dir` holds a CA and a relay certificate valid for `names`
/// (DNS names or IP addresses), creating whatever is missing and
/// reissuing the certificate from the CA when it lacks one of `names` or
/// has less than [`RENEW_BEFORE`] left.
#[cfg(feature = "relay")]
pub fn ensure_relay_certs(dir: &Path, names: &[String]) -> Result<Ensured, CertError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let files = RelayFiles::in_dir(dir);
    let mut ca_created = false;
    if files.ca_cert.exists() && !files.ca_key.exists() {
        // A new CA would strand every client given the old ca.pem.
        return Err(CertError::NoCaKey(files.ca_key));
    }
    if !files.ca_cert.exists() {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        write_file(&files.ca_key, &key.serialize_pem(), true)?;
        write_file(&files.ca_cert, &cert.pem(), false)?;
        ca_created = true;
    }
    let cert_created = ca_created || !files.key.exists() || !usable(&files.cert, names);
    if cert_created {
        issue_relay_cert(dir, names, RELAY_CERT_DAYS)?;
    }
    let ca = load_certs(&files.ca_cert)?;
    let ca_fingerprint = fingerprint(ca[0].as_ref());
    Ok(Ensured {
        ca_created,
        cert_created,
        ca_fingerprint,
    })
}

/// Whether the certificate at `path` carries `names` and is not due.
#[cfg(feature = "relay")]
fn usable(path: &Path, names: &[String]) -> bool {
    let Ok(chain) = load_certs(path) else {
        return false;
    };
    Validity::of(chain[0].as_ref())
        .is_ok_and(|v| v.covers(names) && !v.due(std::time::SystemTime::now()))
}

/// Issues the relay a new certificate for `names`, valid `days`, from the
/// CA in `dir`, replacing its certificate and key files.
pub fn issue_relay_cert(dir: &Path, names: &[String], days: i64) -> Result<(), CertError> {
    let files = RelayFiles::in_dir(dir);
    let ca_key_pem = fs::read_to_string(&files.ca_key).map_err(io_err(&files.ca_key))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| CertError::Pem {
        path: files.ca_key.clone(),
        why: e.to_string(),
    })?;
    let issuer = Issuer::new(ca_params()?, ca_key);
    let mut p = CertificateParams::new(names.to_vec())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Lifeline relay");
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.use_authority_key_identifier_extension = true;
    set_validity(&mut p, days);
    let key = KeyPair::generate()?;
    let cert = p.signed_by(&key, &issuer)?;
    // The key first: a reader that sees the new certificate finds its key.
    write_file(&files.key, &key.serialize_pem(), true)?;
    write_file(&files.cert, &cert.pem(), false)
}

/// SHA-256 of a DER certificate as upper-case hex pairs joined by colons.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex = hex::encode_upper(digest);
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// Every certificate in a PEM file; an error if there is none.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    certs_from_pem(&fs::read(path).map_err(io_err(path))?, path)
}

/// Every certificate in PEM text read from `path`; an error if there is none.
pub fn certs_from_pem(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Pem {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(CertError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

/// The roots in PEM text (a CA built into a program); `source` names it
/// in errors.
pub fn roots_from_pem(pem: &[u8], source: &Path) -> Result<RootCertStore, CertError> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(pem, source)? {
        roots.add(cert).map_err(|e| CertError::Pem {
            path: source.to_owned(),
            why: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// The first private key in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    key_from_pem(&fs::read(path).map_err(io_err(path))?, path)
}

/// The first private key in PEM text read from `path`.
pub fn key_from_pem(pem: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| CertError::Pem {
            path: path.to_owned(),
            why: e.to_string(),
        })?
        .ok_or_else(|| CertError::NoKey(path.to_owned()))
}

/// The roots a client trusts: only the given CA file when there is one
/// (a self-hosted relay), else the system's store (an operator's own
/// certificate from a public CA).
pub fn client_roots(ca: Option<&Path>) -> Result<RootCertStore, CertError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let pem = fs::read(path).map_err(io_err(path))?;
            return roots_from_pem(&pem, path);
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(CertError::NoRoots);
            }
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let first =
            ensure_relay_certs(dir.path(), &["localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(first.ca_created && first.cert_created);
        assert_eq!(first.ca_fingerprint.len(), 32 * 3 - 1);
        let again = ensure_relay_certs(dir.path(), &["localhost".into()]).unwrap();
        assert!(!again.ca_created && !again.cert_created);
        assert_eq!(again.ca_fingerprint, first.ca_fingerprint);

        // A lost server certificate is re-issued by the same CA.
        let files = RelayFiles::in_dir(dir.path());
        fs::remove_file(&files.cert).unwrap();
        let third = ensure_relay_certs(dir.path(), &["localhost".into()]).unwrap();
        assert!(!third.ca_created && third.cert_created);
        assert_eq!(third.ca_fingerprint, first.ca_fingerprint);
        assert_eq!(load_certs(&files.cert).unwrap().len(), 1);
        load_key(&files.key).unwrap();
        assert_eq!(client_roots(Some(&files.ca_cert)).unwrap().len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        ensure_relay_certs(dir.path(), &["localhost".into()]).unwrap();
        let files = RelayFiles::in_dir(dir.path());
        for key in [files.ca_key, files.key] {
            assert_eq!(
                fs::metadata(key).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pem");
        fs::write(&p, "not pem").unwrap();
        assert!(matches!(load_certs(&p), Err(CertError::NoCertificate(_))));
        assert!(matches!(load_key(&p), Err(CertError::NoKey(_))));
        let missing = dir.path().join("missing.pem");
        let e = load_certs(&missing).unwrap_err().to_string();
        assert!(e.contains("missing.pem"), "{e}");
    }
}
