//! Devices, as a peer asks the relay about them: a machine enrolling with
//! a ticket's secret, and a technician asking for the device list. Each is
//! one question on a connection of its own, answered, then hung up.

use std::path::Path;

use lifeline_proto::control::{
    HostEvent, HostRequest, JoinRefusal, Role, ViewerEvent, ViewerRequest,
};
use lifeline_proto::devices::{DeviceEntry, DevicePolicy, EnrollRefusal, EnrollRequest};

use crate::client::{ClientError, Connector, open_control};

/// What the relay enrolled this machine as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub device: String,
    pub group: String,
    pub policy: DevicePolicy,
    /// The device's own secret for coming online at this relay.
    pub token: String,
}

/// Asks one question as `role` and returns the connection's first answer.
async fn ask<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
    relay: &str,
    ca: Option<&Path>,
    role: Role,
    question: &Q,
) -> Result<A, ClientError> {
    let (conn, _, answer) = ask_open(relay, ca, role, question).await?;
    conn.close(0u32.into(), b"done");
    Ok(answer)
}

/// [`ask`], leaving the connection open for what follows.
pub(crate) async fn ask_open<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
    relay: &str,
    ca: Option<&Path>,
    role: Role,
    question: &Q,
) -> Result<(quinn::Connection, lifeline_common::framed::Control, A), ClientError> {
    let connector = Connector::new(relay, ca).await?;
    let conn = connector.connect().await?;
    let mut ctl = open_control(&conn, role).await?;
    ctl.send(question)
        .await
        .map_err(|e| ClientError::from_control(&conn, e))?;
    let answer = ctl
        .recv()
        .await
        .map_err(|e| ClientError::from_control(&conn, e))?;
    Ok((conn, ctl, answer))
}

/// Enrolls this machine with `req`: what it is now, or why the relay
/// refused.
pub async fn enroll(
    relay: &str,
    ca: Option<&Path>,
    req: EnrollRequest,
) -> Result<Result<Enrolled, EnrollRefusal>, ClientError> {
    match ask(relay, ca, Role::Host, &HostRequest::Enroll(req)).await? {
        HostEvent::Enrolled {
            device,
            group,
            policy,
            token,
        } => Ok(Ok(Enrolled {
            device,
            group,
            policy,
            token,
        })),
        HostEvent::EnrollRefused(r) => Ok(Err(r)),
        other => Err(ClientError::Protocol(format!(
            "expected an enrollment answer, got {other:?}"
        ))),
    }
}

/// The enrolled devices, for the technician with `token`.
pub async fn devices(
    relay: &str,
    ca: Option<&Path>,
    token: &str,
) -> Result<Result<Vec<DeviceEntry>, JoinRefusal>, ClientError> {
    let question = ViewerRequest::Devices {
        token: token.into(),
    };
    match ask(relay, ca, Role::Viewer, &question).await? {
        ViewerEvent::Devices(list) => Ok(Ok(list)),
        ViewerEvent::Refused(r) => Ok(Err(r)),
        other => Err(ClientError::Protocol(format!(
            "expected the device list, got {other:?}"
        ))),
    }
}

/// What the relay says to an online device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Called {
    /// A technician asks for a session (the relay's session id).
    Session(String),
    /// The organisation's signed revocation list, as the relay holds it.
    Revocations(Vec<u8>),
}

/// What coming online at one port gave.
enum Opened {
    Online(OnlineLink),
    /// Come online at the relay's devices port instead.
    At(u16),
}

/// An enrolled device's connection while it is listed online.
#[derive(Debug)]
pub struct OnlineLink {
    pub conn: quinn::Connection,
    ctl: lifeline_common::framed::Control,
}

impl OnlineLink {
    /// Comes online at `connector`'s relay as `device` with its `token`;
    /// at the relay's devices port when it has one (the main port says
    /// which, [`HostEvent::OnlineAt`]).
    pub async fn open(
        connector: &Connector,
        device: &str,
        token: &str,
    ) -> Result<Self, ClientError> {
        match Self::open_at(connector, device, token).await? {
            Opened::Online(link) => Ok(link),
            Opened::At(port) => match Self::open_at(&connector.at_port(port), device, token).await?
            {
                Opened::Online(link) => Ok(link),
                Opened::At(_) => Err(ClientError::Protocol(
                    "the relay's devices port sent the device on elsewhere".into(),
                )),
            },
        }
    }

    async fn open_at(
        connector: &Connector,
        device: &str,
        token: &str,
    ) -> Result<Opened, ClientError> {
        let conn = connector
            .connect_within(crate::reconnect::CONNECT_TIMEOUT)
            .await?;
        let mut ctl = open_control(&conn, Role::Host).await?;
        let req = HostRequest::Online {
            device: device.into(),
            token: token.into(),
        };
        ctl.send(&req)
            .await
            .map_err(|e| ClientError::from_control(&conn, e))?;
        match ctl.recv().await {
            Ok(HostEvent::Online) => Ok(Opened::Online(Self { conn, ctl })),
            Ok(HostEvent::OnlineAt { port }) => {
                conn.close(0u32.into(), b"online at the devices port");
                Ok(Opened::At(port))
            }
            Ok(other) => Err(ClientError::Protocol(format!(
                "expected to be online, got {other:?}"
            ))),
            Err(e) => Err(ClientError::after_stream(&conn, e).await),
        }
    }

    /// The next thing the relay says to the online device: a session a
    /// technician asks for, or the organisation's revocation list; or why
    /// the connection ended. Cancel-safe.
    pub async fn next_call(&mut self) -> Result<Called, ClientError> {
        loop {
            match self.ctl.recv().await {
                Ok(HostEvent::Call { session }) => return Ok(Called::Session(session)),
                Ok(HostEvent::Revocations { signed }) => return Ok(Called::Revocations(signed)),
                Ok(other) => tracing::debug!(?other, "an online device ignores this"),
                Err(e) => return Err(ClientError::after_stream(&self.conn, e).await),
            }
        }
    }
}
