//! A server certificate that can be replaced while the relay runs: every
//! TLS configuration the relay serves (QUIC on the main and devices ports,
//! the console's and the page's HTTPS) resolves through one [`LiveCert`],
//! so a renewed or rotated certificate is presented from the next
//! handshake on, and connections already open (sessions) keep theirs.

use std::sync::{Arc, RwLock};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::tls::TlsError;

/// The certificate chain and key presented now; cloning shares it.
#[derive(Debug, Clone)]
pub struct LiveCert(Arc<RwLock<Arc<CertifiedKey>>>);

impl LiveCert {
    /// Starts with `chain` and `key`; refused if the key is not the
    /// certificate's.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        Ok(Self(Arc::new(RwLock::new(Arc::new(certified(
            chain, key,
        )?)))))
    }

    /// Presents `chain` and `key` from the next handshake on. A key that
    /// is not the certificate's is refused and the current pair kept.
    pub fn replace(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<(), TlsError> {
        let next = Arc::new(certified(chain, key)?);
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }

    /// The pair presented now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The end-entity certificate presented now (DER).
    pub fn leaf(&self) -> Option<CertificateDer<'static>> {
        self.current().cert.first().cloned()
    }

    /// This certificate as a rustls resolver, for a TLS configuration.
    pub fn resolver(&self) -> Arc<dyn rustls::server::ResolvesServerCert> {
        Arc::new(self.clone())
    }
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, TlsError> {
    let pair = CertifiedKey::from_der(chain, key, &crate::tls::provider())?;
    pair.keys_match()?;
    Ok(pair)
}

impl rustls::server::ResolvesServerCert for LiveCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
    }

    #[test]
    fn a_replaced_certificate_is_presented_and_a_mismatched_key_is_refused() {
        let (a_chain, a_key) = pair("a.example");
        let (b_chain, b_key) = pair("b.example");
        let live = LiveCert::new(a_chain.clone(), a_key).unwrap();
        let shared = live.clone();
        assert_eq!(shared.leaf(), a_chain.first().cloned());
        let (_, c_key) = pair("c.example");
        assert!(live.replace(b_chain.clone(), c_key).is_err());
        assert_eq!(shared.leaf(), a_chain.first().cloned(), "the old pair kept");
        live.replace(b_chain.clone(), b_key).unwrap();
        assert_eq!(shared.leaf(), b_chain.first().cloned());
    }
}
