//! Technician accounts: a name and the SHA-256 of a random 128-bit token.
//! A technician who signed in with the identity provider
//! (`lifeline-viewer login`) gets a credential of the same kind that also
//! says who the provider vouched for and when it stops working
//! ([`TechnicianStore::add_credential`]).
//!
//! The token itself is shown once, by `technician add`, and never stored:
//! a stolen data directory does not yield usable tokens. Tokens are random,
//! not passwords, so a fast hash is enough. The relay re-reads the file when
//! it changes, so `technician revoke` takes effect on the next join.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use lifeline_proto::login::Identity;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::store::{JsonFile, StoreError};
use sha2::{Digest, Sha256};

/// Prefix that makes a Lifeline token recognisable in a config file or a leak scan.
pub const TOKEN_PREFIX: &str = "llt_";
/// … and a credential from `lifeline-viewer login`.
pub const CREDENTIAL_PREFIX: &str = "llc_";
/// Expired credentials are dropped from the file this long after their
/// end (the audit log keeps their issue).
pub const KEEP_EXPIRED: Duration = Duration::from_secs(7 * 24 * 3600);

/// Errors of the technician store.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("technician names are 1-64 letters, digits, '.', '_', '-' or '@'; {0:?} is not")]
    BadName(String),
    #[error("technician {0:?} already exists; revoke it first or pick another name")]
    Exists(String),
    #[error("no technician is named {0:?}; see `lifeline-relay technician list`")]
    NoSuch(String),
    /// A sign-in's name is held by a token or by someone else's credential.
    #[error("the name {0:?} belongs to another technician at this relay")]
    NameTaken(String),
}

/// One technician as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Technician {
    pub name: String,
    pub token_sha256: String,
    pub created: String,
    pub revoked: Option<String>,
    /// When a credential stops working (RFC 3339); none for a token from
    /// `technician add`, which works until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Who the identity provider said signed in, for a credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
}

impl Technician {
    /// Whether it has expired by `now` (a time it cannot read counts as
    /// expired: the store is the relay's own, so that is a bug or an edit).
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires
            .as_deref()
            .is_some_and(|e| humantime::parse_rfc3339(e).map_or(true, |end| end <= now))
    }
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Valid(String),
    Revoked(String),
    /// A credential past its end.
    Expired(String),
    Unknown,
}

/// SHA-256 of a token, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// A new technician named `name` and its token (to show once): what the
/// data directory's store and a cluster's database both keep.
pub fn new_technician(name: &str) -> Result<(Technician, String), TokenError> {
    if !valid_name(name) {
        return Err(TokenError::BadName(name.to_owned()));
    }
    let mut secret = [0u8; 16];
    rand::rng().fill(&mut secret);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
    let technician = Technician {
        name: name.to_owned(),
        token_sha256: token_hash(&token),
        created: now_text(),
        revoked: None,
        expires: None,
        identity: None,
    };
    Ok((technician, token))
}

/// Now, as the technician records write it.
pub fn now_text() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Names of technicians and auditors: short, plain, safe in a file name.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// The technicians file in a relay's data directory.
#[derive(Debug, Clone)]
pub struct TechnicianStore {
    file: JsonFile,
}

