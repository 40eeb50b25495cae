//! A technician's session with an enrolled device: the relay checks the
//! token and the device (enrolled, enabled, online, a reason where the
//! group needs one), audits the request with the group's policy and the
//! reason (`device_session`), then calls the device on its online
//! connection; the device answers on a new connection, and the two are
//! paired as a code's host and viewer are. The relay only carries the
//! handshake that follows: whether the technician may in, the device
//! decides by the organisation's certificate, which the relay cannot make.

use std::sync::Arc;
use std::time::Duration;

use lifeline_common::framed::Control;
use lifeline_proto::Locator;
use lifeline_proto::audit::AuditEvent;
use lifeline_proto::control::{HostEvent, ViewerEvent, clean_text};
use lifeline_proto::devices::{DevicePolicy, DeviceRefusal, valid_reason};
use quinn::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{
    HostInfo, Joiner, PairRequest, Relay, Via, answer_and_close, lock, new_session_id, run_session,
};
use crate::devices::{DeviceRecord, DeviceStore};
use crate::forward::close;
use crate::rules::refusal::Refusal;
use crate::tokens::token_hash;

/// How long a called device has to take the session.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(15);

/// What reaches an online device's connection: the sessions it is called
/// for.
pub(crate) type Line = mpsc::Sender<String>;

/// A call waiting for its device: the device it is for, and where its
/// answering connection goes.
#[derive(Debug)]
pub(crate) struct Pending {
    device: String,
    answer: oneshot::Sender<(HostInfo, Control)>,
}

/// The calls waiting for their devices, by session id.
pub(crate) type Calls = std::sync::Mutex<std::collections::HashMap<String, Pending>>;

/// What a technician asked for.
pub(crate) struct Request {
    pub(crate) token: String,
    pub(crate) device: String,
    pub(crate) reason: String,
}

/// What the relay's records say of a request before any call: the
/// device, or why not. Pure; whether it is online is asked after.
pub(crate) fn admissible(
    found: Option<DeviceRecord>,
    reason: &str,
) -> Result<DeviceRecord, DeviceRefusal> {
    let device = found.ok_or(DeviceRefusal::UnknownDevice)?;
    if device.disabled {
        return Err(DeviceRefusal::Disabled);
    }
    if reason.trim().is_empty() {
        if device.policy == DevicePolicy::Unattended {
            return Err(DeviceRefusal::ReasonRequired);
        }
    } else if !valid_reason(reason) {
        return Err(DeviceRefusal::BadReason);
    }
    Ok(device)
}

/// [`admissible`], and the line to the device if it is online.
fn check(
    relay: &Relay,
    found: Option<DeviceRecord>,
    reason: &str,
) -> Result<(DeviceRecord, Line), DeviceRefusal> {
    let device = admissible(found, reason)?;
    let line = lock(&relay.presence)
        .line(&device.name)
        .cloned()
        .ok_or(DeviceRefusal::Offline)?;
    Ok((device, line))
}

