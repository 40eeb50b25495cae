//! `lifeline-host service`: keeps an enrolled device online at its relay,
//! reconnecting after a lost link or a relay restart (100 ms doubling to
//! 1 s between attempts, as sessions resume), so that technicians see it
//! in their device list. Says what happens as one line each (`--json`:
//! one JSON object a line). A relay that no longer knows the device (it
//! was removed, or enrolled again elsewhere) ends the service with exit
//! status 2, which the systemd unit does not restart.
//!
//!
//! A technician's call is taken on a connection of its own
//! ([`crate::agent::serve_call`]): one session at a time, with the
//! device's own policy, key, anchor and revocation list (the newest the
//! organisation signed that reached it, through the relay or by hand).
//! Where there is a display, each call runs in a process of its own
//! (`lifeline-host answer`) whose window is the user's: the question
//! (attended) or the banner with who and why and Stop sharing
//! (unattended); it closes itself 3 s after the session ends. With
//! `--cli`, calls run in the service, answered on stdin.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use lifeline_net::client::{ClientError, Connector};
use lifeline_net::enroll::OnlineLink;
use lifeline_net::reconnect::Backoff;
use lifeline_proto::control::CloseCode;
use serde_json::json;

use crate::agent::{Desktop, DeviceCall, HostConfig, Lines, serve_call};
use crate::backend::Backend;
use crate::enroll::{DeviceFile, paths};
use crate::typed::Fresh;
use crate::ui::Ui;
use crate::words;
use lifeline_net::enroll::Called;
use lifeline_proto::devices::DevicePolicy;
use lifeline_trust::creds::Revocations;
use lifeline_trust::handshake::StaticKey;
use lifeline_trust::org::Anchor;

/// `lifeline-host service`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "lifeline-host service",
    about = "Keep this enrolled machine reachable for unattended access."
)]
pub struct ServiceCli {
    /// The device folder `lifeline-host enroll` made.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// One JSON object a line.
    #[arg(long)]
    pub json: bool,
    /// Take calls in this process, with no window: the user (if any)
    /// answers on stdin. By default, where there is a display, each call
    /// opens the user's window (`lifeline-host answer`): the question, or
    /// the banner with who and why and Stop sharing.
    #[arg(long)]
    pub cli: bool,
}

/// `lifeline-host answer`: takes one call the service got, in a process
/// of its own (so that its window is its own), then exits.
#[derive(clap::Parser, Debug)]
#[command(
    name = "lifeline-host answer",
    about = "Take one session a technician asked this enrolled machine for (run by `lifeline-host service`)."
)]
pub struct AnswerCli {
    /// The device folder.
    #[arg(long)]
    pub dir: PathBuf,
    /// The relay's session id of the call.
    #[arg(long)]
    pub session: String,
    /// One JSON object a line.
    #[arg(long)]
    pub json: bool,
    /// No window: the question is answered on stdin.
    #[arg(long)]
    pub cli: bool,
}

/// Why the service stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("this machine is not enrolled ({0}): run `lifeline-host enroll` first")]
    NotEnrolled(String),
    #[error("the relay no longer knows this device ({0}): enroll it again")]
    Unknown(String),
    #[error(
        "the device's revocation list cannot be used ({0}): put back the organisation's newest one"
    )]
    Revocations(String),
}

fn say(json: bool, event: &str, text: &str, extra: serde_json::Value) {
    if json {
        let mut v = json!({ "event": event });
        if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        println!("{v}");
    } else {
        println!("{text}");
    }
}

