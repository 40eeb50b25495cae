//! `lifeline-host service`: keeps an enrolled device online at its relay,
//! reconnecting after a lost link or a relay restart (100 ms doubling to
//! 1 s between attempts, as sessions resume), so that technicians see it
//! in their device list. Says what happens as one line each (`--json`:
//! one JSON object a line). A relay that no longer knows the device (it
//! was removed, or enrolled again elsewhere) ends the service with exit
//! status 2, which the systemd unit does not restart.
//!
//! Not yet: taking sessions (the handshake with a technician the
//! organisation vouches for runs in `lifeline-trust`, the serving of it
//! here is to come).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use lifeline_net::client::{ClientError, Connector};
use lifeline_net::enroll::OnlineLink;
use lifeline_net::reconnect::Backoff;
use lifeline_proto::control::CloseCode;
use serde_json::json;

use crate::enroll::{DeviceFile, paths};

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
}

/// Why the service stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("this machine is not enrolled ({0}): run `lifeline-host enroll` first")]
    NotEnrolled(String),
    #[error("the relay no longer knows this device ({0}): enroll it again")]
    Unknown(String),
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

/// Runs the service until the relay refuses the device for good.
pub async fn run(cli: &ServiceCli) -> anyhow::Result<()> {
    let dir = match &cli.dir {
        Some(d) => d.clone(),
        None => lifeline_common::folders::this()
            .config()
            .context("no home folder: give --dir")?
            .join("device"),
    };
    let device = device_file(&dir)?;
    let connector = Connector::new(&device.relay, device.ca.as_deref())
        .await
        .context("cannot prepare the connection to the relay")?;
    let year = Duration::from_secs(365 * 86_400);
    let mut backoff = Backoff::new(Instant::now(), year);
    loop {
        match OnlineLink::open(&connector, &device.name, &device.token).await {
            Ok(link) => {
                backoff = Backoff::new(Instant::now(), year);
                say(
                    cli.json,
                    "online",
                    &format!("Online at {} as {}.", device.relay, device.name),
                    json!({ "relay": device.relay, "device": device.name }),
                );
                let why = link.closed().await;
                say(
                    cli.json,
                    "offline",
                    &format!("Offline: {why}"),
                    json!({ "reason": why.to_string() }),
                );
            }
            Err(ClientError::Closed {
                code: Some(CloseCode::Refused),
                reason,
            }) => return Err(ServiceError::Unknown(reason).into()),
            Err(e) => tracing::debug!(error = %e, "not online yet"),
        }
        let wait = backoff
            .next_delay(Instant::now())
            .unwrap_or(Duration::from_secs(1));
        tokio::time::sleep(wait).await;
    }
}
