//! The one-time session code: `LLL-LLS-SSS-SSC` (12 digits).
//!
//! - 5 digits `L` are the *locator*: the only part the relay ever sees; it
//!   finds the waiting host by it.
//! - 6 digits `S` are the *secret*: they never leave the host and the viewer
//!   and key the PAKE between them, so the relay can neither read nor
//!   impersonate.
//! - 1 digit `C` is a Damm check digit over the other eleven, so a mistyped
//!   digit or swapped neighbours are caught by the viewer before anything is
//!   sent (and before a one-guess code is burnt on a typo).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Number of locator digits (relay-visible).
pub const LOCATOR_DIGITS: usize = 5;
/// Number of secret digits (host and viewer only).
pub const SECRET_DIGITS: usize = 6;
/// Number of distinct locators.
pub const LOCATOR_SPACE: u32 = 100_000;
const SECRET_SPACE: u32 = 1_000_000;

/// The relay-visible part of a session code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Locator(u32);

impl Locator {
    /// A locator from its numeric value; `None` when it has more than 5 digits.
    pub fn new(value: u32) -> Option<Self> {
        (value < LOCATOR_SPACE).then_some(Self(value))
    }

    /// The numeric value, below [`LOCATOR_SPACE`].
    pub fn value(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Locator {
    type Error = CodeError;
    fn try_from(value: u32) -> Result<Self, CodeError> {
        Self::new(value).ok_or(CodeError::LocatorOutOfRange)
    }
}

impl From<Locator> for u32 {
    fn from(l: Locator) -> u32 {
        l.0
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:05}", self.0)
    }
}

/// A whole session code as the host shows it and the technician types it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionCode {
    locator: Locator,
    secret: u32,
}

impl fmt::Debug for SessionCode {
    // The secret is deliberately left out so a stray `{:?}` cannot log it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCode")
            .field("locator", &self.locator)
            .finish_non_exhaustive()
    }
}

/// Why a typed code was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("a session code has 12 digits; this one has {0}")]
    WrongLength(usize),
    #[error("a session code holds only digits, dashes and spaces; found {0:?}")]
    BadCharacter(char),
    #[error(
        "this code has a typo (its check digit does not match); ask the user to read it out again"
    )]
    CheckDigit,
    #[error("locator out of range")]
    LocatorOutOfRange,
    #[error("secret out of range")]
    SecretOutOfRange,
}

impl SessionCode {
    /// Builds a code from its locator (from the relay) and secret (drawn by
    /// the host); fails if the secret has more than six digits.
    pub fn new(locator: Locator, secret: u32) -> Result<Self, CodeError> {
        if secret >= SECRET_SPACE {
            return Err(CodeError::SecretOutOfRange);
        }
        Ok(Self { locator, secret })
    }

    /// The relay-visible part.
    pub fn locator(&self) -> Locator {
        self.locator
    }

    /// The secret digits as text, the PAKE password.
    pub fn secret_digits(&self) -> String {
        format!("{:06}", self.secret)
    }

    fn eleven_digits(&self) -> String {
        format!("{:05}{:06}", self.locator.0, self.secret)
    }

    /// The 12 digits without separators.
    pub fn digits(&self) -> String {
        let eleven = self.eleven_digits();
        let check = damm(eleven.bytes().map(|b| b - b'0'));
        format!("{eleven}{check}")
    }
}

impl fmt::Display for SessionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.digits();
        write!(f, "{}-{}-{}-{}", &d[0..3], &d[3..6], &d[6..9], &d[9..12])
    }
}

impl FromStr for SessionCode {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, CodeError> {
        let mut digits = Vec::with_capacity(12);
        for c in s.trim().chars() {
            match c {
                '0'..='9' => digits.push(c as u8 - b'0'),
                '-' | ' ' => {}
                other => return Err(CodeError::BadCharacter(other)),
            }
        }
        if digits.len() != 12 {
            return Err(CodeError::WrongLength(digits.len()));
        }
        if damm(digits.iter().copied()) != 0 {
            return Err(CodeError::CheckDigit);
        }
        let number = |ds: &[u8]| ds.iter().fold(0u32, |acc, d| acc * 10 + u32::from(*d));
        let locator = Locator(number(&digits[..LOCATOR_DIGITS]));
        let secret = number(&digits[LOCATOR_DIGITS..LOCATOR_DIGITS + SECRET_DIGITS]);
        Ok(Self { locator, secret })
    }
}

/// Damm's quasigroup: detects every single-digit error and every swap of
/// adjacent digits, which Luhn does not.
const DAMM: [[u8; 10]; 10] = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

fn damm(digits: impl Iterator<Item = u8>) -> u8 {
    digits.fold(0, |interim, d| DAMM[interim as usize][d as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(l: u32, s: u32) -> SessionCode {
        SessionCode::new(Locator::new(l).unwrap(), s).unwrap()
    }

    #[test]
    fn formats_with_dashes_and_round_trips() {
        let c = code(12345, 678901);
        let shown = c.to_string();
        assert_eq!(shown.len(), 15);
        assert!(shown.starts_with("123-456-789-01"));
        let back: SessionCode = shown.parse().unwrap();
        assert_eq!(back, c);
        let spaced: SessionCode = c
            .digits()
            .chars()
            .flat_map(|d| [d, ' '])
            .collect::<String>()
            .parse()
            .unwrap();
        assert_eq!(spaced, c);
        assert_eq!(back.secret_digits(), "678901");
        assert_eq!(back.locator().to_string(), "12345");
    }

    #[test]
    fn leading_zeros_survive() {
        let c = code(7, 42);
        assert!(c.digits().starts_with("00007000042"));
        assert_eq!(c.digits().parse::<SessionCode>().unwrap(), c);
    }

    #[test]
    fn every_single_digit_typo_and_adjacent_swap_is_caught() {
        let c = code(31415, 926535);
        let d: Vec<u8> = c.digits().bytes().collect();
        for i in 0..12 {
            for wrong in b'0'..=b'9' {
                if wrong == d[i] {
                    continue;
                }
                let mut t = d.clone();
                t[i] = wrong;
                let s = String::from_utf8(t).unwrap();
                assert_eq!(s.parse::<SessionCode>(), Err(CodeError::CheckDigit), "{s}");
            }
            if i < 11 && d[i] != d[i + 1] {
                let mut t = d.clone();
                t.swap(i, i + 1);
                let s = String::from_utf8(t).unwrap();
                assert_eq!(s.parse::<SessionCode>(), Err(CodeError::CheckDigit), "{s}");
            }
        }
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!("123".parse::<SessionCode>(), Err(CodeError::WrongLength(3)));
        assert_eq!(
            "123-456-789-01x".parse::<SessionCode>(),
            Err(CodeError::BadCharacter('x'))
        );
        assert_eq!("".parse::<SessionCode>(), Err(CodeError::WrongLength(0)));
        assert!(SessionCode::new(Locator::new(1).unwrap(), 1_000_000).is_err());
        assert!(Locator::new(100_000).is_none());
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = code(11111, 987654);
        assert!(!format!("{c:?}").contains("987654"));
    }
}