impl TechnicianStore {
    /// The store at `DIR/technicians.json`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            file: JsonFile::in_dir(dir, "technicians.json", "technician"),
        }
    }

    /// Every technician, revoked ones included; empty when no file exists.
    pub fn list(&self) -> Result<Vec<Technician>, TokenError> {
        Ok(self.file.read()?)
    }

    /// Writes the whole list; callers hold [`JsonFile::lock_for_change`]
    /// from their read on (sign-ins, `technician add` and `revoke`, the
    /// console's: each reads, changes and writes the whole file).
    fn save(&self, all: &[Technician]) -> Result<(), TokenError> {
        Ok(self.file.write(all)?)
    }

    /// Adds a technician and returns the new token (shown once).
    pub fn add(&self, name: &str) -> Result<String, TokenError> {
        let (technician, token) = new_technician(name)?;
        let _one = self.file.lock_for_change()?;
        let mut all = self.list()?;
        let now = SystemTime::now();
        if all
            .iter()
            .any(|t| t.name == name && t.revoked.is_none() && !t.expired(now))
        {
            return Err(TokenError::Exists(name.to_owned()));
        }
        all.push(technician);
        self.save(&all)?;
        Ok(token)
    }

    /// Issues a credential for `identity`, shown as `name`, working until
    /// `expires`; returns its secret (shown once). Credentials expired
    /// over [`KEEP_EXPIRED`] ago are dropped from the file meanwhile.
    pub fn add_credential(
        &self,
        name: &str,
        identity: Identity,
        expires: SystemTime,
    ) -> Result<String, TokenError> {
        if !valid_name(name) {
            return Err(TokenError::BadName(name.to_owned()));
        }
        let mut secret = [0u8; 16];
        rand::rng().fill(&mut secret);
        let token = format!("{CREDENTIAL_PREFIX}{}", hex::encode(secret));
        let now = SystemTime::now();
        let _one = self.file.lock_for_change()?;
        let mut all = self.list()?;
        name_free(&all, name, &identity, now)?;
        let cutoff = now
            .checked_sub(KEEP_EXPIRED)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        all.retain(|t| !t.expired(cutoff));
        all.push(Technician {
            name: name.to_owned(),
            token_sha256: token_hash(&token),
            created: now_text(),
            revoked: None,
            expires: Some(humantime::format_rfc3339_seconds(expires).to_string()),
            identity: Some(identity),
        });
        self.save(&all)?;
        Ok(token)
    }

    /// Whether `name` may be `identity`'s: no live token or someone
    /// else's live credential holds it ([`TokenError::NameTaken`]).
    pub fn name_free_for(&self, name: &str, identity: &Identity) -> Result<(), TokenError> {
        name_free(&self.list()?, name, identity, SystemTime::now())
    }

    /// Revokes every live token of `name`.
    pub fn revoke(&self, name: &str) -> Result<(), TokenError> {
        let _one = self.file.lock_for_change()?;
        let mut all = self.list()?;
        let mut hit = false;
        for t in all
            .iter_mut()
            .filter(|t| t.name == name && t.revoked.is_none())
        {
            t.revoked = Some(now_text());
            hit = true;
        }
        if !hit {
            return Err(TokenError::NoSuch(name.to_owned()));
        }
        self.save(&all)
    }

    /// The file's identity, to notice changes cheaply.
    fn stamp(&self) -> Option<(SystemTime, u64, u64)> {
        let m = fs::metadata(self.file.path()).ok()?;
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let ino = 0;
        Some((m.modified().ok()?, m.len(), ino))
    }
}

/// A name shows who joined: it must not be someone else's.
fn name_free(
    all: &[Technician],
    name: &str,
    identity: &Identity,
    now: SystemTime,
) -> Result<(), TokenError> {
    let someone_else = all.iter().any(|t| {
        t.name == name
            && t.revoked.is_none()
            && !t.expired(now)
            && t.identity.as_ref() != Some(identity)
    });
    if someone_else {
        return Err(TokenError::NameTaken(name.to_owned()));
    }
    Ok(())
}

/// The records by their tokens' hashes.
fn index(all: Vec<Technician>) -> HashMap<String, Vec<Technician>> {
    let mut by_hash: HashMap<String, Vec<Technician>> = HashMap::with_capacity(all.len());
    for t in all {
        by_hash.entry(t.token_sha256.clone()).or_default().push(t);
    }
    by_hash
}

/// The relay's view of the store, re-read whenever the file changes.
#[derive(Debug)]
pub struct TokenCache {
    store: TechnicianStore,
    stamp: Option<(SystemTime, u64, u64)>,
    /// Every record by its token's hash (a hash a token and a revoked
    /// one may share: a name revoked then added anew).
    by_hash: HashMap<String, Vec<Technician>>,
}

impl TokenCache {
    /// A cache over `store`, read now.
    pub fn new(store: TechnicianStore) -> Result<Self, TokenError> {
        let stamp = store.stamp();
        let by_hash = index(store.list()?);
        Ok(Self {
            store,
            stamp,
            by_hash,
        })
    }

    /// Resolves a presented token, re-reading the file if it changed. If the
    /// file became unreadable the last good copy keeps serving and the error
    /// is returned for logging.
    pub fn lookup(&mut self, token: &str) -> (Lookup, Option<TokenError>) {
        let mut err = None;
        let stamp = self.store.stamp();
        if stamp != self.stamp {
            match self.store.list() {
                Ok(all) => {
                    self.by_hash = index(all);
                    self.stamp = stamp;
                }
                Err(e) => err = Some(e),
            }
        }
        let h = token_hash(token);
        let now = SystemTime::now();
        let mut result = Lookup::Unknown;
        for t in self.by_hash.get(&h).into_iter().flatten() {
            result = match t.revoked {
                Some(_) => Lookup::Revoked(t.name.clone()),
                None if t.expired(now) => Lookup::Expired(t.name.clone()),
                None => return (Lookup::Valid(t.name.clone()), err),
            };
        }
        (result, err)
    }