/// A technician asks for a session with an enrolled device.
pub(crate) async fn serve_connect(
    relay: &Arc<Relay>,
    conn: Connection,
    mut ctl: Control,
    req: Request,
    via: Via,
) {
    let Some(technician) = super::enroll::technician(relay, &conn, &mut ctl, &req.token).await
    else {
        return;
    };
    let store = relay.devices.clone();
    let name = req.device.clone();
    let found = match tokio::task::spawn_blocking(move || store.device(&name)).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return close(&conn, &Refusal::Busy(e.to_string())),
        Err(e) => return close(&conn, &Refusal::Busy(e.to_string())),
    };
    let session = new_session_id();
    let policy = found.as_ref().map_or("", |d| d.policy.as_str()).to_owned();
    let record = |refused: Option<DeviceRefusal>| AuditEvent::DeviceSession {
        session: session.clone(),
        device: clean_text(&req.device),
        technician: technician.clone(),
        policy: policy.clone(),
        reason: clean_text(&req.reason),
        ip: via.ip.to_string(),
        refused: refused.map(|r| r.as_str().to_owned()),
    };
    let checked = check(relay, found, &req.reason);
    if let Err(e) = relay
        .audit
        .append(record(checked.as_ref().err().copied()))
        .await
    {
        return close(&conn, &Refusal::AuditFailed(e.to_string()));
    }
    let (device, line) = match checked {
        Ok(x) => x,
        Err(refusal) => return refuse(&conn, &mut ctl, refusal).await,
    };
    if device.approval {
        let who = (&device, technician.as_str(), req.reason.as_str());
        match approve(relay, &conn, &mut ctl, &session, who).await {
            Ok(true) => {}
            Ok(false) => return refuse(&conn, &mut ctl, DeviceRefusal::NotApproved).await,
            Err(why) => return close(&conn, &why),
        }
    }
    let (answer, answered) = oneshot::channel();
    lock(&relay.calls).insert(
        session.clone(),
        Pending {
            device: device.name.clone(),
            answer,
        },
    );
    let called = line.try_send(session.clone()).is_ok();
    let answered = if called {
        tokio::select! {
            a = tokio::time::timeout(ANSWER_WITHIN, answered) => a.ok().and_then(Result::ok),
            () = relay.shutdown.cancelled() => None,
        }
    } else {
        None
    };
    lock(&relay.calls).remove(&session);
    let Some((host, host_ctl)) = answered else {
        if let Err(e) = relay
            .audit
            .append(record(Some(DeviceRefusal::NoAnswer)))
            .await
        {
            return close(&conn, &Refusal::AuditFailed(e.to_string()));
        }
        return refuse(&conn, &mut ctl, DeviceRefusal::NoAnswer).await;
    };
    let joiner = Joiner {
        technician,
        ip: via.ip,
        kind: via.kind,
        token_key: token_hash(&req.token),
        // A device session has no code; the locator only keys a code's
        // failed joins, which cannot happen here.
        locator: Locator::new(0).unwrap_or_else(|| unreachable!("0 is a locator")),
        // Kept in the session's start record too, as with a code's join
        // (the device session's own record has it already).
        reason: Some(req.reason.trim().to_owned())
            .filter(|r| lifeline_proto::devices::valid_reason(r)),
    };
    let pair = PairRequest {
        viewer: conn,
        ctl,
        joiner,
    };
    run_session(relay, host, host_ctl, session, pair).await;
}

/// Waits for an approver's decision on the request (the technician is
/// told it waits): `true` when approved; refused, lapsed and withdrawn
/// (the technician left) are audited.
async fn approve(
    relay: &Arc<Relay>,
    conn: &Connection,
    ctl: &mut Control,
    session: &str,
    (device, technician, reason): (&DeviceRecord, &str, &str),
) -> Result<bool, Refusal> {
    let within = relay.config.approval_within;
    let waiting = ViewerEvent::AwaitingApproval {
        within_s: u32::try_from(within.as_secs()).unwrap_or(u32::MAX),
    };
    if ctl.send(&waiting).await.is_err() {
        return Ok(false);
    }
    let decided = relay.approvals.ask(crate::approvals::Request {
        session: session.into(),
        device: device.name.clone(),
        group: device.group.clone(),
        technician: technician.into(),
        reason: clean_text(reason),
        asked: crate::tokens::now_text(),
        until: std::time::SystemTime::now() + within,
    });
    let decision = tokio::select! {
        d = tokio::time::timeout(within, decided) => d.ok().and_then(Result::ok),
        _ = conn.closed() => None,
        () = relay.shutdown.cancelled() => None,
    };
    relay.approvals.withdraw(session);
    let record = AuditEvent::DeviceApproval {
        session: session.into(),
        device: device.name.clone(),
        technician: technician.into(),
        by: decision.as_ref().map(|d| d.by.clone()),
        approved: decision.as_ref().is_some_and(|d| d.approved),
    };
    relay
        .audit
        .append(record)
        .await
        .map_err(|e| Refusal::AuditFailed(e.to_string()))?;
    Ok(decision.is_some_and(|d| d.approved))
}

