//! Enrolled devices, as the relay knows them: what a machine says to
//! enroll (a one-use ticket's secret, a name, its handshake key), why the
//! relay refuses, a group's policy, and the device list a technician asks
//! for. The relay keeps the list; it never holds a key that could open a
//! session to a device (that is the organisation's, see `lifeline-trust`).

use serde::{Deserialize, Serialize};

/// Longest device or group name, in characters.
pub const MAX_DEVICE_NAME: usize = 64;
/// Most devices one list answer carries: one entry takes at most about
/// 200 bytes, and the answer must fit one control frame (64 KiB).
pub const MAX_LISTED: usize = 300;

/// How a group's devices take a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DevicePolicy {
    /// The user at the device must accept, as with a code.
    Attended,
    /// No click needed; the user, if present, sees who and why and can end
    /// it at once.
    Unattended,
}

impl DevicePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DevicePolicy::Attended => "attended",
            DevicePolicy::Unattended => "unattended",
        }
    }

    /// The policy named `word` (`attended`, `unattended`).
    pub fn from_word(word: &str) -> Option<Self> {
        [DevicePolicy::Attended, DevicePolicy::Unattended]
            .into_iter()
            .find(|p| p.as_str() == word)
    }
}

/// Host → relay, instead of `Register`: enroll this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The secret of the ticket an admin made (`lifeline-relay device
    /// ticket`); the relay stores only its hash, and takes it once.
    pub ticket: [u8; 16],
    /// The name technicians will see.
    pub name: String,
    /// The device's handshake key (X25519), which technicians pin.
    pub key: [u8; 32],
}

/// Why the relay did not enroll a machine; one clear line each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnrollRefusal {
    UnknownTicket,
    UsedTicket,
    ExpiredTicket,
    NameTaken,
    BadName,
    KeyTaken,
}

impl EnrollRefusal {
    /// The sentence for whoever enrolls.
    pub fn message(self) -> &'static str {
        match self {
            EnrollRefusal::UnknownTicket => {
                "the relay does not know this enrollment ticket: check it was copied whole, and for this relay"
            }
            EnrollRefusal::UsedTicket => {
                "this enrollment ticket was already used: ask your admin for a new one"
            }
            EnrollRefusal::ExpiredTicket => {
                "this enrollment ticket has expired: ask your admin for a new one"
            }
            EnrollRefusal::NameTaken => {
                "another device of this relay has that name: pick another with --name"
            }
            EnrollRefusal::BadName => "a device name is 1 to 64 letters, digits, '.', '_' or '-'",
            EnrollRefusal::KeyTaken => "this device is already enrolled",
        }
    }
}

impl std::fmt::Display for EnrollRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// Longest reason a technician gives for a device session, in characters.
pub const MAX_REASON: usize = 256;

/// Whether `reason` may be given for a device session: some text, at most
/// [`MAX_REASON`] characters, no control characters.
pub fn valid_reason(reason: &str) -> bool {
    !reason.trim().is_empty()
        && reason.chars().count() <= MAX_REASON
        && !reason.chars().any(char::is_control)
}

/// Why the relay did not put a technician through to a device; one clear
/// line each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceRefusal {
    /// No enrolled device has that name.
    UnknownDevice,
    /// The device is not connected to the relay now.
    Offline,
    /// An admin disabled the device.
    Disabled,
    /// Unattended sessions need a reason (`--reason`).
    ReasonRequired,
    /// The reason is too long or has control characters.
    BadReason,
    /// The device did not take the call in time (busy, or gone).
    NoAnswer,
    /// The group needs a second person's approval, and it was refused or
    /// did not come in time.
    NotApproved,
}

impl DeviceRefusal {
    /// Short machine-friendly words used in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceRefusal::UnknownDevice => "unknown device",
            DeviceRefusal::Offline => "device offline",
            DeviceRefusal::Disabled => "device disabled",
            DeviceRefusal::ReasonRequired => "reason required",
            DeviceRefusal::BadReason => "bad reason",
            DeviceRefusal::NoAnswer => "device did not answer",
            DeviceRefusal::NotApproved => "not approved",
        }
    }

    /// The sentence for the technician.
    pub fn message(self) -> &'static str {
        match self {
            DeviceRefusal::UnknownDevice => {
                "the relay has no device of that name: see `lifeline-viewer devices`"
            }
            DeviceRefusal::Offline => {
                "that device is not online now (its service is stopped, or the machine is off)"
            }
            DeviceRefusal::Disabled => "that device was disabled by an admin",
            DeviceRefusal::ReasonRequired => {
                "this device's group needs a reason for every session: give --reason (a ticket number or a few words)"
            }
            DeviceRefusal::BadReason => "a reason is at most 256 characters, on one line",
            DeviceRefusal::NoAnswer => {
                "the device did not take the session in time (it may be busy with another); try again"
            }
            DeviceRefusal::NotApproved => {
                "the session was not approved (an approver refused it, or nobody decided in time)"
            }
        }
    }
}

impl std::fmt::Display for DeviceRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// One device in the list a technician sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEntry {
    pub name: String,
    pub group: String,
    pub policy: DevicePolicy,
    /// Connected to the relay now.
    pub online: bool,
    /// When it was last connected (RFC 3339), if ever.
    pub last_seen: Option<String>,
    /// Its handshake key, for the technician to pin.
    pub key: [u8; 32],
    pub disabled: bool,
}

