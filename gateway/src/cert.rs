//! The certificate a browser's WebTransport gets. With the operator's own
//! (`--cert/--key`, from a CA browsers trust) it is that one; with the
//! relay's own CA, which browsers do not trust for QUIC, it is a
//! short-lived self-signed ECDSA certificate the page names by its hash
//! (`serverCertificateHashes`), made afresh before it ages out.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use lifeline_certs::web::{HashedCert, webtransport_cert};
use lifeline_common::tls::LiveCert;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// A certificate by hash is replaced this long after it was made (it is
/// valid for ten days; a page that fetched the old hash just before a
/// replacement fetches again when its connection is refused).
pub const ROTATE_EVERY: Duration = Duration::from_secs(5 * 24 * 3600);

/// The WebTransport certificate in use.
#[derive(Debug)]
pub enum WebCert {
    /// The operator's certificate (as reloaded when its files change):
    /// browsers check it as any other.
    Operator(LiveCert),
    /// The relay's own: by hash, replaced every [`ROTATE_EVERY`].
    Hashed(RwLock<Current>),
}

/// The hashed certificate in use, its hash, and when it was made.
#[derive(Debug)]
pub struct Current {
    key: Arc<CertifiedKey>,
    sha256: [u8; 32],
    made: Instant,
    names: Vec<String>,
}

fn certified(c: HashedCert) -> Result<(Arc<CertifiedKey>, [u8; 32]), rustls::Error> {
    let provider = rustls::crypto::ring::default_provider();
    let key = CertifiedKey::from_der(vec![c.cert], c.key, &provider)?;
    Ok((Arc::new(key), c.sha256))
}

/// Why no certificate could be made for browsers.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error(transparent)]
    Make(#[from] lifeline_certs::CertError),
    #[error(transparent)]
    Tls(#[from] rustls::Error),
}

impl WebCert {
    /// The operator's certificate chain and key, as `cert` holds them at
    /// each handshake.
    pub fn operator(cert: &LiveCert) -> Self {
        Self::Operator(cert.clone())
    }

    /// A certificate by hash for `names`, made now.
    pub fn hashed(names: Vec<String>) -> Result<Self, CertError> {
        let (key, sha256) = certified(webtransport_cert(&names)?)?;
        Ok(Self::Hashed(RwLock::new(Current {
            key,
            sha256,
            made: Instant::now(),
            names,
        })))
    }

    /// The hashes the page gives the browser (base64 SHA-256; none for
    /// the operator's certificate), replacing the certificate first when
    /// it is due.
    pub fn hashes(&self) -> Vec<String> {
        let Self::Hashed(current) = self else {
            return Vec::new();
        };
        self.rotate_if_due();
        let c = current.read().unwrap_or_else(|p| p.into_inner());
        vec![base64::engine::general_purpose::STANDARD.encode(c.sha256)]
    }

    /// Makes a new certificate by hash when the one in use is
    /// [`ROTATE_EVERY`] old; a failure keeps the old one (logged).
    pub fn rotate_if_due(&self) {
        let Self::Hashed(current) = self else {
            return;
        };
        let names = {
            let c = current.read().unwrap_or_else(|p| p.into_inner());
            if c.made.elapsed() < ROTATE_EVERY {
                return;
            }
            c.names.clone()
        };
        match webtransport_cert(&names)
            .map_err(CertError::from)
            .and_then(|c| Ok(certified(c)?))
        {
            Ok((key, sha256)) => {
                let mut c = current.write().unwrap_or_else(|p| p.into_inner());
                *c = Current {
                    key,
                    sha256,
                    made: Instant::now(),
                    names,
                };
            }
            Err(e) => tracing::error!(error = %e, "could not make a new WebTransport certificate"),
        }
    }
}

impl ResolvesServerCert for WebCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self {
            Self::Operator(cert) => Some(cert.current()),
            Self::Hashed(current) => Some(
                current
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .key
                    .clone(),
            ),
        }
    }
}