/// Reads the device's settings from `dir`.
pub fn device_file(dir: &Path) -> Result<DeviceFile, ServiceError> {
    let (_, _, file) = paths(dir);
    let bytes = std::fs::read(&file)
        .map_err(|e| ServiceError::NotEnrolled(format!("{}: {e}", file.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ServiceError::NotEnrolled(format!("{}: {e}", file.display())))
}

/// What the service holds for its calls: the device's key, anchor and
/// revocation list, and the session's settings.
struct Held {
    device: DeviceFile,
    key: StaticKey,
    anchor: Anchor,
    revoked: Option<Revocations>,
    config: HostConfig,
    unattended: bool,
}

impl Held {
    /// The call for relay session `session`, taken over `connector`.
    fn call<'a>(&'a self, connector: &'a Connector, session: String) -> DeviceCall<'a> {
        DeviceCall {
            connector,
            device: &self.device.name,
            token: &self.device.token,
            session,
            key: &self.key,
            anchor: self.anchor,
            revoked: self.revoked.as_ref(),
            unattended: self.unattended,
        }
    }
}

fn load(dir: &Path) -> anyhow::Result<Held> {
    let device = device_file(dir)?;
    let (key_path, anchor_path, _) = paths(dir);
    let key = std::fs::read(&key_path)
        .map_err(|e| ServiceError::NotEnrolled(format!("{}: {e}", key_path.display())))
        .and_then(|b| {
            StaticKey::from_bytes(&b)
                .map_err(|e| ServiceError::NotEnrolled(format!("{}: {e}", key_path.display())))
        })?;
    let anchor = std::fs::read_to_string(&anchor_path)
        .map_err(|e| ServiceError::NotEnrolled(format!("{}: {e}", anchor_path.display())))
        .and_then(|t| {
            Anchor::from_text(&t)
                .map_err(|e| ServiceError::NotEnrolled(format!("{}: {e}", anchor_path.display())))
        })?;
    let revoked = crate::revocations::load(dir, &anchor)?;
    let unattended = DevicePolicy::from_word(&device.policy) == Some(DevicePolicy::Unattended);
    let config = HostConfig {
        relay: device.relay.clone(),
        trust: device
            .ca
            .clone()
            .map_or(crate::config::Trust::System, crate::config::Trust::File),
        allow: None,
        host_name: device.name.clone(),
        os_user: crate::whoami::os_user(),
        resume_window: Duration::from_secs(120),
        download_dir: crate::files::default_dir(),
        allow_fetch: crate::files::FetchPolicy::Ask,
        receipts_dir: std::env::var_os("LIFELINE_RECEIPTS")
            .map_or_else(crate::receipt::default_dir, std::path::PathBuf::from),
    };
    Ok(Held {
        device,
        key,
        anchor,
        revoked,
        config,
        unattended,
    })
}

/// Runs the service until the relay refuses the device for good.
pub async fn run(cli: &ServiceCli) -> anyhow::Result<()> {
    let dir = match &cli.dir {
        Some(d) => d.clone(),
        None => crate::enroll::default_dir()?,
    };
    let mut held = load(&dir)?;
    let ca = held.device.ca.as_deref();
    // The online link keeps alive rarely (cheap for a relay holding many);
    // sessions keep the usual second.
    let online = lifeline_common::tls::device_client_config(ca)
        .map_err(ClientError::from)
        .context("cannot prepare the connection to the relay")?;
    let online = Connector::with_config(&held.device.relay, online)
        .await
        .context("cannot prepare the connection to the relay")?;
    let connector = Connector::new(&held.device.relay, ca)
        .await
        .context("cannot prepare the connection to the relay")?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let fresh = Fresh::default();
    crate::typed::read_stdin(tx, fresh.clone());
    let mut lines = Lines::new(rx, fresh);
    let year = Duration::from_secs(365 * 86_400);
    let mut backoff = Backoff::new(Instant::now(), year);
    // Why it is not online is said once, at the first failed try since
    // it last was (or since it started).
    let mut told = false;
    loop {
        match OnlineLink::open(&online, &held.device.name, &held.device.token).await {
            Ok(mut link) => {
                backoff = Backoff::new(Instant::now(), year);
                told = false;
                // Where the link is: the relay's address, or its devices port.
                let at = link.conn.remote_address();
                say(
                    cli.json,
                    "online",
                    &words::service_online(&held.device.relay, &held.device.name, at.port()),
                    json!({ "relay": held.device.relay, "device": held.device.name, "port": at.port() }),
                );
                let why = loop {
                    match link.next_call().await {
                        Ok(Called::Session(session)) if windowed(cli) => {
                            answer_apart(cli, &dir, &session).await;
                        }
                        Ok(Called::Session(session)) => {
                            take_call(cli, &held, &connector, &mut lines, session).await;
                        }
                        Ok(Called::Revocations(signed)) => {
                            held.revoked = crate::revocations::offered(
                                &dir,
                                &held.anchor,
                                held.revoked.take(),
                                &signed,
                            );
                        }
                        Err(e) => break e,
                    }
                };
                say(
                    cli.json,
                    "offline",
                    &words::service_offline(&why.to_string()),
                    json!({ "reason": why.to_string() }),
                );
            }
            Err(ClientError::Closed {
                code: Some(CloseCode::Refused),
                reason,
            }) => return Err(ServiceError::Unknown(reason).into()),
            Err(e) if told => tracing::debug!(error = %e, "not online yet"),
            Err(e) => {
                let why = e.to_string();
                say(
                    cli.json,
                    "not_online",
                    &words::not_online(&why),
                    json!({ "reason": why }),
                );
                told = true;
            }
        }
        let wait = backoff
            .next_delay(Instant::now())
            .unwrap_or(Duration::from_secs(1));
        tokio::time::sleep(wait).await;
    }
}

/// Whether calls open the user's window (a process each).
fn windowed(cli: &ServiceCli) -> bool {
    !cli.cli && crate::backend::has_desktop()
}

/// Takes one call in a process of its own (`lifeline-host answer`), whose
/// window shows the question or the banner; its lines go where the
/// service's do. The service waits for it: one session at a time.
async fn answer_apart(cli: &ServiceCli, dir: &Path, session: &str) {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            let why = words::no_program_to_answer(&e.to_string());
            say(cli.json, "call_failed", &why, json!({ "reason": why }));
            return;
        }
    };
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("answer")
        .arg("--dir")
        .arg(dir)
        .args(["--session", session])
        .stdin(std::process::Stdio::null());
    if cli.json {
        cmd.arg("--json");
    }
    match cmd.status().await {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::info!(%status, "the call's process ended with a failure"),
        Err(e) => {
            let why = words::call_process_failed(&e.to_string());
            say(cli.json, "call_failed", &why, json!({ "reason": why }));
        }
    }
}

