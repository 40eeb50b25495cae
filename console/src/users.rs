//! Console accounts in `DIR/console-users.json`: a name, a role, an
//! Argon2id password hash, and optionally a TOTP secret.
//!
//! `console-user add` makes a random one-time password; the first login
//! with it must choose a new one before anything else, so the password the
//! operator handed over stops working once used.

use std::path::Path;
use std::time::SystemTime;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use lifeline_relay_core::store::{JsonFile, StoreError};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// What a console user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads sessions, timelines, integrity, technicians; downloads recordings.
    Auditor,
    /// An auditor who also adds and revokes technicians, and manages
    /// enrolled devices.
    Admin,
    /// An auditor who also approves (or refuses) device sessions that
    /// need a second person: never the admin who manages the fleet.
    Approver,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Approver => "approver",
        }
    }
}

/// One account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleUser {
    pub name: String,
    pub role: Role,
    /// PHC string (`$argon2id$…`).
    pub password: String,
    /// The password is the one-time one `add` printed: change it first.
    pub must_change: bool,
    /// Base32 TOTP secret, when the user has a second factor.
    pub totp: Option<String>,
    pub created: String,
}

/// Errors of the account store.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("console user names are 1-64 letters, digits, '.', '_', '-' or '@'; {0:?} is not")]
    BadName(String),
    #[error("console user {0:?} already exists; remove it first or pick another name")]
    Exists(String),
    #[error("no console user is named {0:?}; see `lifeline-relay console-user list`")]
    NoSuch(String),
    #[error("a password needs at least {MIN_PASSWORD} characters")]
    ShortPassword,
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// Shortest password a user may choose.
pub const MIN_PASSWORD: usize = 12;

/// What `add` hands the operator, once.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub password: String,
    /// `otpauth://` URI for an authenticator app, when TOTP is on.
    pub totp_uri: Option<String>,
}

/// Why a login failed. The page shows one sentence for all of them, so
/// nobody learns which names exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoSuchUser,
    WrongPassword,
    NeedsCode,
    WrongCode,
    /// The code was right but already used for a login.
    CodeReused,
}

impl Refusal {
    /// The metrics' word (`lifeline_console_logins_total{outcome}`).
    pub fn metric_word(self) -> &'static str {
        match self {
            Refusal::NoSuchUser => "no_such_user",
            Refusal::WrongPassword => "wrong_password",
            Refusal::NeedsCode => "needs_code",
            Refusal::WrongCode => "wrong_code",
            Refusal::CodeReused => "code_reused",
        }
    }

    /// The audit log's words.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoSuchUser => "no such user",
            Refusal::WrongPassword => "wrong password",
            Refusal::NeedsCode => "second factor missing",
            Refusal::WrongCode => "wrong second-factor code",
            Refusal::CodeReused => "second-factor code used before",
        }
    }
}

/// The account file.
#[derive(Debug, Clone)]
pub struct UserStore {
    file: JsonFile,
}

fn now_text() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn hash(password: &str) -> Result<String, UserError> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

fn password_matches(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash no password matches, checked for unknown names so that a
/// wrong name takes as long as a wrong password.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password never used").unwrap_or_default())
}

/// A random password of 20 unambiguous letters and digits (~100 bits).
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn totp(secret_b32: &str) -> Option<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .ok()?;
    // SHA-1, 6 digits, 30 s, one step of clock skew: what every
    // authenticator app does by default.
    Some(totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
    ))
}

/// The URI an authenticator app scans or imports.
fn totp_uri(secret_b32: &str, name: &str) -> String {
    format!(
        "otpauth://totp/Lifeline:{name}?secret={secret_b32}&issuer=Lifeline&algorithm=SHA1&digits=6&period=30"
    )
}

