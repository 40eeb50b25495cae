//! A technician signing in with the organisation's identity provider
//! (`lifeline-viewer login`): the device authorization flow, run by the
//! relay on the viewer's behalf. The viewer asks
//! ([`crate::control::ViewerRequest::Login`]); the relay answers with
//! where to go and the code to enter ([`LoginCode`]), then, once the
//! provider says who signed in, with a short-lived technician credential
//! ([`Credential`]) or why not ([`LoginRefusal`]).

use serde::{Deserialize, Serialize};

/// Where the technician signs in, and the code they enter there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginCode {
    /// The provider's page for entering the code.
    pub uri: String,
    /// The same page with the code filled in, when the provider gives one.
    pub uri_complete: Option<String>,
    /// The code to enter there (the provider's, not a session code).
    pub user_code: String,
    /// How long the code can be entered.
    pub expires_in_s: u32,
}

/// What a signed-in technician joins with until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The secret (`llc_…`), shown to this viewer only; the relay keeps
    /// its hash.
    pub token: String,
    /// The technician's name as sessions and the audit log show it (the
    /// provider's e-mail or user name).
    pub name: String,
    /// Seconds until it stops working.
    pub expires_in_s: u32,
}

/// Who the identity provider says signed in: its issuer and its subject
/// identifier (stable, unlike a name or an e-mail address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
}

/// Why a sign-in gave no credential; one clear line each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginRefusal {
    /// The relay has no identity provider (`serve --oidc-issuer`).
    Off,
    /// The provider's account is not in the technicians' group.
    NotTechnician,
    /// The person at the provider's page refused.
    Denied,
    /// Nobody entered the code in time.
    TimedOut,
    /// The relay could not reach its provider, or it answered nonsense.
    ProviderDown,
    /// What the provider sent failed verification (signature, issuer,
    /// audience, expiry): nothing from it was trusted.
    Invalid,
    /// The relay could not keep the credential (its store or audit log).
    Unavailable,
    /// The name the provider gave belongs to another technician here (a
    /// token's, or another person's credential).
    NameTaken,
}

impl LoginRefusal {
    /// Every refusal, for what lists or counts them all.
    pub const ALL: [Self; 8] = [
        LoginRefusal::Off,
        LoginRefusal::NotTechnician,
        LoginRefusal::Denied,
        LoginRefusal::TimedOut,
        LoginRefusal::ProviderDown,
        LoginRefusal::Invalid,
        LoginRefusal::Unavailable,
        LoginRefusal::NameTaken,
    ];

    /// Short machine-friendly words used in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginRefusal::Off => "no identity provider",
            LoginRefusal::NotTechnician => "not a technician",
            LoginRefusal::Denied => "denied",
            LoginRefusal::TimedOut => "timed out",
            LoginRefusal::ProviderDown => "provider unreachable",
            LoginRefusal::Invalid => "invalid token",
            LoginRefusal::Unavailable => "relay unavailable",
            LoginRefusal::NameTaken => "name taken",
        }
    }

    /// The sentence for the technician.
    pub fn message(self) -> &'static str {
        match self {
            LoginRefusal::Off => {
                "this relay does not sign technicians in with an identity provider; use the token its operator gave you (--token or --token-file)"
            }
            LoginRefusal::NotTechnician => {
                "you signed in, but your account is not in the technicians' group at the identity provider; ask its administrator"
            }
            LoginRefusal::Denied => "the sign-in was refused at the identity provider's page",
            LoginRefusal::TimedOut => {
                "nobody entered the code in time; run `lifeline-viewer login` again"
            }
            LoginRefusal::ProviderDown => {
                "the relay cannot reach its identity provider now; try again later, or use a token from the relay's operator"
            }
            LoginRefusal::Invalid => {
                "the identity provider's answer failed the relay's checks and was not trusted; the relay's operator can see why in its log"
            }
            LoginRefusal::Unavailable => {
                "the relay could not keep your credential (its store or audit log failed); try again later"
            }
            LoginRefusal::NameTaken => {
                "your name at the identity provider belongs to another technician at this relay; ask the relay's operator"
            }
        }
    }
}

impl std::fmt::Display for LoginRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}
