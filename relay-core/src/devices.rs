//! Enrolled devices and the tickets that enroll them, in the data
//! directory: `device-tickets.json` (written by `lifeline-relay device
//! ticket`: each ticket's secret as a SHA-256, its group, policy and
//! expiry) and `devices.json` (written by the relay as machines enroll).
//! A ticket is used once it names a device, so each file has one writer
//! and neither can lose the other's change. The relay stores device keys
//! to list them for technicians; it holds nothing that opens a session.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lifeline_proto::devices::{
    DeviceEntry, DevicePolicy, EnrollRefusal, EnrollRequest, valid_device_name,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{JsonFile, StoreError};
use crate::tokens::{now_text, token_hash};

/// Longest revocation list text the relay passes on (it fits one control
/// frame with room to spare).
pub const MAX_REVOCATIONS_TEXT: usize = 48 * 1024;

/// Longest a ticket may be valid.
pub const MAX_TICKET_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);

/// One ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRecord {
    pub secret_sha256: String,
    pub group: String,
    pub policy: DevicePolicy,
    pub created: String,
    /// Unix seconds after which it enrolls nothing.
    pub expires: u64,
    /// Its devices' sessions need a second person's approval.
    #[serde(default)]
    pub approval: bool,
}

/// One enrolled device as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub name: String,
    pub group: String,
    pub policy: DevicePolicy,
    /// Its handshake key, hex.
    pub key: String,
    /// The ticket that enrolled it (which is therefore used).
    pub ticket_sha256: String,
    /// The SHA-256 of the device's own token for coming online.
    pub token_sha256: String,
    pub enrolled: String,
    #[serde(default)]
    pub disabled: bool,
    /// Its sessions need a second person's approval (its group's ticket
    /// said so).
    #[serde(default)]
    pub approval: bool,
}

impl DeviceRecord {
    /// As a technician's list shows it. `online` and `last_seen` are the
    /// relay's live knowledge, not stored.
    pub fn entry(&self, online: bool, last_seen: Option<String>) -> DeviceEntry {
        let mut key = [0u8; 32];
        let _ = hex::decode_to_slice(&self.key, &mut key);
        DeviceEntry {
            name: self.name.clone(),
            group: self.group.clone(),
            policy: self.policy,
            online,
            last_seen,
            key,
            disabled: self.disabled,
        }
    }
}

/// Why a ticket could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a group name is 1 to 64 letters, digits, '.', '_' or '-'; {0:?} is not")]
    BadGroup(String),
    #[error("a ticket is valid for 1 minute to 30 days")]
    BadValidity,
    #[error(
        "not a revocation list (`lifeline-revocations:…`, from `lifeline-viewer org revoke`), or too long"
    )]
    NotRevocations,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn hash(secret: &[u8; 16]) -> String {
    hex::encode(Sha256::digest(secret))
}

/// The data directory's devices and tickets.
#[derive(Debug)]
pub struct DeviceStore {
    tickets: JsonFile,
    devices: JsonFile,
    /// One enrollment at a time in this process (the file has one writer).
    enrolling: Mutex<()>,
    /// The devices as last read, and the file's modification time then:
    /// a fleet coming online after a restart reads the file once, not once
    /// a device.
    cache: Mutex<Option<(SystemTime, std::sync::Arc<Vec<DeviceRecord>>)>>,
}

