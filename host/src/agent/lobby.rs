//! Registration and the lobby: register with the relay, show the code,
//! and wait for a technician to join it. A code that expires is renewed
//! when the user asks; a relay that drains sends the code to another one;
//! a link lost meanwhile (the relay restarted or died) is registered again,
//! with a new code.

use std::future::Future;
use std::time::Instant;

use lifeline_net::client::{ClientError, Connector, HostLink, Registration};
use lifeline_net::reconnect;
use lifeline_proto::control::{HostEvent, SessionPolicy};
use lifeline_proto::{CodeError, Locator, SessionCode};

use super::context::{AgentError, HostConfig, Io};
use crate::ui::Ui;

fn new_code(locator: Locator) -> Result<SessionCode, CodeError> {
    use rand::Rng;
    // The secret never leaves this machine except as typed by the technician.
    SessionCode::new(locator, rand::rng().random_range(0..1_000_000))
}

/// Moves `code` to `relay` (its relay is draining): the same code,
/// `None` if it died meanwhile.
async fn move_code(
    config: &HostConfig,
    relay: &str,
    session: &str,
    code: &SessionCode,
) -> Result<(HostLink, Option<Registration>), ClientError> {
    let tls = config.trust.client_config()?;
    let connector = Connector::with_config(relay, tls).await?;
    HostLink::move_with(
        &connector,
        session,
        code.locator(),
        &config.host_name,
        &config.os_user,
    )
    .await
}

/// A technician joined this code.
pub(super) struct Paired {
    pub(super) link: HostLink,
    pub(super) code: SessionCode,
    pub(super) session: String,
    pub(super) technician: String,
    /// The relay's rules for the session.
    pub(super) policy: Option<SessionPolicy>,
}

/// Registers, shows the code (a new one on expiry when the user asks) and
/// waits until a technician joins; `None` when the user gave up first.
/// A relay that drains sends the code elsewhere; a link lost meanwhile
/// (the relay restarted or died) is registered again, with a new code.
pub(super) async fn wait_for_technician<S: Future<Output = ()>>(
    config: &HostConfig,
    io: &mut Io<'_, S>,
) -> Result<Option<Paired>, AgentError> {
    let ui = io.ui.clone();
    let (link, reg) = register(config).await?;
    let mut shown = Shown {
        link,
        code: new_code(reg.locator)?,
        session: String::new(),
        expired: false,
    };
    shown.show(&ui, reg);
    loop {
        tokio::select! {
            () = io.stop.as_mut() => {
                shown.link.end("cancelled by the user").await;
                ui.ended("cancelled by the user");
                return Ok(None);
            }
            ev = shown.link.next_event() => match ev {
                Ok(HostEvent::Registered { locator, expires_in_s, session }) => {
                    shown.code = new_code(locator)?;
                    shown.show(&ui, Registration { session, locator, expires_in_s });
                }
                Ok(HostEvent::MoveTo { relay }) => shown.follow(config, &ui, &relay).await?,
                Ok(HostEvent::Expired) => {
                    shown.expired = true;
                    io.lines.fresh();
                    ui.expired();
                }
                Ok(HostEvent::Paired { session, technician }) => {
                    let Shown { link, code, .. } = shown;
                    let policy = link.policy();
                    return Ok(Some(Paired { link, code, session, technician, policy }));
                }
                Ok(other @ (HostEvent::Resumed
                | HostEvent::ResumeRefused(_)
                | HostEvent::Policy(_)
                | HostEvent::Enrolled { .. }
                | HostEvent::EnrollRefused(_)
                | HostEvent::Online
                | HostEvent::OnlineAt { .. }
                | HostEvent::Call { .. }
                | HostEvent::Revocations { .. }
                | HostEvent::JoinReason(_)
                | HostEvent::Audited { .. })) => {
                    let what = format!("{other:?} while waiting for a technician");
                    return Err(ClientError::Protocol(what).into());
                }
                Err(e) if e.resumable() && !config.resume_window.is_zero() => {
                    shown.register_again(config, &ui, &e).await?;
                }
                Err(e) => return Err(e.into()),
            },
            line = io.lines.recv(), if shown.expired => match line {
                Some(_) => shown.link.renew().await?,
                None => {
                    shown.link.end("code expired").await;
                    ui.ended("code expired");
                    return Ok(None);
                }
            },
        }
    }
}

/// Registers with the relay named in the configuration, looking its name
/// up again (behind DNS round robin, a relay that is up).
async fn register(config: &HostConfig) -> Result<(HostLink, Registration), ClientError> {
    let tls = config.trust.client_config()?;
    let connector = Connector::with_config(&config.relay, tls).await?;
    HostLink::register_with(&connector, &config.host_name, &config.os_user).await
}

/// The code a waiting host shows and the link it holds it on.
struct Shown {
    link: HostLink,
    code: SessionCode,
    session: String,
    expired: bool,
}

impl Shown {
    /// Shows `reg`'s code: `code`, drawn for it (or the same one, moved).
    fn show(&mut self, ui: &Ui, reg: Registration) {
        self.session = reg.session;
        self.expired = false;
        ui.code(&self.code, reg.expires_in_s);
    }

    /// The relay drains: the code moves to `relay`, or (if that fails) a
    /// new one comes from the configured relay.
    async fn follow(
        &mut self,
        config: &HostConfig,
        ui: &Ui,
        relay: &str,
    ) -> Result<(), AgentError> {
        match move_code(config, relay, &self.session, &self.code).await {
            Ok((link, Some(reg))) => {
                self.link = link;
                self.show(ui, reg);
            }
            Ok((link, None)) => {
                self.link = link;
                self.expired = true;
                ui.expired();
            }
            Err(e) => {
                tracing::warn!(error = %e, %relay, "could not move the code; asking for a new one");
                let (link, reg) = register(config).await?;
                self.link = link;
                self.code = new_code(reg.locator)?;
                self.show(ui, reg);
            }
        }
        Ok(())
    }

    /// The link was lost while waiting: registers again within the resume
    /// window (the relay may be restarting) and shows the new code.
    async fn register_again(
        &mut self,
        config: &HostConfig,
        ui: &Ui,
        lost: &ClientError,
    ) -> Result<(), AgentError> {
        let window = config.resume_window;
        ui.reconnecting(&lost.to_string(), window.as_secs());
        let (link, reg) = reconnect::retry(Instant::now(), window, || register(config)).await?;
        self.link = link;
        self.code = new_code(reg.locator)?;
        self.show(ui, reg);
        Ok(())
    }
}