    /// Who the identity provider said a credential is for (as last read;
    /// call after [`TokenCache::lookup`]); none for a plain token.
    pub fn identity(&self, token: &str) -> Option<Identity> {
        let h = token_hash(token);
        self.by_hash
            .get(&h)
            .and_then(|all| all.iter().find_map(|t| t.identity.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_lookup_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = TechnicianStore::in_dir(dir.path());
        let mut cache = TokenCache::new(store.clone()).unwrap();
        let token = store.add("alice").unwrap();
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 32);
        assert!(
            !fs::read_to_string(dir.path().join("technicians.json"))
                .unwrap()
                .contains(&token)
        );
        assert_eq!(cache.lookup(&token).0, Lookup::Valid("alice".into()));
        assert_eq!(cache.lookup("llt_nope").0, Lookup::Unknown);
        assert!(matches!(store.add("alice"), Err(TokenError::Exists(_))));
        store.revoke("alice").unwrap();
        assert_eq!(cache.lookup(&token).0, Lookup::Revoked("alice".into()));
        assert!(matches!(store.revoke("alice"), Err(TokenError::NoSuch(_))));
        // A new token for the same name after revocation works; the old stays revoked.
        let again = store.add("alice").unwrap();
        assert_eq!(cache.lookup(&again).0, Lookup::Valid("alice".into()));
        assert_eq!(cache.lookup(&token).0, Lookup::Revoked("alice".into()));
    }

    #[test]
    fn credentials_expire_and_name_their_identity() {
        let dir = tempfile::tempdir().unwrap();
        let store = TechnicianStore::in_dir(dir.path());
        let mut cache = TokenCache::new(store.clone()).unwrap();
        let who = Identity {
            issuer: "https://idp".into(),
            subject: "u1".into(),
        };
        let now = SystemTime::now();
        let live = store
            .add_credential(
                "bob@example.com",
                who.clone(),
                now + Duration::from_secs(3600),
            )
            .unwrap();
        assert!(live.starts_with(CREDENTIAL_PREFIX));
        let old = store
            .add_credential("bob@example.com", who.clone(), now - Duration::from_secs(1))
            .unwrap();
        assert_eq!(
            cache.lookup(&live).0,
            Lookup::Valid("bob@example.com".into())
        );
        assert_eq!(cache.identity(&live), Some(who.clone()));
        assert_eq!(
            cache.lookup(&old).0,
            Lookup::Expired("bob@example.com".into())
        );
        // Nobody else signs in under that name, nor a token's.
        let other = Identity {
            issuer: "https://idp".into(),
            subject: "u2".into(),
        };
        assert!(matches!(
            store.add_credential("bob@example.com", other, now + Duration::from_secs(60)),
            Err(TokenError::NameTaken(_))
        ));
        store.add("carol").unwrap();
        assert!(matches!(
            store.add_credential("carol", who.clone(), now + Duration::from_secs(60)),
            Err(TokenError::NameTaken(_))
        ));
        assert_eq!(cache.identity("llt_nope"), None);
        store.revoke("bob@example.com").unwrap();
        assert_eq!(
            cache.lookup(&live).0,
            Lookup::Revoked("bob@example.com".into())
        );
        // Long-expired credentials leave the file when the next is issued.
        let ancient = now - KEEP_EXPIRED - Duration::from_secs(60);
        let gone = store.add_credential("c", who.clone(), ancient).unwrap();
        store.add_credential("d", who, now).unwrap();
        assert_eq!(cache.lookup(&gone).0, Lookup::Unknown);
        assert!(matches!(
            store.add_credential(
                "a b",
                Identity {
                    issuer: "i".into(),
                    subject: "s".into()
                },
                now
            ),
            Err(TokenError::BadName(_))
        ));
    }

    #[test]
    fn bad_names_and_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = TechnicianStore::in_dir(dir.path());
        for bad in ["", "a b", "x\n", &"a".repeat(65)] {
            assert!(
                matches!(store.add(bad), Err(TokenError::BadName(_))),
                "{bad:?}"
            );
        }
        fs::write(dir.path().join("technicians.json"), "{oops").unwrap();
        let e = store.list().unwrap_err().to_string();
        assert!(e.contains("not a valid technician file"), "{e}");
    }
}