impl DeviceStore {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            tickets: JsonFile::in_dir(data_dir, "device-tickets.json", "device ticket"),
            devices: JsonFile::in_dir(data_dir, "devices.json", "device"),
            enrolling: Mutex::new(()),
            cache: Mutex::new(None),
        }
    }

    /// A new ticket for `group` under `policy` (with a second person's
    /// approval for each session when `approval`), valid for `valid` from
    /// `now`: its secret (shown once) and its record.
    pub fn make_ticket(
        &self,
        group: &str,
        (policy, approval): (DevicePolicy, bool),
        valid: Duration,
        now: SystemTime,
    ) -> Result<([u8; 16], TicketRecord), DeviceError> {
        if !valid_device_name(group) {
            return Err(DeviceError::BadGroup(group.into()));
        }
        if valid < Duration::from_secs(60) || valid > MAX_TICKET_VALIDITY {
            return Err(DeviceError::BadValidity);
        }
        let mut secret = [0u8; 16];
        rand::rng().fill(&mut secret);
        let record = TicketRecord {
            secret_sha256: hash(&secret),
            group: group.into(),
            policy,
            created: now_text(),
            expires: unix(now) + valid.as_secs(),
            approval,
        };
        let mut all: Vec<TicketRecord> = self.tickets.read()?;
        // Tickets long expired are dropped as new ones are made.
        all.retain(|t| t.expires + 7 * 24 * 3600 > unix(now));
        all.push(record.clone());
        self.tickets.write(&all)?;
        Ok((secret, record))
    }

    /// Enrolls the machine of `req` at `now`, or says why not: its record
    /// and its token (shown to it once).
    pub fn enroll(
        &self,
        req: &EnrollRequest,
        now: SystemTime,
    ) -> Result<Result<(DeviceRecord, String), EnrollRefusal>, StoreError> {
        self.locked(|| self.enroll_locked(req, now))
    }

    fn enroll_locked(
        &self,
        req: &EnrollRequest,
        now: SystemTime,
    ) -> Result<Result<(DeviceRecord, String), EnrollRefusal>, StoreError> {
        let tickets: Vec<TicketRecord> = self.tickets.read()?;
        let h = hash(&req.ticket);
        let Some(ticket) = tickets.iter().find(|t| t.secret_sha256 == h) else {
            return Ok(Err(EnrollRefusal::UnknownTicket));
        };
        let mut devices: Vec<DeviceRecord> = self.current()?.as_ref().clone();
        let key = hex::encode(req.key);
        let refusal = if devices.iter().any(|d| d.ticket_sha256 == h) {
            Some(EnrollRefusal::UsedTicket)
        } else if unix(now) > ticket.expires {
            Some(EnrollRefusal::ExpiredTicket)
        } else if !valid_device_name(&req.name) {
            Some(EnrollRefusal::BadName)
        } else if devices.iter().any(|d| d.name == req.name) {
            Some(EnrollRefusal::NameTaken)
        } else if devices.iter().any(|d| d.key == key) {
            Some(EnrollRefusal::KeyTaken)
        } else {
            None
        };
        if let Some(r) = refusal {
            return Ok(Err(r));
        }
        let mut secret = [0u8; 16];
        rand::rng().fill(&mut secret);
        let token = format!("lld_{}", hex::encode(secret));
        let device = DeviceRecord {
            name: req.name.clone(),
            group: ticket.group.clone(),
            policy: ticket.policy,
            key,
            ticket_sha256: h,
            token_sha256: token_hash(&token),
            enrolled: now_text(),
            disabled: false,
            approval: ticket.approval,
        };
        devices.push(device.clone());
        self.devices.write(&devices)?;
        Ok(Ok((device, token)))
    }

    /// The device `name`, if `token` is its own (disabled or not).
    pub fn check_token(&self, name: &str, token: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let h = token_hash(token);
        Ok(self
            .current()?
            .iter()
            .find(|d| d.name == name && d.token_sha256 == h)
            .cloned())
    }

    /// The enrolled device `name`, if any.
    pub fn device(&self, name: &str) -> Result<Option<DeviceRecord>, StoreError> {
        Ok(self.current()?.iter().find(|d| d.name == name).cloned())
    }

    /// Every enrolled device.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        Ok(self.current()?.as_ref().clone())
    }

    /// The devices, read again only when the file changed.
    fn current(&self) -> Result<std::sync::Arc<Vec<DeviceRecord>>, StoreError> {
        let stamp = std::fs::metadata(self.devices.path())
            .and_then(|m| m.modified())
            .ok();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(stamp), Some((at, all))) = (stamp, cache.as_ref())
            && *at == stamp
        {
            return Ok(all.clone());
        }
        let all = std::sync::Arc::new(self.devices.read::<DeviceRecord>()?);
        *cache = stamp.map(|s| (s, all.clone()));
        Ok(all)
    }

    /// Holds `devices.lock` in the data directory while `change` reads
    /// and rewrites the devices: the relay's enrollments and an admin's
    /// command never lose each other's change.
    fn locked<T>(&self, change: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let _one = self.enrolling.lock().unwrap_or_else(|e| e.into_inner());
        let lock_path = self.devices.path().with_file_name("devices.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.devices.io(e))?;
        lock.lock().map_err(|e| self.devices.io(e))?;
        change()
    }

    /// Disables (or enables again) the device `name`: a disabled device
    /// is listed, but not called and not let online. `false` when no
    /// device has that name.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError> {
        self.locked(|| {
            let mut all: Vec<DeviceRecord> = self.devices.read()?;
            let Some(d) = all.iter_mut().find(|d| d.name == name) else {
                return Ok(false);
            };
            d.disabled = disabled;
            self.devices.write(&all)?;
            Ok(true)
        })
    }

    /// Removes the device `name` (its name may then be enrolled again);
    /// the record removed, if there was one.
    pub fn remove(&self, name: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.locked(|| {
            let mut all: Vec<DeviceRecord> = self.devices.read()?;
            let Some(i) = all.iter().position(|d| d.name == name) else {
                return Ok(None);
            };
            let gone = all.remove(i);
            self.devices.write(&all)?;
            Ok(Some(gone))
        })
    }

    /// Publishes the organisation's signed revocation list (its
    /// `lifeline-revocations:` text) for online devices to fetch. The
    /// relay cannot check the signature (it holds no trust); each device
    /// does, and keeps only a newer list.
    pub fn publish_revocations(&self, text: &str) -> Result<(), DeviceError> {
        let text = text.trim();
        if !text.starts_with("lifeline-revocations:") || text.len() > MAX_REVOCATIONS_TEXT {
            return Err(DeviceError::NotRevocations);
        }
        let path = self.devices.path().with_file_name("device-revocations");
        crate::private::replace_file(&path, text.as_bytes()).map_err(|e| self.devices.io(e))?;
        Ok(())
    }

    /// The published revocation list's text, if any.
    pub fn revocations(&self) -> Option<Vec<u8>> {
        std::fs::read(self.devices.path().with_file_name("device-revocations")).ok()
    }

    /// Every ticket made and not long expired.
    pub fn tickets(&self) -> Result<Vec<TicketRecord>, StoreError> {
        self.tickets.read()
    }
}

