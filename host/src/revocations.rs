//! The organisation's revocation list as an enrolled device keeps it: the
//! file `revocations` in the device folder (readable by this user only),
//! replaced only by a newer list the pinned anchor signed, whether it came
//! through the relay or was put there by hand. A relay can withhold a
//! list (certificates then still expire on their own) but neither forge
//! one nor roll a device back to an older one.

use std::path::Path;

use lifeline_trust::creds::{REVOCATIONS_PREFIX, Revocations};
use lifeline_trust::org::{Anchor, Signed};

use crate::service::ServiceError;

fn path(dir: &Path) -> std::path::PathBuf {
    dir.join("revocations")
}

/// The list the device holds, if any; a damaged list, or one the anchor
/// did not sign, stops the service (it would otherwise admit someone the
/// organisation revoked).
pub fn load(dir: &Path, anchor: &Anchor) -> Result<Option<Revocations>, ServiceError> {
    let p = path(dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ServiceError::Revocations(format!("{}: {e}", p.display()))),
    };
    Signed::from_text(&text, REVOCATIONS_PREFIX)
        .and_then(|s| Revocations::open(anchor, &s))
        .map(Some)
        .map_err(|e| ServiceError::Revocations(format!("{}: {e}", p.display())))
}

/// A list the relay offered (`signed`, as text): kept, and written to the
/// device folder, when the anchor signed it and it is newer than
/// `current`; otherwise `current` stays.
pub fn offered(
    dir: &Path,
    anchor: &Anchor,
    current: Option<Revocations>,
    signed: &[u8],
) -> Option<Revocations> {
    let text = String::from_utf8_lossy(signed);
    let newer = Signed::from_text(&text, REVOCATIONS_PREFIX)
        .and_then(|s| Revocations::newer(anchor, current.as_ref(), &s));
    match newer {
        Ok(Some(list)) => {
            if let Err(e) = lifeline_common::private::replace(&path(dir), text.trim().as_bytes()) {
                tracing::warn!(error = %e, "the newer revocation list could not be saved; kept in memory");
            }
            tracing::info!(seq = list.seq, "newer revocation list kept");
            Some(list)
        }
        Ok(None) => current,
        Err(e) => {
            tracing::warn!(error = %e, "the relay offered a revocation list the organisation did not sign; ignored");
            current
        }
    }
}