/// `lifeline-host answer`: takes the call `cli.session` with `ui`, the
/// user's `lines` and `stop` (the window's, or the terminal's).
pub async fn answer(
    cli: &AnswerCli,
    (ui, lines): (Ui, &mut Lines),
    backend: Backend,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let held = load(&cli.dir)?;
    let connector = Connector::new(&held.device.relay, held.device.ca.as_deref())
        .await
        .context("cannot prepare the connection to the relay")?;
    let mut desktop = Desktop::for_backend(backend, None)?;
    let call = held.call(&connector, cli.session.clone());
    serve_call(&held.config, (ui, &mut desktop, lines), stop, call).await?;
    Ok(())
}

/// Takes one call: opens the desktop for it (a display that is gone is
/// said, and the service goes on), runs the session, closes the desktop.
async fn take_call(
    cli: &ServiceCli,
    held: &Held,
    connector: &Connector,
    lines: &mut Lines,
    session: String,
) {
    let mut desktop = match Desktop::for_backend(Backend::detect(), None) {
        Ok(d) => d,
        Err(e) => {
            say(
                cli.json,
                "call_failed",
                &words::call_unanswerable(&e.to_string()),
                json!({ "reason": e.to_string() }),
            );
            return;
        }
    };
    lines.fresh();
    let call = held.call(connector, session);
    let ui = Ui::terminal(cli.json);
    let stop = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot watch Ctrl+C");
            std::future::pending::<()>().await;
        }
    };
    if let Err(e) = serve_call(&held.config, (ui, &mut desktop, lines), stop, call).await {
        say(
            cli.json,
            "call_failed",
            &words::session_failed(&e.to_string()),
            json!({ "reason": e.to_string() }),
        );
    }
}
