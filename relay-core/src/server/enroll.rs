//! Devices at the relay: a machine enrolling with a ticket's secret
//! (audited as `device_enrolled`, answered, then hung up), and a
//! technician's token asking for the device list. The relay keeps names,
//! groups and public keys here; it never takes part in a device's
//! handshake with a technician.

use std::sync::Arc;
use std::time::SystemTime;

use lifeline_common::framed::Control;
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::control::{HostEvent, JoinRefusal, ViewerEvent};
use lifeline_proto::devices::{EnrollRequest, MAX_LISTED, key_fingerprint};
use quinn::Connection;

use super::{Relay, answer_and_close, lock};
use crate::forward::close;
use crate::rules::addresses::Source;
use crate::rules::refusal::Refusal;
use crate::tokens::{Lookup, token_hash};

/// What a disabled device hears when it tries to come online or answer.
pub(crate) const DISABLED: &str = "an admin disabled this device at the relay";

/// A machine enrolling.
pub(crate) async fn serve_enroll(
    relay: &Arc<Relay>,
    conn: Connection,
    mut ctl: Control,
    req: EnrollRequest,
) {
    let ip = conn.remote_address().ip();
    let store = relay.devices.clone();
    let result = tokio::task::spawn_blocking(move || store.enroll(&req, SystemTime::now())).await;
    let outcome = match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => return close(&conn, &Refusal::Busy(e.to_string())),
        Err(e) => return close(&conn, &Refusal::Busy(e.to_string())),
    };
    match outcome {
        Ok((device, token)) => {
            let mut key = [0u8; 32];
            let _ = hex::decode_to_slice(&device.key, &mut key);
            let event = AuditEvent::DeviceEnrolled {
                device: device.name.clone(),
                group: device.group.clone(),
                policy: device.policy.as_str().into(),
                key: key_fingerprint(&key),
                ip: ip.to_string(),
            };
            if let Err(e) = relay.audit.append(event).await {
                return close(&conn, &Refusal::AuditFailed(e.to_string()));
            }
            let answer = HostEvent::Enrolled {
                device: device.name,
                group: device.group,
                policy: device.policy,
                token,
            };
            answer_and_close(&conn, &mut ctl, &answer, Refusal::Ended("enrolled".into())).await;
        }
        Err(refusal) => {
            // A wrong secret is a failure of this address, as a wrong code is.
            lock(&relay.ip_throttle).fail(std::time::Instant::now(), &Source::of(ip));
            let answer = HostEvent::EnrollRefused(refusal);
            answer_and_close(
                &conn,
                &mut ctl,
                &answer,
                Refusal::Refused(refusal.to_string()),
            )
            .await;
        }
    }
}

/// The technician a token names, for the device list and device
/// sessions; a bad token (or a throttled address) is answered and hung up
/// on, and `None` returned.
pub(crate) async fn technician(
    relay: &Arc<Relay>,
    conn: &Connection,
    ctl: &mut Control,
    token: &str,
) -> Option<String> {
    let ip = conn.remote_address().ip();
    let now = std::time::Instant::now();
    let throttled = lock(&relay.ip_throttle).check(now, &Source::of(ip));
    if let Err(retry) = throttled {
        let refusal = JoinRefusal::Throttled {
            retry_after_s: retry.as_secs().max(1) as u32,
        };
        super::refuse(conn, ctl, refusal).await;
        return None;
    }
    let key = token_hash(token);
    let lookup = match super::lookup_token(relay, token, &key).await {
        Ok(l) => l,
        Err(why) => {
            close(conn, &Refusal::Busy(why));
            return None;
        }
    };
    let refusal = match lookup {
        Lookup::Valid(name) => return Some(name),
        Lookup::Revoked(_) => JoinRefusal::RevokedToken,
        Lookup::Expired(_) => JoinRefusal::ExpiredToken,
        Lookup::Unknown => JoinRefusal::UnknownToken,
    };
    lock(&relay.ip_throttle).fail(now, &Source::of(ip));
    super::refuse(conn, ctl, refusal).await;
    None
}

/// A technician's token asking for the enrolled devices.
pub(crate) async fn serve_devices(
    relay: &Arc<Relay>,
    conn: Connection,
    mut ctl: Control,
    token: String,
) {
    if technician(relay, &conn, &mut ctl, &token).await.is_none() {
        return;
    }
    let store = relay.devices.clone();
    let devices = match tokio::task::spawn_blocking(move || store.devices()).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return close(&conn, &Refusal::Busy(e.to_string())),
        Err(e) => return close(&conn, &Refusal::Busy(e.to_string())),
    };
    let list = {
        let presence = lock(&relay.presence);
        devices
            .iter()
            .take(MAX_LISTED)
            .map(|d| {
                let (online, seen) = presence.of(&d.name);
                d.entry(online, seen)
            })
            .collect()
    };
    answer_and_close(
        &conn,
        &mut ctl,
        &ViewerEvent::Devices(list),
        Refusal::Ended("listed".into()),
    )
    .await;
}

/// The enrolled, enabled device `device` whose token `token` is, for a
/// device's connection; otherwise the connection is closed with why (a
/// wrong token counts against the address) and `None` returned.
pub(crate) async fn enrolled(
    relay: &Arc<Relay>,
    conn: &Connection,
    device: String,
    token: String,
) -> Option<crate::devices::DeviceRecord> {
    let ip = conn.remote_address().ip();
    let store = relay.devices.clone();
    let found = tokio::task::spawn_blocking(move || store.check_token(&device, &token)).await;
    let why = match found {
        Ok(Ok(Some(r))) if !r.disabled => return Some(r),
        Ok(Ok(Some(_))) => Refusal::Refused(DISABLED.into()),
        Ok(Ok(None)) => {
            lock(&relay.ip_throttle).fail(std::time::Instant::now(), &Source::of(ip));
            Refusal::Refused("no such device, or not its token".into())
        }
        Ok(Err(e)) => Refusal::Busy(e.to_string()),
        Err(e) => Refusal::Busy(e.to_string()),
    };
    close(conn, &why);
    None
}

/// An enrolled device's service coming online (`who`: its name and
/// token): listed online for as long as this connection lasts (QUIC keeps
/// it alive; its end, or the relay's shutdown, takes the device offline).
/// `slot`, its address's, is given back once the token is checked.
pub(crate) async fn serve_online(
    relay: &Arc<Relay>,
    conn: Connection,
    mut ctl: Control,
    who: (String, String),
    slot: Option<super::accept::Slot>,
) {
    let Some(record) = enrolled(relay, &conn, who.0, who.1).await else {
        return;
    };
    drop(slot);
    let id = conn.stable_id();
    let (line, mut calls) = tokio::sync::mpsc::channel(4);
    lock(&relay.presence).arrive(&record.name, id, line);
    if ctl.send(&HostEvent::Online).await.is_ok() {
        tokio::select! {
            _ = conn.closed() => {}
            r = super::calls::ring(&mut ctl, &mut calls, &relay.devices) => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "an online device's connection failed");
                }
            }
            () = relay.shutdown.cancelled() => close(&conn, &Refusal::Shutdown),
        }
    }
    lock(&relay.presence).leave(&record.name, id);
}

/// A device coming online at the main port of a relay that has a devices
/// port: told to come online there ([`HostEvent::OnlineAt`]).
pub(crate) async fn online_elsewhere(conn: Connection, mut ctl: Control, port: u16) {
    let why = Refusal::Ended("online at the devices port".into());
    super::answer_and_close(&conn, &mut ctl, &HostEvent::OnlineAt { port }, why).await;
}