/// Which devices are connected now (by their connection's id, with the
/// `L` that reaches that connection's task), and when each was last seen:
/// the relay's live knowledge, not stored.
#[derive(Debug)]
pub struct Presence<L = ()> {
    online: std::collections::HashMap<String, (usize, L)>,
    last_seen: std::collections::HashMap<String, String>,
}

impl<L> Default for Presence<L> {
    fn default() -> Self {
        Self {
            online: Default::default(),
            last_seen: Default::default(),
        }
    }
}

impl<L> Presence<L> {
    /// Device `name` came online on connection `id`, reached through
    /// `line` (a newer connection of the same device takes its place).
    pub fn arrive(&mut self, name: &str, id: usize, line: L) {
        self.online.insert(name.to_owned(), (id, line));
        self.last_seen.insert(name.to_owned(), now_text());
    }

    /// Connection `id` of device `name` ended; an older one ending after a
    /// newer one arrived changes nothing.
    pub fn leave(&mut self, name: &str, id: usize) {
        if self.online.get(name).is_some_and(|(i, _)| *i == id) {
            self.online.remove(name);
            self.last_seen.insert(name.to_owned(), now_text());
        }
    }

    /// How many devices are online now.
    pub fn online(&self) -> usize {
        self.online.len()
    }

    /// Whether `name` is online now, and when it was last seen.
    pub fn of(&self, name: &str) -> (bool, Option<String>) {
        (
            self.online.contains_key(name),
            self.last_seen.get(name).cloned(),
        )
    }

