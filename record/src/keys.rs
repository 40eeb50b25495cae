//! Auditor key pairs: X25519, written as one line of text each, with a
//! prefix that says which half it is (a secret pasted where a public key
//! belongs is refused, not used).

use rand::RngCore as _;
use x25519_dalek::{PublicKey, StaticSecret};

const PUBLIC_PREFIX: &str = "lifeline-auditor-public-";
const SECRET_PREFIX: &str = "LIFELINE-AUDITOR-SECRET-";

/// A key file or text that is not what it should be.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error(
        "this is an auditor's secret key, not a public key: give the public key (the line that starts with {PUBLIC_PREFIX})"
    )]
    SecretNotPublic,
    #[error(
        "this is an auditor's public key, not a secret key: give the secret key file made by `auditor keygen`"
    )]
    PublicNotSecret,
    #[error("no auditor key found: expected one line starting with {0}")]
    Missing(&'static str),
    #[error("the auditor key is damaged: expected 64 hex digits after {0}")]
    Damaged(&'static str),
}

/// An auditor's public key: recordings are sealed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuditorPublic(pub [u8; 32]);

/// An auditor's secret key: opens recordings sealed to its public key.
#[derive(Clone)]
pub struct AuditorSecret([u8; 32]);

impl std::fmt::Debug for AuditorSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditorSecret(…)")
    }
}

/// The key line of `text`: the first that is neither empty nor a comment.
fn key_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
}

fn parse(
    text: &str,
    prefix: &'static str,
    other: &str,
    wrong: KeyError,
) -> Result<[u8; 32], KeyError> {
    let line = key_line(text).ok_or(KeyError::Missing(prefix))?;
    if line.starts_with(other) {
        return Err(wrong);
    }
    let digits = line.strip_prefix(prefix).ok_or(KeyError::Missing(prefix))?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(digits, &mut key).map_err(|_| KeyError::Damaged(prefix))?;
    Ok(key)
}

impl AuditorPublic {
    /// Reads a public key file's text.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        parse(
            text,
            PUBLIC_PREFIX,
            SECRET_PREFIX,
            KeyError::SecretNotPublic,
        )
        .map(Self)
    }

    /// The one-line form.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", hex::encode(self.0))
    }

    /// A short fingerprint, for lists and the audit log.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        hex::encode(&sha2::Sha256::digest(self.0)[..8])
    }
}

impl AuditorSecret {
    /// A new random key pair.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Reads a secret key file's text.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        parse(
            text,
            SECRET_PREFIX,
            PUBLIC_PREFIX,
            KeyError::PublicNotSecret,
        )
        .map(Self)
    }

    /// The secret key file's text: a comment with its public key, then
    /// the key line.
    pub fn to_text(&self) -> String {
        format!(
            "# Lifeline auditor secret key: opens session recordings. Keep it offline.\n# public key: {}\n{SECRET_PREFIX}{}\n",
            self.public().to_text(),
            hex::encode(self.0)
        )
    }

    /// Its public half.
    pub fn public(&self) -> AuditorPublic {
        AuditorPublic(PublicKey::from(&StaticSecret::from(self.0)).to_bytes())
    }

    /// X25519 with another party's public key.
    pub(crate) fn agree(&self, other: &[u8; 32]) -> [u8; 32] {
        StaticSecret::from(self.0)
            .diffie_hellman(&PublicKey::from(*other))
            .to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_their_text_and_halves_are_not_mixed_up() {
        let secret = AuditorSecret::generate();
        let public = secret.public();
        let back = AuditorSecret::from_text(&secret.to_text()).unwrap();
        assert_eq!(back.public(), public);
        assert_eq!(AuditorPublic::from_text(&public.to_text()).unwrap(), public);
        assert_eq!(
            AuditorPublic::from_text(&secret.to_text()),
            Err(KeyError::SecretNotPublic)
        );
        assert_eq!(
            AuditorSecret::from_text(&public.to_text()).map(|s| s.public()),
            Err(KeyError::PublicNotSecret)
        );
        assert_eq!(
            AuditorPublic::from_text("lifeline-auditor-public-zz"),
            Err(KeyError::Damaged(PUBLIC_PREFIX))
        );
        assert_eq!(
            AuditorPublic::from_text("\n# only a comment\n"),
            Err(KeyError::Missing(PUBLIC_PREFIX))
        );
    }
}