impl UserStore {
    /// The store at `DIR/console-users.json`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            file: JsonFile::in_dir(dir, "console-users.json", "console user"),
        }
    }

    /// Every account; empty when no file exists.
    pub fn list(&self) -> Result<Vec<ConsoleUser>, UserError> {
        Ok(self.file.read()?)
    }

    fn save(&self, all: &[ConsoleUser]) -> Result<(), UserError> {
        Ok(self.file.write(all)?)
    }

    /// Adds an account with a one-time password (and a TOTP secret when
    /// `with_totp`); returns what to hand the user.
    pub fn add(&self, name: &str, role: Role, with_totp: bool) -> Result<Enrolment, UserError> {
        if !lifeline_relay_core::tokens::valid_name(name) {
            return Err(UserError::BadName(name.to_owned()));
        }
        let mut all = self.list()?;
        if all.iter().any(|u| u.name == name) {
            return Err(UserError::Exists(name.to_owned()));
        }
        let password = random_password();
        let secret = with_totp.then(|| {
            let mut bytes = [0u8; 20];
            rand::rng().fill(&mut bytes);
            totp_rs::Secret::Raw(bytes.to_vec())
                .to_encoded()
                .to_string()
        });
        all.push(ConsoleUser {
            name: name.to_owned(),
            role,
            password: hash(&password)?,
            must_change: true,
            totp: secret.clone(),
            created: now_text(),
        });
        self.save(&all)?;
        Ok(Enrolment {
            password,
            totp_uri: secret.map(|s| totp_uri(&s, name)),
        })
    }

    /// Removes an account; its open console sessions end at their next request.
    pub fn remove(&self, name: &str) -> Result<(), UserError> {
        let mut all = self.list()?;
        let before = all.len();
        all.retain(|u| u.name != name);
        if all.len() == before {
            return Err(UserError::NoSuch(name.to_owned()));
        }
        self.save(&all)
    }

    /// Gives an account a new one-time password (a forgotten password).
    pub fn reset(&self, name: &str) -> Result<String, UserError> {
        let mut all = self.list()?;
        let user = all
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| UserError::NoSuch(name.to_owned()))?;
        let password = random_password();
        user.password = hash(&password)?;
        user.must_change = true;
        self.save(&all)?;
        Ok(password)
    }

    /// Sets the password the user chose (ends the one-time one).
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), UserError> {
        if password.chars().count() < MIN_PASSWORD {
            return Err(UserError::ShortPassword);
        }
        let mut all = self.list()?;
        let user = all
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| UserError::NoSuch(name.to_owned()))?;
        user.password = hash(password)?;
        user.must_change = false;
        self.save(&all)
    }

    /// The account, if the name exists.
    pub fn get(&self, name: &str) -> Result<Option<ConsoleUser>, UserError> {
        Ok(self.list()?.into_iter().find(|u| u.name == name))
    }

    /// Checks a login: password, then the TOTP code when the account has
    /// one (`unix_time` passed in, so tests pick the moment). Returns the
    /// account and the code's time step (the caller refuses a step used
    /// before, so an overheard code does not log in twice).
    pub fn check(
        &self,
        name: &str,
        password: &str,
        code: &str,
        unix_time: u64,
    ) -> Result<Result<(ConsoleUser, Option<u64>), Refusal>, UserError> {
        let Some(user) = self.get(name)? else {
            let _ = password_matches(decoy(), password);
            return Ok(Err(Refusal::NoSuchUser));
        };
        if !password_matches(&user.password, password) {
            return Ok(Err(Refusal::WrongPassword));
        }
        if let Some(secret) = &user.totp {
            let code = code.trim();
            if code.is_empty() {
                return Ok(Err(Refusal::NeedsCode));
            }
            return Ok(match totp_step(secret, code, unix_time) {
                Some(step) => Ok((user, Some(step))),
                None => Err(Refusal::WrongCode),
            });
        }
        Ok(Ok((user, None)))
    }
}

