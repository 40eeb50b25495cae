//! A session with an enrolled device instead of a code: ask the relay to
//! put the technician through, then the technician's side of the device
//! handshake (`lifeline_net::unattended`) with the key and certificate
//! the organisation signed, checking the device's proven key against the
//! one pinned for it (pinned on first use, its fingerprint shown).

use std::path::PathBuf;
use std::time::Duration;

use lifeline_net::client::ViewerLink;
use lifeline_net::secure::{Plain, Secured};
use lifeline_net::unattended::{self, UnattendedError};
use lifeline_session::e2e::Side;
use lifeline_trust::handshake::{StaticKey, Technician};
use lifeline_trust::org::Signed;

use super::ViewerError;
use crate::pins::{Pinned, Pins};

/// Who the technician is for a device session, and where they pin keys.
#[derive(Debug, Clone)]
pub struct DeviceTarget {
    /// The device's name, as the list shows it.
    pub name: String,
    /// Why (a ticket number or a few words); required by unattended groups.
    pub reason: String,
    /// The technician's handshake key and the certificate the
    /// organisation signed for it.
    pub key: StaticKey,
    pub cert: Signed,
    /// The pinned device keys, and the relay they are pinned under.
    pub pins: PathBuf,
    pub relay: String,
}

/// How the device's key was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey {
    pub fingerprint: String,
    /// Pinned just now (first use), not compared with an earlier pin.
    pub first_use: bool,
}

/// The device's side opens the session stream; the handshake on it.
pub(super) async fn secure(
    link: &mut ViewerLink,
    target: &DeviceTarget,
) -> Result<(Secured, DeviceKey), ViewerError> {
    let conn = link.conn.clone();
    let accepted = tokio::time::timeout(Duration::from_secs(30), conn.accept_bi()).await;
    let (send, recv) = match accepted {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(lifeline_net::client::ClientError::from_connection(&e).into());
        }
        Err(_) => return Err(ViewerError::NoHandshake),
    };
    let start = Technician::start(
        &target.key,
        target.cert.clone(),
        &link.session,
        &target.reason,
    )
    .map_err(UnattendedError::from)?;
    let pins = Pins::new(target.pins.clone());
    let mut pinned = None;
    let check = |seen: &lifeline_trust::handshake::DeviceSeen| {
        if seen.name != target.name {
            return Err(UnattendedError::WrongDevice {
                asked: target.name.clone(),
                got: seen.name.clone(),
            });
        }
        pinned = Some(pins.check(&target.relay, &target.name, &seen.key)?);
        Ok(())
    };
    let plain = Plain::new(Side::Viewer, send, recv);
    let (seen, secured) = unattended::technician(plain, start, check).await?;
    let fingerprint = lifeline_trust::handshake::key_fingerprint(&seen.key);
    Ok((
        secured,
        DeviceKey {
            fingerprint,
            first_use: pinned == Some(Pinned::New),
        },
    ))
}