    /// What reaches device `name`'s connection, when it is online.
    pub fn line(&self, name: &str) -> Option<&L> {
        self.online.get(name).map(|(_, l)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ticket: [u8; 16], name: &str, key: u8) -> EnrollRequest {
        EnrollRequest {
            ticket,
            name: name.into(),
            key: [key; 32],
        }
    }

    #[test]
    fn a_ticket_enrolls_one_machine_once_and_only_before_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeviceStore::new(dir.path());
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let (secret, rec) = store
            .make_ticket("lab", (DevicePolicy::Unattended, false), hour, now)
            .unwrap();
        assert_eq!(rec.group, "lab");
        let stored = std::fs::read_to_string(dir.path().join("device-tickets.json")).unwrap();
        assert!(
            !stored.contains(&hex::encode(secret)),
            "only the hash is kept"
        );

        assert_eq!(
            store.enroll(&req([9; 16], "desk", 1), now).unwrap(),
            Err(EnrollRefusal::UnknownTicket)
        );
        assert_eq!(
            store.enroll(&req(secret, "a b", 1), now).unwrap(),
            Err(EnrollRefusal::BadName)
        );
        assert_eq!(
            store
                .enroll(&req(secret, "desk", 1), now + 2 * hour)
                .unwrap(),
            Err(EnrollRefusal::ExpiredTicket)
        );
        let (d, token) = store.enroll(&req(secret, "desk", 1), now).unwrap().unwrap();
        assert_eq!(
            (d.group.as_str(), d.policy),
            ("lab", DevicePolicy::Unattended)
        );
        assert!(token.starts_with("lld_"));
        let stored = std::fs::read_to_string(dir.path().join("devices.json")).unwrap();
        assert!(!stored.contains(&token), "only the token's hash is kept");
        assert_eq!(
            store.enroll(&req(secret, "desk-2", 2), now).unwrap(),
            Err(EnrollRefusal::UsedTicket)
        );
        let (second, _) = store
            .make_ticket("lab", (DevicePolicy::Attended, false), hour, now)
            .unwrap();
        assert_eq!(
            store.enroll(&req(second, "desk", 2), now).unwrap(),
            Err(EnrollRefusal::NameTaken)
        );
        assert_eq!(
            store.enroll(&req(second, "desk-2", 1), now).unwrap(),
            Err(EnrollRefusal::KeyTaken)
        );
        assert_eq!(store.check_token("desk", &token).unwrap(), Some(d.clone()));
        assert_eq!(store.check_token("desk", "lld_wrong").unwrap(), None);
        assert_eq!(store.check_token("desk-2", &token).unwrap(), None);
        let listed = store.devices().unwrap();
        assert_eq!(listed.len(), 1);
        let entry = listed[0].entry(false, None);
        assert_eq!(entry.key, [1; 32]);
    }

    #[test]
    fn presence_follows_the_newest_connection() {
        let mut p = Presence::default();
        assert_eq!(p.of("desk"), (false, None));
        p.arrive("desk", 1, 'a');
        p.arrive("desk", 2, 'b');
        assert_eq!(p.line("desk"), Some(&'b'));
        p.leave("desk", 1);
        assert!(p.of("desk").0, "the older connection's end changes nothing");
        p.leave("desk", 2);
        let (online, seen) = p.of("desk");
        assert!(!online);
        assert!(seen.is_some());
    }

    #[test]
    fn bad_groups_and_validities_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeviceStore::new(dir.path());
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        assert!(matches!(
            store.make_ticket("a/b", (DevicePolicy::Attended, false), day, now),
            Err(DeviceError::BadGroup(_))
        ));
        for bad in [Duration::from_secs(59), MAX_TICKET_VALIDITY + day] {
            assert!(matches!(
                store.make_ticket("lab", (DevicePolicy::Attended, false), bad, now),
                Err(DeviceError::BadValidity)
            ));
        }
    }
}