/// A key's fingerprint under `label` (`lifeline key` for handshake keys,
/// `lifeline anchor` for an organisation's): `SHA256:` and the first 16
/// bytes of SHA-256(label ‖ key) in hex groups of four, what people
/// compare by eye. One definition for the relay's audit records and the
/// peers' screens.
pub fn fingerprint(label: &[u8], key: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(label)
        .chain_update(key)
        .finalize();
    let hex = hex::encode(&digest[..16]);
    let groups: Vec<&str> = (0..hex.len()).step_by(4).map(|i| &hex[i..i + 4]).collect();
    format!("SHA256:{}", groups.join(":"))
}

/// A handshake key's fingerprint (a device's or a technician's).
pub fn key_fingerprint(key: &[u8; 32]) -> String {
    fingerprint(b"lifeline key", key)
}

/// Whether `name` may name a device or a group.
pub fn valid_device_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_DEVICE_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// What an admin hands to the machine to enroll: the relay's one-use
/// secret and the organisation's anchor the machine will pin (as
/// `lifeline-anchor:` text carries it). The relay keeps only the secret's
/// hash; the anchor is for the machine, which trusts it because the admin
/// handed the ticket over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub secret: [u8; 16],
    /// The anchor's base64url (43 characters), without its prefix.
    pub anchor: String,
}

/// How a ticket reads as text.
pub const TICKET_PREFIX: &str = "lifeline-ticket:";
/// How an organisation's anchor reads as text (`lifeline-trust`'s form).
pub const ANCHOR_PREFIX: &str = "lifeline-anchor:";

/// Why a ticket or an anchor could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error(
        "not an enrollment ticket (`lifeline-ticket:…`, as `lifeline-relay device ticket` prints it)"
    )]
    NotATicket,
    #[error(
        "not an organisation anchor (`lifeline-anchor:…`, as `lifeline-viewer org anchor` prints it)"
    )]
    NotAnAnchor,
}

/// The base64url part of an anchor's text, checked for its form.
pub fn anchor_part(text: &str) -> Result<&str, TicketError> {
    let b64 = text
        .trim()
        .strip_prefix(ANCHOR_PREFIX)
        .ok_or(TicketError::NotAnAnchor)?;
    let ok = b64.len() == 43
        && b64
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(b64)
    } else {
        Err(TicketError::NotAnAnchor)
    }
}

impl Ticket {
    /// `lifeline-ticket:` the secret in hex, `.`, the anchor.
    pub fn to_text(&self) -> String {
        format!(
            "{TICKET_PREFIX}{}.{}",
            hex::encode(self.secret),
            self.anchor
        )
    }

    /// A ticket from [`Ticket::to_text`]'s form.
    pub fn from_text(text: &str) -> Result<Self, TicketError> {
        let rest = text
            .trim()
            .strip_prefix(TICKET_PREFIX)
            .ok_or(TicketError::NotATicket)?;
        let (secret, anchor) = rest.split_once('.').ok_or(TicketError::NotATicket)?;
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(secret, &mut bytes).map_err(|_| TicketError::NotATicket)?;
        let anchor = anchor_part(&format!("{ANCHOR_PREFIX}{anchor}"))
            .map_err(|_| TicketError::NotATicket)?
            .to_owned();
        Ok(Self {
            secret: bytes,
            anchor,
        })
    }

    /// The anchor as `lifeline-anchor:` text.
    pub fn anchor_text(&self) -> String {
        format!("{ANCHOR_PREFIX}{}", self.anchor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_read_back_and_bad_ones_are_named() {
        let anchor = "A".repeat(43);
        let t = Ticket {
            secret: [0xab; 16],
            anchor: anchor.clone(),
        };
        let text = t.to_text();
        assert_eq!(
            text,
            format!("lifeline-ticket:{}.{anchor}", "ab".repeat(16))
        );
        assert_eq!(Ticket::from_text(&format!("  {text}\n")).unwrap(), t);
        assert_eq!(t.anchor_text(), format!("lifeline-anchor:{anchor}"));
        for bad in [
            "",
            "lifeline-ticket:",
            "lifeline-ticket:abab.AAAA",
            &format!("lifeline-ticket:{}.{}", "zz".repeat(16), anchor),
            &format!("lifeline-ticket:{}.{}!", "ab".repeat(16), &anchor[1..]),
            &format!("lifeline-anchor:{anchor}"),
        ] {
            assert_eq!(
                Ticket::from_text(bad),
                Err(TicketError::NotATicket),
                "{bad:?}"
            );
        }
        assert_eq!(
            anchor_part(&format!("lifeline-anchor:{anchor}")),
            Ok(anchor.as_str())
        );
        assert_eq!(
            anchor_part("lifeline-anchor:short"),
            Err(TicketError::NotAnAnchor)
        );
    }

    #[test]
    fn the_longest_list_fits_one_control_frame() {
        let worst = DeviceEntry {
            name: "n".repeat(MAX_DEVICE_NAME),
            group: "g".repeat(MAX_DEVICE_NAME),
            policy: DevicePolicy::Unattended,
            online: true,
            last_seen: Some("2026-12-06T16:48:05.123456789Z".into()),
            key: [0xff; 32],
            disabled: true,
        };
        let list = crate::control::ViewerEvent::Devices(vec![worst; MAX_LISTED]);
        let bytes = crate::frame::encode(&list, crate::frame::MAX_CONTROL_FRAME);
        assert!(bytes.is_ok(), "{:?}", bytes.err());
    }

    #[test]
    fn names_and_policies() {
        assert!(valid_device_name("desk-7.lab_2"));
        for bad in ["", "a b", "é", &"x".repeat(65), "a/b"] {
            assert!(!valid_device_name(bad), "{bad:?}");
        }
        assert_eq!(
            DevicePolicy::from_word("unattended"),
            Some(DevicePolicy::Unattended)
        );
        assert_eq!(DevicePolicy::from_word("Attended"), None);
    }
}
