//! The device keys a technician pinned: one line a device, `relay`,
//! `name` and the key in hex, tab-separated, in a file readable by its
//! owner only (`~/.config/lifeline/unattended/known-devices`). The first
//! session with a device pins the key it proved; a later one must prove
//! the same key, or nothing of the technician's is sent.

use std::path::PathBuf;

use lifeline_net::unattended::UnattendedError;
use lifeline_trust::handshake::key_fingerprint;

/// Whether a key was already pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinned {
    /// The same key as pinned before.
    Known,
    /// No key was pinned for the device; this one is now.
    New,
}

/// The pin file.
#[derive(Debug, Clone)]
pub struct Pins {
    path: PathBuf,
}

impl Pins {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    fn lines(&self) -> Vec<(String, String, String)> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut parts = l.split('\t');
                Some((
                    parts.next()?.to_owned(),
                    parts.next()?.to_owned(),
                    parts.next()?.to_owned(),
                ))
            })
            .collect()
    }

    /// Checks `key` for device `name` at `relay`: the pinned one, or pins
    /// it when there is none.
    pub fn check(
        &self,
        relay: &str,
        name: &str,
        key: &[u8; 32],
    ) -> Result<Pinned, UnattendedError> {
        let mut all = self.lines();
        let hex_key = hex::encode(key);
        if let Some((_, _, pinned)) = all.iter().find(|(r, n, _)| r == relay && n == name) {
            if *pinned == hex_key {
                return Ok(Pinned::Known);
            }
            let mut old = [0u8; 32];
            let pinned_fp = match hex::decode_to_slice(pinned, &mut old) {
                Ok(()) => key_fingerprint(&old),
                Err(_) => pinned.clone(),
            };
            return Err(UnattendedError::NotPinned {
                name: name.into(),
                pinned: pinned_fp,
                got: key_fingerprint(key),
            });
        }
        all.push((relay.into(), name.into(), hex_key));
        let text: String = all
            .iter()
            .map(|(r, n, k)| format!("{r}\t{n}\t{k}\n"))
            .collect();
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = lifeline_common::private::replace(&self.path, text.as_bytes()) {
            tracing::warn!(error = %e, path = %self.path.display(), "the device's key could not be pinned");
        }
        Ok(Pinned::New)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_pinned_on_first_use_and_a_different_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pins = Pins::new(dir.path().join("known-devices"));
        assert_eq!(pins.check("r:1", "desk", &[1; 32]).unwrap(), Pinned::New);
        assert_eq!(pins.check("r:1", "desk", &[1; 32]).unwrap(), Pinned::Known);
        assert!(matches!(
            pins.check("r:1", "desk", &[2; 32]),
            Err(UnattendedError::NotPinned { .. })
        ));
        // Another relay's device of the same name is another device.
        assert_eq!(pins.check("r:2", "desk", &[2; 32]).unwrap(), Pinned::New);
    }
}