/// The 30-second step whose code `code` is, allowing one step of clock
/// skew either way.
fn totp_step(secret_b32: &str, code: &str, unix_time: u64) -> Option<u64> {
    let t = totp(secret_b32)?;
    let now = unix_time / 30;
    [now.saturating_sub(1), now, now + 1]
        .into_iter()
        .find(|step| super::auth::same(&t.generate(step * 30), code))
}

/// Whether `password` is the account's (for changing it).
pub fn password_ok(user: &ConsoleUser, password: &str) -> bool {
    password_matches(&user.password, password)
}

/// The code an authenticator shows at `unix_time` (tests log in with it).
pub fn totp_code(secret_b32: &str, unix_time: u64) -> Option<String> {
    Some(totp(secret_b32)?.generate(unix_time))
}

/// The secret inside an `otpauth://` URI `add` printed.
pub fn totp_secret_of(uri: &str) -> Option<&str> {
    uri.split_once("secret=")?.1.split('&').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_time_password_logs_in_once_changed_it_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = UserStore::in_dir(dir.path());
        let e = store.add("ann", Role::Admin, false).unwrap();
        assert!(e.totp_uri.is_none());
        let (u, step) = store.check("ann", &e.password, "", 0).unwrap().unwrap();
        assert!(u.must_change);
        assert_eq!(step, None);
        assert!(matches!(
            store.set_password("ann", "short"),
            Err(UserError::ShortPassword)
        ));
        store.set_password("ann", "a long new password").unwrap();
        assert_eq!(
            store.check("ann", &e.password, "", 0).unwrap().unwrap_err(),
            Refusal::WrongPassword
        );
        let (u, _) = store
            .check("ann", "a long new password", "", 0)
            .unwrap()
            .unwrap();
        assert!(!u.must_change);
        assert_eq!(
            store.check("bob", "x", "", 0).unwrap().unwrap_err(),
            Refusal::NoSuchUser
        );
        assert!(matches!(
            store.add("ann", Role::Auditor, false),
            Err(UserError::Exists(_))
        ));
        assert!(matches!(
            store.add("<b>", Role::Auditor, false),
            Err(UserError::BadName(_))
        ));
        let text = std::fs::read_to_string(dir.path().join("console-users.json")).unwrap();
        assert!(text.contains("$argon2id$"), "{text}");
        assert!(!text.contains("a long new password"));
    }

    #[test]
    fn a_second_factor_needs_the_current_code() {
        let dir = tempfile::tempdir().unwrap();
        let store = UserStore::in_dir(dir.path());
        let e = store.add("eve", Role::Auditor, true).unwrap();
        let uri = e.totp_uri.unwrap();
        let secret = totp_secret_of(&uri).unwrap();
        let now = 1_800_000_000;
        let code = totp_code(secret, now).unwrap();
        let check = |code: &str, t| store.check("eve", &e.password, code, t).unwrap();
        assert_eq!(check("", now).unwrap_err(), Refusal::NeedsCode);
        assert_eq!(check("000000x", now).unwrap_err(), Refusal::WrongCode);
        assert_eq!(check(&code, now).unwrap().1, Some(now / 30));
        // One step of clock skew is allowed, ten minutes is not.
        assert_eq!(check(&code, now + 30).unwrap().1, Some(now / 30));
        assert_eq!(check(&code, now + 600).unwrap_err(), Refusal::WrongCode);
    }

    #[test]
    fn reset_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = UserStore::in_dir(dir.path());
        store.add("ann", Role::Auditor, false).unwrap();
        store.set_password("ann", "a long new password").unwrap();
        let p = store.reset("ann").unwrap();
        assert!(
            store
                .check("ann", &p, "", 0)
                .unwrap()
                .unwrap()
                .0
                .must_change
        );
        store.remove("ann").unwrap();
        assert!(matches!(store.remove("ann"), Err(UserError::NoSuch(_))));
        assert!(matches!(store.reset("ann"), Err(UserError::NoSuch(_))));
    }
}
