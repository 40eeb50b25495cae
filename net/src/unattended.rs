//! The session stream of a device session: `lifeline-trust`'s handshake
//! between an enrolled device (the host) and a technician (the viewer)
//! over the stream the relay forwards, then the same sealed channel a
//! code's session has (`e2e::keys_from_secret`).
//!
//! ```text
//! device → technician   "lifeline/1 device"     (opens the stream)
//! technician → device   Noise e
//! device → technician   Noise e, ee, s, es      + its name
//! technician → device   Noise s, se             + certificate, reason, secret
//! device → technician   verdict: 0, or 1 and why not (plain: a relay could
//!                       forge a refusal, never an admission)
//! both                  sealed confirmations, as after a code
//! ```

use lifeline_session::e2e::{self, Side};
use lifeline_trust::TrustError;
use lifeline_trust::handshake::{Admitted, Device, DeviceSeen, Technician};

use crate::secure::{Plain, SecureError, Secured};

/// What the device says first, opening the stream.
const OPENING: &[u8] = b"lifeline/1 device";
/// The device's verdict: admitted.
const ADMITTED: u8 = 0;
/// The device's verdict: refused, the reason following.
const REFUSED: u8 = 1;

/// Why a device session's handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum UnattendedError {
    #[error(transparent)]
    Secure(#[from] SecureError),
    /// This side's own check failed (the other side's certificate, key or
    /// a changed message).
    #[error("{0}")]
    Trust(#[from] TrustError),
    #[error(
        "the device {name} proved another key ({got}) than the one pinned for it ({pinned}): \
         it may not be that machine, or the relay is not the one you think; nothing was sent"
    )]
    NotPinned {
        name: String,
        pinned: String,
        got: String,
    },
    #[error(
        "the relay put you through to {got:?}, not to {asked:?}: nothing was sent; tell your admin"
    )]
    WrongDevice { asked: String, got: String },
    #[error("the device refused the session: {0}")]
    RefusedByDevice(String),
    #[error("the other side does not speak the device handshake")]
    NotADevice,
}

/// The device's side, on the stream it opened: the technician admitted
/// (certificate, reason) and the sealed channel. A technician refused is
/// told why before the error returns. `check` may refuse an admitted
/// technician for the device's own reasons (its policy: a reason
/// required); what it says is what the technician hears.
pub async fn device(
    mut plain: Plain,
    mut device: Device,
    now: u64,
    revoked: Option<&lifeline_trust::creds::Revocations>,
    check: impl FnOnce(&Admitted) -> Result<(), String>,
) -> Result<(Admitted, Secured), UnattendedError> {
    plain.send(OPENING).await?;
    let hello = plain.recv().await?;
    let answer = device.read_hello(&hello)?;
    plain.send(&answer).await?;
    let proof = plain.recv().await?;
    let admitted = match device.read_proof(&proof, now, revoked) {
        Ok(a) => a,
        Err(e) => {
            refuse(&mut plain, &e.to_string()).await;
            return Err(e.into());
        }
    };
    if let Err(why) = check(&admitted) {
        refuse(&mut plain, &why).await;
        return Err(UnattendedError::RefusedByDevice(why));
    }
    plain.send(&[ADMITTED]).await?;
    let keys = e2e::keys_from_secret(Side::Host, &admitted.keys.secret, &admitted.keys.transcript)
        .map_err(SecureError::from)?;
    let secured = plain.seal(keys).await?;
    Ok((admitted, secured))
}

async fn refuse(plain: &mut Plain, why: &str) {
    let said = [&[REFUSED], why.as_bytes()].concat();
    if let Err(e) = plain.send(&said).await {
        tracing::debug!(error = %e, "the technician left before hearing the refusal");
    }
}

/// The technician's side, on the stream the device opened, with the
/// handshake [`Technician::start`] began and its first message. `pin` checks
/// the key the device proved before anything of the technician's is sent
/// (a pinned key, or pinning it on first use); its error ends it.
pub async fn technician(
    mut plain: Plain,
    (mut tech, hello): (Technician, Vec<u8>),
    pin: impl FnOnce(&DeviceSeen) -> Result<(), UnattendedError>,
) -> Result<(DeviceSeen, Secured), UnattendedError> {
    if plain.recv().await? != OPENING {
        return Err(UnattendedError::NotADevice);
    }
    plain.send(&hello).await?;
    let answer = plain.recv().await?;
    let seen = tech.read_device(&answer)?;
    pin(&seen)?;
    let (proof, established) = tech.finish()?;
    plain.send(&proof).await?;
    let verdict = plain.recv().await?;
    match verdict.split_first() {
        Some((&ADMITTED, [])) => {}
        Some((&REFUSED, why)) => {
            let why: String = String::from_utf8_lossy(why)
                .chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect();
            return Err(UnattendedError::RefusedByDevice(why));
        }
        _ => return Err(UnattendedError::NotADevice),
    }
    let keys = e2e::keys_from_secret(Side::Viewer, &established.secret, &established.transcript)
        .map_err(SecureError::from)?;
    let secured = plain.seal(keys).await?;
    Ok((seen, secured))
}
