//! A session an enrolled device was called for: answer the relay on a
//! connection of its own, run the device's side of the handshake (the
//! technician's certificate checked against the pinned anchor and the
//! revocation list, the reason the group's policy needs), then the same
//! session as after a code. The policy is the device's own, pinned at
//! enrollment: `unattended` shares at once (the user, if present, sees
//! who and why and can stop it), `attended` asks and takes silence for a
//! minute as no. Nothing the relay says decides either.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lifeline_net::client::{ClientError, Connector, HostLink};
use lifeline_net::secure::Plain;
use lifeline_net::unattended;
use lifeline_proto::control::Mode;
use lifeline_session::e2e::Side;
use lifeline_trust::creds::Revocations;
use lifeline_trust::handshake::{Admitted, Device, StaticKey, key_fingerprint};
use lifeline_trust::org::Anchor;

use super::context::{AgentError, HANDSHAKE_TIMEOUT, HostConfig, Io};
use super::{Proved, serve_paired};
use crate::ui::Ui;
use crate::words;

/// How long an attended device's user has to answer.
pub const ATTENDED_ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// One call from the relay, and what the device needs to take it.
#[derive(Debug)]
pub struct DeviceCall<'a> {
    pub connector: &'a Connector,
    /// The device's name and its token at the relay.
    pub device: &'a str,
    pub token: &'a str,
    /// The relay's session id the call is for.
    pub session: String,
    pub key: &'a StaticKey,
    pub anchor: Anchor,
    pub revoked: Option<&'a Revocations>,
    /// The group's policy as pinned at enrollment.
    pub unattended: bool,
}

/// Takes one call to its end. A technician this device refuses (their
/// certificate, its own disabled key, a missing reason) is told why and
/// the relay hears the end; only the relay's or the platform's failures
/// are errors.
pub async fn serve_call(
    config: &HostConfig,
    (ui, desktop, lines): (Ui, &mut super::Desktop, &mut super::Lines),
    stop: impl Future<Output = ()>,
    call: DeviceCall<'_>,
) -> Result<(), AgentError> {
    tokio::pin!(stop);
    let mut io = Io {
        ui,
        desktop,
        lines,
        stop,
    };
    let (link, relay_named) = HostLink::answer(
        call.connector,
        (call.device, call.token),
        &call.session,
        &config.os_user,
    )
    .await?;
    let policy = link.policy();
    let refused = |io: &Io<'_, _>, why: String| {
        io.ui.device_refused(&why);
        format!("refused by the device: {why}")
    };
    let device = match Device::new(
        call.key,
        call.anchor,
        call.revoked,
        &call.session,
        call.device,
    ) {
        Ok(d) => d,
        Err(e) => {
            let why = refused(&io, e.to_string());
            link.end(&why).await;
            return Ok(());
        }
    };
    let (send, recv) = link
        .conn
        .open_bi()
        .await
        .map_err(|e| ClientError::from_connection(&e))?;
    let plain = Plain::new(Side::Host, send, recv);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let unattended_policy = call.unattended;
    let check = |a: &Admitted| {
        if unattended_policy && a.reason.trim().is_empty() {
            Err(words::REASON_REQUIRED.to_owned())
        } else {
            Ok(())
        }
    };
    let shaken = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        unattended::device(plain, device, now, call.revoked, check),
    )
    .await;
    let (admitted, secured) = match shaken {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            let why = refused(&io, e.to_string());
            link.end(&why).await;
            return Ok(());
        }
        Err(_) => {
            let why = refused(&io, words::DEVICE_HANDSHAKE_TIMEOUT.to_owned());
            link.end(&why).await;
            return Ok(());
        }
    };
    let name = admitted.cert.name.clone();
    io.ui.device_session(
        &name,
        &key_fingerprint(&admitted.keys.peer),
        &admitted.reason,
        unattended_policy,
    );
    let reason = Some(admitted.reason.trim().to_owned()).filter(|r| !r.is_empty());
    let proved = Proved {
        session: call.session,
        logged: (relay_named, reason),
        technician: words::device_technician(&name, &admitted.reason),
        policy,
        allow: unattended_policy.then_some(Mode::Control),
        answer_within: (!unattended_policy).then_some(ATTENDED_ANSWER_WITHIN),
    };
    serve_paired(config, &mut io, link, secured, proved).await
}