async fn refuse(conn: &Connection, ctl: &mut Control, refusal: DeviceRefusal) {
    let why = Refusal::Refused(refusal.to_string());
    answer_and_close(conn, ctl, &ViewerEvent::DeviceRefused(refusal), why).await;
}

/// An enrolled device takes the session it was called for, on a new
/// connection.
pub(crate) async fn serve_answer(
    relay: &Arc<Relay>,
    conn: Connection,
    ctl: Control,
    (device, token): (String, String),
    session: String,
    os_user: String,
) {
    let ip = conn.remote_address().ip();
    let Some(record) = super::enroll::enrolled(relay, &conn, device, token).await else {
        return;
    };
    let pending = {
        let mut calls = lock(&relay.calls);
        match calls.get(&session) {
            Some(p) if p.device == record.name => calls.remove(&session),
            _ => None,
        }
    };
    let Some(pending) = pending else {
        return close(
            &conn,
            &Refusal::PeerGone("the technician is gone, or never called".into()),
        );
    };
    let host = HostInfo {
        ip,
        name: record.name,
        user: clean_text(&os_user),
        conn: conn.clone(),
    };
    if pending.answer.send((host, ctl)).is_err() {
        close(
            &conn,
            &Refusal::PeerGone("the technician gave up waiting".into()),
        );
    }
}

/// Forwards the calls of `line` to an online device until its connection
/// ends, each after the organisation's revocation list when it changed
/// since the device last heard it (and the list once at the start); what
/// ended it.
pub(crate) async fn ring(
    ctl: &mut Control,
    calls: &mut mpsc::Receiver<String>,
    store: &Arc<DeviceStore>,
) -> Result<(), lifeline_common::framed::ControlError> {
    let mut told: Option<Vec<u8>> = None;
    let mut session = None;
    loop {
        let store = store.clone();
        let list = tokio::task::spawn_blocking(move || store.revocations())
            .await
            .ok()
            .flatten();
        if let Some(list) = list
            && told.as_ref() != Some(&list)
        {
            ctl.send(&HostEvent::Revocations {
                signed: list.clone(),
            })
            .await?;
            told = Some(list);
        }
        if let Some(session) = session.take() {
            ctl.send(&HostEvent::Call { session }).await?;
        }
        match calls.recv().await {
            Some(s) => session = Some(s),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(policy: DevicePolicy, disabled: bool) -> DeviceRecord {
        DeviceRecord {
            name: "desk".into(),
            group: "lab".into(),
            policy,
            key: "00".repeat(32),
            ticket_sha256: String::new(),
            token_sha256: String::new(),
            enrolled: String::new(),
            disabled,
            approval: false,
        }
    }

    #[test]
    fn a_request_needs_a_known_enabled_device_and_a_reason_where_its_group_does() {
        use DevicePolicy::{Attended, Unattended};
        fn r(found: Option<DeviceRecord>, reason: &str) -> Result<String, DeviceRefusal> {
            admissible(found, reason).map(|d| d.name)
        }
        assert_eq!(r(None, "x"), Err(DeviceRefusal::UnknownDevice));
        assert_eq!(
            r(Some(device(Attended, true)), "x"),
            Err(DeviceRefusal::Disabled)
        );
        assert_eq!(
            r(Some(device(Unattended, false)), "  "),
            Err(DeviceRefusal::ReasonRequired)
        );
        assert_eq!(r(Some(device(Attended, false)), ""), Ok("desk".into()));
        assert_eq!(
            r(Some(device(Attended, false)), "a\u{7}b"),
            Err(DeviceRefusal::BadReason)
        );
        assert_eq!(
            r(Some(device(Unattended, false)), &"x".repeat(257)),
            Err(DeviceRefusal::BadReason)
        );
        assert_eq!(
            r(Some(device(Unattended, false)), "INC-4821"),
            Ok("desk".into())
        );
    }
}
