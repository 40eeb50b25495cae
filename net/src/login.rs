//! `lifeline-viewer login`, on the wire: ask the relay to sign this
//! technician in with its identity provider, hear the code to enter at
//! the provider's page, then wait on the same connection for the
//! credential (or why not).

use std::path::Path;

use lifeline_proto::control::{Role, ViewerEvent, ViewerRequest};
use lifeline_proto::login::{Credential, LoginCode, LoginRefusal};

use crate::client::ClientError;

/// A sign-in under way: the relay said where to go; [`Pending::finish`]
/// waits for the technician to get there.
#[derive(Debug)]
pub struct Pending {
    conn: quinn::Connection,
    ctl: lifeline_common::framed::Control,
}

/// Asks `relay` to sign in: the code to enter and the wait, or why the
/// relay will not.
pub async fn start(
    relay: &str,
    ca: Option<&Path>,
) -> Result<Result<(LoginCode, Pending), LoginRefusal>, ClientError> {
    let (conn, ctl, answer) =
        crate::enroll::ask_open(relay, ca, Role::Viewer, &ViewerRequest::Login).await?;
    match answer {
        ViewerEvent::LoginCode(code) => Ok(Ok((code, Pending { conn, ctl }))),
        ViewerEvent::LoginRefused(r) => Ok(Err(r)),
        other => Err(ClientError::Protocol(format!(
            "expected a sign-in code, got {other:?}"
        ))),
    }
}

impl Pending {
    /// Waits until the technician has signed in at the provider's page.
    pub async fn finish(mut self) -> Result<Result<Credential, LoginRefusal>, ClientError> {
        let answer = self
            .ctl
            .recv()
            .await
            .map_err(|e| ClientError::from_control(&self.conn, e))?;
        self.conn.close(0u32.into(), b"done");
        match answer {
            ViewerEvent::LoggedIn(c) => Ok(Ok(c)),
            ViewerEvent::LoginRefused(r) => Ok(Err(r)),
            other => Err(ClientError::Protocol(format!(
                "expected a credential, got {other:?}"
            ))),
        }
    }
}
